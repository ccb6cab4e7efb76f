//! Settled sessions, kept small.
//!
//! Once a session's verdict is settled its conversation changes only when the
//! connection closes, or, for a plaintext session, by its query count as
//! long as its messages say nothing else ([`PlainTail`]). What the
//! conversation showed is mostly what every session of the same client and
//! server showed (the same hellos, the same
//! certificate, the same evidence): only its frame numbers are its own. A
//! frozen session keeps its frames, as offsets from its first frame, and
//! shares the rest, a [`Shapes`] entry, with every session of that shape.
//! Its report is written from the conversation rebuilt from both, equal to
//! the one it froze.

use super::Conversation;
use crate::flow::Direction;
use crate::tls::SessionId;
use rustc_hash::FxHashSet;
use std::sync::Arc;

/// Shapes held for sharing at most (a few KB each). Past it, shapes no
/// session uses any more are dropped, and a new shape that still finds no
/// room stays its session's own.
pub const MAX_SHAPES: usize = 4096;

/// Conversations without their frames, one of each shape.
#[derive(Default)]
pub struct Shapes {
    set: FxHashSet<Arc<Conversation>>,
    /// New shapes since the last sweep of unused ones.
    new_since_sweep: usize,
}

impl Shapes {
    /// The shared copy of `shape`. A shape held already leaves its box to
    /// the next session this thread starts ([`super::keep_spare`]): a
    /// settled TLS session freezes into a known shape, and its box and
    /// small buffers were freed here and allocated again by the next
    /// session (600 instructions a session of the million TLS sessions).
    fn intern(&mut self, shape: Box<Conversation>) -> Arc<Conversation> {
        if let Some(shared) = self.set.get(&*shape) {
            let shared = Arc::clone(shared);
            super::keep_spare(shape);
            return shared;
        }
        self.new_since_sweep += 1;
        // A sweep looks at every shape: at most one per MAX_SHAPES / 2 new
        // ones, so that sessions all unlike each other cost no more.
        if self.set.len() >= MAX_SHAPES && self.new_since_sweep >= MAX_SHAPES / 2 {
            self.set.retain(|s| Arc::strong_count(s) > 1);
            self.new_since_sweep = 0;
        }
        let shared = Arc::new(*shape);
        if self.set.len() < MAX_SHAPES {
            self.set.insert(Arc::clone(&shared));
        }
        shared
    }

    /// Distinct shapes held.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// Slots before the conversation's own frames: the client's and the
/// server's first FIN or RST, the reset, and flags ([`RESET_BY_SERVER`],
/// [`PLAIN`]).
const CLIENT_CLOSED: usize = 0;
const SERVER_CLOSED: usize = 1;
const RESET: usize = 2;
const FLAGS: usize = 3;
const CLOSE_SLOTS: usize = 4;
/// Flags: the reset came from the server; the session is a plaintext one
/// whose streams go on ([`PlainTail`]).
const RESET_BY_SERVER: u32 = 1;
const PLAIN: u32 = 2;

/// Frames a frozen session keeps, close slots included: held in place
/// rather than allocated (a settled session of the samples names 2 to 9
/// distinct frames; one naming more than fit stays unfrozen).
pub const FRAME_SLOTS: usize = 13;

/// A settled conversation: its shape and its own frames.
#[derive(Debug)]
pub struct Frozen {
    shape: Arc<Conversation>,
    /// [`CLOSE_SLOTS`] close slots, then each distinct frame the
    /// conversation names, in the order [`Conversation::frames_mut`] meets
    /// them; the shape holds indices into these instead of frames.
    /// Each is coded relative to the session's first frame: 0 for frame 0
    /// or nothing, else the frame minus the first frame, plus one.
    frames: [u32; FRAME_SLOTS],
    /// With [`PLAIN`]: what the plaintext session's own streams are at.
    plain: PlainTail,
}

/// A frozen plaintext session reads on: its queries and password messages
/// are what its report and `audit` are about. Between whole messages that
/// change nothing but its query count, that needs only where each stream
/// goes on and the count; any other segment thaws it
/// ([`Frozen::plain_segment`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainTail {
    /// Next sequence number expected from the client, from the server.
    next: [u32; 2],
    /// `pg.queries`, which the shape holds at 0.
    queries: u32,
}

/// Replaces the hellos' session ids, random per connection (a TLS 1.3
/// client sends 32 random bytes), by ids that keep all a report reads of
/// them: each one's length and whether the server's equals the client's.
/// Without this no two TLS 1.3 sessions would share a shape.
/// (A side without a hello has an empty id, which stays empty.)
fn same_session_ids(conv: &mut Conversation) {
    let tls = &mut conv.tls;
    let echoed = tls.client_session_id == tls.server_session_id;
    tls.client_session_id = SessionId::new(&[0; 32][..tls.client_session_id.len()]);
    tls.server_session_id = SessionId::new(&[u8::from(!echoed); 32][..tls.server_session_id.len()]);
}

/// A frame coded relative to `base`, when it fits.
fn code(frame: u64, base: u64) -> Option<u32> {
    if frame >= base {
        u32::try_from(frame - base + 1).ok()
    } else if frame == 0 {
        Some(0)
    } else {
        None
    }
}

fn decode(code: u32, base: u64) -> u64 {
    match code {
        0 => 0,
        c => base + u64::from(c) - 1,
    }
}

impl Frozen {
    /// Freezes `conv` of a session whose first frame is `base`. A
    /// conversation naming a frame too far from it (past 2^32 packets), or
    /// more distinct frames than [`FRAME_SLOTS`] holds, is given back as it
    /// was.
    ///
    /// `plain_next`: a plaintext session between messages both ways
    /// ([`Conversation::plain_quiet`]) reads on frozen from these sequence
    /// numbers (client's, server's).
    pub fn freeze(
        mut conv: Box<Conversation>,
        base: u64,
        shapes: &mut Shapes,
        plain_next: Option<[u32; 2]>,
    ) -> Result<Frozen, Box<Conversation>> {
        let mut fits = true;
        let mut distinct: Vec<u64> = Vec::with_capacity(FRAME_SLOTS);
        conv.frames_mut(&mut |v| {
            fits &= code(*v, base).is_some();
            if !distinct.contains(v) {
                distinct.push(*v);
            }
        });
        fits &= CLOSE_SLOTS + distinct.len() <= FRAME_SLOTS;
        let close = |f: Option<u64>| f.map_or(Some(0), |f| code(f, base));
        let (Some(client), Some(server), Some(reset)) = (
            close(conv.client_closed),
            close(conv.server_closed),
            close(conv.reset_by.map(|r| r.1)),
        ) else {
            return Err(conv);
        };
        if !fits {
            return Err(conv);
        }
        let by_server = matches!(conv.reset_by, Some((Direction::ToClient, _)));
        let mut flags = if by_server { RESET_BY_SERVER } else { 0 };
        let mut plain = PlainTail::default();
        if let Some(next) = plain_next {
            flags |= PLAIN;
            plain = PlainTail {
                next,
                queries: std::mem::take(&mut conv.pg.queries),
            };
        }
        let mut frames = [0; FRAME_SLOTS];
        frames[..CLOSE_SLOTS].copy_from_slice(&[client, server, reset, flags]);
        for (slot, v) in frames[CLOSE_SLOTS..].iter_mut().zip(&distinct) {
            *slot = code(*v, base).unwrap_or(0);
        }
        conv.frames_mut(&mut |v| {
            // Every frame is among the distinct ones.
            *v = distinct.iter().position(|d| d == v).unwrap_or(0) as u64;
        });
        conv.client_closed = None;
        conv.server_closed = None;
        conv.reset_by = None;
        same_session_ids(&mut conv);
        Ok(Frozen {
            shape: shapes.intern(conv),
            frames,
            plain,
        })
    }

    /// Whether the session had finished its start (the server's first
    /// ReadyForQuery) when it froze.
    pub fn past_startup(&self) -> bool {
        self.shape.pg.ready_frame.is_some()
    }

    /// Where a frozen plaintext session's streams go on (client's, server's).
    pub fn plain_next(&self) -> Option<[u32; 2]> {
        (self.frames[FLAGS] & PLAIN != 0).then_some(self.plain.next)
    }

    /// One segment of a frozen plaintext session ([`Frozen::plain_next`]),
    /// when it changes nothing but where its stream goes on and its query
    /// count: no SYN, every byte captured, in order (or already seen), and
    /// only whole messages that [`Conversation::message_matters`] passes
    /// over. Returns false, having changed nothing, for any other: the
    /// session thaws and the segment goes the full way.
    pub fn plain_segment(
        &mut self,
        dir: Direction,
        seq: u32,
        syn: bool,
        payload: &[u8],
        wire_len: u32,
    ) -> bool {
        use crate::flow::seq::Seq;
        debug_assert!(self.plain_next().is_some(), "not a plaintext session");
        if syn {
            return false;
        }
        // What the reassembler does with the segment, for the one case
        // kept here: bytes in order, nothing waiting.
        let wire = wire_len.max(payload.len() as u32);
        if wire == 0 {
            return true;
        }
        if (payload.len() as u32) < wire {
            // Cut by the snapshot length: a gap.
            return false;
        }
        let side = usize::from(dir == Direction::ToClient);
        let next = Seq(self.plain.next[side]);
        let (start, end) = (Seq(seq), Seq(seq).plus(wire));
        if end <= next {
            // A retransmission of bytes already read.
            return true;
        }
        if start > next {
            // Out of order: the reassembler would hold it.
            return false;
        }
        let fresh = &payload[start.distance_to(next) as usize..];
        let Some(queries) = self.shape.whole_quiet_messages(dir, fresh) else {
            return false;
        };
        let Some(total) = self.plain.queries.checked_add(queries) else {
            return false;
        };
        self.plain.queries = total;
        self.plain.next[side] = end.0;
        true
    }

    /// The conversation as it was frozen, with the closes seen since.
    pub fn thaw(&self, base: u64) -> Conversation {
        let mut conv = (*self.shape).clone();
        let f = &self.frames;
        conv.frames_mut(&mut |v| *v = decode(f[CLOSE_SLOTS + *v as usize], base));
        let close = |c: u32| (c != 0).then(|| decode(c, base));
        conv.client_closed = close(f[CLIENT_CLOSED]);
        conv.server_closed = close(f[SERVER_CLOSED]);
        if f[FLAGS] & PLAIN != 0 {
            conv.pg.queries = self.plain.queries;
        }
        conv.reset_by = close(f[RESET]).map(|frame| {
            let dir = if f[FLAGS] & RESET_BY_SERVER != 0 {
                Direction::ToClient
            } else {
                Direction::ToServer
            };
            (dir, frame)
        });
        conv
    }

    /// [`Conversation::closed`] for a frozen conversation; false when the
    /// frame does not fit (the session thaws to record it).
    pub fn closed(&mut self, dir: Direction, frame: u64, reset: bool, base: u64) -> bool {
        let Some(c) = code(frame, base) else {
            return false;
        };
        let f = &mut self.frames;
        let slot = match dir {
            Direction::ToServer => CLIENT_CLOSED,
            Direction::ToClient => SERVER_CLOSED,
        };
        if f[slot] == 0 {
            f[slot] = c;
        }
        if reset && f[RESET] == 0 {
            f[RESET] = c;
            if dir == Direction::ToClient {
                f[FLAGS] |= RESET_BY_SERVER;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Evidence;

    /// A settled-looking conversation naming frames from `base` on.
    fn conversation(base: u64) -> Conversation {
        let mut c = Conversation::default();
        c.ssl_request_frame = Some(base);
        c.tls.client_hello_frame = base + 2;
        c.tls.server_hello_frame = base + 3;
        c.tls.certificate_frame = base + 3;
        c.evidence = ["SSLRequest", "'S'", "ClientHello", "ServerHello"]
            .iter()
            .zip([0, 1, 2, 3])
            .map(|(what, d)| Evidence {
                frame: base + d,
                what: (*what).into(),
            })
            .collect();
        c.server_closed = Some(base + 9);
        c
    }

    #[test]
    fn a_thawed_conversation_equals_the_frozen_one() {
        let mut shapes = Shapes::default();
        for base in [1, 7, 1 << 40, 0] {
            let original = conversation(base);
            let f = Frozen::freeze(Box::new(original.clone()), base, &mut shapes, None).unwrap();
            assert_eq!(f.thaw(base), original, "base {base}");
            if base != 0 {
                // Same shape at every base past frame 0 (where the unset
                // frames coincide with the first): one shared copy.
                assert_eq!(shapes.len(), 1);
            }
        }
    }

    /// Two sessions that differ only in their random session ids.
    #[test]
    fn random_session_ids_share_a_shape() {
        use crate::tls::{ClientHelloInfo, ServerHelloInfo};
        use std::sync::Arc;
        let mut shapes = Shapes::default();
        let with_ids = |client: &[u8], server: &[u8]| {
            let mut c = conversation(1);
            c.tls.client_hello = Some(Arc::new(ClientHelloInfo::default()));
            c.tls.client_session_id = SessionId::new(client);
            c.tls.server_hello = Some(Arc::new(ServerHelloInfo::default()));
            c.tls.server_session_id = SessionId::new(server);
            c
        };
        let thawed = |c: Conversation, shapes: &mut Shapes| {
            let t = Frozen::freeze(Box::new(c), 1, shapes, None)
                .unwrap()
                .thaw(1);
            let ch = t.tls.client_session_id;
            let sh = t.tls.server_session_id;
            (ch.len(), sh.len(), ch == sh)
        };
        // TLS 1.3: the server echoes the client's 32 random bytes.
        assert_eq!(
            thawed(with_ids(&[7; 32], &[7; 32]), &mut shapes),
            (32, 32, true)
        );
        assert_eq!(
            thawed(with_ids(&[9; 32], &[9; 32]), &mut shapes),
            (32, 32, true)
        );
        assert_eq!(shapes.len(), 1);
        // TLS 1.2 without resumption: the server picks its own id.
        assert_eq!(thawed(with_ids(&[], &[5; 32]), &mut shapes), (0, 32, false));
        assert_eq!(
            thawed(with_ids(&[3; 32], &[4; 32]), &mut shapes),
            (32, 32, false)
        );
        assert_eq!(thawed(with_ids(&[], &[]), &mut shapes), (0, 0, true));
    }

    #[test]
    fn closes_after_freezing_are_kept() {
        let mut shapes = Shapes::default();
        let base = 100;
        let mut original = conversation(base);
        let mut f = Frozen::freeze(Box::new(original.clone()), base, &mut shapes, None).unwrap();
        for (dir, frame, reset) in [
            (Direction::ToServer, 120, false),
            (Direction::ToClient, 121, true),
            (Direction::ToServer, 122, true),
        ] {
            assert!(f.closed(dir, frame, reset, base));
            original.closed(dir, frame, reset);
        }
        assert_eq!(f.thaw(base), original);
        assert_eq!(original.reset_by, Some((Direction::ToClient, 121)));
        // A close too far from the first frame is refused, not cut.
        assert!(!f.closed(Direction::ToClient, base + (1 << 33), false, base));
    }

    #[test]
    fn frames_too_far_apart_or_too_many_stay_unfrozen() {
        let mut shapes = Shapes::default();
        let mut far = conversation(5);
        far.tls.server_hello_frame = 5 + (1 << 32);
        let mut many = conversation(5);
        // 0, 5..=8, and these: one more than the slots hold.
        let more = FRAME_SLOTS - CLOSE_SLOTS - 5 + 1;
        many.pg.auth_frames = (100..100 + more as u64).collect();
        for c in [far, many] {
            let back = Frozen::freeze(Box::new(c.clone()), 5, &mut shapes, None).unwrap_err();
            assert_eq!(*back, c);
        }
        assert!(shapes.is_empty());
        let mut fits = conversation(5);
        fits.pg.auth_frames = (100..100 + more as u64 - 1).collect();
        let f = Frozen::freeze(Box::new(fits.clone()), 5, &mut shapes, None).unwrap();
        assert_eq!(f.thaw(5), fits);
    }

    #[test]
    fn unused_shapes_make_room() {
        let mut shapes = Shapes::default();
        let mut kept = Vec::new();
        for i in 0..MAX_SHAPES + 10 {
            let mut c = conversation(1);
            c.evidence[0].what = format!("shape {i}").into();
            let f = Frozen::freeze(Box::new(c), 1, &mut shapes, None).unwrap();
            if i % 2 == 0 {
                kept.push(f);
            }
        }
        // The sweep at the bound dropped the shapes no session kept.
        assert!(shapes.len() <= MAX_SHAPES * 3 / 4, "{}", shapes.len());
        // Every kept session still thaws to its own shape.
        for (n, f) in kept.iter().enumerate() {
            assert_eq!(f.thaw(1).evidence[0].what, format!("shape {}", 2 * n));
        }
    }
}
