//! A per-thread cache from a message's bytes (a hello's shape, a
//! certificate chain) to what pgtls decoded from them.
//!
//! The shapes a capture repeats are few (one per client library and
//! server), and each recurs in thousands of sessions. The last few looked
//! up are compared whole before the map is consulted: comparing a hit of
//! 500 bytes takes a fraction of the instructions hashing it does (the
//! million replicated TLS sessions hashed about 1,000 bytes a session).
//! The map behind them bounds what is kept; a shape that none of the
//! recent ones is costs a few length comparisons more than the map alone.

use rustc_hash::FxHashMap;
use std::rc::Rc;

/// Shapes compared whole before the map is hashed.
const RECENT: usize = 8;

pub struct ShapeCache<V> {
    /// Every shape kept, up to the bound the caller gives.
    map: FxHashMap<Rc<[u8]>, V>,
    /// The shapes last found or added, the oldest replaced first.
    recent: Vec<(Rc<[u8]>, V)>,
    /// The entry of `recent` replaced next once it is full.
    next: usize,
}

impl<V> Default for ShapeCache<V> {
    fn default() -> Self {
        ShapeCache {
            map: FxHashMap::default(),
            recent: Vec::new(),
            next: 0,
        }
    }
}

impl<V: Clone> ShapeCache<V> {
    /// What `compute` gives for `shape`, computed once while the cache
    /// keeps it; the cache is emptied when it holds `bound` shapes.
    pub fn get_or(&mut self, shape: &[u8], bound: usize, compute: impl FnOnce() -> V) -> V {
        // Slices compare their lengths before their bytes.
        if let Some((_, v)) = self.recent.iter().find(|(k, _)| **k == *shape) {
            return v.clone();
        }
        let (key, v) = match self.map.get_key_value(shape) {
            Some((k, v)) => (k.clone(), v.clone()),
            None => {
                let v = compute();
                if self.map.len() >= bound {
                    self.map.clear();
                    self.recent.clear();
                    self.next = 0;
                }
                let k: Rc<[u8]> = shape.into();
                self.map.insert(k.clone(), v.clone());
                (k, v)
            }
        };
        if self.recent.len() < RECENT {
            self.recent.push((key, v.clone()));
        } else {
            self.recent[self.next] = (key, v.clone());
            self.next = (self.next + 1) % RECENT;
        }
        v
    }

    /// Shapes kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Each shape is computed once while kept, whether it is found among
    /// the recent ones or only in the map; shapes that differ in one byte
    /// or in length are told apart; the bound empties the cache.
    #[test]
    fn computes_each_shape_once_while_kept() {
        let mut c = ShapeCache::<usize>::default();
        let computed = Cell::new(0);
        let shape = |i: usize, len: usize| {
            let mut s = vec![7u8; len];
            s[len / 2] = i as u8;
            s
        };
        let look = |c: &mut ShapeCache<usize>, s: &[u8], bound: usize| {
            c.get_or(s, bound, || {
                computed.set(computed.get() + 1);
                s.len() * 1000 + usize::from(s[s.len() / 2])
            })
        };
        // 20 shapes (more than the recent ones) looked up five times each.
        for _ in 0..5 {
            for i in 0..20 {
                let s = shape(i, 100 + i % 3);
                assert_eq!(look(&mut c, &s, 64), s.len() * 1000 + i);
            }
        }
        assert_eq!(computed.get(), 20);
        assert_eq!(c.len(), 20);
        // Same length, one byte apart; a prefix of a kept shape.
        let s = shape(200, 100);
        assert_eq!(look(&mut c, &s, 64), 100_200);
        assert_eq!(look(&mut c, &shape(0, 100)[..99], 64), 99_007);
        assert_eq!(computed.get(), 22);
        // The bound: a new shape past it empties the map and the recent ones.
        let before = computed.get();
        look(&mut c, &shape(1, 300), 22);
        assert_eq!(c.len(), 1);
        assert_eq!(look(&mut c, &shape(0, 100), 22), 100_000);
        assert_eq!(computed.get(), before + 2);
    }
}
