//! Recognising a PostgreSQL session by its first client bytes (`--any-port`),
//! and the framing of GSSAPI-encrypted traffic. Packets are written out from
//! the protocol documentation ("Message Formats").

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let d: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    d.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

/// A StartupMessage of protocol `version` with these parameters.
fn startup(version: u32, params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut p = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    p.extend_from_slice(&body);
    p
}

/// A TLS record holding a minimal ClientHello with these ALPN protocols.
fn client_hello(alpn: &[&str]) -> Vec<u8> {
    let mut exts = Vec::new();
    if !alpn.is_empty() {
        let mut list = Vec::new();
        for p in alpn {
            list.push(p.len() as u8);
            list.extend_from_slice(p.as_bytes());
        }
        exts.extend_from_slice(&[0x00, 0x10]);
        exts.extend_from_slice(&((list.len() + 2) as u16).to_be_bytes());
        exts.extend_from_slice(&(list.len() as u16).to_be_bytes());
        exts.extend_from_slice(&list);
    }
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x11; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x02, 0x13, 0x01]); // one cipher
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![0x01];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[test]
fn startup_phase_packets_are_recognised() {
    assert_eq!(
        recognise_pg_start(&hex("00000008 04d2162f")), // SSLRequest
        PgStart::Yes("SSLRequest")
    );
    assert_eq!(
        recognise_pg_start(&hex("00000008 04d21630")), // GSSENCRequest
        PgStart::Yes("GSSENCRequest")
    );
    assert_eq!(
        recognise_pg_start(&hex("00000010 04d2162e 00003039 deadbeef")), // CancelRequest 3.0
        PgStart::Yes("CancelRequest")
    );
    // CancelRequest of protocol 3.2 with a 256-byte key: 12 + 256 = 268 (0x10c).
    assert_eq!(
        recognise_pg_start(&hex("0000010c 04d2162e 00003039")),
        PgStart::Yes("CancelRequest")
    );
    let v30 = startup(pg::PROTOCOL_3_0, &[("user", "app"), ("database", "appdb")]);
    let v32 = startup(pg::PROTOCOL_3_2, &[("user", "app")]);
    assert_eq!(recognise_pg_start(&v30), PgStart::Yes("StartupMessage"));
    assert_eq!(recognise_pg_start(&v32), PgStart::Yes("StartupMessage"));
    // Bytes after the packet (pipelined) do not matter.
    let mut more = v32.clone();
    more.extend_from_slice(b"p\0\0\0\x08abcd");
    assert_eq!(recognise_pg_start(&more), PgStart::Yes("StartupMessage"));
}

#[test]
fn prefixes_ask_for_more_bytes() {
    let v30 = startup(pg::PROTOCOL_3_0, &[("user", "app")]);
    for n in 0..v30.len() {
        assert_eq!(recognise_pg_start(&v30[..n]), PgStart::NeedMore, "{n}");
    }
    let ssl = hex("00000008 04d2162f");
    for n in 0..8 {
        assert_eq!(recognise_pg_start(&ssl[..n]), PgStart::NeedMore, "{n}");
    }
    let ch = client_hello(&["postgresql"]);
    for n in 0..ch.len() {
        assert_eq!(recognise_pg_start(&ch[..n]), PgStart::NeedMore, "{n}");
    }
}

#[test]
fn direct_tls_needs_the_postgresql_alpn() {
    assert_eq!(
        recognise_pg_start(&client_hello(&["postgresql"])),
        PgStart::Yes("TLS ClientHello with ALPN postgresql (direct TLS)")
    );
    assert_eq!(
        recognise_pg_start(&client_hello(&["h2", "postgresql"])),
        PgStart::Yes("TLS ClientHello with ALPN postgresql (direct TLS)")
    );
    // HTTPS and other TLS on another port are not PostgreSQL.
    assert_eq!(recognise_pg_start(&client_hello(&["h2"])), PgStart::No);
    assert_eq!(recognise_pg_start(&client_hello(&[])), PgStart::No);
    // A record that is not a ClientHello.
    assert_eq!(recognise_pg_start(&hex("15 0303 0002 0228")), PgStart::No);
}

#[test]
fn other_protocols_are_not_postgresql() {
    for b in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"\x00\x00\x00\x08\x04\xd2\x16\x31", // unknown request code
        b"\x00\x00\x00\x04\x00\x03\x00\x00", // length below 8
        b"\x00\x00\x30\x00\x00\x03\x00\x00", // length above 10004
        b"\x00\x01\x00\x00",                 // cannot be a startup length
        b"\x00\x00\x00\x09\x04\xd2\x16\x2f\x00", // SSLRequest with the wrong length
        b"\x00\x00\x00\x0c\x04\xd2\x16\x2e\x00\x00\x00\x01", // CancelRequest without a key
    ] {
        assert_eq!(recognise_pg_start(b), PgStart::No, "{b:?}");
    }
    // A 3.0 StartupMessage without a user, or with parameters not ended by a zero.
    assert_eq!(
        recognise_pg_start(&startup(pg::PROTOCOL_3_0, &[("database", "x")])),
        PgStart::No
    );
    let mut cut = startup(pg::PROTOCOL_3_0, &[("user", "app")]);
    cut.pop();
    cut[3] -= 1;
    assert_eq!(recognise_pg_start(&cut), PgStart::No);
    // Protocol 2.0 (never sent by a current client) is not taken as PostgreSQL
    // on an unknown port.
    assert_eq!(
        recognise_pg_start(&startup(0x0002_0000, &[("user", "app")])),
        PgStart::No
    );
}

#[test]
fn gss_framer_counts_wrapped_packets_across_segments() {
    // Two packets: length 5 + payload, length 3 + payload, fed byte by byte.
    let bytes = hex("00000005 0102030405 00000003 aabbcc");
    let mut f = GssFramer::default();
    for b in &bytes {
        f.feed(std::slice::from_ref(b));
    }
    assert_eq!((f.packets, f.bad), (2, None));
    let mut whole = GssFramer::default();
    whole.feed(&bytes);
    assert_eq!((whole.packets, whole.bad), (2, None));
    // A length word that no GSSAPI packet has: framing stops there.
    let mut bad = GssFramer::default();
    bad.feed(&hex("00000002 0102 51000000 16"));
    assert_eq!((bad.packets, bad.bad), (1, Some(0x5100_0000)));
    let mut zero = GssFramer::default();
    zero.feed(&hex("00000000"));
    assert_eq!(zero.bad, Some(0));
}

#[test]
fn fixed_version_texts_read_as_the_version_names() {
    for v in [
        0x0002, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x7f17, 0x0a0a, 0xfefd,
    ] {
        let v = tls::TlsVersion(v);
        let text = with_version!("ServerHello selecting ", v);
        assert_eq!(text, format!("ServerHello selecting {}", v.name()));
        assert_eq!(
            matches!(text, Cow::Borrowed(_)),
            (0x0301..=0x0304).contains(&v.0),
            "{text}"
        );
    }
}

/// A typed message: its type byte, length word and body.
fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// A plaintext session, turn by turn: startup and SCRAM authentication,
/// simple and extended queries (several in one segment), rows short and
/// past the longest body kept whole, an error, a notice, and bytes that are
/// no message at all.
fn plaintext_turns() -> Vec<(Direction, Vec<u8>)> {
    use Direction::{ToClient as S, ToServer as C};
    let auth = |code: u32, rest: &[u8]| {
        let mut b = code.to_be_bytes().to_vec();
        b.extend_from_slice(rest);
        message(b'R', &b)
    };
    let cat = |parts: &[Vec<u8>]| parts.concat();
    let row = |n: usize| {
        let mut b = 1u16.to_be_bytes().to_vec();
        b.extend_from_slice(&(n as u32).to_be_bytes());
        b.extend(std::iter::repeat_n(b'x', n));
        message(b'D', &b)
    };
    let ready = message(b'Z', b"I");
    let done = message(b'C', b"SELECT 1\0");
    vec![
        (
            C,
            startup(
                pg::PROTOCOL_3_0,
                &[
                    ("user", "app"),
                    ("database", "appdb"),
                    ("application_name", "t"),
                ],
            ),
        ),
        (S, auth(10, b"SCRAM-SHA-256\0\0")),
        (C, message(b'p', b"SCRAM-SHA-256\0\0\0\0\x08n,,n=,r=x")),
        (S, auth(11, b"r=xy,s=c2FsdA==,i=4096")),
        (C, message(b'p', b"c=biws,r=xy,p=cHJvb2Y=")),
        (
            S,
            cat(&[
                auth(12, b"v=c2ln"),
                auth(0, b""),
                message(b'S', b"server_version\x0015.18\0"),
                message(b'S', b"client_encoding\0UTF8\0"),
                message(b'K', &[0, 0, 0x30, 0x39, 1, 2, 3, 4]),
                ready.clone(),
            ]),
        ),
        (
            C,
            cat(&[
                message(b'Q', b"select 1\0"),
                message(b'P', b"\0select $1\0\0\0"),
                message(b'B', b"\0\0\0\0\0\0\0\0"),
                message(b'E', b"\0\0\0\0\0"),
                message(b'S', b""),
            ]),
        ),
        (
            S,
            cat(&[
                message(
                    b'T',
                    b"\0\x01a\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0",
                ),
                row(3),
                row(20_000),
                done.clone(),
                ready.clone(),
                message(b'1', b""),
                message(b'2', b""),
                row(5),
                done,
                ready.clone(),
            ]),
        ),
        (
            C,
            cat(&[
                message(b'Q', b"select 2\0"),
                message(b'Q', b"select 3\0"),
                message(b'Q', b"select 4\0"),
            ]),
        ),
        (
            S,
            cat(&[
                message(b'E', b"SERROR\0C42P01\0Mrelation \"t\" does not exist\0\0"),
                ready,
            ]),
        ),
        (
            S,
            cat(&[
                message(b'N', b"SNOTICE\0Mhi\0\0"),
                b"\x00\x01 not a message".to_vec(),
            ]),
        ),
        (C, message(b'X', b"")),
    ]
}

/// What a plaintext conversation makes of its bytes does not depend on how
/// the segments cut them: whole turns, every turn cut at random places,
/// one byte at a time.
#[test]
fn plaintext_messages_do_not_depend_on_how_the_segments_cut_them() {
    let turns = plaintext_turns();
    let feed = |cuts: &mut dyn FnMut(usize) -> Vec<usize>| {
        let mut c = Conversation::default();
        for (frame, (dir, bytes)) in turns.iter().enumerate() {
            let mut at = 0;
            // After bytes that are no message, the stream waits for a
            // segment that starts with a plausible header: where segments
            // cut them matters by design. That turn goes whole.
            let stray = frame == turns.len() - 2;
            let mut points = if stray { Vec::new() } else { cuts(bytes.len()) };
            points.push(bytes.len());
            for end in points {
                if end == at {
                    // The reassembler hands on no empty chunk.
                    continue;
                }
                c.chunk(
                    *dir,
                    Chunk::Data {
                        bytes: &bytes[at..end],
                        frame: frame as u64,
                    },
                );
                at = end;
            }
        }
        c
    };
    let whole = feed(&mut |_| Vec::new());
    // The session was read: queries counted, the error and the stray bytes
    // seen, the long row passed over.
    assert_eq!(whole.pg.queries, 5);
    assert_eq!(whole.pg.password_messages, 2);
    assert_eq!(whole.pg.server_version.as_deref(), Some("15.18"));
    assert_eq!(
        whole.pg.error.as_ref().and_then(|e| e.code.as_deref()),
        Some("42P01")
    );
    assert_eq!(whole.server_malformed().map(|(tag, _)| tag), Some(0));
    let by_byte = feed(&mut |n| (1..n).collect());
    assert!(by_byte == whole, "{by_byte:#?}\nagainst\n{whole:#?}");
    let mut rng = crate::testutil::XorShift(5);
    for round in 0..300 {
        let cut = feed(&mut |n| {
            let mut points: Vec<usize> = (0..rng.below(6)).map(|_| rng.below(n + 1)).collect();
            points.sort_unstable();
            points
        });
        assert!(cut == whole, "round {round}: {cut:#?}\nagainst\n{whole:#?}");
    }
}

/// The startup's pending bytes are handed to the phase they lead to, and
/// their buffers stay the conversation's (emptied), for the next
/// conversation that starts in its box; the bytes are read as before.
#[test]
fn pending_startup_buffers_stay_after_the_handshake_takes_them() {
    let mut c = Conversation::default();
    let turns: [(Direction, Vec<u8>); 3] = [
        (Direction::ToServer, hex("00000008 04d2162f")),
        (Direction::ToClient, b"S".to_vec()),
        (Direction::ToServer, client_hello(&[])),
    ];
    for (frame, (dir, bytes)) in turns.iter().enumerate() {
        c.chunk(
            *dir,
            Chunk::Data {
                bytes,
                frame: frame as u64 + 1,
            },
        );
    }
    assert_eq!(c.phase, Phase::Tls);
    assert!(c.tls.client_hello.is_some(), "{c:#?}");
    assert_eq!(c.tls.client_hello_frame, 3);
    for pending in [&c.pending_client, &c.pending_server] {
        assert!(pending.is_empty());
        assert!(pending.capacity() > 0, "a buffer was dropped");
    }
}

/// Alerts in clear are named with their code, or by their code alone when
/// they have no name, in the evidence as in the alert's label.
#[test]
fn alerts_in_clear_are_told_with_their_names_and_codes() {
    assert_eq!(alert_label(70), "protocol_version (70)");
    assert_eq!(alert_label(0), "close_notify (0)");
    assert_eq!(alert_label(255), "255");
    let mut c = Conversation::default();
    let turns: [(Direction, Vec<u8>); 5] = [
        (Direction::ToServer, hex("00000008 04d2162f")),
        (Direction::ToClient, b"S".to_vec()),
        (Direction::ToServer, client_hello(&[])),
        // A warning alert of no known description, then a fatal one.
        (Direction::ToClient, hex("15030300 0201ff")),
        (Direction::ToClient, hex("15030300 020246")),
    ];
    for (frame, (dir, bytes)) in turns.iter().enumerate() {
        c.chunk(
            *dir,
            Chunk::Data {
                bytes,
                frame: frame as u64 + 1,
            },
        );
    }
    let told: Vec<&str> = c.evidence.iter().map(|e| e.what.as_ref()).collect();
    assert!(
        told.contains(&"warning alert 255 from the server"),
        "{told:?}"
    );
    assert!(
        told.contains(&"fatal alert protocol_version (70) from the server"),
        "{told:?}"
    );
    assert!(c.is_settled());
}
