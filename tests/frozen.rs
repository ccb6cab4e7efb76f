//! Frozen sessions ([`pgtls::session::Session::freeze`]) report exactly what
//! they would have reported unfrozen.

#[path = "common/corpus.rs"]
mod corpus;

use pgtls::report::SessionReport;
use pgtls::session::Conversation;
use std::path::Path;

/// Every report of `path`, with sessions frozen from the first
/// (`freeze_above` 0) or never, and how many froze.
fn reports(path: &Path, freeze_above: usize) -> (Vec<SessionReport>, u64) {
    let mut a = corpus::analyzer().with_freeze_above(freeze_above);
    corpus::read_into(&mut a, path);
    (a.take_reports(), a.frozen_sessions())
}

fn json(reports: &[SessionReport]) -> Vec<String> {
    reports
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect()
}

#[test]
fn frozen_sessions_report_what_open_ones_do() {
    let mut frozen = 0;
    for f in &corpus::captures() {
        let (open, none) = reports(f, usize::MAX);
        assert_eq!(none, 0, "{}: froze with freezing off", f.display());
        let (shared, n) = reports(f, 0);
        frozen += n;
        let (open, shared) = (json(&open), json(&shared));
        assert_eq!(open.len(), shared.len(), "{}", f.display());
        for (o, s) in open.iter().zip(&shared) {
            assert_eq!(o, s, "{}", f.display());
        }
    }
    // Most captures end their sessions after the verdict settled.
    assert!(frozen >= 50, "only {frozen} sessions froze");
}

/// The same while `audit --show-queries` wants query texts: a frozen
/// plaintext session thaws for each query whose text is still wanted. The
/// texts are compared too (the JSON leaves them out).
#[test]
fn frozen_sessions_keep_the_query_texts_audit_wants() {
    let texts_of = |r: &[SessionReport]| -> Vec<(u64, String)> {
        r.iter()
            .flat_map(|r| r.audit.query_texts.iter().cloned())
            .collect()
    };
    let mut texts = 0;
    for f in &corpus::captures() {
        let (open, _) = Conversation::with_query_texts(2, || reports(f, usize::MAX));
        let (shared, _) = Conversation::with_query_texts(2, || reports(f, 0));
        assert_eq!(json(&open), json(&shared), "{}", f.display());
        let (a, b) = (texts_of(&open), texts_of(&shared));
        assert_eq!(a, b, "{}", f.display());
        texts += a.len();
    }
    assert!(texts >= 5, "only {texts} query texts in the samples");
}
