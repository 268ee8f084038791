//! Chapter 6's exercises: the full server, dynamic content, servlets.
//!
//! The chapter has three parts, and so do its exercises. Part 1 builds a
//! file server on hyper, so three exercises extend what it says on the
//! wire: `gzip` compresses text and keeps caches from mixing the two
//! versions up, `byteranges` answers several ranges in one
//! `multipart/byteranges` body, and `status` reports the cache's counters
//! and the connections open, which only the server itself knows. Part 2
//! runs programs: `request-id` hands every script, and every include of
//! an SSI page, an ID that the access log records too. Part 3 hosts
//! servlets: `upload` is a servlet of the learner's own, with its session.
//!
//! `step06-full` reads one TOML file, so each check writes its own site in
//! a temporary directory ([`TempSite`]: a document root, logs, sessions
//! and `stepwise.toml`), and starts the binary with `--config` on it; the
//! fixture's `--host 127.0.0.1 --port 0` overrides the file's `listen`.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

use serde_json::Value;
use test_support::Client;

use crate::exercise::{Chapter, Exercise, Outcome, Solution};
use crate::failure::{Failure, scratch_dir, setup_failed, show_bytes};
use crate::probe::{CONNECT_TIMEOUT, Exchange, Probe, content_type_is, random_below, token};
use crate::subject::{Server, Subject};

/// Chapter 6's exercises, in the order of the book's page.
pub const CHAPTER: Chapter = Chapter {
    id: "ch06",
    title: "The full server",
    package: "step06-full",
    exercises: &[
        Exercise {
            name: "gzip",
            title: "text goes out gzip-compressed when the client accepts it",
            solutions: &[Solution::Patch],
            check: gzip,
        },
        Exercise {
            name: "byteranges",
            title: "several ranges in one request: a multipart/byteranges answer",
            solutions: &[Solution::Patch],
            check: byteranges,
        },
        Exercise {
            name: "status",
            title: "/-/status: the cache's counters and the connections open",
            solutions: &[Solution::Patch],
            check: status,
        },
        Exercise {
            name: "request-id",
            title: "X_REQUEST_ID: one ID per request, for its scripts and its log line",
            solutions: &[Solution::Patch],
            check: request_id,
        },
        Exercise {
            name: "upload",
            title: "an upload servlet that lists the session's files",
            solutions: &[Solution::Patch],
            check: upload,
        },
    ],
};

/// How a learner starts a server by hand: the shipped configuration, the
/// demo site, on port 8080 (the checks' own configuration is gone by the
/// time anyone reads the message).
const DEMO: &str =
    "cargo run -p step06-full      # step06-full/stepwise.toml: the demo site, port 8080";

/// The configuration every check starts from: its own document root, logs
/// and sessions, PHP off (php-cgi may not be installed, and no check needs
/// it), and kept-alive connections that outlast a slow check.
const BASE_CONFIG: &str = "\
[server]
listen = [\"127.0.0.1:0\"]
document_root = \"www\"

[timeouts]
idle = 30

[log]
access = \"logs/access.log\"
error = \"logs/error.log\"
stderr = \"never\"

[php]
enabled = false

[sessions]
directory = \"sessions\"
";

/// A site of the check's own in a temporary directory: `www/` (the
/// document root), `logs/`, `sessions/`, and `stepwise.toml` naming them.
/// Dropping it removes the directory.
struct TempSite {
    /// The directory, which is also the configuration's `base`: relative
    /// paths in `stepwise.toml` start here.
    dir: TempDir,
}

impl TempSite {
    /// A new site whose configuration is [`BASE_CONFIG`] followed by
    /// `extra` (more tables, such as `[[mount]]`).
    fn new(extra: &str) -> Result<TempSite, Failure> {
        let site = TempSite {
            dir: scratch_dir("ch06")?,
        };
        let www = site.path("www");
        fs::create_dir_all(&www).map_err(|e| setup_failed(&www, &e))?;
        site.write("stepwise.toml", format!("{BASE_CONFIG}{extra}"))?;
        Ok(site)
    }

    /// `relative`, under the site's directory.
    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes a file (its directories made as needed).
    fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> Result<PathBuf, Failure> {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| setup_failed(parent, &e))?;
        }
        fs::write(&path, contents).map_err(|e| setup_failed(&path, &e))?;
        Ok(path)
    }

    /// Writes a program the server may run (mode 0755).
    fn write_script(&self, relative: &str, text: &str) -> Result<(), Failure> {
        let path = self.write(relative, text)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .map_err(|e| setup_failed(&path, &e))
    }

    /// Starts `subject` on this site; failure messages suggest the demo
    /// site instead of a configuration that will be gone.
    fn start(&self, subject: &Subject) -> Result<Server, Failure> {
        let config = self.path("stepwise.toml");
        let config = config.to_string_lossy();
        let mut server = subject
            .start(&["--config", config.as_ref()])
            .map_err(|mut failure| {
                // Its `cargo run` line names a file about to be deleted.
                failure.details.retain(|(label, _)| *label != "try it");
                failure.try_it(DEMO)
            })?;
        server.run_line = DEMO.to_owned();
        Ok(server)
    }
}

/// `exchange` with `try_it` as the commands to repeat it by hand.
fn with_try_it(mut exchange: Exchange, try_it: &str) -> Exchange {
    exchange.try_it = format!("{DEMO}\n{try_it}");
    exchange
}

/// Whether the response's `Vary` names `field` (or is `*`).
fn varies_on(exchange: &Exchange, field: &str) -> bool {
    exchange
        .response
        .headers_named("vary")
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|name| name == "*" || name.eq_ignore_ascii_case(field))
}

/// Text of `lines` lines that compresses well and differs on every run.
fn made_up_page(lines: usize) -> String {
    let word = token();
    let mut page = format!("<!DOCTYPE html>\n<title>{word}</title>\n<ul>\n");
    for i in 0..lines {
        page.push_str(&format!(
            "<li>line {i} of the page {word}: the same words again, and again</li>\n"
        ));
    }
    page.push_str("</ul>\n");
    page
}

/// Decompresses a gzip body (flate2, the crate chapter 6's log rotation
/// uses to compress).
fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut plain)
        .map_err(|e| e.to_string())?;
    Ok(plain)
}

/// With `Accept-Encoding: gzip`, a text file goes out gzip-compressed,
/// with `Vary: Accept-Encoding` and an `ETag` of its own; without it, or
/// with `gzip;q=0`, it goes out as it is, with the same `Vary`.
fn gzip(subject: &Subject) -> Outcome {
    let site = TempSite::new("")?;
    let page = made_up_page(40 + random_below(40) as usize);
    site.write("www/index.html", &page)?;
    let server = site.start(subject)?;
    let try_it = "curl -s --compressed -D - -o /dev/null http://127.0.0.1:8080/index.html";

    let compressed = Probe::get("/index.html").header("Accept-Encoding", "gzip");
    let zipped = with_try_it(compressed.send(&server)?, try_it);
    let expected = format!(
        "200, Content-Encoding: gzip, Vary: Accept-Encoding, and a body that \
         gunzips to the {} bytes of the file",
        page.len()
    );
    zipped.expect_status(200, "the file, compressed")?;
    if !zipped
        .header("content-encoding")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"))
    {
        return Err(zipped.fail(
            "the client accepts gzip, but the text went out uncompressed",
            expected,
        ));
    }
    if !varies_on(&zipped, "accept-encoding") {
        return Err(zipped.fail(
            "no `Vary: Accept-Encoding`: a cache between client and server \
             would hand the compressed bytes to a client that cannot read them",
            expected,
        ));
    }
    match gunzip(zipped.body()) {
        Ok(bytes) if bytes == page.as_bytes() => {}
        Ok(bytes) => {
            return Err(zipped.fail(
                format!(
                    "the body gunzips to {} bytes that are not the file's {}",
                    bytes.len(),
                    page.len()
                ),
                expected,
            ));
        }
        Err(why) => {
            return Err(zipped.fail(format!("the body is not valid gzip: {why}"), expected));
        }
    }

    let plain = with_try_it(Probe::get("/index.html").send(&server)?, try_it);
    let refused = Probe::get("/index.html").header("Accept-Encoding", "gzip;q=0");
    let refused = with_try_it(refused.send(&server)?, try_it);
    for (exchange, why) in [
        (&plain, "without Accept-Encoding"),
        (&refused, "with `gzip;q=0`, which says \"not gzip\""),
    ] {
        let expected = "200, the file as it is, no Content-Encoding (or `identity`), \
                        and Vary: Accept-Encoding";
        let encoding = exchange.header("content-encoding").map(str::trim);
        if exchange.status() != 200
            || encoding.is_some_and(|e| !e.eq_ignore_ascii_case("identity"))
            || exchange.body() != page.as_bytes()
        {
            return Err(exchange.fail(
                format!("{why}, the file must go out uncompressed"),
                expected,
            ));
        }
        if !varies_on(exchange, "accept-encoding") {
            return Err(exchange.fail(
                format!(
                    "{why}: no `Vary: Accept-Encoding`; a cache that stored this \
                     answer would give it to every client, also those that asked \
                     for gzip (and the other way round)"
                ),
                expected,
            ));
        }
    }
    let (zipped_tag, plain_tag) = (zipped.header("etag"), plain.header("etag"));
    if zipped_tag.is_none() || zipped_tag == plain_tag {
        return Err(zipped.fail(
            format!(
                "the compressed version has the ETag {}, the same as the plain one: \
                 two different byte sequences need two different tags",
                zipped_tag.unwrap_or("(none)")
            ),
            format!(
                "an ETag that is not the plain version's {}, such as one with \
                 -gzip inside the quotes",
                plain_tag.unwrap_or("(none)")
            ),
        ));
    }
    Ok(())
}

/// One part of a `multipart/byteranges` body.
#[derive(Debug)]
struct Part {
    /// Its header fields, names lowercased.
    headers: Vec<(String, String)>,
    /// Its bytes.
    body: Vec<u8>,
}

impl Part {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The boundary parameter of a `multipart/…` Content-Type.
fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The parts of a multipart body (RFC 2046 §5.1.1), or why it is not one.
fn multipart_parts(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut pieces = Vec::new();
    let mut rest = body;
    // Every delimiter but the first follows a CRLF, which belongs to it.
    let mut start = find(rest, delimiter).ok_or("no boundary line in the body")?;
    loop {
        rest = &rest[start + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let mut next_delimiter = b"\r\n".to_vec();
        next_delimiter.extend_from_slice(delimiter);
        let end = find(rest, &next_delimiter).ok_or("no closing boundary line")?;
        pieces.push(&rest[..end]);
        start = end + 2;
    }
    pieces
        .into_iter()
        .map(|piece| {
            // The rest of the boundary line (transport padding), then the
            // part's head, an empty line, and its bytes.
            let line_end = find(piece, b"\r\n").ok_or("a boundary line without CRLF")?;
            let piece = &piece[line_end + 2..];
            let head_end = find(piece, b"\r\n\r\n")
                .map(|i| (i, i + 4))
                .or_else(|| piece.starts_with(b"\r\n").then_some((0, 2)))
                .ok_or("a part without the empty line after its header fields")?;
            let head = String::from_utf8_lossy(&piece[..head_end.0]);
            let headers = head
                .split("\r\n")
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
                .collect();
            Ok(Part {
                headers,
                body: piece[head_end.1..].to_vec(),
            })
        })
        .collect()
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// `Range: bytes=a-b,c-d` gets a 206 whose `multipart/byteranges` body
/// holds both ranges, each with its own `Content-Type` and
/// `Content-Range`; one range still gets a plain 206, and a thousand get
/// the whole file.
fn byteranges(subject: &Subject) -> Outcome {
    let site = TempSite::new("")?;
    // Letters only, so no boundary a server picks can occur in them.
    let length = 1_000 + random_below(2_000) as usize;
    let file: Vec<u8> = (0..length).map(|_| b'a' + random_below(26) as u8).collect();
    site.write("www/hello.txt", &file)?;
    let server = site.start(subject)?;
    let a = random_below(100);
    let b = a + 1 + random_below(50);
    let c = b + 10 + random_below(300);
    let d = c + random_below(50);
    let ranges = [(a, b), (c, d)];
    let header = format!("bytes={a}-{b},{c}-{d}");
    let try_it = format!(
        "curl -s -D - -H 'Range: bytes=0-1,5-6' http://127.0.0.1:8080/hello.txt    # {header} here"
    );
    let probe = Probe::get("/hello.txt").header("Range", &header);
    let exchange = with_try_it(probe.send(&server)?, &try_it);
    let slice = |(first, last): (u64, u64)| &file[first as usize..=last as usize];
    let expected = format!(
        "206, Content-Type: multipart/byteranges; boundary=…, and two parts, in \
         this order, each with Content-Type: text/plain and its Content-Range:\n\
         bytes {a}-{b}/{length}: {}\nbytes {c}-{d}/{length}: {}",
        show_bytes(slice((a, b)), 60),
        show_bytes(slice((c, d)), 60)
    );
    if exchange.status() != 206 {
        return Err(exchange.fail(
            format!(
                "two ranges got {}, not 206 Partial Content",
                exchange.status()
            ),
            expected,
        ));
    }
    let content_type = exchange.header("content-type").unwrap_or_default();
    let boundary = boundary(content_type)
        .filter(|_| content_type_is(Some(content_type), "multipart/byteranges"));
    let Some(boundary) = boundary else {
        return Err(exchange.fail(
            "the 206 is not multipart/byteranges with a boundary parameter",
            expected,
        ));
    };
    if exchange.response.chunked || exchange.header("content-length").is_none() {
        return Err(exchange.fail(
            "the multipart body went out without a Content-Length: its length \
             can be computed before a byte is sent",
            expected,
        ));
    }
    let parts = multipart_parts(exchange.body(), &boundary).map_err(|why| {
        exchange.fail(
            format!("the body is not a multipart body with boundary {boundary:?}: {why}"),
            expected.clone(),
        )
    })?;
    if parts.len() != 2 {
        return Err(exchange.fail(
            format!("the body has {} parts, not 2", parts.len()),
            expected,
        ));
    }
    for (part, range) in parts.iter().zip(ranges) {
        let content_range = format!("bytes {}-{}/{length}", range.0, range.1);
        if part.header("content-range") != Some(content_range.as_str()) {
            return Err(exchange.fail(
                format!(
                    "a part's Content-Range is {}, not {content_range}",
                    part.header("content-range").unwrap_or("missing")
                ),
                expected,
            ));
        }
        if !content_type_is(part.header("content-type"), "text/plain") {
            return Err(exchange.fail(
                "each part carries the file's own Content-Type (text/plain here)",
                expected,
            ));
        }
        if part.body != slice(range) {
            return Err(exchange.fail(
                format!("the part {content_range} does not hold those bytes"),
                expected,
            ));
        }
    }

    // One range is still a plain 206.
    let one = Probe::get("/hello.txt").header("Range", &format!("bytes={c}-{d}"));
    let exchange = with_try_it(one.send(&server)?, &try_it);
    let content_range = format!("bytes {c}-{d}/{length}");
    if exchange.status() != 206
        || exchange.header("content-range") != Some(content_range.as_str())
        || exchange.body() != slice((c, d))
    {
        return Err(exchange.fail(
            "one range must still get a plain 206, not a multipart body",
            format!("206, Content-Range: {content_range}, and just those bytes"),
        ));
    }

    // A thousand tiny ranges: a lot of work for a small request.
    let many: Vec<String> = (0..1_000).map(|i| format!("{0}-{0}", i * 2)).collect();
    let probe = Probe::get("/hello.txt").header("Range", &format!("bytes={}", many.join(",")));
    let exchange = with_try_it(probe.send(&server)?, &try_it);
    if exchange.status() != 200 || exchange.body() != file {
        return Err(exchange.fail(
            "a thousand ranges must not get a thousand parts",
            "200 and the whole file: more ranges than the cap (the reference \
             suggests 16) are declined, as a Range header may always be",
        ));
    }
    Ok(())
}

/// The numbers `/-/status` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Status {
    /// `cache.hits`: files answered from memory.
    hits: u64,
    /// `cache.misses`: files looked for in the cache and read from disk.
    misses: u64,
    /// `cache.weighted_size`: the bytes the cache holds, as it counts them.
    weighted_size: u64,
    /// `connections`: open now, idle kept-alive ones included.
    connections: u64,
}

/// What `/-/status` must answer, for messages.
const STATUS_SHAPE: &str = "200, application/json, and an object such as\n\
    {\"cache\": {\"hits\": 3, \"misses\": 1, \"weighted_size\": 1577}, \"connections\": 2}";

/// How `/-/status` is tried by hand.
const STATUS_TRY_IT: &str = "curl -s http://127.0.0.1:8080/-/status";

/// Asks `/-/status` and reads it.
fn read_status(server: &Server) -> Result<(Status, Exchange), Failure> {
    let exchange = with_try_it(Probe::get("/-/status").send(server)?, STATUS_TRY_IT);
    if exchange.status() != 200 {
        return Err(exchange.fail(
            format!("GET /-/status answered {}, not 200", exchange.status()),
            STATUS_SHAPE,
        ));
    }
    if !content_type_is(exchange.header("content-type"), "application/json") {
        return Err(exchange.fail("/-/status is not application/json", STATUS_SHAPE));
    }
    let json: Value = serde_json::from_slice(exchange.body()).map_err(|e| {
        exchange.fail(
            format!("the body of /-/status is not valid JSON: {e}"),
            STATUS_SHAPE,
        )
    })?;
    let number = |value: &Value, name: &str| {
        value.as_u64().ok_or_else(|| {
            exchange.fail(
                format!("{name} is {value}, not a whole number"),
                STATUS_SHAPE,
            )
        })
    };
    let cache = &json["cache"];
    let status = Status {
        hits: number(&cache["hits"], "cache.hits")?,
        misses: number(&cache["misses"], "cache.misses")?,
        weighted_size: number(&cache["weighted_size"], "cache.weighted_size")?,
        connections: number(&json["connections"], "connections")?,
    };
    Ok((status, exchange))
}

/// How long `connections` may take to settle: the server drops a closed
/// connection's slot a moment after the client has its last byte.
const SETTLE: Duration = Duration::from_secs(3);

/// Asks `/-/status` until it reports `connections` (or [`SETTLE`] passes).
fn wait_for_connections(
    server: &Server,
    connections: u64,
    why: &str,
) -> Result<(Status, Exchange), Failure> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let (status, exchange) = read_status(server)?;
        if status.connections == connections {
            return Ok((status, exchange));
        }
        if Instant::now() >= deadline {
            return Err(exchange.fail(
                format!(
                    "/-/status says {} connection(s) are open, not {connections} ({why})",
                    status.connections
                ),
                format!(
                    "\"connections\": {connections}, within {} s",
                    SETTLE.as_secs()
                ),
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /-/status` reports the cache's hits, misses and weighted size as
/// they change, and the connections open, idle kept-alive ones included.
fn status(subject: &Subject) -> Outcome {
    let site = TempSite::new("")?;
    let first = "first file ".repeat(50 + random_below(200) as usize);
    let second = "second file ".repeat(50 + random_below(200) as usize);
    site.write("www/first.txt", &first)?;
    site.write("www/second.txt", &second)?;
    let server = site.start(subject)?;

    // The first request reads the file into the cache: a miss.
    Probe::get("/first.txt")
        .send(&server)?
        .expect_status(200, "the first file")?;
    let (before, exchange) = read_status(&server)?;
    if before.misses == 0 || before.weighted_size < first.len() as u64 {
        return Err(exchange.fail(
            format!(
                "after one request for a {}-byte file, the cache reports {} miss(es) \
                 and {} bytes",
                first.len(),
                before.misses,
                before.weighted_size
            ),
            format!(
                "at least one miss, and a weighted_size of at least {} (the file, \
                 now in the cache)",
                first.len()
            ),
        ));
    }
    // Then hits only.
    let again = 2 + random_below(4);
    for _ in 0..again {
        Probe::get("/first.txt")
            .send(&server)?
            .expect_status(200, "the first file, again")?;
    }
    let (after, exchange) = read_status(&server)?;
    if after.hits != before.hits + again || after.misses != before.misses {
        return Err(exchange.fail(
            format!(
                "{again} more requests for the cached file took hits from {} to {} \
                 and misses from {} to {}",
                before.hits, after.hits, before.misses, after.misses
            ),
            format!(
                "\"hits\": {}, \"misses\": {}",
                before.hits + again,
                before.misses
            ),
        ));
    }
    // A second file: one more miss, and the cache holds more.
    Probe::get("/second.txt")
        .send(&server)?
        .expect_status(200, "the second file")?;
    let (later, exchange) = read_status(&server)?;
    if later.misses != after.misses + 1
        || later.weighted_size < after.weighted_size + second.len() as u64
    {
        return Err(exchange.fail(
            format!(
                "after a request for a second file ({} bytes), misses went from {} to \
                 {} and weighted_size from {} to {}",
                second.len(),
                after.misses,
                later.misses,
                after.weighted_size,
                later.weighted_size
            ),
            format!(
                "\"misses\": {}, and weighted_size at least {}",
                after.misses + 1,
                after.weighted_size + second.len() as u64
            ),
        ));
    }

    // Idle kept-alive connections are open connections too.
    let idle = 1 + random_below(4);
    let mut clients = Vec::new();
    for _ in 0..idle {
        let stream = TcpStream::connect_timeout(&server.addr(), CONNECT_TIMEOUT)?;
        let mut client = Client::from_stream(stream, Duration::from_secs(5))?;
        client.send(b"GET /first.txt HTTP/1.1\r\nHost: workshop\r\n\r\n")?;
        let response = client.read_response(false)?;
        if response.status != 200 {
            return Err(Failure::new(format!(
                "a kept-alive request for /first.txt got {}",
                response.status
            )));
        }
        clients.push(client);
    }
    wait_for_connections(
        &server,
        idle + 1,
        &format!("{idle} idle kept-alive connection(s), and the one asking"),
    )?;
    drop(clients);
    wait_for_connections(
        &server,
        1,
        "the idle connections were closed: only the one asking is left",
    )?;
    Ok(())
}

/// A CGI script that prints the `X_REQUEST_ID` it was given.
const ID_SCRIPT: &str = "#!/bin/sh\n\
    printf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$X_REQUEST_ID\"\n";

/// How long the access log may take to show a request (it is written by
/// a thread of its own).
const LOG_WAIT: Duration = Duration::from_secs(3);

/// Every script gets an `X_REQUEST_ID`, different for each request and
/// the same for every include of one SSI page; the access log line of the
/// request carries it; a client's `X-Request-Id` is not taken for it.
fn request_id(subject: &Subject) -> Outcome {
    let site = TempSite::new("")?;
    site.write_script("www/cgi-bin/id.cgi", ID_SCRIPT)?;
    site.write(
        "www/page.shtml",
        "<!--#include virtual=\"/cgi-bin/id.cgi\" -->and\n\
         <!--#include virtual=\"/cgi-bin/id.cgi\" -->",
    )?;
    let server = site.start(subject)?;
    let try_it = "curl -s http://127.0.0.1:8080/cgi-bin/env.cgi | grep X_REQUEST_ID\n\
                  tail -n 1 step06-full/demo/logs/access.log";
    let expected = "a non-empty X_REQUEST_ID, a different one for each request";

    let forged = format!("forged-{}", token());
    let mut ids = Vec::new();
    for probe in [
        Probe::get("/cgi-bin/id.cgi"),
        Probe::get("/cgi-bin/id.cgi").header("X-Request-Id", &forged),
    ] {
        let exchange = with_try_it(probe.send(&server)?, try_it);
        exchange.expect_status(200, "the script's answer")?;
        let id = exchange.text().trim().to_owned();
        if id.is_empty() {
            return Err(exchange.fail("the script was given no X_REQUEST_ID", expected));
        }
        if id == forged {
            return Err(exchange.fail(
                "the client's X-Request-Id header became the script's X_REQUEST_ID",
                "an ID of the server's making: a client that picks the ID can \
                 make its request look like someone else's in the logs",
            ));
        }
        if ids.iter().any(|(seen, _)| *seen == id) {
            return Err(exchange.fail(format!("two requests got the same ID {id}"), expected));
        }
        ids.push((id, exchange));
    }

    // An SSI page's includes are part of the page's request.
    let exchange = with_try_it(Probe::get("/page.shtml").send(&server)?, try_it);
    exchange.expect_status(200, "the SSI page")?;
    let text = exchange.text();
    let included: Vec<&str> = text.split("and\n").map(str::trim).collect();
    let expected_page = "the page's own ID, twice: the includes are sub-requests of \
                         the page, and share its ID";
    match included.as_slice() {
        [one, two] if !one.is_empty() && one == two => {
            if ids.iter().any(|(seen, _)| seen == one) {
                return Err(exchange.fail(
                    format!("the page got the ID {one} of an earlier request"),
                    expected_page,
                ));
            }
            ids.push(((*one).to_owned(), exchange));
        }
        _ => {
            return Err(exchange.fail(
                "the two includes of one page did not get the same, non-empty ID",
                expected_page,
            ));
        }
    }

    // Each ID is in its request's line of the access log.
    let log = site.path("logs/access.log");
    let deadline = Instant::now() + LOG_WAIT;
    for (id, exchange) in &ids {
        let target = String::from_utf8_lossy(&exchange.sent)
            .split(' ')
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        loop {
            let text = fs::read_to_string(&log).unwrap_or_default();
            let found = text
                .lines()
                .any(|line| line.contains(id.as_str()) && line.contains(&target));
            if found {
                break;
            }
            if Instant::now() >= deadline {
                let lines: Vec<&str> = text.lines().collect();
                return Err(exchange
                    .fail(
                        format!("the access log has no line for {target} with its ID {id}"),
                        "the request's line in the access log carries the ID its \
                         scripts were given, so that a script's complaint in the \
                         error log can be traced to its request",
                    )
                    .note(format!(
                        "the access log ({} lines):\n{}",
                        lines.len(),
                        lines.join("\n")
                    )));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// The upload servlet's mount.
const UPLOAD_MOUNT: &str = "
[[mount]]
path = \"/servlet/upload\"
servlet = \"upload\"
sessions = true
";

/// A `multipart/form-data` body with one file, and its boundary.
fn form_data(file_name: &str, contents: &str) -> (String, String) {
    let boundary = format!("----workshop{}", token());
    let body = format!(
        "--{boundary}\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         {contents}\r\n\
         --{boundary}--\r\n"
    );
    (boundary, body)
}

/// The session cookie a response sets, as `name=value`.
fn session_cookie(exchange: &Exchange) -> Option<String> {
    exchange
        .response
        .headers_named("set-cookie")
        .into_iter()
        .filter_map(|cookie| cookie.split(';').next())
        .find(|pair| pair.trim_start().starts_with("STEPWISE_SESSION="))
        .map(|pair| pair.trim().to_owned())
}

/// Every regular file under `dir`, however deep.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(kind) if kind.is_file() => found.push(entry.path()),
                _ => {}
            }
        }
    }
    found
}

/// `POST /servlet/upload` with a `multipart/form-data` file stores it
/// under `uploads/` (next to the configuration) by a name of the server's
/// making, and `GET /servlet/upload` lists the names uploaded in this
/// session, escaped, and no one else's.
fn upload(subject: &Subject) -> Outcome {
    let site = TempSite::new(UPLOAD_MOUNT)?;
    let server = site.start(subject).map_err(|failure| {
        failure.note(
            "the check mounts the servlet with\n\
             [[mount]]\npath = \"/servlet/upload\"\nservlet = \"upload\"\nsessions = true",
        )
    })?;
    let try_it = "# with the [[mount]] of /servlet/upload added to step06-full/stepwise.toml:\n\
                  curl -s -c jar -b jar -F 'file=@Cargo.toml' http://127.0.0.1:8080/servlet/upload\n\
                  curl -s -b jar http://127.0.0.1:8080/servlet/upload";

    let words: Vec<String> = (0..2).map(|_| token()).collect();
    let names: Vec<String> = words.iter().map(|w| format!("../<b>{w}</b>.txt")).collect();
    let contents: Vec<String> = words
        .iter()
        .map(|w| format!("uploaded {w}\nby the workshop {}\n", token()))
        .collect();
    let mut cookie: Option<String> = None;
    for (name, content) in names.iter().zip(&contents) {
        let (boundary, body) = form_data(name, content);
        let mut probe = Probe::new("POST", "/servlet/upload").header(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        );
        if let Some(cookie) = &cookie {
            probe = probe.header("Cookie", cookie);
        }
        let exchange = with_try_it(probe.body(body).send(&server)?, try_it);
        let status = exchange.status();
        if !(200..300).contains(&status) && status != 303 {
            return Err(exchange.fail(
                format!("the upload was answered {status}"),
                "a 303 See Other back to /servlet/upload (or a 200 page)",
            ));
        }
        if cookie.is_none() {
            cookie = session_cookie(&exchange);
            if cookie.is_none() {
                return Err(exchange.fail(
                    "the first upload started no session: no STEPWISE_SESSION cookie",
                    "Set-Cookie: STEPWISE_SESSION=…: the uploads' names are kept \
                     in the session, so it must be changed",
                ));
            }
        }
    }
    let cookie = cookie.unwrap_or_default();

    // The session lists both, escaped.
    let listing = Probe::get("/servlet/upload").header("Cookie", &cookie);
    let exchange = with_try_it(listing.send(&server)?, try_it);
    exchange.expect_status(200, "the list of this session's uploads")?;
    let page = exchange.text();
    for word in &words {
        let escaped = format!("&lt;b&gt;{word}&lt;/b&gt;.txt");
        if page.contains(&format!("<b>{word}")) {
            return Err(exchange.fail(
                format!("the file name <b>{word}</b> went into the page unescaped"),
                format!(
                    "the name as text: {escaped}. A name is the client's to choose, \
                     and a name with a <script> in it would run in every browser \
                     that shows the list"
                ),
            ));
        }
        if !page.contains(&escaped) {
            return Err(exchange.fail(
                format!("the page does not list the upload named ../<b>{word}</b>.txt"),
                format!("both names uploaded in this session, escaped: {escaped}"),
            ));
        }
    }
    // Another browser sees none of them.
    let exchange = with_try_it(Probe::get("/servlet/upload").send(&server)?, try_it);
    exchange.expect_status(200, "the list of a new session's uploads: empty")?;
    if words
        .iter()
        .any(|word| exchange.text().contains(word.as_str()))
    {
        return Err(exchange.fail(
            "a client without the session cookie sees another session's uploads",
            "an empty list: the names are kept in the session",
        ));
    }

    // The files are stored under uploads/, by names of the server's making.
    let uploads = site.path("uploads");
    let files = files_under(site.dir.path());
    for (word, content) in words.iter().zip(&contents) {
        let stored: Vec<&PathBuf> = files
            .iter()
            .filter(|path| fs::read(path).is_ok_and(|bytes| bytes == content.as_bytes()))
            .collect();
        let listed: BTreeSet<String> = files
            .iter()
            .filter_map(|p| p.strip_prefix(site.dir.path()).ok())
            .map(|p| p.display().to_string())
            .collect();
        let note = format!(
            "files under the configuration's directory:\n{}",
            listed.into_iter().collect::<Vec<_>>().join("\n")
        );
        let Some(path) = stored.first() else {
            return Err(Failure::new(format!(
                "the file uploaded as ../<b>{word}</b>.txt is stored nowhere"
            ))
            .expected(format!(
                "a file holding exactly the uploaded bytes under {}",
                uploads.display()
            ))
            .note(note));
        };
        if !path.starts_with(&uploads) {
            return Err(Failure::new(format!(
                "the upload was stored at {}, not under uploads/",
                path.display()
            ))
            .expected("files stored in `uploads/`, in the configuration file's directory")
            .note(note));
        }
        if path.to_string_lossy().contains(word.as_str()) {
            return Err(Failure::new(format!(
                "the upload was stored under the client's name: {}",
                path.display()
            ))
            .expected(
                "a name of the server's making (random): the client's name is \
                 only for display; this one had `../` in it",
            )
            .note(note));
        }
    }
    Ok(())
}
