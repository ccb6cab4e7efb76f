//! TLS as a passive observer sees it: the record layer, handshake messages
//! reassembled across records and segments, ClientHello/ServerHello summaries
//! and alerts.
//!
//! Record framing, handshake reassembly and the hellos are decoded here. The
//! ClientHello, which every TLS session sends, goes straight into its
//! summary (through tls-parser's intermediate vectors it took ~14
//! allocations; the tests keep tls-parser's decoding as the oracle), and the
//! hellos of one client to one server share one summary, as do a server's
//! answers to them. Only a ServerHello's ALPN is read with tls-parser.

pub mod cert;
pub mod fingerprint;
mod shapes;

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use tls_parser::{parse_tls_server_hello_extension, TlsExtension};

/// Largest record a peer may send: 2^14 plaintext + 2048 expansion (RFC 5246 §6.2.3).
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;
/// Largest handshake message pgtls reassembles. A ClientHello is a few KB;
/// certificate chains stay far below this.
pub const MAX_HANDSHAKE_MSG_LEN: usize = 256 * 1024;

pub const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CONTENT_ALERT: u8 = 21;
pub const CONTENT_HANDSHAKE: u8 = 22;
pub const CONTENT_APPLICATION_DATA: u8 = 23;
pub const CONTENT_HEARTBEAT: u8 = 24;

pub const HS_CLIENT_HELLO: u8 = 1;
pub const HS_SERVER_HELLO: u8 = 2;
pub const HS_CERTIFICATE: u8 = 11;
pub const HS_SERVER_KEY_EXCHANGE: u8 = 12;

pub const EXT_SERVER_NAME: u16 = 0;
pub const EXT_SUPPORTED_GROUPS: u16 = 10;
pub const EXT_EC_POINT_FORMATS: u16 = 11;
pub const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
pub const EXT_ALPN: u16 = 16;
pub const EXT_SESSION_TICKET: u16 = 35;
pub const EXT_PRE_SHARED_KEY: u16 = 41;
pub const EXT_SUPPORTED_VERSIONS: u16 = 43;
pub const EXT_KEY_SHARE: u16 = 51;
pub const EXT_COOKIE: u16 = 44;
pub const EXT_ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;

/// SHA-256 of "HelloRetryRequest" (RFC 8446 §4.1.3): the random of an HRR.
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// A protocol version as on the wire. Open: an unknown code is a value to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TlsVersion(pub u16);

impl TlsVersion {
    pub const SSL_2_0: TlsVersion = TlsVersion(0x0002);
    pub const SSL_3_0: TlsVersion = TlsVersion(0x0300);
    pub const TLS_1_0: TlsVersion = TlsVersion(0x0301);
    pub const TLS_1_1: TlsVersion = TlsVersion(0x0302);
    pub const TLS_1_2: TlsVersion = TlsVersion(0x0303);
    pub const TLS_1_3: TlsVersion = TlsVersion(0x0304);

    /// GREASE values (RFC 8701) look like 0x?a?a.
    pub fn is_grease(self) -> bool {
        is_grease(self.0)
    }

    /// Orders versions by age: SSLv2's code 0x0002 sorts below SSLv3, and
    /// TLS 1.3 drafts (0x7fNN) between TLS 1.2 and TLS 1.3.
    pub fn rank(self) -> u32 {
        match self.0 {
            0x0002 => 0x0200 << 8,
            v @ 0x7f00..=0x7fff => (0x0303 << 8) | 0x80 | u32::from(v & 0x7f),
            v => u32::from(v) << 8,
        }
    }

    /// The name PostgreSQL's `ssl_min_protocol_version` uses, with SSL versions added.
    /// Written out only for drafts and unknown values: a session's report
    /// names versions several times.
    pub fn name(self) -> std::borrow::Cow<'static, str> {
        match self.0 {
            0x0002 => "SSLv2".into(),
            0x0300 => "SSLv3".into(),
            0x0301 => "TLSv1.0".into(),
            0x0302 => "TLSv1.1".into(),
            0x0303 => "TLSv1.2".into(),
            0x0304 => "TLSv1.3".into(),
            0x7f00..=0x7fff => format!("TLSv1.3-draft{}", self.0 & 0xff).into(),
            v => format!("0x{v:04x}").into(),
        }
    }
}

/// The first bytes of a ServerKeyExchange (up to four), held in place
/// rather than in an allocation of their own.
pub type KeyExchangeStart = HeldBytes<4>;

/// tls-parser's description of cipher suite `id`. Its table is a perfect
/// hash keyed by SipHash (about 150 instructions a lookup, and a session's
/// report looks up its cipher up to four times); this map of the same
/// entries is built once.
pub fn cipher_suite(id: u16) -> Option<&'static tls_parser::TlsCipherSuite> {
    static BY_ID: std::sync::OnceLock<
        rustc_hash::FxHashMap<u16, &'static tls_parser::TlsCipherSuite>,
    > = std::sync::OnceLock::new();
    BY_ID
        .get_or_init(|| {
            tls_parser::CIPHERS
                .entries()
                .map(|(k, v)| (*k, v))
                .collect()
        })
        .get(&id)
        .copied()
}

pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// What a ClientHello offered, but for its legacy_session_id, which
/// [`TlsEvent::ClientHello`] carries beside it: everything here is alike in
/// the hellos one client library sends to one server, and they share one
/// copy ([`shared_client_hello`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientHelloInfo {
    /// Record-layer version of the record that carried the hello.
    pub record_version: u16,
    pub legacy_version: u16,
    /// supported_versions in order, GREASE included (for fingerprints).
    pub supported_versions: Vec<u16>,
    pub ciphers: Vec<u16>,
    /// Extension types in the order sent, GREASE included.
    pub extensions: Vec<u16>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    /// The first ALPN protocol as sent (JA4 reads its bytes).
    pub alpn_first_raw: Option<Vec<u8>>,
    pub groups: Vec<u16>,
    /// Groups of the key shares sent (TLS 1.3), in order, GREASE included.
    pub key_share_groups: Vec<u16>,
    /// Length of the session_ticket extension's data (a ticket offered for
    /// resumption when not zero).
    pub session_ticket_len: Option<usize>,
    pub ec_point_formats: Vec<u8>,
    pub signature_algorithms: Vec<u16>,
    /// Sent in the SSLv2 record format (scanners, very old clients).
    pub sslv2_format: bool,
    /// JA3 and JA4, made the first time a report asks
    /// ([`fingerprint::client_fingerprints`]): once for all the sessions
    /// that share the hello.
    pub fingerprints: Derived<fingerprint::ClientFingerprints>,
}

impl ClientHelloInfo {
    /// Versions offered, newest first, GREASE removed.
    pub fn offered_versions(&self) -> Vec<TlsVersion> {
        let mut v: Vec<TlsVersion> = if self.supported_versions.is_empty() {
            // Without supported_versions a client offers everything from its
            // legacy_version down to what it accepts; the range's floor is not
            // on the wire, so only the top is reported.
            vec![TlsVersion(self.legacy_version)]
        } else {
            self.supported_versions
                .iter()
                .copied()
                .filter(|v| !is_grease(*v))
                .map(TlsVersion)
                .collect()
        };
        v.sort_by_key(|v| std::cmp::Reverse(v.rank()));
        v.dedup();
        v
    }

    /// The highest version offered: max of supported_versions without GREASE
    /// when present, else legacy_version.
    pub fn max_version(&self) -> TlsVersion {
        // The first of [`Self::offered_versions`], without building the
        // list (judging and the table ask for it once a session each): the
        // first version of the highest rank.
        let mut best: Option<TlsVersion> = None;
        for v in self
            .supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
        {
            let v = TlsVersion(v);
            if best.is_none_or(|b| v.rank() > b.rank()) {
                best = Some(v);
            }
        }
        best.unwrap_or(TlsVersion(self.legacy_version))
    }
}

/// What a ServerHello selected, but for its session id, which
/// [`TlsEvent::ServerHello`] carries beside it: alike in a server's answers
/// to one client library, which share one copy ([`shared_server_hello`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ServerHelloInfo {
    pub legacy_version: u16,
    /// supported_versions when present, else legacy_version.
    pub selected_version: u16,
    pub cipher: u16,
    pub extensions: Vec<u16>,
    pub alpn: Option<String>,
    pub key_share_group: Option<u16>,
    pub session_id_len: u8,
    pub hello_retry_request: bool,
    /// JA3S, made the first time a report asks ([`fingerprint::ja3s`]).
    pub ja3s: Derived<String>,
}

impl ServerHelloInfo {
    /// A TLS 1.3 server accepted a pre-shared key (resumption or external PSK).
    pub fn psk_accepted(&self) -> bool {
        self.extensions.contains(&EXT_PRE_SHARED_KEY)
    }
}

/// A value computed from the rest of a struct, the first time it is asked
/// for: not part of what the struct is. It compares equal and hashes to
/// nothing, and a clone starts without it (a clone may be changed).
pub struct Derived<T>(std::sync::OnceLock<T>);

impl<T> Default for Derived<T> {
    fn default() -> Self {
        Derived(std::sync::OnceLock::new())
    }
}

impl<T> Derived<T> {
    pub fn get_or_init(&self, make: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(make)
    }
}

impl<T> Clone for Derived<T> {
    fn clone(&self) -> Self {
        Derived::default()
    }
}

impl<T> PartialEq for Derived<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Derived<T> {}

impl<T> std::hash::Hash for Derived<T> {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl<T> fmt::Debug for Derived<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Derived")
    }
}

/// A hello's legacy_session_id, held in place: at most 32 bytes
/// (RFC 8446 §4.1.2), and a TLS 1.3 client sends 32 random ones in every
/// hello, so a vector took an allocation per hello.
pub type SessionId = HeldBytes<32>;

/// Up to `N` bytes of a message, held in place rather than in an
/// allocation: a hello's session id, a ServerKeyExchange's start.
///
/// Its bytes come first and its length last (`repr(C)`), and `N` bytes are
/// copied whole: a hello's event, moved into the stream's event list as
/// soon as it is made, then reads its id with wide loads that the stores
/// of a copy of varying length and of the length byte before it could not
/// forward (a quarter of the record decoder's samples).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct HeldBytes<const N: usize> {
    /// Zero past `len`, so that the derived comparisons compare the bytes.
    bytes: [u8; N],
    len: u8,
}

impl<const N: usize> HeldBytes<N> {
    /// The first `N` bytes of `b` (all of a shorter one).
    pub fn new(b: &[u8]) -> Self {
        const { assert!(N <= u8::MAX as usize, "the length is a byte") };
        let b = &b[..b.len().min(N)];
        let bytes = match <[u8; N]>::try_from(b) {
            Ok(whole) => whole,
            Err(_) => {
                let mut bytes = [0; N];
                bytes[..b.len()].copy_from_slice(b);
                bytes
            }
        };
        HeldBytes {
            bytes,
            len: b.len() as u8,
        }
    }
}

impl<const N: usize> Default for HeldBytes<N> {
    fn default() -> Self {
        HeldBytes {
            bytes: [0; N],
            len: 0,
        }
    }
}

impl<const N: usize> std::ops::Deref for HeldBytes<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The bytes in hex.
impl<const N: usize> fmt::Debug for HeldBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HeldBytes(")?;
        for b in self.iter() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// An alert as seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Alert {
    pub level: u8,
    pub description: u8,
}

impl Alert {
    pub fn is_fatal(self) -> bool {
        self.level == 2
    }
}

/// Name of an alert description (RFC 8446 §6, RFC 5246 §7.2).
pub fn alert_name(desc: u8) -> Option<&'static str> {
    Some(match desc {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return None,
    })
}

/// Name of a key exchange group (IANA "TLS Supported Groups"; the
/// post-quantum hybrids from draft-ietf-tls-ecdhe-mlkem and the earlier
/// Kyber drafts).
pub fn group_name(group: u16) -> Option<&'static str> {
    Some(match group {
        0x0017 => "secp256r1",
        0x0018 => "secp384r1",
        0x0019 => "secp521r1",
        0x001a => "brainpoolP256r1",
        0x001b => "brainpoolP384r1",
        0x001c => "brainpoolP512r1",
        0x001d => "x25519",
        0x001e => "x448",
        0x001f => "brainpoolP256r1tls13",
        0x0020 => "brainpoolP384r1tls13",
        0x0021 => "brainpoolP512r1tls13",
        0x0100 => "ffdhe2048",
        0x0101 => "ffdhe3072",
        0x0102 => "ffdhe4096",
        0x0103 => "ffdhe6144",
        0x0104 => "ffdhe8192",
        0x0200 => "MLKEM512",
        0x0201 => "MLKEM768",
        0x0202 => "MLKEM1024",
        0x11eb => "SecP256r1MLKEM768",
        0x11ec => "X25519MLKEM768",
        0x11ed => "SecP384r1MLKEM1024",
        0x6399 => "X25519Kyber768Draft00",
        0x639a => "SecP256r1Kyber768Draft00",
        _ => return None,
    })
}

/// A group's name, `GREASE` for RFC 8701 values, or its hex code.
pub fn group_label(group: u16) -> std::borrow::Cow<'static, str> {
    match group_name(group) {
        Some(n) => n.into(),
        None if is_grease(group) => format!("GREASE (0x{group:04x})").into(),
        None => format!("0x{group:04x}").into(),
    }
}

pub const ALERT_HANDSHAKE_FAILURE: u8 = 40;
pub const ALERT_PROTOCOL_VERSION: u8 = 70;
pub const ALERT_CLOSE_NOTIFY: u8 = 0;

/// Something the record layer found, in stream order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TlsEvent {
    /// The hello, shared with the other hellos of its shape, and its
    /// legacy_session_id (TLS 1.3 clients send a random one for middlebox
    /// compatibility; TLS 1.2 clients send one to resume).
    ClientHello(Arc<ClientHelloInfo>, SessionId),
    /// The hello, shared as the ClientHello's is, and the session id the
    /// server chose (up to 32 bytes).
    ServerHello(Arc<ServerHelloInfo>, SessionId),
    /// A Certificate message sent in clear (TLS 1.2 and older): its body's
    /// length and, when the stream decodes it
    /// ([`TlsStream::decode_certificate`]), the chain it holds, decoded
    /// where the body lies ([`cert::parse_certificate_chain_cached`]: shared
    /// with the sessions that saw the same chain; a copy of the body for
    /// the session to decode later cost an allocation and a copy of its
    /// kilobytes).
    Certificate {
        bytes: usize,
        chain: Option<Arc<cert::CertChain>>,
    },
    /// A ServerKeyExchange in clear (TLS 1.2 and older): its first four
    /// bytes, which name the ECDHE group or give the DH prime's length (and
    /// stop before the ephemeral key, so that sessions of one server look
    /// alike).
    ServerKeyExchange {
        params: KeyExchangeStart,
    },
    /// Another handshake message in clear.
    Handshake {
        msg_type: u8,
    },
    ChangeCipherSpec,
    /// An alert record readable on the wire.
    Alert(Alert),
    /// An alert record that is already encrypted (its length is not 2).
    EncryptedAlert,
    /// Encrypted handshake data or application data.
    ApplicationData,
    /// Bytes that are not a TLS record: `what` says why.
    Malformed {
        what: &'static str,
    },
}

/// Header of a TLS record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    pub content_type: u8,
    pub version: u16,
    pub len: u16,
}

/// Reads a record header; `None` with fewer than 5 bytes.
pub fn parse_tls_record_header(i: &[u8]) -> Option<RecordHeader> {
    if i.len() < 5 {
        return None;
    }
    Some(RecordHeader {
        content_type: i[0],
        version: u16::from_be_bytes([i[1], i[2]]),
        len: u16::from_be_bytes([i[3], i[4]]),
    })
}

/// Does this look like the start of a TLS record (used to recognise direct
/// TLS and sessions first seen mid-stream)?
pub fn looks_like_tls_record(i: &[u8]) -> bool {
    match parse_tls_record_header(i) {
        Some(h) => {
            (CONTENT_CHANGE_CIPHER_SPEC..=CONTENT_HEARTBEAT).contains(&h.content_type)
                && (h.version >> 8) == 3
                && (h.version & 0xff) <= 4
                && h.len as usize <= MAX_RECORD_LEN
                && h.len > 0
        }
        None => false,
    }
}

/// Does this look like an SSLv2-format ClientHello (2-byte header with the
/// high bit set, message type 1)?
pub fn looks_like_sslv2_client_hello(i: &[u8]) -> bool {
    i.len() >= 5 && i[0] & 0x80 != 0 && i[2] == 1 && (i[3] == 0x00 || i[3] == 0x03)
}

/// Parses an SSLv2-format ClientHello record (header included). Returns the
/// hello and the record length consumed.
pub fn parse_sslv2_client_hello(i: &[u8]) -> Option<(ClientHelloInfo, usize)> {
    if i.len() < 2 || i[0] & 0x80 == 0 {
        return None;
    }
    let len = (usize::from(i[0] & 0x7f) << 8) | usize::from(i[1]);
    let body = i.get(2..2 + len)?;
    if body.len() < 9 || body[0] != 1 {
        return None;
    }
    let version = u16::from_be_bytes([body[1], body[2]]);
    let spec_len = usize::from(u16::from_be_bytes([body[3], body[4]]));
    let specs = body.get(9..9 + spec_len)?;
    let ciphers = specs
        .chunks_exact(3)
        .map(|c| {
            // SSLv2 specs are 3 bytes; TLS suites appear as 00 XX YY.
            if c[0] == 0 {
                u16::from_be_bytes([c[1], c[2]])
            } else {
                (u16::from(c[0]) << 8) | u16::from(c[2])
            }
        })
        .collect();
    Some((
        ClientHelloInfo {
            record_version: 0x0002,
            legacy_version: version,
            ciphers,
            sslv2_format: true,
            ..Default::default()
        },
        2 + len,
    ))
}

/// Hellos longer than this are decoded every time, not kept: the cache
/// then holds at most [`SHAPES_CACHED`] times this many bytes of keys.
const LONGEST_HELLO_CACHED: usize = 2048;

/// Shapes a per-thread cache of the hello decoder holds before it is
/// emptied.
const SHAPES_CACHED: usize = 1024;

/// A per-thread cache of what was decoded from a shape's bytes.
type Shapes<V> = RefCell<shapes::ShapeCache<V>>;

thread_local! {
    static CLIENT_HELLOS: Shapes<Option<Arc<ClientHelloInfo>>> = Default::default();
    static SERVER_HELLOS: Shapes<Option<Arc<ServerHelloInfo>>> = Default::default();
    static HELLO_KEY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What `compute` gives for this `shape`, computed once per shape per
/// thread; the cache is emptied when it holds [`SHAPES_CACHED`].
fn by_shape<V: Clone>(
    cache: &'static std::thread::LocalKey<Shapes<V>>,
    shape: &[u8],
    compute: impl FnOnce() -> V,
) -> V {
    cache.with(|c| c.borrow_mut().get_or(shape, SHAPES_CACHED, compute))
}

/// [`parse_client_hello`], decoded once per thread for all the hellos
/// that differ only in what changes from one connection to the next
/// ([`client_hello_key`]). The hellos of one client library are alike but
/// for those: their ~14 vectors and strings are made once.
pub fn shared_client_hello(body: &[u8], record_version: u16) -> Option<Arc<ClientHelloInfo>> {
    if body.len() > LONGEST_HELLO_CACHED {
        return parse_client_hello(body, record_version).map(Arc::new);
    }
    HELLO_KEY.with(|key| {
        let mut key = key.borrow_mut();
        client_hello_key(body, record_version, &mut key);
        by_shape(&CLIENT_HELLOS, &key, || {
            parse_client_hello(body, record_version).map(Arc::new)
        })
    })
}

/// [`parse_server_hello`], decoded once per thread for all the hellos that
/// differ only in what changes from one connection to the next: the
/// random (unless it marks a HelloRetryRequest), the session id, the key
/// share's key, a pre-shared key's index and a cookie.
pub fn shared_server_hello(body: &[u8]) -> Option<Arc<ServerHelloInfo>> {
    if body.len() > LONGEST_HELLO_CACHED {
        return parse_server_hello(body).map(Arc::new);
    }
    HELLO_KEY.with(|key| {
        let mut key = key.borrow_mut();
        server_hello_key(body, &mut key);
        by_shape(&SERVER_HELLOS, &key, || {
            parse_server_hello(body).map(Arc::new)
        })
    })
}

/// The session id of a ServerHello body (its first 32 bytes; empty when
/// the body is too short to hold it).
pub fn server_hello_session_id(body: &[u8]) -> SessionId {
    let id = body
        .get(34)
        .and_then(|&len| body.get(35..35 + usize::from(len).min(32)));
    SessionId::new(id.unwrap_or_default())
}

/// A ServerHello body as [`shared_server_hello`] files it: the body with
/// the bytes named there set to zero, found as [`parse_server_hello`]
/// walks the body, so that two bodies with one key decode alike.
fn server_hello_key(body: &[u8], key: &mut Vec<u8>) {
    key.clear();
    key.extend_from_slice(body);
    if body.get(2..34) != Some(&HRR_RANDOM[..]) {
        blank(key, 2, 34);
    }
    let Some(&sid_len) = body.get(34) else {
        return;
    };
    let p = 35 + usize::from(sid_len);
    blank(key, 35, p);
    // After the cipher and compression method, as parse_server_hello reads
    // the extensions (the rest of the body when their length overruns it).
    let Some(len) = body.get(p + 3..p + 5) else {
        return;
    };
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    let exts = body.get(p + 5..p + 5 + len).unwrap_or(&body[p + 5..]);
    for (ext_type, raw) in raw_extensions(exts) {
        let at = raw.as_ptr() as usize - body.as_ptr() as usize + 4;
        let data = &raw[4..];
        match ext_type {
            // The group is read, the key is not.
            EXT_KEY_SHARE => blank(key, at + 2, at + data.len()),
            EXT_PRE_SHARED_KEY | EXT_COOKIE => blank(key, at, at + data.len()),
            _ => {}
        }
    }
}

/// The legacy_session_id of a ClientHello body that
/// [`parse_client_hello`] decodes (empty when it does not).
pub fn client_hello_session_id(body: &[u8]) -> SessionId {
    let id = body
        .get(34)
        .and_then(|&len| body.get(35..35 + usize::from(len)));
    SessionId::new(id.unwrap_or_default())
}

/// Sets `k[from..to]` to zero, as much of it as `k` holds.
fn blank(k: &mut [u8], from: usize, to: usize) {
    let to = to.min(k.len());
    if from < to {
        k[from..to].fill(0);
    }
}

/// A ClientHello body as [`shared_client_hello`] files it: the record
/// version, then the body with every byte that [`parse_client_hello`]
/// does not read, or reads only the length of, set to zero where it is
/// per connection: the random, the session id, the keys of the key
/// shares, the data of a ticket, a pre-shared key (identities and
/// binders), a cookie and an encrypted ClientHello. Where those lie is
/// found from bytes kept, so two bodies with one key differ only in
/// bytes the decoder does not look at, and decode alike.
fn client_hello_key(body: &[u8], record_version: u16, key: &mut Vec<u8>) {
    key.clear();
    key.extend_from_slice(&record_version.to_be_bytes());
    key.extend_from_slice(body);
    let k = &mut key[2..];
    blank(k, 2, 34);
    let Some(&sid_len) = body.get(34) else {
        return;
    };
    let ciphers_at = 35 + usize::from(sid_len);
    blank(k, 35, ciphers_at);
    let mut r = Reader(body.get(ciphers_at..).unwrap_or_default());
    let (Some(_ciphers), Some(_compression), Some(exts)) = (r.vec16(), r.vec8(), r.vec16()) else {
        return;
    };
    for (ext_type, raw) in raw_extensions(exts) {
        // Where the extension's data lies in `body`.
        let at = raw.as_ptr() as usize - body.as_ptr() as usize + 4;
        let data = &raw[4..];
        match ext_type {
            EXT_KEY_SHARE => {
                // (group, key length, key) entries after a list length, as
                // key_share_groups walks them.
                let mut e = 2;
                while let Some(h) = data.get(e..e + 4) {
                    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
                    blank(k, at + e + 4, (at + e + 4 + len).min(at + data.len()));
                    e += 4 + len;
                }
            }
            EXT_SESSION_TICKET | EXT_PRE_SHARED_KEY | EXT_COOKIE | EXT_ENCRYPTED_CLIENT_HELLO => {
                blank(k, at, at + data.len());
            }
            _ => {}
        }
    }
}

/// Decodes a ClientHello body (after the 4-byte handshake header).
pub fn parse_client_hello(body: &[u8], record_version: u16) -> Option<ClientHelloInfo> {
    let mut r = Reader(body);
    let legacy_version = r.u16()?;
    r.take(32)?; // random
    let sid_len = r.u8()?;
    if sid_len > 32 {
        return None;
    }
    r.take(usize::from(sid_len))?;
    let ciphers_len = usize::from(r.u16()?);
    if ciphers_len % 2 == 1 {
        return None;
    }
    let ciphers = r.take(ciphers_len)?;
    let compression_len = usize::from(r.u8()?);
    r.take(compression_len)?;
    // No extensions block, or one cut short: a hello without extensions.
    let exts = r.vec16().unwrap_or(&[]);
    let mut info = ClientHelloInfo {
        record_version,
        legacy_version,
        ciphers: be_u16s(ciphers).collect(),
        extensions: Vec::with_capacity(raw_extensions(exts).count()),
        ..Default::default()
    };
    // An extension that does not decode leaves what an earlier one of its
    // type gave; the last that decodes wins.
    for (ext_type, raw) in raw_extensions(exts) {
        info.extensions.push(ext_type);
        let data = &raw[4..];
        match ext_type {
            EXT_SERVER_NAME => {
                if let Some(sni) = server_name(data) {
                    info.sni = sni;
                }
            }
            EXT_ALPN => {
                info.alpn_first_raw = alpn_first(data);
                if let Some(list) = Reader(data).vec16() {
                    let mut r = Reader(list);
                    info.alpn = std::iter::from_fn(|| r.vec8())
                        .map(crate::text::lossy)
                        .collect();
                }
            }
            EXT_SUPPORTED_VERSIONS => {
                if let Some(v) = supported_versions(data) {
                    info.supported_versions = v;
                }
            }
            EXT_SUPPORTED_GROUPS => {
                if let Some(list) = Reader(data).vec16().filter(|l| l.len() % 2 == 0) {
                    info.groups = be_u16s(list).collect();
                }
            }
            EXT_EC_POINT_FORMATS => {
                if let Some(list) = Reader(data).vec8() {
                    info.ec_point_formats = list.to_vec();
                }
            }
            EXT_SIGNATURE_ALGORITHMS => {
                if let Some(list) = Reader(data).vec16() {
                    info.signature_algorithms = be_u16s(list).collect();
                }
            }
            EXT_KEY_SHARE => info.key_share_groups = key_share_groups(data),
            EXT_SESSION_TICKET => info.session_ticket_len = Some(data.len()),
            _ => {}
        }
    }
    Some(info)
}

/// The ClientHello decoder pgtls used before its own, on tls-parser: the
/// oracle the tests and the `tls_stream` fuzz target check
/// [`parse_client_hello`] against. Not part of pgtls's interface.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod oracle {
    use super::{alpn_first, key_share_groups, raw_extensions, ClientHelloInfo};
    use super::{EXT_ALPN, EXT_KEY_SHARE, EXT_SESSION_TICKET};
    use tls_parser::TlsExtension;

    pub fn parse_client_hello_with_tls_parser(
        body: &[u8],
        record_version: u16,
    ) -> Option<ClientHelloInfo> {
        use tls_parser::{parse_tls_client_hello_extension, parse_tls_handshake_client_hello};
        let (_, ch) = parse_tls_handshake_client_hello(body).ok()?;
        let mut info = ClientHelloInfo {
            record_version,
            legacy_version: ch.version.0,
            ciphers: ch.ciphers.iter().map(|c| c.0).collect(),
            ..Default::default()
        };
        for (ext_type, raw) in raw_extensions(ch.ext.unwrap_or(&[])) {
            info.extensions.push(ext_type);
            let data = &raw[4..];
            match ext_type {
                EXT_KEY_SHARE => info.key_share_groups = key_share_groups(data),
                EXT_SESSION_TICKET => info.session_ticket_len = Some(data.len()),
                EXT_ALPN => info.alpn_first_raw = alpn_first(data),
                _ => {}
            }
            match parse_tls_client_hello_extension(raw) {
                Ok((_, TlsExtension::SNI(names))) => {
                    info.sni = names.first().map(|(_, n)| crate::text::lossy(n));
                }
                Ok((_, TlsExtension::ALPN(protos))) => {
                    info.alpn = protos.iter().map(|p| crate::text::lossy(p)).collect();
                }
                Ok((_, TlsExtension::SupportedVersions(v))) => {
                    info.supported_versions = v.iter().map(|v| v.0).collect();
                }
                Ok((_, TlsExtension::EllipticCurves(g))) => {
                    info.groups = g.iter().map(|g| g.0).collect();
                }
                Ok((_, TlsExtension::EcPointFormats(f))) => info.ec_point_formats = f.to_vec(),
                Ok((_, TlsExtension::SignatureAlgorithms(s))) => info.signature_algorithms = s,
                _ => {}
            }
        }
        Some(info)
    }
}

/// Big-endian fields read off the front of a hello, in the TLS
/// presentation language's layout; `None` when the bytes run out.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// A vector with a one-byte length.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// A vector with a two-byte length.
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// The 16-bit values of `b`, an odd last byte left out.
fn be_u16s(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]))
}

/// The server_name extension: `Some(name)` of its first entry (`Some(None)`
/// for an empty extension or list), `None` when it does not decode.
fn server_name(data: &[u8]) -> Option<Option<String>> {
    if data.is_empty() {
        return Some(None);
    }
    let mut list = Reader(Reader(data).vec16()?);
    let first = list.u8().and_then(|_name_type| list.vec16());
    Some(first.map(crate::text::lossy))
}

/// The supported_versions extension as tls-parser reads it from a hello:
/// two bytes are one version; otherwise a length byte (not checked) then
/// the versions, which must fill the rest evenly.
fn supported_versions(data: &[u8]) -> Option<Vec<u16>> {
    if data.len() == 2 {
        return Some(vec![u16::from_be_bytes([data[0], data[1]])]);
    }
    let versions = data.get(1..)?;
    (versions.len() % 2 == 0).then(|| be_u16s(versions).collect())
}

/// Decodes a ServerHello body (after the 4-byte handshake header). Parsed by
/// hand: tls-parser refuses legacy versions it does not know, and an observer
/// must report whatever the server picked.
pub fn parse_server_hello(body: &[u8]) -> Option<ServerHelloInfo> {
    let legacy_version = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
    let random = body.get(2..34)?;
    let sid_len = *body.get(34)?;
    body.get(35..35 + usize::from(sid_len).min(32))?;
    let mut p = 35 + usize::from(sid_len);
    let cipher = u16::from_be_bytes([*body.get(p)?, *body.get(p + 1)?]);
    p += 3; // cipher + compression method
    let mut info = ServerHelloInfo {
        legacy_version,
        selected_version: legacy_version,
        cipher,
        session_id_len: sid_len,
        hello_retry_request: random == HRR_RANDOM,
        ..Default::default()
    };
    if let Some(len) = body.get(p..p + 2) {
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let exts = body.get(p + 2..p + 2 + len).unwrap_or(&body[p + 2..]);
        for (ext_type, raw) in raw_extensions(exts) {
            info.extensions.push(ext_type);
            let data = &raw[4..];
            match ext_type {
                EXT_SUPPORTED_VERSIONS if data.len() == 2 => {
                    info.selected_version = u16::from_be_bytes([data[0], data[1]]);
                }
                EXT_KEY_SHARE if data.len() >= 2 => {
                    info.key_share_group = Some(u16::from_be_bytes([data[0], data[1]]));
                }
                EXT_ALPN => {
                    if let Ok((_, TlsExtension::ALPN(p))) = parse_tls_server_hello_extension(raw) {
                        info.alpn = p.first().map(|p| crate::text::lossy(p));
                    }
                }
                _ => {}
            }
        }
    }
    Some(info)
}

/// Groups of a ClientHello key_share extension: a 2-byte list length, then
/// (group, 2-byte key length, key) entries. Stops at the first entry cut short.
fn key_share_groups(data: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    let Some(list) = data.get(2..) else {
        return out;
    };
    let mut p = 0;
    while let Some(h) = list.get(p..p + 4) {
        out.push(u16::from_be_bytes([h[0], h[1]]));
        p += 4 + usize::from(u16::from_be_bytes([h[2], h[3]]));
    }
    out
}

/// The first protocol of an ALPN extension: a 2-byte list length, then
/// (1-byte length, name) entries.
fn alpn_first(data: &[u8]) -> Option<Vec<u8>> {
    let len = usize::from(*data.get(2)?);
    data.get(3..3 + len).map(<[u8]>::to_vec)
}

/// Splits an extensions block into (type, whole extension with its 4-byte
/// header). Stops at the first extension that runs past the block.
pub fn raw_extensions(mut exts: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if exts.len() < 4 {
            return None;
        }
        let ext_type = u16::from_be_bytes([exts[0], exts[1]]);
        let len = usize::from(u16::from_be_bytes([exts[2], exts[3]]));
        let whole = exts.get(..4 + len)?;
        exts = &exts[4 + len..];
        Some((ext_type, whole))
    })
}

/// Reads `data` on from what `held` keeps of earlier bytes: where it lies
/// when nothing is held (the usual case: whole records, whole handshake
/// messages), appended to `held` otherwise. `read` returns how many bytes
/// it used; the rest stays in `held` for the next bytes.
fn read_on(held: &mut Vec<u8>, data: &[u8], mut read: impl FnMut(&[u8]) -> usize) {
    if held.is_empty() {
        let used = read(data);
        held.extend_from_slice(&data[used..]);
    } else {
        held.extend_from_slice(data);
        let used = read(held);
        held.drain(..used);
    }
}

/// One direction of a TLS conversation: frames records, reassembles handshake
/// messages, and reports [`TlsEvent`]s. Application data is skipped without
/// being buffered.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct TlsStream {
    /// Bytes of a record header or of a record body still incomplete.
    pending: Vec<u8>,
    /// Bytes of a record body to skip (application data).
    skip: usize,
    /// Handshake bytes across records, until a whole message is present.
    handshake: Vec<u8>,
    /// This direction sent ChangeCipherSpec: later handshake records are encrypted.
    pub cipher_changed: bool,
    /// The stream stopped being TLS; nothing more is parsed.
    pub broken: bool,
    /// TLS 1.3 was chosen (ServerHello or HelloRetryRequest): ChangeCipherSpec
    /// is a compatibility no-op and type-22/21 records stay in clear.
    pub tls13: bool,
    /// Lost sync after a gap: wait for a segment that starts with a record header.
    pub resync: bool,
    pub records: u32,
    /// Bytes fed so far (an SSLv2-format hello can only be the first bytes).
    pub bytes_fed: u64,
    /// The next Certificate message in clear is decoded: set on a server's
    /// stream, whose first chain is what a session shows. Later ones, and
    /// a client's, are only measured.
    pub decode_certificate: bool,
}

impl TlsStream {
    /// A server's stream: its first Certificate message in clear is decoded.
    pub fn of_server() -> Self {
        TlsStream {
            decode_certificate: true,
            ..TlsStream::default()
        }
    }

    /// Stops parsing and frees the buffers; counters stay.
    pub fn release(&mut self) {
        self.pending = Vec::new();
        self.handshake = Vec::new();
        self.skip = 0;
        self.broken = true;
    }

    /// The stream lost `len` bytes. Inside application data being skipped
    /// that costs nothing; otherwise partial records are dropped and the
    /// stream resyncs on the next segment that starts with a record header.
    pub fn gap(&mut self, len: u64) {
        if self.pending.is_empty() && self.skip as u64 >= len && !self.resync {
            self.skip -= len as usize;
            return;
        }
        self.pending.clear();
        self.handshake.clear();
        self.skip = 0;
        self.resync = true;
    }

    /// Feeds the next bytes of this direction; events are appended to `out`.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<TlsEvent>) {
        self.bytes_fed += data.len() as u64;
        if self.broken {
            return;
        }
        if self.resync {
            if !looks_like_tls_record(data) {
                return;
            }
            self.resync = false;
        }
        let n = self.skip.min(data.len());
        self.skip -= n;
        data = &data[n..];
        if data.is_empty() {
            return;
        }
        let mut buf = std::mem::take(&mut self.pending);
        read_on(&mut buf, data, |bytes| self.records_in(bytes, out));
        if !self.broken && self.skip == 0 {
            // At most one partial record (bounded by MAX_RECORD_LEN) is kept.
            self.pending = buf;
        }
    }

    /// Parses whole records from `data`; returns the bytes used. A trailing
    /// partial record is left to the caller, except application data whose
    /// remainder is turned into a skip count.
    fn records_in(&mut self, data: &[u8], out: &mut Vec<TlsEvent>) -> usize {
        let mut p = 0;
        while let Some(h) = parse_tls_record_header(&data[p..]) {
            if !(CONTENT_CHANGE_CIPHER_SPEC..=CONTENT_HEARTBEAT).contains(&h.content_type)
                || h.version >> 8 != 3
                || usize::from(h.len) > MAX_RECORD_LEN
            {
                self.broken = true;
                out.push(TlsEvent::Malformed {
                    what: "bytes that are not a TLS record",
                });
                return data.len();
            }
            let end = p + 5 + usize::from(h.len);
            if end > data.len() {
                if h.content_type == CONTENT_APPLICATION_DATA {
                    self.records += 1;
                    out.push(TlsEvent::ApplicationData);
                    self.skip = end - data.len();
                    return data.len();
                }
                break;
            }
            self.records += 1;
            self.record(h, &data[p + 5..end], out);
            p = end;
            if self.broken {
                return data.len();
            }
        }
        p
    }

    fn record(&mut self, h: RecordHeader, body: &[u8], out: &mut Vec<TlsEvent>) {
        match h.content_type {
            CONTENT_CHANGE_CIPHER_SPEC => {
                self.cipher_changed = true;
                out.push(TlsEvent::ChangeCipherSpec);
            }
            CONTENT_ALERT => {
                if body.len() == 2 && (!self.cipher_changed || self.tls13) {
                    out.push(TlsEvent::Alert(Alert {
                        level: body[0],
                        description: body[1],
                    }));
                } else {
                    out.push(TlsEvent::EncryptedAlert);
                }
            }
            CONTENT_HANDSHAKE if !self.cipher_changed || self.tls13 => {
                if self.handshake.len() + body.len() > MAX_HANDSHAKE_MSG_LEN + 4 {
                    self.broken = true;
                    out.push(TlsEvent::Malformed {
                        what: "handshake message larger than pgtls reassembles",
                    });
                    return;
                }
                let mut held = std::mem::take(&mut self.handshake);
                read_on(&mut held, body, |bytes| {
                    self.handshake_messages(bytes, h.version, out)
                });
                self.handshake = held;
            }
            _ => out.push(TlsEvent::ApplicationData),
        }
    }

    /// Reports the whole handshake messages at the start of `bytes`;
    /// returns the bytes they take.
    fn handshake_messages(
        &mut self,
        bytes: &[u8],
        record_version: u16,
        out: &mut Vec<TlsEvent>,
    ) -> usize {
        let mut p = 0;
        loop {
            let hs = &bytes[p..];
            if hs.len() < 4 {
                break;
            }
            let len = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
            if len > MAX_HANDSHAKE_MSG_LEN {
                self.broken = true;
                out.push(TlsEvent::Malformed {
                    what: "handshake message larger than pgtls reassembles",
                });
                return p;
            }
            if hs.len() < 4 + len {
                break;
            }
            let body = &hs[4..4 + len];
            out.push(match hs[0] {
                HS_CLIENT_HELLO => match shared_client_hello(body, record_version) {
                    Some(ch) => TlsEvent::ClientHello(ch, client_hello_session_id(body)),
                    None => TlsEvent::Malformed {
                        what: "malformed ClientHello",
                    },
                },
                HS_SERVER_HELLO => match shared_server_hello(body) {
                    Some(sh) => TlsEvent::ServerHello(sh, server_hello_session_id(body)),
                    None => TlsEvent::Malformed {
                        what: "malformed ServerHello",
                    },
                },
                HS_CERTIFICATE => TlsEvent::Certificate {
                    bytes: body.len(),
                    chain: std::mem::take(&mut self.decode_certificate)
                        .then(|| cert::parse_certificate_chain_cached(body)),
                },
                HS_SERVER_KEY_EXCHANGE => TlsEvent::ServerKeyExchange {
                    params: KeyExchangeStart::new(body),
                },
                t => TlsEvent::Handshake { msg_type: t },
            });
            p += 4 + len;
        }
        p
    }
}

#[cfg(test)]
mod tests;
