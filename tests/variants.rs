//! The same sessions stored in captures of many shapes must get the same
//! verdicts: link layers, file formats, TCP segmentation, reordering,
//! duplicates, retransmissions. Captures that lose bytes on purpose (snaplen,
//! a late start, a file cut short) get the verdicts that what is left allows.

mod common;

use common::packet::{Link, TcpPacket};
use common::pcapw::{self, Capture, PcapngOptions};
use common::shapes::{self, XorShift};
use common::{analyze, analyze_ok, rows, sample_bytes, sample_capture, show, verdicts, Row};

/// Samples every lossless variant is checked against, with the verdicts of
/// the original file (checked by `samples_have_the_expected_baseline_verdicts`).
const SAMPLES: &[(&str, &[&str])] = &[
    ("tls13-verify-full.pcap", &["encrypted"]),
    ("tls12.pcap", &["encrypted"]),
    ("plaintext-refused.pcap", &["rejected-plaintext"]),
    ("tls11-refused.pcap", &["rejected-tls-version"]),
    ("tls10-refused.pcap", &["rejected-tls-version"]),
    ("plaintext-accepted.pcap", &["plaintext"]),
    ("ssl-off-prefer.pcap", &["plaintext"]),
    ("ssl-off-require.pcap", &["ssl-refused"]),
    ("cancel-plaintext.pcap", &["plaintext", "cancel-request"]),
    ("tls13-ipv6.pcap", &["encrypted"]),
    (
        "multi.pcap",
        &[
            "encrypted",
            "encrypted",
            "rejected-plaintext",
            "rejected-tls-version",
            "plaintext",
            "plaintext",
            "cancel-request",
            "plaintext",
        ],
    ),
];

/// Samples the small-snaplen variant is checked on.
const SNAPLEN_SAMPLES: &[&str] = &[
    "tls13-verify-full.pcap",
    "tls12.pcap",
    "tls11-refused.pcap",
    "tls10-refused.pcap",
    "tls13-ipv6.pcap",
    "plaintext-refused.pcap",
];

/// A sample as read from its file, and what pgtls says about it.
struct Baseline {
    name: &'static str,
    cap: Capture,
    rows: Vec<Row>,
    start_ns: Vec<i64>,
    followed_segments: u64,
}

fn baseline(name: &'static str) -> Baseline {
    let a = analyze_ok(&sample_bytes(name), name);
    Baseline {
        name,
        cap: sample_capture(name),
        rows: rows(&a.reports),
        start_ns: a.reports.iter().map(|r| r.start_ns).collect(),
        followed_segments: a.stats.followed_segments,
    }
}

fn baselines() -> Vec<Baseline> {
    SAMPLES.iter().map(|(n, _)| baseline(n)).collect()
}

/// Runs a variant of every sample and collects what differs from the
/// baseline: the rows (verdict, client, server, reason, TLS version,
/// midstream) and, since no byte was lost, any gap.
fn differences(b: &Baseline, variant: &str, bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let a = match analyze(bytes, variant) {
        Ok(a) => a,
        Err(e) => return vec![format!("{} [{variant}]: read_capture failed: {e}", b.name)],
    };
    let got = rows(&a.reports);
    if got != b.rows {
        out.push(format!(
            "{} [{variant}]:\n  expected:{}\n  got:{}",
            b.name,
            show(&b.rows),
            show(&got)
        ));
    }
    for r in a.reports.iter().filter(|r| r.gaps.count > 0) {
        out.push(format!(
            "{} [{variant}]: session {} has {} gaps ({} bytes) although no byte is missing",
            b.name, r.client, r.gaps.count, r.gaps.bytes
        ));
    }
    if !a.warnings.is_empty() {
        out.push(format!("{} [{variant}]: warnings {:?}", b.name, a.warnings));
    }
    out.extend(frozen_differences(b.name, variant, bytes, &a.reports));
    out
}

/// Sessions frozen from the first segment on (a plaintext one reading on
/// frozen through split, reordered and retransmitted segments) must report
/// exactly what they report unfrozen.
fn frozen_differences(
    name: &str,
    variant: &str,
    bytes: &[u8],
    open: &[pgtls::report::SessionReport],
) -> Vec<String> {
    let json = |r: &[pgtls::report::SessionReport]| -> Vec<String> {
        r.iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect()
    };
    match common::analyze_freezing_above(bytes, variant, 0) {
        Ok(frozen) if json(&frozen.reports) == json(open) => Vec::new(),
        Ok(frozen) => vec![format!(
            "{name} [{variant}]: frozen sessions report otherwise:\n  open:   {:?}\n  frozen: {:?}",
            json(open),
            json(&frozen.reports)
        )],
        Err(e) => vec![format!("{name} [{variant}]: frozen read failed: {e}")],
    }
}

fn assert_no_differences(variant: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{variant}: {} difference(s)\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Checks a lossless variant of every sample against the original.
fn check_every_sample(variant: &str, mut make: impl FnMut(&Baseline) -> Vec<u8>) {
    let mut failures = Vec::new();
    for b in baselines() {
        let bytes = make(&b);
        failures.extend(differences(&b, variant, &bytes));
    }
    assert_no_differences(variant, failures);
}

/// (frames carrying TCP payload, payload bytes in all of them).
fn data_frames(cap: &Capture) -> (usize, usize) {
    cap.records
        .iter()
        .filter_map(|r| TcpPacket::parse(cap.link, &r.data))
        .filter(|p| !p.payload.is_empty())
        .fold((0, 0), |(n, b), p| (n + 1, b + p.payload.len()))
}

/// The largest TCP payload of a capture.
fn largest_payload(cap: &Capture) -> usize {
    cap.records
        .iter()
        .filter_map(|r| TcpPacket::parse(cap.link, &r.data))
        .map(|p| p.payload.len())
        .max()
        .unwrap_or(0)
}

fn pcap_le(cap: &Capture) -> Vec<u8> {
    pcapw::write_pcap(cap, false, cap.nanos)
}

// ---- the baseline itself --------------------------------------------------

#[test]
fn samples_have_the_expected_baseline_verdicts() {
    for (name, expected) in SAMPLES {
        let b = baseline(name);
        let got: Vec<&str> = b.rows.iter().map(|r| r.verdict.as_str()).collect();
        assert_eq!(&got, expected, "{name}:{}", show(&b.rows));
        assert!(
            b.rows.iter().all(|r| !r.midstream),
            "{name}:{}",
            show(&b.rows)
        );
        assert!(b.followed_segments > 0, "{name}");
    }
}

#[test]
fn rewriting_a_sample_unchanged_gives_back_its_bytes() {
    for (name, _) in SAMPLES {
        let cap = sample_capture(name);
        assert_eq!(pcap_le(&cap), sample_bytes(name), "{name}: the pcap writer");
        // Taking every TCP frame apart and encoding it again changes nothing
        // either: lengths and checksums are recomputed to what they were.
        for (i, r) in cap.records.iter().enumerate() {
            let p = TcpPacket::parse(cap.link, &r.data)
                .unwrap_or_else(|| panic!("{name}: frame {} is not TCP", i + 1));
            // Loopback captures hold a partial TCP checksum (offload): the
            // re-encoded frame has the full one, so that field is not compared.
            let sum = p.link_hdr.len() + p.ip.len() + 16;
            let mut again = p.encode();
            let mut orig = r.data.clone();
            again[sum..sum + 2].fill(0);
            orig[sum..sum + 2].fill(0);
            assert_eq!(again, orig, "{name}: frame {} re-encoded", i + 1);
        }
    }
}

// ---- link layers ----------------------------------------------------------

fn check_link(variant: &str, link: Link) {
    let mut failures = Vec::new();
    for b in baselines() {
        let (cap, dropped) = shapes::relink(&b.cap, link);
        assert_eq!(dropped, 0, "{}: frames without IP", b.name);
        assert_eq!(cap.link, link.linktype());
        let bytes = pcap_le(&cap);
        failures.extend(differences(&b, variant, &bytes));
        let a = analyze_ok(&bytes, variant);
        if a.stats.followed_segments != b.followed_segments || !a.stats.skipped.is_empty() {
            failures.push(format!(
                "{} [{variant}]: {} segments followed (original {}), skipped {:?}",
                b.name, a.stats.followed_segments, b.followed_segments, a.stats.skipped
            ));
        }
    }
    assert_no_differences(variant, failures);
}

#[test]
fn vlan_tagged_ethernet_keeps_verdicts() {
    check_link("802.1Q", Link::Vlan);
}

#[test]
fn qinq_double_tagged_ethernet_keeps_verdicts() {
    check_link("802.1ad+802.1Q", Link::QinQ);
}

#[test]
fn linux_cooked_v1_keeps_verdicts() {
    check_link("LINUX_SLL", Link::Sll);
}

#[test]
fn linux_cooked_v2_keeps_verdicts() {
    check_link("LINUX_SLL2", Link::Sll2);
}

#[test]
fn raw_ip_keeps_verdicts() {
    check_link("RAW", Link::Raw);
}

#[test]
fn bsd_null_loopback_keeps_verdicts() {
    check_link("NULL, IPv6 family 24", Link::Null { ipv6_family: 24 });
    check_link("NULL, IPv6 family 30", Link::Null { ipv6_family: 30 });
}

#[test]
fn openbsd_loop_keeps_verdicts() {
    check_link("LOOP", Link::Loop);
}

#[test]
fn cooked_v2_sample_moved_to_ethernet_keeps_verdicts() {
    // The one real LINUX_SLL2 capture, the other way round.
    let name = "any-interface.pcap";
    let orig = analyze_ok(&sample_bytes(name), name);
    let cap = sample_capture(name);
    assert_eq!(cap.link, 276);
    let expected = rows(&orig.reports);
    assert_eq!(
        verdicts(&orig.reports)
            .iter()
            .map(|v| v.0.as_str())
            .collect::<Vec<_>>(),
        ["encrypted", "rejected-plaintext"]
    );
    for link in [Link::Ethernet, Link::Raw, Link::Sll] {
        let (c, dropped) = shapes::relink(&cap, link);
        assert_eq!(dropped, 0);
        let a = analyze_ok(&pcap_le(&c), name);
        assert_eq!(rows(&a.reports), expected, "{link:?}");
    }
}

// ---- file formats ---------------------------------------------------------

fn check_format(variant: &str, write: impl Fn(&Capture) -> Vec<u8>) {
    let mut failures = Vec::new();
    for b in baselines() {
        let bytes = write(&b.cap);
        assert_ne!(
            bytes,
            sample_bytes(b.name),
            "{variant} must change the file"
        );
        failures.extend(differences(&b, variant, &bytes));
        let a = analyze_ok(&bytes, variant);
        let start: Vec<i64> = a.reports.iter().map(|r| r.start_ns).collect();
        if start != b.start_ns {
            failures.push(format!(
                "{} [{variant}]: session start times {start:?}, original {:?}",
                b.name, b.start_ns
            ));
        }
    }
    assert_no_differences(variant, failures);
}

#[test]
fn big_endian_pcap_keeps_verdicts() {
    check_format("pcap BE", |c| pcapw::write_pcap(c, true, false));
}

#[test]
fn nanosecond_pcap_keeps_verdicts_and_times() {
    check_format("pcap LE ns", |c| pcapw::write_pcap(c, false, true));
    check_format("pcap BE ns", |c| pcapw::write_pcap(c, true, true));
}

#[test]
fn pcapng_little_endian_keeps_verdicts() {
    check_format("pcapng LE", |c| {
        pcapw::write_pcapng(c, PcapngOptions::default())
    });
}

#[test]
fn pcapng_big_endian_keeps_verdicts() {
    check_format("pcapng BE", |c| {
        pcapw::write_pcapng(
            c,
            PcapngOptions {
                big_endian: true,
                ..Default::default()
            },
        )
    });
}

#[test]
fn pcapng_nanosecond_resolution_keeps_verdicts_and_times() {
    check_format("pcapng if_tsresol=9", |c| {
        pcapw::write_pcapng(
            c,
            PcapngOptions {
                nanos: true,
                ..Default::default()
            },
        )
    });
}

#[test]
fn pcapng_with_unknown_block_and_two_sections_keeps_verdicts() {
    check_format("pcapng unknown block, 2 sections", |c| {
        pcapw::write_pcapng(
            c,
            PcapngOptions {
                unknown_block: true,
                second_section: Some(false),
                ..Default::default()
            },
        )
    });
}

#[test]
fn pcapng_sections_of_different_byte_orders_keep_verdicts() {
    check_format("pcapng LE section then BE section", |c| {
        pcapw::write_pcapng(
            c,
            PcapngOptions {
                unknown_block: true,
                second_section: Some(true),
                ..Default::default()
            },
        )
    });
    check_format("pcapng BE section then LE section", |c| {
        pcapw::write_pcapng(
            c,
            PcapngOptions {
                big_endian: true,
                second_section: Some(false),
                ..Default::default()
            },
        )
    });
}

// ---- TCP shapes -----------------------------------------------------------

#[test]
fn one_byte_segments_keep_verdicts() {
    check_every_sample("1-byte segments", |b| {
        let c = shapes::split_payloads(&b.cap, |_| 1);
        let (frames, bytes) = data_frames(&b.cap);
        let (frames_after, bytes_after) = data_frames(&c);
        assert_eq!(bytes_after, bytes, "{}", b.name);
        assert_eq!(frames_after, bytes, "{}: one frame per byte", b.name);
        assert!(bytes > frames, "{}: nothing to split", b.name);
        pcap_le(&c)
    });
}

#[test]
fn random_segment_sizes_keep_verdicts() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    check_every_sample("segments of 1..40 bytes", |b| {
        let c = shapes::split_payloads(&b.cap, |_| rng.range(1, 40));
        let (frames, bytes) = data_frames(&b.cap);
        let (frames_after, bytes_after) = data_frames(&c);
        assert_eq!(bytes_after, bytes, "{}", b.name);
        // A split is sure only where a payload exceeds the largest size.
        assert!(
            frames_after > frames || largest_payload(&b.cap) <= 40,
            "{}: nothing split",
            b.name
        );
        pcap_le(&c)
    });
}

#[test]
fn reordered_adjacent_segments_keep_verdicts() {
    // As captured: few same-direction neighbours, but the ones there are
    // (a request and its next message, the last data and the FIN) swap.
    let mut total = 0;
    check_every_sample("adjacent same-direction segments swapped", |b| {
        let (c, n) = shapes::swap_adjacent_same_direction(&b.cap);
        total += n;
        pcap_le(&c)
    });
    assert!(total > 0, "no sample had two adjacent data segments");
    // Cut into small segments first: many neighbours to swap.
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    check_every_sample("1..40-byte segments, neighbours swapped", |b| {
        let split = shapes::split_payloads(&b.cap, |_| rng.range(1, 40));
        let (c, n) = shapes::swap_adjacent_same_direction(&split);
        assert!(
            n > 0 || largest_payload(&b.cap) <= 40,
            "{}: nothing swapped",
            b.name
        );
        pcap_le(&c)
    });
}

/// Cuts every data segment in two halves and puts the second half first.
fn halves_reversed(cap: &Capture) -> (Capture, usize) {
    let mut first = true;
    let split = shapes::split_payloads(cap, |left| {
        let n = if first { left.div_ceil(2) } else { left };
        first = !first;
        n
    });
    shapes::swap_adjacent_same_direction(&split)
}

#[test]
fn segment_halves_captured_second_first_keep_verdicts() {
    check_every_sample("each segment's second half first", |b| {
        let (c, n) = halves_reversed(&b.cap);
        assert!(n > 0, "{}: nothing swapped", b.name);
        pcap_le(&c)
    });
}

#[test]
fn fin_carried_on_the_last_data_segment_keeps_verdicts() {
    // Servers and clients often send their last message and the FIN in one
    // segment; the samples have them apart.
    check_every_sample("FIN on the last data segment", |b| {
        let (c, n) = shapes::fin_on_last_data(&b.cap);
        assert!(n > 0, "{}: no FIN moved", b.name);
        pcap_le(&c)
    });
}

#[test]
fn last_data_with_fin_captured_before_the_segment_ahead_of_it_keeps_verdicts() {
    // The last message travels with the FIN and is cut in two; the half that
    // carries the FIN is captured first, its predecessor right after. pgtls
    // flushes the queue on that FIN, declares the first half lost, and then
    // drops it as a retransmission: cancel-plaintext's CancelRequest becomes
    // `incomplete` ("bytes missing ... during the startup phase") and
    // sessions report gaps although every byte is in the capture.
    check_every_sample("FIN on last data, halves reversed", |b| {
        let (merged, n) = shapes::fin_on_last_data(&b.cap);
        assert!(n > 0, "{}: no FIN moved", b.name);
        let (c, n) = halves_reversed(&merged);
        assert!(n > 0, "{}: nothing swapped", b.name);
        pcap_le(&c)
    });
}

#[test]
fn duplicated_data_segments_keep_verdicts() {
    check_every_sample("every data segment twice", |b| {
        let (c, n) = shapes::duplicate_data(&b.cap);
        assert!(n > 0, "{}", b.name);
        pcap_le(&c)
    });
}

#[test]
fn overlapping_retransmission_keeps_verdicts() {
    // As captured: where a direction sends two segments in a row.
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let mut total = 0;
    check_every_sample("overlapping retransmission", |b| {
        let (c, n) = shapes::overlapping_retransmissions(&b.cap, &mut rng);
        total += n;
        pcap_le(&c)
    });
    assert!(total > 0, "no retransmission inserted");
    // Cut into small segments first: every direction with more than one
    // segment gets a retransmission.
    check_every_sample("1..40-byte segments, overlapping retransmission", |b| {
        let split = shapes::split_payloads(&b.cap, |_| rng.range(1, 40));
        let (c, n) = shapes::overlapping_retransmissions(&split, &mut rng);
        assert!(
            n > 0 || largest_payload(&b.cap) <= 40,
            "{}: no retransmission inserted",
            b.name
        );
        pcap_le(&c)
    });
}

// ---- bytes missing on purpose --------------------------------------------

#[test]
fn small_snaplen_keeps_verdicts() {
    // Ethernet + IPv4 + TCP with timestamps + 200 bytes of payload.
    const SNAPLEN: usize = 14 + 20 + 32 + 200;
    let mut failures = Vec::new();
    let mut cut_samples = 0;
    for name in SNAPLEN_SAMPLES {
        let b = baseline(name);
        let cut = shapes::snap(&b.cap, SNAPLEN);
        // tls10/tls11-refused hold no frame that long: they stay as they are.
        if cut
            .records
            .iter()
            .zip(&b.cap.records)
            .any(|(c, o)| c.data.len() < o.data.len())
        {
            cut_samples += 1;
        }
        let a = analyze_ok(&pcap_le(&cut), name);
        // The ServerHello starts its segment, so the TLS version is still
        // read; the ClientHello (about 206 to 1500 bytes) is cut and lost.
        let got: Vec<_> = verdicts(&a.reports)
            .into_iter()
            .zip(&a.reports)
            .map(|(v, r)| (v, r.tls.server_version.as_deref().map(str::to_string)))
            .collect();
        let expected: Vec<_> = b
            .rows
            .iter()
            .map(|r| {
                let v = (r.verdict.clone(), r.client.clone(), r.server.clone());
                (v, r.tls_version.clone())
            })
            .collect();
        if got != expected {
            failures.push(format!(
                "{name} [snaplen {SNAPLEN}]:\n  expected:{}\n  got:{}",
                show(&b.rows),
                show(&rows(&a.reports))
            ));
        }
    }
    assert!(
        cut_samples >= 3,
        "the snaplen cut only {cut_samples} samples"
    );
    assert_no_differences("small snaplen", failures);
}

#[test]
fn small_snaplen_counts_the_cut_bytes_as_gaps() {
    // A ClientHello cut by the snapshot length is a hole in the client's
    // stream, seen before the verdict settles: the report must count it,
    // or nothing tells the reader why the ClientHello is missing.
    const SNAPLEN: usize = 14 + 20 + 32 + 200;
    let mut failures = Vec::new();
    let mut cut_samples = 0;
    for name in SNAPLEN_SAMPLES {
        let cap = sample_capture(name);
        let cut = shapes::snap(&cap, SNAPLEN);
        let lost: usize = cap
            .records
            .iter()
            .zip(&cut.records)
            .map(|(o, c)| o.data.len() - c.data.len())
            .sum();
        if lost == 0 {
            continue;
        }
        cut_samples += 1;
        let a = analyze_ok(&pcap_le(&cut), name);
        for r in &a.reports {
            if r.gaps.count == 0 || r.gaps.bytes == 0 {
                failures.push(format!(
                    "{name}: {lost} bytes cut, session {} reports gaps {:?} (ClientHello parsed: {})",
                    r.client,
                    (r.gaps.count, r.gaps.bytes),
                    r.tls.client_max_version.is_some()
                ));
            }
        }
    }
    assert!(cut_samples > 0);
    assert_no_differences("snaplen gaps", failures);
}

#[test]
fn smaller_snaplen_never_turns_an_encrypted_session_into_a_failed_one() {
    // Both TLS 1.3 samples hold a HelloRetryRequest; the real ServerHello
    // (160 bytes) starts the server's next segment. A snaplen that cuts it
    // leaves a gap where the answer was, then encrypted records both ways.
    // What is left cannot show a failure: the verdict may be `encrypted`
    // or `incomplete`. pgtls says `tls-failed`, "the client did not complete
    // the handshake" (66+150) or "the connection closed before a
    // ClientHello" (IPv6 at 166, where the ClientHello was sent but cut).
    let mut failures = Vec::new();
    for name in ["tls13-verify-full.pcap", "tls13-ipv6.pcap"] {
        let cap = sample_capture(name);
        for snaplen in [66 + 150, 66 + 100] {
            let a = analyze_ok(&pcap_le(&shapes::snap(&cap, snaplen)), name);
            assert_eq!(a.reports.len(), 1, "{name}");
            let r = &a.reports[0];
            let v = r.verdict.to_string();
            if v != "encrypted" && v != "incomplete" {
                failures.push(format!("{name} [snaplen {snaplen}]: {v} ({})", r.reason));
            }
        }
    }
    assert_no_differences("snaplen cutting the handshake", failures);
}

#[test]
fn smaller_snaplen_cutting_the_error_response_still_sees_the_answer() {
    // 66+100 bytes: the server's ErrorResponse (150 bytes) keeps its
    // type byte, length and SQLSTATE 28000; only its end is missing. The
    // answer is there, so the verdict is `rejected-plaintext`, or at least
    // a reason that does not claim no answer was captured.
    let name = "plaintext-refused.pcap";
    let cut = shapes::snap(&sample_capture(name), 66 + 100);
    let a = analyze_ok(&pcap_le(&cut), name);
    assert_eq!(a.reports.len(), 1);
    let r = &a.reports[0];
    assert!(
        r.verdict.to_string() == "rejected-plaintext" || !r.reason.contains("no answer"),
        "{} ({})",
        r.verdict,
        r.reason
    );
}

#[test]
fn capture_starting_at_tls_application_data_is_encrypted_midstream() {
    let name = "tls13-verify-full.pcap";
    let cap = sample_capture(name);
    let late = shapes::start_at(&cap, |p| p.payload.starts_with(&[0x17, 0x03, 0x03]))
        .expect("an application-data record");
    assert!(late.records.len() < cap.records.len());
    let a = analyze_ok(&pcap_le(&late), name);
    assert_eq!(a.reports.len(), 1, "{}", show(&rows(&a.reports)));
    let r = &a.reports[0];
    assert_eq!(r.verdict.to_string(), "encrypted", "{}", r.reason);
    assert!(r.midstream, "{}", r.reason);
    assert_eq!(r.negotiation, Some("midstream"));
}

#[test]
fn capture_starting_at_a_query_is_plaintext_midstream() {
    let name = "plaintext-accepted.pcap";
    let cap = sample_capture(name);
    let late = shapes::start_at(&cap, |p| {
        p.dst_port() == 5432 && p.payload.first() == Some(&b'Q')
    })
    .expect("a Query message");
    assert!(late.records.len() < cap.records.len());
    let a = analyze_ok(&pcap_le(&late), name);
    assert_eq!(a.reports.len(), 1, "{}", show(&rows(&a.reports)));
    let r = &a.reports[0];
    assert_eq!(r.verdict.to_string(), "plaintext", "{}", r.reason);
    assert!(r.midstream, "{}", r.reason);
}

/// Length of the file up to the middle of its last packet's data.
fn middle_of_last_packet(file_len: usize, last_caplen: usize, trailer: usize) -> usize {
    file_len - trailer - last_caplen + last_caplen / 2
}

#[test]
fn file_cut_inside_the_last_packet_keeps_earlier_verdicts_and_warns() {
    let mut failures = Vec::new();
    for b in baselines() {
        let last = b.cap.records.last().expect("packets").data.len();
        let pcap = pcap_le(&b.cap);
        // pcap: the record's data ends the file.
        let cut_pcap = &pcap[..middle_of_last_packet(pcap.len(), last, 0)];
        // pcapng: the data is followed by its padding and the block's length.
        let ng = pcapw::write_pcapng(&b.cap, PcapngOptions::default());
        let cut_ng = &ng[..middle_of_last_packet(ng.len(), last, (4 - last % 4) % 4 + 4)];
        for (variant, bytes) in [("pcap cut", cut_pcap), ("pcapng cut", cut_ng)] {
            let a = analyze_ok(bytes, variant);
            let got = rows(&a.reports);
            if got != b.rows {
                failures.push(format!(
                    "{} [{variant}]:\n  expected:{}\n  got:{}",
                    b.name,
                    show(&b.rows),
                    show(&got)
                ));
            }
            if !a
                .warnings
                .iter()
                .any(|w| w.contains("ends in the middle") && w.contains("capture"))
            {
                failures.push(format!(
                    "{} [{variant}]: no warning about the end of the capture: {:?}",
                    b.name, a.warnings
                ));
            }
            let frames = b.cap.records.len() as u64 - 1;
            if a.stats.packets != frames {
                failures.push(format!(
                    "{} [{variant}]: {} packets read, expected {frames}",
                    b.name, a.stats.packets
                ));
            }
        }
    }
    assert_no_differences("file cut short", failures);
}

#[test]
fn wrong_magic_number_is_an_error() {
    let mut bytes = sample_bytes("tls12.pcap");
    bytes[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    let e = analyze(&bytes, "bad magic").err().expect("an error");
    assert!(e.to_string().contains("magic"), "{e}");

    // A pcapng section header whose byte-order magic is wrong.
    let cap = sample_capture("tls12.pcap");
    let mut ng = pcapw::write_pcapng(&cap, PcapngOptions::default());
    ng[8..12].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    assert!(analyze(&ng, "bad byte-order magic").is_err());
}
