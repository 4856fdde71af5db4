//! S3's REST-XML protocol: path-style (`/bucket/key`) and virtual-hosted (`bucket.s3.localhost`,
//! `bucket.localhost`) requests, translated to the object service and back into S3's XML.

use super::xml::{self, Xml};
use super::App;
use crate::s3::listing::{Page, Query};
use crate::s3::model::{Headers, Object};
use crate::s3::objects::Expect;
use crate::s3::{checksum, BodyStream, S3Error};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::StreamExt;
use std::collections::HashMap;

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// Most bytes read from an XML request body (DeleteObjects with 1,000 keys fits).
const MAX_XML: usize = 4 << 20;

type Answer = Result<Response, S3Error>;

/// Whether a request without `X-Amz-Target` is meant for S3: signed for `s3`, addressed to a
/// bucket host, or any non-POST request (the JSON and query protocols only POST).
pub fn wants(headers: &HeaderMap, method: &Method, uri: &axum::http::Uri) -> bool {
    if let Some(service) = super::signing_service(headers) {
        return service == "s3";
    }
    if uri.query().is_some_and(|q| q.contains("X-Amz-Credential=")) {
        return uri
            .query()
            .is_some_and(|q| q.contains("%2Fs3%2F") || q.contains("/s3/"));
    }
    virtual_bucket(headers).is_some() || method != Method::POST || uri.path() != "/"
}

/// The bucket named by a virtual-hosted request's host.
fn virtual_bucket(headers: &HeaderMap) -> Option<String> {
    let host = headers.get("host")?.to_str().ok()?;
    let host = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let bucket = match host.split_once(".s3.") {
        Some((b, _)) => b,
        None => host.strip_suffix(".localhost")?,
    };
    (!bucket.is_empty()).then(|| bucket.to_string())
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Percent-encodes a key for `encoding-type=url` listings (unreserved characters and `/` stay).
fn url_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn http_date(t: &DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase()
}

fn xml_response(status: StatusCode, doc: String) -> Response {
    (status, [("content-type", "application/xml")], doc).into_response()
}

fn error_response(e: S3Error, head: bool) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    if head {
        // HEAD answers carry no body; SDKs read the status alone
        return status.into_response();
    }
    let mut x = Xml::bare("Error");
    x.text("Code", e.code).text("Message", &e.message);
    for (k, v) in &e.extra {
        x.text(k, v);
    }
    x.text("RequestId", request_id());
    xml_response(status, x.finish())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The object headers a PUT, copy or upload carries.
fn object_headers(h: &HeaderMap) -> Headers {
    let s = |n: &str| header(h, n).map(String::from);
    let metadata = h
        .iter()
        .filter_map(|(k, v)| {
            let name = k.as_str().strip_prefix("x-amz-meta-")?;
            Some((name.to_string(), v.to_str().ok()?.to_string()))
        })
        .collect();
    Headers {
        content_type: s("content-type"),
        cache_control: s("cache-control"),
        content_disposition: s("content-disposition"),
        content_encoding: s("content-encoding")
            .map(|e| {
                e.split(',')
                    .map(str::trim)
                    .filter(|p| *p != "aws-chunked")
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .filter(|e| !e.is_empty()),
        content_language: s("content-language"),
        expires: s("expires"),
        metadata,
        checksums: Default::default(),
    }
}

/// What the client says about the body, for checking it; and whether it is `aws-chunked`.
fn expectations(h: &HeaderMap) -> (Expect, bool) {
    let chunked = header(h, "x-amz-content-sha256").is_some_and(|v| v.starts_with("STREAMING-"))
        || header(h, "content-encoding").is_some_and(|v| v.contains("aws-chunked"));
    let size = if chunked {
        header(h, "x-amz-decoded-content-length")
    } else {
        header(h, "content-length")
    }
    .and_then(|v| v.parse().ok());
    let checksum = checksum::ALGORITHMS.iter().find_map(|a| {
        header(h, &format!("x-amz-checksum-{a}")).map(|v| (a.to_string(), v.to_string()))
    });
    let expect = Expect {
        md5: header(h, "content-md5").map(String::from),
        checksum,
        size,
    };
    (expect, chunked)
}

/// Decodes an `aws-chunked` body (`hex-size[;chunk-signature=…]\r\n data \r\n … 0\r\n
/// trailers \r\n`) into its data.
fn dechunk(body: BodyStream) -> BodyStream {
    struct State {
        body: BodyStream,
        buf: Vec<u8>,
        left: usize,
    }
    let state = State {
        body,
        buf: Vec::new(),
        left: 0,
    };
    Box::pin(futures_util::stream::try_unfold(
        state,
        |mut s| async move {
            loop {
                if s.left > 0 && !s.buf.is_empty() {
                    let n = s.left.min(s.buf.len());
                    let out: Vec<u8> = s.buf.drain(..n).collect();
                    s.left -= n;
                    return Ok(Some((Bytes::from(out), s)));
                }
                if s.left == 0 {
                    // a chunk header, after the previous chunk's CRLF
                    if s.buf.starts_with(b"\r\n") {
                        s.buf.drain(..2);
                    }
                    if let Some(end) = s.buf.windows(2).position(|w| w == b"\r\n") {
                        let line = String::from_utf8_lossy(&s.buf[..end]).to_string();
                        s.buf.drain(..end + 2);
                        let size = line.split(';').next().unwrap_or("").trim();
                        let size = usize::from_str_radix(size, 16)
                            .map_err(|_| format!("bad aws-chunked chunk header '{line}'"))?;
                        if size == 0 {
                            // trailers follow; the data is complete
                            return Ok(None);
                        }
                        s.left = size;
                        continue;
                    }
                }
                match s.body.next().await {
                    Some(Ok(b)) => s.buf.extend_from_slice(&b),
                    Some(Err(e)) => return Err(e),
                    None => return Err("the aws-chunked body ended early".to_string()),
                }
            }
        },
    ))
}

/// The request body as a stream, decoded when `aws-chunked`.
fn body_stream(body: Body, chunked: bool) -> BodyStream {
    let s: BodyStream = Box::pin(
        body.into_data_stream()
            .map(|r| r.map_err(|e| e.to_string())),
    );
    if chunked {
        dechunk(s)
    } else {
        s
    }
}

async fn read_xml(body: Body) -> Result<Option<xml::Element>, S3Error> {
    let bytes = axum::body::to_bytes(body, MAX_XML)
        .await
        .map_err(|e| S3Error::new("IncompleteBody", 400, e.to_string()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    xml::parse(&bytes).map(Some).map_err(|e| {
        S3Error::new(
            "MalformedXML",
            400,
            format!("The XML you provided was not well-formed or did not validate against our published schema ({e})"),
        )
    })
}

/// Serves one S3 request.
pub async fn handle(app: &App, req: Request<Body>) -> Response {
    let head = req.method() == Method::HEAD;
    let rid = request_id();
    let mut r = match route(app, req).await {
        Ok(r) => r,
        Err(e) => error_response(e, head),
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        r.headers_mut().insert("x-amz-request-id", v);
    }
    r
}

async fn route(app: &App, req: Request<Body>) -> Answer {
    let (parts, body) = req.into_parts();
    let h = &parts.headers;
    let q: HashMap<String, String> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let path = parts.uri.path().trim_start_matches('/');
    let (bucket, key) = match virtual_bucket(h) {
        Some(b) => (b, decode(path)),
        None => match path.split_once('/') {
            Some((b, k)) => (decode(b), decode(k)),
            None => (decode(path), String::new()),
        },
    };
    let m = &parts.method;
    let host = header(h, "host").unwrap_or("127.0.0.1:4566").to_string();
    if bucket.is_empty() {
        return match *m {
            Method::GET => Ok(list_buckets(app)),
            _ => Err(S3Error::new(
                "MethodNotAllowed",
                405,
                "The specified method is not allowed against this resource.",
            )),
        };
    }
    let s3 = &app.s3;
    if key.is_empty() {
        return match (m.as_str(), sub(&q)) {
            ("PUT", Some("notification")) => {
                let doc = read_xml(body).await?;
                let on = notification(doc.as_ref())?;
                s3.update_bucket(&bucket, |b| b.eventbridge = on).await?;
                Ok(StatusCode::OK.into_response())
            }
            ("GET", Some("notification")) => {
                let b = s3.bucket(&bucket)?;
                let mut x = Xml::new("NotificationConfiguration", NS);
                if b.eventbridge {
                    x.open("EventBridgeConfiguration").close();
                }
                Ok(xml_response(StatusCode::OK, x.finish()))
            }
            ("PUT", Some("tagging")) => {
                let doc = read_xml(body).await?;
                let tags = doc
                    .as_ref()
                    .and_then(|d| d.child("TagSet"))
                    .map(|t| {
                        t.all("Tag")
                            .map(|t| {
                                (
                                    t.get("Key").unwrap_or("").to_string(),
                                    t.get("Value").unwrap_or("").to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                s3.update_bucket(&bucket, |b| b.tags = tags).await?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            ("GET", Some("tagging")) => {
                let b = s3.bucket(&bucket)?;
                if b.tags.is_empty() {
                    return Err(
                        S3Error::new("NoSuchTagSet", 404, "The TagSet does not exist")
                            .with("BucketName", &bucket),
                    );
                }
                let mut x = Xml::new("Tagging", NS);
                x.open("TagSet");
                for (k, v) in &b.tags {
                    x.open("Tag").text("Key", k).text("Value", v).close();
                }
                Ok(xml_response(StatusCode::OK, x.finish()))
            }
            ("DELETE", Some("tagging")) => {
                s3.update_bucket(&bucket, |b| b.tags.clear()).await?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            ("GET", Some("location")) => {
                let b = s3.bucket(&bucket)?;
                let region = if b.region == "us-east-1" {
                    String::new()
                } else {
                    b.region
                };
                let doc = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{NS}\">{}</LocationConstraint>",
                    xml::escape(&region)
                );
                Ok(xml_response(StatusCode::OK, doc))
            }
            ("GET", Some("versioning")) => {
                s3.bucket(&bucket)?;
                Ok(xml_response(
                    StatusCode::OK,
                    Xml::new("VersioningConfiguration", NS).finish(),
                ))
            }
            ("GET", Some("uploads")) => list_uploads(app, &bucket),
            ("POST", Some("delete")) => delete_objects(app, &bucket, body).await,
            ("PUT", None) => {
                let doc = read_xml(body).await?;
                let region = doc
                    .as_ref()
                    .and_then(|d| d.get("LocationConstraint"))
                    .filter(|r| !r.is_empty())
                    .map(String::from)
                    .unwrap_or_else(|| {
                        super::region(h).unwrap_or_else(|| app.sfn.config.default_region.clone())
                    });
                s3.create_bucket(&bucket, &region).await?;
                Ok(([("location", format!("/{bucket}"))], "").into_response())
            }
            ("HEAD", None) => {
                let b = s3.bucket(&bucket)?;
                Ok(([("x-amz-bucket-region", b.region)], "").into_response())
            }
            ("DELETE", None) => {
                s3.delete_bucket(&bucket).await?;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            ("GET", None) => list_objects(app, &bucket, &q),
            (_, Some(other)) => Err(not_implemented(m.as_str(), &format!("bucket ?{other}"))),
            _ => Err(S3Error::new(
                "MethodNotAllowed",
                405,
                "The specified method is not allowed against this resource.",
            )),
        };
    }
    let upload_id = q.get("uploadId").cloned();
    match (m.as_str(), upload_id) {
        ("PUT", Some(id)) => {
            let number = q
                .get("partNumber")
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| {
                    S3Error::invalid(
                        "Part number must be an integer between 1 and 10000, inclusive",
                    )
                })?;
            let upload = s3.upload(&bucket, &key, &id)?;
            if let Some(src) = header(h, "x-amz-copy-source") {
                let (sb, sk) = copy_source(src)?;
                let source = s3.head_object(&sb, &sk)?;
                let (start, len) = match header(h, "x-amz-copy-source-range") {
                    Some(r) => range(r, source.size)?.ok_or_else(|| S3Error::invalid("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"))?,
                    None => (0, source.size),
                };
                let part = s3
                    .upload_part(
                        &upload,
                        number,
                        s3.body(&source, start, len),
                        &Expect::default(),
                    )
                    .await?;
                let mut x = Xml::new("CopyPartResult", NS);
                x.text("LastModified", iso(&part.modified))
                    .text("ETag", &part.etag);
                return Ok(xml_response(StatusCode::OK, x.finish()));
            }
            let (expect, chunked) = expectations(h);
            let part = s3
                .upload_part(&upload, number, body_stream(body, chunked), &expect)
                .await?;
            Ok(([("etag", part.etag)], "").into_response())
        }
        ("POST", Some(id)) => {
            let upload = s3.upload(&bucket, &key, &id)?;
            let doc = read_xml(body).await?;
            let chosen: Vec<(u32, String)> = doc
                .iter()
                .flat_map(|d| d.all("Part"))
                .map(|p| {
                    let n = p
                        .get("PartNumber")
                        .and_then(|n| n.trim().parse().ok())
                        .unwrap_or(0);
                    (n, p.get("ETag").unwrap_or("").to_string())
                })
                .collect();
            let o = s3.complete_upload(&upload, &chosen).await?;
            let mut x = Xml::new("CompleteMultipartUploadResult", NS);
            x.text(
                "Location",
                format!("http://{host}/{bucket}/{}", url_encode(&key)),
            )
            .text("Bucket", &bucket)
            .text("Key", &key)
            .text("ETag", &o.etag);
            Ok(xml_response(StatusCode::OK, x.finish()))
        }
        ("DELETE", Some(id)) => {
            let upload = s3.upload(&bucket, &key, &id)?;
            s3.abort_upload(&upload).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ("GET", Some(id)) => {
            let upload = s3.upload(&bucket, &key, &id)?;
            let parts = s3.parts(&upload)?;
            let mut x = Xml::new("ListPartsResult", NS);
            x.text("Bucket", &bucket)
                .text("Key", &key)
                .text("UploadId", &id)
                .text("PartNumberMarker", 0)
                .text("NextPartNumberMarker", parts.last().map_or(0, |p| p.number))
                .text("MaxParts", 1000)
                .text("IsTruncated", false)
                .text("StorageClass", "STANDARD");
            for p in &parts {
                x.open("Part")
                    .text("PartNumber", p.number)
                    .text("LastModified", iso(&p.modified))
                    .text("ETag", &p.etag)
                    .text("Size", p.piece.size)
                    .close();
            }
            Ok(xml_response(StatusCode::OK, x.finish()))
        }
        ("POST", None) if q.contains_key("uploads") => {
            let upload = s3.create_upload(&bucket, &key, object_headers(h)).await?;
            let mut x = Xml::new("InitiateMultipartUploadResult", NS);
            x.text("Bucket", &bucket)
                .text("Key", &key)
                .text("UploadId", &upload.id);
            Ok(xml_response(StatusCode::OK, x.finish()))
        }
        ("PUT", None) if sub(&q).is_none() => match header(h, "x-amz-copy-source") {
            Some(src) => {
                let (sb, sk) = copy_source(src)?;
                let replace = header(h, "x-amz-metadata-directive")
                    .is_some_and(|d| d.eq_ignore_ascii_case("REPLACE"))
                    .then(|| object_headers(h));
                let o = s3.copy_object((&sb, &sk), (&bucket, &key), replace).await?;
                let mut x = Xml::new("CopyObjectResult", NS);
                x.text("LastModified", iso(&o.modified))
                    .text("ETag", &o.etag);
                Ok(xml_response(StatusCode::OK, x.finish()))
            }
            None => {
                let (expect, chunked) = expectations(h);
                let o = s3
                    .put_object(
                        &bucket,
                        &key,
                        body_stream(body, chunked),
                        object_headers(h),
                        &expect,
                    )
                    .await?;
                let mut r = ([("etag", o.etag.clone())], "").into_response();
                for (a, v) in &o.headers.checksums {
                    if let Ok(v) = HeaderValue::from_str(v) {
                        r.headers_mut().insert(
                            axum::http::HeaderName::from_bytes(
                                format!("x-amz-checksum-{a}").as_bytes(),
                            )
                            .map_err(S3Error::internal)?,
                            v,
                        );
                    }
                }
                Ok(r)
            }
        },
        ("GET" | "HEAD", None) if sub(&q).is_none() => {
            let o = s3.head_object(&bucket, &key)?;
            get_object(app, o, h, &q, m == Method::HEAD)
        }
        ("DELETE", None) if sub(&q).is_none() => {
            s3.delete_object(&bucket, &key).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(not_implemented(
            m.as_str(),
            &format!("object ?{}", sub(&q).unwrap_or("")),
        )),
    }
}

/// The subresource a request names (`?notification`, `?uploads`, ...), ignoring list options.
fn sub(q: &HashMap<String, String>) -> Option<&str> {
    // the ones shoal serves first, then the ones it answers NotImplemented for by name
    const SUBS: [&str; 30] = [
        "notification",
        "tagging",
        "location",
        "versioning",
        "uploads",
        "delete",
        "acl",
        "policy",
        "cors",
        "lifecycle",
        "website",
        "encryption",
        "replication",
        "logging",
        "object-lock",
        "retention",
        "legal-hold",
        "restore",
        "select",
        "attributes",
        "accelerate",
        "ownershipControls",
        "publicAccessBlock",
        "intelligent-tiering",
        "inventory",
        "metrics",
        "analytics",
        "requestPayment",
        "torrent",
        "versions",
    ];
    SUBS.into_iter().find(|s| q.contains_key(*s))
}

fn not_implemented(method: &str, what: &str) -> S3Error {
    S3Error::new(
        "NotImplemented",
        501,
        format!("shoal does not implement {method} {what} yet"),
    )
}

/// `x-amz-copy-source`: `[/]bucket/key[?versionId=…]`, URL-encoded.
fn copy_source(src: &str) -> Result<(String, String), S3Error> {
    let src = src.split('?').next().unwrap_or(src);
    let src = decode(src.trim_start_matches('/'));
    match src.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.into(), k.into())),
        _ => Err(S3Error::invalid(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
        .with("ArgumentName", "x-amz-copy-source")),
    }
}

/// A `Range` header over an object of `size` bytes: `(start, len)`, `None` when it is not a
/// single byte range (S3 then sends the whole object), an error when it cannot be satisfied.
fn range(h: &str, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = || {
        S3Error::new(
            "InvalidRange",
            416,
            "The requested range is not satisfiable",
        )
        .with("RangeRequested", h.to_string())
        .with("ActualObjectSize", size.to_string())
    };
    let (start, end) = match (a.trim(), b.trim()) {
        ("", "") => return Ok(None),
        ("", n) => {
            let Ok(n) = n.parse::<u64>() else {
                return Ok(None);
            };
            if n == 0 || size == 0 {
                return Err(unsatisfiable());
            }
            (size.saturating_sub(n), size - 1)
        }
        (a, b) => {
            let Ok(a) = a.parse::<u64>() else {
                return Ok(None);
            };
            let end = if b.is_empty() {
                size.saturating_sub(1)
            } else {
                let Ok(b) = b.parse::<u64>() else {
                    return Ok(None);
                };
                if b < a {
                    return Ok(None);
                }
                b.min(size.saturating_sub(1))
            };
            if a >= size {
                return Err(unsatisfiable());
            }
            (a, end)
        }
    };
    Ok(Some((start, end - start + 1)))
}

fn get_object(
    app: &App,
    o: Object,
    h: &HeaderMap,
    q: &HashMap<String, String>,
    head: bool,
) -> Answer {
    // conditions, in S3's order
    let modified = o.modified.timestamp();
    let since = |name: &str| {
        header(h, name)
            .and_then(|v| DateTime::parse_from_rfc2822(&v.replace("GMT", "+0000")).ok())
            .map(|t| t.timestamp())
    };
    let tag_matches = |v: &str| {
        v.split(',')
            .any(|t| t.trim() == "*" || t.trim().trim_matches('"') == o.etag.trim_matches('"'))
    };
    let failed = || {
        S3Error::new(
            "PreconditionFailed",
            412,
            "At least one of the pre-conditions you specified did not hold",
        )
        .with("Condition", "If-Match")
    };
    match header(h, "if-match") {
        Some(v) if !tag_matches(v) => return Err(failed()),
        None if since("if-unmodified-since").is_some_and(|t| modified > t) => return Err(failed()),
        _ => {}
    }
    let not_modified = match header(h, "if-none-match") {
        Some(v) => tag_matches(v),
        None => since("if-modified-since").is_some_and(|t| modified <= t),
    };
    if not_modified {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&o.etag) {
            r.headers_mut().insert("etag", v);
        }
        return Ok(r);
    }
    let ranged = match header(h, "range") {
        Some(r) => range(r, o.size)?,
        None => None,
    };
    let (start, len) = ranged.unwrap_or((0, o.size));
    let mut hs: Vec<(String, String)> = vec![
        ("last-modified".into(), http_date(&o.modified)),
        ("etag".into(), o.etag.clone()),
        ("accept-ranges".into(), "bytes".into()),
        ("content-length".into(), len.to_string()),
    ];
    let hd = &o.headers;
    let pick =
        |over: &str, stored: &Option<String>| q.get(over).cloned().or_else(|| stored.clone());
    let content_type = pick("response-content-type", &hd.content_type)
        .unwrap_or_else(|| "binary/octet-stream".into());
    hs.push(("content-type".into(), content_type));
    for (name, over, stored) in [
        ("cache-control", "response-cache-control", &hd.cache_control),
        (
            "content-disposition",
            "response-content-disposition",
            &hd.content_disposition,
        ),
        (
            "content-encoding",
            "response-content-encoding",
            &hd.content_encoding,
        ),
        (
            "content-language",
            "response-content-language",
            &hd.content_language,
        ),
        ("expires", "response-expires", &hd.expires),
    ] {
        if let Some(v) = pick(over, stored) {
            hs.push((name.into(), v));
        }
    }
    for (k, v) in &hd.metadata {
        hs.push((format!("x-amz-meta-{k}"), v.clone()));
    }
    if ranged.is_none()
        && header(h, "x-amz-checksum-mode").is_some_and(|m| m.eq_ignore_ascii_case("ENABLED"))
    {
        for (a, v) in &hd.checksums {
            hs.push((format!("x-amz-checksum-{a}"), v.clone()));
        }
    }
    let status = if ranged.is_some() {
        hs.push((
            "content-range".into(),
            format!("bytes {start}-{}/{}", start + len - 1, o.size),
        ));
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let body = if head || len == 0 {
        Body::empty()
    } else {
        Body::from_stream(app.s3.body(&o, start, len))
    };
    let mut r = Response::builder().status(status);
    for (k, v) in hs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r = r.header(k, v);
        }
    }
    r.body(body).map_err(S3Error::internal)
}

fn list_buckets(app: &App) -> Response {
    let mut x = Xml::new("ListAllMyBucketsResult", NS);
    x.open("Owner")
        .text("ID", &app.s3.account)
        .text("DisplayName", "shoal")
        .close();
    x.open("Buckets");
    for b in app.s3.list_buckets() {
        x.open("Bucket")
            .text("Name", &b.name)
            .text("CreationDate", iso(&b.created))
            .text("BucketRegion", &b.region)
            .close();
    }
    x.close();
    xml_response(StatusCode::OK, x.finish())
}

fn list_objects(app: &App, bucket: &str, q: &HashMap<String, String>) -> Answer {
    let v2 = q.get("list-type").is_some_and(|t| t == "2");
    let max_keys = match q.get("max-keys") {
        Some(m) => m.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            S3Error::invalid("Provided max-keys not an integer or within integer range")
                .with("ArgumentName", "max-keys")
                .with("ArgumentValue", m.clone())
        })? as usize,
        None => 1000,
    }
    .min(1000);
    let token = match q.get("continuation-token").filter(|_| v2) {
        Some(t) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    S3Error::invalid("The continuation token provided is incorrect")
                        .with("ArgumentName", "continuation-token")
                })?,
        ),
        None => None,
    };
    let after = token
        .clone()
        .or_else(|| q.get(if v2 { "start-after" } else { "marker" }).cloned());
    let prefix = q.get("prefix").map(String::as_str).unwrap_or("");
    let delimiter = q
        .get("delimiter")
        .map(String::as_str)
        .filter(|d| !d.is_empty());
    let page: Page = app.s3.list_objects(
        bucket,
        &Query {
            prefix,
            delimiter,
            max_keys,
            after: after.as_deref(),
        },
    )?;
    let url = q.get("encoding-type").is_some_and(|e| e == "url");
    let enc = |s: &str| if url { url_encode(s) } else { s.to_string() };
    let mut x = Xml::new("ListBucketResult", NS);
    x.text("Name", bucket).text("Prefix", enc(prefix));
    if v2 {
        x.text("KeyCount", page.objects.len() + page.prefixes.len());
        x.maybe("ContinuationToken", q.get("continuation-token"));
        x.maybe("StartAfter", q.get("start-after").map(|s| enc(s)));
    } else {
        x.text(
            "Marker",
            enc(q.get("marker").map(String::as_str).unwrap_or("")),
        );
    }
    x.text("MaxKeys", max_keys);
    x.maybe("Delimiter", delimiter.map(enc));
    x.maybe("EncodingType", url.then_some("url"));
    x.text("IsTruncated", page.truncated);
    if let Some(next) = &page.next {
        if v2 {
            x.text(
                "NextContinuationToken",
                base64::engine::general_purpose::STANDARD.encode(next),
            );
        } else if delimiter.is_some() {
            // S3 sends NextMarker only with a delimiter; a client without one resumes after
            // the last key
            let last = page
                .prefixes
                .last()
                .filter(|p| next.starts_with(p.as_str()))
                .cloned()
                .unwrap_or_else(|| next.clone());
            x.text("NextMarker", enc(&last));
        }
    }
    for o in &page.objects {
        x.open("Contents")
            .text("Key", enc(&o.key))
            .text("LastModified", iso(&o.modified))
            .text("ETag", &o.etag)
            .text("Size", o.size)
            .text("StorageClass", "STANDARD");
        if !v2 || q.get("fetch-owner").is_some_and(|f| f == "true") {
            x.open("Owner")
                .text("ID", &app.s3.account)
                .text("DisplayName", "shoal")
                .close();
        }
        x.close();
    }
    for p in &page.prefixes {
        x.open("CommonPrefixes").text("Prefix", enc(p)).close();
    }
    Ok(xml_response(StatusCode::OK, x.finish()))
}

fn list_uploads(app: &App, bucket: &str) -> Answer {
    let uploads = app.s3.uploads(bucket)?;
    let mut x = Xml::new("ListMultipartUploadsResult", NS);
    x.text("Bucket", bucket)
        .text("KeyMarker", "")
        .text("UploadIdMarker", "")
        .text("MaxUploads", 1000)
        .text("IsTruncated", false);
    for u in uploads {
        x.open("Upload")
            .text("Key", &u.key)
            .text("UploadId", &u.id)
            .text("StorageClass", "STANDARD")
            .text("Initiated", iso(&u.initiated))
            .close();
    }
    Ok(xml_response(StatusCode::OK, x.finish()))
}

async fn delete_objects(app: &App, bucket: &str, body: Body) -> Answer {
    let doc = read_xml(body).await?.ok_or_else(|| S3Error::new("MalformedXML", 400, "The XML you provided was not well-formed or did not validate against our published schema"))?;
    let quiet = doc.get("Quiet").is_some_and(|q| q.trim() == "true");
    let keys: Vec<String> = doc
        .all("Object")
        .filter_map(|o| o.get("Key").map(String::from))
        .collect();
    if keys.len() > 1000 {
        return Err(S3Error::new("MalformedXML", 400, "The XML you provided was not well-formed or did not validate against our published schema (at most 1000 keys)"));
    }
    app.s3.bucket(bucket)?;
    let mut x = Xml::new("DeleteResult", NS);
    for k in keys {
        match app.s3.delete_object(bucket, &k).await {
            Ok(()) if !quiet => {
                x.open("Deleted").text("Key", &k).close();
            }
            Ok(()) => {}
            Err(e) => {
                x.open("Error")
                    .text("Key", &k)
                    .text("Code", e.code)
                    .text("Message", &e.message)
                    .close();
            }
        }
    }
    Ok(xml_response(StatusCode::OK, x.finish()))
}

/// PutBucketNotificationConfiguration: shoal delivers EventBridge notifications; other
/// destinations are refused by name rather than ignored.
fn notification(doc: Option<&xml::Element>) -> Result<bool, S3Error> {
    let Some(doc) = doc else { return Ok(false) };
    if let Some(other) = doc
        .children
        .iter()
        .find(|c| c.name != "EventBridgeConfiguration")
    {
        return Err(not_implemented(
            "PUT",
            &format!(
                "bucket notifications with {} (EventBridgeConfiguration is supported)",
                other.name
            ),
        ));
    }
    Ok(doc.child("EventBridgeConfiguration").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_http_and_s3() {
        assert_eq!(range("bytes=0-4", 10).unwrap(), Some((0, 5)));
        assert_eq!(range("bytes=5-", 10).unwrap(), Some((5, 5)));
        assert_eq!(range("bytes=-3", 10).unwrap(), Some((7, 3)));
        assert_eq!(range("bytes=-30", 10).unwrap(), Some((0, 10)));
        assert_eq!(range("bytes=8-100", 10).unwrap(), Some((8, 2)));
        assert_eq!(range("bytes=10-", 10).unwrap_err().code, "InvalidRange");
        assert_eq!(range("bytes=x-1", 10).unwrap(), None);
        assert_eq!(range("bytes=0-1,3-4", 10).unwrap(), None);
        assert_eq!(range("items=0-1", 10).unwrap(), None);
    }

    #[test]
    fn hosts_name_virtual_buckets() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("data.s3.localhost:4566"));
        assert_eq!(virtual_bucket(&h).as_deref(), Some("data"));
        h.insert("host", HeaderValue::from_static("my.bucket.localhost"));
        assert_eq!(virtual_bucket(&h).as_deref(), Some("my.bucket"));
        h.insert("host", HeaderValue::from_static("127.0.0.1:4566"));
        assert_eq!(virtual_bucket(&h), None);
        assert_eq!(
            copy_source("/b/a%20key?versionId=1").unwrap(),
            ("b".into(), "a key".into())
        );
        assert!(copy_source("b").is_err());
        assert_eq!(url_encode("a b/ü+"), "a%20b/%C3%BC%2B");
    }

    #[tokio::test]
    async fn aws_chunked_bodies_decode() {
        let raw = "5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n";
        // split the body awkwardly to cross chunk boundaries
        let parts: Vec<Result<Bytes, String>> = raw
            .as_bytes()
            .chunks(4)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let s: BodyStream = Box::pin(futures_util::stream::iter(parts));
        let out: Vec<Bytes> = dechunk(s).map(|r| r.unwrap()).collect().await;
        assert_eq!(out.concat(), b"hello world");
    }
}
