//! Throughput of the whole pipeline and of its parsers, in bytes and packets
//! per second. Inputs are the bundled real captures, read from memory.
//!
//! `cargo bench --bench pipeline` (add `-- --quick` for a short run).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pgtls::analyze::{Analyzer, AnalyzerConfig, Departed};
use pgtls::capture::file::CaptureReader;
use pgtls::flow::PortSet;
use pgtls::report::{json, render_table, session_cells, write_session, SessionReport};
use std::hint::black_box;

fn analyzer() -> Analyzer {
    Analyzer::new(AnalyzerConfig {
        ports: PortSet::new(vec![5432]),
        max_flows: 1_000_000,
        report_early: false,
    })
}

fn packets_in(bytes: &[u8]) -> u64 {
    let mut r = CaptureReader::new(bytes).expect("capture");
    let mut n = 0;
    while r.next_packet().expect("packet").is_some() {
        n += 1;
    }
    n
}

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    ["multi.pcap", "scanner-nmap.pcap", "tls13.pcapng"]
        .iter()
        .map(|n| (*n, std::fs::read(format!("samples/{n}")).expect("sample")))
        .collect()
}

fn whole_pipeline(c: &mut Criterion) {
    for (unit, per_packet) in [("bytes", false), ("packets", true)] {
        let mut g = c.benchmark_group(format!("read_{unit}"));
        for (name, bytes) in inputs() {
            g.throughput(if per_packet {
                Throughput::Elements(packets_in(&bytes))
            } else {
                Throughput::Bytes(bytes.len() as u64)
            });
            g.bench_with_input(BenchmarkId::from_parameter(name), &bytes, |b, bytes| {
                b.iter(|| {
                    let mut a = analyzer();
                    pgtls::read::read_capture(&mut a, &bytes[..], name, &mut |_| {}).expect("read");
                    black_box(a.take_reports().len())
                })
            });
        }
        g.finish();
    }
}

fn capture_reader_only(c: &mut Criterion) {
    let mut g = c.benchmark_group("capture_reader");
    for (name, bytes) in inputs() {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &bytes, |b, bytes| {
            b.iter(|| black_box(packets_in(bytes)))
        });
    }
    g.finish();
}

fn decode_only(c: &mut Criterion) {
    let bytes = std::fs::read("samples/scanner-nmap.pcap").expect("sample");
    let mut frames = Vec::new();
    let mut r = CaptureReader::new(&bytes[..]).expect("capture");
    while let Some(p) = r.next_packet().expect("packet") {
        frames.push((p.link, p.data.to_vec(), p.orig_len));
    }
    // The same packets as `tcpdump -i any` writes them: Linux cooked v2.
    let sll2: Vec<_> = frames
        .iter()
        .map(|(_, data, orig_len)| {
            let mut f = data[12..14].to_vec();
            f.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
            f.extend_from_slice(&data[14..]);
            (pgtls::capture::LinkType::LINUX_SLL2, f, orig_len + 6)
        })
        .collect();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(frames.len() as u64));
    for (name, frames) in [("scanner-nmap", &frames), ("scanner-nmap-sll2", &sll2)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut ok = 0u32;
                for (i, (link, data, orig_len)) in frames.iter().enumerate() {
                    let p = pgtls::capture::Packet {
                        frame: i as u64 + 1,
                        ts_nanos: 0,
                        link: *link,
                        data,
                        orig_len: *orig_len,
                    };
                    ok += pgtls::decode::decode_packet(&p).is_ok() as u32;
                }
                black_box(ok)
            })
        });
    }
    g.finish();
}

fn tls_parsers(c: &mut Criterion) {
    // Every client-side TLS payload of a TLS 1.3 psql session, in order.
    let bytes = std::fs::read("samples/psycopg-tls.pcap").expect("sample");
    let mut r = CaptureReader::new(&bytes[..]).expect("capture");
    let mut client = Vec::new();
    while let Some(p) = r.next_packet().expect("packet") {
        if let Ok(s) = pgtls::decode::decode_packet(&p) {
            if s.dst.port() == 5432 && s.payload.len() > 8 {
                client.extend_from_slice(s.payload);
            }
        }
    }
    let hello_start = client
        .windows(3)
        .position(|w| w == [0x16, 0x03, 0x01])
        .expect("ClientHello");
    let stream = client[hello_start..].to_vec();
    let mut g = c.benchmark_group("tls_stream");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("client_flight_libpq18", |b| {
        b.iter(|| {
            let mut s = pgtls::tls::TlsStream::default();
            let mut ev = Vec::new();
            s.feed(black_box(&stream), &mut ev);
            black_box(ev.len())
        })
    });
    g.finish();
}

/// A session's output once it is judged: its JSON record written straight
/// from the session (`read --format jsonl`), the same record through its
/// full report (`sniff`, and `read` before), its table row, and the
/// bordered table of every row; per session and, for the records, per byte
/// written.
fn outputs(c: &mut Criterion) {
    let mut sessions = Vec::new();
    for (name, bytes) in inputs() {
        let mut a = analyzer().in_departure_order();
        pgtls::read::read_capture(&mut a, &bytes[..], name, &mut |_| {}).expect("read");
        sessions.extend(a.take_retired().into_ordered().filter_map(|d| match d {
            Departed::Session(r) => Some(r.session),
            Departed::Rendered(_) => None,
        }));
    }
    let judged: Vec<_> = sessions.iter().map(|s| (s, s.judge())).collect();
    let mut out = Vec::new();
    let mut record_bytes = 0;
    for (s, j) in &judged {
        out.clear();
        write_session(&mut out, s, j, "f").expect("record");
        record_bytes += out.len() as u64;
    }
    for (unit, throughput) in [
        ("sessions", Throughput::Elements(judged.len() as u64)),
        ("bytes", Throughput::Bytes(record_bytes)),
    ] {
        let mut g = c.benchmark_group(format!("outputs_{unit}"));
        g.throughput(throughput);
        g.bench_function("json_from_session", |b| {
            b.iter(|| {
                for (s, j) in &judged {
                    out.clear();
                    write_session(&mut out, s, j, "f").expect("record");
                    black_box(&out);
                }
            })
        });
        g.bench_function("json_through_report", |b| {
            b.iter(|| {
                for (s, j) in &judged {
                    out.clear();
                    let r = SessionReport::from_judged(s, j.clone(), "f");
                    json::write_compact(&mut out, &r).expect("record");
                    black_box(&out);
                }
            })
        });
        if unit == "sessions" {
            g.bench_function("table_row", |b| {
                b.iter(|| {
                    for (s, j) in &judged {
                        black_box(session_cells(s, j, Vec::new()));
                    }
                })
            });
            // The bordered table `read` draws into a file or a pipe (up to
            // 10,000 sessions), once its rows are made.
            let rows: Vec<_> = judged
                .iter()
                .map(|(s, j)| session_cells(s, j, Vec::new()))
                .collect();
            g.bench_function("bordered_table", |b| {
                b.iter(|| black_box(render_table(&rows, None)))
            });
        }
        g.finish();
    }
}

criterion_group!(
    benches,
    whole_pipeline,
    capture_reader_only,
    decode_only,
    tls_parsers,
    outputs
);
criterion_main!(benches);
