//! The TCP reassembler fed segments decoded from the input: sequence
//! offsets (around a base that may sit next to the 2^32 wrap), lengths,
//! SYN flags, snaplen-cut tails, any order, duplicates and overlaps.
//!
//! Every payload byte is a function of its sequence number, so each byte
//! the reassembler delivers can be checked against the stream position it
//! claims: no byte is delivered at the wrong place or twice, no queue grows
//! past its bound, and a flush leaves nothing behind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgtls::flow::reassembly::{Chunk, Reassembler, MAX_QUEUED_SEGMENTS};

fn pattern(seq: u32) -> u8 {
    (seq.wrapping_mul(0x9e37_79b1) >> 24) as u8
}

struct Check {
    pos: Option<u32>,
    delivered: u64,
}

impl Check {
    fn chunk(&mut self, c: Chunk<'_>) {
        let pos = self
            .pos
            .as_mut()
            .expect("bytes delivered before the stream started");
        match c {
            Chunk::Data { bytes, .. } => {
                assert!(!bytes.is_empty(), "empty data chunk");
                for (i, b) in bytes.iter().enumerate() {
                    let at = pos.wrapping_add(i as u32);
                    assert_eq!(
                        *b,
                        pattern(at),
                        "byte for seq {at} delivered at the wrong place"
                    );
                }
                *pos = pos.wrapping_add(bytes.len() as u32);
                self.delivered += bytes.len() as u64;
            }
            Chunk::Gap { len, .. } => {
                assert!(len > 0, "empty gap");
                assert!(
                    len <= u64::from(u32::MAX),
                    "gap longer than the sequence space"
                );
                *pos = pos.wrapping_add(len as u32);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let base = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    let mut r = Reassembler::default();
    let mut check = Check {
        pos: None,
        delivered: 0,
    };
    let mut input_bytes = 0u64;
    // Segments of 5 bytes: flags, offset (i16), captured length, missing tail.
    for (frame, s) in data[4..].chunks_exact(5).enumerate() {
        let flags = s[0];
        let syn = flags & 1 != 0;
        let scale = if flags & 2 != 0 { 64 } else { 1 };
        let off = i32::from(i16::from_be_bytes([s[1], s[2]])) * scale;
        let seq = base.wrapping_add(off as u32);
        let data_seq = seq.wrapping_add(u32::from(syn));
        let len = usize::from(s[3]) * if flags & 4 != 0 { 64 } else { 1 };
        let tail = if flags & 8 != 0 { u32::from(s[4]) } else { 0 };
        let payload: Vec<u8> = (0..len as u32)
            .map(|i| pattern(data_seq.wrapping_add(i)))
            .collect();
        let wire_len = len as u32 + tail;
        if check.pos.is_none() && (syn || wire_len > 0) {
            check.pos = Some(data_seq);
        }
        input_bytes += len as u64;
        r.segment(seq, syn, &payload, wire_len, frame as u64, &mut |c| {
            check.chunk(c)
        });
        assert!(
            r.queued() <= MAX_QUEUED_SEGMENTS,
            "{} segments queued, bound {MAX_QUEUED_SEGMENTS}",
            r.queued()
        );
    }
    r.flush(&mut |c| check.chunk(c));
    assert_eq!(r.queued(), 0, "flush left segments queued");
    assert!(check.delivered <= input_bytes);
});
