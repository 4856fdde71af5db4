//! shoal's S3 as an `object_store::ObjectStore`, so DataFusion reads (and `COPY TO` writes)
//! `s3://bucket/key` straight from the object service: ranged reads of Parquet footers and
//! row groups, listings by prefix. One store per bucket; the registry hands them out by URL.

use crate::s3::S3;
use bytes::Bytes;
use datafusion::execution::object_store::ObjectStoreRegistry;
use futures_util::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use std::sync::Arc;
use url::Url;

#[derive(Clone)]
pub struct S3Store {
    s3: Arc<S3>,
    bucket: String,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Store({})", self.bucket)
    }
}

impl std::fmt::Display for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shoal s3://{}", self.bucket)
    }
}

fn generic(e: impl std::fmt::Display) -> object_store::Error {
    object_store::Error::Generic {
        store: "shoal-s3",
        source: e.to_string().into(),
    }
}

fn not_found(path: &Path, e: impl std::fmt::Display) -> object_store::Error {
    object_store::Error::NotFound {
        path: path.to_string(),
        source: e.to_string().into(),
    }
}

fn meta(o: &crate::s3::model::Object) -> ObjectMeta {
    ObjectMeta {
        location: Path::from(o.key.as_str()),
        last_modified: o.modified,
        size: o.size,
        e_tag: Some(o.etag.clone()),
        version: None,
    }
}

impl S3Store {
    pub fn new(s3: Arc<S3>, bucket: &str) -> S3Store {
        S3Store {
            s3,
            bucket: bucket.to_string(),
        }
    }

    /// Every object under `prefix` (a key prefix; folders end in `/`).
    fn objects(&self, prefix: &str) -> object_store::Result<Vec<crate::s3::model::Object>> {
        self.s3.objects_under(&self.bucket, prefix).map_err(generic)
    }
}

/// `a/b` lists `a/b/…`: object_store prefixes are whole path segments.
fn folder(prefix: Option<&Path>) -> String {
    match prefix {
        Some(p) if !p.as_ref().is_empty() => format!("{}/", p.as_ref()),
        _ => String::new(),
    }
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        _opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let chunks: Vec<Result<Bytes, String>> = payload.into_iter().map(Ok).collect();
        let o = self
            .s3
            .put_object(
                &self.bucket,
                location.as_ref(),
                Box::pin(stream::iter(chunks)),
                Default::default(),
                &Default::default(),
            )
            .await
            .map_err(generic)?;
        Ok(PutResult {
            e_tag: Some(o.etag),
            version: None,
        })
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Ok(Box::new(Upload {
            store: self.clone(),
            location: location.clone(),
            parts: vec![],
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let o = self
            .s3
            .head_object(&self.bucket, location.as_ref())
            .map_err(|e| not_found(location, e))?;
        let m = meta(&o);
        options.check_preconditions(&m)?;
        let range = match &options.range {
            Some(r) => r.as_range(o.size).map_err(generic)?,
            None => 0..o.size,
        };
        let body = if options.head {
            Box::pin(stream::empty()) as BoxStream<'static, object_store::Result<Bytes>>
        } else {
            self.s3
                .body(&o, range.start, range.end - range.start)
                .map(|r| r.map_err(generic))
                .boxed()
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(body),
            meta: m,
            range,
            attributes: Default::default(),
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let me = self.clone();
        locations
            .then(move |p| {
                let me = me.clone();
                async move {
                    let p = p?;
                    me.s3
                        .delete_object(&me.bucket, p.as_ref())
                        .await
                        .map_err(generic)?;
                    Ok(p)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let found = self.objects(&folder(prefix));
        match found {
            Ok(objects) => {
                stream::iter(objects.iter().map(meta).map(Ok).collect::<Vec<_>>()).boxed()
            }
            Err(e) => stream::once(async move { Err(e) }).boxed(),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let base = folder(prefix);
        let mut objects = vec![];
        let mut common = std::collections::BTreeSet::new();
        for o in self.objects(&base)? {
            let rest = &o.key[base.len()..];
            match rest.split_once('/') {
                Some((dir, _)) => {
                    common.insert(format!("{base}{dir}"));
                }
                None => objects.push(meta(&o)),
            }
        }
        Ok(ListResult {
            common_prefixes: common.into_iter().map(|p| Path::from(p.as_str())).collect(),
            objects,
        })
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        if matches!(options.mode, CopyMode::Create)
            && self.s3.head_object(&self.bucket, to.as_ref()).is_ok()
        {
            return Err(object_store::Error::AlreadyExists {
                path: to.to_string(),
                source: "the key exists".into(),
            });
        }
        let o = self
            .s3
            .head_object(&self.bucket, from.as_ref())
            .map_err(|e| not_found(from, e))?;
        let body = self.s3.body(&o, 0, o.size);
        self.s3
            .put_object(
                &self.bucket,
                to.as_ref(),
                body,
                o.headers.clone(),
                &Default::default(),
            )
            .await
            .map_err(generic)?;
        Ok(())
    }
}

/// A multipart write: parts are kept in memory and stored as one object on completion, so a
/// reader never sees half a file.
#[derive(Debug)]
struct Upload {
    store: S3Store,
    location: Path,
    parts: Vec<PutPayload>,
}

#[async_trait::async_trait]
impl MultipartUpload for Upload {
    fn put_part(&mut self, data: PutPayload) -> object_store::UploadPart {
        self.parts.push(data);
        Box::pin(async { Ok(()) })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let chunks: Vec<Bytes> = self.parts.drain(..).flat_map(|p| p.into_iter()).collect();
        self.store
            .put_opts(
                &self.location,
                PutPayload::from_iter(chunks),
                PutOptions::default(),
            )
            .await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.parts.clear();
        Ok(())
    }
}

/// Hands DataFusion the store of any `s3://bucket` it meets.
pub struct Registry {
    s3: Arc<S3>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry(shoal s3)")
    }
}

impl Registry {
    pub fn new(s3: Arc<S3>) -> Registry {
        Registry { s3 }
    }
}

impl ObjectStoreRegistry for Registry {
    fn register_store(
        &self,
        _url: &Url,
        _store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        None
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        match (url.scheme(), url.host_str()) {
            ("s3" | "s3a", Some(bucket)) => Ok(Arc::new(S3Store::new(self.s3.clone(), bucket))),
            _ => Err(datafusion::error::DataFusionError::Execution(format!(
                "shoal reads s3://bucket/... locations; cannot read {url}"
            ))),
        }
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.get_store(url)
    }
}
