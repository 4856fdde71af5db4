//! The embedded default: one SQLite database in WAL mode. One writer thread applies the writes
//! of many callers in a single transaction; readers use their own connections, which WAL lets
//! run beside the writer.

use super::cache::Cache;
use super::{Ack, Scan, Store, StoreError, Write};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::sync::Mutex;

type Batch = (Vec<Write>, tokio::sync::oneshot::Sender<Result<(), String>>);

/// Most batches one transaction takes (keeps one commit's latency bounded).
const MAX_GROUP: usize = 512;

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Batch>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    cache: Arc<Cache>,
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL,
    sort INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_owner ON records (kind, owner, sort);
CREATE INDEX IF NOT EXISTS records_status ON records (kind, status, sort);
CREATE TABLE IF NOT EXISTS history (
    execution TEXT NOT NULL, first_id INTEGER NOT NULL, events TEXT NOT NULL,
    PRIMARY KEY (execution, first_id)) WITHOUT ROWID;
";

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
        let conn = Connection::open(&path).map_err(backend)?;
        // WAL with synchronous=NORMAL survives a killed process (the WAL is in the OS cache);
        // only a power loss can drop the last commits.
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        )
        .map_err(backend)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        let (tx, rx) = mpsc::channel::<Batch>();
        let cache = Arc::new(Cache::default());
        let writer_cache = cache.clone();
        let thread = std::thread::Builder::new()
            .name("shoal-store-writer".into())
            .spawn(move || writer_loop(conn, rx, &writer_cache))
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(SqliteStore {
            path,
            writer: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            readers: Mutex::new(Vec::new()),
            cache,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the writer after it has committed everything queued.
    pub fn close(&self) {
        if let Ok(mut w) = self.writer.lock() {
            w.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
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

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Batch>, cache: &Cache) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(b) => group.push(b),
                Err(_) => break,
            }
        }
        cache.begin(group.iter().flat_map(|(w, _)| w.iter()));
        let result = apply(&mut conn, &group).map_err(|e| e.to_string());
        let writes = group.iter().flat_map(|(w, _)| w.iter());
        match result {
            Ok(()) => cache.applied(writes),
            Err(_) => cache.failed(writes),
        }
        for (_, ack) in group {
            let _ = ack.send(result.clone());
        }
    }
}

fn apply(conn: &mut Connection, group: &[Batch]) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    {
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO records (kind, key, owner, status, sort, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut del = tx.prepare_cached("DELETE FROM records WHERE kind = ?1 AND key = ?2")?;
        let mut hist = tx.prepare_cached(
            "INSERT OR REPLACE INTO history (execution, first_id, events) VALUES (?1, ?2, ?3)",
        )?;
        for (writes, _) in group {
            for w in writes {
                match w {
                    Write::Put(r) => {
                        put.execute(params![r.kind, r.key, r.owner, r.status, r.sort, r.body])?;
                    }
                    Write::Delete { kind, key } => {
                        del.execute(params![kind, key])?;
                    }
                    Write::History {
                        execution,
                        first_id,
                        events,
                    } => {
                        hist.execute(params![execution, *first_id as i64, events])?;
                    }
                }
            }
        }
    }
    tx.commit()
}

fn where_clause(scan: &Scan) -> (String, Vec<String>) {
    let mut sql = String::from(" FROM records WHERE kind = ?1");
    let mut args = vec![scan.kind.to_string()];
    if let Some(o) = scan.owner {
        args.push(o.to_string());
        sql.push_str(&format!(" AND owner = ?{}", args.len()));
    }
    if let Some(s) = scan.status {
        args.push(s.to_string());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    (sql, args)
}

impl Store for SqliteStore {
    fn commit(&self, writes: Vec<Write>) -> Ack {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if writes.is_empty() {
            let _ = tx.send(Ok(()));
            return Ack(rx);
        }
        let sender = self.writer.lock().ok().and_then(|w| w.clone());
        match sender {
            Some(s) => {
                if let Err(mpsc::SendError((_, tx))) = s.send((writes, tx)) {
                    let _ = tx.send(Err("the store is shut down".into()));
                }
            }
            None => {
                let _ = tx.send(Err("the store is shut down".into()));
            }
        }
        Ack(rx)
    }

    fn get(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        if let Some(hit) = self.cache.record(kind, key) {
            return Ok(hit.map(|b| b.to_string()));
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

    fn scan(&self, scan: &Scan) -> Result<Vec<String>, StoreError> {
        let (mut sql, args) = where_clause(scan);
        sql.insert_str(0, "SELECT body");
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
            let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
            rows.collect()
        })
    }

    fn decoded(&self, kind: &str, key: &str) -> Option<super::Shared> {
        self.cache.decoded(kind, key)
    }

    fn keep_decoded(&self, kind: &str, key: &str, body: &str, record: super::Shared) {
        self.cache.keep_decoded(kind, key, body, record)
    }

    fn history(&self, execution: &str) -> Result<Vec<String>, StoreError> {
        if let Some(hit) = self.cache.history(execution) {
            return Ok(hit);
        }
        let ticket = self.cache.ticket();
        let chunks: Vec<(u64, String)> = self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT first_id, events FROM history WHERE execution = ?1 ORDER BY first_id",
            )?;
            let rows = st.query_map(params![execution], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })?;
            rows.collect()
        })?;
        self.cache.fill_history(ticket, execution, &chunks);
        Ok(chunks.into_iter().map(|(_, e)| e).collect())
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
        let _ = std::fs::remove_dir_all(dir);
    }
}
