//! A tiny web framework, built on nothing but the gateway interface.
//!
//! Flask, Pyramid and Django all sit on WSGI: the server hands them an
//! environ, and they turn it into something pleasant — a request object,
//! routes with parameters, parsed forms, error pages. This file does the
//! same in about two hundred lines, to show there is no magic: a
//! [`Router`] is just an [`Application`].
//!
//! ```text
//! let app = Router::new()
//!     .get("/hello/:name", |req| Ok(Resp::html(format!("Hi {}", req.param("name")))));
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};

use http::StatusCode;
use step01_iterative::response::{escape_html, status_line_text};

use crate::environ::Vars;
use crate::gateway::{AppError, Application, Body, Environ, StartResponse, body_once};

/// What a route handler receives: the request, already decoded.
#[derive(Debug, Clone, Default)]
pub struct Req {
    /// `GET`, `POST`, …
    pub method: String,
    /// The decoded path inside the application (`PATH_INFO`, `/` if empty).
    pub path: String,
    /// Values of the route's `:name` segments.
    pub params: BTreeMap<String, String>,
    /// The query string's pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// An `application/x-www-form-urlencoded` body's pairs, decoded.
    pub form: Vec<(String, String)>,
    /// Every meta-variable, for anything else.
    pub vars: Vars,
}

impl Req {
    /// The value of path parameter `name` (empty if the route has none).
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }

    /// The first query value called `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    /// The first form value called `name`.
    pub fn form(&self, name: &str) -> Option<&str> {
        first(&self.form, name)
    }
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What a route handler returns.
pub struct Resp {
    /// The status.
    pub status: StatusCode,
    /// The headers (`Content-Type` and any others).
    pub headers: Vec<(String, String)>,
    /// The body: whole, or streamed chunk by chunk.
    pub body: Body,
}

impl Resp {
    /// A 200 HTML page.
    pub fn html(body: impl Into<Vec<u8>>) -> Self {
        Self::with_type(StatusCode::OK, "text/html; charset=utf-8", body)
    }

    /// A 200 plain-text page.
    pub fn text(body: impl Into<Vec<u8>>) -> Self {
        Self::with_type(StatusCode::OK, "text/plain; charset=utf-8", body)
    }

    /// A streamed body of the given type: each chunk is sent as it comes.
    pub fn stream(content_type: &str, body: Body) -> Self {
        Resp {
            status: StatusCode::OK,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }

    /// A page with a status, type and body.
    pub fn with_type(status: StatusCode, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Resp {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body_once(body),
        }
    }

    /// An HTML error page for `status`, with an escaped explanation.
    pub fn error(status: StatusCode, detail: &str) -> Self {
        let title = status_line_text(status);
        let page = format!(
            "<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n\
             <body><h1>{title}</h1><p>{}</p></body></html>\n",
            escape_html(detail)
        );
        Self::with_type(status, "text/html; charset=utf-8", page)
    }

    /// Adds a header (builder style).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A route handler: a function from request to response.
pub type Handler = Box<dyn Fn(&Req) -> Result<Resp, AppError> + Send + Sync>;

/// One piece of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Must equal this text.
    Literal(String),
    /// Matches any one non-empty segment, captured under this name.
    Param(String),
}

struct Route {
    method: &'static str,
    pattern: Vec<Segment>,
    handler: Handler,
}

// ANCHOR: router
/// Routes requests by method and path pattern (`/hello/:name`).
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// A router with no routes (everything is 404).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a GET route (which also answers HEAD).
    pub fn get<F>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Req) -> Result<Resp, AppError> + Send + Sync + 'static,
    {
        self.route("GET", pattern, handler)
    }

    /// Adds a POST route.
    pub fn post<F>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Req) -> Result<Resp, AppError> + Send + Sync + 'static,
    {
        self.route("POST", pattern, handler)
    }

    /// Adds a route for `method`.
    pub fn route<F>(mut self, method: &'static str, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Req) -> Result<Resp, AppError> + Send + Sync + 'static,
    {
        self.routes.push(Route {
            method,
            pattern: parse_pattern(pattern),
            handler: Box::new(handler),
        });
        self
    }

    /// Finds the response for `req`: the matching route's, or 404 / 405.
    pub fn dispatch(&self, req: &mut Req) -> Result<Resp, AppError> {
        let segments: Vec<&str> = split_path(&req.path);
        let mut allowed = Vec::new();
        for route in &self.routes {
            let Some(params) = match_pattern(&route.pattern, &segments) else {
                continue;
            };
            let method_matches =
                route.method == req.method || (route.method == "GET" && req.method == "HEAD");
            if method_matches {
                req.params = params;
                return (route.handler)(req);
            }
            allowed.push(route.method);
            if route.method == "GET" {
                allowed.push("HEAD");
            }
        }
        if allowed.is_empty() {
            return Ok(Resp::error(
                StatusCode::NOT_FOUND,
                "no route matches this path",
            ));
        }
        Ok(Resp::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "this path does not take that method",
        )
        .header("Allow", &allowed.join(", ")))
    }
}
// ANCHOR_END: router

// ANCHOR: router_application
impl Application for Router {
    fn call(&self, mut environ: Environ, start_response: StartResponse) -> Result<Body, AppError> {
        let mut req = request_from(&mut environ)?;
        let resp = match self.dispatch(&mut req) {
            Ok(resp) => resp,
            // A handler's error: log it through wsgi.errors, show a 500 page.
            Err(e) => {
                let _ = writeln!(environ.errors, "handler failed: {e}");
                Resp::error(StatusCode::INTERNAL_SERVER_ERROR, "the page failed")
            }
        };
        start_response.start(resp.status, resp.headers)?;
        Ok(resp.body)
    }
}
// ANCHOR_END: router_application

/// Builds a [`Req`] from the environ: decoded path, query and form.
fn request_from(environ: &mut Environ) -> Result<Req, AppError> {
    let vars = &environ.vars;
    let path = vars
        .get("PATH_INFO")
        .map(|p| p.into_owned())
        .unwrap_or_default();
    let query_string = vars
        .get("QUERY_STRING")
        .map(|q| q.into_owned())
        .unwrap_or_default();
    let is_form = vars
        .get("CONTENT_TYPE")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let mut form = Vec::new();
    if is_form {
        let mut body = Vec::new();
        environ.input.read_to_end(&mut body)?;
        form = decode_pairs(&body);
    }
    Ok(Req {
        method: vars
            .get("REQUEST_METHOD")
            .map(|m| m.into_owned())
            .unwrap_or_default(),
        path: if path.is_empty() { "/".into() } else { path },
        params: BTreeMap::new(),
        query: decode_pairs(query_string.as_bytes()),
        form,
        vars: vars.clone(),
    })
}

/// `a=1&b=x+y%21` → [("a","1"), ("b","x y!")], as HTML forms encode them.
fn decode_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    split_path(pattern)
        .into_iter()
        .map(|s| match s.strip_prefix(':') {
            Some(name) => Segment::Param(name.to_owned()),
            None => Segment::Literal(s.to_owned()),
        })
        .collect()
}

/// `/a/b/` → ["a", "b"]; `/` → [].
fn split_path(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn match_pattern(pattern: &[Segment], segments: &[&str]) -> Option<BTreeMap<String, String>> {
    if pattern.len() != segments.len() {
        return None;
    }
    let mut params = BTreeMap::new();
    for (part, segment) in pattern.iter().zip(segments) {
        match part {
            Segment::Literal(text) if text == segment => {}
            Segment::Literal(_) => return None,
            Segment::Param(name) => {
                params.insert(name.clone(), (*segment).to_owned());
            }
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new()
            .get("/", |_| Ok(Resp::text("home")))
            .get("/hello/:name", |req| {
                Ok(Resp::text(format!("hi {}", req.param("name"))))
            })
            .post("/form", |req| {
                Ok(Resp::text(req.form("name").unwrap_or("?").to_owned()))
            })
    }

    fn req(method: &str, path: &str) -> Req {
        Req {
            method: method.into(),
            path: path.into(),
            ..Req::default()
        }
    }

    fn body_text(resp: Resp) -> String {
        let bytes: Vec<u8> = resp.body.flat_map(|c| c.unwrap()).collect();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn routes_with_parameters() {
        let r = router();
        assert_eq!(body_text(r.dispatch(&mut req("GET", "/")).unwrap()), "home");
        let resp = r.dispatch(&mut req("GET", "/hello/Ann")).unwrap();
        assert_eq!(body_text(resp), "hi Ann");
        // HEAD is answered by the GET route.
        assert_eq!(
            r.dispatch(&mut req("HEAD", "/hello/x")).unwrap().status,
            200
        );
    }

    #[test]
    fn not_found_and_method_not_allowed() {
        let r = router();
        assert_eq!(r.dispatch(&mut req("GET", "/hello")).unwrap().status, 404);
        assert_eq!(
            r.dispatch(&mut req("GET", "/hello/a/b")).unwrap().status,
            404
        );
        let resp = r.dispatch(&mut req("GET", "/form")).unwrap();
        assert_eq!(resp.status, 405);
        assert!(resp.headers.contains(&("Allow".into(), "POST".into())));
    }

    #[test]
    fn decodes_forms_like_browsers_send_them() {
        assert_eq!(
            decode_pairs(b"name=Ann+B&x=%41%26"),
            [
                ("name".to_owned(), "Ann B".to_owned()),
                ("x".to_owned(), "A&".to_owned())
            ]
        );
    }
}
