//! The visits servlet: a counter kept in the session, and the request
//! shown back — the demo the original servlet engine shipped.
//!
//! Each request adds one to `visits` in the session and remembers when it
//! came; the page shows the count, the previous visits, the request line,
//! its headers and the CGI variables (the session id in them shortened:
//! the page must not give away what the `HttpOnly` cookie hides). Without
//! a session (mounted with `sessions = false`) it says so: the count needs
//! somewhere to live.

use std::time::SystemTime;

use step02_wsgi::gateway::AppError;

use super::{Request, Response, Servlet, escape};
use crate::session::Session;

/// How many previous visits the page lists.
const REMEMBERED: usize = 5;

/// The visits counter.
#[derive(Debug, Default)]
pub struct Visits;

// ANCHOR: visits
impl Servlet for Visits {
    fn run(
        &self,
        request: &Request,
        response: &mut Response,
        session: Option<&mut Session>,
    ) -> Result<(), AppError> {
        let Some(session) = session else {
            response.write("<p>This servlet is mounted without sessions.</p>");
            return Ok(());
        };
        let visits: u64 = session
            .get("visits")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
            + 1;
        session.set("visits", visits.to_string());
        // The last few visit times, newest first, as one string value.
        let now = httpdate::fmt_http_date(SystemTime::now());
        let previous = session.get("previous").unwrap_or_default();
        let mut times: Vec<&str> = previous.split('\n').filter(|t| !t.is_empty()).collect();
        let shown: Vec<String> = times
            .iter()
            .map(|t| format!("<li>{}</li>", escape(t)))
            .collect();
        times.insert(0, &now);
        times.truncate(REMEMBERED);
        session.set("previous", times.join("\n"));

        response.write(&format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Visits</title>\
             <link rel=\"stylesheet\" href=\"/style.css\"></head><body>\n\
             <h1>Visit number <span id=\"visits\">{visits}</span></h1>\n\
             <p>Session {} ({}).</p>\n",
            escape(&session.id().map(|id| id.short()).unwrap_or_default()),
            if session.is_new() { "new" } else { "resumed" },
        ));
        if shown.is_empty() {
            response.write("<p>No previous visits in this session.</p>\n");
        } else {
            response.write(&format!(
                "<h2>Previous visits</h2><ul>{}</ul>\n",
                shown.join("")
            ));
        }
        response.write(&format!(
            "<h2>The request</h2><p><code>{} {}{}</code></p>\n",
            escape(&request.method),
            escape(&request.script_name),
            escape(&request.path_info),
        ));
        // The cookie is HttpOnly so that a script in a page cannot read the
        // id; a page that prints it back (`Cookie:`, `HTTP_COOKIE`) would
        // hand it to any script that fetches this page. So it is shown
        // shortened, as in the logs.
        let id = session.id();
        let hide = |value: &str| match id {
            Some(id) => value.replace(&id.to_string(), &format!("{}…", id.short())),
            None => value.to_owned(),
        };
        response.write("<h2>Headers</h2><table>\n");
        for (name, value) in &request.headers {
            response.write(&format!(
                "<tr><th>{}</th><td>{}</td></tr>\n",
                escape(name),
                escape(&hide(value))
            ));
        }
        response.write("</table>\n<h2>Environment</h2><table>\n");
        for (name, value) in request.vars.iter() {
            response.write(&format!(
                "<tr><th>{}</th><td>{}</td></tr>\n",
                escape(name),
                escape(&hide(&String::from_utf8_lossy(value)))
            ));
        }
        response.write("</table>\n</body></html>\n");
        Ok(())
    }
}
// ANCHOR_END: visits
