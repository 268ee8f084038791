//! Where Python runs: long-lived threads, each attached for its whole life.
//!
//! Attaching a thread to the interpreter for one call and detaching it
//! afterwards creates and destroys a Python thread state each time: slow,
//! and it wipes `threading.local`, where Django keeps its per-thread
//! database connections. So, as Granian and other embedding servers do,
//! Python code runs only on a few dedicated threads. Each attaches once,
//! then loops: wait for a request with the GIL released (`py.detach`), run
//! it, wait again. The server's threads never touch Python.
//!
//! A request runs entirely on one worker: call the application, iterate its
//! response, call `close()`. Body chunks travel to the server through a
//! small bounded queue; a worker that must wait for room in it releases the
//! GIL while it waits, so the server's socket writes and other workers run.
//! When the server stops reading (done, failed, or the client left) it drops
//! its end of the queue: the worker's next send fails, it stops iterating,
//! and calls `close()` — on every path, as PEP 3333 requires.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use super::wsgi::{StartResponseFn, environ_dict};
use crate::gateway::{AppError, Environ, StartResponse};

/// How many chunks may wait between a worker and the server. Small: it
/// only smooths the hand-over; memory stays bounded per request.
pub const CHUNK_QUEUE: usize = 4;

/// How long the server waits, after it stopped reading a body, for the
/// worker to call `close()` (an application stuck in its iterator would
/// otherwise hold the connection forever).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a worker sends the server about one response.
#[derive(Debug)]
pub enum Message {
    /// A body chunk; `last` when the application's iterable is a list or
    /// tuple and this was its final item (so the length is known).
    Chunk {
        /// The bytes.
        bytes: Vec<u8>,
        /// Whether this is known to be the last chunk.
        last: bool,
    },
    /// The application raised; the text is the formatted traceback.
    Error(String),
    /// The body is complete and `close()` has been called.
    End,
}

/// One request handed to a worker.
pub struct Job {
    environ: Environ,
    start: StartResponse,
    multithread: bool,
    chunks: Sender<Message>,
    done: Sender<()>,
}

// ANCHOR: pool
/// The worker threads of one process.
pub struct Pool {
    jobs: Sender<Job>,
    /// The process that started these threads: after a fork, the child has
    /// none of them and must start its own.
    pub pid: u32,
}

impl Pool {
    /// Starts `threads` workers running `app`.
    ///
    /// # Errors
    ///
    /// If the OS cannot start a thread.
    pub fn start(app: Arc<Py<PyAny>>, threads: usize) -> std::io::Result<Pool> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            let app = Arc::clone(&app);
            thread::Builder::new()
                .name(format!("python-{n}"))
                .spawn(move || worker(&app, &queue))?;
        }
        Ok(Pool {
            jobs,
            pid: std::process::id(),
        })
    }

    /// Hands a request to the next free worker; returns its body.
    ///
    /// # Errors
    ///
    /// If every worker has exited (the interpreter failed).
    pub fn submit(
        &self,
        environ: Environ,
        start: StartResponse,
        multithread: bool,
    ) -> Result<PythonBody, AppError> {
        let (chunks, receiver) = bounded(CHUNK_QUEUE);
        let (done, finished) = bounded(1);
        let job = Job {
            environ,
            start,
            multithread,
            chunks,
            done,
        };
        self.jobs
            .send(job)
            .map_err(|_| "no Python worker is running")?;
        Ok(PythonBody {
            receiver: Some(receiver),
            finished,
            ended: false,
            last_seen: false,
        })
    }
}

/// A worker's life: attach once, then serve requests until the pool is
/// dropped.
fn worker(app: &Py<PyAny>, queue: &Receiver<Job>) {
    Python::attach(|py| {
        // Waiting for work must not hold the GIL.
        while let Ok(job) = py.detach(|| queue.recv()) {
            run_request(py, app, job);
        }
    });
}
// ANCHOR_END: pool

// ANCHOR: run_request
/// Runs one request on this worker: call, iterate, close; report errors.
fn run_request(py: Python<'_>, app: &Py<PyAny>, job: Job) {
    let Job {
        environ,
        start,
        multithread,
        chunks,
        done,
    } = job;
    let outcome = call_and_iterate(py, app, environ, start, multithread, &chunks);
    let last = match outcome {
        Ok(()) => Message::End,
        Err(error) => {
            let text = traceback(py, &error);
            tracing::error!(target: "wsgi", "the Python application raised:\n{text}");
            Message::Error(text)
        }
    };
    // The server may have stopped listening already; that is fine.
    py.detach(|| {
        let _ = chunks.send(last);
    });
    let _ = done.send(());
}

fn call_and_iterate(
    py: Python<'_>,
    app: &Py<PyAny>,
    environ: Environ,
    start: StartResponse,
    multithread: bool,
    chunks: &Sender<Message>,
) -> PyResult<()> {
    let environ = environ_dict(py, environ, multithread)?;
    let start_response = Bound::new(
        py,
        StartResponseFn {
            start,
            chunks: chunks.clone(),
        },
    )?;
    let iterable = app.bind(py).call1((environ, start_response))?;
    let iterated = send_chunks(py, &iterable, chunks);
    // close() is called whatever happened while iterating (PEP 3333). An
    // iteration error is reported first; a close() error otherwise.
    let closed = iterable
        .getattr_opt("close")
        .and_then(|close| close.map_or(Ok(()), |close| close.call0().map(drop)));
    iterated.and(closed)
}

/// Pulls the iterable's chunks and sends each one; stops early, without an
/// error, if the server stopped reading.
fn send_chunks(
    py: Python<'_>,
    iterable: &Bound<'_, PyAny>,
    chunks: &Sender<Message>,
) -> PyResult<()> {
    // For a list or tuple the number of chunks is known: the server may
    // then send a Content-Length (PEP 3333, "len(iterable) == 1").
    let known = if iterable.is_exact_instance_of::<PyList>()
        || iterable.is_exact_instance_of::<PyTuple>()
    {
        Some(iterable.len()?)
    } else {
        None
    };
    for (index, item) in iterable.try_iter()?.enumerate() {
        let item = item?;
        let bytes = item.cast::<PyBytes>().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "the application yielded {} instead of bytes",
                item.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        let message = Message::Chunk {
            bytes: bytes.as_bytes().to_vec(),
            last: known == Some(index + 1),
        };
        if py.detach(|| chunks.send(message)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}
// ANCHOR_END: run_request

/// A Python exception as the interpreter would print it.
pub fn traceback(py: Python<'_>, error: &PyErr) -> String {
    let formatted = py.import("traceback").and_then(|tb| {
        tb.call_method1(
            "format_exception",
            (error.get_type(py), error.value(py), error.traceback(py)),
        )
    });
    match formatted.and_then(|lines| lines.extract::<Vec<String>>()) {
        Ok(lines) => lines.concat(),
        Err(_) => error.to_string(),
    }
}

// ANCHOR: python_body
/// The body of a Python response, as the server sees it: chunks arriving
/// from the worker.
pub struct PythonBody {
    /// Dropped to tell the worker to stop (see the module docs).
    receiver: Option<Receiver<Message>>,
    /// Signalled when the worker has finished the request (close() called).
    finished: Receiver<()>,
    ended: bool,
    /// The last chunk of a list/tuple has been delivered: nothing follows.
    last_seen: bool,
}

impl Iterator for PythonBody {
    type Item = Result<Vec<u8>, AppError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let message = self.receiver.as_ref()?.recv();
        match message {
            Ok(Message::Chunk { bytes, last }) => {
                self.last_seen |= last;
                Some(Ok(bytes))
            }
            Ok(Message::Error(text)) => {
                self.ended = true;
                Some(Err(format!(
                    "the Python application raised: {}",
                    last_line(&text)
                )
                .into()))
            }
            Ok(Message::End) | Err(_) => {
                self.ended = true;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.ended || self.last_seen {
            (0, Some(0))
        } else {
            (0, None)
        }
    }
}

impl Drop for PythonBody {
    fn drop(&mut self) {
        // Stop the worker (its next send fails), then wait for close().
        drop(self.receiver.take());
        if self.finished.recv_timeout(CLOSE_TIMEOUT).is_err() && !self.ended {
            tracing::warn!(target: "wsgi", "the Python application did not finish within {CLOSE_TIMEOUT:?}");
        }
    }
}
// ANCHOR_END: python_body

/// The last non-empty line of a traceback: the exception itself.
fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
}
