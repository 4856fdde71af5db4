//! The checkpointer thread: copies the write-ahead log into the database file beside the writer,
//! so that no commit waits for a checkpoint's writes and fsyncs, and gets the log started over
//! so that it stays short.
//!
//! It copies the log when commits pause (see [`watch`]), and under a steady stream of them each
//! time the log has grown by [`CHECKPOINT_FRAMES`]. Between pauses it sleeps: an idle server
//! wakes it for nothing, and a busy one wakes it once per pause, not once per commit.
//!
//! [`CHECKPOINT_FRAMES`]: super::committer::CHECKPOINT_FRAMES

use super::committer::Checkpointing;
use rusqlite::Connection;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// How long commits must pause before the log is copied. A round copies pages and syncs both
/// files for milliseconds, taking a core, and a request arriving meanwhile may wait for it:
/// copying in pauses keeps rounds away from a steady stream of requests (a round every 40 new
/// executions had overlapped 7 of the 20 slowest of 400 PutEvents calls). It also makes the
/// commits before a pause durable against a power cut soon after it, where a log below the
/// threshold had waited, unsynced, for more commits.
pub(super) const PAUSE: Duration = Duration::from_millis(100);

/// Frames in the log past which a round ends with a RESTART checkpoint (16 MB at 4 KiB pages),
/// when its PASSIVE passes could not settle the log: without one, a log that commits keep
/// appending to during every pass would grow without bound.
pub(super) const RESTART_FRAMES: i64 = 4_000;

/// PASSIVE passes a round makes at most before it gives up settling the log.
const PASSES: usize = 4;

/// A checkpoint mode (SQLite's `PRAGMA wal_checkpoint(MODE)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Copies what no reader still needs, blocking no one.
    Passive,
    /// Holds commits back until all of the log is copied and no reader uses it.
    Restart,
}

/// What a checkpoint saw: the frames in the log as it began, and how many of them are in the
/// database file now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pass {
    log: i64,
    copied: i64,
}

/// Why the writer wakes the checkpointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Nudge {
    /// The log has grown by [`CHECKPOINT_FRAMES`](super::committer::CHECKPOINT_FRAMES) since
    /// the last such nudge: copy it now.
    Long,
    /// A commit came while the checkpointer slept: watch for a pause.
    Commit,
}

/// What the writer and the checkpointer share: the commits so far, and whether the
/// checkpointer is watching them (so the writer need not wake it).
#[derive(Default)]
pub(super) struct Activity {
    commits: AtomicU64,
    watching: AtomicBool,
}

impl Activity {
    /// Counts a commit; true when the checkpointer sleeps and must be woken to watch.
    pub fn committed(&self) -> bool {
        self.commits.fetch_add(1, SeqCst);
        self.wake()
    }

    /// Marks the checkpointer as watching; true when it was not (whoever gets true wakes it).
    pub fn wake(&self) -> bool {
        !self.watching.swap(true, SeqCst)
    }

    fn commits(&self) -> u64 {
        self.commits.load(SeqCst)
    }

    /// The checkpointer goes to sleep, unless a commit came after `seen`: true when it may.
    /// (A commit after this sees it asleep and wakes it: both sides use `SeqCst`, so either
    /// the commit counted here or the writer finds it asleep.)
    fn rest(&self, seen: u64) -> bool {
        self.watching.store(false, SeqCst);
        if self.commits() == seen {
            return true;
        }
        self.watching.store(true, SeqCst);
        false
    }
}

/// Sleeps until the writer wakes it, then copies the log as [`watch`] says, until the writer
/// ends. Each copy is a round (see [`round`]).
pub(super) fn run(
    conn: Connection,
    nudged: mpsc::Receiver<Nudge>,
    checkpointing: Checkpointing,
    activity: Arc<Activity>,
) {
    background_priority();
    let copy = || {
        let _copying = checkpointing.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = round(|mode| checkpoint(&conn, mode)) {
            eprintln!("shoal: checkpoint of the store's log failed (tried again later): {e}");
        }
    };
    while let Ok(nudge) = nudged.recv() {
        if nudge == Nudge::Long {
            copy();
        }
        if !watch(|| nudged.recv_timeout(PAUSE), &activity, copy) {
            break;
        }
    }
}

/// Watches the commits: copies the log once none has come for a [`PAUSE`], and at once when
/// the writer says it is long. Returns true once a copy had no commit after it (the
/// checkpointer may sleep), false when the writer has ended.
fn watch(
    mut listen: impl FnMut() -> Result<Nudge, RecvTimeoutError>,
    activity: &Activity,
    mut copy: impl FnMut(),
) -> bool {
    let mut seen = activity.commits();
    loop {
        match listen() {
            Ok(Nudge::Long) => copy(),
            // sent by a commit as a watch ended: this one sees that commit
            Ok(Nudge::Commit) => {}
            Err(RecvTimeoutError::Timeout) => {
                if activity.commits() == seen {
                    copy();
                    if activity.rest(seen) {
                        return true;
                    }
                }
                seen = activity.commits();
            }
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}

/// Runs one checkpoint on `conn`.
pub(super) fn checkpoint(conn: &Connection, mode: Mode) -> rusqlite::Result<Pass> {
    let sql = match mode {
        Mode::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
        Mode::Restart => "PRAGMA wal_checkpoint(RESTART)",
    };
    // (busy, frames in the log, frames copied)
    conn.query_row(sql, [], |r| {
        Ok(Pass {
            log: r.get(1)?,
            copied: r.get(2)?,
        })
    })
}

/// One round of checkpoints, which aims to leave the log settled: all of it copied, so that
/// the next commit starts it over from its beginning. The writer does that on its own, without
/// waiting, but only when nothing was appended since a checkpoint began; under a steady stream
/// of commits, one lands during almost every PASSIVE pass (its fsync takes milliseconds).
///
/// So the round makes PASSIVE passes, each copying what was appended during the one before,
/// until one finds nothing new: the log is settled. Those after the first are short. Only when
/// [`PASSES`] could not settle a log past [`RESTART_FRAMES`] does it end with a RESTART
/// checkpoint, which settles it by holding commits back (copying, fsync, truncating the
/// database file, fsync again), which made the commit landing during it the slowest of a few
/// hundred. With StartExecutions 3 ms apart, the passes settled the log 14–18 times per 2,000
/// instead of 5.
fn round(mut checkpoint: impl FnMut(Mode) -> rusqlite::Result<Pass>) -> rusqlite::Result<()> {
    let mut last = checkpoint(Mode::Passive)?;
    for _ in 1..PASSES {
        let pass = checkpoint(Mode::Passive)?;
        // nothing appended since the last pass began (or the log started over), and all copied
        if pass.copied == pass.log && pass.log <= last.log {
            return Ok(());
        }
        last = pass;
    }
    if last.log >= RESTART_FRAMES {
        checkpoint(Mode::Restart)?;
    }
    Ok(())
}

/// Lowers the calling thread's priority for checkpoints: nice 10 and, on Linux, the
/// `SCHED_BATCH` policy. A checkpoint is milliseconds of copying and writeback. At nice 10
/// alone, the checkpointer, woken by a commit, took the core from the very request that had
/// committed, which answered in 1.1–1.4 ms instead of 0.3, once per checkpoint; a batch thread
/// never preempts on waking. Not `SCHED_IDLE`: with the cores kept busy by other processes, an
/// idle thread hardly runs, and a writer waiting for its checkpoint to end (past
/// `WRITER_CHECKPOINT_FRAMES`) waited 9–10 s instead of 0.2.
fn background_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler only reads `param`; pid 0 is the calling thread.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    }
    // SAFETY: setpriority only reads its arguments (on Linux, nice applies to the thread).
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The modes a round asks for when its checkpoints see `passes` in turn.
    fn modes_seen(passes: &[(i64, i64)]) -> Vec<Mode> {
        let mut seen = passes.iter().map(|&(log, copied)| Pass { log, copied });
        let mut modes = Vec::new();
        round(|mode| {
            modes.push(mode);
            Ok(seen.next().expect("a checkpoint more than the script has"))
        })
        .unwrap();
        modes
    }

    const LONG: i64 = RESTART_FRAMES + 200;

    /// Runs [`watch`] over `script`: what each listen hears, and how many commits come while
    /// it waits; `during_copy`: commits that land during each copy. Gives what `watch` returned
    /// and the copies it made.
    fn watched(
        activity: &Activity,
        script: &[(Result<Nudge, RecvTimeoutError>, u64)],
        during_copy: &[u64],
    ) -> (bool, usize) {
        let mut heard = script.iter();
        let mut copies = 0;
        let done = watch(
            || {
                let (what, commits) = heard.next().expect("a listen more than the script has");
                (0..*commits).for_each(|_| {
                    activity.committed();
                });
                *what
            },
            activity,
            || {
                (0..during_copy.get(copies).copied().unwrap_or(0)).for_each(|_| {
                    activity.committed();
                });
                copies += 1;
            },
        );
        (done, copies)
    }

    const PAUSED: Result<Nudge, RecvTimeoutError> = Err(RecvTimeoutError::Timeout);

    #[test]
    fn the_log_is_copied_once_commits_pause_and_the_checkpointer_then_sleeps() {
        let activity = Activity::default();
        assert!(activity.committed(), "the first commit wakes it");
        assert!(!activity.committed(), "it is awake already");
        // commits during the first wait: no pause yet; none during the second
        let (slept, copies) = watched(&activity, &[(PAUSED, 3), (PAUSED, 0)], &[]);
        assert!(slept);
        assert_eq!(copies, 1);
        assert!(activity.committed(), "the next commit wakes it again");
    }

    #[test]
    fn a_long_log_is_copied_at_once_while_commits_go_on() {
        let activity = Activity::default();
        activity.committed();
        let script = [
            (Ok(Nudge::Long), 5),
            (PAUSED, 2),
            (PAUSED, 1),
            (Err(RecvTimeoutError::Disconnected), 0),
        ];
        let (slept, copies) = watched(&activity, &script, &[]);
        assert!(!slept, "the writer ended");
        assert_eq!(copies, 1);
    }

    #[test]
    fn a_commit_during_the_copy_keeps_the_checkpointer_watching() {
        let activity = Activity::default();
        activity.committed();
        // the first copy sees a commit land: its frames wait for the next pause
        let (slept, copies) = watched(&activity, &[(PAUSED, 0), (PAUSED, 0)], &[1, 0]);
        assert!(slept);
        assert_eq!(copies, 2);
        // a wake-up a commit sent as a watch ended is heard and ignored
        activity.committed();
        let (slept, copies) = watched(&activity, &[(Ok(Nudge::Commit), 0), (PAUSED, 0)], &[]);
        assert!(slept);
        assert_eq!(copies, 1);
    }

    #[test]
    fn a_pass_that_finds_nothing_new_settles_the_log_without_holding_commits_back() {
        // a commit landed during the first pass; the second copied it, the third found nothing
        let modes = modes_seen(&[(LONG, LONG), (LONG + 5, LONG + 5), (LONG + 5, LONG + 5)]);
        assert_eq!(modes, [Mode::Passive; 3]);
        // no commit at all during the first
        assert_eq!(
            modes_seen(&[(LONG, LONG), (LONG, LONG)]),
            [Mode::Passive; 2]
        );
        // a commit between two passes started the log over
        assert_eq!(modes_seen(&[(LONG, LONG), (3, 3)]), [Mode::Passive; 2]);
    }

    #[test]
    fn a_long_log_that_commits_keep_unsettled_is_restarted() {
        let growing: Vec<(i64, i64)> = (0..PASSES as i64)
            .map(|n| (LONG + 5 * n, LONG + 5 * n))
            .chain([(LONG + 50, LONG + 50)])
            .collect();
        let mut expected = vec![Mode::Passive; PASSES];
        expected.push(Mode::Restart);
        assert_eq!(modes_seen(&growing), expected);
        // a reader still using frames the passes could not copy keeps it unsettled too
        let held = [(LONG, LONG - 90); PASSES + 1];
        assert_eq!(modes_seen(&held), expected);
    }

    #[test]
    fn a_short_log_left_unsettled_waits_for_the_next_round() {
        let growing: Vec<(i64, i64)> = (0..PASSES as i64).map(|n| (100 + n, 100 + n)).collect();
        assert_eq!(modes_seen(&growing), [Mode::Passive; PASSES]);
    }

    /// What a round relies on: once a checkpoint has copied all of the log, the next commit
    /// starts it over, with no checkpoint holding commits back.
    #[test]
    fn the_commit_after_a_checkpoint_that_copied_everything_starts_the_log_over() {
        let dir = std::env::temp_dir().join(format!("shoal-ckpt-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let writer = Connection::open(dir.join("t.db")).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
                 CREATE TABLE t (n INTEGER PRIMARY KEY, pad TEXT);",
            )
            .unwrap();
        let insert = |n: i64| {
            writer
                .execute(
                    "INSERT INTO t VALUES (?1, ?2)",
                    rusqlite::params![n, "x".repeat(3000)],
                )
                .unwrap();
        };
        (0..200).for_each(insert);
        let checkpoints = Connection::open(dir.join("t.db")).unwrap();
        let first = checkpoint(&checkpoints, Mode::Passive).unwrap();
        assert!(first.log >= 200 && first.copied == first.log, "{first:?}");
        insert(200);
        let next = checkpoint(&checkpoints, Mode::Passive).unwrap();
        assert!(next.log < 5, "the log has {} frames", next.log);
        drop((writer, checkpoints));
        let _ = std::fs::remove_dir_all(dir);
    }
}
