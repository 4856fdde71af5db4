//! JSON objects cut into runs of whole records that read and decode on every core at once.
//!
//! A run is a byte range of one object, widened to record boundaries: it starts after the
//! first record separator at or past its nominal start and ends at the first one at or past
//! its nominal end, so neighbouring runs meet exactly. In JSON Lines the separator is a line
//! end. In a top-level array it is a comma before `{ "K":`, where `K` is the first key of the
//! array's first record (the usual shape of a dump: every record starts with the same key).
//! Such a comma is never inside a string — a raw `"` that opens `"K"` can only be a string's
//! start — so blanking it is safe wherever it sits: Arrow's decoder reads records separated by
//! spaces, and takes a blank in place of a comma inside lists and objects alike.
//!
//! Anything else — records that do not start with `K`, a field or type the sample did not
//! show, a file that is not JSON — makes [`read`] answer `None`, and the caller reads the
//! data the slow, strict way, which also words the error.

use crate::s3::model::Object;
use crate::s3::S3;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::reader::{infer_json_schema_from_iterator, ReaderBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use memchr::memmem::Finder;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes of an object in one run.
const RUN: u64 = 8 << 20;
/// Bytes read past a run's end at a time while looking for the next separator.
const MORE: u64 = 256 << 10;
/// Records the schema is inferred from; later records are decoded strictly against it.
pub const SAMPLE_RECORDS: usize = 10_000;
/// Bytes of the first object the sample comes from.
const SAMPLE_BYTES: u64 = 16 << 20;

/// How the records of an object follow one another.
enum Layout {
    Lines,
    /// A top-level array; `key` is `"K"` with its quotes.
    Array {
        key: Box<Finder<'static>>,
    },
}

/// Where the next separator is.
enum Sep {
    At(usize),
    /// Not in the bytes read so far; more may show one.
    More,
    None,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// The first byte that is not white space or a UTF-8 byte-order mark.
fn first_byte(buf: &[u8]) -> Option<usize> {
    buf.iter()
        .position(|b| !is_ws(*b) && !matches!(b, 0xef | 0xbb | 0xbf))
}

impl Layout {
    /// The layout from an object's first bytes; `None` when no fast path applies.
    fn of(head: &[u8]) -> Option<Layout> {
        let at = first_byte(head)?;
        match head[at] {
            b'{' => Some(Layout::Lines),
            b'[' => {
                let rest = &head[at + 1..];
                let open = rest.iter().position(|b| !is_ws(*b))?;
                if rest[open] != b'{' {
                    return None;
                }
                let rest = &rest[open + 1..];
                let quote = rest.iter().position(|b| !is_ws(*b))?;
                let rest = &rest[quote..];
                let key_len = rest.get(1..)?.iter().position(|b| *b == b'"')?;
                let key = &rest[1..1 + key_len];
                // a key that begins with a plain character makes its opening quote certain
                let plain = key.first().is_some_and(|c| {
                    !is_ws(*c) && !matches!(c, b',' | b':' | b'[' | b']' | b'{' | b'}')
                }) && !key.contains(&b'\\');
                plain.then(|| Layout::Array {
                    key: Box::new(Finder::new(&rest[..key_len + 2]).into_owned()),
                })
            }
            _ => None,
        }
    }

    /// The first separator at or after `from`; `eof` says `buf` runs to the object's end.
    fn next(&self, buf: &[u8], from: usize, eof: bool) -> Sep {
        let not_found = if eof { Sep::None } else { Sep::More };
        match self {
            Layout::Lines => match memchr::memchr(b'\n', &buf[from.min(buf.len())..]) {
                Some(i) => Sep::At(from + i),
                None => not_found,
            },
            Layout::Array { key } => {
                let mut search = from;
                while let Some(i) = key.find(&buf[search.min(buf.len())..]) {
                    let q = search + i;
                    search = q + 1;
                    // backwards: `,` ws* `{` ws* before the key
                    let mut j = q;
                    while j > 0 && is_ws(buf[j - 1]) {
                        j -= 1;
                    }
                    if j == 0 || buf[j - 1] != b'{' {
                        continue;
                    }
                    j -= 1;
                    while j > 0 && is_ws(buf[j - 1]) {
                        j -= 1;
                    }
                    if j == 0 || buf[j - 1] != b',' || j - 1 < from {
                        continue;
                    }
                    // forwards: ws* `:` after it
                    let mut k = q + key.needle().len();
                    while k < buf.len() && is_ws(buf[k]) {
                        k += 1;
                    }
                    match buf.get(k) {
                        Some(b':') => return Sep::At(j - 1),
                        Some(_) => continue,
                        None if eof => continue,
                        None => return Sep::More,
                    }
                }
                // a key cut at the end of the buffer may still be a separator
                if !eof && buf.len() > from {
                    return Sep::More;
                }
                not_found
            }
        }
    }
}

/// Every record of `objects` as Arrow batches, in order; `None` when the fast path does not
/// apply or fails (see the module's documentation).
pub fn read(s3: &Arc<S3>, objects: &[Object]) -> Option<Vec<RecordBatch>> {
    read_in_runs(s3, objects, RUN)
}

fn read_in_runs(s3: &Arc<S3>, objects: &[Object], run_bytes: u64) -> Option<Vec<RecordBatch>> {
    let first = objects.iter().find(|o| o.size > 0)?;
    let head = s3.read_range_blocking(first, 0, SAMPLE_BYTES).ok()?;
    let schema = sample_schema(&head, head.len() as u64 == first.size)?;
    let layouts = objects
        .iter()
        .map(|o| {
            if o.size == 0 {
                return Some(Layout::Lines);
            }
            if std::ptr::eq(o, first) {
                return Layout::of(&head);
            }
            Layout::of(&s3.read_range_blocking(o, 0, 64 << 10).ok()?)
        })
        .collect::<Option<Vec<_>>>()?;
    let mut tasks = vec![];
    for (o, layout) in objects.iter().zip(&layouts) {
        let n = o.size.div_ceil(run_bytes).max(1);
        tasks.extend((0..n).map(|i| (o, layout, i * run_bytes)));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (next, failed) = (AtomicUsize::new(0), AtomicBool::new(false));
    let mut done: Vec<(usize, Vec<RecordBatch>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..cores.min(tasks.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut out = vec![];
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((o, layout, start)) = tasks.get(i) else {
                            break;
                        };
                        match run(s3, o, layout, *start, run_bytes, &schema) {
                            Some(b) => out.push((i, b)),
                            None => failed.store(true, Ordering::Relaxed),
                        }
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    if failed.load(Ordering::Relaxed) || done.len() != tasks.len() {
        return None;
    }
    done.sort_by_key(|(i, _)| *i);
    Some(done.into_iter().flat_map(|(_, b)| b).collect())
}

/// The schema of the first [`SAMPLE_RECORDS`] records at the start of an object; `whole`
/// says `head` is all of it.
fn sample_schema(head: &[u8], whole: bool) -> Option<SchemaRef> {
    let layout = Layout::of(head)?;
    let array = matches!(layout, Layout::Array { .. });
    let mut at = first_byte(head)? + usize::from(array);
    let mut values = vec![];
    while values.len() < SAMPLE_RECORDS {
        let skip = |at: &mut usize| {
            while head.get(*at).is_some_and(|b| is_ws(*b)) {
                *at += 1;
            }
        };
        skip(&mut at);
        if array && !values.is_empty() && head.get(at) == Some(&b',') {
            at += 1;
            skip(&mut at);
        }
        if at >= head.len() || (array && head[at] == b']') {
            break;
        }
        // one record at a time: serde_json wants the commas Arrow does without
        let mut one = serde_json::Deserializer::from_slice(&head[at..]).into_iter::<Value>();
        match one.next() {
            Some(Ok(v)) => values.push(v),
            // a record cut off at the end of the sample
            Some(Err(e)) if e.is_eof() && !whole && !values.is_empty() => break,
            _ => return None,
        }
        at += one.byte_offset();
    }
    let schema = infer_json_schema_from_iterator(values.iter().map(Ok)).ok()?;
    Some(Arc::new(schema))
}

/// Blanks the separators (and an array's brackets) in `buf[start..]`, which holds the object
/// from its byte `offset`; `ends` says `buf` holds the object's last byte. The records' span.
fn bounds(
    layout: &Layout,
    buf: &mut [u8],
    offset: u64,
    eof: bool,
    ends: bool,
) -> Option<(usize, usize)> {
    let mut start = 0;
    let mut end = buf.len();
    if let Layout::Array { .. } = layout {
        if offset == 0 {
            let at = first_byte(buf)?;
            (buf[at] == b'[').then_some(())?;
            buf[at] = b' ';
            start = at + 1;
        }
        if ends {
            let last = buf.iter().rposition(|b| !is_ws(*b))?;
            (buf[last] == b']' && last >= start).then_some(())?;
            buf[last] = b' ';
            end = last;
        }
        let mut from = start;
        while let Sep::At(c) = layout.next(buf, from, eof) {
            if c >= end {
                break;
            }
            buf[c] = b' ';
            from = c + 1;
        }
    }
    Some((start, end))
}

/// Reads and decodes the run of object `o` whose nominal range starts at `start`.
fn run(
    s3: &S3,
    o: &Object,
    layout: &Layout,
    start: u64,
    run_bytes: u64,
    schema: &SchemaRef,
) -> Option<Vec<RecordBatch>> {
    let end = (start + run_bytes).min(o.size);
    let mut buf = s3.read_range_blocking(o, start, end - start).ok()?;
    let nominal = buf.len();
    let grow = |buf: &mut Vec<u8>| -> Option<bool> {
        let at = start + buf.len() as u64;
        if at >= o.size {
            return Some(false);
        }
        buf.extend(s3.read_range_blocking(o, at, MORE).ok()?);
        Some(true)
    };
    let eof = |buf: &Vec<u8>| start + buf.len() as u64 >= o.size;
    // the first record: after the first separator in the run's own range
    let first = if start == 0 {
        0
    } else {
        loop {
            match layout.next(&buf, 0, eof(&buf)) {
                Sep::At(c) if c < nominal => break c + 1,
                Sep::At(_) | Sep::None => return Some(vec![]),
                Sep::More => {
                    grow(&mut buf)?;
                }
            }
        }
    };
    // the end: the next run's first separator
    let last = if end >= o.size {
        buf.len()
    } else {
        loop {
            match layout.next(&buf, nominal, eof(&buf)) {
                Sep::At(c) => break c,
                Sep::None => break buf.len(),
                Sep::More => {
                    grow(&mut buf)?;
                }
            }
        }
    };
    let ends = last == buf.len() && eof(&buf);
    let span = &mut buf[first..last];
    let (a, b) = bounds(layout, span, start + first as u64, true, ends)?;
    decode(schema, &span[a..b])
}

/// Decodes records against `schema`, strictly: an unknown field is a failure.
fn decode(schema: &SchemaRef, mut rest: &[u8]) -> Option<Vec<RecordBatch>> {
    let mut d = ReaderBuilder::new(schema.clone())
        .with_batch_size(8 * 1024)
        .with_coerce_primitive(true)
        .with_strict_mode(true)
        .build_decoder()
        .ok()?;
    let mut out = vec![];
    while !rest.is_empty() {
        let n = d.decode(rest).ok()?;
        rest = &rest[n..];
        if !rest.is_empty() {
            // the batch is full
            match d.flush().ok()? {
                Some(b) => out.push(b),
                None if n == 0 => return None,
                None => {}
            }
        }
    }
    out.extend(d.flush().ok()?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blanked(text: &str) -> Option<String> {
        let layout = Layout::of(text.as_bytes())?;
        let mut buf = text.as_bytes().to_vec();
        let (a, b) = bounds(&layout, &mut buf, 0, true, true)?;
        Some(String::from_utf8(buf[a..b].to_vec()).unwrap())
    }

    #[test]
    fn array_separators_are_blanked_only_outside_strings() {
        let t = r#" [{"ID": "1", "t": "a}, {\"ID\": x"}, {"ID": "2", "kids": [{"ID": 3}, {"ID": 4}]},
            { "ID" : "5"}] "#;
        let b = blanked(t).unwrap();
        assert!(b.contains(r#""a}, {\"ID\": x"}  {"ID": "2""#), "{b}");
        assert!(b.contains("[{\"ID\": 3}  {\"ID\": 4}]} \n"), "{b}");
        assert!(b.trim_end().ends_with(r#"{ "ID" : "5"}"#), "{b}");
        let schema = sample_schema(t.as_bytes(), true).unwrap();
        let rows = decode(&schema, b.as_bytes()).unwrap();
        assert_eq!(rows[0].num_rows(), 3);
        // not arrays of records, or keys that could end a string: no fast path
        assert!(Layout::of(b"[1, 2]").is_none());
        assert!(Layout::of(br#"[{", ": 1}]"#).is_none());
        assert!(Layout::of(b"x").is_none());
        assert!(blanked(r#"[{"a": 1}"#).is_none());
    }

    #[test]
    fn separators_are_found_across_buffer_ends() {
        let Some(l @ Layout::Array { .. }) = Layout::of(br#"[{"ID": 1}, {"ID": 2}]"#) else {
            panic!("an array")
        };
        let full = br#"[{"ID": 1}, {"ID": 2}]"#;
        assert!(matches!(l.next(full, 1, true), Sep::At(10)));
        // the key is cut off: more bytes decide
        assert!(matches!(l.next(&full[..15], 1, false), Sep::More));
        assert!(matches!(l.next(&full[..15], 1, true), Sep::None));
        assert!(matches!(l.next(full, 11, true), Sep::None));
    }

    /// A store holding `objects` in bucket `raw`; its folder goes when the `TempDir` drops.
    async fn s3_with(objects: &[(&str, String)]) -> (Arc<S3>, Vec<Object>, tempfile::TempDir) {
        let dir = tempfile::Builder::new()
            .prefix("shoal-runs-")
            .tempdir()
            .unwrap();
        let store = Arc::new(crate::store::sqlite::SqliteStore::open(dir.path()).unwrap());
        let blobs = crate::s3::blobs::FsBlobs::open(&dir.path().join("objects")).unwrap();
        let s3 = S3::open(store, Arc::new(blobs), None, "123456789012").unwrap();
        s3.create_bucket("raw", "us-east-1").await.unwrap();
        let mut out = vec![];
        for (key, body) in objects {
            let bytes = bytes::Bytes::from(body.clone());
            let body: crate::s3::BodyStream =
                Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
            let o = s3
                .put_object("raw", key, body, Default::default(), &Default::default())
                .await
                .unwrap();
            out.push(o);
        }
        (s3, out, dir)
    }

    /// The slow path's rows, for comparison.
    fn strict(text: &str) -> Vec<RecordBatch> {
        let mut b = text.as_bytes().to_vec();
        if text.trim_start().starts_with('[') {
            crate::lake::json::array_to_lines(&mut b).unwrap();
        }
        crate::lake::json::decode_lines(&b).unwrap()
    }

    fn rows(b: &[RecordBatch]) -> Vec<RecordBatch> {
        let schema = b[0].schema();
        vec![datafusion::arrow::compute::concat_batches(&schema, b).unwrap()]
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn runs_of_any_size_read_the_same_rows_as_one_pass() {
        let mut array = String::from("[");
        let mut lines = String::new();
        for i in 0..700 {
            let kids = if i % 3 == 0 {
                format!(
                    r#", "kids": [{{"k": {i}, "n": "a}}, {{\"id\": "}}, {{"k": {}}}]"#,
                    i + 1
                )
            } else {
                String::new()
            };
            let rec = format!(r#"{{"id": {i}, "t": "row, {{\"id\": {i}}} \n"{kids}}}"#);
            array.push_str(if i == 0 {
                ""
            } else if i % 2 == 0 {
                ",\n  "
            } else {
                ", "
            });
            array.push_str(&rec);
            lines.push_str(&rec);
            lines.push('\n');
        }
        array.push_str("]\n");
        let (s3, objects, _dir) =
            s3_with(&[("a.json", array.clone()), ("b.json", lines.clone())]).await;
        let want = rows(&strict(&format!("{lines}{lines}")));
        for run_bytes in [40, 97, 1000, 1 << 20] {
            let (s3, objects) = (s3.clone(), objects.clone());
            let got = tokio::task::spawn_blocking(move || read_in_runs(&s3, &objects, run_bytes))
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("no fast path in runs of {run_bytes} bytes"));
            assert_eq!(rows(&got), want, "runs of {run_bytes} bytes");
        }
        assert_eq!(rows(&strict(&array)), rows(&strict(&lines)));
        // records that start with other keys, a run cut inside a list of records that start
        // with the same key, a field the sample did not see: the slow path
        let odd = r#"[{"id": 1}, {"t": "x", "id": 2}]"#.to_string();
        let nested =
            r#"[{"id": 1, "kids": [{"id": 2}, {"id": 3}, {"id": 4}, {"id": 5}]}]"#.to_string();
        let mut late: String = (0..SAMPLE_RECORDS + 1)
            .map(|i| format!("{{\"id\": {i}}}\n"))
            .collect();
        late.push_str("{\"id\": 0, \"new\": 1}\n");
        for body in [odd, nested, late, "[{\"id\": 1}".to_string()] {
            let (s3, objects, _dir) = s3_with(&[("c.json", body)]).await;
            let got = tokio::task::spawn_blocking(move || read_in_runs(&s3, &objects, 16))
                .await
                .unwrap();
            assert!(got.is_none());
        }
    }

    #[test]
    fn decode_is_strict_about_unknown_fields() {
        let schema = sample_schema(b"{\"a\": 1}\n{\"a\": 2}\n", true).unwrap();
        assert_eq!(decode(&schema, b"{\"a\": 3}\n").unwrap()[0].num_rows(), 1);
        assert!(decode(&schema, b"{\"a\": 3, \"b\": 1}\n").is_none());
        assert!(decode(&schema, b"{\"a\": 3").is_none());
    }
}
