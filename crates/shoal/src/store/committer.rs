//! Group commit over the one SQLite write connection. Callers queue their writes; whoever holds
//! the connection applies everything queued, in order, in one transaction. A caller that may
//! block (an executor thread) commits itself when no commit is under way, so that its commit
//! needs no hand-off to another thread and back; otherwise, and for async callers, the writer
//! thread does.

use super::cache::Cache;
use super::checkpointer::{checkpoint, Activity, Mode, Nudge};
use super::presence::Presence;
use super::{Ack, StoreError, Write};
use rusqlite::{params, Connection};
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};

type Batch = (Vec<Write>, tokio::sync::oneshot::Sender<Result<(), String>>);

/// Most batches one transaction takes (keeps one commit's latency bounded).
const MAX_GROUP: usize = 512;

/// Frames added to the log after which the checkpointer is asked to copy it into the database
/// without waiting for commits to pause (twice SQLite's own automatic checkpoint threshold;
/// 8 MB at 4 KiB pages). Not after every commit past it: each checkpoint sorts the whole log's
/// index and syncs both files, so that one checkpoint per commit of a few frames took a third
/// of the server's CPU under a steady load.
pub(super) const CHECKPOINT_FRAMES: i32 = 2000;

/// Frames in the log past which the writer copies it itself (a RESTART checkpoint, about 33 MB
/// at 4 KiB pages): the checkpointer runs at low priority, and with both cores busy it can fall
/// behind for as long as they are; past this the log stops growing, and commits wait for the
/// copy instead. The writer first waits for a checkpoint under way ([`Checkpointing`]): SQLite
/// refuses a second one at once.
const WRITER_CHECKPOINT_FRAMES: i32 = 8_000;

/// Held by whoever checkpoints the log: the checkpointer thread, or the writer past
/// [`WRITER_CHECKPOINT_FRAMES`].
pub(super) type Checkpointing = Arc<Mutex<()>>;

thread_local! {
    /// The frames in the log after this thread's last commit (set by the WAL hook).
    static WAL_FRAMES: Cell<i32> = const { Cell::new(0) };
}

/// The write connection's WAL hook: notes the log's length for the thread that committed.
pub(super) fn note_wal_frames(
    _: &rusqlite::hooks::Wal,
    frames: std::ffi::c_int,
) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(frames));
    Ok(())
}

#[derive(Default)]
struct Queue {
    batches: VecDeque<Batch>,
    closed: bool,
}

pub(super) struct Committer {
    queue: Mutex<Queue>,
    /// Wakes the writer thread when batches are queued or the store closes.
    wake: Condvar,
    conn: Mutex<Connection>,
    cache: Arc<Cache>,
    presence: Arc<Presence>,
    /// Wakes the checkpointer; dropped when the writer ends, which ends it.
    checkpoint: Mutex<Option<SyncSender<Nudge>>>,
    /// Tells the checkpointer of commits without waking it, unless it sleeps.
    activity: Arc<Activity>,
    checkpointing: Checkpointing,
    /// The log's length when the checkpointer was last asked (set by whoever holds `conn`).
    nudged_at: AtomicI32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a panic while holding a lock leaves nothing half-done here: go on with the value
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Committer {
    pub fn new(
        conn: Connection,
        cache: Arc<Cache>,
        presence: Arc<Presence>,
        checkpoint: SyncSender<Nudge>,
        checkpointing: Checkpointing,
        activity: Arc<Activity>,
    ) -> Committer {
        Committer {
            queue: Mutex::default(),
            wake: Condvar::new(),
            conn: Mutex::new(conn),
            cache,
            presence,
            checkpoint: Mutex::new(Some(checkpoint)),
            checkpointing,
            activity,
            nudged_at: AtomicI32::new(0),
        }
    }

    /// Queues writes without committing them.
    fn enqueue(&self, writes: Vec<Write>) -> Ack {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if writes.is_empty() {
            let _ = tx.send(Ok(()));
            return Ack(rx);
        }
        let mut q = lock(&self.queue);
        if q.closed {
            let _ = tx.send(Err("the store is shut down".into()));
        } else {
            q.batches.push_back((writes, tx));
        }
        Ack(rx)
    }

    /// Queues writes for the writer thread. Nothing to write wakes no one: a wake-up is a
    /// futex call and a context switch, and PutEvents asks twice per call with nothing to store.
    pub fn queue(&self, writes: Vec<Write>) -> Ack {
        let empty = writes.is_empty();
        let ack = self.enqueue(writes);
        if !empty {
            self.wake.notify_one();
        }
        ack
    }

    /// Commits from a thread that may block, and waits until the writes are durable.
    pub fn commit_now(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let ack = self.enqueue(writes);
        match self.conn.try_lock() {
            Ok(mut conn) => self.apply_queued(&mut conn),
            Err(TryLockError::Poisoned(p)) => self.apply_queued(&mut p.into_inner()),
            // a commit is under way: the writer thread takes these writes after it
            Err(TryLockError::WouldBlock) => self.wake.notify_one(),
        }
        ack.wait()
    }

    /// The writer thread: applies what is queued until the store closes and the queue is empty.
    pub fn run(&self) {
        loop {
            {
                let mut q = lock(&self.queue);
                while q.batches.is_empty() && !q.closed {
                    q = self.wake.wait(q).unwrap_or_else(|p| p.into_inner());
                }
                if q.batches.is_empty() {
                    break;
                }
            }
            self.apply_queued(&mut lock(&self.conn));
        }
        lock(&self.checkpoint).take();
    }

    /// No more writes are taken; the writer thread ends once it has committed those queued.
    pub fn close(&self) {
        lock(&self.queue).closed = true;
        self.wake.notify_all();
    }

    /// Applies the batches queued now (up to [`MAX_GROUP`]) in one transaction and answers
    /// their callers. The caller holds the connection, so groups commit in queue order.
    fn apply_queued(&self, conn: &mut Connection) {
        let (group, more) = {
            let mut q = lock(&self.queue);
            let n = q.batches.len().min(MAX_GROUP);
            let group: Vec<Batch> = q.batches.drain(..n).collect();
            (group, !q.batches.is_empty())
        };
        if more {
            self.wake.notify_one();
        }
        if group.is_empty() {
            return;
        }
        self.presence.note(group.iter().flat_map(|(w, _)| w.iter()));
        self.cache.begin(group.iter().flat_map(|(w, _)| w.iter()));
        let result = apply(conn, &group).map_err(|e| e.to_string());
        let writes = group.iter().flat_map(|(w, _)| w.iter());
        match result {
            Ok(()) => self.cache.applied(writes),
            Err(_) => self.cache.failed(writes),
        }
        for (_, ack) in group {
            let _ = ack.send(result.clone());
        }
        let frames = WAL_FRAMES.with(Cell::get);
        let mut since = self.nudged_at.load(Ordering::Relaxed);
        if frames < since {
            // the writer has started the log over
            since = 0;
            self.nudged_at.store(0, Ordering::Relaxed);
        }
        if frames >= WRITER_CHECKPOINT_FRAMES {
            let _copying = lock(&self.checkpointing);
            if let Err(e) = checkpoint(conn, Mode::Restart) {
                eprintln!("shoal: checkpoint of the store's log failed (tried again later): {e}");
            }
        }
        let asleep = self.activity.committed();
        let nudge = if frames - since >= CHECKPOINT_FRAMES {
            self.nudged_at.store(frames, Ordering::Relaxed);
            Some(Nudge::Long)
        } else {
            asleep.then_some(Nudge::Commit)
        };
        if let Some(nudge) = nudge {
            if let Some(c) = lock(&self.checkpoint).as_ref() {
                // full: the checkpointer is awake already, and copies these too
                let _ = c.try_send(nudge);
            }
        }
    }
}

/// Applies a group of batches in one transaction. BEGIN and COMMIT run as cached statements:
/// rusqlite's `Transaction` runs them through `execute_batch`, which compiles their SQL anew,
/// twice per commit (423 compilations in 200 delivery samples, against 15 with them cached).
fn apply(conn: &mut Connection, group: &[Batch]) -> Result<(), rusqlite::Error> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let written = write(conn, group).and_then(|()| {
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    });
    if written.is_err() && !conn.is_autocommit() {
        // what a failed write or COMMIT left open is undone, as `Transaction` would on drop
        let _ = conn.execute_batch("ROLLBACK");
    }
    written
}

/// The writes of a group, within the transaction [`apply`] opened.
fn write(tx: &Connection, group: &[Batch]) -> Result<(), rusqlite::Error> {
    // An upsert, not INSERT OR REPLACE: a replaced row is deleted and inserted again under a
    // new rowid, rewriting its entry in every index; an updated one keeps its place, and
    // only the indexes whose columns changed are touched. A running execution's commits
    // write about half the pages.
    let mut put = tx.prepare_cached(
        "INSERT INTO records (kind, key, owner, status, sort, summary, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (kind, key) DO UPDATE SET owner = excluded.owner,
             status = excluded.status, sort = excluded.sort, summary = excluded.summary,
             body = excluded.body",
    )?;
    let mut del = tx.prepare_cached("DELETE FROM records WHERE kind = ?1 AND key = ?2")?;
    let mut hist = tx.prepare_cached(
        "INSERT OR REPLACE INTO history (execution, first_id, events) VALUES (?1, ?2, ?3)",
    )?;
    let mut drop_hist = tx.prepare_cached("DELETE FROM history WHERE execution = ?1")?;
    let writes: Vec<&Write> = group.iter().flat_map(|(w, _)| w).collect();
    let last = last_writes(&writes);
    for (w, last) in writes.into_iter().zip(last) {
        match w {
            _ if !last => {}
            Write::Put(r) => {
                put.execute(params![
                    r.kind, r.key, r.owner, r.status, r.sort, r.summary, r.body
                ])?;
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
            Write::DropHistory { execution } => {
                drop_hist.execute(params![execution])?;
            }
        }
    }
    Ok(())
}

/// Whether each write is the group's last to its record: an earlier one is left out, as the
/// later replaces or deletes its row anyway. A new execution that ends within its first commit
/// is put RUNNING and then put ended; storing only the second saves a row's insert and delete
/// and their index updates.
fn last_writes(writes: &[&Write]) -> Vec<bool> {
    let mut seen = std::collections::HashSet::new();
    let mut last: Vec<bool> = (writes.iter().rev())
        .map(|w| match w {
            Write::Put(r) => seen.insert((r.kind, r.key.as_str())),
            Write::Delete { kind, key } => seen.insert((kind, key.as_str())),
            Write::History { .. } | Write::DropHistory { .. } => true,
        })
        .collect();
    last.reverse();
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, status: &str) -> Write {
        Write::Put(super::super::Row {
            kind: "thing",
            key: key.into(),
            owner: String::new(),
            status: status.into(),
            sort: 0,
            summary: None,
            body: format!("{{\"status\":\"{status}\"}}"),
        })
    }

    /// A committer over a new database in the current layout, in a directory of its own, with
    /// the log and its hook set as the store sets them (nothing checkpoints). `room`: how many
    /// requests to checkpoint its receiver holds.
    fn committer(
        room: usize,
    ) -> (
        Committer,
        std::path::PathBuf,
        std::sync::mpsc::Receiver<Nudge>,
    ) {
        let dir = std::env::temp_dir().join(format!("shoal-commit-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut conn = Connection::open(dir.join("shoal.db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;")
            .unwrap();
        conn.wal_hook(Some(note_wal_frames));
        super::super::layout::prepare(&mut conn).unwrap();
        let (nudge, nudged) = std::sync::mpsc::sync_channel(room);
        (
            Committer::new(
                conn,
                Arc::new(Cache::default()),
                Default::default(),
                nudge,
                Default::default(),
                Default::default(),
            ),
            dir,
            nudged,
        )
    }

    #[test]
    fn a_group_stores_only_the_last_write_to_each_record() {
        let (c, dir, _nudged) = committer(1);
        let del = |key: &str| Write::Delete {
            kind: "thing",
            key: key.into(),
        };
        let writes = vec![
            row("a", "RUNNING"),
            row("b", "RUNNING"),
            row("a", "SUCCEEDED"),
            del("b"),
            del("c"),
            row("c", "NEW"),
        ];
        let refs: Vec<&Write> = writes.iter().collect();
        assert_eq!(last_writes(&refs), [false, false, true, true, false, true]);
        c.commit_now(writes).unwrap();
        let conn = lock(&c.conn);
        let rows: Vec<(String, String, i64)> = conn
            .prepare("SELECT key, status, rowid FROM records ORDER BY key")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // one insert each: no row was inserted and then replaced
        assert_eq!(
            rows,
            [
                ("a".into(), "SUCCEEDED".into(), 1),
                ("c".into(), "NEW".into(), 2)
            ]
        );
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_group_that_fails_stores_nothing_and_the_next_commits() {
        let (c, dir, _nudged) = committer(1);
        lock(&c.conn)
            .execute_batch(
                "CREATE TEMP TRIGGER refuse BEFORE INSERT ON records WHEN NEW.key = 'bad'
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .unwrap();
        let failed = c.commit_now(vec![row("a", "NEW"), row("bad", "NEW")]);
        assert!(failed.is_err(), "{failed:?}");
        c.commit_now(vec![row("b", "NEW")]).unwrap();
        let conn = lock(&c.conn);
        assert!(conn.is_autocommit(), "a transaction was left open");
        let keys: Vec<String> = conn
            .prepare("SELECT key FROM records ORDER BY key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(keys, ["b"]);
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_record_written_again_is_updated_in_place() {
        let (c, dir, _nudged) = committer(1);
        c.commit_now(vec![row("a", "RUNNING"), row("b", "RUNNING")])
            .unwrap();
        c.commit_now(vec![row("a", "SUCCEEDED")]).unwrap();
        let conn = lock(&c.conn);
        let by_status = |status: &str| -> Vec<(String, i64, String)> {
            // through the status index, as a scan by status reads it
            conn.prepare(
                "SELECT key, rowid, body FROM records INDEXED BY records_status
                 WHERE kind = 'thing' AND status = ?1 ORDER BY sort, key",
            )
            .unwrap()
            .query_map([status], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        // the same row (rowid 1), with its new status and body, and no stale index entry
        let done = r#"{"status":"SUCCEEDED"}"#.to_string();
        assert_eq!(by_status("SUCCEEDED"), [("a".into(), 1, done)]);
        assert_eq!(
            by_status("RUNNING"),
            [("b".into(), 2, r#"{"status":"RUNNING"}"#.to_string())]
        );
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_checkpointer_is_woken_once_to_watch_and_once_per_long_log_not_once_per_commit() {
        // room for every request: none is lost to a full channel
        let (c, dir, nudged) = committer(100_000);
        let frames = || WAL_FRAMES.with(Cell::get);
        let mut total = 0;
        for n in 0..5_000 {
            let before = frames();
            let events = format!("[{}]", "1,".repeat(1000) + "1");
            c.commit_now(vec![Write::History {
                execution: format!("e{n}"),
                first_id: 1,
                events,
            }])
            .unwrap();
            // past WRITER_CHECKPOINT_FRAMES the writer copies the log and starts it over
            let after = frames();
            total += if after >= before {
                after - before
            } else {
                after
            };
        }
        let asked: Vec<Nudge> = nudged.try_iter().collect();
        let long = asked.iter().filter(|n| **n == Nudge::Long).count() as i32;
        assert!(total > 3 * CHECKPOINT_FRAMES, "{total} frames");
        // (one fewer when the writer started the log over: it copied those frames itself)
        assert!(
            (total / CHECKPOINT_FRAMES - 1..=total / CHECKPOINT_FRAMES + 1).contains(&long),
            "{long} checkpoints asked for {total} frames"
        );
        // the first commit woke it to watch; it never slept again (nothing here runs it)
        let watch = asked.iter().filter(|n| **n == Nudge::Commit).count();
        assert_eq!(watch, 1, "{asked:?}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
