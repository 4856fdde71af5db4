//! A warm worker: one runtime process and the Lambda Runtime API that shoal serves it on a
//! loopback port of its own (`AWS_LAMBDA_RUNTIME_API`). The process takes one invocation at a
//! time with `GET /invocation/next` and answers with `/response` or `/error`; what it prints
//! is kept for the function's log stream.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};

/// What a runtime answered for one invocation.
#[derive(Debug)]
pub enum Reply {
    Ok(Bytes),
    /// `/error`: the body the runtime posted and its `Lambda-Runtime-Function-Error-Type`.
    Error(Bytes),
}

pub struct Invocation {
    pub id: String,
    pub payload: Bytes,
    pub deadline_ms: i64,
    pub arn: String,
    /// Told when the runtime takes the invocation (its init is over).
    pub taken: oneshot::Sender<Instant>,
    pub reply: oneshot::Sender<Reply>,
}

/// Why a worker's process is gone.
#[derive(Debug, Clone, PartialEq)]
pub enum Gone {
    Exited(String),
    OutOfMemory,
    /// `/init/error`: the error type and the body.
    InitError(String, String),
}

struct ApiState {
    next: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    inflight: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    gone: watch::Sender<Option<Gone>>,
}

pub struct Worker {
    pub stream: String,
    pub revision: String,
    pub spawned: Instant,
    pub cold: AtomicBool,
    tx: mpsc::Sender<Invocation>,
    pub gone: watch::Receiver<Option<Gone>>,
    pub log: Arc<Mutex<Vec<(i64, String)>>>,
    /// Peak resident memory in bytes.
    pub peak: Arc<AtomicU64>,
    pid: Option<u32>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

/// How to start a runtime process.
pub struct Launch {
    pub program: std::path::PathBuf,
    pub args: Vec<String>,
    pub dir: std::path::PathBuf,
    pub env: Vec<(String, String)>,
    pub memory_mb: u32,
    pub stream: String,
    pub revision: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn next(State(s): State<Arc<ApiState>>) -> Response {
    let inv = {
        let mut rx = s.next.lock().await;
        rx.recv().await
    };
    let Some(inv) = inv else {
        return StatusCode::GONE.into_response();
    };
    let _ = inv.taken.send(Instant::now());
    lock(&s.inflight).insert(inv.id.clone(), inv.reply);
    (
        [
            ("lambda-runtime-aws-request-id", inv.id),
            ("lambda-runtime-deadline-ms", inv.deadline_ms.to_string()),
            ("lambda-runtime-invoked-function-arn", inv.arn),
            (
                "lambda-runtime-trace-id",
                format!(
                    "Root=1-{:08x}-{}",
                    chrono::Utc::now().timestamp(),
                    uuid::Uuid::new_v4()
                        .simple()
                        .to_string()
                        .get(..24)
                        .unwrap_or("")
                ),
            ),
            ("content-type", "application/json".to_string()),
        ],
        inv.payload,
    )
        .into_response()
}

async fn respond(State(s): State<Arc<ApiState>>, Path(id): Path<String>, body: Bytes) -> Response {
    match lock(&s.inflight).remove(&id) {
        Some(tx) => {
            let _ = tx.send(Reply::Ok(body));
            (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            "{\"errorMessage\":\"unknown request id\",\"errorType\":\"InvalidRequestID\"}",
        )
            .into_response(),
    }
}

async fn error(State(s): State<Arc<ApiState>>, Path(id): Path<String>, body: Bytes) -> Response {
    match lock(&s.inflight).remove(&id) {
        Some(tx) => {
            let _ = tx.send(Reply::Error(body));
            (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            "{\"errorMessage\":\"unknown request id\",\"errorType\":\"InvalidRequestID\"}",
        )
            .into_response(),
    }
}

async fn init_error(State(s): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Runtime.Unknown")
        .to_string();
    let _ = s.gone.send(Some(Gone::InitError(
        kind,
        String::from_utf8_lossy(&body).into_owned(),
    )));
    (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
}

impl Worker {
    /// Starts the Runtime API and the process.
    pub async fn start(launch: Launch) -> std::io::Result<Arc<Worker>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(1);
        let (gone_tx, gone) = watch::channel(None);
        let state = Arc::new(ApiState {
            next: tokio::sync::Mutex::new(rx),
            inflight: Mutex::new(HashMap::new()),
            gone: gone_tx,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await;
        });
        let mut cmd = tokio::process::Command::new(&launch.program);
        cmd.args(&launch.args)
            .current_dir(&launch.dir)
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = stop_tx.send(());
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("cannot start {}: {e}", launch.program.display()),
                ));
            }
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    lock(&log).push((chrono::Utc::now().timestamp_millis(), line));
                }
            });
        }
        let peak = Arc::new(AtomicU64::new(0));
        let pid = child.id();
        // watch memory: over the limit, the process is killed as Lambda kills it
        if let Some(pid) = pid {
            let peak = peak.clone();
            let limit = launch.memory_mb as u64 * 1024 * 1024;
            let gone = state.clone();
            tokio::spawn(async move {
                while let Some(rss) = rss(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                    if rss > limit {
                        let _ = gone.gone.send(Some(Gone::OutOfMemory));
                        signal_kill(pid);
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            });
        }
        let worker = Arc::new(Worker {
            stream: launch.stream,
            revision: launch.revision,
            spawned: Instant::now(),
            cold: AtomicBool::new(true),
            tx,
            gone,
            log,
            peak,
            pid,
            stop: Mutex::new(Some(stop_tx)),
        });
        // reap the process and say why it went
        let st = state.clone();
        tokio::spawn(async move {
            let why = match child.wait().await {
                Ok(s) => match s.code() {
                    Some(c) => format!("exit status {c}"),
                    None => "signal: killed".to_string(),
                },
                Err(e) => e.to_string(),
            };
            st.gone.send_if_modified(|g| {
                if g.is_none() {
                    *g = Some(Gone::Exited(why));
                    true
                } else {
                    false
                }
            });
        });
        Ok(worker)
    }

    pub fn alive(&self) -> bool {
        self.gone.borrow().is_none()
    }

    /// Hands an invocation to the runtime.
    pub async fn send(&self, inv: Invocation) -> bool {
        self.tx.send(inv).await.is_ok()
    }

    /// Takes the lines printed since the last call.
    pub fn drain_log(&self) -> Vec<(i64, String)> {
        std::mem::take(&mut *lock(&self.log))
    }

    /// Stops the process and the Runtime API.
    pub fn kill(&self) {
        // the reaper has not run while `gone` is unset, so the pid is still our child's
        if let (Some(pid), true) = (self.pid, self.alive()) {
            signal_kill(pid);
        }
        if let Some(s) = lock(&self.stop).take() {
            let _ = s.send(());
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn signal_kill(pid: u32) {
    // SAFETY: kill(2) with a pid of a child this process spawned and has not reaped
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// Resident memory of a process, from /proc.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
