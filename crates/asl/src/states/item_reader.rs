//! A distributed Map's `ItemReader`: which S3 call supplies the items, and how the object's
//! bytes become items (JSON array, JSON Lines, CSV). Fetching is the executor's effect; this
//! module only decides.

use crate::definition::Field;
use crate::error::Failure;
use crate::template::Template;
use serde_json::{Map, Value};

/// The two S3 calls AWS's ItemReader makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `arn:aws:states:::s3:getObject`: the items are in one object.
    GetObject,
    /// `arn:aws:states:::s3:listObjectsV2`: each object under a prefix is an item.
    ListObjects,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputType {
    Json,
    Jsonl,
    Csv,
    /// S3 inventory manifests and Parquet files: recognised, not read yet.
    Unsupported(&'static str),
}

#[derive(Debug, Clone)]
pub struct ItemReader {
    pub resource: String,
    pub source: Source,
    /// `Parameters` (JSONPath) or `Arguments` (JSONata): `Bucket`, `Key` or `Prefix`.
    pub parameters: Option<Template>,
    pub input_type: Option<InputType>,
    /// `CSVHeaderLocation: GIVEN` names the columns here; otherwise the first row does.
    pub csv_headers: Option<Vec<String>>,
    pub csv_delimiter: u8,
    /// `ItemsPointer`: a JSON pointer to the array inside a JSON object.
    pub items_pointer: Option<String>,
    pub max_items: Option<Field>,
}

impl Source {
    pub fn of(resource: &str) -> Option<Source> {
        match resource {
            "arn:aws:states:::s3:getObject" => Some(Source::GetObject),
            "arn:aws:states:::s3:listObjectsV2" => Some(Source::ListObjects),
            _ => None,
        }
    }
}

impl InputType {
    pub fn of(name: &str) -> Option<InputType> {
        Some(match name {
            "JSON" => InputType::Json,
            "JSONL" => InputType::Jsonl,
            "CSV" => InputType::Csv,
            "MANIFEST" => InputType::Unsupported("MANIFEST"),
            "PARQUET" => InputType::Unsupported("PARQUET"),
            _ => return None,
        })
    }
}

/// `CSVDelimiter`'s names, as AWS spells them.
pub fn delimiter(name: &str) -> Option<u8> {
    Some(match name {
        "COMMA" => b',',
        "PIPE" => b'|',
        "SEMICOLON" => b';',
        "SPACE" => b' ',
        "TAB" => b'\t',
        _ => return None,
    })
}

pub const READER_FAILED: &str = "States.ItemReaderFailed";

fn failed(cause: impl Into<String>) -> Failure {
    Failure::plain(Some(READER_FAILED.into()), Some(cause.into()))
}

/// The items in an object's bytes, at most `max_items` of them.
pub fn items(
    reader: &ItemReader,
    body: &[u8],
    max_items: Option<u64>,
) -> Result<Vec<Value>, Failure> {
    let limit = max_items.map_or(usize::MAX, |m| m as usize);
    match reader.input_type {
        None | Some(InputType::Json) => {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| failed(format!("The object is not valid JSON: {e}")))?;
            let v = match &reader.items_pointer {
                None => v,
                Some(p) => v.pointer(p).cloned().ok_or_else(|| {
                    failed(format!(
                        "The ItemsPointer '{p}' does not point to a value in the object."
                    ))
                })?,
            };
            match v {
                Value::Array(mut a) => {
                    a.truncate(limit);
                    Ok(a)
                }
                _ => Err(failed("Attempting to map over non-iterable node.")),
            }
        }
        Some(InputType::Jsonl) => {
            let text = std::str::from_utf8(body)
                .map_err(|e| failed(format!("The object is not UTF-8 text: {e}")))?;
            let mut out = Vec::new();
            for (n, line) in text.lines().enumerate() {
                if out.len() >= limit {
                    break;
                }
                if line.trim().is_empty() {
                    continue;
                }
                let v = serde_json::from_str(line)
                    .map_err(|e| failed(format!("Line {} is not valid JSON: {e}", n + 1)))?;
                out.push(v);
            }
            Ok(out)
        }
        Some(InputType::Csv) => csv_items(reader, body, limit),
        Some(InputType::Unsupported(t)) => Err(failed(format!(
            "ReaderConfig InputType {t} is not supported by shoal yet (JSON, JSONL and CSV are)."
        ))),
    }
}

/// Each row an object whose keys are the headers and whose values are strings, as on AWS; a
/// short row leaves the missing columns empty.
fn csv_items(reader: &ItemReader, body: &[u8], limit: usize) -> Result<Vec<Value>, Failure> {
    let mut rows = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(reader.csv_delimiter)
        .from_reader(body);
    let mut records = rows.records();
    let bad = |e: csv::Error| failed(format!("The object is not valid CSV: {e}"));
    let headers: Vec<String> = match &reader.csv_headers {
        Some(h) => h.clone(),
        None => match records.next() {
            None => return Ok(Vec::new()),
            Some(r) => r.map_err(bad)?.iter().map(str::to_string).collect(),
        },
    };
    let mut seen = std::collections::HashSet::new();
    if !headers.iter().all(|h| seen.insert(h)) {
        return Err(failed("CSV headers cannot contain duplicates."));
    }
    let mut out = Vec::new();
    for r in records {
        if out.len() >= limit {
            break;
        }
        let r = r.map_err(bad)?;
        let mut o = Map::with_capacity(headers.len());
        for (i, h) in headers.iter().enumerate() {
            o.insert(h.clone(), Value::String(r.get(i).unwrap_or("").to_string()));
        }
        out.push(Value::Object(o));
    }
    Ok(out)
}

/// One `listObjectsV2` item, in the shape AWS hands to each iteration.
pub fn listed_object(key: &str, etag: &str, modified_epoch_seconds: i64, size: u64) -> Value {
    serde_json::json!({
        "Etag": etag,
        "Key": key,
        "LastModified": modified_epoch_seconds,
        "Size": size,
        "StorageClass": "STANDARD",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reader(t: InputType) -> ItemReader {
        ItemReader {
            resource: "arn:aws:states:::s3:getObject".into(),
            source: Source::GetObject,
            parameters: None,
            input_type: Some(t),
            csv_headers: None,
            csv_delimiter: b',',
            items_pointer: None,
            max_items: None,
        }
    }

    #[test]
    fn csv_rows_become_objects_of_strings() {
        let r = reader(InputType::Csv);
        let body = b"id,title\n1,\"Hello, world\"\n2\n";
        let items = items(&r, body, None).unwrap();
        assert_eq!(
            items,
            vec![
                json!({"id": "1", "title": "Hello, world"}),
                json!({"id": "2", "title": ""})
            ]
        );
        assert_eq!(items_limit(&r, body, 1).len(), 1);
    }

    fn items_limit(r: &ItemReader, body: &[u8], n: u64) -> Vec<Value> {
        items(r, body, Some(n)).unwrap()
    }

    #[test]
    fn csv_given_headers_read_every_row_and_refuse_duplicates() {
        let mut r = reader(InputType::Csv);
        r.csv_headers = Some(vec!["a".into(), "b".into()]);
        r.csv_delimiter = b'|';
        assert_eq!(
            items(&r, b"1|2\n3|4\n", None).unwrap(),
            vec![json!({"a": "1", "b": "2"}), json!({"a": "3", "b": "4"})]
        );
        r.csv_headers = Some(vec!["a".into(), "a".into()]);
        let e = items(&r, b"1|2\n", None).unwrap_err();
        assert_eq!(e.error.as_deref(), Some(READER_FAILED));
        assert_eq!(
            e.cause.as_deref(),
            Some("CSV headers cannot contain duplicates.")
        );
    }

    #[test]
    fn json_needs_an_array_unless_a_pointer_finds_one() {
        let mut r = reader(InputType::Json);
        assert_eq!(
            items(&r, b"[1,2,3]", Some(2)).unwrap(),
            vec![json!(1), json!(2)]
        );
        let e = items(&r, br#"{"a":[1]}"#, None).unwrap_err();
        assert_eq!(
            e.cause.as_deref(),
            Some("Attempting to map over non-iterable node.")
        );
        r.items_pointer = Some("/a".into());
        assert_eq!(items(&r, br#"{"a":[1]}"#, None).unwrap(), vec![json!(1)]);
        assert!(items(&r, b"[1", None).is_err());
    }

    #[test]
    fn json_lines_skip_blank_lines_and_name_a_bad_one() {
        let r = reader(InputType::Jsonl);
        assert_eq!(
            items(&r, b"{\"a\":1}\n\n{\"a\":2}\n", None).unwrap(),
            vec![json!({"a": 1}), json!({"a": 2})]
        );
        let e = items(&r, b"{\"a\":1}\nnope\n", None).unwrap_err();
        assert!(e.cause.unwrap().starts_with("Line 2 is not valid JSON"));
    }
}
