//! The verdict of a session, as `../shared/design/protocol.md` §4 defines it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Encrypted,
    Plaintext,
    RejectedTlsVersion,
    RejectedPlaintext,
    TlsFailed,
    SslRefused,
    GssEncrypted,
    CancelRequest,
    NotPostgresql,
    Incomplete,
}

impl Verdict {
    pub const ALL: [Verdict; 10] = [
        Verdict::Encrypted,
        Verdict::Plaintext,
        Verdict::RejectedTlsVersion,
        Verdict::RejectedPlaintext,
        Verdict::TlsFailed,
        Verdict::SslRefused,
        Verdict::GssEncrypted,
        Verdict::CancelRequest,
        Verdict::NotPostgresql,
        Verdict::Incomplete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Encrypted => "encrypted",
            Verdict::Plaintext => "plaintext",
            Verdict::RejectedTlsVersion => "rejected-tls-version",
            Verdict::RejectedPlaintext => "rejected-plaintext",
            Verdict::TlsFailed => "tls-failed",
            Verdict::SslRefused => "ssl-refused",
            Verdict::GssEncrypted => "gss-encrypted",
            Verdict::CancelRequest => "cancel-request",
            Verdict::NotPostgresql => "not-postgresql",
            Verdict::Incomplete => "incomplete",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict;

    /// `ALL` lists every verdict in declaration order: counts kept in
    /// arrays are indexed by `verdict as usize`.
    #[test]
    fn all_lists_every_verdict_at_its_discriminant() {
        for (i, v) in Verdict::ALL.into_iter().enumerate() {
            assert_eq!(v as usize, i, "{v:?}");
            // A verdict added to the enum and not to ALL fails to compile here.
            match v {
                Verdict::Encrypted
                | Verdict::Plaintext
                | Verdict::RejectedTlsVersion
                | Verdict::RejectedPlaintext
                | Verdict::TlsFailed
                | Verdict::SslRefused
                | Verdict::GssEncrypted
                | Verdict::CancelRequest
                | Verdict::NotPostgresql
                | Verdict::Incomplete => {}
            }
        }
        let names: std::collections::BTreeSet<_> = Verdict::ALL.map(Verdict::as_str).into();
        assert_eq!(names.len(), Verdict::ALL.len());
    }
}
