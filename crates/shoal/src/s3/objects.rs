//! Objects: put (streamed to a blob, checked against the digests the client sent), get by
//! range, head, delete, copy and list; and the events a bucket may ask for.

use super::checksum::{etag, Digests, Sums};
use super::listing::{self, Page, Query};
use super::model::{Headers, Object, Piece};
use super::{BodyStream, Result, S3Error, S3};
use crate::events::put::{Entry, Sender};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Records};
use base64::Engine;
use bytes::Bytes;
use chrono::Utc;
use futures_util::StreamExt;
use serde_json::json;
use std::io::Read;
use std::sync::atomic::Ordering;

/// Longest key S3 accepts, in bytes.
pub const MAX_KEY: usize = 1024;
/// Largest single PUT (5 GiB).
pub const MAX_PUT: u64 = 5 << 30;
/// Body chunks queued for the writing thread.
const QUEUED: usize = 64;
/// Bytes per chunk of a GET body.
const CHUNK: u64 = 1 << 20;

/// A GET body's progress: the spans still to read (blob, offset, length; last first), the
/// open reader and what it has left.
type Reading = (Vec<(String, u64, u64)>, Option<Box<dyn Read + Send>>, u64);

/// What a client said about the body it sends, for checking it.
#[derive(Debug, Default, Clone)]
pub struct Expect {
    /// `Content-MD5`, base64.
    pub md5: Option<String>,
    /// `x-amz-checksum-<algorithm>`: the algorithm and base64 value.
    pub checksum: Option<(String, String)>,
    /// The length the body must have (`x-amz-decoded-content-length` or `Content-Length`).
    pub size: Option<u64>,
}

pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(S3Error::invalid("An object key must not be empty."));
    }
    if key.len() > MAX_KEY {
        return Err(S3Error::new("KeyTooLongError", 400, "Your key is too long"));
    }
    Ok(())
}

/// Past this much, an upload's digests run on a thread of their own, beside the writes: MD5 is
/// the slowest step of a large PUT (a few hundred MiB/s), and small ones need no thread.
const HASH_APART: u64 = 1 << 20;

/// An upload's digests: computed on the writing thread, then on their own once it is large.
enum Hashing {
    Here(Box<Digests>),
    Apart {
        bytes: std::sync::mpsc::SyncSender<Bytes>,
        sums: std::thread::JoinHandle<Sums>,
    },
    /// Only while moving from one to the other.
    Moving,
}

impl Hashing {
    /// Adds `bytes`.
    fn update(&mut self, bytes: Bytes) {
        match std::mem::replace(self, Hashing::Moving) {
            Hashing::Here(mut d) => {
                d.update(&bytes);
                *self = if d.size > HASH_APART {
                    let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(QUEUED);
                    let sums = std::thread::spawn(move || {
                        for b in rx {
                            d.update(&b);
                        }
                        (*d).finish()
                    });
                    Hashing::Apart { bytes: tx, sums }
                } else {
                    Hashing::Here(d)
                };
            }
            Hashing::Apart { bytes: tx, sums } => {
                // a hashing thread that is gone shows when its sums are asked for
                let _ = tx.send(bytes);
                *self = Hashing::Apart { bytes: tx, sums };
            }
            Hashing::Moving => {}
        }
    }

    fn finish(self) -> std::io::Result<Sums> {
        match self {
            Hashing::Here(d) => Ok(d.finish()),
            Hashing::Apart { bytes, sums } => {
                drop(bytes);
                sums.join()
                    .map_err(|_| std::io::Error::other("the hashing thread failed"))
            }
            Hashing::Moving => Err(std::io::Error::other("the digests were lost")),
        }
    }
}

impl S3 {
    /// Streams a body into a new durable blob and checks it against what the client said.
    /// A blocking thread hashes and writes while the next chunks arrive. The blob is removed
    /// again when a check fails.
    pub(crate) async fn receive(
        &self,
        mut body: BodyStream,
        expect: &Expect,
    ) -> Result<(Piece, Sums)> {
        let blobs = self.blobs.clone();
        let algorithm = expect.checksum.as_ref().map(|(a, _)| a.clone());
        let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(QUEUED);
        let worker = tokio::task::spawn_blocking(
            move || -> std::io::Result<(String, Sums, Option<S3Error>)> {
                let mut writer = blobs.create()?;
                let mut digests = Hashing::Here(Box::new(Digests::new(algorithm.as_deref())));
                let mut size = 0u64;
                let mut failed = None;
                for bytes in rx {
                    size += bytes.len() as u64;
                    if size > MAX_PUT {
                        failed = Some(S3Error::new(
                            "EntityTooLarge",
                            400,
                            "Your proposed upload exceeds the maximum allowed size",
                        ));
                        break;
                    }
                    digests.update(bytes.clone());
                    if let Err(e) = writer.write(&bytes) {
                        failed = Some(S3Error::internal(e));
                        break;
                    }
                }
                let id = writer.finish()?;
                Ok((id, digests.finish()?, failed))
            },
        );
        let mut read_error = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => {
                    let tx = tx.clone();
                    // the queue is short; waiting for room must not hold up the runtime
                    let sent = match tx.try_send(bytes) {
                        Ok(()) => true,
                        Err(std::sync::mpsc::TrySendError::Full(b)) => {
                            tokio::task::spawn_blocking(move || tx.send(b).is_ok())
                                .await
                                .unwrap_or(false)
                        }
                        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => false,
                    };
                    if !sent {
                        break; // the writer stopped; its error says why
                    }
                }
                Err(e) => {
                    read_error = Some(S3Error::new(
                        "IncompleteBody",
                        400,
                        format!("The request body could not be read: {e}"),
                    ));
                    break;
                }
            }
        }
        drop(tx);
        let (id, sums, failed) = worker.await.map_err(S3Error::internal)??;
        let failed = read_error.or(failed).or_else(|| check(&sums, expect).err());
        if let Some(e) = failed {
            self.drop_blobs(vec![id]).await;
            return Err(e);
        }
        let piece = Piece {
            blob: id,
            size: sums.size,
        };
        Ok((piece, sums))
    }

    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: BodyStream,
        mut headers: Headers,
        expect: &Expect,
    ) -> Result<Object> {
        check_key(key)?;
        self.bucket(bucket)?;
        let (piece, sums) = self.receive(body, expect).await?;
        if let Some((a, v)) = &sums.flexible {
            headers.checksums.insert(a.clone(), v.clone());
        }
        let object = Object {
            bucket: bucket.into(),
            key: key.into(),
            size: sums.size,
            pieces: vec![piece],
            etag: etag(&sums.md5),
            modified: Utc::now(),
            headers,
            seq: 0,
        };
        self.commit_object(object, vec![], "PutObject").await
    }

    /// Stores `object` in place of the key's current version; `extra` are deletes that commit
    /// with it (a finished upload's records). Blobs the old version used go once it is durable.
    pub(crate) async fn commit_object(
        &self,
        mut object: Object,
        extra: Vec<crate::store::Write>,
        reason: &str,
    ) -> Result<Object> {
        let stored = {
            let mut map = self.write();
            map.get_mut(&object.bucket).map(|live| {
                object.seq = self.seq.fetch_add(1, Ordering::Relaxed);
                let mut writes = vec![put(&object)];
                writes.extend(extra);
                let ack = self.store.commit(writes);
                let old = live.objects.insert(object.key.clone(), object.clone());
                (old, ack, live.bucket.eventbridge)
            })
        };
        let Some((old, ack, eventbridge)) = stored else {
            // the bucket went while the bytes arrived
            let ids = object.pieces.iter().map(|p| p.blob.clone()).collect();
            self.drop_blobs(ids).await;
            return Err(S3Error::no_bucket(&object.bucket));
        };
        if let Err(e) = ack.done().await {
            self.restore(&object.bucket, &object.key);
            return Err(e.into());
        }
        if let Some(old) = old {
            let keep: Vec<&str> = object.pieces.iter().map(|p| p.blob.as_str()).collect();
            let gone = old
                .pieces
                .into_iter()
                .map(|p| p.blob)
                .filter(|b| !keep.contains(&b.as_str()))
                .collect();
            self.drop_blobs(gone).await;
        }
        if eventbridge {
            self.notify(&object.bucket, &object, "Object Created", reason)
                .await;
        }
        Ok(object)
    }

    /// Puts the stored version of a key back in memory after a commit failed.
    fn restore(&self, bucket: &str, key: &str) {
        let stored = self
            .store
            .load::<Object>(&Object::record_key(bucket, key))
            .ok()
            .flatten();
        if let Some(live) = self.write().get_mut(bucket) {
            match stored {
                Some(o) => live.objects.insert(key.into(), o),
                None => live.objects.remove(key),
            };
        }
    }

    pub fn head_object(&self, bucket: &str, key: &str) -> Result<Object> {
        let map = self.read();
        let live = map.get(bucket).ok_or_else(|| S3Error::no_bucket(bucket))?;
        live.objects
            .get(key)
            .cloned()
            .ok_or_else(|| S3Error::no_key(key))
    }

    /// Every object whose key starts with `prefix`, in key order (the lake reads whole folders).
    pub fn objects_under(&self, bucket: &str, prefix: &str) -> Result<Vec<Object>> {
        let map = self.read();
        let live = map.get(bucket).ok_or_else(|| S3Error::no_bucket(bucket))?;
        Ok(live
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, o)| o.clone())
            .collect())
    }

    /// All of an object's bytes in one buffer (the lake reads whole JSON and CSV files).
    pub async fn read_all(&self, object: &Object) -> Result<Vec<u8>> {
        let blobs = self.blobs.clone();
        let object = object.clone();
        tokio::task::spawn_blocking(move || read_range(&*blobs, &object, 0, object.size))
            .await
            .map_err(S3Error::internal)?
            .map_err(S3Error::from)
    }

    /// The bytes `start..start+len` of an object (fewer at its end), read on the calling
    /// thread: for the lake's workers, which read many ranges of one object at once.
    pub fn read_range_blocking(&self, object: &Object, start: u64, len: u64) -> Result<Vec<u8>> {
        read_range(&*self.blobs, object, start, len).map_err(S3Error::from)
    }

    /// The bytes `start..start+len` of an object, read a chunk at a time.
    pub fn body(&self, object: &Object, start: u64, len: u64) -> BodyStream {
        // the pieces that hold the range, each with the offset and length to read
        let mut spans = Vec::new();
        let (mut at, end) = (0u64, start + len);
        for p in &object.pieces {
            let (lo, hi) = (at.max(start), (at + p.size).min(end));
            if lo < hi {
                spans.push((p.blob.clone(), lo - at, hi - lo));
            }
            at += p.size;
        }
        spans.reverse();
        let blobs = self.blobs.clone();
        let state: Reading = (spans, None, 0);
        Box::pin(futures_util::stream::try_unfold(
            state,
            move |(mut spans, mut reader, mut left)| {
                let blobs = blobs.clone();
                async move {
                    tokio::task::spawn_blocking(move || {
                        if left == 0 {
                            // every span is non-empty, so a fresh one always has bytes
                            let Some((blob, offset, n)) = spans.pop() else {
                                return Ok(None);
                            };
                            reader = Some(blobs.read(&blob, offset, n).map_err(|e| e.to_string())?);
                            left = n;
                        }
                        let want = left.min(CHUNK) as usize;
                        let mut buf = vec![0u8; want];
                        let r = reader.as_mut().ok_or("no reader")?;
                        r.read_exact(&mut buf).map_err(|e| e.to_string())?;
                        left -= want as u64;
                        Ok(Some((Bytes::from(buf), (spans, reader, left))))
                    })
                    .await
                    .map_err(|e| e.to_string())?
                }
            },
        ))
    }

    /// DeleteObject: succeeds whether or not the key exists, as on S3.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        let (old, ack, eventbridge) = {
            let mut map = self.write();
            let live = map
                .get_mut(bucket)
                .ok_or_else(|| S3Error::no_bucket(bucket))?;
            let Some(old) = live.objects.remove(key) else {
                return Ok(());
            };
            let ack = self
                .store
                .commit(vec![delete::<Object>(&Object::record_key(bucket, key))]);
            (old, ack, live.bucket.eventbridge)
        };
        if let Err(e) = ack.done().await {
            self.restore(bucket, key);
            return Err(e.into());
        }
        if eventbridge {
            self.notify(bucket, &old, "Object Deleted", "DeleteObject")
                .await;
        }
        self.drop_blobs(old.pieces.into_iter().map(|p| p.blob).collect())
            .await;
        Ok(())
    }

    /// CopyObject: the source's bytes into new blobs; its headers too unless `replace` gives
    /// new ones.
    pub async fn copy_object(
        &self,
        from: (&str, &str),
        to: (&str, &str),
        replace: Option<Headers>,
    ) -> Result<Object> {
        check_key(to.1)?;
        self.bucket(to.0)?;
        let source = self.head_object(from.0, from.1)?;
        if from == to && replace.is_none() {
            return Err(S3Error::new(
                "InvalidRequest",
                400,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let blobs = self.blobs.clone();
        let ids: Vec<String> = source.pieces.iter().map(|p| p.blob.clone()).collect();
        let copied = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for id in ids {
                match blobs.copy(&id) {
                    Ok(c) => out.push(c),
                    Err(e) => {
                        for c in out {
                            let _ = blobs.remove(&c);
                        }
                        return Err(e);
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(S3Error::internal)?
        .map_err(|e| match e.kind() {
            // the source was replaced while we copied it
            std::io::ErrorKind::NotFound => S3Error::no_key(from.1),
            _ => S3Error::internal(e),
        })?;
        let pieces = source
            .pieces
            .iter()
            .zip(copied)
            .map(|(p, blob)| Piece { blob, size: p.size })
            .collect();
        let object = Object {
            bucket: to.0.into(),
            key: to.1.into(),
            pieces,
            size: source.size,
            etag: source.etag.clone(),
            modified: Utc::now(),
            headers: replace.unwrap_or(source.headers),
            seq: 0,
        };
        self.commit_object(object, vec![], "CopyObject").await
    }

    pub fn list_objects(&self, bucket: &str, q: &Query) -> Result<Page> {
        let map = self.read();
        let live = map.get(bucket).ok_or_else(|| S3Error::no_bucket(bucket))?;
        Ok(listing::list(&live.objects, q))
    }

    /// Puts an `Object Created`/`Object Deleted` event on the default bus, as S3 does for
    /// buckets with EventBridge notifications on.
    async fn notify(&self, bucket: &str, object: &Object, detail_type: &str, reason: &str) {
        let Some(events) = &self.events else { return };
        let Ok(b) = self.bucket(bucket) else { return };
        let mut o = json!({"key": object.key, "sequencer": format!("{:016X}", object.seq)});
        if detail_type == "Object Created" {
            o["size"] = json!(object.size);
            o["etag"] = json!(object.etag.trim_matches('"'));
        }
        let mut detail = json!({
            "version": "0",
            "bucket": {"name": bucket},
            "object": o,
            "request-id": uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase(),
            "requester": self.account,
            "reason": reason,
        });
        if detail_type == "Object Deleted" {
            detail["deletion-type"] = json!("Permanently Deleted");
        }
        let entry = Entry {
            source: Some("aws.s3".into()),
            detail_type: Some(detail_type.into()),
            detail: Some(detail.to_string()),
            resources: vec![format!("arn:aws:s3:::{bucket}")],
            time: None,
            bus: None,
        };
        let scope = Scope {
            region: b.region.clone(),
            account: self.account.clone(),
        };
        if let Err(e) = events.put_events(&scope, &[entry], Sender::Service).await {
            eprintln!(
                "shoal: cannot put the S3 event for {bucket}/{}: {e}",
                object.key
            );
        }
    }
}

/// Checks the sums of a received body against what the client said.
fn check(sums: &Sums, expect: &Expect) -> Result<()> {
    if let Some(n) = expect.size {
        if n != sums.size {
            return Err(S3Error::new(
                "IncompleteBody",
                400,
                "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            ));
        }
    }
    if let Some(md5) = &expect.md5 {
        let want = base64::engine::general_purpose::STANDARD
            .decode(md5.trim())
            .ok()
            .filter(|b| b.len() == 16)
            .ok_or_else(|| {
                S3Error::new(
                    "InvalidDigest",
                    400,
                    "The Content-MD5 you specified was invalid.",
                )
            })?;
        if want != sums.md5 {
            return Err(S3Error::new(
                "BadDigest",
                400,
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    if let (Some((a, want)), Some((_, got))) = (&expect.checksum, &sums.flexible) {
        if want.trim() != got {
            return Err(S3Error::new(
                "BadDigest",
                400,
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    a.to_uppercase()
                ),
            ));
        }
    }
    Ok(())
}

/// The bytes `start..start+len` of an object, across its pieces; read_to_end fills spare
/// capacity without zeroing it first.
fn read_range(
    blobs: &dyn super::blobs::Blobs,
    object: &Object,
    start: u64,
    len: u64,
) -> std::io::Result<Vec<u8>> {
    let end = start.saturating_add(len).min(object.size);
    let mut out = Vec::with_capacity(end.saturating_sub(start) as usize);
    let mut at = 0u64;
    for p in &object.pieces {
        let (lo, hi) = (at.max(start), (at + p.size).min(end));
        if lo < hi {
            blobs
                .read(&p.blob, lo - at, hi - lo)?
                .read_to_end(&mut out)?;
        }
        at += p.size;
    }
    Ok(out)
}
