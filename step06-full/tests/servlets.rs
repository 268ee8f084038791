//! Servlets, sessions and mounted applications over sockets: the visit
//! counter and its session cookie, the lock that keeps concurrent
//! requests from losing updates, expiry and the sweeper, sessions that
//! outlive the server, hostile cookies and planted session files, the
//! login servlet's new id at each change of privilege, and chapter 2's
//! applications seeing the right `SCRIPT_NAME` and `PATH_INFO`.
//!
//! The session machinery itself (ids, the cookie parser, the file store's
//! locks and atomic writes) is unit-tested in `src/session/`; these tests
//! check what a browser, and an administrator reading the session
//! directory, would see.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;
use test_support::proc::eventually;
use test_support::{Client, RawResponse, TestServer, send};

/// The session cookie's default name.
const COOKIE: &str = "STEPWISE_SESSION";

/// Where the visits servlet is mounted.
const VISITS: &str = "/servlet/visits";

/// Where the login servlet is mounted.
const LOGIN: &str = "/servlet/login";

/// How long to wait for something the server does in the background (the
/// sweeper, a log line): generous, since a loaded CI machine is slow.
const PATIENCE: Duration = Duration::from_secs(20);

/// Every mount the tests use: the two servlets with sessions, one
/// without, chapter 2's `environ` at a prefix, below a deeper one and with
/// sessions, and `hello` mounted *inside* `environ`'s prefix.
const MOUNTS: &str = r#"
[[mount]]
path = "/servlet/visits"
servlet = "visits"
sessions = true

[[mount]]
path = "/servlet/login"
servlet = "login"
sessions = true

[[mount]]
path = "/plain"
servlet = "visits"

[[mount]]
path = "/apps/env"
app = "environ"

[[mount]]
path = "/apps/env/hello"
app = "hello"

[[mount]]
path = "/deep/er/path"
app = "environ"

[[mount]]
path = "/with-session"
app = "environ"
sessions = true
"#;

/// A document root, a session directory and a config file in a
/// temporary directory.
struct Setup {
    dir: TempDir,
}

impl Setup {
    /// The default session settings.
    fn new() -> Setup {
        Setup::with_sessions("")
    }

    /// `sessions` added to the `[sessions]` table (`idle_timeout = 1`).
    fn with_sessions(sessions: &str) -> Setup {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let www = dir.path().join("www");
        fs::create_dir_all(www.join("apps/env")).expect("mkdir www/apps/env");
        fs::write(www.join("index.html"), "<h1>home</h1>\n").expect("write index.html");
        // A file next to the `/apps/env` mount whose name starts the same.
        fs::write(www.join("apps/envy"), "a file, not the app\n").expect("write apps/envy");
        // A file the `/apps/env` mount hides: no spelling may reach it.
        fs::write(www.join("apps/env/secret.txt"), "hidden by the mount\n")
            .expect("write apps/env/secret.txt");
        let config = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\ndocument_root = \"www\"\n\
             [log]\nerror = \"logs/error.log\"\nstderr = \"never\"\n\
             [sessions]\ndirectory = \"sessions\"\n{sessions}\n{MOUNTS}"
        );
        fs::write(dir.path().join("stepwise.toml"), config).expect("write the config");
        Setup { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The session directory.
    fn sessions(&self) -> PathBuf {
        self.path("sessions")
    }

    /// The data file of session `id`.
    fn session_file(&self, id: &str) -> PathBuf {
        self.sessions().join(format!("{id}.json"))
    }

    /// The names in the session directory, sorted.
    fn session_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.sessions())
            .expect("list the session directory")
            .map(|entry| {
                entry
                    .expect("a directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// The error log, as written so far.
    fn error_log(&self) -> String {
        fs::read_to_string(self.path("logs/error.log")).unwrap_or_default()
    }

    /// Starts the server, with `tracing`'s level fixed whatever the test's
    /// environment says.
    fn start(&self) -> TestServer {
        let config = self.path("stepwise.toml");
        TestServer::spawn_with(
            env!("CARGO_BIN_EXE_step06-full"),
            &["--config", config.to_str().expect("a UTF-8 path")],
            |command| {
                command.env("RUST_LOG", "warn");
            },
        )
    }
}

/// Sends `head` (a request line and any headers, without the final CRLF)
/// with `Host` and `Connection: close`, and no body.
fn fetch(server: &TestServer, head: &str) -> RawResponse {
    let bytes = format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n");
    send(server.addr(), bytes.as_bytes()).expect("a response")
}

/// POSTs the form `body` to `path`, with `cookie` as the session cookie.
fn post_form(server: &TestServer, path: &str, cookie: Option<&str>, body: &str) -> RawResponse {
    let cookie = cookie.map_or_else(String::new, |id| format!("Cookie: {COOKIE}={id}\r\n"));
    let bytes = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{cookie}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    send(server.addr(), bytes.as_bytes()).expect("a response")
}

/// GETs `path` with the session cookie set to `id`, if any.
fn get_with(server: &TestServer, path: &str, id: Option<&str>) -> RawResponse {
    match id {
        Some(id) => fetch(
            server,
            &format!("GET {path} HTTP/1.1\r\nCookie: {COOKIE}={id}"),
        ),
        None => fetch(server, &format!("GET {path} HTTP/1.1")),
    }
}

/// One visit to the counter.
fn visit(server: &TestServer, id: Option<&str>) -> RawResponse {
    get_with(server, VISITS, id)
}

/// The visit number a counter page shows.
fn count(page: &RawResponse) -> u64 {
    let text = page.text();
    let start = text
        .find("<span id=\"visits\">")
        .unwrap_or_else(|| panic!("no visit count in the page ({}):\n{text}", page.status))
        + "<span id=\"visits\">".len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().expect("a visit count")
}

/// Whether `text` is spelt as the server spells ids: 32 lowercase hex
/// digits.
fn is_session_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The session id a response hands out in its one `Set-Cookie`.
fn issued_id(response: &RawResponse) -> String {
    let cookies = response.headers_named("set-cookie");
    assert_eq!(cookies.len(), 1, "one Set-Cookie expected: {cookies:?}");
    let id = cookies[0]
        .strip_prefix(&format!("{COOKIE}="))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("not a session cookie: {}", cookies[0]));
    assert!(is_session_id(id), "not a session id: {id:?}");
    id.to_owned()
}

/// The `Set-Cookie` that tells the browser to drop the cookie at `path`.
fn deletion(path: &str) -> String {
    format!("{COOKIE}=; Path={path}; Max-Age=0; HttpOnly; SameSite=Lax")
}

/// The value of `NAME=value` in the environ app's listing.
fn environ_var<'a>(listing: &'a str, name: &str) -> Option<&'a str> {
    listing
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
}

/// The permission bits of `path` (not following a symlink).
fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// The time now in whole seconds since the epoch, as session files hold it.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

/// A new session: its id, after a first visit.
fn new_session(server: &TestServer) -> String {
    let first = visit(server, None);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(count(&first), 1);
    issued_id(&first)
}

#[test]
fn the_counter_counts_with_the_cookie_and_starts_again_without_it() {
    let setup = Setup::new();
    let server = setup.start();
    let first = visit(&server, None);
    assert_eq!(first.status, 200);
    assert_eq!(count(&first), 1);
    assert!(first.text().contains("(new)"), "{}", first.text());
    let id = issued_id(&first);

    for expected in 2..=4 {
        let again = visit(&server, Some(&id));
        assert_eq!(again.status, 200);
        assert_eq!(count(&again), expected);
        assert!(again.text().contains("(resumed)"), "{}", again.text());
        // The browser's cookie is still good: nothing to set.
        assert!(again.headers_named("set-cookie").is_empty());
    }
    let data: serde_json::Value =
        serde_json::from_slice(&fs::read(setup.session_file(&id)).expect("the session file"))
            .expect("JSON");
    assert_eq!(data["data"]["visits"], "4");

    // Without the cookie: another session, another id, from 1.
    let other = visit(&server, None);
    assert_eq!(count(&other), 1);
    assert_ne!(issued_id(&other), id);
    // The first session is untouched by the second.
    assert_eq!(count(&visit(&server, Some(&id))), 5);

    // Among other cookies, in one header or in two.
    let among = fetch(
        &server,
        &format!("GET {VISITS} HTTP/1.1\r\nCookie: theme=dark; {COOKIE}={id}; lang=en"),
    );
    assert_eq!(count(&among), 6);
    let split = fetch(
        &server,
        &format!("GET {VISITS} HTTP/1.1\r\nCookie: theme=dark\r\nCookie: {COOKIE}={id}"),
    );
    assert_eq!(count(&split), 7);
    // A path below the mount is the same servlet, and the same session.
    let below = get_with(&server, &format!("{VISITS}/more/below?x=1"), Some(&id));
    assert_eq!(count(&below), 8);
    assert!(
        below.text().contains("GET /servlet/visits/more/below"),
        "{}",
        below.text()
    );
}

#[test]
fn the_page_never_shows_the_whole_session_id() {
    // The cookie is HttpOnly so that a script in the page cannot read it;
    // a page that prints the request's headers must not hand it back.
    let setup = Setup::new();
    let server = setup.start();
    let id = new_session(&server);
    let page = visit(&server, Some(&id));
    assert_eq!(count(&page), 2);
    let text = page.text();
    assert!(
        !text.contains(&id),
        "the page shows the session id:\n{text}"
    );
    // The rest of the Cookie header is still shown.
    let page = fetch(
        &server,
        &format!("GET {VISITS} HTTP/1.1\r\nCookie: theme=dark; {COOKIE}={id}"),
    );
    assert_eq!(count(&page), 3);
    assert!(page.text().contains("theme=dark"), "{}", page.text());
    assert!(!page.text().contains(&id));
}

#[test]
fn fifty_concurrent_increments_of_one_session_lose_none() {
    const CLIENTS: u64 = 50;
    let setup = Setup::new();
    let server = setup.start();
    let id = new_session(&server);
    let addr = server.addr();
    let start = Arc::new(Barrier::new(CLIENTS as usize));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let start = Arc::clone(&start);
            let id = id.clone();
            thread::spawn(move || {
                let mut client = Client::connect(addr).expect("connect");
                start.wait();
                client
                    .send(
                        format!(
                            "GET {VISITS} HTTP/1.1\r\nHost: x\r\nCookie: {COOKIE}={id}\r\n\
                             Connection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .expect("send");
                client.read_response(false).expect("a response")
            })
        })
        .collect();
    let mut seen: Vec<u64> = threads
        .into_iter()
        .map(|thread| {
            let page = thread.join().expect("a client thread");
            assert_eq!(page.status, 200, "{}", page.text());
            assert!(page.headers_named("set-cookie").is_empty());
            count(&page)
        })
        .collect();
    // Each request saw the one before it: every number once.
    seen.sort_unstable();
    assert_eq!(seen, (2..=CLIENTS + 1).collect::<Vec<_>>());
    let data: serde_json::Value =
        serde_json::from_slice(&fs::read(setup.session_file(&id)).expect("the session file"))
            .expect("JSON");
    assert_eq!(data["data"]["visits"], (CLIENTS + 1).to_string());
    assert_eq!(count(&visit(&server, Some(&id))), CLIENTS + 2);
    // No temporary file of a save is left behind.
    let entries = setup.session_entries();
    assert!(
        entries.iter().all(|name| !name.ends_with(".tmp")),
        "{entries:?}"
    );
}

#[test]
fn the_sweeper_deletes_an_expired_session_and_its_cookie_starts_afresh() {
    let setup = Setup::with_sessions("idle_timeout = 1\nsweep_interval = 0.2\n");
    let server = setup.start();
    let id = new_session(&server);
    let file = setup.session_file(&id);
    assert!(file.exists());
    // Nobody uses the session: the sweeper, the only one left to delete
    // it, does so once it has been idle for a second.
    assert!(
        eventually(PATIENCE, || !file.exists()),
        "the sweeper left {}",
        file.display()
    );
    // The lock file goes with it: nothing of the session is left.
    assert!(
        eventually(PATIENCE, || setup.session_entries().is_empty()),
        "{:?}",
        setup.session_entries()
    );
    let again = visit(&server, Some(&id));
    assert_eq!(again.status, 200);
    assert_eq!(count(&again), 1);
    let fresh = issued_id(&again);
    assert_ne!(fresh, id, "an expired id must not come back to life");
}

#[test]
fn an_expired_session_is_not_resumed_even_before_the_sweep() {
    // A sweep only at start: expiry on reading is what logs people out.
    let setup = Setup::with_sessions("idle_timeout = 1\nsweep_interval = 3600\n");
    let server = setup.start();
    let id = new_session(&server);
    thread::sleep(Duration::from_millis(1500));
    assert!(setup.session_file(&id).exists(), "swept too early");
    let again = visit(&server, Some(&id));
    assert_eq!(again.status, 200);
    assert_eq!(count(&again), 1);
    assert!(again.text().contains("(new)"), "{}", again.text());
    assert_ne!(issued_id(&again), id);
    // The expired record was deleted when it was found expired.
    assert!(!setup.session_file(&id).exists());
}

#[test]
fn sessions_survive_a_restart() {
    let setup = Setup::new();
    let first = setup.start();
    let id = new_session(&first);
    assert_eq!(count(&visit(&first, Some(&id))), 2);
    first.stop();

    let second = setup.start();
    let again = visit(&second, Some(&id));
    assert_eq!(again.status, 200);
    assert_eq!(count(&again), 3);
    assert!(again.text().contains("(resumed)"), "{}", again.text());
    assert!(again.headers_named("set-cookie").is_empty());
}

#[test]
fn hostile_cookies_get_a_fresh_session_with_an_id_of_the_servers_making() {
    let setup = Setup::new();
    let server = setup.start();
    let id = new_session(&server);
    let never_issued = "0123456789abcdef0123456789abcdef";
    let long = "a".repeat(1000);
    let upper = id.to_ascii_uppercase();
    let cases = [
        format!("{COOKIE}=../../etc/passwd"),
        format!("{COOKIE}=..%2F..%2Fetc%2Fpasswd"),
        format!("{COOKIE}={long}"),
        // The issued id, in capitals: an id has one spelling only.
        format!("{COOKIE}={upper}"),
        format!("{COOKIE}="),
        format!("{COOKIE}={never_issued}"),
        format!("{COOKIE}={id}0"),
        format!("{COOKIE}= {}", &id[1..]),
        // Two cookies of the name: the first wins, and it is junk.
        format!("{COOKIE}=junk; {COOKIE}={id}"),
        // Another name that merely looks alike.
        format!("{}={id}", COOKIE.to_ascii_lowercase()),
    ];
    for cookie in &cases {
        let page = fetch(
            &server,
            &format!("GET {VISITS} HTTP/1.1\r\nCookie: {cookie}"),
        );
        assert_eq!(page.status, 200, "{cookie}: {}", page.text());
        assert_eq!(count(&page), 1, "{cookie}");
        let fresh = issued_id(&page);
        assert_ne!(fresh, id, "{cookie}");
        assert_ne!(fresh, never_issued, "{cookie}");
    }
    // The real session was never disturbed, and when it comes first it
    // wins; quotes around a value are not part of it.
    let page = fetch(
        &server,
        &format!("GET {VISITS} HTTP/1.1\r\nCookie: {COOKIE}={id}; {COOKIE}=junk"),
    );
    assert_eq!(count(&page), 2);
    let page = fetch(
        &server,
        &format!("GET {VISITS} HTTP/1.1\r\nCookie: {COOKIE}=\"{id}\""),
    );
    assert_eq!(count(&page), 3);

    // Nothing a client sent became a file: only ids the server made are
    // in the directory, and the made-up one left no lock file behind.
    let entries = setup.session_entries();
    assert!(
        entries.iter().all(|name| {
            name.strip_suffix(".json")
                .or_else(|| name.strip_suffix(".lock"))
                .is_some_and(is_session_id)
        }),
        "{entries:?}"
    );
    assert!(
        !entries.iter().any(|name| name.starts_with(never_issued)),
        "{entries:?}"
    );
    assert!(!setup.path("etc").exists());
    assert!(!setup.dir.path().join("../etc/passwd.json").exists());
}

/// What a planted or damaged session file is replaced with.
enum Damage {
    Garbage,
    TruncatedJson,
    Directory,
    Symlink,
    Huge,
}

#[test]
fn corrupt_and_planted_session_files_start_a_fresh_session_and_are_logged() {
    let setup = Setup::new();
    let server = setup.start();
    // Outside the session directory: a valid record a symlink points to.
    let elsewhere = setup.path("elsewhere.json");
    let valid = format!(
        r#"{{"created":{now},"accessed":{now},"data":{{"visits":"41"}}}}"#,
        now = unix_now()
    );
    fs::write(&elsewhere, &valid).expect("write the symlink's target");

    for damage in [
        Damage::Garbage,
        Damage::TruncatedJson,
        Damage::Directory,
        Damage::Symlink,
        Damage::Huge,
    ] {
        let id = new_session(&server);
        assert_eq!(count(&visit(&server, Some(&id))), 2);
        let file = setup.session_file(&id);
        let record = fs::read(&file).expect("the session file");
        let what = match damage {
            Damage::Garbage => {
                fs::write(&file, b"\x00\xffnot json at all").expect("overwrite");
                "garbage"
            }
            Damage::TruncatedJson => {
                fs::write(&file, &record[..record.len() / 2]).expect("truncate");
                "truncated JSON"
            }
            Damage::Directory => {
                fs::remove_file(&file).expect("remove");
                fs::create_dir(&file).expect("mkdir in its place");
                fs::write(file.join("inside"), "x").expect("fill the directory");
                "a directory"
            }
            Damage::Symlink => {
                fs::remove_file(&file).expect("remove");
                std::os::unix::fs::symlink(&elsewhere, &file).expect("symlink");
                "a symlink"
            }
            Damage::Huge => {
                // Valid JSON, but over the 1 MiB a record may have.
                let pad = "x".repeat(2 * 1024 * 1024);
                let huge = format!(
                    r#"{{"created":{now},"accessed":{now},"data":{{"visits":"7","pad":"{pad}"}}}}"#,
                    now = unix_now()
                );
                fs::write(&file, huge).expect("write a huge record");
                "a huge file"
            }
        };
        let page = visit(&server, Some(&id));
        assert_eq!(page.status, 200, "{what}: {}", page.text());
        // Not 3, and not 42 read through the symlink.
        assert_eq!(count(&page), 1, "{what}");
        assert_ne!(issued_id(&page), id, "{what}");
        // Reported in the error log (stderr = "never": only there).
        let needle = "[session:warn] [pid ";
        let about = format!("session {}: corrupt session record replaced", &id[..8]);
        let logged = || {
            setup
                .error_log()
                .lines()
                .any(|line| line.contains(needle) && line.contains(&about))
        };
        assert!(
            eventually(PATIENCE, logged),
            "{what}: no line {about:?} in the error log:\n{}",
            setup.error_log()
        );
    }
    // The symlink's target was neither read into a session nor touched.
    assert_eq!(
        fs::read_to_string(&elsewhere).expect("the target is still there"),
        valid
    );
}

#[test]
fn the_session_cookie_is_http_only_lax_and_scoped_to_the_mount() {
    let setup = Setup::new();
    let server = setup.start();
    let page = visit(&server, None);
    let id = issued_id(&page);
    assert_eq!(
        page.headers_named("set-cookie"),
        [format!(
            "{COOKIE}={id}; Path={VISITS}; HttpOnly; SameSite=Lax"
        )]
    );
    assert_eq!(page.header("cache-control"), Some("private"));
}

#[test]
fn secure_and_a_renamed_cookie_are_configurable() {
    let setup = Setup::with_sessions("secure = true\ncookie_name = \"sid\"\n");
    let server = setup.start();
    let page = visit(&server, None);
    let cookies = page.headers_named("set-cookie");
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let id = cookies[0]
        .strip_prefix("sid=")
        .and_then(|rest| rest.split(';').next())
        .expect("a cookie named sid");
    assert!(is_session_id(id), "{id}");
    assert_eq!(
        cookies[0],
        format!("sid={id}; Path={VISITS}; HttpOnly; SameSite=Lax; Secure")
    );
    // The session travels under the configured name, and only under it.
    let again = fetch(
        &server,
        &format!("GET {VISITS} HTTP/1.1\r\nCookie: sid={id}"),
    );
    assert_eq!(count(&again), 2);
    let default_name = visit(&server, Some(id));
    assert_eq!(count(&default_name), 1);
}

#[test]
fn session_files_are_private_to_the_server() {
    let setup = Setup::new();
    assert!(!setup.sessions().exists());
    let server = setup.start();
    // The directory is made at start, before any session exists.
    assert_eq!(mode(&setup.sessions()), 0o700);
    let id = new_session(&server);
    assert_eq!(mode(&setup.session_file(&id)), 0o600);
    // A save replaces the file: the new one is private from the start.
    assert_eq!(count(&visit(&server, Some(&id))), 2);
    assert_eq!(mode(&setup.session_file(&id)), 0o600);
    for name in setup.session_entries() {
        assert_eq!(mode(&setup.sessions().join(&name)), 0o600, "{name}");
    }
}

#[test]
fn mounted_apps_see_script_name_and_path_info() {
    let setup = Setup::new();
    let server = setup.start();
    for (path, script_name, path_info, query) in [
        ("/apps/env", "/apps/env", "", ""),
        ("/apps/env/", "/apps/env", "/", ""),
        ("/apps/env/a/b%20c?x=1", "/apps/env", "/a/b c", "x=1"),
        ("/apps/env/hellox", "/apps/env", "/hellox", ""),
        ("/deep/er/path", "/deep/er/path", "", ""),
        ("/deep/er/path/x/?y=%20", "/deep/er/path", "/x/", "y=%20"),
        // An escaped `?` is part of the path, decoded once.
        ("/apps/env/a%3Fb%2541?q", "/apps/env", "/a?b%41", "q"),
    ] {
        let page = get_with(&server, path, None);
        assert_eq!(page.status, 200, "{path}: {}", page.text());
        let listing = page.text();
        assert_eq!(
            environ_var(&listing, "SCRIPT_NAME"),
            Some(script_name),
            "{path}:\n{listing}"
        );
        assert_eq!(
            environ_var(&listing, "PATH_INFO"),
            Some(path_info),
            "{path}:\n{listing}"
        );
        assert_eq!(environ_var(&listing, "QUERY_STRING"), Some(query), "{path}");
        assert_eq!(environ_var(&listing, "REQUEST_URI"), Some(path), "{path}");
        // No session middleware on these mounts.
        assert!(page.headers_named("set-cookie").is_empty());
    }
    // Other spellings of a path under the mount are under it (as the file
    // handler would read them), and the application sees the normalised
    // path; a file under the prefix is never served.
    for path in [
        "/apps/env/secret.txt",
        "/apps/%65nv/secret.txt",
        "/apps/./env/secret.txt",
        "//apps/env/secret.txt",
        "/apps/x/../env/secret.txt",
        "/apps/env//secret.txt",
    ] {
        let page = get_with(&server, path, None);
        assert_eq!(page.status, 200, "{path}");
        let listing = page.text();
        assert!(!listing.contains("hidden by the mount"), "{path}");
        assert_eq!(
            environ_var(&listing, "SCRIPT_NAME"),
            Some("/apps/env"),
            "{path}"
        );
        assert_eq!(
            environ_var(&listing, "PATH_INFO"),
            Some("/secret.txt"),
            "{path}"
        );
        // What the client sent, though.
        assert_eq!(environ_var(&listing, "REQUEST_URI"), Some(path), "{path}");
    }
    // A path that only starts with the prefix's text is not under it.
    let out = get_with(&server, "/apps/env/../envy", None);
    assert_eq!(out.text(), "a file, not the app\n");
    // The longest prefix wins: `hello` is mounted inside `/apps/env`.
    let hello = get_with(&server, "/apps/env/hello/x", None);
    assert_eq!(hello.text(), "Hello, world!\n");
    // Prefixes match whole segments: these are the files' business.
    let envy = get_with(&server, "/apps/envy", None);
    assert_eq!(
        (envy.status, envy.text().as_str()),
        (200, "a file, not the app\n")
    );
    for path in ["/apps/envx", "/deep/er", "/deep/er/pathology"] {
        let page = get_with(&server, path, None);
        assert_eq!(page.status, 404, "{path}: {}", page.text());
        assert!(!page.text().contains("SCRIPT_NAME"), "{path}");
    }
}

#[test]
fn post_bodies_reach_the_application() {
    let setup = Setup::new();
    let server = setup.start();
    let page = post_form(&server, "/apps/env/form", None, "a=1&b=two");
    assert_eq!(page.status, 200);
    let listing = page.text();
    assert_eq!(environ_var(&listing, "REQUEST_METHOD"), Some("POST"));
    assert_eq!(environ_var(&listing, "CONTENT_LENGTH"), Some("9"));
    assert_eq!(
        environ_var(&listing, "CONTENT_TYPE"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(environ_var(&listing, "wsgi.input"), Some("<9 bytes>"));
    // A chunked body arrives whole, with its length.
    let chunked = send(
        server.addr(),
        b"POST /apps/env HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
          Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(chunked.status, 200);
    assert_eq!(environ_var(&chunked.text(), "CONTENT_LENGTH"), Some("7"));
    assert_eq!(
        environ_var(&chunked.text(), "wsgi.input"),
        Some("<7 bytes>")
    );

    // A servlet gets the form decoded.
    let signed_in = post_form(&server, LOGIN, None, "name=Ann+Lee%21&x=%3Cb%3E");
    assert_eq!(signed_in.status, 303);
    let id = issued_id(&signed_in);
    let page = get_with(&server, LOGIN, Some(&id));
    assert!(
        page.text()
            .contains("Signed in as <strong id=\"user\">Ann Lee!</strong>"),
        "{}",
        page.text()
    );
    // Also chunked, and with a charset on the type.
    let body = "name=%3Cscript%3EZed";
    let chunked = send(
        server.addr(),
        format!(
            "POST {LOGIN} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n\
             Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(chunked.status, 303, "{}", chunked.text());
    let page = get_with(&server, LOGIN, Some(&issued_id(&chunked)));
    // And the name is escaped in the page.
    assert!(
        page.text().contains("&lt;script&gt;Zed</strong>"),
        "{}",
        page.text()
    );
}

#[test]
fn login_renews_the_session_id_at_each_change_of_privilege() {
    let setup = Setup::new();
    let server = setup.start();
    let anonymous = get_with(&server, LOGIN, None);
    assert_eq!(anonymous.status, 200);
    assert!(anonymous.text().contains("Not signed in"));
    // Looking costs nothing: no session is stored, no cookie sent.
    assert!(anonymous.headers_named("set-cookie").is_empty());
    assert_eq!(anonymous.header("cache-control"), Some("private"));

    // An attacker signs in and plants the session's id in a victim's
    // browser (session fixation).
    let attacker = post_form(&server, LOGIN, None, "name=Mallory");
    assert_eq!(attacker.status, 303);
    let planted = issued_id(&attacker);
    assert_eq!(
        get_with(&server, LOGIN, Some(&planted)).status,
        200,
        "the planted session works"
    );

    // The victim signs in with the planted cookie: a new id.
    let login = post_form(&server, LOGIN, Some(&planted), "name=Ann");
    assert_eq!(login.status, 303, "{}", login.text());
    assert_eq!(login.header("location"), Some(LOGIN));
    assert_eq!(login.header("cache-control"), Some("private"));
    let ann = issued_id(&login);
    assert_ne!(ann, planted);
    assert!(!setup.session_file(&planted).exists());

    let page = get_with(&server, LOGIN, Some(&ann));
    assert_eq!(page.status, 200);
    assert!(
        page.text()
            .contains("Signed in as <strong id=\"user\">Ann</strong>"),
        "{}",
        page.text()
    );
    // The attacker's copy of the old id is worth nothing, and is told so.
    let old = get_with(&server, LOGIN, Some(&planted));
    assert!(old.text().contains("Not signed in"), "{}", old.text());
    assert!(!old.text().contains("Ann"));
    assert_eq!(old.headers_named("set-cookie"), [deletion(LOGIN)]);

    // Signing in again (as someone else) renews the id again.
    let relogin = post_form(&server, LOGIN, Some(&ann), "name=Bea");
    assert_eq!(relogin.status, 303);
    let bea = issued_id(&relogin);
    assert_ne!(bea, ann);
    assert!(
        get_with(&server, LOGIN, Some(&ann))
            .text()
            .contains("Not signed in")
    );

    // Logout: the session is deleted and the browser told to drop the
    // cookie; the next session the browser gets will have a new id.
    let logout = post_form(&server, LOGIN, Some(&bea), "action=logout");
    assert_eq!(logout.status, 303);
    assert_eq!(logout.header("location"), Some(LOGIN));
    assert_eq!(logout.headers_named("set-cookie"), [deletion(LOGIN)]);
    assert!(!setup.session_file(&bea).exists());
    let after = get_with(&server, LOGIN, Some(&bea));
    assert_eq!(after.status, 200);
    assert!(after.text().contains("Not signed in"), "{}", after.text());
    assert!(!after.text().contains("Bea"));

    // Bad names are refused, and sign nobody in.
    for body in ["name=", "name=+++", &format!("name={}", "n".repeat(65))] {
        let refused = post_form(&server, LOGIN, None, body);
        assert_eq!(refused.status, 400, "{body}");
        assert!(refused.headers_named("set-cookie").is_empty(), "{body}");
    }
    let longest = post_form(&server, LOGIN, None, &format!("name={}", "n".repeat(64)));
    assert_eq!(longest.status, 303);
}

#[test]
fn a_servlet_without_sessions_says_so_and_sets_no_cookie() {
    let setup = Setup::new();
    let server = setup.start();
    let id = new_session(&server);
    let page = get_with(&server, "/plain", Some(&id));
    assert_eq!(page.status, 200);
    assert!(
        page.text()
            .contains("This servlet is mounted without sessions."),
        "{}",
        page.text()
    );
    assert!(page.headers_named("set-cookie").is_empty());
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    // And it did not touch the session it was shown.
    assert_eq!(count(&visit(&server, Some(&id))), 2);
}

#[test]
fn session_responses_are_private_to_the_browser() {
    let setup = Setup::new();
    let server = setup.start();
    let id = new_session(&server);
    assert_eq!(
        visit(&server, Some(&id)).header("cache-control"),
        Some("private")
    );
    // Any application mounted with sessions, even one that never looks
    // at its session, and then without a cookie.
    let page = get_with(&server, "/with-session/x", Some(&id));
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("private"));
    assert!(page.headers_named("set-cookie").is_empty());
    // Mounted without sessions: nothing added.
    let page = get_with(&server, "/apps/env", None);
    assert_eq!(page.header("cache-control"), None);
}

#[test]
fn head_to_a_servlet_gives_the_headers_and_no_body() {
    let setup = Setup::new();
    let server = setup.start();
    let id = new_session(&server);
    let mut client = Client::connect(server.addr()).expect("connect");
    client
        .send(
            format!(
                "HEAD {VISITS} HTTP/1.1\r\nHost: x\r\nCookie: {COOKIE}={id}\r\n\
                 Connection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .expect("send");
    let head = client.read_response(true).expect("a response");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(head.header("cache-control"), Some("private"));
    let length: usize = head
        .header("content-length")
        .expect("a Content-Length")
        .parse()
        .expect("a number");
    assert!(length > 0);
    // Nothing follows the head before the server closes.
    assert_eq!(client.read_to_end().expect("read to the close"), b"");
}

/// Starts the server on a configuration with `extra` and returns its
/// stderr, asserting that it refused to start.
fn refused(extra: &str) -> String {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::create_dir(dir.path().join("www")).expect("mkdir www");
    let config = dir.path().join("stepwise.toml");
    fs::write(
        &config,
        format!("[server]\nlisten = [\"127.0.0.1:0\"]\ndocument_root = \"www\"\n{extra}"),
    )
    .expect("write the config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_step06-full"))
        .args(["--config", config.to_str().expect("a UTF-8 path")])
        .args(["--host", "127.0.0.1", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let exited = eventually(PATIENCE, || !matches!(child.try_wait(), Ok(None)));
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server started with:\n{extra}");
    }
    let output = child.wait_with_output().expect("the server's output");
    assert!(!output.status.success(), "{extra}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("Listening on"), "{extra}\n{stdout}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_bad_mount_stops_the_start_with_the_key_named() {
    for (extra, key) in [
        (
            "[[mount]]\npath = \"/s\"\nservlet = \"nope\"\n",
            "`mount[0].servlet`",
        ),
        (
            "[[mount]]\npath = \"/s\"\napp = \"nope\"\n",
            "`mount[0].app`",
        ),
        (
            "[[mount]]\npath = \"/s\"\nservlet = \"visits\"\napp = \"hello\"\n",
            "`mount[0].servlet`",
        ),
        ("[[mount]]\npath = \"/s\"\n", "`mount[0].servlet`"),
        (
            "[[mount]]\npath = \"servlet/visits\"\nservlet = \"visits\"\n",
            "`mount[0].path`",
        ),
        (
            "[[mount]]\npath = \"/servlet/visits/\"\nservlet = \"visits\"\n",
            "`mount[0].path`",
        ),
        (
            "[[mount]]\npath = \"/\"\nservlet = \"visits\"\n",
            "`mount[0].path`",
        ),
        (
            "[[mount]]\npath = \"/a/../b\"\nservlet = \"visits\"\n",
            "`mount[0].path`",
        ),
        (
            "[[mount]]\npath = \"/a b\"\nservlet = \"visits\"\n",
            "`mount[0].path`",
        ),
        (
            "[[mount]]\npath = \"/x;Domain=evil.example\"\nservlet = \"visits\"\nsessions = true\n",
            "`mount[0].path`",
        ),
        (
            "[[mount]]\npath = \"/%65nv\"\napp = \"environ\"\n",
            "`mount[0].path`",
        ),
        (
            "[[mount]]\npath = \"/v\"\nservlet = \"visits\"\n\
             [[mount]]\npath = \"/v\"\napp = \"hello\"\n",
            "`mount[1].path`",
        ),
        ("[sessions]\nidle_timeout = 0\n", "`sessions.idle_timeout`"),
        (
            "[sessions]\nsweep_interval = -1\n",
            "`sessions.sweep_interval`",
        ),
        (
            "[sessions]\ncookie_name = \"a b\"\n",
            "`sessions.cookie_name`",
        ),
    ] {
        let stderr = refused(extra);
        assert!(
            stderr.contains(key),
            "{key} not named for\n{extra}\n{stderr}"
        );
    }
    // A misspelt key is named with its line.
    let stderr = refused("[[mount]]\npath = \"/s\"\nservlets = \"visits\"\n");
    assert!(stderr.contains("servlets"), "{stderr}");
}
