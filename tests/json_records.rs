//! `pgtls read` writes JSON records straight from each session
//! ([`pgtls::report::write_session`]); they must be byte for byte what its
//! full report serializes to ([`pgtls::report::json::write_compact`]), which
//! `sniff` and the fuzz targets write.

#[path = "common/corpus.rs"]
mod corpus;

use pgtls::flow::Endpoint;
use pgtls::report::{json, write_session, SessionReport};

/// The record written both ways, and whether they agree.
fn both_ways(s: &pgtls::session::Session, name: &str) -> (String, String) {
    let judgement = s.judge();
    // Something left in the buffer is written after, as `read` reuses one.
    let mut direct = b"left over".to_vec();
    let counters = write_session(&mut direct, s, &judgement, name).unwrap();
    // The counters a late segment rewrites: from `end` to `bytes_to_client`'s value.
    assert!(direct[counters.clone()].starts_with(b"\"end\":\""));
    assert!(direct[counters.end..].starts_with(b",\"midstream\":"));
    let last = format!("\"bytes_to_client\":{}", s.bytes_to_client);
    assert!(direct[counters].ends_with(last.as_bytes()));
    let mut serde = b"left over".to_vec();
    json::write_compact(&mut serde, &SessionReport::from_judged(s, judgement, name)).unwrap();
    (
        String::from_utf8(direct).unwrap(),
        String::from_utf8(serde).unwrap(),
    )
}

#[test]
fn records_from_a_session_are_those_of_its_report() {
    let mut sessions = 0;
    let mut with_chain = 0;
    let mut with_alert = 0;
    let mut with_pg = 0;
    for f in &corpus::captures() {
        let (name, retired) = corpus::departed_sessions(f);
        for r in retired {
            // Twice: the second finds the certificates this thread wrote.
            for _ in 0..2 {
                let (direct, serde) = both_ways(&r.session, &name);
                assert_eq!(direct, serde, "{name}");
            }
            let t = &r.session.conv().tls;
            sessions += 1;
            with_chain += usize::from(t.certificates.is_some());
            with_alert += usize::from(t.alert.is_some());
            with_pg += usize::from(r.session.conv().pg.user.is_some());
        }
    }
    assert!(sessions > 100, "only {sessions} sessions");
    assert!(with_chain > 20, "only {with_chain} sessions show a chain");
    assert!(with_alert > 5, "only {with_alert} sessions show an alert");
    assert!(with_pg > 10, "only {with_pg} sessions show a user");
}

/// A chain's certificates are written once for a second and a name: the
/// same session at other times (a second later, days and years later and
/// earlier, where validity and days left change) and, without SNI, under
/// another server address gets its own.
#[test]
fn certificates_are_not_reused_across_times_or_names() {
    const DAY: i64 = 86_400 * 1_000_000_000;
    let mut checked = 0;
    let mut without_sni = 0;
    for f in &corpus::captures() {
        let (name, retired) = corpus::departed_sessions(f);
        for mut r in retired {
            if r.session.conv().tls.certificates.is_none() {
                continue;
            }
            let start = r.session.start_ns;
            let mut records = std::collections::HashSet::new();
            for shift in [
                0,
                1_000_000_000,
                0,
                DAY,
                40 * DAY,
                -40 * DAY,
                400 * DAY,
                -4000 * DAY,
                0,
            ] {
                r.session.start_ns = start + shift;
                let (direct, serde) = both_ways(&r.session, &name);
                assert_eq!(direct, serde, "{name} shifted {shift} ns");
                records.insert(direct);
            }
            // Days left differ at least between most of the shifts.
            assert!(records.len() >= 5, "{name}: {} records", records.len());
            r.session.start_ns = start;
            // Without SNI a client checks the server's address.
            let server = r.session.key.server;
            for other in [
                Endpoint::v4([127, 0, 0, 1], server.port()),
                Endpoint::v4([10, 0, 0, 9], server.port()),
                Endpoint::v6(
                    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    server.port(),
                ),
                server,
            ] {
                r.session.key.server = other;
                let (direct, serde) = both_ways(&r.session, &name);
                assert_eq!(direct, serde, "{name} server {other}");
                without_sni += usize::from(!direct.contains(r#""name_source":"sni""#));
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} sessions with a chain");
    assert!(
        without_sni > 8,
        "only {without_sni} records named by address"
    );
}

/// Frozen sessions (what they showed shared with others, their own facts
/// kept in place) are written as their reports are: every bundled capture
/// read with every settled session frozen as soon as it can be.
#[test]
fn frozen_sessions_are_written_as_their_reports() {
    let mut frozen = 0;
    for f in &corpus::captures() {
        let mut a = corpus::analyzer().with_freeze_above(0).in_departure_order();
        let name = corpus::read_into(&mut a, f);
        frozen += a.frozen_sessions();
        for d in a.take_retired().into_ordered() {
            let pgtls::analyze::Departed::Session(r) = d else {
                panic!("{name}: a session rendered without rendering_resets");
            };
            let (direct, serde) = both_ways(&r.session, &name);
            assert_eq!(direct, serde, "{name}");
        }
    }
    assert!(frozen > 50, "only {frozen} sessions frozen");
}
