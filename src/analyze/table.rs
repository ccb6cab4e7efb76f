//! The flow table: every open session, found by its 4-tuple, and the order in
//! which they were admitted.
//!
//! A million concurrent flows is an ordinary forensic capture, so a flow
//! costs as little as its session allows:
//! - sessions live in a slab of fixed-size slots, reserved 4,096 at a time
//!   and filled as needed (no allocator size class rounding them up, no
//!   pointer per session, nothing written ahead for a small capture);
//! - the hash index holds only a slot number (4 bytes and a control byte),
//!   found by the key's 64-bit hash; the key itself is kept once, in the
//!   session;
//! - the admission order is a queue of (start index, slot) pairs, 16 bytes a
//!   flow; entries of sessions that already left are skipped when met and
//!   swept when they outnumber the open sessions.

use crate::flow::{pair_hash, Endpoint, FlowKey};
use crate::session::Session;
use hashbrown::HashTable;
use std::collections::VecDeque;

/// A flow's 64-bit identity: the hash the table files it under (also the
/// key of its tombstone once it has left). The same hash picks its shard
/// ([`crate::analyze::shard_of`]), so a packet is hashed once.
pub fn flow_id(key: &FlowKey) -> u64 {
    pair_hash(&key.client, &key.server)
}

/// Slots allocated at once.
const CHUNK: usize = 4096;

#[derive(Default)]
pub struct FlowTable {
    /// Slot numbers, by the hash of their session's key.
    index: HashTable<u32>,
    slab: Slab,
    /// (start index, slot) of admitted sessions in order of start, some of
    /// them already gone.
    admitted: VecDeque<(u64, u32)>,
}

#[derive(Default)]
struct Slab {
    /// Each holds up to [`CHUNK`] slots; only the last is not full.
    chunks: Vec<Vec<Option<Session>>>,
    free: Vec<u32>,
}

impl Slab {
    #[inline]
    fn get(&self, slot: u32) -> Option<&Session> {
        let slot = slot as usize;
        self.chunks[slot / CHUNK][slot % CHUNK].as_ref()
    }

    #[inline]
    fn get_mut(&mut self, slot: u32) -> Option<&mut Session> {
        let slot = slot as usize;
        self.chunks[slot / CHUNK][slot % CHUNK].as_mut()
    }

    /// The key of an occupied slot.
    #[inline]
    fn key(&self, slot: u32) -> &FlowKey {
        &self.get(slot).expect("indexed slot holds a session").key
    }

    fn put(&mut self, session: Session) -> u32 {
        if let Some(slot) = self.free.pop() {
            let s = slot as usize;
            self.chunks[s / CHUNK][s % CHUNK] = Some(session);
            return slot;
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            // Reserved, not written: pages are touched as slots fill.
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let n = self.chunks.len();
        let chunk = &mut self.chunks[n - 1];
        chunk.push(Some(session));
        ((n - 1) * CHUNK + chunk.len() - 1) as u32
    }

    fn take(&mut self, slot: u32) -> Option<Session> {
        let s = slot as usize;
        let taken = self.chunks[s / CHUNK][s % CHUNK].take();
        if taken.is_some() {
            self.free.push(slot);
        }
        taken
    }

    fn iter(&self) -> impl Iterator<Item = &Session> {
        self.chunks.iter().flat_map(|c| c.iter().flatten())
    }
}

impl FlowTable {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    #[inline]
    fn slot_of(&self, key: &FlowKey) -> Option<u32> {
        self.slot_of_ends(&key.client, &key.server, flow_id(key))
    }

    /// The slot of the session whose key has these two ends, whose
    /// [`flow_id`] is `id`.
    #[inline]
    fn slot_of_ends(&self, client: &Endpoint, server: &Endpoint, id: u64) -> Option<u32> {
        let slab = &self.slab;
        let found = self.index.find(id, |&slot| {
            let k = slab.key(slot);
            k.client == *client && k.server == *server
        });
        found.copied()
    }

    pub fn get(&self, key: &FlowKey) -> Option<&Session> {
        self.slot_of(key).and_then(|slot| self.slab.get(slot))
    }

    #[inline]
    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut Session> {
        let slot = self.slot_of(key)?;
        self.slab.get_mut(slot)
    }

    /// [`Self::get_mut`] by the key's two ends, read where they lie (a
    /// segment's endpoints were just written by the decoder, and copying
    /// them into a key stalled on a wide load of narrow stores), and its
    /// [`flow_id`], computed already.
    #[inline]
    pub fn get_mut_by_ends(
        &mut self,
        client: &Endpoint,
        server: &Endpoint,
        id: u64,
    ) -> Option<&mut Session> {
        debug_assert_eq!(id, pair_hash(client, server));
        let slot = self.slot_of_ends(client, server, id)?;
        self.slab.get_mut(slot)
    }

    pub fn contains_key(&self, key: &FlowKey) -> bool {
        self.slot_of(key).is_some()
    }

    /// The session admitted as (`index`, `slot`), if it is still there.
    fn admitted(&self, index: u64, slot: u32) -> Option<&Session> {
        self.slab.get(slot).filter(|s| s.index == index)
    }

    /// Adds a new session, whose key is not in the table (callers look it
    /// up first), and records its admission.
    pub fn insert(&mut self, session: Session) -> &mut Session {
        debug_assert!(self.slot_of(&session.key).is_none());
        let id = flow_id(&session.key);
        let index = session.index;
        let slot = self.slab.put(session);
        let slab = &self.slab;
        self.index
            .insert_unique(id, slot, |&s| flow_id(slab.key(s)));
        self.admitted.push_back((index, slot));
        self.slab.get_mut(slot).expect("just put")
    }

    pub fn remove(&mut self, key: &FlowKey) -> Option<Session> {
        self.remove_if(key, |_| true)
    }

    /// Takes out the session of `key` if it is the one that started
    /// `index`-th (one lookup, where asking first took two).
    pub fn remove_started(&mut self, key: &FlowKey, index: u64) -> Option<Session> {
        self.remove_if(key, |s| s.index == index)
    }

    fn remove_if(&mut self, key: &FlowKey, take: impl Fn(&Session) -> bool) -> Option<Session> {
        let slab = &self.slab;
        let entry = self
            .index
            .find_entry(flow_id(key), |&slot| slab.key(slot) == key)
            .ok()?;
        if !slab.get(*entry.get()).is_some_and(take) {
            return None;
        }
        let (slot, _) = entry.remove();
        let taken = self.slab.take(slot);
        self.sweep_admissions();
        taken
    }

    /// The start index and key of the oldest session still open.
    pub fn oldest(&mut self) -> Option<(u64, FlowKey)> {
        while let Some(&(index, slot)) = self.admitted.front() {
            if let Some(s) = self.admitted(index, slot) {
                return Some((index, s.key));
            }
            self.admitted.pop_front();
        }
        None
    }

    /// Keys of up to `n` open sessions, oldest first, forgetting their
    /// admission: the caller retires every one.
    pub fn take_oldest(&mut self, n: usize) -> Vec<FlowKey> {
        let mut keys = Vec::with_capacity(n.min(self.len()));
        while keys.len() < n {
            let Some((index, slot)) = self.admitted.pop_front() else {
                break;
            };
            if let Some(s) = self.admitted(index, slot) {
                keys.push(s.key);
            }
        }
        keys
    }

    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.slab.iter()
    }

    /// Forgets every admission (the table is empty).
    pub fn clear_admissions(&mut self) {
        debug_assert!(self.index.is_empty());
        self.admitted.clear();
    }

    /// Drops the admissions of sessions gone once they outnumber the open
    /// ones: the queue stays within twice the table.
    fn sweep_admissions(&mut self) {
        if self.admitted.len() <= 2 * self.len() + 1024 {
            return;
        }
        let mut admitted = std::mem::take(&mut self.admitted);
        admitted.retain(|&(index, slot)| self.admitted(index, slot).is_some());
        admitted.shrink_to(2 * admitted.len() + 1024);
        self.admitted = admitted;
    }
}
