//! `pgtls sniff`: packets from a live interface in, one report per session out
//! the moment its verdict is final.
//!
//! The path from packet to verdict is the one `read` takes ([`Analyzer`]);
//! only the source differs. The loop here is written against
//! [`PacketSource`] so that it is tested on capture files without libpcap;
//! libpcap itself lives in `capture::live` (cargo feature `live`).
//!
//! Memory stays bounded on long runs: reports are printed and dropped as they
//! come (except for `--format json`, which prints one document at the end),
//! the summary keeps counts only, and idle sessions are closed after
//! `--idle-timeout` of packet time.

use crate::analyze::{Analyzer, AnalyzerConfig};
use crate::capture::{LinkType, Packet};
use crate::cli::Format;
use crate::flow::PortSet;
use crate::read::RunError;
use crate::report::{self, render_summary, SessionReport, Summary};
use serde::Serialize;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a build without the `live` feature answers to `sniff` and `interfaces`.
pub const LIVE_MISSING: &str = "live capture is not in this build: install with \
`cargo install --features live pgtls` (or build with `cargo build --features live`), \
which needs libpcap (apt-get install libpcap-dev)";

/// The BPF expression for the followed ports, and the user's own if any:
/// `(tcp port 5432 or tcp port 6432) and (USER)`.
pub fn bpf_filter(ports: &[u16], user: Option<&str>) -> String {
    let ports: Vec<String> = ports.iter().map(|p| format!("tcp port {p}")).collect();
    let ports = ports.join(" or ");
    match user {
        Some(u) if !u.trim().is_empty() => format!("({ports}) and ({u})"),
        _ => ports,
    }
}

/// The result of asking a source for a packet.
pub enum Next<'a> {
    Packet(Packet<'a>),
    /// No packet within the source's read timeout.
    Idle,
    /// The source has nothing more (a file; a live capture never ends).
    End,
}

/// libpcap's own counters, as the summary shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PcapCounts {
    /// Packets that passed the filter, as the kernel counted them.
    pub received: u64,
    /// Packets the kernel dropped because pgtls did not read them fast enough.
    pub dropped: u64,
    /// Packets dropped by the interface or its driver.
    pub if_dropped: u64,
}

/// Where packets come from.
pub trait PacketSource {
    /// The next packet, `Idle` after the read timeout, or a one-line error.
    fn next_packet(&mut self) -> Result<Next<'_>, String>;
    /// libpcap's counters, when the source has them.
    fn counts(&mut self) -> Option<PcapCounts>;
}

/// Where the raw packets are kept (`--write`).
pub trait PacketSink {
    fn write_packet(&mut self, p: &Packet<'_>) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
}

/// Writes packets as a classic pcap file (microsecond timestamps, the
/// format every tool reads).
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header; `link` is the file's LINKTYPE_ value.
    pub fn new(mut out: W, link: LinkType, snaplen: u32) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // magic, microseconds
        h.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&snaplen.to_le_bytes());
        h.extend_from_slice(&link.0.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, snaplen })
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> PacketSink for PcapWriter<W> {
    fn write_packet(&mut self, p: &Packet<'_>) -> io::Result<()> {
        let secs = p.ts_nanos.div_euclid(1_000_000_000);
        let usecs = p.ts_nanos.rem_euclid(1_000_000_000) / 1_000;
        let data = &p.data[..p.data.len().min(self.snaplen as usize)];
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&(u32::try_from(secs).unwrap_or(0)).to_le_bytes());
        h[4..8].copy_from_slice(&(usecs as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&p.orig_len.max(data.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Why the capture stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C (or SIGTERM).
    Interrupted,
    Duration,
    Count,
    /// The source ended (files only).
    End,
    /// Reading packets failed.
    SourceError(String),
    /// `--write` failed (disk full, …).
    WriteError(String),
    /// Standard output was closed (`| head`).
    OutputClosed,
    /// Writing standard output failed otherwise.
    OutputError(String),
}

impl Stop {
    pub fn as_str(&self) -> &'static str {
        match self {
            Stop::Interrupted => "interrupted",
            Stop::Duration => "duration",
            Stop::Count => "count",
            Stop::End => "end-of-input",
            Stop::SourceError(_) => "capture-error",
            Stop::WriteError(_) => "write-error",
            Stop::OutputClosed => "output-closed",
            Stop::OutputError(_) => "output-error",
        }
    }
}

/// How a run is driven (everything but the source and the sink).
#[derive(Debug, Clone)]
pub struct LoopSettings {
    /// The source's name, reported as each session's `file`.
    pub source_name: String,
    pub ports: Vec<u16>,
    pub max_flows: usize,
    pub format: Format,
    pub count: Option<u64>,
    /// Wall-clock end (`--duration`).
    pub deadline: Option<Instant>,
    /// `--idle-timeout`, in packet time.
    pub idle_timeout: Duration,
}

/// What a run saw, for the summary.
#[derive(Debug)]
pub struct Outcome {
    pub stop: Stop,
    pub summary: Summary,
    /// The sessions kept for `--format json`; empty for the streaming formats.
    pub sessions: Vec<SessionReport>,
    /// Sessions printed before the end (their verdict became final live).
    pub reported_live: u64,
    /// Sessions reported at the end rather than live (still open then),
    /// judged on what they had shown.
    pub reported_at_end: u64,
    /// Packets the pipeline saw.
    pub packets: u64,
    /// Packets written to `--write`.
    pub written: u64,
    pub warnings: Vec<String>,
}

/// Turns reports into output lines as they come.
struct Emitter<'o> {
    format: Format,
    out: &'o mut dyn Write,
    summary: Summary,
    kept: Vec<SessionReport>,
    header_done: bool,
}

impl Emitter<'_> {
    fn emit(&mut self, r: SessionReport) -> io::Result<()> {
        self.summary.sessions += 1;
        *self.summary.verdicts.entry(r.verdict.as_str()).or_default() += 1;
        match self.format {
            Format::Json => self.kept.push(r),
            Format::Jsonl => {
                // As `read` writes it: escaped for terminals (wire strings
                // may carry C1 controls or bidi overrides).
                let mut line = Vec::with_capacity(2048);
                report::json::write_compact(&mut line, &r)?;
                line.push(b'\n');
                self.out.write_all(&line)?;
                self.out.flush()?;
            }
            Format::Table => {
                if !self.header_done {
                    writeln!(self.out, "{}", report::plain_header())?;
                    self.header_done = true;
                }
                writeln!(self.out, "{}", report::plain_row(&report::table_cells(&r)))?;
                self.out.flush()?;
            }
        }
        Ok(())
    }
}

/// Packet time for idle expiry: the last packet's timestamp, moved on by the
/// wall clock while no packet arrives, so a quiet link still closes idle
/// sessions.
struct PacketClock {
    last_ts: Option<i64>,
    last_wall: Instant,
}

impl PacketClock {
    fn now_ns(&self) -> Option<i64> {
        self.last_ts.map(|ts| {
            let idle = i64::try_from(self.last_wall.elapsed().as_nanos()).unwrap_or(i64::MAX);
            ts.saturating_add(idle)
        })
    }
}

/// Runs the capture loop until `stop` is set, the deadline or the count is
/// reached, or the source ends or fails; then reports the sessions still open.
pub fn run_loop(
    source: &mut dyn PacketSource,
    mut sink: Option<&mut dyn PacketSink>,
    stop_flag: &AtomicBool,
    settings: &LoopSettings,
    out: &mut dyn Write,
) -> Outcome {
    let mut analyzer = Analyzer::new(AnalyzerConfig {
        ports: PortSet::new(settings.ports.clone()),
        max_flows: settings.max_flows,
        report_early: true,
    });
    analyzer.set_source(&settings.source_name);
    let mut emit = Emitter {
        format: settings.format,
        out,
        summary: Summary::new(),
        kept: Vec::new(),
        header_done: false,
    };
    let idle_ns = i64::try_from(settings.idle_timeout.as_nanos()).unwrap_or(i64::MAX);
    // Look for idle sessions at most once a second (or once per timeout if shorter).
    let sweep_ns = idle_ns.min(1_000_000_000);
    let mut clock = PacketClock {
        last_ts: None,
        last_wall: Instant::now(),
    };
    let mut last_sweep: Option<i64> = None;
    let mut written = 0u64;
    let mut reported_live = 0u64;

    let stop = loop {
        if stop_flag.load(Ordering::Relaxed) {
            break Stop::Interrupted;
        }
        if settings.deadline.is_some_and(|d| Instant::now() >= d) {
            break Stop::Duration;
        }
        let next = match source.next_packet() {
            Ok(n) => n,
            Err(e) => break Stop::SourceError(e),
        };
        match next {
            Next::Packet(p) => {
                if let Some(s) = sink.as_deref_mut() {
                    if let Err(e) = s.write_packet(&p) {
                        break Stop::WriteError(e.to_string());
                    }
                    written += 1;
                }
                analyzer.packet(&p);
                clock.last_ts = Some(p.ts_nanos);
                clock.last_wall = Instant::now();
            }
            Next::Idle => {
                if let Some(s) = sink.as_deref_mut() {
                    if let Err(e) = s.flush() {
                        break Stop::WriteError(e.to_string());
                    }
                }
            }
            Next::End => break Stop::End,
        }
        if let Some(now) = clock.now_ns() {
            let due = last_sweep.is_none_or(|t| now.saturating_sub(t) >= sweep_ns);
            if due {
                analyzer.expire_idle(now, idle_ns);
                last_sweep = Some(now);
            }
        }
        if let Err(e) = emit_ready(&mut analyzer, &mut emit, &mut reported_live) {
            break output_stop(e);
        }
        if settings.count.is_some_and(|c| emit.summary.sessions >= c) {
            break Stop::Count;
        }
    };

    if let Some(s) = sink {
        if let Err(e) = s.flush() {
            if !matches!(stop, Stop::WriteError(_)) {
                // Reported below like any other write error.
                return finish(
                    analyzer,
                    emit,
                    Stop::WriteError(e.to_string()),
                    written,
                    reported_live,
                );
            }
        }
    }
    finish(analyzer, emit, stop, written, reported_live)
}

fn output_stop(e: io::Error) -> Stop {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Stop::OutputClosed
    } else {
        Stop::OutputError(e.to_string())
    }
}

/// Prints the sessions whose verdict became final and those retired (idle,
/// evicted, port reuse) that were not printed yet.
fn emit_ready(
    analyzer: &mut Analyzer,
    emit: &mut Emitter<'_>,
    reported_live: &mut u64,
) -> io::Result<()> {
    for r in analyzer.take_final() {
        *reported_live += 1;
        emit.emit(r)?;
    }
    // Sessions reported early are not reported again when they leave.
    for r in analyzer.take_reports() {
        *reported_live += 1;
        emit.emit(r)?;
    }
    Ok(())
}

fn finish(
    mut analyzer: Analyzer,
    mut emit: Emitter<'_>,
    mut stop: Stop,
    written: u64,
    reported_live: u64,
) -> Outcome {
    // Sessions whose verdict became final with the last packet, then those
    // still open, judged on what they showed.
    let mut pending = analyzer.take_final();
    analyzer.end_source();
    let before_end = pending.len() as u64;
    pending.extend(analyzer.take_reports());
    let reported_at_end = pending.len() as u64 - before_end;
    if stop != Stop::OutputClosed {
        for r in pending {
            if let Err(e) = emit.emit(r) {
                if !matches!(stop, Stop::WriteError(_) | Stop::SourceError(_)) {
                    stop = output_stop(e);
                }
                break;
            }
        }
    }
    let mut warnings = Vec::new();
    let skipped: u64 = analyzer.stats.skipped.values().sum();
    if skipped > 0 {
        let mut kinds: Vec<_> = analyzer.stats.skipped.iter().collect();
        kinds.sort();
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        warnings.push(format!("packets not decoded: {}", list.join(", ")));
    }
    if analyzer.stats.evicted_flows > 0 {
        warnings.push(format!(
            "{} sessions were closed early to stay within --max-flows",
            analyzer.stats.evicted_flows
        ));
    }
    let mut sessions = std::mem::take(&mut emit.kept);
    sessions.sort_by_key(|r| r.index);
    Outcome {
        stop,
        summary: emit.summary,
        sessions,
        reported_live,
        reported_at_end,
        packets: analyzer.stats.packets,
        written,
        warnings,
    }
}

/// The capture part of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureReport {
    pub interface: String,
    pub filter: String,
    /// Why the capture stopped: interrupted, duration, count, capture-error,
    /// write-error, output-closed, output-error.
    pub stopped: &'static str,
    /// Packets pgtls read from libpcap.
    pub packets: u64,
    /// Sessions reported at the end rather than live (still open then),
    /// judged on what they had shown.
    pub reported_at_end: u64,
    pub written: Option<u64>,
    /// libpcap's counters (null when libpcap could not give them).
    pub pcap: Option<PcapCounts>,
}

#[derive(Serialize)]
struct SniffDocument<'a> {
    sessions: &'a [SessionReport],
    summary: &'a Summary,
    capture: &'a CaptureReport,
}

#[derive(Serialize)]
struct Trailer<'a> {
    summary: &'a Summary,
    capture: &'a CaptureReport,
}

/// Prints what comes after the sessions: the JSON document, or the summary
/// and libpcap's counts on `err` (table: human lines; jsonl: one JSON line,
/// so that standard output holds only session lines).
pub fn write_trailer(
    out: &mut dyn Write,
    err: &mut dyn Write,
    format: Format,
    outcome: &Outcome,
    capture: &CaptureReport,
) -> io::Result<()> {
    for w in &outcome.warnings {
        writeln!(err, "pgtls: warning: {w}")?;
    }
    if let Some(c) = &capture.pcap {
        if c.dropped > 0 || c.if_dropped > 0 {
            writeln!(
                err,
                "pgtls: warning: libpcap dropped {} packets ({} by the interface): some \
                 sessions may be judged incomplete; narrow the capture with --filter or --port",
                c.dropped, c.if_dropped
            )?;
        }
    }
    match format {
        Format::Json => {
            let doc = SniffDocument {
                sessions: &outcome.sessions,
                summary: &outcome.summary,
                capture,
            };
            report::json::write_pretty(out, &doc)?;
        }
        Format::Jsonl => {
            let t = Trailer {
                summary: &outcome.summary,
                capture,
            };
            serde_json::to_writer(&mut *err, &t)?;
            writeln!(err)?;
        }
        Format::Table => {
            if outcome.summary.sessions == 0 {
                writeln!(out, "no PostgreSQL sessions seen")?;
                out.flush()?;
            }
            writeln!(err, "{}", render_summary(&outcome.summary))?;
            writeln!(err, "{}", capture_line(capture))?;
        }
    }
    err.flush()
}

/// "capture on lo (stopped: interrupted): 120 packets; libpcap: 120 received, 0 dropped, 0 dropped by the interface"
fn capture_line(c: &CaptureReport) -> String {
    let mut s = format!(
        "capture on {} (stopped: {}): {} packets",
        c.interface, c.stopped, c.packets
    );
    if let Some(w) = c.written {
        s.push_str(&format!(", {w} written"));
    }
    if c.reported_at_end > 0 {
        s.push_str(&format!(
            ", {} sessions reported at the end (still open)",
            c.reported_at_end
        ));
    }
    match &c.pcap {
        Some(p) => s.push_str(&format!(
            "; libpcap: {} received, {} dropped, {} dropped by the interface",
            p.received, p.dropped, p.if_dropped
        )),
        None => s.push_str("; libpcap gave no counts"),
    }
    s
}

/// The error a stop reason turns into, if any (exit status 2).
pub fn stop_error(stop: &Stop, write_path: Option<&std::path::Path>) -> Option<RunError> {
    let message = match stop {
        Stop::SourceError(e) => {
            format!("capture stopped: {e}; the sessions seen so far are reported above")
        }
        Stop::WriteError(e) => format!(
            "--write {}: {e}; capture stopped, the sessions seen so far are reported above \
             (free some space or write elsewhere)",
            write_path
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
        Stop::OutputError(e) => format!("writing output: {e}"),
        _ => return None,
    };
    Some(RunError {
        message,
        exit_code: 2,
    })
}

#[cfg(feature = "live")]
pub use live::{interfaces, open_capture, sniff, stop_on_signal};

#[cfg(feature = "live")]
mod live {
    use super::*;
    use crate::capture::live::{self as cap, LiveCapture, LiveNext, LiveOptions};
    use crate::cli::SniffConfig;
    use std::fs::File;
    use std::io::BufWriter;
    use std::sync::Arc;

    impl PacketSource for LiveCapture {
        fn next_packet(&mut self) -> Result<Next<'_>, String> {
            match self.read_packet() {
                Ok(LiveNext::Packet(p)) => Ok(Next::Packet(p)),
                Ok(LiveNext::Idle) => Ok(Next::Idle),
                Err(e) => Err(e.message),
            }
        }

        fn counts(&mut self) -> Option<PcapCounts> {
            self.stats().map(|s| PcapCounts {
                received: s.received,
                dropped: s.dropped,
                if_dropped: s.if_dropped,
            })
        }
    }

    fn err2(message: String) -> RunError {
        RunError {
            message,
            exit_code: 2,
        }
    }

    /// Opens the capture `cfg` names (libpcap's default device when it
    /// names none) with the filter of its ports: the capture, the
    /// interface's name and the filter. Also used by `pgtls audit -i`.
    pub fn open_capture(cfg: &SniffConfig) -> Result<(LiveCapture, String, String), RunError> {
        let interface = match &cfg.interface {
            Some(i) => i.clone(),
            None => cap::default_device().map_err(|e| err2(e.message))?,
        };
        let filter = bpf_filter(&cfg.ports, cfg.filter.as_deref());
        let capture = LiveCapture::open(&LiveOptions {
            interface: interface.clone(),
            snaplen: cfg.snaplen,
            filter: filter.clone(),
            user_filter: cfg.filter.clone(),
        })
        .map_err(|e| err2(e.message))?;
        Ok((capture, interface, filter))
    }

    /// A flag that Ctrl-C (or SIGTERM) sets. A second Ctrl-C a second or
    /// more after the first ends the process at once, without the summary.
    /// (One signal can come twice at once: `timeout` sends it to the child
    /// and to its process group.)
    pub fn stop_on_signal() -> Arc<AtomicBool> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let first = std::sync::Mutex::new(None::<Instant>);
        let _ = ctrlc::set_handler(move || {
            flag.store(true, Ordering::SeqCst);
            let mut first = first.lock().unwrap_or_else(|e| e.into_inner());
            match *first {
                Some(t) if t.elapsed() >= Duration::from_secs(1) => std::process::exit(130),
                Some(_) => {}
                None => *first = Some(Instant::now()),
            }
        });
        stop
    }

    /// `pgtls sniff`: opens the capture, prints sessions until stopped.
    pub fn sniff(cfg: &SniffConfig) -> Result<(), RunError> {
        let (mut capture, interface, filter) = open_capture(cfg)?;

        let mut writer = match &cfg.write {
            Some(path) => {
                let f = File::create(path)
                    .map_err(|e| err2(format!("--write {}: {e}", path.display())))?;
                let w = PcapWriter::new(
                    BufWriter::with_capacity(64 << 10, f),
                    capture.file_link_type(),
                    cfg.snaplen,
                )
                .map_err(|e| err2(format!("--write {}: {e}", path.display())))?;
                Some(w)
            }
            None => None,
        };

        let stop = stop_on_signal();

        let stderr = io::stderr();
        let mut err = stderr.lock();
        let _ = writeln!(
            err,
            "pgtls: listening on {} ({}), filter `{}`; Ctrl-C to stop",
            capture.interface(),
            capture.link_name(),
            filter
        );
        drop(err);

        let settings = LoopSettings {
            source_name: interface.clone(),
            ports: cfg.ports.clone(),
            max_flows: cfg.max_flows,
            format: cfg.format,
            count: cfg.count,
            deadline: cfg.duration.map(|d| Instant::now() + d),
            idle_timeout: cfg.idle_timeout,
        };
        let mut out = io::stdout().lock();
        let outcome = run_loop(
            &mut capture,
            writer.as_mut().map(|w| w as &mut dyn PacketSink),
            &stop,
            &settings,
            &mut out,
        );
        let report = CaptureReport {
            interface,
            filter,
            stopped: outcome.stop.as_str(),
            packets: outcome.packets,
            reported_at_end: outcome.reported_at_end,
            written: cfg.write.as_ref().map(|_| outcome.written),
            pcap: capture.counts(),
        };
        drop(writer);
        let mut err = io::stderr().lock();
        let trailer = write_trailer(&mut out, &mut err, cfg.format, &outcome, &report);
        if let Some(e) = stop_error(&outcome.stop, cfg.write.as_deref()) {
            return Err(e);
        }
        match trailer {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                Err(err2(format!("writing output: {e}")))
            }
            _ => Ok(()),
        }
    }

    /// `pgtls interfaces`: one line per device, the default first and marked.
    pub fn interfaces(out: &mut dyn Write) -> Result<(), RunError> {
        let devs = cap::list_devices().map_err(|e| err2(e.message))?;
        if devs.is_empty() {
            return Err(err2(
                "libpcap lists no interfaces (no permission?): run as root, or once \
                 `sudo setcap cap_net_raw,cap_net_admin=eip $(which pgtls)`"
                    .into(),
            ));
        }
        let width = devs.iter().map(|d| d.name.len()).max().unwrap_or(0);
        let lines: io::Result<()> = (|| {
            for (i, d) in devs.iter().enumerate() {
                let mut line = format!("{:<width$}  {:<28}", d.name, d.flags.join(","));
                if !d.addresses.is_empty() {
                    line.push_str(&format!("  {}", d.addresses.join(" ")));
                }
                if let Some(desc) = &d.description {
                    line.push_str(&format!("  ({})", report::sanitize(desc)));
                }
                if i == 0 {
                    line.push_str("  [default]");
                }
                writeln!(out, "{}", line.trim_end())?;
            }
            out.flush()
        })();
        match lines {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                Err(err2(format!("writing output: {e}")))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::file::CaptureReader;
    use crate::read::read_capture;
    use crate::session::Verdict;
    use std::collections::BTreeMap;

    /// A packet copied out of a capture file.
    #[derive(Clone)]
    struct Owned {
        ts_nanos: i64,
        link: LinkType,
        data: Vec<u8>,
        orig_len: u32,
    }

    fn load(name: &str) -> Vec<Owned> {
        let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
        let f = std::fs::File::open(&path).expect("sample capture");
        let mut cap = CaptureReader::new(f).expect("capture header");
        let mut v = Vec::new();
        while let Some(p) = cap.next_packet().expect("packet") {
            v.push(Owned {
                ts_nanos: p.ts_nanos,
                link: p.link,
                data: p.data.to_vec(),
                orig_len: p.orig_len,
            });
        }
        v
    }

    /// Hands out packets like a live capture would, then `Idle` a few
    /// times, then `End` (or sets the stop flag instead of ending).
    struct VecSource<'a> {
        packets: Vec<Owned>,
        next: usize,
        idles: u32,
        stop_after: Option<&'a AtomicBool>,
    }

    impl<'a> VecSource<'a> {
        fn new(packets: Vec<Owned>) -> Self {
            VecSource {
                packets,
                next: 0,
                idles: 2,
                stop_after: None,
            }
        }
    }

    impl PacketSource for VecSource<'_> {
        fn next_packet(&mut self) -> Result<Next<'_>, String> {
            if let Some(p) = self.packets.get(self.next) {
                self.next += 1;
                return Ok(Next::Packet(Packet {
                    frame: self.next as u64,
                    ts_nanos: p.ts_nanos,
                    link: p.link,
                    data: &p.data,
                    orig_len: p.orig_len,
                }));
            }
            if self.idles > 0 {
                self.idles -= 1;
                return Ok(Next::Idle);
            }
            match self.stop_after {
                Some(flag) => {
                    flag.store(true, Ordering::Relaxed);
                    Ok(Next::Idle)
                }
                None => Ok(Next::End),
            }
        }

        fn counts(&mut self) -> Option<PcapCounts> {
            Some(PcapCounts {
                received: self.next as u64,
                dropped: 0,
                if_dropped: 0,
            })
        }
    }

    /// The trailer's capture part for a run on the test interface.
    fn test_capture_report(o: &Outcome, pcap: Option<PcapCounts>) -> CaptureReport {
        CaptureReport {
            interface: "test0".into(),
            filter: "tcp port 5432".into(),
            stopped: o.stop.as_str(),
            packets: o.packets,
            reported_at_end: o.reported_at_end,
            written: None,
            pcap,
        }
    }

    fn settings(format: Format) -> LoopSettings {
        LoopSettings {
            source_name: "test0".into(),
            ports: vec![5432],
            max_flows: 1000,
            format,
            count: None,
            deadline: None,
            idle_timeout: Duration::from_secs(300),
        }
    }

    /// (client, verdict) of every session, as `read` judges the file.
    fn read_verdicts(name: &str) -> BTreeMap<String, String> {
        let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut a = Analyzer::new(AnalyzerConfig {
            ports: PortSet::new(vec![5432]),
            max_flows: 1000,
            report_early: false,
        });
        let f = std::fs::File::open(path).expect("sample");
        read_capture(&mut a, f, name, &mut |_| {}).expect("read");
        a.take_reports()
            .into_iter()
            .map(|r| (r.client, r.verdict.as_str().to_string()))
            .collect()
    }

    fn jsonl_verdicts(out: &[u8]) -> BTreeMap<String, String> {
        let text = std::str::from_utf8(out).expect("utf-8");
        let mut m = BTreeMap::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
            let client = v["client"].as_str().expect("client").to_string();
            let verdict = v["verdict"].as_str().expect("verdict").to_string();
            assert!(
                m.insert(client, verdict).is_none(),
                "a session printed twice"
            );
        }
        m
    }

    #[test]
    fn filter_combines_ports_and_user_expression() {
        assert_eq!(bpf_filter(&[5432], None), "tcp port 5432");
        assert_eq!(
            bpf_filter(&[5432, 6432], Some("host 10.1.2.3")),
            "(tcp port 5432 or tcp port 6432) and (host 10.1.2.3)"
        );
        assert_eq!(bpf_filter(&[5432], Some("  ")), "tcp port 5432");
    }

    #[test]
    fn same_verdicts_as_read_each_session_printed_once() {
        let stop = AtomicBool::new(false);
        let mut src = VecSource::new(load("multi.pcap"));
        let mut out = Vec::new();
        let o = run_loop(&mut src, None, &stop, &settings(Format::Jsonl), &mut out);
        assert_eq!(o.stop, Stop::End);
        let live = jsonl_verdicts(&out);
        assert_eq!(live, read_verdicts("multi.pcap"));
        assert_eq!(o.summary.sessions, live.len() as u64);
        assert!(o.reported_live > 0, "verdicts are reported as they settle");
        assert_eq!(o.reported_live + o.reported_at_end, o.summary.sessions);
    }

    #[test]
    fn written_capture_reads_back_the_same() {
        let stop = AtomicBool::new(false);
        let mut src = VecSource::new(load("any-interface.pcap"));
        let link = src.packets[0].link;
        let mut w = PcapWriter::new(Vec::new(), link, 65535).expect("header");
        let mut out = Vec::new();
        let o = run_loop(
            &mut src,
            Some(&mut w),
            &stop,
            &settings(Format::Jsonl),
            &mut out,
        );
        assert_eq!(o.written, o.packets);
        let file = w.into_inner();
        let mut a = Analyzer::new(AnalyzerConfig {
            ports: PortSet::new(vec![5432]),
            max_flows: 1000,
            report_early: false,
        });
        read_capture(&mut a, file.as_slice(), "written", &mut |_| {}).expect("readable pcap");
        let back: BTreeMap<String, String> = a
            .take_reports()
            .into_iter()
            .map(|r| (r.client, r.verdict.as_str().to_string()))
            .collect();
        assert_eq!(back, jsonl_verdicts(&out));
        assert_eq!(back, read_verdicts("any-interface.pcap"));
    }

    #[test]
    fn count_stops_the_capture() {
        let stop = AtomicBool::new(false);
        let mut src = VecSource::new(load("multi.pcap"));
        let mut s = settings(Format::Jsonl);
        s.count = Some(2);
        let mut out = Vec::new();
        let o = run_loop(&mut src, None, &stop, &s, &mut out);
        assert_eq!(o.stop, Stop::Count);
        assert!(src.next < src.packets.len(), "stopped before the end");
        assert!(o.summary.sessions >= 2);
        assert_eq!(jsonl_verdicts(&out).len() as u64, o.summary.sessions);
    }

    #[test]
    fn interrupt_reports_open_sessions_with_what_is_known() {
        let stop = AtomicBool::new(false);
        // The first session's handshake and SSLRequest only, then nothing.
        let mut src = VecSource::new(load("multi.pcap").into_iter().take(4).collect());
        src.stop_after = Some(&stop);
        let mut out = Vec::new();
        let o = run_loop(&mut src, None, &stop, &settings(Format::Jsonl), &mut out);
        assert_eq!(o.stop, Stop::Interrupted);
        assert_eq!(o.reported_at_end, 1);
        let v = jsonl_verdicts(&out);
        assert_eq!(v.len(), 1);
        assert_eq!(v.values().next().unwrap(), Verdict::Incomplete.as_str());
    }

    #[test]
    fn idle_sessions_are_closed_in_packet_time() {
        let stop = AtomicBool::new(false);
        let mut packets: Vec<Owned> = load("multi.pcap").into_iter().take(4).collect();
        let t0 = packets[3].ts_nanos;
        // Another connection 10 s later (packet time): the first one is idle.
        let mut later = load("tls12.pcap");
        let shift = t0 + 10_000_000_000 - later[0].ts_nanos;
        for p in &mut later {
            p.ts_nanos += shift;
        }
        packets.extend(later);
        let mut src = VecSource::new(packets);
        let mut s = settings(Format::Jsonl);
        s.idle_timeout = Duration::from_secs(5);
        let mut out = Vec::new();
        let o = run_loop(&mut src, None, &stop, &s, &mut out);
        assert_eq!(
            o.reported_at_end, 0,
            "the idle session was closed before the end"
        );
        let text = String::from_utf8(out).unwrap();
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("a line")).unwrap();
        assert_eq!(first["verdict"], "incomplete");
        assert_eq!(o.summary.sessions, 2);
    }

    /// Accepts `room` bytes, then fails like a full disk.
    struct FullDisk {
        room: usize,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn disk_full_stops_and_reports_what_was_seen() {
        let stop = AtomicBool::new(false);
        let mut src = VecSource::new(load("multi.pcap"));
        let total = src.packets.len();
        let mut w = PcapWriter::new(FullDisk { room: 3000 }, LinkType::ETHERNET, 65535).unwrap();
        let mut out = Vec::new();
        let o = run_loop(
            &mut src,
            Some(&mut w),
            &stop,
            &settings(Format::Jsonl),
            &mut out,
        );
        assert!(matches!(o.stop, Stop::WriteError(_)), "{:?}", o.stop);
        assert!(src.next < total);
        assert!(o.summary.sessions >= 1, "the open session is reported");
        let e = stop_error(&o.stop, Some(std::path::Path::new("/mnt/x.pcap"))).unwrap();
        assert_eq!(e.exit_code, 2);
        assert!(
            e.message.contains("No space left on device"),
            "{}",
            e.message
        );
        assert!(e.message.contains("/mnt/x.pcap"));
        assert!(!e.message.contains('\n'));
    }

    #[test]
    fn table_rows_stream_and_summary_goes_to_stderr() {
        let stop = AtomicBool::new(false);
        let mut src = VecSource::new(load("multi.pcap"));
        let mut out = Vec::new();
        let o = run_loop(&mut src, None, &stop, &settings(Format::Table), &mut out);
        let cap = test_capture_report(
            &o,
            Some(PcapCounts {
                received: 9,
                dropped: 3,
                if_dropped: 0,
            }),
        );
        let mut err = Vec::new();
        write_trailer(&mut out, &mut err, Format::Table, &o, &cap).unwrap();
        let out = String::from_utf8(out).unwrap();
        let err = String::from_utf8(err).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("start"));
        assert_eq!(lines.len() as u64, 1 + o.summary.sessions);
        assert!(err.contains("libpcap dropped 3 packets"), "{err}");
        assert!(err.contains(&format!("{} sessions", o.summary.sessions)));
        assert!(err.contains("9 received, 3 dropped, 0 dropped by the interface"));
    }

    #[test]
    fn jsonl_stdout_holds_only_sessions() {
        let stop = AtomicBool::new(false);
        let mut src = VecSource::new(load("tls12.pcap"));
        let mut out = Vec::new();
        let o = run_loop(&mut src, None, &stop, &settings(Format::Jsonl), &mut out);
        let cap = test_capture_report(&o, None);
        let mut err = Vec::new();
        write_trailer(&mut out, &mut err, Format::Jsonl, &o, &cap).unwrap();
        assert_eq!(jsonl_verdicts(&out).len(), 1);
        let err = String::from_utf8(err).unwrap();
        let last: serde_json::Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
        assert_eq!(last["summary"]["sessions"], 1);
        assert_eq!(last["capture"]["stopped"], "end-of-input");
    }

    #[test]
    fn json_document_has_sessions_summary_and_capture() {
        let stop = AtomicBool::new(false);
        let mut src = VecSource::new(load("multi.pcap"));
        let mut out = Vec::new();
        let o = run_loop(&mut src, None, &stop, &settings(Format::Json), &mut out);
        assert!(out.is_empty(), "json prints one document at the end");
        let cap = test_capture_report(&o, None);
        let mut err = Vec::new();
        write_trailer(&mut out, &mut err, Format::Json, &o, &cap).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            doc["sessions"].as_array().unwrap().len() as u64,
            o.summary.sessions
        );
        assert_eq!(doc["summary"]["sessions"], o.summary.sessions);
        assert_eq!(doc["capture"]["interface"], "test0");
    }

    /// Wire strings with a bidi override and a C1 control (CSI), in an
    /// application_name rewritten in place: the JSON and JSON Lines output
    /// carry them as escapes, never raw, and decode to the same text.
    #[test]
    fn json_outputs_escape_wire_strings_for_terminals() {
        let mut packets = load("plaintext-accepted.pcap");
        // "pgtls" and the two characters are five bytes each.
        let hostile = "\u{202e}\u{9b}";
        let mut rewritten = 0;
        for p in &mut packets {
            let name = b"pgtls-samples\0";
            if let Some(at) = p.data.windows(name.len()).position(|w| w == name) {
                p.data[at..at + 5].copy_from_slice(hostile.as_bytes());
                rewritten += 1;
            }
        }
        assert!(rewritten > 0, "the sample names its application");
        for format in [Format::Jsonl, Format::Json] {
            let stop = AtomicBool::new(false);
            let mut src = VecSource::new(packets.clone());
            let mut out = Vec::new();
            let o = run_loop(&mut src, None, &stop, &settings(format), &mut out);
            let cap = test_capture_report(&o, None);
            write_trailer(&mut out, &mut Vec::new(), format, &o, &cap).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(
                !text.contains('\u{202e}') && !text.contains('\u{9b}'),
                "{text}"
            );
            assert!(
                text.contains("\\u202e") && text.contains("\\u009b"),
                "{text}"
            );
            let sessions: Vec<serde_json::Value> = match format {
                Format::Jsonl => text
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect(),
                _ => serde_json::from_str::<serde_json::Value>(&text).unwrap()["sessions"]
                    .as_array()
                    .unwrap()
                    .clone(),
            };
            let expected = format!("{hostile}-samples");
            assert!(
                sessions
                    .iter()
                    .any(|s| s["pg"]["application_name"] == expected.as_str()),
                "{sessions:?}"
            );
        }
    }

    /// Fails every write with a closed pipe.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn closed_output_stops_quietly() {
        let stop = AtomicBool::new(false);
        let mut src = VecSource::new(load("multi.pcap"));
        let o = run_loop(
            &mut src,
            None,
            &stop,
            &settings(Format::Jsonl),
            &mut ClosedPipe,
        );
        assert_eq!(o.stop, Stop::OutputClosed);
        assert!(stop_error(&o.stop, None).is_none());
    }

    #[test]
    fn pcap_writer_header_and_record() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::RAW, 96).unwrap();
        let data = [0x45u8; 120];
        w.write_packet(&Packet {
            frame: 1,
            ts_nanos: 1_700_000_000_123_456_789,
            link: LinkType::RAW,
            data: &data,
            orig_len: 120,
        })
        .unwrap();
        let b = w.into_inner();
        assert_eq!(&b[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]); // LE, microseconds
        assert_eq!(u32::from_le_bytes(b[16..20].try_into().unwrap()), 96); // snaplen
        assert_eq!(u32::from_le_bytes(b[20..24].try_into().unwrap()), 101); // LINKTYPE_RAW
        assert_eq!(
            u32::from_le_bytes(b[24..28].try_into().unwrap()),
            1_700_000_000
        );
        assert_eq!(u32::from_le_bytes(b[28..32].try_into().unwrap()), 123_456);
        assert_eq!(u32::from_le_bytes(b[32..36].try_into().unwrap()), 96); // cut to snaplen
        assert_eq!(u32::from_le_bytes(b[36..40].try_into().unwrap()), 120);
        assert_eq!(b.len(), 24 + 16 + 96);
    }
}
