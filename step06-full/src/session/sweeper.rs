//! The sweeper: a background thread that deletes expired sessions.
//!
//! Expiry is enforced when a session is read (see
//! [`Session`](super::Session)), so the sweeper is not what logs people
//! out; it is what keeps the store from growing for ever with sessions
//! nobody comes back for (the servlet engine this replaces never tidied
//! its directory at all).
//!
//! It is a plain thread, not a tokio task, because a sweep is blocking
//! file work from start to end. It waits on a channel with
//! `recv_timeout`, not in `sleep`: dropping the [`SweeperHandle`] closes
//! the channel, which wakes the thread at once, so shutting down never
//! waits out an interval.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use tracing::{debug, info, warn};

use super::store::{Result, SessionStore};
use crate::access::error_line;
use crate::log::Log;

/// The shortest interval between sweeps: a zero interval would make the
/// thread spin.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// The running sweeper; dropping it stops the thread and waits for it.
#[derive(Debug)]
pub struct SweeperHandle {
    /// Dropped to stop the thread: the receiver then sees `Disconnected`.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Starts a thread that sweeps `store` at once and then every `every`
/// (at least 10 ms), deleting sessions idle for `idle` or more; a sweep
/// that fails is reported to `errors`.
///
/// # Errors
///
/// [`StoreError::Io`](super::StoreError::Io) if the thread cannot be
/// started.
pub fn spawn_sweeper(
    store: Arc<dyn SessionStore>,
    idle: Duration,
    every: Duration,
    errors: Log,
) -> Result<SweeperHandle> {
    let (stop, stopped) = mpsc::channel::<()>();
    let every = every.max(MIN_INTERVAL);
    let thread = thread::Builder::new()
        .name("session-sweeper".into())
        .spawn(move || {
            loop {
                match store.sweep(idle, SystemTime::now()) {
                    Ok(0) => debug!("session sweep: nothing expired"),
                    Ok(deleted) => info!(deleted, "session sweep: expired sessions deleted"),
                    // Logged, then tried again next time: the directory
                    // may be back by then.
                    Err(error) => errors.write(error_line(
                        "session",
                        "warn",
                        None,
                        &format!("session sweep failed: {error}"),
                    )),
                }
                match stopped.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => {}
                    // The handle was dropped (nothing is ever sent).
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })?;
    Ok(SweeperHandle {
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl Drop for SweeperHandle {
    fn drop(&mut self) {
        // Closing the channel wakes the thread; a sweep in progress
        // finishes first.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            warn!("the session sweeper panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{FileStore, Record, SessionId};
    use std::time::Instant;

    #[test]
    fn the_sweeper_deletes_expired_sessions_and_stops_promptly() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FileStore::new(dir.path()).unwrap());
        let idle = Duration::from_secs(60);
        let now = SystemTime::now();
        let expired = SessionId::random().unwrap();
        let live = SessionId::random().unwrap();
        let mut old = Record::new(now - Duration::from_secs(120));
        old.data.insert("a".into(), "1".into());
        store.open(&expired).unwrap().save(&old).unwrap();
        store.open(&live).unwrap().save(&Record::new(now)).unwrap();

        let handle = spawn_sweeper(
            store.clone(),
            idle,
            Duration::from_millis(20),
            Log::disabled(false),
        )
        .unwrap();
        let data = dir.path().join(format!("{expired}.json"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while data.exists() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert!(!data.exists(), "the expired session was not swept");
        assert!(dir.path().join(format!("{live}.json")).exists());

        // A long interval must not delay the stop.
        drop(handle);
        let slow =
            spawn_sweeper(store, idle, Duration::from_secs(3600), Log::disabled(false)).unwrap();
        let started = Instant::now();
        drop(slow);
        assert!(started.elapsed() < Duration::from_secs(60));
    }
}
