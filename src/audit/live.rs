//! `pgtls audit -i IFACE --duration SECS`: sessions from a live capture.
//!
//! Unlike `sniff`, which prints a session the moment its verdict settles,
//! the audit takes each session's report when the session ends (closed,
//! idle, or at the end of the capture), so that it holds everything the
//! session showed: the password message after the authentication request,
//! every query. The loop is written against [`PacketSource`], so it is
//! tested on capture files.

use crate::analyze::{Analyzer, AnalyzerConfig};
use crate::flow::PortSet;
use crate::report::SessionReport;
use crate::sniff::{Next, PacketSource};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a live audit is driven.
#[derive(Debug, Clone)]
pub struct CollectSettings {
    pub source_name: String,
    pub ports: Vec<u16>,
    pub max_flows: usize,
    /// Wall-clock end (`--duration`).
    pub deadline: Option<Instant>,
    /// Sessions with no packet for this long (packet time) are closed.
    pub idle_timeout: Duration,
    /// After a stop (Ctrl-C, deadline), packets are still read for this long:
    /// libpcap hands packets over in blocks, so those of the last moments
    /// before the stop may not have been read yet.
    pub drain: Duration,
}

/// What the capture did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub packets: u64,
    /// `interrupted`, `duration` or `end-of-input`.
    pub stopped: &'static str,
}

/// Reads packets until `stop` is set, the deadline passes or the source
/// ends, and hands every session's report to `on_report` as the session
/// ends. An error of the source stops it: the sessions seen so far are
/// handed over first, then the error is returned.
pub fn collect(
    source: &mut dyn PacketSource,
    stop: &AtomicBool,
    settings: &CollectSettings,
    on_report: &mut dyn FnMut(SessionReport),
) -> Result<Collected, (Collected, String)> {
    let mut analyzer = Analyzer::new(AnalyzerConfig {
        ports: PortSet::new(settings.ports.clone()),
        max_flows: settings.max_flows,
        report_early: false,
    });
    analyzer.set_source(&settings.source_name);
    let idle_ns = i64::try_from(settings.idle_timeout.as_nanos()).unwrap_or(i64::MAX);
    let sweep_ns = idle_ns.min(1_000_000_000);
    let mut last_sweep: Option<i64> = None;
    let mut last_ts: Option<(i64, Instant)> = None;
    let mut packets = 0u64;
    let mut stopping: Option<(&'static str, Instant)> = None;
    let (stopped, error) = loop {
        match stopping {
            Some((why, until)) if Instant::now() >= until => break (why, None),
            Some(_) => {}
            None if stop.load(Ordering::Relaxed) => {
                stopping = Some(("interrupted", Instant::now() + settings.drain));
                continue;
            }
            None if settings.deadline.is_some_and(|d| Instant::now() >= d) => {
                stopping = Some(("duration", Instant::now() + settings.drain));
                continue;
            }
            None => {}
        }
        match source.next_packet() {
            Ok(Next::Packet(p)) => {
                analyzer.packet(&p);
                packets += 1;
                last_ts = Some((p.ts_nanos, Instant::now()));
            }
            Ok(Next::Idle) => {}
            Ok(Next::End) => break (stopping.map_or("end-of-input", |s| s.0), None),
            Err(_) if stopping.is_some() => break (stopping.map_or("", |s| s.0), None),
            Err(e) => break ("capture-error", Some(e)),
        }
        // Packet time, moved on by the wall clock while the link is quiet.
        if let Some((ts, at)) = last_ts {
            let now = ts.saturating_add(i64::try_from(at.elapsed().as_nanos()).unwrap_or(0));
            if last_sweep.is_none_or(|t| now.saturating_sub(t) >= sweep_ns) {
                analyzer.expire_idle(now, idle_ns);
                last_sweep = Some(now);
            }
        }
        for r in analyzer.take_reports() {
            on_report(r);
        }
    };
    analyzer.end_source();
    for r in analyzer.take_reports() {
        on_report(r);
    }
    let done = Collected { packets, stopped };
    match error {
        Some(e) => Err((done, e)),
        None => Ok(done),
    }
}

/// Opens the interface, audits until `--duration` or Ctrl-C.
#[cfg(feature = "live")]
pub fn capture(
    cfg: &crate::cli::SniffConfig,
    warn: &mut dyn FnMut(String),
    on_report: &mut dyn FnMut(SessionReport),
) -> Result<(), crate::read::RunError> {
    use std::io::Write;
    let (mut capture, interface, filter) = crate::sniff::open_capture(cfg)?;
    let stop = crate::sniff::stop_on_signal();
    let _ = writeln!(
        std::io::stderr(),
        "pgtls: auditing sessions on {} ({}), filter `{}`{}; Ctrl-C ends the capture",
        capture.interface(),
        capture.link_name(),
        filter,
        cfg.duration
            .map(|d| format!(", for {} s", d.as_secs()))
            .unwrap_or_default()
    );
    let settings = CollectSettings {
        source_name: interface,
        ports: cfg.ports.clone(),
        max_flows: cfg.max_flows,
        deadline: cfg.duration.map(|d| Instant::now() + d),
        idle_timeout: cfg.idle_timeout,
        drain: Duration::from_millis(500),
    };
    let result = collect(&mut capture, &stop, &settings, on_report);
    if let Some(c) = capture.counts() {
        if c.dropped > 0 || c.if_dropped > 0 {
            warn(format!(
                "libpcap dropped {} packets ({} by the interface): some sessions may be judged \
                 incomplete and findings missed",
                c.dropped, c.if_dropped
            ));
        }
    }
    match result {
        Ok(done) => {
            let _ = writeln!(
                std::io::stderr(),
                "pgtls: capture on {} stopped ({}) after {} packets",
                settings.source_name,
                done.stopped,
                done.packets
            );
            Ok(())
        }
        Err((_, e)) => Err(crate::read::RunError {
            message: format!("capture stopped: {e}; no audit was written"),
            exit_code: 2,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Auditor, Policy};
    use crate::capture::file::CaptureReader;
    use crate::capture::{LinkType, Packet};
    use crate::sniff::PcapCounts;

    /// A capture file served packet by packet, as libpcap would.
    struct FileSource {
        packets: Vec<(i64, LinkType, Vec<u8>, u32)>,
        next: usize,
        frame: u64,
    }

    impl FileSource {
        fn open(name: &str) -> Self {
            let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
            let mut cap = CaptureReader::new(std::fs::File::open(path).unwrap()).unwrap();
            let mut packets = Vec::new();
            while let Some(p) = cap.next_packet().unwrap() {
                packets.push((p.ts_nanos, p.link, p.data.to_vec(), p.orig_len));
            }
            FileSource {
                packets,
                next: 0,
                frame: 0,
            }
        }
    }

    impl PacketSource for FileSource {
        fn next_packet(&mut self) -> Result<Next<'_>, String> {
            let Some((ts, link, data, orig_len)) = self.packets.get(self.next) else {
                return Ok(Next::End);
            };
            self.next += 1;
            self.frame += 1;
            Ok(Next::Packet(Packet {
                frame: self.frame,
                ts_nanos: *ts,
                link: *link,
                data,
                orig_len: *orig_len,
            }))
        }

        fn counts(&mut self) -> Option<PcapCounts> {
            None
        }
    }

    #[test]
    fn live_audit_sees_what_sessions_show_after_their_verdict_settles() {
        // A plaintext session's verdict settles at the server's first
        // answer; its password message and queries come later.
        let name = "audit-password.pcap";
        let settings = CollectSettings {
            source_name: format!("samples/{name}"),
            ports: vec![5432],
            max_flows: 1000,
            deadline: None,
            idle_timeout: Duration::from_secs(300),
            drain: Duration::ZERO,
        };
        let stop = AtomicBool::new(false);
        let mut live = Auditor::new(Policy::default());
        let done = collect(&mut FileSource::open(name), &stop, &settings, &mut |r| {
            live.add(&r)
        })
        .expect("no source error");
        assert_eq!(done.stopped, "end-of-input");
        let live = live.finish();

        let cfg = crate::cli::ReadConfig {
            files: vec![format!("samples/{name}").into()],
            ports: vec![5432],
            format: crate::cli::Format::Jsonl,
            max_flows: 1000,
            threads: 1,
            any_port: false,
            piece_bytes: crate::relay::PIECE,
        };
        // cargo runs unit tests in the package's directory.
        let files = crate::read::analyze_files(&cfg, &mut |_| {});
        let from_files = crate::audit::audit_reports(&Policy::default(), &[], &files.unwrap());

        let kinds = |a: &crate::audit::Audit| -> Vec<&'static str> {
            a.findings.iter().map(|f| f.kind).collect()
        };
        assert_eq!(kinds(&live), ["password-in-clear", "query-in-clear"]);
        assert_eq!(
            serde_json::to_value(&live.servers).unwrap(),
            serde_json::to_value(&from_files.servers).unwrap()
        );
        assert_eq!(
            serde_json::to_value(&live.findings).unwrap(),
            serde_json::to_value(&from_files.findings).unwrap()
        );
    }

    #[test]
    fn a_stop_request_ends_the_capture_and_reports_what_was_seen() {
        let stop = AtomicBool::new(true);
        let settings = CollectSettings {
            source_name: "x".into(),
            ports: vec![5432],
            max_flows: 10,
            deadline: None,
            idle_timeout: Duration::from_secs(300),
            drain: Duration::ZERO,
        };
        let mut n = 0;
        let done = collect(
            &mut FileSource::open("multi.pcap"),
            &stop,
            &settings,
            &mut |_| n += 1,
        )
        .unwrap();
        assert_eq!(done.stopped, "interrupted");
        assert_eq!((done.packets, n), (0, 0));
    }
}
