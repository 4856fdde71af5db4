//! AWS Glue, locally: the Data Catalog (databases, tables with versions, partitions), crawlers
//! that read objects and infer tables, jobs, data-quality rulesets, and interactive sessions.
//! Data work runs on Arrow and DataFusion over shoal's own S3 (see [`crate::lake`]).

pub mod catalog;
pub mod crawlers;
pub mod infer;
pub mod jobs;
pub mod quality;
pub mod schedules;
pub mod sessions;
pub mod trail;
pub mod types;
pub mod visual;

use crate::sfn::arn::Scope;
use crate::store::ChangeLock;
use crate::store::Store;
use std::sync::{Arc, Weak};

macro_rules! glue_errors {
    ($($name:ident),* $(,)?) => {
        /// An API error: the variant is Glue's error code, the text its message.
        #[derive(Debug, thiserror::Error)]
        #[allow(clippy::enum_variant_names)] // Glue's codes all end in Exception
        pub enum GlueError {
            $(#[error("{0}")] $name(String),)*
        }

        impl GlueError {
            pub fn code(&self) -> &'static str {
                match self { $(GlueError::$name(_) => stringify!($name),)* }
            }
        }
    };
}

glue_errors!(
    EntityNotFoundException,
    AlreadyExistsException,
    InvalidInputException,
    CrawlerRunningException,
    CrawlerNotRunningException,
    ConcurrentRunsExceededException,
    IllegalSessionStateException,
    NoScheduleException,
    SchedulerRunningException,
    SchedulerNotRunningException,
    InternalServiceException,
);

impl GlueError {
    pub fn status(&self) -> u16 {
        match self {
            GlueError::InternalServiceException(_) => 500,
            _ => 400,
        }
    }

    pub fn not_found(what: impl std::fmt::Display) -> GlueError {
        GlueError::EntityNotFoundException(format!("{what} not found"))
    }

    pub fn invalid(message: impl Into<String>) -> GlueError {
        GlueError::InvalidInputException(message.into())
    }

    pub fn internal(message: impl std::fmt::Display) -> GlueError {
        GlueError::InternalServiceException(message.to_string())
    }
}

impl From<crate::store::StoreError> for GlueError {
    fn from(e: crate::store::StoreError) -> GlueError {
        GlueError::internal(e)
    }
}

pub type Result<T, E = GlueError> = std::result::Result<T, E>;

/// The Glue service: every part shares the store, the object service, the event bus (for
/// CloudTrail-shaped and state-change events) and the logs.
pub struct Glue {
    pub store: Arc<dyn Store>,
    pub s3: Arc<crate::s3::S3>,
    pub events: Arc<crate::events::Events>,
    pub logs: Arc<crate::logs::Logs>,
    pub settings: Settings,
    pub lambda: Arc<crate::lambda::Lambda>,
    pub(crate) sessions: sessions::Live,
    pub(crate) runs: jobs::Live,
    /// Rung when a crawler's schedule may have changed.
    pub(crate) crawler_schedules: Arc<tokio::sync::Notify>,
    /// The change lock (see [`ChangeLock`]) of databases, tables, partitions, crawlers and
    /// jobs (two UpdateTable at once made one table version).
    changes: ChangeLock,
    me: Weak<Glue>,
}

/// How the server runs Glue work.
#[derive(Clone, Debug)]
pub struct Settings {
    /// shoal's own endpoint, given to Python shell jobs as `AWS_ENDPOINT_URL`.
    pub endpoint: String,
    /// The Python that runs Python shell jobs (`--glue-python`; else the Lambda runtime's).
    pub python: Option<std::path::PathBuf>,
    /// Seconds an interactive session spends PROVISIONING before it is READY.
    pub session_startup: f64,
    /// Seconds a crawl spends starting before it reads (real seconds × `wait_scale`).
    pub crawler_startup: f64,
    /// Real seconds per clock second (`--wait-scale`); 0 under the virtual clock.
    pub wait_scale: f64,
}

impl Glue {
    pub async fn start(
        store: Arc<dyn Store>,
        s3: Arc<crate::s3::S3>,
        events: Arc<crate::events::Events>,
        logs: Arc<crate::logs::Logs>,
        lambda: Arc<crate::lambda::Lambda>,
        settings: Settings,
    ) -> Result<Arc<Glue>> {
        let glue = Arc::new_cyclic(|me| Glue {
            store,
            s3,
            events,
            logs,
            settings,
            lambda,
            sessions: Default::default(),
            runs: Default::default(),
            crawler_schedules: Default::default(),
            changes: ChangeLock::default(),
            me: me.clone(),
        });
        sessions::start(&glue)?;
        crawlers::recover(&glue).await?;
        jobs::recover(&glue).await?;
        schedules::start(&glue);
        Ok(glue)
    }

    /// The service itself, for work that outlives a request.
    pub(crate) fn arc(&self) -> Option<Arc<Glue>> {
        self.me.upgrade()
    }

    /// Runs `tick` until the service is gone: again at the time it returns (real time only),
    /// when `bell` rings, and whenever the virtual clock moves. `tick` carries its own state.
    pub(crate) fn on_clock<S, F, Fut>(
        self: &Arc<Glue>,
        bell: Arc<tokio::sync::Notify>,
        mut state: S,
        tick: F,
    ) where
        S: Send + 'static,
        F: Fn(Arc<Glue>, S) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = (S, Option<chrono::DateTime<chrono::Utc>>)> + Send,
    {
        let weak = Arc::downgrade(self);
        let mut moved = self.events.clock_moved.subscribe();
        tokio::spawn(async move {
            loop {
                let Some(glue) = weak.upgrade() else { return };
                let (kept, next) = tick(glue.clone(), state).await;
                state = kept;
                // a time already past wakes at once
                let wait = next
                    .filter(|_| !glue.events.sfn.config.virtual_clock)
                    .map(|t| (t - glue.now()).to_std().unwrap_or_default())
                    .map(|d| d + std::time::Duration::from_millis(5));
                drop(glue);
                let wake = async {
                    match wait {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = wake => {}
                    _ = bell.notified() => {}
                    r = moved.changed() => if r.is_err() { return },
                }
            }
        });
    }

    /// The catalog's clock: the server's (virtual under `--virtual-clock`).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.events.now()
    }

    /// `account:region`, the owner column of every Glue record.
    pub fn owner(scope: &Scope) -> String {
        format!("{}:{}", scope.account, scope.region)
    }

    /// The key of a record named `name` in `scope` (databases, crawlers, jobs, rulesets,
    /// sessions).
    pub(crate) fn key(scope: &Scope, name: &str) -> String {
        format!("{}:{name}", Glue::owner(scope))
    }

    /// Every record of one kind in `scope`, in name order.
    pub(crate) fn owned<R: crate::store::Record>(
        &self,
        scope: &Scope,
        name: impl Fn(&R) -> &str,
    ) -> Result<Vec<R>> {
        use crate::store::Records;
        let mut all: Vec<R> = self.store.list(crate::store::Scan {
            owner: Some(&Glue::owner(scope)),
            ..Default::default()
        })?;
        all.sort_by(|a, b| name(a).cmp(name(b)));
        Ok(all)
    }
}
