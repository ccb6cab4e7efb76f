//! The per-session state machine: it reads both reassembled byte streams of
//! one TCP connection through the PostgreSQL startup phase and the TLS
//! handshake, records what it saw (with frame numbers), and derives the
//! [`Verdict`].
//!
//! Malformed traffic is recorded on the session, never an error. The state
//! machine does no I/O and reads no clock.

mod conversation;
mod frozen;
mod judge;
mod messages;
pub mod verdict;

pub use conversation::{
    negotiated_version, recognise_pg_start, AlertSeen, Conversation, Negotiation, PgError, PgFacts,
    PgStart, MAX_PG_START_BYTES,
};
pub use frozen::Shapes;
pub use verdict::Verdict;

use crate::flow::reassembly::{Chunk, Reassembler};
use crate::flow::{Direction, FlowKey};
use crate::report::Prerendered;
use frozen::Frozen;
use std::borrow::Cow;

/// A piece of evidence: which message, which packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Evidence {
    pub frame: u64,
    /// Most evidence is a fixed text: borrowed, not allocated per session.
    pub what: Cow<'static, str>,
}

/// One TCP connection to a followed port.
#[derive(Debug)]
pub struct Session {
    pub key: FlowKey,
    /// Order of first appearance in the input.
    pub index: u64,
    pub start_ns: i64,
    pub end_ns: i64,
    pub first_frame: u64,
    pub last_frame: u64,
    pub packets: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    pub syn_seen: bool,
    pub client_fin: bool,
    pub server_fin: bool,
    pub rst: bool,
    /// Initial sequence number of the client's SYN, when `isn_seen` (two
    /// fields rather than an `Option`: 8 bytes less a session).
    client_isn: u32,
    isn_seen: bool,
    /// Reported early (live capture) when its verdict became final.
    pub reported: bool,
    /// Queued for retirement after the close linger.
    pub closing: bool,
    /// The ACK of the second FIN was seen.
    final_ack: bool,
    /// Which side sent the first FIN.
    first_fin: Option<Direction>,
    released: bool,
    /// The first packet seen was a SYN (else the capture began mid-stream).
    first_syn: bool,
    /// Times a frozen plaintext session thawed to read a segment (saturating).
    thaws: u8,
    body: Body,
}

/// Thaws, once past authentication, after which a plaintext session
/// freezes again only every [`REFREEZE_EVERY`] packets: one whose messages
/// keep thawing it (a ParameterStatus after every SET, queries cut across
/// segments) would otherwise pay a conversation clone and a shape lookup
/// (~1.6 us) per answer. Four, because a session's first query and its
/// first error each thaw it once; with two, the replicated short sessions
/// that sent a query and got an error stayed unfrozen (551 bytes per open
/// flow instead of ~240). 6,000 open sessions each answering 40 SETs with a
/// ParameterStatus (`scripts/make-plaintext-churn.py 6000 40 F S`, `-j 1`):
/// 108 ms after 2 free thaws, 130 ms after 4.
const FREE_THAWS: u8 = 4;
const REFREEZE_EVERY: u64 = 64;

/// What a session holds beyond its counters.
#[derive(Debug)]
enum Body {
    /// Nothing but bare SYNs so far: the first one's sequence number each
    /// way, until a segment needs the streams. A SYN flood or a port scan
    /// costs no streams.
    Syn {
        to_server: Option<u32>,
        to_client: Option<u32>,
    },
    /// Still reading its bytes.
    Open(Box<Streams>),
    /// Settled and frozen ([`Session::freeze`]).
    Frozen(Frozen),
    /// Reset, and its output made already ([`Session::final_judgement`]).
    Rendered(Box<Prerendered>),
}

/// Both byte streams and what they showed.
#[derive(Debug, Default)]
struct Streams {
    to_server: Reassembler,
    to_client: Reassembler,
    /// Created with the first payload or close.
    conv: Option<Box<Conversation>>,
}

/// Conversations of ended sessions kept per thread for the next sessions
/// to start in. A conversation (1,376 bytes) is past the allocator's
/// small-block fast path: allocating one took 220 instructions, a tenth of
/// what the ClientHello of a TLS session takes to read.
const SPARE_CONVERSATIONS: usize = 64;

thread_local! {
    // The boxes are what is kept: each is handed out again whole.
    #[allow(clippy::vec_box)]
    static SPARE: std::cell::RefCell<Vec<Box<Conversation>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl Drop for Streams {
    fn drop(&mut self) {
        if let Some(conv) = self.conv.take() {
            keep_spare(conv);
        }
    }
}

/// Keeps the box of an ended conversation for the next one this thread
/// starts ([`new_conversation`]), while fewer than [`SPARE_CONVERSATIONS`]
/// are kept.
pub(super) fn keep_spare(conv: Box<Conversation>) {
    // A thread's spares are gone as it ends: then the box is freed.
    let _ = SPARE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.len() < SPARE_CONVERSATIONS {
                s.push(conv);
            }
        }
    });
}

/// A new conversation, in the box of an ended one when this thread kept one.
fn new_conversation() -> Box<Conversation> {
    let spare = SPARE
        .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()))
        .ok()
        .flatten();
    match spare {
        Some(mut c) => {
            // What the ended session held is freed here rather than where
            // it ended, but for its small buffers, emptied.
            let mut new = Conversation::default();
            new.reuse_buffers(&mut c);
            *c = new;
            c
        }
        None => Box::default(),
    }
}

impl Session {
    pub fn new(key: FlowKey, index: u64, ts: i64, frame: u64) -> Self {
        Session {
            key,
            index,
            start_ns: ts,
            end_ns: ts,
            first_frame: frame,
            last_frame: frame,
            packets: 0,
            bytes_to_server: 0,
            bytes_to_client: 0,
            syn_seen: false,
            client_fin: false,
            server_fin: false,
            rst: false,
            client_isn: 0,
            isn_seen: false,
            reported: false,
            closing: false,
            final_ack: false,
            first_fin: None,
            released: false,
            thaws: 0,
            first_syn: false,
            body: Body::Syn {
                to_server: None,
                to_client: None,
            },
        }
    }

    /// The common case of a long session: its verdict is settled, its
    /// buffers are freed, the connection is open and the segment carries no
    /// SYN, FIN or RST. Only the counters change; returns false (doing
    /// nothing) when the segment needs [`Session::segment`].
    #[inline]
    pub fn count_only(
        &mut self,
        dir: Direction,
        ts: i64,
        frame: u64,
        flags: crate::decode::TcpFlags,
        wire_len: u32,
    ) -> bool {
        if !self.released
            || self.client_fin
            || self.server_fin
            || self.rst
            || flags.syn
            || flags.fin
            || flags.rst
        {
            return false;
        }
        self.count(dir, ts, frame, wire_len);
        true
    }

    /// The counters every segment moves.
    #[inline]
    fn count(&mut self, dir: Direction, ts: i64, frame: u64, wire_len: u32) {
        self.packets += 1;
        self.end_ns = self.end_ns.max(ts);
        self.last_frame = frame;
        match dir {
            Direction::ToServer => self.bytes_to_server += u64::from(wire_len),
            Direction::ToClient => self.bytes_to_client += u64::from(wire_len),
        }
    }

    /// Feeds one segment of this connection.
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        dir: Direction,
        ts: i64,
        frame: u64,
        seq: u32,
        flags: crate::decode::TcpFlags,
        payload: &[u8],
        wire_len: u32,
    ) {
        // The ACK of the second FIN ends the connection: nothing more of it
        // is expected but retransmissions.
        // The ACK of the second FIN comes from the side that closed first.
        if self.client_fin
            && self.server_fin
            && self.first_fin == Some(dir)
            && flags.ack
            && !(flags.fin || flags.syn || flags.rst)
            && wire_len == 0
        {
            self.final_ack = true;
        }
        self.count(dir, ts, frame, wire_len);
        if flags.syn {
            self.syn_seen = true;
            if !flags.ack && dir == Direction::ToServer && !self.isn_seen {
                self.client_isn = seq;
                self.isn_seen = true;
            }
        }
        if self.packets == 1 {
            self.first_syn = flags.syn;
        }
        if let Body::Frozen(f) = &mut self.body {
            // A frozen plaintext session reads on in place, or thaws.
            if f.plain_next().is_some() && !f.plain_segment(dir, seq, flags.syn, payload, wire_len)
            {
                // Authentication (a password, the server's answers up to
                // its first ReadyForQuery) thaws every session a few times;
                // only thaws after it count towards the back-off.
                if f.past_startup() {
                    self.thaws = self.thaws.saturating_add(1);
                }
                self.thaw();
            }
        }
        if let Body::Syn {
            to_server,
            to_client,
        } = &mut self.body
        {
            let bare_syn =
                flags.syn && !flags.fin && !flags.rst && wire_len == 0 && payload.is_empty();
            if bare_syn {
                match dir {
                    Direction::ToServer => to_server.get_or_insert(seq),
                    Direction::ToClient => to_client.get_or_insert(seq),
                };
                return;
            }
            self.open_streams();
        }
        if let Body::Open(st) = &mut self.body {
            if st.conv.as_ref().is_none_or(|c| c.wants_bytes()) {
                let midstream = !self.first_syn;
                let slot = &mut st.conv;
                let r = match dir {
                    Direction::ToServer => &mut st.to_server,
                    Direction::ToClient => &mut st.to_client,
                };
                r.segment(seq, flags.syn, payload, wire_len, frame, &mut |c| {
                    conversation_in(slot, midstream).chunk(dir, c)
                });
            }
            if let Some(conv) = st.conv.as_mut() {
                if conv.is_settled() && !self.released {
                    // Verdict final: keep counters only.
                    st.to_server.release();
                    st.to_client.release();
                    conv.release_buffers();
                    self.released = true;
                }
            }
        }
        // Segments still waiting behind a hole are not declared lost at a
        // FIN or RST: a reordered capture can bring them later. They are
        // delivered when the hole fills or when the session is retired.
        if flags.rst {
            self.rst = true;
            self.closed(dir, frame, true);
        } else if flags.fin {
            self.first_fin.get_or_insert(dir);
            match dir {
                Direction::ToServer => self.client_fin = true,
                Direction::ToClient => self.server_fin = true,
            }
            self.closed(dir, frame, false);
        }
    }

    /// Leaves [`Body::Syn`]: the streams start where the SYNs put them, as
    /// if every SYN had gone through them (a bare SYN only sets where its
    /// stream begins).
    fn open_streams(&mut self) {
        if let Body::Syn {
            to_server,
            to_client,
        } = self.body
        {
            let mut st = Box::<Streams>::default();
            for (r, syn) in [
                (&mut st.to_server, to_server),
                (&mut st.to_client, to_client),
            ] {
                if let Some(seq) = syn {
                    r.segment(seq, true, &[], 0, 0, &mut |_| {});
                }
            }
            self.body = Body::Open(st);
        }
    }

    /// Records a FIN or RST in the conversation (a RST only in one that exists).
    fn closed(&mut self, dir: Direction, frame: u64, reset: bool) {
        let base = self.first_frame;
        match &mut self.body {
            Body::Syn { .. } => {
                self.open_streams();
                self.closed(dir, frame, reset);
            }
            Body::Open(st) => {
                if reset {
                    if let Some(conv) = st.conv.as_mut() {
                        conv.closed(dir, frame, true);
                    }
                } else {
                    conversation_in(&mut st.conv, !self.first_syn).closed(dir, frame, false);
                }
            }
            Body::Frozen(f) => {
                if !f.closed(dir, frame, reset, base) {
                    self.thaw();
                    self.closed(dir, frame, reset);
                }
            }
            // No later close changes its judgement (`final_judgement`).
            Body::Rendered(_) => {}
        }
    }

    /// The judgement of a reset session that nothing later can change, when
    /// it is one: its conversation settled and its buffers released (a later
    /// segment only moves the counters), its SYN seen, and its judgement the
    /// same whichever closes the conversation may still record (a FIN or a
    /// RST of a side that has not closed yet): either the judge never asked
    /// how the connection closed, or it answers the same with every close
    /// still possible (it asks only whether a side closed, never at which
    /// frame). Its output can then be made now and its conversation freed
    /// ([`Session::set_prerendered`]).
    pub fn final_judgement(&mut self) -> Option<Judgement> {
        if !(self.rst && self.released && self.syn_seen) {
            return None;
        }
        let (client, server) = match &self.body {
            Body::Open(st) => {
                let c = st.conv.as_deref()?;
                if !c.is_settled() || c.reset_by.is_none() {
                    return None;
                }
                (c.client_closed, c.server_closed)
            }
            _ => return None,
        };
        let (judgement, read_closes) = judge::judge_noting_closes(self);
        // A judgement that never asked how the connection closed cannot
        // change with a later close (the commonest case: a ServerHello).
        if !read_closes {
            return Some(judgement);
        }
        let unchanged = self.same_whatever_closes_come(client, server, |s| s.judge() == judgement);
        unchanged.then_some(judgement)
    }

    /// Whether `same` holds with every close the conversation may still
    /// record: each side that has not closed (`client`, `server`: the
    /// frames it has now) closing later, or not. The frames are put back.
    fn same_whatever_closes_come(
        &mut self,
        client: Option<u64>,
        server: Option<u64>,
        same: impl Fn(&Session) -> bool,
    ) -> bool {
        let later = |now: Option<u64>| match now {
            Some(_) => [now, now],
            None => [None, Some(u64::MAX)],
        };
        let mut unchanged = true;
        for c in later(client) {
            for s in later(server) {
                if unchanged && (c, s) != (client, server) {
                    self.set_closes(c, s);
                    unchanged = same(self);
                }
            }
        }
        self.set_closes(client, server);
        unchanged
    }

    /// Sets the frames at which the conversation saw each side close.
    fn set_closes(&mut self, client: Option<u64>, server: Option<u64>) {
        if let Body::Open(st) = &mut self.body {
            if let Some(c) = st.conv.as_deref_mut() {
                c.client_closed = client;
                c.server_closed = server;
            }
        }
    }

    /// Keeps only `output`, made from the session's [`final_judgement`]:
    /// its streams and conversation are freed.
    ///
    /// [`final_judgement`]: Session::final_judgement
    pub fn set_prerendered(&mut self, output: Prerendered) {
        self.body = Body::Rendered(Box::new(output));
    }

    /// Does the session hold its output instead of its conversation?
    pub fn is_rendered(&self) -> bool {
        matches!(self.body, Body::Rendered(_))
    }

    /// The output made when the session reset, if it was.
    pub fn take_prerendered(&mut self) -> Option<Box<Prerendered>> {
        if !self.is_rendered() {
            return None;
        }
        let empty = Body::Syn {
            to_server: None,
            to_client: None,
        };
        match std::mem::replace(&mut self.body, empty) {
            Body::Rendered(p) => Some(p),
            _ => None,
        }
    }

    /// Shares what a settled session's conversation showed with every
    /// session that showed the same, keeping only its own frames and
    /// counters ([`frozen`]); returns whether it froze now. A plaintext
    /// session the server answered freezes between messages and reads on
    /// frozen; any other session still reading bytes, or whose streams lost
    /// bytes, stays as it is.
    pub fn freeze(&mut self, shapes: &mut Shapes) -> bool {
        let Body::Open(st) = &mut self.body else {
            return false;
        };
        if st.to_server.gaps + st.to_client.gaps > 0 {
            return false;
        }
        let plain_next = if self.released {
            None
        } else {
            if self.thaws >= FREE_THAWS && !self.packets.is_multiple_of(REFREEZE_EVERY) {
                return false;
            }
            // Not settled: only a plaintext session between messages both
            // ways, which reads on frozen.
            let quiet = st.conv.as_deref().is_some_and(Conversation::plain_quiet);
            match (
                quiet,
                st.to_server.resume_point(),
                st.to_client.resume_point(),
            ) {
                (true, Some(client), Some(server)) => Some([client, server]),
                _ => return false,
            }
        };
        let Some(conv) = st.conv.take() else {
            return false;
        };
        match Frozen::freeze(conv, self.first_frame, shapes, plain_next) {
            Ok(f) => {
                self.body = Body::Frozen(f);
                true
            }
            Err(conv) => {
                st.conv = Some(conv);
                false
            }
        }
    }

    /// Is the session frozen ([`Session::freeze`])?
    pub fn is_frozen(&self) -> bool {
        matches!(self.body, Body::Frozen(_))
    }

    /// Rebuilds a frozen session's conversation (before its report).
    pub fn thaw(&mut self) {
        if let Body::Frozen(f) = &self.body {
            let conv = Some(Box::new(f.thaw(self.first_frame)));
            let streams = match f.plain_next() {
                Some([client, server]) => Streams {
                    to_server: Reassembler::resuming_at(client),
                    to_client: Reassembler::resuming_at(server),
                    conv,
                },
                None => Streams {
                    to_server: Reassembler::default(),
                    to_client: Reassembler::default(),
                    conv,
                },
            };
            self.body = Body::Open(Box::new(streams));
        }
    }

    fn flush(&mut self, dir: Direction) {
        let midstream = !self.first_syn;
        let Body::Open(st) = &mut self.body else {
            return;
        };
        let slot = &mut st.conv;
        let r = match dir {
            Direction::ToServer => &mut st.to_server,
            Direction::ToClient => &mut st.to_client,
        };
        r.flush(&mut |c: Chunk<'_>| conversation_in(slot, midstream).chunk(dir, c));
    }

    /// What the session's bytes showed (an empty conversation before any
    /// payload). A frozen session's is rebuilt on each call: thaw it first
    /// when it is read more than once.
    pub fn conv(&self) -> Cow<'_, Conversation> {
        static EMPTY: std::sync::OnceLock<Conversation> = std::sync::OnceLock::new();
        let empty = || EMPTY.get_or_init(Conversation::default);
        match &self.body {
            Body::Syn { .. } => Cow::Borrowed(empty()),
            Body::Open(st) => Cow::Borrowed(st.conv.as_deref().unwrap_or_else(empty)),
            Body::Frozen(f) => Cow::Owned(f.thaw(self.first_frame)),
            // Written from its output, never judged or reported again:
            // `read` takes the output before anything else.
            Body::Rendered(_) => {
                if cfg!(debug_assertions) {
                    unreachable!("a rendered session's conversation is gone");
                }
                Cow::Borrowed(empty())
            }
        }
    }

    /// Delivers whatever waits in the reassembly queues (end of capture).
    pub fn finish_streams(&mut self) {
        self.flush(Direction::ToServer);
        self.flush(Direction::ToClient);
    }

    /// The verdict can no longer change (cheap; called per packet in live mode).
    pub fn verdict_is_final(&self) -> bool {
        match &self.body {
            Body::Syn { .. } => self.is_closed(),
            Body::Frozen(_) | Body::Rendered(_) => true,
            Body::Open(st) => {
                st.conv
                    .as_ref()
                    .is_some_and(|c| c.is_settled() || c.plaintext_answered())
                    || self.is_closed()
            }
        }
    }

    /// The connection is over for good: the ACK of the second FIN was seen.
    /// (After a reset, a second RST or late segments may still come.)
    pub fn is_finished(&self) -> bool {
        self.final_ack
    }

    /// Both ends closed, or one reset.
    pub fn is_closed(&self) -> bool {
        self.rst || (self.client_fin && self.server_fin)
    }

    /// Gaps the capture left in the two streams.
    pub fn gaps(&self) -> (u32, u64) {
        match &self.body {
            Body::Open(st) => (
                st.to_server.gaps + st.to_client.gaps,
                st.to_server.gap_bytes + st.to_client.gap_bytes,
            ),
            // Only sessions without gaps freeze; a rendered session is not
            // judged again.
            Body::Syn { .. } | Body::Frozen(_) | Body::Rendered(_) => (0, 0),
        }
    }

    pub fn midstream(&self) -> bool {
        !self.syn_seen
    }

    /// The verdict, its reason and the evidence, from what was seen so far.
    pub fn judge(&self) -> judge::Judgement {
        judge::judge(self)
    }
}

pub use judge::Judgement;

impl Session {
    /// Does a SYN with this sequence number start a new connection on the
    /// same 4-tuple (rather than retransmit this one's SYN)?
    pub fn is_new_connection(&self, syn_seq: u32) -> bool {
        if self.isn_seen {
            self.client_isn != syn_seq
        } else {
            self.is_closed() || self.packets > 0
        }
    }
}

/// The conversation of a session, created on first use (inlined where
/// segments are read: a call per segment, the slot's check its only work).
#[inline]
fn conversation_in(slot: &mut Option<Box<Conversation>>, midstream: bool) -> &mut Conversation {
    slot.get_or_insert_with(|| started_conversation(midstream))
}

#[cold]
#[inline(never)]
fn started_conversation(midstream: bool) -> Box<Conversation> {
    let mut c = new_conversation();
    c.midstream = midstream;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A conversation started in the box of an ended session's is a new
    /// one: nothing of what the ended session showed is left in it.
    #[test]
    fn a_spare_conversation_starts_new() {
        let mut used = Conversation::default();
        used.client_closed = Some(7);
        used.midstream = true;
        used.tls.client_app_records = 3;
        for frame in 0..5 {
            used.evidence.push(Evidence {
                frame,
                what: format!("evidence {frame}").into(),
            });
        }
        let room = used.evidence.capacity();
        assert_ne!(used, Conversation::default());
        drop(Streams {
            to_server: Reassembler::default(),
            to_client: Reassembler::default(),
            conv: Some(Box::new(used)),
        });
        let kept = SPARE.with(|s| s.borrow().len());
        assert!(kept >= 1);
        let c = new_conversation();
        assert_eq!(SPARE.with(|s| s.borrow().len()), kept - 1);
        assert_eq!(*c, Conversation::default());
        // Its evidence list is the ended one's, emptied.
        assert_eq!(c.evidence.capacity(), room);
    }

    /// A conversation frozen into a shape already held leaves its box to
    /// the next conversation this thread starts, which starts new.
    #[test]
    fn a_conversation_frozen_into_a_known_shape_leaves_its_box() {
        let mut shapes = Shapes::default();
        let mut shaped = Conversation::default();
        shaped.tls.client_app_records = 3;
        shaped.evidence.push(Evidence {
            frame: 2,
            what: "shared".into(),
        });
        let first = Frozen::freeze(Box::new(shaped.clone()), 1, &mut shapes, None).unwrap();
        let kept = SPARE.with(|s| s.borrow().len());
        let again = Box::new(shaped);
        let at: *const Conversation = &*again;
        let second = Frozen::freeze(again, 1, &mut shapes, None).unwrap();
        assert_eq!(shapes.len(), 1);
        assert_eq!(SPARE.with(|s| s.borrow().len()), kept + 1);
        let c = new_conversation();
        assert!(std::ptr::eq(&*c, at), "the box was not kept");
        assert_eq!(*c, Conversation::default());
        // Both sessions still read as the conversation they froze.
        assert_eq!(first.thaw(1).tls.client_app_records, 3);
        assert_eq!(second.thaw(1).evidence.len(), 1);
    }

    /// A session whose conversation saw these closes.
    fn closed_at(client: Option<u64>, server: Option<u64>) -> Session {
        let end = crate::flow::Endpoint::v4([10, 0, 0, 1], 5432);
        let key = FlowKey {
            client: end,
            server: end,
        };
        let mut s = Session::new(key, 0, 0, 1);
        let mut conv = Conversation::default();
        conv.client_closed = client;
        conv.server_closed = server;
        s.body = Body::Open(Box::new(Streams {
            to_server: Reassembler::default(),
            to_client: Reassembler::default(),
            conv: Some(Box::new(conv)),
        }));
        s
    }

    fn closes(s: &Session) -> (Option<u64>, Option<u64>) {
        let c = s.conv();
        (c.client_closed, c.server_closed)
    }

    /// Every combination of later closes is tried, and the frames are put
    /// back whatever the answer.
    #[test]
    fn later_closes_are_all_tried() {
        for (client, server) in [
            (None, None),
            (Some(7), None),
            (None, Some(8)),
            (Some(7), Some(8)),
        ] {
            let mut s = closed_at(client, server);
            // A judge that does not look at closes: nothing changes it.
            assert!(s.same_whatever_closes_come(client, server, |_| true));
            assert_eq!(closes(&s), (client, server));
            // One that asks whether the server closed changes as soon as
            // the server may still close.
            let now = server.is_some();
            let same = s.same_whatever_closes_come(client, server, |s| {
                s.conv().server_closed.is_some() == now
            });
            assert_eq!(same, server.is_some(), "{client:?} {server:?}");
            assert_eq!(closes(&s), (client, server));
            // One that asks whether both closed.
            let now = client.is_some() && server.is_some();
            let same = s.same_whatever_closes_come(client, server, |s| {
                let (c, v) = closes(s);
                (c.is_some() && v.is_some()) == now
            });
            assert_eq!(same, now, "{client:?} {server:?}");
            // One that looks at the frames: a close at frame 7 stays the
            // only one it accepts.
            let same = s.same_whatever_closes_come(client, server, |s| closes(s).0 == client);
            assert_eq!(same, client.is_some(), "{client:?} {server:?}");
        }
    }

    /// A judgement that did not read how the connection closed is the same
    /// with every close still possible: on every session of every bundled
    /// capture and of every cut of the small ones (sessions stopped at each
    /// packet: hellos without an answer, startups without a reply), from
    /// each state of its closes (neither side, either, both; the judge notes
    /// each read of a close). Both kinds occur.
    #[test]
    fn judgements_that_ignore_closes_do_not_change_with_them() {
        let (mut ignoring, mut reading) = (0, 0);
        for path in crate::testutil::bundled_captures() {
            let bytes = std::fs::read(&path).unwrap();
            let mut r = crate::capture::file::CaptureReader::new(&bytes[..]).unwrap();
            let mut packets = Vec::new();
            while let Some(p) = r.next_packet().unwrap() {
                packets.push((p.frame, p.ts_nanos, p.link, p.data.to_vec(), p.orig_len));
            }
            // The whole capture, and every cut of the small ones.
            let cuts = if packets.len() <= 200 {
                1..=packets.len()
            } else {
                packets.len()..=packets.len()
            };
            for cut in cuts {
                let mut a = crate::analyze::Analyzer::new(crate::analyze::AnalyzerConfig {
                    ports: crate::flow::PortSet::new(vec![5432]),
                    max_flows: 1000,
                    report_early: false,
                })
                .with_any_port()
                .in_departure_order();
                for (frame, ts_nanos, link, data, orig_len) in &packets[..cut] {
                    a.packet(&crate::capture::Packet {
                        frame: *frame,
                        ts_nanos: *ts_nanos,
                        link: *link,
                        data,
                        orig_len: *orig_len,
                    });
                }
                a.end_source();
                for d in a.take_retired().into_ordered() {
                    // Not rendering resets: every session leaves as it is.
                    let crate::analyze::Departed::Session(mut r) = d else {
                        panic!("a session rendered without rendering_resets");
                    };
                    let s = &mut r.session;
                    if !matches!(&s.body, Body::Open(st) if st.conv.is_some()) {
                        continue;
                    }
                    for (client, server) in [
                        (None, None),
                        (Some(1), None),
                        (None, Some(2)),
                        (Some(1), Some(2)),
                    ] {
                        s.set_closes(client, server);
                        let (judgement, read) = judge::judge_noting_closes(s);
                        assert_eq!(judgement, s.judge());
                        if read {
                            reading += 1;
                            continue;
                        }
                        ignoring += 1;
                        let same =
                            s.same_whatever_closes_come(client, server, |s| s.judge() == judgement);
                        assert!(
                            same,
                            "{path:?} frame {}: {client:?} {server:?}",
                            s.first_frame
                        );
                    }
                }
            }
        }
        assert!(
            ignoring > 500 && reading > 50,
            "{ignoring} ignoring, {reading} reading"
        );
    }

    /// The flow table holds a session per flow in place: its size is most
    /// of what a tracked flow costs (README, Performance).
    #[test]
    fn a_session_fits_its_budget() {
        assert!(std::mem::size_of::<super::Session>() <= 208);
        // The slab's empty slots cost no tag.
        assert_eq!(
            std::mem::size_of::<Option<super::Session>>(),
            std::mem::size_of::<super::Session>()
        );
    }
}
