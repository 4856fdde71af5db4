//! Invoke: a warm worker (or a new one) runs the payload under the function's timeout and
//! memory limit; the log stream gets AWS's START/END/REPORT lines. `Event` invocations are
//! stored first, retried on failure, and end at their destinations.

use super::functions::f_key;
use super::model::{AsyncInvocation, Function};
use super::worker::{Gone, Invocation, Reply, Worker};
use super::{Lambda, LambdaError, Result};
use crate::store::{delete, put, Records, Scan};
use axum::body::Bytes;
use base64::Engine;
use chrono::Utc;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Largest synchronous payload (6 MB) and asynchronous one (256 KiB... AWS: 1 MB since 2025).
pub const MAX_SYNC: usize = 6 * 1024 * 1024;
pub const MAX_ASYNC: usize = 1024 * 1024;
/// How long a runtime may take to start.
const INIT_LIMIT: Duration = Duration::from_secs(10);

/// What a synchronous invocation came to.
#[derive(Debug)]
pub struct Invoked {
    pub request_id: String,
    pub payload: Bytes,
    /// `Unhandled` when the function failed (`X-Amz-Function-Error`).
    pub function_error: Option<String>,
    /// The invocation's log (START … REPORT).
    pub log: String,
}

impl Invoked {
    /// The last 4 KB of the log, base64, as `X-Amz-Log-Result` carries it.
    pub fn log_tail(&self) -> String {
        let b = self.log.as_bytes();
        let from = b.len().saturating_sub(4096);
        base64::engine::general_purpose::STANDARD.encode(&b[from..])
    }

    /// The error type of a failed invocation's payload.
    pub fn error_type(&self) -> Option<String> {
        self.function_error.as_ref()?;
        serde_json::from_slice::<Value>(&self.payload)
            .ok()
            .and_then(|v| v.get("errorType")?.as_str().map(String::from))
    }
}

fn error_payload(kind: &str, message: String) -> Bytes {
    Bytes::from(json!({"errorType": kind, "errorMessage": message}).to_string())
}

impl Lambda {
    /// A warm worker of the current revision, or a new one.
    async fn worker(&self, f: &Function) -> Result<Arc<Worker>> {
        let key = f_key(f);
        {
            let mut pools = self.pools();
            let pool = pools.entry(key.clone()).or_default();
            while let Some(w) = pool.idle.pop() {
                if w.alive() && w.revision == f.revision {
                    pool.busy += 1;
                    return Ok(w);
                }
                w.kill();
            }
            if let Some(limit) = f.reserved_concurrency {
                if pool.busy >= limit {
                    return Err(LambdaError::new(
                        "TooManyRequestsException",
                        429,
                        "Rate Exceeded.",
                    ));
                }
            }
            pool.busy += 1;
        }
        let stream = format!(
            "{}/[$LATEST]{}",
            Utc::now().format("%Y/%m/%d"),
            uuid::Uuid::new_v4().simple()
        );
        let started = match self.launch(f, &stream).await {
            Ok(l) => Worker::start(l)
                .await
                .map_err(|e| LambdaError::new("ServiceException", 500, e.to_string())),
            Err(e) => Err(e),
        };
        if started.is_err() {
            self.release(&key, None);
        }
        started
    }

    /// Gives a worker back (or only frees its slot when it is gone).
    fn release(&self, key: &str, w: Option<Arc<Worker>>) {
        let mut pools = self.pools();
        let pool = pools.entry(key.to_string()).or_default();
        pool.busy = pool.busy.saturating_sub(1);
        if let Some(w) = w.filter(|w| w.alive()) {
            pool.idle.push(w);
        }
    }

    /// Runs one invocation and waits for its result.
    pub async fn invoke(&self, f: &Function, payload: Bytes) -> Result<Invoked> {
        if payload.len() > MAX_SYNC {
            return Err(LambdaError::new(
                "RequestTooLargeException",
                413,
                format!("Request must be smaller than {MAX_SYNC} bytes for the InvokeFunction operation"),
            ));
        }
        let scope = f.region_scope();
        let dims = [("FunctionName", f.name.as_str())];
        let w = match self.worker(f).await {
            Ok(w) => w,
            Err(e) => {
                if e.code == "TooManyRequestsException" {
                    self.metrics
                        .emit(&scope, "AWS/Lambda", &dims, &[("Throttles", 1.0, "Count")]);
                }
                return Err(e);
            }
        };
        let cold = w.cold.swap(false, Ordering::Relaxed);
        let id = uuid::Uuid::new_v4().to_string();
        let start = Instant::now();
        let timeout = Duration::from_secs(f.timeout_s as u64);
        let (taken_tx, taken_rx) = oneshot::channel();
        let (reply_tx, reply_rx) = oneshot::channel();
        let inv = Invocation {
            id: id.clone(),
            payload,
            deadline_ms: Utc::now().timestamp_millis() + timeout.as_millis() as i64,
            arn: f.arn(),
            taken: taken_tx,
            reply: reply_tx,
        };
        let mut gone = w.gone.clone();
        let sent = w.send(inv).await;
        let went = |g: &Option<Gone>| g.is_some();
        // init: until the runtime takes the invocation
        let taken = if !sent {
            Err(w.gone.borrow().clone())
        } else {
            tokio::select! {
                t = taken_rx => t.map_err(|_| w.gone.borrow().clone()),
                _ = gone.wait_for(went) => Err(w.gone.borrow().clone()),
                _ = tokio::time::sleep(INIT_LIMIT) => Err(Some(Gone::InitError("Runtime.InitTimeout".into(), format!("{{\"errorType\":\"Runtime.InitTimeout\",\"errorMessage\":\"RequestId: {id} Error: The runtime did not start within {} seconds\"}}", INIT_LIMIT.as_secs())))),
            }
        };
        let init_ms = cold.then(|| w.spawned.elapsed().as_secs_f64() * 1000.0);
        let mut status_timeout = false;
        let (result, keep) = match taken {
            Err(g) => (self.gone_payload(&id, g), false),
            Ok(at) => {
                let left = timeout.saturating_sub(at.elapsed());
                tokio::select! {
                    r = reply_rx => match r {
                        Ok(Reply::Ok(b)) => ((b, None), true),
                        Ok(Reply::Error(b)) => ((b, Some("Unhandled".to_string())), true),
                        Err(_) => (self.gone_payload(&id, w.gone.borrow().clone()), false),
                    },
                    _ = gone.wait_for(went) => (self.gone_payload(&id, w.gone.borrow().clone()), false),
                    _ = tokio::time::sleep(left) => {
                        status_timeout = true;
                        (
                            (error_payload("Sandbox.Timedout", format!("RequestId: {id} Error: Task timed out after {:.2} seconds", timeout.as_secs_f64())), Some("Unhandled".to_string())),
                            false,
                        )
                    }
                }
            }
        };
        let total = start.elapsed().as_secs_f64() * 1000.0;
        let elapsed = (total - init_ms.unwrap_or(0.0).min(total)).max(0.0);
        // a worker of a function deleted or changed meanwhile is not kept warm either
        let current = self.store.load::<Function>(&f_key(f)).ok().flatten();
        let keep = keep && current.is_some_and(|c| c.revision == w.revision);
        // let the runtime's last lines arrive before the log is cut
        tokio::time::sleep(Duration::from_millis(5)).await;
        let lines = w.drain_log();
        if !keep {
            w.kill();
        }
        let log = self
            .write_log(f, &w, &id, lines, elapsed, init_ms, status_timeout)
            .await;
        self.release(&f_key(f), keep.then_some(w));
        let (payload, function_error) = result;
        let failed = if function_error.is_some() { 1.0 } else { 0.0 };
        self.metrics.emit(
            &scope,
            "AWS/Lambda",
            &dims,
            &[
                ("Invocations", 1.0, "Count"),
                ("Errors", failed, "Count"),
                ("Duration", elapsed, "Milliseconds"),
            ],
        );
        Ok(Invoked {
            request_id: id,
            payload,
            function_error,
            log,
        })
    }

    fn gone_payload(&self, id: &str, g: Option<Gone>) -> (Bytes, Option<String>) {
        let p = match g {
            Some(Gone::OutOfMemory) => error_payload(
                "Runtime.OutOfMemory",
                format!("RequestId: {id} Error: Runtime exited with error: signal: killed"),
            ),
            Some(Gone::InitError(_, body)) if serde_json::from_str::<Value>(&body).is_ok() => {
                Bytes::from(body)
            }
            Some(Gone::InitError(kind, body)) => error_payload(&kind, body),
            Some(Gone::Exited(why)) => error_payload(
                "Runtime.ExitError",
                format!("RequestId: {id} Error: Runtime exited with error: {why}"),
            ),
            None => error_payload(
                "Runtime.Unknown",
                format!("RequestId: {id} Error: the runtime stopped answering"),
            ),
        };
        (p, Some("Unhandled".into()))
    }

    /// Writes an invocation's lines with START/END/REPORT to `/aws/lambda/<name>`.
    #[allow(clippy::too_many_arguments)]
    async fn write_log(
        &self,
        f: &Function,
        w: &Worker,
        id: &str,
        lines: Vec<(i64, String)>,
        duration_ms: f64,
        init_ms: Option<f64>,
        timed_out: bool,
    ) -> String {
        let now = Utc::now().timestamp_millis();
        let first = lines.first().map_or(now, |l| l.0).min(now);
        let mut events = Vec::new();
        if init_ms.is_some() {
            events.push((first, format!("INIT_START Runtime Version: {}", f.runtime)));
        }
        events.push((first, format!("START RequestId: {id} Version: $LATEST")));
        events.extend(lines);
        events.push((now, format!("END RequestId: {id}")));
        let max_mb = w.peak.load(Ordering::Relaxed).div_ceil(1024 * 1024);
        let mut report = format!(
            "REPORT RequestId: {id}\tDuration: {duration_ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {max_mb} MB",
            (duration_ms + init_ms.unwrap_or(0.0)).ceil().max(1.0) as u64,
            f.memory_mb
        );
        if let Some(i) = init_ms {
            report.push_str(&format!("\tInit Duration: {i:.2} ms"));
        }
        if timed_out {
            report.push_str("\tStatus: timeout");
        }
        events.push((now, report));
        // CloudWatch keeps events in time order within a put
        events.sort_by_key(|e| e.0);
        let text: String = events.iter().map(|(_, l)| format!("{l}\n")).collect();
        let scope = f.region_scope();
        if let Err(e) = self
            .logs
            .write(
                &scope,
                &format!("/aws/lambda/{}", f.name),
                &w.stream,
                events,
            )
            .await
        {
            eprintln!("shoal: cannot write the log of {}: {e}", f.name);
        }
        text
    }

    /// Accepts an `Event` invocation: stored before the call answers.
    pub async fn invoke_async(&self, f: &Function, payload: Bytes) -> Result<String> {
        if payload.len() > MAX_ASYNC {
            return Err(LambdaError::new(
                "RequestTooLargeException",
                413,
                format!("Request must be smaller than {MAX_ASYNC} bytes for the InvokeFunction operation"),
            ));
        }
        let now = Utc::now();
        let a = AsyncInvocation {
            id: uuid::Uuid::new_v4().to_string(),
            function: f_key(f),
            payload: String::from_utf8_lossy(&payload).into_owned(),
            attempts: 0,
            first: now,
            due: now,
        };
        self.store.commit(vec![put(&a)]).done().await?;
        let id = a.id.clone();
        let _ = self.tx.send(a);
        Ok(id)
    }

    pub(super) fn pending_async(&self) -> Result<Vec<AsyncInvocation>> {
        Ok(self.store.list(Scan::default())?)
    }

    /// Runs a stored `Event` invocation: retried up to the function's MaximumRetryAttempts
    /// (1 then 2 minutes apart, as on AWS), then sent to its destination.
    pub(super) async fn run_async(&self, mut a: AsyncInvocation) {
        let Ok(Some(f)) = self.store.load::<Function>(&a.function) else {
            let _ = self
                .store
                .commit(vec![delete::<AsyncInvocation>(&a.id)])
                .done()
                .await;
            return;
        };
        let age = (Utc::now() - a.first).num_seconds();
        let result = if age > f.async_max_age_s() {
            None
        } else {
            Some(self.invoke(&f, Bytes::from(a.payload.clone())).await)
        };
        a.attempts += 1;
        let done = match &result {
            Some(Ok(r)) if r.function_error.is_none() => Some(("Success", r)),
            Some(Ok(r)) if a.attempts > f.async_retries() => Some(("RetriesExhausted", r)),
            _ => None,
        };
        match (done, &result) {
            (Some((condition, r)), _) => self.destination(&f, &a, condition, Some(r)).await,
            (None, None) => self.destination(&f, &a, "EventAgeExceeded", None).await,
            (None, Some(_)) if a.attempts > f.async_retries() => {
                // throttled or unavailable until the end
                self.destination(&f, &a, "RetriesExhausted", None).await
            }
            (None, Some(_)) => {
                let delay = 60.0 * a.attempts as f64 * self.settings.wait_scale;
                a.due = Utc::now() + chrono::Duration::milliseconds((delay * 1000.0) as i64);
                if self.store.commit(vec![put(&a)]).done().await.is_ok() {
                    let _ = self.tx.send(a);
                }
                return;
            }
        }
        let _ = self
            .store
            .commit(vec![delete::<AsyncInvocation>(&a.id)])
            .done()
            .await;
    }

    /// Sends an asynchronous invocation's record to its OnSuccess/OnFailure destination.
    async fn destination(
        &self,
        f: &Function,
        a: &AsyncInvocation,
        condition: &str,
        r: Option<&Invoked>,
    ) {
        let success = condition == "Success";
        let key = if success { "OnSuccess" } else { "OnFailure" };
        let Some(target) = f
            .event_invoke
            .as_ref()
            .and_then(|c| c.pointer(&format!("/DestinationConfig/{key}/Destination")))
            .and_then(Value::as_str)
            .map(String::from)
        else {
            if !success {
                eprintln!("shoal: asynchronous invocation {} of {} failed ({condition}) and has no OnFailure destination", a.id, f.name);
            }
            return;
        };
        let payload = |b: &[u8]| {
            serde_json::from_slice::<Value>(b).unwrap_or_else(|_| json!(String::from_utf8_lossy(b)))
        };
        let mut response = json!({"statusCode": 200, "executedVersion": "$LATEST"});
        if let Some(e) = r.and_then(|r| r.function_error.clone()) {
            response["functionError"] = json!(e);
        }
        let record = json!({
            "version": "1.0",
            "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "requestContext": {
                "requestId": a.id,
                "functionArn": format!("{}:$LATEST", f.arn()),
                "condition": condition,
                "approximateInvokeCount": a.attempts,
            },
            "requestPayload": payload(a.payload.as_bytes()),
            "responseContext": response,
            "responsePayload": r.map(|r| payload(&r.payload)).unwrap_or(Value::Null),
        });
        let body = record.to_string();
        let sent = if target.starts_with("arn:aws:sqs:") {
            let m = crate::sqs::messages::Outgoing {
                body,
                delay: None,
                attributes: json!({}),
                group: None,
                dedup: None,
            };
            self.sqs
                .send(&target, m)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else if target.starts_with("arn:aws:sns:") {
            let m = crate::sns::publish::Outgoing {
                message: body,
                ..Default::default()
            };
            self.sns
                .publish(&target, m)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else if target.starts_with("arn:aws:events:") {
            let entry = crate::events::put::Entry {
                source: Some("lambda".into()),
                detail_type: Some(format!(
                    "Lambda Function Invocation Result - {}",
                    if success { "Success" } else { "Failure" }
                )),
                detail: Some(body),
                resources: vec![target.clone(), format!("{}:$LATEST", f.arn())],
                time: None,
                bus: Some(target.clone()),
            };
            let scope = f.region_scope();
            match self
                .events
                .put_events(&scope, &[entry], crate::events::put::Sender::Service)
                .await
            {
                Ok(r) => r.into_iter().next().map_or(Ok(()), |e| {
                    e.map(|_| ()).map_err(|(c, m)| format!("{c}: {m}"))
                }),
                Err(e) => Err(e.to_string()),
            }
        } else if target.starts_with("arn:aws:lambda:") {
            let scope = f.region_scope();
            match self.function(&scope, &target) {
                Ok(d) => self
                    .invoke_async(&d, Bytes::from(body))
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        } else {
            Err(format!("unsupported destination {target}"))
        };
        if let Err(e) = sent {
            eprintln!(
                "shoal: the {condition} record of {} for {} could not reach {target}: {e}",
                a.id, f.name
            );
        }
    }
}
