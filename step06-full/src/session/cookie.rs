//! The session cookie: finding it in `Cookie:` and writing `Set-Cookie:`.
//!
//! Reading follows RFC 6265 §4.2 (`Cookie: a=1; b=2`), leniently as
//! browsers and servers do (§5.4 is the browser's side): pairs split at
//! `;`, spaces and tabs around names and values ignored, a value in
//! double quotes unquoted, a pair without `=` or with an empty name
//! skipped. Several `Cookie:` fields (HTTP/2 sends one per cookie) read
//! as one list. The value is not trusted here: it is only ever used after
//! [`SessionId::parse`] accepts it.
//!
//! Writing produces the one `Set-Cookie` value the session needs:
//!
//! ```text
//! STEPWISE_SESSION=<32 hex digits>; Path=/; HttpOnly; SameSite=Lax[; Secure]
//! ```
//!
//! `HttpOnly` keeps the id away from page scripts, so an XSS hole cannot
//! read it; `SameSite=Lax` keeps the browser from sending it on
//! cross-site POSTs and subrequests (most CSRF), while a plain link from
//! another site still arrives logged in; `Secure` (when the server is
//! behind HTTPS) keeps it off plain HTTP. There is no `Expires` or
//! `Max-Age`: the cookie lives as long as the browser session, and the
//! server's idle timeout decides how long the session itself lives.
//!
//! Cookie parsing is small enough to write, and the rules it follows are
//! this file's lesson; a crate such as `cookie` would be the choice for a
//! server that handles many cookies.

use std::fmt;

use super::id::SessionId;

/// The cookie name when the configuration gives none.
pub const DEFAULT_COOKIE_NAME: &str = "STEPWISE_SESSION";

/// How the session cookie is named and scoped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSettings {
    /// The cookie's name: an RFC 6265 token (letters, digits and
    /// `!#$%&'*+-.^_`|~`); see [`CookieSettings::validate`].
    pub name: String,
    /// The URL path the browser sends the cookie for: `/` for the whole
    /// site, or the prefix an application is mounted at.
    pub path: String,
    /// Whether to add `Secure`: set it when clients reach the server over
    /// HTTPS (a TLS proxy in front), so the id never crosses plain HTTP.
    pub secure: bool,
}

impl Default for CookieSettings {
    fn default() -> CookieSettings {
        CookieSettings {
            name: DEFAULT_COOKIE_NAME.to_string(),
            path: "/".to_string(),
            secure: false,
        }
    }
}

/// Why a [`CookieSettings`] cannot make a valid `Set-Cookie` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid session cookie setting: {0}")]
pub struct InvalidCookieSettings(String);

impl CookieSettings {
    /// Checks that the name is a token and the path is a path that cannot
    /// end the attribute early (no `;`, no control characters), so every
    /// header built from these settings is well formed. The configuration
    /// calls it once at start-up.
    ///
    /// # Errors
    ///
    /// [`InvalidCookieSettings`] naming the offending setting.
    pub fn validate(&self) -> Result<(), InvalidCookieSettings> {
        if self.name.is_empty() || !self.name.bytes().all(is_token_byte) {
            return Err(InvalidCookieSettings(format!(
                "the name {:?} is not a token",
                self.name
            )));
        }
        let path_ok = self.path.starts_with('/')
            && self
                .path
                .bytes()
                .all(|b| b != b';' && !b.is_ascii_control() && b.is_ascii());
        if !path_ok {
            return Err(InvalidCookieSettings(format!(
                "the path {:?} must start with / and hold no ; or control characters",
                self.path
            )));
        }
        Ok(())
    }
}

/// Whether `byte` may appear in an RFC 7230 token (RFC 6265's
/// cookie-name).
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// The value of a `Set-Cookie` header for the session cookie.
///
/// Built only by [`SetCookie::session`] and [`SetCookie::delete`], so it
/// always carries the attributes above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie(String);

impl SetCookie {
    /// The cookie that hands session `id` to the browser.
    pub fn session(settings: &CookieSettings, id: &SessionId) -> SetCookie {
        SetCookie(attributes(settings, &id.to_string(), false))
    }

    /// The cookie that tells the browser to forget the session cookie
    /// (an empty value that expires at once), sent after a logout or when
    /// the cookie named no live session.
    pub fn delete(settings: &CookieSettings) -> SetCookie {
        SetCookie(attributes(settings, "", true))
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The header value, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for SetCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `NAME=VALUE; Path=…; [Max-Age=0; ]HttpOnly; SameSite=Lax[; Secure]`.
///
/// A deletion must carry the same name and `Path` as the cookie it
/// deletes: the browser keys cookies by name, domain *and* path.
fn attributes(settings: &CookieSettings, value: &str, delete: bool) -> String {
    let mut header = format!("{}={value}; Path={}", settings.name, settings.path);
    if delete {
        header.push_str("; Max-Age=0");
    }
    header.push_str("; HttpOnly; SameSite=Lax");
    if settings.secure {
        header.push_str("; Secure");
    }
    header
}

/// The value of the cookie called `name` in the request's `Cookie:`
/// header values, or `None`.
///
/// The *first* occurrence wins. When a browser holds two cookies of the
/// same name (one for `/`, one for `/app`), RFC 6265 §5.4 has it send the
/// one with the longer path first, which is the one the application at
/// that path set. Names compare case-sensitively, as the RFC says.
pub fn find<'a>(cookie_headers: &[&'a str], name: &str) -> Option<&'a str> {
    cookie_headers
        .iter()
        .flat_map(|header| header.split(';'))
        .filter_map(pair)
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// One `name=value` pair, trimmed and unquoted; `None` if malformed.
fn pair(text: &str) -> Option<(&str, &str)> {
    let (name, value) = text.split_once('=')?;
    let name = name.trim_matches(is_space);
    if name.is_empty() {
        return None;
    }
    let value = value.trim_matches(is_space);
    // RFC 6265's cookie-value may be wrapped in DQUOTEs, which are not
    // part of the value.
    let value = value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value);
    Some((name, value))
}

/// The whitespace allowed around cookie pairs: space and tab.
fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn finds_a_cookie_among_others() {
        let headers = ["theme=dark; STEPWISE_SESSION=abc; lang=en"];
        assert_eq!(find(&headers, "STEPWISE_SESSION"), Some("abc"));
        assert_eq!(find(&headers, "theme"), Some("dark"));
        assert_eq!(find(&headers, "lang"), Some("en"));
        assert_eq!(find(&headers, "missing"), None);
        assert_eq!(find(&[], "theme"), None);
    }

    #[test]
    fn tolerates_whitespace_and_unquotes() {
        let headers = [" \ta = 1 ;\tb=\"two\" ;c=\"\";d=\"half"];
        assert_eq!(find(&headers, "a"), Some("1"));
        assert_eq!(find(&headers, "b"), Some("two"));
        assert_eq!(find(&headers, "c"), Some(""));
        // An unbalanced quote is left alone; SessionId::parse refuses it.
        assert_eq!(find(&headers, "d"), Some("\"half"));
    }

    #[test]
    fn the_first_occurrence_wins_across_headers() {
        let headers = ["x=1; s=first", "s=second; y=2"];
        assert_eq!(find(&headers, "s"), Some("first"));
        assert_eq!(find(&headers, "y"), Some("2"));
    }

    #[test]
    fn malformed_pairs_are_skipped() {
        let headers = ["junk; =nameless; ;;  ; s=ok; s"];
        assert_eq!(find(&headers, "s"), Some("ok"));
        assert_eq!(find(&headers, "junk"), None);
        assert_eq!(find(&headers, ""), None);
    }

    #[test]
    fn names_match_exactly() {
        let headers = ["XSTEPWISE_SESSION=1; stepwise_session=2; STEPWISE_SESSIONX=3"];
        assert_eq!(find(&headers, "STEPWISE_SESSION"), None);
        // A value may itself hold `=`: only the first one splits.
        assert_eq!(find(&["a=b=c"], "a"), Some("b=c"));
    }

    #[test]
    fn the_session_cookie_has_every_attribute() {
        let id = SessionId::parse(ID).unwrap();
        let settings = CookieSettings::default();
        assert_eq!(
            SetCookie::session(&settings, &id).as_str(),
            format!("STEPWISE_SESSION={ID}; Path=/; HttpOnly; SameSite=Lax")
        );
        let secure = CookieSettings {
            name: "sid".into(),
            path: "/app".into(),
            secure: true,
        };
        assert_eq!(
            SetCookie::session(&secure, &id).to_string(),
            format!("sid={ID}; Path=/app; HttpOnly; SameSite=Lax; Secure")
        );
    }

    #[test]
    fn the_deletion_cookie_expires_at_once_with_the_same_scope() {
        let settings = CookieSettings {
            secure: true,
            ..CookieSettings::default()
        };
        assert_eq!(
            SetCookie::delete(&settings).into_string(),
            "STEPWISE_SESSION=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn settings_that_would_break_the_header_are_refused() {
        assert!(CookieSettings::default().validate().is_ok());
        for (name, path) in [
            ("", "/"),
            ("a b", "/"),
            ("a;b", "/"),
            ("a=b", "/"),
            ("s\u{e9}", "/"),
            ("sid", ""),
            ("sid", "relative"),
            ("sid", "/a; Domain=evil.example"),
            ("sid", "/a\r\nX-Injected: 1"),
        ] {
            let settings = CookieSettings {
                name: name.into(),
                path: path.into(),
                secure: false,
            };
            assert!(settings.validate().is_err(), "{name:?} {path:?}");
        }
    }
}
