//! The primary-key index (CrateDB's "version map", kept for every live document).
//!
//! It maps each live `_id` to the document's current sequence number and
//! location: a segment id and a doc id in it. It
//! serves real-time gets, duplicate-key checks and updates without waiting
//! for a refresh. To stay small it is keyed by a 64-bit hash of the id; the
//! caller confirms the id of a hit, and the rare colliding ids go to an
//! overflow map keyed by the full id.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Where a document version lives: document `doc` of segment `seg`.
///
/// An indexing buffer is given its segment's id when it opens, and its
/// documents become that segment's documents in buffer order, so a place
/// stays valid when a refresh turns the buffer into a segment: until then
/// it is read from the buffer. Only merges move documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub seg: u32,
    pub doc: u32,
}

/// A live document's current version and location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub seq_no: u64,
    pub place: Place,
}

/// Hashes an id (stable across runs and platforms).
pub fn id_hash(id: &str) -> u64 {
    // FNV-1a followed by a finaliser: fast for short ids, well spread.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// The keys are hashes already: don't hash them again.
#[derive(Default)]
pub struct IdentityHasher(u64);

/// A map keyed by id hashes ([`id_hash`]).
pub type HashedMap<V> = hashbrown::HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | *b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The index. `is_id(entry, id)` callbacks confirm which id an entry belongs to.
#[derive(Default)]
pub struct PkIndex {
    map: HashedMap<Entry>,
    overflow: HashMap<String, Entry>,
}

impl std::fmt::Debug for PkIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PkIndex").field("len", &self.len()).finish()
    }
}

impl PkIndex {
    /// Number of live ids.
    pub fn len(&self) -> usize {
        self.map.len() + self.overflow.len()
    }

    /// Whether no id is live.
    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.map.values().chain(self.overflow.values())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reserves room for `n` more ids.
    pub fn reserve(&mut self, n: usize) {
        self.map.reserve(n);
    }

    /// Looks up an id.
    pub fn get(&self, id: &str, is_id: impl Fn(&Entry, &str) -> bool) -> Option<Entry> {
        if !self.overflow.is_empty()
            && let Some(e) = self.overflow.get(id)
        {
            return Some(*e);
        }
        let e = self.map.get(&id_hash(id))?;
        if is_id(e, id) { Some(*e) } else { None }
    }

    /// Inserts or replaces the entry of an id.
    pub fn put(&mut self, id: &str, entry: Entry, is_id: impl Fn(&Entry, &str) -> bool) {
        if !self.overflow.is_empty()
            && let Some(e) = self.overflow.get_mut(id)
        {
            *e = entry;
            return;
        }
        match self.map.entry(id_hash(id)) {
            hashbrown::hash_map::Entry::Vacant(v) => {
                v.insert(entry);
            }
            hashbrown::hash_map::Entry::Occupied(mut o) => {
                if is_id(o.get(), id) {
                    o.insert(entry);
                } else {
                    self.overflow.insert(id.to_string(), entry);
                }
            }
        }
    }

    /// Puts an entry for an id known to be absent and not colliding
    /// (recovery fast path: the caller guarantees uniqueness of ids).
    pub fn put_unchecked(&mut self, id: &str, entry: Entry) {
        match self.map.entry(id_hash(id)) {
            hashbrown::hash_map::Entry::Vacant(v) => {
                v.insert(entry);
            }
            hashbrown::hash_map::Entry::Occupied(_) => {
                self.overflow.insert(id.to_string(), entry);
            }
        }
    }

    /// Removes an id, returning its entry.
    pub fn remove(&mut self, id: &str, is_id: impl Fn(&Entry, &str) -> bool) -> Option<Entry> {
        if !self.overflow.is_empty()
            && let Some(e) = self.overflow.remove(id)
        {
            return Some(e);
        }
        let h = id_hash(id);
        match self.map.get(&h) {
            Some(e) if is_id(e, id) => self.map.remove(&h),
            _ => None,
        }
    }

    /// Updates the place of the document with id hash `hash` and `seq_no`
    /// if it is still at a place `from` accepts (a merge moves documents).
    /// Sequence numbers are unique within a shard, so an entry with this hash
    /// and `seq_no` is this document; the id is fetched (lazily) only when
    /// colliding ids exist.
    pub fn relocate_hashed(
        &mut self,
        hash: u64,
        seq_no: u64,
        from: impl Fn(&Place) -> bool,
        to: Place,
        id: impl FnOnce() -> Option<String>,
    ) -> bool {
        if let Some(e) = self.map.get_mut(&hash)
            && e.seq_no == seq_no
            && from(&e.place)
        {
            e.place = to;
            return true;
        }
        if !self.overflow.is_empty()
            && let Some(id) = id()
            && let Some(e) = self.overflow.get_mut(&id)
            && e.seq_no == seq_no
            && from(&e.place)
        {
            e.place = to;
            return true;
        }
        false
    }

    /// Adds a live document found during recovery, by its id's hash; a
    /// colliding hash moves this id to the overflow map.
    pub fn put_recovered(&mut self, hash: u64, entry: Entry, id: impl FnOnce() -> Option<String>) {
        match self.map.entry(hash) {
            hashbrown::hash_map::Entry::Vacant(v) => {
                v.insert(entry);
            }
            hashbrown::hash_map::Entry::Occupied(_) => {
                if let Some(id) = id() {
                    self.overflow.insert(id, entry);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_remove_and_collisions() {
        let mut pk = PkIndex::default();
        let ids = ["a", "b"];
        // A resolver that "knows" which id each seq_no belongs to.
        let is_id = |e: &Entry, id: &str| ids[e.seq_no as usize] == id;
        let place = Place { seg: 0, doc: 0 };
        pk.put("a", Entry { seq_no: 0, place }, is_id);
        pk.put("b", Entry { seq_no: 1, place }, is_id);
        assert_eq!(pk.get("a", is_id).unwrap().seq_no, 0);
        assert_eq!(pk.len(), 2);
        let to = Place { seg: 1, doc: 7 };
        assert!(pk.relocate_hashed(id_hash("a"), 0, |_| true, to, || None));
        assert!(!pk.relocate_hashed(id_hash("a"), 3, |_| true, to, || None));
        assert_eq!(pk.get("a", is_id).unwrap().place, to);
        assert!(pk.remove("a", is_id).is_some());
        assert!(pk.get("a", is_id).is_none());
        // Forced collision: a resolver that denies the stored entry puts the id into overflow.
        pk.put("c", Entry { seq_no: 1, place }, |_, _| false);
        pk.put_unchecked("d", Entry { seq_no: 5, place });
        assert_eq!(pk.len(), 3);
    }
}
