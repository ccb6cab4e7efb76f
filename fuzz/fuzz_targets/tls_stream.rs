//! The TLS record layer and hello parsers over arbitrary bytes.
//!
//! The first bytes of the input choose how the rest is cut into the chunks
//! that `TlsStream::feed` receives (and where gaps fall); the same bytes are
//! also given to each hello parser directly, and the ClientHello decoder's
//! answer must equal tls-parser's (`tls::oracle`). A record stream must give
//! the same events however it is chunked, unless a gap intervened.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgtls::tls::{self, TlsEvent, TlsStream};

fn within(whole: &[u8], part: &[u8]) -> bool {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    part.is_empty() || (p >= w && p + part.len() <= w + whole.len())
}

fn parsers(data: &[u8]) {
    let _ = tls::parse_tls_record_header(data);
    let _ = tls::looks_like_tls_record(data);
    let _ = tls::looks_like_sslv2_client_hello(data);
    if let Some((ch, used)) = tls::parse_sslv2_client_hello(data) {
        assert!(used <= data.len());
        let _ = ch.max_version().name();
    }
    // The hand-written decoder reads every hello as tls-parser does.
    let ch = tls::parse_client_hello(data, 0x0301);
    assert_eq!(
        ch,
        tls::oracle::parse_client_hello_with_tls_parser(data, 0x0301)
    );
    // The hello shared by shape is the one decoded from these bytes, not
    // one of an earlier input filed under the same key.
    assert_eq!(
        tls::shared_client_hello(data, 0x0301).as_deref(),
        ch.as_ref()
    );
    if let Some(ch) = ch {
        for v in ch.offered_versions() {
            let _ = (v.name(), v.rank());
        }
        let _ = ch.max_version();
    }
    let sh = tls::parse_server_hello(data);
    assert_eq!(tls::shared_server_hello(data).as_deref(), sh.as_ref());
    if let Some(sh) = sh {
        let _ = tls::TlsVersion(sh.selected_version).name();
    }
    for (_, whole) in tls::raw_extensions(data).take(100_000) {
        assert!(within(data, whole) && whole.len() >= 4);
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    parsers(data);
    // Byte 0: chunk-size seed; byte 1: bit 0 = insert a gap once.
    let (ctl, body) = data.split_at(2);
    let mut seed = u32::from(ctl[0]) | 1;
    let mut chunked = TlsStream::default();
    let mut events = Vec::new();
    let mut off = 0;
    let mut gapped = false;
    while off < body.len() {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (1 + (seed as usize % 64)).min(body.len() - off);
        if ctl[1] & 1 == 1 && !gapped && off > body.len() / 2 {
            chunked.gap(u64::from(ctl[1] >> 1));
            gapped = true;
        }
        chunked.feed(&body[off..off + n], &mut events);
        off += n;
    }
    // The same bytes in one piece.
    let mut whole = TlsStream::default();
    let mut once = Vec::new();
    whole.feed(body, &mut once);
    if !gapped {
        assert_eq!(
            events, once,
            "events depend on how the record stream was chunked"
        );
        assert_eq!(chunked.records, whole.records);
    }
    for e in events.iter().chain(once.iter()) {
        if let TlsEvent::ClientHello(ch, _) = e {
            let _ = ch.max_version().name();
        }
    }
    chunked.release();
    chunked.feed(body, &mut events);
});
