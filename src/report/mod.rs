//! Reports: one record per session, and the outputs built from them (table,
//! JSON document, JSON Lines).

pub mod json;
mod record;
mod table;
pub mod time;

pub use record::write_session;
pub use table::{
    escape_json_for_terminal, plain_header, plain_row, render_summary, render_table, sanitize,
    session_cells, table_cells, terminal_width, Cells, TABLE_MAX_ROWS,
};

use crate::cli::Format;
use crate::flow::Direction;
use crate::pg::AuthCode;
use crate::session::{AlertSeen, Conversation, Judgement, PgError, PgFacts, Session, Verdict};
use crate::tls::cert::{check_name, CertInfo};
use crate::tls::fingerprint;
use crate::tls::{
    alert_name, group_label, ClientHelloInfo, ServerHelloInfo, SessionId, TlsVersion,
};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Everything pgtls says about one session. Field names are stable.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    pub file: String,
    #[serde(skip)]
    pub index: u64,
    /// Frame at which the session left the flow table (`u64::MAX`: still
    /// open at the end of its input): the order of output.
    #[serde(skip)]
    pub retired_at: u64,
    pub verdict: Verdict,
    pub reason: Cow<'static, str>,
    pub client: String,
    pub server: String,
    pub start: String,
    pub end: String,
    #[serde(skip)]
    pub start_ns: i64,
    pub first_frame: u64,
    pub last_frame: u64,
    pub packets: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    pub midstream: bool,
    pub ssl_request: bool,
    pub gss_request: bool,
    /// The server's answers to SSLRequest/GSSENCRequest in order, e.g. "N", "S".
    pub ssl_response: Option<String>,
    pub negotiation: Option<&'static str>,
    pub tls: TlsReport,
    pub pg: PgReport,
    pub evidence: Vec<EvidenceReport>,
    pub anomalies: Vec<EvidenceReport>,
    pub gaps: GapReport,
    /// What `pgtls audit` reads beyond the fields above; never serialized,
    /// so `read`'s output does not change.
    #[serde(skip)]
    pub audit: AuditFacts,
}

/// Facts of one session for `pgtls audit`, kept in memory only. Password
/// contents are never among them; query texts only when the audit asked.
#[derive(Debug, Clone, Default)]
pub struct AuditFacts {
    /// Time of the session's last packet (nanoseconds since the epoch).
    pub end_ns: i64,
    /// The highest version the ClientHello offered.
    pub client_max_version: Option<TlsVersion>,
    /// The version the ServerHello (not a HelloRetryRequest) selected, and its frame.
    pub server_version: Option<TlsVersion>,
    pub server_hello_frame: Option<u64>,
    pub cipher: Option<u16>,
    /// The server's answers to SSLRequest (`S`, `N`, `E`) with their frames;
    /// answers to GSSENCRequest are left out.
    pub ssl_answers: Vec<(u8, u64)>,
    /// Frame of the StartupMessage when it crossed in clear.
    pub startup_frame: Option<u64>,
    /// The server's first message after a StartupMessage in clear: type and frame.
    pub first_server_message: Option<(u8, u64)>,
    /// Authentication requests in clear, with their frames.
    pub auth_requests: Vec<(AuthCode, u64)>,
    /// Password messages in clear: the request each answered, and its frame.
    pub password_answers: Vec<(Option<AuthCode>, u64)>,
    /// The SASL mechanism the client chose in clear.
    pub sasl_mechanism: Option<String>,
    pub first_query_frame: Option<u64>,
    /// First query texts (frame, text cut short, password literals masked).
    pub query_texts: Vec<(u64, String)>,
    pub cancel_frame: Option<u64>,
    /// Bytes out of turn in the startup phase.
    pub injections: Vec<InjectionFact>,
}

/// Bytes sent out of turn around SSLRequest/GSSENCRequest and the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectionFact {
    /// `client` or `server`.
    pub from: &'static str,
    /// `SSLRequest`, `GSSENCRequest`, `'S'` or `'G'`.
    pub after: &'static str,
    pub bytes: usize,
    pub frame: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct TlsReport {
    pub client_versions: Vec<Cow<'static, str>>,
    pub client_max_version: Option<Cow<'static, str>>,
    pub server_version: Option<Cow<'static, str>>,
    pub cipher: Option<Cow<'static, str>>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub alpn_selected: Option<String>,
    pub hello_retry_request: bool,
    pub sslv2_hello: bool,
    pub alert: Option<AlertReport>,
    pub encrypted_alerts: u32,
    /// JA3 of the (first) ClientHello: MD5 hex.
    pub ja3: Option<String>,
    /// JA4 of the (first) ClientHello.
    pub ja4: Option<String>,
    /// Why a ClientHello has no JA3/JA4 (an SSLv2-format hello).
    pub fingerprint_note: Option<String>,
    /// JA3S of the ServerHello: MD5 hex.
    pub ja3s: Option<String>,
    /// Groups of the client's key shares (TLS 1.3), in order, GREASE left out.
    pub client_key_shares: Vec<String>,
    /// The key exchange the server chose: a group (`x25519`,
    /// `X25519MLKEM768`, `secp256r1`…), `DHE <bits>-bit`, or RSA key transport.
    pub key_exchange: Option<String>,
    /// Ways the client offered to resume: `psk`, `ticket`, `session_id`.
    pub resumption_offered: Vec<&'static str>,
    /// How the server resumed, when it did: `psk`, `ticket`, `session_id`.
    pub resumed: Option<&'static str>,
    pub certificates: Option<CertificatesReport>,
}

/// The server's certificate chain as seen in clear, or why it is not visible.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CertificatesReport {
    /// Set when there is nothing to show: "TLS 1.3 encrypts the certificate", …
    pub hidden: Option<String>,
    pub frame: Option<u64>,
    /// Certificates in the message (the chain below holds at most 10).
    pub count: Option<usize>,
    /// In the order sent: leaf first.
    pub chain: Vec<CertReport>,
    /// What could not be decoded.
    pub error: Option<String>,
    /// The name a `verify-full` client checks: the SNI, or without one the
    /// server's address (what libpq checks when `host` is an address).
    pub name_checked: Option<String>,
    /// `sni` or `server address`.
    pub name_source: Option<&'static str>,
    /// Does the leaf carry that name (subjectAltName, RFC 6125 wildcards)?
    pub name_matches: Option<bool>,
    pub matched_by: Option<String>,
    /// Any certificate of the chain expired / not yet valid / expiring within
    /// 30 days, at the session's capture time.
    pub expired: Option<bool>,
    pub not_yet_valid: Option<bool>,
    pub expires_within_30_days: Option<bool>,
    /// Every certificate is issued by the next one.
    pub chain_in_order: Option<bool>,
    /// The CA a client needs in `sslrootcert` for `verify-ca`/`verify-full`.
    pub root_needed: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertReport {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// `valid`, `expires-soon`, `expired`, `not-yet-valid` at capture time.
    pub validity: &'static str,
    /// Whole days from the capture to `not_after` (negative once expired).
    pub days_left: i64,
    pub key_type: String,
    pub key_bits: Option<u32>,
    pub signature_algorithm: String,
    pub ca: bool,
    pub self_signed: bool,
    pub serial: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertReport {
    pub from: &'static str,
    pub level: &'static str,
    pub description: String,
    pub code: u8,
    pub frame: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct PgReport {
    pub protocol: Option<String>,
    pub user: Option<String>,
    pub database: Option<String>,
    pub application_name: Option<String>,
    pub auth: Vec<String>,
    pub server_version: Option<String>,
    pub error: Option<ErrorReport>,
    pub password_messages: u32,
    pub queries: u32,
    pub cancel_pid: Option<u32>,
    /// The server's NegotiateProtocolVersion: the newest protocol it speaks
    /// (a 3.2 client talking to an older server is answered with 3.0).
    pub negotiated_protocol: Option<String>,
    /// Startup options (`_pq_.*`) the server did not recognise.
    pub unrecognized_options: Option<u32>,
    /// Length of the BackendKeyData secret: 4 bytes in protocol 3.0, up to 256 in 3.2.
    pub backend_key_bytes: Option<usize>,
    /// Length of the secret key a CancelRequest carried in clear.
    pub cancel_key_bytes: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    pub severity: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub frame: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvidenceReport {
    pub frame: u64,
    pub what: Cow<'static, str>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct GapReport {
    pub count: u32,
    pub bytes: u64,
}

impl SessionReport {
    pub fn from_session(s: &Session, file: &str) -> Self {
        SessionReport::from_judged(s, s.judge(), file)
    }

    /// [`SessionReport::from_session`] with the session's judgement made already.
    pub fn from_judged(s: &Session, judgement: Judgement, file: &str) -> Self {
        let c = s.conv();
        let t = &c.tls;
        let ch = t.client_hello.as_deref();
        let sh = t.server_hello.as_deref();
        let (ja3, ja4, fingerprint_note) = client_fingerprints(ch);
        let tls = TlsReport {
            client_versions: ch
                .map(|h| h.offered_versions().iter().map(|v| v.name()).collect())
                .unwrap_or_default(),
            client_max_version: ch.map(|h| h.max_version().name()),
            server_version: sh.map(|h| TlsVersion(h.selected_version).name()),
            cipher: sh.map(|h| cipher_name(h.cipher)),
            sni: ch.and_then(|h| h.sni.clone()),
            alpn: ch.map(|h| h.alpn.clone()).unwrap_or_default(),
            alpn_selected: sh.and_then(|h| h.alpn.clone()),
            hello_retry_request: t.hello_retry,
            sslv2_hello: ch.is_some_and(|h| h.sslv2_format),
            alert: t.alert.as_ref().map(alert_report),
            encrypted_alerts: t.encrypted_alerts,
            ja3: ja3.map(str::to_string),
            ja4: ja4.map(str::to_string),
            fingerprint_note: fingerprint_note.map(str::to_string),
            ja3s: sh.map(|h| fingerprint::ja3s(h).to_string()),
            client_key_shares: ch
                .map(|h| {
                    client_key_share_groups(h)
                        .map(|g| group_label(g).into_owned())
                        .collect()
                })
                .unwrap_or_default(),
            key_exchange: sh
                .and_then(|h| key_exchange(h, t.server_key_exchange.as_deref()))
                .map(Cow::into_owned),
            resumption_offered: ch
                .map(|h| resumption_offered(h, &t.client_session_id))
                .unwrap_or_default(),
            resumed: sh.and_then(|h| resumed(ch, h, &c)),
            certificates: sh.and_then(|h| certificates(s, &c, ch, h)),
        };
        let p = &c.pg;
        let pg = pg_report(p);
        let (gaps, gap_bytes) = s.gaps();
        let audit = AuditFacts {
            end_ns: s.end_ns,
            client_max_version: ch.map(|h| h.max_version()),
            server_version: sh.map(|h| TlsVersion(h.selected_version)),
            server_hello_frame: sh.map(|_| t.server_hello_frame),
            cipher: sh.map(|h| h.cipher),
            ssl_answers: c.ssl_answers().collect(),
            startup_frame: (p.startup_frame > 0).then_some(p.startup_frame),
            first_server_message: p.first_server_message,
            auth_requests: p
                .auth_codes
                .iter()
                .copied()
                .zip(p.auth_frames.iter().copied())
                .collect(),
            password_answers: p
                .password_answers
                .iter()
                .map(|a| (a.answered, a.frame))
                .collect(),
            sasl_mechanism: p.sasl_mechanism.clone(),
            first_query_frame: p.first_query_frame,
            query_texts: p
                .query_texts
                .iter()
                .map(|q| (q.frame, q.text.clone()))
                .collect(),
            cancel_frame: p.cancel_pid.map(|_| p.cancel_frame),
            injections: c
                .injections
                .iter()
                .map(|i| InjectionFact {
                    from: side_label(i.from),
                    after: i.after,
                    bytes: i.bytes,
                    frame: i.frame,
                })
                .collect(),
        };
        SessionReport {
            file: file.to_string(),
            index: s.index,
            retired_at: 0,
            verdict: judgement.verdict,
            reason: judgement.reason,
            client: s.key.client.to_string(),
            server: s.key.server.to_string(),
            start: time::rfc3339(s.start_ns),
            end: time::rfc3339(s.end_ns),
            start_ns: s.start_ns,
            first_frame: s.first_frame,
            last_frame: s.last_frame,
            packets: s.packets,
            bytes_to_server: s.bytes_to_server,
            bytes_to_client: s.bytes_to_client,
            midstream: s.midstream(),
            ssl_request: c.ssl_request_frame.is_some(),
            gss_request: c.gss_request_frame.is_some(),
            ssl_response: if c.answers.is_empty() {
                None
            } else {
                Some(c.answers.iter().map(|(_, a, _)| *a as char).collect())
            },
            negotiation: t.negotiation.map(|n| n.as_str()),
            tls,
            pg,
            evidence: c
                .evidence
                .iter()
                .map(|e| EvidenceReport {
                    frame: e.frame,
                    what: e.what.clone(),
                })
                .collect(),
            anomalies: c
                .anomalies
                .iter()
                .map(|a| EvidenceReport {
                    frame: a.frame,
                    what: a.what.clone().into(),
                })
                .collect(),
            gaps: GapReport {
                count: gaps,
                bytes: gap_bytes,
            },
            audit,
        }
    }
}

/// A session's output rendered where it was judged, so that the workers of
/// a sharded run serialize in parallel and the writer only copies bytes.
pub struct Rendered {
    /// Order within its file: the frame at which the session left the flow
    /// table, then its first frame.
    pub order: (u64, u64),
    pub verdict: Verdict,
    pub output: Output,
}

/// What `read` writes of one session.
#[derive(Debug)]
pub enum Output {
    /// One JSON object (JSON Lines: with its newline).
    Json(Vec<u8>),
    /// The table's cells.
    Row(Cells),
}

/// A session's record for `format` (JSON Lines or the JSON document), in
/// `buf`'s storage: its compact JSON ([`write_session`]), and for JSON Lines
/// the newline that ends it; and where its counters lie.
pub fn session_json(
    s: &Session,
    judgement: &Judgement,
    file: &str,
    format: Format,
    mut buf: Vec<u8>,
) -> Result<(Vec<u8>, std::ops::Range<usize>), json::Error> {
    buf.clear();
    let counters = write_session(&mut buf, s, judgement, file)?;
    if format == Format::Jsonl {
        buf.push(b'\n');
    }
    Ok((buf, counters))
}

/// A reset session's output, made when it reset rather than when it leaves
/// the flow table [`RESET_LINGER_NS`] later: its memory is in cache now,
/// and what it holds is freed now. Only the counters a late segment moves
/// (`end`, `last_frame`, `packets`, `bytes_to_*`) can still change, and only
/// the JSON record shows them: they are written again if one came
/// ([`Prerendered::output`]). [`Session::final_judgement`] says which
/// sessions can be rendered early.
///
/// [`RESET_LINGER_NS`]: crate::analyze::RESET_LINGER_NS
#[derive(Debug)]
pub struct Prerendered {
    pub verdict: Verdict,
    output: Output,
    /// The session's packet count when it was rendered.
    packets: u64,
    /// JSON: where the counters lie in the record, from the `end` key to
    /// the value of `bytes_to_client`.
    counters: std::ops::Range<usize>,
}

impl Prerendered {
    /// Renders `s`, judged `judgement`, for `format`, as
    /// `read::Rendered::of_retired` would when it leaves the table, in
    /// `buf`'s storage.
    pub fn render(
        s: &Session,
        judgement: Judgement,
        file: &str,
        format: Format,
        buf: Vec<u8>,
    ) -> Result<Prerendered, json::Error> {
        let verdict = judgement.verdict;
        let (output, counters) = match format {
            Format::Table => (Output::Row(session_cells(s, &judgement, buf)), 0..0),
            Format::Json | Format::Jsonl => {
                let (body, counters) = session_json(s, &judgement, file, format, buf)?;
                (Output::Json(body), counters)
            }
        };
        Ok(Prerendered {
            verdict,
            output,
            packets: s.packets,
            counters,
        })
    }

    /// The output of `s`, the session this was rendered from, as it is now.
    pub fn output(self, s: &Session) -> Output {
        match self.output {
            Output::Json(mut body) if s.packets != self.packets => {
                let mut counters = Vec::with_capacity(160);
                record::write_counters(&mut counters, s);
                body.splice(self.counters, counters);
                Output::Json(body)
            }
            output => output,
        }
    }
}

/// A TLS alert seen in clear, as reported.
fn alert_report(a: &AlertSeen) -> AlertReport {
    AlertReport {
        from: side_label(a.from),
        level: match a.alert.level {
            1 => "warning",
            2 => "fatal",
            _ => "unknown",
        },
        description: alert_name(a.alert.description)
            .map(str::to_string)
            .unwrap_or_else(|| format!("unknown_{}", a.alert.description)),
        code: a.alert.description,
        frame: a.frame,
    }
}

/// What the PostgreSQL protocol showed in clear, as reported.
fn pg_report(p: &PgFacts) -> PgReport {
    PgReport {
        protocol: p.protocol.map(|v| v.to_string()),
        user: p.user.clone(),
        database: p.database.clone(),
        application_name: p.application_name.clone(),
        auth: p
            .auth_codes
            .iter()
            .map(|a| auth_name(*a).into_owned())
            .collect(),
        server_version: p.server_version.clone(),
        error: p.error.as_ref().map(error_report),
        password_messages: p.password_messages,
        queries: p.queries,
        cancel_pid: p.cancel_pid,
        negotiated_protocol: p
            .negotiate_protocol
            .map(|(v, _)| crate::session::negotiated_version(v).to_string()),
        unrecognized_options: p.negotiate_protocol.map(|(_, n)| n),
        backend_key_bytes: p.backend_pid.map(|_| p.backend_key_len),
        cancel_key_bytes: p.cancel_pid.map(|_| p.cancel_key_len),
    }
}

/// An authentication request's name, or its code.
fn auth_name(a: AuthCode) -> Cow<'static, str> {
    match a.name() {
        Some(n) => n.into(),
        None => format!("code_{}", a.0).into(),
    }
}

/// An ErrorResponse seen in clear, as reported.
fn error_report(e: &PgError) -> ErrorReport {
    ErrorReport {
        severity: e.severity.clone(),
        code: e.code.clone(),
        message: e.message.clone(),
        frame: e.frame,
    }
}

/// A ClientHello's JA3 and JA4, or why it has none (an SSLv2-format
/// hello), borrowed from the hello ([`fingerprint::client_fingerprints`]).
fn client_fingerprints(
    ch: Option<&ClientHelloInfo>,
) -> (Option<&str>, Option<&str>, Option<&'static str>) {
    match ch.map(fingerprint::client_fingerprints) {
        Some((ja3, Ok(ja4))) => (ja3.as_deref().ok(), Some(ja4), None),
        Some((ja3, Err(note))) => (ja3.as_deref().ok(), None, Some(*note)),
        None => (None, None, None),
    }
}

/// The groups of a ClientHello's key shares, in order, GREASE left out.
fn client_key_share_groups(h: &ClientHelloInfo) -> impl Iterator<Item = u16> + '_ {
    h.key_share_groups
        .iter()
        .copied()
        .filter(|g| !crate::tls::is_grease(*g))
}

fn side_label(d: Direction) -> &'static str {
    match d {
        Direction::ToServer => "client",
        Direction::ToClient => "server",
    }
}

/// The key exchange of the negotiated handshake.
fn key_exchange(sh: &ServerHelloInfo, ske: Option<&[u8]>) -> Option<Cow<'static, str>> {
    use tls_parser::TlsCipherKx as Kx;
    if sh.selected_version == TlsVersion::TLS_1_3.0 {
        return Some(match sh.key_share_group {
            Some(g) => group_label(g),
            None if sh.psk_accepted() => "psk_ke (no key share)".into(),
            None => return None,
        });
    }
    let kx = crate::tls::cipher_suite(sh.cipher)?.kx;
    match kx {
        Kx::Ecdhe | Kx::Aecdh => match ske? {
            // ECParameters: curve_type 3 (named_curve), then the group.
            [3, hi, lo, ..] => Some(group_label(u16::from_be_bytes([*hi, *lo]))),
            _ => Some("ECDHE (explicit curve)".into()),
        },
        Kx::Dhe => match ske? {
            [hi, lo, ..] => Some(
                format!(
                    "DHE {}-bit",
                    usize::from(u16::from_be_bytes([*hi, *lo])) * 8
                )
                .into(),
            ),
            _ => None,
        },
        Kx::Rsa => Some("RSA key transport (no forward secrecy)".into()),
        Kx::Dh | Kx::Ecdh => Some("static (EC)DH (no forward secrecy)".into()),
        Kx::Psk => Some("PSK".into()),
        _ => None,
    }
}

fn resumption_offered(ch: &ClientHelloInfo, session_id: &SessionId) -> Vec<&'static str> {
    let mut v = Vec::new();
    if ch.extensions.contains(&crate::tls::EXT_PRE_SHARED_KEY) {
        v.push("psk");
    }
    if ch.session_ticket_len.is_some_and(|n| n > 0) {
        v.push("ticket");
    }
    // A client that offers TLS 1.3 sends a random legacy_session_id for
    // middlebox compatibility: it says nothing about resumption.
    if !session_id.is_empty() && ch.max_version().rank() < TlsVersion::TLS_1_3.rank() {
        v.push("session_id");
    }
    v
}

/// TLS 1.3: the server accepted a PSK. TLS 1.2 and older: the server echoed
/// the client's session id (with a ticket offered: RFC 5077 §3.4), or went
/// to ChangeCipherSpec without a Certificate after a ticket.
fn resumed(
    ch: Option<&ClientHelloInfo>,
    sh: &ServerHelloInfo,
    c: &Conversation,
) -> Option<&'static str> {
    let t = &c.tls;
    if sh.selected_version == TlsVersion::TLS_1_3.0 {
        return sh.psk_accepted().then_some("psk");
    }
    let ch = ch?;
    let ticket = ch.session_ticket_len.is_some_and(|n| n > 0);
    if !t.client_session_id.is_empty() && t.client_session_id == t.server_session_id {
        return Some(if ticket { "ticket" } else { "session_id" });
    }
    if ticket && t.server_ccs_frame.is_some() && t.certificates.is_none() {
        return Some("ticket");
    }
    None
}

/// The `certificates` object of session `s`, whose conversation is `c`
/// (taken once by the caller: a frozen session's is thawed to be read).
fn certificates(
    s: &Session,
    c: &Conversation,
    ch: Option<&ClientHelloInfo>,
    sh: &ServerHelloInfo,
) -> Option<CertificatesReport> {
    let t = &c.tls;
    let hidden = |why: &str| {
        Some(CertificatesReport {
            hidden: Some(why.to_string()),
            ..Default::default()
        })
    };
    let Some(chain) = &t.certificates else {
        if sh.selected_version == TlsVersion::TLS_1_3.0 {
            return hidden("TLS 1.3 encrypts the certificate");
        }
        if resumed(ch, sh, c).is_some() {
            return hidden("session resumed: the server sends no certificate");
        }
        let au = crate::tls::cipher_suite(sh.cipher).map(|c| c.au);
        if matches!(
            au,
            Some(tls_parser::TlsCipherAu::Null) | Some(tls_parser::TlsCipherAu::Psk)
        ) {
            return hidden("the cipher suite uses no certificate");
        }
        return hidden("no Certificate message was captured");
    };
    // The capture's time, in whole seconds.
    let now = s.start_ns.div_euclid(1_000_000_000);
    let (name, source) = match ch.and_then(|h| h.sni.clone()) {
        Some(sni) => (sni, "sni"),
        None => (s.key.server.ip().to_string(), "server address"),
    };
    let check = chain.certs.first().map(|leaf| check_name(leaf, &name));
    let validity: Vec<_> = chain.certs.iter().map(|c| c.validity_at(now)).collect();
    use crate::tls::cert::Validity;
    Some(CertificatesReport {
        hidden: None,
        frame: Some(t.certificate_frame),
        count: Some(chain.count),
        chain: chain.certs.iter().map(|c| cert_report(c, now)).collect(),
        error: chain.error.clone(),
        name_checked: check.as_ref().map(|_| name.clone()),
        name_source: check.as_ref().map(|_| source),
        name_matches: check.as_ref().map(|c| c.matches),
        matched_by: check.and_then(|c| c.matched_by),
        expired: Some(validity.contains(&Validity::Expired)),
        not_yet_valid: Some(validity.contains(&Validity::NotYetValid)),
        expires_within_30_days: Some(validity.contains(&Validity::ExpiresSoon)),
        chain_in_order: (!chain.certs.is_empty()).then(|| chain.in_order()),
        root_needed: chain.root_needed().map(str::to_string),
    })
}

fn cert_report(c: &CertInfo, now: i64) -> CertReport {
    CertReport {
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        sans: c.sans(),
        not_before: rfc3339_secs(c.not_before),
        not_after: rfc3339_secs(c.not_after),
        validity: c.validity_at(now).as_str(),
        days_left: (c.not_after - now).div_euclid(86_400),
        key_type: c.key_type.clone(),
        key_bits: c.key_bits,
        signature_algorithm: c.signature_algorithm.clone(),
        ca: c.is_ca,
        self_signed: c.self_issued(),
        serial: c.serial.clone(),
        sha256: c.sha256.clone(),
    }
}

pub use time::rfc3339_secs;

/// IANA name of a cipher suite, or its hex code.
pub fn cipher_name(id: u16) -> Cow<'static, str> {
    match crate::tls::cipher_suite(id) {
        Some(c) => c.name.into(),
        None => format!("0x{id:04x}").into(),
    }
}

/// Counts per verdict, every verdict listed.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub sessions: u64,
    pub verdicts: BTreeMap<&'static str, u64>,
}

impl Summary {
    /// No session yet: every verdict at zero.
    pub fn new() -> Self {
        Summary {
            sessions: 0,
            verdicts: Verdict::ALL.iter().map(|v| (v.as_str(), 0)).collect(),
        }
    }
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new()
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339_secs;

    /// Certificate times in every range a certificate can name: before
    /// 1970, past the years nanoseconds reach (2262), up to 9999 and past
    /// four digits.
    #[test]
    fn certificate_times_print_in_any_year() {
        const CYCLE: i64 = 146_097 * 86_400;
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (CYCLE - 1, "2369-12-31T23:59:59Z"),
            (CYCLE, "2370-01-01T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            (-2_208_988_800, "1900-01-01T00:00:00Z"),
            (-631_152_000, "1950-01-01T00:00:00Z"),
            (10_413_792_000, "2300-01-01T00:00:00Z"),
            (-62_167_219_200, "0000-01-01T00:00:00Z"),
            (253_402_300_800, "10000-01-01T00:00:00Z"),
        ] {
            assert_eq!(rfc3339_secs(secs), text, "{secs}");
        }
    }
}
