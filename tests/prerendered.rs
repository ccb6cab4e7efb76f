//! `pgtls read` renders a reset session when its RST arrives, not when it
//! leaves the flow table 100 ms of capture later
//! (`Analyzer::rendering_resets`). What it writes must be byte for byte what
//! rendering at departure writes: on every bundled capture, with late
//! segments after each RST (a retransmission, a second RST, a FIN of the
//! other side).

mod common;
#[path = "common/corpus.rs"]
#[allow(dead_code)]
mod corpus;
#[path = "common/hostile.rs"]
mod hostile;

use common::packet::{TcpPacket, TCP_FIN, TCP_RST};
use common::pcapw::{self, Capture, Record};
use hostile::TCP_ACK;
use pgtls::cli::Format;
use pgtls::read::{Output, Rendered};

const FORMATS: [Format; 3] = [Format::Table, Format::Jsonl, Format::Json];

/// What `read` writes of each session of `bytes`, in its order, rendered
/// early or at departure, and how many sessions were rendered early.
fn outputs(bytes: &[u8], format: Format, early: bool) -> (Vec<String>, u64) {
    let a = corpus::analyzer();
    let mut a = if early {
        a.rendering_resets(format)
    } else {
        a.in_departure_order()
    };
    pgtls::read::read_capture(&mut a, std::io::Cursor::new(bytes), "f", &mut |_| {}).unwrap();
    let mut out = Vec::new();
    for d in a.take_retired().into_ordered() {
        let rendered = Rendered::of_departed(d, "f", format, Vec::new).unwrap();
        let text = match rendered.output {
            Output::Json(body) => String::from_utf8(body).unwrap(),
            Output::Row(cells) => format!("{cells:?}"),
        };
        out.push(format!(
            "{:?}|{:?}|{text}",
            rendered.order, rendered.verdict
        ));
    }
    (out, a.prerendered())
}

/// Checks both ways of rendering `bytes` in every format; returns how many
/// sessions were rendered early, and the JSON Lines output.
fn same_both_ways(bytes: &[u8], what: &str) -> (u64, Vec<String>) {
    let mut early = 0;
    let mut jsonl = Vec::new();
    for format in FORMATS {
        let (late, none) = outputs(bytes, format, false);
        assert_eq!(none, 0, "{what}");
        let (soon, n) = outputs(bytes, format, true);
        assert_eq!(late.len(), soon.len(), "{what} {format:?}");
        for (l, s) in late.iter().zip(&soon) {
            assert_eq!(l, s, "{what} {format:?}");
        }
        early = n;
        if format == Format::Jsonl {
            jsonl = soon;
        }
    }
    (early, jsonl)
}

#[test]
fn every_bundled_capture_renders_the_same_early() {
    let mut early = 0;
    for f in corpus::captures() {
        let bytes = std::fs::read(&f).unwrap();
        early += same_both_ways(&bytes, &f.display().to_string()).0;
    }
    // psql, psycopg and asyncpg end TLS sessions with a RST.
    assert!(early >= 15, "only {early} sessions rendered early");
}

/// The sample with, after each RST, late segments of its connection: the
/// segment before it again, the RST again, and a FIN from the side that
/// did not reset, each 1 µs after the last.
fn with_late_segments(cap: &Capture) -> Capture {
    let parsed: Vec<Option<TcpPacket>> = cap
        .records
        .iter()
        .map(|r| TcpPacket::parse(cap.link, &r.data))
        .collect();
    let mut records = Vec::new();
    for (i, r) in cap.records.iter().enumerate() {
        records.push(r.clone());
        let Some(p) = &parsed[i] else { continue };
        if p.flags() & TCP_RST == 0 {
            continue;
        }
        let (src, sport, dst, dport) = p.direction();
        let same_way = |q: &TcpPacket| q.direction() == (src.clone(), sport, dst.clone(), dport);
        let other_way = |q: &TcpPacket| q.direction() == (dst.clone(), dport, src.clone(), sport);
        let before = parsed[..i].iter().flatten();
        let mut late: Vec<Vec<u8>> = Vec::new();
        if let Some(prev) = before.clone().rev().find(|q| same_way(q) || other_way(q)) {
            late.push(prev.encode());
        }
        late.push(p.encode());
        if let Some(last) = before.rev().find(|q| other_way(q)) {
            let mut fin = last.with_payload(&[]);
            fin.set_seq(last.seq().wrapping_add(last.payload.len() as u32));
            fin.set_flags(TCP_FIN | TCP_ACK);
            late.push(fin.encode());
        }
        let ts = cap.ts_nanos(r);
        for (k, data) in late.into_iter().enumerate() {
            let at = ts + 1_000 * (k as u64 + 1);
            let frac = at % 1_000_000_000;
            records.push(Record {
                ts_sec: (at / 1_000_000_000) as u32,
                ts_frac: if cap.nanos { frac } else { frac / 1_000 } as u32,
                orig_len: data.len() as u32,
                data,
            });
        }
    }
    Capture {
        records,
        ..cap.clone()
    }
}

#[test]
fn late_segments_after_a_reset_count_as_before() {
    let mut early = 0;
    let mut changed = 0;
    for f in corpus::captures() {
        let bytes = std::fs::read(&f).unwrap();
        let Ok(cap) = pcapw::read_pcap(&bytes) else {
            continue; // pcapng: the legacy pcap samples cover the same
        };
        let late = pcapw::write_pcap(&with_late_segments(&cap), false, cap.nanos);
        let what = format!("{} with late segments", f.display());
        let (n, with_late) = same_both_ways(&late, &what);
        early += n;
        let (_, without) = same_both_ways(&bytes, &f.display().to_string());
        changed += with_late
            .iter()
            .filter(|line| !without.contains(line))
            .count();
    }
    assert!(early >= 15, "only {early} sessions rendered early");
    // The late segments moved the counters of sessions rendered early:
    // their records were written again.
    assert!(changed >= 15, "only {changed} records changed");
}

/// Sessions reduced to their output do not count towards freezing: reset
/// TLS sessions one after the other, all still in the table (10 us a
/// packet, well within the reset linger), are all rendered at their RST
/// with a table that freezes past 10 sessions. Counted, they would push
/// every later session past the bound and freeze it before its RST.
#[test]
fn rendered_sessions_do_not_make_others_freeze() {
    let dir = hostile::temp_dir("prerendered");
    let path = dir.join("resets.pcap");
    hostile::write_reset_tls_sessions(&path, 60).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let mut a = corpus::analyzer()
        .with_freeze_above(10)
        .rendering_resets(Format::Jsonl);
    pgtls::read::read_capture(&mut a, std::io::Cursor::new(&bytes), "f", &mut |_| {}).unwrap();
    assert_eq!(a.prerendered(), 60);
    assert_eq!(a.frozen_sessions(), 0);
    let (early, _) = same_both_ways(&bytes, "60 reset sessions");
    assert_eq!(early, 60);
}
