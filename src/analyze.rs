//! The pipeline from packet to session: decode, find the flow, feed the
//! session. One path for every packet source.

use crate::capture::Packet;
use crate::decode::{decode_packet, Skip};
use crate::flow::{FlowKey, PortSet};
use crate::report::SessionReport;
use crate::session::Session;
use std::collections::HashMap;

/// Default bound on sessions tracked at once.
pub const DEFAULT_MAX_FLOWS: usize = 1_000_000;

#[derive(Debug, Clone)]
pub struct AnalyzerConfig {
    pub ports: PortSet,
    pub max_flows: usize,
    /// Report each session as soon as its verdict is final (live capture),
    /// through [`Analyzer::take_final`].
    pub report_early: bool,
}

/// Counters about the input, for the summary and warnings.
#[derive(Debug, Default, Clone)]
pub struct InputStats {
    pub packets: u64,
    pub bytes: u64,
    pub tcp_segments: u64,
    /// TCP segments of followed ports.
    pub followed_segments: u64,
    pub skipped: HashMap<&'static str, u64>,
    pub evicted_flows: u64,
}

/// Turns packets into sessions; sessions into reports when they end.
pub struct Analyzer {
    cfg: AnalyzerConfig,
    file: String,
    flows: HashMap<FlowKey, Box<Session>>,
    next_index: u64,
    done: Vec<SessionReport>,
    early: Vec<SessionReport>,
    pub stats: InputStats,
}

impl Analyzer {
    pub fn new(cfg: AnalyzerConfig) -> Self {
        Analyzer {
            cfg,
            file: String::new(),
            flows: HashMap::new(),
            next_index: 0,
            done: Vec::new(),
            early: Vec::new(),
            stats: InputStats::default(),
        }
    }

    /// Names the input that the next packets come from (reported per session).
    pub fn set_source(&mut self, name: &str) {
        self.file = name.to_string();
    }

    pub fn packet(&mut self, p: &Packet<'_>) {
        self.stats.packets += 1;
        self.stats.bytes += p.data.len() as u64;
        let seg = match decode_packet(p) {
            Ok(s) => s,
            Err(skip) => {
                if skip != Skip::NotTcp && skip != Skip::NotIp {
                    *self.stats.skipped.entry(skip.describe()).or_default() += 1;
                }
                return;
            }
        };
        self.stats.tcp_segments += 1;
        let syn_only = seg.flags.syn && !seg.flags.ack;
        let Some((key, dir)) = self.cfg.ports.orient(seg.src, seg.dst, syn_only) else {
            return;
        };
        self.stats.followed_segments += 1;
        if let Some(s) = self.flows.get(&key) {
            // A new SYN on a 4-tuple whose session is over: port reuse.
            if syn_only && s.is_new_connection(seg.seq) {
                let old = self.flows.remove(&key).expect("present");
                self.retire(old);
            }
        }
        if !self.flows.contains_key(&key) && self.flows.len() >= self.cfg.max_flows {
            self.evict_oldest();
        }
        let file = &self.file;
        let next_index = &mut self.next_index;
        let session = self.flows.entry(key).or_insert_with(|| {
            let s = Session::new(key, *next_index, p.ts_nanos, p.frame);
            *next_index += 1;
            let _ = file;
            Box::new(s)
        });
        session.segment(
            dir,
            p.ts_nanos,
            p.frame,
            seg.seq,
            seg.flags,
            seg.payload,
            seg.wire_len,
        );
        if self.cfg.report_early && !session.reported && session.verdict_is_final() {
            session.reported = true;
            let r = SessionReport::from_session(session, &self.file);
            self.early.push(r);
        }
    }

    /// Sessions whose verdict became final since the last call (only with
    /// `report_early`). Each session appears here at most once.
    pub fn take_final(&mut self) -> Vec<SessionReport> {
        std::mem::take(&mut self.early)
    }

    /// Closes sessions with no packet for `idle_ns` before `now_ns` (packet
    /// time), judging them on what they showed.
    pub fn expire_idle(&mut self, now_ns: i64, idle_ns: i64) {
        let idle: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(_, s)| now_ns.saturating_sub(s.end_ns) > idle_ns)
            .map(|(k, _)| *k)
            .collect();
        for k in idle {
            if let Some(s) = self.flows.remove(&k) {
                self.retire(s);
            }
        }
    }

    /// Sessions tracked now.
    pub fn open_sessions(&self) -> usize {
        self.flows.len()
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .flows
            .iter()
            .min_by_key(|(_, s)| (s.is_closed() as u8 ^ 1, s.end_ns))
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            if let Some(s) = self.flows.remove(&k) {
                self.stats.evicted_flows += 1;
                self.retire(s);
            }
        }
    }

    fn retire(&mut self, mut s: Box<Session>) {
        s.finish_streams();
        let mut r = SessionReport::from_session(&s, &self.file);
        r.reported_early = s.reported;
        self.done.push(r);
    }

    /// Ends the current input: every open session is judged on what it has.
    pub fn end_source(&mut self) {
        let flows: Vec<Box<Session>> = self.flows.drain().map(|(_, s)| s).collect();
        for s in flows {
            self.retire(s);
        }
    }

    /// All reports so far, in order of session start.
    pub fn take_reports(&mut self) -> Vec<SessionReport> {
        let mut r = std::mem::take(&mut self.done);
        r.sort_by_key(|r| r.index);
        r
    }
}
