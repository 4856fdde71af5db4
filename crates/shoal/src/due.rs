//! A timer queue: items arrive on a channel (or from storage at start) with the time they are
//! due, and each is handed to `act` on its own task once that time comes. The delivery workers
//! of EventBridge and SNS run on it.

use std::collections::BTreeMap;
use std::future::Future;
use tokio::sync::mpsc::UnboundedReceiver;

/// Runs the queue until the channel closes. `key` gives an item's due time (epoch ms) and a
/// unique id.
pub fn spawn<T, F, Fut>(
    mut rx: UnboundedReceiver<T>,
    pending: Vec<T>,
    key: fn(&T) -> (i64, String),
    act: F,
) where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut queue: BTreeMap<(i64, String), T> = BTreeMap::new();
        for d in pending {
            queue.insert(key(&d), d);
        }
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            while let Some(e) = queue.first_entry() {
                if e.key().0 > now {
                    break;
                }
                tokio::spawn(act(e.remove()));
            }
            let wait = queue
                .keys()
                .next()
                .map(|(t, _)| std::time::Duration::from_millis((t - now).max(1) as u64));
            tokio::select! {
                d = rx.recv() => match d {
                    Some(d) => { queue.insert(key(&d), d); }
                    None => return,
                },
                _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {}
            }
        }
    });
}
