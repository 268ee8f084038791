//! Validators, conditional requests and ranges: deciding between 200, 206,
//! 304, 412 and 416 before a byte of the file is read.
//!
//! A file carries two *validators* ([`validators`]): a strong `ETag` built
//! from its size and its modification time to the nanosecond, and a
//! `Last-Modified` date in whole seconds. A client that already holds a
//! copy sends them back in `If-None-Match` / `If-Modified-Since` ("send it
//! only if it changed": 304 otherwise), an editor about to overwrite sends
//! `If-Match` / `If-Unmodified-Since` ("only if nobody changed it": 412
//! otherwise), and a download manager resuming a transfer sends `Range`
//! with `If-Range` ("the rest — but only of the copy I started"). Chapter 5
//! honoured `If-Modified-Since` alone; this chapter does the whole set, in
//! the order RFC 9110 §13.2.2 fixes ([`evaluate`], then [`range`]).
//!
//! Everything here is a pure function of the request headers and the
//! validators: no file is opened and no clock is read (the caller passes
//! `now`), so every rule of the server-behaviour reference §6.3–6.5 is a
//! unit test below rather than a round trip through a socket.

use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use http::header::{self, HeaderMap, HeaderName};

/// The last second an HTTP-date can name, 9999-12-31 23:59:59 UTC.
///
/// httpdate panics when asked to format a later time (or one before 1970),
/// and a file's mtime is whatever `touch -d` said, so every date this
/// module sends is first clamped into the range the format can express.
const LATEST_HTTP_DATE: u64 = 253_402_300_799;

/// What a file is compared by: sent with every response for it, and
/// checked against the conditional headers of the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// The strong entity-tag, quotes included (`"c-6553f1a03ade68b1"`):
    /// sent as `ETag` and compared with `If-None-Match`, `If-Match` and
    /// `If-Range`.
    pub etag: String,
    /// The modification time in whole seconds, never later than the
    /// response's `Date`: sent as `Last-Modified` and compared with
    /// `If-Modified-Since`, `If-Unmodified-Since` and `If-Range`.
    pub last_modified: SystemTime,
}

// ANCHOR: validators
/// The validators of a file of `size` bytes last modified at `modified`,
/// for a response dated `now`.
///
/// The `ETag` is `"SIZE-SECSNANOS"` in hex: the size, then the mtime in
/// seconds since 1970 followed by its nanoseconds as exactly eight hex
/// digits (a billion fits in eight, so the two never run into each other).
/// Nanoseconds matter: a file rewritten twice within one second with the
/// same length — a log line replaced, a counter bumped — keeps its size
/// and its `Last-Modified`, and only the nanoseconds tell the versions
/// apart. (Apache's microseconds come close; nginx's whole seconds miss
/// such a change.)
///
/// `Last-Modified` is the mtime truncated to the second, since that is all
/// an HTTP-date can say, and clamped to `now`: a file dated in the future
/// (a clock that was wrong, an archive unpacked with its dates) would hand
/// clients a date that the next, correctly dated version falls before, so
/// that version would look "not modified since" and be answered 304 until
/// the clock caught up.
pub fn validators(size: u64, modified: SystemTime, now: SystemTime) -> Validators {
    let etag = match modified.duration_since(UNIX_EPOCH) {
        Ok(since) => {
            let (secs, nanos) = (since.as_secs(), since.subsec_nanos());
            format!("\"{size:x}-{secs:x}{nanos:08x}\"")
        }
        // Before 1970 (`touch -d 1960-01-01` works): a minus sign, so the
        // tag can never equal the one of a date after the epoch.
        Err(before) => {
            let before = before.duration();
            let (secs, nanos) = (before.as_secs(), before.subsec_nanos());
            format!("\"{size:x}--{secs:x}{nanos:08x}\"")
        }
    };
    Validators {
        etag,
        last_modified: whole_seconds(modified.min(now)),
    }
}
// ANCHOR_END: validators

/// The `Last-Modified` header value: an IMF-fixdate such as
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
///
/// Dates outside what the format can express (before 1970, after the
/// year 9999) are clamped to its ends rather than refused.
pub fn last_modified_header(v: &Validators) -> String {
    httpdate::fmt_http_date(whole_seconds(v.last_modified))
}

/// `time` truncated to whole seconds and clamped into the years
/// 1970–9999, where httpdate can format it.
fn whole_seconds(time: SystemTime) -> SystemTime {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
        .min(LATEST_HTTP_DATE);
    // Cannot overflow: every platform's SystemTime reaches the year 9999.
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// The verdict of the preconditions on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// No precondition stops the request: go on to [`range`].
    Proceed,
    /// 304 Not Modified: the client's copy is current. No body, but the
    /// `ETag` and the caching headers the 200 would have carried.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

// ANCHOR: evaluate
/// Evaluates the conditional headers of a request for a file with
/// validators `v`, in the order of RFC 9110 §13.2.2.
///
/// 1. `If-Match` (strong comparison, or `*`): no match → 412. When it is
///    absent, `If-Unmodified-Since`: modified after that date → 412.
/// 2. `If-None-Match` (weak comparison, or `*`): a match → 304 for GET and
///    HEAD, 412 for any other method. When it is absent, and only for GET
///    and HEAD, `If-Modified-Since`: not modified after that date → 304.
///
/// In each pair the entity-tag header overrides the date: a tag changes
/// with every change, a date only once a second. nginx answers a
/// non-matching `If-None-Match` sent with a matching `If-Modified-Since`
/// with 200, and so does this. A date that does not parse, or a date
/// header sent twice, is ignored as if absent.
pub fn evaluate(method: &Method, headers: &HeaderMap, v: &Validators) -> Precondition {
    let last_modified = whole_seconds(v.last_modified);
    let safe = method == Method::GET || method == Method::HEAD;

    // Step 1, "has nobody changed it since I looked?": If-Match, or else
    // If-Unmodified-Since. An absent or unreadable date asks nothing.
    let unchanged = match list_matches(headers, &header::IF_MATCH, &v.etag, strong_match) {
        Some(matched) => matched,
        None => {
            let until = date(headers, &header::IF_UNMODIFIED_SINCE);
            until.is_none_or(|until| last_modified <= until)
        }
    };
    if !unchanged {
        return Precondition::Failed;
    }

    // Step 2, "has it changed since my copy?": If-None-Match, or else
    // If-Modified-Since, which only a GET or a HEAD may ask.
    match list_matches(headers, &header::IF_NONE_MATCH, &v.etag, weak_match) {
        Some(true) if safe => Precondition::NotModified,
        // Any other method fails rather than gets 304: a PUT guarded by
        // `If-None-Match: *` means "create it, unless it already exists".
        Some(true) => Precondition::Failed,
        Some(false) => Precondition::Proceed,
        None if safe => {
            let since = date(headers, &header::IF_MODIFIED_SINCE);
            if since.is_some_and(|since| last_modified <= since) {
                Precondition::NotModified
            } else {
                Precondition::Proceed
            }
        }
        None => Precondition::Proceed,
    }
}
// ANCHOR_END: evaluate

/// An entity-tag as it appears in a list: `"abc"` or `W/"abc"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntityTag<'a> {
    /// Marked `W/`: the same meaning, not necessarily the same bytes.
    weak: bool,
    /// What is between the quotes.
    opaque: &'a str,
}

/// The entity-tags of a comma-separated list, in order.
///
/// The list is scanned tag by tag rather than split at commas, because a
/// comma is a legal character *inside* the quotes (`"a,b"` is one tag).
/// Scanning stops at the first thing that is not a tag: a malformed list
/// contributes the tags before the fault, never a match made up from it.
fn entity_tags(list: &str) -> impl Iterator<Item = EntityTag<'_>> {
    let mut rest = list;
    std::iter::from_fn(move || {
        // Empty list elements and whitespace around commas are allowed.
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let (weak, tag) = match rest.strip_prefix("W/") {
            Some(tag) => (true, tag),
            None => (false, rest),
        };
        let (opaque, after) = tag.strip_prefix('"')?.split_once('"')?;
        rest = after;
        Some(EntityTag { weak, opaque })
    })
}

/// Strong comparison (RFC 9110 §8.8.3.2): neither tag weak, same bytes.
/// Required where the bytes themselves must be the same: `If-Match`
/// guards a write, `If-Range` stitches two downloads together.
fn strong_match(a: EntityTag<'_>, b: EntityTag<'_>) -> bool {
    !a.weak && !b.weak && a.opaque == b.opaque
}

/// Weak comparison: the same tag, `W/` or not. Enough for a cache to
/// decide its copy is still good, which is what `If-None-Match` asks.
fn weak_match(a: EntityTag<'_>, b: EntityTag<'_>) -> bool {
    a.opaque == b.opaque
}

/// Whether an `If-Match` / `If-None-Match` header matches `etag`: `None`
/// when the header is absent, `Some(true)` when it is `*` or lists a tag
/// that matches by `compare`.
///
/// A list may be split over several header lines (RFC 9110 §5.3), so all
/// of them are read. A line that is not visible ASCII matches nothing.
fn list_matches(
    headers: &HeaderMap,
    name: &HeaderName,
    etag: &str,
    compare: fn(EntityTag<'_>, EntityTag<'_>) -> bool,
) -> Option<bool> {
    let mut lines = headers.get_all(name).iter().peekable();
    lines.peek()?;
    // Our own tag, parsed the same way; if it were malformed only `*`
    // could match it.
    let ours = entity_tags(etag).next();
    Some(lines.any(|line| match line.to_str() {
        Ok(list) if list.trim() == "*" => true,
        Ok(list) => ours.is_some_and(|ours| entity_tags(list).any(|tag| compare(tag, ours))),
        Err(_) => false,
    }))
}

/// The value of a header that must appear exactly once, as text: `None`
/// when it is absent, repeated, or not visible ASCII.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let mut lines = headers.get_all(name).iter();
    match (lines.next(), lines.next()) {
        (Some(only), None) => only.to_str().ok(),
        _ => None,
    }
}

/// A date header as a time, or `None` when it is absent, repeated or not
/// a valid HTTP-date (RFC 9110 §13.1.3–4: such a header is ignored).
/// httpdate accepts the three formats HTTP allows: IMF-fixdate, RFC 850
/// and asctime.
fn date(headers: &HeaderMap, name: &HeaderName) -> Option<SystemTime> {
    httpdate::parse_http_date(single(headers, name)?.trim()).ok()
}

/// What to send of a file once the preconditions let the request proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeOutcome {
    /// 200 with the whole file: there is no `Range`, or it is ignored.
    Full,
    /// 206 with these bytes (never empty), and a `Content-Range` from
    /// [`content_range`].
    Partial(Range<u64>),
    /// 416 with `Content-Range: bytes */LEN`: the range starts at or past
    /// the end of the file.
    Unsatisfiable,
}

// ANCHOR: range
/// The part of a file of `length` bytes that a GET asks for with `Range`.
///
/// A `Range` header is a request the server may decline, and declining
/// means sending the whole file (200), so `Full` is the answer to
/// everything this server does not do:
///
/// - methods other than GET (a HEAD describes the 200, not a 206);
/// - units other than `bytes`, and malformed specs such as `bytes=5-2`
///   (the reference allows 416 there too; nginx sends it);
/// - an `If-Range` that is not exactly the current strong `ETag` or the
///   exact `Last-Modified` string: the client's partial copy is of an
///   older version, and gluing new bytes to it would corrupt it;
/// - several ranges (`bytes=0-1,5-6`): answering them needs a
///   `multipart/byteranges` body, and the whole file is an allowed
///   answer. Only the first two specs are ever looked at, so a header
///   listing thousands costs nothing (the reference asks for a cap of 16).
///
/// One range is `a-b` (end clamped to the file), `a-` (to the end) or
/// `-n` (the last `n` bytes). It is unsatisfiable when it starts at or
/// past the end, or is the empty suffix `-0`. A file of zero bytes has no
/// byte to start at, so only a non-zero suffix is satisfiable there — and
/// its "last n bytes" are no bytes at all, which no `Content-Range` can
/// express, so the answer is the whole (empty) file.
pub fn range(method: &Method, headers: &HeaderMap, length: u64, v: &Validators) -> RangeOutcome {
    if method != Method::GET {
        return RangeOutcome::Full;
    }
    let Some(value) = single(headers, &header::RANGE) else {
        return RangeOutcome::Full;
    };
    if headers.contains_key(header::IF_RANGE) && !if_range_holds(headers, v) {
        return RangeOutcome::Full;
    }
    let Some((unit, set)) = value.split_once('=') else {
        return RangeOutcome::Full;
    };
    // Range units are case-insensitive (RFC 9110 §14.1).
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeOutcome::Full;
    }
    let mut specs = set
        .split(',')
        .map(str::trim)
        .filter(|spec| !spec.is_empty());
    match (specs.next(), specs.next()) {
        (Some(only), None) => one_range(only, length),
        // No spec at all is malformed; two or more is a multipart answer
        // this server does not give.
        _ => RangeOutcome::Full,
    }
}
// ANCHOR_END: range

/// One byte-range spec (`a-b`, `a-` or `-n`) against a file of `length`.
fn one_range(spec: &str, length: u64) -> RangeOutcome {
    let Some((first, last)) = spec.split_once('-') else {
        return RangeOutcome::Full;
    };
    if first.is_empty() {
        // A suffix: the last n bytes, or the whole file if it is shorter.
        return match number(last) {
            None => RangeOutcome::Full,
            Some(0) => RangeOutcome::Unsatisfiable,
            Some(_) if length == 0 => RangeOutcome::Full,
            Some(n) => RangeOutcome::Partial(length - n.min(length)..length),
        };
    }
    let Some(start) = number(first) else {
        return RangeOutcome::Full;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match number(last) {
            Some(end) if end >= start => end,
            _ => return RangeOutcome::Full,
        }
    };
    if start >= length {
        return RangeOutcome::Unsatisfiable;
    }
    // `length >= 1` here, since start < length: no underflow, no overflow.
    RangeOutcome::Partial(start..end.min(length - 1) + 1)
}

/// A decimal position: ASCII digits only (`str::parse` would also take
/// `+5`), saturating instead of failing on overflow — a first byte past
/// `u64::MAX` is past the end of any file, a last byte past it is clamped
/// to the end like any other.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |n, digit| {
        n.saturating_mul(10).saturating_add(u64::from(digit - b'0'))
    }))
}

/// `If-Range`: the range is honoured only for the very version the client
/// holds part of. The comparison is exact text: the strong `ETag` (a weak
/// tag never matches, since weak means "maybe not the same bytes"), or
/// the `Last-Modified` value as this server sends it.
fn if_range_holds(headers: &HeaderMap, v: &Validators) -> bool {
    let Some(value) = single(headers, &header::IF_RANGE) else {
        return false;
    };
    let value = value.trim();
    (value == v.etag && !v.etag.starts_with("W/")) || value == last_modified_header(v)
}

/// The `Content-Range` of a 206: `bytes FIRST-LAST/LENGTH`, where LAST is
/// the last byte included (`0..5` of 12 bytes is `bytes 0-4/12`).
///
/// An empty range (which [`range`] never returns) has no last byte, and is
/// written in the unsatisfied form `bytes */LENGTH`, which is also the
/// `Content-Range` of a 416.
pub fn content_range(range: &Range<u64>, length: u64) -> String {
    if range.is_empty() {
        return format!("bytes */{length}");
    }
    // Not empty, so `end > start >= 0` and `end - 1` cannot underflow.
    let (first, last) = (range.start, range.end - 1);
    format!("bytes {first}-{last}/{length}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    /// Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example date.
    const MTIME: u64 = 784_111_777;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    /// The validators of a 12-byte file modified at MTIME + 0.5 s.
    fn twelve() -> Validators {
        validators(12, at(MTIME, 500_000_000), at(MTIME + 3600, 0))
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn get(pairs: &[(&str, &str)]) -> Precondition {
        evaluate(&Method::GET, &headers(pairs), &twelve())
    }

    fn ranged(pairs: &[(&str, &str)]) -> RangeOutcome {
        range(&Method::GET, &headers(pairs), 12, &twelve())
    }

    fn bytes(spec: &str) -> RangeOutcome {
        ranged(&[("range", spec)])
    }

    #[test]
    fn etag_is_strong_and_has_nanoseconds() {
        let v = twelve();
        assert_eq!(v.etag, "\"c-2ebc98a11dcd6500\"");
        assert_eq!(last_modified_header(&v), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(v.last_modified, at(MTIME, 0));
    }

    #[test]
    fn etag_changes_with_one_nanosecond_same_size() {
        let now = at(MTIME + 10, 0);
        let before = validators(12, at(MTIME, 1), now);
        let after = validators(12, at(MTIME, 2), now);
        assert_ne!(before.etag, after.etag);
        // …which Last-Modified, in whole seconds, cannot see.
        assert_eq!(before.last_modified, after.last_modified);
    }

    #[test]
    fn etag_changes_with_size() {
        let now = at(MTIME + 10, 0);
        assert_ne!(
            validators(12, at(MTIME, 0), now).etag,
            validators(13, at(MTIME, 0), now).etag
        );
    }

    #[test]
    fn last_modified_is_clamped_to_now() {
        let now = at(MTIME, 250_000_000);
        let v = validators(12, at(MTIME + 86_400, 0), now);
        assert_eq!(v.last_modified, at(MTIME, 0));
        assert!(v.last_modified <= now);
    }

    #[test]
    fn extreme_dates_do_not_panic() {
        let now = SystemTime::now();
        let old = validators(1, UNIX_EPOCH - Duration::from_secs(86_400), now);
        assert_eq!(old.etag, "\"1--1518000000000\"");
        assert_eq!(last_modified_header(&old), "Thu, 01 Jan 1970 00:00:00 GMT");
        let far = Validators {
            etag: "\"x\"".into(),
            last_modified: UNIX_EPOCH + Duration::from_secs(LATEST_HTTP_DATE * 2),
        };
        assert_eq!(last_modified_header(&far), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn no_conditions_proceed() {
        assert_eq!(get(&[]), Precondition::Proceed);
    }

    #[test]
    fn if_none_match_exact_and_in_a_list() {
        let etag = twelve().etag;
        assert_eq!(get(&[("if-none-match", &etag)]), Precondition::NotModified);
        let list = format!("\"other\", {etag}");
        assert_eq!(get(&[("if-none-match", &list)]), Precondition::NotModified);
        assert_eq!(
            get(&[("if-none-match", "\"other\"")]),
            Precondition::Proceed
        );
        // The list may be split over several lines.
        assert_eq!(
            get(&[("if-none-match", "\"other\""), ("if-none-match", &etag)]),
            Precondition::NotModified
        );
        // A comma inside the quotes does not split a tag.
        assert_eq!(
            get(&[("if-none-match", "\"a,c-2ebc98a11dcd6500\"")]),
            Precondition::Proceed
        );
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let weak = format!("W/{}", twelve().etag);
        assert_eq!(get(&[("if-none-match", &weak)]), Precondition::NotModified);
    }

    #[test]
    fn if_none_match_star() {
        assert_eq!(get(&[("if-none-match", "*")]), Precondition::NotModified);
        assert_eq!(
            evaluate(
                &Method::HEAD,
                &headers(&[("if-none-match", "*")]),
                &twelve()
            ),
            Precondition::NotModified
        );
    }

    #[test]
    fn if_none_match_on_post_fails() {
        let etag = twelve().etag;
        for list in [etag.as_str(), "*"] {
            let map = headers(&[("if-none-match", list)]);
            assert_eq!(
                evaluate(&Method::POST, &map, &twelve()),
                Precondition::Failed
            );
        }
    }

    #[test]
    fn if_modified_since() {
        let same = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(
            get(&[("if-modified-since", same)]),
            Precondition::NotModified
        );
        let later = "Sun, 06 Nov 1994 09:00:00 GMT";
        assert_eq!(
            get(&[("if-modified-since", later)]),
            Precondition::NotModified
        );
        let earlier = "Sun, 06 Nov 1994 08:49:36 GMT";
        assert_eq!(
            get(&[("if-modified-since", earlier)]),
            Precondition::Proceed
        );
    }

    #[test]
    fn if_modified_since_accepts_the_obsolete_formats() {
        for date in ["Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            assert_eq!(
                get(&[("if-modified-since", date)]),
                Precondition::NotModified,
                "{date}"
            );
        }
    }

    #[test]
    fn if_modified_since_invalid_date_is_ignored() {
        for date in ["yesterday", "Sun, 06 Nov 1994 08:49:37", ""] {
            assert_eq!(
                get(&[("if-modified-since", date)]),
                Precondition::Proceed,
                "{date}"
            );
        }
    }

    #[test]
    fn if_modified_since_only_for_get_and_head() {
        let map = headers(&[("if-modified-since", "Sun, 06 Nov 1994 09:00:00 GMT")]);
        assert_eq!(
            evaluate(&Method::HEAD, &map, &twelve()),
            Precondition::NotModified
        );
        assert_eq!(
            evaluate(&Method::POST, &map, &twelve()),
            Precondition::Proceed
        );
    }

    #[test]
    fn if_none_match_overrides_if_modified_since() {
        // nginx's verified behaviour: a stale tag with a fresh date is 200.
        let fresh = "Sun, 06 Nov 1994 09:00:00 GMT";
        assert_eq!(
            get(&[("if-none-match", "\"old\""), ("if-modified-since", fresh)]),
            Precondition::Proceed
        );
        // And a matching tag with a stale date is 304.
        let stale = "Sun, 06 Nov 1994 08:00:00 GMT";
        let etag = twelve().etag;
        assert_eq!(
            get(&[("if-none-match", &etag), ("if-modified-since", stale)]),
            Precondition::NotModified
        );
    }

    #[test]
    fn if_match_compares_strongly() {
        let etag = twelve().etag;
        let put = |pairs: &[(&str, &str)]| evaluate(&Method::PUT, &headers(pairs), &twelve());
        assert_eq!(put(&[("if-match", &etag)]), Precondition::Proceed);
        assert_eq!(put(&[("if-match", "*")]), Precondition::Proceed);
        assert_eq!(put(&[("if-match", "\"old\"")]), Precondition::Failed);
        let weak = format!("W/{etag}");
        assert_eq!(put(&[("if-match", &weak)]), Precondition::Failed);
        assert_eq!(put(&[("if-match", "garbage")]), Precondition::Failed);
    }

    #[test]
    fn if_unmodified_since() {
        let before = "Sun, 06 Nov 1994 08:00:00 GMT";
        let after = "Sun, 06 Nov 1994 09:00:00 GMT";
        assert_eq!(
            get(&[("if-unmodified-since", before)]),
            Precondition::Failed
        );
        assert_eq!(
            get(&[("if-unmodified-since", after)]),
            Precondition::Proceed
        );
        assert_eq!(
            get(&[("if-unmodified-since", "not a date")]),
            Precondition::Proceed
        );
        // If-Match present: If-Unmodified-Since is not even looked at.
        let etag = twelve().etag;
        assert_eq!(
            get(&[("if-match", &etag), ("if-unmodified-since", before)]),
            Precondition::Proceed
        );
    }

    #[test]
    fn if_match_is_evaluated_before_if_none_match() {
        assert_eq!(
            get(&[("if-match", "\"old\""), ("if-none-match", "*")]),
            Precondition::Failed
        );
    }

    // ANCHOR: range_table
    /// The server-behaviour reference §6.5, row by row, on a 12-byte file.
    #[test]
    fn the_range_table() {
        use RangeOutcome::{Full, Partial, Unsatisfiable};
        assert_eq!(bytes("bytes=0-4"), Partial(0..5));
        assert_eq!(bytes("bytes=5-"), Partial(5..12));
        assert_eq!(bytes("bytes=-3"), Partial(9..12));
        assert_eq!(bytes("bytes=3-1000"), Partial(3..12));
        assert_eq!(bytes("bytes=100-200"), Unsatisfiable);
        assert_eq!(bytes("items=0-1"), Full);
        assert_eq!(bytes("bytes=5-2"), Full);
    }
    // ANCHOR_END: range_table

    #[test]
    fn content_range_headers() {
        assert_eq!(content_range(&(0..5), 12), "bytes 0-4/12");
        assert_eq!(content_range(&(5..12), 12), "bytes 5-11/12");
        assert_eq!(content_range(&(9..12), 12), "bytes 9-11/12");
        assert_eq!(content_range(&(3..3), 12), "bytes */12");
    }

    #[test]
    fn range_edges() {
        use RangeOutcome::{Full, Partial, Unsatisfiable};
        assert_eq!(bytes("bytes=11-11"), Partial(11..12));
        assert_eq!(bytes("bytes=12-"), Unsatisfiable);
        assert_eq!(bytes("bytes=-0"), Unsatisfiable);
        assert_eq!(bytes("bytes=-100"), Partial(0..12));
        assert_eq!(bytes("BYTES=0-0"), Partial(0..1));
        assert_eq!(bytes("bytes=0-4,"), Partial(0..5));
        assert_eq!(bytes("bytes=0-99999999999999999999999"), Partial(0..12));
        assert_eq!(bytes("bytes=99999999999999999999999-"), Unsatisfiable);
        for malformed in [
            "bytes=",
            "bytes=-",
            "bytes=+1-2",
            "bytes=a-b",
            "bytes 0-4",
            "bytes=1",
        ] {
            assert_eq!(bytes(malformed), Full, "{malformed}");
        }
    }

    #[test]
    fn several_ranges_get_the_whole_file() {
        assert_eq!(bytes("bytes=0-1,5-6"), RangeOutcome::Full);
        let many = vec!["0-0"; 17].join(",");
        assert_eq!(bytes(&format!("bytes={many}")), RangeOutcome::Full);
    }

    #[test]
    fn ranges_only_for_get() {
        let map = headers(&[("range", "bytes=0-4")]);
        for method in [Method::HEAD, Method::POST] {
            assert_eq!(range(&method, &map, 12, &twelve()), RangeOutcome::Full);
        }
    }

    #[test]
    fn range_of_an_empty_file() {
        let v = validators(0, at(MTIME, 0), at(MTIME, 0));
        let of_empty = |spec: &str| range(&Method::GET, &headers(&[("range", spec)]), 0, &v);
        assert_eq!(of_empty("bytes=0-"), RangeOutcome::Unsatisfiable);
        assert_eq!(of_empty("bytes=0-0"), RangeOutcome::Unsatisfiable);
        assert_eq!(of_empty("bytes=-0"), RangeOutcome::Unsatisfiable);
        // Satisfiable, but "the last 5 of 0 bytes" is the whole empty file.
        assert_eq!(of_empty("bytes=-5"), RangeOutcome::Full);
    }

    #[test]
    fn if_range_with_the_current_etag_or_date() {
        let etag = twelve().etag;
        let date = last_modified_header(&twelve());
        for validator in [etag.as_str(), date.as_str()] {
            assert_eq!(
                ranged(&[("range", "bytes=0-4"), ("if-range", validator)]),
                RangeOutcome::Partial(0..5),
                "{validator}"
            );
        }
        // Unsatisfiable stays unsatisfiable when If-Range holds.
        assert_eq!(
            ranged(&[("range", "bytes=100-"), ("if-range", &etag)]),
            RangeOutcome::Unsatisfiable
        );
    }

    #[test]
    fn if_range_with_anything_else_gets_the_whole_file() {
        let weak = format!("W/{}", twelve().etag);
        for validator in [
            weak.as_str(),
            "\"old\"",
            "Sun, 06 Nov 1994 08:49:38 GMT",
            // The same instant in another format is not the exact string.
            "Sunday, 06-Nov-94 08:49:37 GMT",
        ] {
            assert_eq!(
                ranged(&[("range", "bytes=0-4"), ("if-range", validator)]),
                RangeOutcome::Full,
                "{validator}"
            );
        }
        // Nor is a 416 sent for a range the client meant for another version.
        assert_eq!(
            ranged(&[("range", "bytes=100-"), ("if-range", "\"old\"")]),
            RangeOutcome::Full
        );
    }
}
