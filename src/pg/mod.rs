//! PostgreSQL wire protocol: the startup-phase packets (no type byte) and the
//! typed messages that pgtls needs to reach a verdict.
//!
//! Constants and layouts follow the PostgreSQL documentation, chapter
//! "Frontend/Backend Protocol", sections "Message Flow" and "Message Formats".
//! Parsers are pure nom functions over borrowed bytes; they never panic and
//! never read past their input.

use nom::bytes::complete::{take, take_till};
use nom::number::complete::{be_i32, be_u32, be_u8};
use nom::IResult;

/// SSLRequest code: 1234 << 16 | 5679.
pub const SSL_REQUEST_CODE: u32 = 80_877_103;
/// GSSENCRequest code: 1234 << 16 | 5680.
pub const GSSENC_REQUEST_CODE: u32 = 80_877_104;
/// CancelRequest code: 1234 << 16 | 5678.
pub const CANCEL_REQUEST_CODE: u32 = 80_877_102;
/// Protocol 3.0 (every server since 7.4).
pub const PROTOCOL_3_0: u32 = 196_608;
/// Protocol 3.2 (PostgreSQL 18).
pub const PROTOCOL_3_2: u32 = 196_610;
/// The server refuses startup packets whose body (length word excluded) is
/// longer than `MAX_STARTUP_PACKET_LENGTH` (10000): the largest total length
/// it accepts is 10004.
pub const MAX_STARTUP_PACKET_LEN: u32 = 10_004;
/// Largest cancel key of protocol 3.2 (256 bytes) plus the 12-byte header.
pub const MAX_CANCEL_REQUEST_LEN: u32 = 12 + 256;

/// A packet of the startup phase, sent by the client before any typed message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StartupPacket<'a> {
    SslRequest,
    GssEncRequest,
    Cancel {
        pid: u32,
        key: &'a [u8],
    },
    Startup {
        version: ProtocolVersion,
        params: &'a [u8],
    },
    /// A well-formed length with a code PostgreSQL does not know.
    Unknown {
        code: u32,
    },
}

/// Protocol version of a StartupMessage, as `major << 16 | minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolVersion(pub u32);

impl ProtocolVersion {
    pub fn major(self) -> u16 {
        (self.0 >> 16) as u16
    }
    pub fn minor(self) -> u16 {
        (self.0 & 0xffff) as u16
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Nearly every session speaks 3.0: its text is written whole.
        match (self.major(), self.minor()) {
            (3, 0) => f.pad("3.0"),
            (major, minor) => write!(f, "{major}.{minor}"),
        }
    }
}

/// What the first bytes of a client stream say about a startup packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StartupFraming {
    /// Not enough bytes for the 8-byte header yet.
    NeedHeader,
    /// The header is plausible; the whole packet is `len` bytes.
    Packet { len: u32, code: u32 },
    /// The length is outside what any PostgreSQL server accepts.
    Implausible { len: u32 },
}

/// Reads the 8-byte header (length, code) of a startup-phase packet.
pub fn frame_pg_startup(i: &[u8]) -> StartupFraming {
    if i.len() < 8 {
        return StartupFraming::NeedHeader;
    }
    let len = u32::from_be_bytes([i[0], i[1], i[2], i[3]]);
    let code = u32::from_be_bytes([i[4], i[5], i[6], i[7]]);
    if !(8..=MAX_STARTUP_PACKET_LEN).contains(&len) {
        return StartupFraming::Implausible { len };
    }
    StartupFraming::Packet { len, code }
}

/// Parses one complete startup-phase packet (length included).
pub fn parse_pg_startup_packet(i: &[u8]) -> IResult<&[u8], StartupPacket<'_>> {
    let (i, len) = be_u32(i)?;
    if !(8..=MAX_STARTUP_PACKET_LEN).contains(&len) {
        return Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::LengthValue,
        )));
    }
    let (rest, body) = take(len as usize - 4)(i)?;
    let (b, code) = be_u32(body)?;
    let packet = match code {
        SSL_REQUEST_CODE if len == 8 => StartupPacket::SslRequest,
        GSSENC_REQUEST_CODE if len == 8 => StartupPacket::GssEncRequest,
        CANCEL_REQUEST_CODE if (16..=MAX_CANCEL_REQUEST_LEN).contains(&len) => {
            let (key, pid) = be_u32(b)?;
            StartupPacket::Cancel { pid, key }
        }
        c if c >> 16 == 3 => StartupPacket::Startup {
            version: ProtocolVersion(c),
            params: b,
        },
        c if c >> 16 == 2 && len >= 8 => StartupPacket::Startup {
            version: ProtocolVersion(c),
            params: &[],
        },
        c => StartupPacket::Unknown { code: c },
    };
    Ok((rest, packet))
}

/// Iterates the `name\0value\0` pairs of a StartupMessage; stops at the final `\0`
/// or at the first malformed pair.
pub fn startup_params(mut params: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        let (rest, name) = parse_cstring(params).ok()?;
        if name.is_empty() {
            return None;
        }
        let (rest, value) = parse_cstring(rest).ok()?;
        params = rest;
        Some((name, value))
    })
}

/// A NUL-terminated string; the NUL is consumed, not returned.
pub fn parse_cstring(i: &[u8]) -> IResult<&[u8], &[u8]> {
    let (i, s) = take_till(|b| b == 0)(i)?;
    let (i, _) = nom::bytes::complete::tag([0u8])(i)?;
    Ok((i, s))
}

/// Frame of a typed message: one type byte and an int32 length that counts itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageHeader {
    pub tag: u8,
    /// Length of the body, without the type byte and the length field.
    pub body_len: u32,
}

/// Largest typed message pgtls accepts as plausible when it has to guess
/// (mid-stream); PostgreSQL's own limit for most messages is 1 GB.
pub const MAX_PLAUSIBLE_MESSAGE_LEN: u32 = 1 << 30;

/// Reads a typed-message header. `None` when fewer than 5 bytes are available
/// or the length is below 4.
pub fn parse_pg_message_header(i: &[u8]) -> Option<MessageHeader> {
    if i.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([i[1], i[2], i[3], i[4]]);
    if !(4..=MAX_PLAUSIBLE_MESSAGE_LEN).contains(&len) {
        return None;
    }
    Some(MessageHeader {
        tag: i[0],
        body_len: len - 4,
    })
}

/// A set of message type bytes, looked up in one load.
const fn tag_set(tags: &[u8]) -> [bool; 256] {
    let mut set = [false; 256];
    let mut i = 0;
    while i < tags.len() {
        set[tags[i] as usize] = true;
        i += 1;
    }
    set
}

const BACKEND_TAGS: [bool; 256] = tag_set(b"RENSKZvTDCI123nstAGHWdcV");
const FRONTEND_TAGS: [bool; 256] = tag_set(b"pQPBEDSHCXFdcf");

/// Backend message tags that can follow a StartupMessage.
#[inline]
pub fn is_backend_tag(tag: u8) -> bool {
    BACKEND_TAGS[usize::from(tag)]
}

/// Frontend message tags sent after startup.
#[inline]
pub fn is_frontend_tag(tag: u8) -> bool {
    FRONTEND_TAGS[usize::from(tag)]
}

/// Authentication request codes (`R` messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthCode(pub u32);

impl AuthCode {
    pub const OK: AuthCode = AuthCode(0);
    pub const KERBEROS_V5: AuthCode = AuthCode(2);
    pub const CLEARTEXT_PASSWORD: AuthCode = AuthCode(3);
    pub const MD5_PASSWORD: AuthCode = AuthCode(5);
    pub const GSS: AuthCode = AuthCode(7);
    pub const GSS_CONTINUE: AuthCode = AuthCode(8);
    pub const SSPI: AuthCode = AuthCode(9);
    pub const SASL: AuthCode = AuthCode(10);
    pub const SASL_CONTINUE: AuthCode = AuthCode(11);
    pub const SASL_FINAL: AuthCode = AuthCode(12);

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::OK => "ok",
            Self::KERBEROS_V5 => "kerberos_v5",
            Self::CLEARTEXT_PASSWORD => "cleartext_password",
            Self::MD5_PASSWORD => "md5_password",
            Self::GSS => "gss",
            Self::GSS_CONTINUE => "gss_continue",
            Self::SSPI => "sspi",
            Self::SASL => "sasl",
            Self::SASL_CONTINUE => "sasl_continue",
            Self::SASL_FINAL => "sasl_final",
            _ => return None,
        })
    }
}

/// Parses the body of an Authentication (`R`) message: its code and the rest.
pub fn parse_pg_authentication(body: &[u8]) -> IResult<&[u8], AuthCode> {
    let (rest, code) = be_u32(body)?;
    Ok((rest, AuthCode(code)))
}

/// The fields of an ErrorResponse or NoticeResponse that pgtls reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ErrorFields<'a> {
    /// `S`: localized severity.
    pub severity: Option<&'a [u8]>,
    /// `V`: severity, never localized (9.6+).
    pub severity_nonlocalized: Option<&'a [u8]>,
    /// `C`: SQLSTATE.
    pub code: Option<&'a [u8]>,
    /// `M`: primary message.
    pub message: Option<&'a [u8]>,
}

/// Parses the body of an ErrorResponse or NoticeResponse: (field type, cstring)
/// pairs ended by a zero byte. A body cut short keeps the fields read so far.
pub fn parse_pg_error_fields(mut body: &[u8]) -> ErrorFields<'_> {
    let mut f = ErrorFields::default();
    while let Some((&kind, rest)) = body.split_first() {
        if kind == 0 {
            break;
        }
        let Ok((rest, value)) = parse_cstring(rest) else {
            break;
        };
        match kind {
            b'S' => f.severity = Some(value),
            b'V' => f.severity_nonlocalized = Some(value),
            b'C' => f.code = Some(value),
            b'M' => f.message = Some(value),
            _ => {}
        }
        body = rest;
    }
    f
}

/// A ParameterStatus (`S`) body: name and value.
pub fn parse_pg_parameter_status(body: &[u8]) -> IResult<&[u8], (&[u8], &[u8])> {
    let (i, name) = parse_cstring(body)?;
    let (i, value) = parse_cstring(i)?;
    Ok((i, (name, value)))
}

/// A BackendKeyData (`K`) body: process id and secret key (4 bytes in 3.0,
/// up to 256 in 3.2).
pub fn parse_pg_backend_key_data(body: &[u8]) -> IResult<&[u8], (u32, &[u8])> {
    let (key, pid) = be_u32(body)?;
    Ok((&[], (pid, key)))
}

/// A ReadyForQuery (`Z`) body: the transaction status byte.
pub fn parse_pg_ready_for_query(body: &[u8]) -> IResult<&[u8], u8> {
    be_u8(body)
}

/// A NegotiateProtocolVersion (`v`) body: newest minor version the server
/// supports and the number of options it did not recognise.
pub fn parse_pg_negotiate_protocol_version(body: &[u8]) -> IResult<&[u8], (u32, u32)> {
    let (i, minor) = be_i32(body)?;
    let (i, unrecognized) = be_i32(i)?;
    Ok((i, (minor.max(0) as u32, unrecognized.max(0) as u32)))
}

/// A GSSAPI token after the `G` answer: int32 length and payload.
pub fn parse_pg_gss_token_len(i: &[u8]) -> IResult<&[u8], u32> {
    be_u32(i)
}

#[cfg(test)]
mod tests;
