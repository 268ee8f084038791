//! The server: one accept loop, three ways to run the connections.
//!
//! The acceptor is chapter 1's loop (`step01_iterative::serve`: accept,
//! hand over, repeat; on shutdown, hand over what is queued, then return).
//! What differs is *who* serves each accepted connection:
//!
//! - [`Model::Pool`] — this chapter's [`ThreadPool`]: a fixed set of
//!   workers and a bounded queue. When both are full, the acceptor waits,
//!   and new connections wait in the kernel's backlog.
//! - [`Model::Threads`] — a new thread per connection, at most
//!   `max_clients` at once (beyond that the acceptor waits): the model of
//!   the Rust Book's first attempt, and the baseline the pool must beat.
//!   Creating a thread costs tens of microseconds; at thousands of
//!   connections a second that shows.
//! - [`Model::Rayon`] — rayon's work-stealing pool. It is built for CPU
//!   work: a fixed number of threads, ideally one per core, that never
//!   block. Serving a connection *is* blocking (reads wait on the client),
//!   so with 2 cores rayon runs 2 connections at once and every other one
//!   waits in its unbounded queue — measured in the book's chapter 5.
//!
//! The fourth model, a pool of pre-forked processes, cannot share this
//! code: it must fork before any thread exists (see [`crate::prefork`]).

use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;

use step01_iterative::{Shutdown, serve};

use crate::connection::{Limits, serve_connection};
use crate::handler::Site;
use crate::pool::ThreadPool;

/// Who serves the accepted connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// A hand-written fixed pool with a bounded queue.
    Pool,
    /// A thread per connection, capped.
    Threads,
    /// rayon's CPU pool (the wrong tool, on purpose).
    Rayon,
}

/// How many workers, how much queue, which limits.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The concurrency model.
    pub model: Model,
    /// Worker threads (pool and rayon).
    pub workers: usize,
    /// Connections that may wait for a pool worker before the acceptor
    /// stops accepting.
    pub queue: usize,
    /// At most this many connections at once (threads model).
    pub max_clients: usize,
    /// Keep-alive and timeout limits.
    pub limits: Limits,
}

// ANCHOR: run
/// Serves `site` on `listener` with the configured model until `shutdown`;
/// returns after every connection in progress has finished.
///
/// # Errors
///
/// If the rayon pool cannot be built.
pub fn run(
    listener: TcpListener,
    shutdown: Shutdown,
    site: Arc<Site>,
    config: &Config,
) -> io::Result<()> {
    let limits = config.limits;
    let stopping = {
        let shutdown = shutdown.clone();
        Arc::new(move || shutdown.is_triggered())
    };
    match config.model {
        Model::Pool => {
            let pool = ThreadPool::new("worker", config.workers, config.queue);
            serve(listener, shutdown, |stream, peer| {
                let (site, stopping) = (Arc::clone(&site), Arc::clone(&stopping));
                // Waits while the queue is full: backpressure.
                pool.execute(move || serve_connection(stream, peer, &site, limits, &*stopping));
            })?;
            // Drop drains the queue and joins every worker.
            drop(pool);
        }
        Model::Threads => {
            let slots = Slots::new(config.max_clients);
            serve(listener, shutdown, |stream, peer| {
                let permit = slots.acquire();
                let (site, stopping) = (Arc::clone(&site), Arc::clone(&stopping));
                let spawned = thread::Builder::new()
                    .name("connection".into())
                    .spawn(move || {
                        serve_connection(stream, peer, &site, limits, &*stopping);
                        drop(permit);
                    });
                if let Err(e) = spawned {
                    tracing::error!(%peer, "cannot start a thread: {e}");
                }
            })?;
            slots.wait_until_idle();
        }
        Model::Rayon => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(config.workers)
                .thread_name(|i| format!("rayon-{i}"))
                // Without a handler, a panicking job aborts the process.
                .panic_handler(|_| tracing::error!("a rayon job panicked"))
                .build()
                .map_err(io::Error::other)?;
            // rayon's queue has no bound; count what is in flight only to
            // wait for it at shutdown.
            let in_flight = Slots::new(usize::MAX);
            serve(listener, shutdown, |stream, peer| {
                let permit = in_flight.acquire();
                let (site, stopping) = (Arc::clone(&site), Arc::clone(&stopping));
                pool.spawn(move || {
                    serve_connection(stream, peer, &site, limits, &*stopping);
                    drop(permit);
                });
            })?;
            in_flight.wait_until_idle();
        }
    }
    Ok(())
}
// ANCHOR_END: run

// ANCHOR: slots
/// A counting semaphore: at most `max` permits out at once.
#[derive(Clone)]
pub struct Slots {
    state: Arc<(Mutex<usize>, Condvar)>,
    max: usize,
}

/// A held slot; dropping it frees the slot.
pub struct Permit {
    state: Arc<(Mutex<usize>, Condvar)>,
}

impl Slots {
    /// A semaphore with `max` slots.
    pub fn new(max: usize) -> Slots {
        Slots {
            state: Arc::new((Mutex::new(0), Condvar::new())),
            max: max.max(1),
        }
    }

    /// Takes a slot, waiting while all are taken.
    pub fn acquire(&self) -> Permit {
        let (count, changed) = &*self.state;
        let mut count = count.lock().unwrap_or_else(PoisonError::into_inner);
        while *count >= self.max {
            count = changed.wait(count).unwrap_or_else(PoisonError::into_inner);
        }
        *count += 1;
        Permit {
            state: Arc::clone(&self.state),
        }
    }

    /// Waits until every slot is free again.
    pub fn wait_until_idle(&self) {
        let (count, changed) = &*self.state;
        let mut count = count.lock().unwrap_or_else(PoisonError::into_inner);
        while *count > 0 {
            count = changed.wait(count).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let (count, changed) = &*self.state;
        let mut count = count.lock().unwrap_or_else(PoisonError::into_inner);
        *count -= 1;
        changed.notify_all();
    }
}
// ANCHOR_END: slots
