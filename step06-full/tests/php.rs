//! PHP through php-cgi over sockets: the server-behaviour reference §2.
//!
//! Each test writes its pages into a temporary document root, starts the
//! real binary, and talks raw HTTP to it, so what php-cgi makes of the
//! server's environment — `$_GET`, `$_POST`, `$_FILES`, sessions, `PATH_INFO`
//! — is checked end to end. The pages answer in JSON where there is
//! structure to compare.
//!
//! php-cgi is an external program. Where it is missing the tests that need
//! it print why and pass, except in CI (`CI` set), which installs it and
//! where a missing php-cgi is a failure. The test of a missing php-cgi
//! needs none and always runs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;
use test_support::proc::eventually;
use test_support::{Client, RawResponse, TestServer, in_ci, send};

/// How long the error log may take to show a line.
const SETTLE: Duration = Duration::from_secs(15);

/// The program the tests run PHP with, looked up on `PATH` as the server
/// does with the default `php.binary`.
const PHP_CGI: &str = "php-cgi";

/// Copies the request body back, read as `php://input` so no form parsing
/// (and no `post_max_size`) gets in the way, and streamed: php-cgi reads
/// and writes at once, as `cat` does for CGI.
const ECHO_PAGE: &str = "<?php
header('Content-Type: application/octet-stream');
header('X-Content-Length: ' . ($_SERVER['CONTENT_LENGTH'] ?? 'unset'));
stream_copy_to_stream(fopen('php://input', 'rb'), fopen('php://output', 'wb'));
";

/// What the server told php-cgi about the request.
const SERVER_PAGE: &str = "<?php
header('Content-Type: application/json');
$keys = ['PATH_INFO', 'SCRIPT_NAME', 'PHP_SELF', 'REQUEST_URI', 'SCRIPT_FILENAME',
         'QUERY_STRING', 'REDIRECT_STATUS', 'HTTP_REDIRECT_STATUS', 'DOCUMENT_ROOT',
         'CONTENT_LENGTH', 'REQUEST_METHOD'];
$out = [];
foreach ($keys as $key) { $out[$key] = $_SERVER[$key] ?? null; }
echo json_encode($out, JSON_UNESCAPED_SLASHES);
";

/// The bytes uploaded by the multipart test: every byte value, CR, LF and
/// `-` included, 1000 times over.
fn upload_bytes() -> Vec<u8> {
    (0..256_000u32).map(|i| (i % 256) as u8).collect()
}

/// `md5sum` of [`upload_bytes`], computed once with coreutils (this crate
/// has no MD5 of its own, and the value never changes).
const UPLOAD_MD5: &str = "1da708a75e25110b1341d16814feb52d";

/// Where php-cgi is; `None`, after saying why the test is skipped, when
/// it is not on `PATH`.
///
/// # Panics
///
/// In CI, when it is not there.
fn php_cgi() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(PHP_CGI))
        .find(|path| path.is_file());
    if found.is_none() {
        assert!(!in_ci(), "{PHP_CGI} is not on PATH, and CI must install it");
        eprintln!("skipped: {PHP_CGI} is not on PATH (Debian: apt-get install php-cgi)");
    }
    found
}

/// Whether php-cgi can be run here (see [`php_cgi`]).
fn php_available() -> bool {
    php_cgi().is_some()
}

/// A document root, logs and a configuration file in a temporary directory.
struct Setup {
    dir: TempDir,
}

impl Setup {
    /// A site with `sections` (whole TOML sections) in its configuration.
    fn new(sections: &str) -> Setup {
        let dir = tempfile::tempdir().expect("a temporary directory");
        fs::create_dir_all(dir.path().join("www/uploads")).expect("mkdir www/uploads");
        let config = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\ndocument_root = \"www\"\n\n\
             [cgi]\nheader_timeout = 20\nidle_timeout = 20\n\n{sections}\n\
             [log]\naccess = \"logs/access.log\"\nerror = \"logs/error.log\"\nstderr = \"never\"\n"
        );
        fs::write(dir.path().join("stepwise.toml"), config).expect("write the config");
        Setup { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `www/<name>`.
    fn page(&self, name: &str, text: &str) {
        fs::write(self.path("www").join(name), text).expect("write a page");
    }

    fn start(&self) -> TestServer {
        let config = self.path("stepwise.toml");
        TestServer::spawn(
            env!("CARGO_BIN_EXE_step06-full"),
            &["--config", config.to_str().expect("a UTF-8 temporary path")],
        )
    }

    fn error_log(&self) -> String {
        fs::read_to_string(self.path("logs/error.log")).unwrap_or_default()
    }

    /// Waits for `needle` in the error log and returns the log.
    fn log_with(&self, needle: &str) -> String {
        let found = eventually(SETTLE, || self.error_log().contains(needle));
        let log = self.error_log();
        assert!(found, "{needle:?} never reached the error log:\n{log}");
        log
    }
}

/// Sends `head` plus `Host` and `Connection: close`, reads the response.
fn request(server: &TestServer, head: &str) -> RawResponse {
    let bytes = format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n");
    send(server.addr(), bytes.as_bytes()).expect("a response")
}

fn get(server: &TestServer, path: &str) -> RawResponse {
    request(server, &format!("GET {path} HTTP/1.1"))
}

/// A request with `body`, sent with a Content-Length; `content_type` may
/// be left out.
fn post(server: &TestServer, path: &str, content_type: Option<&str>, body: &[u8]) -> RawResponse {
    let content_type = content_type
        .map(|t| format!("Content-Type: {t}\r\n"))
        .unwrap_or_default();
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n{content_type}Content-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    send(server.addr(), &bytes).expect("a response")
}

/// `response` is a 200 whose body is exactly `json`.
fn assert_json(response: &RawResponse, json: &str) {
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), json);
}

// ---------------------------------------------------------------------------
// §2.1: the contract
// ---------------------------------------------------------------------------

#[test]
fn a_direct_request_runs_because_the_server_sets_redirect_status() {
    if !php_available() {
        return;
    }
    let setup = Setup::new("");
    setup.page("server.php", SERVER_PAGE);
    let server = setup.start();
    // A client's Redirect-Status arrives as HTTP_REDIRECT_STATUS, and
    // changes nothing: REDIRECT_STATUS is the server's.
    let response = request(&server, "GET /server.php HTTP/1.1\r\nRedirect-Status: 404");
    assert_eq!(response.status, 200, "{}", response.text());
    let text = response.text();
    assert!(text.contains(r#""REDIRECT_STATUS":"200""#), "{text}");
    assert!(text.contains(r#""HTTP_REDIRECT_STATUS":"404""#), "{text}");
    // php-cgi's own headers come through: its lowercase `Content-type` is
    // a Content-Type like any other.
    assert_eq!(response.header("content-type"), Some("application/json"));
}

#[test]
fn path_info_after_a_php_page_reaches_php() {
    if !php_available() {
        return;
    }
    let setup = Setup::new("");
    setup.page("server.php", SERVER_PAGE);
    let server = setup.start();
    let root = fs::canonicalize(setup.path("www")).unwrap();
    let root = root.to_str().unwrap();
    let response = get(&server, "/server.php/a/b%20c?q=1");
    assert_json(
        &response,
        &format!(
            r#"{{"PATH_INFO":"/a/b c","SCRIPT_NAME":"/server.php","PHP_SELF":"/server.php/a/b c","REQUEST_URI":"/server.php/a/b%20c?q=1","SCRIPT_FILENAME":"{root}/server.php","QUERY_STRING":"q=1","REDIRECT_STATUS":"200","HTTP_REDIRECT_STATUS":null,"DOCUMENT_ROOT":"{root}","CONTENT_LENGTH":null,"REQUEST_METHOD":"GET"}}"#
        ),
    );
}

#[test]
fn php_cgi_gets_no_arguments_from_an_indexed_query() {
    // CVE-2012-1823: `?-s` as argv made php-cgi print the page's source.
    if !php_available() {
        return;
    }
    let setup = Setup::new("");
    setup.page("secret.php", "<?php /* the source: s3cr3t */ echo 'ran';\n");
    let server = setup.start();
    for query in ["-s", "-d+auto_prepend_file%3d/etc/passwd"] {
        let response = get(&server, &format!("/secret.php?{query}"));
        assert_eq!(
            (response.status, response.text().as_str()),
            (200, "ran"),
            "{query}"
        );
    }
}

#[test]
fn missing_pages_and_non_php_files_before_a_php_name_are_404_and_never_run() {
    let Some(php_cgi) = php_cgi() else {
        return;
    };
    let setup = Setup::new("[php]\nbinary = \"./php-spawns\"\n");
    // php.binary is a wrapper that records each start, then runs php-cgi.
    let spawns = setup.path("spawns");
    let wrapper = setup.path("php-spawns");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$# $*\" >> '{}'\nexec '{}' \"$@\"\n",
            spawns.display(),
            php_cgi.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    // An "image" someone uploaded, holding PHP code.
    setup.page("uploads/evil.jpg", "<?php echo 'EXECUTED';\n");
    setup.page("real.php", "<?php echo 'real';\n");
    let server = setup.start();
    for path in [
        "/missing.php",
        "/missing.php/extra",
        "/uploads/evil.jpg/x.php",
        "/uploads/evil.jpg/x.php/more",
        "/uploads/evil.jpg%2Fx.php",
    ] {
        let response = get(&server, path);
        assert_eq!(response.status, 404, "{path}: {}", response.text());
        let text = response.text();
        assert!(!text.contains("EXECUTED"), "{path}: {text}");
        // php-cgi's own answer for a missing script: it was started.
        assert!(!text.contains("No input file specified"), "{path}: {text}");
    }
    assert!(!spawns.exists(), "php-cgi was started for a 404");
    // The wrapper does work, and php-cgi gets no argument from it.
    let response = get(&server, "/real.php?-s");
    assert_eq!((response.status, response.text().as_str()), (200, "real"));
    assert_eq!(fs::read_to_string(&spawns).unwrap(), "0 \n");
}

#[test]
fn a_missing_php_binary_is_a_503_that_says_so() {
    // Needs no php-cgi: the point is that there is none.
    let setup = Setup::new("[php]\nbinary = \"/nonexistent/php-cgi\"\n");
    setup.page("index.php", "<?php echo 'never';\n");
    let server = setup.start();
    let response = get(&server, "/index.php");
    assert_eq!(response.status, 503);
    let text = response.text();
    assert!(text.contains("/nonexistent/php-cgi"), "{text}");
    assert!(text.contains("php-cgi"), "{text}");
    assert!(!text.contains("never"), "{text}");
    let log = setup.log_with("/nonexistent/php-cgi");
    assert!(
        log.lines()
            .any(|l| l.contains("[php:") && l.contains("/nonexistent/php-cgi")),
        "{log}"
    );
}

// ---------------------------------------------------------------------------
// §2.2: output
// ---------------------------------------------------------------------------

#[test]
fn http_response_code_418_is_a_teapot() {
    if !php_available() {
        return;
    }
    let setup = Setup::new("");
    setup.page(
        "teapot.php",
        "<?php http_response_code(418); echo 'short and stout';\n",
    );
    let server = setup.start();
    let response = get(&server, "/teapot.php");
    // php-cgi prints a bare `Status: 418`; the reason is the server's.
    assert_eq!(
        (response.status, response.reason.as_str()),
        (418, "I'm a teapot")
    );
    assert_eq!(response.text(), "short and stout");
}

#[test]
fn a_location_header_from_php_is_a_302_for_the_client() {
    if !php_available() {
        return;
    }
    let setup = Setup::new("");
    setup.page("go.php", "<?php header('Location: /x'); echo 'moving';\n");
    let server = setup.start();
    let response = get(&server, "/go.php");
    // php-cgi adds `Status: 302 Found`, so this is never a local redirect
    // (which would have served /x, a 404).
    assert_eq!((response.status, response.reason.as_str()), (302, "Found"));
    assert_eq!(response.header("location"), Some("/x"));
}

#[test]
fn a_fatal_error_is_a_500_with_phps_message_in_the_error_log() {
    if !php_available() {
        return;
    }
    let setup = Setup::new("");
    setup.page(
        "fatal.php",
        "<?php echo 'before'; no_such_function_here();\n",
    );
    let server = setup.start();
    let response = get(&server, "/fatal.php");
    assert_eq!(response.status, 500, "{}", response.text());
    let log = setup.log_with("no_such_function_here");
    assert!(
        log.lines()
            .any(|l| l.contains("fatal.php") && l.contains("Call to undefined function")),
        "{log}"
    );
}

#[test]
fn head_gets_phps_headers_and_no_body() {
    if !php_available() {
        return;
    }
    let setup = Setup::new("");
    setup.page(
        "page.php",
        "<?php header('X-Page: yes'); echo str_repeat('body ', 1000);\n",
    );
    let server = setup.start();
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send(b"HEAD /page.php HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let response = client.read_response(true).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-page"), Some("yes"));
    assert_eq!(client.read_to_end().unwrap(), b"", "HEAD got body bytes");
}

// ---------------------------------------------------------------------------
// §2.3: forms and bodies
// ---------------------------------------------------------------------------

#[test]
fn a_query_fills_get() {
    if !php_available() {
        return;
    }
    let setup = Setup::new("");
    setup.page("get.php", "<?php echo json_encode($_GET);\n");
    let server = setup.start();
    assert_json(
        &get(&server, "/get.php?a=1&b=%41+c&list[]=x&list[]=y"),
        r#"{"a":"1","b":"A c","list":["x","y"]}"#,
    );
}

#[test]
fn an_urlencoded_form_fills_post() {
    if !php_available() {
        return;
    }
    let setup = Setup::new("");
    setup.page("post.php", "<?php echo json_encode($_POST);\n");
    let server = setup.start();
    let response = post(
        &server,
        "/post.php",
        Some("application/x-www-form-urlencoded"),
        b"name=Ann+B&x=%41%26",
    );
    assert_json(&response, r#"{"name":"Ann B","x":"A&"}"#);
}

#[test]
fn a_chunked_form_is_dechunked_and_gets_a_content_length() {
    // Without CONTENT_LENGTH php-cgi reads nothing, and $_POST is empty.
    if !php_available() {
        return;
    }
    let setup = Setup::new("");
    setup.page(
        "post.php",
        "<?php echo json_encode([$_SERVER['CONTENT_LENGTH'] ?? null, $_POST]);\n",
    );
    let server = setup.start();
    let response = send(
        server.addr(),
        b"POST /post.php HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nname=\r\n5\r\nAnn+B\r\n9\r\n&x=%41%26\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_json(&response, r#"["19",{"name":"Ann B","x":"A&"}]"#);
}

#[test]
fn a_multipart_upload_fills_files() {
    if !php_available() {
        return;
    }
    let setup = Setup::new("");
    setup.page(
        "upload.php",
        "<?php
$f = $_FILES['file'];
echo json_encode(['field' => $_POST['field'], 'name' => $f['name'], 'type' => $f['type'],
    'error' => $f['error'], 'size' => $f['size'], 'md5' => md5_file($f['tmp_name'])]);
",
    );
    let server = setup.start();
    let boundary = "----stepwise-boundary-7MA4YWxkTrZu0gW";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nhello\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bytes.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&upload_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = post(
        &server,
        "/upload.php",
        Some(&format!("multipart/form-data; boundary={boundary}")),
        &body,
    );
    assert_json(
        &response,
        &format!(
            r#"{{"field":"hello","name":"bytes.bin","type":"application\/octet-stream","error":0,"size":256000,"md5":"{UPLOAD_MD5}"}}"#
        ),
    );
}

#[test]
fn request_bodies_of_every_size_come_back_whole() {
    // 10 MiB through php-cgi, which copies as it reads: no deadlock, and
    // nothing lost. (php.ini's post_max_size concerns form parsing only,
    // and there is no form here.)
    if !php_available() {
        return;
    }
    let setup = Setup::new("[limits]\nmax_body = 16777216\n");
    setup.page("echo.php", ECHO_PAGE);
    let server = setup.start();
    for size in [1, 64 * 1024 + 1, 10 * 1024 * 1024] {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let response = post(&server, "/echo.php", None, &body);
        assert_eq!(response.status, 200, "{size} bytes: {}", response.text());
        assert_eq!(
            response.header("x-content-length"),
            Some(size.to_string().as_str())
        );
        assert_eq!(response.body.len(), size, "length of the echo");
        assert!(response.body == body, "the echo of {size} bytes differs");
    }
}

// ---------------------------------------------------------------------------
// §2.4: sessions
// ---------------------------------------------------------------------------

/// The session tests use php.ini's `session.save_path` (Debian:
/// `/var/lib/php/sessions`, mode 1733, so any user may create a session
/// file there). It cannot be moved for a test: `-d` would be an argument,
/// which php-cgi must never get, and the server clears the environment.
#[test]
fn a_session_counts_across_requests_with_its_cookie() {
    if !php_available() {
        return;
    }
    let setup = Setup::new("");
    setup.page(
        "count.php",
        "<?php
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
header('Content-Type: text/plain');
echo $_SESSION['n'];
",
    );
    let server = setup.start();
    let first = get(&server, "/count.php");
    assert_eq!(
        (first.status, first.text().as_str()),
        (200, "1"),
        "{first:?}"
    );
    let cookie = first
        .headers_named("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("PHPSESSID="))
        .expect("a PHPSESSID cookie")
        .to_owned();
    let id = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("PHPSESSID="))
        .expect("PHPSESSID=<id>")
        .to_owned();
    assert!(cookie.contains("path=/"), "{cookie}");
    assert_eq!(
        first.header("cache-control"),
        Some("no-store, no-cache, must-revalidate")
    );
    for expected in ["2", "3"] {
        // A second Cookie line too: joined with `; ` PHP still finds the
        // session (with `, ` it would read one cookie named `other`).
        let response = request(
            &server,
            &format!("GET /count.php HTTP/1.1\r\nCookie: other=1\r\nCookie: PHPSESSID={id}"),
        );
        assert_eq!((response.status, response.text().as_str()), (200, expected));
        assert!(
            response.headers_named("set-cookie").is_empty(),
            "a resumed session sent a new cookie"
        );
    }
    // Leave no session file behind (best effort: the path is php.ini's).
    let _ = fs::remove_file(format!("/var/lib/php/sessions/sess_{id}"));
}

// ---------------------------------------------------------------------------
// Deviations from §2 in files this suite does not own: ignored until fixed
// there (`cargo test -p step06-full --test php -- --ignored` shows them).
// ---------------------------------------------------------------------------

#[test]
fn a_php_ini_in_the_document_root_is_never_read() {
    // php-cgi (unlike the CLI) looks for php.ini in its working directory
    // first, and one found there replaces the system's whole php.ini. A
    // php.ini that someone managed to put next to a page must not turn
    // into PHP's configuration (`auto_prepend_file`, `disable_functions`…).
    // php-cgi changes into the page's directory by itself, so starting it
    // elsewhere (say `/`) loses nothing.
    if !php_available() {
        return;
    }
    let setup = Setup::new("");
    setup.page("php.ini", "memory_limit = 7M\n");
    setup.page("uploads/php.ini", "memory_limit = 7M\n");
    setup.page(
        "limit.php",
        "<?php echo ini_get('memory_limit'), ' ', getcwd();\n",
    );
    setup.page(
        "uploads/limit.php",
        "<?php echo ini_get('memory_limit'), ' ', getcwd();\n",
    );
    let server = setup.start();
    let root = fs::canonicalize(setup.path("www")).unwrap();
    for (path, directory) in [
        ("/limit.php", root.clone()),
        ("/uploads/limit.php", root.join("uploads")),
    ] {
        let text = get(&server, path).text();
        assert!(
            !text.starts_with("7M"),
            "{path} read the page's php.ini: {text}"
        );
        // The page still runs in its own directory (RFC 3875 §7.2).
        assert!(
            text.ends_with(directory.to_str().unwrap()),
            "{path}: {text}"
        );
    }
}
