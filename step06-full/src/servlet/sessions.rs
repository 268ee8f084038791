//! Sessions as gateway middleware: any mounted application gets one.
//!
//! [`Sessions`] sits between the server and an application, in the shape
//! chapter 2's `Timing` middleware showed: to the server it is the
//! application, to the application it is the server. For each request it
//!
//! 1. finds the session cookie and opens the session — lazily: nothing is
//!    read from disk until the application touches the session;
//! 2. hands the session down through the environ's extensions (WSGI's
//!    custom environ keys, typed), where [`super::ServletApp`] finds it;
//! 3. gives the application its *own* `start_response`, and runs its body
//!    to the end: the session must be saved (and its lock released) before
//!    the response head goes out, because the head carries its cookie;
//! 4. saves the session if it changed, and forwards the head with the
//!    `Set-Cookie` it needs and `Cache-Control: private`, since a page
//!    built from a session must not be stored by a shared cache.
//!
//! The lock is held from the first touch of the session until step 4, so
//! two requests of one session run their read-modify-write one after the
//! other: PHP's session lock, for the same reason.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use step02_wsgi::gateway::{AppError, Application, Body, Environ, StartResponse};

use super::SessionSlot;
use crate::log::Log;
use crate::session::{CookieSettings, Session, SessionStore, cookie};

// ANCHOR: sessions
/// Wraps an application so that each request has a session.
pub struct Sessions {
    inner: Arc<dyn Application>,
    store: Arc<dyn SessionStore>,
    idle: Duration,
    cookie: CookieSettings,
    /// The error log, where a session's problems are reported.
    errors: Log,
}

impl Sessions {
    /// Sessions from `store`, expiring after `idle` without a request,
    /// carried in the cookie `cookie`; problems go to `errors`.
    pub fn new(
        inner: Arc<dyn Application>,
        store: Arc<dyn SessionStore>,
        idle: Duration,
        cookie: CookieSettings,
        errors: Log,
    ) -> Self {
        Sessions {
            inner,
            store,
            idle,
            cookie,
            errors,
        }
    }
}

impl Application for Sessions {
    fn call(&self, mut environ: Environ, start_response: StartResponse) -> Result<Body, AppError> {
        let header = environ
            .vars
            .get("HTTP_COOKIE")
            .map(|c| c.into_owned())
            .unwrap_or_default();
        let presented = cookie::find(&[header.as_str()], &self.cookie.name);
        let session = Session::open(
            Arc::clone(&self.store),
            presented,
            self.idle,
            SystemTime::now(),
        )
        .reporting_to(self.errors.clone());
        let slot = SessionSlot(Arc::new(Mutex::new(Some(session))));
        environ.extensions.insert(slot.clone());

        // The application answers to our start_response, and its whole
        // body is produced now, while the session is open.
        let inner_start = StartResponse::new();
        let body = self.inner.call(environ, inner_start.clone())?;
        let mut chunks = Vec::new();
        for chunk in body {
            // An error drops the session unsaved (and unlocked): a request
            // that failed half-way changes nothing.
            chunks.push(chunk?);
        }
        let session = slot.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        let set_cookie = match session {
            Some(session) => session.finish(&self.cookie, SystemTime::now())?,
            None => None,
        };
        let Some(mut head) = inner_start.head() else {
            return Err("the application never called start_response".into());
        };
        if let Some(set_cookie) = set_cookie {
            head.headers
                .push(("Set-Cookie".into(), set_cookie.into_string()));
        }
        if head.header("cache-control").is_none() {
            head.headers
                .push(("Cache-Control".into(), "private".into()));
        }
        start_response.start_with_reason(head.status, head.reason, head.headers)?;
        Ok(Box::new(chunks.into_iter().map(Ok)))
    }
}
// ANCHOR_END: sessions
