//! `pgtls read -j N` reads each file in pieces that the workers read and
//! frame in turn (`pgtls::relay`). Whatever the size of the pieces and the
//! number of workers, the output, the warnings and the outcome are those of
//! one thread reading the files front to back.

mod common;
#[path = "common/corpus.rs"]
#[allow(dead_code)]
mod corpus;
#[path = "common/hostile.rs"]
mod hostile;

use pgtls::cli::{Format, ReadConfig};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// What a run gave: its outcome, output and warnings.
#[derive(Debug, PartialEq)]
struct Run {
    outcome: Result<(), String>,
    out: String,
    warnings: Vec<String>,
}

fn config(files: &[PathBuf], threads: usize, piece_bytes: usize, format: Format) -> ReadConfig {
    ReadConfig {
        files: files.to_vec(),
        ports: vec![5432, 15432, 8000],
        format,
        max_flows: 100_000,
        threads,
        any_port: true,
        piece_bytes,
    }
}

/// Runs `pgtls read` in a thread of its own; a run that has not ended
/// after two minutes fails the test (workers waiting on each other).
fn run(files: &[PathBuf], threads: usize, piece_bytes: usize, format: Format) -> Run {
    run_config(config(files, threads, piece_bytes, format))
}

fn run_config(cfg: ReadConfig) -> Run {
    let (threads, piece_bytes) = (cfg.threads, cfg.piece_bytes);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        let outcome = pgtls::read::run(&cfg, &mut out, Some(120), &mut |w| warnings.push(w))
            .map_err(|e| e.message);
        let _ = tx.send(Run {
            outcome,
            out: String::from_utf8(out).expect("UTF-8 output"),
            warnings,
        });
    });
    rx.recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("-j {threads}, pieces of {piece_bytes}: no end in 120 s"))
}

/// Runs `cfg` with 2 and 3 workers and pieces of each size in `pieces`;
/// each run must give `want`, one thread's run.
fn like_one_thread(cfg: &ReadConfig, want: &Run, pieces: &[usize], what: &str) {
    for threads in [2, 3] {
        for &piece in pieces {
            let got = run_config(ReadConfig {
                threads,
                piece_bytes: piece,
                ..cfg.clone()
            });
            assert!(
                got == *want,
                "{what}, -j {threads}, pieces of {piece}: {} lines against {}",
                got.out.lines().count(),
                want.out.lines().count()
            );
        }
    }
}

/// Every bundled capture in one run, in every form of output: pieces as
/// small as 64 bytes (a record cut by nearly every piece's end, records
/// longer than a piece), two and three workers.
#[test]
fn pieces_of_any_size_give_one_threads_output() {
    let all = corpus::captures();
    let samples: Vec<PathBuf> = all
        .iter()
        .filter(|p| p.starts_with("samples"))
        .cloned()
        .collect();
    for format in [Format::Table, Format::Jsonl, Format::Json] {
        let cfg = config(&all, 1, pgtls::relay::PIECE, format);
        let want = run_config(cfg.clone());
        assert_eq!(want.outcome, Ok(()));
        assert!(
            want.out.len() > 10_000,
            "{format:?}: {} bytes",
            want.out.len()
        );
        let pieces = [333, 4096, 65_536, pgtls::relay::PIECE];
        like_one_thread(&cfg, &want, &pieces, &format!("{format:?}"));
        let samples = config(&samples, 1, pgtls::relay::PIECE, format);
        let want = run_config(samples.clone());
        like_one_thread(&samples, &want, &[64], &format!("{format:?}, samples"));
    }
}

/// Without `--any-port`, the framer leaves out whole segments between two
/// ports not followed: following one port of several, or none of the
/// bundled captures' ports, the output and warnings (cut TCP headers are
/// still counted as skipped) are one thread's.
#[test]
fn segments_of_ports_not_followed_left_out_give_one_threads_output() {
    // A session on 5432 among segments between ports 80 and 8080, whole
    // and cut inside their TCP header.
    let dir = hostile::temp_dir("relay-ports");
    let mixed = dir.join("mixed.pcap");
    let mut conn = hostile::Conn::new(40_000);
    conn.handshake()
        .client(&hostile::SSL_REQUEST)
        .server(b"N")
        .close();
    let mut records = conn.records.clone();
    for i in 0..200 {
        let web = ([10, 1, 0, 1], 80, [10, 2, 0, 1], 8080);
        let data = hostile::tcp_ipv4(web, i, 0, 0x18, b"HTTP/1.1 200 OK");
        let orig_len = data.len() as u32;
        let at = |data: Vec<u8>| common::pcapw::Record {
            ts_sec: 1_700_000_100,
            ts_frac: i,
            data,
            orig_len,
        };
        records.push(at(data[..36].to_vec()));
        records.push(at(data));
    }
    let cap = hostile::capture_of(records);
    std::fs::write(&mixed, common::pcapw::write_pcap(&cap, false, false)).unwrap();
    let mut all = corpus::captures();
    all.push(mixed);
    for ports in [vec![5432], vec![15432], vec![5433]] {
        let cfg = ReadConfig {
            ports: ports.clone(),
            any_port: false,
            ..config(&all, 1, pgtls::relay::PIECE, Format::Jsonl)
        };
        let want = run_config(cfg.clone());
        assert_eq!(want.outcome, Ok(()));
        like_one_thread(
            &cfg,
            &want,
            &[4096, pgtls::relay::PIECE],
            &format!("ports {ports:?}"),
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Files with more sessions than a worker holds before it sends them to
/// the writer, over more pieces than it follows between two sends while the
/// writer waits for it: 2,000 TLS sessions that end with an RST (reports
/// going out as each linger ends, all through the file) and 3,000 SYNs
/// (sessions never answered, judged in batches at the end of the file).
#[test]
fn many_sessions_over_many_pieces_give_one_threads_output() {
    let dir = hostile::temp_dir("relay");
    let reset = dir.join("reset.pcap");
    let syns = dir.join("syns.pcap");
    hostile::write_reset_tls_sessions(&reset, 2_000).unwrap();
    hostile::write_syn_flood(&syns, 3_000).unwrap();
    let files = [reset, syns];
    for format in [Format::Table, Format::Jsonl] {
        let cfg = config(&files, 1, pgtls::relay::PIECE, format);
        let want = run_config(cfg.clone());
        assert_eq!(want.outcome, Ok(()));
        let lines = want.out.lines().count();
        assert!(lines >= 5_000, "{format:?}: {lines} lines");
        like_one_thread(&cfg, &want, &[4096, 65_536], &format!("{format:?}"));
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Cut, corrupt and odd captures, each on its own: the same warnings
/// (a file cut short, a corrupt record) and the same failure (not a
/// capture) as one thread.
#[test]
fn cut_and_corrupt_files_read_in_pieces_as_by_one_thread() {
    let hostile: Vec<PathBuf> = std::fs::read_dir("tests/data/hostile")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(hostile.len() > 10);
    let mut failed = 0;
    let mut warned = 0;
    for file in &hostile {
        let files = [file.clone()];
        let want = run(&files, 1, pgtls::relay::PIECE, Format::Jsonl);
        failed += usize::from(want.outcome.is_err());
        warned += usize::from(!want.warnings.is_empty());
        for piece in [64, 1000, pgtls::relay::PIECE] {
            let got = run(&files, 2, piece, Format::Jsonl);
            assert_eq!(got, want, "{}, pieces of {piece} bytes", file.display());
        }
    }
    // The set covers both ways a file goes wrong.
    assert!(
        failed >= 2 && warned >= 3,
        "{failed} failed, {warned} warned"
    );
}

/// A file that is not a capture between two that are: the first's
/// reports, then the failure, as with one thread.
#[test]
fn a_bad_file_among_good_ones_fails_the_run_as_one_thread_does() {
    let files: Vec<PathBuf> = [
        "samples/multi.pcap",
        "tests/data/hostile/wrong-magic.pcap",
        "samples/tls12.pcap",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    let want = run(&files, 1, pgtls::relay::PIECE, Format::Jsonl);
    let message = want.outcome.clone().unwrap_err();
    assert!(message.contains("wrong-magic.pcap"), "{message}");
    for piece in [64, 4096] {
        let got = run(&files, 2, piece, Format::Jsonl);
        assert_eq!(got.outcome, want.outcome, "pieces of {piece}");
        // The run stops at the bad file: nothing of the third file.
        assert!(!got.out.contains("tls12.pcap"), "pieces of {piece}");
    }
}

/// An output that takes `left` bytes, then fails.
struct Failing {
    left: usize,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("disk full"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Output that fails while the workers still have pieces to follow:
/// the run ends with the output's error, whichever worker was waiting on
/// which.
#[test]
fn a_failing_output_stops_every_worker() {
    let all = corpus::captures();
    for left in [0, 100, 20_000] {
        for piece in [64, 4096] {
            let cfg = config(&all, 2, piece, Format::Jsonl);
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let mut out = Failing { left };
                let r = pgtls::read::run(&cfg, &mut out, None, &mut |_| {});
                let _ = tx.send(r.map_err(|e| e.message));
            });
            let outcome = rx
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("output failing after {left} bytes: no end"));
            let message = outcome.unwrap_err();
            assert!(message.contains("disk full"), "{message}");
        }
    }
}
