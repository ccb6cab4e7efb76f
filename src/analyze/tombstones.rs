//! Tombstones of retired flows: a flow's late segments (retransmitted FINs,
//! last ACKs) are absorbed for a while instead of starting a new session.
//!
//! A dense capture retires a session every few microseconds, and each one
//! leaves a tombstone that is written once, looked at only when a segment
//! of an unknown flow arrives, and dropped in the order it was written. So
//! the tombstones are a queue, oldest first, read and written at its two
//! ends, and a hash index of 4-byte queue positions finds a flow's latest
//! tombstone. A hash map from flow to time in its place (16 bytes a bucket,
//! 2 MB at the bound) missed the cache on every insertion and removal.

use hashbrown::HashTable;
use std::collections::VecDeque;

#[derive(Default)]
pub struct Tombstones {
    /// (time retired, flow id), oldest first. A flow's id is already its
    /// hash ([`super::table::flow_id`]): the index files it under the id.
    queue: VecDeque<(i64, u64)>,
    /// Position of `queue[0]` in the sequence of every tombstone written.
    front: u64,
    /// The position (low 32 bits) of each flow's latest tombstone.
    latest: HashTable<u32>,
}

/// The entry of `queue` (whose first entry is at position `front`) at
/// position `pos` (its low 32 bits), if it is still queued.
fn queued(queue: &VecDeque<(i64, u64)>, front: u64, pos: u32) -> Option<&(i64, u64)> {
    queue.get(pos.wrapping_sub(front as u32) as usize)
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
    pub fn contains(&self, id: u64) -> bool {
        let (queue, front) = (&self.queue, self.front);
        let is_id = |p: &u32| queued(queue, front, *p).is_some_and(|e| e.1 == id);
        self.latest.find(id, is_id).is_some()
    }

    /// Writes flow `id`'s tombstone at time `at`, replacing any it had.
    pub fn insert(&mut self, id: u64, at: i64) {
        let Tombstones {
            queue,
            front,
            latest,
        } = self;
        let pos = (*front + queue.len() as u64) as u32;
        queue.push_back((at, id));
        let is_id = |p: &u32| queued(queue, *front, *p).is_some_and(|e| e.1 == id);
        match latest.find_mut(id, is_id) {
            Some(p) => *p = pos,
            None => {
                // Every indexed position is queued (a flow's latest
                // tombstone leaves the index when it leaves the queue).
                let rehash = |p: &u32| queued(queue, *front, *p).map_or(0, |e| e.1);
                latest.insert_unique(id, pos, rehash);
            }
        }
    }

    /// Drops the oldest tombstone. Its flow keeps a later one if it has one,
    /// and loses it too if that one was written at the same time (as a map
    /// from flow to time would).
    pub fn pop_oldest(&mut self) {
        let Tombstones {
            queue,
            front,
            latest,
        } = self;
        let Some(&(at, id)) = queue.front() else {
            return;
        };
        let is_id = |p: &u32| queued(queue, *front, *p).is_some_and(|e| e.1 == id);
        if let Ok(found) = latest.find_entry(id, is_id) {
            if queued(queue, *front, *found.get()).is_some_and(|e| e.0 == at) {
                found.remove();
            }
        }
        queue.pop_front();
        *front += 1;
    }

    pub fn clear(&mut self) {
        self.queue.clear();
        self.latest.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;
    use std::collections::HashMap;

    /// The map from flow to time and the queue these tombstones replace.
    #[derive(Default)]
    struct Model {
        latest: HashMap<u64, i64>,
        queue: VecDeque<(i64, u64)>,
    }

    impl Model {
        fn insert(&mut self, id: u64, at: i64) {
            self.latest.insert(id, at);
            self.queue.push_back((at, id));
        }

        fn pop_oldest(&mut self) {
            if let Some((at, id)) = self.queue.pop_front() {
                if self.latest.get(&id) == Some(&at) {
                    self.latest.remove(&id);
                }
            }
        }
    }

    /// Random insertions (flows retired again, at equal or earlier times),
    /// removals and lookups answer as the map and queue did, past 2^32
    /// tombstones' worth of positions too.
    #[test]
    fn tombstones_answer_as_a_map_from_flow_to_time() {
        let mut rng = XorShift(0x70b5_7011_e5c0_ffee);
        for start in [0, u64::from(u32::MAX) - 300] {
            let mut t = Tombstones {
                front: start,
                ..Default::default()
            };
            let mut m = Model::default();
            let mut now = 0i64;
            for _ in 0..40_000 {
                let id = rng.below(64) as u64 * 0x9e37_79b9;
                match rng.below(10) {
                    0..=4 => {
                        now += rng.below(3) as i64 - 1;
                        t.insert(id, now);
                        m.insert(id, now);
                    }
                    5..=7 => {
                        t.pop_oldest();
                        m.pop_oldest();
                    }
                    _ => {}
                }
                assert_eq!(t.len(), m.queue.len());
                assert_eq!(t.oldest(), m.queue.front().map(|e| e.0));
                assert_eq!(t.contains(id), m.latest.contains_key(&id), "{id:x}");
                let other = rng.below(64) as u64 * 0x9e37_79b9;
                assert_eq!(t.contains(other), m.latest.contains_key(&other));
            }
            t.clear();
            assert!(!t.contains(0) && t.len() == 0);
        }
    }
}
