//! A session's verdict does not depend on how its bytes were cut into TCP
//! segments, nor on the order and duplication of the segments within a run
//! of one direction: real sessions from `samples/` are re-segmented at
//! random sizes, reordered and duplicated, and must get the verdict, reason
//! and TLS version of the original capture, with no gap.

mod common;

use common::pcapw::{self, Capture, Record};
use common::shapes::{data_directions, split_payloads, XorShift};
use common::{analyze_ok, rows, sample_bytes, sample_capture, show};
use proptest::prelude::*;
use std::sync::OnceLock;

const SAMPLES: &[&str] = &[
    "tls13-verify-full.pcap",
    "tls12.pcap",
    "tls11-refused.pcap",
    "tls10-refused.pcap",
    "tls13-ipv6.pcap",
    "plaintext-refused.pcap",
    "plaintext-accepted.pcap",
    "ssl-off-prefer.pcap",
    "ssl-off-require.pcap",
    "cancel-plaintext.pcap",
    "psycopg-direct-tls-refused.pcap",
    "asyncpg-tls.pcap",
    "multi.pcap",
    "scanner-testssl.pcap",
];

struct Baseline {
    cap: Capture,
    /// (verdict, reason, TLS version) per session.
    rows: Vec<(String, String, Option<String>)>,
}

fn key_rows(bytes: &[u8], name: &str) -> (Vec<(String, String, Option<String>)>, u64) {
    let a = analyze_ok(bytes, name);
    let gaps = a.reports.iter().map(|r| u64::from(r.gaps.count)).sum();
    let r = rows(&a.reports)
        .into_iter()
        .map(|r| (r.verdict, r.reason, r.tls_version))
        .collect();
    (r, gaps)
}

fn baselines() -> &'static Vec<Baseline> {
    static B: OnceLock<Vec<Baseline>> = OnceLock::new();
    B.get_or_init(|| {
        SAMPLES
            .iter()
            .map(|name| {
                let (rows, gaps) = key_rows(&sample_bytes(name), name);
                assert_eq!(gaps, 0, "{name} has gaps of its own");
                Baseline {
                    cap: sample_capture(name),
                    rows,
                }
            })
            .collect()
    })
}

/// Segments shuffled together.
const WINDOW: usize = 8;

/// Within each run of consecutive frames whose data all goes one way in
/// one flow, shuffles the data segments among their places (in windows of
/// [`WINDOW`]) and, with
/// probability `dup_percent`, repeats one right after itself.
fn shuffle_runs(cap: &Capture, rng: &mut XorShift, dup_percent: u64) -> Capture {
    let dirs = data_directions(cap);
    let mut records: Vec<Record> = cap.records.clone();
    let mut i = 0;
    while i < records.len() {
        let Some(d) = &dirs[i] else {
            i += 1;
            continue;
        };
        // The run: data frames of direction d, with data-less frames between.
        let mut places = vec![i];
        let mut j = i + 1;
        while j < records.len() {
            match &dirs[j] {
                Some(e) if e == d => places.push(j),
                Some(_) => break,
                None => {}
            }
            j += 1;
        }
        let mut moved: Vec<Record> = places.iter().map(|&k| cap.records[k].clone()).collect();
        // Windows of WINDOW places: never more out of order than the
        // reassembler's queue holds.
        for w in moved.chunks_mut(WINDOW) {
            for k in (1..w.len()).rev() {
                w.swap(k, rng.range(0, k));
            }
        }
        for (&k, r) in places.iter().zip(moved) {
            records[k] = r;
        }
        i = j;
    }
    let mut out = Vec::with_capacity(records.len());
    for (k, r) in records.into_iter().enumerate() {
        let dup = dirs[k].is_some() && rng.next() % 100 < dup_percent;
        if dup {
            out.push(r.clone());
        }
        out.push(r);
    }
    Capture {
        records: out,
        ..cap.clone()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn verdicts_do_not_depend_on_segmentation_order_or_duplicates(
        sample in 0..SAMPLES.len(),
        seed in any::<u64>(),
        max_segment in prop_oneof![1usize..8, 1usize..200, 1usize..1500],
        dup_percent in prop_oneof![Just(0u64), 0u64..30],
        pcapng in any::<bool>(),
    ) {
        let b = &baselines()[sample];
        let mut rng = XorShift(seed | 1);
        let split = split_payloads(&b.cap, |left| rng.range(1, max_segment.min(left)));
        let mut rng = XorShift(seed.rotate_left(17) | 1);
        let cap = shuffle_runs(&split, &mut rng, dup_percent);
        let bytes = if pcapng {
            pcapw::write_pcapng(&cap, Default::default())
        } else {
            pcapw::write_pcap(&cap, false, false)
        };
        let (got, gaps) = key_rows(&bytes, SAMPLES[sample]);
        prop_assert_eq!(gaps, 0, "{}: gaps after a lossless rewrite", SAMPLES[sample]);
        if got != b.rows {
            let a = analyze_ok(&bytes, "variant");
            panic!(
                "{} (max segment {max_segment}, dup {dup_percent}%, seed {seed}): \
                 expected {:?}, got{}",
                SAMPLES[sample],
                b.rows,
                show(&rows(&a.reports))
            );
        }
    }
}
