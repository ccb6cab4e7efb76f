//! From what a session showed to its verdict and a reason a person can read.

use super::conversation::{alert_label, request_name, side_name, Conversation, Phase, Request};
use super::{Session, Verdict};
use crate::flow::Direction;
use crate::tls::{self, TlsVersion};
use std::borrow::Cow;
use std::fmt;

/// `format!` into a buffer sized for a whole reason. `format!` guesses from
/// the literal parts, which for most reasons meant growing the string one
/// to four times.
macro_rules! reason {
    ($($arg:tt)*) => {{
        let mut s = String::with_capacity(REASON_CAPACITY);
        let _ = fmt::Write::write_fmt(&mut s, format_args!($($arg)*));
        s
    }};
}

/// Bytes reserved for a reason: most are 60 to 130 long.
const REASON_CAPACITY: usize = 128;

/// Reasons of encrypted sessions are kept by version, cipher suite and
/// how TLS began, for the known versions and suites only (tls-parser's
/// table): a million sessions took a million joins and allocations for a
/// few distinct texts. Each is made once and kept for the process; at most
/// this many are kept in all, whatever the number of threads that come
/// and go (under 100 bytes each: at most 1.6 MB, in practice a few texts a
/// server).
const NEGOTIATED_KEPT: usize = 16_384;

/// Every text kept, by version, suite and how TLS began: a thread that
/// misses in its own map looks here (under the lock) before making one, so
/// that each is made once for the process; and they stay reachable after
/// the thread that made one ends (leak checkers, the fuzz targets' among
/// them, count memory no one can reach as lost).
static NEGOTIATED_TEXTS: std::sync::LazyLock<std::sync::Mutex<KeptReasons>> =
    std::sync::LazyLock::new(Default::default);

/// Kept reasons by (version, cipher suite, direct TLS).
type KeptReasons = rustc_hash::FxHashMap<(u16, u16, bool), &'static str>;

thread_local! {
    /// The texts this thread used, found without the lock.
    static NEGOTIATED: std::cell::RefCell<KeptReasons> = Default::default();
}

/// "TLSv1.3 negotiated after SSLRequest (TLS_AES_256_GCM_SHA384)": kept
/// for a known version and suite, else made for this session.
fn negotiated(v: TlsVersion, direct: bool, cipher: u16) -> Cow<'static, str> {
    let how = if direct {
        "direct TLS"
    } else {
        "after SSLRequest"
    };
    let text = || {
        let name = crate::report::cipher_name(cipher);
        [&*v.name(), " negotiated ", how, " (", &name, ")"].concat()
    };
    let key = (v.0, cipher, direct);
    NEGOTIATED.with(|kept| {
        let mut kept = kept.borrow_mut();
        if let Some(&r) = kept.get(&key) {
            return r.into();
        }
        let known = matches!(v.0, 0x0300..=0x0304) && tls::cipher_suite(cipher).is_some();
        if !known {
            return text().into();
        }
        let mut texts = NEGOTIATED_TEXTS.lock().unwrap_or_else(|e| e.into_inner());
        let r = match texts.get(&key) {
            Some(&r) => r,
            None if texts.len() < NEGOTIATED_KEPT => {
                let r: &'static str = Box::leak(text().into_boxed_str());
                texts.insert(key, r);
                r
            }
            None => return text().into(),
        };
        kept.insert(key, r);
        r.into()
    })
}

/// A verdict with its short reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub verdict: Verdict,
    /// Fixed reasons are borrowed: a million sessions judged allocate only
    /// the reasons that name something of their own.
    pub reason: Cow<'static, str>,
}

fn j(verdict: Verdict, reason: impl Into<Cow<'static, str>>) -> Judgement {
    Judgement {
        verdict,
        reason: reason.into(),
    }
}

pub fn judge(s: &Session) -> Judgement {
    judge_noting_closes(s).0
}

/// The frames at which each side closed, and who reset, as the judge reads
/// them: each read is noted in `read`, so that a caller knows whether the
/// judgement could depend on closes still to come
/// ([`Session::final_judgement`]).
struct Closes<'a> {
    c: &'a Conversation,
    read: std::cell::Cell<bool>,
}

impl Closes<'_> {
    fn client(&self) -> bool {
        self.read.set(true);
        self.c.client_closed.is_some()
    }

    fn server(&self) -> bool {
        self.read.set(true);
        self.c.server_closed.is_some()
    }

    fn reset_by(&self) -> Option<Direction> {
        self.read.set(true);
        self.c.reset_by.map(|(d, _)| d)
    }
}

/// [`judge`], and whether the judgement read how the connection closed.
pub fn judge_noting_closes(s: &Session) -> (Judgement, bool) {
    let c = s.conv();
    let closes = Closes {
        c: &c,
        read: std::cell::Cell::new(false),
    };
    let judgement = judge_with(s, &c, &closes);
    (judgement, closes.read.get())
}

fn judge_with(s: &Session, c: &Conversation, closes: &Closes<'_>) -> Judgement {
    match &c.phase {
        Phase::NotPostgres(why) => j(Verdict::NotPostgresql, why.clone()),
        Phase::Cancel => j(
            Verdict::CancelRequest,
            reason!(
                "CancelRequest in clear for backend {}: its secret key crossed the wire",
                c.pg.cancel_pid.unwrap_or(0)
            ),
        ),
        Phase::Tls => judge_tls(s, c, closes),
        Phase::Gss => {
            if c.gss_client_bytes > 0 || c.gss_server_bytes > 0 {
                let after_n = if c.answers.first().is_some_and(|(_, a, _)| *a == b'N') {
                    " after an earlier refusal (N)"
                } else {
                    ""
                };
                j(
                    Verdict::GssEncrypted,
                    reason!(
                        "server answered G to GSSENCRequest{after_n}; GSSAPI-wrapped traffic followed ({} packets from the client, {} from the server)",
                        c.gss_client.packets, c.gss_server.packets
                    ),
                )
            } else {
                j(
                    Verdict::Incomplete,
                    "server answered G to GSSENCRequest but no GSSAPI traffic was captured",
                )
            }
        }
        Phase::Plain => judge_plain(s, c, closes),
        Phase::AnswerError(req) => {
            let e = c.pg.error.as_ref();
            j(
                Verdict::SslRefused,
                reason!(
                    "server answered {} with an ErrorResponse{}",
                    request_name(*req),
                    e.and_then(|e| e.message.as_ref())
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
            )
        }
        Phase::AwaitAnswer(req) => j(
            Verdict::Incomplete,
            reason!("{} sent; no answer was captured", request_name(*req)),
        ),
        Phase::Startup => {
            let refused_ssl = c
                .answers
                .iter()
                .rev()
                .find(|(r, _, _)| *r == Request::Ssl)
                .is_some_and(|(_, a, _)| *a == b'N');
            if refused_ssl {
                return j(
                    Verdict::SslRefused,
                    "server answered N to SSLRequest (no TLS); the client gave up",
                );
            }
            if c.answers
                .iter()
                .any(|(r, a, _)| *r == Request::Gss && *a == b'N')
            {
                return j(
                    Verdict::Incomplete,
                    "server answered N to GSSENCRequest; the client sent nothing more",
                );
            }
            if !c.client_bytes_seen && !c.server_bytes_seen {
                let how = if s.rst {
                    " (reset)"
                } else if s.syn_seen {
                    ""
                } else {
                    " (no SYN)"
                };
                return j(
                    Verdict::Incomplete,
                    reason!("connection with no payload captured{how}"),
                );
            }
            j(
                Verdict::Incomplete,
                "startup packet cut short: the capture ends inside it",
            )
        }
        Phase::Unsynced => j(
            Verdict::Incomplete,
            if s.midstream() {
                "session first seen mid-stream; no message boundary was found"
            } else {
                "bytes missing from the capture during the startup phase"
            },
        ),
    }
}

/// What the client offered, written only into the reasons that say it.
struct Offered(Option<TlsVersion>);

impl fmt::Display for Offered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "client offered at most {}", v.name()),
            None => f.write_str("no ClientHello captured"),
        }
    }
}

fn judge_tls(s: &Session, c: &Conversation, closes: &Closes<'_>) -> Judgement {
    let t = &c.tls;
    let client_max = t.client_hello.as_ref().map(|h| h.max_version());
    let below_12 = client_max.is_some_and(|v| v.rank() < TlsVersion::TLS_1_2.rank());
    let direct = t.negotiation == Some(super::Negotiation::Direct);
    let offered = Offered(client_max);

    if t.server_hello.is_none() {
        if let Some(e) = &c.pg.error {
            return j(
                Verdict::TlsFailed,
                reason!(
                    "server answered the {}ClientHello with a PostgreSQL ErrorResponse ({} {}){}",
                    if direct { "direct-TLS " } else { "" },
                    e.code.as_deref().unwrap_or("?"),
                    e.message.as_deref().unwrap_or(""),
                    if direct {
                        ": the server does not support direct TLS"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    if t.server_hello.is_none()
        && t.client_app_records > 0
        && t.server_app_records > 0
        && s.gaps().0 > 0
    {
        return j(
            Verdict::Encrypted,
            "the ServerHello is missing from the capture, but encrypted TLS records flowed both ways",
        );
    }
    let server_silent = c.server_tls_records() == 0 && c.pg.error.is_none();
    if direct
        && t.server_hello.is_none()
        && server_silent
        && t.client_hello.is_some()
        && (closes.server() || closes.reset_by().is_some())
    {
        return j(
            Verdict::TlsFailed,
            "direct TLS (no SSLRequest) to a server that does not support it: the connection closed without a ServerHello",
        );
    }
    if t.hello_retry && t.server_hello.is_none() && t.alert.is_none() {
        return j(
            Verdict::TlsFailed,
            reason!(
                "server asked for another key share (HelloRetryRequest); the client did not complete the handshake ({offered})"
            ),
        );
    }
    if let Some(a) = t
        .alert
        .filter(|a| a.alert.is_fatal() || a.alert.description == tls::ALERT_PROTOCOL_VERSION)
    {
        let d = a.alert.description;
        let who = side_name(a.from);
        if d == tls::ALERT_PROTOCOL_VERSION {
            let detail = match (a.from, &t.server_hello) {
                (Direction::ToServer, Some(sh)) => reason!(
                    "client refused the server's choice of {}",
                    TlsVersion(sh.selected_version).name()
                ),
                _ => offered.to_string(),
            };
            return j(
                Verdict::RejectedTlsVersion,
                reason!("{who} sent alert protocol_version (70): {detail}"),
            );
        }
        if d == tls::ALERT_HANDSHAKE_FAILURE && t.server_hello.is_none() && below_12 {
            return j(
                Verdict::RejectedTlsVersion,
                reason!("{who} sent alert handshake_failure (40) with no ServerHello: {offered}"),
            );
        }
        if d == tls::ALERT_CLOSE_NOTIFY {
            // close_notify is orderly; fall through to the handshake state.
        } else {
            let offered_pg_alpn = t
                .client_hello
                .as_ref()
                .is_some_and(|h| h.alpn.iter().any(|p| p == "postgresql"));
            let hint = match (d, a.from, offered_pg_alpn) {
                (120, Direction::ToClient, false) => {
                    " (the server wants ALPN \"postgresql\", which the client did not offer)"
                }
                (120, Direction::ToClient, true) => {
                    " (the client offered ALPN \"postgresql\"; the server accepts none of the client's protocols)"
                }
                _ => "",
            };
            return j(
                Verdict::TlsFailed,
                reason!(
                    "{who} sent fatal alert {}{}{}{hint}",
                    alert_label(d),
                    if direct { " to direct TLS" } else { "" },
                    if t.server_hello.is_some() {
                        " after the ServerHello"
                    } else {
                        " before any ServerHello"
                    }
                ),
            );
        }
    }

    if let Some(sh) = &t.server_hello {
        let v = TlsVersion(sh.selected_version);
        let direct = t.negotiation == Some(super::Negotiation::Direct);
        return j(Verdict::Encrypted, negotiated(v, direct, sh.cipher));
    }

    if t.negotiation == Some(super::Negotiation::Midstream) {
        return j(
            Verdict::Encrypted,
            "session first seen mid-stream; it carries only TLS records",
        );
    }

    // No ServerHello.
    let server_closed = closes.server() || closes.reset_by() == Some(Direction::ToClient);
    if let Some((dir, what, _)) = t.malformed {
        if dir == Direction::ToClient && t.client_hello.is_some() {
            return j(
                Verdict::TlsFailed,
                reason!("server answered the ClientHello with {what}"),
            );
        }
    }
    if server_closed && t.client_hello.is_some() {
        if below_12 {
            return j(
                Verdict::RejectedTlsVersion,
                reason!("server closed without a ServerHello: {offered}"),
            );
        }
        if direct {
            return j(
                Verdict::TlsFailed,
                "server closed without a ServerHello: direct TLS (no SSLRequest) to a server that does not support it",
            );
        }
        return j(
            Verdict::TlsFailed,
            reason!("server closed without a ServerHello ({offered})"),
        );
    }
    if t.client_hello.is_some() {
        if below_12 && closes.client() {
            return j(
                Verdict::Incomplete,
                reason!("client closed before any ServerHello was captured; {offered}"),
            );
        }
        return j(
            Verdict::Incomplete,
            "ClientHello sent; no ServerHello was captured",
        );
    }
    if closes.server() || closes.client() {
        return j(
            Verdict::TlsFailed,
            "server accepted SSLRequest (S) but the connection closed before a ClientHello",
        );
    }
    j(
        Verdict::Incomplete,
        "server accepted SSLRequest (S); no ClientHello was captured",
    )
}

fn judge_plain(s: &Session, c: &Conversation, closes: &Closes<'_>) -> Judgement {
    let p = &c.pg;
    let after_n = c
        .answers
        .iter()
        .any(|(r, a, _)| *r == Request::Ssl && *a == b'N');
    let tls_note = if after_n {
        " after the server refused SSL (N)"
    } else if c.ssl_request_frame.is_none() && !s.midstream() {
        " (no SSLRequest)"
    } else {
        ""
    };
    if p.startup_frame == 0 {
        // Mid-stream session recognised by its typed messages.
        return j(
            Verdict::Plaintext,
            "session first seen mid-stream; PostgreSQL messages cross in clear",
        );
    }
    match p.first_server_message {
        Some((b'E', _)) => {
            let e = p.error.as_ref();
            let code = e.and_then(|e| e.code.as_deref()).unwrap_or("?");
            let message = e.and_then(|e| e.message.as_deref()).unwrap_or("");
            let reason = [
                "server refused the plaintext StartupMessage",
                tls_note,
                ": ",
                code,
                " ",
                message,
            ];
            j(Verdict::RejectedPlaintext, reason.concat())
        }
        Some((b'R', _)) | Some((b'S', _)) | Some((b'Z', _)) | Some((b'K', _)) | Some((b'v', _))
        | Some((b'N', _)) => {
            let auth = p
                .auth_codes
                .iter()
                .find(|a| a.0 != 0)
                .or(p.auth_codes.first())
                .and_then(|a| a.name())
                .map_or(["", ""], |n| [", authentication ", n]);
            let outcome = if p.ready_frame.is_some() {
                ", session ready for queries"
            } else if p.error.is_some() {
                ", then refused"
            } else {
                ""
            };
            let reason = [
                "server accepted a plaintext StartupMessage",
                tls_note,
                auth[0],
                auth[1],
                outcome,
            ];
            j(Verdict::Plaintext, reason.concat())
        }
        Some((tag, _)) => j(
            Verdict::Plaintext,
            reason!(
                "server answered the plaintext StartupMessage with message '{}'",
                tag as char
            ),
        ),
        None if c.server_malformed().is_some() => {
            let (tag, len) = c.server_malformed().unwrap_or_default();
            j(
                Verdict::NotPostgresql,
                reason!(
                    "the server's answer to the StartupMessage is not a PostgreSQL message (type 0x{tag:02x}, length {len})"
                ),
            )
        }
        None => j(
            Verdict::Incomplete,
            reason!(
                "StartupMessage sent in clear{tls_note}; no answer was captured{}",
                if closes.server() {
                    " before the server closed"
                } else {
                    ""
                }
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kept reason reads as the one made for the session: known and
    /// unknown versions and suites, both ways TLS begins, asked twice.
    #[test]
    fn kept_reasons_read_as_made_ones() {
        for version in [0x0301, 0x0303, 0x0304, 0x7f1c, 0x0305] {
            for cipher in [0x1302, 0xc030, 0x0000, 0xfefe] {
                for direct in [false, true] {
                    let v = TlsVersion(version);
                    let how = if direct {
                        "direct TLS"
                    } else {
                        "after SSLRequest"
                    };
                    let want = format!(
                        "{} negotiated {how} ({})",
                        v.name(),
                        crate::report::cipher_name(cipher)
                    );
                    for _ in 0..2 {
                        assert_eq!(negotiated(v, direct, cipher), want);
                    }
                }
            }
        }
    }

    /// A known reason is made once for the process: another thread is
    /// given the same text, not a copy of its own.
    #[test]
    fn threads_share_kept_reasons() {
        let ask = || negotiated(TlsVersion(0x0304), false, 0x1301);
        let here = ask();
        let there = std::thread::spawn(move || match ask() {
            Cow::Borrowed(r) => r.as_ptr() as usize,
            Cow::Owned(_) => 0,
        })
        .join()
        .unwrap();
        assert!(matches!(here, Cow::Borrowed(_)));
        assert_eq!(here.as_ptr() as usize, there);
    }
}
