//! The applications, called in-process with no socket: the gateway
//! interface is all they need, so a test can be the "server".

use std::io::Cursor;

use step01_iterative::request::parse_head;
use step02_wsgi::apps::{demo, environ_dump, hello, middleware::Timing};
use step02_wsgi::environ::{self, Origin};
use step02_wsgi::gateway::{ErrorStream, ResponseHead};
use step02_wsgi::{Application, Environ, StartResponse};

/// Plays the server: builds the environ for `raw`, calls `app`, drains the
/// body. Returns the head the app set and the whole body.
fn call(app: &dyn Application, raw: &[u8]) -> (ResponseHead, Vec<u8>) {
    call_at(app, raw, "")
}

/// `call`, for an application mounted at `script_name`.
fn call_at(app: &dyn Application, raw: &[u8], script_name: &str) -> (ResponseHead, Vec<u8>) {
    let (mut request, used) = parse_head(raw).expect("valid request").expect("complete");
    request.body = raw[used..].to_vec();
    let origin = Origin {
        peer: "127.0.0.1:50000".parse().expect("address"),
        local: "127.0.0.1:8080".parse().expect("address"),
        script_name: script_name.to_owned(),
        pass_authorization: true,
    };
    let environ = Environ {
        vars: environ::build(&request, &origin).expect("environ"),
        url_scheme: "http",
        input: Cursor::new(request.body.clone()),
        errors: ErrorStream::new("test"),
        multithread: false,
        multiprocess: false,
        run_once: true,
        extensions: http::Extensions::new(),
    };
    let start = StartResponse::new();
    let body = app.call(environ, start.clone()).expect("the app succeeds");
    let mut bytes = Vec::new();
    for chunk in body {
        bytes.extend(chunk.expect("a chunk"));
    }
    (start.head().expect("start_response was called"), bytes)
}

#[test]
fn hello_in_process() {
    let (head, body) = call(&hello::hello, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(body, b"Hello, world!\n");
}

#[test]
fn environ_dump_in_process() {
    let (_, body) = call(
        &environ_dump::environ_dump,
        b"POST /p?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    );
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("REQUEST_METHOD=POST\n"));
    assert!(text.contains("QUERY_STRING=q=1\n"));
    assert!(text.contains("wsgi.input=<3 bytes>\n"));
    assert!(text.contains("wsgi.run_once=true\n"));
}

#[test]
fn the_demo_site_in_process() {
    let app = demo::app();
    let (head, body) = call(&app, b"GET /hello/Ann HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(String::from_utf8(body).unwrap().contains("Hello, Ann!"));
    let (head, _) = call(&app, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 404);
    // A handler's error becomes the framework's own 500 page.
    let (head, body) = call(&app, b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 500);
    assert!(String::from_utf8(body).unwrap().contains("the page failed"));
    let (head, _) = call(&app, b"GET /sleep?ms=999999 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        head.status, 500,
        "an out-of-range number is the handler's error"
    );
}

#[test]
fn the_demo_index_links_stay_inside_its_mount() {
    let app = demo::app();
    let (_, body) = call(&app, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let root = String::from_utf8(body).unwrap();
    assert!(root.contains("href=\"/hello/world\""), "{root}");
    let raw = b"GET /apps/demo/ HTTP/1.1\r\nHost: x\r\n\r\n";
    let (head, body) = call_at(&app, raw, "/apps/demo");
    assert_eq!(head.status, 200);
    let mounted = String::from_utf8(body).unwrap();
    assert!(
        mounted.contains("href=\"/apps/demo/hello/world\""),
        "{mounted}"
    );
    assert!(!mounted.contains("href=\"/hello"), "{mounted}");
}

#[test]
fn the_middleware_forwards_the_inner_head_with_its_header() {
    let app = Timing::new(hello::hello);
    let (head, body) = call(&app, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(head.header("x-response-time").is_some());
    assert_eq!(body, b"Hello, world!\n");
}

#[test]
fn the_middleware_preserves_a_lazy_start_response() {
    // The demo's streamed page starts its response before its first chunk
    // is made; Timing must still forward the head before that chunk.
    let app = Timing::new(demo::app());
    let (head, body) = call(&app, b"GET /stream?n=2&ms=0 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 200);
    assert_eq!(body, b"line 1 of 2\nline 2 of 2\n");
}
