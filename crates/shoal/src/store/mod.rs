//! Storage behind one trait, so a Postgres implementation can follow the embedded SQLite one.
//!
//! The model is deliberately small: typed records are stored as JSON documents under a kind and
//! a key, with the few columns queries filter on (`owner`, `status`, `sort`); execution history
//! is stored in chunks, one JSON array of events per commit. Writes go through [`Store::commit`],
//! which batches the writes of many callers into one transaction (group commit) and acknowledges
//! each caller once its writes are durable.

pub mod cache;
mod checkpointer;
mod committer;
mod layout;
mod presence;
pub mod sqlite;

use serde::{de::DeserializeOwned, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Backend(String),
    #[error("stored record {kind}/{key} is unreadable: {reason}")]
    Corrupt {
        kind: String,
        key: String,
        reason: String,
    },
    #[error("the store is shut down")]
    Closed,
}

/// One change, applied atomically with the others of its commit.
#[derive(Debug, Clone)]
pub enum Write {
    Put(Row),
    Delete {
        kind: &'static str,
        key: String,
    },
    /// Appends events `first_id..` of an execution's history (a JSON array).
    History {
        execution: String,
        first_id: u64,
        events: String,
    },
    /// Deletes an execution's whole history (the execution is deleted after its retention).
    DropHistory {
        execution: String,
    },
}

/// A stored record with the columns that queries filter and order on.
#[derive(Debug, Clone)]
pub struct Row {
    pub kind: &'static str,
    pub key: String,
    pub owner: String,
    pub status: String,
    pub sort: i64,
    /// What listings read instead of the body, if the record gives one ([`Record::summary`]).
    pub summary: Option<String>,
    pub body: String,
}

/// Which records to list: by kind, optionally by owner and status, ordered by `sort`.
#[derive(Debug, Clone, Default)]
pub struct Scan<'a> {
    pub kind: &'a str,
    pub owner: Option<&'a str>,
    pub status: Option<&'a str>,
    /// Newest first when true.
    pub descending: bool,
    /// Only the rows after this `(sort, key)` in the scan's order: a page that starts where
    /// the last ended, whatever was written or deleted meanwhile.
    pub after: Option<(i64, &'a str)>,
    /// Only the keys: [`Store::scan`] leaves the bodies unread (and empty), so a listing walks
    /// an index alone.
    pub keys_only: bool,
    /// Each row's summary instead of its body (the body where it has none).
    pub summaries: bool,
    /// Skip this many rows (pagination tokens encode it).
    pub offset: usize,
    pub limit: usize,
}

/// A service's lock for its read-modify-write changes (load records, change them, commit
/// them), held from the first read to the commit. Two changes at once would each write what
/// they read, and the later would undo the earlier: a target, a tag or a version number is
/// lost. Changes are rare, so one lock per service costs nothing that matters; reads and the
/// data plane (StartExecution, PutEvents, Publish, SendMessage, object PUTs) never take it.
pub type ChangeLock = tokio::sync::Mutex<()>;

/// Resolves when a commit is durable.
pub struct Ack(tokio::sync::oneshot::Receiver<Result<(), String>>);

thread_local! {
    /// Set while a runtime worker thread runs blocking code of its own (see [`on_worker`]).
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, which may wait for commits, on a multi-threaded runtime's worker thread. A commit
/// the thread applies itself needs no waiting; when another is under way, the wait first hands
/// the worker's other tasks to another thread (`block_in_place`) instead of stalling them.
pub fn on_worker<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            ON_WORKER.with(|w| w.set(self.0));
        }
    }
    let _reset = Reset(ON_WORKER.with(|w| w.replace(true)));
    f()
}

/// Takes `lock` from blocking code (an executor thread, or a worker inside [`on_worker`]), as
/// [`Ack::wait`] waits for a commit.
pub fn hold(lock: &ChangeLock) -> tokio::sync::MutexGuard<'_, ()> {
    if let Ok(guard) = lock.try_lock() {
        return guard;
    }
    if ON_WORKER.with(|w| w.get()) {
        tokio::task::block_in_place(|| lock.blocking_lock())
    } else {
        lock.blocking_lock()
    }
}

impl Ack {
    /// Waits from a thread that may block (see [`on_worker`] for a runtime's worker thread).
    pub fn wait(mut self) -> Result<(), StoreError> {
        let r = match self.0.try_recv() {
            Ok(r) => Ok(r),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                return Err(StoreError::Closed)
            }
            Err(tokio::sync::oneshot::error::TryRecvError::Empty)
                if ON_WORKER.with(|w| w.get()) =>
            {
                tokio::task::block_in_place(|| self.0.blocking_recv())
            }
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => self.0.blocking_recv(),
        };
        match r {
            Ok(r) => r.map_err(StoreError::Backend),
            Err(_) => Err(StoreError::Closed),
        }
    }

    pub async fn done(self) -> Result<(), StoreError> {
        match self.0.await {
            Ok(r) => r.map_err(StoreError::Backend),
            Err(_) => Err(StoreError::Closed),
        }
    }
}

/// The storage every service uses.
pub trait Store: Send + Sync {
    /// Queues writes for the next group commit.
    fn commit(&self, writes: Vec<Write>) -> Ack;
    /// Commits and waits, from a thread that may block (it may apply the commit itself).
    fn commit_wait(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.commit(writes).wait()
    }
    fn get(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError>;
    /// The matching records' keys and stored texts, in order.
    fn scan(&self, scan: &Scan) -> Result<Vec<(String, String)>, StoreError>;
    /// The history chunks of an execution in order: each chunk's first event id and its events
    /// as a JSON array.
    fn history(&self, execution: &str) -> Result<Vec<Chunk>, StoreError>;

    /// The bytes of the stored texts of an owner's records of one kind (a log group's
    /// `storedBytes`). A store that can count them without reading them should.
    fn stored_bytes(&self, kind: &str, owner: &str) -> Result<u64, StoreError> {
        let scan = Scan {
            kind,
            owner: Some(owner),
            ..Default::default()
        };
        Ok(self.scan(&scan)?.iter().map(|(_, b)| b.len() as u64).sum())
    }

    /// A record already decoded from its current stored text, if the store keeps one.
    fn decoded(&self, _kind: &str, _key: &str) -> Option<Shared> {
        None
    }

    /// A record already decoded from exactly `body`, if the store keeps one.
    fn decoded_from(&self, _kind: &str, _key: &str, _body: &str) -> Option<Shared> {
        None
    }

    /// Offers a record decoded from `body`; kept only while `body` is the record's current text.
    fn keep_decoded(&self, _kind: &str, _key: &str, _body: &str, _record: Shared) {}
}

/// A stored piece of an execution's history: the id of its first event, and its events as a
/// JSON array (shared with the cache, not copied).
pub type Chunk = (u64, std::sync::Arc<str>);

/// A decoded record shared between readers.
pub type Shared = std::sync::Arc<dyn std::any::Any + Send + Sync>;

/// A record type the store can hold.
pub trait Record: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    const KIND: &'static str;
    fn key(&self) -> String;
    fn owner(&self) -> String {
        String::new()
    }
    fn status(&self) -> String {
        String::new()
    }
    fn sort(&self) -> i64 {
        0
    }
    /// The fields a listing shows, as JSON that the record's own text would also decode to
    /// (the same member names): a listing reads this instead of the body, so that listing
    /// large records does not read them whole. None: listings read the body.
    fn summary(&self) -> Option<String> {
        None
    }
}

/// Typed helpers over any [`Store`].
pub trait Records {
    fn load<R: Record>(&self, key: &str) -> Result<Option<R>, StoreError>;
    fn list<R: Record>(&self, scan: Scan) -> Result<Vec<R>, StoreError>;
    /// The records [`Records::list`] gives, shared with the store's cache instead of copied:
    /// for a reader that only looks at them (compiling a bus's rules copied each rule whole).
    fn list_shared<R: Record>(&self, scan: Scan) -> Result<Vec<std::sync::Arc<R>>, StoreError>;
    /// Records of type `R` listed as their summaries ([`Record::summary`]), decoded as `T`.
    fn list_summaries<R: Record, T: DeserializeOwned>(
        &self,
        scan: Scan,
    ) -> Result<Vec<T>, StoreError>;
}

impl<S: Store + ?Sized> Records for S {
    fn load<R: Record>(&self, key: &str) -> Result<Option<R>, StoreError> {
        if let Some(r) = self.decoded(R::KIND, key) {
            if let Some(r) = r.downcast_ref::<R>() {
                return Ok(Some(r.clone()));
            }
        }
        match self.get(R::KIND, key)? {
            None => Ok(None),
            Some(body) => {
                let r = decode::<R>(key, &body)?;
                self.keep_decoded(R::KIND, key, &body, std::sync::Arc::new(r.clone()));
                Ok(Some(r))
            }
        }
    }

    fn list_summaries<R: Record, T: DeserializeOwned>(
        &self,
        scan: Scan,
    ) -> Result<Vec<T>, StoreError> {
        let scan = Scan {
            kind: R::KIND,
            summaries: true,
            ..scan
        };
        (self.scan(&scan)?.iter())
            .map(|(key, text)| {
                serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
                    kind: R::KIND.into(),
                    key: key.clone(),
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    fn list<R: Record>(&self, scan: Scan) -> Result<Vec<R>, StoreError> {
        let shared = self.list_shared::<R>(scan)?;
        Ok(shared
            .into_iter()
            .map(std::sync::Arc::unwrap_or_clone)
            .collect())
    }

    fn list_shared<R: Record>(&self, scan: Scan) -> Result<Vec<std::sync::Arc<R>>, StoreError> {
        let scan = Scan {
            kind: R::KIND,
            ..scan
        };
        // a record decoded from the very text scanned is the same record: no need to decode it
        // again (a listing's records are mostly the ones just written, read or listed)
        self.scan(&scan)?
            .iter()
            .map(|(key, body)| {
                let kept = self.decoded_from(R::KIND, key, body);
                if let Some(r) = kept.and_then(|r| r.downcast::<R>().ok()) {
                    return Ok(r);
                }
                let r = std::sync::Arc::new(decode::<R>(key, body)?);
                self.keep_decoded(R::KIND, key, body, r.clone());
                Ok(r)
            })
            .collect()
    }
}

fn decode<R: Record>(key: &str, body: &str) -> Result<R, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt {
        kind: R::KIND.into(),
        key: key.into(),
        reason: e.to_string(),
    })
}

/// The write that stores `r`.
pub fn put<R: Record>(r: &R) -> Write {
    Write::Put(Row {
        kind: R::KIND,
        key: r.key(),
        owner: r.owner(),
        status: r.status(),
        sort: r.sort(),
        summary: r.summary(),
        body: serde_json::to_string(r).unwrap_or_default(),
    })
}

/// Deletes `owner`'s records of type `R` in their stored order for as long as `expired` holds,
/// a page at a time, and gives how many: the retention sweeps of records stored oldest first.
pub async fn delete_expired<R: Record>(
    store: &dyn Store,
    owner: &str,
    expired: impl Fn(&R) -> bool,
) -> Result<usize, StoreError> {
    const PAGE: usize = 256;
    let mut deleted = 0;
    loop {
        let page: Vec<R> = store.list(Scan {
            owner: Some(owner),
            limit: PAGE,
            ..Default::default()
        })?;
        let old: Vec<Write> = page
            .iter()
            .take_while(|r| expired(r))
            .map(|r| delete::<R>(&r.key()))
            .collect();
        let more = old.len() == PAGE;
        deleted += old.len();
        if !old.is_empty() {
            store.commit(old).done().await?;
        }
        if !more {
            return Ok(deleted);
        }
    }
}

/// The write that deletes the record of type `R` under `key`.
pub fn delete<R: Record>(key: &str) -> Write {
    Write::Delete {
        kind: R::KIND,
        key: key.to_string(),
    }
}
