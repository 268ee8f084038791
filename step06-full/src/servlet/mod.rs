//! Servlets: small request handlers with plain request and response
//! objects, and a session kept for them.
//!
//! One of the systems Stepwise grew from was a servlet engine for Python:
//! the programmer wrote a class with `run(request, response)`, and the
//! engine gave it parsed parameters, collected its output, and managed a
//! session — a cookie, a map that survives between requests, locked
//! against concurrent requests. This module is that idea in Rust, built on
//! chapter 2's gateway rather than beside it:
//!
//! - a [`Servlet`] sees a [`Request`] (method, path, query and form
//!   parameters, headers, cookies) and fills a [`Response`] (status,
//!   headers, cookies, body), with the request's session if one is kept;
//! - [`ServletApp`] turns any servlet into a gateway [`Application`], so
//!   the server mounts servlets exactly as it mounts chapter 2's
//!   applications or a Flask app ([`crate::mount`]);
//! - [`sessions::Sessions`] is gateway *middleware*: it wraps any
//!   application, servlet or not, opens the request's session, and adds
//!   the `Set-Cookie` its answer needs.
//!
//! # Layout
//!
//! - [`sessions`] — the middleware between the server and an application.
//! - [`visits`] — the demo: a visit counter that shows the request.
//! - [`login`] — the demo: signing in and out, with the session id
//!   renewed at each change of privilege.

pub mod login;
pub mod sessions;
pub mod visits;

use std::borrow::Cow;
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};

use http::StatusCode;
use step02_wsgi::environ::Vars;
use step02_wsgi::gateway::{AppError, Application, Body, Environ, StartResponse, body_once};

use crate::session::Session;

/// The most form body a servlet's request parses (the server's own
/// `limits.max_body` applies first).
const MAX_FORM: usize = 1024 * 1024;

// ANCHOR: servlet
/// A servlet: one `run` per request.
pub trait Servlet: Send + Sync {
    /// Answers `request` by filling `response`. `session` is the request's
    /// session when the servlet is mounted with `sessions = true`.
    ///
    /// # Errors
    ///
    /// Any failure; the server answers 500 and logs it.
    fn run(
        &self,
        request: &Request,
        response: &mut Response,
        session: Option<&mut Session>,
    ) -> Result<(), AppError>;
}

/// What a servlet is told about the request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// Where the servlet is mounted (`/servlet/visits`).
    pub script_name: String,
    /// The path below it (`/extra`), maybe empty.
    pub path_info: String,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Form parameters of an `application/x-www-form-urlencoded` body.
    pub form: Vec<(String, String)>,
    /// Request headers (name lowercase, repeated ones joined), with
    /// `content-type` and `content-length`.
    pub headers: Vec<(String, String)>,
    /// Cookies, in the order sent.
    pub cookies: Vec<(String, String)>,
    /// Every CGI meta-variable, as chapter 2 built them.
    pub vars: Vars,
}

/// What a servlet answers.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status, 200 unless set.
    pub status: StatusCode,
    /// Headers, in order; `Content-Type` is `text/html; charset=utf-8`
    /// unless one is set here.
    pub headers: Vec<(String, String)>,
    /// `Set-Cookie` values, one header each.
    pub cookies: Vec<String>,
    /// The body.
    pub body: Vec<u8>,
}
// ANCHOR_END: servlet

impl Request {
    /// A query parameter, else a form parameter, by name: the first.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .chain(&self.form)
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A cookie by name: the first one sent.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request as the gateway describes it: meta-variables, and the
    /// body for the form.
    fn from_environ(environ: &mut Environ) -> Request {
        let vars = environ.vars.clone();
        let text = |name: &str| vars.get(name).map(Cow::into_owned).unwrap_or_default();
        let decode = |bytes: &[u8]| {
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect::<Vec<_>>()
        };
        let query = decode(text("QUERY_STRING").as_bytes());
        let is_form = text("CONTENT_TYPE").split(';').next().is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
        let mut body = Vec::new();
        if is_form {
            // Bounded twice: by the server's body limit, and here.
            let _ = environ
                .input
                .by_ref()
                .take(MAX_FORM as u64)
                .read_to_end(&mut body);
        }
        let headers = vars
            .iter()
            .filter_map(|(name, value)| {
                let name = header_name(name)?;
                Some((name, String::from_utf8_lossy(value).into_owned()))
            })
            .collect();
        let cookies = parse_cookies(&text("HTTP_COOKIE"));
        Request {
            method: text("REQUEST_METHOD"),
            script_name: text("SCRIPT_NAME"),
            path_info: text("PATH_INFO"),
            query,
            form: decode(&body),
            headers,
            cookies,
            vars,
        }
    }
}

/// The request header a meta-variable carries, lowercase: `HTTP_USER_AGENT`
/// → `user-agent`, and the two that CGI names without the prefix
/// (RFC 3875 §4.1.2–3), `CONTENT_TYPE` and `CONTENT_LENGTH`.
fn header_name(variable: &str) -> Option<String> {
    match variable {
        "CONTENT_TYPE" => Some("content-type".into()),
        "CONTENT_LENGTH" => Some("content-length".into()),
        _ => {
            let name = variable.strip_prefix("HTTP_")?;
            Some(name.to_ascii_lowercase().replace('_', "-"))
        }
    }
}

/// `a=1; b="two"` → [("a", "1"), ("b", "two")]; malformed pairs skipped.
fn parse_cookies(header: &str) -> Vec<(String, String)> {
    header
        .split(';')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let name = name.trim();
            if name.is_empty() {
                return None;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

impl Default for Response {
    fn default() -> Self {
        Response {
            status: StatusCode::OK,
            headers: Vec::new(),
            cookies: Vec::new(),
            body: Vec::new(),
        }
    }
}

impl Response {
    /// Appends text to the body.
    pub fn write(&mut self, text: &str) {
        self.body.extend_from_slice(text.as_bytes());
    }

    /// Sets (or replaces) a header.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
    }

    /// Adds a `Set-Cookie`: `name=value` with `attributes` (`Path=/;
    /// HttpOnly`), the value percent-encoded where a cookie cannot hold it.
    pub fn set_cookie(&mut self, name: &str, value: &str, attributes: &str) {
        let value: String = percent_encoding::utf8_percent_encode(value, COOKIE_VALUE).collect();
        let mut cookie = format!("{name}={value}");
        if !attributes.is_empty() {
            cookie.push_str("; ");
            cookie.push_str(attributes);
        }
        self.cookies.push(cookie);
    }

    /// A `303 See Other` to `location`: the answer to a form POST, so that
    /// reloading the page does not post it again.
    pub fn redirect(&mut self, location: &str) {
        self.status = StatusCode::SEE_OTHER;
        self.set_header("Location", location);
    }
}

/// What a cookie value may not hold as it is (RFC 6265 §4.1.1).
const COOKIE_VALUE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

// ANCHOR: servlet_app
/// A servlet as a gateway application.
pub struct ServletApp<S> {
    servlet: S,
}

impl<S: Servlet> ServletApp<S> {
    /// Wraps `servlet`.
    pub fn new(servlet: S) -> Self {
        ServletApp { servlet }
    }
}

impl<S: Servlet> Application for ServletApp<S> {
    fn call(&self, mut environ: Environ, start_response: StartResponse) -> Result<Body, AppError> {
        let request = Request::from_environ(&mut environ);
        let mut response = Response::default();
        // The session, if the middleware put one in the environ.
        let slot = environ.extensions.get::<SessionSlot>().cloned();
        match &slot {
            Some(slot) => {
                let mut guard = slot.0.lock().unwrap_or_else(PoisonError::into_inner);
                self.servlet.run(&request, &mut response, guard.as_mut())?;
            }
            None => self.servlet.run(&request, &mut response, None)?,
        }
        let mut headers = response.headers;
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type".into(), "text/html; charset=utf-8".into()));
        }
        // The length is the server's to state (a servlet's own could lie).
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
        headers.push(("Content-Length".into(), response.body.len().to_string()));
        for cookie in response.cookies {
            headers.push(("Set-Cookie".into(), cookie));
        }
        start_response.start(response.status, headers)?;
        Ok(body_once(response.body))
    }
}
// ANCHOR_END: servlet_app

/// The request's session, as the middleware hands it down through the
/// environ's extensions: shared, because the environ is moved into the
/// application while the middleware still needs the session afterwards.
#[derive(Clone, Default)]
pub struct SessionSlot(pub Arc<Mutex<Option<Session>>>);

/// Escapes text for HTML (servlets build their pages by hand).
pub fn escape(text: &str) -> String {
    step01_iterative::response::escape_html(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use step02_wsgi::gateway::ErrorStream;

    #[test]
    fn every_request_header_is_seen_content_type_and_length_included() {
        let mut vars = Vars::default();
        vars.set("REQUEST_METHOD", "POST");
        vars.set("CONTENT_TYPE", "application/x-www-form-urlencoded");
        vars.set("CONTENT_LENGTH", "7");
        vars.set("HTTP_X_REQUEST_ID", "abc");
        vars.set("SERVER_NAME", "example");
        let mut environ = Environ {
            vars,
            url_scheme: "http",
            input: Cursor::new(b"a=1&b=2".to_vec()),
            errors: ErrorStream::new("test"),
            multithread: true,
            multiprocess: false,
            run_once: false,
            extensions: http::Extensions::new(),
        };
        let request = Request::from_environ(&mut environ);
        assert_eq!(
            request.header("Content-Type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(request.header("content-length"), Some("7"));
        assert_eq!(request.header("x-request-id"), Some("abc"));
        // Meta-variables that are not headers stay out of `headers`.
        assert_eq!(request.header("server-name"), None);
        assert_eq!(request.param("b"), Some("2"));
    }
}
