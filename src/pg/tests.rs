//! Unit tests of the startup-phase and typed-message parsers.
//!
//! Real bytes come from `samples/plaintext-refused.pcap` (frame 4: the
//! client's StartupMessage; frame 6: the server's ErrorResponse).

use super::*;
use crate::testutil::{hex, XorShift};

/// Parses a complete startup packet and checks nothing is left over.
fn startup(bytes: &[u8]) -> StartupPacket<'_> {
    let (rest, p) = parse_pg_startup_packet(bytes).expect("startup packet parses");
    assert!(rest.is_empty(), "{} bytes left over", rest.len());
    p
}

/// A startup packet of `total` bytes (length word included) whose code is `code`
/// and whose remaining bytes are `fill`.
fn startup_of_len(total: u32, code: u32, fill: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(total as usize);
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&code.to_be_bytes());
    v.resize(total as usize, fill);
    v
}

/// A CancelRequest carrying a key of `key_len` bytes (0x5a each), pid 0x1234.
fn cancel_with_key(key_len: usize) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(12 + key_len as u32).to_be_bytes());
    v.extend_from_slice(&CANCEL_REQUEST_CODE.to_be_bytes());
    v.extend_from_slice(&0x1234u32.to_be_bytes());
    v.extend(std::iter::repeat_n(0x5a, key_len));
    v
}

/// samples/plaintext-refused.pcap, frame 4: psql's StartupMessage (protocol 3.0).
fn real_startup() -> Vec<u8> {
    hex(concat!(
        "00000040 00030000",                   // length 64, protocol 3.0
        "75736572 00 61707000",                // user\0 app\0
        "6461746162617365 00 6170706462 00",   // database\0 appdb\0
        "6170706c69636174696f6e5f6e616d65 00", // application_name\0
        "7067746c732d73616d706c6573 00",       // pgtls-samples\0
        "00",                                  // end of parameters
    ))
}

/// samples/plaintext-refused.pcap, frame 6: the server's ErrorResponse body
/// (after the `E` tag and the length 0x95).
fn real_error_body() -> Vec<u8> {
    hex(concat!(
        "53 464154414c 00", // S FATAL
        "56 464154414c 00", // V FATAL
        "43 3238303030 00", // C 28000
        "4d",               // M ...
        "6e6f2070675f6862612e636f6e6620656e74727920666f7220686f7374202231",
        "32372e302e302e31222c20757365722022617070222c20646174616261736520",
        "226170706462222c206e6f20656e6372797074696f6e 00",
        "46 617574682e63 00",                             // F auth.c
        "4c 353434 00",                                   // L 544
        "52 436c69656e7441757468656e7469636174696f6e 00", // R ClientAuthentication
        "00",                                             // end of fields
    ))
}

const NO_ENCRYPTION_MSG: &[u8] =
    b"no pg_hba.conf entry for host \"127.0.0.1\", user \"app\", database \"appdb\", no encryption";

// ---------------------------------------------------------------------------
// Startup-phase packets
// ---------------------------------------------------------------------------

#[test]
fn ssl_request() {
    let b = hex("00000008 04d2162f"); // SSLRequest
    assert_eq!(startup(&b), StartupPacket::SslRequest);
    assert_eq!(
        frame_pg_startup(&b),
        StartupFraming::Packet {
            len: 8,
            code: SSL_REQUEST_CODE
        }
    );
    assert_eq!(SSL_REQUEST_CODE, (1234 << 16) | 5679);
}

#[test]
fn ssl_request_leaves_following_bytes_to_the_caller() {
    // SSLRequest immediately followed by the first byte of a ClientHello record.
    let b = hex("00000008 04d2162f 16"); // SSLRequest, then 0x16
    let (rest, p) = parse_pg_startup_packet(&b).unwrap();
    assert_eq!(p, StartupPacket::SslRequest);
    assert_eq!(rest, &[0x16]);
}

#[test]
fn gssenc_request() {
    let b = hex("00000008 04d21630"); // GSSENCRequest
    assert_eq!(startup(&b), StartupPacket::GssEncRequest);
    assert_eq!(GSSENC_REQUEST_CODE, (1234 << 16) | 5680);
}

#[test]
fn ssl_and_gss_codes_with_a_wrong_length_are_not_requests() {
    let b = hex("0000000c 04d2162f 00000000"); // SSLRequest code, length 12
    assert_eq!(
        startup(&b),
        StartupPacket::Unknown {
            code: SSL_REQUEST_CODE
        }
    );
    let b = hex("0000000c 04d21630 00000000"); // GSSENCRequest code, length 12
    assert_eq!(
        startup(&b),
        StartupPacket::Unknown {
            code: GSSENC_REQUEST_CODE
        }
    );
}

#[test]
fn cancel_request_3_0() {
    let b = hex("00000010 04d2162e 00001f40 deadbeef"); // CancelRequest, pid 8000, key
    assert_eq!(
        startup(&b),
        StartupPacket::Cancel {
            pid: 8000,
            key: &[0xde, 0xad, 0xbe, 0xef],
        }
    );
    assert_eq!(CANCEL_REQUEST_CODE, (1234 << 16) | 5678);
}

#[test]
fn cancel_request_3_2_long_keys() {
    // Protocol 3.2 (PostgreSQL 18) sends a 32-byte key; the limit is 256.
    for key_len in [5usize, 32, 255, 256] {
        let b = cancel_with_key(key_len);
        assert_eq!(b.len(), 12 + key_len);
        match startup(&b) {
            StartupPacket::Cancel { pid, key } => {
                assert_eq!(pid, 0x1234);
                assert_eq!(key.len(), key_len);
                assert!(key.iter().all(|&k| k == 0x5a));
            }
            other => panic!("key of {key_len} bytes: {other:?}"),
        }
    }
    assert_eq!(MAX_CANCEL_REQUEST_LEN, 268);
}

#[test]
fn cancel_request_with_key_of_257_bytes_is_not_a_cancel() {
    let b = cancel_with_key(257); // length 269 > 12 + 256
    assert_eq!(
        startup(&b),
        StartupPacket::Unknown {
            code: CANCEL_REQUEST_CODE
        }
    );
}

#[test]
fn cancel_request_shorter_than_16_is_not_a_cancel() {
    for key_len in 0..4 {
        let b = cancel_with_key(key_len);
        assert_eq!(
            startup(&b),
            StartupPacket::Unknown {
                code: CANCEL_REQUEST_CODE
            },
            "key of {key_len} bytes"
        );
    }
    // Length 8: the code alone.
    let b = hex("00000008 04d2162e"); // CancelRequest code, nothing else
    assert_eq!(
        startup(&b),
        StartupPacket::Unknown {
            code: CANCEL_REQUEST_CODE
        }
    );
}

#[test]
fn startup_message_3_0_real() {
    let b = real_startup();
    assert_eq!(b.len(), 64);
    let StartupPacket::Startup { version, params } = startup(&b) else {
        panic!("not a StartupMessage");
    };
    assert_eq!(version, ProtocolVersion(PROTOCOL_3_0));
    assert_eq!((version.major(), version.minor()), (3, 0));
    assert_eq!(version.to_string(), "3.0");
    let pairs: Vec<(&[u8], &[u8])> = startup_params(params).collect();
    assert_eq!(
        pairs,
        vec![
            (&b"user"[..], &b"app"[..]),
            (&b"database"[..], &b"appdb"[..]),
            (&b"application_name"[..], &b"pgtls-samples"[..]),
        ]
    );
    assert_eq!(
        frame_pg_startup(&b),
        StartupFraming::Packet {
            len: 64,
            code: PROTOCOL_3_0
        }
    );
}

#[test]
fn startup_message_3_2() {
    let b = hex(concat!(
        "00000014 00030002", // length 20, protocol 3.2 (196610)
        "75736572 00",       // user\0
        "616c696365 00",     // alice\0
        "00",                // end
    ));
    assert_eq!(b.len(), 20);
    let StartupPacket::Startup { version, params } = startup(&b) else {
        panic!("not a StartupMessage");
    };
    assert_eq!(version.0, 196_610);
    assert_eq!(version, ProtocolVersion(PROTOCOL_3_2));
    assert_eq!((version.major(), version.minor()), (3, 2));
    assert_eq!(version.to_string(), "3.2");
    let pairs: Vec<_> = startup_params(params).collect();
    assert_eq!(pairs, vec![(&b"user"[..], &b"alice"[..])]);
}

#[test]
fn startup_message_with_options_and_replication() {
    let b = hex(concat!(
        "00000038 00030000",         // length 56, protocol 3.0
        "75736572 00 72 00",         // user\0 r\0
        "6f7074696f6e73 00",         // options\0
        "2d63206765716f3d6f6e 00",   // -c geqo=on\0
        "7265706c69636174696f6e 00", // replication\0
        "6461746162617365 00",       // database\0
        "00",                        // end
    ));
    assert_eq!(b.len(), 0x38);
    let StartupPacket::Startup { params, .. } = startup(&b) else {
        panic!("not a StartupMessage");
    };
    let pairs: Vec<_> = startup_params(params).collect();
    assert_eq!(pairs.len(), 3);
    assert_eq!(pairs[1], (&b"options"[..], &b"-c geqo=on"[..]));
    assert_eq!(pairs[2], (&b"replication"[..], &b"database"[..]));
}

#[test]
fn startup_message_protocol_2_has_no_params() {
    // Pre-7.4 clients: protocol 2.0, fixed-size packet (here shortened).
    let b = hex("00000010 00020000 61626364 00000000"); // length 16, protocol 2.0
    assert_eq!(
        startup(&b),
        StartupPacket::Startup {
            version: ProtocolVersion(0x0002_0000),
            params: &[],
        }
    );
}

#[test]
fn unknown_code() {
    let b = hex("00000008 12345678"); // length 8, code nobody knows
    assert_eq!(startup(&b), StartupPacket::Unknown { code: 0x1234_5678 });
    assert_eq!(
        frame_pg_startup(&b),
        StartupFraming::Packet {
            len: 8,
            code: 0x1234_5678
        }
    );
    // Protocol 4.0 does not exist: not a StartupMessage.
    let b = hex("0000000a 00040000 0000"); // length 10, "protocol 4.0"
    assert_eq!(startup(&b), StartupPacket::Unknown { code: 0x0004_0000 });
}

#[test]
fn frame_needs_eight_bytes() {
    let b = real_startup();
    for n in 0..8 {
        assert_eq!(frame_pg_startup(&b[..n]), StartupFraming::NeedHeader, "{n}");
    }
    for n in 8..=b.len() {
        assert_eq!(
            frame_pg_startup(&b[..n]),
            StartupFraming::Packet {
                len: 64,
                code: PROTOCOL_3_0
            },
            "{n}"
        );
    }
}

#[test]
fn lengths_below_8_are_implausible() {
    for len in 0u32..8 {
        let mut b = len.to_be_bytes().to_vec();
        b.extend_from_slice(&hex("04d2162f 00000000")); // code, padding
        assert_eq!(
            frame_pg_startup(&b),
            StartupFraming::Implausible { len },
            "{len}"
        );
        assert!(parse_pg_startup_packet(&b).is_err(), "{len}");
    }
}

#[test]
fn lengths_around_the_maximum() {
    // The largest length a server accepts (10000 + the length word) is accepted.
    let b = startup_of_len(MAX_STARTUP_PACKET_LEN, PROTOCOL_3_0, 0);
    assert_eq!(
        frame_pg_startup(&b),
        StartupFraming::Packet {
            len: 10_004,
            code: PROTOCOL_3_0
        }
    );
    assert!(matches!(startup(&b), StartupPacket::Startup { .. }));
    // Far above any server's limit.
    for len in [10_005u32, 10_006, 65_536, 0x7fff_ffff, u32::MAX] {
        let mut b = startup_of_len(10_008, PROTOCOL_3_0, 0);
        b[..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            frame_pg_startup(&b),
            StartupFraming::Implausible { len },
            "{len}"
        );
        assert!(parse_pg_startup_packet(&b).is_err(), "{len}");
    }
}

/// PostgreSQL's `ProcessStartupPacket` subtracts the 4-byte length word before
/// comparing with MAX_STARTUP_PACKET_LENGTH (10000): total lengths up to 10004
/// are accepted by the server.
#[test]
fn lengths_up_to_10004_are_accepted_by_postgresql() {
    for len in 10_001u32..=10_004 {
        let b = startup_of_len(len, PROTOCOL_3_0, 0);
        assert_eq!(
            frame_pg_startup(&b),
            StartupFraming::Packet {
                len,
                code: PROTOCOL_3_0
            },
            "{len}"
        );
        assert!(parse_pg_startup_packet(&b).is_ok(), "{len}");
    }
}

#[test]
fn other_protocols_frame_as_implausible() {
    // A direct-TLS ClientHello: 16 03 01 00 | c9 01 00 00 → length 0x160301c9.
    let b = hex("160301 00c9 01 0000c5 0303"); // TLS record header, ClientHello header
    assert!(matches!(
        frame_pg_startup(&b),
        StartupFraming::Implausible { .. }
    ));
    assert!(parse_pg_startup_packet(&b).is_err());
    // HTTP.
    let b = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(
        frame_pg_startup(b),
        StartupFraming::Implausible { len: 0x4745_5420 }
    );
    assert!(parse_pg_startup_packet(b).is_err());
}

#[test]
fn every_truncation_of_a_real_startup_message_is_an_error() {
    let b = real_startup();
    for n in 0..b.len() {
        assert!(
            parse_pg_startup_packet(&b[..n]).is_err(),
            "prefix of {n} bytes parsed"
        );
    }
    assert!(parse_pg_startup_packet(&b).is_ok());
}

#[test]
fn every_truncation_of_short_packets_is_an_error() {
    for full in [
        hex("00000008 04d2162f"),                   // SSLRequest
        hex("00000008 04d21630"),                   // GSSENCRequest
        hex("00000010 04d2162e 00001f40 deadbeef"), // CancelRequest
        cancel_with_key(32),                        // CancelRequest 3.2
    ] {
        for n in 0..full.len() {
            assert!(parse_pg_startup_packet(&full[..n]).is_err(), "{n}");
        }
        assert!(parse_pg_startup_packet(&full).is_ok());
    }
}

#[test]
fn startup_params_stop_at_malformed_pairs() {
    // No parameters at all.
    assert_eq!(startup_params(&hex("00")).count(), 0);
    assert_eq!(startup_params(&[]).count(), 0);
    // A name without its value's terminator: only the complete pair.
    let p = hex("75736572 00 616c69636500 6461746162617365 00 6462"); // user alice database db(cut)
    let pairs: Vec<_> = startup_params(&p).collect();
    assert_eq!(pairs, vec![(&b"user"[..], &b"alice"[..])]);
    // A name with no terminator at all.
    assert_eq!(startup_params(b"user").count(), 0);
    // Pairs after the final NUL are not read.
    let p = hex("61 00 62 00 00 63 00 64 00"); // a=b, end, c=d
    let pairs: Vec<_> = startup_params(&p).collect();
    assert_eq!(pairs, vec![(&b"a"[..], &b"b"[..])]);
    // An empty value is a value.
    let p = hex("6f7074696f6e73 00 00 00"); // options\0 \0 end
    let pairs: Vec<_> = startup_params(&p).collect();
    assert_eq!(pairs, vec![(&b"options"[..], &b""[..])]);
}

#[test]
fn cstring() {
    let b = hex("616263 00 6465"); // abc\0 de
    let (rest, s) = parse_cstring(&b).unwrap();
    assert_eq!(s, b"abc");
    assert_eq!(rest, b"de");
    assert!(parse_cstring(b"no terminator").is_err());
    assert!(parse_cstring(&[]).is_err());
    assert_eq!(parse_cstring(&[0]).unwrap(), (&[][..], &[][..]));
}

// ---------------------------------------------------------------------------
// Typed messages
// ---------------------------------------------------------------------------

#[test]
fn message_header() {
    let b = hex("52 00000008 00000000"); // AuthenticationOk
    assert_eq!(
        parse_pg_message_header(&b),
        Some(MessageHeader {
            tag: b'R',
            body_len: 4
        })
    );
    // Exactly 4: an empty body is fine (e.g. a bare Sync or a frontend Terminate).
    let b = hex("58 00000004"); // Terminate
    assert_eq!(
        parse_pg_message_header(&b),
        Some(MessageHeader {
            tag: b'X',
            body_len: 0
        })
    );
    // The largest plausible length.
    let b = hex("44 40000000"); // DataRow, 1 GB
    assert_eq!(
        parse_pg_message_header(&b),
        Some(MessageHeader {
            tag: b'D',
            body_len: (1 << 30) - 4
        })
    );
}

#[test]
fn message_header_rejects_lengths_below_4_and_huge_ones() {
    for len in 0u32..4 {
        let mut b = vec![b'Z'];
        b.extend_from_slice(&len.to_be_bytes());
        assert_eq!(parse_pg_message_header(&b), None, "{len}");
    }
    let b = hex("44 40000001"); // 1 GB + 1
    assert_eq!(parse_pg_message_header(&b), None);
    let b = hex("44 ffffffff"); // DataRow with length -1 as int32
    assert_eq!(parse_pg_message_header(&b), None);
}

#[test]
fn message_header_needs_five_bytes() {
    let b = hex("5a 00000005 49"); // ReadyForQuery
    for n in 0..5 {
        assert_eq!(parse_pg_message_header(&b[..n]), None, "{n}");
    }
    assert_eq!(
        parse_pg_message_header(&b[..5]),
        Some(MessageHeader {
            tag: b'Z',
            body_len: 1
        })
    );
}

/// The body of a typed message, checking that its header agrees with it.
fn body_of(msg: &[u8], tag: u8) -> &[u8] {
    let h = parse_pg_message_header(msg).expect("header");
    assert_eq!(h.tag, tag);
    assert_eq!(h.body_len as usize, msg.len() - 5, "length field");
    &msg[5..]
}

#[test]
fn authentication_ok_and_cleartext() {
    let m = hex("52 00000008 00000000"); // AuthenticationOk
    let (rest, code) = parse_pg_authentication(body_of(&m, b'R')).unwrap();
    assert_eq!(code, AuthCode::OK);
    assert_eq!(code.name(), Some("ok"));
    assert!(rest.is_empty());

    let m = hex("52 00000008 00000003"); // AuthenticationCleartextPassword
    let (rest, code) = parse_pg_authentication(body_of(&m, b'R')).unwrap();
    assert_eq!(code, AuthCode::CLEARTEXT_PASSWORD);
    assert_eq!(code.name(), Some("cleartext_password"));
    assert!(rest.is_empty());
}

#[test]
fn authentication_md5_with_salt() {
    let m = hex("52 0000000c 00000005 9a3c01f2"); // AuthenticationMD5Password, salt
    let (salt, code) = parse_pg_authentication(body_of(&m, b'R')).unwrap();
    assert_eq!(code, AuthCode::MD5_PASSWORD);
    assert_eq!(code.name(), Some("md5_password"));
    assert_eq!(salt, &[0x9a, 0x3c, 0x01, 0xf2]);
}

#[test]
fn authentication_sasl_with_mechanisms() {
    let m = hex(concat!(
        "52 0000002a 0000000a",                     // AuthenticationSASL
        "5343 52414d2d5348412d3235362d504c5553 00", // SCRAM-SHA-256-PLUS
        "5343 52414d2d5348412d323536 00",           // SCRAM-SHA-256
        "00",                                       // end of list
    ));
    let (mut rest, code) = parse_pg_authentication(body_of(&m, b'R')).unwrap();
    assert_eq!(code, AuthCode::SASL);
    assert_eq!(code.name(), Some("sasl"));
    let mut mechs = Vec::new();
    loop {
        let (r, mech) = parse_cstring(rest).unwrap();
        rest = r;
        if mech.is_empty() {
            break;
        }
        mechs.push(mech);
    }
    assert_eq!(
        mechs,
        vec![&b"SCRAM-SHA-256-PLUS"[..], &b"SCRAM-SHA-256"[..]]
    );
    assert!(rest.is_empty());
}

#[test]
fn authentication_codes_and_names() {
    let named = [
        (0u32, "ok"),
        (2, "kerberos_v5"),
        (3, "cleartext_password"),
        (5, "md5_password"),
        (7, "gss"),
        (8, "gss_continue"),
        (9, "sspi"),
        (10, "sasl"),
        (11, "sasl_continue"),
        (12, "sasl_final"),
    ];
    for (code, name) in named {
        let body = code.to_be_bytes();
        let (_, c) = parse_pg_authentication(&body).unwrap();
        assert_eq!(c, AuthCode(code));
        assert_eq!(c.name(), Some(name));
    }
    // Open enum: unknown codes are values, not errors.
    for code in [1u32, 4, 6, 13, 0xffff_ffff] {
        let (_, c) = parse_pg_authentication(&code.to_be_bytes()).unwrap();
        assert_eq!(c, AuthCode(code));
        assert_eq!(c.name(), None);
    }
}

#[test]
fn authentication_truncated() {
    let body = hex("00000005"); // MD5Password code
    for n in 0..4 {
        assert!(parse_pg_authentication(&body[..n]).is_err(), "{n}");
    }
}

#[test]
fn error_fields_of_a_real_error_response() {
    let m = hex("45 00000095"); // ErrorResponse, length 149
    let body = real_error_body();
    assert_eq!(body.len(), 0x95 - 4);
    assert_eq!(
        parse_pg_message_header(&m),
        Some(MessageHeader {
            tag: b'E',
            body_len: 0x91
        })
    );
    let f = parse_pg_error_fields(&body);
    assert_eq!(f.severity, Some(&b"FATAL"[..]));
    assert_eq!(f.severity_nonlocalized, Some(&b"FATAL"[..]));
    assert_eq!(f.code, Some(&b"28000"[..]));
    assert_eq!(f.message, Some(NO_ENCRYPTION_MSG));
}

#[test]
fn error_fields_of_a_body_cut_in_the_middle() {
    let body = real_error_body();
    // Cut inside the M field: S, V, C stay, M is lost.
    let m_start = body.iter().position(|&b| b == b'M').unwrap();
    assert_eq!(m_start, 21);
    let f = parse_pg_error_fields(&body[..m_start + 30]);
    assert_eq!(f.severity, Some(&b"FATAL"[..]));
    assert_eq!(f.severity_nonlocalized, Some(&b"FATAL"[..]));
    assert_eq!(f.code, Some(&b"28000"[..]));
    assert_eq!(f.message, None);
    // Cut after M's terminator but before the final zero: all four present.
    let f = parse_pg_error_fields(&body[..body.len() - 10]);
    assert_eq!(f.message, Some(NO_ENCRYPTION_MSG));
    assert_eq!(f.code, Some(&b"28000"[..]));
}

#[test]
fn error_fields_at_every_truncation_length() {
    let body = real_error_body();
    // Offset of the terminating NUL of each field the parser reports.
    let s_end = 6; // "S" "FATAL" NUL at 6
    let v_end = 13;
    let c_end = 20;
    let m_end = 21 + 1 + NO_ENCRYPTION_MSG.len();
    assert_eq!(body[s_end], 0);
    assert_eq!(body[v_end], 0);
    assert_eq!(body[c_end], 0);
    assert_eq!(body[m_end], 0);
    for n in 0..=body.len() {
        let f = parse_pg_error_fields(&body[..n]);
        assert_eq!(f.severity.is_some(), n > s_end, "S at {n}");
        assert_eq!(f.severity_nonlocalized.is_some(), n > v_end, "V at {n}");
        assert_eq!(f.code.is_some(), n > c_end, "C at {n}");
        assert_eq!(f.message.is_some(), n > m_end, "M at {n}");
    }
}

#[test]
fn error_fields_negative_cases() {
    assert_eq!(parse_pg_error_fields(&[]), ErrorFields::default());
    assert_eq!(parse_pg_error_fields(&[0]), ErrorFields::default());
    // Fields after the terminating zero are not read.
    let b = hex("00 43 3238303030 00"); // end, then C 28000
    assert_eq!(parse_pg_error_fields(&b), ErrorFields::default());
    // Unknown field types are skipped; later known ones are still read.
    let b = hex("7a 78797a 00 43 3238503031 00 00"); // z xyz, C 28P01, end
    let f = parse_pg_error_fields(&b);
    assert_eq!(f.code, Some(&b"28P01"[..]));
    assert_eq!(f.severity, None);
}

#[test]
fn notice_response_uses_the_same_fields() {
    let m = hex(concat!(
        "4e 00000028",            // NoticeResponse, length 40
        "53 5741524e494e47 00",   // S WARNING
        "43 3031303030 00",       // C 01000
        "4d 6c6f6f6b206f7574 00", // M look out
        "56 5741524e494e47 00",   // V WARNING
        "00",
    ));
    let f = parse_pg_error_fields(body_of(&m, b'N'));
    assert_eq!(f.severity, Some(&b"WARNING"[..]));
    assert_eq!(f.severity_nonlocalized, Some(&b"WARNING"[..]));
    assert_eq!(f.code, Some(&b"01000"[..]));
    assert_eq!(f.message, Some(&b"look out"[..]));
}

#[test]
fn parameter_status_server_version() {
    let m = hex(concat!(
        "53 00000019",                     // ParameterStatus, length 25
        "7365727665725f76657273696f6e 00", // server_version
        "31352e3134 00",                   // 15.14
    ));
    let body = body_of(&m, b'S');
    let (rest, (name, value)) = parse_pg_parameter_status(body).unwrap();
    assert_eq!(name, b"server_version");
    assert_eq!(value, b"15.14");
    assert!(rest.is_empty());
    // Every truncation before the value's NUL is an error.
    for n in 0..body.len() {
        assert!(parse_pg_parameter_status(&body[..n]).is_err(), "{n}");
    }
}

#[test]
fn backend_key_data_3_0_and_3_2() {
    let m = hex("4b 0000000c 00003039 a1b2c3d4"); // BackendKeyData, pid 12345, key
    let (rest, (pid, key)) = parse_pg_backend_key_data(body_of(&m, b'K')).unwrap();
    assert_eq!(pid, 12345);
    assert_eq!(key, &[0xa1, 0xb2, 0xc3, 0xd4]);
    assert!(rest.is_empty());

    // Protocol 3.2: a 32-byte key.
    let mut m = hex("4b 00000028 00003039"); // BackendKeyData, length 40, pid 12345
    m.extend(0u8..32);
    let (_, (pid, key)) = parse_pg_backend_key_data(body_of(&m, b'K')).unwrap();
    assert_eq!(pid, 12345);
    assert_eq!(key.len(), 32);
    assert_eq!(key[31], 31);

    for n in 0..4 {
        assert!(
            parse_pg_backend_key_data(&hex("00003039")[..n]).is_err(),
            "{n}"
        );
    }
}

#[test]
fn ready_for_query() {
    for (status, byte) in [("49", b'I'), ("54", b'T'), ("45", b'E')] {
        let m = hex(&format!("5a 00000005 {status}")); // ReadyForQuery
        let (rest, s) = parse_pg_ready_for_query(body_of(&m, b'Z')).unwrap();
        assert_eq!(s, byte);
        assert!(rest.is_empty());
    }
    assert!(parse_pg_ready_for_query(&[]).is_err());
}

#[test]
fn negotiate_protocol_version() {
    let m = hex(concat!(
        "76 00000015",         // NegotiateProtocolVersion, length 21
        "00000000",            // newest minor version: 0
        "00000001",            // one unrecognised option
        "5f70715f2e666f6f 00", // _pq_.foo
    ));
    let (rest, (minor, unrecognized)) =
        parse_pg_negotiate_protocol_version(body_of(&m, b'v')).unwrap();
    assert_eq!((minor, unrecognized), (0, 1));
    assert_eq!(parse_cstring(rest).unwrap().1, b"_pq_.foo");

    // A PostgreSQL 18 server answering a 3.3 request: minor 2, no options.
    let b = hex("00000002 00000000"); // minor 2, 0 options
    assert_eq!(parse_pg_negotiate_protocol_version(&b).unwrap().1, (2, 0));

    // Negative values are clamped to 0, not wrapped.
    let b = hex("ffffffff 80000000"); // -1, i32::MIN
    assert_eq!(parse_pg_negotiate_protocol_version(&b).unwrap().1, (0, 0));

    for n in 0..8 {
        assert!(parse_pg_negotiate_protocol_version(&b[..n]).is_err(), "{n}");
    }
}

#[test]
fn gss_token_length_and_u16() {
    let b = hex("0000012c 6082"); // GSS token of 300 bytes, first bytes
    let (rest, len) = parse_pg_gss_token_len(&b).unwrap();
    assert_eq!(len, 300);
    assert_eq!(rest, &[0x60, 0x82]);
    assert!(parse_pg_gss_token_len(&b[..3]).is_err());
}

#[test]
fn backend_and_frontend_tags() {
    for t in *b"REKSZvNTDCI" {
        assert!(is_backend_tag(t), "{}", t as char);
    }
    for t in *b"pQPBEXSHd" {
        assert!(is_frontend_tag(t), "{}", t as char);
    }
    // Not tags: TLS record types, startup-packet length bytes, answers to SSLRequest.
    for t in [0x16u8, 0x17, 0x15, 0x00, b'x', b'q'] {
        assert!(!is_backend_tag(t), "{t:#x}");
        assert!(!is_frontend_tag(t), "{t:#x}");
    }
    assert!(!is_frontend_tag(b'R'));
    assert!(!is_frontend_tag(b'Z'));
    assert!(!is_backend_tag(b'Q'));
    assert!(!is_backend_tag(b'X'));
}

#[test]
fn mutated_real_messages_never_panic() {
    let startup_msg = real_startup();
    let error_body = real_error_body();
    let mut rng = XorShift(0x00c0_ffee_1234_5678);
    for _ in 0..5000 {
        let mut s = startup_msg.clone();
        let mut e = error_body.clone();
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(s.len());
            s[i] = rng.next() as u8;
            let j = rng.below(e.len());
            e[j] = rng.next() as u8;
        }
        let cut = rng.below(s.len() + 1);
        let _ = frame_pg_startup(&s[..cut]);
        if let Ok((rest, p)) = parse_pg_startup_packet(&s[..cut]) {
            let len = u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize;
            assert_eq!(rest.len(), cut - len);
            if let StartupPacket::Startup { params, .. } = p {
                assert!(startup_params(params).count() <= params.len() / 2);
            }
        }
        let f = parse_pg_error_fields(&e[..rng.below(e.len() + 1)]);
        for v in [f.severity, f.severity_nonlocalized, f.code, f.message]
            .into_iter()
            .flatten()
        {
            assert!(!v.contains(&0));
        }
        let _ = parse_pg_message_header(&e[..rng.below(e.len() + 1)]);
        let _ = parse_pg_negotiate_protocol_version(&e[..rng.below(e.len() + 1)]);
    }
}
