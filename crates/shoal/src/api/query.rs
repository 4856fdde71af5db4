//! The AWS query protocol (form-encoded `Action=…` requests, XML answers): SNS, and the link
//! clicks (`GET /?Action=ConfirmSubscription…`) its messages carry.

use super::xml::Xml;
use super::App;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

/// Most bytes a query request may carry.
const MAX_FORM: usize = 2 << 20;

/// Form parameters by name.
pub type Params = BTreeMap<String, String>;

/// Whether a request speaks the query protocol.
pub fn wants(headers: &HeaderMap, method: &Method, uri: &Uri) -> bool {
    if let Some(s) = super::signing_service(headers) {
        return s == "sns";
    }
    if uri.path() != "/" {
        return false;
    }
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    (method == Method::POST && form) || uri.query().is_some_and(|q| q.contains("Action="))
}

/// A query-protocol error.
pub struct QueryError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// The XML namespace of SNS's answers.
const SNS_NS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

pub async fn handle(app: &App, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let mut params: Params = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    match axum::body::to_bytes(body, MAX_FORM).await {
        Ok(b) => params.extend(form_urlencoded::parse(&b).into_owned()),
        Err(e) => {
            return error(QueryError {
                status: 400,
                code: "MalformedQueryString".into(),
                message: format!("cannot read the request body: {e}"),
            })
        }
    }
    let scope = super::scope_of(app, &parts.headers);
    let action = params.get("Action").cloned().unwrap_or_default();
    let result = super::sns::handle(app, &scope, &action, &params).await;
    match result {
        Ok(inner) => {
            let mut x = Xml::new(&format!("{action}Response"), SNS_NS);
            x.raw(&inner);
            x.open("ResponseMetadata")
                .text("RequestId", uuid::Uuid::new_v4())
                .close();
            (StatusCode::OK, [("content-type", "text/xml")], x.finish()).into_response()
        }
        Err(e) => error(e),
    }
}

fn error(e: QueryError) -> Response {
    let mut x = Xml::new("ErrorResponse", SNS_NS);
    x.open("Error")
        .text(
            "Type",
            if e.status >= 500 {
                "Receiver"
            } else {
                "Sender"
            },
        )
        .text("Code", &e.code)
        .text("Message", &e.message)
        .close();
    x.text("RequestId", uuid::Uuid::new_v4());
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, [("content-type", "text/xml")], x.finish()).into_response()
}

/// The members of a list or map parameter: `prefix.N.rest` grouped by `N` (in order), each
/// as its `rest → value` parameters.
pub fn indexed(p: &Params, prefix: &str) -> Vec<Params> {
    let mut out: BTreeMap<u32, Params> = BTreeMap::new();
    let head = format!("{prefix}.");
    for (k, v) in p.range(head.clone()..) {
        let Some(rest) = k.strip_prefix(&head) else {
            break;
        };
        let (n, rest) = rest.split_once('.').unwrap_or((rest, ""));
        if let Ok(n) = n.parse::<u32>() {
            out.entry(n)
                .or_default()
                .insert(rest.to_string(), v.clone());
        }
    }
    out.into_values().collect()
}

/// A map parameter (`Attributes.entry.N.key`/`.value`).
pub fn map(p: &Params, prefix: &str, key: &str, value: &str) -> BTreeMap<String, String> {
    indexed(p, prefix)
        .into_iter()
        .filter_map(|e| {
            Some((
                e.get(key)?.clone(),
                e.get(value).cloned().unwrap_or_default(),
            ))
        })
        .collect()
}

/// A list of plain values (`TagKeys.member.N`).
pub fn list(p: &Params, prefix: &str) -> Vec<String> {
    indexed(p, prefix)
        .into_iter()
        .filter_map(|e| e.get("").cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_group_by_index() {
        let p: Params = [
            ("Attributes.entry.2.key", "b"),
            ("Attributes.entry.2.value", "2"),
            ("Attributes.entry.1.key", "a"),
            ("Attributes.entry.1.value", "1"),
            ("TagKeys.member.1", "x"),
            ("TagKeys.member.10", "z"),
            ("TagKeys.member.2", "y"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let m = map(&p, "Attributes.entry", "key", "value");
        assert_eq!(
            m.into_iter().collect::<Vec<_>>(),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(list(&p, "TagKeys.member"), ["x", "y", "z"]);
    }
}
