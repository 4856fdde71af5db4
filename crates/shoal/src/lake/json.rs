//! JSON data as the lake reads it: a file holds one JSON array of records, or one record per
//! line (JSON Lines); Glue's crawlers and Spark accept both. Records become Arrow rows through
//! Arrow's JSON reader, with a schema inferred from every record.

use super::{LakeError, Result};
use crate::s3::S3;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::reader::ReaderBuilder;
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;

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
    s3.read_all(&o)
        .await
        .map_err(|e| LakeError::Data(format!("cannot read s3://{bucket}/{key}: {e}")))
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
    let out = s3
        .objects_under(&bucket, &prefix)
        .map_err(|e| LakeError::Data(format!("{location}: {e}")))?
        .into_iter()
        .filter(|o| {
            !o.key[prefix.len()..]
                .split('/')
                .any(|seg| seg.starts_with('_') || seg.starts_with('.'))
        })
        .collect();
    Ok((bucket, out))
}

/// A top-level JSON array rewritten in place as JSON Lines (one item per line), so Arrow's
/// JSON reader decodes it without building a document tree: the outer brackets become spaces,
/// the commas between items line ends, line ends inside items spaces. String contents are
/// skipped with `memchr`, so the pass runs at memory speed.
pub fn array_to_lines(buf: &mut [u8]) -> Result<()> {
    let (mut depth, mut i, mut closed) = (0usize, 0usize, false);
    let n = buf.len();
    while i < n {
        match buf[i] {
            b'"' => {
                // to the closing quote, past escapes
                let mut j = i + 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &buf[j..]) {
                        Some(k) if buf[j + k] == b'\\' => j += k + 2,
                        Some(k) => {
                            j += k;
                            break;
                        }
                        None => return Err(LakeError::Data("a JSON string is not closed".into())),
                    }
                }
                i = j;
            }
            b'[' | b'{' => {
                if depth == 0 {
                    if closed || buf[i] != b'[' {
                        return Err(LakeError::Data(
                            "JSON data after the end of the top-level array".into(),
                        ));
                    }
                    buf[i] = b' ';
                }
                depth += 1;
            }
            b']' | b'}' => {
                if depth == 0 {
                    return Err(LakeError::Data(
                        "unbalanced JSON: a closing bracket without an opening one".into(),
                    ));
                }
                depth -= 1;
                if depth == 0 {
                    buf[i] = b' ';
                    closed = true;
                }
            }
            b',' if depth == 1 => buf[i] = b'\n',
            b'\n' | b'\r' => buf[i] = b' ',
            b if depth == 0 && !b.is_ascii_whitespace() && !matches!(b, 0xef | 0xbb | 0xbf) => {
                return Err(LakeError::Data(
                    "JSON data after the end of the top-level array".into(),
                ));
            }
            _ => {}
        }
        i += 1;
    }
    if !closed {
        return Err(LakeError::Data("the JSON array is not closed".into()));
    }
    Ok(())
}

/// Every JSON record at a location (each object an array or JSON Lines): in parallel runs
/// when [`super::runs`] can, else in one strict pass with a schema inferred from every record.
pub async fn read_location(s3: &Arc<S3>, location: &str) -> Result<Vec<RecordBatch>> {
    let (bucket, objects) = keys(s3, location)?;
    if objects.is_empty() {
        return Err(LakeError::Data(format!("no objects at {location}")));
    }
    // the fast path: runs of records on every core
    let (s3c, all) = (s3.clone(), objects.clone());
    let fast = tokio::task::spawn_blocking(move || super::runs::read(&s3c, &all))
        .await
        .map_err(|e| LakeError::Data(e.to_string()))?;
    if let Some(batches) = fast {
        return Ok(batches);
    }
    let mut lines: Vec<u8> = vec![];
    for o in objects {
        let mut bytes = object_bytes(s3, &bucket, &o.key).await?;
        let start = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace() && ![0xef, 0xbb, 0xbf].contains(b))
            .unwrap_or(bytes.len());
        if bytes.get(start) == Some(&b'[') {
            array_to_lines(&mut bytes[start..])?;
        }
        if lines.is_empty() {
            lines = bytes;
        } else {
            lines.extend_from_slice(&bytes);
        }
        lines.push(b'\n');
    }
    tokio::task::spawn_blocking(move || decode_lines(&lines))
        .await
        .map_err(|e| LakeError::Data(e.to_string()))?
}

/// Lines a schema is first inferred from; the rest are decoded strictly against it, and any
/// line that does not fit sends the whole input through inference from every line.
const SAMPLE_LINES: usize = super::runs::SAMPLE_RECORDS;

/// JSON Lines to Arrow with a schema that fits every line, decoded on every core.
pub fn decode_lines(lines: &[u8]) -> Result<Vec<RecordBatch>> {
    let sampled = infer(lines, Some(SAMPLE_LINES))?;
    match decode_parallel(lines, sampled, true) {
        Ok(b) => Ok(b),
        // a field or a type the sample did not show: infer from everything
        Err(_) => decode_parallel(lines, infer(lines, None)?, false),
    }
}

fn infer(lines: &[u8], max: Option<usize>) -> Result<SchemaRef> {
    use datafusion::arrow::json::reader::infer_json_schema;
    let (schema, _) = infer_json_schema(std::io::Cursor::new(lines), max).map_err(|e| {
        LakeError::Data(format!("cannot infer a schema from the JSON records: {e}"))
    })?;
    Ok(Arc::new(schema))
}

/// Splits the lines into one run per core (at line ends) and decodes the runs in parallel;
/// batches come back in line order.
fn decode_parallel(lines: &[u8], schema: SchemaRef, strict: bool) -> Result<Vec<RecordBatch>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runs = if lines.len() < (4 << 20) { 1 } else { cores };
    let mut bounds = vec![0];
    for i in 1..runs {
        let at = lines.len() * i / runs;
        let end = lines[at..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(lines.len(), |p| at + p + 1);
        if end > *bounds.last().unwrap_or(&0) && end < lines.len() {
            bounds.push(end);
        }
    }
    bounds.push(lines.len());
    let parts: Vec<&[u8]> = bounds.windows(2).map(|w| &lines[w[0]..w[1]]).collect();
    let decode = |part: &[u8]| -> Result<Vec<RecordBatch>> {
        let reader = ReaderBuilder::new(schema.clone())
            .with_batch_size(8 * 1024)
            .with_coerce_primitive(true)
            .with_strict_mode(strict)
            .build(std::io::Cursor::new(part))
            .map_err(|e| LakeError::Data(e.to_string()))?;
        reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LakeError::Data(format!("cannot read the JSON records: {e}")))
    };
    let results: Vec<Result<Vec<RecordBatch>>> = std::thread::scope(|s| {
        let handles: Vec<_> = parts.iter().map(|p| s.spawn(move || decode(p))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(LakeError::Data("a JSON decoder thread failed".into())))
            })
            .collect()
    });
    let mut out = vec![];
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_become_lines_whatever_their_strings_hold() {
        let a = br#" [ {"a": "x,]\"}", "b": [1, 2], "c": {"d": [3]}},
            {
              "a": null
            } ] "#;
        let mut l = a.to_vec();
        array_to_lines(&mut l).unwrap();
        let batches = decode_lines(&l).unwrap();
        assert_eq!(batches[0].num_rows(), 2);
        assert!(String::from_utf8(l).unwrap().contains(r#""x,]\"}""#));
        assert!(array_to_lines(&mut b"[{\"a\": 1}".to_vec()).is_err());
        assert!(array_to_lines(&mut b"[{\"a\": 1}] x".to_vec()).is_err());
        assert!(array_to_lines(&mut b"[{\"a\": \"1}]".to_vec()).is_err());
    }

    #[test]
    fn a_field_or_type_past_the_sample_is_not_lost() {
        let mut lines = String::new();
        for i in 0..SAMPLE_LINES + 5 {
            lines.push_str(&format!("{{\"id\": {i}}}\n"));
        }
        lines.push_str("{\"id\": 1.5, \"late\": \"x\"}\n");
        let batches = decode_lines(lines.as_bytes()).unwrap();
        let schema = batches[0].schema();
        assert_eq!(schema.fields().len(), 2);
        assert_eq!(
            schema.field(0).data_type(),
            &datafusion::arrow::datatypes::DataType::Float64
        );
        assert_eq!(
            batches.iter().map(|b| b.num_rows()).sum::<usize>(),
            SAMPLE_LINES + 6
        );
    }

    #[test]
    fn arrays_and_lines_give_the_same_rows() {
        let mut a = br#"[{"id": 1, "t": "x"}, {"id": 2}]"#.to_vec();
        array_to_lines(&mut a).unwrap();
        let l = b"{\"id\": 1, \"t\": \"x\"}\n{\"id\": 2}\n";
        let (x, y) = (decode_lines(&a).unwrap(), decode_lines(l).unwrap());
        assert_eq!(x, y);
        assert_eq!((x[0].num_rows(), x[0].num_columns()), (2, 2));
        let e = decode_lines(b"{\"id\": 1}\n{oops}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("JSON"), "{e}");
    }
}
