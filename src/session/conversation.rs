//! The conversation of one session: both byte streams, in the order the
//! capture delivered them, through the startup phase and into TLS, GSSAPI or
//! plaintext messages.

use super::messages::{message_at, Message, MessageStream};
use super::Evidence;
use crate::flow::reassembly::Chunk;
use crate::flow::Direction;
use crate::pg::{self, StartupFraming, StartupPacket};
use crate::tls::{self, Alert, ClientHelloInfo, ServerHelloInfo, SessionId, TlsEvent, TlsStream};
use std::borrow::Cow;
use std::sync::Arc;

/// `$prefix` followed by the name of TLS version `$v`
/// ([`tls::TlsVersion::name`]), written out only for a version no
/// handshake in use sends: two pieces of evidence of every TLS session.
macro_rules! with_version {
    ($prefix:literal, $v:expr) => {{
        let v: tls::TlsVersion = $v;
        match v.0 {
            0x0304 => Cow::Borrowed(concat!($prefix, "TLSv1.3")),
            0x0303 => Cow::Borrowed(concat!($prefix, "TLSv1.2")),
            0x0302 => Cow::Borrowed(concat!($prefix, "TLSv1.1")),
            0x0301 => Cow::Borrowed(concat!($prefix, "TLSv1.0")),
            _ => Cow::Owned(format!(concat!($prefix, "{}"), v.name())),
        }
    }};
}

/// Bytes of the startup phase kept per direction while waiting for the other
/// side: a StartupMessage is at most 10000 bytes, a server answer is short.
pub const MAX_STARTUP_BYTES: usize = 16 * 1024;
/// Segments pgtls examines in a session first seen mid-stream before it
/// gives up looking for a message boundary.
pub const MAX_RESYNC_SEGMENTS: u32 = 16;

/// How TLS was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Negotiation {
    /// SSLRequest, then `S`.
    SslRequest,
    /// A ClientHello with no SSLRequest (PostgreSQL 17 `sslnegotiation=direct`).
    Direct,
    /// The capture began after the handshake.
    Midstream,
}

impl Negotiation {
    pub fn as_str(self) -> &'static str {
        match self {
            Negotiation::SslRequest => "sslrequest",
            Negotiation::Direct => "direct",
            Negotiation::Midstream => "midstream",
        }
    }
}

/// Which request is waiting for its one-byte answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    Ssl,
    Gss,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Waiting for the client's next startup-phase packet.
    Startup,
    /// SSLRequest or GSSENCRequest sent, answer not yet seen.
    AwaitAnswer(Request),
    /// The server answered a request with an ErrorResponse (very old servers).
    AnswerError(Request),
    Tls,
    Gss,
    /// StartupMessage sent in clear; typed messages follow.
    Plain,
    Cancel,
    NotPostgres(String),
    /// Mid-stream session whose first bytes were not yet recognised.
    Unsynced,
}

/// An alert and who sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlertSeen {
    pub alert: Alert,
    pub from: Direction,
    pub frame: u64,
}

/// What TLS showed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct TlsFacts {
    pub negotiation: Option<Negotiation>,
    /// Shared with the sessions whose hellos have its shape.
    pub client_hello: Option<Arc<ClientHelloInfo>>,
    /// The client hello's legacy_session_id.
    pub client_session_id: SessionId,
    pub client_hello_frame: u64,
    /// Shared as the client hello is.
    pub server_hello: Option<Arc<ServerHelloInfo>>,
    /// The server hello's session id.
    pub server_session_id: SessionId,
    pub server_hello_frame: u64,
    pub hello_retry: bool,
    /// First fatal readable alert, else the first readable alert.
    pub alert: Option<AlertSeen>,
    pub encrypted_alerts: u32,
    /// Records after the ServerHello that are encrypted, per side.
    pub client_encrypted: bool,
    pub server_encrypted: bool,
    /// Application-data records seen per side at any point.
    pub client_app_records: u32,
    pub server_app_records: u32,
    pub certificate_bytes: usize,
    /// The first Certificate message the server sent in clear, decoded.
    pub certificates: Option<std::sync::Arc<tls::cert::CertChain>>,
    pub certificate_frame: u64,
    /// First bytes of the server's ServerKeyExchange (TLS 1.2 and older).
    pub server_key_exchange: Option<tls::KeyExchangeStart>,
    /// The server's ChangeCipherSpec after the ServerHello.
    pub server_ccs_frame: Option<u64>,
    pub malformed: Option<(Direction, &'static str, u64)>,
}

/// An ErrorResponse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PgError {
    pub severity: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub frame: u64,
}

/// What the PostgreSQL messages showed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct PgFacts {
    pub protocol: Option<pg::ProtocolVersion>,
    pub startup_frame: u64,
    pub user: Option<String>,
    pub database: Option<String>,
    pub application_name: Option<String>,
    pub replication: Option<String>,
    /// First message the server sent after the StartupMessage.
    pub first_server_message: Option<(u8, u64)>,
    pub auth_codes: Vec<pg::AuthCode>,
    pub auth_frame: u64,
    pub error: Option<PgError>,
    pub server_version: Option<String>,
    pub backend_pid: Option<u32>,
    /// Length of the BackendKeyData secret (4 in protocol 3.0, up to 256 in 3.2).
    pub backend_key_len: usize,
    pub ready_frame: Option<u64>,
    pub negotiate_protocol: Option<(u32, u32)>,
    pub password_messages: u32,
    pub queries: u32,
    pub cancel_pid: Option<u32>,
    pub cancel_key_len: usize,
    /// Frame of the CancelRequest.
    pub cancel_frame: u64,
    /// Frames of the authentication requests in `auth_codes`, in order.
    pub auth_frames: Vec<u64>,
    /// The last authentication request the server sent, which a password
    /// message answers.
    pub pending_auth: Option<pg::AuthCode>,
    /// Every password message ('p') in clear, at most [`MAX_PASSWORD_ANSWERS`]:
    /// the request it answered and its frame. Its contents are never kept.
    pub password_answers: Vec<PasswordAnswer>,
    /// The mechanism a SASLInitialResponse named (e.g. `SCRAM-SHA-256`).
    pub sasl_mechanism: Option<String>,
    /// Frame of the first query ('Q' or 'P') in clear.
    pub first_query_frame: Option<u64>,
    /// The first query texts in clear, cut to [`QUERY_TEXT_CHARS`] characters
    /// with password literals masked: kept only when asked for
    /// ([`Conversation::with_query_texts`]), never printed by `read`.
    pub query_texts: Vec<QueryText>,
}

/// A password message ('p') seen in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PasswordAnswer {
    /// The authentication request it answered, when that was captured.
    pub answered: Option<pg::AuthCode>,
    pub frame: u64,
}

/// The text of a query seen in clear.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueryText {
    pub frame: u64,
    pub text: String,
}

/// Password messages recorded per session.
pub const MAX_PASSWORD_ANSWERS: usize = 8;
/// Query texts a session keeps at most, when asked to.
pub const MAX_QUERY_TEXTS: usize = 8;
/// Characters kept of a query text.
pub const QUERY_TEXT_CHARS: usize = 200;

thread_local! {
    /// Query texts kept per session created on this thread (0: none).
    static QUERY_TEXTS_WANTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Bytes sent out of turn during the startup phase: after SSLRequest or
/// GSSENCRequest before the answer, or after `S`/`G` in the same segment
/// (CVE-2021-23214 / CVE-2021-23222 style injection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Injection {
    pub from: Direction,
    /// `SSLRequest`, `GSSENCRequest`, `'S'` or `'G'`.
    pub after: &'static str,
    pub bytes: usize,
    pub frame: u64,
}

/// A finding about bytes that should not be where they are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Anomaly {
    pub frame: u64,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Conversation {
    pub phase: Phase,
    /// The stream began without a SYN (set by the session before bytes arrive).
    pub midstream: bool,
    pending_client: Vec<u8>,
    pending_client_frame: u64,
    pending_server: Vec<u8>,
    pending_server_frame: u64,
    pub ssl_request_frame: Option<u64>,
    pub gss_request_frame: Option<u64>,
    /// Answers to SSLRequest/GSSENCRequest in order: `S`, `N`, `G`, `E`.
    pub answers: Vec<(Request, u8, u64)>,
    client_tls: TlsStream,
    server_tls: TlsStream,
    client_msgs: MessageStream,
    server_msgs: MessageStream,
    pub tls: TlsFacts,
    pub pg: PgFacts,
    pub gss_client_bytes: u64,
    pub gss_server_bytes: u64,
    /// GSSAPI-wrapped packets after `G`, per direction.
    pub gss_client: GssFramer,
    pub gss_server: GssFramer,
    pub anomalies: Vec<Anomaly>,
    /// Startup-phase injections (also listed in `anomalies` as text).
    pub injections: Vec<Injection>,
    /// Query texts to keep (see [`Conversation::with_query_texts`]).
    query_texts_wanted: usize,
    pub evidence: Vec<Evidence>,
    pub client_closed: Option<u64>,
    pub server_closed: Option<u64>,
    pub reset_by: Option<(Direction, u64)>,
    pub client_bytes_seen: bool,
    pub server_bytes_seen: bool,
    resync_segments: u32,
    /// First bytes of each TLS-phase direction held until they can be read.
    tls_hold_client: Vec<u8>,
    tls_hold_server: Vec<u8>,
    /// The verdict can no longer change: stop looking at bytes.
    settled: bool,
}

/// Startup bytes a settled conversation keeps room for (an SSLRequest, an
/// answer), for the conversation that reuses its box.
const SMALL_PENDING: usize = 64;

/// A thread's event buffer that one delivery grew past this many events is
/// freed rather than kept.
const EVENTS_KEPT: usize = 256;

thread_local! {
    /// The events of one delivery of TLS bytes: one buffer for the
    /// thread's conversations instead of one per conversation.
    static TLS_EVENTS: std::cell::Cell<Vec<TlsEvent>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Default for Conversation {
    fn default() -> Self {
        Conversation {
            phase: Phase::Startup,
            midstream: false,
            pending_client: Vec::new(),
            pending_client_frame: 0,
            pending_server: Vec::new(),
            pending_server_frame: 0,
            ssl_request_frame: None,
            gss_request_frame: None,
            answers: Vec::new(),
            client_tls: TlsStream::default(),
            server_tls: TlsStream::of_server(),
            client_msgs: MessageStream::default(),
            server_msgs: MessageStream::default(),
            tls: TlsFacts::default(),
            pg: PgFacts::default(),
            gss_client_bytes: 0,
            gss_server_bytes: 0,
            gss_client: GssFramer::default(),
            gss_server: GssFramer::default(),
            anomalies: Vec::new(),
            injections: Vec::new(),
            query_texts_wanted: QUERY_TEXTS_WANTED.with(|q| q.get()),
            evidence: Vec::new(),
            client_closed: None,
            server_closed: None,
            reset_by: None,
            client_bytes_seen: false,
            server_bytes_seen: false,
            resync_segments: 0,
            tls_hold_client: Vec::new(),
            tls_hold_server: Vec::new(),
            settled: false,
        }
    }
}

/// Largest GSSAPI-wrapped packet taken as plausible. PostgreSQL sends at most
/// 16 KB (PQ_GSS_MAX_PACKET_SIZE); the bound leaves room for other builds.
pub const MAX_PLAUSIBLE_GSS_PACKET: u32 = 1 << 20;

/// Frames one direction of GSSAPI-encrypted traffic: int32 length, payload.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct GssFramer {
    header: Vec<u8>,
    remaining: u64,
    /// Packets whose length word was read.
    pub packets: u32,
    /// The first implausible length word; framing stops there.
    pub bad: Option<u32>,
}

impl GssFramer {
    pub fn feed(&mut self, mut b: &[u8]) {
        while !b.is_empty() && self.bad.is_none() {
            if self.remaining > 0 {
                let n = (self.remaining.min(b.len() as u64)) as usize;
                self.remaining -= n as u64;
                b = &b[n..];
                continue;
            }
            let n = (4 - self.header.len()).min(b.len());
            self.header.extend_from_slice(&b[..n]);
            b = &b[n..];
            if self.header.len() == 4 {
                let len = u32::from_be_bytes([
                    self.header[0],
                    self.header[1],
                    self.header[2],
                    self.header[3],
                ]);
                self.header.clear();
                if len == 0 || len > MAX_PLAUSIBLE_GSS_PACKET {
                    self.bad = Some(len);
                } else {
                    self.packets += 1;
                    self.remaining = u64::from(len);
                }
            }
        }
    }
}

/// Bound on anomalies kept per session.
const MAX_ANOMALIES: usize = 16;

impl Conversation {
    /// False once the verdict is settled: the session keeps only counters.
    /// Visits every frame number the conversation holds except the close
    /// frames (`client_closed`, `server_closed`, `reset_by`), always in the
    /// same order: what a frozen session keeps of its own (see
    /// [`super::frozen`]). A field left out here only makes fewer sessions
    /// share a shape; it never changes a report.
    pub(super) fn frames_mut(&mut self, f: &mut dyn FnMut(&mut u64)) {
        fn opt(v: &mut Option<u64>, f: &mut dyn FnMut(&mut u64)) {
            if let Some(v) = v {
                f(v);
            }
        }
        f(&mut self.pending_client_frame);
        f(&mut self.pending_server_frame);
        opt(&mut self.ssl_request_frame, f);
        opt(&mut self.gss_request_frame, f);
        for a in &mut self.answers {
            f(&mut a.2);
        }
        let t = &mut self.tls;
        f(&mut t.client_hello_frame);
        f(&mut t.server_hello_frame);
        if let Some(a) = &mut t.alert {
            f(&mut a.frame);
        }
        f(&mut t.certificate_frame);
        opt(&mut t.server_ccs_frame, f);
        if let Some(m) = &mut t.malformed {
            f(&mut m.2);
        }
        let pg = &mut self.pg;
        f(&mut pg.startup_frame);
        if let Some(m) = &mut pg.first_server_message {
            f(&mut m.1);
        }
        f(&mut pg.auth_frame);
        if let Some(e) = &mut pg.error {
            f(&mut e.frame);
        }
        opt(&mut pg.ready_frame, f);
        f(&mut pg.cancel_frame);
        for a in &mut pg.auth_frames {
            f(a);
        }
        for p in &mut pg.password_answers {
            f(&mut p.frame);
        }
        opt(&mut pg.first_query_frame, f);
        for q in &mut pg.query_texts {
            f(&mut q.frame);
        }
        for a in &mut self.anomalies {
            f(&mut a.frame);
        }
        for i in &mut self.injections {
            f(&mut i.frame);
        }
        for e in &mut self.evidence {
            f(&mut e.frame);
        }
    }

    pub fn wants_bytes(&self) -> bool {
        !self.settled
    }

    pub fn is_settled(&self) -> bool {
        self.settled
    }

    /// The server answered a plaintext StartupMessage: the verdict is
    /// plaintext or rejected-plaintext from here on.
    pub fn plaintext_answered(&self) -> bool {
        self.phase == Phase::Plain && self.pg.first_server_message.is_some()
    }

    /// Frees the parsing buffers once the verdict is settled.
    pub fn release_buffers(&mut self) {
        // A startup packet's few bytes are kept for the conversation that
        // starts in this one's box next ([`Conversation::reuse_buffers`]).
        for pending in [&mut self.pending_client, &mut self.pending_server] {
            if pending.capacity() <= SMALL_PENDING {
                pending.clear();
            } else {
                *pending = Vec::new();
            }
        }
        // Counters that the verdict reads survive; buffers go.
        self.client_tls.release();
        self.server_tls.release();
        self.client_msgs.release();
        self.server_msgs.release();
    }

    /// Hands what the startup left pending to the phase it led to (`feed`:
    /// the client's bytes, then the server's). The buffers stay this
    /// conversation's where they are small, for the next conversation that
    /// starts in its box ([`Conversation::reuse_buffers`]): taken and
    /// dropped, every TLS session allocated both again.
    fn flush_pending(&mut self, feed: fn(&mut Self, Direction, &[u8], u64)) {
        let c = std::mem::take(&mut self.pending_client);
        let s = std::mem::take(&mut self.pending_server);
        let (cf, sf) = (self.pending_client_frame, self.pending_server_frame);
        if !c.is_empty() {
            feed(self, Direction::ToServer, &c, cf);
        }
        if !s.is_empty() {
            feed(self, Direction::ToClient, &s, sf);
        }
        for (slot, mut taken) in [(&mut self.pending_client, c), (&mut self.pending_server, s)] {
            if slot.capacity() == 0 && taken.capacity() <= SMALL_PENDING {
                taken.clear();
                *slot = taken;
            }
        }
    }

    /// Takes the buffers of `ended`, emptied, where they are small, into
    /// this new conversation: the next session fills the same ones (a TLS
    /// session allocated five of them).
    pub(super) fn reuse_buffers(&mut self, ended: &mut Conversation) {
        fn reuse<T>(to: &mut Vec<T>, from: &mut Vec<T>, most: usize) {
            if to.capacity() == 0 && from.capacity() <= most {
                from.clear();
                std::mem::swap(to, from);
            }
        }
        reuse(&mut self.evidence, &mut ended.evidence, 8);
        reuse(&mut self.answers, &mut ended.answers, 4);
        reuse(
            &mut self.pending_client,
            &mut ended.pending_client,
            SMALL_PENDING,
        );
        reuse(
            &mut self.pending_server,
            &mut ended.pending_server,
            SMALL_PENDING,
        );
    }

    fn evidence(&mut self, frame: u64, what: impl Into<Cow<'static, str>>) {
        if self.evidence.len() < 32 {
            self.evidence.push(Evidence {
                frame,
                what: what.into(),
            });
        }
    }

    /// Runs `f` with every session created on this thread during it keeping
    /// the text of its first `n` queries in clear (at most
    /// [`MAX_QUERY_TEXTS`]), for `pgtls audit --show-queries`. Sessions are
    /// created where packets are fed, so `f` must feed them on this thread.
    pub fn with_query_texts<R>(n: usize, f: impl FnOnce() -> R) -> R {
        struct Restore(usize);
        impl Drop for Restore {
            fn drop(&mut self) {
                QUERY_TEXTS_WANTED.with(|q| q.set(self.0));
            }
        }
        let _restore = Restore(QUERY_TEXTS_WANTED.with(|q| q.replace(n.min(MAX_QUERY_TEXTS))));
        f()
    }

    /// The server's answers to SSLRequest (GSSENCRequest's left out): the
    /// byte (`S`, `N`, `E`) and its frame.
    pub fn ssl_answers(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        self.answers
            .iter()
            .filter(|(r, _, _)| *r == Request::Ssl)
            .map(|(_, a, f)| (*a, *f))
    }

    /// Records bytes sent out of turn; one entry per side and request, with
    /// the largest count seen.
    fn injection(&mut self, from: Direction, after: &'static str, bytes: usize, frame: u64) {
        if let Some(i) = self
            .injections
            .iter_mut()
            .find(|i| i.from == from && i.after == after)
        {
            i.bytes = i.bytes.max(bytes);
        } else if self.injections.len() < 4 {
            self.injections.push(Injection {
                from,
                after,
                bytes,
                frame,
            });
        }
    }

    fn anomaly(&mut self, frame: u64, what: impl Into<String>) {
        if self.anomalies.len() < MAX_ANOMALIES {
            self.anomalies.push(Anomaly {
                frame,
                what: what.into(),
            });
        }
    }

    /// Bytes (or a hole) of one direction, in stream order.
    pub fn chunk(&mut self, dir: Direction, chunk: Chunk<'_>) {
        if self.settled {
            return;
        }
        match chunk {
            Chunk::Data { bytes, frame } => self.data(dir, bytes, frame),
            Chunk::Gap { len, frame } => self.gap(dir, len, frame),
        }
    }

    /// One side closed (FIN) or reset (RST) the connection.
    pub fn closed(&mut self, dir: Direction, frame: u64, reset: bool) {
        match dir {
            Direction::ToServer => {
                self.client_closed.get_or_insert(frame);
            }
            Direction::ToClient => {
                self.server_closed.get_or_insert(frame);
            }
        }
        if reset && self.reset_by.is_none() {
            self.reset_by = Some((dir, frame));
        }
    }

    fn gap(&mut self, dir: Direction, len: u64, frame: u64) {
        match self.phase {
            Phase::Tls => match dir {
                Direction::ToServer => self.client_tls.gap(len),
                Direction::ToClient => self.server_tls.gap(len),
            },
            Phase::Plain => match dir {
                Direction::ToServer => {
                    if let Some((tag, body)) = self.client_msgs.gap(len) {
                        self.client_message(Message { tag, body: &body }, frame);
                    }
                }
                Direction::ToClient => {
                    if let Some((tag, body)) = self.server_msgs.gap(len) {
                        self.server_message(Message { tag, body: &body }, frame);
                    }
                }
            },
            Phase::Gss | Phase::Cancel | Phase::NotPostgres(_) => {}
            Phase::Startup | Phase::AwaitAnswer(_) | Phase::AnswerError(_) | Phase::Unsynced => {
                // The startup exchange lost bytes: whatever follows can only
                // be judged the way a mid-stream session is.
                self.pending_client.clear();
                self.pending_server.clear();
                self.anomaly(
                    frame,
                    format!("{len} bytes missing from the capture during the startup phase"),
                );
                self.phase = Phase::Unsynced;
            }
        }
    }

    fn data(&mut self, dir: Direction, bytes: &[u8], frame: u64) {
        match dir {
            Direction::ToServer => self.client_bytes_seen = true,
            Direction::ToClient => self.server_bytes_seen = true,
        }
        match self.phase {
            Phase::Tls => self.tls_bytes(dir, bytes, frame),
            Phase::Plain => self.plain_bytes(dir, bytes, frame),
            Phase::Gss => self.gss_bytes(dir, bytes, frame),
            Phase::Cancel | Phase::NotPostgres(_) => {}
            Phase::Unsynced => self.unsynced_bytes(dir, bytes, frame),
            Phase::Startup | Phase::AwaitAnswer(_) | Phase::AnswerError(_) => {
                let (buf, f) = match dir {
                    Direction::ToServer => {
                        (&mut self.pending_client, &mut self.pending_client_frame)
                    }
                    Direction::ToClient => {
                        (&mut self.pending_server, &mut self.pending_server_frame)
                    }
                };
                if buf.len() + bytes.len() > MAX_STARTUP_BYTES {
                    let who = match dir {
                        Direction::ToServer => "client",
                        Direction::ToClient => "server",
                    };
                    self.phase = Phase::NotPostgres(format!(
                        "{who} sent more than {MAX_STARTUP_BYTES} bytes without a complete startup exchange"
                    ));
                    self.settled = true;
                    return;
                }
                buf.extend_from_slice(bytes);
                *f = frame;
                if self.midstream && self.phase == Phase::Startup && !self.startup_plausible() {
                    // The capture began inside the session: judge what it carries.
                    self.phase = Phase::Unsynced;
                    let client = std::mem::take(&mut self.pending_client);
                    let server = std::mem::take(&mut self.pending_server);
                    if !client.is_empty() {
                        self.unsynced_bytes(
                            Direction::ToServer,
                            &client,
                            self.pending_client_frame,
                        );
                    }
                    if !server.is_empty() && self.phase == Phase::Unsynced {
                        self.unsynced_bytes(
                            Direction::ToClient,
                            &server,
                            self.pending_server_frame,
                        );
                    }
                    return;
                }
                self.advance();
            }
        }
    }

    /// In a session first seen mid-stream, does the pending client data
    /// begin like a startup packet (the capture caught the connection's start
    /// without its SYN)?
    fn startup_plausible(&self) -> bool {
        if !self.pending_server.is_empty() && self.pending_client.is_empty() {
            return false;
        }
        match pg::frame_pg_startup(&self.pending_client) {
            StartupFraming::NeedHeader => self.pending_client.len() < 8,
            StartupFraming::Implausible { .. } => false,
            StartupFraming::Packet { code, .. } => {
                matches!(
                    code,
                    pg::SSL_REQUEST_CODE | pg::GSSENC_REQUEST_CODE | pg::CANCEL_REQUEST_CODE
                ) || code >> 16 == 3
            }
        }
    }

    /// Mid-stream: find out from one segment whether this is TLS or
    /// PostgreSQL in clear.
    fn unsynced_bytes(&mut self, dir: Direction, bytes: &[u8], frame: u64) {
        if tls::looks_like_tls_record(bytes) {
            self.tls.negotiation.get_or_insert(Negotiation::Midstream);
            self.evidence(frame, "TLS record on a session first seen mid-stream");
            self.phase = Phase::Tls;
            self.tls_bytes(dir, bytes, frame);
        } else if messages_plausible(bytes, dir) {
            self.evidence(
                frame,
                format!(
                    "PostgreSQL message '{}' in clear on a session first seen mid-stream",
                    printable_tag(bytes[0])
                ),
            );
            self.phase = Phase::Plain;
            self.plain_bytes(dir, bytes, frame);
        } else {
            self.resync_segments += 1;
            if self.resync_segments >= MAX_RESYNC_SEGMENTS {
                self.settled = true;
            }
        }
    }

    /// Runs the startup-phase machine as far as the pending bytes allow.
    fn advance(&mut self) {
        loop {
            match self.phase.clone() {
                Phase::Startup => {
                    if self.pending_client.is_empty() {
                        if !self.pending_server.is_empty() {
                            let why = describe_server_first(&self.pending_server);
                            self.phase = Phase::NotPostgres(why);
                            self.settled = true;
                        }
                        return;
                    }
                    if !self.startup_packet() {
                        return;
                    }
                }
                Phase::AwaitAnswer(req) => {
                    if !self.pending_client.is_empty() && self.pending_server.is_empty() {
                        // A client must wait for the answer; bytes now are either
                        // pipelining or an injection (CVE-2021-23214 style).
                        let n = self.pending_client.len();
                        let what = format!(
                            "{n} bytes from the client after {} before the server answered",
                            request_name(req)
                        );
                        let f = self.pending_client_frame;
                        if !self.anomalies.iter().any(|a| a.what == what) {
                            self.anomaly(f, what);
                        }
                        self.injection(Direction::ToServer, request_name(req), n, f);
                    }
                    if self.pending_server.is_empty() {
                        return;
                    }
                    self.answer(req);
                }
                Phase::AnswerError(req) => {
                    let f = self.pending_server_frame;
                    if let Some(e) = take_message(&mut self.pending_server, b'E') {
                        let fields = pg::parse_pg_error_fields(&e);
                        self.pg.error = Some(pg_error(&fields, f));
                        self.evidence(f, format!("ErrorResponse to {}", request_name(req)));
                        self.settled = true;
                    }
                    return;
                }
                Phase::Tls => return self.flush_pending(Self::tls_bytes),
                Phase::Plain => return self.flush_pending(Self::plain_bytes),
                Phase::Gss => return self.flush_pending(Self::gss_bytes),
                Phase::Cancel | Phase::NotPostgres(_) | Phase::Unsynced => {
                    self.pending_client.clear();
                    self.pending_server.clear();
                    return;
                }
            }
        }
    }

    /// Reads one startup-phase packet from the client; false when more bytes
    /// are needed or the phase ended.
    fn startup_packet(&mut self) -> bool {
        let frame = self.pending_client_frame;
        let c = &self.pending_client;
        if c[0] == tls::CONTENT_HANDSHAKE && tls::looks_like_tls_record(c) {
            self.tls.negotiation = Some(Negotiation::Direct);
            self.evidence(frame, "TLS ClientHello with no SSLRequest (direct TLS)");
            self.phase = Phase::Tls;
            return true;
        }
        if tls::looks_like_sslv2_client_hello(c) {
            // Wait for the whole SSLv2 record: it is parsed in one piece.
            let len = (usize::from(c[0] & 0x7f) << 8) | usize::from(c[1]);
            if c.len() < 2 + len {
                return false;
            }
            self.tls.negotiation = Some(Negotiation::Direct);
            self.phase = Phase::Tls;
            return true;
        }
        let len = match pg::frame_pg_startup(c) {
            StartupFraming::NeedHeader => return false,
            StartupFraming::Implausible { .. } => {
                self.phase = Phase::NotPostgres(describe_client_first(c));
                self.settled = true;
                return false;
            }
            StartupFraming::Packet { len, .. } => len as usize,
        };
        if c.len() < len {
            return false;
        }
        // Parsed where it lies, then dropped from the pending bytes.
        let mut pending = std::mem::take(&mut self.pending_client);
        let read_on = self.startup_message(&pending[..len], frame);
        pending.drain(..len);
        self.pending_client = pending;
        read_on
    }

    /// A whole startup-phase packet (`startup_packet`): SSLRequest,
    /// GSSENCRequest, CancelRequest or StartupMessage; false when the phase
    /// ended.
    fn startup_message(&mut self, packet: &[u8], frame: u64) -> bool {
        match pg::parse_pg_startup_packet(packet) {
            Ok((_, StartupPacket::SslRequest)) => {
                self.ssl_request_frame.get_or_insert(frame);
                self.evidence(frame, "SSLRequest");
                self.phase = Phase::AwaitAnswer(Request::Ssl);
            }
            Ok((_, StartupPacket::GssEncRequest)) => {
                self.gss_request_frame.get_or_insert(frame);
                self.evidence(frame, "GSSENCRequest");
                self.phase = Phase::AwaitAnswer(Request::Gss);
            }
            Ok((_, StartupPacket::Cancel { pid, key })) => {
                self.pg.cancel_pid = Some(pid);
                self.pg.cancel_key_len = key.len();
                self.pg.cancel_frame = frame;
                self.evidence(frame, format!("CancelRequest for backend {pid} in clear"));
                self.phase = Phase::Cancel;
                self.settled = true;
            }
            Ok((_, StartupPacket::Startup { version, params })) => {
                self.pg.protocol = Some(version);
                self.pg.startup_frame = frame;
                for (name, value) in pg::startup_params(params) {
                    let kept = match name {
                        b"user" => &mut self.pg.user,
                        b"database" => &mut self.pg.database,
                        b"application_name" => &mut self.pg.application_name,
                        b"replication" => &mut self.pg.replication,
                        _ => continue,
                    };
                    *kept = Some(crate::text::lossy(value));
                }
                let what: Cow<'static, str> = match version.0 {
                    0x0003_0000 => "StartupMessage 3.0 in clear".into(),
                    _ => format!("StartupMessage {version} in clear").into(),
                };
                self.evidence(frame, what);
                self.phase = Phase::Plain;
            }
            Ok((_, StartupPacket::Unknown { code })) => {
                self.phase = Phase::NotPostgres(format!(
                    "startup packet with unknown code {code} (0x{code:08x})"
                ));
                self.settled = true;
                return false;
            }
            Err(_) => {
                self.phase = Phase::NotPostgres("malformed startup packet".into());
                self.settled = true;
                return false;
            }
        }
        true
    }

    /// The server's one-byte answer to SSLRequest or GSSENCRequest.
    fn answer(&mut self, req: Request) {
        let frame = self.pending_server_frame;
        let b = self.pending_server[0];
        match (req, b) {
            (Request::Ssl, b'S') | (Request::Gss, b'G') | (_, b'N') => {
                self.pending_server.remove(0);
                self.answers.push((req, b, frame));
                let what = match (req, b) {
                    (Request::Ssl, b'S') => "server answered 'S' to SSLRequest",
                    (Request::Ssl, _) => "server answered 'N' to SSLRequest",
                    (Request::Gss, b'G') => "server answered 'G' to GSSENCRequest",
                    (Request::Gss, _) => "server answered 'N' to GSSENCRequest",
                };
                self.evidence(frame, what);
                if b != b'N' && !self.pending_server.is_empty() {
                    // CVE-2021-23222 style: bytes that arrived with the answer
                    // would be read as if they came through the encrypted channel.
                    let n = self.pending_server.len();
                    self.anomaly(
                        frame,
                        format!(
                            "{n} bytes from the server after '{}' before the handshake",
                            b as char
                        ),
                    );
                    let after = if b == b'S' { "'S'" } else { "'G'" };
                    self.injection(Direction::ToClient, after, n, frame);
                }
                self.phase = match b {
                    b'S' => Phase::Tls,
                    b'G' => Phase::Gss,
                    _ => Phase::Startup,
                };
                if b == b'S' {
                    self.tls.negotiation = Some(Negotiation::SslRequest);
                }
            }
            (_, b'E') => {
                self.answers.push((req, b'E', frame));
                self.phase = Phase::AnswerError(req);
            }
            _ => {
                self.phase = Phase::NotPostgres(format!(
                    "server answered {} with byte 0x{b:02x}, which is not S, N, G or E",
                    request_name(req)
                ));
                self.settled = true;
            }
        }
    }

    /// Bytes after `G`: GSSAPI-wrapped packets, each an int32 length and a
    /// gss_wrap() payload. Counted and checked for framing, never buffered.
    fn gss_bytes(&mut self, dir: Direction, bytes: &[u8], frame: u64) {
        let (count, framer) = match dir {
            Direction::ToServer => (&mut self.gss_client_bytes, &mut self.gss_client),
            Direction::ToClient => (&mut self.gss_server_bytes, &mut self.gss_server),
        };
        *count += bytes.len() as u64;
        let was_bad = framer.bad.is_some();
        let before = framer.packets;
        framer.feed(bytes);
        let (after, bad) = (framer.packets, framer.bad);
        if before == 0 && after > 0 {
            self.evidence(
                frame,
                format!("GSSAPI-wrapped packet from the {}", side_name(dir)),
            );
        }
        if let (false, Some(len)) = (was_bad, bad) {
            self.anomaly(
                frame,
                format!(
                    "{} sent a GSSAPI packet length of {len} bytes: not GSSAPI-wrapped packets",
                    side_name(dir)
                ),
            );
        }
    }

    fn tls_bytes(&mut self, dir: Direction, bytes: &[u8], frame: u64) {
        // The first bytes of a direction decide how it is read (TLS record,
        // SSLv2-format hello, a PostgreSQL ErrorResponse): hold them until
        // enough have arrived, so the answer does not depend on segmentation.
        let (fresh, held) = match dir {
            Direction::ToServer => (
                self.client_tls.bytes_fed == 0 && !self.client_tls.broken,
                &mut self.tls_hold_client,
            ),
            Direction::ToClient => (
                self.server_tls.bytes_fed == 0 && !self.server_tls.broken,
                &mut self.tls_hold_server,
            ),
        };
        if fresh {
            if held.is_empty() && start_bytes_needed(dir, bytes).is_none_or(|n| bytes.len() >= n) {
                // Enough in this segment alone: decided where it lies.
                return self.tls_bytes_decided(dir, bytes, frame);
            }
            held.extend_from_slice(bytes);
            if let Some(need) = start_bytes_needed(dir, held) {
                if held.len() < need {
                    return;
                }
            }
            let start = std::mem::take(held);
            self.tls_bytes_decided(dir, &start, frame);
            return;
        }
        self.tls_bytes_decided(dir, bytes, frame);
    }

    fn tls_bytes_decided(&mut self, dir: Direction, bytes: &[u8], frame: u64) {
        // Taken, not borrowed: a delivery within a delivery would find
        // the buffer empty rather than in use.
        let mut events = TLS_EVENTS.take();
        events.clear();
        if dir == Direction::ToClient
            && self.server_tls.records == 0
            && !self.server_tls.broken
            && bytes.first() == Some(&b'E')
        {
            // A server without direct TLS reads the ClientHello as a startup
            // packet and answers with an ErrorResponse in clear.
            let mut buf = bytes.to_vec();
            if let Some(body) = take_message(&mut buf, b'E') {
                let e = pg_error(&pg::parse_pg_error_fields(&body), frame);
                self.evidence(
                    frame,
                    format!(
                        "server answered the ClientHello with a PostgreSQL ErrorResponse {}",
                        e.code.as_deref().unwrap_or("?")
                    ),
                );
                self.pg.error = Some(e);
                self.server_tls.broken = true;
                return;
            }
        }
        let stream = match dir {
            Direction::ToServer => &mut self.client_tls,
            Direction::ToClient => &mut self.server_tls,
        };
        // Only the very first bytes of the client's stream can be an
        // SSLv2-format hello; later bytes of a TLS record may look like one.
        if stream.bytes_fed == 0
            && dir == Direction::ToServer
            && tls::looks_like_sslv2_client_hello(bytes)
        {
            if let Some((ch, _)) = tls::parse_sslv2_client_hello(bytes) {
                events.push(TlsEvent::ClientHello(Arc::new(ch), SessionId::default()));
            }
            stream.broken = true;
        } else {
            stream.feed(bytes, &mut events);
        }
        for ev in events.drain(..) {
            self.tls_event(dir, ev, frame);
        }
        if events.capacity() <= EVENTS_KEPT {
            TLS_EVENTS.set(events);
        }
    }

    fn tls_event(&mut self, dir: Direction, ev: TlsEvent, frame: u64) {
        let after_hello = self.tls.server_hello.is_some();
        if matches!(ev, TlsEvent::ApplicationData) {
            match dir {
                Direction::ToServer => self.tls.client_app_records += 1,
                Direction::ToClient => self.tls.server_app_records += 1,
            }
        }
        match ev {
            TlsEvent::ClientHello(ch, session_id)
                if dir == Direction::ToServer && self.tls.client_hello.is_none() =>
            {
                let max = ch.max_version();
                let what = if ch.sslv2_format {
                    format!("ClientHello (SSLv2 format) offering up to {}", max.name()).into()
                } else {
                    with_version!("ClientHello offering up to ", max)
                };
                self.evidence(frame, what);
                self.tls.client_hello = Some(ch);
                self.tls.client_session_id = session_id;
                self.tls.client_hello_frame = frame;
            }
            TlsEvent::ServerHello(sh, session_id) if dir == Direction::ToClient => {
                if sh.hello_retry_request || sh.selected_version == tls::TlsVersion::TLS_1_3.0 {
                    self.client_tls.tls13 = true;
                    self.server_tls.tls13 = true;
                }
                if sh.hello_retry_request {
                    self.tls.hello_retry = true;
                    self.evidence(frame, "HelloRetryRequest");
                } else if self.tls.server_hello.is_none() {
                    let what = with_version!(
                        "ServerHello selecting ",
                        tls::TlsVersion(sh.selected_version)
                    );
                    self.evidence(frame, what);
                    self.tls.server_hello = Some(sh);
                    self.tls.server_session_id = session_id;
                    self.tls.server_hello_frame = frame;
                }
            }
            TlsEvent::Certificate { bytes, chain } if dir == Direction::ToClient => {
                self.tls.certificate_bytes += bytes;
                // The stream decodes the server's first chain only.
                if let (None, Some(certs)) = (&self.tls.certificates, chain) {
                    // Written piece by piece: through `format!` this was
                    // 850 instructions, a TLS 1.2 session's largest cost
                    // after its handshake's records.
                    let (leaf, subject) = match certs.certs.first() {
                        Some(c) => (", leaf ", c.subject.as_str()),
                        None => ("", ""),
                    };
                    let mut digits = itoa::Buffer::new();
                    let count = digits.format(certs.count);
                    let plural = if certs.count == 1 { "" } else { "s" };
                    let what = [
                        "Certificate in clear: ",
                        count,
                        " certificate",
                        plural,
                        leaf,
                        subject,
                    ]
                    .concat();
                    self.evidence(frame, what);
                    self.tls.certificates = Some(certs);
                    self.tls.certificate_frame = frame;
                }
            }
            TlsEvent::ServerKeyExchange { params } if dir == Direction::ToClient => {
                self.tls.server_key_exchange.get_or_insert(params);
            }
            TlsEvent::Alert(alert) => {
                let keep = match self.tls.alert {
                    None => true,
                    Some(a) => !a.alert.is_fatal() && alert.is_fatal(),
                };
                if keep {
                    self.tls.alert = Some(AlertSeen {
                        alert,
                        from: dir,
                        frame,
                    });
                    let mut what = String::with_capacity(64);
                    what.push_str(if alert.is_fatal() {
                        "fatal alert "
                    } else {
                        "warning alert "
                    });
                    push_alert_label(alert.description, &mut what);
                    what.push_str(" from the ");
                    what.push_str(side_name(dir));
                    self.evidence(frame, what);
                }
                if alert.is_fatal() {
                    self.settled = true;
                }
            }
            TlsEvent::EncryptedAlert => self.tls.encrypted_alerts += 1,
            TlsEvent::ChangeCipherSpec | TlsEvent::ApplicationData if after_hello => {
                if matches!(ev, TlsEvent::ChangeCipherSpec) && dir == Direction::ToClient {
                    self.tls.server_ccs_frame.get_or_insert(frame);
                }
                match dir {
                    Direction::ToServer => self.tls.client_encrypted = true,
                    Direction::ToClient => self.tls.server_encrypted = true,
                }
            }
            TlsEvent::ApplicationData if self.tls.negotiation == Some(Negotiation::Midstream) => {
                match dir {
                    Direction::ToServer => self.tls.client_encrypted = true,
                    Direction::ToClient => self.tls.server_encrypted = true,
                }
            }
            TlsEvent::Malformed { what } if self.tls.malformed.is_none() => {
                self.tls.malformed = Some((dir, what, frame));
                self.anomaly(frame, format!("{} sent {what}", side_name(dir)));
            }
            _ => {}
        }
        // Settled once both sides speak encrypted records after a real
        // ServerHello: a readable alert can no longer come.
        if self.tls.client_encrypted && self.tls.server_encrypted {
            self.settled = true;
        }
    }

    fn plain_bytes(&mut self, dir: Direction, mut bytes: &[u8], frame: u64) {
        // The usual segment starts between two messages and holds whole
        // ones: they are read where they lie, the stream untouched (it is
        // between messages after them as before). What is left (a message
        // cut by the segment's end, one too long to keep whole, a type
        // byte this side may not send) goes through the stream.
        let at_boundary = match dir {
            Direction::ToServer => self.client_msgs.at_boundary(),
            Direction::ToClient => self.server_msgs.at_boundary(),
        };
        if at_boundary {
            while let Some((m, 0)) = message_at(bytes, |tag| sent_by(dir, tag)) {
                bytes = &bytes[5 + m.body.len()..];
                match dir {
                    Direction::ToServer => self.client_message(m, frame),
                    Direction::ToClient => self.server_message(m, frame),
                }
            }
            if bytes.is_empty() {
                return;
            }
        }
        let mut stream = match dir {
            Direction::ToServer => std::mem::take(&mut self.client_msgs),
            Direction::ToClient => std::mem::take(&mut self.server_msgs),
        };
        let was_malformed = stream.malformed.is_some();
        match dir {
            Direction::ToServer => stream.feed(bytes, pg::is_frontend_tag, |m| {
                self.client_message(m, frame)
            }),
            Direction::ToClient => {
                stream.feed(bytes, pg::is_backend_tag, |m| self.server_message(m, frame))
            }
        }
        if let (false, Some((tag, len))) = (was_malformed, stream.malformed) {
            let what = format!(
                "{} sent bytes that are not a PostgreSQL message (type 0x{tag:02x} '{}', length {len})",
                side_name(dir),
                printable_tag(tag)
            );
            self.anomaly(frame, what.clone());
            self.evidence(frame, what);
        }
        match dir {
            Direction::ToServer => self.client_msgs = stream,
            Direction::ToClient => self.server_msgs = stream,
        }
    }

    /// A plaintext session the server answered, between messages both
    /// ways: it may freeze and read on with a [`super::frozen::PlainTail`]
    /// (messages that would change more than its query count thaw it).
    pub(super) fn plain_quiet(&self) -> bool {
        self.phase == Phase::Plain
            && !self.settled
            && self.pg.first_server_message.is_some()
            && self.client_bytes_seen
            && self.server_bytes_seen
            && self.client_msgs.at_boundary()
            && self.server_msgs.at_boundary()
            && self.pending_client.is_empty()
            && self.pending_server.is_empty()
    }

    /// Would a whole message of `tag` from `dir` change this (plaintext,
    /// answered) conversation beyond its query count? Mirrors
    /// [`Conversation::read_client_message`] and
    /// [`Conversation::read_server_message`].
    #[inline]
    fn message_matters(&self, dir: Direction, tag: u8) -> bool {
        match dir {
            Direction::ToServer => match tag {
                b'p' => true,
                b'Q' | b'P' => {
                    self.pg.first_query_frame.is_none()
                        || self.pg.query_texts.len() < self.query_texts_wanted
                }
                _ => false,
            },
            Direction::ToClient => match tag {
                b'R' | b'S' | b'K' | b'v' => true,
                b'E' => self.pg.error.is_none(),
                b'Z' => self.pg.ready_frame.is_none(),
                _ => false,
            },
        }
    }

    /// Reads `bytes` of `dir`, starting between messages, as a frozen
    /// plaintext session may: when they are whole messages, each one this
    /// side may send and none that matters, the queries among them; else
    /// None (the session must thaw to read them).
    pub(super) fn whole_quiet_messages(&self, dir: Direction, mut bytes: &[u8]) -> Option<u32> {
        let mut queries = 0u32;
        while !bytes.is_empty() {
            let h = pg::parse_pg_message_header(bytes)?;
            if !sent_by(dir, h.tag) || self.message_matters(dir, h.tag) {
                return None;
            }
            bytes = bytes.get(5 + h.body_len as usize..)?;
            if dir == Direction::ToServer && matches!(h.tag, b'Q' | b'P') {
                queries += 1;
            }
        }
        Some(queries)
    }

    /// The first malformed message header the server sent, if any.
    pub fn server_malformed(&self) -> Option<(u8, u32)> {
        self.server_msgs.malformed
    }

    /// A whole message from the client. Most of a plaintext session's
    /// (queries past the first, Bind, Execute, Sync...) only count:
    /// counted here, inlined where messages are framed.
    #[inline]
    fn client_message(&mut self, m: Message<'_>, frame: u64) {
        if self.message_matters(Direction::ToServer, m.tag) {
            self.read_client_message(m, frame);
        } else if matches!(m.tag, b'Q' | b'P') {
            self.pg.queries += 1;
        }
    }

    fn read_client_message(&mut self, m: Message<'_>, frame: u64) {
        match m.tag {
            b'p' => {
                self.pg.password_messages += 1;
                let answered = self.pg.pending_auth;
                if self.pg.password_answers.len() < MAX_PASSWORD_ANSWERS {
                    self.pg
                        .password_answers
                        .push(PasswordAnswer { answered, frame });
                }
                // A SASLInitialResponse names its mechanism first. Any other
                // password message is a secret: its bytes are never read.
                if answered == Some(pg::AuthCode::SASL) && self.pg.sasl_mechanism.is_none() {
                    self.pg.sasl_mechanism = sasl_mechanism(m.body);
                }
            }
            b'Q' | b'P' => {
                self.pg.queries += 1;
                self.pg.first_query_frame.get_or_insert(frame);
                if self.pg.query_texts.len() < self.query_texts_wanted {
                    // Parse: statement name, then the query.
                    let body = if m.tag == b'P' {
                        m.body
                            .iter()
                            .position(|b| *b == 0)
                            .map_or(&[][..], |i| &m.body[i + 1..])
                    } else {
                        m.body
                    };
                    self.pg.query_texts.push(QueryText {
                        frame,
                        text: query_text(body),
                    });
                }
            }
            _ => {}
        }
    }

    /// A whole message from the server. Past the first, most of them
    /// (rows, completions, ReadyForQuery once seen) change nothing: passed
    /// over here, inlined where messages are framed.
    #[inline]
    fn server_message(&mut self, m: Message<'_>, frame: u64) {
        if self.pg.first_server_message.is_none()
            || self.message_matters(Direction::ToClient, m.tag)
        {
            self.read_server_message(m, frame);
        }
    }

    fn read_server_message(&mut self, m: Message<'_>, frame: u64) {
        if self.pg.first_server_message.is_none() {
            self.pg.first_server_message = Some((m.tag, frame));
        }
        match m.tag {
            b'R' => {
                if let Ok((_, code)) = pg::parse_pg_authentication(m.body) {
                    if self.pg.auth_codes.is_empty() {
                        self.pg.auth_frame = frame;
                        let name = code.name().unwrap_or("unknown");
                        self.evidence(
                            frame,
                            ["Authentication request (", name, ") in clear"].concat(),
                        );
                    }
                    if self.pg.auth_codes.len() < 8 {
                        self.pg.auth_codes.push(code);
                        self.pg.auth_frames.push(frame);
                    }
                    if code != pg::AuthCode::OK {
                        self.pg.pending_auth = Some(code);
                    }
                }
            }
            b'E' if self.pg.error.is_none() => {
                let fields = pg::parse_pg_error_fields(m.body);
                let e = pg_error(&fields, frame);
                let code = e.code.as_deref().unwrap_or("?");
                let message = e.message.as_deref().unwrap_or("");
                self.evidence(frame, ["ErrorResponse ", code, " ", message].concat());
                self.pg.error = Some(e);
            }
            // A server sends a dozen ParameterStatus messages at startup;
            // only server_version is kept, so the others are not parsed.
            b'S' if m.body.starts_with(b"server_version\0") => {
                if let Ok((_, (_, value))) = pg::parse_pg_parameter_status(m.body) {
                    self.pg.server_version = Some(crate::text::lossy(value));
                }
            }
            b'K' => {
                if let Ok((_, (pid, key))) = pg::parse_pg_backend_key_data(m.body) {
                    self.pg.backend_pid = Some(pid);
                    self.pg.backend_key_len = key.len();
                }
            }
            b'Z' if self.pg.ready_frame.is_none() => {
                self.pg.ready_frame = Some(frame);
                self.evidence(frame, "ReadyForQuery in clear");
            }
            b'v' => {
                if let Ok((_, v)) = pg::parse_pg_negotiate_protocol_version(m.body) {
                    if self.pg.negotiate_protocol.is_none() {
                        let asked = self
                            .pg
                            .protocol
                            .map(|p| format!(" (the client asked for {p})"))
                            .unwrap_or_default();
                        self.evidence(
                            frame,
                            format!(
                                "NegotiateProtocolVersion: server speaks protocol up to {}{asked}, {} option{} not recognised",
                                negotiated_version(v.0),
                                v.1,
                                if v.1 == 1 { "" } else { "s" }
                            ),
                        );
                    }
                    self.pg.negotiate_protocol = Some(v);
                }
            }
            _ => {}
        }
    }

    pub fn server_tls_records(&self) -> u32 {
        self.server_tls.records
    }
}

/// The mechanism name at the start of a SASLInitialResponse body, when it
/// looks like one (printable ASCII, at most 64 bytes).
fn sasl_mechanism(body: &[u8]) -> Option<String> {
    let end = body.iter().position(|b| *b == 0)?;
    let name = &body[..end];
    (!name.is_empty() && name.len() <= 64 && name.iter().all(|b| b.is_ascii_graphic()))
        .then(|| crate::text::lossy(name))
}

/// A query's text for the audit: up to its terminating NUL, password
/// literals masked over the whole text, then cut to [`QUERY_TEXT_CHARS`]
/// characters (an ellipsis marks the cut).
fn query_text(body: &[u8]) -> String {
    let end = body.iter().position(|b| *b == 0).unwrap_or(body.len());
    let text = String::from_utf8_lossy(&body[..end]);
    let masked = mask_password_literals(&text);
    let mut out: String = masked.chars().take(QUERY_TEXT_CHARS).collect();
    if masked.chars().nth(QUERY_TEXT_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Replaces what follows the word `password` (any case) when it is a
/// literal or a `password=value` setting: `PASSWORD 'x'`, `ENCRYPTED
/// PASSWORD E'x'`, `PASSWORD $$x$$`, `password=x` inside a connection
/// string, `OPTIONS (password 'x')`. The masked text says `'***'`/`***`.
fn mask_password_literals(text: &str) -> String {
    const WORD: &str = "password";
    let lower = text.to_ascii_lowercase();
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(pos) = lower[search..].find(WORD) {
        let word_end = search + pos + WORD.len();
        search = word_end;
        let mut i = word_end;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let (start, end, replacement) = if i < b.len() && b[i] == b'=' {
            // password=value (libpq connection string)
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < b.len() && b[j] == b'\'' {
                let end = literal_end(b, j + 1, b"'");
                (j, end, "'***'")
            } else {
                let mut end = j;
                while end < b.len() && !b[end].is_ascii_whitespace() && b[end] != b'\'' {
                    end += 1;
                }
                (j, end, "***")
            }
        } else if i < b.len() && b[i] == b'\'' {
            (i, literal_end(b, i + 1, b"'"), "'***'")
        } else if i + 1 < b.len() && (b[i] == b'E' || b[i] == b'e') && b[i + 1] == b'\'' {
            (i, literal_end(b, i + 2, b"'"), "'***'")
        } else if i < b.len() && b[i] == b'$' {
            // $tag$ ... $tag$
            match text[i + 1..].find('$') {
                Some(k) => {
                    let tag = &b[i..i + k + 2];
                    let end = text[i + k + 2..]
                        .find(std::str::from_utf8(tag).unwrap_or("$$"))
                        .map_or(b.len(), |e| i + k + 2 + e + tag.len());
                    (i, end, "$$***$$")
                }
                None => continue,
            }
        } else {
            continue;
        };
        if start < copied || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(replacement);
        copied = end;
        search = end.max(search);
    }
    out.push_str(&text[copied..]);
    out
}

/// The index after the closing quote of a literal whose body starts at
/// `from` (a doubled quote or a backslash escape stays inside); the end of
/// the text when it is not closed.
fn literal_end(b: &[u8], from: usize, quote: &[u8]) -> usize {
    let q = quote[0];
    let mut i = from;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

/// The version a NegotiateProtocolVersion names. The documentation calls the
/// field the newest minor version; servers (PostgreSQL 15 seen here, and
/// libpq reading it) send the whole version word, `3 << 16 | minor`.
pub fn negotiated_version(v: u32) -> pg::ProtocolVersion {
    if v >> 16 == 0 {
        pg::ProtocolVersion(3 << 16 | v)
    } else {
        pg::ProtocolVersion(v)
    }
}

/// How many bytes the start of a TLS-phase direction needs before it can be
/// classified; `None` when any length will do. Bounded by what the record
/// formats allow.
fn start_bytes_needed(dir: Direction, b: &[u8]) -> Option<usize> {
    let first = *b.first()?;
    if dir == Direction::ToServer && first & 0x80 != 0 {
        // SSLv2 record: 2-byte header with a 15-bit length.
        return Some(match b.get(1) {
            Some(&l) => 2 + ((usize::from(first & 0x7f) << 8) | usize::from(l)),
            None => 2,
        });
    }
    if dir == Direction::ToClient && first == b'E' {
        return Some(match pg::parse_pg_message_header(b) {
            Some(h) => 5 + (h.body_len as usize).min(MAX_STARTUP_BYTES),
            None if b.len() < 5 => 5,
            None => 0,
        });
    }
    Some(5)
}

fn pg_error(f: &pg::ErrorFields<'_>, frame: u64) -> PgError {
    let s = |b: Option<&[u8]>| b.map(crate::text::lossy);
    PgError {
        severity: s(f.severity_nonlocalized.or(f.severity)),
        code: s(f.code),
        message: s(f.message),
        frame,
    }
}

/// Takes one whole typed message with `tag` from the front of `buf`.
fn take_message(buf: &mut Vec<u8>, tag: u8) -> Option<Vec<u8>> {
    let h = pg::parse_pg_message_header(buf)?;
    if h.tag != tag || buf.len() < 5 + h.body_len as usize {
        return None;
    }
    let body = buf[5..5 + h.body_len as usize].to_vec();
    buf.drain(..5 + h.body_len as usize);
    Some(body)
}

/// Whether `tag` is the type of a message the side sending `dir` may send
/// (a frontend message to the server, a backend one to the client).
#[inline]
fn sent_by(dir: Direction, tag: u8) -> bool {
    match dir {
        Direction::ToServer => pg::is_frontend_tag(tag),
        Direction::ToClient => pg::is_backend_tag(tag),
    }
}

/// Do these bytes, sent `dir`, start with typed messages that parse back
/// to back?
fn messages_plausible(mut b: &[u8], dir: Direction) -> bool {
    let mut seen = 0;
    while let Some(h) = pg::parse_pg_message_header(b) {
        if !sent_by(dir, h.tag) || h.body_len > 64 * 1024 * 1024 {
            return false;
        }
        seen += 1;
        let end = 5 + h.body_len as usize;
        if end >= b.len() {
            // The last message may continue in the next segment.
            return true;
        }
        b = &b[end..];
        if seen > 64 {
            return true;
        }
    }
    seen > 0 && b.is_empty()
}

pub fn side_name(dir: Direction) -> &'static str {
    match dir {
        Direction::ToServer => "client",
        Direction::ToClient => "server",
    }
}

pub fn request_name(req: Request) -> &'static str {
    match req {
        Request::Ssl => "SSLRequest",
        Request::Gss => "GSSENCRequest",
    }
}

pub fn alert_label(desc: u8) -> String {
    let mut label = String::new();
    push_alert_label(desc, &mut label);
    label
}

/// Appends an alert's name and code, "protocol_version (70)", or its code
/// alone when it has none (written piece by piece: through `format!`, an
/// alert's evidence line took 1,700 instructions).
fn push_alert_label(desc: u8, out: &mut String) {
    let mut digits = itoa::Buffer::new();
    let code = digits.format(desc);
    match tls::alert_name(desc) {
        Some(name) => {
            for piece in [name, " (", code, ")"] {
                out.push_str(piece);
            }
        }
        None => out.push_str(code),
    }
}

fn printable_tag(b: u8) -> char {
    if b.is_ascii_graphic() {
        b as char
    } else {
        '?'
    }
}

/// What the client's first bytes look like when they are not PostgreSQL.
fn describe_client_first(b: &[u8]) -> String {
    const HTTP: [&[u8]; 8] = [
        b"GET ", b"POST", b"HEAD", b"PUT ", b"OPTI", b"DELE", b"CONN", b"PATC",
    ];
    if HTTP.iter().any(|m| b.starts_with(m)) {
        return "client sent an HTTP request".into();
    }
    if b.starts_with(b"SSH-") {
        return "client sent an SSH banner".into();
    }
    format!(
        "client's first bytes ({}) are not a PostgreSQL startup packet",
        hex_prefix(b)
    )
}

/// What a server that speaks first is, when known.
fn describe_server_first(b: &[u8]) -> String {
    if b.len() > 5 && b[3] == 0 && b[4] == 0x0a {
        return "server spoke first with a MySQL greeting".into();
    }
    if b.starts_with(b"SSH-") {
        return "server spoke first with an SSH banner".into();
    }
    if b.starts_with(b"HTTP/") {
        return "server spoke first with an HTTP response".into();
    }
    format!(
        "server spoke first ({}); a PostgreSQL server waits for the client",
        hex_prefix(b)
    )
}

fn hex_prefix(b: &[u8]) -> String {
    b.iter()
        .take(8)
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the first bytes a client sent on a connection say about PostgreSQL.
/// For following sessions on any port (`--any-port`): a connection becomes a
/// session when its client's first bytes are [`PgStart::Yes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgStart {
    /// A PostgreSQL startup packet, or a direct-TLS ClientHello offering
    /// ALPN "postgresql"; the text names which.
    Yes(&'static str),
    /// A prefix of one of those: wait for more bytes of the client's stream.
    NeedMore,
    No,
}

/// Largest client prefix [`recognise_pg_start`] asks for before it decides:
/// a whole StartupMessage (10004 bytes) or a TLS record of a ClientHello.
pub const MAX_PG_START_BYTES: usize = tls::MAX_RECORD_LEN + 5;

/// Recognises the start of a PostgreSQL session from the first bytes the
/// client sent (the TCP payload from the client's SYN on, reassembled):
/// SSLRequest, GSSENCRequest, CancelRequest, a protocol 3.x StartupMessage
/// whose parameters parse and name a user, or a TLS ClientHello offering
/// ALPN "postgresql" (PostgreSQL 17 direct TLS). Pure: no state, no I/O.
pub fn recognise_pg_start(first_client_bytes: &[u8]) -> PgStart {
    let b = first_client_bytes;
    let Some(&first) = b.first() else {
        return PgStart::NeedMore;
    };
    if first == tls::CONTENT_HANDSHAKE {
        return recognise_direct_tls(b);
    }
    // Every startup packet is at most 10004 bytes: its length word starts 00 00.
    if first != 0 || b.get(1).is_some_and(|x| *x != 0) {
        return PgStart::No;
    }
    let (len, code) = match pg::frame_pg_startup(b) {
        StartupFraming::NeedHeader => return PgStart::NeedMore,
        StartupFraming::Implausible { .. } => return PgStart::No,
        StartupFraming::Packet { len, code } => (len as usize, code),
    };
    match code {
        pg::SSL_REQUEST_CODE if len == 8 => PgStart::Yes("SSLRequest"),
        pg::GSSENC_REQUEST_CODE if len == 8 => PgStart::Yes("GSSENCRequest"),
        pg::CANCEL_REQUEST_CODE if (16..=pg::MAX_CANCEL_REQUEST_LEN as usize).contains(&len) => {
            PgStart::Yes("CancelRequest")
        }
        c if c >> 16 == 3 && c & 0xffff <= 0xff => {
            if b.len() < len {
                return PgStart::NeedMore;
            }
            match pg::parse_pg_startup_packet(&b[..len]) {
                Ok((_, StartupPacket::Startup { params, .. }))
                    if params.ends_with(&[0, 0])
                        && pg::startup_params(params).any(|(name, _)| name == b"user") =>
                {
                    PgStart::Yes("StartupMessage")
                }
                _ => PgStart::No,
            }
        }
        _ => PgStart::No,
    }
}

fn recognise_direct_tls(b: &[u8]) -> PgStart {
    if b.len() < 5 {
        return PgStart::NeedMore;
    }
    if !tls::looks_like_tls_record(b) {
        return PgStart::No;
    }
    let rec_len = usize::from(u16::from_be_bytes([b[3], b[4]]));
    let Some(rec) = b.get(5..5 + rec_len) else {
        return PgStart::NeedMore;
    };
    // The ClientHello must begin the record; one that spans records is
    // judged on its first record when that holds the extensions.
    if rec.first() != Some(&tls::HS_CLIENT_HELLO) || rec.len() < 4 {
        return PgStart::No;
    }
    let hs_len = (usize::from(rec[1]) << 16) | (usize::from(rec[2]) << 8) | usize::from(rec[3]);
    let body = &rec[4..rec.len().min(4 + hs_len)];
    match tls::parse_client_hello(body, u16::from_be_bytes([b[1], b[2]])) {
        Some(ch) if ch.alpn.iter().any(|p| p == "postgresql") => {
            PgStart::Yes("TLS ClientHello with ALPN postgresql (direct TLS)")
        }
        // Not a ClientHello, or one cut by the end of its record (more bytes
        // of the stream would not change what this record says).
        _ => PgStart::No,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod audit_facts_tests {
    use super::*;

    #[test]
    fn password_literals_are_masked_in_every_form() {
        let cases = [
            (
                "ALTER ROLE audit PASSWORD 'hunter2'",
                "ALTER ROLE audit PASSWORD '***'",
            ),
            (
                "create role x login encrypted password E'a''b\\'c' valid until 'infinity'",
                "create role x login encrypted password '***' valid until 'infinity'",
            ),
            (
                "alter user x with password $q$s3cret$q$;",
                "alter user x with password $$***$$;",
            ),
            (
                "select dblink_connect('host=db password=s3cret user=x')",
                "select dblink_connect('host=db password=*** user=x')",
            ),
            (
                "CREATE USER MAPPING FOR x SERVER s OPTIONS (user 'x', password 'p@ss')",
                "CREATE USER MAPPING FOR x SERVER s OPTIONS (user 'x', password '***')",
            ),
            // A literal the capture cut: masked to the end.
            (
                "ALTER ROLE a PASSWORD 'never-closed",
                "ALTER ROLE a PASSWORD '***'",
            ),
            // Not a literal after the word: left alone.
            (
                "select password_encryption from settings",
                "select password_encryption from settings",
            ),
            ("select 1", "select 1"),
        ];
        for (input, want) in cases {
            assert_eq!(mask_password_literals(input), want, "{input}");
        }
    }

    #[test]
    fn query_text_stops_at_nul_and_is_cut_after_masking() {
        assert_eq!(query_text(b"select 1\0"), "select 1");
        let long = format!("ALTER ROLE a PASSWORD '{}'\0", "x".repeat(300));
        let t = query_text(long.as_bytes());
        assert_eq!(t, "ALTER ROLE a PASSWORD '***'");
        let long = format!("select '{}'\0", "y".repeat(300));
        let t = query_text(long.as_bytes());
        assert_eq!(t.chars().count(), QUERY_TEXT_CHARS + 1);
        assert!(t.ends_with('…'));
        // Invalid UTF-8 is replaced, never a panic.
        assert_eq!(query_text(&[0xff, b'a', 0]), "\u{fffd}a");
    }

    #[test]
    fn sasl_mechanism_is_read_only_when_it_looks_like_a_name() {
        assert_eq!(
            sasl_mechanism(b"SCRAM-SHA-256\0\0\0\0\x20n,,n=,r=abc"),
            Some("SCRAM-SHA-256".into())
        );
        assert_eq!(sasl_mechanism(b"no terminator"), None);
        assert_eq!(sasl_mechanism(b"\0"), None);
        assert_eq!(sasl_mechanism(b"bad\x01name\0"), None);
    }

    #[test]
    fn query_texts_are_kept_only_inside_with_query_texts() {
        assert_eq!(Conversation::default().query_texts_wanted, 0);
        let n = Conversation::with_query_texts(3, || Conversation::default().query_texts_wanted);
        assert_eq!(n, 3);
        assert_eq!(
            Conversation::with_query_texts(100, || Conversation::default().query_texts_wanted),
            MAX_QUERY_TEXTS
        );
        assert_eq!(Conversation::default().query_texts_wanted, 0);
    }
}
