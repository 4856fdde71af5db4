//! Recently written and read records and histories, held in memory so that the reads that follow
//! a write (a new execution's first segment, DescribeExecution polls) need no SQLite query.
//!
//! The cache stays exact because one writer applies every change: it updates the cache with each
//! commit before acknowledging it, and a reader fills a miss only if no commit was applied since
//! it began reading (the generation check), so a value read before a commit never lands after it.
//! While a commit is under way its keys are *pending*: the database may already show the new
//! values to other readers, so the cache answers nothing for those keys until the commit is
//! applied to it.

use super::{Row, Shared, Write};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// The most records and histories kept, and the most text each may hold (large payloads and
/// log batches would otherwise make a count of entries gigabytes): the oldest entries go first.
const MAX_RECORDS: usize = 4096;
const MAX_HISTORIES: usize = 1024;
const MAX_BYTES: usize = 32 << 20;

type Key = (String, String);

/// A map that keeps at most `max` entries weighing at most `max_bytes` in all, dropping the
/// least recently inserted first.
struct Bounded<K, V> {
    max: usize,
    max_bytes: usize,
    bytes: usize,
    weigh: fn(&V) -> usize,
    /// Each entry with its weight and the stamp of its insertion.
    map: HashMap<K, (V, usize, u64)>,
    /// Keys in insertion order with their stamps; a stamp that is no longer its entry's is
    /// stale (the entry was inserted again, or removed) and skipped.
    order: VecDeque<(K, u64)>,
    stamp: u64,
}

impl<K: std::hash::Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(max: usize, max_bytes: usize, weigh: fn(&V) -> usize) -> Self {
        Bounded {
            max,
            max_bytes,
            bytes: 0,
            weigh,
            map: HashMap::new(),
            order: VecDeque::new(),
            stamp: 0,
        }
    }

    fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|(v, _, _)| v)
    }

    fn insert(&mut self, k: K, v: V) {
        self.stamp += 1;
        let w = (self.weigh)(&v);
        if let Some((_, old, _)) = self.map.insert(k.clone(), (v, w, self.stamp)) {
            self.bytes -= old;
        }
        self.bytes += w;
        self.order.push_back((k, self.stamp));
        self.trim();
    }

    /// Changes an entry in place, weighing it again.
    fn update(&mut self, k: &K, f: impl FnOnce(&mut V)) {
        if let Some((v, w, _)) = self.map.get_mut(k) {
            f(v);
            let new = (self.weigh)(v);
            self.bytes = self.bytes - *w + new;
            *w = new;
            self.trim();
        }
    }

    fn remove(&mut self, k: &K) {
        if let Some((_, w, _)) = self.map.remove(k) {
            self.bytes -= w;
        }
    }

    fn trim(&mut self) {
        while self.map.len() > self.max || self.bytes > self.max_bytes {
            let Some((k, stamp)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&k).is_some_and(|e| e.2 == stamp) {
                self.remove(&k);
            }
        }
        // stale keys of entries inserted again or removed: drop them before they pile up
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order
                .retain(|(k, s)| map.get(k).is_some_and(|e| e.2 == *s));
        }
    }
}

/// A record's stored text (`None`: known not to exist) and, once a reader decoded that very
/// text, the decoded record.
#[derive(Clone)]
struct Entry {
    body: Option<Arc<str>>,
    decoded: Option<Shared>,
}

impl Entry {
    /// About the memory the entry holds: its text, and as much again once decoded.
    fn weight(&self) -> usize {
        let text = self.body.as_ref().map_or(0, |b| b.len());
        64 + text * (1 + usize::from(self.decoded.is_some()))
    }
}

struct Inner {
    generation: u64,
    /// The record keys and executions of the commit under way.
    pending: HashSet<Key>,
    pending_histories: HashSet<String>,
    records: Bounded<Key, Entry>,
    /// Every chunk of an execution's history with its first event id.
    histories: Bounded<String, Vec<(u64, Arc<str>)>>,
}

impl Default for Inner {
    fn default() -> Inner {
        Inner {
            generation: 0,
            pending: HashSet::new(),
            pending_histories: HashSet::new(),
            records: Bounded::new(MAX_RECORDS, MAX_BYTES, Entry::weight),
            histories: Bounded::new(MAX_HISTORIES, MAX_BYTES, |chunks| {
                chunks.iter().map(|(_, text)| text.len() + 32).sum()
            }),
        }
    }
}

#[derive(Default)]
pub struct Cache {
    inner: Mutex<Inner>,
}

/// A reader's ticket: the generation its read began in.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl Inner {
    /// A new text replaces the entry, and with it any record decoded from the old text.
    fn set_record(&mut self, key: Key, body: Option<Arc<str>>) {
        self.records.insert(
            key,
            Entry {
                body,
                decoded: None,
            },
        );
    }
}

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // a panic while holding the lock cannot leave the maps inconsistent: use them as they are
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A record: `Some(None)` when it is known not to exist, `None` when the cache cannot tell.
    pub fn record(&self, kind: &str, key: &str) -> Option<Option<Arc<str>>> {
        self.entry(kind, key).map(|e| e.body)
    }

    pub fn decoded(&self, kind: &str, key: &str) -> Option<Shared> {
        self.entry(kind, key).and_then(|e| e.decoded)
    }

    /// The record decoded from exactly `body`, if that is what the cache holds for the key.
    pub fn decoded_from(&self, kind: &str, key: &str, body: &str) -> Option<Shared> {
        let g = self.lock();
        let e = g.records.get(&(kind.to_string(), key.to_string()))?;
        (e.body.as_deref() == Some(body))
            .then(|| e.decoded.clone())
            .flatten()
    }

    fn entry(&self, kind: &str, key: &str) -> Option<Entry> {
        let g = self.lock();
        let k = (kind.to_string(), key.to_string());
        if g.pending.contains(&k) {
            return None;
        }
        g.records.get(&k).cloned()
    }

    /// Keeps a record decoded from `body` if `body` is still the cached text.
    pub fn keep_decoded(&self, kind: &str, key: &str, body: &str, record: Shared) {
        let mut g = self.lock();
        let k = (kind.to_string(), key.to_string());
        g.records.update(&k, |e| {
            if e.body.as_deref() == Some(body) {
                e.decoded = Some(record);
            }
        });
    }

    pub fn history(&self, execution: &str) -> Option<Vec<super::Chunk>> {
        let g = self.lock();
        if g.pending_histories.contains(execution) {
            return None;
        }
        g.histories.get(&execution.to_string()).cloned()
    }

    /// The writer is about to commit `writes`: until it applies them, the cache answers nothing
    /// for their keys (other readers may see the new values in the database already), and no
    /// read begun before now may fill the cache.
    pub fn begin<'a>(&self, writes: impl Iterator<Item = &'a Write>) {
        let mut g = self.lock();
        g.generation += 1;
        for w in writes {
            match w {
                Write::Put(Row { kind, key, .. }) | Write::Delete { kind, key } => {
                    g.pending.insert((kind.to_string(), key.clone()));
                }
                Write::History { execution, .. } | Write::DropHistory { execution } => {
                    g.pending_histories.insert(execution.clone());
                }
            }
        }
    }

    pub fn ticket(&self) -> Ticket {
        Ticket(self.lock().generation)
    }

    /// Keeps what a reader found, unless a commit came in between.
    pub fn fill_record(&self, t: Ticket, kind: &str, key: &str, body: Option<&str>) {
        let mut g = self.lock();
        if g.generation == t.0 {
            g.set_record((kind.to_string(), key.to_string()), body.map(Arc::from));
        }
    }

    pub fn fill_history(&self, t: Ticket, execution: &str, chunks: &[super::Chunk]) {
        let mut g = self.lock();
        if g.generation == t.0 {
            g.histories.insert(execution.to_string(), chunks.to_vec());
        }
    }

    /// The writer committed `writes`: the cache shows them.
    pub fn applied<'a>(&self, writes: impl Iterator<Item = &'a Write>) {
        let mut g = self.lock();
        g.generation += 1;
        g.pending.clear();
        g.pending_histories.clear();
        for w in writes {
            match w {
                Write::Put(r) => g.set_record(
                    (r.kind.to_string(), r.key.clone()),
                    Some(Arc::from(r.body.as_str())),
                ),
                Write::Delete { kind, key } => g.set_record((kind.to_string(), key.clone()), None),
                Write::History {
                    execution,
                    first_id,
                    events,
                } => {
                    let chunk = (*first_id, Arc::<str>::from(events.as_str()));
                    match g.histories.get(execution) {
                        // appended after what is cached (or the first chunk of a history known
                        // to be empty): keep the whole history
                        Some(c) if c.last().map_or(*first_id == 1, |(id, _)| id < first_id) => {
                            g.histories.update(execution, |c| c.push(chunk))
                        }
                        Some(_) => g.histories.remove(execution),
                        // the first chunk of a new history is all of it
                        None if *first_id == 1 => {
                            g.histories.insert(execution.clone(), vec![chunk])
                        }
                        None => {}
                    }
                }
                Write::DropHistory { execution } => g.histories.remove(execution),
            }
        }
    }

    /// A commit failed: forget what it touched (the database still has the old values).
    pub fn failed<'a>(&self, writes: impl Iterator<Item = &'a Write>) {
        let mut g = self.lock();
        g.generation += 1;
        g.pending.clear();
        g.pending_histories.clear();
        for w in writes {
            match w {
                Write::Put(Row { kind, key, .. }) | Write::Delete { kind, key } => {
                    g.records.remove(&(kind.to_string(), key.clone()));
                }
                Write::History { execution, .. } | Write::DropHistory { execution } => {
                    g.histories.remove(execution)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cached history's chunk texts, joined by `|`.
    fn texts(h: Option<Vec<crate::store::Chunk>>) -> Option<String> {
        h.map(|c| {
            c.iter()
                .map(|(_, t)| t.to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
    }

    fn put(key: &str, body: &str) -> Write {
        Write::Put(Row {
            kind: "k",
            key: key.into(),
            owner: String::new(),
            status: String::new(),
            sort: 0,
            summary: None,
            body: body.into(),
        })
    }

    fn hist(first_id: u64, events: &str) -> Write {
        Write::History {
            execution: "e".into(),
            first_id,
            events: events.into(),
        }
    }

    #[test]
    fn a_read_that_raced_a_commit_is_not_kept() {
        let c = Cache::default();
        let t = c.ticket();
        c.applied([put("a", "new")].iter());
        // the reader saw the database before the commit
        c.fill_record(t, "k", "a", Some("old"));
        assert_eq!(c.record("k", "a"), Some(Some(Arc::from("new"))));
        let t = c.ticket();
        c.fill_record(t, "k", "b", None);
        assert_eq!(c.record("k", "b"), Some(None));
        c.failed([put("a", "x")].iter());
        assert_eq!(c.record("k", "a"), None);
    }

    #[test]
    fn a_commit_under_way_hides_its_keys() {
        let c = Cache::default();
        c.applied([put("a", "old"), hist(1, "[1]")].iter());
        let t = c.ticket();
        let writes = [put("a", "new"), hist(2, "[2]")];
        c.begin(writes.iter());
        // the database may show "new" already: the cache must not answer "old"
        assert_eq!(c.record("k", "a"), None);
        assert_eq!(texts(c.history("e")), None);
        // nor keep what a reader found before the commit began
        c.fill_record(t, "k", "b", None);
        assert_eq!(c.record("k", "b"), None);
        c.applied(writes.iter());
        assert_eq!(c.record("k", "a"), Some(Some(Arc::from("new"))));
        assert_eq!(texts(c.history("e")), Some("[1]|[2]".into()));
    }

    #[test]
    fn decoded_records_follow_their_text() {
        let c = Cache::default();
        c.applied([put("a", "one")].iter());
        c.keep_decoded("k", "a", "stale", Arc::new(0u8));
        assert!(
            c.decoded("k", "a").is_none(),
            "decoded from text that is not current"
        );
        c.keep_decoded("k", "a", "one", Arc::new(1u8));
        assert_eq!(
            c.decoded("k", "a")
                .and_then(|d| d.downcast_ref::<u8>().copied()),
            Some(1)
        );
        assert!(c.decoded_from("k", "a", "one").is_some());
        assert!(
            c.decoded_from("k", "a", "other").is_none(),
            "decoded from another text"
        );
        c.applied([put("a", "two")].iter());
        assert!(
            c.decoded("k", "a").is_none(),
            "a new text drops the decoded record"
        );
        assert!(c.decoded_from("k", "a", "one").is_none());
    }

    #[test]
    fn histories_grow_by_appended_chunks_only() {
        let c = Cache::default();
        c.applied([hist(3, "[3]")].iter());
        assert_eq!(
            c.history("e"),
            None,
            "a later chunk alone is not the whole history"
        );
        c.applied([hist(1, "[1,2]")].iter());
        c.applied([hist(3, "[3]")].iter());
        assert_eq!(texts(c.history("e")), Some("[1,2]|[3]".into()));
        // a chunk written again (out of order) drops the entry rather than guess
        c.applied([hist(2, "[2]")].iter());
        assert_eq!(texts(c.history("e")), None);
        // a history read as empty grows by its first chunk only
        c.fill_history(c.ticket(), "e", &[]);
        assert_eq!(texts(c.history("e")), Some(String::new()));
        c.applied([hist(1, "[1]")].iter());
        assert_eq!(texts(c.history("e")), Some("[1]".into()));
        c.fill_history(c.ticket(), "f", &[]);
        c.applied(
            [Write::History {
                execution: "f".into(),
                first_id: 4,
                events: "[4]".into(),
            }]
            .iter(),
        );
        assert_eq!(texts(c.history("f")), None, "a gap is never cached");
    }

    #[test]
    fn the_oldest_records_are_dropped_past_the_limit() {
        let c = Cache::default();
        let writes: Vec<Write> = (0..MAX_RECORDS + 10)
            .map(|i| put(&format!("r{i}"), "b"))
            .collect();
        c.applied(writes.iter());
        assert_eq!(c.record("k", "r0"), None);
        assert!(c.record("k", &format!("r{}", MAX_RECORDS + 9)).is_some());
    }

    /// Large texts count by their size: a few hold the whole budget; entries inserted again
    /// count once and go last, and removed ones leave nothing behind.
    #[test]
    fn the_oldest_records_are_dropped_past_the_bytes_allowed() {
        let c = Cache::default();
        let big = "x".repeat(MAX_BYTES / 8);
        let writes: Vec<Write> = (0..6).map(|i| put(&format!("r{i}"), &big)).collect();
        c.applied(writes.iter());
        // r0 written again: now the newest
        c.applied([put("r0", &big)].iter());
        let more: Vec<Write> = (6..10).map(|i| put(&format!("r{i}"), &big)).collect();
        c.applied(more.iter());
        let kept: Vec<usize> = (0..10)
            .filter(|i| c.record("k", &format!("r{i}")).is_some())
            .collect();
        assert_eq!(kept, [0, 4, 5, 6, 7, 8, 9]);
        let g = c.lock();
        assert!(g.records.bytes <= MAX_BYTES);
        assert_eq!(
            g.records.bytes,
            g.records.map.values().map(|e| e.1).sum::<usize>()
        );
        drop(g);
        for i in 0..1000 {
            let k = format!("t{i}");
            c.applied([put(&k, "b")].iter());
            c.failed([put(&k, "b")].iter());
        }
        let g = c.lock();
        assert!(g.records.order.len() <= 2 * g.records.map.len() + 64);
    }
}
