//! The demo site, written with the tiny framework.
//!
//! It stands in for the Flask, Pyramid and Django apps of the tutorials
//! this project grew from: a site with a few pages, a form, a slow page for
//! the later chapters, a streamed page, and two pages that fail on purpose
//! so you can watch the server survive them.

use std::thread;
use std::time::Duration;

use step01_iterative::response::escape_html;

use super::framework::{Resp, Router};
use crate::gateway::{AppError, Body};

/// Longest `/sleep` allowed, as in chapter 1.
pub const MAX_SLEEP_MS: u64 = 60_000;

/// Most lines `/stream` sends, and the longest pause between them.
const MAX_STREAM_LINES: u64 = 1_000;
const MAX_STREAM_PAUSE_MS: u64 = 5_000;

// ANCHOR: app
/// The demo application.
pub fn app() -> Router {
    Router::new()
        // Links start with SCRIPT_NAME, so that they stay inside the
        // application wherever a server mounts it (`/apps/demo/hello/…`).
        .get("/", |req| {
            let prefix = req.vars.get("SCRIPT_NAME").unwrap_or_default();
            let prefix = escape_html(prefix.trim_end_matches('/'));
            Ok(Resp::html(
                INDEX.replace("href=\"/", &format!("href=\"{prefix}/")),
            ))
        })
        .get("/hello/:name", |req| {
            let name = escape_html(req.param("name"));
            Ok(Resp::html(format!(
                "<!DOCTYPE html>\n<h1>Hello, {name}!</h1>\n"
            )))
        })
        .get("/form", |_| Ok(Resp::html(FORM)))
        .post("/form", |req| {
            let name = escape_html(req.form("name").unwrap_or("stranger"));
            let message = escape_html(req.form("message").unwrap_or(""));
            Ok(Resp::html(format!(
                "<!DOCTYPE html>\n<h1>Thank you, {name}</h1>\n<p>You wrote: {message}</p>\n"
            )))
        })
        .get("/sleep", |req| {
            let ms = number(req.query("ms"), 5_000, MAX_SLEEP_MS)?;
            thread::sleep(Duration::from_millis(ms));
            Ok(Resp::text(format!("slept {ms} ms\n")))
        })
        .get("/stream", |req| {
            let lines = number(req.query("n"), 5, MAX_STREAM_LINES)?;
            let pause = number(req.query("ms"), 200, MAX_STREAM_PAUSE_MS)?;
            Ok(Resp::stream(
                "text/plain; charset=utf-8",
                counting(lines, pause),
            ))
        })
        .get("/environ", |req| {
            // The same listing as `--app environ`, from inside a framework.
            let mut text = String::new();
            for (name, value) in req.vars.iter() {
                let value = String::from_utf8_lossy(value);
                text.push_str(&format!("{name}={}\n", value.escape_debug()));
            }
            Ok(Resp::text(text))
        })
        .get("/fail", |_| {
            Err("this handler returns an error on purpose".into())
        })
        .get("/panic", |_| -> Result<Resp, AppError> {
            panic!("this handler panics on purpose")
        })
}
// ANCHOR_END: app

/// A query number with a default and an upper bound.
fn number(value: Option<&str>, default: u64, max: u64) -> Result<u64, AppError> {
    match value {
        None => Ok(default),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(format!("expected a number from 0 to {max}, got {text:?}").into()),
        },
    }
}

// ANCHOR: counting
/// A body produced lazily: line i is made (after a pause) only when the
/// server asks for it, and sent at once — chunked, since no length is known.
fn counting(lines: u64, pause_ms: u64) -> Body {
    Box::new((1..=lines).map(move |i| {
        if i > 1 {
            thread::sleep(Duration::from_millis(pause_ms));
        }
        Ok(format!("line {i} of {lines}\n").into_bytes())
    }))
}
// ANCHOR_END: counting

const INDEX: &str = "<!DOCTYPE html>
<html><head><title>Stepwise, chapter 2</title></head>
<body>
<h1>A site behind the gateway</h1>
<p>This page comes from an application that knows nothing about sockets.</p>
<ul>
<li><a href=\"/hello/world\">/hello/world</a> &mdash; a route with a parameter</li>
<li><a href=\"/form\">/form</a> &mdash; a form posted back to the application</li>
<li><a href=\"/environ?x=1\">/environ</a> &mdash; every variable the application receives</li>
<li><a href=\"/stream?n=5&amp;ms=500\">/stream</a> &mdash; a body sent as it is produced</li>
<li><a href=\"/sleep?ms=5000\">/sleep?ms=5000</a> &mdash; a slow page</li>
<li><a href=\"/fail\">/fail</a> and <a href=\"/panic\">/panic</a> &mdash; pages that fail; the server survives</li>
</ul>
</body></html>
";

const FORM: &str = "<!DOCTYPE html>
<html><head><title>A form</title></head>
<body>
<h1>Say hello</h1>
<form method=\"post\" action=\"form\">
<p><label>Name <input name=\"name\"></label></p>
<p><label>Message <textarea name=\"message\"></textarea></label></p>
<p><button>Send</button></p>
</form>
</body></html>
";
