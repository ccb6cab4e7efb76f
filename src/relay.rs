//! One regular file read by several workers at once (`pgtls read -j N`),
//! each following the flows of its shard.
//!
//! The file is cut into pieces of [`PIECE`] bytes. Worker `w` of `n` reads
//! pieces `w`, `w + n`, `w + 2n`… itself (`pread`), while the others read
//! theirs. Finding where records begin can only go front to back, so the
//! reader's state, the [`Framer`], goes from worker to worker: the worker
//! that holds it frames its piece (every record, and the worker the ends of
//! each packet name), passes it on and sends the framed piece to every
//! worker. Each worker then follows its own packets of every piece, in
//! order, and passes the time of the others' packets (lingers end by
//! capture time, at the frame one thread reading every packet ends them
//! at). Each byte of the file is copied out
//! of the page cache once and each record framed once, rather than once per
//! worker. The framer decodes the TCP segments it can (IPv4, the fast
//! decode's link types) where their bytes were just copied, and hands each
//! worker its segments decoded; a worker reads the packet's bytes, which
//! lie in the cache of the core that read the piece, only for a payload
//! its session parses (other packets go as they are, to be decoded by
//! their worker).
//!
//! A worker frames as soon as the framer reaches it, before following the
//! pieces it has waiting, so that the next worker can frame in turn; with
//! [`BEHIND`] pieces waiting it follows first, which holds every worker
//! back: no worker gets more than a few pieces ahead of another, and the
//! pieces in flight stay few. Reading its next piece is what a worker does
//! while it waits for the others. The worker that lets go of a piece last
//! reads into it again.
//!
//! Measured against every worker reading and framing the whole file (two
//! workers): the million mixed short sessions 3.61 → 3.09 s, a pgbench
//! capture of bulk TLS traffic 140 → 131 ms, 2M UDP datagrams 60 → 46 ms.

use crate::analyze::{Analyzer, Framed, Route};
use crate::capture::file::{CaptureError, CaptureReader};
use crate::capture::{LinkType, Packet};
use crate::decode::{Segment, TcpFlags};
use crate::flow::{pair_hash_v4, Endpoint, PortSet};
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};

/// Bytes of the file in one piece: as the single reader's reads, small
/// enough to be parsed while still in the cache they were copied into.
pub const PIECE: usize = 1 << 18;

/// Room before a piece's bytes for the start of a record that the previous
/// piece's end cut: a 64 KB packet (as captured on loopback) with its
/// headers. A longer record is joined with the piece in a buffer of its
/// own (a copy of the piece).
const ROOM: usize = 72 * 1024;

/// Pieces kept to read into again, per worker (each ROOM + PIECE bytes and
/// its packets' places: with 8 kept and 256 KB of room, the million TLS
/// sessions peaked at 41 MB with two threads instead of 19).
const SPARE_PIECES: usize = 3;

/// A packet of a framed piece, for the worker it is routed to: 28 bytes
/// (the framer writes one for nearly every packet and the worker it routes
/// to reads it from the framer's cache, so each byte of it moves between
/// cores). Either a TCP segment the framer decoded ([`Framed::Segment`]:
/// IPv4 ends, so that it fits) or the packet as it is.
#[derive(Clone, Copy)]
struct Slot {
    /// Its place among the piece's packets (the low [`INDEX_BITS`]), a
    /// decoded segment's TCP flags (the 4 bits above), [`DECODED`] and
    /// [`EVERY`].
    index: u32,
    /// Where its bytes lie in the piece's buffer; a decoded segment's
    /// payload.
    at: u32,
    /// A packet: its captured length, its length on the wire, its link type
    /// and its flow's hash ([`Route::Flow`]) in two halves (so the slot
    /// stays 4-byte aligned: 28 bytes and not 32).
    ///
    /// A decoded segment: its two addresses ([`Endpoint::v4_word`]), its
    /// ports (source in the high half), its sequence number, and its
    /// payload's captured and wire lengths (16 bits each: an IPv4 packet is
    /// shorter than 64 KB). Its flow's hash is made again from these: five
    /// instructions, against four bytes more a slot.
    words: [u32; 5],
}

const _: () = assert!(std::mem::size_of::<Slot>() == 28, "a slot stays 28 bytes");

/// [`Slot::index`]'s flag of a packet every worker gets.
const EVERY: u32 = 1 << 31;
/// [`Slot::index`]'s flag of a decoded segment.
const DECODED: u32 = 1 << 30;
/// Bits of [`Slot::index`] that hold the place: a piece holds fewer
/// packets than that ([`MAX_PIECE`], a record is 16 bytes at least).
const INDEX_BITS: u32 = 26;
const INDEX: u32 = (1 << INDEX_BITS) - 1;
/// The longest piece ([`workers`]): its records fit [`INDEX_BITS`].
const MAX_PIECE: usize = 1 << 30;

impl Slot {
    /// Packet `index` of the piece as it is, `at` its place in the buffer.
    fn packet(index: u32, at: u32, p: &Packet<'_>, route: Route) -> Self {
        let (flag, id) = match route {
            Route::Flow(_, id) => (0, id),
            _ => (EVERY, 0),
        };
        Slot {
            index: index | flag,
            at,
            words: [
                p.data.len() as u32,
                p.orig_len,
                p.link.0,
                id as u32,
                (id >> 32) as u32,
            ],
        }
    }

    /// Packet `index` of the piece as a decoded IPv4 segment, its payload
    /// at `at` in the buffer.
    fn segment(index: u32, at: u32, seg: &Segment<'_>) -> Self {
        let f = seg.flags;
        let flags = u32::from(f.syn)
            | u32::from(f.ack) << 1
            | u32::from(f.fin) << 2
            | u32::from(f.rst) << 3;
        let word = |e: &Endpoint| e.v4_word().unwrap_or_default();
        Slot {
            index: index | flags << INDEX_BITS | DECODED,
            at,
            words: [
                word(&seg.src),
                word(&seg.dst),
                u32::from(seg.src.port()) << 16 | u32::from(seg.dst.port()),
                seg.seq,
                (seg.payload.len() as u32) << 16 | seg.wire_len,
            ],
        }
    }

    fn index(&self) -> usize {
        (self.index & INDEX) as usize
    }

    fn is_segment(&self) -> bool {
        self.index & DECODED != 0
    }

    /// The packet in `buf` of a slot made by [`Slot::packet`], frame `frame`
    /// captured at `ts`; and its route for `worker`.
    fn packet_in<'a>(
        &self,
        buf: &'a [u8],
        frame: u64,
        ts: i64,
        worker: usize,
    ) -> (Packet<'a>, Route) {
        let [len, orig_len, link, lo, hi] = self.words;
        let at = self.at as usize;
        let p = Packet {
            frame,
            ts_nanos: ts,
            link: LinkType(link),
            data: &buf[at..at + len as usize],
            orig_len,
        };
        let route = if self.index & EVERY != 0 {
            Route::Every
        } else {
            Route::Flow(worker as u32, u64::from(lo) | u64::from(hi) << 32)
        };
        (p, route)
    }

    /// The segment of a slot made by [`Slot::segment`], its payload in
    /// `buf`; and its flow's hash.
    fn segment_in<'a>(&self, buf: &'a [u8]) -> (Segment<'a>, u64) {
        let [a, b, ports, seq, lens] = self.words;
        let (pa, pb) = ((ports >> 16) as u16, ports as u16);
        let f = self.index >> INDEX_BITS;
        let at = self.at as usize;
        let seg = Segment {
            src: Endpoint::from_v4_word(a, pa),
            dst: Endpoint::from_v4_word(b, pb),
            seq,
            // Nothing past the decode reads it.
            ack: 0,
            flags: TcpFlags {
                syn: f & 1 != 0,
                ack: f & 2 != 0,
                fin: f & 4 != 0,
                rst: f & 8 != 0,
            },
            payload: &buf[at..at + (lens >> 16) as usize],
            wire_len: lens & 0xffff,
        };
        (seg, pair_hash_v4(a ^ b, pa ^ pb))
    }
}

/// A piece of the file: read and framed by one worker, followed by every
/// worker.
pub struct Piece {
    /// [`ROOM`] bytes, then the piece as read (until framed: then the
    /// buffer its packets lie in).
    buf: Vec<u8>,
    len: usize,
    /// The file ends in this piece.
    last: bool,
    /// Reading it failed: reported when the framer reaches it.
    error: Option<io::Error>,
    /// Frame number of its first packet.
    first_frame: u64,
    /// Capture time of each packet framed in it.
    times: Vec<i64>,
    latest: i64,
    /// Each worker's packets.
    shares: Vec<Vec<Slot>>,
}

impl Piece {
    fn new(workers: usize) -> Self {
        Piece {
            buf: Vec::new(),
            len: 0,
            last: false,
            error: None,
            first_frame: 0,
            times: Vec::new(),
            latest: i64::MIN,
            shares: (0..workers).map(|_| Vec::new()).collect(),
        }
    }

    /// Reads `bytes` of the file from `offset` into the piece.
    fn read(&mut self, file: &File, offset: u64, bytes: usize) {
        if self.buf.capacity() > 2 * (ROOM + bytes) {
            // The buffer of a block longer than a piece: not kept.
            self.buf = Vec::new();
        }
        self.buf.resize(ROOM + bytes, 0);
        self.error = None;
        let mut got = 0;
        while got < bytes {
            match file.read_at(&mut self.buf[ROOM + got..ROOM + bytes], offset + got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    break;
                }
            }
        }
        self.len = got;
        self.last = got < bytes;
    }
}

/// The reader's state, handed from worker to worker: where the next record
/// begins, the interfaces, frame numbers, warnings.
pub struct Framer {
    reader: CaptureReader<io::Empty>,
    /// The start of a record cut by the last piece's end.
    carry: Vec<u8>,
}

impl Framer {
    /// Frames the packets of `piece` (already installed in the reader) and
    /// routes each to its worker; whether the file goes on after it, and
    /// the bytes of its packets.
    fn frame(
        &mut self,
        piece: &mut Piece,
        workers: u32,
        follows: Option<&PortSet>,
    ) -> Result<(bool, u64), CaptureError> {
        piece.first_frame = self.reader.frames() + 1;
        piece.times.clear();
        piece.latest = i64::MIN;
        piece.shares.iter_mut().for_each(Vec::clear);
        let base = self.reader.buffer().as_ptr() as usize;
        let mut index = 0u32;
        let mut bytes = 0;
        while self.reader.next_packets(|p| {
            bytes += p.data.len() as u64;
            debug_assert!(index <= INDEX);
            let at = |data: &[u8]| (data.as_ptr() as usize - base) as u32;
            match Analyzer::frame_route(p, workers, follows) {
                Framed::Segment(shard, _, seg) => {
                    let slot = Slot::segment(index, at(seg.payload), &seg);
                    piece.shares[shard as usize].push(slot);
                }
                Framed::Packet(route @ Route::Flow(shard, _)) => {
                    let slot = Slot::packet(index, at(p.data), p, route);
                    piece.shares[shard as usize].push(slot);
                }
                Framed::Packet(Route::Every) => {
                    let slot = Slot::packet(index, at(p.data), p, Route::Every);
                    piece.shares.iter_mut().for_each(|s| s.push(slot));
                }
                Framed::Packet(Route::Nobody) => {}
            }
            piece.times.push(p.ts_nanos);
            piece.latest = piece.latest.max(p.ts_nanos);
            index += 1;
        })? {}
        piece.buf = self.reader.take_piece(&mut self.carry);
        Ok((self.reader.wants_next_piece(), bytes))
    }
}

/// What a worker hears from the others.
enum Note {
    /// The framer: frame the piece you read next.
    Turn(Box<Framer>),
    /// A framed piece: follow your packets in it.
    Framed(Arc<Piece>),
    /// The file ends: every piece has been sent.
    End,
    /// A worker is done with the file (every worker waits for the others
    /// before it starts the next file: one far ahead would pile up pieces
    /// of the next files for the others).
    Finished,
    /// Another worker stopped (an error, or the output went away).
    Abort,
}

/// One worker of a run in pieces, and how it reaches the others.
pub struct Worker {
    w: usize,
    /// Notes, each with the number of the file it is about.
    inbox: Receiver<(u64, Note)>,
    peers: Vec<Sender<(u64, Note)>>,
    /// The file being read: the first is 1.
    file: u64,
    /// Notes about the next file, from workers that went on to it first.
    early: VecDeque<(u64, Note)>,
    piece_bytes: usize,
    /// Pieces every worker is done with, to read into again: the worker
    /// that lets go of a piece last puts it here.
    spare: Arc<Mutex<Vec<Piece>>>,
    /// Bytes of the current file framed so far, by any worker.
    framed: Arc<AtomicU64>,
}

/// The workers of a run in pieces of `piece_bytes` (at least 64).
pub fn workers(n: usize, piece_bytes: usize) -> Vec<Worker> {
    let (peers, inboxes): (Vec<_>, Vec<_>) = (0..n).map(|_| channel()).unzip();
    let framed = Arc::new(AtomicU64::new(0));
    let spare = Arc::new(Mutex::new(Vec::new()));
    inboxes
        .into_iter()
        .enumerate()
        .map(|(w, inbox)| Worker {
            w,
            inbox,
            peers: peers.clone(),
            file: 0,
            early: VecDeque::new(),
            piece_bytes: piece_bytes.clamp(64, MAX_PIECE),
            spare: spare.clone(),
            framed: framed.clone(),
        })
        .collect()
}

/// Why a worker stopped reading a file.
#[derive(Debug)]
pub enum Stop {
    /// The file could not be opened, read or framed.
    Capture(CaptureError),
    /// The output went away, or another worker stopped.
    Output(io::Error),
}

/// What a worker reports while following a file.
pub trait Follower {
    /// Reports are ready in `a` (taken with [`Analyzer::take_retired`]):
    /// none of this worker's later sessions of the file leaves the table
    /// before frame `passed`.
    fn emit(&mut self, a: &mut Analyzer, passed: u64) -> io::Result<()>;
    /// This worker is about to wait for the others, having followed every
    /// packet before frame `passed`.
    fn waiting(&mut self, passed: u64) -> io::Result<()>;
    /// A warning about the file.
    fn warn(&mut self, message: String);
    /// Bytes of the file framed so far (for a progress display).
    fn progress(&mut self, a: &Analyzer, framed: u64);
}

/// Where a worker is in a file.
#[derive(Default)]
struct Place {
    /// The framer, when it is this worker's turn (`Some(None)`: the file's
    /// first piece, no framer yet).
    turn: Option<Option<Box<Framer>>>,
    /// Framed pieces to follow, in the file's order.
    pending: VecDeque<Arc<Piece>>,
    /// Every piece of the file has been framed.
    ended: bool,
    /// Workers done with the file, this one included.
    finished: usize,
}

impl Place {
    fn take(&mut self, note: Note) -> Result<(), Stop> {
        match note {
            Note::Turn(f) => self.turn = Some(Some(f)),
            Note::Framed(piece) => self.pending.push_back(piece),
            Note::End => self.ended = true,
            Note::Finished => self.finished += 1,
            Note::Abort => return Err(Stop::Output(io::Error::other("stopped"))),
        }
        Ok(())
    }
}

/// Framed pieces a worker may have waiting before it frames again.
const BEHIND: usize = 3;

impl Worker {
    /// Reads `path` with the other workers (each calls this for the same
    /// file), following this worker's shard in `a`.
    pub fn read_file(
        &mut self,
        a: &mut Analyzer,
        path: &std::path::Path,
        out: &mut dyn Follower,
    ) -> Result<(), Stop> {
        let result = self.follow_file(a, path, out);
        if result.is_err() {
            // The others may be waiting for this worker's pieces.
            self.tell_others(|| Note::Abort);
        }
        result
    }

    fn follow_file(
        &mut self,
        a: &mut Analyzer,
        path: &std::path::Path,
        out: &mut dyn Follower,
    ) -> Result<(), Stop> {
        self.file += 1;
        let file = File::open(path).map_err(|e| Stop::Capture(e.into()))?;
        let n = self.peers.len();
        if self.w == 0 {
            self.framed.store(0, Ordering::Relaxed);
        }
        // The next piece this worker reads, and that piece once read.
        let mut index = self.w as u64;
        let mut ready: Option<Piece> = None;
        let mut at = Place {
            turn: (self.w == 0).then_some(None),
            finished: 1,
            ..Place::default()
        };
        // Frames before which this worker has followed every packet.
        let mut passed = 1;
        loop {
            while let Some(note) = self.note(false)? {
                at.take(note)?;
            }
            // Framing first: the next worker may be waiting for the framer.
            // A worker this far behind follows first, which holds the
            // others back rather than letting pieces pile up.
            if at.turn.is_some() && at.pending.len() < BEHIND {
                let framer = at.turn.take().expect("checked");
                let piece = match ready.take() {
                    Some(piece) => piece,
                    None => self.read_piece(&file, index),
                };
                let (piece, more) = self.take_turn(a, framer, piece, n, out)?;
                at.pending.push_back(piece);
                index += n as u64;
                at.ended |= !more;
                continue;
            }
            if let Some(piece) = at.pending.pop_front() {
                passed = self.follow(a, &piece, out)?;
                self.keep(piece);
                out.progress(a, self.framed.load(Ordering::Relaxed));
                continue;
            }
            if at.ended {
                break;
            }
            // Waiting for the others: read this worker's next piece now.
            if ready.is_none() {
                ready = Some(self.read_piece(&file, index));
                continue;
            }
            out.waiting(passed).map_err(Stop::Output)?;
            if let Some(note) = self.note(true)? {
                at.take(note)?;
            }
        }
        // A piece read past the end of the file.
        if let Some(piece) = ready {
            self.put_back(piece);
        }
        // Judge what is still open in batches, handing out reports in between.
        while a.end_source_some(crate::read::END_BATCH) {
            out.emit(a, u64::MAX).map_err(Stop::Output)?;
        }
        out.emit(a, u64::MAX).map_err(Stop::Output)?;
        self.tell_others(|| Note::Finished);
        while at.finished < n {
            if let Some(note) = self.note(true)? {
                at.take(note)?;
            }
        }
        Ok(())
    }

    /// The next note from the others about this file; `wait`: until one
    /// comes, else `None` if there is none now. A worker that has ended a
    /// file may hear about the next one before another worker's end of
    /// this one: such notes wait their file. (Spinning 50 µs before
    /// sleeping measured slower: the writer thread needs the core.)
    fn note(&mut self, wait: bool) -> Result<Option<Note>, Stop> {
        let gone = || Stop::Output(io::Error::other("workers gone"));
        if let Some(i) = self.early.iter().position(|(f, _)| *f == self.file) {
            return Ok(self.early.remove(i).map(|(_, note)| note));
        }
        loop {
            let (file, note) = if wait {
                self.inbox.recv().map_err(|_| gone())?
            } else {
                match self.inbox.try_recv() {
                    Ok(note) => note,
                    Err(TryRecvError::Empty) => return Ok(None),
                    Err(TryRecvError::Disconnected) => return Err(gone()),
                }
            };
            if file == self.file || matches!(note, Note::Abort) {
                return Ok(Some(note));
            }
            self.early.push_back((file, note));
        }
    }

    /// Sends every other worker a note about this file (one that stopped
    /// no longer hears: nothing to tell it).
    fn tell_others(&self, note: impl Fn() -> Note) {
        for (w, peer) in self.peers.iter().enumerate() {
            if w != self.w {
                let _ = peer.send((self.file, note()));
            }
        }
    }

    /// Frames `piece` with the framer (`None`: the file's first piece),
    /// sends it to the other workers and the framer on; the piece, and
    /// whether the file goes on after it.
    fn take_turn(
        &mut self,
        a: &mut Analyzer,
        framer: Option<Box<Framer>>,
        mut piece: Piece,
        n: usize,
        out: &mut dyn Follower,
    ) -> Result<(Arc<Piece>, bool), Stop> {
        if let Some(e) = piece.error.take() {
            return Err(Stop::Capture(e.into()));
        }
        let buf = std::mem::take(&mut piece.buf);
        let mut framer = match framer {
            None => Box::new(Framer {
                reader: CaptureReader::in_pieces(buf, ROOM, piece.len, piece.last)
                    .map_err(Stop::Capture)?,
                carry: Vec::new(),
            }),
            Some(mut f) => {
                let Framer { reader, carry } = &mut *f;
                if let Some(unused) = reader.next_piece(buf, ROOM, piece.len, piece.last, carry) {
                    let mut spare = Piece::new(n);
                    spare.buf = unused;
                    self.put_back(spare);
                }
                f
            }
        };
        let (more, bytes) = framer
            .frame(&mut piece, n as u32, a.follows())
            .map_err(Stop::Capture)?;
        // Packets and bytes are counted where they are framed.
        a.count_framed(piece.times.len() as u64, bytes);
        self.framed.store(framer.reader.offset(), Ordering::Relaxed);
        let piece = Arc::new(piece);
        self.tell_others(|| Note::Framed(piece.clone()));
        if more {
            let _ = self.peers[(self.w + 1) % n].send((self.file, Note::Turn(framer)));
        } else {
            for w in framer.reader.take_warnings() {
                out.warn(w);
            }
            self.tell_others(|| Note::End);
        }
        Ok((piece, more))
    }

    /// Follows this worker's packets of a framed piece; the first frame of
    /// the next piece.
    fn follow(
        &mut self,
        a: &mut Analyzer,
        piece: &Piece,
        out: &mut dyn Follower,
    ) -> Result<u64, Stop> {
        let first = piece.first_frame;
        let mut from = 0;
        let counts = self.w == 0;
        for s in &piece.shares[self.w] {
            let i = s.index();
            a.pass_time(first + from as u64, &piece.times[from..i], piece.latest);
            from = i + 1;
            let (frame, ts) = (first + i as u64, piece.times[i]);
            if s.is_segment() {
                let (seg, id) = s.segment_in(&piece.buf);
                a.routed_segment(frame, ts, seg, id);
            } else {
                let (p, route) = s.packet_in(&piece.buf, frame, ts, self.w);
                a.routed_packet(&p, route, counts);
            }
        }
        a.pass_time(first + from as u64, &piece.times[from..], piece.latest);
        let passed = first + piece.times.len() as u64;
        out.emit(a, passed).map_err(Stop::Output)?;
        Ok(passed)
    }

    /// Lets go of a piece this worker followed; the last worker to let go
    /// of it keeps it to read into again (each keeping its own, 9,054 of
    /// the 22,843 pieces of the million TLS sessions were new).
    fn keep(&mut self, piece: Arc<Piece>) {
        if let Some(piece) = Arc::into_inner(piece) {
            self.put_back(piece);
        }
    }

    fn put_back(&self, piece: Piece) {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < SPARE_PIECES * self.peers.len() {
            spare.push(piece);
        }
    }

    /// Reads piece `index` of the file.
    fn read_piece(&mut self, file: &File, index: u64) -> Piece {
        let n = self.peers.len();
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut piece = spare.unwrap_or_else(|| Piece::new(n));
        piece.read(file, index * self.piece_bytes as u64, self.piece_bytes);
        piece
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_fast;

    /// A worker reads back from a slot the segment or packet the framer
    /// put in it: every packet of the bundled captures, whole and cut by
    /// the snapshot length (payload shorter than on the wire), at a place
    /// in a buffer, to each of two workers.
    #[test]
    fn a_slot_gives_back_what_the_framer_put_in_it() {
        let (mut segments, mut packets) = (0, 0);
        let mut flags = [false; 4];
        for path in crate::testutil::bundled_captures() {
            let bytes = std::fs::read(&path).unwrap();
            let mut r = CaptureReader::new(&bytes[..]).unwrap();
            while let Some(p) = r.next_packet().unwrap() {
                for cut in [p.data.len(), p.data.len().saturating_sub(5)] {
                    // 100 bytes before the packet in the buffer.
                    let mut buf = vec![0xee; 100];
                    buf.extend_from_slice(&p.data[..cut]);
                    let q = Packet {
                        data: &buf[100..],
                        ..p
                    };
                    let what = || format!("{path:?} frame {} cut {cut}", p.frame);
                    let at = |data: &[u8]| (data.as_ptr() as usize - buf.as_ptr() as usize) as u32;
                    let index = (p.frame as u32) & INDEX;
                    match Analyzer::frame_route(&q, 2, None) {
                        Framed::Segment(_, id, seg) => {
                            let slot = Slot::segment(index, at(seg.payload), &seg);
                            assert!(slot.is_segment());
                            assert_eq!(slot.index(), index as usize);
                            let (back, back_id) = slot.segment_in(&buf);
                            let fast = decode_fast(&q).unwrap();
                            assert_eq!(back_id, id, "{}", what());
                            assert_eq!((back.src, back.dst), (fast.src, fast.dst), "{}", what());
                            assert_eq!(back.seq, fast.seq, "{}", what());
                            assert_eq!(back.flags, fast.flags, "{}", what());
                            let f = back.flags;
                            for (seen, set) in flags.iter_mut().zip([f.syn, f.ack, f.fin, f.rst]) {
                                *seen |= set;
                            }
                            assert_eq!(back.wire_len, fast.wire_len, "{}", what());
                            assert_eq!(back.payload.as_ptr(), fast.payload.as_ptr(), "{}", what());
                            assert_eq!(back.payload.len(), fast.payload.len(), "{}", what());
                            segments += 1;
                        }
                        Framed::Packet(route) => {
                            if route == Route::Nobody {
                                continue;
                            }
                            let slot = Slot::packet(index, at(q.data), &q, route);
                            assert!(!slot.is_segment());
                            assert_eq!(slot.index(), index as usize);
                            for w in 0..2 {
                                let (back, back_route) =
                                    slot.packet_in(&buf, q.frame, q.ts_nanos, w);
                                assert_eq!(back.data.as_ptr(), q.data.as_ptr(), "{}", what());
                                assert_eq!(back.data.len(), q.data.len(), "{}", what());
                                assert_eq!(
                                    (back.orig_len, back.link),
                                    (q.orig_len, q.link),
                                    "{}",
                                    what()
                                );
                                assert_eq!(
                                    (back.frame, back.ts_nanos),
                                    (q.frame, q.ts_nanos),
                                    "{}",
                                    what()
                                );
                                match (route, back_route) {
                                    (Route::Flow(_, id), Route::Flow(to, back_id)) => {
                                        assert_eq!((to, back_id), (w as u32, id), "{}", what())
                                    }
                                    (Route::Every, Route::Every) => {}
                                    other => panic!("{other:?}: {}", what()),
                                }
                            }
                            packets += 1;
                        }
                    }
                }
            }
        }
        // Every TCP flag read back, and some packets handed on as they are.
        assert!(
            segments > 1_000 && packets > 10,
            "{segments} segments, {packets} packets"
        );
        assert_eq!(flags, [true; 4], "SYN, ACK, FIN, RST");
    }
}
