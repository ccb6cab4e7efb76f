//! JA3, JA3S and JA4 of the samples' hellos equal what independent
//! implementations compute from the same captures. Their outputs are written
//! here as they printed them:
//!
//! - JA3 / JA3S: TShark 4.0.17 (Wireshark's own dissector),
//!   `tshark -r samples/F -Y tls.handshake.type==1 -T fields -e tls.handshake.ja3 -e tls.handshake.ja3_full`
//!   and `-Y tls.handshake.type==2 -e tls.handshake.ja3s` (the ServerHello
//!   after a HelloRetryRequest: the last one). For the hellos nmap sends
//!   without an SSLRequest, `-d tcp.port==5432,tls`.
//! - JA4: ja4plus 1.4.0 (PyPI; a Python implementation of the FoxIO
//!   specification on scapy), `ja4plus --format csv --types ja4 analyze samples/F`.
//!   TShark 4.0 has no JA4 field.
//!
//! The JA4 specification's own worked examples are unit tests in
//! src/tls/fingerprint.rs.

use md5::{Digest as _, Md5};
use pgtls::analyze::{Analyzer, AnalyzerConfig};
use pgtls::flow::PortSet;
use pgtls::report::SessionReport;

fn read(name: &str) -> Vec<SessionReport> {
    let path = format!("samples/{name}");
    let mut a = Analyzer::new(AnalyzerConfig {
        ports: PortSet::new(vec![5432]),
        max_flows: 100_000,
        report_early: false,
    });
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    pgtls::read::read_capture(&mut a, f, &path, &mut |_| {}).expect("readable");
    a.take_reports()
}

/// (sample, JA3 of its first ClientHello, JA3S of its final ServerHello, JA4).
const ONE_SESSION: &[(&str, &str, Option<&str>, &str)] = &[
    (
        // psql 15 with ssl_max_protocol_version=TLSv1.2 (OpenSSL 3.0).
        // ja3_full 771,49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,0-11-10-35-22-23-13,29-23-30-25-24,0-1-2
        "tls12.pcap",
        "871a754af286dfb70c1b53c6887c62e0",
        Some("e54965894d6b45ecb4323c7ea3d6c115"), // 771,49200,65281-11-23
        "t12d280700_d943125447b4_e7e480e5a997",
    ),
    (
        "tls13-verify-full.pcap",
        "a3afc2c46ba4a7d7fbe1cfb7a3031c2f",
        Some("15af977ce25de452b96affa2addb1036"), // 771,4866,43-51
        "t13d311000_e8f1e7e78f70_1f22a2ca17c4",
    ),
    (
        // libpq 18: ALPN postgresql, X25519MLKEM768 (4588) first in the groups.
        // ja3_full 771,4866-4867-4865-…-53-47,65281-0-11-10-35-16-22-23-13-43-45-51-27,4588-29-23-30-24-25-256-257,0-1-2
        "psycopg-tls.pcap",
        "8ecf4858a704c8936042f20a8bedee04",
        Some("15af977ce25de452b96affa2addb1036"),
        "t13d3013pl_1d37bd780c83_ecd0401ec68b",
    ),
    (
        "psycopg-direct-tls-refused.pcap",
        "8ecf4858a704c8936042f20a8bedee04",
        None,
        "t13d3013pl_1d37bd780c83_ecd0401ec68b",
    ),
    (
        // Python ssl: no SNI for an address.
        "asyncpg-tls.pcap",
        "b0020a04d796a92096d3928b119a51f6",
        Some("15af977ce25de452b96affa2addb1036"),
        "t13i1811pl_85036bcba153_d41ae481755e",
    ),
    (
        // openssl s_client -tls1: 769,49162-49172-57-49161-49171-51-53-47-255,11-10-35-22-23,29-23-30-25-24,0-1-2
        "tls10-refused.pcap",
        "53652b2730564404986852cde177b6d9",
        None,
        "t10i090500_c491f621fb4c_195413a0cc0f",
    ),
    (
        "tls11-refused.pcap",
        "f465b14dea9dace32abde596ddc56e04",
        None,
        "t11i090500_c491f621fb4c_195413a0cc0f",
    ),
    (
        // An ECDSA server certificate: the server answers another cipher.
        "tls12-cert-chain.pcap",
        "871a754af286dfb70c1b53c6887c62e0",
        Some("a548c224ffe85e7076d7897c27f6758c"),
        "t12d280700_d943125447b4_e7e480e5a997",
    ),
    (
        // psql with host=127.0.0.1: no SNI extension (JA4 'i', one extension fewer).
        "tls12-sni-mismatch.pcap",
        "fbe7e189e37a07ee33706f86bc746344",
        Some("e54965894d6b45ecb4323c7ea3d6c115"),
        "t12i280600_d943125447b4_e7e480e5a997",
    ),
];

#[test]
fn ja3_ja3s_ja4_equal_tshark_and_ja4plus() {
    for (name, ja3, ja3s, ja4) in ONE_SESSION {
        let r = read(name);
        let t = &r[0].tls;
        assert_eq!(t.ja3.as_deref(), Some(*ja3), "{name} JA3");
        assert_eq!(t.ja3s.as_deref(), *ja3s, "{name} JA3S");
        assert_eq!(t.ja4.as_deref(), Some(*ja4), "{name} JA4");
        assert_eq!(t.fingerprint_note, None, "{name}");
    }
}

/// MD5 of the sorted values, one per line (`sort | md5sum`).
fn digest_of(mut v: Vec<String>) -> String {
    v.sort();
    let mut text = v.join("\n");
    text.push('\n');
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every session of the scanner captures: the first ClientHello of each
/// connection, compared as a whole list through one digest.
///
/// JA3: `tshark -r samples/F -d tcp.port==5432,tls -Y tls.handshake.type==1
///  -T fields -e tcp.stream -e tls.handshake.ja3 | awk '!seen[$1]++ && $2 != "" {print $2}' | sort | md5sum`
/// JA4: `ja4plus --format csv --types ja4 analyze samples/F`, the first
/// fingerprint per client port, sorted, one per line, `md5sum`.
#[test]
fn scanner_hellos_equal_tshark_and_ja4plus_as_a_whole() {
    for (name, sessions, ja3_digest, ja4_digest) in [
        (
            "scanner-nmap.pcap",
            130,
            "985478fc99a9ba36923ca20f9ba716c4",
            "05d4695ec56a71186efb7e6bac2c2bea",
        ),
        (
            // 9: the tenth hello is SSLv2-format, which neither tool fingerprints.
            "scanner-testssl.pcap",
            9,
            "eb750a5e2f5c6afcb3d0d6d9ab106643",
            "c0677bea99f9471d88930429bbb665ad",
        ),
    ] {
        let r = read(name);
        let ja3: Vec<String> = r.iter().filter_map(|s| s.tls.ja3.clone()).collect();
        let ja4: Vec<String> = r.iter().filter_map(|s| s.tls.ja4.clone()).collect();
        assert_eq!((ja3.len(), ja4.len()), (sessions, sessions), "{name}");
        assert_eq!(digest_of(ja3), ja3_digest, "{name} JA3");
        assert_eq!(digest_of(ja4), ja4_digest, "{name} JA4");
    }
}

#[test]
fn sslv2_hello_has_no_fingerprint_and_says_why() {
    let r = read("scanner-testssl.pcap");
    let s = r.iter().find(|s| s.tls.sslv2_hello).expect("SSLv2 hello");
    assert_eq!((s.tls.ja3.as_deref(), s.tls.ja4.as_deref()), (None, None));
    assert!(s
        .tls
        .fingerprint_note
        .as_deref()
        .unwrap()
        .starts_with("SSLv2-format hello"));
}

#[test]
fn same_library_same_fingerprint() {
    // The point of the fingerprints: libpq 18's three connections (one
    // normal, one cancel over TLS, one direct TLS) share one JA4, and psql's
    // TLS 1.2-capped connections share another whatever their server.
    let mut libpq18 = Vec::new();
    for f in [
        "psycopg-tls.pcap",
        "psycopg-cancel-tls.pcap",
        "psycopg-direct-tls-refused.pcap",
    ] {
        libpq18.extend(read(f).into_iter().filter_map(|s| s.tls.ja4));
    }
    assert_eq!(libpq18.len(), 4);
    assert!(libpq18.iter().all(|j| j == &libpq18[0]), "{libpq18:?}");
    let psql12: Vec<String> = [
        "tls12.pcap",
        "tls12-cert-chain.pcap",
        "tls12-cert-expired.pcap",
    ]
    .iter()
    .flat_map(|f| read(f).into_iter().filter_map(|s| s.tls.ja4))
    .collect();
    assert_eq!(psql12.len(), 4);
    assert!(psql12.iter().all(|j| j == &psql12[0]), "{psql12:?}");
}
