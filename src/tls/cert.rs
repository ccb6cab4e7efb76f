//! Certificates a server sends in clear (TLS 1.2 and older): the chain as
//! sent, decoded with x509-parser into what a reviewer needs: who it names,
//! who signed it, until when, with what key; whether it fits the name the
//! client asked for; which root a client needs to verify it.
//!
//! Nothing here reads a clock: validity is judged against a time the caller
//! gives (the capture's).

use sha2::{Digest as _, Sha256};
use std::net::IpAddr;
use std::sync::Arc;
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

/// Certificates decoded per chain; the rest are counted, not decoded.
pub const MAX_CERTS_PER_CHAIN: usize = 10;
/// "Expiring soon": within this many seconds of the capture.
pub const EXPIRY_WARNING_SECS: i64 = 30 * 86_400;

/// One certificate of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertInfo {
    /// Distinguished names as RFC 4514-like strings (`CN=localhost, O=…`).
    pub subject: String,
    pub issuer: String,
    pub common_name: Option<String>,
    /// subjectAltName dNSName entries, as written.
    pub dns_names: Vec<String>,
    /// subjectAltName iPAddress entries.
    pub ip_addresses: Vec<IpAddr>,
    /// Validity, seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// `RSA`, `EC P-256`, `Ed25519`, … or the algorithm's name.
    pub key_type: String,
    pub key_bits: Option<u32>,
    /// Short name of the signature algorithm (`sha256WithRSAEncryption`).
    pub signature_algorithm: String,
    /// basicConstraints CA:TRUE.
    pub is_ca: bool,
    /// Hex, as `openssl x509 -serial` prints it.
    pub serial: String,
    /// SHA-256 of the DER, lower-case hex (what `openssl x509 -fingerprint -sha256` shows).
    pub sha256: String,
}

impl CertInfo {
    /// Subject and issuer are the same name (a root, or a self-signed leaf).
    pub fn self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// Where this certificate stands at `now` (seconds since the epoch).
    pub fn validity_at(&self, now: i64) -> Validity {
        if now < self.not_before {
            Validity::NotYetValid
        } else if now > self.not_after {
            Validity::Expired
        } else if self.not_after - now <= EXPIRY_WARNING_SECS {
            Validity::ExpiresSoon
        } else {
            Validity::Valid
        }
    }

    /// subjectAltName entries as `DNS:name` / `IP:addr`.
    pub fn sans(&self) -> Vec<String> {
        self.dns_names
            .iter()
            .map(|d| ["DNS:", d].concat())
            .chain(self.ip_addresses.iter().map(|a| format!("IP:{a}")))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validity {
    Valid,
    /// Valid, but for 30 days or less after the capture.
    ExpiresSoon,
    Expired,
    NotYetValid,
}

impl Validity {
    pub fn as_str(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::ExpiresSoon => "expires-soon",
            Validity::Expired => "expired",
            Validity::NotYetValid => "not-yet-valid",
        }
    }
}

/// A Certificate message, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CertChain {
    /// In the order sent (leaf first, by the protocol's rule).
    pub certs: Vec<CertInfo>,
    /// Certificates in the message, decoded or not.
    pub count: usize,
    /// The first thing that could not be decoded.
    pub error: Option<String>,
}

impl CertChain {
    /// The CA a client needs in `sslrootcert` to verify this chain: the
    /// subject of the last certificate when it is self-issued (a root the
    /// server sends along), else that certificate's issuer.
    pub fn root_needed(&self) -> Option<&str> {
        let last = self.certs.last()?;
        Some(if last.self_issued() {
            &last.subject
        } else {
            &last.issuer
        })
    }

    /// Every certificate is signed by the next one's subject (RFC 5246 §7.4.2
    /// order).
    pub fn in_order(&self) -> bool {
        self.certs.windows(2).all(|w| w[0].issuer == w[1].subject)
    }
}

fn u24(b: &[u8]) -> Option<usize> {
    let b = b.get(..3)?;
    Some((usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
}

/// Chains kept by [`parse_certificate_chain_cached`] per thread.
const CHAIN_CACHE_ENTRIES: usize = 256;

thread_local! {
    static CHAIN_CACHE: std::cell::RefCell<super::shapes::ShapeCache<Arc<CertChain>>> =
        std::cell::RefCell::new(Default::default());
}

/// [`parse_certificate_chain`] with a small per-thread cache: a server shows
/// the same chain to every client, and decoding X.509 dominated the time per
/// session on captures of many short TLS 1.2 sessions. The sessions that
/// saw the same chain share it: a copy cost about ten allocations.
pub fn parse_certificate_chain_cached(body: &[u8]) -> Arc<CertChain> {
    CHAIN_CACHE.with(|c| {
        c.borrow_mut().get_or(body, CHAIN_CACHE_ENTRIES, || {
            Arc::new(parse_certificate_chain(body))
        })
    })
}

/// Decodes a TLS 1.0–1.2 Certificate message body: a 3-byte list length,
/// then (3-byte length, DER) entries. What cannot be decoded is reported in
/// `error`; nothing panics.
pub fn parse_certificate_chain(body: &[u8]) -> CertChain {
    let mut chain = CertChain::default();
    let Some(total) = u24(body) else {
        chain.error = Some("Certificate message shorter than its length field".into());
        return chain;
    };
    let mut list = &body[3..];
    if list.len() < total {
        chain.error = Some(format!(
            "certificate list of {total} bytes cut to {}",
            list.len()
        ));
    } else {
        list = &list[..total];
    }
    while !list.is_empty() {
        let Some(len) = u24(list) else {
            chain
                .error
                .get_or_insert("truncated certificate entry".into());
            break;
        };
        let Some(der) = list.get(3..3 + len) else {
            chain
                .error
                .get_or_insert("truncated certificate entry".into());
            break;
        };
        list = &list[3 + len..];
        chain.count += 1;
        if chain.certs.len() >= MAX_CERTS_PER_CHAIN {
            continue;
        }
        match parse_certificate(der) {
            Ok(c) => chain.certs.push(c),
            Err(e) => {
                chain
                    .error
                    .get_or_insert(format!("certificate {}: {e}", chain.count));
            }
        }
    }
    chain
}

/// Decodes one DER certificate.
pub fn parse_certificate(der: &[u8]) -> Result<CertInfo, String> {
    let (_, x) = X509Certificate::from_der(der).map_err(|e| format!("not X.509 DER ({e})"))?;
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    if let Ok(Some(san)) = x.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => dns_names.push(d.to_string()),
                GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        ip_addresses.push(IpAddr::from(a));
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        ip_addresses.push(IpAddr::from(a));
                    }
                }
                _ => {}
            }
        }
    }
    let common_name = x
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let (key_type, key_bits) = key_of(&x);
    let reg = x509_parser::objects::oid_registry();
    let sig_oid = &x.signature_algorithm.algorithm;
    let signature_algorithm = x509_parser::objects::oid2sn(sig_oid, reg)
        .map(str::to_string)
        .unwrap_or_else(|_| sig_oid.to_id_string());
    Ok(CertInfo {
        subject: x.subject().to_string(),
        issuer: x.issuer().to_string(),
        common_name,
        dns_names,
        ip_addresses,
        not_before: x.validity().not_before.timestamp(),
        not_after: x.validity().not_after.timestamp(),
        key_type,
        key_bits,
        signature_algorithm,
        is_ca: x.is_ca(),
        serial: x
            .raw_serial()
            .iter()
            .skip_while(|b| **b == 0)
            .map(|b| format!("{b:02X}"))
            .collect(),
        sha256: Sha256::digest(der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    })
}

/// Bits of a big-endian unsigned integer, leading zeros ignored.
fn int_bits(b: &[u8]) -> u32 {
    let b: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
    match b.first() {
        Some(f) => (b.len() as u32 - 1) * 8 + (8 - f.leading_zeros()),
        None => 0,
    }
}

fn key_of(x: &X509Certificate<'_>) -> (String, Option<u32>) {
    let spki = x.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    match alg.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            let bits = match spki.parsed() {
                Ok(PublicKey::RSA(k)) => Some(int_bits(k.modulus)),
                _ => None,
            };
            let name = if alg.ends_with(".10") {
                "RSA-PSS"
            } else {
                "RSA"
            };
            (name.into(), bits)
        }
        "1.2.840.10045.2.1" => {
            let (name, bits) = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => ("EC P-256", 256),
                Some("1.3.132.0.34") => ("EC P-384", 384),
                Some("1.3.132.0.35") => ("EC P-521", 521),
                Some("1.3.132.0.10") => ("EC secp256k1", 256),
                Some("1.3.36.3.3.2.8.1.1.7") => ("EC brainpoolP256r1", 256),
                Some("1.3.36.3.3.2.8.1.1.11") => ("EC brainpoolP384r1", 384),
                Some("1.3.36.3.3.2.8.1.1.13") => ("EC brainpoolP512r1", 512),
                Some(other) => return (format!("EC {other}"), None),
                None => ("EC", 0),
            };
            (name.into(), (bits > 0).then_some(bits))
        }
        "1.3.101.112" => ("Ed25519".into(), Some(256)),
        "1.3.101.113" => ("Ed448".into(), Some(456)),
        "1.2.840.10040.4.1" => {
            let bits = match spki.parsed() {
                Ok(PublicKey::DSA(y)) => Some(int_bits(y)),
                _ => None,
            };
            ("DSA".into(), bits)
        }
        _ => {
            let reg = x509_parser::objects::oid_registry();
            let name = x509_parser::objects::oid2sn(&spki.algorithm.algorithm, reg)
                .map(str::to_string)
                .unwrap_or(alg);
            (name, None)
        }
    }
}

/// Does a dNSName (possibly a wildcard) match a host name? RFC 6125 §6.4.3
/// as libpq applies it: case-insensitive; `*` only as the whole left-most
/// label, matching exactly one non-empty label; never an IP address.
pub fn dns_name_matches(pattern: &str, host: &str) -> bool {
    let p = pattern.trim_end_matches('.').to_ascii_lowercase();
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    if p.is_empty() || h.is_empty() {
        return false;
    }
    match p.strip_prefix("*.") {
        Some(rest) => {
            if rest.contains('*') || h.parse::<IpAddr>().is_ok() || !rest.contains('.') {
                return false;
            }
            match h.split_once('.') {
                Some((first, tail)) => !first.is_empty() && tail == rest,
                None => false,
            }
        }
        None => !p.contains('*') && p == h,
    }
}

/// The outcome of checking a name against a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NameCheck {
    pub matches: bool,
    /// The entry that matched (`DNS:*.example.com`, `IP:127.0.0.1`, `CN=host`).
    pub matched_by: Option<String>,
}

/// Checks `host` (the SNI, or the server address without one) the way
/// libpq's `sslmode=verify-full` does: against the subjectAltName dNSName
/// and iPAddress entries; against the Common Name only when there are none.
pub fn check_name(cert: &CertInfo, host: &str) -> NameCheck {
    let ip = host.parse::<IpAddr>().ok();
    let hit = |by: String| NameCheck {
        matches: true,
        matched_by: Some(by),
    };
    if let Some(ip) = ip {
        if let Some(a) = cert.ip_addresses.iter().find(|a| **a == ip) {
            return hit(format!("IP:{a}"));
        }
    }
    for d in &cert.dns_names {
        let ok = match ip {
            // libpq compares an IP host with a dNSName as a string.
            Some(_) => d.eq_ignore_ascii_case(host),
            None => dns_name_matches(d, host),
        };
        if ok {
            return hit(format!("DNS:{d}"));
        }
    }
    if cert.dns_names.is_empty() && cert.ip_addresses.is_empty() {
        if let Some(cn) = &cert.common_name {
            let ok = match ip {
                Some(_) => cn.eq_ignore_ascii_case(host),
                None => dns_name_matches(cn, host),
            };
            if ok {
                return hit(format!("CN={cn}"));
            }
        }
    }
    NameCheck {
        matches: false,
        matched_by: None,
    }
}

#[cfg(test)]
mod tests;
