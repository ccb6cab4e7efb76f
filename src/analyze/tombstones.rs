//! Tombstones of retired flows: a flow's late segments (retransmitted FINs,
//! last ACKs) are absorbed for a while instead of starting a new session.
//!
//! A dense capture retires a session every few microseconds, and each one
//! leaves a tombstone that is written once, looked at only when a segment
//! of an unknown flow arrives, and dropped in the order it was written. So
//! the tombstones are a queue, oldest first, read and written at its two
//! ends, and a hash index of 4-byte queue positions finds a flow's latest
//! tombstone, built when a lookup needs it. A hash map from flow to time in
//! its place (16 bytes a bucket, 2 MB at the bound) missed the cache on
//! every insertion and removal.

use hashbrown::HashTable;
use std::collections::VecDeque;

#[derive(Default)]
pub struct Tombstones {
    /// (time retired, flow id), oldest first. A flow's id is already its
    /// hash ([`super::table::flow_id`]): the index files it under the id.
    queue: VecDeque<(i64, u64)>,
    /// Position of `queue[0]` in the sequence of every tombstone written.
    front: u64,
    /// The position (low 32 bits) of each flow's latest tombstone, built
    /// from the queue at a lookup and kept until as many tombstones as
    /// are queued have been dropped without one. Lookups are rare (a
    /// segment of a flow not in the table that is not a SYN: a late
    /// retransmission, a capture that starts mid-stream), while every
    /// retired session writes and drops a tombstone: keeping the index for
    /// nothing cost two cache misses a session (the million TLS sessions,
    /// whose 77,000 tombstones at a time outgrow the cache).
    latest: Option<HashTable<u32>>,
    /// Tombstones dropped since the last lookup.
    dropped: usize,
}

/// The entry of `queue` (whose first entry is at position `front`) at
/// position `pos` (its low 32 bits), if it is still queued.
fn queued(queue: &VecDeque<(i64, u64)>, front: u64, pos: u32) -> Option<&(i64, u64)> {
    queue.get(pos.wrapping_sub(front as u32) as usize)
}

/// Files queued position `pos` as flow `id`'s latest tombstone in `latest`.
fn file(latest: &mut HashTable<u32>, queue: &VecDeque<(i64, u64)>, front: u64, id: u64, pos: u32) {
    let is_id = |p: &u32| queued(queue, front, *p).is_some_and(|e| e.1 == id);
    match latest.find_mut(id, is_id) {
        Some(p) => *p = pos,
        None => {
            // Every indexed position is queued (a flow's latest tombstone
            // leaves the index when it leaves the queue).
            let rehash = |p: &u32| queued(queue, front, *p).map_or(0, |e| e.1);
            latest.insert_unique(id, pos, rehash);
        }
    }
}

impl Tombstones {
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Time of the oldest tombstone.
    pub fn oldest(&self) -> Option<i64> {
        self.queue.front().map(|t| t.0)
    }

    /// Whether flow `id` has a tombstone.
    pub fn contains(&mut self, id: u64) -> bool {
        let Tombstones {
            queue,
            front,
            latest,
            dropped,
        } = self;
        *dropped = 0;
        let latest = latest.get_or_insert_with(|| {
            let mut latest = HashTable::with_capacity(queue.len());
            for (i, &(_, flow)) in queue.iter().enumerate() {
                file(&mut latest, queue, *front, flow, (*front + i as u64) as u32);
            }
            latest
        });
        let is_id = |p: &u32| queued(queue, *front, *p).is_some_and(|e| e.1 == id);
        latest.find(id, is_id).is_some()
    }

    /// Writes flow `id`'s tombstone at time `at`, replacing any it had.
    pub fn insert(&mut self, id: u64, at: i64) {
        let pos = (self.front + self.queue.len() as u64) as u32;
        self.queue.push_back((at, id));
        if let Some(latest) = &mut self.latest {
            file(latest, &self.queue, self.front, id, pos);
        }
    }

    /// Drops the oldest tombstone. Its flow keeps a later one if it has one.
    pub fn pop_oldest(&mut self) {
        let Some(&(_, id)) = self.queue.front() else {
            return;
        };
        if self.dropped >= self.queue.len() {
            self.latest = None;
        }
        if let Some(latest) = &mut self.latest {
            let pos = self.front as u32;
            if let Ok(found) = latest.find_entry(id, |p| *p == pos) {
                found.remove();
            }
        }
        self.queue.pop_front();
        self.front += 1;
        self.dropped += 1;
    }

    pub fn clear(&mut self) {
        self.queue.clear();
        self.latest = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;
    use std::collections::HashMap;

    /// A map from flow to its latest tombstone's place in the sequence of
    /// every tombstone written, and the queue, which these tombstones are.
    #[derive(Default)]
    struct Model {
        latest: HashMap<u64, u64>,
        queue: VecDeque<(i64, u64, u64)>,
        written: u64,
    }

    impl Model {
        fn insert(&mut self, id: u64, at: i64) {
            self.latest.insert(id, self.written);
            self.queue.push_back((at, id, self.written));
            self.written += 1;
        }

        fn pop_oldest(&mut self) {
            if let Some((_, id, n)) = self.queue.pop_front() {
                if self.latest.get(&id) == Some(&n) {
                    self.latest.remove(&id);
                }
            }
        }
    }

    /// Random insertions (flows retired again, at equal or earlier times),
    /// removals and lookups answer as the map and queue do, past 2^32
    /// tombstones' worth of positions too, with lookups often (the index
    /// kept) and seldom (the index dropped and built again).
    #[test]
    fn tombstones_answer_as_a_map_from_flow_to_latest() {
        let mut rng = XorShift(0x70b5_7011_e5c0_ffee);
        let (mut built, mut dropped) = (0, 0);
        for start in [0, u64::from(u32::MAX) - 300] {
            for lookups in [1, 200] {
                let mut t = Tombstones {
                    front: start,
                    ..Default::default()
                };
                let mut m = Model::default();
                let mut now = 0i64;
                for _ in 0..40_000 {
                    let id = rng.below(64) as u64 * 0x9e37_79b9;
                    match rng.below(10) {
                        0..=3 => {
                            now += rng.below(3) as i64 - 1;
                            t.insert(id, now);
                            m.insert(id, now);
                        }
                        4..=7 => {
                            let had = t.latest.is_some();
                            t.pop_oldest();
                            m.pop_oldest();
                            dropped += usize::from(had && t.latest.is_none());
                        }
                        _ => {}
                    }
                    assert_eq!(t.len(), m.queue.len());
                    assert_eq!(t.oldest(), m.queue.front().map(|e| e.0));
                    if rng.below(lookups) == 0 {
                        built += usize::from(t.latest.is_none());
                        assert_eq!(t.contains(id), m.latest.contains_key(&id), "{id:x}");
                        let other = rng.below(64) as u64 * 0x9e37_79b9;
                        assert_eq!(t.contains(other), m.latest.contains_key(&other));
                    }
                }
                t.clear();
                assert!(!t.contains(0) && t.len() == 0);
            }
        }
        assert!(
            built > 100 && dropped > 100,
            "{built} built, {dropped} dropped"
        );
    }
}
