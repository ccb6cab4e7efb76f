//! Property tests of TCP reassembly: the same segments in any order, with
//! any duplicates and overlapping retransmissions, give the same byte
//! stream; segments that never arrive become gaps of exactly their size;
//! on any input the queue stays within its bound and every byte delivered
//! is the byte the sender put at that place in the stream.

use pgtls::flow::reassembly::{Chunk, Reassembler, MAX_QUEUED_SEGMENTS};
use proptest::collection::vec;
use proptest::prelude::*;

/// What the reassembler delivered: each stream byte, `None` inside a gap.
#[derive(Default)]
struct Delivered {
    bytes: Vec<Option<u8>>,
    gaps: usize,
}

impl Delivered {
    fn push(&mut self, c: Chunk<'_>) {
        match c {
            Chunk::Data { bytes, .. } => self.bytes.extend(bytes.iter().map(|b| Some(*b))),
            Chunk::Gap { len, .. } => {
                self.gaps += 1;
                self.bytes.extend(std::iter::repeat_n(None, len as usize));
            }
        }
    }
}

/// A segment: offset in the stream and length.
type Piece = (usize, usize);

/// Cuts `len` bytes at the given points (sorted, deduplicated).
fn segments(len: usize, cuts: &[usize]) -> Vec<Piece> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % len).filter(|c| *c > 0).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| (w[0], w[1] - w[0])).collect()
}

/// Feeds a SYN at `isn` then the pieces of `stream` in the given order.
fn feed(isn: u32, stream: &[u8], pieces: &[Piece], syn: bool) -> (Delivered, Reassembler) {
    let mut r = Reassembler::default();
    let mut d = Delivered::default();
    if syn {
        r.segment(isn, true, &[], 0, 0, &mut |c| d.push(c));
    }
    let data_start = isn.wrapping_add(u32::from(syn));
    for (i, (off, len)) in pieces.iter().enumerate() {
        let seq = data_start.wrapping_add(*off as u32);
        let bytes = &stream[*off..off + len];
        r.segment(seq, false, bytes, *len as u32, i as u64 + 1, &mut |c| {
            d.push(c)
        });
        assert!(r.queued() <= MAX_QUEUED_SEGMENTS);
    }
    r.flush(&mut |c| d.push(c));
    assert_eq!(r.queued(), 0);
    (d, r)
}

/// Sequence numbers anywhere, and often right before the 2^32 wrap.
fn isn() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), (u32::MAX - 4000)..=u32::MAX]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_reordering_and_duplication_gives_the_same_stream(
        isn in isn(),
        stream in vec(any::<u8>(), 1..4000),
        cuts in vec(any::<usize>(), 0..20),
        extra in vec((any::<usize>(), any::<usize>()), 0..10),
        order in any::<u64>(),
    ) {
        let mut pieces = segments(stream.len(), &cuts);
        // Duplicates and overlapping retransmissions of the same bytes.
        for (a, b) in extra {
            let (a, b) = (a % stream.len(), b % stream.len());
            let (lo, hi) = (a.min(b), a.max(b) + 1);
            pieces.push((lo, hi - lo));
        }
        shuffle(&mut pieces, order);
        let (d, r) = feed(isn, &stream, &pieces, true);
        prop_assert_eq!(d.gaps, 0);
        prop_assert_eq!(r.gaps, 0);
        let got: Vec<u8> = d.bytes.iter().map(|b| b.expect("no gap")).collect();
        prop_assert_eq!(got, stream);
    }

    /// Without the SYN, the stream starts at the first segment seen.
    #[test]
    fn a_stream_first_seen_mid_way_starts_at_its_first_segment(
        isn in isn(),
        stream in vec(any::<u8>(), 2..3000),
        cuts in vec(any::<usize>(), 1..20),
        order in any::<u64>(),
    ) {
        let mut pieces = segments(stream.len(), &cuts);
        let first = pieces.remove(0);
        shuffle(&mut pieces, order);
        pieces.insert(0, first);
        let (d, r) = feed(isn, &stream, &pieces, false);
        prop_assert!(r.midstream);
        let got: Vec<u8> = d.bytes.iter().map(|b| b.expect("no gap")).collect();
        prop_assert_eq!(got, stream);
    }

    /// Segments that never arrive become gaps of exactly their bytes; every
    /// other byte is delivered where it belongs.
    #[test]
    fn lost_segments_become_gaps_of_their_size(
        isn in isn(),
        stream in vec(any::<u8>(), 1..4000),
        cuts in vec(any::<usize>(), 1..30),
        lost in vec(any::<bool>(), 30),
        extra in vec((any::<usize>(), any::<usize>()), 0..6),
        order in any::<u64>(),
    ) {
        let all = segments(stream.len(), &cuts);
        let mut pieces: Vec<Piece> = all
            .iter()
            .zip(lost.iter().chain(std::iter::repeat(&false)))
            .filter(|(_, l)| !**l)
            .map(|(p, _)| *p)
            .collect();
        for (a, b) in extra {
            let (a, b) = (a % stream.len(), b % stream.len());
            pieces.push((a.min(b), a.max(b) + 1 - a.min(b)));
        }
        prop_assume!(!pieces.is_empty());
        shuffle(&mut pieces, order);
        let (d, _) = feed(isn, &stream, &pieces, true);
        // What arrived, byte by byte, up to the last byte that arrived.
        let mut expected = vec![None; stream.len()];
        for (off, len) in &pieces {
            for i in *off..off + len {
                expected[i] = Some(stream[i]);
            }
        }
        let end = expected.iter().rposition(|b| b.is_some()).map_or(0, |e| e + 1);
        expected.truncate(end);
        prop_assert_eq!(d.bytes, expected);
    }

    /// Arbitrary segments anywhere in the sequence space (SYNs, cut tails,
    /// wrap-around): the queue keeps its bound and each byte delivered is
    /// the byte at that sequence number.
    #[test]
    fn any_segments_keep_the_bound_and_put_bytes_in_place(
        base in isn(),
        segs in vec((any::<bool>(), -40_000i32..40_000, 0usize..3000, 0u32..2000), 0..200),
    ) {
        let at = |seq: u32| (seq.wrapping_mul(0x9e37_79b1) >> 24) as u8;
        let mut r = Reassembler::default();
        let mut pos: Option<u32> = None;
        let mut bad = None;
        for (i, (syn, off, len, tail)) in segs.iter().enumerate() {
            let seq = base.wrapping_add(*off as u32);
            let data_seq = seq.wrapping_add(u32::from(*syn));
            let payload: Vec<u8> = (0..*len as u32).map(|k| at(data_seq.wrapping_add(k))).collect();
            let wire = *len as u32 + tail;
            if pos.is_none() && (*syn || wire > 0) {
                pos = Some(data_seq);
            }
            r.segment(seq, *syn, &payload, wire, i as u64, &mut |c| {
                let p = pos.as_mut().unwrap();
                match c {
                    Chunk::Data { bytes, .. } => {
                        for (k, b) in bytes.iter().enumerate() {
                            if *b != at(p.wrapping_add(k as u32)) && bad.is_none() {
                                bad = Some(p.wrapping_add(k as u32));
                            }
                        }
                        *p = p.wrapping_add(bytes.len() as u32);
                    }
                    Chunk::Gap { len, .. } => *p = p.wrapping_add(len as u32),
                }
            });
            prop_assert!(r.queued() <= MAX_QUEUED_SEGMENTS, "{} queued", r.queued());
            prop_assert_eq!(bad, None, "a byte delivered at the wrong place");
        }
    }
}

/// A deterministic shuffle from a seed (Fisher-Yates over xorshift).
fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut x = seed | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
}
