//! One page of a bucket listing: keys under a prefix in order, rolled up into common prefixes
//! at a delimiter, as ListObjects and ListObjectsV2 return them.

use super::model::Object;
use std::collections::BTreeMap;
use std::ops::Bound;

#[derive(Debug, Default)]
pub struct Query<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub max_keys: usize,
    /// List keys after this one (`start-after`, `marker`, or a continuation token's key).
    pub after: Option<&'a str>,
}

#[derive(Debug, Default)]
pub struct Page {
    pub objects: Vec<Object>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    /// Where the next page starts (after this key); set when truncated.
    pub next: Option<String>,
}

/// A key greater than every key under common prefix `p`, so the next page skips them.
fn past(p: &str) -> String {
    format!("{p}{}", char::MAX)
}

pub fn list(objects: &BTreeMap<String, Object>, q: &Query) -> Page {
    let mut page = Page::default();
    let start = match q.after {
        Some(a) if a >= q.prefix => Bound::Excluded(a.to_string()),
        _ => Bound::Included(q.prefix.to_string()),
    };
    let mut count = 0;
    let mut last: Option<String> = None;
    let mut iter = objects.range::<String, _>((start, Bound::Unbounded));
    while let Some((key, o)) = iter.next() {
        if !key.starts_with(q.prefix) {
            break;
        }
        let rolled = q
            .delimiter
            .filter(|d| !d.is_empty())
            .and_then(|d| key[q.prefix.len()..].find(d).map(|i| (i, d.len())))
            .map(|(i, n)| key[..q.prefix.len() + i + n].to_string());
        if let Some(p) = &rolled {
            if page.prefixes.last() == Some(p) {
                continue;
            }
        }
        if count == q.max_keys {
            page.truncated = true;
            break;
        }
        count += 1;
        match rolled {
            Some(p) => {
                last = Some(past(&p));
                page.prefixes.push(p);
                // skip the rest of this prefix at once
                let skip = past(page.prefixes.last().map(String::as_str).unwrap_or(""));
                iter = objects.range::<String, _>((Bound::Excluded(skip), Bound::Unbounded));
            }
            None => {
                last = Some(key.clone());
                page.objects.push(o.clone());
            }
        }
    }
    if page.truncated {
        page.next = last;
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::model::Headers;

    fn bucket(keys: &[&str]) -> BTreeMap<String, Object> {
        keys.iter()
            .map(|k| {
                let o = Object {
                    bucket: "b".into(),
                    key: k.to_string(),
                    pieces: vec![],
                    size: 0,
                    etag: String::new(),
                    modified: chrono::Utc::now(),
                    headers: Headers::default(),
                    seq: 0,
                };
                (k.to_string(), o)
            })
            .collect()
    }

    fn keys(p: &Page) -> Vec<&str> {
        p.objects.iter().map(|o| o.key.as_str()).collect()
    }

    #[test]
    fn delimiter_rolls_keys_into_prefixes_and_pages_resume() {
        let b = bucket(&["a/1", "a/2", "b", "c/x/1", "c/y", "d"]);
        let q = Query {
            prefix: "",
            delimiter: Some("/"),
            max_keys: 1000,
            after: None,
        };
        let p = list(&b, &q);
        assert_eq!(keys(&p), ["b", "d"]);
        assert_eq!(p.prefixes, ["a/", "c/"]);
        assert!(!p.truncated);

        let mut seen = vec![];
        let mut after = None;
        loop {
            let p = list(
                &b,
                &Query {
                    max_keys: 1,
                    after: after.as_deref(),
                    ..q
                },
            );
            seen.extend(p.prefixes.iter().cloned());
            seen.extend(p.objects.iter().map(|o| o.key.clone()));
            if !p.truncated {
                break;
            }
            after = p.next;
        }
        assert_eq!(seen, ["a/", "b", "c/", "d"]);
    }

    #[test]
    fn prefix_limits_and_nested_delimiter() {
        let b = bucket(&["c/x/1", "c/x/2", "c/y", "cz"]);
        let p = list(
            &b,
            &Query {
                prefix: "c/",
                delimiter: Some("/"),
                max_keys: 1000,
                after: None,
            },
        );
        assert_eq!(keys(&p), ["c/y"]);
        assert_eq!(p.prefixes, ["c/x/"]);
        let p = list(
            &b,
            &Query {
                prefix: "c",
                delimiter: None,
                max_keys: 2,
                after: Some("c/x/1"),
            },
        );
        assert_eq!(keys(&p), ["c/x/2", "c/y"]);
        assert!(p.truncated);
        assert_eq!(p.next.as_deref(), Some("c/y"));
        let p = list(
            &b,
            &Query {
                prefix: "",
                delimiter: None,
                max_keys: 0,
                after: None,
            },
        );
        assert!(p.objects.is_empty() && p.truncated);
    }
}
