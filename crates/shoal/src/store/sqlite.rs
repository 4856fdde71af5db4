//! The embedded default: one SQLite database in WAL mode. Writes are group-committed over one
//! connection (see [`Committer`]); readers use their own connections, which WAL lets run beside
//! the writer. A checkpointer thread ([`super::checkpointer`]) copies the log into the database
//! file beside the writer too.

use super::cache::Cache;
use super::checkpointer::{Activity, Nudge};
use super::committer::{note_wal_frames, Committer};
use super::presence::{Presence, TRACKED};
use super::{Ack, Chunk, Scan, Store, StoreError, Write};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::sync::Mutex;

pub struct SqliteStore {
    path: PathBuf,
    committer: Arc<Committer>,
    /// The writer's thread, then the checkpointer's.
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    cache: Arc<Cache>,
    presence: Arc<Presence>,
}

pub(super) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) `DIR/shoal.db`.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create the data folder {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("shoal.db");
        let mut conn = Connection::open(&path).map_err(backend)?;
        // WAL with synchronous=NORMAL survives a killed process (the WAL is in the OS cache);
        // only a power loss can drop the last commits. The writer never checkpoints itself
        // (wal_autocheckpoint=0): its WAL hook tells the checkpointer thread when to.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864;",
        )
        .map_err(backend)?;
        conn.busy_handler(Some(retry_soon)).map_err(backend)?;
        conn.wal_hook(Some(note_wal_frames));
        super::layout::prepare(&mut conn)?;
        let checkpoints = Connection::open(&path).map_err(backend)?;
        checkpoints
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| StoreError::Backend(e.to_string()))
        };
        // one nudge of each kind waiting is enough: a copy takes whatever the log holds by then
        let (nudge, nudged) = mpsc::sync_channel::<Nudge>(2);
        let checkpointing = super::committer::Checkpointing::default();
        let activity = Arc::new(Activity::default());
        // a log left by a previous run (killed, say) is copied once the first pause comes
        if activity.wake() {
            let _ = nudge.try_send(Nudge::Commit);
        }
        let (held, watched) = (checkpointing.clone(), activity.clone());
        let checkpointer = spawn(
            "shoal-store-checkpointer",
            Box::new(move || super::checkpointer::run(checkpoints, nudged, held, watched)),
        )?;
        let cache = Arc::new(Cache::default());
        // the committer notes every key it writes from here on, so the load may start after
        let presence = Arc::new(Presence::default());
        let committer = Arc::new(Committer::new(
            conn,
            cache.clone(),
            presence.clone(),
            nudge,
            checkpointing,
            activity,
        ));
        let writes = committer.clone();
        let writer = spawn("shoal-store-writer", Box::new(move || writes.run()))?;
        let (from, into) = (path.clone(), presence.clone());
        let loader = spawn(
            "shoal-store-presence",
            Box::new(move || {
                if let Err(e) = load_presence(&from, &into) {
                    eprintln!("shoal: listing the stored keys failed (every lookup reads the database): {e}");
                }
            }),
        )?;
        Ok(SqliteStore {
            path,
            committer,
            threads: Mutex::new(vec![writer, checkpointer, loader]),
            readers: Mutex::new(Vec::new()),
            cache,
            presence,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the writer after it has committed everything queued, then the checkpointer.
    pub fn close(&self) {
        self.committer.close();
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in threads {
            let _ = t.join();
        }
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        let conn = self.readers.lock().ok().and_then(|mut r| r.pop());
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(backend)?;
                c.busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(backend)?;
                c
            }
        };
        let r = f(&conn).map_err(backend);
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < 8 {
                pool.push(conn);
            }
        }
        r
    }
}

/// How the writer waits for a lock another connection holds, which a RESTART checkpoint does
/// for a few milliseconds: it tries again every 100 µs, for up to 5 s in all. SQLite's own
/// busy handler sleeps 1, 2, 5, 10, ... ms between tries, so that a commit held back 3 ms
/// waited 8.
fn retry_soon(tries: i32) -> bool {
    std::thread::sleep(std::time::Duration::from_micros(100));
    tries < 50_000
}

/// Loads the keys of the kinds [`Presence`] tracks, a batch at a time, on a connection of its
/// own.
fn load_presence(path: &Path, presence: &Presence) -> Result<(), rusqlite::Error> {
    const BATCH: usize = 4096;
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    for kind in TRACKED {
        let mut st = conn.prepare("SELECT key FROM records WHERE kind = ?1")?;
        let mut rows = st.query(params![kind])?;
        let mut batch: Vec<String> = Vec::with_capacity(BATCH);
        while let Some(row) = rows.next()? {
            batch.push(row.get(0)?);
            if batch.len() == BATCH {
                presence.load(kind, batch.iter().map(String::as_str));
                batch.clear();
            }
        }
        presence.load(kind, batch.iter().map(String::as_str));
    }
    presence.loaded();
    Ok(())
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn where_clause(scan: &Scan) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut sql = String::from(" FROM records WHERE kind = ?1");
    let mut args = vec![Value::Text(scan.kind.to_string())];
    if let Some(o) = scan.owner {
        args.push(Value::Text(o.to_string()));
        sql.push_str(&format!(" AND owner = ?{}", args.len()));
    }
    if let Some(s) = scan.status {
        args.push(Value::Text(s.to_string()));
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    if let Some((sort, key)) = scan.after {
        args.push(Value::Integer(sort));
        args.push(Value::Text(key.to_string()));
        let n = args.len();
        let op = if scan.descending { '<' } else { '>' };
        sql.push_str(&format!(" AND (sort, key) {op} (?{}, ?{n})", n - 1));
    }
    (sql, args)
}

impl Store for SqliteStore {
    fn commit(&self, writes: Vec<Write>) -> Ack {
        self.committer.queue(writes)
    }

    fn commit_wait(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.committer.commit_now(writes)
    }

    fn get(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        if let Some(hit) = self.cache.record(kind, key) {
            return Ok(hit.map(|b| b.to_string()));
        }
        if self.presence.absent(kind, key) {
            return Ok(None);
        }
        let ticket = self.cache.ticket();
        let body: Option<String> = self.with_reader(|c| {
            c.prepare_cached("SELECT body FROM records WHERE kind = ?1 AND key = ?2")?
                .query_row(params![kind, key], |r| r.get(0))
                .optional()
        })?;
        self.cache.fill_record(ticket, kind, key, body.as_deref());
        Ok(body)
    }

    fn scan(&self, scan: &Scan) -> Result<Vec<(String, String)>, StoreError> {
        let (mut sql, args) = where_clause(scan);
        // a summary is read from the owner index; a record stored before summaries existed
        // has none, and its body is read by rowid after
        sql.insert_str(
            0,
            if scan.keys_only {
                "SELECT key, '', 0"
            } else if scan.summaries {
                "SELECT key, summary, rowid"
            } else {
                "SELECT key, body, 0"
            },
        );
        sql.push_str(if scan.descending {
            " ORDER BY sort DESC, key DESC"
        } else {
            " ORDER BY sort, key"
        });
        sql.push_str(&format!(
            " LIMIT {} OFFSET {}",
            if scan.limit == 0 {
                i64::MAX
            } else {
                scan.limit as i64
            },
            scan.offset
        ));
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            let rows: Vec<_> = rows.collect::<Result<_, _>>()?;
            let mut body = None;
            let mut out = Vec::with_capacity(rows.len());
            for (key, text, rowid) in rows {
                let text = match text {
                    Some(text) => text,
                    None => {
                        let st = match &mut body {
                            Some(st) => st,
                            None => body.insert(
                                c.prepare_cached("SELECT body FROM records WHERE rowid = ?1")?,
                            ),
                        };
                        // deleted since the listing read its key: left out, as it would be now
                        match st.query_row([rowid], |r| r.get(0)).optional()? {
                            Some(text) => text,
                            None => continue,
                        }
                    }
                };
                out.push((key, text));
            }
            Ok(out)
        })
    }

    fn stored_bytes(&self, kind: &str, owner: &str) -> Result<u64, StoreError> {
        // octet_length() of a column is read from the row's header: a large text's overflow
        // pages are not read
        self.with_reader(|c| {
            c.prepare_cached(
                "SELECT total(octet_length(body)) FROM records WHERE kind = ?1 AND owner = ?2",
            )?
            .query_row(params![kind, owner], |r| r.get::<_, f64>(0))
        })
        .map(|n| n as u64)
    }

    fn decoded(&self, kind: &str, key: &str) -> Option<super::Shared> {
        self.cache.decoded(kind, key)
    }

    fn decoded_from(&self, kind: &str, key: &str, body: &str) -> Option<super::Shared> {
        self.cache.decoded_from(kind, key, body)
    }

    fn keep_decoded(&self, kind: &str, key: &str, body: &str, record: super::Shared) {
        self.cache.keep_decoded(kind, key, body, record)
    }

    fn history(&self, execution: &str) -> Result<Vec<Chunk>, StoreError> {
        if let Some(hit) = self.cache.history(execution) {
            return Ok(hit);
        }
        let ticket = self.cache.ticket();
        let chunks: Vec<Chunk> = self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT first_id, events FROM history WHERE execution = ?1 ORDER BY first_id",
            )?;
            let rows = st.query_map(params![execution], |r| {
                let events: String = r.get(1)?;
                Ok((r.get::<_, i64>(0)? as u64, Arc::from(events)))
            })?;
            rows.collect()
        })?;
        self.cache.fill_history(ticket, execution, &chunks);
        Ok(chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{put, Record, Records};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Thing {
        name: String,
        n: i64,
    }
    impl Record for Thing {
        const KIND: &'static str = "thing";
        fn key(&self) -> String {
            self.name.clone()
        }
        fn sort(&self) -> i64 {
            self.n
        }
    }

    #[test]
    fn writes_survive_reopening_and_scans_order() {
        let dir = std::env::temp_dir().join(format!("shoal-store-{}", uuid::Uuid::new_v4()));
        {
            let s = SqliteStore::open(&dir).unwrap();
            let acks: Vec<_> = (0..50)
                .map(|n| {
                    s.commit(vec![put(&Thing {
                        name: format!("t{n}"),
                        n,
                    })])
                })
                .collect();
            for a in acks {
                a.wait().unwrap();
            }
        }
        let s = SqliteStore::open(&dir).unwrap();
        let t: Option<Thing> = s.load("t7").unwrap();
        assert_eq!(t.map(|t| t.n), Some(7));
        let page: Vec<Thing> = s
            .list(Scan {
                descending: true,
                offset: 2,
                limit: 3,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            page.iter().map(|t| t.n).collect::<Vec<_>>(),
            vec![47, 46, 45]
        );
        // a page after a row, in either order
        let after = |descending, sort| -> Vec<i64> {
            let key = format!("t{sort}");
            let page: Vec<Thing> = s
                .list(Scan {
                    descending,
                    after: Some((sort, &key)),
                    limit: 3,
                    ..Default::default()
                })
                .unwrap();
            page.iter().map(|t| t.n).collect()
        };
        assert_eq!(after(false, 7), [8, 9, 10]);
        assert_eq!(after(true, 7), [6, 5, 4]);
        assert_eq!(after(false, 48), [49]);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A page after a row is found through the owner index, neither scanning the kind nor
    /// sorting: its cost is its own rows. Keys and summaries are read from the index alone.
    #[test]
    fn a_page_after_a_row_walks_the_owner_index() {
        let dir = std::env::temp_dir().join(format!("shoal-store-{}", uuid::Uuid::new_v4()));
        let s = SqliteStore::open(&dir).unwrap();
        for descending in [false, true] {
            let (sql, args) = where_clause(&Scan {
                kind: "thing",
                owner: Some("o"),
                after: Some((5, "k")),
                descending,
                ..Default::default()
            });
            let plan: Vec<String> = s
                .with_reader(|c| {
                    let mut st = c.prepare(&format!(
                        "EXPLAIN QUERY PLAN SELECT key, body{sql} ORDER BY sort{0}, key{0}",
                        if descending { " DESC" } else { "" }
                    ))?;
                    let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                        r.get::<_, String>(3)
                    })?;
                    rows.collect()
                })
                .unwrap();
            let plan = plan.join("; ");
            assert!(
                plan.contains("records_owner (kind=? AND owner=? AND (sort,key)"),
                "{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
            for columns in ["key", "key, summary, rowid"] {
                let query = format!("EXPLAIN QUERY PLAN SELECT {columns}{sql} ORDER BY sort, key");
                let plan: String = s
                    .with_reader(|c| {
                        let mut st = c.prepare(&query)?;
                        st.query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(3))
                    })
                    .unwrap();
                assert!(plan.contains("COVERING INDEX records_owner"), "{plan}");
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The bytes of an owner's records of a kind: large texts (overflow pages) included, other
    /// owners and kinds left out, deletions counted out.
    #[test]
    fn stored_bytes_count_an_owners_texts_of_a_kind() {
        let dir = std::env::temp_dir().join(format!("shoal-store-{}", uuid::Uuid::new_v4()));
        let s = SqliteStore::open(&dir).unwrap();
        let row = |kind: &'static str, key: &str, owner: &str, len: usize| {
            Write::Put(crate::store::Row {
                kind,
                key: key.into(),
                owner: owner.into(),
                status: String::new(),
                sort: 0,
                summary: None,
                body: "é".repeat(len / 2),
            })
        };
        s.commit_wait(vec![
            row("thing", "a1", "a", 100),
            row("thing", "a2", "a", 200_000),
            row("thing", "b1", "b", 300),
            row("other", "a3", "a", 400),
        ])
        .unwrap();
        assert_eq!(s.stored_bytes("thing", "a").unwrap(), 200_100);
        assert_eq!(s.stored_bytes("thing", "b").unwrap(), 300);
        assert_eq!(s.stored_bytes("other", "a").unwrap(), 400);
        assert_eq!(s.stored_bytes("thing", "c").unwrap(), 0);
        s.commit_wait(vec![Write::Delete {
            kind: "thing",
            key: "a2".into(),
        }])
        .unwrap();
        assert_eq!(s.stored_bytes("thing", "a").unwrap(), 100);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The size of the database file of the store in `dir`: only a checkpoint grows it (the
    /// writer never checkpoints below `WRITER_CHECKPOINT_FRAMES`).
    fn database_bytes(dir: &Path) -> u64 {
        std::fs::metadata(dir.join("shoal.db")).map_or(0, |m| m.len())
    }

    /// Waits until `deadline` at most for the database file of the store in `dir` to reach
    /// `bytes`; gives its size then.
    fn database_reaching(dir: &Path, bytes: u64, deadline: std::time::Instant) -> u64 {
        while database_bytes(dir) < bytes && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        database_bytes(dir)
    }

    fn big_thing(n: i64) -> Write {
        put(&Thing {
            name: format!("{n}-{}", "x".repeat(4000)),
            n,
        })
    }

    #[test]
    fn the_checkpointer_copies_a_long_log_while_commits_go_on() {
        let dir = std::env::temp_dir().join(format!("shoal-store-{}", uuid::Uuid::new_v4()));
        let s = SqliteStore::open(&dir).unwrap();
        // one commit each: every commit appends at least one page to the log
        let frames = super::super::committer::CHECKPOINT_FRAMES as i64;
        for n in 0..frames + 500 {
            s.commit(vec![big_thing(n)]).wait().unwrap();
        }
        // commits go on, closer together than a pause, until the copy shows
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut n = frames + 500;
        while database_bytes(&dir) < 4_000_000 && std::time::Instant::now() < deadline {
            s.commit(vec![big_thing(n)]).wait().unwrap();
            n += 1;
            std::thread::sleep(super::super::checkpointer::PAUSE / 10);
        }
        assert!(
            database_bytes(&dir) >= 4_000_000,
            "database file is {} bytes",
            database_bytes(&dir)
        );
        let t: Option<Thing> = s.load(&format!("7-{}", "x".repeat(4000))).unwrap();
        assert_eq!(t.map(|t| t.n), Some(7));
        drop(s);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_log_is_copied_into_the_database_once_commits_pause() {
        let dir = std::env::temp_dir().join(format!("shoal-store-{}", uuid::Uuid::new_v4()));
        let s = SqliteStore::open(&dir).unwrap();
        // far fewer frames than a long log
        for n in 0..50 {
            s.commit(vec![big_thing(n)]).wait().unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let copied = database_reaching(&dir, 200_000, deadline);
        assert!(copied >= 200_000, "database file is {copied} bytes");
        // and again after the next commits: the checkpointer slept, and a commit woke it
        for n in 50..100 {
            s.commit(vec![big_thing(n)]).wait().unwrap();
        }
        let again = database_reaching(&dir, copied + 150_000, deadline);
        assert!(
            again >= copied + 150_000,
            "database file is {again} bytes, {copied} before"
        );
        drop(s);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_commit_held_back_by_another_connection_waits_for_it() {
        let dir = std::env::temp_dir().join(format!("shoal-store-{}", uuid::Uuid::new_v4()));
        let s = SqliteStore::open(&dir).unwrap();
        // the write lock, as a RESTART checkpoint takes it
        let other = Connection::open(dir.join("shoal.db")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let held = std::time::Duration::from_millis(50);
        let release = std::thread::spawn(move || {
            std::thread::sleep(held);
            other.execute_batch("COMMIT").unwrap();
        });
        let t = std::time::Instant::now();
        let thing = Thing {
            name: "a".into(),
            n: 1,
        };
        s.commit(vec![put(&thing)]).wait().unwrap();
        assert!(t.elapsed() >= held, "committed after {:?}", t.elapsed());
        release.join().unwrap();
        assert_eq!(s.load::<Thing>("a").unwrap(), Some(thing));
        drop(s);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_log_stays_bounded_under_a_steady_stream_of_commits() {
        let dir = std::env::temp_dir().join(format!("shoal-store-{}", uuid::Uuid::new_v4()));
        let s = SqliteStore::open(&dir).unwrap();
        let wal = || std::fs::metadata(dir.join("shoal.db-wal")).map_or(0, |m| m.len());
        let big = "x".repeat(4000);
        let mut longest = 0;
        // commits back to back, never a pause for a PASSIVE checkpoint to catch up in
        for n in 0..8_000i64 {
            s.commit(vec![put(&Thing {
                name: format!("{}-{big}", n % 3000),
                n,
            })])
            .wait()
            .unwrap();
            longest = longest.max(wal());
        }
        // a frame is a page and its header; without RESTART checkpoints the log passed 300 MB
        let bound = 3 * super::super::checkpointer::RESTART_FRAMES as u64 * (4096 + 24);
        assert!(longest < bound, "the log grew to {longest} bytes");
        drop(s);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A record of a kind whose stored keys are kept in memory.
    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Tracked {
        name: String,
    }
    impl Record for Tracked {
        const KIND: &'static str = "sfn.execution";
        fn key(&self) -> String {
            self.name.clone()
        }
    }

    #[test]
    fn keys_stored_before_a_restart_are_found_after_it() {
        let dir = std::env::temp_dir().join(format!("shoal-store-{}", uuid::Uuid::new_v4()));
        let n = 5000; // more than one batch of the load
        {
            let s = SqliteStore::open(&dir).unwrap();
            let writes = (0..n)
                .map(|i| {
                    put(&Tracked {
                        name: format!("e{i}"),
                    })
                })
                .collect();
            s.commit(writes).wait().unwrap();
        }
        let s = SqliteStore::open(&dir).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !s.presence.absent(Tracked::KIND, "never-stored") {
            assert!(
                std::time::Instant::now() < deadline,
                "the stored keys were never loaded"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for i in (0..n).step_by(7) {
            let t: Option<Tracked> = s.load(&format!("e{i}")).unwrap();
            assert_eq!(t.map(|t| t.name), Some(format!("e{i}")));
        }
        // a key written now is found too, one never written is not
        s.commit(vec![put(&Tracked {
            name: "late".into(),
        })])
        .wait()
        .unwrap();
        assert!(s.load::<Tracked>("late").unwrap().is_some());
        assert!(s.load::<Tracked>("e-none").unwrap().is_none());
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
