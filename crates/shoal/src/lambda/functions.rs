//! Functions and layers: create, read, update, delete, in AWS's configuration shape.

use super::code;
use super::model::{Function, LayerVersion};
use super::runtimes::RUNTIMES;
use super::{Lambda, LambdaError, Result};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Records, Scan};
use crate::values::strings;
use base64::Engine;
use chrono::Utc;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The function a `FunctionName` names: a name, `name:qualifier`, or a (partial) ARN.
pub fn parse_name(given: &str) -> Result<(String, Option<String>)> {
    // ARN, partial ARN (ACCOUNT:function:NAME) or plain name, each with an optional qualifier
    let rest = match given.find(":function:") {
        Some(i) => &given[i + ":function:".len()..],
        None => given.strip_prefix("function:").unwrap_or(given),
    };
    let (name, qualifier) = match rest.split_once(':') {
        Some((n, q)) => (n.to_string(), Some(q.to_string())),
        None => (rest.to_string(), None),
    };
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(LambdaError::invalid(format!(
            "1 validation error detected: Value '{given}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
        )));
    }
    Ok((name, qualifier))
}

fn scope_key(scope: &Scope) -> String {
    format!("{}:{}", scope.account, scope.region)
}

fn num(v: &Value, k: &str, default: u32, lo: u32, hi: u32) -> Result<u32> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(default),
        Some(n) => match n.as_u64() {
            Some(n) if (lo as u64..=hi as u64).contains(&n) => Ok(n as u32),
            _ => Err(LambdaError::invalid(format!(
                "1 validation error detected: Value '{n}' at '{}' failed to satisfy constraint: Member must have value between {lo} and {hi}",
                k[..1].to_lowercase() + &k[1..]
            ))),
        },
    }
}

fn environment(v: &Value) -> BTreeMap<String, String> {
    v.pointer("/Environment/Variables")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn time(t: &chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

impl Lambda {
    /// The code a `Code` (or UpdateFunctionCode) object gives: a zip (`ZipFile`, base64), an
    /// object in shoal's S3 (`S3Bucket`/`S3Key`), or — shoal's extension — a local folder as
    /// `ImageUri: file:///path`, run in place.
    async fn code_of(
        &self,
        c: &Value,
        s3: &crate::s3::S3,
    ) -> Result<(String, Option<String>, String, u64)> {
        let s = |k: &str| c.get(k).and_then(Value::as_str);
        if let Some(uri) = s("ImageUri") {
            let Some(path) = uri.strip_prefix("file://") else {
                return Err(LambdaError::invalid("shoal runs zip and local-folder functions: ImageUri must be file:///path/to/folder (container images are not supported)"));
            };
            let p = std::path::Path::new(path);
            if !p.is_dir() {
                return Err(LambdaError::invalid(format!(
                    "The folder {path} does not exist"
                )));
            }
            return Ok((path.to_string(), Some(path.to_string()), String::new(), 0));
        }
        let zip = if let Some(z) = s("ZipFile") {
            base64::engine::general_purpose::STANDARD
                .decode(z)
                .map_err(|_| LambdaError::invalid("Could not unzip uploaded file. Please check your file, then try to upload again."))?
        } else if let (Some(b), Some(k)) = (s("S3Bucket"), s("S3Key")) {
            let o = s3.head_object(b, k).map_err(|e| {
                LambdaError::invalid(format!(
                    "Error occurred while GetObject. S3 Error Code: {}. S3 Error Message: {}",
                    e.code, e.message
                ))
            })?;
            let mut body = s3.body(&o, 0, o.size);
            let mut out = Vec::with_capacity(o.size as usize);
            use futures_util::StreamExt;
            while let Some(chunk) = body.next().await {
                out.extend_from_slice(&chunk.map_err(LambdaError::internal)?);
            }
            out
        } else {
            return Err(LambdaError::invalid(
                "Please provide a source for function code.",
            ));
        };
        let root = self.settings.dir.join("code");
        let u = tokio::task::spawn_blocking(move || code::unpack(&root, &zip))
            .await
            .map_err(LambdaError::internal)?
            .map_err(LambdaError::invalid)?;
        Ok((u.dir.display().to_string(), None, u.sha256, u.size))
    }

    fn check_runtime(&self, runtime: &str) -> Result<()> {
        if !RUNTIMES.contains(&runtime) {
            return Err(LambdaError::invalid(format!(
                "Value {runtime} at 'runtime' failed to satisfy constraint: shoal runs {}",
                RUNTIMES.join(", ")
            )));
        }
        Ok(())
    }

    pub async fn create_function(
        &self,
        scope: &Scope,
        v: &Value,
        s3: &crate::s3::S3,
    ) -> Result<Function> {
        let _change = self.changes.lock().await;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        let name =
            s("FunctionName").ok_or_else(|| LambdaError::invalid("FunctionName is required"))?;
        let (name, _) = parse_name(&name)?;
        if v.get("PackageType").and_then(Value::as_str) == Some("Image") {
            return Err(LambdaError::invalid(
                "shoal runs Zip functions; container images are not supported",
            ));
        }
        let runtime = s("Runtime").ok_or_else(|| {
            LambdaError::invalid("Runtime is required for .zip deployment package.")
        })?;
        self.check_runtime(&runtime)?;
        let handler = s("Handler").unwrap_or_default();
        if handler.is_empty() && !runtime.starts_with("provided") {
            return Err(LambdaError::invalid(
                "Handler is required for .zip deployment package.",
            ));
        }
        let key = format!("{}:{name}", scope_key(scope));
        if self.store.load::<Function>(&key)?.is_some() {
            return Err(LambdaError::new(
                "ResourceConflictException",
                409,
                format!("Function already exist: {name}"),
            ));
        }
        let code = v.get("Code").cloned().unwrap_or(Value::Null);
        let (code_dir, local, sha, size) = self.code_of(&code, s3).await?;
        let layers = self.check_layers(v)?;
        let f = Function {
            name,
            scope: scope_key(scope),
            runtime,
            handler,
            role: s("Role").unwrap_or_default(),
            description: s("Description").unwrap_or_default(),
            memory_mb: num(v, "MemorySize", 128, 128, 10_240)?,
            timeout_s: num(v, "Timeout", 3, 1, 900)?,
            environment: environment(v),
            layers,
            code_dir,
            local_folder: local,
            code_sha256: sha,
            code_size: size,
            modified: Utc::now(),
            revision: uuid::Uuid::new_v4().to_string(),
            reserved_concurrency: None,
            event_invoke: None,
            tags: v
                .get("Tags")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        };
        self.store.commit(vec![put(&f)]).done().await?;
        Ok(f)
    }

    fn check_layers(&self, v: &Value) -> Result<Vec<String>> {
        let layers = strings(v, "Layers");
        if layers.len() > 5 {
            return Err(LambdaError::invalid("Cannot reference more than 5 layers."));
        }
        for l in &layers {
            if self.store.load::<LayerVersion>(l)?.is_none() {
                return Err(LambdaError::invalid(format!(
                    "Layer version {l} does not exist."
                )));
            }
        }
        Ok(layers)
    }

    /// The function `given` names (a qualifier must be `$LATEST`).
    pub fn function(&self, scope: &Scope, given: &str) -> Result<Function> {
        let (name, qualifier) = parse_name(given)?;
        let arn = format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            scope.region, scope.account
        );
        if qualifier.is_some_and(|q| q != "$LATEST") {
            return Err(LambdaError::not_found(format!(
                "Function not found: {given}"
            )));
        }
        self.store
            .load::<Function>(&format!("{}:{name}", scope_key(scope)))?
            .ok_or_else(|| LambdaError::not_found(format!("Function not found: {arn}")))
    }

    pub fn functions(&self, scope: &Scope) -> Result<Vec<Function>> {
        let mut all: Vec<Function> = self.store.list(Scan {
            owner: Some(&scope_key(scope)),
            ..Default::default()
        })?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    async fn save(&self, mut f: Function) -> Result<Function> {
        f.modified = Utc::now();
        f.revision = uuid::Uuid::new_v4().to_string();
        self.store.commit(vec![put(&f)]).done().await?;
        // workers of the old revision are not reused
        self.retire(&f);
        Ok(f)
    }

    pub async fn update_code(
        &self,
        scope: &Scope,
        given: &str,
        v: &Value,
        s3: &crate::s3::S3,
    ) -> Result<Function> {
        let _change = self.changes.lock().await;
        let mut f = self.function(scope, given)?;
        let (dir, local, sha, size) = self.code_of(v, s3).await?;
        f.code_dir = dir;
        f.local_folder = local;
        f.code_sha256 = sha;
        f.code_size = size;
        self.save(f).await
    }

    pub async fn update_configuration(
        &self,
        scope: &Scope,
        given: &str,
        v: &Value,
    ) -> Result<Function> {
        let _change = self.changes.lock().await;
        let mut f = self.function(scope, given)?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        if let Some(r) = s("Runtime") {
            self.check_runtime(&r)?;
            f.runtime = r;
        }
        if let Some(h) = s("Handler") {
            f.handler = h;
        }
        if let Some(r) = s("Role") {
            f.role = r;
        }
        if let Some(d) = s("Description") {
            f.description = d;
        }
        f.memory_mb = num(v, "MemorySize", f.memory_mb, 128, 10_240)?;
        f.timeout_s = num(v, "Timeout", f.timeout_s, 1, 900)?;
        if v.get("Environment").is_some() {
            f.environment = environment(v);
        }
        if v.get("Layers").is_some() {
            f.layers = self.check_layers(v)?;
        }
        self.save(f).await
    }

    pub async fn put_event_invoke_config(
        &self,
        scope: &Scope,
        given: &str,
        v: &Value,
    ) -> Result<Function> {
        let _change = self.changes.lock().await;
        let mut f = self.function(scope, given)?;
        if let Some(n) = v.get("MaximumRetryAttempts") {
            if n.as_u64().is_none_or(|n| n > 2) {
                return Err(LambdaError::invalid("1 validation error detected: Value at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2"));
            }
        }
        if let Some(n) = v.get("MaximumEventAgeInSeconds") {
            if n.as_u64().is_none_or(|n| !(60..=21_600).contains(&n)) {
                return Err(LambdaError::invalid("1 validation error detected: Value at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value between 60 and 21600"));
            }
        }
        f.event_invoke = Some(v.clone());
        self.save(f).await
    }

    pub async fn delete_event_invoke_config(&self, scope: &Scope, given: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let mut f = self.function(scope, given)?;
        f.event_invoke = None;
        self.save(f).await.map(|_| ())
    }

    pub async fn put_concurrency(
        &self,
        scope: &Scope,
        given: &str,
        n: Option<u32>,
    ) -> Result<Function> {
        let _change = self.changes.lock().await;
        let mut f = self.function(scope, given)?;
        f.reserved_concurrency = n;
        self.save(f).await
    }

    pub async fn delete_function(&self, scope: &Scope, given: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let f = self.function(scope, given)?;
        self.store
            .commit(vec![delete::<Function>(&f_key(&f))])
            .done()
            .await?;
        self.retire(&f);
        Ok(())
    }

    /// Stops the idle workers of a function.
    fn retire(&self, f: &Function) {
        if let Some(p) = self.pools().get_mut(&f_key(f)) {
            for w in p.idle.drain(..) {
                w.kill();
            }
        }
    }

    pub async fn publish_layer(
        &self,
        scope: &Scope,
        name: &str,
        v: &Value,
        s3: &crate::s3::S3,
    ) -> Result<LayerVersion> {
        let _change = self.changes.lock().await;
        let ok = (1..=140).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(LambdaError::invalid(format!("Invalid layer name: {name}")));
        }
        let content = v.get("Content").cloned().unwrap_or(Value::Null);
        let (dir, _, sha, size) = self.code_of(&content, s3).await?;
        let previous = self.layer_versions(scope, name)?;
        let l = LayerVersion {
            scope: scope_key(scope),
            name: name.into(),
            version: previous.last().map_or(1, |l| l.version + 1),
            description: v
                .get("Description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            runtimes: strings(v, "CompatibleRuntimes"),
            code_dir: dir,
            code_sha256: sha,
            code_size: size,
            created: Utc::now(),
        };
        self.store.commit(vec![put(&l)]).done().await?;
        Ok(l)
    }

    /// The layer versions a function references (for its configuration's code sizes).
    pub fn layers_of(&self, f: &Function) -> Vec<LayerVersion> {
        f.layers
            .iter()
            .filter_map(|arn| self.store.load::<LayerVersion>(arn).ok().flatten())
            .collect()
    }

    pub fn layer_versions(&self, scope: &Scope, name: &str) -> Result<Vec<LayerVersion>> {
        Ok(self.store.list(Scan {
            owner: Some(&format!("{}:{name}", scope_key(scope))),
            ..Default::default()
        })?)
    }

    pub fn layer_version(&self, scope: &Scope, name: &str, version: u64) -> Result<LayerVersion> {
        self.layer_versions(scope, name)?
            .into_iter()
            .find(|l| l.version == version)
            .ok_or_else(|| LambdaError::not_found("The resource you requested does not exist."))
    }

    /// Every layer's latest version.
    pub fn layers(&self, scope: &Scope) -> Result<Vec<LayerVersion>> {
        let all: Vec<LayerVersion> = self.store.list(Scan::default())?;
        let mut latest: BTreeMap<String, LayerVersion> = BTreeMap::new();
        for l in all.into_iter().filter(|l| l.scope == scope_key(scope)) {
            let keep = latest.get(&l.name).is_none_or(|o| o.version < l.version);
            if keep {
                latest.insert(l.name.clone(), l);
            }
        }
        Ok(latest.into_values().collect())
    }
}

pub fn f_key(f: &Function) -> String {
    format!("{}:{}", f.scope, f.name)
}

/// A function's configuration as the API answers it.
pub fn configuration(f: &Function, layers: &[LayerVersion]) -> Value {
    let mut c = json!({
        "FunctionName": f.name,
        "FunctionArn": f.arn(),
        "Runtime": f.runtime,
        "Role": f.role,
        "Handler": f.handler,
        "CodeSize": f.code_size,
        "Description": f.description,
        "Timeout": f.timeout_s,
        "MemorySize": f.memory_mb,
        "LastModified": time(&f.modified),
        "CodeSha256": f.code_sha256,
        "Version": "$LATEST",
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": f.revision,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": format!("/aws/lambda/{}", f.name)},
    });
    if !f.environment.is_empty() {
        c["Environment"] = json!({"Variables": f.environment});
    }
    if !f.layers.is_empty() {
        c["Layers"] = Value::Array(
            f.layers
                .iter()
                .map(|arn| {
                    let size = layers
                        .iter()
                        .find(|l| &l.arn() == arn)
                        .map_or(0, |l| l.code_size);
                    json!({"Arn": arn, "CodeSize": size})
                })
                .collect(),
        );
    }
    c
}

pub fn layer_json(l: &LayerVersion) -> Value {
    json!({
        "LayerArn": l.layer_arn(),
        "LayerVersionArn": l.arn(),
        "Version": l.version,
        "Description": l.description,
        "CreatedDate": time(&l.created),
        "CompatibleRuntimes": l.runtimes,
        "Content": {"CodeSha256": l.code_sha256, "CodeSize": l.code_size, "Location": ""},
    })
}

#[cfg(test)]
mod tests {
    use super::parse_name;

    #[test]
    fn function_names_arns_and_qualifiers() {
        assert_eq!(parse_name("raw").unwrap(), ("raw".into(), None));
        assert_eq!(
            parse_name("data_wordpressapi_raw:$LATEST").unwrap(),
            ("data_wordpressapi_raw".into(), Some("$LATEST".into()))
        );
        assert_eq!(
            parse_name("arn:aws:lambda:eu-west-1:123456789012:function:raw:$LATEST").unwrap(),
            ("raw".into(), Some("$LATEST".into()))
        );
        assert_eq!(parse_name("123456789012:function:raw").unwrap().0, "raw");
        assert_eq!(parse_name("myfunction:$LATEST").unwrap().0, "myfunction");
        assert!(parse_name("bad name").is_err());
    }
}
