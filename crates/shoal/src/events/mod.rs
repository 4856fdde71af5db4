//! EventBridge: event buses, rules with patterns and targets, PutEvents and durable delivery.
//!
//! The pure [`patterns`] library decides what matches and what a target receives; this module
//! stores buses and rules, turns each matched event into one stored [`model::Delivery`] per
//! target — committed before PutEvents answers — and delivers them ([`delivery`]), retrying
//! under the target's `RetryPolicy`. Events from shoal's own services (Step Functions status
//! changes) are routed the same way, committed with the change that caused them.

pub mod archives;
pub mod buses;
pub mod delivery;
pub mod destinations;
pub mod error;
pub mod model;
pub mod put;
pub mod rate;
pub mod router;
pub mod rules;
pub mod schedules;
pub mod tags;

use crate::sfn::arn::Scope;
use crate::sfn::Sfn;
use crate::store::ChangeLock;
use crate::store::Store;
use std::sync::{Arc, Mutex};

pub use error::{EventsError, Result};

pub struct Events {
    pub store: Arc<dyn Store>,
    pub sfn: Arc<Sfn>,
    /// Queue targets and dead-letter queues.
    pub sqs: Arc<crate::sqs::Sqs>,
    /// The change lock (see [`ChangeLock`]) of buses, rules, targets, archives, replays,
    /// connections, API destinations and tags (PutTargets of two targets to one rule at once,
    /// as Terraform makes them, kept one).
    changes: ChangeLock,
    /// Compiled rules by bus ARN, dropped when a rule of that bus changes.
    compiled: Mutex<router::Indexes>,
    /// Buses whose changed rules the compiler task compiles again (see [`Events::recompile`]).
    compile: tokio::sync::mpsc::UnboundedSender<String>,
    /// New deliveries for the delivery worker.
    queue: tokio::sync::mpsc::UnboundedSender<model::Delivery>,
    /// Every event accepted on a bus, for `shoal events tail`.
    pub tail: tokio::sync::broadcast::Sender<router::Routed>,
    /// Changes for the schedule task.
    schedule: tokio::sync::mpsc::UnboundedSender<schedules::Signal>,
    /// The virtual clock: where it started and how far it was moved (milliseconds).
    clock_base: chrono::DateTime<chrono::Utc>,
    clock_offset: std::sync::atomic::AtomicI64,
    /// Ticks when the virtual clock moves (for the Scheduler's runner).
    pub clock_moved: tokio::sync::watch::Sender<()>,
    /// Function and topic targets, connected once those services run.
    targets: std::sync::OnceLock<Targets>,
    /// AWS/Events metrics.
    pub metrics: crate::metrics::Link,
    /// API destinations' `InvocationRateLimitPerSecond`.
    rate: rate::Limiter,
}

/// The services behind function and topic targets (they hold the bus themselves, so weakly).
pub struct Targets {
    pub lambda: std::sync::Weak<crate::lambda::Lambda>,
    pub sns: std::sync::Weak<crate::sns::Sns>,
}

impl Events {
    /// Connects the services that function and topic targets reach.
    pub fn set_targets(&self, t: Targets) {
        let _ = self.targets.set(t);
    }

    /// The function service, once it runs.
    pub fn lambda(&self) -> Option<Arc<crate::lambda::Lambda>> {
        self.targets.get().and_then(|t| t.lambda.upgrade())
    }

    /// Creates the service and starts its delivery worker, which first resumes the deliveries
    /// a previous run left in flight.
    pub fn start(
        store: Arc<dyn Store>,
        sfn: Arc<Sfn>,
        sqs: Arc<crate::sqs::Sqs>,
    ) -> Result<Arc<Events>> {
        let (queue, rx) = tokio::sync::mpsc::unbounded_channel();
        let (schedule, schedule_rx) = tokio::sync::mpsc::unbounded_channel();
        let (tail, _) = tokio::sync::broadcast::channel(1024);
        let (compile, compile_rx) = tokio::sync::mpsc::unbounded_channel();
        let events = Arc::new(Events {
            store,
            sfn: sfn.clone(),
            sqs,
            compiled: Mutex::default(),
            compile,
            changes: ChangeLock::default(),
            queue,
            tail,
            schedule,
            clock_base: chrono::Utc::now(),
            clock_offset: std::sync::atomic::AtomicI64::new(0),
            clock_moved: tokio::sync::watch::Sender::new(()),
            targets: std::sync::OnceLock::new(),
            metrics: Default::default(),
            rate: Default::default(),
        });
        let pending = events.pending_deliveries()?;
        delivery::spawn(&events, rx, pending);
        router::spawn_compiler(&events, compile_rx);
        schedules::spawn(&events, schedule_rx)?;
        events.resume_replays()?;
        sfn.set_bus(Arc::downgrade(&events));
        Ok(events)
    }

    pub fn bus_arn(scope: &Scope, name: &str) -> String {
        format!(
            "arn:aws:events:{}:{}:event-bus/{name}",
            scope.region, scope.account
        )
    }

    /// A bus given by name or ARN.
    pub fn bus_ref(scope: &Scope, name_or_arn: Option<&str>) -> (String, String) {
        match name_or_arn {
            None | Some("") => ("default".into(), Events::bus_arn(scope, "default")),
            Some(a) if a.starts_with("arn:") => {
                let name = a.rsplit('/').next().unwrap_or(a).to_string();
                (name, a.to_string())
            }
            Some(n) => (n.to_string(), Events::bus_arn(scope, n)),
        }
    }
}
