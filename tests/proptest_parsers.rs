//! Property tests of the PostgreSQL and TLS parsers: on any bytes they
//! return without panicking and never hand back bytes from outside their
//! input; what a builder writes, they read back; every truncation of a
//! valid message is handled; the TLS record layer gives the same events
//! however its stream is cut into pieces.

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use pgtls::pg::{self, StartupPacket};
use pgtls::tls::{self, TlsEvent, TlsStream};
use proptest::collection::vec;
use proptest::prelude::*;

/// Is `part` a slice lying within `whole`?
fn within(whole: &[u8], part: &[u8]) -> bool {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    part.is_empty() || (p >= w && p + part.len() <= w + whole.len())
}

/// Every PostgreSQL parser over the same bytes, checking that each slice
/// returned lies within them.
fn pg_parsers_stay_within(data: &[u8]) {
    if let pg::StartupFraming::Packet { len, .. } = pg::frame_pg_startup(data) {
        assert!((8..=pg::MAX_STARTUP_PACKET_LEN).contains(&len));
    }
    if let Ok((rest, p)) = pg::parse_pg_startup_packet(data) {
        assert!(within(data, rest));
        match p {
            StartupPacket::Cancel { key, .. } => assert!(within(data, key)),
            StartupPacket::Startup { params, .. } => {
                assert!(within(data, params));
                for (n, v) in pg::startup_params(params) {
                    assert!(within(params, n) && within(params, v));
                }
            }
            _ => {}
        }
    }
    if let Ok((rest, s)) = pg::parse_cstring(data) {
        assert!(within(data, rest) && within(data, s));
    }
    let _ = pg::parse_pg_message_header(data);
    if let Ok((rest, _)) = pg::parse_pg_authentication(data) {
        assert!(within(data, rest));
    }
    let f = pg::parse_pg_error_fields(data);
    for v in [f.severity, f.severity_nonlocalized, f.code, f.message]
        .into_iter()
        .flatten()
    {
        assert!(within(data, v));
    }
    if let Ok((rest, (n, v))) = pg::parse_pg_parameter_status(data) {
        assert!(within(data, rest) && within(data, n) && within(data, v));
    }
    if let Ok((_, (_, key))) = pg::parse_pg_backend_key_data(data) {
        assert!(within(data, key));
    }
    let _ = pg::parse_pg_ready_for_query(data);
    let _ = pg::parse_pg_negotiate_protocol_version(data);
    let _ = pg::parse_pg_gss_token_len(data);
}

/// Every TLS parser over the same bytes.
fn tls_parsers_stay_within(data: &[u8]) {
    let _ = tls::parse_tls_record_header(data);
    let _ = tls::looks_like_tls_record(data);
    let _ = tls::looks_like_sslv2_client_hello(data);
    if let Some((ch, used)) = tls::parse_sslv2_client_hello(data) {
        assert!(used <= data.len());
        let _ = ch.max_version().name();
    }
    let ch = tls::parse_client_hello(data, 0x0301);
    if let Some(ch) = &ch {
        let _ = ch.max_version().name();
    }
    assert_eq!(
        tls::shared_client_hello(data, 0x0301).as_deref(),
        ch.as_ref()
    );
    assert_eq!(
        tls::shared_server_hello(data).as_deref(),
        tls::parse_server_hello(data).as_ref()
    );
    for (_, whole) in tls::raw_extensions(data) {
        assert!(within(data, whole));
    }
}

/// A parameter name or value: any bytes but NUL, as UTF-8.
fn cstr() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,24}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn pg_parsers_never_panic_nor_read_past_their_input(data in vec(any::<u8>(), 0..600)) {
        pg_parsers_stay_within(&data);
        // The same bytes behind a plausible length word and code.
        let mut framed = ((data.len() + 8) as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&pg::PROTOCOL_3_0.to_be_bytes());
        framed.extend_from_slice(&data);
        pg_parsers_stay_within(&framed);
    }

    #[test]
    fn tls_parsers_never_panic_nor_read_past_their_input(data in vec(any::<u8>(), 0..2048)) {
        tls_parsers_stay_within(&data);
        let mut stream = TlsStream::default();
        let mut events = Vec::new();
        stream.feed(&data, &mut events);
    }

    #[test]
    fn startup_messages_read_back_and_every_truncation_is_refused(
        params in vec((cstr(), cstr()), 0..8),
    ) {
        let params: Vec<(String, String)> =
            params.into_iter().filter(|(k, _)| !k.is_empty()).collect();
        let refs: Vec<(&str, &str)> =
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let msg = hostile::startup_message(&refs);
        prop_assume!(msg.len() <= pg::MAX_STARTUP_PACKET_LEN as usize);
        let (rest, p) = pg::parse_pg_startup_packet(&msg).expect("a valid StartupMessage");
        prop_assert!(rest.is_empty());
        let StartupPacket::Startup { version, params: raw } = p else {
            panic!("not a StartupMessage: {p:?}");
        };
        prop_assert_eq!(version.0, pg::PROTOCOL_3_0);
        let read: Vec<(String, String)> = pg::startup_params(raw)
            .map(|(k, v)| {
                (String::from_utf8(k.to_vec()).unwrap(), String::from_utf8(v.to_vec()).unwrap())
            })
            .collect();
        prop_assert_eq!(read, params);
        for cut in 0..msg.len() {
            prop_assert!(pg::parse_pg_startup_packet(&msg[..cut]).is_err(), "cut {}", cut);
            pg_parsers_stay_within(&msg[..cut]);
        }
    }

    #[test]
    fn error_fields_read_back_and_truncations_keep_what_came_before(
        severity in cstr(), code in cstr(), message in cstr(),
    ) {
        let e = hostile::error_response(&[(b'S', &severity), (b'C', &code), (b'M', &message)]);
        let body = &e[5..];
        let f = pg::parse_pg_error_fields(body);
        prop_assert_eq!(f.severity, Some(severity.as_bytes()));
        prop_assert_eq!(f.code, Some(code.as_bytes()));
        prop_assert_eq!(f.message, Some(message.as_bytes()));
        for cut in 0..body.len() {
            let f = pg::parse_pg_error_fields(&body[..cut]);
            if cut > severity.len() + 1 {
                prop_assert_eq!(f.severity, Some(severity.as_bytes()));
            }
            prop_assert!(f.message.is_none() || cut == body.len() - 1);
        }
    }

    #[test]
    fn client_hellos_read_back_and_every_truncation_is_handled(
        sni in "[a-z0-9.-]{1,64}",
        padding in 0usize..3000,
    ) {
        let hs = hostile::client_hello(sni.as_bytes(), padding);
        let body = &hs[4..];
        let ch = tls::parse_client_hello(body, 0x0301).expect("a valid ClientHello");
        prop_assert_eq!(ch.sni.as_deref(), Some(sni.as_str()));
        prop_assert_eq!(ch.max_version(), tls::TlsVersion::TLS_1_3);
        prop_assert_eq!(&ch.ciphers, &[0x1301, 0x1302, 0x1303]);
        for cut in 0..body.len() {
            let _ = tls::parse_client_hello(&body[..cut], 0x0301);
            tls_parsers_stay_within(&body[..cut]);
        }
        let sh = hostile::server_hello_tls13();
        for cut in 0..sh.len() - 4 {
            let _ = tls::parse_server_hello(&sh[4..4 + cut]);
        }
        let full = tls::parse_server_hello(&sh[4..]).expect("a valid ServerHello");
        prop_assert_eq!(full.selected_version, 0x0304);
    }

    /// The record layer gives the same events whether the stream arrives
    /// whole, byte by byte, or cut anywhere.
    #[test]
    fn tls_events_do_not_depend_on_how_the_stream_is_cut(
        records in vec(
            prop_oneof![
                (Just(22u8), Just(Vec::new())),
                (Just(21u8), vec(any::<u8>(), 2..=2)),
                (Just(20u8), Just(vec![1u8])),
                (Just(23u8), vec(any::<u8>(), 1..400)),
                (20u8..=24, vec(any::<u8>(), 0..64)),
            ],
            0..12,
        ),
        hello_record_size in 1usize..600,
        trailing in vec(any::<u8>(), 0..8),
        cuts in vec(1usize..700, 1..40),
    ) {
        // A ClientHello split over records, then the generated records.
        let mut stream = hostile::tls_records(
            22,
            &hostile::client_hello(b"cut.example", 100),
            hello_record_size,
        );
        for (ct, body) in &records {
            stream.extend(hostile::tls_record(*ct, 0x0303, body));
        }
        stream.extend_from_slice(&trailing);

        let mut whole = TlsStream::default();
        let mut expected = Vec::new();
        whole.feed(&stream, &mut expected);
        prop_assert!(
            matches!(expected.first(), Some(TlsEvent::ClientHello(..))),
            "{:?}", expected.first()
        );

        let mut pieces = TlsStream::default();
        let mut got = Vec::new();
        let (mut off, mut i) = (0, 0);
        while off < stream.len() {
            let n = cuts[i % cuts.len()].min(stream.len() - off);
            pieces.feed(&stream[off..off + n], &mut got);
            off += n;
            i += 1;
        }
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(pieces.records, whole.records);

        let mut bytes = TlsStream::default();
        let mut one_by_one = Vec::new();
        for b in &stream {
            bytes.feed(std::slice::from_ref(b), &mut one_by_one);
        }
        prop_assert_eq!(&one_by_one, &expected);
    }
}
