//! JSON data as the lake reads it: a file holds one JSON array of records, or one record per
//! line (JSON Lines); Glue's crawlers and Spark accept both. Records become Arrow rows with a
//! schema inferred from every record (numbers widen to double, conflicts to string).

use super::{LakeError, Result};
use crate::s3::S3;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::reader::{infer_json_schema_from_iterator, ReaderBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use futures_util::TryStreamExt;
use serde_json::Value;
use std::sync::Arc;

/// The records of one JSON document: the items of a top-level array, or each line's value.
pub fn records(bytes: &[u8]) -> Result<Vec<Value>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| LakeError::Data(format!("JSON data is not UTF-8: {e}")))?;
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('[') {
        return match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Array(items)) => Ok(items),
            Ok(_) => Err(LakeError::Data(
                "JSON data is not an array of records".into(),
            )),
            Err(e) => Err(LakeError::Data(format!(
                "invalid JSON at line {}, column {}: {e}",
                e.line(),
                e.column()
            ))),
        };
    }
    let mut out = vec![];
    for (i, line) in trimmed.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| LakeError::Data(format!("invalid JSON on line {}: {e}", i + 1)))?;
        out.push(v);
    }
    Ok(out)
}

/// Arrow rows of `records` (objects; anything else is skipped) with their inferred schema.
pub fn batch(records: &[Value]) -> Result<RecordBatch> {
    let objects: Vec<&Value> = records.iter().filter(|r| r.is_object()).collect();
    let schema = infer_json_schema_from_iterator(objects.iter().map(|v| Ok((*v).clone())))
        .map_err(|e| {
            LakeError::Data(format!("cannot infer a schema from the JSON records: {e}"))
        })?;
    batch_with(&objects, Arc::new(schema))
}

/// Arrow rows of `records` in a given schema.
pub fn batch_with(records: &[&Value], schema: SchemaRef) -> Result<RecordBatch> {
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(records.len().max(1))
        .with_coerce_primitive(true)
        .build_decoder()
        .map_err(|e| LakeError::Data(e.to_string()))?;
    decoder
        .serialize(records)
        .map_err(|e| LakeError::Data(format!("cannot read the JSON records: {e}")))?;
    Ok(decoder
        .flush()
        .map_err(|e| LakeError::Data(e.to_string()))?
        .unwrap_or_else(|| RecordBatch::new_empty(schema)))
}

/// `s3://bucket/key` or `s3://bucket/prefix/` as `(bucket, key or prefix)`.
pub fn split_location(location: &str) -> Result<(String, String)> {
    let rest = location
        .strip_prefix("s3://")
        .or_else(|| location.strip_prefix("s3a://"))
        .ok_or_else(|| LakeError::Data(format!("'{location}' is not an s3:// location")))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    Ok((bucket.to_string(), key.to_string()))
}

/// The bytes of one object.
pub async fn object_bytes(s3: &Arc<S3>, bucket: &str, key: &str) -> Result<Vec<u8>> {
    let o = s3
        .head_object(bucket, key)
        .map_err(|e| LakeError::Data(format!("s3://{bucket}/{key}: {e}")))?;
    let chunks: Vec<bytes::Bytes> = s3
        .body(&o, 0, o.size)
        .try_collect()
        .await
        .map_err(|e| LakeError::Data(format!("cannot read s3://{bucket}/{key}: {e}")))?;
    Ok(chunks.concat())
}

/// The keys a location names: the object itself, or every object below the folder (skipping
/// names that start with `_` or `.`, as Glue and Spark do).
pub fn keys(s3: &Arc<S3>, location: &str) -> Result<(String, Vec<crate::s3::model::Object>)> {
    let (bucket, key) = split_location(location)?;
    if !key.is_empty() && !key.ends_with('/') {
        if let Ok(o) = s3.head_object(&bucket, &key) {
            return Ok((bucket, vec![o]));
        }
    }
    let prefix = if key.is_empty() || key.ends_with('/') {
        key
    } else {
        format!("{key}/")
    };
    let mut out = vec![];
    let mut after: Option<String> = None;
    loop {
        let page = s3
            .list_objects(
                &bucket,
                &crate::s3::listing::Query {
                    prefix: &prefix,
                    delimiter: None,
                    max_keys: 1000,
                    after: after.as_deref(),
                },
            )
            .map_err(|e| LakeError::Data(format!("{location}: {e}")))?;
        out.extend(page.objects.into_iter().filter(|o| {
            !o.key[prefix.len()..]
                .split('/')
                .any(|seg| seg.starts_with('_') || seg.starts_with('.'))
        }));
        match page.next {
            Some(n) if page.truncated => after = Some(n),
            _ => break,
        }
    }
    Ok((bucket, out))
}

/// Every JSON record at a location as one batch.
pub async fn read_location(s3: &Arc<S3>, location: &str) -> Result<RecordBatch> {
    let (bucket, objects) = keys(s3, location)?;
    if objects.is_empty() {
        return Err(LakeError::Data(format!("no objects at {location}")));
    }
    let mut all = vec![];
    for o in objects {
        let bytes = object_bytes(s3, &bucket, &o.key).await?;
        all.extend(records(&bytes)?);
    }
    batch(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_and_lines_give_the_same_records() {
        let a = records(br#"[{"id": 1, "t": "x"}, {"id": 2}]"#).unwrap();
        let l = records(b"{\"id\": 1, \"t\": \"x\"}\n\n{\"id\": 2}\n").unwrap();
        assert_eq!(a, l);
        let b = batch(&a).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.num_columns(), 2);
        let e = records(b"[{\"id\": 1},").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = records(b"{\"id\": 1}\n{oops}\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
