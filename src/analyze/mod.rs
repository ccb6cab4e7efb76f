//! The pipeline from packet to session: decode, find the flow, feed the
//! session. One path for every packet source.
//!
//! Sessions leave the flow table when they close (after a short linger that
//! absorbs the last ACKs), when their 4-tuple is reused, when they are
//! evicted to stay within `max_flows`, or at the end of the input. Reports
//! come out in order of session start as soon as every earlier session has
//! left, or, with [`Analyzer::in_departure_order`], as sessions leave:
//! ordered by the frame at which they left, then by start, with sessions
//! still open at the end of an input last, in order of start. In departure
//! order nothing waits for a long-lived connection, so memory is bounded by
//! the flow table however long a capture is.

use crate::capture::Packet;
use crate::cli::Format;
use crate::decode::TcpFlags;
use crate::decode::{
    decode_fast, decode_general, ends_where_they_lie, surely_not_tcp, Segment, Skip,
};
use crate::flow::Direction;
use crate::flow::{pair_hash, pair_hash_v4, Endpoint, FlowKey, PortSet};
use crate::report::{Prerendered, Rendered, SessionReport};
use crate::session::{recognise_pg_start, PgStart, Session, Shapes, MAX_PG_START_BYTES};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, HashMap, VecDeque};

mod table;
mod tombstones;
use table::{flow_id, FlowTable};
use tombstones::Tombstones;

/// Default bound on sessions tracked at once.
pub const DEFAULT_MAX_FLOWS: usize = 1_000_000;

/// Packet time a closed session stays in the table to absorb the final ACKs
/// and retransmitted FINs before it is reported (when its final ACK is not
/// seen), and time a retired flow's late segments are absorbed.
pub const CLOSE_LINGER_NS: i64 = 2_000_000_000;
/// Packet time a reset session stays in the table: only segments already in
/// flight can follow a RST. With [`Analyzer::rendering_resets`] it waits
/// there as its rendered output and its counters.
pub const RESET_LINGER_NS: i64 = 100_000_000;

#[derive(Debug, Clone)]
pub struct AnalyzerConfig {
    pub ports: PortSet,
    pub max_flows: usize,
    /// Report each session as soon as its verdict is final (live capture),
    /// through [`Analyzer::take_final`].
    pub report_early: bool,
}

/// Feeds a decoded segment, of frame `frame` captured at `ts`, to its session.
#[inline(always)]
fn feed(session: &mut Session, dir: Direction, frame: u64, ts: i64, seg: &Segment<'_>) {
    session.segment(
        dir,
        ts,
        frame,
        seg.seq,
        seg.flags,
        seg.payload,
        seg.wire_len,
    );
}

/// Sessions in the table from which settled sessions are frozen
/// ([`Session::freeze`]), not counting those that hold only their rendered
/// output ([`Analyzer::rendering_resets`]). A frozen session costs about 225
/// bytes instead of about 2.9 KB, but freezing and rebuilding it for its
/// report take time: a table this small holds at most some 12 MB of
/// unfrozen sessions.
pub const FREEZE_ABOVE: usize = 4096;

/// Sessions' room kept from one batch of departures for the next (216
/// bytes each: at most 221 KB).
const RETIRED_ROOM: usize = 1024;

/// Output buffers an analyzer keeps for the sessions it renders, at a reset
/// or as they leave ([`Analyzer::recycle`]): a couple of KB each, the size
/// of a JSON record.
pub const SPARE_BUFFERS: usize = 256;

/// Tombstones of retired flows kept at most (16 bytes each in their queue
/// and about 10 in its index: 1.7 MB at the bound).
pub const MAX_TOMBSTONES: usize = 65_536;

/// The shard of a flow, the same in every thread and run, whichever
/// direction its packet goes. The hash is scaled onto the shards by a
/// multiplication (its high word) rather than a remainder: every worker
/// does this for every packet, and a 64-bit division was 15% of a `-j 2`
/// worker's per-packet time.
#[inline]
pub fn shard_of(a: &Endpoint, b: &Endpoint, shards: u32) -> u32 {
    shard_of_id(pair_hash(a, b), shards)
}

/// [`shard_of`] from the flow's hash ([`flow_id`]).
#[inline]
fn shard_of_id(id: u64, shards: u32) -> u32 {
    ((u128::from(id) * u128::from(shards.max(1))) >> 64) as u32
}

/// Counters about the input, for the summary and warnings. Each worker of
/// a sharded run counts its share: [`InputStats::add_shard`] puts them
/// together.
#[derive(Debug, Default, Clone)]
pub struct InputStats {
    pub packets: u64,
    pub bytes: u64,
    /// TCP segments of followed ports.
    pub followed_segments: u64,
    pub skipped: HashMap<&'static str, u64>,
    pub evicted_flows: u64,
    /// Segments of connections already over (late retransmissions).
    pub late_segments: u64,
}

impl InputStats {
    /// Adds the counters of one worker of a sharded run.
    pub fn add_shard(&mut self, s: &InputStats) {
        self.packets += s.packets;
        self.bytes += s.bytes;
        self.followed_segments += s.followed_segments;
        self.late_segments += s.late_segments;
        self.evicted_flows += s.evicted_flows;
        for (kind, n) in &s.skipped {
            *self.skipped.entry(kind).or_default() += n;
        }
    }
}

/// How [`Analyzer::frame_route`] hands a packet on.
#[derive(Debug)]
pub enum Framed<'a> {
    /// Decoded, to the worker of its flow: (shard, flow hash, segment).
    Segment(u32, u64, Segment<'a>),
    /// As it is, where the route says.
    Packet(Route),
}

/// Where [`Analyzer::frame_route`] sends a packet that goes as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The worker of its flow: (shard, flow hash).
    Flow(u32, u64),
    /// Every worker: its ends could not be read where they lie.
    Every,
    /// No worker: surely not TCP.
    Nobody,
}

/// Connections on other ports waiting to show whether they are PostgreSQL
/// (`--any-port`), at most this many at once.
pub const MAX_CANDIDATES: usize = 65_536;
/// Segments kept per candidate connection before it is given up.
const MAX_CANDIDATE_SEGMENTS: usize = 16;

/// A segment of a candidate connection, kept to replay into its session.
struct HeldSegment {
    dir: Direction,
    ts: i64,
    frame: u64,
    seq: u32,
    flags: TcpFlags,
    payload: Vec<u8>,
    wire_len: u32,
}

/// A connection on a port not in the list, from its SYN on.
#[derive(Default)]
struct Candidate {
    segments: Vec<HeldSegment>,
    client_bytes: Vec<u8>,
}

/// What happens to sessions after a segment: early reports, freezing, close
/// lingers.
struct CloseQueues {
    /// Closed sessions waiting out [`CLOSE_LINGER_NS`]: (close time, key, index).
    closing: VecDeque<(i64, FlowKey, u64)>,
    /// Reset sessions waiting out [`RESET_LINGER_NS`].
    resetting: VecDeque<(i64, FlowKey, u64)>,
    early: Vec<SessionReport>,
    /// Packet time at which the front of a linger queue (or of the
    /// tombstones) is due: before it, packets skip [`Analyzer::retire_closed`].
    due_ns: i64,
    /// What frozen sessions showed ([`Session::freeze`]), and how many froze.
    shapes: Shapes,
    frozen: u64,
    /// Render reset sessions for this format when they reset
    /// ([`Analyzer::rendering_resets`]), and how many were.
    prerender: Option<Format>,
    prerendered: u64,
    /// Sessions in the table that hold their rendered output: they do not
    /// count towards freezing (their memory is that output already).
    rendered_open: usize,
    /// Buffers of written outputs, for the next ones ([`Analyzer::recycle`]).
    spare: Vec<Vec<u8>>,
}

impl Default for CloseQueues {
    fn default() -> Self {
        CloseQueues {
            closing: VecDeque::new(),
            resetting: VecDeque::new(),
            early: Vec::new(),
            due_ns: i64::MAX,
            shapes: Shapes::default(),
            frozen: 0,
            prerender: None,
            prerendered: 0,
            rendered_open: 0,
            spare: Vec::new(),
        }
    }
}

impl CloseQueues {
    fn due_at(&mut self, at: i64, linger: i64) {
        self.due_ns = self.due_ns.min(at.saturating_add(linger));
    }

    /// Early report, freezing (when the table is large enough to `freeze`)
    /// and close lingers after a segment of `session`; returns whether the
    /// session is finished (to retire now).
    fn note_segment(
        &mut self,
        session: &mut Session,
        cfg: &AnalyzerConfig,
        file: &str,
        ts: i64,
        freeze: bool,
    ) -> bool {
        if cfg.report_early && !session.reported && session.verdict_is_final() {
            session.reported = true;
            self.early.push(SessionReport::from_session(session, file));
        }
        if session.is_finished() {
            return true;
        }
        if freeze && session.freeze(&mut self.shapes) {
            self.frozen += 1;
        }
        if session.is_closed() && !session.closing {
            session.closing = true;
            let entry = (ts, session.key, session.index);
            if session.rst {
                self.resetting.push_back(entry);
                self.due_at(ts, RESET_LINGER_NS);
                if let Some(format) = self.prerender {
                    self.render_at_reset(session, file, format);
                }
            } else {
                self.closing.push_back(entry);
                self.due_at(ts, CLOSE_LINGER_NS);
            }
        }
        false
    }

    /// A buffer given back by [`Analyzer::recycle`], or a new one.
    fn spare_buffer(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// Renders a reset session now, if nothing later can change its
    /// output but its counters ([`Prerendered`]).
    fn render_at_reset(&mut self, session: &mut Session, file: &str, format: Format) {
        let Some(judgement) = session.final_judgement() else {
            return;
        };
        // A record that cannot be written is left to fail when the
        // session leaves, as any other.
        let buf = self.spare_buffer();
        if let Ok(output) = Prerendered::render(session, judgement, file, format, buf) {
            session.set_prerendered(output);
            self.prerendered += 1;
            self.rendered_open += 1;
        }
    }
}

/// Reports of sessions that left the table, in the order they go out.
enum Ready {
    /// By start index; each waits until every earlier session has left.
    ByStart(BTreeMap<u64, Box<SessionReport>>),
    /// As they left ([`Analyzer::in_departure_order`]), judged sessions whose
    /// report is built when taken: `read` renders some outputs without it.
    ByDeparture(Departures),
}

/// The sessions that left the table since they were last taken
/// ([`Analyzer::take_retired`]), each sorted in output order.
#[derive(Default)]
pub struct Departures {
    sessions: Vec<Retired>,
    /// Sessions rendered when they reset ([`Analyzer::rendering_resets`]):
    /// only their output goes on, not the session (208 bytes moved four
    /// times on its way to the writer, 2.5% of the million TLS sessions'
    /// samples in copies).
    rendered: Vec<Rendered>,
}

/// A session that left the table: as it is, or only its output.
pub enum Departed {
    Session(Retired),
    Rendered(Rendered),
}

impl Departures {
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.rendered.is_empty()
    }

    /// Every departure in output order: by the frame each left at, then by
    /// its first frame.
    pub fn into_ordered(self) -> impl Iterator<Item = Departed> {
        // Each list's next is looked at where it lies: a peeked item is
        // moved into the iterator and out again.
        let mut sessions = self.sessions.into_iter();
        let mut rendered = self.rendered.into_iter();
        std::iter::from_fn(move || {
            let session_first = match (sessions.as_slice().first(), rendered.as_slice().first()) {
                (Some(s), Some(r)) => s.order() < r.order,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            if session_first {
                sessions.next().map(Departed::Session)
            } else {
                rendered.next().map(Departed::Rendered)
            }
        })
    }
}

/// A session that left the flow table, its streams finished.
pub struct Retired {
    pub session: Session,
    /// Frame of the packet at which it left (`u64::MAX`: open at the end of
    /// its input).
    pub retired_at: u64,
}

impl Retired {
    /// Output order within an input: the frame it left at, then its first frame.
    pub fn order(&self) -> (u64, u64) {
        (self.retired_at, self.session.first_frame)
    }

    pub fn report(&self, file: &str) -> SessionReport {
        let mut r = SessionReport::from_session(&self.session, file);
        r.retired_at = self.retired_at;
        r
    }
}

/// Turns packets into sessions; sessions into reports when they end.
pub struct Analyzer {
    cfg: AnalyzerConfig,
    file: String,
    /// Open sessions; the oldest is the first to evict, and its start
    /// index bounds what may be output in order of start.
    flows: FlowTable,
    next_index: u64,
    /// Sessions waiting to leave the table, and early reports.
    queues: CloseQueues,
    /// Flows retired at their final ACK: late retransmissions of them are
    /// absorbed for [`CLOSE_LINGER_NS`] instead of starting a new session.
    /// Kept by the flow's 64-bit hash ([`flow_id`]): two flows in the same
    /// linger colliding is a one in 2^48 event at the tombstone bound.
    finished: Tombstones,
    /// Reports of sessions that left the table, not yet taken.
    ready: Ready,
    /// Frame of the packet being handled; `u64::MAX` while an input ends.
    frame: u64,
    /// Follow only the flows of one shard: `(shard, shards)`.
    shard: Option<(u32, u32)>,
    /// Recognise PostgreSQL on any port by the client's first bytes.
    any_port: bool,
    candidates: FxHashMap<FlowKey, Candidate>,
    /// Settled sessions freeze once the table holds at least this many.
    freeze_above: usize,
    pub stats: InputStats,
}

impl Analyzer {
    pub fn new(cfg: AnalyzerConfig) -> Self {
        Analyzer {
            cfg,
            file: String::new(),
            flows: FlowTable::default(),
            next_index: 0,
            queues: CloseQueues::default(),
            finished: Tombstones::default(),
            ready: Ready::ByStart(BTreeMap::new()),
            frame: 0,
            shard: None,
            any_port: false,
            candidates: FxHashMap::default(),
            freeze_above: FREEZE_ABOVE,
            stats: InputStats::default(),
        }
    }

    /// Freezes settled sessions only while the table holds at least `n`
    /// (`usize::MAX`: never), instead of [`FREEZE_ABOVE`].
    pub fn with_freeze_above(mut self, n: usize) -> Self {
        self.freeze_above = n;
        self
    }

    /// Also follows connections on ports not in the list whose client starts
    /// like PostgreSQL (SSLRequest, GSSENCRequest, CancelRequest, a
    /// StartupMessage, or a ClientHello offering ALPN "postgresql"). Only
    /// connections whose SYN is in the capture are recognised.
    pub fn with_any_port(mut self) -> Self {
        self.any_port = true;
        self
    }

    /// Hands out reports as sessions leave the table rather than in order of
    /// start (see the module's description): `pgtls read`'s streaming
    /// output, whose memory must not depend on how long a connection stays
    /// open.
    pub fn in_departure_order(mut self) -> Self {
        self.ready = Ready::ByDeparture(Departures::default());
        self
    }

    /// [`Analyzer::in_departure_order`], and a reset session's output for
    /// `format` is made when it resets ([`Prerendered`]), not when it leaves
    /// the table [`RESET_LINGER_NS`] later: its memory is still in cache,
    /// and it is freed at once. Such a session holds its output
    /// ([`Session::take_prerendered`]) instead of its conversation, and
    /// leaves as that output ([`Departed::Rendered`]): sessions are taken
    /// with [`Analyzer::take_retired`] and written with
    /// `read::Rendered::of_departed`, never turned into reports.
    pub fn rendering_resets(mut self, format: Format) -> Self {
        self.queues.prerender = Some(format);
        self.in_departure_order()
    }

    /// Sessions rendered when they reset ([`Analyzer::rendering_resets`]).
    pub fn prerendered(&self) -> u64 {
        self.queues.prerendered
    }

    /// Keeps the buffer of a written output for the next session rendered
    /// ([`Analyzer::spare_buffer`]), up to [`SPARE_BUFFERS`] of them; drops
    /// it past that. The thread that allocated a buffer reuses it.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        let spare = &mut self.queues.spare;
        if spare.len() < SPARE_BUFFERS && buf.capacity() > 0 {
            spare.push(buf);
        }
    }

    /// A buffer given back by [`Analyzer::recycle`], or a new one.
    pub fn spare_buffer(&mut self) -> Vec<u8> {
        self.queues.spare_buffer()
    }

    /// Follows only the flows of shard `shard` of `shards`. Every flow belongs
    /// to exactly one shard, so `shards` analyzers fed the same packets
    /// together see every session exactly once.
    pub fn with_shard(mut self, shard: u32, shards: u32) -> Self {
        self.shard = Some((shard, shards.max(1)));
        self
    }

    /// Names the input that the next packets come from (reported per session).
    pub fn set_source(&mut self, name: &str) {
        self.file = name.to_string();
    }

    /// The next packet of a single-threaded run. A worker of a sharded run
    /// is given its packets by the relay ([`crate::relay`]): those
    /// [`Analyzer::frame_route`] sends it through
    /// [`Analyzer::routed_segment`] or [`Analyzer::routed_packet`], the
    /// time of the others through [`Analyzer::pass_time`].
    pub fn packet(&mut self, p: &Packet<'_>) {
        debug_assert!(
            self.shard.is_none(),
            "a sharded analyzer is fed by the relay"
        );
        self.count_framed(1, p.data.len() as u64);
        self.clock(p.frame, p.ts_nanos);
        self.follow(p, true, None);
    }

    /// The capture's clock at a packet: the lingers its time ends are
    /// ended at its frame.
    #[inline(always)]
    fn clock(&mut self, frame: u64, ts_nanos: i64) {
        self.frame = frame;
        if ts_nanos >= self.queues.due_ns {
            self.retire_closed(ts_nanos);
        }
    }

    /// Where a packet goes in a run of `shards` workers that read a file in
    /// pieces ([`crate::relay`]), and in what form.
    ///
    /// A segment the fast decode takes whole goes to the worker of its
    /// flow, or to none when neither of its ports is followed (`follows`:
    /// the ports followed, `None` with `--any-port`), which its worker
    /// would decode only to drop (most of a capture taken on a busy link).
    /// Between two IPv4 ends it goes as the framer decoded it
    /// ([`Framed::Segment`]): that worker then reads the packet's bytes only
    /// if its session parses the payload, and not at all for the bulk of a
    /// settled session's traffic. The framer's core copied those bytes out
    /// of the page cache; going to them from the other core cost more than
    /// decoding them where they are (bulk TLS with two workers: 9% less
    /// CPU time and wall time, 6% fewer instructions). An IPv6 segment,
    /// whose ends do not fit a slot, goes as it is.
    ///
    /// Any other packet goes as it is ([`Framed::Packet`]): to no worker
    /// when it is surely not TCP, to the worker its ends name when they can
    /// be read where they lie (which counts it if it skips it), else to
    /// every worker.
    #[inline(always)]
    pub fn frame_route<'a>(p: &Packet<'a>, shards: u32, follows: Option<&PortSet>) -> Framed<'a> {
        let Some(seg) = decode_fast(p) else {
            // Surely not TCP first: reading the ends of a UDP packet in
            // vain made UDP traffic 30% slower.
            if surely_not_tcp(p) {
                return Framed::Packet(Route::Nobody);
            }
            return Framed::Packet(Self::route_undecoded(p, shards));
        };
        let (pa, pb) = (seg.src.port(), seg.dst.port());
        if follows.is_some_and(|ports| !ports.contains(pa) && !ports.contains(pb)) {
            return Framed::Packet(Route::Nobody);
        }
        match (seg.src.v4_word(), seg.dst.v4_word()) {
            (Some(a), Some(b)) => {
                let id = pair_hash_v4(a ^ b, pa ^ pb);
                debug_assert_eq!(id, pair_hash(&seg.src, &seg.dst));
                Framed::Segment(shard_of_id(id, shards), id, seg)
            }
            _ => {
                let id = pair_hash(&seg.src, &seg.dst);
                Framed::Packet(Route::Flow(shard_of_id(id, shards), id))
            }
        }
    }

    /// [`Analyzer::frame_route`] of a TCP packet the fast decode does not
    /// take (or that may be TCP): to the worker its ends name, which counts
    /// it if it skips it, or to every worker when they cannot be read where
    /// they lie. Out of line: inlined into the framer's loop, it made bulk
    /// traffic, whose packets never come here, run 0.5% more instructions.
    #[inline(never)]
    fn route_undecoded(p: &Packet<'_>, shards: u32) -> Route {
        match ends_where_they_lie(p) {
            Some((a, b)) => {
                let id = pair_hash(&a, &b);
                Route::Flow(shard_of_id(id, shards), id)
            }
            None => Route::Every,
        }
    }

    /// The ports whose segments [`Analyzer::frame_route`] may leave out:
    /// `None` when this analyzer looks at every port (`--any-port`).
    pub fn follows(&self) -> Option<&PortSet> {
        (!self.any_port).then_some(&self.cfg.ports)
    }

    /// A packet [`Analyzer::frame_route`] gave this worker as it is
    /// (packets and bytes are counted where the pieces are framed).
    /// `counts`: this worker counts it (a packet every worker gets is
    /// counted by the first). Inlined, as [`Analyzer::frame_route`], into
    /// the relay's loops: the calls' own instructions were 7% of a sharded
    /// run's on bulk traffic.
    #[inline(always)]
    pub fn routed_packet(&mut self, p: &Packet<'_>, route: Route, counts: bool) {
        self.clock(p.frame, p.ts_nanos);
        match route {
            Route::Flow(_, id) => self.follow(p, true, Some(id)),
            _ => self.follow(p, counts, None),
        }
    }

    /// A segment [`Analyzer::frame_route`] gave this worker decoded, of
    /// frame `frame` captured at `ts`; `id`: its flow's hash.
    #[inline(always)]
    pub fn routed_segment(&mut self, frame: u64, ts: i64, seg: Segment<'_>, id: u64) {
        self.clock(frame, ts);
        self.tcp_segment(frame, ts, seg, Some(id));
    }

    /// The times of other workers' packets, `times[i]` that of frame
    /// `first + i`: the lingers they end are ended at the frame they would
    /// end at if this worker read every packet. `latest`: the latest of them.
    #[inline]
    pub fn pass_time(&mut self, first: u64, times: &[i64], latest: i64) {
        if latest < self.queues.due_ns {
            return;
        }
        for (i, &ts) in times.iter().enumerate() {
            self.clock(first + i as u64, ts);
        }
    }

    /// Packets and bytes framed by this worker of a run in pieces.
    pub fn count_framed(&mut self, packets: u64, bytes: u64) {
        self.stats.packets += packets;
        self.stats.bytes += bytes;
    }

    /// Decodes a packet and follows its segment; `counts`: a packet
    /// skipped (cut, a fragment) is counted in this analyzer's statistics;
    /// `owned`: its flow's hash when known to be this analyzer's.
    #[inline(always)]
    fn follow(&mut self, p: &Packet<'_>, counts: bool, owned: Option<u64>) {
        // The fast decode and the general one each get their own copy of
        // the rest, so the segment stays in registers on the hot path.
        if let Some(seg) = decode_fast(p) {
            return self.tcp_segment(p.frame, p.ts_nanos, seg, owned);
        }
        // Not counted, as decode_general's Skip::NotTcp is not.
        if surely_not_tcp(p) {
            return;
        }
        match decode_general(p) {
            Ok(seg) => self.tcp_segment(p.frame, p.ts_nanos, seg, owned),
            Err(skip) => {
                if counts && skip != Skip::NotTcp && skip != Skip::NotIp {
                    *self.stats.skipped.entry(skip.describe()).or_default() += 1;
                }
            }
        }
    }

    /// A decoded segment; `owned`, its flow's hash when the packet's ends
    /// already showed that the flow is this analyzer's.
    #[inline(always)]
    fn tcp_segment(&mut self, frame: u64, ts: i64, seg: Segment<'_>, owned: Option<u64>) {
        let syn_only = seg.flags.syn && !seg.flags.ack;
        let Some(to_server) = self.cfg.ports.to_server(&seg.src, &seg.dst, syn_only) else {
            if self.any_port && (owned.is_some() || self.owns(pair_hash(&seg.src, &seg.dst))) {
                self.any_port_segment(frame, ts, &seg, syn_only);
            }
            return;
        };
        // The flow's hash, whichever way the packet goes: its shard and
        // where the table files it. Another shard's packet costs no more
        // than this.
        let id = match owned {
            Some(id) => id,
            None => {
                let id = pair_hash(&seg.src, &seg.dst);
                if !self.owns(id) {
                    return;
                }
                id
            }
        };
        let (client, server, dir) = if to_server {
            (&seg.src, &seg.dst, Direction::ToServer)
        } else {
            (&seg.dst, &seg.src, Direction::ToClient)
        };
        self.stats.followed_segments += 1;
        // Built only where a key is kept or compared whole: a SYN, a new
        // session (the lookup reads the endpoints where they lie).
        let key_of = || FlowKey {
            client: *client,
            server: *server,
        };
        if syn_only {
            let key = key_of();
            if self
                .flows
                .get(&key)
                .is_some_and(|s| s.is_new_connection(seg.seq))
            {
                // A new SYN on a 4-tuple whose session is over: port reuse.
                self.remove_and_retire(&key);
            }
        }
        let freeze = self.freezing();
        // One lookup for the segment and what follows it.
        let session = match self.flows.get_mut_by_ends(client, server, id) {
            Some(s) => s,
            None => {
                let key = key_of();
                if !syn_only && self.finished.contains(id) {
                    self.stats.late_segments += 1;
                    return;
                }
                // `open_session`, spelled out: the session borrows only
                // the table, not the whole analyzer.
                let index = self.admit();
                self.flows.insert(Session::new(key, index, ts, frame))
            }
        };
        // A settled, open session: nothing to parse, nothing to queue (an
        // early report, if any, went out when it settled).
        if (session.reported || !self.cfg.report_early)
            && session.count_only(dir, ts, frame, seg.flags, seg.wire_len)
        {
            return;
        }
        feed(session, dir, frame, ts, &seg);
        let finished = self
            .queues
            .note_segment(session, &self.cfg, &self.file, ts, freeze);
        // The session's own copy of its key, written long before.
        let key = session.key;
        self.settle(key, ts, finished);
    }

    /// Whether this analyzer follows the flow whose [`flow_id`] is `id`.
    #[inline(always)]
    fn owns(&self, id: u64) -> bool {
        self.shard
            .is_none_or(|(shard, shards)| shard_of_id(id, shards) == shard)
    }

    /// `--any-port`: follows a connection on another port from its SYN until
    /// the client's first bytes say whether it is PostgreSQL; if so, its
    /// segments are replayed into a new session.
    fn any_port_segment(&mut self, frame: u64, ts: i64, seg: &Segment<'_>, syn_only: bool) {
        let forward = FlowKey {
            client: seg.src,
            server: seg.dst,
        };
        let backward = FlowKey {
            client: seg.dst,
            server: seg.src,
        };
        let (key, dir) = if self.flows.contains_key(&forward)
            || self.candidates.contains_key(&forward)
        {
            (forward, Direction::ToServer)
        } else if self.flows.contains_key(&backward) || self.candidates.contains_key(&backward) {
            (backward, Direction::ToClient)
        } else if syn_only && self.candidates.len() < MAX_CANDIDATES {
            self.candidates.insert(forward, Candidate::default());
            (forward, Direction::ToServer)
        } else {
            return;
        };
        if let Some(session) = self.flows.get_mut(&key) {
            feed(session, dir, frame, ts, seg);
            self.after_segment(key, ts);
            return;
        }
        let Some(c) = self.candidates.get_mut(&key) else {
            return;
        };
        c.segments.push(HeldSegment {
            dir,
            ts,
            frame,
            seq: seg.seq,
            flags: seg.flags,
            payload: seg.payload.to_vec(),
            wire_len: seg.wire_len,
        });
        let verdict = match dir {
            // A PostgreSQL server never speaks first.
            Direction::ToClient if !seg.payload.is_empty() && c.client_bytes.is_empty() => {
                PgStart::No
            }
            Direction::ToServer if !seg.payload.is_empty() => {
                let room = MAX_PG_START_BYTES.saturating_sub(c.client_bytes.len());
                c.client_bytes
                    .extend_from_slice(&seg.payload[..seg.payload.len().min(room)]);
                recognise_pg_start(&c.client_bytes)
            }
            _ => PgStart::NeedMore,
        };
        let give_up = matches!(verdict, PgStart::No)
            || (matches!(verdict, PgStart::NeedMore)
                && (c.segments.len() >= MAX_CANDIDATE_SEGMENTS
                    || c.client_bytes.len() >= MAX_PG_START_BYTES
                    || seg.flags.fin
                    || seg.flags.rst));
        if give_up {
            self.candidates.remove(&key);
            return;
        }
        if matches!(verdict, PgStart::Yes(_)) {
            let c = self.candidates.remove(&key).unwrap_or_default();
            self.stats.followed_segments += c.segments.len() as u64;
            let session = self.open_session(key, c.segments[0].ts, c.segments[0].frame);
            for h in &c.segments {
                session.segment(h.dir, h.ts, h.frame, h.seq, h.flags, &h.payload, h.wire_len);
            }
            self.after_segment(key, ts);
        }
    }

    /// Starts a session for `key`, closing the oldest one first when the table
    /// is full.
    fn open_session(&mut self, key: FlowKey, ts: i64, frame: u64) -> &mut Session {
        let index = self.admit();
        self.flows.insert(Session::new(key, index, ts, frame))
    }

    /// Makes room for a new session and gives it its start index.
    fn admit(&mut self) -> u64 {
        if self.flows.len() >= self.cfg.max_flows {
            self.evict_oldest();
        }
        let index = self.next_index;
        self.next_index += 1;
        index
    }

    /// Early reports and retirement after a segment of `key`'s session.
    fn after_segment(&mut self, key: FlowKey, ts: i64) {
        let freeze = self.freezing();
        let finished = match self.flows.get_mut(&key) {
            Some(session) => self
                .queues
                .note_segment(session, &self.cfg, &self.file, ts, freeze),
            None => false,
        };
        self.settle(key, ts, finished);
    }

    /// After [`CloseQueues::note_segment`]: retires a finished session and
    /// keeps the close queues compact.
    fn settle(&mut self, key: FlowKey, ts: i64, finished: bool) {
        if finished {
            self.remove_and_retire(&key);
            self.tombstone(key, ts);
        }
        self.compact_close_queues();
    }

    /// Absorbs late segments of a retired flow for [`CLOSE_LINGER_NS`].
    /// At most [`MAX_TOMBSTONES`]: past that the oldest is forgotten early
    /// (a capture retiring that many sessions within the linger).
    fn tombstone(&mut self, key: FlowKey, at: i64) {
        if self.finished.len() >= MAX_TOMBSTONES {
            self.finished.pop_oldest();
        }
        let id = flow_id(&key);
        self.finished.insert(id, at);
        self.queues.due_at(at, CLOSE_LINGER_NS);
    }

    /// Drops the close-queue entries of sessions that already left (at their
    /// final ACK) once they outnumber the sessions in the table: a dense
    /// capture closes more sessions within the linger than it has open.
    fn compact_close_queues(&mut self) {
        let queued = self.queues.closing.len() + self.queues.resetting.len();
        if queued <= 2 * self.flows.len() + 1024 {
            return;
        }
        let flows = &self.flows;
        let present = |&(_, key, index): &(i64, FlowKey, u64)| {
            flows.get(&key).is_some_and(|s| s.index == index)
        };
        self.queues.closing.retain(present);
        self.queues.resetting.retain(present);
    }

    /// Retires closed sessions whose linger is over, and forgets old tombstones.
    fn retire_closed(&mut self, now_ns: i64) {
        while let Some(at) = self.finished.oldest() {
            if now_ns.saturating_sub(at) < CLOSE_LINGER_NS {
                break;
            }
            self.finished.pop_oldest();
        }
        for reset in [true, false] {
            let linger = if reset {
                RESET_LINGER_NS
            } else {
                CLOSE_LINGER_NS
            };
            loop {
                let queue = if reset {
                    &mut self.queues.resetting
                } else {
                    &mut self.queues.closing
                };
                let Some(&(closed_at, key, index)) = queue.front() else {
                    break;
                };
                if now_ns.saturating_sub(closed_at) < linger {
                    break;
                }
                queue.pop_front();
                if let Some(s) = self.flows.remove_started(&key, index) {
                    self.retire(s);
                    self.tombstone(key, now_ns);
                }
            }
        }
        // The earliest of three, each compared as it is read (gathered in
        // an array first, the array's wide loads waited on its narrow
        // stores: a tenth of this function's samples).
        let due = |front: Option<i64>, linger: i64| {
            front.map_or(i64::MAX, |at| at.saturating_add(linger))
        };
        let q = &self.queues;
        self.queues.due_ns = due(self.finished.oldest(), CLOSE_LINGER_NS)
            .min(due(q.closing.front().map(|f| f.0), CLOSE_LINGER_NS))
            .min(due(q.resetting.front().map(|f| f.0), RESET_LINGER_NS));
    }

    /// Sessions whose verdict became final since the last call (only with
    /// `report_early`). Each session appears here at most once.
    pub fn take_final(&mut self) -> Vec<SessionReport> {
        std::mem::take(&mut self.queues.early)
    }

    /// Closes sessions with no packet for `idle_ns` before `now_ns` (packet
    /// time), judging them on what they showed.
    pub fn expire_idle(&mut self, now_ns: i64, idle_ns: i64) {
        let idle: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|s| now_ns.saturating_sub(s.end_ns) > idle_ns)
            .map(|s| s.key)
            .collect();
        for k in idle {
            self.remove_and_retire(&k);
        }
    }

    /// Settled sessions frozen while open so far ([`Session::freeze`]).
    pub fn frozen_sessions(&self) -> u64 {
        self.queues.frozen
    }

    /// Sessions tracked now.
    pub fn open_sessions(&self) -> usize {
        self.flows.len()
    }

    /// Sessions tracked now that are frozen ([`Session::freeze`]).
    pub fn frozen_open_sessions(&self) -> usize {
        self.flows.iter().filter(|s| s.is_frozen()).count()
    }

    /// Closes the session that started first (the table is full).
    fn evict_oldest(&mut self) {
        if let Some((_, key)) = self.flows.oldest() {
            self.stats.evicted_flows += 1;
            self.remove_and_retire(&key);
        }
    }

    fn remove_and_retire(&mut self, key: &FlowKey) {
        if let Some(s) = self.flows.remove(key) {
            self.retire(s);
        }
    }

    /// Whether settled sessions freeze now: the table holds at least
    /// `freeze_above` sessions besides those reduced to their output.
    #[inline]
    fn freezing(&self) -> bool {
        self.flows.len().saturating_sub(self.queues.rendered_open) >= self.freeze_above
    }

    fn retire(&mut self, mut s: Session) {
        if s.is_rendered() {
            self.queues.rendered_open -= 1;
        }
        if self.cfg.report_early && s.reported {
            // Already printed when its verdict became final.
            return;
        }
        if let Ready::ByDeparture(d) = &mut self.ready {
            if let Some(early) = s.take_prerendered() {
                // Its streams were finished when it was rendered.
                d.rendered.push(Rendered {
                    order: (self.frame, s.first_frame),
                    verdict: early.verdict,
                    output: early.output(&s),
                });
                return;
            }
        }
        s.finish_streams();
        s.thaw();
        let retired = Retired {
            session: s,
            retired_at: self.frame,
        };
        match &mut self.ready {
            Ready::ByDeparture(d) => d.sessions.push(retired),
            Ready::ByStart(waiting) => {
                let index = retired.session.index;
                waiting.insert(index, Box::new(retired.report(&self.file)));
            }
        }
    }

    /// Ends the current input: every open session is judged on what it has.
    pub fn end_source(&mut self) {
        while self.end_source_some(usize::MAX) {}
    }

    /// Ends the current input in steps: judges the `n` oldest open sessions
    /// and returns whether any remain. Taking the reports between steps keeps
    /// memory at the size of the table, not of all its reports at once.
    pub fn end_source_some(&mut self, n: usize) -> bool {
        self.frame = u64::MAX;
        let keys = self.flows.take_oldest(n);
        for key in keys {
            self.remove_and_retire(&key);
        }
        if !self.flows.is_empty() {
            return true;
        }
        self.flows.clear_admissions();
        self.queues.closing.clear();
        self.queues.resetting.clear();
        self.finished.clear();
        self.queues.due_ns = i64::MAX;
        self.candidates.clear();
        false
    }

    /// Reports ready for output. In order of session start: those of every
    /// session that started before the oldest one still open. In departure
    /// order: those of the sessions that left since the last call, by the
    /// frame at which they left, then by start (several can leave at one
    /// packet).
    /// With `report_early` (live capture) order does not matter and nothing
    /// waits: one long-lived session must not hold back every later one.
    pub fn take_reports(&mut self) -> Vec<SessionReport> {
        let waiting = match &mut self.ready {
            Ready::ByDeparture(_) => {
                let departed = self.take_retired();
                // Rendered sessions go out only through take_retired
                // (rendering_resets): they have no report to give.
                debug_assert!(departed.rendered.is_empty());
                return departed
                    .sessions
                    .iter()
                    .map(|r| r.report(&self.file))
                    .collect();
            }
            Ready::ByStart(waiting) => waiting,
        };
        let bound = if self.cfg.report_early {
            None
        } else {
            self.flows.oldest().map(|(i, _)| i)
        };
        let mut out = Vec::new();
        while let Some(entry) = waiting.first_entry() {
            if bound.is_some_and(|b| *entry.key() > b) {
                break;
            }
            out.push(*entry.remove());
        }
        out
    }

    /// With [`Analyzer::in_departure_order`]: the sessions that left since
    /// the last call, in the order of [`Analyzer::take_reports`], for a
    /// caller that renders them itself. In order of start: nothing.
    pub fn take_retired(&mut self) -> Departures {
        match &mut self.ready {
            Ready::ByDeparture(d) => {
                if d.is_empty() {
                    // Most looks at a bulk capture: its room stays for the next.
                    return Departures::default();
                }
                // Already in frame order: the sorts only order each frame's group.
                d.sessions.sort_by_key(Retired::order);
                d.rendered.sort_by_key(|r| r.order);
                // The next batch starts with this one's room (at most
                // RETIRED_ROOM): growing from empty moved every session
                // several times.
                let room = |n: usize| n.min(RETIRED_ROOM);
                let next = Departures {
                    sessions: Vec::with_capacity(room(d.sessions.capacity())),
                    rendered: Vec::with_capacity(room(d.rendered.capacity())),
                };
                std::mem::replace(d, next)
            }
            Ready::ByStart(_) => Departures::default(),
        }
    }

    /// The name of the input being read ([`Analyzer::set_source`]).
    pub fn source(&self) -> &str {
        &self.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;
    use crate::flow::Endpoint;

    /// Departures come out by the frame each left at, then by first frame,
    /// whichever list holds them, and each exactly once.
    #[test]
    fn departures_merge_in_output_order() {
        let key = FlowKey {
            client: Endpoint::v4([10, 0, 0, 2], 40000),
            server: Endpoint::v4([10, 0, 0, 1], 5432),
        };
        // (left at, first frame) of sessions and of rendered outputs, each
        // list sorted, interleaved, with ties on the frame left at.
        let sessions = [(5, 1), (9, 3), (9, 7), (20, 2), (u64::MAX, 4)];
        let rendered = [(1, 8), (9, 5), (12, 6), (30, 9)];
        let d = Departures {
            sessions: sessions
                .iter()
                .map(|&(at, first)| Retired {
                    session: Session::new(key, first, 0, first),
                    retired_at: at,
                })
                .collect(),
            rendered: rendered
                .iter()
                .map(|&order| Rendered {
                    order,
                    verdict: crate::session::Verdict::Encrypted,
                    output: crate::report::Output::Json(Vec::new()),
                })
                .collect(),
        };
        let got: Vec<(u64, u64, bool)> = d
            .into_ordered()
            .map(|d| match d {
                Departed::Session(r) => (r.order().0, r.order().1, false),
                Departed::Rendered(r) => (r.order.0, r.order.1, true),
            })
            .collect();
        let mut want: Vec<(u64, u64, bool)> = sessions
            .iter()
            .map(|&(a, f)| (a, f, false))
            .chain(rendered.iter().map(|&(a, f)| (a, f, true)))
            .collect();
        want.sort();
        assert_eq!(got, want);
        assert!(Departures::default().into_ordered().next().is_none());
    }

    /// Flows that differ only in the client's port, or only in its address,
    /// spread evenly over the shards (a sharded run keeps every core busy).
    #[test]
    fn shards_split_flows_evenly() {
        let server = Endpoint::v4([10, 0, 0, 1], 5432);
        let by_port = (0..20_000u32).map(|i| Endpoint::v4([10, 1, 0, 0], 1024 + i as u16));
        let by_addr = (0..20_000u32).map(|i| {
            let b = i.to_be_bytes();
            Endpoint::v4([10, b[1], b[2], b[3]], 40_000)
        });
        let v6 = (0..20_000u32).map(|i| {
            let mut ip = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            ip[12..].copy_from_slice(&i.to_be_bytes());
            Endpoint::v6(ip, 50_000)
        });
        let sets: [Vec<Endpoint>; 3] = [by_port.collect(), by_addr.collect(), v6.collect()];
        for (name, clients) in ["ports", "addresses", "ipv6"].iter().zip(&sets) {
            for shards in [2u32, 3, 4, 8] {
                let mut counts = vec![0usize; shards as usize];
                for &client in clients {
                    counts[shard_of(&client, &server, shards) as usize] += 1;
                    // The same whichever side sends.
                    assert_eq!(
                        shard_of(&client, &server, shards),
                        shard_of(&server, &client, shards)
                    );
                }
                let even = clients.len() / shards as usize;
                for c in &counts {
                    assert!(
                        c.abs_diff(even) * 10 < even,
                        "{name} over {shards} shards: {counts:?}"
                    );
                }
            }
        }
    }

    /// An Ethernet frame carrying IPv4 and TCP, `fix` applied last.
    fn frame(
        src: ([u8; 4], u16),
        dst: ([u8; 4], u16),
        flags: u8,
        payload: &[u8],
        fix: impl Fn(&mut Vec<u8>),
    ) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let total = (40 + payload.len()) as u16;
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        f.extend_from_slice(&src.0);
        f.extend_from_slice(&dst.0);
        f.extend_from_slice(&src.1.to_be_bytes());
        f.extend_from_slice(&dst.1.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        fix(&mut f);
        f
    }

    /// A packet to worker `shard` of `shards` as the relay gives it: the
    /// first worker counts it where it is framed; the worker it is routed
    /// to follows it (decoded, or as it is), every other passes its time.
    fn as_the_relay_gives_it(a: &mut Analyzer, p: &Packet<'_>, shard: u32, shards: u32) {
        if shard == 0 {
            a.count_framed(1, p.data.len() as u64);
        }
        let pass = |a: &mut Analyzer| a.pass_time(p.frame, &[p.ts_nanos], p.ts_nanos);
        match Analyzer::frame_route(p, shards, a.follows()) {
            Framed::Segment(owner, id, seg) if owner == shard => {
                a.routed_segment(p.frame, p.ts_nanos, seg, id)
            }
            Framed::Segment(..) | Framed::Packet(Route::Nobody) => pass(a),
            Framed::Packet(Route::Flow(owner, _)) if owner != shard => pass(a),
            Framed::Packet(route) => a.routed_packet(p, route, shard == 0),
        }
    }

    /// Sessions and broken packets of every kind, fed to one analyzer and
    /// to 2 and 3 sharded ones: the shards together report the same
    /// sessions, and their counters add up to one analyzer's, whether
    /// a worker decoded a packet (its ends name its shard) or every worker
    /// did (they cannot be read where they lie).
    #[test]
    fn sharded_analyzers_add_up_to_one() {
        let server = ([10, 9, 9, 9], 5432);
        let mut frames = Vec::new();
        for i in 0..300u16 {
            let client = ([10, 0, (i >> 8) as u8, i as u8], 40_000 + i);
            let nothing = |_: &mut Vec<u8>| {};
            frames.push(frame(client, server, 0x02, &[], nothing));
            frames.push(frame(server, client, 0x12, &[], nothing));
            frames.push(frame(
                client,
                server,
                0x18,
                &[0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f],
                |f| {
                    f[41] = 2; // sequence: after the SYN
                },
            ));
            frames.push(frame(server, client, 0x18, b"N", |f| f[41] = 2));
            frames.push(match i % 7 {
                // A TCP header length below 20 bytes.
                0 => frame(client, server, 0x10, &[], |f| f[46] = 0x20),
                // A later IPv4 fragment: "ports" are payload bytes.
                1 => frame(client, server, 0x10, b"xxxx", |f| f[20] = 0x10),
                // Cut inside the TCP ports: its ends cannot be read.
                2 => frame(client, server, 0x10, &[], |f| f.truncate(36)),
                // Cut inside the IP header.
                6 => frame(client, server, 0x10, &[], |f| f.truncate(30)),
                // UDP.
                3 => frame(client, server, 0x10, &[], |f| f[23] = 17),
                // Cut inside the TCP header, after the ports.
                4 => frame(client, server, 0x10, &[], |f| f.truncate(40)),
                // An IPv4 header length below 20 bytes.
                _ => frame(client, server, 0x10, &[], |f| f[14] = 0x44),
            });
            frames.push(frame(client, server, 0x11, &[], |f| f[41] = 10));
            // Between two ports not followed: a whole segment (left out
            // where the packets are routed), and one cut inside its TCP
            // header (counted as skipped all the same).
            let (web, proxy) = (([10, 1, 0, i as u8], 80), ([10, 2, 0, 1], 8080));
            frames.push(frame(web, proxy, 0x18, b"HTTP", nothing));
            frames.push(frame(web, proxy, 0x10, &[], |f| f.truncate(40)));
        }
        let routed = |data: &Vec<u8>, follows: Option<&PortSet>| {
            let p = Packet {
                frame: 1,
                ts_nanos: 0,
                link: LinkType::ETHERNET,
                data,
                orig_len: data.len() as u32,
            };
            // `None`: handed on decoded.
            match Analyzer::frame_route(&p, 2, follows) {
                Framed::Segment(..) => None,
                Framed::Packet(route) => Some(route),
            }
        };
        let ports = PortSet::new(vec![5432]);
        let (whole, cut) = (&frames[frames.len() - 2], &frames[frames.len() - 1]);
        assert_eq!(routed(whole, Some(&ports)), Some(Route::Nobody));
        assert!(matches!(routed(cut, Some(&ports)), Some(Route::Flow(..))));
        assert_eq!(routed(whole, None), None);
        assert_eq!(routed(&frames[2], Some(&ports)), None);
        // UDP (the fifth of the eight frames of i = 3): to no worker.
        assert_eq!(
            routed(&frames[8 * 3 + 4], Some(&ports)),
            Some(Route::Nobody)
        );
        assert_eq!(routed(&frames[8 * 3 + 4], None), Some(Route::Nobody));
        // Cut inside its TCP header (the fifth frame of i = 4): its ends
        // are read, it is not decoded.
        assert!(matches!(
            routed(&frames[8 * 4 + 4], Some(&ports)),
            Some(Route::Flow(..))
        ));
        let run = |shard: Option<(u32, u32)>| {
            let mut a = Analyzer::new(AnalyzerConfig {
                ports: PortSet::new(vec![5432]),
                max_flows: 100_000,
                report_early: false,
            });
            if let Some((k, n)) = shard {
                a = a.with_shard(k, n);
            }
            for (i, data) in frames.iter().enumerate() {
                let p = Packet {
                    frame: i as u64 + 1,
                    ts_nanos: 1_000_000 * i as i64,
                    link: LinkType::ETHERNET,
                    data,
                    orig_len: data.len() as u32,
                };
                match shard {
                    None => a.packet(&p),
                    Some((k, n)) => as_the_relay_gives_it(&mut a, &p, k, n),
                }
            }
            a.end_source();
            let reports: Vec<_> = a
                .take_reports()
                .into_iter()
                .map(|r| (r.first_frame, r.verdict, r.reason))
                .collect();
            (a.stats, reports)
        };
        let (one, mut want) = run(None);
        want.sort();
        assert_eq!(want.len(), 300);
        // Counted: fragments, and TCP headers cut before or after the
        // ports (on the followed port and between two others).
        assert_eq!(
            one.skipped.values().sum::<u64>(),
            43 + 43 + 43 + 43 + 300,
            "{:?}",
            one.skipped
        );
        for n in [2, 3] {
            let mut stats = InputStats::default();
            let mut got = Vec::new();
            for k in 0..n {
                let (s, r) = run(Some((k, n)));
                assert!(
                    !r.is_empty() && r.len() < 300,
                    "shard {k} of {n}: {}",
                    r.len()
                );
                stats.add_shard(&s);
                got.extend(r);
            }
            got.sort();
            assert_eq!(got, want, "{n} shards");
            assert_eq!(stats.skipped, one.skipped, "{n} shards");
            assert_eq!(stats.followed_segments, one.followed_segments, "{n} shards");
            assert_eq!((stats.packets, stats.bytes), (one.packets, one.bytes));
        }
    }
}
