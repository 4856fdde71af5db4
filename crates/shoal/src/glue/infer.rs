//! How a crawler turns objects into tables, as Glue documents it: each data file is classified
//! (Parquet from its footer, JSON and CSV from a sample), folders become tables, and sibling
//! folders with similar schemas become partitions of one table (`key=value` folders give the
//! column `key`, others `partition_0`, `partition_1`, ...). Names are lower-cased.
//!
//! This module decides from what the files hold; [`super::crawlers`] reads them.

use super::types::glue_type;
use datafusion::arrow::datatypes::DataType;
use serde_json::Value;
use std::collections::BTreeMap;

/// What a classifier found in one file.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSchema {
    /// `parquet`, `json` or `csv`.
    pub format: String,
    /// Columns in file order, as `(name, glue type)`, names lower-cased.
    pub columns: Vec<(String, String)>,
    pub rows: Option<u64>,
    /// CSV only: the delimiter and whether the first line is a header.
    pub delimiter: Option<char>,
    pub header: bool,
}

/// A data file under a crawler's include path.
#[derive(Clone, Debug)]
pub struct File {
    /// Folders between the include path and the file.
    pub folders: Vec<String>,
    pub size: u64,
    pub schema: FileSchema,
}

/// A table the crawl found.
#[derive(Clone, Debug, PartialEq)]
pub struct FoundTable {
    pub name: String,
    /// The folders from the include path to the table's root.
    pub root: Vec<String>,
    pub format: String,
    pub columns: Vec<(String, String)>,
    pub partition_keys: Vec<String>,
    /// Each partition's values and its folders below the root.
    pub partitions: Vec<(Vec<String>, Vec<String>)>,
    pub rows: u64,
    pub objects: u64,
    pub bytes: u64,
    pub delimiter: Option<char>,
    pub header: bool,
}

/// A name as Glue writes it: lower case, characters other than letters, digits, `_` and `-`
/// replaced by `_`.
pub fn table_name(folder: &str) -> String {
    folder
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The Glue type both `a` and `b` fit in: equal types stay, integers widen to `bigint`,
/// numbers to `double`, anything else to `string`.
pub fn widen(a: &str, b: &str) -> String {
    if a == b {
        return a.to_string();
    }
    let rank = |t: &str| match t {
        "tinyint" => Some(0),
        "smallint" => Some(1),
        "int" => Some(2),
        "bigint" => Some(3),
        "float" => Some(4),
        "double" => Some(5),
        _ => None,
    };
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) => if x >= y { a } else { b }.to_string(),
        _ if a == "null" => b.to_string(),
        _ if b == "null" => a.to_string(),
        _ => "string".into(),
    }
}

/// The union of two column lists in first-seen order, types widened.
pub fn merge(a: &[(String, String)], b: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = a.to_vec();
    for (n, t) in b {
        match out.iter_mut().find(|(m, _)| m == n) {
            Some((_, u)) => *u = widen(u, t),
            None => out.push((n.clone(), t.clone())),
        }
    }
    out
}

/// Whether two schemas are similar enough to be partitions of one table: same format and at
/// least 70% of the columns shared (Glue's documented idea; its exact measure is unpublished).
pub fn similar(a: &FileSchema, b: &FileSchema) -> bool {
    if a.format != b.format {
        return false;
    }
    let names = |s: &FileSchema| -> std::collections::BTreeSet<String> {
        s.columns.iter().map(|(n, _)| n.clone()).collect()
    };
    let (x, y) = (names(a), names(b));
    let union = x.union(&y).count();
    union == 0 || x.intersection(&y).count() * 10 >= union * 7
}

/// The Glue columns of an Arrow schema (Parquet footers), names lower-cased.
pub fn columns_of(fields: &[(String, DataType)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for (n, t) in fields {
        let n = n.to_lowercase();
        // `ID` and `id` in one file are one column to the catalog
        if !out.iter().any(|(m, _)| *m == n) {
            out.push((n, glue_type(t)));
        }
    }
    out
}

/// The Glue type of a JSON value, as the JSON classifier names it.
pub fn json_type(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) {
                "int".into()
            } else {
                "bigint".into()
            }
        }
        Value::Number(_) => "double".into(),
        Value::String(_) => "string".into(),
        Value::Array(items) => {
            let t = items
                .iter()
                .map(json_type)
                .reduce(|a, b| json_merge(&a, &b))
                .unwrap_or_else(|| "string".into());
            format!("array<{}>", if t == "null" { "string".into() } else { t })
        }
        Value::Object(m) => format!(
            "struct<{}>",
            m.iter()
                .map(|(k, v)| {
                    let t = json_type(v);
                    format!(
                        "{}:{}",
                        k.to_lowercase(),
                        if t == "null" { "string".into() } else { t }
                    )
                })
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// Merges JSON-derived types: numbers widen, equal structs stay, other conflicts are `string`.
fn json_merge(a: &str, b: &str) -> String {
    if a.starts_with("struct<") && b.starts_with("struct<") && a != b {
        // fields differ between records: keep the longer description (Glue merges fields)
        return if a.len() >= b.len() { a } else { b }.to_string();
    }
    widen(a, b)
}

/// The JSON classifier over sampled records. A file that is one JSON array is a single column
/// named `array` (Glue's documented behaviour without a custom `$[*]` classifier).
pub fn json_schema(records: &[Value], top_level_array: bool) -> FileSchema {
    let mut cols: Vec<(String, String)> = vec![];
    if top_level_array {
        let t = json_type(&Value::Array(records.to_vec()));
        cols.push(("array".into(), t));
    } else {
        for r in records {
            if let Value::Object(m) = r {
                for (k, v) in m {
                    let k = k.to_lowercase();
                    let t = json_type(v);
                    match cols.iter_mut().find(|(n, _)| *n == k) {
                        Some((_, u)) => *u = json_merge(u, &t),
                        None => cols.push((k, t)),
                    }
                }
            }
        }
        for (_, t) in cols.iter_mut() {
            if t == "null" {
                *t = "string".into();
            }
        }
    }
    FileSchema {
        format: "json".into(),
        columns: cols,
        rows: Some(if top_level_array {
            1
        } else {
            records.len() as u64
        }),
        delimiter: None,
        header: false,
    }
}

/// The CSV classifier over a sample: the delimiter (`,`, `|`, tab or `;`), whether the first
/// line is a header (distinct text values over data where some column is not text), and each
/// column's type.
pub fn csv_schema(sample: &str) -> Option<FileSchema> {
    let lines: Vec<&str> = sample
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(1000)
        .collect();
    let first = *lines.first()?;
    let delimiter = [',', '|', '\t', ';']
        .into_iter()
        .max_by_key(|d| first.matches(*d).count())?;
    let split = |l: &str| -> Vec<String> {
        l.split(delimiter)
            .map(|v| v.trim().trim_matches('"').to_string())
            .collect()
    };
    let rows: Vec<Vec<String>> = lines.iter().map(|l| split(l)).collect();
    let width = rows[0].len();
    let kind = |v: &str| -> &'static str {
        if v.is_empty() {
            "null"
        } else if v.parse::<i64>().is_ok() {
            if v.parse::<i32>().is_ok() {
                "int"
            } else {
                "bigint"
            }
        } else if v.parse::<f64>().is_ok() {
            "double"
        } else if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
            "boolean"
        } else {
            "string"
        }
    };
    let body_types: Vec<String> = (0..width)
        .map(|c| {
            rows.iter()
                .skip(1)
                .filter_map(|r| r.get(c))
                .map(|v| kind(v).to_string())
                .reduce(|a, b| widen(&a, &b))
                .map(|t| if t == "null" { "string".into() } else { t })
                .unwrap_or_else(|| "string".into())
        })
        .collect();
    let first_all_text = rows[0].iter().all(|v| kind(v) == "string");
    let distinct = {
        let mut names = rows[0].clone();
        names.sort();
        names.dedup();
        names.len() == width
    };
    // Glue: the header must differ from the data, so some column below it must parse as
    // other than STRING; an all-text file has no header row
    let header = first_all_text && distinct && body_types.iter().any(|t| t != "string");
    let columns = (0..width)
        .map(|c| {
            let name = if header {
                rows[0][c].to_lowercase()
            } else {
                format!("col{c}")
            };
            let t = if header {
                body_types[c].clone()
            } else {
                rows.iter()
                    .filter_map(|r| r.get(c))
                    .map(|v| kind(v).to_string())
                    .reduce(|a, b| widen(&a, &b))
                    .map(|t| if t == "null" { "string".into() } else { t })
                    .unwrap_or_else(|| "string".into())
            };
            (name, t)
        })
        .collect();
    Some(FileSchema {
        format: "csv".into(),
        columns,
        rows: Some(rows.len().saturating_sub(header as usize) as u64),
        delimiter: Some(delimiter),
        header,
    })
}

/// A folder of the include path's tree.
#[derive(Default, Debug)]
struct Node {
    files: Vec<File>,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn all_files(&self) -> Vec<&File> {
        let mut out: Vec<&File> = self.files.iter().collect();
        for c in self.children.values() {
            out.extend(c.all_files());
        }
        out
    }

    /// The schema of everything below, if all of it is one format.
    fn schema(&self) -> Option<FileSchema> {
        let files = self.all_files();
        let first = files.first()?;
        let mut s = first.schema.clone();
        for f in &files[1..] {
            if f.schema.format != s.format {
                return None;
            }
            s.columns = merge(&s.columns, &f.schema.columns);
        }
        Some(s)
    }
}

/// The tables a crawl of one include path finds. `root_name` names a table rooted at the include
/// path itself (its last folder, or the bucket).
pub fn tables(files: Vec<File>, root_name: &str) -> Vec<FoundTable> {
    let mut root = Node::default();
    for f in files {
        let mut n = &mut root;
        for seg in f.folders.clone() {
            n = n.children.entry(seg).or_default();
        }
        n.files.push(f);
    }
    let mut out = vec![];
    walk(&root, vec![], root_name, &mut out);
    out
}

fn walk(node: &Node, path: Vec<String>, name: &str, out: &mut Vec<FoundTable>) {
    if node.files.is_empty() && node.children.is_empty() {
        return;
    }
    let children_similar = {
        let schemas: Vec<Option<FileSchema>> = node.children.values().map(Node::schema).collect();
        schemas.iter().all(Option::is_some)
            && schemas
                .iter()
                .flatten()
                .all(|s| schemas.iter().flatten().all(|t| similar(s, t)))
    };
    let hive = !node.children.is_empty() && node.children.keys().all(|k| k.contains('='));
    // Glue: with include path folder1/ over folder1/table1/partition1..n, "the crawler creates a
    // single table with two partition columns": similar children make this folder the table
    let is_table =
        !node.files.is_empty() || hive || (!node.children.is_empty() && children_similar);
    if is_table {
        if let Some(t) = table_at(node, path.clone(), name) {
            out.push(t);
            return;
        }
    }
    for (seg, child) in &node.children {
        let mut p = path.clone();
        p.push(seg.clone());
        walk(child, p, seg, out);
    }
}

/// One table rooted at `node`: every folder below is a partition level.
fn table_at(node: &Node, root: Vec<String>, name: &str) -> Option<FoundTable> {
    let schema = node.schema()?;
    let files = node.all_files();
    let depth = files
        .iter()
        .map(|f| f.folders.len() - root.len())
        .max()
        .unwrap_or(0);
    // keys from the first `k=v` folder met at each depth, else partition_<i>
    let mut keys: Vec<String> = (0..depth).map(|i| format!("partition_{i}")).collect();
    for f in &files {
        for (i, seg) in f.folders[root.len()..].iter().enumerate() {
            if let Some((k, _)) = seg.split_once('=') {
                if keys[i].starts_with("partition_") {
                    keys[i] = k.to_lowercase();
                }
            }
        }
    }
    let mut partitions: Vec<(Vec<String>, Vec<String>)> = vec![];
    for f in &files {
        let below = f.folders[root.len()..].to_vec();
        if below.len() != depth {
            continue;
        }
        let values: Vec<String> = below
            .iter()
            .map(|s| s.split_once('=').map_or(s.as_str(), |(_, v)| v).to_string())
            .collect();
        if !partitions.iter().any(|(v, _)| *v == values) {
            partitions.push((values, below));
        }
    }
    let columns: Vec<(String, String)> = schema
        .columns
        .into_iter()
        .filter(|(n, _)| !keys.contains(n))
        .collect();
    Some(FoundTable {
        name: table_name(name),
        root,
        format: schema.format,
        columns,
        partition_keys: keys,
        partitions,
        rows: files.iter().filter_map(|f| f.schema.rows).sum(),
        objects: files.len() as u64,
        bytes: files.iter().map(|f| f.size).sum(),
        delimiter: schema.delimiter,
        header: schema.header,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parquet(folders: &[&str], cols: &[(&str, &str)]) -> File {
        File {
            folders: folders.iter().map(|s| s.to_string()).collect(),
            size: 100,
            schema: FileSchema {
                format: "parquet".into(),
                columns: cols
                    .iter()
                    .map(|(n, t)| (n.to_string(), t.to_string()))
                    .collect(),
                rows: Some(10),
                delimiter: None,
                header: false,
            },
        }
    }

    #[test]
    fn dissimilar_sibling_folders_are_tables_and_similar_ones_partitions() {
        let files = vec![
            parquet(&["posts"], &[("id", "bigint"), ("post_title", "string")]),
            parquet(
                &["statistics_pages"],
                &[("page_id", "bigint"), ("count", "bigint")],
            ),
            parquet(
                &["events", "year=2024", "month=01"],
                &[("id", "bigint"), ("v", "double")],
            ),
            parquet(
                &["events", "year=2024", "month=02"],
                &[("id", "bigint"), ("v", "double")],
            ),
        ];
        let t = tables(files, "wordpress_api");
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["events", "posts", "statistics_pages"]);
        assert_eq!(t[0].partition_keys, ["year", "month"]);
        assert_eq!(t[0].partitions.len(), 2);
        assert_eq!(t[0].partitions[1].0, ["2024", "02"]);
        assert_eq!(t[1].partition_keys, Vec::<String>::new());
        assert_eq!(t[1].rows, 10);
    }

    #[test]
    fn similar_plain_folders_become_partition_columns() {
        let files = vec![
            parquet(&["2024", "01"], &[("id", "bigint")]),
            parquet(&["2024", "02"], &[("id", "int")]),
        ];
        let t = tables(files, "Sales Data");
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].name, "sales_data");
        assert_eq!(t[0].partition_keys, ["partition_0", "partition_1"]);
        assert_eq!(t[0].columns, [("id".to_string(), "bigint".to_string())]);
    }

    #[test]
    fn json_classifier_types_and_the_array_quirk() {
        let recs = vec![
            json!({"ID": 1, "title": {"rendered": "x"}, "tags": [1, 2]}),
            json!({"ID": 5000000000i64, "x": null}),
        ];
        let s = json_schema(&recs, false);
        assert_eq!(
            s.columns,
            [
                ("id".into(), "bigint".into()),
                ("title".into(), "struct<rendered:string>".into()),
                ("tags".into(), "array<int>".into()),
                ("x".into(), "string".into())
            ]
        );
        let s = json_schema(&recs[..1], true);
        assert_eq!(s.columns[0].0, "array");
        assert!(s.columns[0].1.starts_with("array<struct<"));
    }

    #[test]
    fn csv_classifier_finds_header_delimiter_and_types() {
        let s = csv_schema("id|name|score\n1|a|2.5\n2|b|3\n").unwrap();
        assert_eq!(s.delimiter, Some('|'));
        assert!(s.header);
        assert_eq!(
            s.columns,
            [
                ("id".into(), "int".into()),
                ("name".into(), "string".into()),
                ("score".into(), "double".into())
            ]
        );
        let s = csv_schema("1,2\n3,4\n").unwrap();
        assert!(!s.header);
        assert_eq!(s.columns[0], ("col0".into(), "int".into()));
    }
}
