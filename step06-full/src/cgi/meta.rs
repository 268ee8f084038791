//! A CGI request's meta-variables: chapter 2's environ, plus what a script
//! on disk needs to know.
//!
//! Chapter 2 built the environ of a WSGI application from a parsed request
//! with [`environ::build`], following RFC 3875's meta-variables because
//! WSGI borrowed them from CGI. A CGI script gets that very set — the
//! function is reused unchanged, fed a request rebuilt from hyper's parts
//! — and four more that only make sense for a file in a document root:
//! `SCRIPT_FILENAME`, `DOCUMENT_ROOT`, `PATH_TRANSLATED` and a fixed
//! `PATH`. Nothing of the server's own environment reaches the script:
//! [`crate::cgi::process`] clears it and sets exactly these.

use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use http::request::Parts;
use step01_iterative::HttpError;
use step01_iterative::request::{Framing, Header, Request, Version};
use step02_wsgi::environ::{self, Origin, Vars};

/// The `PATH` a script runs with (reference §1.1): the standard places,
/// never the server's own.
pub const SCRIPT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What the server found for a request that names a script.
#[derive(Debug, Clone)]
pub struct ScriptTarget {
    /// The script's canonical absolute path (`SCRIPT_FILENAME`).
    pub filename: std::path::PathBuf,
    /// The decoded URL path that names the script (`SCRIPT_NAME`,
    /// `/cgi-bin/env.cgi`).
    pub script_name: Vec<u8>,
    /// The decoded rest of the path (`PATH_INFO`, `/extra/p q`), maybe
    /// empty.
    pub path_info: Vec<u8>,
}

/// Everything beyond the request that goes into the variables.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The client's address and our end of the connection.
    pub peer: SocketAddr,
    /// Our end of the connection.
    pub local: SocketAddr,
    /// The document root, canonical (`DOCUMENT_ROOT`, `PATH_TRANSLATED`).
    pub document_root: &'a Path,
    /// Export `Authorization` (off unless configured, RFC 3875 §9.2).
    pub pass_authorization: bool,
    /// `SERVER_PROTOCOL` to report instead of the request's version:
    /// `INCLUDED` for a script run from a Server Side Include.
    pub protocol: Option<&'a str>,
}

// ANCHOR: variables
/// The meta-variables for running `script` on the request `parts`, whose
/// body (already read, and de-chunked) is `body_length` bytes long, or
/// `None` when the request has no body at all.
///
/// # Errors
///
/// 400 when the request path cannot be decoded (hyper has checked its
/// characters, but not its percent-escapes).
pub fn variables(
    parts: &Parts,
    body_length: Option<usize>,
    script: &ScriptTarget,
    context: &Context<'_>,
) -> Result<Vars, HttpError> {
    let request = request_of(parts);
    let origin = Origin {
        peer: context.peer,
        local: context.local,
        // The split is the resolver's (it walked the file system to find
        // where the script ends), so it is set below, not recomputed.
        script_name: String::new(),
        pass_authorization: context.pass_authorization,
    };
    let mut vars = environ::build(&request, &origin)?;
    vars.set("SCRIPT_NAME", script.script_name.clone());
    vars.set("PATH_INFO", script.path_info.clone());
    // CONTENT_LENGTH if and only if there is a body, with its length after
    // de-chunking: php-cgi reads exactly that many bytes, and nothing
    // without it.
    if let Some(length) = body_length {
        vars.set("CONTENT_LENGTH", length.to_string());
    }
    vars.set(
        "SCRIPT_FILENAME",
        script.filename.as_os_str().as_bytes().to_vec(),
    );
    let root = context.document_root.as_os_str().as_bytes();
    let root = if root.len() > 1 {
        root.strip_suffix(b"/").unwrap_or(root)
    } else {
        root
    };
    vars.set("DOCUMENT_ROOT", root.to_vec());
    // PATH_TRANSLATED: PATH_INFO mapped like a URL path, set only when
    // there is one (RFC 3875 §4.1.6).
    match vars.get_bytes("PATH_INFO").map(<[u8]>::to_vec) {
        Some(info) if !info.is_empty() => {
            let mut translated = root.to_vec();
            translated.extend_from_slice(&info);
            vars.set("PATH_TRANSLATED", translated);
        }
        _ => {
            vars.remove("PATH_INFO");
        }
    }
    if let Some(protocol) = context.protocol {
        vars.set("SERVER_PROTOCOL", protocol);
    }
    vars.set("PATH", SCRIPT_PATH);
    Ok(vars)
}
// ANCHOR_END: variables

/// Chapter 2's environ builder takes chapter 1's request type: this
/// rebuilds one from hyper's parts. Only the head is carried over; callers
/// set `CONTENT_LENGTH` from the body they read.
pub fn request_of(parts: &Parts) -> Request {
    Request {
        method: parts.method.as_str().to_owned(),
        target: parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned(),
        version: if parts.version == http::Version::HTTP_10 {
            Version::Http10
        } else {
            Version::Http11
        },
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| Header {
                name: name.as_str().to_owned(),
                value: value.as_bytes().to_vec(),
            })
            .collect(),
        framing: Framing::None,
        head: Vec::new(),
        body: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(request: http::Request<()>) -> Parts {
        request.into_parts().0
    }

    fn context(root: &Path) -> Context<'_> {
        Context {
            peer: "127.0.0.1:50000".parse().unwrap(),
            local: "127.0.0.1:8080".parse().unwrap(),
            document_root: root,
            pass_authorization: false,
            protocol: None,
        }
    }

    #[test]
    fn the_reference_example() {
        // Reference §1.2's example, row by row.
        let request = http::Request::post("/cgi-bin/env.cgi/extra/p%20q?x=1&y=%41")
            .header("host", "127.0.0.1:8080")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("user-agent", "test")
            .header("proxy", "evil")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(())
            .unwrap();
        let script = ScriptTarget {
            filename: "/srv/www/cgi-bin/env.cgi".into(),
            script_name: b"/cgi-bin/env.cgi".to_vec(),
            path_info: b"/extra/p q".to_vec(),
        };
        let root = Path::new("/srv/www/");
        let vars = variables(&parts(request), Some(7), &script, &context(root)).unwrap();
        let get = |name: &str| vars.get(name).map(|v| v.into_owned());
        assert_eq!(get("CONTENT_LENGTH").as_deref(), Some("7"));
        assert_eq!(
            get("CONTENT_TYPE").as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(get("GATEWAY_INTERFACE").as_deref(), Some("CGI/1.1"));
        assert_eq!(get("PATH_INFO").as_deref(), Some("/extra/p q"));
        assert_eq!(
            get("PATH_TRANSLATED").as_deref(),
            Some("/srv/www/extra/p q")
        );
        assert_eq!(get("QUERY_STRING").as_deref(), Some("x=1&y=%41"));
        assert_eq!(get("REMOTE_ADDR").as_deref(), Some("127.0.0.1"));
        assert_eq!(get("REQUEST_METHOD").as_deref(), Some("POST"));
        assert_eq!(get("SCRIPT_NAME").as_deref(), Some("/cgi-bin/env.cgi"));
        assert_eq!(get("SERVER_NAME").as_deref(), Some("127.0.0.1"));
        assert_eq!(get("SERVER_PORT").as_deref(), Some("8080"));
        assert_eq!(get("SERVER_PROTOCOL").as_deref(), Some("HTTP/1.1"));
        assert_eq!(
            get("SCRIPT_FILENAME").as_deref(),
            Some("/srv/www/cgi-bin/env.cgi")
        );
        assert_eq!(get("DOCUMENT_ROOT").as_deref(), Some("/srv/www"));
        assert_eq!(
            get("REQUEST_URI").as_deref(),
            Some("/cgi-bin/env.cgi/extra/p%20q?x=1&y=%41")
        );
        assert_eq!(get("HTTP_USER_AGENT").as_deref(), Some("test"));
        assert_eq!(get("HTTP_COOKIE").as_deref(), Some("a=1; b=2"));
        assert_eq!(get("PATH").as_deref(), Some(SCRIPT_PATH));
        assert_eq!(get("HTTP_PROXY"), None);
        assert_eq!(get("HTTP_CONTENT_TYPE"), None);
    }

    #[test]
    fn no_body_no_content_length_and_no_path_info() {
        let request = http::Request::get("/env.cgi")
            .header("host", "h")
            .header("authorization", "Basic eA==")
            .body(())
            .unwrap();
        let script = ScriptTarget {
            filename: "/srv/env.cgi".into(),
            script_name: b"/env.cgi".to_vec(),
            path_info: Vec::new(),
        };
        let mut ctx = context(Path::new("/srv"));
        ctx.protocol = Some("INCLUDED");
        let vars = variables(&parts(request), None, &script, &ctx).unwrap();
        assert!(vars.get("CONTENT_LENGTH").is_none());
        assert!(vars.get("PATH_INFO").is_none());
        assert!(vars.get("PATH_TRANSLATED").is_none());
        assert!(vars.get("HTTP_AUTHORIZATION").is_none());
        assert_eq!(vars.get("QUERY_STRING").as_deref(), Some(""));
        assert_eq!(vars.get("SERVER_PROTOCOL").as_deref(), Some("INCLUDED"));
    }
}
