//! Buckets: create, delete, list, and the EventBridge notification switch.

use super::model::Bucket;
use super::{Live, Result, S3Error, S3};
use crate::store::{delete, put};
use chrono::Utc;
use std::collections::BTreeMap;

/// AWS's bucket naming rules (general purpose buckets).
pub fn check_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(S3Error::new(
            "InvalidBucketName",
            400,
            format!("The specified bucket is not valid. {why}"),
        )
        .with("BucketName", name))
    };
    if !(3..=63).contains(&name.len()) {
        return bad("Bucket names must be between 3 and 63 characters long.");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return bad("Bucket names can consist only of lowercase letters, numbers, dots (.), and hyphens (-).");
    }
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !edge(name.as_bytes()[0]) || !edge(name.as_bytes()[name.len() - 1]) {
        return bad("Bucket names must begin and end with a letter or number.");
    }
    if name.contains("..") {
        return bad("Bucket names must not contain two adjacent periods.");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return bad("Bucket names must not be formatted as an IP address.");
    }
    Ok(())
}

impl S3 {
    /// CreateBucket. Creating a bucket you already own is an error outside us-east-1, as on AWS.
    pub async fn create_bucket(&self, name: &str, region: &str) -> Result<Bucket> {
        check_name(name)?;
        let bucket = Bucket {
            name: name.into(),
            region: region.into(),
            created: Utc::now(),
            eventbridge: false,
            tags: BTreeMap::new(),
        };
        let ack = {
            let mut map = self.write();
            if let Some(live) = map.get(name) {
                if region == "us-east-1" && live.bucket.region == "us-east-1" {
                    return Ok(live.bucket.clone());
                }
                return Err(S3Error::new(
                    "BucketAlreadyOwnedByYou",
                    409,
                    "Your previous request to create the named bucket succeeded and you already own it.",
                )
                .with("BucketName", name));
            }
            map.insert(
                name.into(),
                Live {
                    bucket: bucket.clone(),
                    objects: BTreeMap::new(),
                },
            );
            self.store.commit(vec![put(&bucket)])
        };
        ack.done().await?;
        Ok(bucket)
    }

    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        let ack = {
            let mut map = self.write();
            let live = map.get(name).ok_or_else(|| S3Error::no_bucket(name))?;
            if !live.objects.is_empty() {
                return Err(S3Error::new(
                    "BucketNotEmpty",
                    409,
                    "The bucket you tried to delete is not empty",
                )
                .with("BucketName", name));
            }
            map.remove(name);
            self.store.commit(vec![delete::<Bucket>(name)])
        };
        ack.done().await?;
        Ok(())
    }

    pub fn bucket(&self, name: &str) -> Result<Bucket> {
        self.read()
            .get(name)
            .map(|l| l.bucket.clone())
            .ok_or_else(|| S3Error::no_bucket(name))
    }

    pub fn list_buckets(&self) -> Vec<Bucket> {
        self.read().values().map(|l| l.bucket.clone()).collect()
    }

    /// Changes a bucket's settings (notifications, tags) and stores it.
    pub async fn update_bucket(&self, name: &str, f: impl FnOnce(&mut Bucket)) -> Result<Bucket> {
        let (bucket, ack) = {
            let mut map = self.write();
            let live = map.get_mut(name).ok_or_else(|| S3Error::no_bucket(name))?;
            f(&mut live.bucket);
            (
                live.bucket.clone(),
                self.store.commit(vec![put(&live.bucket)]),
            )
        };
        ack.done().await?;
        Ok(bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn bucket_names_follow_aws_rules() {
        for ok in ["abc", "my-bucket.data", "a1b2c3", "x".repeat(63).as_str()] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "Abc",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "a_b",
            &"x".repeat(64),
        ] {
            assert_eq!(
                check_name(bad).unwrap_err().code,
                "InvalidBucketName",
                "{bad}"
            );
        }
    }
}
