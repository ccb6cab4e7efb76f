//! Certificate decoding over certificates made with `openssl req`/`x509`
//! (testdata/): `root.der` RSA 2048 self-signed CA "CN=pgtls test root,
//! O=pgtls"; `leaf.der` EC P-256 "CN=db.example.com" signed by it with
//! sha384, serial 0x1001, SAN DNS:*.example.com, DNS:db.example.com,
//! IP:10.0.0.1; `ed.der` a self-signed Ed25519 certificate with only a
//! Common Name (cn-only.example.org) and no SAN.

use super::*;

const ROOT: &[u8] = include_bytes!("../testdata/root.der");
const LEAF: &[u8] = include_bytes!("../testdata/leaf.der");
const ED: &[u8] = include_bytes!("../testdata/ed.der");

/// A Certificate message body carrying `certs`.
fn message(certs: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for c in certs {
        list.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
        list.extend_from_slice(c);
    }
    let mut m = (list.len() as u32).to_be_bytes()[1..].to_vec();
    m.extend_from_slice(&list);
    m
}

#[test]
fn leaf_fields() {
    let c = parse_certificate(LEAF).unwrap();
    assert_eq!(c.subject, "CN=db.example.com");
    assert_eq!(c.issuer, "CN=pgtls test root, O=pgtls");
    assert_eq!(c.common_name.as_deref(), Some("db.example.com"));
    assert_eq!(c.dns_names, vec!["*.example.com", "db.example.com"]);
    assert_eq!(c.ip_addresses, vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
    assert_eq!(
        c.sans(),
        vec!["DNS:*.example.com", "DNS:db.example.com", "IP:10.0.0.1"]
    );
    // `date -d "$(openssl x509 -noout -startdate)" +%s`
    assert_eq!((c.not_before, c.not_after), (1_795_900_612, 1_830_287_812));
    assert_eq!(c.key_type, "EC P-256");
    assert_eq!(c.key_bits, Some(256));
    // Signed by the RSA root.
    assert_eq!(c.signature_algorithm, "sha384WithRSAEncryption");
    assert!(!c.is_ca);
    assert!(!c.self_issued());
    assert_eq!(c.serial, "1001");
    assert_eq!(
        c.sha256,
        "70fab4ab47e5aa1a68e62dc3239da6a7b5ddea7268b6bdb1ee6e3bf0f1af6734"
    );
}

#[test]
fn root_fields() {
    let c = parse_certificate(ROOT).unwrap();
    assert_eq!(c.subject, c.issuer);
    assert!(c.self_issued());
    assert!(c.is_ca);
    assert_eq!(c.key_type, "RSA");
    assert_eq!(c.key_bits, Some(2048));
    assert_eq!(c.signature_algorithm, "sha256WithRSAEncryption");
    assert_eq!(c.serial, "73A6D584747AE2BE25F7D020B3F42BFD8D3ACC52");
}

#[test]
fn ed25519_key() {
    let c = parse_certificate(ED).unwrap();
    assert_eq!(c.key_type, "Ed25519");
    assert_eq!(c.key_bits, Some(256));
    assert!(c.dns_names.is_empty());
}

#[test]
fn chain_as_sent_and_the_root_a_client_needs() {
    // Leaf and root: the server sends its root along.
    let chain = parse_certificate_chain(&message(&[LEAF, ROOT]));
    assert_eq!(chain.count, 2);
    assert_eq!(chain.error, None);
    assert!(chain.in_order());
    assert_eq!(chain.root_needed(), Some("CN=pgtls test root, O=pgtls"));
    // Leaf only: the client needs the leaf's issuer.
    let chain = parse_certificate_chain(&message(&[LEAF]));
    assert_eq!(chain.root_needed(), Some("CN=pgtls test root, O=pgtls"));
    // Out of order.
    let chain = parse_certificate_chain(&message(&[ROOT, LEAF]));
    assert!(!chain.in_order());
    // Empty list (a server with no certificate to send).
    let chain = parse_certificate_chain(&message(&[]));
    assert_eq!((chain.count, chain.root_needed()), (0, None));
}

#[test]
fn every_truncation_is_reported_never_a_panic() {
    let m = message(&[LEAF, ROOT]);
    for n in 0..m.len() {
        let chain = parse_certificate_chain(&m[..n]);
        assert!(chain.error.is_some(), "cut at {n}");
        assert!(chain.certs.len() <= 1, "cut at {n}");
    }
    // A certificate whose DER is damaged: the others still decode.
    let mut bad = LEAF.to_vec();
    bad[0] = 0x31;
    let chain = parse_certificate_chain(&message(&[&bad, ROOT]));
    assert_eq!(chain.count, 2);
    assert_eq!(chain.certs.len(), 1);
    assert!(chain.error.unwrap().starts_with("certificate 1: not X.509"));
}

#[test]
fn validity_is_relative_to_the_given_time() {
    let c = parse_certificate(LEAF).unwrap();
    assert_eq!(c.validity_at(c.not_before - 1), Validity::NotYetValid);
    assert_eq!(c.validity_at(c.not_before), Validity::Valid);
    assert_eq!(
        c.validity_at(c.not_after - EXPIRY_WARNING_SECS - 1),
        Validity::Valid
    );
    assert_eq!(
        c.validity_at(c.not_after - EXPIRY_WARNING_SECS),
        Validity::ExpiresSoon
    );
    assert_eq!(c.validity_at(c.not_after), Validity::ExpiresSoon);
    assert_eq!(c.validity_at(c.not_after + 1), Validity::Expired);
}

#[test]
fn wildcards_per_rfc_6125() {
    assert!(dns_name_matches("*.example.com", "db.example.com"));
    assert!(dns_name_matches("*.EXAMPLE.com", "Db.example.COM."));
    assert!(!dns_name_matches("*.example.com", "example.com"));
    assert!(!dns_name_matches("*.example.com", "a.b.example.com"));
    assert!(!dns_name_matches("*.example.com", ".example.com"));
    assert!(!dns_name_matches("*.com", "example.com"));
    assert!(!dns_name_matches("db*.example.com", "db1.example.com"));
    assert!(!dns_name_matches("*.*.example.com", "a.b.example.com"));
    assert!(!dns_name_matches("a.*.example.com", "a.b.example.com"));
    assert!(!dns_name_matches("*.0.0.1", "127.0.0.1"));
    assert!(dns_name_matches("localhost", "LOCALHOST"));
    assert!(!dns_name_matches("", ""));
}

#[test]
fn names_checked_like_verify_full() {
    let leaf = parse_certificate(LEAF).unwrap();
    let by = |h: &str| check_name(&leaf, h).matched_by;
    assert_eq!(by("db.example.com").as_deref(), Some("DNS:*.example.com"));
    assert_eq!(by("x.example.com").as_deref(), Some("DNS:*.example.com"));
    assert_eq!(by("10.0.0.1").as_deref(), Some("IP:10.0.0.1"));
    assert!(!check_name(&leaf, "127.0.0.1").matches);
    assert!(!check_name(&leaf, "example.com").matches);
    // SANs present: the Common Name is not consulted.
    let mut cn_only_in_cn = leaf.clone();
    cn_only_in_cn.common_name = Some("other.test".into());
    assert!(!check_name(&cn_only_in_cn, "other.test").matches);
    // No SAN: the Common Name is.
    let ed = parse_certificate(ED).unwrap();
    assert_eq!(
        check_name(&ed, "cn-only.example.org").matched_by.as_deref(),
        Some("CN=cn-only.example.org")
    );
    assert!(!check_name(&ed, "example.org").matches);
}
