//! `pgtls read`'s table takes its cells straight from each session
//! ([`pgtls::report::session_cells`]); they must be the cells of the
//! session's full report ([`pgtls::report::table_cells`]), which `sniff` shows.

#[path = "common/corpus.rs"]
mod corpus;

use pgtls::report::{session_cells, table_cells};

#[test]
fn cells_from_a_session_are_those_of_its_report() {
    let mut sessions = 0;
    let mut with_tls = 0;
    for f in &corpus::captures() {
        let (name, retired) = corpus::departed_sessions(f);
        for r in retired {
            let report = r.report(&name);
            let cells = session_cells(&r.session, &r.session.judge(), b"left over".to_vec());
            assert_eq!(cells, table_cells(&report), "{name}");
            sessions += 1;
            with_tls += usize::from(cells.get(4) != "-");
        }
    }
    assert!(sessions > 100, "only {sessions} sessions");
    assert!(with_tls > 30, "only {with_tls} sessions show a TLS version");
}
