//! Rewrites of a capture that keep its TCP byte streams: another link layer,
//! other segment boundaries, reordering, duplicates, overlapping
//! retransmissions; and rewrites that lose bytes on purpose (snaplen, a late
//! start).

use super::packet::{link_header, Link, TcpPacket, TCP_FIN, TCP_PSH};
use super::pcapw::{Capture, Record};
use std::collections::HashMap;

/// xorshift64: a fixed seed gives the same "random" capture on every run.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

fn record_of(r: &Record, p: &TcpPacket) -> Record {
    let data = p.encode();
    Record {
        ts_sec: r.ts_sec,
        ts_frac: r.ts_frac,
        orig_len: data.len() as u32,
        data,
    }
}

/// Moves every IP packet into another link layer. Frames that carry no IP
/// are dropped (the loopback samples have none); the count is returned.
pub fn relink(cap: &Capture, link: Link) -> (Capture, usize) {
    let mut dropped = 0;
    let mut records = Vec::new();
    for r in &cap.records {
        let Some((hdr, ethertype)) = link_header(cap.link, &r.data) else {
            dropped += 1;
            continue;
        };
        let data = link.wrap(ethertype, &r.data[hdr..]);
        let orig_len = r.orig_len - hdr as u32 + (data.len() - (r.data.len() - hdr)) as u32;
        records.push(Record {
            data,
            orig_len,
            ..r.clone()
        });
    }
    (
        Capture {
            link: link.linktype(),
            records,
            ..cap.clone()
        },
        dropped,
    )
}

/// Cuts every segment's payload into pieces whose sizes `size` chooses
/// (called with the bytes left), keeping sequence numbers right. FIN and PSH
/// stay on the last piece only.
pub fn split_payloads(cap: &Capture, mut size: impl FnMut(usize) -> usize) -> Capture {
    let mut records = Vec::new();
    for r in &cap.records {
        let p = match TcpPacket::parse(cap.link, &r.data) {
            Some(p) if p.payload.len() > 1 => p,
            _ => {
                records.push(r.clone());
                continue;
            }
        };
        let mut off = 0;
        while off < p.payload.len() {
            let left = p.payload.len() - off;
            let n = size(left).clamp(1, left);
            let mut q = p.with_payload(&p.payload[off..off + n]);
            if off > 0 {
                // Later pieces never carry the SYN: their data starts after it.
                q.set_flags(q.flags() & !super::packet::TCP_SYN);
                q.set_seq(p.data_seq().wrapping_add(off as u32));
            }
            if off + n < p.payload.len() {
                q.set_flags(q.flags() & !(TCP_FIN | TCP_PSH));
            }
            records.push(record_of(r, &q));
            off += n;
        }
    }
    Capture {
        records,
        ..cap.clone()
    }
}

/// For each frame, the direction of the data it carries (`None`: no data,
/// or not TCP).
#[allow(clippy::type_complexity)]
pub fn data_directions(cap: &Capture) -> Vec<Option<(Vec<u8>, u16, Vec<u8>, u16)>> {
    cap.records
        .iter()
        .map(|r| {
            TcpPacket::parse(cap.link, &r.data)
                .filter(|p| !p.payload.is_empty())
                .map(|p| p.direction())
        })
        .collect()
}

/// Swaps each pair of adjacent frames that carry data in the same direction
/// of the same flow. Returns the capture and the number of swaps.
pub fn swap_adjacent_same_direction(cap: &Capture) -> (Capture, usize) {
    let dirs = data_directions(cap);
    let mut records = cap.records.clone();
    let mut swaps = 0;
    let mut i = 0;
    while i + 1 < records.len() {
        if dirs[i].is_some() && dirs[i] == dirs[i + 1] {
            records.swap(i, i + 1);
            swaps += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    (
        Capture {
            records,
            ..cap.clone()
        },
        swaps,
    )
}

/// Every frame that carries TCP payload appears twice in a row.
pub fn duplicate_data(cap: &Capture) -> (Capture, usize) {
    let mut records = Vec::new();
    let mut dups = 0;
    for r in &cap.records {
        records.push(r.clone());
        if TcpPacket::parse(cap.link, &r.data).is_some_and(|p| !p.payload.is_empty()) {
            records.push(r.clone());
            dups += 1;
        }
    }
    (
        Capture {
            records,
            ..cap.clone()
        },
        dups,
    )
}

/// In each direction of each flow that has two consecutive data segments A
/// and B (B starting where A ends), picks one such pair at random and puts,
/// just before B, a retransmission of the same bytes that starts inside A
/// and ends inside B: its head repeats delivered bytes, its tail is new and
/// B then overlaps it. Returns the capture and the number inserted.
pub fn overlapping_retransmissions(cap: &Capture, rng: &mut XorShift) -> (Capture, usize) {
    let parsed: Vec<Option<TcpPacket>> = cap
        .records
        .iter()
        .map(|r| TcpPacket::parse(cap.link, &r.data).filter(|p| !p.payload.is_empty()))
        .collect();
    // Data segments of each direction, in capture order.
    let mut by_dir: HashMap<_, Vec<usize>> = HashMap::new();
    let mut order = Vec::new();
    for (i, p) in parsed.iter().enumerate() {
        if let Some(p) = p {
            let d = p.direction();
            if !by_dir.contains_key(&d) {
                order.push(d.clone());
            }
            by_dir.entry(d).or_default().push(i);
        }
    }
    // index of B -> retransmission to insert before it
    let mut inserts: HashMap<usize, Record> = HashMap::new();
    for d in order {
        let idx = &by_dir[&d];
        let pairs: Vec<(usize, usize)> = idx
            .windows(2)
            .map(|w| (w[0], w[1]))
            .filter(|&(a, b)| {
                let (pa, pb) = (parsed[a].as_ref().unwrap(), parsed[b].as_ref().unwrap());
                pa.data_seq().wrapping_add(pa.payload.len() as u32) == pb.data_seq()
            })
            .collect();
        if pairs.is_empty() {
            continue;
        }
        let (a, b) = pairs[rng.range(0, pairs.len() - 1)];
        let (pa, pb) = (parsed[a].as_ref().unwrap(), parsed[b].as_ref().unwrap());
        let from = rng.range(0, pa.payload.len() - 1);
        let to = rng.range(1, pb.payload.len());
        let mut bytes = pa.payload[from..].to_vec();
        bytes.extend_from_slice(&pb.payload[..to]);
        // B's headers (ports, ACK, flags without FIN), A's sequence space.
        let mut r = pb.with_payload(&bytes);
        r.set_flags(pb.flags() & !TCP_FIN);
        r.set_seq(pa.data_seq().wrapping_add(from as u32));
        inserts.insert(b, record_of(&cap.records[b], &r));
    }
    let n = inserts.len();
    let mut records = Vec::new();
    for (i, r) in cap.records.iter().enumerate() {
        if let Some(x) = inserts.remove(&i) {
            records.push(x);
        }
        records.push(r.clone());
    }
    (
        Capture {
            records,
            ..cap.clone()
        },
        n,
    )
}

/// Cuts every frame to `snaplen` bytes, keeping its length on the wire.
pub fn snap(cap: &Capture, snaplen: usize) -> Capture {
    let records = cap
        .records
        .iter()
        .map(|r| Record {
            data: r.data[..r.data.len().min(snaplen)].to_vec(),
            ..r.clone()
        })
        .collect();
    Capture {
        snaplen: snaplen as u32,
        records,
        ..cap.clone()
    }
}

/// Drops every frame before the first TCP segment for which `start` holds;
/// `None` if none does.
pub fn start_at(cap: &Capture, mut start: impl FnMut(&TcpPacket) -> bool) -> Option<Capture> {
    let first = cap.records.iter().position(|r| {
        TcpPacket::parse(cap.link, &r.data)
            .as_ref()
            .is_some_and(&mut start)
    })?;
    Some(Capture {
        records: cap.records[first..].to_vec(),
        ..cap.clone()
    })
}

/// Moves each FIN that travels alone onto the data segment before it in the
/// same direction, when that segment ends where the FIN is (the usual
/// "last data + FIN" segment). Returns the capture and the number merged.
pub fn fin_on_last_data(cap: &Capture) -> (Capture, usize) {
    let mut records: Vec<Record> = cap.records.clone();
    let mut remove = Vec::new();
    for i in 0..records.len() {
        let Some(fin) = TcpPacket::parse(cap.link, &records[i].data) else {
            continue;
        };
        if fin.flags() & TCP_FIN == 0 || !fin.payload.is_empty() {
            continue;
        }
        let dir = fin.direction();
        let prev = (0..i).rev().find_map(|j| {
            TcpPacket::parse(cap.link, &records[j].data)
                .filter(|p| p.direction() == dir && !p.payload.is_empty())
                .map(|p| (j, p))
        });
        if let Some((j, mut p)) = prev {
            if p.data_seq().wrapping_add(p.payload.len() as u32) == fin.seq() {
                p.set_flags(p.flags() | TCP_FIN);
                records[j] = record_of(&records[j], &p);
                remove.push(i);
            }
        }
    }
    let n = remove.len();
    for i in remove.into_iter().rev() {
        records.remove(i);
    }
    (
        Capture {
            records,
            ..cap.clone()
        },
        n,
    )
}
