//! Unit tests of per-direction TCP reassembly.

use super::*;
use crate::testutil::XorShift;

/// What a consumer saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Data(Vec<u8>, u64),
    Gap(u64, u64),
}

/// A reassembler plus everything it delivered.
#[derive(Default)]
struct Harness {
    r: Reassembler,
    events: Vec<Ev>,
}

impl Harness {
    /// A segment whose whole payload was captured.
    fn seg(&mut self, seq: u32, payload: &[u8], frame: u64) {
        self.seg_cut(seq, payload, payload.len() as u32, frame);
    }

    /// A segment of `wire_len` payload bytes of which only `payload` was captured.
    fn seg_cut(&mut self, seq: u32, payload: &[u8], wire_len: u32, frame: u64) {
        let events = &mut self.events;
        self.r
            .segment(seq, false, payload, wire_len, frame, &mut |c| {
                push(events, c)
            });
        self.check_bounds();
    }

    fn syn(&mut self, isn: u32, frame: u64) {
        let events = &mut self.events;
        self.r
            .segment(isn, true, &[], 0, frame, &mut |c| push(events, c));
    }

    fn flush(&mut self) {
        let events = &mut self.events;
        self.r.flush(&mut |c| push(events, c));
        assert_eq!(self.r.queued(), 0);
        assert_eq!(self.r.queued_bytes, 0);
    }

    fn check_bounds(&self) {
        assert!(
            self.r.queued() <= MAX_QUEUED_SEGMENTS,
            "{}",
            self.r.queued()
        );
        assert!(
            self.r.queued_bytes <= MAX_QUEUED_BYTES,
            "{}",
            self.r.queued_bytes
        );
        let sum: usize = self.r.queue.iter().map(|q| q.data.len()).sum();
        assert_eq!(sum, self.r.queued_bytes, "queued_bytes accounting");
    }

    /// The delivered bytes, gaps left out.
    fn data(&self) -> Vec<u8> {
        let mut v = Vec::new();
        for e in &self.events {
            if let Ev::Data(d, _) = e {
                v.extend_from_slice(d);
            }
        }
        v
    }

    /// (offset in the stream, length) of each gap.
    fn gaps(&self) -> Vec<(u64, u64)> {
        let mut off = 0u64;
        let mut gaps = Vec::new();
        for e in &self.events {
            match e {
                Ev::Data(d, _) => off += d.len() as u64,
                Ev::Gap(len, _) => {
                    gaps.push((off, *len));
                    off += len;
                }
            }
        }
        gaps
    }

    /// Stream length covered so far: data and gaps.
    fn stream_len(&self) -> u64 {
        self.events
            .iter()
            .map(|e| match e {
                Ev::Data(d, _) => d.len() as u64,
                Ev::Gap(len, _) => *len,
            })
            .sum()
    }
}

fn push(events: &mut Vec<Ev>, c: Chunk<'_>) {
    match c {
        Chunk::Data { bytes, frame } => {
            assert!(!bytes.is_empty(), "empty Data chunk");
            events.push(Ev::Data(bytes.to_vec(), frame));
        }
        Chunk::Gap { len, frame } => {
            assert!(len > 0, "empty Gap chunk");
            events.push(Ev::Gap(len, frame));
        }
    }
}

/// A stream with a SYN at `isn`; data starts at `isn + 1`.
fn with_syn(isn: u32) -> Harness {
    let mut h = Harness::default();
    h.syn(isn, 1);
    h
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

// ---------------------------------------------------------------------------
// In order, SYN, midstream
// ---------------------------------------------------------------------------

#[test]
fn in_order_delivery() {
    let mut h = with_syn(1000);
    h.seg(1001, b"hello ", 4);
    h.seg(1007, b"world", 5);
    assert_eq!(
        h.events,
        vec![
            Ev::Data(b"hello ".to_vec(), 4),
            Ev::Data(b"world".to_vec(), 5)
        ]
    );
    assert!(!h.r.midstream);
    assert_eq!(h.r.gaps, 0);
    assert_eq!(h.r.retransmitted_bytes, 0);
    assert_eq!(h.r.queued(), 0);
}

#[test]
fn syn_sets_isn_plus_one() {
    let mut h = with_syn(5000);
    // Byte 5002 is the second byte of the stream: it must wait.
    h.seg(5002, b"bc", 3);
    assert!(h.events.is_empty());
    assert_eq!(h.r.queued(), 1);
    h.seg(5001, b"a", 4);
    assert_eq!(h.data(), b"abc");
    assert_eq!(h.r.queued(), 0);
    assert!(h.gaps().is_empty());
}

#[test]
fn segment_at_the_isn_itself_is_old() {
    // A segment starting at the ISN overlaps the SYN's sequence number: its
    // first byte is not stream data.
    let mut h = with_syn(5000);
    h.seg(5000, b"xabc", 2);
    assert_eq!(h.data(), b"abc");
    assert_eq!(h.r.retransmitted_bytes, 1);
}

#[test]
fn syn_with_payload_and_retransmitted_syn() {
    let mut h = Harness::default();
    let events = &mut h.events;
    h.r.segment(700, true, b"fast", 4, 1, &mut |c| push(events, c));
    assert_eq!(h.events, vec![Ev::Data(b"fast".to_vec(), 1)]);
    // A retransmitted SYN changes nothing.
    h.syn(700, 2);
    h.seg(705, b"open", 3);
    assert_eq!(h.data(), b"fastopen");
    assert!(!h.r.midstream);
}

#[test]
fn midstream_start_without_syn() {
    let mut h = Harness::default();
    // A pure ACK carries no data and decides nothing.
    h.seg(123_456, b"", 1);
    assert!(!h.r.midstream);
    h.seg(123_456, b"ZZZ", 2);
    assert!(h.r.midstream);
    assert_eq!(h.events, vec![Ev::Data(b"ZZZ".to_vec(), 2)]);
    h.seg(123_459, b"!", 3);
    assert_eq!(h.data(), b"ZZZ!");

    let h = with_syn(9);
    assert!(!h.r.midstream);
}

// ---------------------------------------------------------------------------
// Out of order, duplicates, overlaps
// ---------------------------------------------------------------------------

#[test]
fn out_of_order_delivered_once_the_hole_fills() {
    let mut h = with_syn(0);
    h.seg(7, b"789", 4);
    h.seg(4, b"456", 3);
    assert!(h.events.is_empty());
    assert_eq!(h.r.queued(), 2);
    h.seg(1, b"123", 2);
    assert_eq!(
        h.events,
        vec![
            Ev::Data(b"123".to_vec(), 2),
            Ev::Data(b"456".to_vec(), 3),
            Ev::Data(b"789".to_vec(), 4),
        ]
    );
    assert_eq!(h.r.queued(), 0);
    assert_eq!(h.r.queued_bytes, 0);
    assert_eq!(h.r.gaps, 0);
}

#[test]
fn duplicates_delivered_once() {
    let mut h = with_syn(100);
    h.seg(101, b"abc", 2);
    h.seg(101, b"abc", 3); // retransmission
    assert_eq!(h.data(), b"abc");
    assert_eq!(h.r.retransmitted_bytes, 3);

    // A duplicate of a queued segment is not queued twice.
    h.seg(110, b"jkl", 4);
    h.seg(110, b"jkl", 5);
    assert_eq!(h.r.queued(), 1);
    assert_eq!(h.r.queued_bytes, 3);
    h.seg(104, b"defghi", 6);
    assert_eq!(h.data(), b"abcdefghijkl");
    assert_eq!(h.r.retransmitted_bytes, 6);
    // The copy that was kept is the first one.
    assert_eq!(h.events.last(), Some(&Ev::Data(b"jkl".to_vec(), 4)));
}

#[test]
fn old_retransmission_far_behind_is_counted_not_delivered() {
    let mut h = with_syn(0);
    h.seg(1, &[b'x'; 1000], 2);
    h.seg(101, &[b'y'; 200], 3);
    assert_eq!(h.data().len(), 1000);
    assert_eq!(h.events.len(), 1);
    assert_eq!(h.r.retransmitted_bytes, 200);
}

#[test]
fn overlap_with_delivered_bytes_first_copy_wins() {
    let mut h = with_syn(0);
    h.seg(1, b"abcdef", 2);
    h.seg(4, b"XYZghi", 3); // bytes 4..7 again, different content
    assert_eq!(h.data(), b"abcdefghi");
    assert_eq!(h.events[1], Ev::Data(b"ghi".to_vec(), 3));
    assert_eq!(h.r.retransmitted_bytes, 3);
}

#[test]
fn overlapping_queued_segments_are_not_duplicated() {
    let mut h = with_syn(0);
    h.seg(11, b"KLMNOPQRST", 2); // bytes 11..21
    h.seg(16, b"PQRSTUVWXY", 3); // bytes 16..26, overlapping
    h.seg(13, b"MNO", 4); // inside the first
    h.seg(1, b"ABCDEFGHIJ", 5); // fills the hole
    assert_eq!(h.data(), b"ABCDEFGHIJKLMNOPQRSTUVWXY");
    assert_eq!(h.r.queued(), 0);
    assert!(h.gaps().is_empty());
}

#[test]
fn longer_retransmission_of_a_queued_segment_adds_the_new_bytes() {
    let mut h = with_syn(0);
    h.seg(11, b"KLM", 2);
    h.seg(11, b"KLMNOP", 3); // same start, longer
    h.seg(1, b"ABCDEFGHIJ", 4);
    assert_eq!(h.data(), b"ABCDEFGHIJKLMNOP");
}

#[test]
fn segment_straddling_next_and_queued_data() {
    let mut h = with_syn(0);
    h.seg(1, b"abcde", 2); // 1..6
    h.seg(11, b"klmno", 3); // 11..16, queued
    h.seg(4, b"defghijklmnopq", 4); // 4..18: old, new, queued, new
    assert_eq!(h.data(), b"abcdefghijklmnopq");
    assert_eq!(h.r.queued(), 0);
    assert!(h.gaps().is_empty());
}

/// Two out-of-order copies of bytes 11..16: the one captured first should be
/// delivered ("first copy wins"), but the queue is sorted by sequence number
/// and the later, lower-starting segment is delivered first.
#[test]
fn overlapping_queued_segments_first_copy_wins() {
    let mut h = with_syn(0);
    h.seg(11, b"1111111111", 2); // bytes 11..21, captured first
    h.seg(6, b"2222222222", 3); // bytes 6..16, captured second
    h.seg(1, b"00000", 4); // fills the hole
    assert_eq!(h.data(), b"00000222221111111111");
}

// ---------------------------------------------------------------------------
// Wrap-around
// ---------------------------------------------------------------------------

#[test]
fn sequence_wrap_around_in_order() {
    let isn = u32::MAX - 3; // data starts at u32::MAX - 2
    let mut h = with_syn(isn);
    h.seg(u32::MAX - 2, b"abcde", 2); // crosses 0
    h.seg(2, b"fgh", 3);
    assert_eq!(h.data(), b"abcdefgh");
    assert!(h.gaps().is_empty());
}

#[test]
fn sequence_wrap_around_out_of_order() {
    let mut h = with_syn(u32::MAX); // data starts at 0
    h.seg(u32::MAX, b"!", 1); // the SYN's own number: old
    h.seg(4, b"efg", 2);
    h.seg(2, b"cd", 3);
    assert!(h.data().is_empty());
    h.seg(0, b"ab", 4);
    assert_eq!(h.data(), b"abcdefg");

    let mut h = with_syn(u32::MAX - 10);
    let start = u32::MAX - 9;
    h.seg(start.wrapping_add(12), b"MNOP", 2); // after the wrap
    h.seg(start.wrapping_add(6), b"GHIJKL", 3); // crosses the wrap
    h.seg(start, b"ABCDEF", 4);
    assert_eq!(h.data(), b"ABCDEFGHIJKLMNOP");
    assert_eq!(h.r.queued(), 0);
}

#[test]
fn gap_across_wrap_around() {
    let mut h = with_syn(u32::MAX - 5); // data starts at u32::MAX - 4
    h.seg(u32::MAX - 4, b"ab", 2);
    h.seg(3, b"xyz", 3); // bytes u32::MAX-2 ..= 2 missing: 6 bytes
    h.flush();
    assert_eq!(h.gaps(), vec![(2, 6)]);
    assert_eq!(h.data(), b"abxyz");
}

// ---------------------------------------------------------------------------
// Missing bytes
// ---------------------------------------------------------------------------

#[test]
fn missing_segment_is_a_gap_on_flush() {
    let mut h = with_syn(0);
    h.seg(1, b"0123456789", 2);
    h.seg(21, b"KLMNO", 4); // bytes 11..21 never captured
    assert_eq!(h.events.len(), 1);
    assert_eq!(h.r.queued(), 1);
    h.flush();
    assert_eq!(
        h.events,
        vec![
            Ev::Data(b"0123456789".to_vec(), 2),
            Ev::Gap(10, 4),
            Ev::Data(b"KLMNO".to_vec(), 4),
        ]
    );
    assert_eq!(h.r.gaps, 1);
    assert_eq!(h.r.gap_bytes, 10);
    // After the flush the stream continues at the right place.
    h.seg(26, b"PQ", 5);
    assert_eq!(h.events.last(), Some(&Ev::Data(b"PQ".to_vec(), 5)));
}

#[test]
fn flush_with_several_holes() {
    let mut h = with_syn(0);
    h.seg(1, b"a", 2);
    h.seg(5, b"e", 3);
    h.seg(10, b"j", 4);
    h.seg(6, b"f", 5);
    h.flush();
    assert_eq!(h.gaps(), vec![(1, 3), (6, 3)]);
    assert_eq!(h.data(), b"aefj");
    assert_eq!(h.r.gaps, 2);
    assert_eq!(h.r.gap_bytes, 6);
    assert_eq!(h.stream_len(), 10);
}

#[test]
fn flush_with_nothing_queued_does_nothing() {
    let mut h = with_syn(0);
    h.seg(1, b"abc", 2);
    h.flush();
    assert_eq!(h.events.len(), 1);
    let mut h = Harness::default();
    h.flush();
    assert!(h.events.is_empty());
}

#[test]
fn snaplen_cut_segment_gives_data_then_gap() {
    let mut h = with_syn(0);
    h.seg_cut(1, b"0123456789", 100, 2); // 90 bytes cut by the snapshot length
    assert_eq!(
        h.events,
        vec![Ev::Data(b"0123456789".to_vec(), 2), Ev::Gap(90, 2)]
    );
    assert_eq!(h.r.gap_bytes, 90);
    // The next segment on the wire follows the whole 100 bytes.
    h.seg(101, b"next", 3);
    assert_eq!(h.events.last(), Some(&Ev::Data(b"next".to_vec(), 3)));
    assert_eq!(h.r.queued(), 0);
}

#[test]
fn snaplen_cut_to_nothing_is_a_gap_only() {
    let mut h = with_syn(0);
    h.seg_cut(1, b"", 40, 2);
    assert_eq!(h.events, vec![Ev::Gap(40, 2)]);
    h.seg(41, b"x", 3);
    assert_eq!(h.data(), b"x");
}

#[test]
fn snaplen_cut_segment_out_of_order() {
    let mut h = with_syn(0);
    h.seg(51, b"tail", 3);
    h.seg_cut(11, b"abc", 40, 2); // 11..51, 37 bytes cut
    h.seg(1, b"0123456789", 4);
    assert_eq!(
        h.events,
        vec![
            Ev::Data(b"0123456789".to_vec(), 4),
            Ev::Data(b"abc".to_vec(), 2),
            Ev::Gap(37, 2),
            Ev::Data(b"tail".to_vec(), 3),
        ]
    );
}

#[test]
fn wire_len_smaller_than_payload_uses_the_payload() {
    let mut h = with_syn(0);
    h.seg_cut(1, b"abcdef", 2, 2);
    h.seg(7, b"g", 3);
    assert_eq!(h.data(), b"abcdefg");
    assert!(h.gaps().is_empty());
}

#[test]
fn retransmission_over_a_snaplen_cut_segment() {
    // The first copy's missing tail was already reported as a gap: the
    // retransmission adds only what lies beyond it.
    let mut h = with_syn(0);
    h.seg_cut(1, b"ab", 10, 2);
    h.seg(1, b"abcdefghijkl", 3);
    assert_eq!(
        h.events,
        vec![
            Ev::Data(b"ab".to_vec(), 2),
            Ev::Gap(8, 2),
            Ev::Data(b"kl".to_vec(), 3)
        ]
    );
}

// ---------------------------------------------------------------------------
// Bounds
// ---------------------------------------------------------------------------

#[test]
fn queue_bound_with_holes_between_segments() {
    let mut h = with_syn(0);
    h.seg(1, b"start", 2); // bytes 1..6
                           // MAX+10 segments of 10 bytes, each after a 10-byte hole.
    let n = MAX_QUEUED_SEGMENTS + 10;
    let seg_start = |i: usize| 6 + 10 + 20 * i as u32;
    for i in 0..n {
        h.seg(seg_start(i), &[i as u8; 10], 10 + i as u64);
        assert!(h.r.queued() <= MAX_QUEUED_SEGMENTS);
    }
    assert_eq!(h.r.queued(), MAX_QUEUED_SEGMENTS);
    // Each of the last 10 arrivals gave up on the oldest hole.
    assert_eq!(h.r.gaps, 10);
    assert_eq!(h.gaps().len(), 10);
    assert_eq!(h.gaps()[0], (5, 10));
    assert_eq!(h.events[1], Ev::Gap(10, 10));
    assert_eq!(h.events[2], Ev::Data(vec![0; 10], 10));
    h.flush();
    assert_eq!(h.r.gaps as usize, n);
    assert_eq!(h.r.gap_bytes, 10 * n as u64);
    assert_eq!(h.data().len(), 5 + 10 * n);
    // Every segment was delivered, in order, once.
    let mut expected = b"start".to_vec();
    for i in 0..n {
        expected.extend_from_slice(&[i as u8; 10]);
    }
    assert_eq!(h.data(), expected);
}

#[test]
fn queue_bound_with_contiguous_segments_after_one_hole() {
    let mut h = with_syn(0);
    // Bytes 1..11 are lost; MAX+10 contiguous segments follow.
    let n = MAX_QUEUED_SEGMENTS + 10;
    let mut expected = Vec::new();
    for i in 0..n {
        let payload = [i as u8; 10];
        h.seg(11 + 10 * i as u32, &payload, 2 + i as u64);
        expected.extend_from_slice(&payload);
        assert!(h.r.queued() <= MAX_QUEUED_SEGMENTS);
    }
    // Once full, the hole was declared lost and everything queued delivered.
    assert_eq!(h.gaps(), vec![(0, 10)]);
    assert_eq!(h.r.queued(), 0);
    assert_eq!(h.data(), expected);
}

#[test]
fn queue_byte_bound() {
    let mut h = with_syn(0);
    let size = 32 * 1024;
    let per_queue = MAX_QUEUED_BYTES / size;
    assert!(per_queue < MAX_QUEUED_SEGMENTS);
    // Segments of 32 KB, each after a 1-byte hole.
    for i in 0..per_queue + 3 {
        let seq = 2 + (i * (size + 1)) as u32;
        h.seg(seq, &vec![i as u8; size], 2 + i as u64);
    }
    assert!(h.r.queued() <= per_queue);
    assert_eq!(h.r.gaps, 3);
    h.flush();
    assert_eq!(h.gaps().len(), per_queue + 3);
    assert_eq!(h.data().len(), (per_queue + 3) * size);
}

// ---------------------------------------------------------------------------
// Pseudo-random segmentation
// ---------------------------------------------------------------------------

/// Splits `data` (stream offset 0 = seq `base`) into segments of 1..=max bytes.
fn split(rng: &mut XorShift, data: &[u8], max: usize) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let len = (1 + rng.below(max)).min(data.len() - off);
        v.push((off, len));
        off += len;
    }
    v
}

#[test]
fn random_shuffled_and_duplicated_segments_rebuild_the_stream() {
    let data = pattern(5000);
    for seed in 1..=200u64 {
        let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let isn = rng.next() as u32;
        // Segments of up to 400 bytes: about 25, fewer than the queue bound.
        let mut segs = split(&mut rng, &data, 400);
        // Duplicates, and retransmissions with other boundaries.
        for _ in 0..8 {
            let (off, len) = segs[rng.below(segs.len())];
            segs.push((off, len));
            let start = rng.below(data.len());
            let len = 1 + rng.below(400.min(data.len() - start));
            segs.push((start, len));
        }
        rng.shuffle(&mut segs);
        assert!(segs.len() < MAX_QUEUED_SEGMENTS);

        let mut h = with_syn(isn);
        for (frame, &(off, len)) in segs.iter().enumerate() {
            let seq = isn.wrapping_add(1).wrapping_add(off as u32);
            h.seg(seq, &data[off..off + len], frame as u64);
        }
        assert_eq!(h.r.queued(), 0, "seed {seed}");
        h.flush();
        assert!(h.gaps().is_empty(), "seed {seed}: {:?}", h.gaps());
        assert_eq!(h.data(), data, "seed {seed}");
    }
}

#[test]
fn random_locally_reordered_small_segments_rebuild_the_stream() {
    // Many small segments (far more than the queue bound), each displaced by
    // at most a few positions, as on a real network.
    let data = pattern(5000);
    for seed in 1..=100u64 {
        let mut rng = XorShift(seed ^ 0xdead_beef_cafe);
        let isn = u32::MAX - rng.below(3000) as u32; // wraps mid-stream
        let mut segs = split(&mut rng, &data, 40);
        assert!(segs.len() > MAX_QUEUED_SEGMENTS);
        for w in 0..segs.len() / 8 {
            rng.shuffle(&mut segs[w * 8..(w + 1) * 8]);
        }
        let mut h = with_syn(isn);
        for (frame, &(off, len)) in segs.iter().enumerate() {
            let seq = isn.wrapping_add(1).wrapping_add(off as u32);
            h.seg(seq, &data[off..off + len], frame as u64);
            if rng.below(4) == 0 {
                h.seg(seq, &data[off..off + len], frame as u64); // duplicate
            }
        }
        h.flush();
        assert!(h.gaps().is_empty(), "seed {seed}");
        assert_eq!(h.data(), data, "seed {seed}");
    }
}

#[test]
fn random_with_lost_segments_keeps_offsets_right() {
    // Some segments never arrive: every delivered byte must still sit at its
    // right offset, and data + gaps must cover the stream up to the last
    // byte seen.
    let data = pattern(5000);
    for seed in 1..=200u64 {
        let mut rng = XorShift(seed.wrapping_mul(0x1234_5678_9abc_def1) | 1);
        let isn = rng.next() as u32;
        let mut segs = split(&mut rng, &data, 300);
        rng.shuffle(&mut segs);
        let kept: Vec<_> = segs.iter().copied().filter(|_| rng.below(5) != 0).collect();
        let end = kept.iter().map(|&(o, l)| o + l).max().unwrap_or(0);

        let mut h = with_syn(isn);
        for (frame, &(off, len)) in kept.iter().enumerate() {
            let seq = isn.wrapping_add(1).wrapping_add(off as u32);
            h.seg(seq, &data[off..off + len], frame as u64);
        }
        h.flush();
        assert_eq!(h.stream_len(), end as u64, "seed {seed}");
        let mut off = 0usize;
        for e in &h.events {
            match e {
                Ev::Data(d, _) => {
                    assert_eq!(&d[..], &data[off..off + d.len()], "seed {seed} at {off}");
                    off += d.len();
                }
                Ev::Gap(len, _) => off += *len as usize,
            }
        }
        let lost: usize = (0..end)
            .filter(|&b| !kept.iter().any(|&(o, l)| o <= b && b < o + l))
            .count();
        assert_eq!(h.r.gap_bytes, lost as u64, "seed {seed}");
    }
}

/// A segment captured first is queued; a later in-order segment covering the
/// same bytes with other content is delivered whole, so the queued (first)
/// copy loses.
#[test]
fn in_order_segment_over_queued_data_first_copy_wins() {
    let mut h = with_syn(0);
    h.seg(1, b"abcde", 2); // bytes 1..6
    h.seg(11, b"KLMNO", 3); // bytes 11..16, captured first
    h.seg(6, b"fghijklmno", 4); // bytes 6..16, captured second
    assert_eq!(h.data(), b"abcdefghijKLMNO");
}

/// The queue holds exactly MAX_QUEUED_SEGMENTS segments behind a hole; the
/// segment that fills the hole then arrives. Its bytes were captured, so the
/// stream must come out whole, with no gap.
#[test]
fn hole_filled_when_the_queue_is_full_is_not_a_gap() {
    let mut h = with_syn(0);
    let mut expected = vec![b'h'; 10];
    let mut later = Vec::new();
    for i in 0..MAX_QUEUED_SEGMENTS {
        later.extend_from_slice(&[i as u8; 10]);
        h.seg(11 + 10 * i as u32, &[i as u8; 10], 3 + i as u64); // behind the hole 1..11
    }
    assert_eq!(h.r.queued(), MAX_QUEUED_SEGMENTS);
    assert!(h.events.is_empty());
    h.seg(1, &[b'h'; 10], 2); // the hole, retransmitted
    expected.extend(later);
    assert_eq!(h.gaps(), vec![]);
    assert_eq!(h.data(), expected);
}

/// Same with the byte bound: the queue holds MAX_QUEUED_BYTES behind a hole.
#[test]
fn hole_filled_when_the_queue_is_byte_full_is_not_a_gap() {
    let mut h = with_syn(0);
    let size = 32 * 1024;
    let n = MAX_QUEUED_BYTES / size;
    for i in 0..n {
        h.seg(101 + (i * size) as u32, &vec![i as u8; size], 3 + i as u64);
    }
    assert_eq!(h.r.queued_bytes, MAX_QUEUED_BYTES);
    h.seg(1, &[b'h'; 100], 2); // the hole, 100 bytes
    assert_eq!(h.gaps(), vec![]);
    assert_eq!(h.data().len(), 100 + n * size);
}

#[test]
fn release_drops_the_queue_and_keeps_counters() {
    let mut h = with_syn(0);
    h.seg(1, b"ab", 2);
    h.seg(3, b"cd", 3);
    h.seg(11, b"kl", 4);
    h.seg(21, b"uv", 5);
    assert_eq!(h.r.queued(), 2);
    h.r.release();
    assert_eq!(h.r.queued(), 0);
    assert_eq!(h.r.queued_bytes, 0);
    h.flush();
    assert_eq!(h.data(), b"abcd");
    assert!(h.gaps().is_empty());
    assert_eq!(h.r.gaps, 0);
}
