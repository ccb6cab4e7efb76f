//! Frozen sessions ([`pgtls::session::Session::freeze`]) report exactly what
//! they would have reported unfrozen.

#[path = "common/golden.rs"]
#[allow(dead_code)]
mod golden;

use pgtls::analyze::{Analyzer, AnalyzerConfig};
use pgtls::flow::PortSet;

/// Every report of `path` as JSON lines, with sessions frozen from the
/// first (`freeze_above` 0) or never, and how many froze.
fn reports(path: &std::path::Path, freeze_above: usize) -> (Vec<String>, u64) {
    let mut a = Analyzer::new(AnalyzerConfig {
        ports: PortSet::new(vec![5432]),
        max_flows: 100_000,
        report_early: false,
    })
    .with_any_port()
    .with_freeze_above(freeze_above);
    let bytes = std::fs::read(path).unwrap();
    let name = path.display().to_string();
    pgtls::read::read_capture(&mut a, std::io::Cursor::new(bytes), &name, &mut |_| {})
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let lines = a
        .take_reports()
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    (lines, a.frozen_sessions())
}

#[test]
fn frozen_sessions_report_what_open_ones_do() {
    let mut files = golden::captures_in("samples");
    files.extend(golden::captures_in("tests/data/public"));
    assert!(files.len() > 30, "{} captures", files.len());
    let mut frozen = 0;
    for f in &files {
        let (open, none) = reports(f, usize::MAX);
        assert_eq!(none, 0, "{}: froze with freezing off", f.display());
        let (shared, n) = reports(f, 0);
        frozen += n;
        assert_eq!(open.len(), shared.len(), "{}", f.display());
        for (o, s) in open.iter().zip(&shared) {
            assert_eq!(o, s, "{}", f.display());
        }
    }
    // Most captures end their sessions after the verdict settled.
    assert!(frozen >= 50, "only {frozen} sessions froze");
}

/// The same while `audit --show-queries` wants query texts: a frozen
/// plaintext session thaws for each query whose text is still wanted.
#[test]
fn frozen_sessions_keep_the_query_texts_audit_wants() {
    use pgtls::session::Conversation;
    let mut files = golden::captures_in("samples");
    files.extend(golden::captures_in("tests/data/public"));
    let mut texts = 0;
    for f in &files {
        let (open, _) = Conversation::with_query_texts(2, || reports(f, usize::MAX));
        let (shared, _) = Conversation::with_query_texts(2, || reports(f, 0));
        assert_eq!(open, shared, "{}", f.display());
        let audit = |f: &std::path::Path, freeze_above| {
            Conversation::with_query_texts(2, || audit_query_texts(f, freeze_above))
        };
        let (a, b) = (audit(f, usize::MAX), audit(f, 0));
        assert_eq!(a, b, "{}", f.display());
        texts += a.len();
    }
    assert!(texts >= 5, "only {texts} query texts in the samples");
}

/// The query texts kept for the audit, which the JSON leaves out.
fn audit_query_texts(path: &std::path::Path, freeze_above: usize) -> Vec<(u64, String)> {
    let mut a = Analyzer::new(AnalyzerConfig {
        ports: PortSet::new(vec![5432]),
        max_flows: 100_000,
        report_early: false,
    })
    .with_any_port()
    .with_freeze_above(freeze_above);
    let bytes = std::fs::read(path).unwrap();
    let name = path.display().to_string();
    pgtls::read::read_capture(&mut a, std::io::Cursor::new(bytes), &name, &mut |_| {}).unwrap();
    a.take_reports()
        .into_iter()
        .flat_map(|r| r.audit.query_texts)
        .collect()
}
