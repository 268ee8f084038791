//! Keep-alive, written by hand: persistence rules, pipelining, limits,
//! timeouts, and slow clients that must not starve everyone else.

mod support;

use std::thread;
use std::time::Duration;

use support::{docroot, start};
use test_support::{Client, get};

#[test]
fn http11_connections_stay_open_and_serve_in_order() {
    let dir = docroot();
    let server = start(dir.path(), &[]);
    let mut client = Client::connect(server.addr()).unwrap();
    for path in ["/hello.txt", "/data.json", "/docs/"] {
        client
            .send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let response = client.read_response(false).unwrap();
        assert_eq!(response.status, 200, "{path}");
        assert!(
            response.header("connection").is_none(),
            "HTTP/1.1 needs no Connection header"
        );
    }
}

// ANCHOR: pipelining_test
#[test]
fn pipelined_requests_are_answered_in_order() {
    let dir = docroot();
    let server = start(dir.path(), &[]);
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send(
            b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /data.json HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    assert_eq!(client.read_response(false).unwrap().body, b"hello\n");
    assert_eq!(client.read_response(false).unwrap().body, b"{}\n");
    let last = client.read_response(false).unwrap();
    assert_eq!(last.status, 404);
    assert_eq!(last.header("connection"), Some("close"));
    assert_eq!(client.read_to_end().unwrap(), b"");
}
// ANCHOR_END: pipelining_test

#[test]
fn http10_keeps_alive_only_when_asked() {
    let dir = docroot();
    let server = start(dir.path(), &[]);
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let first = client.read_response(false).unwrap();
    assert_eq!(first.header("connection"), Some("keep-alive"));
    client.send(b"GET /hello.txt HTTP/1.0\r\n\r\n").unwrap();
    let second = client.read_response(false).unwrap();
    assert_eq!(second.header("connection"), Some("close"));
    assert_eq!(client.read_to_end().unwrap(), b"");
}

#[test]
fn the_request_limit_per_connection_closes_it() {
    let dir = docroot();
    let server = start(dir.path(), &["--max-requests", "2"]);
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(
        client
            .read_response(false)
            .unwrap()
            .header("connection")
            .is_none()
    );
    client
        .send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        client.read_response(false).unwrap().header("connection"),
        Some("close")
    );
    assert_eq!(client.read_to_end().unwrap(), b"");
}

#[test]
fn an_idle_connection_is_closed_silently() {
    let dir = docroot();
    let server = start(dir.path(), &["--idle-timeout", "0.3"]);
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(client.read_response(false).unwrap().status, 200);
    // Nothing more is sent: the server closes without a word (no 408).
    assert_eq!(client.read_to_end().unwrap(), b"");
}

#[test]
fn a_request_that_stalls_gets_408() {
    let dir = docroot();
    let server = start(dir.path(), &["--request-timeout", "0.3"]);
    let mut client = Client::connect(server.addr()).unwrap();
    client.send(b"GET /hello.txt HTTP/1.1\r\nHo").unwrap();
    assert_eq!(client.read_response(false).unwrap().status, 408);
}

// ANCHOR: slowloris_test
#[test]
fn slow_clients_beyond_the_worker_count_do_not_starve_a_normal_one() {
    let dir = docroot();
    let server = start(
        dir.path(),
        &["-w", "2", "--queue", "16", "--request-timeout", "1"],
    );
    let addr = server.addr();
    // Five clients (more than the two workers) that send a byte at a time.
    let slow: Vec<_> = (0..5)
        .map(|_| {
            thread::spawn(move || {
                let mut client = Client::connect(addr).unwrap();
                for byte in b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n" {
                    if client.send(&[*byte]).is_err() {
                        break;
                    }
                    thread::sleep(Duration::from_millis(300));
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(200));
    // The slow ones are cut off at the request timeout, so this one is served.
    let response = get(addr, "/hello.txt").unwrap();
    assert_eq!(response.status, 200);
    for client in slow {
        client.join().unwrap();
    }
}
// ANCHOR_END: slowloris_test
