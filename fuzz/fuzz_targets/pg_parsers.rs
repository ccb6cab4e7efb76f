//! PostgreSQL startup-phase and typed-message parsers over arbitrary bytes.
//!
//! Every parser must return (never panic), and whatever it returns must be
//! a sub-slice of its input: a parser that hands back bytes from outside
//! its input has read past it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgtls::pg;

/// Is `part` a slice that lies within `whole`?
fn within(whole: &[u8], part: &[u8]) -> bool {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    part.is_empty() || (p >= w && p + part.len() <= w + whole.len())
}

fuzz_target!(|data: &[u8]| {
    match pg::frame_pg_startup(data) {
        pg::StartupFraming::Packet { len, .. } => {
            assert!((8..=pg::MAX_STARTUP_PACKET_LEN).contains(&len))
        }
        pg::StartupFraming::NeedHeader => assert!(data.len() < 8),
        pg::StartupFraming::Implausible { .. } => {}
    }
    if let Ok((rest, packet)) = pg::parse_pg_startup_packet(data) {
        assert!(within(data, rest));
        match packet {
            pg::StartupPacket::Cancel { key, .. } => assert!(within(data, key)),
            pg::StartupPacket::Startup { params, version } => {
                assert!(within(data, params));
                let _ = version.to_string();
                for (name, value) in pg::startup_params(params).take(10_000) {
                    assert!(within(params, name) && within(params, value));
                }
            }
            _ => {}
        }
    }
    if let Ok((rest, s)) = pg::parse_cstring(data) {
        assert!(within(data, rest) && within(data, s) && !s.contains(&0));
    }
    if let Some(h) = pg::parse_pg_message_header(data) {
        assert!(h.body_len <= pg::MAX_PLAUSIBLE_MESSAGE_LEN - 4);
        let _ = (pg::is_backend_tag(h.tag), pg::is_frontend_tag(h.tag));
    }
    // Message bodies: every parser over the same bytes.
    if let Ok((rest, code)) = pg::parse_pg_authentication(data) {
        assert!(within(data, rest));
        let _ = code.name();
    }
    let f = pg::parse_pg_error_fields(data);
    for v in [f.severity, f.severity_nonlocalized, f.code, f.message]
        .into_iter()
        .flatten()
    {
        assert!(within(data, v));
    }
    if let Ok((rest, (name, value))) = pg::parse_pg_parameter_status(data) {
        assert!(within(data, rest) && within(data, name) && within(data, value));
    }
    if let Ok((_, (_, key))) = pg::parse_pg_backend_key_data(data) {
        assert!(within(data, key));
    }
    let _ = pg::parse_pg_ready_for_query(data);
    let _ = pg::parse_pg_negotiate_protocol_version(data);
    let _ = pg::parse_pg_gss_token_len(data);
});
