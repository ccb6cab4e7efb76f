//! The verdict of every session in every bundled capture, written out by hand
//! from what each capture holds (samples/README.md, tests/data/public/README.md,
//! and a reading of the bytes with tshark). This is the specification the
//! checked-in JSON output is reviewed against.

use pgtls::analyze::{Analyzer, AnalyzerConfig};
use pgtls::flow::PortSet;
use pgtls::report::SessionReport;

fn read(path: &str, ports: &[u16]) -> (Vec<SessionReport>, Vec<String>) {
    let mut a = Analyzer::new(AnalyzerConfig {
        ports: PortSet::new(ports.to_vec()),
        max_flows: 100_000,
        report_early: false,
    });
    let mut warnings = Vec::new();
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    pgtls::read::read_capture(&mut a, f, path, &mut |w| warnings.push(w))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    (a.take_reports(), warnings)
}

fn verdicts(path: &str, ports: &[u16]) -> Vec<String> {
    read(path, ports)
        .0
        .iter()
        .map(|r| r.verdict.to_string())
        .collect()
}

/// (verdict, negotiated TLS version) per session.
fn verdicts_tls(path: &str) -> Vec<(String, Option<String>)> {
    read(path, &[5432])
        .0
        .iter()
        .map(|r| (r.verdict.to_string(), r.tls.server_version.clone()))
        .collect()
}

fn v(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn vt(list: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.map(str::to_string)))
        .collect()
}

#[test]
fn psql_verify_full_is_tls13_after_a_hello_retry() {
    let (r, _) = read("samples/tls13-verify-full.pcap", &[5432]);
    assert_eq!(r.len(), 1);
    let s = &r[0];
    assert_eq!(s.verdict.to_string(), "encrypted");
    assert_eq!(s.tls.server_version.as_deref(), Some("TLSv1.3"));
    assert_eq!(s.tls.sni.as_deref(), Some("localhost"));
    assert!(s.tls.hello_retry_request);
    assert_eq!(s.ssl_response.as_deref(), Some("S"));
    assert_eq!(s.negotiation, Some("sslrequest"));
    // Evidence points at the frames tshark shows: SSLRequest 4, S 6, ClientHello 8, ServerHello 11.
    let frames: Vec<u64> = s.evidence.iter().map(|e| e.frame).collect();
    for f in [4, 6, 8, 11] {
        assert!(
            frames.contains(&f),
            "frame {f} missing from {:?}",
            s.evidence
        );
    }
}

#[test]
fn tls12_psql_is_encrypted_with_tls12() {
    assert_eq!(
        verdicts_tls("samples/tls12.pcap"),
        vt(&[("encrypted", Some("TLSv1.2"))])
    );
}

#[test]
fn sslmode_disable_against_hostssl_only_is_rejected_plaintext_with_28000() {
    let (r, _) = read("samples/plaintext-refused.pcap", &[5432]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].verdict.to_string(), "rejected-plaintext");
    let e = r[0].pg.error.as_ref().expect("error");
    assert_eq!(e.code.as_deref(), Some("28000"));
    assert!(e.message.as_deref().unwrap().ends_with("no encryption"));
    assert_eq!(r[0].pg.user.as_deref(), Some("app"));
    assert_eq!(r[0].pg.database.as_deref(), Some("appdb"));
    assert_eq!(r[0].pg.protocol.as_deref(), Some("3.0"));
}

#[test]
fn tls11_and_tls10_are_rejected_by_version_with_alert_70() {
    for (file, max) in [
        ("samples/tls11-refused.pcap", "TLSv1.1"),
        ("samples/tls10-refused.pcap", "TLSv1.0"),
    ] {
        let (r, _) = read(file, &[5432]);
        assert_eq!(r.len(), 1, "{file}");
        assert_eq!(r[0].verdict.to_string(), "rejected-tls-version", "{file}");
        assert_eq!(r[0].tls.client_max_version.as_deref(), Some(max), "{file}");
        let a = r[0].tls.alert.as_ref().expect("alert");
        assert_eq!((a.from, a.code), ("server", 70), "{file}");
        assert_eq!(a.frame, 9, "{file}");
    }
}

#[test]
fn plaintext_samples() {
    assert_eq!(
        verdicts("samples/plaintext-accepted.pcap", &[5432]),
        v(&["plaintext"])
    );
    let (r, _) = read("samples/ssl-off-prefer.pcap", &[5432]);
    assert_eq!(r[0].verdict.to_string(), "plaintext");
    assert_eq!(r[0].ssl_response.as_deref(), Some("N"));
    assert!(r[0].reason.contains("refused SSL (N)"));
}

#[test]
fn sslmode_require_against_ssl_off_is_ssl_refused() {
    assert_eq!(
        verdicts("samples/ssl-off-require.pcap", &[5432]),
        v(&["ssl-refused"])
    );
}

#[test]
fn cancel_request_in_clear_is_its_own_session() {
    let (r, _) = read("samples/cancel-plaintext.pcap", &[5432]);
    let got: Vec<String> = r.iter().map(|r| r.verdict.to_string()).collect();
    assert_eq!(got, v(&["plaintext", "cancel-request"]));
    // The cancelled query's ErrorResponse is 57014 (query_canceled).
    assert_eq!(
        r[0].pg.error.as_ref().and_then(|e| e.code.as_deref()),
        Some("57014")
    );
    assert!(r[1].pg.cancel_pid.is_some());
}

#[test]
fn other_link_layers_and_formats() {
    assert_eq!(
        verdicts_tls("samples/tls13-ipv6.pcap"),
        vt(&[("encrypted", Some("TLSv1.3"))])
    );
    let (r, _) = read("samples/tls13-ipv6.pcap", &[5432]);
    assert!(r[0].client.starts_with("[::1]:"));
    assert_eq!(
        verdicts_tls("samples/any-interface.pcap"),
        vt(&[("encrypted", Some("TLSv1.2")), ("rejected-plaintext", None)])
    );
    assert_eq!(
        verdicts_tls("samples/tls13.pcapng"),
        vt(&[("encrypted", Some("TLSv1.3")), ("rejected-plaintext", None)])
    );
}

#[test]
fn libpq18_and_asyncpg_clients() {
    let (r, _) = read("samples/psycopg-tls.pcap", &[5432]);
    assert_eq!(r[0].verdict.to_string(), "encrypted");
    assert_eq!(r[0].tls.alpn, v(&["postgresql"]));
    assert_eq!(
        verdicts_tls("samples/psycopg-cancel-tls.pcap"),
        vt(&[
            ("encrypted", Some("TLSv1.3")),
            ("encrypted", Some("TLSv1.3"))
        ])
    );
    assert_eq!(
        verdicts_tls("samples/asyncpg-tls.pcap"),
        vt(&[("encrypted", Some("TLSv1.3"))])
    );
    let (r, _) = read("samples/psycopg-direct-tls-refused.pcap", &[5432]);
    assert_eq!(r[0].verdict.to_string(), "tls-failed");
    assert_eq!(r[0].negotiation, Some("direct"));
}

#[test]
fn multi_sample_in_order_of_start() {
    assert_eq!(
        verdicts("samples/multi.pcap", &[5432]),
        v(&[
            "encrypted",
            "encrypted",
            "rejected-plaintext",
            "rejected-tls-version",
            "plaintext",
            "plaintext",
            "cancel-request",
            "plaintext",
        ])
    );
}

#[test]
fn testssl_scan_every_probe_classified() {
    let (r, _) = read("samples/scanner-testssl.pcap", &[5432]);
    let count = |v: &str| r.iter().filter(|r| r.verdict.to_string() == v).count();
    assert_eq!(r.len(), 11);
    assert_eq!(count("rejected-tls-version"), 6);
    assert_eq!(count("encrypted"), 4);
    assert_eq!(count("incomplete"), 1);
    let sslv2 = r
        .iter()
        .find(|r| r.tls.sslv2_hello)
        .expect("an SSLv2-format hello");
    assert_eq!(sslv2.verdict.to_string(), "rejected-tls-version");
    assert_eq!(sslv2.tls.client_max_version.as_deref(), Some("SSLv2"));
    // Clients offering only TLS 1.3 drafts are refused by version too.
    assert!(r
        .iter()
        .any(|r| r.verdict.to_string() == "rejected-tls-version"
            && r.tls
                .client_max_version
                .as_deref()
                .is_some_and(|v| v.starts_with("TLSv1.3-draft"))));
}

#[test]
fn nmap_scan_every_probe_classified() {
    let (r, _) = read("samples/scanner-nmap.pcap", &[5432]);
    let count = |v: &str| r.iter().filter(|r| r.verdict.to_string() == v).count();
    assert_eq!(r.len(), 131);
    assert_eq!(count("encrypted"), 91);
    assert_eq!(count("rejected-tls-version"), 21);
    assert_eq!(count("tls-failed"), 18);
    assert_eq!(count("incomplete"), 1);
    assert!(r
        .iter()
        .filter(|r| r.tls.hello_retry_request && r.tls.server_version.is_none())
        .all(|r| r.verdict.to_string() == "tls-failed"));
}

const PUBLIC: &str = "tests/data/public";

fn public(name: &str) -> Vec<String> {
    verdicts(&format!("{PUBLIC}/{name}"), &[5432, 15432, 8000])
}

#[test]
fn public_zeek_captures() {
    assert_eq!(public("zeek__psql-aws-ssl-require.pcap"), v(&["encrypted"]));
    assert_eq!(
        public("zeek__psql-aws-ssl-require-15432.pcap"),
        v(&["encrypted"])
    );
    assert_eq!(
        public("zeek__psql-aws-ssl-preferred.pcap"),
        v(&["encrypted"])
    );
    assert_eq!(public("zeek__psql-aws-ssl-disable.pcap"), v(&["plaintext"]));
    assert_eq!(
        public("zeek__psql-aws-ssl-disable-15432.pcap"),
        v(&["plaintext"])
    );
    assert_eq!(
        public("zeek__http-on-port-5432.pcap"),
        v(&["not-postgresql"])
    );
    assert_eq!(
        public("zeek__mysql-on-port-5432.pcap"),
        v(&["not-postgresql"])
    );
    assert_eq!(
        public("zeek__bad-startup-message-1.pcap"),
        v(&["not-postgresql"])
    );
    assert_eq!(
        public("zeek__bad-backend-message-1.pcap"),
        v(&["not-postgresql"])
    );
    assert_eq!(
        public("zeek__psql-login-no-sslrequest.pcap"),
        v(&["plaintext", "plaintext"])
    );
    for f in [
        "zeek__psql-login.pcap",
        "zeek__psql-login-wrong.pcap",
        "zeek__psql-login-fail.pcap",
        "zeek__psql-login-no-role.pcap",
        "zeek__psql-select-now.pcap",
        "zeek__psql-create-insert-select-delete-drop.pcap",
        "zeek__psql-insert-fail-drop-fail.pcap",
    ] {
        assert_eq!(public(f), v(&["plaintext"]), "{f}");
    }
    assert_eq!(
        public("zeek__greenhouse-app.pcap"),
        v(&["plaintext", "plaintext"])
    );
}

#[test]
fn public_suricata_captures() {
    let (r, _) = read(
        &format!("{PUBLIC}/suricata-verify__pgsql-upgrade-tls__input.pcap"),
        &[5432],
    );
    let got: Vec<String> = r.iter().map(|r| r.verdict.to_string()).collect();
    assert_eq!(got, v(&["encrypted", "rejected-plaintext"]));
    assert!(r[1]
        .pg
        .error
        .as_ref()
        .unwrap()
        .message
        .as_deref()
        .unwrap()
        .ends_with("SSL off"));
    assert_eq!(
        public("suricata-verify__pgsql-cancel-request__input.pcap"),
        v(&["plaintext", "cancel-request"])
    );
    assert_eq!(
        public("suricata-verify__pgsql-events__UnknownMessage.pcap"),
        v(&["not-postgresql"])
    );
    assert_eq!(
        public("suricata-verify__pgsql-bug-6080-probe-test-01__input.pcap"),
        v(&["not-postgresql"])
    );
    let (r, warnings) = read(
        &format!("{PUBLIC}/suricata-verify__pgsql-5000-query-results__input.pcap"),
        &[5432],
    );
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|r| r.verdict.to_string() == "plaintext"));
    assert!(
        warnings.iter().any(|w| w.contains("ends in the middle")),
        "{warnings:?}"
    );
    for f in [
        "suricata-verify__pgsql-5524__input.pcap",
        "suricata-verify__pgsql-bug-5579__input.pcap",
        "suricata-verify__pgsql-copy-data-in__TLPW-Jason-copyfrom-small.pcap",
        "suricata-verify__pgsql-copy-data-out__input.pcap",
        "suricata-verify__pgsql-pwd-output-disabled__input.pcap",
        "suricata-verify__pgsql-query-keyword-01__input.pcap",
        "suricata-verify__pgsql-sasl-assorted-simple-queries__input.pcap",
        "suricata-verify__pgsql-sasl-assorted-simple-queries__input.v2021-10-04.pcap",
        "suricata-verify__pgsql-ssl-rejected-md5-auth-simple-query__input.pcap",
        "suricata-verify__pgsql-simple-query-rollback__input.pcap",
    ] {
        let got = public(f);
        assert!(!got.is_empty(), "{f}");
        assert!(got.iter().all(|v| v == "plaintext"), "{f}: {got:?}");
    }
}

#[test]
fn public_midstream_and_other_port_captures() {
    for f in [
        "deepflow__postgre__error.pcap",
        "deepflow__postgre__prepare_stat.pcap",
        "deepflow__postgre__simple_query.pcap",
        "deepflow__postgre__pgsql-all.pcap",
    ] {
        let (r, _) = read(&format!("{PUBLIC}/{f}"), &[5432, 8000]);
        assert_eq!(r.len(), 1, "{f}");
        assert_eq!(r[0].verdict.to_string(), "plaintext", "{f}");
        assert!(r[0].midstream, "{f}");
    }
    for f in [
        "arkime__postgres-good.pcap",
        "arkime__postgres-badpass.pcap",
        "arkime__postgres-no-sslrequest.pcap",
    ] {
        assert_eq!(public(f), v(&["plaintext"]), "{f}");
    }
}

#[test]
fn unfollowed_port_yields_no_session() {
    assert!(verdicts(
        &format!("{PUBLIC}/zeek__psql-aws-ssl-require-15432.pcap"),
        &[5432]
    )
    .is_empty());
}
