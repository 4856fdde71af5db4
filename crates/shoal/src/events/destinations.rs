//! Connections and API destinations: HTTP endpoints as rule targets, with the connection's
//! authorization (Basic, API key, or OAuth client credentials) and its extra parameters.
//!
//! Secrets are kept in shoal's database with the connection (AWS keeps them in Secrets Manager)
//! and are never returned by the API.

use super::rules::check_name;
use super::{Events, EventsError, Result};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Record, Records, Scan};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Connection {
    pub arn: String,
    pub name: String,
    pub owner: String,
    pub description: Option<String>,
    /// `BASIC`, `API_KEY` or `OAUTH_CLIENT_CREDENTIALS`.
    pub authorization_type: String,
    /// As CreateConnection received it, secrets included.
    pub auth_parameters: Value,
    pub created: DateTime<Utc>,
}

impl Record for Connection {
    const KIND: &'static str = "events.connection";
    fn key(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
    fn sort(&self) -> i64 {
        self.created.timestamp_millis()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ApiDestination {
    pub arn: String,
    pub name: String,
    pub owner: String,
    pub description: Option<String>,
    pub connection_arn: String,
    pub endpoint: String,
    pub method: String,
    pub rate_limit: Option<u64>,
    pub created: DateTime<Utc>,
}

impl Record for ApiDestination {
    const KIND: &'static str = "events.apidestination";
    fn key(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
    fn sort(&self) -> i64 {
        self.created.timestamp_millis()
    }
}

/// What CreateApiDestination sets.
pub struct NewDestination {
    pub name: String,
    pub description: Option<String>,
    pub connection_arn: String,
    pub endpoint: String,
    pub method: String,
    pub rate_limit: Option<u64>,
}

/// Connections and API destinations carry a unique suffix in their ARNs, as on AWS.
fn unique_arn(scope: &Scope, kind: &str, name: &str) -> String {
    format!(
        "arn:aws:events:{}:{}:{kind}/{name}/{}",
        scope.region,
        scope.account,
        uuid::Uuid::new_v4()
    )
}

fn owner(scope: &Scope) -> String {
    format!("{}:{}", scope.account, scope.region)
}

fn text<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// The parameters a connection's type needs, checked as CreateConnection checks them.
fn check_auth(kind: &str, p: &Value) -> Result<()> {
    let need = |ptrs: &[&str]| -> Result<()> {
        for ptr in ptrs {
            if text(p, ptr).is_none_or(str::is_empty) {
                return Err(EventsError::ValidationException(format!(
                    "AuthParameters for {kind} need {}",
                    ptr.trim_start_matches('/').replace('/', ".")
                )));
            }
        }
        Ok(())
    };
    match kind {
        "BASIC" => need(&["/BasicAuthParameters/Username", "/BasicAuthParameters/Password"]),
        "API_KEY" => need(&["/ApiKeyAuthParameters/ApiKeyName", "/ApiKeyAuthParameters/ApiKeyValue"]),
        "OAUTH_CLIENT_CREDENTIALS" => need(&[
            "/OAuthParameters/AuthorizationEndpoint",
            "/OAuthParameters/HttpMethod",
            "/OAuthParameters/ClientParameters/ClientID",
            "/OAuthParameters/ClientParameters/ClientSecret",
        ]),
        other => Err(EventsError::ValidationException(format!(
            "1 validation error detected: Value '{other}' at 'authorizationType' failed to satisfy constraint: Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]"
        ))),
    }
}

/// The connection's parameters as the API shows them: without secrets.
pub fn public_auth(c: &Connection) -> Value {
    let p = &c.auth_parameters;
    let mut out = json!({});
    match c.authorization_type.as_str() {
        "BASIC" => {
            out["BasicAuthParameters"] =
                json!({"Username": text(p, "/BasicAuthParameters/Username")})
        }
        "API_KEY" => {
            out["ApiKeyAuthParameters"] =
                json!({"ApiKeyName": text(p, "/ApiKeyAuthParameters/ApiKeyName")})
        }
        _ => {
            out["OAuthParameters"] = json!({
                "AuthorizationEndpoint": text(p, "/OAuthParameters/AuthorizationEndpoint"),
                "HttpMethod": text(p, "/OAuthParameters/HttpMethod"),
                "ClientParameters": {"ClientID": text(p, "/OAuthParameters/ClientParameters/ClientID")},
            })
        }
    }
    if let Some(i) = p.get("InvocationHttpParameters") {
        out["InvocationHttpParameters"] = i.clone();
    }
    out
}

impl Events {
    pub async fn create_connection(
        &self,
        scope: &Scope,
        name: &str,
        description: Option<String>,
        kind: &str,
        auth: Value,
    ) -> Result<Connection> {
        let _change = self.changes.lock().await;
        check_name(name)?;
        check_auth(kind, &auth)?;
        let key = format!("{}/{name}", owner(scope));
        if self.store.load::<Connection>(&key)?.is_some() {
            return Err(EventsError::ResourceAlreadyExistsException(format!(
                "Connection {name} already exists."
            )));
        }
        let c = Connection {
            arn: unique_arn(scope, "connection", name),
            name: name.into(),
            owner: owner(scope),
            description,
            authorization_type: kind.into(),
            auth_parameters: auth,
            created: Utc::now(),
        };
        self.store.commit(vec![put(&c)]).done().await?;
        Ok(c)
    }

    pub fn connection(&self, scope: &Scope, name: &str) -> Result<Connection> {
        self.store
            .load::<Connection>(&format!("{}/{name}", owner(scope)))?
            .ok_or_else(|| {
                EventsError::ResourceNotFoundException(format!(
                    "Failed to describe the connection(s). Connection '{name}' does not exist."
                ))
            })
    }

    fn connection_by_arn(&self, arn: &str) -> Result<Connection> {
        let p: Vec<&str> = arn.split(':').collect();
        let name = arn.split('/').nth(1).unwrap_or("");
        let scope = Scope {
            region: p.get(3).copied().unwrap_or("").into(),
            account: p.get(4).copied().unwrap_or("").into(),
        };
        self.connection(&scope, name)
    }

    pub async fn delete_connection(&self, scope: &Scope, name: &str) -> Result<Connection> {
        let _change = self.changes.lock().await;
        let c = self.connection(scope, name)?;
        self.store
            .commit(vec![delete::<Connection>(&c.key())])
            .done()
            .await?;
        Ok(c)
    }

    pub fn list_connections(&self, scope: &Scope) -> Result<Vec<Connection>> {
        Ok(self.store.list(Scan {
            owner: Some(&owner(scope)),
            ..Default::default()
        })?)
    }

    pub async fn create_api_destination(
        &self,
        scope: &Scope,
        spec: NewDestination,
    ) -> Result<ApiDestination> {
        let _change = self.changes.lock().await;
        let NewDestination {
            name,
            description,
            connection_arn,
            endpoint,
            method,
            rate_limit,
        } = spec;
        let (name, connection_arn, endpoint, method) = (
            name.as_str(),
            connection_arn.as_str(),
            endpoint.as_str(),
            method.as_str(),
        );
        check_name(name)?;
        self.connection_by_arn(connection_arn)?;
        if !endpoint.starts_with("https://") && !endpoint.starts_with("http://") {
            return Err(EventsError::ValidationException(format!(
                "InvocationEndpoint '{endpoint}' is not an HTTP(S) URL"
            )));
        }
        let methods = ["POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"];
        if !methods.contains(&method) {
            return Err(EventsError::ValidationException(format!(
                "1 validation error detected: Value '{method}' at 'httpMethod' failed to satisfy constraint: Member must satisfy enum value set: [POST, GET, HEAD, OPTIONS, PUT, PATCH, DELETE]"
            )));
        }
        let key = format!("{}/{name}", owner(scope));
        if self.store.load::<ApiDestination>(&key)?.is_some() {
            return Err(EventsError::ResourceAlreadyExistsException(format!(
                "An api-destination '{name}' already exists."
            )));
        }
        let d = ApiDestination {
            arn: unique_arn(scope, "api-destination", name),
            name: name.into(),
            owner: owner(scope),
            description,
            connection_arn: connection_arn.into(),
            endpoint: endpoint.into(),
            method: method.into(),
            rate_limit,
            created: Utc::now(),
        };
        self.store.commit(vec![put(&d)]).done().await?;
        Ok(d)
    }

    pub fn api_destination(&self, scope: &Scope, name: &str) -> Result<ApiDestination> {
        self.store
            .load::<ApiDestination>(&format!("{}/{name}", owner(scope)))?
            .ok_or_else(|| {
                EventsError::ResourceNotFoundException(format!(
                    "Failed to describe the api-destination(s). An api-destination '{name}' does not exist."
                ))
            })
    }

    pub async fn delete_api_destination(&self, scope: &Scope, name: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let d = self.api_destination(scope, name)?;
        self.store
            .commit(vec![delete::<ApiDestination>(&d.key())])
            .done()
            .await?;
        Ok(())
    }

    pub fn list_api_destinations(&self, scope: &Scope) -> Result<Vec<ApiDestination>> {
        Ok(self.store.list(Scan {
            owner: Some(&owner(scope)),
            ..Default::default()
        })?)
    }

    /// The destination and connection a target ARN names.
    pub(crate) fn destination_for(&self, arn: &str) -> Result<(ApiDestination, Connection)> {
        let p: Vec<&str> = arn.split(':').collect();
        let scope = Scope {
            region: p.get(3).copied().unwrap_or("").into(),
            account: p.get(4).copied().unwrap_or("").into(),
        };
        let name = arn.split('/').nth(1).unwrap_or("");
        let d = self.api_destination(&scope, name)?;
        let c = self.connection_by_arn(&d.connection_arn)?;
        Ok((d, c))
    }
}

/// What one HTTP delivery came to: when the endpoint took it, its response body if that was
/// asked for and could be read; otherwise whether to retry.
pub enum HttpOutcome {
    Delivered(Option<String>),
    Retry(String),
    Fail(String),
}

fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("Key")?.as_str()?.to_string(),
                p.get("Value")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// `url` with `pairs` added to its query string.
fn append_query(url: &mut String, pairs: &[(String, String)]) {
    if pairs.is_empty() {
        return;
    }
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&form(pairs));
}

/// `k=v&k=v`, percent-encoded.
fn form(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // API destinations time out after 5 seconds on AWS
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

/// The access token of an OAuth client-credentials connection.
fn oauth_token(p: &Value) -> std::result::Result<String, HttpOutcome> {
    let url = text(p, "/OAuthParameters/AuthorizationEndpoint").unwrap_or("");
    let method = text(p, "/OAuthParameters/HttpMethod").unwrap_or("POST");
    let id = text(p, "/OAuthParameters/ClientParameters/ClientID").unwrap_or("");
    let secret = text(p, "/OAuthParameters/ClientParameters/ClientSecret").unwrap_or("");
    let extra = p.pointer("/OAuthParameters/OAuthHttpParameters");
    let mut url = url.to_string();
    let query = pairs(extra.and_then(|e| e.get("QueryStringParameters")));
    append_query(&mut url, &query);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(&url)
        .header("Authorization", format!("Basic {basic}"));
    for (k, v) in pairs(extra.and_then(|e| e.get("HeaderParameters"))) {
        req = req.header(k, v);
    }
    let mut fields = vec![("grant_type".to_string(), "client_credentials".to_string())];
    fields.extend(pairs(extra.and_then(|e| e.get("BodyParameters"))));
    let body = form(&fields);
    let req = req
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.into_bytes())
        .map_err(|e| HttpOutcome::Fail(format!("invalid OAuth request: {e}")))?;
    let mut resp = agent()
        .run(req)
        .map_err(|e| HttpOutcome::Retry(format!("the authorization endpoint {url} failed: {e}")))?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(HttpOutcome::Retry(format!(
            "the authorization endpoint answered {status}: {text}"
        )));
    }
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("access_token")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .ok_or_else(|| HttpOutcome::Retry("the authorization endpoint gave no access_token".into()))
}

/// Sends `input` to an API destination, as EventBridge does (blocking: run it off the runtime).
/// EventBridge retries 401, 407, 409, 429 and 5xx answers, and network errors; other answers
/// are final.
/// With `keep_answer` (an enrichment's call), a taken request's response body is read and
/// returned; a target's is not read at all.
pub fn invoke(
    d: &ApiDestination,
    c: &Connection,
    target: &Value,
    input: &str,
    keep_answer: bool,
) -> HttpOutcome {
    let p = &c.auth_parameters;
    let http = target.get("HttpParameters");
    let mut url = d.endpoint.clone();
    let values = http
        .and_then(|h| h.get("PathParameterValues"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for v in values {
        if let Some(i) = url.find('*') {
            url.replace_range(i..=i, &encode(v.as_str().unwrap_or_default()));
        }
    }
    let invocation = p.get("InvocationHttpParameters");
    let mut query = pairs(invocation.and_then(|i| i.get("QueryStringParameters")));
    if let Some(Value::Object(q)) = http.and_then(|h| h.get("QueryStringParameters")) {
        query.extend(
            q.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())),
        );
    }
    append_query(&mut url, &query);
    let mut req = ureq::http::Request::builder()
        .method(d.method.as_str())
        .uri(&url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("User-Agent", "Amazon/EventBridge/ApiDestinations");
    for (k, v) in pairs(invocation.and_then(|i| i.get("HeaderParameters"))) {
        req = req.header(k, v);
    }
    if let Some(Value::Object(h)) = http.and_then(|h| h.get("HeaderParameters")) {
        for (k, v) in h {
            req = req.header(k.as_str(), v.as_str().unwrap_or_default());
        }
    }
    match c.authorization_type.as_str() {
        "BASIC" => {
            let user = text(p, "/BasicAuthParameters/Username").unwrap_or("");
            let pass = text(p, "/BasicAuthParameters/Password").unwrap_or("");
            let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            req = req.header("Authorization", format!("Basic {b}"));
        }
        "API_KEY" => {
            let name = text(p, "/ApiKeyAuthParameters/ApiKeyName").unwrap_or("");
            let value = text(p, "/ApiKeyAuthParameters/ApiKeyValue").unwrap_or("");
            req = req.header(name, value);
        }
        _ => match oauth_token(p) {
            Ok(t) => req = req.header("Authorization", format!("Bearer {t}")),
            Err(o) => return o,
        },
    }
    let req = match req.body(input.as_bytes().to_vec()) {
        Ok(r) => r,
        Err(e) => return HttpOutcome::Fail(format!("invalid request to {url}: {e}")),
    };
    match agent().run(req) {
        Err(e) => HttpOutcome::Retry(format!("{url}: {e}")),
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            if (200..300).contains(&status) {
                let answer = keep_answer
                    .then(|| resp.body_mut().read_to_string().ok())
                    .flatten();
                return HttpOutcome::Delivered(answer);
            }
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            let why = format!(
                "{} {url} answered {status}: {}",
                d.method,
                body.chars().take(200).collect::<String>()
            );
            if matches!(status, 401 | 407 | 409 | 429) || status >= 500 {
                HttpOutcome::Retry(why)
            } else {
                HttpOutcome::Fail(why)
            }
        }
    }
}
