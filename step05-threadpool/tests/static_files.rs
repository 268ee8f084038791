//! Static files over sockets: every rule of §5–6 this chapter implements,
//! and every way out of the document root, refused.

mod support;

use std::thread;

use support::{big_file, docroot, start};
use test_support::{Client, get, send};

#[test]
fn files_have_their_type_length_and_date() {
    let dir = docroot();
    let server = start(dir.path(), &[]);
    let response = get(server.addr(), "/hello.txt").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"hello\n");
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.header("content-length"), Some("6"));
    assert!(response.header("last-modified").unwrap().ends_with(" GMT"));
    assert_eq!(
        get(server.addr(), "/data.json")
            .unwrap()
            .header("content-type"),
        Some("application/json")
    );
    assert_eq!(
        get(server.addr(), "/noext").unwrap().header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(get(server.addr(), "/a%20b.txt").unwrap().body, b"spaced\n");
}

#[test]
fn header_names_are_title_case() {
    let dir = docroot();
    let server = start(dir.path(), &[]);
    let response = get(server.addr(), "/hello.txt").unwrap();
    let names: Vec<&str> = response.headers.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "Date",
        "Server",
        "Content-Type",
        "Last-Modified",
        "Content-Length",
        "Connection",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}

#[test]
fn head_is_get_without_the_body() {
    let dir = docroot();
    let server = start(dir.path(), &[]);
    let get = get(server.addr(), "/hello.txt").unwrap();
    let head = send(
        server.addr(),
        b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for name in ["content-type", "content-length", "last-modified"] {
        assert_eq!(head.header(name), get.header(name), "{name}");
    }
}

#[test]
fn directories_redirect_then_serve_their_index() {
    let dir = docroot();
    let server = start(dir.path(), &[]);
    let moved = get(server.addr(), "/docs?x=1").unwrap();
    assert_eq!(moved.status, 301);
    assert_eq!(moved.header("location"), Some("/docs/?x=1"));
    assert_eq!(
        get(server.addr(), "/docs/").unwrap().body,
        b"<h1>docs</h1>\n"
    );
    assert_eq!(get(server.addr(), "/").unwrap().body, b"<h1>home</h1>\n");
    // No index and no listing in this chapter.
    assert_eq!(get(server.addr(), "/empty/").unwrap().status, 404);
}

#[test]
fn redirects_never_reflect_markup() {
    let dir = docroot();
    let server = start(dir.path(), &[]);
    let response = send(
        server.addr(),
        b"GET /<svg/onload=alert(1)>/../.. HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(response.status, 301);
    let location = response.header("location").unwrap();
    assert!(
        !location.contains('<') && !location.contains('>'),
        "{location}"
    );
    assert!(!response.text().contains("<svg"), "{}", response.text());
}

#[test]
fn if_modified_since_gives_304() {
    let dir = docroot();
    let server = start(dir.path(), &[]);
    let first = get(server.addr(), "/hello.txt").unwrap();
    let date = first.header("last-modified").unwrap().to_owned();
    let request = format!(
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: {date}\r\nConnection: close\r\n\r\n"
    );
    let cached = send(server.addr(), request.as_bytes()).unwrap();
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    assert!(cached.header("content-length").is_none());
    let old = "GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n";
    assert_eq!(send(server.addr(), old.as_bytes()).unwrap().status, 200);
    let garbage = "GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: yesterday\r\nConnection: close\r\n\r\n";
    assert_eq!(send(server.addr(), garbage.as_bytes()).unwrap().status, 200);
}

#[test]
fn other_methods_get_405_with_allow() {
    let dir = docroot();
    let server = start(dir.path(), &[]);
    for method in ["POST", "PUT", "DELETE"] {
        let request = format!(
            "{method} /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let response = send(server.addr(), request.as_bytes()).unwrap();
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.header("allow"), Some("GET, HEAD"), "{method}");
    }
}

// ANCHOR: confinement_test
#[test]
fn nothing_outside_the_root_is_ever_served() {
    let dir = docroot();
    let server = start(dir.path(), &[]);
    let cases = [
        ("/../outside/secret.txt", 400),
        ("/..%2foutside/secret.txt", 404),
        ("/%2e%2e/outside/secret.txt", 400),
        ("/docs/../../outside/secret.txt", 400),
        ("/hello.txt%00.html", 400),
        ("/%zz", 400),
        ("/escape.txt", 404),
        ("/escape-dir/secret.txt", 404),
        ("http://example.com/../outside/secret.txt", 400),
    ];
    for (path, status) in cases {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let response = send(server.addr(), request.as_bytes()).unwrap();
        assert_eq!(response.status, status, "{path}");
        assert!(
            !response.text().contains("secret"),
            "{path} leaked the file"
        );
    }
    // A symlink that stays inside the root is fine.
    assert_eq!(get(server.addr(), "/inside.txt").unwrap().body, b"hello\n");
    // Absolute-form targets are served from the same root.
    let absolute = send(
        server.addr(),
        b"GET http://example.com/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(absolute.body, b"hello\n");
}
// ANCHOR_END: confinement_test

// ANCHOR: big_file_test
#[test]
fn a_1mb_file_arrives_intact_100_times_under_50_clients() {
    let dir = docroot();
    let server = start(dir.path(), &["-w", "16"]);
    let addr = server.addr();
    let expected = big_file();
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let expected = expected.clone();
            thread::spawn(move || {
                // 100 requests in all: two per client, on one kept-alive
                // connection.
                let mut client = Client::connect(addr).unwrap();
                for _ in 0..2 {
                    client
                        .send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                        .unwrap();
                    let response = client.read_response(false).unwrap();
                    assert_eq!(response.status, 200, "client {i}");
                    assert!(response.body == expected, "client {i}: the bytes differ");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
}
// ANCHOR_END: big_file_test
