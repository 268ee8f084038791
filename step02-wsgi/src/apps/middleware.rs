//! Middleware: an application that wraps another.
//!
//! To the server, [`Timing`] is an application; to the application it
//! wraps, it is the server. It passes the environ through, hands the inner
//! application its *own* `start_response`, and when the first chunk of the
//! body comes back, forwards the inner head to the real `start_response`
//! with one header added: `X-Response-Time`, the time until the first byte.
//! When the body is finished (dropped), it logs the total time.
//!
//! This is the pattern behind WSGI middleware stacks (sessions, gzip,
//! authentication, error pages): each layer wraps `start_response` and the
//! body, and neither the server nor the inner application can tell.

use std::time::Instant;

use crate::gateway::{AppError, Application, Body, Environ, StartResponse};

// ANCHOR: timing
/// Wraps an application to time it.
#[derive(Debug)]
pub struct Timing<A> {
    inner: A,
}

impl<A: Application> Timing<A> {
    /// Wraps `inner`.
    pub fn new(inner: A) -> Self {
        Timing { inner }
    }
}

impl<A: Application> Application for Timing<A> {
    fn call(&self, environ: Environ, start_response: StartResponse) -> Result<Body, AppError> {
        let started = Instant::now();
        let label = format!(
            "{} {}",
            environ.vars.get("REQUEST_METHOD").unwrap_or_default(),
            environ.vars.get("REQUEST_URI").unwrap_or_default()
        );
        // The inner application talks to our start_response, not the server's.
        let inner_start = StartResponse::new();
        let body = self.inner.call(environ, inner_start.clone())?;
        Ok(Box::new(TimedBody {
            body,
            inner_start,
            outer_start: start_response,
            started,
            forwarded: false,
            label,
        }))
    }
}

/// The inner body, passed through; forwards the head before the first
/// chunk and logs when it is dropped.
struct TimedBody {
    body: Body,
    inner_start: StartResponse,
    outer_start: StartResponse,
    started: Instant,
    forwarded: bool,
    label: String,
}

impl TimedBody {
    /// Copies the inner head to the server, with our header added.
    fn forward_head(&mut self) -> Result<(), AppError> {
        self.forwarded = true;
        let Some(mut head) = self.inner_start.head() else {
            // The inner application never started: let the server see that.
            return Ok(());
        };
        let elapsed = self.started.elapsed();
        head.headers.push((
            "X-Response-Time".into(),
            format!("{:.3}ms", elapsed.as_secs_f64() * 1000.0),
        ));
        self.outer_start
            .start_with_reason(head.status, head.reason, head.headers)?;
        Ok(())
    }
}

impl Iterator for TimedBody {
    type Item = Result<Vec<u8>, AppError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.body.next();
        // The inner start_response may have been called lazily, inside its
        // body: so forward only now, when the first item (or the end) is here.
        if !self.forwarded
            && let Err(e) = self.forward_head()
        {
            return Some(Err(e));
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.body.size_hint()
    }
}

impl Drop for TimedBody {
    fn drop(&mut self) {
        tracing::info!(
            target: "timing",
            "{} took {:.3}ms",
            self.label,
            self.started.elapsed().as_secs_f64() * 1000.0
        );
    }
}
// ANCHOR_END: timing
