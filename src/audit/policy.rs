//! The policy an audit checks: "TLS required, at least TLS 1.2" by default,
//! what `require_secure_transport=on` (or `hostssl`-only `pg_hba.conf`) and
//! `ssl_min_protocol_version` promise. Also the judgement of a cipher suite.

use crate::tls::TlsVersion;
use serde::Serialize;

/// What the server is expected to enforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// No PostgreSQL message may cross in clear (`--allow-plaintext` turns it off).
    pub tls_required: bool,
    /// The oldest TLS version a server may negotiate (`--min-tls`).
    pub min_tls: TlsVersion,
    /// Show query texts, cut short (`--show-queries`).
    pub show_queries: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            tls_required: true,
            min_tls: TlsVersion::TLS_1_2,
            show_queries: false,
        }
    }
}

impl Policy {
    /// Is `v` older than the minimum?
    pub fn below_min(&self, v: TlsVersion) -> bool {
        v.rank() < self.min_tls.rank()
    }

    /// The minimum as PostgreSQL names it: `TLSv1.2`.
    pub fn min_name(&self) -> String {
        self.min_tls.name().into_owned()
    }

    /// The server settings this policy stands for.
    pub fn settings(&self) -> String {
        let min = format!("ssl_min_protocol_version={}", self.min_name());
        if self.tls_required {
            format!("require_secure_transport=on (hostssl only), {min}")
        } else {
            format!("plaintext allowed, {min} for TLS")
        }
    }

    /// One line: "TLS required, TLSv1.2 or newer".
    pub fn describe(&self) -> String {
        format!(
            "{}, {} or newer",
            if self.tls_required {
                "TLS required"
            } else {
                "plaintext allowed (--allow-plaintext)"
            },
            self.min_name()
        )
    }
}

/// How bad a finding is. High findings make the audit fail (exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

/// Why a negotiated cipher suite is weak, with a severity; `None` for a
/// suite that is not weak or not known.
pub fn weak_cipher(id: u16) -> Option<(Severity, String)> {
    use tls_parser::{TlsCipherAu as Au, TlsCipherEnc as Enc, TlsCipherKx as Kx};
    let c = crate::tls::cipher_suite(id)?;
    let why = if c.enc == Enc::Null {
        (
            Severity::High,
            "NULL encryption: the traffic crosses in clear".into(),
        )
    } else if c.au == Au::Null && c.kx != Kx::Null {
        (
            Severity::High,
            "anonymous key exchange: the server is not authenticated, a man in the middle reads everything"
                .into(),
        )
    } else if c.name.contains("EXPORT") {
        (
            Severity::High,
            format!("export-grade ({}-bit key)", c.enc_size),
        )
    } else if c.enc == Enc::Rc4 {
        (Severity::High, "RC4 (prohibited by RFC 7465)".into())
    } else if matches!(c.enc, Enc::Des | Enc::Rc2) {
        (Severity::High, format!("{}-bit DES/RC2", c.enc_size))
    } else if c.enc == Enc::TripleDes {
        (
            Severity::Medium,
            "3DES: 64-bit blocks (Sweet32, CVE-2016-2183)".into(),
        )
    } else if c.enc_size > 0 && c.enc_size < 112 {
        (Severity::High, format!("{}-bit key", c.enc_size))
    } else {
        return None;
    };
    Some(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_ciphers_by_iana_code() {
        let sev = |id| weak_cipher(id).map(|(s, _)| s);
        assert_eq!(sev(0x003b), Some(Severity::High)); // TLS_RSA_WITH_NULL_SHA256
        assert_eq!(sev(0x0000), Some(Severity::High)); // TLS_NULL_WITH_NULL_NULL
        assert_eq!(sev(0xc018), Some(Severity::High)); // TLS_ECDH_anon_WITH_AES_128_CBC_SHA
        assert_eq!(sev(0x0034), Some(Severity::High)); // TLS_DH_anon_WITH_AES_128_CBC_SHA
        assert_eq!(sev(0x0003), Some(Severity::High)); // TLS_RSA_EXPORT_WITH_RC4_40_MD5
        assert_eq!(sev(0x0005), Some(Severity::High)); // TLS_RSA_WITH_RC4_128_SHA
        assert_eq!(sev(0x0009), Some(Severity::High)); // TLS_RSA_WITH_DES_CBC_SHA
        assert_eq!(sev(0x000a), Some(Severity::Medium)); // TLS_RSA_WITH_3DES_EDE_CBC_SHA
        assert_eq!(sev(0xc030), None); // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        assert_eq!(sev(0x1302), None); // TLS_AES_256_GCM_SHA384
        assert_eq!(sev(0x008c), None); // TLS_PSK_WITH_AES_128_CBC_SHA: not anonymous
        assert_eq!(sev(0xfafa), None); // unknown
        assert!(weak_cipher(0x003b).unwrap().1.contains("NULL"));
    }

    #[test]
    fn minimum_compares_by_rank() {
        let p = Policy::default();
        assert!(p.below_min(TlsVersion::TLS_1_1));
        assert!(p.below_min(TlsVersion::SSL_2_0));
        assert!(!p.below_min(TlsVersion::TLS_1_2));
        assert!(!p.below_min(TlsVersion(0x7f1c))); // a TLS 1.3 draft
        let p13 = Policy {
            min_tls: TlsVersion::TLS_1_3,
            ..Policy::default()
        };
        assert!(p13.below_min(TlsVersion(0x7f1c)));
        assert!(p13.below_min(TlsVersion::TLS_1_2));
        assert_eq!(p.describe(), "TLS required, TLSv1.2 or newer");
    }
}
