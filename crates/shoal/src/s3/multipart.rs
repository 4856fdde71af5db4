//! Multipart uploads: parts are blobs of their own, and a completed object is the list of its
//! parts' blobs, so completing an upload copies no bytes.

use super::checksum::{etag, multipart_etag};
use super::model::{Headers, Object, Part, Upload};
use super::objects::{check_key, Expect};
use super::{BodyStream, Result, S3Error, S3};
use crate::store::{delete, put, Record, Records, Scan};
use chrono::Utc;

/// Smallest part but the last (5 MiB), and the most parts.
pub const MIN_PART: u64 = 5 << 20;
pub const MAX_PARTS: u32 = 10_000;

impl S3 {
    pub async fn create_upload(&self, bucket: &str, key: &str, headers: Headers) -> Result<Upload> {
        check_key(key)?;
        self.bucket(bucket)?;
        let upload = Upload {
            id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: bucket.into(),
            key: key.into(),
            initiated: Utc::now(),
            headers,
        };
        self.store.commit(vec![put(&upload)]).done().await?;
        Ok(upload)
    }

    /// The upload `id` of `bucket`/`key`.
    pub fn upload(&self, bucket: &str, key: &str, id: &str) -> Result<Upload> {
        self.bucket(bucket)?;
        match self.store.load::<Upload>(id)? {
            Some(u) if u.bucket == bucket && u.key == key => Ok(u),
            _ => Err(S3Error::no_upload(id)),
        }
    }

    pub async fn upload_part(
        &self,
        upload: &Upload,
        number: u32,
        body: BodyStream,
        expect: &Expect,
    ) -> Result<Part> {
        if !(1..=MAX_PARTS).contains(&number) {
            return Err(S3Error::invalid(format!(
                "Part number must be an integer between 1 and {MAX_PARTS}, inclusive"
            ))
            .with("ArgumentName", "partNumber")
            .with("ArgumentValue", number.to_string()));
        }
        let (piece, sums) = self.receive(body, expect).await?;
        let part = Part {
            upload: upload.id.clone(),
            number,
            piece,
            etag: etag(&sums.md5),
            modified: Utc::now(),
        };
        let old = self.store.load::<Part>(&part.key())?;
        let stored = self.store.commit(vec![put(&part)]).done().await;
        // the upload may have ended while the part was on its way
        let live = self.store.load::<Upload>(&upload.id)?.is_some();
        if stored.is_err() || !live {
            self.drop_blobs(vec![part.piece.blob.clone()]).await;
            stored?;
            self.store
                .commit(vec![delete::<Part>(&part.key())])
                .done()
                .await?;
            return Err(S3Error::no_upload(&upload.id));
        }
        if let Some(old) = old.filter(|o| o.piece.blob != part.piece.blob) {
            self.drop_blobs(vec![old.piece.blob]).await;
        }
        Ok(part)
    }

    pub fn parts(&self, upload: &Upload) -> Result<Vec<Part>> {
        Ok(self.store.list::<Part>(Scan {
            owner: Some(&upload.id),
            ..Default::default()
        })?)
    }

    /// CompleteMultipartUpload with the client's list of `(part number, ETag)`.
    pub async fn complete_upload(
        &self,
        upload: &Upload,
        chosen: &[(u32, String)],
    ) -> Result<Object> {
        if chosen.is_empty() {
            return Err(S3Error::new(
                "MalformedXML",
                400,
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        if chosen.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(S3Error::new(
                "InvalidPartOrder",
                400,
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
            ));
        }
        let stored = self.parts(upload)?;
        let mut used = Vec::new();
        for (i, (n, tag)) in chosen.iter().enumerate() {
            let invalid = || {
                S3Error::new(
                    "InvalidPart",
                    400,
                    "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
                )
                .with("PartNumber", n.to_string())
                .with("ETag", tag.clone())
            };
            let part = stored.iter().find(|p| p.number == *n).ok_or_else(invalid)?;
            if part.etag.trim_matches('"') != tag.trim_matches('"') {
                return Err(invalid());
            }
            if i + 1 < chosen.len() && part.piece.size < MIN_PART {
                return Err(S3Error::new(
                    "EntityTooSmall",
                    400,
                    "Your proposed upload is smaller than the minimum allowed size",
                )
                .with("ProposedSize", part.piece.size.to_string())
                .with("MinSizeAllowed", MIN_PART.to_string())
                .with("PartNumber", n.to_string())
                .with("ETag", tag.clone()));
            }
            used.push(part.clone());
        }
        let object = Object {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            size: used.iter().map(|p| p.piece.size).sum(),
            etag: multipart_etag(&used.iter().map(|p| p.etag.clone()).collect::<Vec<_>>()),
            pieces: used.iter().map(|p| p.piece.clone()).collect(),
            modified: Utc::now(),
            headers: upload.headers.clone(),
            seq: 0,
        };
        let mut ends = vec![delete::<Upload>(&upload.id)];
        ends.extend(stored.iter().map(|p| delete::<Part>(&p.key())));
        let object = self
            .commit_object(object, ends, "CompleteMultipartUpload")
            .await?;
        let unused = stored
            .into_iter()
            .filter(|p| !used.iter().any(|u| u.number == p.number))
            .map(|p| p.piece.blob)
            .collect();
        self.drop_blobs(unused).await;
        Ok(object)
    }

    pub async fn abort_upload(&self, upload: &Upload) -> Result<()> {
        let parts = self.parts(upload)?;
        let mut writes = vec![delete::<Upload>(&upload.id)];
        writes.extend(parts.iter().map(|p| delete::<Part>(&p.key())));
        self.store.commit(writes).done().await?;
        self.drop_blobs(parts.into_iter().map(|p| p.piece.blob).collect())
            .await;
        Ok(())
    }

    pub fn uploads(&self, bucket: &str) -> Result<Vec<Upload>> {
        self.bucket(bucket)?;
        Ok(self.store.list::<Upload>(Scan {
            owner: Some(bucket),
            ..Default::default()
        })?)
    }
}
