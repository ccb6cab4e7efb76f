//! `pgtls read`'s table takes its cells straight from each session
//! ([`pgtls::report::session_cells`]); they must be the cells of the
//! session's full report ([`pgtls::report::table_cells`]), which `sniff` shows.

#[path = "common/golden.rs"]
#[allow(dead_code)]
mod golden;

use pgtls::analyze::{Analyzer, AnalyzerConfig};
use pgtls::flow::PortSet;
use pgtls::report::{session_cells, table_cells};

#[test]
fn cells_from_a_session_are_those_of_its_report() {
    let mut files = golden::captures_in("samples");
    files.extend(golden::captures_in("tests/data/public"));
    assert!(files.len() > 30, "{} captures", files.len());
    let mut sessions = 0;
    let mut with_tls = 0;
    for f in &files {
        let mut a = Analyzer::new(AnalyzerConfig {
            ports: PortSet::new(vec![5432]),
            max_flows: 100_000,
            report_early: false,
        })
        .with_any_port()
        .in_departure_order();
        let bytes = std::fs::read(f).unwrap();
        let name = f.display().to_string();
        pgtls::read::read_capture(&mut a, std::io::Cursor::new(bytes), &name, &mut |_| {})
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for r in a.take_retired() {
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
