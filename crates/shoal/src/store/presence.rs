//! Which keys of a few kinds the store may hold, kept in memory, so that looking up a key it
//! does not hold needs no read of the database. A named StartExecution looks its name up first,
//! and that name is almost always new; in WAL mode a reader's page cache starts cold after every
//! commit, so under load each such miss read its B-tree path again, about a tenth of a start's
//! CPU.
//!
//! The set may hold more than the store does (keys of failed commits, of deleted records, hash
//! collisions): those lookups read the database as before. It never holds less: a key is noted
//! before the commit that writes it, and the keys already stored are loaded once at startup,
//! beside the server; until that load has finished every lookup reads the database.

use super::Write;
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

/// The kinds tracked: those looked up mostly for keys that do not exist yet.
pub const TRACKED: &[&str] = &["sfn.execution"];

#[derive(Default)]
pub struct Presence {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The stored keys have all been loaded.
    loaded: bool,
    keys: HashSet<u64>,
}

fn fingerprint(kind: &str, key: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (kind, key).hash(&mut h);
    h.finish()
}

impl Presence {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // a set of fingerprints cannot be left inconsistent by a panic
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes the records `writes` put, before they are written.
    pub fn note<'a>(&self, writes: impl Iterator<Item = &'a Write>) {
        let mut keys = writes
            .filter_map(|w| match w {
                Write::Put(row) if TRACKED.contains(&row.kind) => {
                    Some(fingerprint(row.kind, &row.key))
                }
                _ => None,
            })
            .peekable();
        if keys.peek().is_some() {
            self.lock().keys.extend(keys);
        }
    }

    /// Adds keys of `kind` found stored.
    pub fn load<'a>(&self, kind: &str, keys: impl Iterator<Item = &'a str>) {
        let found: Vec<u64> = keys.map(|k| fingerprint(kind, k)).collect();
        self.lock().keys.extend(found);
    }

    /// Every stored key has been loaded: from now on a key not in the set is not stored.
    pub fn loaded(&self) {
        self.lock().loaded = true;
    }

    /// The store certainly holds no record `kind`/`key`.
    pub fn absent(&self, kind: &str, key: &str) -> bool {
        if !TRACKED.contains(&kind) {
            return false;
        }
        let f = fingerprint(kind, key);
        let g = self.lock();
        g.loaded && !g.keys.contains(&f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Row;

    fn put(kind: &'static str, key: &str) -> Write {
        Write::Put(Row {
            kind,
            key: key.into(),
            owner: String::new(),
            status: String::new(),
            sort: 0,
            summary: None,
            body: "{}".into(),
        })
    }

    #[test]
    fn nothing_is_absent_before_the_stored_keys_are_loaded() {
        let p = Presence::default();
        assert!(!p.absent("sfn.execution", "a"));
        p.load("sfn.execution", ["b"].into_iter());
        assert!(!p.absent("sfn.execution", "a"));
        p.loaded();
        assert!(p.absent("sfn.execution", "a"));
        assert!(!p.absent("sfn.execution", "b"));
    }

    #[test]
    fn noted_writes_are_present_and_untracked_kinds_never_absent() {
        let p = Presence::default();
        p.loaded();
        p.note([put("sfn.execution", "x"), put("sfn.machine", "m")].iter());
        assert!(!p.absent("sfn.execution", "x"));
        assert!(p.absent("sfn.execution", "y"));
        assert!(!p.absent("sfn.machine", "other"));
    }
}
