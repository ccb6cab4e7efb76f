//! The per-session state machine: it reads both reassembled byte streams of
//! one TCP connection through the PostgreSQL startup phase and the TLS
//! handshake, records what it saw (with frame numbers), and derives the
//! [`Verdict`].
//!
//! Malformed traffic is recorded on the session, never an error. The state
//! machine does no I/O and reads no clock.

mod conversation;
mod judge;
mod messages;
pub mod verdict;

pub use conversation::{
    negotiated_version, recognise_pg_start, Conversation, Negotiation, PgStart, MAX_PG_START_BYTES,
};
pub use verdict::Verdict;

use crate::flow::reassembly::{Chunk, Reassembler};
use crate::flow::{Direction, FlowKey};

/// A piece of evidence: which message, which packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub frame: u64,
    pub what: String,
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
    /// Initial sequence number of the client's SYN.
    pub client_isn: Option<u32>,
    /// Reported early (live capture) when its verdict became final.
    pub reported: bool,
    /// Queued for retirement after the close linger.
    pub closing: bool,
    /// The ACK of the second FIN was seen.
    final_ack: bool,
    /// Which side sent the first FIN.
    first_fin: Option<Direction>,
    released: bool,
    to_server: Reassembler,
    to_client: Reassembler,
    /// Created with the first payload: a connection that never carries any
    /// (a SYN flood, a port scan) costs only the counters above.
    conv: Option<Box<Conversation>>,
    /// The first packet seen was a SYN (else the capture began mid-stream).
    first_syn: bool,
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
            client_isn: None,
            reported: false,
            closing: false,
            final_ack: false,
            first_fin: None,
            released: false,
            to_server: Reassembler::default(),
            to_client: Reassembler::default(),
            conv: None,
            first_syn: false,
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
            if !flags.ack && dir == Direction::ToServer {
                self.client_isn.get_or_insert(seq);
            }
        }
        if self.packets == 1 {
            self.first_syn = flags.syn;
        }
        if self.conv.as_ref().is_none_or(|c| c.wants_bytes()) {
            let midstream = !self.first_syn;
            let slot = &mut self.conv;
            let r = match dir {
                Direction::ToServer => &mut self.to_server,
                Direction::ToClient => &mut self.to_client,
            };
            r.segment(seq, flags.syn, payload, wire_len, frame, &mut |c| {
                conversation_in(slot, midstream).chunk(dir, c)
            });
        }
        if let Some(conv) = self.conv.as_mut() {
            if conv.is_settled() && !self.released {
                // Verdict final: keep counters only.
                self.to_server.release();
                self.to_client.release();
                conv.release_buffers();
                self.released = true;
            }
        }
        // Segments still waiting behind a hole are not declared lost at a
        // FIN or RST: a reordered capture can bring them later. They are
        // delivered when the hole fills or when the session is retired.
        if flags.rst {
            self.rst = true;
            if let Some(conv) = self.conv.as_mut() {
                conv.closed(dir, frame, true);
            }
        } else if flags.fin {
            self.first_fin.get_or_insert(dir);
            match dir {
                Direction::ToServer => self.client_fin = true,
                Direction::ToClient => self.server_fin = true,
            }
            conversation_in(&mut self.conv, !self.first_syn).closed(dir, frame, false);
        }
    }

    fn flush(&mut self, dir: Direction) {
        let midstream = !self.first_syn;
        let slot = &mut self.conv;
        let r = match dir {
            Direction::ToServer => &mut self.to_server,
            Direction::ToClient => &mut self.to_client,
        };
        r.flush(&mut |c: Chunk<'_>| conversation_in(slot, midstream).chunk(dir, c));
    }

    /// What the session's bytes showed (an empty conversation before any payload).
    pub fn conv(&self) -> &Conversation {
        static EMPTY: std::sync::OnceLock<Conversation> = std::sync::OnceLock::new();
        self.conv
            .as_deref()
            .unwrap_or_else(|| EMPTY.get_or_init(Conversation::default))
    }

    /// Delivers whatever waits in the reassembly queues (end of capture).
    pub fn finish_streams(&mut self) {
        self.flush(Direction::ToServer);
        self.flush(Direction::ToClient);
    }

    /// The verdict can no longer change (cheap; called per packet in live mode).
    pub fn verdict_is_final(&self) -> bool {
        self.conv().is_settled() || self.conv().plaintext_answered() || self.is_closed()
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
        (
            self.to_server.gaps + self.to_client.gaps,
            self.to_server.gap_bytes + self.to_client.gap_bytes,
        )
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
        match self.client_isn {
            Some(isn) => isn != syn_seq,
            None => self.is_closed() || self.packets > 0,
        }
    }
}

/// The conversation of a session, created on first use.
fn conversation_in(slot: &mut Option<Box<Conversation>>, midstream: bool) -> &mut Conversation {
    slot.get_or_insert_with(|| {
        let mut c = Box::<Conversation>::default();
        c.midstream = midstream;
        c
    })
}
