//! Chapter 1 over real sockets: every route, every refusal, and the
//! chapter's limit — one slow request holds up the next client.

use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use nix::sys::signal::Signal;
use step01_iterative::Shutdown;
use test_support::{Client, TestServer, get, send};

/// Starts the chapter 1 server in-process on 127.0.0.1:0.
fn start() -> TestServer {
    TestServer::in_process(|listener: TcpListener, stop| {
        let shutdown = Shutdown::for_listener(&listener).expect("listener address");
        let trigger = shutdown.clone();
        thread::spawn(move || {
            stop.wait();
            trigger.trigger();
        });
        step01_iterative::run(listener, shutdown).expect("server runs");
    })
}

#[test]
fn home_page_is_well_framed() {
    let server = start();
    let response = get(server.addr(), "/").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.reason, "OK");
    let names: Vec<&str> = response.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Date",
            "Server",
            "Content-Type",
            "Content-Length",
            "Connection"
        ]
    );
    assert!(httpdate_parses(response.header("date").unwrap()));
    assert!(response.header("server").unwrap().starts_with("stepwise/"));
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(
        response.header("content-length").unwrap(),
        response.body.len().to_string()
    );
    assert!(response.text().contains("<h1>Hello"));
}

fn httpdate_parses(text: &str) -> bool {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" — 29 characters.
    text.len() == 29 && text.ends_with(" GMT") && text.as_bytes()[3] == b','
}

#[test]
fn head_has_get_headers_and_no_body() {
    let server = start();
    let get = get(server.addr(), "/").unwrap();
    let mut client = Client::connect(server.addr()).unwrap();
    client.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let head = client.read_response(true).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), get.header("content-length"));
    // Nothing follows the head: the next thing the client sees is the close.
    assert_eq!(client.read_to_end().unwrap(), b"");
}

#[test]
fn echo_returns_exactly_what_was_sent() {
    let server = start();
    let request = b"POST /echo?x=1 HTTP/1.1\r\nHost: test\r\nX-Odd:  spaced  \r\nContent-Length: 5\r\n\r\nhello";
    let response = send(server.addr(), request).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.body, request);
}

#[test]
fn a_request_sent_byte_by_byte_is_answered() {
    let server = start();
    let request = b"GET /echo HTTP/1.1\r\nHost: test\r\n\r\n";
    let mut client = Client::connect(server.addr()).unwrap();
    for byte in request {
        client.send(&[*byte]).unwrap();
        thread::sleep(Duration::from_millis(1));
    }
    let response = client.read_response(false).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, request);
}

#[test]
fn sleep_and_not_found() {
    let server = start();
    let response = get(server.addr(), "/sleep?ms=20").unwrap();
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "slept 20 ms\n")
    );
    assert_eq!(get(server.addr(), "/sleep?ms=61000").unwrap().status, 400);
    assert_eq!(get(server.addr(), "/missing").unwrap().status, 404);
}

/// Each malformed or unsupported request gets its status, and the server
/// goes on serving the next client.
#[test]
fn refusals_have_the_right_status_and_the_server_keeps_serving() {
    let server = start();
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..101)
            .map(|i| format!("X-{i}: 1\r\n"))
            .collect::<String>()
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("garbage", b"GARBAGE\r\n\r\n".to_vec(), 400),
        ("no Host in 1.1", b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (
            "two Hosts",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            400,
        ),
        (
            "bad escape",
            b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
        ),
        ("long target", long_target.into_bytes(), 414),
        ("101 headers", many_headers.into_bytes(), 431),
        (
            "chunked body",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            411,
        ),
        (
            "huge body",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n".to_vec(),
            413,
        ),
        (
            "unknown method",
            b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            501,
        ),
        (
            "lowercase method",
            b"get / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            501,
        ),
        (
            "HTTP/2.0",
            b"GET / HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(),
            505,
        ),
        (
            "POST to /",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".to_vec(),
            405,
        ),
    ];
    for (name, bytes, status) in cases {
        let response = send(server.addr(), &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(response.status, status, "{name}");
        assert_eq!(response.header("connection"), Some("close"), "{name}");
        assert!(
            response.text().contains(&format!("<h1>{status} ")),
            "{name}"
        );
        // And the next client is served normally.
        assert_eq!(get(server.addr(), "/").unwrap().status, 200, "after {name}");
    }
}

#[test]
fn a_refused_body_does_not_reset_the_response() {
    // 413 is decided from Content-Length alone; the client is still sending
    // its body when the answer comes. The lingering close must let it read
    // the response rather than see a reset.
    let server = start();
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1100000\r\n\r\n")
        .unwrap();
    let _ = client.send(&vec![b'x'; 256 * 1024]);
    assert_eq!(client.read_response(false).unwrap().status, 413);
}

#[test]
fn only_the_first_of_pipelined_requests_is_answered_then_the_connection_closes() {
    let server = start();
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send(b"GET /sleep?ms=0 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(client.read_response(false).unwrap().text(), "slept 0 ms\n");
    assert_eq!(client.read_to_end().unwrap(), b"");
}

// ANCHOR: blocking_test
/// The chapter's limit: while one client waits on `/sleep`, a second
/// client's response cannot arrive, however quick its request is.
#[test]
fn a_slow_request_blocks_the_next_client() {
    let server = start();
    let addr = server.addr();
    let (finished, order) = mpsc::channel();

    let slow = finished.clone();
    let first = thread::spawn(move || {
        let response = get(addr, "/sleep?ms=500").unwrap();
        slow.send(("slow", response.status)).unwrap();
    });
    // Give the slow request time to be accepted first.
    thread::sleep(Duration::from_millis(100));
    let second = thread::spawn(move || {
        let response = get(addr, "/").unwrap();
        finished.send(("quick", response.status)).unwrap();
    });

    first.join().unwrap();
    second.join().unwrap();
    let order: Vec<_> = order.iter().collect();
    assert_eq!(order, [("slow", 200), ("quick", 200)]);
}
// ANCHOR_END: blocking_test

#[test]
fn the_binary_announces_its_address_and_stops_on_sigterm() {
    let mut server = TestServer::spawn(env!("CARGO_BIN_EXE_step01-iterative"), &["-v"]);
    let try_line = format!("Try: curl -v http://{}/echo", server.addr());
    assert!(server.wait_for_stdout(&try_line, Duration::from_secs(5)));
    assert_eq!(get(server.addr(), "/").unwrap().status, 200);
    server.signal(Signal::SIGTERM);
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    // -v logs one line per request to stderr.
    let logged = server.wait_for_stderr("\"GET / HTTP/1.1\" 200", Duration::from_secs(5));
    assert!(logged, "{}", server.stderr());
}

#[test]
fn help_lists_every_flag() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_step01-iterative"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in ["--host", "--port", "--verbose", "--debug", "-p", "-v", "-d"] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn sigterm_still_serves_the_request_in_progress_and_those_queued() {
    let mut server = TestServer::spawn(env!("CARGO_BIN_EXE_step01-iterative"), &[]);
    let addr = server.addr();
    let slow = thread::spawn(move || get(addr, "/sleep?ms=400").unwrap().status);
    thread::sleep(Duration::from_millis(100));
    // Queued in the backlog behind the slow request.
    let mut queued = Client::connect(addr).unwrap();
    queued.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    server.signal(Signal::SIGTERM);
    assert_eq!(slow.join().unwrap(), 200);
    assert_eq!(queued.read_response(false).unwrap().status, 200);
    let status = server.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(status.success());
}
