//! S3: buckets and objects on the local filesystem. Object metadata is a durable record and an
//! in-memory ordered map per bucket (listings walk it in key order); the bytes are blobs written
//! and synced before the record that names them commits.

pub mod blobs;
pub mod buckets;
pub mod checksum;
pub mod listing;
pub mod model;
pub mod multipart;
pub mod objects;

use crate::store::{Records, Scan, Store};
use blobs::Blobs;
use bytes::Bytes;
use futures_util::Stream;
use model::{Bucket, Object, Part};
use std::collections::{BTreeMap, HashSet};
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

/// An S3 error: AWS's code, HTTP status, message, and extra elements (`BucketName`, `Key`, ...).
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct S3Error {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
    pub extra: Vec<(&'static str, String)>,
}

impl S3Error {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> S3Error {
        S3Error {
            code,
            status,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.extra.push((name, value.into()));
        self
    }

    pub fn no_bucket(name: &str) -> S3Error {
        S3Error::new("NoSuchBucket", 404, "The specified bucket does not exist")
            .with("BucketName", name)
    }

    pub fn no_key(key: &str) -> S3Error {
        S3Error::new("NoSuchKey", 404, "The specified key does not exist.").with("Key", key)
    }

    pub fn no_upload(id: &str) -> S3Error {
        S3Error::new(
            "NoSuchUpload",
            404,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
        .with("UploadId", id)
    }

    pub fn invalid(message: impl Into<String>) -> S3Error {
        S3Error::new("InvalidArgument", 400, message)
    }

    pub fn internal(message: impl std::fmt::Display) -> S3Error {
        S3Error::new(
            "InternalError",
            500,
            format!("We encountered an internal error. Please try again. ({message})"),
        )
    }
}

impl From<crate::store::StoreError> for S3Error {
    fn from(e: crate::store::StoreError) -> S3Error {
        S3Error::internal(e)
    }
}

impl From<std::io::Error> for S3Error {
    fn from(e: std::io::Error) -> S3Error {
        S3Error::internal(e)
    }
}

pub type Result<T, E = S3Error> = std::result::Result<T, E>;

/// A request or response body as a stream of chunks.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// A bucket and its objects in key order.
pub(crate) struct Live {
    pub bucket: Bucket,
    pub objects: BTreeMap<String, Object>,
}

pub struct S3 {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn Blobs>,
    pub(crate) buckets: RwLock<BTreeMap<String, Live>>,
    pub(crate) seq: AtomicU64,
    /// Where `Object Created`/`Object Deleted` events go, for buckets that ask for them.
    pub events: Option<Arc<crate::events::Events>>,
    pub account: String,
}

impl S3 {
    /// Loads buckets and object metadata, and removes blobs that no record names (uploads a
    /// crash interrupted).
    pub fn open(
        store: Arc<dyn Store>,
        blobs: Arc<dyn Blobs>,
        events: Option<Arc<crate::events::Events>>,
        account: &str,
    ) -> Result<Arc<S3>> {
        let mut buckets = BTreeMap::new();
        let mut keep = HashSet::new();
        let mut seq = 0;
        for b in store.list::<Bucket>(Scan::default())? {
            let objects: Vec<Object> = store.list(Scan {
                owner: Some(&b.name),
                ..Default::default()
            })?;
            let mut map = BTreeMap::new();
            for o in objects {
                seq = seq.max(o.seq);
                keep.extend(o.pieces.iter().map(|p| p.blob.clone()));
                map.insert(o.key.clone(), o);
            }
            buckets.insert(
                b.name.clone(),
                Live {
                    bucket: b,
                    objects: map,
                },
            );
        }
        for p in store.list::<Part>(Scan::default())? {
            keep.insert(p.piece.blob);
        }
        let swept = blobs.sweep(&keep)?;
        if swept > 0 {
            eprintln!("shoal: removed {swept} unfinished object upload(s)");
        }
        Ok(Arc::new(S3 {
            store,
            blobs,
            buckets: RwLock::new(buckets),
            seq: AtomicU64::new(seq + 1),
            events,
            account: account.into(),
        }))
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Live>> {
        self.buckets.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Live>> {
        self.buckets.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Removes blobs no longer named, logging (not failing) when one cannot go: the next
    /// start sweeps it.
    pub(crate) async fn drop_blobs(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        let blobs = self.blobs.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for id in ids {
                if let Err(e) = blobs.remove(&id) {
                    eprintln!("shoal: cannot remove blob {id}: {e}");
                }
            }
        })
        .await;
    }
}
