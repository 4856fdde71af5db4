//! What the object service stores: buckets, object metadata, multipart uploads and their parts.
//! Object bytes live in blobs (see [`super::blobs`]); a record names the blobs it reads.

use crate::store::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Bucket {
    pub name: String,
    pub region: String,
    pub created: DateTime<Utc>,
    /// `Object Created` / `Object Deleted` events go to the default bus.
    #[serde(default)]
    pub eventbridge: bool,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Record for Bucket {
    const KIND: &'static str = "s3.bucket";
    fn key(&self) -> String {
        self.name.clone()
    }
    fn sort(&self) -> i64 {
        self.created.timestamp_millis()
    }
}

/// One stored piece of an object's bytes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub blob: String,
    pub size: u64,
}

/// The headers an object keeps and answers with.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub expires: Option<String>,
    /// `x-amz-meta-*`, names lower-cased without the prefix.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// `x-amz-checksum-<algorithm>` values the client sent, by algorithm.
    #[serde(default)]
    pub checksums: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Object {
    pub bucket: String,
    pub key: String,
    pub pieces: Vec<Piece>,
    pub size: u64,
    /// Quoted, as S3 answers it.
    pub etag: String,
    pub modified: DateTime<Utc>,
    pub headers: Headers,
    /// Orders writes to one key: the newer write wins in memory whatever order commits end in.
    pub seq: u64,
}

impl Object {
    pub fn record_key(bucket: &str, key: &str) -> String {
        format!("{bucket}/{key}")
    }
}

impl Record for Object {
    const KIND: &'static str = "s3.object";
    fn key(&self) -> String {
        Object::record_key(&self.bucket, &self.key)
    }
    fn owner(&self) -> String {
        self.bucket.clone()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Upload {
    pub id: String,
    pub bucket: String,
    pub key: String,
    pub initiated: DateTime<Utc>,
    pub headers: Headers,
}

impl Record for Upload {
    const KIND: &'static str = "s3.upload";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.bucket.clone()
    }
    fn sort(&self) -> i64 {
        self.initiated.timestamp_millis()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Part {
    pub upload: String,
    pub number: u32,
    pub piece: Piece,
    /// Quoted MD5 of the part.
    pub etag: String,
    pub modified: DateTime<Utc>,
}

impl Record for Part {
    const KIND: &'static str = "s3.part";
    fn key(&self) -> String {
        format!("{}/{:05}", self.upload, self.number)
    }
    fn owner(&self) -> String {
        self.upload.clone()
    }
    fn sort(&self) -> i64 {
        self.number as i64
    }
}
