//! The server is stopping. Long polls (GetActivityTask waits up to 60 s, ReceiveMessage up to
//! 20 s) then answer at once with nothing, as at the end of their wait, so that a stop does not
//! wait them out: the server drains the requests in flight before it exits.

use std::sync::LazyLock;
use tokio::sync::watch;

static STOPPING: LazyLock<watch::Sender<bool>> = LazyLock::new(|| watch::channel(false).0);

/// Ends every long poll, now and from now on.
pub fn request() {
    STOPPING.send_replace(true);
}

/// Whether the server is stopping (a loop over long polls ends when it is).
pub fn is_requested() -> bool {
    *STOPPING.borrow()
}

/// Resolves once the server is stopping.
pub async fn requested() {
    let mut stopping = STOPPING.subscribe();
    // the sender is a static and never dropped, so the wait ends only when the value is true
    let _ = stopping.wait_for(|s| *s).await;
}

/// Waits for Ctrl-C or, on Unix, SIGTERM (what `kill`, systemd and container runtimes send).
pub async fn signalled() {
    // a signal that cannot be listened for never comes, rather than stopping the server at once
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    ctrl_c.await;
}
