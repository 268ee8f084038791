//! The request-target: splitting off the query and percent-decoding the path.
//!
//! A request line carries its target as raw text: `/echo?x=1`, or in absolute
//! form `http://host/echo?x=1`, or `*` for `OPTIONS`. The server splits off
//! the query (kept raw: it belongs to the application) and percent-decodes
//! the path **exactly once** before routing on it. Decoding twice, or
//! normalising before decoding, is how real servers have been tricked into
//! leaving their document root (Apache's CVE-2021-41773), so this file is
//! small on purpose and every later chapter reuses it.

use crate::error::HttpError;

/// A request-target split into its path and query, both still encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The path, from the first `/` up to `?` (or the end), still encoded.
    pub path: &'a str,
    /// The raw text after the first `?`, if there was a `?`.
    pub query: Option<&'a str>,
}

/// Splits a request-target into path and query.
///
/// Accepts origin-form (`/a?b`), absolute-form (`http://host/a?b`; the
/// authority is dropped, an empty path becomes `/`) and the asterisk form
/// `*`, which is returned as the path `*`. A fragment (`#…`) is never sent by
/// a conforming client, and is treated as part of the path or query.
///
/// # Errors
///
/// 400 for any other form: a target must start with `/`, `*` or a scheme.
pub fn split(target: &str) -> Result<Target<'_>, HttpError> {
    let rest = if target.starts_with('/') || target == "*" {
        target
    } else if let Some(after_scheme) = strip_scheme(target) {
        // absolute-form: skip the authority up to the first '/' or '?'.
        match after_scheme.find(['/', '?']) {
            Some(i) if after_scheme.as_bytes()[i] == b'/' => &after_scheme[i..],
            // "http://host?x" has an empty path: RFC 9112 §3.2.2 says "/".
            Some(i) => return Ok(with_root_path(&after_scheme[i + 1..])),
            None => "/",
        }
    } else {
        return Err(HttpError::bad_request(
            "request-target must start with '/', '*' or http://",
        ));
    };
    Ok(match rest.split_once('?') {
        Some((path, query)) => Target {
            path,
            query: Some(query),
        },
        None => Target {
            path: rest,
            query: None,
        },
    })
}

fn with_root_path(query: &str) -> Target<'_> {
    Target {
        path: "/",
        query: Some(query),
    }
}

/// Returns what follows `http://` or `https://` (case-insensitive scheme).
fn strip_scheme(target: &str) -> Option<&str> {
    for scheme in ["http://", "https://"] {
        if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some(&target[scheme.len()..]);
        }
    }
    None
}

/// Percent-decodes `input` exactly once.
///
/// `%41` becomes `A`; every other byte is copied as it is. A `+` stays a
/// `+`: turning it into a space is a rule of HTML forms, not of URL paths.
///
/// # Errors
///
/// 400 for a malformed escape (`%4`, `%zz`) and for `%00`: a NUL byte has no
/// business in a path, and C code further down (the OS's `open`, a CGI
/// script) would cut the string there.
pub fn percent_decode(input: &str) -> Result<Vec<u8>, HttpError> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| hex_value(*b));
            let lo = bytes.get(i + 2).and_then(|b| hex_value(*b));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(HttpError::bad_request("malformed percent-escape"));
            };
            let byte = hi << 4 | lo;
            if byte == 0 {
                return Err(HttpError::bad_request("%00 in request-target"));
            }
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Looks up `name` in a raw `a=1&b=2` query and percent-decodes its value
/// (with `+` as a space, as HTML forms encode it).
///
/// Returns `None` when the name is absent or its value is not valid text.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != name {
            return None;
        }
        let value = value.replace('+', " ");
        String::from_utf8(percent_decode(&value).ok()?).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_origin_form() {
        let t = split("/echo?x=1&y=%41").unwrap();
        assert_eq!(t.path, "/echo");
        assert_eq!(t.query, Some("x=1&y=%41"));
        assert_eq!(split("/a").unwrap().query, None);
        // An empty query is still a query: "?" was sent.
        assert_eq!(split("/a?").unwrap().query, Some(""));
    }

    #[test]
    fn splits_absolute_form() {
        let t = split("http://example.com:8080/a/b?q").unwrap();
        assert_eq!((t.path, t.query), ("/a/b", Some("q")));
        assert_eq!(split("HTTP://example.com").unwrap().path, "/");
        let t = split("https://example.com?x=1").unwrap();
        assert_eq!((t.path, t.query), ("/", Some("x=1")));
    }

    #[test]
    fn asterisk_form_and_garbage() {
        assert_eq!(split("*").unwrap().path, "*");
        assert!(split("echo").is_err());
        assert!(split("ftp://x/").is_err());
        assert!(split("").is_err());
    }

    #[test]
    fn decodes_exactly_once() {
        assert_eq!(percent_decode("/a%20b").unwrap(), b"/a b");
        // %2541 is "%41" after one decoding, never "A".
        assert_eq!(percent_decode("/%2541").unwrap(), b"/%41");
        assert_eq!(percent_decode("/%2e%2E").unwrap(), b"/..");
        assert_eq!(percent_decode("/a+b").unwrap(), b"/a+b");
        assert_eq!(percent_decode("/%ff").unwrap(), vec![b'/', 0xff]);
    }

    #[test]
    fn rejects_bad_escapes_and_nul() {
        for bad in ["/%", "/%4", "/%zz", "/%4g", "/a%00b"] {
            let err = percent_decode(bad).unwrap_err();
            assert_eq!(err.status, 400, "{bad}");
        }
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param("ms=250&x=1", "ms").as_deref(), Some("250"));
        assert_eq!(query_param("a=x+y%21", "a").as_deref(), Some("x y!"));
        assert_eq!(query_param("flag", "flag").as_deref(), Some(""));
        assert_eq!(query_param("ms=1", "m"), None);
        assert_eq!(query_param("a=%zz", "a"), None);
    }
}
