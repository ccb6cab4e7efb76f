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
        .map(|r| {
            (
                r.verdict.to_string(),
                r.tls.server_version.as_deref().map(str::to_string),
            )
        })
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

// ---------------------------------------------------------------------------
// Sessions built from bytes, where no real client or server here produces
// them: direct TLS refused with no_application_protocol (a PostgreSQL 17+
// server; the samples' server is PostgreSQL 15), GSSAPI encryption (no
// Kerberos realm here), protocol 3.2 with long cancel keys (a PostgreSQL 18
// server). Each packet is written from the protocol documentation
// ("Message Flow", "Message Formats") and ../shared/design/protocol.md.

use pgtls::decode::TcpFlags;
use pgtls::flow::{Direction, FlowKey};
use pgtls::session::Session;

/// One TCP connection fed segment by segment, as the analyzer would.
struct Conn {
    s: Session,
    seq: [u32; 2],
    frame: u64,
    ts: i64,
}

impl Conn {
    fn new() -> Self {
        let key = FlowKey {
            client: "10.0.0.2:50000".parse().unwrap(),
            server: "10.0.0.1:5432".parse().unwrap(),
        };
        let mut c = Conn {
            s: Session::new(key, 0, 1_700_000_000_000_000_000, 1),
            seq: [1000, 9000],
            frame: 0,
            ts: 1_700_000_000_000_000_000,
        };
        let syn = TcpFlags {
            syn: true,
            ..Default::default()
        };
        let syn_ack = TcpFlags {
            syn: true,
            ack: true,
            ..Default::default()
        };
        c.raw(Direction::ToServer, syn, &[]);
        c.raw(Direction::ToClient, syn_ack, &[]);
        c
    }

    fn raw(&mut self, dir: Direction, flags: TcpFlags, payload: &[u8]) {
        self.frame += 1;
        self.ts += 1_000_000;
        let i = usize::from(dir == Direction::ToClient);
        let seq = self.seq[i];
        self.s.segment(
            dir,
            self.ts,
            self.frame,
            seq,
            flags,
            payload,
            payload.len() as u32,
        );
        self.seq[i] = seq
            .wrapping_add(payload.len() as u32)
            .wrapping_add(u32::from(flags.syn || flags.fin));
    }

    fn client(&mut self, b: &[u8]) -> &mut Self {
        let ack = TcpFlags {
            ack: true,
            ..Default::default()
        };
        self.raw(Direction::ToServer, ack, b);
        self
    }

    fn server(&mut self, b: &[u8]) -> &mut Self {
        let ack = TcpFlags {
            ack: true,
            ..Default::default()
        };
        self.raw(Direction::ToClient, ack, b);
        self
    }

    fn close(&mut self) -> &mut Self {
        let fin = TcpFlags {
            fin: true,
            ack: true,
            ..Default::default()
        };
        self.raw(Direction::ToClient, fin, &[]);
        self.raw(Direction::ToServer, fin, &[]);
        self
    }

    fn report(&mut self) -> SessionReport {
        self.s.finish_streams();
        SessionReport::from_session(&self.s, "built-from-bytes")
    }
}

fn hexb(s: &str) -> Vec<u8> {
    let d: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    d.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

const SSL_REQUEST: &str = "00000008 04d2162f";
const GSSENC_REQUEST: &str = "00000008 04d21630";

/// A TLS record holding a ClientHello (TLS 1.3 and 1.2 offered, SNI
/// db.example, these ALPN protocols).
fn client_hello(alpn: &[&str]) -> Vec<u8> {
    let mut exts = Vec::new();
    let sni = b"db.example";
    exts.extend_from_slice(&[0x00, 0x00]);
    exts.extend_from_slice(&((sni.len() + 5) as u16).to_be_bytes());
    exts.extend_from_slice(&((sni.len() + 3) as u16).to_be_bytes());
    exts.push(0);
    exts.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    exts.extend_from_slice(sni);
    exts.extend_from_slice(&hexb("002b 0005 04 0304 0303")); // supported_versions
    exts.extend_from_slice(&hexb("000a 0004 0002 001d")); // supported_groups: x25519
    exts.extend_from_slice(&hexb("000d 0004 0002 0403")); // signature_algorithms
    exts.extend_from_slice(&hexb("0033 0006 0004 001d 0000")); // key_share (empty key)
    if !alpn.is_empty() {
        let mut list = Vec::new();
        for p in alpn {
            list.push(p.len() as u8);
            list.extend_from_slice(p.as_bytes());
        }
        exts.extend_from_slice(&[0x00, 0x10]);
        exts.extend_from_slice(&((list.len() + 2) as u16).to_be_bytes());
        exts.extend_from_slice(&(list.len() as u16).to_be_bytes());
        exts.extend_from_slice(&list);
    }
    let mut body = hexb("0303");
    body.extend_from_slice(&[0x42; 32]);
    body.push(0);
    body.extend_from_slice(&hexb("0004 1301 1302 0100"));
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = hexb("16 0301");
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// A TLS 1.3 ServerHello (TLS_AES_128_GCM_SHA256, x25519), then the
/// compatibility ChangeCipherSpec and an encrypted record.
fn server_hello_13() -> Vec<u8> {
    let mut body = hexb("0303");
    body.extend_from_slice(&[0x24; 32]);
    body.push(0);
    body.extend_from_slice(&hexb("1301 00"));
    let exts = hexb("002b 0002 0304 0033 0024 001d 0020");
    let mut exts = exts;
    exts.extend_from_slice(&[0x55; 32]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![2];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = hexb("16 0303");
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec.extend_from_slice(&hexb("14 0303 0001 01")); // ChangeCipherSpec
    rec.extend_from_slice(&hexb("17 0303 0004 deadbeef")); // encrypted handshake
    rec
}

/// A typed backend message.
fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn startup_32() -> Vec<u8> {
    let mut body = 196_610u32.to_be_bytes().to_vec(); // protocol 3.2
    body.extend_from_slice(b"user\0app\0database\0appdb\0\0");
    let mut p = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    p.extend_from_slice(&body);
    p
}

#[test]
fn direct_tls_with_alpn_postgresql_refused_by_no_application_protocol() {
    let mut c = Conn::new();
    c.client(&client_hello(&["postgresql"]))
        .server(&hexb("15 0303 0002 0278")) // fatal no_application_protocol (120)
        .close();
    let r = c.report();
    assert_eq!(r.verdict.to_string(), "tls-failed");
    assert_eq!(r.negotiation, Some("direct"));
    assert!(!r.ssl_request);
    assert_eq!(r.tls.alpn, v(&["postgresql"]));
    let a = r.tls.alert.as_ref().expect("alert");
    assert_eq!((a.from, a.code, a.level), ("server", 120, "fatal"));
    assert_eq!(a.description, "no_application_protocol");
    assert!(
        r.reason
            .contains("no_application_protocol (120) to direct TLS")
            && r.reason.contains("the client offered ALPN \"postgresql\""),
        "{}",
        r.reason
    );
    assert!(r.tls.ja4.as_deref().unwrap().starts_with("t13d0206pl_"));
}

#[test]
fn direct_tls_with_another_alpn_is_told_to_use_postgresql() {
    let mut c = Conn::new();
    c.client(&client_hello(&["h2"]))
        .server(&hexb("15 0303 0002 0278"))
        .close();
    let r = c.report();
    assert_eq!(r.verdict.to_string(), "tls-failed");
    assert_eq!(r.negotiation, Some("direct"));
    assert!(
        r.reason
            .contains("the server wants ALPN \"postgresql\", which the client did not offer"),
        "{}",
        r.reason
    );
}

#[test]
fn direct_tls_accepted_is_encrypted_and_direct() {
    let mut c = Conn::new();
    c.client(&client_hello(&["postgresql"]))
        .server(&server_hello_13())
        .client(&hexb("14 0303 0001 01  17 0303 0004 01020304"));
    let r = c.report();
    assert_eq!(r.verdict.to_string(), "encrypted");
    assert_eq!(r.negotiation, Some("direct"));
    assert!(r.reason.contains("direct TLS"), "{}", r.reason);
    assert_eq!(r.tls.key_exchange.as_deref(), Some("x25519"));
    assert_eq!(
        r.tls.certificates.as_ref().unwrap().hidden.as_deref(),
        Some("TLS 1.3 encrypts the certificate")
    );
}

#[test]
fn gssapi_encryption_is_gss_encrypted() {
    // GSSENCRequest, 'G', then length-prefixed gss_wrap() tokens both ways.
    let mut c = Conn::new();
    c.client(&hexb(GSSENC_REQUEST))
        .server(b"G")
        .client(&hexb("00000010 6004 0000ffffffff 00000000 00000001"))
        .server(&hexb("0000000c 6004 0100ffffffff 0000"))
        .client(&hexb("00000006 aabbccddeeff 00000004 01020304"))
        .close();
    let r = c.report();
    assert_eq!(r.verdict.to_string(), "gss-encrypted");
    assert!(r.gss_request && !r.ssl_request);
    assert_eq!(r.ssl_response.as_deref(), Some("G"));
    assert!(
        r.reason
            .contains("3 packets from the client, 1 from the server"),
        "{}",
        r.reason
    );
    assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
    // No StartupMessage crossed in clear.
    assert_eq!(r.pg.user, None);
}

#[test]
fn gssapi_refused_then_tls_on_the_same_connection() {
    // libpq's gssencmode=prefer + sslmode=prefer against a server without
    // GSSAPI: GSSENCRequest, 'N', SSLRequest, 'S', TLS.
    let mut c = Conn::new();
    c.client(&hexb(GSSENC_REQUEST))
        .server(b"N")
        .client(&hexb(SSL_REQUEST))
        .server(b"S")
        .client(&client_hello(&[]))
        .server(&server_hello_13())
        .client(&hexb("14 0303 0001 01  17 0303 0004 01020304"));
    let r = c.report();
    assert_eq!(r.verdict.to_string(), "encrypted");
    assert!(r.gss_request && r.ssl_request);
    assert_eq!(r.ssl_response.as_deref(), Some("NS"));
    assert_eq!(r.negotiation, Some("sslrequest"));
    assert_eq!(r.tls.server_version.as_deref(), Some("TLSv1.3"));
}

#[test]
fn gssapi_refused_then_plaintext_startup() {
    let mut c = Conn::new();
    c.client(&hexb(GSSENC_REQUEST))
        .server(b"N")
        .client(&startup_32())
        .server(&msg(b'R', &0u32.to_be_bytes()))
        .server(&msg(b'Z', b"I"));
    let r = c.report();
    assert_eq!(r.verdict.to_string(), "plaintext");
    assert_eq!(r.ssl_response.as_deref(), Some("N"));
}

#[test]
fn protocol_32_startup_with_a_long_backend_key() {
    // A PostgreSQL 18 server accepting 3.2: no NegotiateProtocolVersion;
    // BackendKeyData carries a 32-byte secret (3.2 allows up to 256).
    let mut key_data = 4242u32.to_be_bytes().to_vec();
    key_data.extend_from_slice(&[0x5a; 32]);
    let mut c = Conn::new();
    c.client(&startup_32())
        .server(&msg(b'R', &0u32.to_be_bytes()))
        .server(&msg(b'K', &key_data))
        .server(&msg(b'Z', b"I"));
    let r = c.report();
    assert_eq!(r.verdict.to_string(), "plaintext");
    assert_eq!(r.pg.protocol.as_deref(), Some("3.2"));
    assert_eq!(r.pg.negotiated_protocol, None);
    assert_eq!(r.pg.backend_key_bytes, Some(32));
}

#[test]
fn protocol_32_answered_with_negotiate_protocol_version() {
    // An older server: NegotiateProtocolVersion (version word 3.0, one
    // unrecognised option _pq_.test), then authentication.
    let mut v = 196_608u32.to_be_bytes().to_vec();
    v.extend_from_slice(&1u32.to_be_bytes());
    v.extend_from_slice(b"_pq_.test\0");
    let mut c = Conn::new();
    c.client(&startup_32())
        .server(&msg(b'v', &v))
        .server(&msg(b'R', &10u32.to_be_bytes()));
    let r = c.report();
    assert_eq!(r.verdict.to_string(), "plaintext");
    assert_eq!(r.pg.negotiated_protocol.as_deref(), Some("3.0"));
    assert_eq!(r.pg.unrecognized_options, Some(1));
    assert!(r
        .evidence
        .iter()
        .any(|e| e.what.contains("NegotiateProtocolVersion")));
}

#[test]
fn protocol_32_cancel_request_with_a_256_byte_key() {
    let mut cancel = hexb("0000010c 04d2162e 00001092"); // len 12 + 256, pid 4242
    cancel.extend_from_slice(&[0xa5; 256]);
    let mut c = Conn::new();
    c.client(&cancel).close();
    let r = c.report();
    assert_eq!(r.verdict.to_string(), "cancel-request");
    assert_eq!(r.pg.cancel_pid, Some(4242));
    assert_eq!(r.pg.cancel_key_bytes, Some(256));
}

// ---------------------------------------------------------------------------
// Certificates, key exchange and fingerprints in the samples.

#[test]
fn tls12_certificate_chain_leaf_and_intermediate() {
    let (r, _) = read("samples/tls12-cert-chain.pcap", &[5432]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].verdict.to_string(), "encrypted");
    let c = r[0].tls.certificates.as_ref().expect("certificates");
    assert_eq!(c.hidden, None);
    assert_eq!(c.count, Some(2));
    assert_eq!(c.chain[0].subject, "CN=localhost");
    assert_eq!(
        c.chain[0].issuer,
        "O=pgtls samples, CN=pgtls samples intermediate CA"
    );
    assert_eq!(c.chain[0].key_type, "EC P-256");
    assert_eq!(c.chain[0].signature_algorithm, "ecdsa-with-SHA384");
    assert!(c.chain[1].ca && !c.chain[1].self_signed);
    assert_eq!(c.chain[1].key_type, "EC P-384");
    assert_eq!(c.chain_in_order, Some(true));
    assert_eq!(
        c.root_needed.as_deref(),
        Some("O=pgtls samples, CN=pgtls samples root CA 2")
    );
    assert_eq!(c.name_source, Some("sni"));
    assert_eq!(c.name_matches, Some(true));
    assert_eq!(c.expired, Some(false));
    assert_eq!(c.expires_within_30_days, Some(false));
    assert_eq!(r[0].tls.key_exchange.as_deref(), Some("secp256r1"));
}

#[test]
fn expired_certificate_accepted_by_require_refused_by_verify_ca() {
    let (r, _) = read("samples/tls12-cert-expired.pcap", &[5432]);
    let got: Vec<String> = r.iter().map(|r| r.verdict.to_string()).collect();
    assert_eq!(got, v(&["encrypted", "tls-failed"]));
    for s in &r {
        let c = s.tls.certificates.as_ref().expect("certificates");
        assert_eq!(c.expired, Some(true));
        assert_eq!(c.chain[0].validity, "expired");
        assert_eq!(c.chain[0].not_after, "2021-01-01T00:00:00Z");
        assert!(c.chain[0].days_left < -2000);
    }
    let a = r[1].tls.alert.as_ref().expect("alert");
    assert_eq!((a.from, a.code), ("client", 45)); // certificate_expired
}

#[test]
fn certificate_for_another_name_and_no_sni() {
    let (r, _) = read("samples/tls12-sni-mismatch.pcap", &[5432]);
    assert_eq!(r.len(), 2);
    for s in &r {
        // psql with host=127.0.0.1 sends no SNI; the address is what
        // verify-full checks, and the certificate names db.example.internal.
        assert_eq!(s.verdict.to_string(), "encrypted");
        assert_eq!(s.tls.sni, None);
        assert!(s.tls.ja4.as_deref().unwrap().starts_with("t12i"));
        let c = s.tls.certificates.as_ref().expect("certificates");
        assert_eq!(c.name_checked.as_deref(), Some("127.0.0.1"));
        assert_eq!(c.name_source, Some("server address"));
        assert_eq!(c.name_matches, Some(false));
        assert_eq!(c.chain[0].sans, v(&["DNS:db.example.internal"]));
    }
}

#[test]
fn tls13_sessions_say_the_certificate_is_hidden() {
    for f in [
        "samples/tls13-verify-full.pcap",
        "samples/psycopg-tls.pcap",
        "samples/asyncpg-tls.pcap",
    ] {
        let (r, _) = read(f, &[5432]);
        let c = r[0].tls.certificates.as_ref().expect(f);
        assert_eq!(
            c.hidden.as_deref(),
            Some("TLS 1.3 encrypts the certificate")
        );
        assert!(c.chain.is_empty() && c.expired.is_none(), "{f}");
    }
    // Sessions without a ServerHello have no certificate object at all.
    let (r, _) = read("samples/tls11-refused.pcap", &[5432]);
    assert!(r[0].tls.certificates.is_none());
}

#[test]
fn libpq18_offers_a_post_quantum_key_share() {
    let (r, _) = read("samples/psycopg-tls.pcap", &[5432]);
    assert_eq!(r[0].tls.client_key_shares, v(&["X25519MLKEM768", "x25519"]));
    // PostgreSQL 15 asks for its ssl_ecdh_curve (prime256v1) with an HRR.
    assert_eq!(r[0].tls.key_exchange.as_deref(), Some("secp256r1"));
    assert!(r[0].tls.hello_retry_request);
    assert_eq!(r[0].tls.resumed, None);
}

#[test]
fn psycopg_protocol_32_against_postgresql_15() {
    let (r, _) = read("samples/psycopg-protocol32.pcap", &[5432]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].verdict.to_string(), "plaintext");
    assert_eq!(r[0].pg.protocol.as_deref(), Some("3.2"));
    assert_eq!(r[0].pg.negotiated_protocol.as_deref(), Some("3.0"));
    assert_eq!(r[0].pg.unrecognized_options, Some(0));
    assert_eq!(r[0].pg.backend_key_bytes, Some(4));
}
