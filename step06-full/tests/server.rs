//! The full server over sockets: files, validators, ranges, listings, the
//! cache, logs and rotation, reload, limits and the privilege drop — each
//! rule of the server-behaviour reference this part implements.

use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use nix::sys::signal::Signal;
use tempfile::TempDir;
use test_support::proc::eventually;
use test_support::{Client, TestServer, get, send};

/// A document root, logs and a config file in a temporary directory.
struct Setup {
    dir: TempDir,
}

impl Setup {
    fn new(extra: &str) -> Setup {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let www = dir.path().join("www");
        fs::create_dir_all(www.join("docs")).expect("mkdir");
        fs::create_dir_all(www.join("listed/sub")).expect("mkdir");
        fs::create_dir_all(dir.path().join("outside")).expect("mkdir");
        fs::write(www.join("index.html"), "<h1>home</h1>\n").expect("write");
        fs::write(www.join("docs/index.shtml"), "second index\n").expect("write");
        fs::write(www.join("hello.txt"), "hello world\n").expect("write");
        fs::write(www.join("listed/b&c <d>.txt"), "x").expect("write");
        fs::write(www.join("listed/.hidden"), "x").expect("write");
        fs::write(www.join("big.bin"), big()).expect("write");
        fs::write(dir.path().join("outside/secret.txt"), "secret").expect("write");
        std::os::unix::fs::symlink(
            dir.path().join("outside/secret.txt"),
            www.join("escape.txt"),
        )
        .expect("symlink");
        let setup = Setup { dir };
        setup.write_config(extra);
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_config(&self, extra: &str) {
        let config = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\ndocument_root = \"www\"\ndirectory_listing = true\n{extra}\n\
             [log]\naccess = \"logs/access.log\"\nerror = \"logs/error.log\"\nstderr = \"never\"\n"
        );
        fs::write(self.path("stepwise.toml"), config).expect("write the config");
    }

    fn start(&self) -> TestServer {
        let config = self.path("stepwise.toml");
        TestServer::spawn(
            env!("CARGO_BIN_EXE_step06-full"),
            &["--config", config.to_str().expect("UTF-8")],
        )
    }
}

/// 2 MB that are not all alike: larger than the cache's per-entry limit.
fn big() -> Vec<u8> {
    (0..2_000_000u32).map(|i| (i % 253) as u8).collect()
}

fn request(server: &TestServer, head: &str) -> test_support::RawResponse {
    let bytes = format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n");
    send(server.addr(), bytes.as_bytes()).expect("a response")
}

#[test]
fn files_carry_validators_and_title_case_names() {
    let setup = Setup::new("");
    let server = setup.start();
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let response = client.read_response(false).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"hello world\n");
    let head = String::from_utf8_lossy(&response.head).into_owned();
    for name in [
        "Content-Type: text/plain; charset=utf-8",
        "Content-Length: 12",
        "Last-Modified: ",
        "Accept-Ranges: bytes",
        "Date: ",
        "Server: stepwise/",
    ] {
        assert!(head.contains(name), "{name} missing in\n{head}");
    }
    let etag = response.header("etag").unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
}

#[test]
fn conditional_requests() {
    let setup = Setup::new("");
    let server = setup.start();
    let first = get(server.addr(), "/hello.txt").unwrap();
    let etag = first.header("etag").unwrap().to_owned();
    let date = first.header("last-modified").unwrap().to_owned();
    let inm = request(
        &server,
        &format!("GET /hello.txt HTTP/1.1\r\nIf-None-Match: W/{etag}"),
    );
    assert_eq!(inm.status, 304);
    assert_eq!(inm.header("etag"), Some(etag.as_str()));
    assert!(inm.body.is_empty());
    // A 304 carries the validators, not the representation's headers.
    for absent in ["content-type", "x-cache"] {
        assert!(inm.header(absent).is_none(), "{absent} in a 304");
    }
    assert_eq!(
        request(
            &server,
            &format!("GET /hello.txt HTTP/1.1\r\nIf-Modified-Since: {date}")
        )
        .status,
        304
    );
    // A non-matching INM wins over a matching IMS.
    let both = request(
        &server,
        &format!(
            "GET /hello.txt HTTP/1.1\r\nIf-None-Match: \"other\"\r\nIf-Modified-Since: {date}"
        ),
    );
    assert_eq!(both.status, 200);
}

#[test]
fn ranges() {
    let setup = Setup::new("");
    let server = setup.start();
    let part = request(&server, "GET /hello.txt HTTP/1.1\r\nRange: bytes=0-4");
    assert_eq!((part.status, part.body.as_slice()), (206, &b"hello"[..]));
    assert_eq!(part.header("content-range"), Some("bytes 0-4/12"));
    assert_eq!(part.header("content-length"), Some("5"));
    let suffix = request(&server, "GET /hello.txt HTTP/1.1\r\nRange: bytes=-6");
    assert_eq!(suffix.body, b"world\n");
    let outside = request(&server, "GET /hello.txt HTTP/1.1\r\nRange: bytes=100-200");
    assert_eq!(outside.status, 416);
    assert_eq!(outside.header("content-range"), Some("bytes */12"));
    assert_eq!(
        request(&server, "GET /hello.txt HTTP/1.1\r\nRange: items=0-1").status,
        200
    );
    let stale = request(
        &server,
        "GET /hello.txt HTTP/1.1\r\nRange: bytes=0-4\r\nIf-Range: \"not-it\"",
    );
    assert_eq!((stale.status, stale.body.len()), (200, 12));
    let big = request(
        &server,
        "GET /big.bin HTTP/1.1\r\nRange: bytes=1000000-1000009",
    );
    assert_eq!(big.body, &self::big()[1_000_000..1_000_010]);
}

#[test]
fn directories_indexes_and_listings() {
    let setup = Setup::new("index_files = [\"index.html\", \"index.shtml\"]");
    let server = setup.start();
    let moved = get(server.addr(), "/docs?x=1").unwrap();
    assert_eq!(moved.status, 301);
    assert_eq!(moved.header("location"), Some("/docs/?x=1"));
    assert_eq!(
        get(server.addr(), "/docs/").unwrap().text(),
        "second index\n"
    );
    let listing = get(server.addr(), "/listed/").unwrap().text();
    assert!(
        listing.contains("<title>Index of /listed/</title>"),
        "{listing}"
    );
    assert!(
        listing.contains("href=\"b%26c%20%3Cd%3E.txt\""),
        "{listing}"
    );
    assert!(listing.contains("b&amp;c &lt;d&gt;.txt"), "{listing}");
    assert!(!listing.contains(".hidden"), "{listing}");
    assert!(
        listing.find("sub/") < listing.find("b%26c"),
        "directories first: {listing}"
    );
}

#[test]
fn listings_can_be_turned_off() {
    let setup = Setup::new("");
    fs::write(
        setup.path("stepwise.toml"),
        fs::read_to_string(setup.path("stepwise.toml"))
            .unwrap()
            .replace("directory_listing = true", "directory_listing = false"),
    )
    .unwrap();
    let server = setup.start();
    assert_eq!(get(server.addr(), "/listed/").unwrap().status, 404);
}

#[test]
fn methods_and_confinement() {
    let setup = Setup::new("");
    let server = setup.start();
    let post = request(&server, "POST /hello.txt HTTP/1.1\r\nContent-Length: 0");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(request(&server, "BREW /hello.txt HTTP/1.1").status, 501);
    for (path, status) in [
        ("/../outside/secret.txt", 400),
        ("/%2e%2e/outside/secret.txt", 400),
        ("/..%2foutside/secret.txt", 404),
        ("/hello.txt%00", 400),
        ("/escape.txt", 404),
    ] {
        let response = request(&server, &format!("GET {path} HTTP/1.1"));
        assert_eq!(response.status, status, "{path}");
        assert!(!response.text().contains("secret"), "{path}");
    }
}

// ANCHOR: cache_test
#[test]
fn the_cache_notices_a_same_size_rewrite_in_the_same_second() {
    // Checked on every hit, so the rewrite must show on the next request.
    let setup = Setup::new("[cache]\nrevalidate = 0");
    let server = setup.start();
    let first = get(server.addr(), "/hello.txt").unwrap();
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(
        get(server.addr(), "/hello.txt").unwrap().header("x-cache"),
        Some("HIT")
    );
    // Same length, written immediately: only the inode and nanoseconds differ.
    fs::write(setup.path("www/hello.txt"), "HELLO WORLD\n").unwrap();
    let after = get(server.addr(), "/hello.txt").unwrap();
    assert_eq!(after.text(), "HELLO WORLD\n");
    assert_eq!(after.header("x-cache"), Some("MISS"));
    assert_ne!(after.header("etag"), first.header("etag"));
    // Files over the per-entry limit are streamed, not cached.
    let big = get(server.addr(), "/big.bin").unwrap();
    assert!(big.body == self::big());
    assert!(big.header("x-cache").is_none());
}
// ANCHOR_END: cache_test

#[test]
fn the_x_cache_header_can_be_turned_off() {
    let setup = Setup::new("[cache]\nx_cache_header = false");
    let server = setup.start();
    for _ in 0..2 {
        let response = get(server.addr(), "/hello.txt").unwrap();
        assert_eq!(response.text(), "hello world\n");
        assert!(response.header("x-cache").is_none());
        assert_eq!(response.header("content-length"), Some("12"));
    }
}

#[test]
fn with_revalidate_a_cached_file_is_trusted_for_that_long_then_checked() {
    let setup = Setup::new("[cache]\nrevalidate = 3");
    let server = setup.start();
    assert_eq!(
        get(server.addr(), "/hello.txt").unwrap().header("x-cache"),
        Some("MISS")
    );
    assert_eq!(
        get(server.addr(), "/hello.txt").unwrap().header("x-cache"),
        Some("HIT")
    );
    fs::write(setup.path("www/hello.txt"), "HELLO WORLD\n").unwrap();
    // Checked a moment ago: trusted, so the edit is not seen yet.
    let trusted = get(server.addr(), "/hello.txt").unwrap();
    assert_eq!(trusted.text(), "hello world\n");
    assert_eq!(trusted.header("x-cache"), Some("HIT"));
    // Once the interval has passed, the next hit is checked and the edit
    // replaces the entry.
    thread::sleep(Duration::from_millis(3_300));
    let checked = get(server.addr(), "/hello.txt").unwrap();
    assert_eq!(checked.text(), "HELLO WORLD\n");
    assert_eq!(checked.header("x-cache"), Some("MISS"));
}

// ANCHOR: rotation_test
#[test]
fn rotation_under_load_loses_no_access_line() {
    let setup = Setup::new("");
    let config = fs::read_to_string(setup.path("stepwise.toml")).unwrap();
    fs::write(
        setup.path("stepwise.toml"),
        config.replace("[log]\n", "[log]\nrotate_size = 4096\nkeep = 1000\n"),
    )
    .unwrap();
    let mut server = setup.start();
    let addr = server.addr();
    let clients: Vec<_> = (0..50)
        .map(|_| {
            thread::spawn(move || {
                let mut client = Client::connect(addr).unwrap();
                for _ in 0..20 {
                    client
                        .send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                        .unwrap();
                    assert_eq!(client.read_response(false).unwrap().status, 200);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
    let log = setup.path("logs/access.log");
    let mut lines = fs::read_to_string(&log).unwrap().lines().count();
    let mut archives = 0;
    for n in 1..=1000 {
        let Ok(file) = fs::File::open(step06_full::log::archive(&log, n)) else {
            continue;
        };
        archives += 1;
        let mut text = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .unwrap();
        lines += text.lines().count();
    }
    assert!(archives >= 5, "only {archives} rotations");
    assert_eq!(lines, 1000);
}
// ANCHOR_END: rotation_test

#[test]
fn a_broken_reload_keeps_the_old_configuration_serving() {
    let setup = Setup::new("");
    let server = setup.start();
    assert_eq!(get(server.addr(), "/listed/").unwrap().status, 200);
    let good = fs::read_to_string(setup.path("stepwise.toml")).unwrap();
    fs::write(
        setup.path("stepwise.toml"),
        format!("{good}\n[cache]\nmax_sise = 3\n"),
    )
    .unwrap();
    server.signal(Signal::SIGHUP);
    let refused = eventually(Duration::from_secs(5), || {
        fs::read_to_string(setup.path("logs/error.log"))
            .unwrap_or_default()
            .contains("configuration refused")
    });
    assert!(
        refused,
        "{}",
        fs::read_to_string(setup.path("logs/error.log")).unwrap_or_default()
    );
    assert!(
        fs::read_to_string(setup.path("logs/error.log"))
            .unwrap()
            .contains("max_sise")
    );
    assert_eq!(get(server.addr(), "/listed/").unwrap().status, 200);
    // A good reload takes effect.
    fs::write(
        setup.path("stepwise.toml"),
        good.replace("directory_listing = true", "directory_listing = false"),
    )
    .unwrap();
    server.signal(Signal::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || get(
        server.addr(),
        "/listed/"
    )
    .unwrap()
    .status
        == 404));
}

#[test]
fn sigusr1_reopens_the_logs_after_a_move() {
    let setup = Setup::new("");
    let server = setup.start();
    assert_eq!(get(server.addr(), "/hello.txt").unwrap().status, 200);
    let log = setup.path("logs/access.log");
    assert!(eventually(Duration::from_secs(5), || fs::read_to_string(
        &log
    )
    .unwrap_or_default()
    .contains("/hello.txt")));
    fs::rename(&log, setup.path("logs/moved.log")).unwrap();
    server.signal(Signal::SIGUSR1);
    assert!(eventually(Duration::from_secs(5), || log.exists()));
    assert_eq!(get(server.addr(), "/index.html").unwrap().status, 200);
    assert!(eventually(Duration::from_secs(5), || fs::read_to_string(
        &log
    )
    .unwrap_or_default()
    .contains("/index.html")));
    assert!(
        !fs::read_to_string(setup.path("logs/moved.log"))
            .unwrap()
            .contains("/index.html")
    );
}

#[test]
fn beyond_max_clients_connections_wait_in_the_backlog() {
    let setup = Setup::new("max_clients = 1");
    let server = setup.start();
    let mut first = Client::connect(server.addr()).unwrap();
    first
        .send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(first.read_response(false).unwrap().status, 200);
    // The first connection stays open (keep-alive), holding the only slot.
    let mut second = Client::connect(server.addr()).unwrap();
    second
        .send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    second.set_read_timeout(Duration::from_millis(500)).unwrap();
    assert!(
        second.read_response(false).is_err(),
        "served beyond max_clients"
    );
    drop(first);
    second.set_read_timeout(Duration::from_secs(10)).unwrap();
    // Not refused: accepted once the slot freed, and answered.
    let rest = second.read_to_end().unwrap();
    let text = String::from_utf8_lossy(&rest).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
}

#[test]
fn the_descriptor_limit_is_raised_to_the_hard_limit() {
    let setup = Setup::new("");
    let server = setup.start();
    let limits = fs::read_to_string(format!("/proc/{}/limits", server.pid().unwrap())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[3], fields[4], "soft and hard limits differ: {line}");
}

#[test]
fn a_bad_configuration_stops_the_start_with_the_key_and_line() {
    let setup = Setup::new("max_clint = 5");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_step06-full"))
        .args([
            "--config",
            setup.path("stepwise.toml").to_str().unwrap(),
            "--check",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("max_clint") && stderr.contains("line 5"),
        "{stderr}"
    );
}

// ANCHOR: privilege_test
#[test]
fn started_as_root_it_runs_as_the_configured_user() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: the privilege drop can only be tested as root");
        return;
    }
    if nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .is_none()
    {
        eprintln!("skipping: there is no user `nobody`");
        return;
    }
    // Every hit checked: the chmod below must show at once.
    let setup = Setup::new("user = \"nobody\"\n[cache]\nrevalidate = 0");
    // Readable by nobody: the root and what it holds; not: one root-only file.
    for path in [
        setup.dir.path().to_owned(),
        setup.path("www"),
        setup.path("www/hello.txt"),
    ] {
        fs::set_permissions(
            &path,
            std::os::unix::fs::PermissionsExt::from_mode(if path.is_dir() { 0o755 } else { 0o644 }),
        )
        .unwrap();
    }
    // A CGI script runs as the dropped user too.
    fs::create_dir_all(setup.path("www/cgi-bin")).unwrap();
    fs::write(
        setup.path("www/cgi-bin/id.cgi"),
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s %s' \"$(id -u)\" \"$(id -g)\"\n",
    )
    .unwrap();
    for (path, mode) in [("www/cgi-bin", 0o755), ("www/cgi-bin/id.cgi", 0o755)] {
        fs::set_permissions(
            setup.path(path),
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .unwrap();
    }
    fs::write(setup.path("www/root-only.txt"), "no").unwrap();
    fs::set_permissions(
        setup.path("www/root-only.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let server = setup.start();
    let status = fs::read_to_string(format!("/proc/{}/status", server.pid().unwrap())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or("")
            .to_owned()
    };
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    let expected: Vec<String> = vec![nobody.to_string(); 4];
    assert_eq!(
        field("Uid:").split_whitespace().skip(1).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(field("Groups:").trim(), "Groups:");
    assert_eq!(
        field("CapEff:").split_whitespace().nth(1),
        Some("0000000000000000")
    );
    assert_eq!(get(server.addr(), "/hello.txt").unwrap().status, 200);
    assert_eq!(get(server.addr(), "/root-only.txt").unwrap().status, 403);
    let nogroup = nix::unistd::User::from_name("nobody")
        .unwrap()
        .unwrap()
        .gid
        .as_raw();
    assert_eq!(
        get(server.addr(), "/cgi-bin/id.cgi").unwrap().text(),
        format!("{nobody} {nogroup}")
    );
    // Cached, then made unreadable: the cache must not keep serving it.
    assert_eq!(
        get(server.addr(), "/hello.txt").unwrap().header("x-cache"),
        Some("HIT")
    );
    fs::set_permissions(
        setup.path("www/hello.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    assert_eq!(get(server.addr(), "/hello.txt").unwrap().status, 403);
}
// ANCHOR_END: privilege_test

#[test]
fn keep_alive_and_pipelining() {
    let setup = Setup::new("");
    let server = setup.start();
    let mut client = Client::connect(server.addr()).unwrap();
    client.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(client.read_response(false).unwrap().body, b"hello world\n");
    assert_eq!(
        client.read_response(false).unwrap().body,
        b"<h1>home</h1>\n"
    );
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_timeout() {
    let setup = Setup::new("");
    with_short_timeouts(&setup);
    let server = setup.start();
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(client.read_response(false).unwrap().status, 200);
    // Nothing more is sent: the server closes the connection by itself.
    assert!(client.sees_eof_within(Duration::from_secs(5)));
}

/// `Setup` with both connection timeouts at half a second.
fn with_short_timeouts(setup: &Setup) {
    let config = fs::read_to_string(setup.path("stepwise.toml")).expect("the test config");
    fs::write(
        setup.path("stepwise.toml"),
        format!("{config}\n[timeouts]\nidle = 0.5\nheader_read = 0.5\n"),
    )
    .expect("the test config is writable");
}

#[test]
fn a_head_sent_a_byte_at_a_time_is_cut_off() {
    let setup = Setup::new("");
    with_short_timeouts(&setup);
    let server = setup.start();
    let mut client = Client::connect(server.addr()).unwrap();
    let mut drip = client.try_clone_stream().unwrap();
    // Sixty bytes, one every 100 ms: the head would be complete after six
    // seconds, twelve times the timeout, if every byte bought more time.
    let dripper = thread::spawn(move || {
        drip.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")
            .ok()?;
        for byte in b"X-Slow: ".iter().chain(&[b'a'; 50]).chain(b"\r\n\r\n") {
            thread::sleep(Duration::from_millis(100));
            drip.write_all(&[*byte]).ok()?;
        }
        Some(())
    });
    client.set_read_timeout(Duration::from_secs(4)).unwrap();
    let answer = client.read_to_end();
    assert!(
        matches!(&answer, Ok(bytes) if bytes.is_empty())
            || matches!(&answer, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the slow head was answered or never cut off: {answer:?}"
    );
    assert!(dripper.join().unwrap().is_none(), "the whole head got in");
}

#[test]
fn a_connection_in_use_outlives_the_timeout() {
    let setup = Setup::new("");
    with_short_timeouts(&setup);
    let server = setup.start();
    let mut client = Client::connect(server.addr()).unwrap();
    // A request every 150 ms for about 1.5 s: three times the timeout,
    // but never idle for long enough.
    for _ in 0..10 {
        client
            .send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(client.read_response(false).unwrap().status, 200);
        thread::sleep(Duration::from_millis(150));
    }
    // Then it is left alone, and closed.
    assert!(client.sees_eof_within(Duration::from_secs(5)));
}

/// The TCP segments `stream` has received so far (`tcpi_segs_in`).
#[allow(unsafe_code)]
fn segments_received(stream: &std::net::TcpStream) -> u32 {
    use std::os::fd::AsRawFd;
    // SAFETY: `info` is a plain C struct that may be all zeros, `length`
    // holds its size, and the kernel writes at most `length` bytes into it.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut length = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let done = libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut length,
        );
        assert_eq!(
            done,
            0,
            "getsockopt(TCP_INFO): {}",
            std::io::Error::last_os_error()
        );
        info.tcpi_segs_in
    }
}

/// Segments received by a client that sends `head` on a new connection
/// and reads the response: to the end of the stream if the server closes
/// it, or to the end of the body if it keeps it open.
fn segments_for(server: &TestServer, head: &str, closes: bool) -> u32 {
    let mut client = Client::connect(server.addr()).expect("a connection");
    client.send(head.as_bytes()).expect("the request is sent");
    let response = if closes {
        client.read_to_end().expect("the response and the end")
    } else {
        client.read_response(false).expect("a response").body
    };
    assert!(!response.is_empty());
    segments_received(&client.try_clone_stream().expect("the stream"))
}

#[test]
fn a_last_response_and_its_fin_share_one_segment() {
    let setup = Setup::new("");
    let server = setup.start();
    let keep = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    let close = "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let old = "GET /hello.txt HTTP/1.0\r\n\r\n";
    // A kept-alive connection receives the handshake, the response and
    // whatever acknowledgements the kernel sends on its own; a closing one
    // should receive exactly as many, its FIN riding on the response. A
    // FIN of its own would be one segment more, every time; the kernel's
    // own timing could add one now and then, so one match in five will do.
    for (name, last) in [("Connection: close", close), ("HTTP/1.0", old)] {
        let tries: Vec<(u32, u32)> = (0..5)
            .map(|_| {
                (
                    segments_for(&server, keep, false),
                    segments_for(&server, last, true),
                )
            })
            .collect();
        assert!(
            tries.iter().any(|(kept, closed)| kept == closed),
            "{name}: segments received (kept alive, closed): {tries:?}"
        );
    }
}

#[test]
fn sigterm_lets_a_download_in_progress_finish() {
    let setup = Setup::new("");
    let mut server = setup.start();
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The response has started (its head is here) when the stop comes.
    let mut stream = client.try_clone_stream().unwrap();
    let mut first = [0u8; 64];
    let n = stream.read(&mut first).unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200 OK"));
    server.signal(Signal::SIGTERM);
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    let mut whole = first[..n].to_vec();
    whole.extend_from_slice(&rest);
    let body_start = whole.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(whole[body_start..] == big(), "the download was cut short");
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
}

#[test]
fn a_re_pointed_symlink_is_followed_at_once() {
    let setup = Setup::new("");
    fs::write(setup.path("www/a.txt"), "A\n").unwrap();
    fs::write(setup.path("www/b.txt"), "B\n").unwrap();
    std::os::unix::fs::symlink("a.txt", setup.path("www/link.txt")).unwrap();
    let server = setup.start();
    assert_eq!(get(server.addr(), "/link.txt").unwrap().body, b"A\n");
    assert_eq!(get(server.addr(), "/link.txt").unwrap().body, b"A\n");
    fs::remove_file(setup.path("www/link.txt")).unwrap();
    std::os::unix::fs::symlink("b.txt", setup.path("www/link.txt")).unwrap();
    assert_eq!(get(server.addr(), "/link.txt").unwrap().body, b"B\n");
    // Pointed out of the root, it is refused, cached or not.
    fs::remove_file(setup.path("www/link.txt")).unwrap();
    std::os::unix::fs::symlink(setup.path("outside/secret.txt"), setup.path("www/link.txt"))
        .unwrap();
    assert_eq!(get(server.addr(), "/link.txt").unwrap().status, 404);
}

#[test]
fn host_rules_are_enforced() {
    let setup = Setup::new("");
    let server = setup.start();
    let none = send(
        server.addr(),
        b"GET /hello.txt HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(none.status, 400);
    let two = send(
        server.addr(),
        b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(two.status, 400);
    let old = send(server.addr(), b"GET /hello.txt HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(old.status, 200);
}

#[test]
fn a_failure_after_the_logs_start_ends_the_process_and_is_logged() {
    // The logs' writer threads are running by the time the mime table is
    // read: a failure then must still end the process, not leave it
    // waiting for a log thread that waits for it.
    let setup = Setup::new("mime_types = \"/no/such/mime.types\"");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_step06-full"))
        .args(["--config", setup.path("stepwise.toml").to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let exited = eventually(Duration::from_secs(10), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(exited, "the server hung after a start-up error");
    let log = fs::read_to_string(setup.path("logs/error.log")).unwrap();
    assert!(log.contains("/no/such/mime.types"), "{log}");
}
