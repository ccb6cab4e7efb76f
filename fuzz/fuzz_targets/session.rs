//! One session's state machine fed TCP segments decoded from the input, then
//! judged and reported: reassembly, the startup phase, TLS and plaintext
//! messages, the verdict, the table and the JSON.
//!
//! Input: records of `flags, seq delta (i16), payload length (u16),
//! payload`. Flags: bit 0 = from the server, bits 1-4 = SYN, ACK, FIN, RST.
//! The delta is relative to the next in-order sequence number of that
//! direction, so 0 means "in order". Seeds are the PostgreSQL sessions of
//! samples/ (fuzz/make-seeds.py).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgtls::decode::TcpFlags;
use pgtls::flow::{Direction, FlowKey};
use pgtls::report::{
    escape_json_for_terminal, plain_row, render_table, session_cells, table_cells, SessionReport,
};
use pgtls::session::Session;

fuzz_target!(|data: &[u8]| {
    let key = FlowKey {
        client: "192.0.2.1:40000".parse().unwrap(),
        server: "192.0.2.2:5432".parse().unwrap(),
    };
    let mut s = Session::new(key, 0, 1_000_000_000, 1);
    // Initial sequence numbers near the wrap on one side.
    let mut next = [0xffff_ff00u32, 0x1000_0000u32];
    let mut p = data;
    let mut frame = 1u64;
    while p.len() >= 5 {
        let flags = p[0];
        let delta = i16::from_be_bytes([p[1], p[2]]);
        let len = usize::from(u16::from_be_bytes([p[3], p[4]])).min(p.len() - 5);
        let payload = &p[5..5 + len];
        p = &p[5 + len..];
        let dir = if flags & 1 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let d = usize::from(flags & 1);
        let f = TcpFlags {
            syn: flags & 2 != 0,
            ack: flags & 4 != 0,
            fin: flags & 8 != 0,
            rst: flags & 16 != 0,
        };
        let seq = next[d].wrapping_add(delta as i32 as u32);
        let end = seq.wrapping_add(u32::from(f.syn)).wrapping_add(len as u32);
        if (end.wrapping_sub(next[d]) as i32) > 0 {
            next[d] = end;
        }
        s.segment(
            dir,
            1_000_000_000 + frame as i64 * 1000,
            frame,
            seq,
            f,
            payload,
            len as u32,
        );
        let _ = s.verdict_is_final();
        frame += 1;
    }
    s.finish_streams();
    let report = SessionReport::from_session(&s, "fuzz");
    let cells = table_cells(&report);
    // `read` takes the same cells straight from the session.
    assert_eq!(session_cells(&s, &s.judge(), Vec::new()), cells);
    let table = render_table(std::slice::from_ref(&cells), Some(100));
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "control character in the table: {table:?}"
    );
    let row = plain_row(&cells);
    assert!(
        !row.chars().any(|c| c.is_control()),
        "control character in a streamed row: {row:?}"
    );
    let json = serde_json::to_string(&report).expect("report serialises");
    let back: serde_json::Value = serde_json::from_str(&json).expect("JSON reads back");
    assert_eq!(back["reason"].as_str(), Some(report.reason.as_ref()));
    // `read` writes records with its own serializer: serde_json's bytes with
    // the terminal escapes.
    let mut want = json.into_bytes();
    escape_json_for_terminal(&mut want);
    let mut got = Vec::new();
    pgtls::report::json::write_compact(&mut got, &report).expect("report serialises");
    assert!(
        got == want,
        "{}\n{}",
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
    // And it writes them straight from the session, without the report.
    let mut direct = Vec::new();
    pgtls::report::write_session(&mut direct, &s, &s.judge(), "fuzz").expect("record written");
    assert!(
        direct == got,
        "{}\n{}",
        String::from_utf8_lossy(&direct),
        String::from_utf8_lossy(&got)
    );
});
