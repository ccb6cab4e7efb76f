//! Unit tests of the TLS record layer, handshake reassembly and hello parsers.
//!
//! The byte strings below are TCP payloads copied from the captures in
//! `samples/` (`tshark -r FILE -Y frame.number==N -T fields -e tcp.payload`),
//! one line per record header; synthetic records are built from them.

use super::*;
use crate::testutil::{hex, XorShift};

/// tls13-verify-full.pcap, frame 8: 311 bytes of TCP payload.
const TLS13_CLIENT_HELLO: &str = concat!(
    "1603010132", // Handshake record, 306 bytes: ClientHello (302)
    "0100012e03034c5d42eb2bb1c923b0e9e3be8002fe6ee80a3f04ebf0d49a549f",
    "4552a3be3c972051d66acab9dc0d874fee832fddbc30907db69415d8dffcf4a3",
    "82d5a3f9076cf0003e130213031301c02cc030009fcca9cca8ccaac02bc02f00",
    "9ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d00",
    "3c0035002f00ff010000a70000000e000c0000096c6f63616c686f7374000b00",
    "0403000102000a00160014001d0017001e001900180100010101020103010400",
    "2300000016000000170000000d002a0028040305030603080708080809080a08",
    "0b080408050806040105010601030303010302040205020602002b0005040304",
    "0303002d00020101003300260024001d002052e98b71c932faf4367bbc46cf4b",
    "9ba28edafa8e4c78fd8621ff478774c19208",
);

/// tls13-verify-full.pcap, frame 9: 99 bytes of TCP payload (the server
/// asks for a secp256r1 key share).
const TLS13_HRR_CCS: &str = concat!(
    "1603030058", // Handshake record, 88 bytes: ServerHello (84) with the HRR random
    "020000540303cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e",
    "09e2c8a8339c2051d66acab9dc0d874fee832fddbc30907db69415d8dffcf4a3",
    "82d5a3f9076cf0130200000c002b00020304003300020017",
    "1403030001", // ChangeCipherSpec record, 1 byte
    "01",
);

/// tls13-verify-full.pcap, frame 10: 350 bytes of TCP payload.
const TLS13_CCS_CLIENT_HELLO2: &str = concat!(
    "1403030001", // ChangeCipherSpec record, 1 byte
    "01",
    "1603030153", // Handshake record, 339 bytes: ClientHello (335)
    "0100014f03034c5d42eb2bb1c923b0e9e3be8002fe6ee80a3f04ebf0d49a549f",
    "4552a3be3c972051d66acab9dc0d874fee832fddbc30907db69415d8dffcf4a3",
    "82d5a3f9076cf0003e130213031301c02cc030009fcca9cca8ccaac02bc02f00",
    "9ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d00",
    "3c0035002f00ff010000c80000000e000c0000096c6f63616c686f7374000b00",
    "0403000102000a00160014001d0017001e001900180100010101020103010400",
    "2300000016000000170000000d002a0028040305030603080708080809080a08",
    "0b080408050806040105010601030303010302040205020602002b0005040304",
    "0303002d0002010100330047004500170041045f83c2e3eb315b182aab3c832d",
    "67e3807d251cbd7db67fffea4576c6bff66db7c40073d924a9f359059cd4f6c2",
    "34d1dcf82e40eb095cd225c75c0222341422bf",
);

/// tls13-verify-full.pcap, frame 11 (first two records): 188 bytes of TCP payload.
const TLS13_SERVER_HELLO: &str = concat!(
    "160303009b", // Handshake record, 155 bytes: ServerHello (151)
    "020000970303da53bf27a9d232f9d958081186c413db6f23dc2201ccf42d5227",
    "67da96d4fd1a2051d66acab9dc0d874fee832fddbc30907db69415d8dffcf4a3",
    "82d5a3f9076cf0130200004f002b00020304003300450017004104a1578e22c0",
    "b815bd6187f8c38e0ec6de508b8a00c1076283200d6ee6576b48bcc9ff463648",
    "6deb8a24f5c2f1d58394668e5d1fe1f98e25ce6f3a7081d4401e9a",
    "1703030017", // ApplicationData record, 23 bytes: EncryptedExtensions
    "06e75123a03a3715a77489bc9676c3f97485c3849a3a92",
);

/// tls12.pcap, frame 8: 206 bytes of TCP payload.
const TLS12_CLIENT_HELLO: &str = concat!(
    "16030100c9", // Handshake record, 201 bytes: ClientHello (197)
    "010000c503036ce0b101b162a172f1d57109618b3e499a1329ee32df41adbbf0",
    "1d7c632d4847000038c02cc030009fcca9cca8ccaac02bc02f009ec024c02800",
    "6bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00",
    "ff010000640000000e000c0000096c6f63616c686f7374000b00040300010200",
    "0a000c000a001d0017001e00190018002300000016000000170000000d002a00",
    "28040305030603080708080809080a080b080408050806040105010601030303",
    "010302040205020602",
);

/// tls12.pcap, frame 9: 1310 bytes of TCP payload.
const TLS12_SERVER_FLIGHT: &str = concat!(
    "160303003d", // Handshake record, 61 bytes: ServerHello (57)
    "0200003903035823b63a65f5a5b0c4a5b5a953278ef8d3e6c19d36747552444f",
    "574e4752440100c030000011ff01000100000b00040300010200170000",
    "160303037c", // Handshake record, 892 bytes: Certificate (888)
    "0b0003780003750003723082036e30820256a00302010202146023bae4f8597c",
    "a1e4ece87c0a613bc6cda617b2300d06092a864886f70d01010b0500302a3128",
    "302606035504030c1f7067746c732073616d706c6573207468726f7761776179",
    "20726f6f74204341301e170d3236313132383230353533365a170d3236313232",
    "383230353533365a30143112301006035504030c096c6f63616c686f73743082",
    "0122300d06092a864886f70d01010105000382010f003082010a0282010100b1",
    "fff6f0a7797c0fbcc853329a6a805cc905bd500f455601605602d16e6f6318b0",
    "cd0168723e6b381aab092f162a2a18babdf5000e5b84d02a95e69ae1947bf5b2",
    "93ff2cd3134924058a1ff50dddd8c83f262c28f5c5a1739b8cb8845d831fed4d",
    "6fd5f4bb613b692100b33f2101d4a50d1ecdcaa180ec9e6329bd48f30374bb62",
    "ccac249e24e69c07c7a9cb1c803402910f1cee42ab13ea265a0eee0d28d0bea4",
    "1d3ac92eb45f7c7d11b88a79fa5b56ae9e648dbbce873df119a4f2ecbdffa877",
    "aff5da2d82a39246c067891f05e182a132d623ded5a71bebd4f513e418a263c3",
    "ff0db66ab88b858411252e2bfbf85b5ca6d5e356cdfb0f478287e31e62a24302",
    "03010001a381a130819e30090603551d1304023000300e0603551d0f0101ff04",
    "04030205a030130603551d25040c300a06082b06010505070301302c0603551d",
    "110425302382096c6f63616c686f737487047f00000187100000000000000000",
    "0000000000000001301d0603551d0e04160414ba9629772d6942b4e189ac93d8",
    "71d4a9766864ad301f0603551d23041830168014ea60c78cf1a251c1f652b2cc",
    "ec3b52be73576d15300d06092a864886f70d01010b050003820101003c34f828",
    "06a6e09565994d3e85a41f4411843542ca1fd1349ab8cee6e19de4d441e9d685",
    "133bb783269d17e50fd11aec7d1881558485f609ec9ba20f0c7fbb37d2916305",
    "06f1fbdf104e4e7d031ae0252cbe91659be720a24c7dfea0d3fd865c82268881",
    "74878bf45c721525e7fddd8dd438171149d37fcbe76249c8dd226d162680d69c",
    "4c1bc7424ad381a7b97e2b1d05162c537ac7e45cece6bc8946e0e0b70f2f870a",
    "f4a63b5da738fb64a2ece7652444ed9cb9d08955378554ce78dbe6080b4e0644",
    "9414a48b624f8ac3ce6f25bfc575b6847dc5b5bdc080a6e26dda63779c355219",
    "15bdc42b9ade660b39ca8d7071a99889d2130b7b12d861b30d4e87ed",
    "160303014d", // Handshake record, 333 bytes: ServerKeyExchange (329)
    "0c00014903001741049992b50ed05fd3ea4d739c50460a57a699cb596fff8147",
    "7f954d26e879d2fa9609eac8ca1647e04d1928245bf4b1bdaf33ff970639759f",
    "cc2101d1441c8c8a4b080401003df3936d4a1b3eabff5ba1e461c52d745ff58c",
    "60f4cfb3301549c44cc3b23d05d75f69311fd1bd7e8f4f96f54958ebaa197573",
    "27f6ab9360bec8bb4138a1d94b0f6a04758de7af8db51a8a0b58dfff42895bd7",
    "3c0d30a590d4e07f7381e3e75d0d134f32eb25ed31cd150fd2aee32108bd9564",
    "1c389be62e6e3ffe3f74aab627883a1650fab5b0a8f119f98a90e46b9165780f",
    "c52e9fb89f7607645fd5773e0856ce0484da16ace6dd52b36de51d16c4ff885a",
    "006fd95086b3018f9108e3c7793ed18855603f4d9a914ac647003994de423c22",
    "9fe5d24f4641b932a9a9fcac9f84963929368a8759015768a4685abb2a57f643",
    "b2a4b50bd0ba16587d927a7e8e",
    "1603030004", // Handshake record, 4 bytes: ServerHelloDone (0)
    "0e000000",
);

/// tls12.pcap, frame 10: 126 bytes of TCP payload.
const TLS12_CLIENT_FINISHED: &str = concat!(
    "1603030046", // Handshake record, 70 bytes: ClientKeyExchange (66)
    "100000424104e21b8bc8631c70c377f4a179df7d31a42afab0cc658739417ed9",
    "6f363f8dbb1febc8a062b9001422562e8807bf2184e24f325ee8758e5cbf5a19",
    "4877f949c44a",
    "1403030001", // ChangeCipherSpec record, 1 byte
    "01",
    "1603030028", // Handshake record, 40 bytes: encrypted Finished
    "cd81c803e28269caca2b4672a64a8fa2b32364c70832249e76f556fd9b430480",
    "8ecea1ad4eaa93df",
);

/// tls12.pcap, frame 11: 51 bytes of TCP payload.
const TLS12_SERVER_FINISHED: &str = concat!(
    "1403030001", // ChangeCipherSpec record, 1 byte
    "01",
    "1603030028", // Handshake record, 40 bytes: encrypted Finished
    "55c0d4f2140604a24621e3ad235852f0f6d706738d23f1650b103b060b3822c7",
    "89693ac92c1c1ff7",
);

/// tls12.pcap, frame 21: 31 bytes of TCP payload.
const TLS12_ENCRYPTED_ALERT: &str = concat!(
    "150303001a", // Alert record, 26 bytes: encrypted close_notify
    "cd81c803e28269d0842b14082ee900dcc96c4b9d82f7de5462f2",
);

/// tls10-refused.pcap, frame 8: 104 bytes of TCP payload.
const TLS10_CLIENT_HELLO: &str = concat!(
    "1603010063", // Handshake record, 99 bytes: ClientHello (95)
    "0100005f030176b74eff6ad88be24f41807c7f5689cfb9cee397480dd9874982",
    "e5782e396978000012c00ac0140039c009c01300330035002f00ff0100002400",
    "0b000403000102000a000c000a001d0017001e00190018002300000016000000",
    "170000",
);

/// tls10-refused.pcap, frame 9: 7 bytes of TCP payload.
const TLS10_ALERT: &str = concat!(
    "1503010002", // Alert record, 2 bytes: fatal protocol_version
    "0246",
);

/// scanner-testssl.pcap, frame 70: testssl's SSLv2-format ClientHello.
const SSLV2_CLIENT_HELLO_TESTSSL: &str = concat!(
    "8040",           // SSLv2 record header: 2 bytes, high bit set, length 64
    "01 0002",        // CLIENT-HELLO, version SSLv2
    "0027 0000 0010", // cipher specs 39 bytes, session id 0, challenge 16
    "050080 030080 010080 0700c0 080080 060040 040080 020080 060140 0701c0",
    "ff8000 ff8010 000000",
    "2922beb35a018b04fe5f8003a013ebc4", // challenge
);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Feeds each chunk in turn to a fresh stream (decoding certificates, as a
/// server's does); returns the stream and its events.
fn feed_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (TlsStream, Vec<TlsEvent>) {
    let mut s = TlsStream::of_server();
    let mut out = Vec::new();
    for c in chunks {
        s.feed(c, &mut out);
    }
    (s, out)
}

fn feed_whole(data: &[u8]) -> (TlsStream, Vec<TlsEvent>) {
    feed_chunks([data])
}

fn feed_bytewise(data: &[u8]) -> (TlsStream, Vec<TlsEvent>) {
    feed_chunks(data.chunks(1))
}

/// A record of `content_type` with `body`.
fn record(content_type: u8, version: u16, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// The body of the first record of `data` (the handshake message(s) it holds).
fn first_record_body(data: &[u8]) -> &[u8] {
    let h = parse_tls_record_header(data).unwrap();
    &data[5..5 + usize::from(h.len)]
}

/// The hello body (after the 4-byte handshake header) of the first record.
fn first_hello_body(data: &[u8]) -> &[u8] {
    &first_record_body(data)[4..]
}

fn only_client_hello(events: &[TlsEvent]) -> &ClientHelloInfo {
    match events {
        [TlsEvent::ClientHello(ch, _)] => ch,
        other => panic!("expected one ClientHello, got {other:?}"),
    }
}

fn only_server_hello(events: &[TlsEvent]) -> &ServerHelloInfo {
    match events {
        [TlsEvent::ServerHello(sh, _)] => sh,
        other => panic!("expected one ServerHello, got {other:?}"),
    }
}

/// Appends `ext` to the extensions of the ClientHello or ServerHello held
/// alone in the single record `rec`, fixing the three enclosing lengths.
fn with_extension(rec: &[u8], ext: &[u8]) -> Vec<u8> {
    let mut r = rec.to_vec();
    let body = 9; // record header 5 + handshake header 4
    let mut off = body + 2 + 32;
    off += 1 + usize::from(r[off]); // session id
    if r[5] == HS_CLIENT_HELLO {
        off += 2 + usize::from(u16::from_be_bytes([r[off], r[off + 1]])); // ciphers
        off += 1 + usize::from(r[off]); // compression methods
    } else {
        off += 3; // cipher, compression
    }
    let bump16 = |r: &mut Vec<u8>, at: usize| {
        let v = u16::from_be_bytes([r[at], r[at + 1]]) as usize + ext.len();
        r[at..at + 2].copy_from_slice(&(v as u16).to_be_bytes());
    };
    assert_eq!(
        off + 2 + usize::from(u16::from_be_bytes([r[off], r[off + 1]])),
        r.len(),
        "extensions must end the record"
    );
    bump16(&mut r, off);
    bump16(&mut r, 3);
    let hs_len = (usize::from(r[6]) << 16 | usize::from(r[7]) << 8 | usize::from(r[8])) + ext.len();
    r[6..9].copy_from_slice(&(hs_len as u32).to_be_bytes()[1..]);
    r.extend_from_slice(ext);
    r
}

// ---------------------------------------------------------------------------
// ClientHello through the record layer
// ---------------------------------------------------------------------------

#[test]
fn tls13_client_hello_whole() {
    let data = hex(TLS13_CLIENT_HELLO);
    assert_eq!(data.len(), 311);
    let (s, ev) = feed_whole(&data);
    let ch = only_client_hello(&ev);
    assert_eq!(ch.record_version, 0x0301);
    assert_eq!(ch.legacy_version, 0x0303);
    assert_eq!(ch.supported_versions, vec![0x0304, 0x0303]);
    assert_eq!(ch.max_version(), TlsVersion::TLS_1_3);
    assert_eq!(ch.max_version().name(), "TLSv1.3");
    assert_eq!(
        ch.offered_versions(),
        vec![TlsVersion::TLS_1_3, TlsVersion::TLS_1_2]
    );
    assert_eq!(ch.sni.as_deref(), Some("localhost"));
    assert_eq!(ch.extensions, vec![0, 11, 10, 35, 22, 23, 13, 43, 45, 51]);
    assert_eq!(ch.ciphers.len(), 31);
    assert_eq!(&ch.ciphers[..3], &[0x1302, 0x1303, 0x1301]);
    assert_eq!(ch.ciphers.last(), Some(&0x00ff));
    assert_eq!(
        ch.groups,
        vec![0x001d, 0x0017, 0x001e, 0x0019, 0x0018, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104]
    );
    assert_eq!(ch.ec_point_formats, vec![0, 1, 2]);
    assert_eq!(ch.signature_algorithms.len(), 20);
    assert_eq!(ch.signature_algorithms[0], 0x0403);
    assert!(ch.alpn.is_empty());
    assert!(!ch.sslv2_format);
    assert_eq!(s.records, 1);
    assert!(!s.broken && !s.resync && !s.cipher_changed);
    assert!(s.pending.is_empty() && s.handshake.is_empty());
}

#[test]
fn tls12_client_hello_whole() {
    let (_, ev) = feed_whole(&hex(TLS12_CLIENT_HELLO));
    let ch = only_client_hello(&ev);
    assert_eq!(ch.record_version, 0x0301);
    assert_eq!(ch.legacy_version, 0x0303);
    assert!(ch.supported_versions.is_empty());
    assert_eq!(ch.max_version(), TlsVersion::TLS_1_2);
    assert_eq!(ch.offered_versions(), vec![TlsVersion::TLS_1_2]);
    assert_eq!(ch.sni.as_deref(), Some("localhost"));
    assert_eq!(ch.extensions, vec![0, 11, 10, 35, 22, 23, 13]);
    assert_eq!(ch.ciphers.len(), 28);
    assert_eq!(ch.ciphers[0], 0xc02c);
}

#[test]
fn tls10_client_hello_whole() {
    let (_, ev) = feed_whole(&hex(TLS10_CLIENT_HELLO));
    let ch = only_client_hello(&ev);
    assert_eq!(ch.record_version, 0x0301);
    assert_eq!(ch.legacy_version, 0x0301);
    assert_eq!(ch.max_version(), TlsVersion::TLS_1_0);
    assert_eq!(ch.max_version().name(), "TLSv1.0");
    assert_eq!(ch.sni, None);
    assert_eq!(ch.extensions, vec![11, 10, 35, 22, 23]);
    assert_eq!(
        ch.ciphers,
        vec![0xc00a, 0xc014, 0x0039, 0xc009, 0xc013, 0x0033, 0x0035, 0x002f, 0x00ff]
    );
}

#[test]
fn client_hello_with_alpn_and_grease() {
    // ALPN "postgresql" (direct TLS) and supported_versions with GREASE first,
    // appended to the TLS 1.2 ClientHello of tls12.pcap.
    let alpn = hex("0010 000d 000b 0a 706f737467726573716c"); // ALPN: postgresql
    let sv = hex("002b 0007 06 3a3a 0304 0303"); // supported_versions: GREASE, 1.3, 1.2
    let rec = with_extension(&with_extension(&hex(TLS12_CLIENT_HELLO), &alpn), &sv);
    let (s, ev) = feed_whole(&rec);
    let ch = only_client_hello(&ev);
    assert_eq!(ch.alpn, vec!["postgresql".to_string()]);
    assert_eq!(ch.supported_versions, vec![0x3a3a, 0x0304, 0x0303]);
    assert_eq!(ch.max_version(), TlsVersion::TLS_1_3);
    assert_eq!(ch.extensions, vec![0, 11, 10, 35, 22, 23, 13, 16, 43]);
    assert_eq!(ch.sni.as_deref(), Some("localhost"));
    assert!(!s.broken);
}

#[test]
fn client_hello_fed_one_byte_at_a_time() {
    for sample in [TLS13_CLIENT_HELLO, TLS12_CLIENT_HELLO, TLS10_CLIENT_HELLO] {
        let data = hex(sample);
        let (whole_s, whole) = feed_whole(&data);
        let (byte_s, bytewise) = feed_bytewise(&data);
        assert_eq!(whole.len(), 1);
        assert_eq!(bytewise, whole);
        assert_eq!(byte_s.records, whole_s.records);
        assert!(byte_s.pending.is_empty());
    }
}

#[test]
fn every_prefix_of_a_client_hello_is_held_until_complete() {
    let data = hex(TLS13_CLIENT_HELLO);
    let (_, whole) = feed_whole(&data);
    for k in 0..data.len() {
        let mut s = TlsStream::default();
        let mut out = Vec::new();
        s.feed(&data[..k], &mut out);
        assert!(out.is_empty(), "prefix {k}: {out:?}");
        assert_eq!(s.pending.len(), k, "prefix {k} kept");
        s.feed(&data[k..], &mut out);
        assert_eq!(out, whole, "split at {k}");
        assert!(s.pending.is_empty());
    }
}

#[test]
fn client_hello_split_over_two_records() {
    let data = hex(TLS13_CLIENT_HELLO);
    let (_, whole) = feed_whole(&data);
    let hs = first_record_body(&data);
    for k in 1..hs.len() {
        let mut two = record(CONTENT_HANDSHAKE, 0x0301, &hs[..k]);
        two.extend(record(CONTENT_HANDSHAKE, 0x0301, &hs[k..]));
        let (s, ev) = feed_whole(&two);
        assert_eq!(ev, whole, "handshake split at {k}");
        assert_eq!(s.records, 2);
        assert!(s.handshake.is_empty());
    }
    // One record per byte of the handshake header, then the rest, fed bytewise.
    let mut many = Vec::new();
    for b in &hs[..4] {
        many.extend(record(CONTENT_HANDSHAKE, 0x0301, &[*b]));
    }
    many.extend(record(CONTENT_HANDSHAKE, 0x0301, &hs[4..]));
    let (s, ev) = feed_bytewise(&many);
    assert_eq!(ev, whole);
    assert_eq!(s.records, 5);
}

#[test]
fn client_hello_first_record_alone_gives_no_event() {
    let data = hex(TLS13_CLIENT_HELLO);
    let hs = first_record_body(&data);
    let (s, ev) = feed_whole(&record(CONTENT_HANDSHAKE, 0x0301, &hs[..100]));
    assert!(ev.is_empty());
    assert_eq!(s.handshake.len(), 100);
    assert_eq!(s.records, 1);
}

#[test]
fn every_truncation_of_a_client_hello_body_is_safe() {
    for sample in [TLS13_CLIENT_HELLO, TLS12_CLIENT_HELLO, TLS10_CLIENT_HELLO] {
        let data = hex(sample);
        let body = first_hello_body(&data);
        let full = parse_client_hello(body, 0x0301).expect("full body parses");
        for n in 0..body.len() {
            // Must not panic; whatever is returned keeps the fixed fields.
            if let Some(ch) = parse_client_hello(&body[..n], 0x0301) {
                assert_eq!(ch.legacy_version, full.legacy_version, "{n}");
                assert_eq!(ch.ciphers, full.ciphers, "{n}");
            }
        }
        // Without the cipher suites there is nothing to report.
        assert_eq!(parse_client_hello(&body[..40], 0x0301), None);
    }
}

// ---------------------------------------------------------------------------
// ServerHello, HelloRetryRequest, the rest of the server's flight
// ---------------------------------------------------------------------------

#[test]
fn tls12_server_hello_selects_1_2() {
    let data = hex(TLS12_SERVER_FLIGHT);
    let sh = parse_server_hello(first_hello_body(&data)).unwrap();
    assert_eq!(sh.legacy_version, 0x0303);
    assert_eq!(sh.selected_version, 0x0303);
    assert_eq!(sh.cipher, 0xc030);
    assert_eq!(sh.extensions, vec![0xff01, 11, 23]);
    assert_eq!(sh.session_id_len, 0);
    assert_eq!(sh.key_share_group, None);
    assert_eq!(sh.alpn, None);
    assert!(!sh.hello_retry_request);
}

#[test]
fn tls13_server_hello_selects_1_3_from_supported_versions() {
    let data = hex(TLS13_SERVER_HELLO);
    let sh = parse_server_hello(first_hello_body(&data)).unwrap();
    assert_eq!(sh.legacy_version, 0x0303);
    assert_eq!(sh.selected_version, 0x0304);
    assert_eq!(TlsVersion(sh.selected_version).name(), "TLSv1.3");
    assert_eq!(sh.cipher, 0x1302);
    assert_eq!(sh.extensions, vec![43, 51]);
    assert_eq!(sh.key_share_group, Some(0x0017));
    assert_eq!(sh.session_id_len, 32);
    assert!(!sh.hello_retry_request);
}

#[test]
fn hello_retry_request_is_detected_by_its_random() {
    let data = hex(TLS13_HRR_CCS);
    let body = first_hello_body(&data);
    assert_eq!(&body[2..34], &HRR_RANDOM);
    let sh = parse_server_hello(body).unwrap();
    assert!(sh.hello_retry_request);
    assert_eq!(sh.selected_version, 0x0304);
    assert_eq!(sh.key_share_group, Some(0x0017)); // secp256r1 requested
                                                  // The same body with one bit of the random flipped is a plain ServerHello.
    let mut other = body.to_vec();
    other[33] ^= 1;
    assert!(!parse_server_hello(&other).unwrap().hello_retry_request);
}

#[test]
fn server_hello_with_alpn() {
    let alpn = hex("0010 000d 000b 0a 706f737467726573716c"); // ALPN: postgresql
    let rec = with_extension(&hex(TLS13_SERVER_HELLO)[..160], &alpn);
    let (_, ev) = feed_whole(&rec);
    let sh = only_server_hello(&ev);
    assert_eq!(sh.alpn.as_deref(), Some("postgresql"));
    assert_eq!(sh.extensions, vec![43, 51, 16]);
    assert_eq!(sh.selected_version, 0x0304);
}

#[test]
fn tls12_server_flight_events() {
    let data = hex(TLS12_SERVER_FLIGHT);
    assert_eq!(data.len(), 1310);
    let (s, ev) = feed_whole(&data);
    assert_eq!(ev.len(), 4, "{ev:?}");
    assert!(matches!(&ev[0], TlsEvent::ServerHello(sh, _) if sh.selected_version == 0x0303));
    let TlsEvent::Certificate {
        bytes,
        chain: Some(certs),
    } = &ev[1]
    else {
        panic!("{:?}", ev[1]);
    };
    assert_eq!(*bytes, 888);
    // The samples' server certificate: localhost, from the throwaway CA.
    assert_eq!((certs.count, certs.error.as_deref()), (1, None));
    assert_eq!(certs.certs[0].subject, "CN=localhost");
    assert_eq!(
        certs.root_needed(),
        Some("CN=pgtls samples throwaway root CA")
    );
    // ServerKeyExchange: ECDHE (curve type 3) over secp256r1 (0x0017), then
    // the 65-byte point.
    let TlsEvent::ServerKeyExchange { params } = &ev[2] else {
        panic!("{:?}", ev[2]);
    };
    assert_eq!(params[..], [0x03, 0x00, 0x17, 0x41]);
    assert_eq!(ev[3], TlsEvent::Handshake { msg_type: 14 }); // ServerHelloDone
    assert_eq!(s.records, 4);
}

#[test]
fn tls12_server_flight_split_anywhere() {
    let data = hex(TLS12_SERVER_FLIGHT);
    let (_, whole) = feed_whole(&data);
    for k in 0..=data.len() {
        let (_, ev) = feed_chunks([&data[..k], &data[k..]]);
        assert_eq!(ev, whole, "split at {k}");
    }
    assert_eq!(feed_bytewise(&data).1, whole);
}

#[test]
fn two_handshake_messages_in_one_record() {
    let flight = hex(TLS12_SERVER_FLIGHT);
    let server_hello = first_record_body(&flight).to_vec();
    let mut both = server_hello.clone();
    both.extend(hex("0e 000000")); // ServerHelloDone
    let (s, ev) = feed_whole(&record(CONTENT_HANDSHAKE, 0x0303, &both));
    assert_eq!(ev.len(), 2);
    assert!(matches!(ev[0], TlsEvent::ServerHello(..)));
    assert_eq!(ev[1], TlsEvent::Handshake { msg_type: 14 });
    assert_eq!(s.records, 1);
    assert!(s.handshake.is_empty());
}

#[test]
fn tls12_full_exchange_both_directions() {
    // Client: ClientHello, then ClientKeyExchange + CCS + encrypted Finished,
    // later an encrypted close_notify.
    let mut client = hex(TLS12_CLIENT_HELLO);
    client.extend(hex(TLS12_CLIENT_FINISHED));
    client.extend(hex(TLS12_ENCRYPTED_ALERT));
    let (cs, cev) = feed_whole(&client);
    assert_eq!(cev.len(), 5, "{cev:?}");
    assert!(matches!(cev[0], TlsEvent::ClientHello(..)));
    assert_eq!(
        &cev[1..],
        &[
            TlsEvent::Handshake { msg_type: 16 }, // ClientKeyExchange
            TlsEvent::ChangeCipherSpec,
            TlsEvent::ApplicationData, // encrypted Finished
            TlsEvent::EncryptedAlert,
        ]
    );
    assert!(cs.cipher_changed);
    assert_eq!(feed_bytewise(&client).1, cev);

    // Server: its flight, then CCS + encrypted Finished.
    let mut server = hex(TLS12_SERVER_FLIGHT);
    server.extend(hex(TLS12_SERVER_FINISHED));
    let (ss, sev) = feed_whole(&server);
    assert_eq!(sev.len(), 6);
    assert_eq!(
        &sev[4..],
        &[TlsEvent::ChangeCipherSpec, TlsEvent::ApplicationData]
    );
    assert!(ss.cipher_changed);
    assert_eq!(feed_bytewise(&server).1, sev);
}

#[test]
fn tls13_server_hrr_then_server_hello() {
    // Without `tls13`, handshake records after ChangeCipherSpec are encrypted.
    let mut server = hex(TLS13_HRR_CCS);
    server.extend(hex(TLS13_SERVER_HELLO));
    let (s, ev) = feed_whole(&server);
    assert_eq!(ev.len(), 4, "{ev:?}");
    assert!(matches!(&ev[0], TlsEvent::ServerHello(sh, _) if sh.hello_retry_request));
    assert_eq!(
        &ev[1..],
        &[
            TlsEvent::ChangeCipherSpec,
            TlsEvent::ApplicationData,
            TlsEvent::ApplicationData
        ]
    );
    assert!(s.cipher_changed);

    // With `tls13` set after the HRR (as the session does), the ServerHello
    // after the compatibility ChangeCipherSpec stays readable.
    let mut s = TlsStream::default();
    let mut ev = Vec::new();
    s.feed(&hex(TLS13_HRR_CCS), &mut ev);
    s.tls13 = true;
    s.feed(&hex(TLS13_SERVER_HELLO), &mut ev);
    assert_eq!(ev.len(), 4, "{ev:?}");
    match &ev[2] {
        TlsEvent::ServerHello(sh, _) => {
            assert!(!sh.hello_retry_request);
            assert_eq!(sh.selected_version, 0x0304);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ev[3], TlsEvent::ApplicationData);
}

#[test]
fn tls13_second_client_hello_after_compat_ccs() {
    let data = hex(TLS13_CCS_CLIENT_HELLO2);
    let mut s = TlsStream {
        tls13: true,
        ..Default::default()
    };
    let mut ev = Vec::new();
    s.feed(&data, &mut ev);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0], TlsEvent::ChangeCipherSpec);
    match &ev[1] {
        TlsEvent::ClientHello(ch, _) => {
            assert_eq!(ch.record_version, 0x0303);
            assert_eq!(ch.max_version(), TlsVersion::TLS_1_3);
            assert_eq!(ch.sni.as_deref(), Some("localhost"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_truncation_of_server_hello_bodies_is_safe() {
    let flight = hex(TLS12_SERVER_FLIGHT);
    let sh13 = hex(TLS13_SERVER_HELLO);
    let hrr = hex(TLS13_HRR_CCS);
    for body in [
        first_hello_body(&flight),
        first_hello_body(&sh13),
        first_hello_body(&hrr),
    ] {
        let full = parse_server_hello(body).unwrap();
        let sid = usize::from(full.session_id_len);
        let cipher_end = 35 + sid + 2;
        for n in 0..=body.len() {
            match parse_server_hello(&body[..n]) {
                None => assert!(n < cipher_end, "{n}: None with the cipher present"),
                Some(sh) => {
                    assert!(n >= cipher_end, "{n}: Some without a cipher");
                    assert_eq!(sh.legacy_version, full.legacy_version);
                    assert_eq!(sh.cipher, full.cipher);
                    assert_eq!(sh.session_id_len, full.session_id_len);
                    assert_eq!(sh.hello_retry_request, full.hello_retry_request);
                    assert!(sh.extensions.len() <= full.extensions.len());
                }
            }
        }
    }
    // supported_versions sits at bytes 72..78 of the TLS 1.3 ServerHello body:
    // the selected version only changes once it is whole.
    let body = first_hello_body(&sh13);
    for n in 70..body.len() {
        let sh = parse_server_hello(&body[..n]).unwrap();
        let want = if n >= 78 { 0x0304 } else { 0x0303 };
        assert_eq!(sh.selected_version, want, "{n}");
    }
}

#[test]
fn malformed_hellos_are_events_not_breakage() {
    let ch = hex("16 0301 0008 01 000004 0303 0000"); // ClientHello of 4 bytes
    let sh = hex("16 0303 0006 02 000002 0303"); // ServerHello of 2 bytes
    let (s, ev) = feed_chunks([&ch[..], &sh[..], &hex(TLS10_ALERT)[..]]);
    assert_eq!(
        ev,
        vec![
            TlsEvent::Malformed {
                what: "malformed ClientHello"
            },
            TlsEvent::Malformed {
                what: "malformed ServerHello"
            },
            TlsEvent::Alert(Alert {
                level: 2,
                description: 70
            }),
        ]
    );
    assert!(!s.broken);
}

#[test]
fn handshake_message_too_large_breaks_the_stream() {
    // Certificate announcing MAX_HANDSHAKE_MSG_LEN + 1 bytes.
    let rec = hex("16 0303 0004 0b 040001"); // Certificate, length 0x040001
    let (s, ev) = feed_whole(&rec);
    assert_eq!(
        ev,
        vec![TlsEvent::Malformed {
            what: "handshake message larger than pgtls reassembles"
        }]
    );
    assert!(s.broken);
    // Exactly the limit: waits for more.
    let rec = hex("16 0303 0004 0b 040000"); // Certificate, length 0x040000
    let (s, ev) = feed_whole(&rec);
    assert!(ev.is_empty());
    assert!(!s.broken);
    assert_eq!(s.handshake.len(), 4);
}

// ---------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------

#[test]
fn alert_protocol_version() {
    let (_, ev) = feed_whole(&hex("15 0303 0002 02 46")); // Alert: fatal, protocol_version
    let a = Alert {
        level: 2,
        description: 70,
    };
    assert_eq!(ev, vec![TlsEvent::Alert(a)]);
    assert!(a.is_fatal());
    assert_eq!(alert_name(a.description), Some("protocol_version"));
    assert_eq!(ALERT_PROTOCOL_VERSION, 70);

    // The real one from tls10-refused.pcap, in a TLS 1.0 record.
    let (_, ev) = feed_whole(&hex(TLS10_ALERT));
    assert_eq!(ev, vec![TlsEvent::Alert(a)]);
}

#[test]
fn alert_warning_close_notify() {
    let (_, ev) = feed_whole(&hex("15 0303 0002 01 00")); // Alert: warning, close_notify
    let TlsEvent::Alert(a) = ev[0] else {
        panic!("{ev:?}")
    };
    assert!(!a.is_fatal());
    assert_eq!(a.description, ALERT_CLOSE_NOTIFY);
    assert_eq!(alert_name(0), Some("close_notify"));
}

#[test]
fn alert_of_other_lengths_is_encrypted() {
    let (_, ev) = feed_whole(&hex(TLS12_ENCRYPTED_ALERT));
    assert_eq!(ev, vec![TlsEvent::EncryptedAlert]);
    for body in ["", "02", "02 46 00"] {
        let r = record(CONTENT_ALERT, 0x0303, &hex(body));
        assert_eq!(feed_whole(&r).1, vec![TlsEvent::EncryptedAlert], "{body}");
    }
}

#[test]
fn two_byte_alert_after_ccs_is_encrypted_unless_tls13() {
    let data = hex("14 0303 0001 01  15 0303 0002 02 28"); // CCS, 2-byte alert
    let (_, ev) = feed_whole(&data);
    assert_eq!(
        ev,
        vec![TlsEvent::ChangeCipherSpec, TlsEvent::EncryptedAlert]
    );
    let mut s = TlsStream {
        tls13: true,
        ..Default::default()
    };
    let mut ev = Vec::new();
    s.feed(&data, &mut ev);
    assert_eq!(
        ev,
        vec![
            TlsEvent::ChangeCipherSpec,
            TlsEvent::Alert(Alert {
                level: 2,
                description: ALERT_HANDSHAKE_FAILURE
            })
        ]
    );
}

#[test]
fn alert_names() {
    for (d, n) in [
        (40, "handshake_failure"),
        (42, "bad_certificate"),
        (46, "certificate_unknown"),
        (48, "unknown_ca"),
        (71, "insufficient_security"),
        (80, "internal_error"),
        (86, "inappropriate_fallback"),
        (112, "unrecognized_name"),
        (120, "no_application_protocol"),
    ] {
        assert_eq!(alert_name(d), Some(n));
    }
    for d in [1u8, 39, 121, 255] {
        assert_eq!(alert_name(d), None);
    }
}

// ---------------------------------------------------------------------------
// Application data: skipped without buffering
// ---------------------------------------------------------------------------

/// An application-data record of `len` bytes of body.
fn app_data(len: u16) -> Vec<u8> {
    let mut r = record(CONTENT_APPLICATION_DATA, 0x0303, &[]);
    r[3..5].copy_from_slice(&len.to_be_bytes());
    r.extend((0..len).map(|i| i as u8));
    r
}

#[test]
fn application_data_larger_than_a_feed_is_skipped() {
    let rec = app_data(4096);
    let alert = hex("15 0303 0002 02 46"); // Alert: fatal, protocol_version
    let mut s = TlsStream::default();
    let mut ev = Vec::new();
    s.feed(&rec[..105], &mut ev); // header + 100 bytes
    assert_eq!(ev, vec![TlsEvent::ApplicationData]);
    assert!(
        s.pending.is_empty(),
        "application data must not be buffered"
    );
    assert_eq!(s.skip, 3996);
    s.feed(&rec[105..], &mut ev);
    assert_eq!(ev.len(), 1);
    assert_eq!(s.skip, 0);
    assert!(s.pending.is_empty());
    s.feed(&alert, &mut ev);
    assert_eq!(
        ev,
        vec![
            TlsEvent::ApplicationData,
            TlsEvent::Alert(Alert {
                level: 2,
                description: 70
            })
        ]
    );
    assert_eq!(s.records, 2);
}

#[test]
fn application_data_rest_and_next_record_in_one_feed() {
    let rec = app_data(3000);
    let mut tail = rec[1000..].to_vec();
    tail.extend(app_data(10));
    tail.extend(hex("15 0303 0002 01 00")); // Alert: warning, close_notify
    tail.extend(&app_data(500)[..7]); // the start of one more record
    let (s, ev) = feed_chunks([&rec[..1000], &tail[..]]);
    assert_eq!(
        ev,
        vec![
            TlsEvent::ApplicationData,
            TlsEvent::ApplicationData,
            TlsEvent::Alert(Alert {
                level: 1,
                description: 0
            }),
            TlsEvent::ApplicationData,
        ]
    );
    assert_eq!(s.skip, 498);
    assert!(s.pending.is_empty());
}

#[test]
fn application_data_header_split_across_feeds() {
    let rec = app_data(2000);
    let (s, ev) = feed_chunks([&rec[..3], &rec[3..50]]);
    assert_eq!(ev, vec![TlsEvent::ApplicationData]);
    assert!(s.pending.is_empty());
    assert_eq!(s.skip, 2000 - 45);
    // Bytewise: the buffer never holds more than a header.
    let mut s = TlsStream::default();
    let mut ev = Vec::new();
    for b in rec.chunks(1) {
        s.feed(b, &mut ev);
        assert!(s.pending.len() < 5);
    }
    assert_eq!(ev, vec![TlsEvent::ApplicationData]);
    assert_eq!(s.skip, 0);
}

#[test]
fn largest_record_is_accepted_one_more_is_not() {
    let rec = app_data(MAX_RECORD_LEN as u16);
    let (s, ev) = feed_whole(&rec);
    assert_eq!(ev, vec![TlsEvent::ApplicationData]);
    assert!(!s.broken);
    let (s, ev) = feed_whole(&hex("17 0303 4801")); // ApplicationData of 18433 bytes
    assert!(matches!(ev[..], [TlsEvent::Malformed { .. }]));
    assert!(s.broken);
}

#[test]
fn heartbeat_is_opaque() {
    let (_, ev) = feed_whole(&record(CONTENT_HEARTBEAT, 0x0303, &[1, 0, 0]));
    assert_eq!(ev, vec![TlsEvent::ApplicationData]);
}

// ---------------------------------------------------------------------------
// Garbage
// ---------------------------------------------------------------------------

#[test]
fn garbage_is_malformed_and_breaks_the_stream() {
    let (mut s, ev) = feed_whole(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        ev,
        vec![TlsEvent::Malformed {
            what: "bytes that are not a TLS record"
        }]
    );
    assert!(s.broken);
    // Nothing more is parsed, even valid records.
    let mut ev = Vec::new();
    s.feed(&hex(TLS10_ALERT), &mut ev);
    assert!(ev.is_empty());
    assert!(s.pending.is_empty());
}

#[test]
fn bad_record_headers() {
    for h in [
        "13 0303 0002 0246",   // content type 19
        "19 0303 0002 0246",   // content type 25
        "16 0203 0002 0246",   // major version 2
        "16 fefd 0002 0246",   // DTLS 1.2
        "00 0000 08 04d2162f", // SSLRequest sent twice
    ] {
        let (s, ev) = feed_whole(&hex(h));
        assert!(
            matches!(ev[..], [TlsEvent::Malformed { .. }]),
            "{h}: {ev:?}"
        );
        assert!(s.broken, "{h}");
    }
}

#[test]
fn garbage_after_a_valid_record() {
    let mut data = hex(TLS10_ALERT);
    data.extend(b"garbage!");
    let (s, ev) = feed_whole(&data);
    assert_eq!(ev.len(), 2);
    assert!(matches!(ev[0], TlsEvent::Alert(_)));
    assert!(matches!(ev[1], TlsEvent::Malformed { .. }));
    assert!(s.broken);
}

#[test]
fn short_garbage_waits_for_a_full_header() {
    let (mut s, ev) = feed_whole(b"GET");
    assert!(ev.is_empty());
    assert!(!s.broken);
    let mut ev = Vec::new();
    s.feed(b" / HTTP/1.1", &mut ev);
    assert!(matches!(ev[..], [TlsEvent::Malformed { .. }]));
    assert!(s.broken);
}

// ---------------------------------------------------------------------------
// Gaps
// ---------------------------------------------------------------------------

#[test]
fn gap_inside_skipped_application_data_keeps_sync() {
    let rec = app_data(1000);
    let mut s = TlsStream::default();
    let mut ev = Vec::new();
    s.feed(&rec[..105], &mut ev); // header + 100
    s.gap(500); // bytes 100..600 of the body lost
    assert!(!s.resync);
    assert_eq!(s.skip, 400);
    s.feed(&rec[605..], &mut ev); // the last 400 bytes
    s.feed(&hex("15 0303 0002 02 30"), &mut ev); // Alert: fatal, unknown_ca
    assert_eq!(
        ev,
        vec![
            TlsEvent::ApplicationData,
            TlsEvent::Alert(Alert {
                level: 2,
                description: 48
            })
        ]
    );
}

#[test]
fn gap_covering_exactly_the_rest_of_application_data() {
    let rec = app_data(1000);
    let mut s = TlsStream::default();
    let mut ev = Vec::new();
    s.feed(&rec[..5], &mut ev);
    s.gap(1000);
    assert!(!s.resync);
    assert_eq!(s.skip, 0);
    s.feed(&hex(TLS10_ALERT), &mut ev);
    assert_eq!(ev.len(), 2);
    assert!(matches!(ev[1], TlsEvent::Alert(_)));
}

#[test]
fn gap_past_application_data_resyncs() {
    let rec = app_data(1000);
    let mut s = TlsStream::default();
    let mut ev = Vec::new();
    s.feed(&rec[..5], &mut ev);
    s.gap(1003); // the record and 3 bytes of the next one
    assert!(s.resync);
    // The tail of the record whose start was lost is not parsed (no Malformed).
    s.feed(&hex("0002 0246"), &mut ev);
    assert_eq!(ev, vec![TlsEvent::ApplicationData]);
    assert!(!s.broken && s.resync);
    // A segment starting with a record header resumes parsing.
    s.feed(&hex(TLS10_ALERT), &mut ev);
    assert!(!s.resync);
    assert_eq!(ev.len(), 2);
    assert!(matches!(ev[1], TlsEvent::Alert(_)));
}

#[test]
fn gap_at_a_record_boundary_resyncs() {
    let (mut s, mut ev) = feed_whole(&hex(TLS10_ALERT));
    s.gap(10);
    assert!(s.resync);
    // Bytes that do not look like a record header are dropped without events.
    s.feed(&app_data(20)[7..], &mut ev);
    assert_eq!(ev.len(), 1);
    assert!(!s.broken);
    s.feed(&hex(TLS10_ALERT), &mut ev);
    assert_eq!(ev.len(), 2);
}

#[test]
fn gap_inside_a_pending_record_drops_it() {
    let data = hex(TLS13_CLIENT_HELLO);
    let mut s = TlsStream::default();
    let mut ev = Vec::new();
    s.feed(&data[..100], &mut ev);
    assert_eq!(s.pending.len(), 100);
    s.gap(50);
    assert!(s.resync);
    assert!(s.pending.is_empty());
    s.feed(&data[150..], &mut ev); // rest of the hello: not a record header
    assert!(ev.is_empty());
    assert!(!s.broken);
    s.feed(&data, &mut ev); // a whole new hello
    assert_eq!(ev.len(), 1);
    assert!(matches!(ev[0], TlsEvent::ClientHello(..)));
}

#[test]
fn gap_drops_a_partial_handshake_message() {
    let data = hex(TLS13_CLIENT_HELLO);
    let hs = first_record_body(&data);
    let mut s = TlsStream::default();
    let mut ev = Vec::new();
    s.feed(&record(CONTENT_HANDSHAKE, 0x0301, &hs[..120]), &mut ev);
    assert_eq!(s.handshake.len(), 120);
    s.gap(30);
    assert!(s.handshake.is_empty());
    // A complete hello after the gap parses on its own.
    s.feed(&data, &mut ev);
    assert_eq!(ev, feed_whole(&data).1);
}

#[test]
fn resync_needs_a_plausible_header() {
    let mut s = TlsStream::default();
    s.gap(1);
    let mut ev = Vec::new();
    for bad in [
        "16 0303 0000", // empty record
        "16 0305 0004", // minor version 5
        "16 0303 4801", // too long
        "16 03",        // short
        "47 4554 202f", // "GET /"
    ] {
        s.feed(&hex(bad), &mut ev);
        assert!(s.resync, "{bad}");
    }
    assert!(ev.is_empty());
    assert!(!s.broken);
}

// ---------------------------------------------------------------------------
// SSLv2-format ClientHello
// ---------------------------------------------------------------------------

fn built_sslv2_client_hello() -> Vec<u8> {
    hex(concat!(
        "802e",                               // SSLv2 record header, length 46
        "01",                                 // CLIENT-HELLO
        "0002",                               // version SSLv2
        "0015",                               // cipher specs: 21 bytes = 7 specs
        "0000",                               // session id: none
        "0010",                               // challenge: 16 bytes
        "0700c0 050080 030080 010080 060040", // SSLv2 specs
        "000035 00002f",                      // TLS suites in SSLv2 form
        "000102030405060708090a0b0c0d0e0f",   // challenge
    ))
}

#[test]
fn sslv2_client_hello_built() {
    let b = built_sslv2_client_hello();
    assert_eq!(b.len(), 2 + 0x2e);
    assert_eq!(0x2e, 9 + 21 + 16);
    assert!(looks_like_sslv2_client_hello(&b));
    assert!(!looks_like_tls_record(&b));
    let (ch, used) = parse_sslv2_client_hello(&b).unwrap();
    assert_eq!(used, 48);
    assert_eq!(ch.legacy_version, 0x0002);
    assert_eq!(ch.record_version, 0x0002);
    assert!(ch.sslv2_format);
    assert_eq!(
        ch.ciphers,
        vec![0x07c0, 0x0580, 0x0380, 0x0180, 0x0640, 0x0035, 0x002f]
    );
    assert_eq!(ch.max_version(), TlsVersion::SSL_2_0);
    assert_eq!(ch.max_version().name(), "SSLv2");
    assert!(ch.supported_versions.is_empty() && ch.sni.is_none());
}

#[test]
fn sslv2_client_hello_from_testssl() {
    let b = hex(SSLV2_CLIENT_HELLO_TESTSSL);
    assert_eq!(b.len(), 66);
    assert!(looks_like_sslv2_client_hello(&b));
    let (ch, used) = parse_sslv2_client_hello(&b).unwrap();
    assert_eq!(used, 66);
    assert_eq!(ch.legacy_version, 0x0002);
    assert!(ch.sslv2_format);
    assert_eq!(ch.ciphers.len(), 13);
    assert_eq!(&ch.ciphers[..4], &[0x0580, 0x0380, 0x0180, 0x07c0]);
}

#[test]
fn sslv2_client_hello_trailing_bytes_and_truncations() {
    let b = built_sslv2_client_hello();
    let mut longer = b.clone();
    longer.extend(hex("16 0303")); // whatever follows
    assert_eq!(parse_sslv2_client_hello(&longer).unwrap().1, 48);
    for n in 0..b.len() {
        assert_eq!(parse_sslv2_client_hello(&b[..n]), None, "{n}");
    }
}

#[test]
fn sslv2_format_hello_offering_tls() {
    // SSLv2-format hello offering TLS 1.0 (old clients, scanners).
    let b = hex(concat!(
        "801c",           // SSLv2 record header, length 28
        "01 0301",        // CLIENT-HELLO, version TLS 1.0
        "0003 0000 0010", // one spec, no session id, 16-byte challenge
        "00002f",         // TLS_RSA_WITH_AES_128_CBC_SHA
        "00112233445566778899aabbccddeeff",
    ));
    assert!(looks_like_sslv2_client_hello(&b));
    let (ch, used) = parse_sslv2_client_hello(&b).unwrap();
    assert_eq!(used, b.len());
    assert_eq!(ch.legacy_version, 0x0301);
    assert_eq!(ch.max_version(), TlsVersion::TLS_1_0);
    assert!(ch.sslv2_format);
    assert_eq!(ch.ciphers, vec![0x002f]);
}

#[test]
fn sslv2_negative_cases() {
    let mut b = built_sslv2_client_hello();
    // Without the high bit: a 3-byte-header record or not SSLv2 at all.
    let mut no_high = b.clone();
    no_high[0] &= 0x7f;
    assert_eq!(parse_sslv2_client_hello(&no_high), None);
    assert!(!looks_like_sslv2_client_hello(&no_high));
    // Cipher spec length running past the body.
    let mut long_specs = b.clone();
    long_specs[6] = 0x40;
    assert_eq!(parse_sslv2_client_hello(&long_specs), None);
    // Message type 4 (SERVER-HELLO).
    b[2] = 4;
    assert_eq!(parse_sslv2_client_hello(&b), None);
    assert!(!looks_like_sslv2_client_hello(&b));
    // TLS records and startup packets are not SSLv2 hellos.
    assert!(!looks_like_sslv2_client_hello(&hex(TLS13_CLIENT_HELLO)));
    assert!(!looks_like_sslv2_client_hello(&hex("00000008 04d2162f")));
    assert!(!looks_like_sslv2_client_hello(&hex("8040 01 00")));
}

// ---------------------------------------------------------------------------
// Versions and GREASE
// ---------------------------------------------------------------------------

#[test]
fn grease_values() {
    for i in 0u16..16 {
        let v = (i << 12) | 0x0a00 | (i << 4) | 0x0a;
        assert!(is_grease(v), "{v:#06x}");
        assert!(TlsVersion(v).is_grease());
    }
    for v in [
        0x0a1a, 0x1a0a, 0x0a0b, 0x0b0a, 0x0303, 0x0304, 0x0000, 0xffff, 0x7f1c,
    ] {
        assert!(!is_grease(v), "{v:#06x}");
    }
}

#[test]
fn version_names() {
    assert_eq!(TlsVersion::SSL_2_0.name(), "SSLv2");
    assert_eq!(TlsVersion::SSL_3_0.name(), "SSLv3");
    assert_eq!(TlsVersion::TLS_1_0.name(), "TLSv1.0");
    assert_eq!(TlsVersion::TLS_1_1.name(), "TLSv1.1");
    assert_eq!(TlsVersion::TLS_1_2.name(), "TLSv1.2");
    assert_eq!(TlsVersion::TLS_1_3.name(), "TLSv1.3");
    assert_eq!(TlsVersion(0x7f1c).name(), "TLSv1.3-draft28");
    assert_eq!(TlsVersion(0x0305).name(), "0x0305");
    assert_eq!(TlsVersion(0xfefd).name(), "0xfefd");
    assert_eq!(TlsVersion(0x3a3a).name(), "0x3a3a");
}

#[test]
fn version_rank_puts_sslv2_first() {
    let mut v = [
        TlsVersion::TLS_1_3,
        TlsVersion::SSL_3_0,
        TlsVersion::SSL_2_0,
        TlsVersion::TLS_1_1,
    ];
    v.sort_by_key(|v| v.rank());
    assert_eq!(
        v,
        [
            TlsVersion::SSL_2_0,
            TlsVersion::SSL_3_0,
            TlsVersion::TLS_1_1,
            TlsVersion::TLS_1_3
        ]
    );
}

fn hello_with(legacy: u16, supported: &[u16]) -> ClientHelloInfo {
    ClientHelloInfo {
        legacy_version: legacy,
        supported_versions: supported.to_vec(),
        ..Default::default()
    }
}

#[test]
fn max_version_ignores_grease() {
    let ch = hello_with(0x0303, &[0x3a3a, 0x0304, 0x0303]);
    assert_eq!(ch.max_version(), TlsVersion::TLS_1_3);
    assert_eq!(
        ch.offered_versions(),
        vec![TlsVersion::TLS_1_3, TlsVersion::TLS_1_2]
    );
    // GREASE that would sort above everything else.
    let ch = hello_with(0x0303, &[0xfafa, 0x0303]);
    assert_eq!(ch.max_version(), TlsVersion::TLS_1_2);
}

/// `max_version` finds without a list what `offered_versions` lists first,
/// ties of rank (SSLv2's 0x0002 and 0x0200) and GREASE included.
#[test]
fn max_version_is_the_first_offered_version() {
    let mut rng = XorShift(0x5eed_0f7e_2510_15a1);
    let pool = [
        0x0002, 0x0200, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x7f1c, 0x7f17, 0x0a0a, 0xfafa,
        0x0305, 0xfeff, 0x0000,
    ];
    for _ in 0..20_000 {
        let n = rng.below(6);
        let list: Vec<u16> = (0..n).map(|_| pool[rng.below(pool.len())]).collect();
        let ch = hello_with(pool[rng.below(pool.len())], &list);
        let first = ch
            .offered_versions()
            .first()
            .copied()
            .unwrap_or(TlsVersion(ch.legacy_version));
        assert_eq!(ch.max_version(), first, "{list:04x?}");
    }
}

#[test]
fn max_version_other_cases() {
    // Order on the wire does not matter.
    assert_eq!(
        hello_with(0x0303, &[0x0303, 0x0304]).max_version(),
        TlsVersion::TLS_1_3
    );
    // Only GREASE: falls back to legacy_version.
    assert_eq!(
        hello_with(0x0303, &[0x2a2a]).max_version(),
        TlsVersion::TLS_1_2
    );
    // No supported_versions: legacy_version.
    assert_eq!(hello_with(0x0302, &[]).max_version(), TlsVersion::TLS_1_1);
    // supported_versions wins over legacy_version, even when lower.
    assert_eq!(
        hello_with(0x0303, &[0x0302, 0x0301]).max_version(),
        TlsVersion::TLS_1_1
    );
    // Duplicates are reported once.
    assert_eq!(
        hello_with(0x0303, &[0x0304, 0x0304]).offered_versions(),
        vec![TlsVersion::TLS_1_3]
    );
    // SSLv3 is above SSLv2 although its code is larger only by rank.
    assert_eq!(
        hello_with(0x0300, &[0x0002, 0x0300]).max_version(),
        TlsVersion::SSL_3_0
    );
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

#[test]
fn record_header() {
    assert_eq!(
        parse_tls_record_header(&hex("16 0301 00c9")), // Handshake, TLS 1.0, 201
        Some(RecordHeader {
            content_type: 22,
            version: 0x0301,
            len: 201
        })
    );
    let b = hex("16 0301 00c9");
    for n in 0..5 {
        assert_eq!(parse_tls_record_header(&b[..n]), None);
    }
}

#[test]
fn looks_like_tls_record_cases() {
    for s in [
        TLS13_CLIENT_HELLO,
        TLS12_SERVER_FLIGHT,
        TLS13_CCS_CLIENT_HELLO2,
        TLS12_ENCRYPTED_ALERT,
        TLS10_ALERT,
    ] {
        assert!(looks_like_tls_record(&hex(s)));
    }
    assert!(looks_like_tls_record(&hex("17 0300 4800"))); // SSLv3, largest record
    assert!(looks_like_tls_record(&hex("18 0304 0001"))); // heartbeat
    for s in [
        "16 0303 0000",      // empty
        "16 0305 0010",      // minor 5
        "16 0203 0010",      // major 2
        "17 0303 4801",      // too long
        "13 0303 0010",      // type 19
        "19 0303 0010",      // type 25
        "00000008 04d2162f", // SSLRequest
        "16 0303 00",        // short
    ] {
        assert!(!looks_like_tls_record(&hex(s)), "{s}");
    }
}

#[test]
fn raw_extensions_stop_at_overrun() {
    let b = hex("0000 0003 aabbcc  000b 0002 0100  0010 0009 0102"); // SNI, ec_point_formats, cut ALPN
    let exts: Vec<(u16, &[u8])> = raw_extensions(&b).collect();
    assert_eq!(exts.len(), 2);
    assert_eq!(exts[0], (0, &b[..7]));
    assert_eq!(exts[1], (11, &b[7..13]));
    assert_eq!(raw_extensions(&hex("0000 00")).count(), 0);
    assert_eq!(raw_extensions(&hex("0017 0000")).count(), 1); // empty extension
}

// ---------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------

#[test]
fn mutated_real_records_never_panic() {
    let samples: Vec<Vec<u8>> = [
        TLS13_CLIENT_HELLO,
        TLS13_HRR_CCS,
        TLS13_CCS_CLIENT_HELLO2,
        TLS13_SERVER_HELLO,
        TLS12_CLIENT_HELLO,
        TLS12_SERVER_FLIGHT,
        TLS10_CLIENT_HELLO,
        SSLV2_CLIENT_HELLO_TESTSSL,
    ]
    .iter()
    .map(|s| hex(s))
    .collect();
    let mut rng = XorShift(0x0123_4567_89ab_cdef);
    for round in 0..3000 {
        let mut data = samples[round % samples.len()].clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(data.len());
            data[i] = rng.next() as u8;
        }
        let cut = rng.below(data.len() + 1);
        // Hello parsers on the mutated bytes.
        if data.len() > 9 {
            let _ = parse_client_hello(&data[9..cut.max(9)], 0x0301);
            let _ = parse_server_hello(&data[9..cut.max(9)]);
        }
        let _ = parse_sslv2_client_hello(&data[..cut]);
        // The stream, in random pieces, with a gap now and then.
        let mut s = TlsStream::default();
        let mut ev = Vec::new();
        let mut p = 0;
        while p < data.len() {
            let n = 1 + rng.below(64);
            let end = (p + n).min(data.len());
            if rng.below(50) == 0 {
                s.gap((end - p) as u64);
            } else {
                s.feed(&data[p..end], &mut ev);
            }
            p = end;
        }
        if s.broken {
            assert!(
                matches!(ev.last(), Some(TlsEvent::Malformed { .. })),
                "round {round}: broken without a Malformed event"
            );
        }
        assert!(s.pending.len() <= 5 + MAX_RECORD_LEN);
        assert!(s.handshake.len() <= MAX_HANDSHAKE_MSG_LEN + 4);
    }
}

// Key shares, session ids, tickets and raw ALPN (fingerprints, resumption).

#[test]
fn client_hello_key_shares_session_id_and_ticket() {
    let body = first_hello_body(&hex(TLS13_CLIENT_HELLO)).to_vec();
    let ch = parse_client_hello(&body, 0x0301).unwrap();
    assert_eq!(ch.key_share_groups, vec![0x001d]); // x25519 only (PG15 wants P-256: HRR)
    assert_eq!(client_hello_session_id(&body)[..], body[35..67]); // middlebox-compatibility id
    assert_eq!(ch.session_ticket_len, Some(0)); // empty ticket extension: none to resume
    assert_eq!(ch.alpn_first_raw, None);
    let body = first_hello_body(&hex(TLS12_CLIENT_HELLO)).to_vec();
    let ch = parse_client_hello(&body, 0x0301).unwrap();
    assert!(ch.key_share_groups.is_empty());
    assert!(client_hello_session_id(&body).is_empty());
}

#[test]
fn client_hello_with_two_key_shares_and_raw_alpn() {
    // key_share: X25519MLKEM768 (0x11ec) with a 4-byte stand-in key, then
    // x25519 with 2 bytes; ALPN "postgresql", "x".
    let ks = hex("0033 0010 000e 11ec 0004 01020304 001d 0002 0506");
    let alpn = hex("0010 000f 000d 0a 706f737467726573716c 01 78");
    let rec = with_extension(&with_extension(&hex(TLS12_CLIENT_HELLO), &ks), &alpn);
    let (_, ev) = feed_whole(&rec);
    let ch = only_client_hello(&ev);
    assert_eq!(ch.key_share_groups, vec![0x11ec, 0x001d]);
    assert_eq!(ch.alpn_first_raw.as_deref(), Some(&b"postgresql"[..]));
    assert_eq!(ch.alpn, vec!["postgresql".to_string(), "x".to_string()]);
    // A key share list cut in the middle keeps the entries before the cut.
    assert_eq!(key_share_groups(&hex("000e 11ec 0004 0102")), vec![0x11ec]);
    assert_eq!(key_share_groups(&hex("00")), Vec::<u16>::new());
    assert_eq!(alpn_first(&hex("0003 05 6162")), None);
}

#[test]
fn server_hello_session_id_and_psk() {
    let body = first_hello_body(&hex(TLS13_SERVER_HELLO)).to_vec();
    let sh = parse_server_hello(&body).unwrap();
    assert_eq!(server_hello_session_id(&body)[..], body[35..67]);
    assert!(!sh.psk_accepted());
    let body = first_hello_body(&hex(TLS12_SERVER_FLIGHT)).to_vec();
    assert!(parse_server_hello(&body).is_some());
    assert!(server_hello_session_id(&body).is_empty());
    // A TLS 1.3 ServerHello that accepted PSK identity 0.
    let psk = hex("0029 0002 0000");
    let rec = with_extension(&hex(TLS13_SERVER_HELLO)[..160], &psk);
    let (_, ev) = feed_whole(&rec);
    assert!(only_server_hello(&ev).psk_accepted());
}

#[test]
fn group_names_include_the_post_quantum_hybrids() {
    assert_eq!(group_name(0x11ec), Some("X25519MLKEM768"));
    assert_eq!(group_name(0x11eb), Some("SecP256r1MLKEM768"));
    assert_eq!(group_name(0x001d), Some("x25519"));
    assert_eq!(group_name(0x0017), Some("secp256r1"));
    assert_eq!(group_label(0x0a0a), "GREASE (0x0a0a)");
    assert_eq!(group_label(0x1234), "0x1234");
}

/// ClientHello bodies from every bundled capture (the first hello record
/// of each client segment that holds one whole), and the samples above.
fn real_client_hello_bodies() -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = [TLS13_CLIENT_HELLO, TLS12_CLIENT_HELLO, TLS10_CLIENT_HELLO]
        .iter()
        .map(|h| first_hello_body(&hex(h)).to_vec())
        .collect();
    for path in crate::testutil::bundled_captures() {
        let bytes = std::fs::read(&path).unwrap();
        let mut r = crate::capture::file::CaptureReader::new(&bytes[..]).unwrap();
        while let Ok(Some(p)) = r.next_packet() {
            let Ok(seg) = crate::decode::decode_general(&p) else {
                continue;
            };
            let d = seg.payload;
            if d.len() > 9 && d[0] == CONTENT_HANDSHAKE && d[5] == HS_CLIENT_HELLO {
                let len = (usize::from(d[6]) << 16) | (usize::from(d[7]) << 8) | usize::from(d[8]);
                if let Some(body) = d.get(9..9 + len) {
                    if !bodies.iter().any(|b| b == body) {
                        bodies.push(body.to_vec());
                    }
                }
            }
        }
    }
    bodies
}

/// A hello body around `exts`: legacy version, random, a session ID, two
/// suites, no compression.
fn hello_with_extensions(exts: &[u8]) -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend([0x11; 32]);
    b.push(4);
    b.extend([1, 2, 3, 4]);
    b.extend([0, 4, 0x13, 0x01, 0xc0, 0x2f, 1, 0]);
    b.extend((exts.len() as u16).to_be_bytes());
    b.extend(exts);
    b
}

#[test]
fn client_hellos_decode_as_tls_parser_decodes_them() {
    let bodies = real_client_hello_bodies();
    assert!(bodies.len() >= 10, "only {} distinct hellos", bodies.len());
    // Each hello also goes through the cache shared by shape, which by
    // then holds thousands of hellos alike but for a byte or two: a key
    // that leaves out a byte the decoder reads gives one of them back.
    let check = |body: &[u8], what: &str| {
        let ours = parse_client_hello(body, 0x0301);
        let hex = || body.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            ours,
            oracle::parse_client_hello_with_tls_parser(body, 0x0301),
            "{what}: {}",
            hex()
        );
        assert_eq!(
            shared_client_hello(body, 0x0301).as_deref(),
            ours.as_ref(),
            "{what}, shared: {}",
            hex()
        );
    };
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut decoded = 0;
    for body in &bodies {
        check(body, "as captured");
        decoded += usize::from(parse_client_hello(body, 0x0301).is_some());
        for n in 0..body.len() {
            check(&body[..n], "cut");
        }
        // Bytes overwritten, some with the values around length limits.
        for _ in 0..2_000 {
            let mut b = body.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(b.len());
                b[at] = [0, 1, 2, 0x20, 0x21, 0x7f, 0xff, rng.next() as u8][rng.below(8)];
            }
            check(&b, "mutated");
        }
    }
    assert!(decoded >= 10);
    // Extensions of the decoded types, with contents right, cut, padded,
    // odd and empty, in random lists (repeats included).
    let types = [0u16, 10, 11, 13, 16, 43, 35, 51, 0x0a0a, 0xfe0d];
    let mut odd_cases = 0;
    for _ in 0..20_000 {
        let mut exts = Vec::new();
        for _ in 0..rng.below(5) {
            let t = types[rng.below(types.len())];
            let mut data: Vec<u8> = (0..rng.below(12)).map(|_| rng.next() as u8 % 8).collect();
            match rng.below(3) {
                // A well-formed 16-bit-length vector, maybe of odd length.
                0 => {
                    let inner: Vec<u8> = (0..rng.below(9)).map(|_| rng.next() as u8).collect();
                    data = (inner.len() as u16).to_be_bytes().to_vec();
                    data.extend(inner);
                }
                // A one-byte-length vector.
                1 => {
                    let inner: Vec<u8> = (0..rng.below(9)).map(|_| rng.next() as u8).collect();
                    data = vec![inner.len() as u8];
                    data.extend(inner);
                }
                _ => {}
            }
            if rng.below(4) == 0 && !data.is_empty() {
                data.truncate(rng.below(data.len()));
            }
            odd_cases += usize::from(data.len() % 2 == 1);
            exts.extend(t.to_be_bytes());
            exts.extend((data.len() as u16).to_be_bytes());
            exts.extend(data);
        }
        if rng.below(8) == 0 && !exts.is_empty() {
            exts.truncate(rng.below(exts.len()));
        }
        check(&hello_with_extensions(&exts), "built");
    }
    assert!(odd_cases > 1_000);
}

/// Hellos that differ only where one connection differs from the next
/// (random, session id, key share keys, ticket, pre-shared key, cookie,
/// encrypted hello) share one decoded hello, and each keeps its own
/// session id; a hello that differs in a field pgtls reads does not.
#[test]
fn hellos_of_one_shape_share_one_decoding() {
    let ext = |t: u16, data: &[u8]| {
        let mut e = t.to_be_bytes().to_vec();
        e.extend((data.len() as u16).to_be_bytes());
        e.extend(data);
        e
    };
    let hello = |fill: u8, sni: &[u8]| {
        let mut exts = ext(
            EXT_SERVER_NAME,
            &[&[0, 3 + sni.len() as u8, 0, 0, sni.len() as u8], sni].concat(),
        );
        // x25519 and a stand-in ML-KEM share: 2 + 4 + 32 + 4 + 8 bytes.
        let mut ks = vec![0, 48, 0, 0x1d, 0, 32];
        ks.extend([fill; 32]);
        ks.extend([0x11, 0xec, 0, 8]);
        ks.extend([fill; 8]);
        exts.extend(ext(EXT_KEY_SHARE, &ks));
        exts.extend(ext(EXT_SESSION_TICKET, &[fill; 16]));
        exts.extend(ext(EXT_COOKIE, &[fill; 5]));
        exts.extend(ext(EXT_ENCRYPTED_CLIENT_HELLO, &[fill; 7]));
        exts.extend(ext(EXT_PRE_SHARED_KEY, &[fill; 9]));
        let mut b = hello_with_extensions(&exts);
        b[2..34].fill(fill); // random
        b[35..39].fill(fill); // session id
        b
    };
    let a = hello(1, b"db.example");
    let b = hello(2, b"db.example");
    let shared_a = shared_client_hello(&a, 0x0303).unwrap();
    let shared_b = shared_client_hello(&b, 0x0303).unwrap();
    assert!(Arc::ptr_eq(&shared_a, &shared_b));
    assert_eq!(*shared_a, parse_client_hello(&b, 0x0303).unwrap());
    assert_eq!(shared_a.sni.as_deref(), Some("db.example"));
    assert_eq!(shared_a.key_share_groups, vec![0x1d, 0x11ec]);
    assert_eq!(shared_a.session_ticket_len, Some(16));
    assert_eq!(&client_hello_session_id(&a)[..], &[1; 4]);
    assert_eq!(&client_hello_session_id(&b)[..], &[2; 4]);
    // Another server name, another record version: decoded on their own.
    let c = hello(1, b"db.exampla");
    let shared_c = shared_client_hello(&c, 0x0303).unwrap();
    assert!(!Arc::ptr_eq(&shared_a, &shared_c));
    assert_eq!(shared_c.sni.as_deref(), Some("db.exampla"));
    let shared_v = shared_client_hello(&a, 0x0301).unwrap();
    assert!(!Arc::ptr_eq(&shared_a, &shared_v));
    assert_eq!(shared_v.record_version, 0x0301);
}

/// A ServerHello shared by shape is the one decoded from its bytes: for the
/// sample hellos (TLS 1.2, TLS 1.3, a HelloRetryRequest), each cut and
/// 2,000 mutations of each, through one cache that by then holds hellos
/// alike but for a byte or two. Hellos that differ only in their random,
/// session id and key share key share one decoding; one whose random
/// becomes the HelloRetryRequest's does not.
#[test]
fn server_hellos_shared_are_the_ones_decoded() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let bodies = [TLS12_SERVER_FLIGHT, TLS13_SERVER_HELLO, TLS13_HRR_CCS]
        .map(|h| first_hello_body(&hex(h)).to_vec());
    let check = |body: &[u8]| {
        assert_eq!(
            shared_server_hello(body).as_deref(),
            parse_server_hello(body).as_ref(),
            "{}",
            body.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
    };
    for body in &bodies {
        for n in 0..=body.len() {
            check(&body[..n]);
        }
        for _ in 0..2_000 {
            let mut b = body.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(b.len());
                b[at] = [0, 1, 2, 0x20, 0x21, 0x7f, 0xff, rng.next() as u8][rng.below(8)];
            }
            check(&b);
        }
    }
    let sh13 = &bodies[1];
    let mut other = sh13.clone();
    other[2..34].fill(0x5a); // random
    other[35..67].fill(0xa5); // session id
    let last = other.len() - 1; // the last byte of the key share's key
    other[last] ^= 0xff;
    let (a, b) = (
        shared_server_hello(sh13).unwrap(),
        shared_server_hello(&other).unwrap(),
    );
    assert!(Arc::ptr_eq(&a, &b));
    assert_ne!(
        server_hello_session_id(sh13),
        server_hello_session_id(&other)
    );
    other[2..34].copy_from_slice(&HRR_RANDOM);
    assert!(shared_server_hello(&other).unwrap().hello_retry_request);
    assert!(!a.hello_retry_request);
}

/// Every cipher suite id finds what tls-parser's own lookup finds.
#[test]
fn cipher_suites_as_tls_parser_finds_them() {
    let mut known = 0;
    for id in 0..=u16::MAX {
        let ours = cipher_suite(id);
        let theirs = tls_parser::TlsCipherSuite::from_id(id);
        assert_eq!(ours.map(|c| c.name), theirs.map(|c| c.name), "{id:#06x}");
        assert_eq!(ours.map(|c| c.id), theirs.map(|c| c.id), "{id:#06x}");
        known += usize::from(ours.is_some());
    }
    assert!(known > 300, "{known} cipher suites");
}

/// A ServerKeyExchange's start keeps the body's first four bytes, or all
/// of a shorter body, and nothing else.
#[test]
fn key_exchange_start_keeps_up_to_four_bytes() {
    let body = [3u8, 0, 0x17, 0x41, 4, 9];
    for n in 0..=body.len() {
        let start = KeyExchangeStart::new(&body[..n]);
        assert_eq!(&start[..], &body[..n.min(4)], "{n} bytes");
    }
}
