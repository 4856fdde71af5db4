//! The background sweeps of data past its retention (closed executions, log events, archived
//! events): one at once, then one every period, for as long as the service lives.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How often log events and archived events are swept. CloudWatch deletes expired log events
/// within days of their expiry; reads skip them at once either way.
pub const HOURLY: Duration = Duration::from_secs(3600);

/// Runs `sweep` on `service` now and then every `period`; `what` names the deleted things in
/// the server's output.
pub fn keep_sweeping<S, F, Fut, E>(
    runtime: &tokio::runtime::Handle,
    service: &Arc<S>,
    period: Duration,
    what: &'static str,
    sweep: F,
) where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, E>> + Send,
    E: Display,
{
    let service = Arc::downgrade(service);
    runtime.spawn(async move {
        loop {
            // held only while sweeping, so a service dropped meanwhile ends the loop
            let Some(s) = service.upgrade() else { return };
            match sweep(s).await {
                Ok(0) => {}
                Ok(n) => eprintln!("shoal: {n} {what} past their retention deleted"),
                Err(e) => eprintln!("shoal: {what} past their retention: {e}"),
            }
            tokio::time::sleep(period).await;
        }
    });
}
