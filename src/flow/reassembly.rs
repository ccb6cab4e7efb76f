//! Per-direction TCP reassembly with named bounds.
//!
//! Segments are delivered in sequence order as [`Chunk`]s; retransmitted and
//! overlapping bytes are delivered once (first copy wins); segments that
//! arrive early wait in a bounded queue; bytes the capture never saw (lost
//! segments, a snapshot length that cut the payload) become [`Chunk::Gap`]s
//! so the consumer knows its stream has a hole.

use super::seq::Seq;

/// Segments that may wait out of order per direction before pgtls gives up
/// on the hole before them and reports a gap.
pub const MAX_QUEUED_SEGMENTS: usize = 64;
/// Bytes that may wait out of order per direction.
pub const MAX_QUEUED_BYTES: usize = 256 * 1024;

/// Bytes delivered to the consumer, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    Data {
        bytes: &'a [u8],
        frame: u64,
    },
    /// `len` bytes of the stream are missing from the capture.
    Gap {
        len: u64,
        frame: u64,
    },
}

#[derive(Debug)]
struct Queued {
    seq: Seq,
    data: Vec<u8>,
    /// Payload bytes on the wire after `data` that the capture cut off.
    missing_tail: u32,
    frame: u64,
}

impl Queued {
    fn end(&self) -> Seq {
        self.seq
            .plus(self.data.len() as u32)
            .plus(self.missing_tail)
    }
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Reassembler {
    next: Option<Seq>,
    queue: Vec<Queued>,
    queued_bytes: usize,
    /// The stream started without its SYN: the first bytes seen may be in
    /// the middle of a message.
    pub midstream: bool,
    pub gaps: u32,
    pub gap_bytes: u64,
    pub retransmitted_bytes: u64,
}

impl Reassembler {
    /// Feeds one segment; in-order bytes are passed to `sink`.
    pub fn segment(
        &mut self,
        seq: u32,
        syn: bool,
        payload: &[u8],
        wire_len: u32,
        frame: u64,
        sink: &mut dyn FnMut(Chunk<'_>),
    ) {
        let mut seq = Seq(seq);
        if syn {
            seq = seq.plus(1);
            if self.next.is_none() {
                self.next = Some(seq);
            }
        }
        let wire_len = wire_len.max(payload.len() as u32);
        if wire_len == 0 {
            return;
        }
        let next = match self.next {
            Some(n) => n,
            None => {
                self.midstream = true;
                self.next = Some(seq);
                seq
            }
        };
        let end = seq.plus(wire_len);
        if end <= next {
            self.retransmitted_bytes += u64::from(wire_len);
            return;
        }
        if seq > next || !self.queue.is_empty() {
            // Out of order, or in order but overlapping what waits in the
            // queue: the queue keeps the first copy of every byte.
            self.enqueue(seq, payload, wire_len, frame, sink);
            self.drain_queue(sink);
            return;
        }
        // Trim what was already delivered.
        let skip = next.distance_to(seq).unsigned_abs() as usize;
        self.retransmitted_bytes += skip as u64;
        let captured = payload.get(skip..).unwrap_or(&[]);
        let missing_tail = (wire_len as usize - skip - captured.len()) as u32;
        // Nothing waits in the queue (checked above): nothing to drain.
        self.deliver(captured, missing_tail, frame, sink);
    }

    fn deliver(
        &mut self,
        bytes: &[u8],
        missing_tail: u32,
        frame: u64,
        sink: &mut dyn FnMut(Chunk<'_>),
    ) {
        if !bytes.is_empty() {
            sink(Chunk::Data { bytes, frame });
        }
        if missing_tail > 0 {
            self.gap(u64::from(missing_tail), frame, sink);
        }
        if let Some(n) = self.next.as_mut() {
            *n = n.plus(bytes.len() as u32).plus(missing_tail);
        }
    }

    fn gap(&mut self, len: u64, frame: u64, sink: &mut dyn FnMut(Chunk<'_>)) {
        self.gaps += 1;
        self.gap_bytes += len;
        sink(Chunk::Gap { len, frame });
    }

    fn enqueue(
        &mut self,
        seq: Seq,
        payload: &[u8],
        wire_len: u32,
        frame: u64,
        sink: &mut dyn FnMut(Chunk<'_>),
    ) {
        // First copy wins: keep only the parts of this segment that no queued
        // segment covers already.
        let end = seq.plus(wire_len);
        let mut pieces = vec![(seq, end)];
        for q in &self.queue {
            let (qs, qe) = (q.seq, q.end());
            pieces = pieces
                .into_iter()
                .flat_map(|(a, b)| {
                    let mut out = Vec::with_capacity(2);
                    if qe <= a || b <= qs {
                        out.push((a, b));
                    } else {
                        if a < qs {
                            out.push((a, qs));
                        }
                        if qe < b {
                            out.push((qe, b));
                        }
                    }
                    out
                })
                .collect();
        }
        let covered = u64::from(wire_len)
            - pieces
                .iter()
                .map(|(a, b)| a.distance_to(*b) as u64)
                .sum::<u64>();
        self.retransmitted_bytes += covered;
        for (a, b) in pieces {
            // A piece that starts at or before the next expected byte is
            // delivered right after insertion: it never counts against the bounds.
            let deliverable = self.next.is_some_and(|n| a <= n);
            while !deliverable
                && (self.queue.len() >= MAX_QUEUED_SEGMENTS
                    || self.queued_bytes + payload.len() > MAX_QUEUED_BYTES)
            {
                if self.queue.is_empty() {
                    break;
                }
                self.skip_to_first_queued(sink);
            }
            let from = seq.distance_to(a) as usize;
            let to = seq.distance_to(b) as usize;
            let data = payload.get(from..to.min(payload.len())).unwrap_or(&[]);
            let missing_tail = (to - from - data.len()) as u32;
            self.queued_bytes += data.len();
            let pos = self
                .queue
                .iter()
                .position(|q| q.seq > a)
                .unwrap_or(self.queue.len());
            self.queue.insert(
                pos,
                Queued {
                    seq: a,
                    data: data.to_vec(),
                    missing_tail,
                    frame,
                },
            );
        }
        if let Some(next) = self.next {
            if self.queue.first().is_some_and(|q| q.seq <= next) {
                self.drain_queue(sink);
            }
        }
    }

    /// Declares the hole before the first queued segment lost and delivers
    /// what follows it.
    fn skip_to_first_queued(&mut self, sink: &mut dyn FnMut(Chunk<'_>)) {
        let (Some(next), Some((first_seq, frame))) =
            (self.next, self.queue.first().map(|q| (q.seq, q.frame)))
        else {
            return;
        };
        if first_seq > next {
            let len = next.distance_to(first_seq) as u64;
            self.gap(len, frame, sink);
            self.next = Some(first_seq);
        }
        self.drain_queue(sink);
    }

    fn drain_queue(&mut self, sink: &mut dyn FnMut(Chunk<'_>)) {
        while let (Some(next), Some(first)) = (self.next, self.queue.first()) {
            if first.seq > next {
                break;
            }
            let q = self.queue.remove(0);
            self.queued_bytes -= q.data.len();
            if q.end() <= next {
                self.retransmitted_bytes += u64::from(q.end().0.wrapping_sub(q.seq.0));
                continue;
            }
            let skip = q.seq.distance_to(next) as usize;
            let captured = q.data.get(skip..).unwrap_or(&[]);
            let missing_tail = (q.end().0.wrapping_sub(next.0) as usize - captured.len()) as u32;
            self.deliver(captured, missing_tail, q.frame, sink);
        }
    }

    /// The connection ended (or the capture did): whatever waits behind a
    /// hole is delivered after a gap.
    pub fn flush(&mut self, sink: &mut dyn FnMut(Chunk<'_>)) {
        while !self.queue.is_empty() {
            self.skip_to_first_queued(sink);
        }
    }

    /// Drops what waits in the queue; counters stay.
    pub fn release(&mut self) {
        self.queue = Vec::new();
        self.queued_bytes = 0;
    }

    /// Where the stream goes on, when nothing waits, nothing was lost and
    /// it began at its SYN: all that a stream read on elsewhere
    /// ([`Reassembler::resuming_at`]) needs.
    pub fn resume_point(&self) -> Option<u32> {
        if !self.queue.is_empty() || self.midstream || self.gaps > 0 {
            return None;
        }
        self.next.map(|n| n.0)
    }

    /// A stream read up to `next` elsewhere, nothing waiting or lost.
    pub fn resuming_at(next: u32) -> Reassembler {
        Reassembler {
            next: Some(Seq(next)),
            ..Reassembler::default()
        }
    }

    /// Segments waiting for a hole to fill.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests;
