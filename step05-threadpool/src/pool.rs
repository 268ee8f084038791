//! The thread pool: a fixed set of workers fed by a bounded queue.
//!
//! This is the chapter's lesson, written by hand. The design, piece by
//! piece:
//!
//! - **Fixed workers.** `size` threads are started once and reused: no
//!   thread (or process) is created per connection.
//! - **A bounded queue.** [`ThreadPool::execute`] puts a job on a
//!   `sync_channel` of fixed capacity. When every worker is busy and the
//!   queue is full, `execute` *waits*: the acceptor stops accepting, and new
//!   connections queue in the kernel's listen backlog until a worker is
//!   free — backpressure, instead of unbounded memory.
//! - **Panic isolation.** A job that panics kills its worker thread, but a
//!   [`Sentinel`] on that thread notices while unwinding and starts a
//!   replacement: the pool keeps its size.
//! - **Shutdown.** Dropping the pool closes the queue; each worker finishes
//!   its job, then sees the closed queue and exits; `drop` joins them all.
//!   (The Rust Book's pool does this too, but its Ctrl-C never runs `drop`;
//!   chapter 1's signal handling, reused here, makes it happen.)
//!
//! The `MutexGuard` trap: workers share the receiving end behind a
//! `Mutex`. Written as `while let Ok(job) = receiver.lock().unwrap().recv()`
//! the guard is a temporary of the `while let` scrutinee and lives until the
//! end of the loop body — so the lock is held *while the job runs*, and the
//! "pool" runs one job at a time. [`take_job`] takes the lock in its own
//! statement, so the guard is dropped before the job starts. The test
//! `jobs_really_run_in_parallel` would fail with the trap.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

/// A unit of work: usually "serve this connection".
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// What the workers share.
struct Shared {
    /// The receiving end of the job queue; one worker takes a job at a time.
    receiver: Mutex<Receiver<Job>>,
    /// Join handles of the running workers, replacements included, so that
    /// shutdown can wait for every one of them.
    handles: Mutex<Vec<JoinHandle<()>>>,
    /// The pool's name, for thread names.
    name: String,
}

// ANCHOR: pool
/// A fixed-size pool of worker threads with a bounded job queue.
pub struct ThreadPool {
    /// The sending end of the queue; `None` once shutdown has begun.
    sender: Option<SyncSender<Job>>,
    shared: Arc<Shared>,
    size: usize,
}

impl ThreadPool {
    /// Starts `size` workers and a queue holding up to `queue` waiting jobs.
    ///
    /// # Panics
    ///
    /// If `size` is zero (a pool of no workers would never run anything),
    /// or if the OS refuses to start a thread at startup.
    pub fn new(name: &str, size: usize, queue: usize) -> ThreadPool {
        assert!(size > 0, "a thread pool needs at least one worker");
        let (sender, receiver) = sync_channel(queue);
        let shared = Arc::new(Shared {
            receiver: Mutex::new(receiver),
            handles: Mutex::new(Vec::with_capacity(size)),
            name: name.to_owned(),
        });
        for id in 0..size {
            spawn_worker(&shared, id).expect("cannot start a worker thread");
        }
        ThreadPool {
            sender: Some(sender),
            shared,
            size,
        }
    }

    /// Queues `job`; **waits** while the queue is full.
    ///
    /// Returns `false` if the pool is shutting down (the job is dropped).
    pub fn execute(&self, job: impl FnOnce() + Send + 'static) -> bool {
        match &self.sender {
            Some(sender) => sender.send(Box::new(job)).is_ok(),
            None => false,
        }
    }

    /// Queues `job` only if there is room right now; gives it back if not.
    ///
    /// # Errors
    ///
    /// The job, if the queue is full or the pool is shutting down.
    pub fn try_execute(&self, job: Job) -> Result<(), Job> {
        match &self.sender {
            Some(sender) => sender.try_send(job).map_err(|e| match e {
                TrySendError::Full(job) | TrySendError::Disconnected(job) => job,
            }),
            None => Err(job),
        }
    }

    /// How many workers the pool keeps.
    pub fn size(&self) -> usize {
        self.size
    }
}
// ANCHOR_END: pool

// ANCHOR: drop
impl Drop for ThreadPool {
    /// Drains the queue and joins every worker.
    fn drop(&mut self) {
        // Closing the queue is the signal: workers finish the jobs already
        // queued, then `recv` fails and they return.
        drop(self.sender.take());
        loop {
            // Replacements may be added while we join: take them in rounds.
            let handles: Vec<_> = {
                let mut handles = self
                    .shared
                    .handles
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                handles.drain(..).collect()
            };
            if handles.is_empty() {
                break;
            }
            for handle in handles {
                let _ = handle.join();
            }
        }
    }
}
// ANCHOR_END: drop

// ANCHOR: worker
/// Starts worker `id`.
fn spawn_worker(shared: &Arc<Shared>, id: usize) -> std::io::Result<()> {
    let for_thread = Arc::clone(shared);
    let handle = thread::Builder::new()
        .name(format!("{}-{id}", shared.name))
        .spawn(move || {
            let sentinel = Sentinel {
                shared: Arc::clone(&for_thread),
                id,
            };
            while let Some(job) = take_job(&for_thread) {
                job();
            }
            // A normal exit (the queue closed): no replacement needed.
            std::mem::forget(sentinel);
        })?;
    shared
        .handles
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(handle);
    Ok(())
}

/// Takes the next job, or `None` once the queue is closed.
///
/// The lock is taken and released *inside this function*: the guard is
/// gone before the caller runs the job, so other workers can take jobs
/// meanwhile. (Holding it across `job()` is the `while let` trap.)
fn take_job(shared: &Shared) -> Option<Job> {
    // A worker panics only inside a job, never while holding this lock, so
    // a poisoned lock still guards a consistent receiver: use it.
    let receiver = shared
        .receiver
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    receiver.recv().ok()
}

/// Lives on a worker's stack; if the worker unwinds from a panicking job,
/// its `drop` starts a replacement so the pool keeps its size.
struct Sentinel {
    shared: Arc<Shared>,
    id: usize,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        if thread::panicking() {
            tracing::error!("worker {} panicked; starting a replacement", self.id);
            if let Err(e) = spawn_worker(&self.shared, self.id) {
                tracing::error!("cannot replace worker {}: {e}", self.id);
            }
        }
    }
}
// ANCHOR_END: worker

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, mpsc};
    use std::time::Duration;

    /// A meeting point: `arrive` returns true once `n` threads are inside
    /// at the same time, false if that does not happen within 5 s.
    struct Rendezvous {
        inside: Mutex<usize>,
        changed: Condvar,
        n: usize,
    }

    impl Rendezvous {
        fn arrive(&self) -> bool {
            let mut inside = self.inside.lock().unwrap();
            *inside += 1;
            self.changed.notify_all();
            let (inside, timeout) = self
                .changed
                .wait_timeout_while(inside, Duration::from_secs(5), |i| *i < self.n)
                .unwrap();
            drop(inside);
            !timeout.timed_out()
        }
    }

    // ANCHOR: parallel_test
    #[test]
    fn jobs_really_run_in_parallel() {
        // Four jobs that can only finish if all four run at the same time.
        let pool = ThreadPool::new("test", 4, 4);
        let meeting = Arc::new(Rendezvous {
            inside: Mutex::new(0),
            changed: Condvar::new(),
            n: 4,
        });
        let (done, results) = mpsc::channel();
        for _ in 0..4 {
            let meeting = Arc::clone(&meeting);
            let done = done.clone();
            pool.execute(move || done.send(meeting.arrive()).unwrap());
        }
        let met: Vec<bool> = results.iter().take(4).collect();
        assert_eq!(met, [true; 4], "the jobs did not all run at once");
    }
    // ANCHOR_END: parallel_test

    #[test]
    fn a_panicking_job_does_not_shrink_the_pool() {
        let pool = ThreadPool::new("test", 2, 8);
        for _ in 0..3 {
            pool.execute(|| panic!("a job that panics"));
        }
        // Still two workers: two jobs can again run at the same time.
        let meeting = Arc::new(Rendezvous {
            inside: Mutex::new(0),
            changed: Condvar::new(),
            n: 2,
        });
        let (done, results) = mpsc::channel();
        for _ in 0..2 {
            let meeting = Arc::clone(&meeting);
            let done = done.clone();
            pool.execute(move || done.send(meeting.arrive()).unwrap());
        }
        let met: Vec<bool> = results.iter().take(2).collect();
        assert_eq!(met, [true, true]);
    }

    #[test]
    fn shutdown_finishes_queued_jobs_and_joins_every_worker() {
        let finished = Arc::new(AtomicUsize::new(0));
        let pool = ThreadPool::new("test", 2, 16);
        for _ in 0..10 {
            let finished = Arc::clone(&finished);
            pool.execute(move || {
                thread::sleep(Duration::from_millis(10));
                finished.fetch_add(1, Ordering::SeqCst);
            });
        }
        drop(pool);
        // Drop returned only after all ten ran.
        assert_eq!(finished.load(Ordering::SeqCst), 10);
    }

    #[test]
    fn a_full_queue_refuses_more_until_a_worker_is_free() {
        let pool = ThreadPool::new("test", 1, 1);
        let (started, worker_busy) = mpsc::channel();
        let (release, gate) = mpsc::channel::<()>();
        // Job A occupies the only worker until released.
        pool.execute(move || {
            started.send(()).unwrap();
            let _ = gate.recv();
        });
        worker_busy.recv().unwrap();
        // Job B fills the queue (capacity 1).
        assert!(pool.try_execute(Box::new(|| {})).is_ok());
        // Job C finds no room: `execute` would wait here.
        assert!(pool.try_execute(Box::new(|| {})).is_err());
        release.send(()).unwrap();
    }
}
