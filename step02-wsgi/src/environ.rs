//! The environ: a request described as CGI/1.1 meta-variables.
//!
//! CGI (RFC 3875) hands a request to a program as environment variables:
//! `REQUEST_METHOD=GET`, `PATH_INFO=/hello`, `QUERY_STRING=x=1`, one
//! `HTTP_*` variable per header, and so on. WSGI kept the same names for its
//! `environ` dict, and so does this chapter's gateway. [`build`] is a pure
//! function from a parsed request and the connection's addresses to those
//! variables; chapter 6's CGI runs scripts with the very same function.
//!
//! Values are bytes, as they are in a real process environment: a decoded
//! `PATH_INFO` may hold any byte but NUL. The Python gateway turns them into
//! latin-1 strings (PEP 3333), CGI into `OsString`s, and Rust applications
//! read them through [`Vars::get`] as text.
//!
//! The rules follow RFC 3875 §4.1 and the project's server-behaviour
//! reference §1.2–1.3, and each has a test below.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;

use step01_iterative::request::{Framing, Request};
use step01_iterative::response::SERVER_NAME;
use step01_iterative::{HttpError, target};

/// The meta-variables of one request: name → value bytes, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars(BTreeMap<String, Vec<u8>>);

impl Vars {
    /// The value of `name` as text (bytes that are not UTF-8 are replaced).
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        self.0.get(name).map(|v| String::from_utf8_lossy(v))
    }

    /// The value of `name` as the raw bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.0.get(name).map(Vec::as_slice)
    }

    /// Sets (or replaces) a variable.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.0.insert(name.into(), value.into());
    }

    /// Removes a variable.
    pub fn remove(&mut self, name: &str) -> Option<Vec<u8>> {
        self.0.remove(name)
    }

    /// Every variable, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// How many variables there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the environ needs to know beyond the request itself.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The client's address (`REMOTE_ADDR`, `REMOTE_PORT`).
    pub peer: SocketAddr,
    /// Our end of the connection (`SERVER_PORT`, `SERVER_ADDR`, and
    /// `SERVER_NAME` when the request has no `Host`).
    pub local: SocketAddr,
    /// The URL prefix the application is mounted at, still encoded (`""`
    /// at the root, `/app` under a prefix): it becomes `SCRIPT_NAME`, and
    /// the rest of the path `PATH_INFO`.
    pub script_name: String,
    /// Whether to export `Authorization` as `HTTP_AUTHORIZATION`. RFC 3875
    /// §9.2 says not to hand credentials to scripts unless configured; an
    /// in-process application that does its own authentication needs them.
    pub pass_authorization: bool,
}

// ANCHOR: build
/// Builds the meta-variables for `request` (whose body has been read, and
/// de-chunked if it was chunked).
///
/// # Errors
///
/// 400 if the path is not under `origin.script_name` or cannot be decoded
/// (a parsed request's path always can).
pub fn build(request: &Request, origin: &Origin) -> Result<Vars, HttpError> {
    let mut vars = Vars::default();
    let parts = request.target_parts();
    let (script_name, path_info) = split_script_name(parts.path, &origin.script_name)?;

    vars.set("REQUEST_METHOD", request.method.as_str());
    vars.set("SCRIPT_NAME", target::percent_decode(script_name)?);
    vars.set("PATH_INFO", target::percent_decode(path_info)?);
    // The query stays encoded: only the application knows how to split it.
    vars.set("QUERY_STRING", parts.query.unwrap_or(""));
    vars.set("REQUEST_URI", request.target.as_str());
    vars.set("SERVER_PROTOCOL", request.version.as_str());
    vars.set("SERVER_NAME", server_name(request, origin));
    vars.set("SERVER_PORT", origin.local.port().to_string());
    vars.set("SERVER_ADDR", origin.local.ip().to_string());
    vars.set("SERVER_SOFTWARE", SERVER_NAME);
    vars.set("GATEWAY_INTERFACE", "CGI/1.1");
    vars.set("REMOTE_ADDR", origin.peer.ip().to_string());
    vars.set("REMOTE_PORT", origin.peer.port().to_string());
    vars.set("REQUEST_SCHEME", "http");

    // CONTENT_LENGTH if and only if the request has a body; its value is the
    // length after de-chunking, so a chunked upload gets one too.
    if request.framing != Framing::None {
        vars.set("CONTENT_LENGTH", request.body.len().to_string());
    }
    if let Some(content_type) = request.header("content-type") {
        vars.set("CONTENT_TYPE", content_type);
    }
    for (name, value) in http_variables(request, origin.pass_authorization) {
        vars.set(name, value);
    }
    Ok(vars)
}
// ANCHOR_END: build

/// Splits the encoded path into `SCRIPT_NAME` and `PATH_INFO` at the mount
/// prefix: `/app/x` under `/app` → (`/app`, `/x`). The prefix matches whole
/// segments only, so `/application` is not under `/app`.
fn split_script_name<'a>(path: &'a str, prefix: &str) -> Result<(&'a str, &'a str), HttpError> {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return Ok(("", path));
    }
    match path.strip_prefix(prefix) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => Ok((&path[..prefix.len()], rest)),
        _ => Err(HttpError::bad_request(
            "path is not under the application's prefix",
        )),
    }
}

/// The `Host` header without its port, or our own address if there is none.
fn server_name(request: &Request, origin: &Origin) -> String {
    let Some(host) = request.header("host").filter(|h| !h.is_empty()) else {
        return origin.local.ip().to_string();
    };
    let host = String::from_utf8_lossy(host);
    // "[::1]:8080" → "[::1]"; "example.com:8080" → "example.com".
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(&host)
    } else {
        host.split(':').next().unwrap_or(&host)
    };
    name.to_owned()
}

// ANCHOR: http_variables
/// One `HTTP_*` variable per request header (RFC 3875 §4.1.18).
///
/// - The name is uppercased with `-` turned into `_`: `User-Agent` →
///   `HTTP_USER_AGENT`.
/// - A name with any character but letters, digits and `-` is dropped:
///   otherwise `X_Forwarded_For` would arrive as the same variable as
///   `X-Forwarded-For`, letting a client forge a header a proxy set.
/// - `Proxy` is never exported: `HTTP_PROXY` is what many HTTP libraries
///   read as *their* proxy setting (the "httpoxy" vulnerability).
/// - `Content-Type` and `Content-Length` have their own variables;
///   `Transfer-Encoding` no longer applies to the de-chunked body.
/// - Repeated headers are joined with `, `, except `Cookie`, which takes
///   `; ` — with `, ` PHP would read two cookies as one.
fn http_variables(request: &Request, pass_authorization: bool) -> BTreeMap<String, Vec<u8>> {
    let mut vars: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for header in &request.headers {
        let name = header.name.as_str();
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            continue;
        }
        let skipped = [
            "proxy",
            "content-type",
            "content-length",
            "transfer-encoding",
        ];
        if skipped.iter().any(|s| name.eq_ignore_ascii_case(s)) {
            continue;
        }
        let credentials = ["authorization", "proxy-authorization"];
        if credentials.iter().any(|s| name.eq_ignore_ascii_case(s))
            && !(pass_authorization && name.eq_ignore_ascii_case("authorization"))
        {
            continue;
        }
        let key = format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"));
        let separator: &[u8] = if key == "HTTP_COOKIE" { b"; " } else { b", " };
        vars.entry(key)
            .and_modify(|value| {
                value.extend_from_slice(separator);
                value.extend_from_slice(&header.value);
            })
            .or_insert_with(|| header.value.clone());
    }
    vars
}
// ANCHOR_END: http_variables

#[cfg(test)]
mod tests {
    use super::*;
    use step01_iterative::request::parse_head;

    fn origin(script_name: &str) -> Origin {
        Origin {
            peer: "10.0.0.7:51000".parse().unwrap(),
            local: "127.0.0.1:8080".parse().unwrap(),
            script_name: script_name.to_owned(),
            pass_authorization: false,
        }
    }

    fn environ(bytes: &[u8], script_name: &str) -> Vars {
        let (mut request, used) = parse_head(bytes).unwrap().unwrap();
        request.body = bytes[used..].to_vec();
        build(&request, &origin(script_name)).unwrap()
    }

    fn var(vars: &Vars, name: &str) -> Option<String> {
        vars.get(name).map(Cow::into_owned)
    }

    /// The reference example of server-behaviour.md §1.2.
    #[test]
    fn the_reference_example() {
        let vars = environ(
            b"POST /cgi-bin/env.cgi/extra/p%20q?x=1&y=%41 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2",
            "/cgi-bin/env.cgi",
        );
        let expect = [
            ("REQUEST_METHOD", "POST"),
            ("SCRIPT_NAME", "/cgi-bin/env.cgi"),
            ("PATH_INFO", "/extra/p q"),
            ("QUERY_STRING", "x=1&y=%41"),
            ("REQUEST_URI", "/cgi-bin/env.cgi/extra/p%20q?x=1&y=%41"),
            ("CONTENT_LENGTH", "7"),
            ("CONTENT_TYPE", "application/x-www-form-urlencoded"),
            ("SERVER_NAME", "127.0.0.1"),
            ("SERVER_PORT", "8080"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("REMOTE_ADDR", "10.0.0.7"),
            ("REMOTE_PORT", "51000"),
        ];
        for (name, value) in expect {
            assert_eq!(var(&vars, name).as_deref(), Some(value), "{name}");
        }
        assert_eq!(var(&vars, "SERVER_SOFTWARE").as_deref(), Some(SERVER_NAME));
        // Content-* have their own variables, never HTTP_CONTENT_*.
        assert!(vars.get("HTTP_CONTENT_TYPE").is_none());
        assert!(vars.get("HTTP_CONTENT_LENGTH").is_none());
    }

    #[test]
    fn at_the_root_script_name_is_empty() {
        let vars = environ(b"GET /hello/w%C3%B6rld HTTP/1.1\r\nHost: h\r\n\r\n", "");
        assert_eq!(var(&vars, "SCRIPT_NAME").as_deref(), Some(""));
        assert_eq!(var(&vars, "PATH_INFO").as_deref(), Some("/hello/wörld"));
        assert_eq!(var(&vars, "QUERY_STRING").as_deref(), Some(""));
    }

    #[test]
    fn path_info_keeps_non_utf8_bytes_and_case() {
        let vars = environ(b"GET /A%ffB HTTP/1.1\r\nHost: h\r\n\r\n", "");
        assert_eq!(vars.get_bytes("PATH_INFO"), Some(&b"/A\xffB"[..]));
    }

    #[test]
    fn script_name_matches_whole_segments() {
        let vars = environ(b"GET /app HTTP/1.1\r\nHost: h\r\n\r\n", "/app/");
        assert_eq!(var(&vars, "SCRIPT_NAME").as_deref(), Some("/app"));
        assert_eq!(var(&vars, "PATH_INFO").as_deref(), Some(""));
        let (request, _) = parse_head(b"GET /application HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(build(&request, &origin("/app")).unwrap_err().status, 400);
    }

    #[test]
    fn content_length_only_with_a_body() {
        let get = environ(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", "");
        assert!(get.get("CONTENT_LENGTH").is_none());
        assert!(get.get("CONTENT_TYPE").is_none());
        let empty_post = environ(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            "",
        );
        assert_eq!(var(&empty_post, "CONTENT_LENGTH").as_deref(), Some("0"));
    }

    #[test]
    fn chunked_bodies_get_their_decoded_length() {
        let (mut request, _) =
            parse_head(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap()
                .unwrap();
        request.body = b"hello world".to_vec();
        let vars = build(&request, &origin("")).unwrap();
        assert_eq!(var(&vars, "CONTENT_LENGTH").as_deref(), Some("11"));
        assert!(vars.get("HTTP_TRANSFER_ENCODING").is_none());
    }

    #[test]
    fn header_names_with_other_characters_are_dropped() {
        let vars = environ(
            b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\nX_Forwarded_For: 6.6.6.6\r\nX.Dot: 1\r\n\r\n",
            "",
        );
        assert_eq!(
            var(&vars, "HTTP_X_FORWARDED_FOR").as_deref(),
            Some("1.2.3.4")
        );
        assert!(vars.iter().all(|(k, _)| !k.contains("DOT")));
    }

    #[test]
    fn repeated_headers_are_joined_and_cookies_with_semicolons() {
        let vars = environ(
            b"GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\naccept: b\r\nCookie: c1=1\r\nCookie: c2=2\r\n\r\n",
            "",
        );
        assert_eq!(var(&vars, "HTTP_ACCEPT").as_deref(), Some("a, b"));
        assert_eq!(var(&vars, "HTTP_COOKIE").as_deref(), Some("c1=1; c2=2"));
    }

    #[test]
    fn no_httpoxy_and_no_credentials_by_default() {
        let bytes = b"GET / HTTP/1.1\r\nHost: h\r\nProxy: http://evil\r\nAuthorization: Basic eA==\r\nProxy-Authorization: x\r\n\r\n";
        let vars = environ(bytes, "");
        assert!(vars.get("HTTP_PROXY").is_none());
        assert!(vars.get("HTTP_AUTHORIZATION").is_none());
        assert!(vars.get("HTTP_PROXY_AUTHORIZATION").is_none());
        let (request, _) = parse_head(bytes).unwrap().unwrap();
        let trusted = Origin {
            pass_authorization: true,
            ..origin("")
        };
        let vars = build(&request, &trusted).unwrap();
        assert_eq!(
            var(&vars, "HTTP_AUTHORIZATION").as_deref(),
            Some("Basic eA==")
        );
        assert!(vars.get("HTTP_PROXY_AUTHORIZATION").is_none());
    }

    #[test]
    fn server_name_comes_from_host_without_port() {
        let v6 = environ(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "");
        assert_eq!(var(&v6, "SERVER_NAME").as_deref(), Some("[::1]"));
        let none = environ(b"GET / HTTP/1.0\r\n\r\n", "");
        assert_eq!(var(&none, "SERVER_NAME").as_deref(), Some("127.0.0.1"));
        let http10 = environ(b"GET / HTTP/1.0\r\n\r\n", "");
        assert_eq!(var(&http10, "SERVER_PROTOCOL").as_deref(), Some("HTTP/1.0"));
    }
}
