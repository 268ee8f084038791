//! The login servlet: a session that changes privilege.
//!
//! `GET` shows who is signed in, or a form; `POST name=…` signs in,
//! `POST action=logout` signs out. Each change of privilege gets a *new*
//! session id (`Session::invalidate`, then the new data): an id that an attacker planted in the
//! victim's browser before the sign-in (session fixation) is worth nothing
//! after it. There are no passwords: the lesson is the session, not the
//! authentication.

use step02_wsgi::gateway::AppError;

use super::{Request, Response, Servlet, escape};
use crate::session::Session;

/// The longest name accepted.
const MAX_NAME: usize = 64;

/// The login example.
#[derive(Debug, Default)]
pub struct Login;

// ANCHOR: login
impl Servlet for Login {
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
        let here = if request.script_name.is_empty() {
            "/".to_owned()
        } else {
            request.script_name.clone()
        };
        if request.method == "POST" {
            if request.param("action") == Some("logout") {
                session.invalidate();
            } else {
                let name = request.param("name").unwrap_or("").trim();
                if name.is_empty() || name.chars().count() > MAX_NAME {
                    response.status = http::StatusCode::BAD_REQUEST;
                    response.write("<p>A name of 1 to 64 characters, please.</p>");
                    return Ok(());
                }
                // A new id for the new privilege, then the data.
                session.invalidate();
                session.set("user", name);
            }
            // Post/redirect/get: reloading the page does not post again.
            response.redirect(&here);
            return Ok(());
        }
        response.write(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Login</title>\
             <link rel=\"stylesheet\" href=\"/style.css\"></head><body>\n<h1>Login</h1>\n",
        );
        match session.get("user") {
            Some(user) => response.write(&format!(
                "<p>Signed in as <strong id=\"user\">{}</strong>.</p>\n\
                 <form method=\"post\"><input type=\"hidden\" name=\"action\" value=\"logout\">\
                 <button>Sign out</button></form>\n",
                escape(&user)
            )),
            None => response.write(
                "<p id=\"user\">Not signed in.</p>\n<form method=\"post\">\
                 <label>Name <input name=\"name\" maxlength=\"64\"></label> \
                 <button>Sign in</button></form>\n",
            ),
        }
        response.write("</body></html>\n");
        Ok(())
    }
}
// ANCHOR_END: login
