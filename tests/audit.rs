//! `pgtls audit` end to end (issue 4): the checked-in JSON for every bundled
//! capture and a few policies, the statuses, findings and exit codes pinned
//! explicitly, and no password in any output.
//!
//! After a deliberate change of output, regenerate the JSON with
//! `PGTLS_BLESS=1 cargo test --test audit` and review the diff.

#[path = "common/golden.rs"]
mod golden;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// The password of role `audit` in the samples: it crosses in clear in
/// `samples/audit-password.pcap` and must never be printed.
const MARKER: &str = "pgtls-audit-marker-7d1c";

fn pgtls(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgtls"))
        .args(args)
        .output()
        .expect("run pgtls")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `pgtls audit --format json ARGS`: the document and the exit status.
fn audit_json(args: &[&str]) -> (Value, i32) {
    let mut all = vec!["audit", "--format", "json"];
    all.extend_from_slice(args);
    let o = pgtls(&all);
    let code = o.status.code().unwrap_or(-1);
    let doc: Value = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}); stderr: {}", stderr(&o)));
    (doc, code)
}

fn rule<'a>(doc: &'a Value, server: &str, rule: &str) -> &'a Value {
    doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["server"] == server)
        .unwrap_or_else(|| panic!("no server {server}"))["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .unwrap_or_else(|| panic!("no rule {rule}"))
}

fn evidence_texts(rule: &Value) -> Vec<String> {
    rule["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap().to_string())
        .collect()
}

fn findings(doc: &Value) -> Vec<(String, String)> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["severity"].as_str().unwrap().to_string(),
                f["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn finding<'a>(doc: &'a Value, kind: &str) -> &'a Value {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .unwrap_or_else(|| panic!("no finding {kind}"))
}

fn client_kinds(doc: &Value, list: &str) -> Vec<String> {
    doc["clients"][0][list]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

// ------------------------------------------------------------ checked-in output

/// One expected document: its file under tests/expected_audit and the arguments.
struct Case {
    expected: String,
    args: Vec<String>,
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for f in golden::captures_in("samples") {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        v.push(Case {
            expected: format!("{name}.json"),
            args: vec![format!("samples/{name}")],
        });
    }
    for f in golden::captures_in("tests/data/public") {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        v.push(Case {
            expected: format!("{name}.json"),
            args: vec![
                format!("tests/data/public/{name}"),
                "-p".into(),
                "5432".into(),
                "-p".into(),
                "15432".into(),
                "-p".into(),
                "8000".into(),
            ],
        });
    }
    let extra: [(&str, &[&str]); 5] = [
        (
            "audit-tls11-accepted.pcap.min-tls-1.1.json",
            &["samples/audit-tls11-accepted.pcap", "--min-tls", "1.1"],
        ),
        (
            "multi.pcap.min-tls-1.3.json",
            &["samples/multi.pcap", "--min-tls", "1.3"],
        ),
        (
            "ssl-off-prefer.pcap.allow-plaintext.json",
            &["samples/ssl-off-prefer.pcap", "--allow-plaintext"],
        ),
        (
            "audit-password.pcap.show-queries.json",
            &["samples/audit-password.pcap", "--show-queries"],
        ),
        (
            "all-audit-samples.json",
            &[
                "samples/audit-password.pcap",
                "samples/audit-md5.pcap",
                "samples/audit-tls11-accepted.pcap",
                "samples/audit-weak-ciphers.pcap",
                "samples/audit-prefer-fallback.pcap",
                "samples/audit-allow-strict.pcap",
                "samples/audit-cancel-tls.pcap",
                "samples/audit-injection.pcap",
                "samples/ssl-off-prefer.pcap",
            ],
        ),
    ];
    for (expected, args) in extra {
        v.push(Case {
            expected: expected.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
        });
    }
    v
}

#[test]
fn every_capture_matches_its_checked_in_audit() {
    let dir = Path::new("tests/expected_audit");
    let mut failures = Vec::new();
    for case in cases() {
        let mut args = vec!["audit", "--format", "json"];
        args.extend(case.args.iter().map(String::as_str));
        let o = pgtls(&args);
        let out = stdout(&o);
        let doc: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", case.expected, stderr(&o)));
        // The exit status is the document's.
        assert_eq!(
            o.status.code(),
            doc["result"]["exit_code"].as_i64().map(|c| c as i32),
            "{}: exit status and result.exit_code disagree",
            case.expected
        );
        let path = dir.join(&case.expected);
        if let Some(diff) = golden::check(&path, &out, "audit") {
            failures.push(diff);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------------------------------ exit status

#[test]
fn exit_status_of_every_sample() {
    let violated = [
        "audit-injection.pcap",
        "audit-md5.pcap",
        "audit-password.pcap",
        "audit-prefer-fallback.pcap",
        "audit-tls11-accepted.pcap",
        "audit-weak-ciphers.pcap",
        "cancel-plaintext.pcap",
        "multi.pcap",
        "plaintext-accepted.pcap",
        "psycopg-protocol32.pcap",
        "ssl-off-prefer.pcap",
        "ssl-off-require.pcap",
    ];
    for f in golden::captures_in("samples") {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let o = pgtls(&["audit", f.to_str().unwrap()]);
        let want = if violated.contains(&name.as_str()) {
            1
        } else {
            0
        };
        assert_eq!(o.status.code(), Some(want), "{name}: {}", stdout(&o));
    }
}

#[test]
fn exit_status_of_every_public_capture() {
    // Every capture of plaintext PostgreSQL breaks the policy; TLS-only
    // captures (Zeek's RDS require/prefer, Suricata's upgrade where the
    // plaintext attempt is refused) and non-PostgreSQL traffic hold.
    let holds = [
        "suricata-verify__pgsql-bug-6080-probe-test-01__input.pcap",
        "suricata-verify__pgsql-events__UnknownMessage.pcap",
        "suricata-verify__pgsql-upgrade-tls__input.pcap",
        "zeek__bad-backend-message-1.pcap",
        "zeek__bad-startup-message-1.pcap",
        "zeek__http-on-port-5432.pcap",
        "zeek__mysql-on-port-5432.pcap",
        "zeek__psql-aws-ssl-preferred.pcap",
        "zeek__psql-aws-ssl-require-15432.pcap",
        "zeek__psql-aws-ssl-require.pcap",
    ];
    for f in golden::captures_in("tests/data/public") {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let o = pgtls(&[
            "audit",
            f.to_str().unwrap(),
            "-p",
            "5432",
            "-p",
            "15432",
            "-p",
            "8000",
        ]);
        let want = if holds.contains(&name.as_str()) { 0 } else { 1 };
        assert_eq!(o.status.code(), Some(want), "{name}: {}", stdout(&o));
    }
}

#[test]
fn allow_plaintext_leaves_only_high_findings_as_violations() {
    // SCRAM and queries in clear are medium: with plaintext allowed, the
    // fallback capture holds.
    let (doc, code) = audit_json(&["samples/audit-prefer-fallback.pcap", "--allow-plaintext"]);
    assert_eq!(code, 0, "{}", doc["result"]);
    assert_eq!(
        rule(&doc, "127.0.0.1:5432", "plaintext-refused")["status"],
        "waived"
    );
    // A cleartext password is high whatever the policy on plaintext.
    let (doc, code) = audit_json(&["samples/audit-password.pcap", "--allow-plaintext"]);
    assert_eq!(code, 1);
    assert_eq!(doc["result"]["violations"].as_array().unwrap().len(), 1);
    let (_, code) = audit_json(&["samples/ssl-off-require.pcap", "--allow-plaintext"]);
    assert_eq!(code, 0);
}

// ------------------------------------------------------------ rules

#[test]
fn plaintext_refused_holds_with_sqlstate_and_frame() {
    let (doc, code) = audit_json(&["samples/plaintext-refused.pcap"]);
    assert_eq!(code, 0);
    let r = rule(&doc, "127.0.0.1:5432", "plaintext-refused");
    assert_eq!(r["status"], "holds");
    assert_eq!(
        evidence_texts(r),
        ["plaintext refused: 1 session, SQLSTATE 28000, first at frame 6 of samples/plaintext-refused.pcap"]
    );
    assert_eq!(
        rule(&doc, "127.0.0.1:5432", "tls-offered")["status"],
        "not-exercised"
    );
    assert_eq!(
        rule(&doc, "127.0.0.1:5432", "min-tls-version")["status"],
        "not-exercised"
    );
}

#[test]
fn plaintext_accepted_is_a_violation() {
    let (doc, code) = audit_json(&["samples/audit-md5.pcap"]);
    assert_eq!(code, 1);
    let r = rule(&doc, "127.0.0.1:5432", "plaintext-refused");
    assert_eq!(r["status"], "violated");
    assert_eq!(
        evidence_texts(r),
        ["plaintext accepted (violation): 1 session (authentication md5_password: 1), first at frame 6 of samples/audit-md5.pcap"]
    );
    assert_eq!(r["evidence"][0]["violation"], true);
    assert_eq!(doc["servers"][0]["status"], "violated");
}

#[test]
fn old_versions_refused_and_negotiated() {
    let (doc, code) = audit_json(&["samples/tls11-refused.pcap"]);
    assert_eq!(code, 0);
    let r = rule(&doc, "127.0.0.1:5432", "min-tls-version");
    assert_eq!(r["status"], "holds");
    assert_eq!(
        evidence_texts(r),
        ["versions below TLSv1.2 refused: protocol_version alert in 1 session (clients offering at most TLSv1.1: 1), first at frame 9 of samples/tls11-refused.pcap"]
    );

    let (doc, code) = audit_json(&["samples/audit-tls11-accepted.pcap"]);
    assert_eq!(code, 1);
    let r = rule(&doc, "127.0.0.1:5432", "min-tls-version");
    assert_eq!(r["status"], "violated");
    let texts = evidence_texts(r);
    assert!(texts.contains(
        &"TLSv1.1 negotiated (violation): 2 sessions, first at frame 9 of samples/audit-tls11-accepted.pcap".to_string()
    ), "{texts:?}");
    assert!(texts[0].starts_with("versions below TLSv1.2 refused: protocol_version alert in 1 session (clients offering at most TLSv1.0: 1), first at frame 49"), "{texts:?}");
    assert_eq!(doc["servers"][0]["tls_negotiated"][0]["version"], "TLSv1.3");
    let f = finding(&doc, "tls-below-minimum");
    assert_eq!(
        (f["severity"].as_str(), f["sessions"].as_u64()),
        (Some("high"), Some(2))
    );

    // TLS 1.1 allowed: the refusal of TLS 1.0 proves the rule.
    let (doc, code) = audit_json(&["samples/audit-tls11-accepted.pcap", "--min-tls", "1.1"]);
    assert_eq!(code, 0, "{}", doc["result"]);
    assert_eq!(
        rule(&doc, "127.0.0.1:5432", "min-tls-version")["status"],
        "holds"
    );
    let (doc, _) = audit_json(&["samples/audit-tls11-accepted.pcap", "--min-tls", "TLSv1.3"]);
    assert_eq!(doc["policy"]["min_tls"], "TLSv1.3");
}

#[test]
fn ssl_refused_with_n_is_a_violation_of_tls_offered() {
    let (doc, code) = audit_json(&["samples/ssl-off-require.pcap"]);
    assert_eq!(code, 1);
    let r = rule(&doc, "127.0.0.1:5432", "tls-offered");
    assert_eq!(r["status"], "violated");
    assert_eq!(
        evidence_texts(r),
        ["SSL refused with N (violation): 1 session, first at frame 6 of samples/ssl-off-require.pcap"]
    );
    assert_eq!(client_kinds(&doc, "notes"), ["requires-tls"]);
}

// ------------------------------------------------------------ clients

#[test]
fn clients_that_break_and_why() {
    let (doc, _) = audit_json(&["samples/audit-prefer-fallback.pcap"]);
    let c = &doc["clients"][0];
    assert_eq!(c["client"], "127.0.0.1");
    assert_eq!(c["outlook"], "breaks");
    assert_eq!(c["application_names"], serde_json::json!(["legacy-app"]));
    assert_eq!(c["users"], serde_json::json!(["app"]));
    assert_eq!(c["highest_tls_offered"], "TLSv1.1");
    assert_eq!(client_kinds(&doc, "breaks"), ["old-tls", "fallback"]);
    let texts: Vec<&str> = c["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert!(texts[0].starts_with(
        "offers at most TLSv1.1: breaks with ssl_min_protocol_version=TLSv1.2: 1 session"
    ));
    assert!(texts[1]
        .starts_with("falls back to plaintext after a failed TLS attempt (sslmode=prefer/allow)"));

    let (doc, _) = audit_json(&["samples/plaintext-accepted.pcap"]);
    assert_eq!(client_kinds(&doc, "breaks"), ["sends-plaintext"]);
    assert!(doc["clients"][0]["breaks"][0]["text"]
        .as_str()
        .unwrap()
        .contains(
        "sends plaintext (no SSLRequest: sslmode=disable): breaks with require_secure_transport"
    ));

    let (doc, _) = audit_json(&["samples/ssl-off-prefer.pcap"]);
    assert_eq!(client_kinds(&doc, "notes"), ["fallback-after-n"]);

    let (doc, code) = audit_json(&["samples/audit-allow-strict.pcap"]);
    assert_eq!(code, 0);
    assert_eq!(doc["clients"][0]["outlook"], "works");
    assert_eq!(client_kinds(&doc, "notes"), ["plaintext-first"]);

    // Libraries are grouped by JA4.
    let (doc, _) = audit_json(&["samples/multi.pcap"]);
    let libs = doc["clients"][0]["libraries"].as_array().unwrap();
    assert_eq!(libs.len(), 3);
    assert!(libs
        .iter()
        .any(|l| l["highest_offered"] == "TLSv1.1" && l["sessions"] == 1));
}

// ------------------------------------------------------------ findings

#[test]
fn findings_with_severity_sessions_and_frames() {
    let (doc, _) = audit_json(&["samples/audit-password.pcap"]);
    assert_eq!(
        findings(&doc),
        [
            ("high".to_string(), "password-in-clear".to_string()),
            ("medium".to_string(), "query-in-clear".to_string())
        ]
    );
    let f = finding(&doc, "password-in-clear");
    assert_eq!(f["sessions"], 2);
    let frames: Vec<u64> = f["refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(frames, [8, 23]);
    let q = finding(&doc, "query-in-clear");
    assert_eq!(
        (q["occurrences"].as_u64(), q["sessions"].as_u64()),
        (Some(3), Some(2))
    );
    assert!(q.get("queries").is_none(), "texts only with --show-queries");

    let (doc, _) = audit_json(&["samples/audit-md5.pcap"]);
    assert_eq!(finding(&doc, "md5-in-clear")["severity"], "high");
    assert_eq!(finding(&doc, "md5-in-clear")["first"]["frame"], 8);

    let (doc, _) = audit_json(&["samples/plaintext-accepted.pcap"]);
    let s = finding(&doc, "scram-in-clear");
    assert_eq!(s["severity"], "medium");
    assert!(s["title"]
        .as_str()
        .unwrap()
        .starts_with("SCRAM-SHA-256 exchange in clear"));

    let (doc, code) = audit_json(&["samples/audit-cancel-tls.pcap"]);
    assert_eq!(code, 0, "a CancelRequest in clear is medium");
    assert_eq!(
        findings(&doc),
        [("medium".into(), "cancel-in-clear".into())]
    );
    assert_eq!(finding(&doc, "cancel-in-clear")["first"]["frame"], 25);

    let (doc, code) = audit_json(&["samples/audit-injection.pcap"]);
    assert_eq!(code, 1);
    assert_eq!(finding(&doc, "bytes-after-request")["first"]["frame"], 4);
    assert_eq!(finding(&doc, "bytes-after-answer")["first"]["frame"], 21);
    assert!(finding(&doc, "bytes-after-request")["title"]
        .as_str()
        .unwrap()
        .contains("after SSLRequest"));
    assert!(finding(&doc, "bytes-after-answer")["title"]
        .as_str()
        .unwrap()
        .contains("after 'S'"));

    let (doc, code) = audit_json(&["samples/audit-weak-ciphers.pcap"]);
    assert_eq!(code, 1);
    let weak: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "weak-cipher")
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    assert_eq!(weak.len(), 2);
    assert!(weak.iter().any(|t| t.contains("TLS_RSA_WITH_NULL_SHA256")));
    assert!(weak
        .iter()
        .any(|t| t.contains("TLS_ECDH_anon_WITH_AES_128_CBC_SHA")));
    assert_eq!(
        rule(&doc, "127.0.0.1:5432", "min-tls-version")["status"],
        "not-exercised",
        "TLS 1.2 is allowed; the ciphers are what is wrong"
    );
}

#[test]
fn query_texts_only_with_show_queries_cut_and_masked() {
    let (doc, _) = audit_json(&["samples/audit-md5.pcap", "--show-queries"]);
    let q = &finding(&doc, "query-in-clear")["queries"][0];
    let text = q["text"].as_str().unwrap();
    assert!(text.starts_with("select 'pgtls-audit-long-query: abcdefghij"));
    assert_eq!(text.chars().count(), 201, "200 characters and an ellipsis");
    assert!(text.ends_with('…'));

    let (doc, _) = audit_json(&["samples/audit-password.pcap", "--show-queries"]);
    let texts: Vec<&str> = finding(&doc, "query-in-clear")["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "select 'pgtls-audit-query' as q",
            "SET password_encryption = 'md5'",
            "ALTER ROLE audit PASSWORD '***'"
        ]
    );
}

#[test]
fn no_password_in_any_output() {
    // The marker is on the wire twice as a password message and once in
    // an ALTER ROLE; the test means something only if it is there.
    let wire = std::fs::read("samples/audit-password.pcap").unwrap();
    let hits = wire
        .windows(MARKER.len())
        .filter(|w| *w == MARKER.as_bytes())
        .count();
    assert_eq!(hits, 3, "the marker password crosses in clear three times");

    let runs: [&[&str]; 8] = [
        &["audit", "samples/audit-password.pcap"],
        &["audit", "samples/audit-password.pcap", "--show-queries"],
        &["audit", "samples/audit-password.pcap", "--format", "json"],
        &[
            "audit",
            "samples/audit-password.pcap",
            "--format",
            "json",
            "--show-queries",
        ],
        &[
            "audit",
            "samples/audit-password.pcap",
            "--allow-plaintext",
            "--show-queries",
        ],
        &[
            "audit",
            "samples/audit-md5.pcap",
            "--show-queries",
            "--format",
            "json",
        ],
        &["read", "samples/audit-password.pcap", "--format", "json"],
        &["read", "samples/audit-password.pcap"],
    ];
    for args in runs {
        let o = pgtls(args);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(!all.contains(MARKER), "{args:?} printed the password");
        assert!(!all.is_empty());
    }
}

// ------------------------------------------------------------ command line

#[test]
fn table_output_names_rules_findings_and_result() {
    let o = pgtls(&["audit", "samples/multi.pcap"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    for want in [
        "pgtls audit: TLS required, TLSv1.2 or newer",
        "SERVER 127.0.0.1:5432: VIOLATED",
        "[VIOLATED]       plaintext refused (require_secure_transport=on, hostssl only)",
        "plaintext refused: 1 session, SQLSTATE 28000, first at frame 56 of samples/multi.pcap",
        "[holds]          TLSv1.2 or newer (ssl_min_protocol_version=TLSv1.2)",
        "CLIENT 127.0.0.1: BREAKS under the policy",
        "breaks: offers at most TLSv1.1: breaks with ssl_min_protocol_version=TLSv1.2",
        "FINDINGS (3: medium 3)",
        "RESULT: VIOLATED (exit 1)",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let o = pgtls(&["audit", "samples/tls13-verify-full.pcap"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("RESULT: the policy holds for every session seen (exit 0)"));
}

#[test]
fn errors_exit_2() {
    let o = pgtls(&["audit", "does/not/exist.pcap"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does/not/exist.pcap"), "{}", stderr(&o));
    assert!(o.stdout.is_empty());

    let o = pgtls(&["audit", "README.md"]);
    assert_eq!(o.status.code(), Some(2));

    for bad in [
        &["audit"][..],
        &["audit", "samples/tls12.pcap", "--min-tls", "1.4"],
        &["audit", "samples/tls12.pcap", "--duration", "5"],
        &["audit", "samples/tls12.pcap", "-i", "lo"],
        &["audit", "samples/tls12.pcap", "--port", "0"],
        &["audit", "samples/tls12.pcap", "--format", "jsonl"],
    ] {
        let o = pgtls(bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
    }
}

#[test]
fn no_session_holds_with_a_warning() {
    let o = pgtls(&["audit", "samples/tls12.pcap", "--port", "6432"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("no PostgreSQL sessions found"));
    assert!(stderr(&o).contains("another --port?"), "{}", stderr(&o));
}

#[test]
fn help_documents_the_exit_status() {
    let o = pgtls(&["audit", "--help"]);
    assert!(o.status.success());
    let h = stdout(&o);
    for want in [
        "Exit status:",
        "0  the policy holds for every session seen",
        "1  a violation",
        "2  an error",
        "--min-tls",
        "--allow-plaintext",
        "--show-queries",
        "--interface",
        "--duration",
    ] {
        assert!(h.contains(want), "missing {want:?} in help:\n{h}");
    }
}

#[cfg(not(feature = "live"))]
#[test]
fn live_audit_without_the_feature_says_how_to_get_it() {
    let o = pgtls(&["audit", "-i", "lo", "--duration", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--features live"), "{}", stderr(&o));
}

#[test]
fn hostile_wire_strings_are_escaped_and_passwords_never_printed() {
    // Captures built by tests/hostile.rs: terminal escapes and bidi
    // overrides in startup parameters, SQLSTATE and SNI; passwords whose
    // messages carry a marker.
    let bidi = |c: char| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    for fmt in ["table", "json"] {
        let o = pgtls(&[
            "audit",
            "tests/data/hostile/escape-sequences.pcap",
            "--format",
            fmt,
            "--show-queries",
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(
            !out.chars()
                .any(|c| (c.is_control() && c != '\n') || bidi(c)),
            "{fmt}: a raw control or bidi character:\n{out}"
        );
        if fmt == "json" {
            let doc: Value = serde_json::from_str(&out).expect("valid JSON");
            assert_eq!(
                doc["clients"][0]["application_names"][0], "\x1b]0;owned\x07app\u{202e}txt.exe",
                "JSON still decodes to the wire string"
            );
        }
    }
    for args in [
        &["audit", "tests/data/hostile/cleartext-passwords.pcap"][..],
        &[
            "audit",
            "tests/data/hostile/cleartext-passwords.pcap",
            "--show-queries",
            "--format",
            "json",
        ],
    ] {
        let o = pgtls(args);
        assert_eq!(o.status.code(), Some(1));
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(!all.contains("MARKER-hunter2"), "{args:?}:\n{all}");
        assert!(all.contains("password-in-clear") || all.contains("password sent in clear"));
    }
}
