//! Chapter 2 over real sockets: the gateway's rules, each with a test —
//! framing, start_response, failures, close (Drop), and request bodies.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use http::StatusCode;
use step01_iterative::Shutdown;
use step02_wsgi::apps;
use step02_wsgi::{AppError, Application, Body, Environ, StartResponse, body_once};
use test_support::{Client, TestServer, get, send};

/// Serves `app` in-process on 127.0.0.1:0.
fn serve(app: Arc<dyn Application>) -> TestServer {
    TestServer::in_process(move |listener: TcpListener, stop| {
        let shutdown = Shutdown::for_listener(&listener).expect("listener address");
        let trigger = shutdown.clone();
        thread::spawn(move || {
            stop.wait();
            trigger.trigger();
        });
        step02_wsgi::run(listener, shutdown, app).expect("server runs");
    })
}

fn text_header() -> Vec<(String, String)> {
    vec![("Content-Type".into(), "text/plain".into())]
}

/// A body that counts how often it was dropped (PEP 3333's close()).
struct Tracked {
    chunks: std::vec::IntoIter<Result<Vec<u8>, AppError>>,
    closed: Arc<AtomicUsize>,
}

impl Iterator for Tracked {
    type Item = Result<Vec<u8>, AppError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.chunks.next()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

fn tracked(chunks: Vec<Result<Vec<u8>, AppError>>, closed: &Arc<AtomicUsize>) -> Body {
    Box::new(Tracked {
        chunks: chunks.into_iter(),
        closed: Arc::clone(closed),
    })
}

/// Waits briefly for the server to finish with a connection it answered.
fn eventually(count: &AtomicUsize, expected: usize) -> usize {
    for _ in 0..200 {
        if count.load(Ordering::SeqCst) >= expected {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    count.load(Ordering::SeqCst)
}

#[test]
fn a_single_chunk_body_gets_a_content_length() {
    let server = serve(apps::by_name("hello").unwrap());
    let response = get(server.addr(), "/").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length"), Some("14"));
    assert!(response.header("transfer-encoding").is_none());
    assert_eq!(response.text(), "Hello, world!\n");
    // The middleware's header made it through.
    assert!(response.header("x-response-time").unwrap().ends_with("ms"));
}

#[test]
fn a_streamed_body_is_chunked_for_http11_and_close_delimited_for_http10() {
    let server = serve(apps::by_name("framework").unwrap());
    let response = get(server.addr(), "/stream?n=3&ms=0").unwrap();
    assert!(response.chunked, "{:?}", response.headers);
    assert!(response.header("content-length").is_none());
    assert_eq!(response.text(), "line 1 of 3\nline 2 of 3\nline 3 of 3\n");

    let response = send(server.addr(), b"GET /stream?n=2&ms=0 HTTP/1.0\r\n\r\n").unwrap();
    assert!(!response.chunked);
    assert!(response.header("content-length").is_none());
    assert!(response.header("transfer-encoding").is_none());
    assert_eq!(response.text(), "line 1 of 2\nline 2 of 2\n");
}

#[test]
fn the_applications_content_length_is_used_and_enforced() {
    let app = |_: Environ, start: StartResponse| -> Result<Body, AppError> {
        start.start(StatusCode::OK, vec![("Content-Length".into(), "5".into())])?;
        // Two chunks, more than declared: only 5 bytes may go out.
        Ok(Box::new(
            vec![Ok(b"abc".to_vec()), Ok(b"defgh".to_vec())].into_iter(),
        ))
    };
    let server = serve(Arc::new(app));
    let response = get(server.addr(), "/").unwrap();
    assert_eq!(response.header("content-length"), Some("5"));
    assert_eq!(response.body, b"abcde");
}

#[test]
fn start_response_may_be_called_lazily_inside_the_body() {
    let app = |_: Environ, start: StartResponse| -> Result<Body, AppError> {
        let mut started = false;
        Ok(Box::new(std::iter::from_fn(move || {
            if started {
                return None;
            }
            started = true;
            if let Err(e) = start.start(StatusCode::CREATED, text_header()) {
                return Some(Err(e.into()));
            }
            Some(Ok(b"made lazily".to_vec()))
        })))
    };
    let server = serve(Arc::new(app));
    let response = get(server.addr(), "/").unwrap();
    assert_eq!(
        (response.status, response.text().as_str()),
        (201, "made lazily")
    );
}

#[test]
fn start_response_twice_is_refused_unless_after_an_error() {
    let app = |_: Environ, start: StartResponse| -> Result<Body, AppError> {
        start.start(StatusCode::OK, text_header())?;
        let second = start.start(StatusCode::OK, text_header());
        start.restart_after_error(StatusCode::SERVICE_UNAVAILABLE, text_header())?;
        Ok(body_once(format!("second call: {}", second.is_err())))
    };
    let server = serve(Arc::new(app));
    let response = get(server.addr(), "/").unwrap();
    assert_eq!(response.status, 503);
    assert_eq!(response.text(), "second call: true");
}

#[test]
fn failures_become_500_and_the_server_keeps_serving() {
    let closed = Arc::new(AtomicUsize::new(0));
    let tracker = Arc::clone(&closed);
    let app = move |environ: Environ, start: StartResponse| -> Result<Body, AppError> {
        let path = environ
            .vars
            .get("PATH_INFO")
            .unwrap_or_default()
            .into_owned();
        match path.as_str() {
            "/error" => Err("the application failed".into()),
            "/panic" => panic!("the application panicked"),
            "/no-start" => Ok(body_once("forgot start_response")),
            "/hop" => {
                // The refused call leaves no head; the app ignores the error.
                let _ = start.start(StatusCode::OK, vec![("Connection".into(), "close".into())]);
                Ok(body_once("x"))
            }
            "/chunk-error" => {
                start.start(StatusCode::OK, text_header())?;
                Ok(tracked(vec![Err("no first chunk".into())], &tracker))
            }
            "/chunk-panic" => {
                start.start(StatusCode::OK, text_header())?;
                Ok(Box::new(std::iter::from_fn(
                    || -> Option<Result<Vec<u8>, AppError>> { panic!("panic inside the body") },
                )))
            }
            _ => {
                start.start(StatusCode::OK, text_header())?;
                Ok(body_once("fine"))
            }
        }
    };
    let server = serve(Arc::new(app));
    for path in [
        "/error",
        "/panic",
        "/no-start",
        "/hop",
        "/chunk-error",
        "/chunk-panic",
    ] {
        let response = get(server.addr(), path).unwrap();
        assert_eq!(response.status, 500, "{path}");
        assert_eq!(
            get(server.addr(), "/ok").unwrap().text(),
            "fine",
            "after {path}"
        );
    }
    assert_eq!(eventually(&closed, 1), 1, "the failing body was closed");
}

#[test]
fn a_failure_after_the_head_aborts_the_chunked_body() {
    let app = |_: Environ, start: StartResponse| -> Result<Body, AppError> {
        start.start(StatusCode::OK, text_header())?;
        Ok(Box::new(
            vec![Ok(b"partial".to_vec()), Err("broke halfway".into())].into_iter(),
        ))
    };
    let server = serve(Arc::new(app));
    let mut client = Client::connect(server.addr()).unwrap();
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let raw = client.read_to_end().unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("HTTP/1.1 200 OK"));
    assert!(text.contains("7\r\npartial\r\n"));
    // No last chunk: the client can tell the body was cut short.
    assert!(!text.ends_with("0\r\n\r\n"), "{text:?}");
}

#[test]
fn the_body_is_closed_after_success_head_and_a_vanished_client() {
    let closed = Arc::new(AtomicUsize::new(0));
    let tracker = Arc::clone(&closed);
    let app = move |_: Environ, start: StartResponse| -> Result<Body, AppError> {
        start.start(StatusCode::OK, text_header())?;
        let chunks = (0..2000).map(|_| Ok(vec![b'x'; 1024])).collect();
        Ok(tracked(chunks, &tracker))
    };
    let server = serve(Arc::new(app));
    // Success.
    assert_eq!(get(server.addr(), "/").unwrap().body.len(), 2000 * 1024);
    assert_eq!(eventually(&closed, 1), 1);
    // HEAD: the body is not iterated to the end, but it is closed.
    let head = send(server.addr(), b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(head.body.is_empty());
    assert_eq!(eventually(&closed, 2), 2);
    // A client that reads the head and goes away mid-body.
    let mut client = Client::connect(server.addr()).unwrap();
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    drop(client);
    assert_eq!(eventually(&closed, 3), 3);
}

#[test]
fn no_body_statuses_carry_no_length() {
    let app = |_: Environ, start: StartResponse| -> Result<Body, AppError> {
        start.start(StatusCode::NO_CONTENT, vec![])?;
        Ok(body_once("ignored"))
    };
    let server = serve(Arc::new(app));
    let mut client = Client::connect(server.addr()).unwrap();
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let raw = String::from_utf8(client.read_to_end().unwrap()).unwrap();
    assert!(raw.starts_with("HTTP/1.1 204 No Content\r\n"));
    assert!(!raw.contains("Content-Length") && !raw.contains("Transfer-Encoding"));
    assert!(raw.ends_with("\r\n\r\n"), "no body after the head: {raw:?}");
}

#[test]
fn a_chunked_request_body_reaches_the_application_whole() {
    let server = serve(apps::by_name("environ").unwrap());
    let response = send(
        server.addr(),
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n\
          5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .unwrap();
    let text = response.text();
    assert!(text.contains("CONTENT_LENGTH=11\n"), "{text}");
    assert!(text.contains("wsgi.input=<11 bytes>\n"), "{text}");
    assert!(!text.contains("HTTP_TRANSFER_ENCODING"), "{text}");
}

#[test]
fn bad_chunked_bodies_are_refused() {
    let server = serve(apps::by_name("hello").unwrap());
    let bad = send(
        server.addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    )
    .unwrap();
    assert_eq!(bad.status, 400);
    let mut huge = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    huge.extend_from_slice(b"200000\r\n"); // 2 MiB, over the 1 MiB limit
    assert_eq!(send(server.addr(), &huge).unwrap().status, 413);
}

#[test]
fn the_environ_seen_over_a_socket_follows_the_rules() {
    let server = serve(apps::by_name("environ").unwrap());
    let response = send(
        server.addr(),
        b"GET /a%20b/c?x=%41 HTTP/1.1\r\nHost: example.com:9\r\nX-Forwarded-For: 1.1.1.1\r\n\
          X_Forwarded_For: 6.6.6.6\r\nCookie: a=1\r\nCookie: b=2\r\nProxy: evil\r\n\r\n",
    )
    .unwrap();
    let text = response.text();
    for line in [
        "PATH_INFO=/a b/c\n",
        "QUERY_STRING=x=%41\n",
        "SCRIPT_NAME=\n",
        "SERVER_NAME=example.com\n",
        &format!("SERVER_PORT={}\n", server.addr().port()),
        "HTTP_X_FORWARDED_FOR=1.1.1.1\n",
        "HTTP_COOKIE=a=1; b=2\n",
        "REMOTE_ADDR=127.0.0.1\n",
        "wsgi.multithread=false\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("HTTP_PROXY"), "{text}");
    assert!(!text.contains("CONTENT_LENGTH"), "{text}");
}

#[test]
fn the_framework_demo_routes_forms_and_errors() {
    let server = serve(apps::by_name("framework").unwrap());
    let hello = get(server.addr(), "/hello/%3Cb%3Eyou").unwrap();
    assert!(
        hello.text().contains("Hello, &lt;b&gt;you!"),
        "{}",
        hello.text()
    );
    let form = send(
        server.addr(),
        b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 27\r\n\r\nname=Ann+B&message=hi+%26+o",
    )
    .unwrap();
    assert!(form.text().contains("Thank you, Ann B"), "{}", form.text());
    assert!(
        form.text().contains("You wrote: hi &amp; o"),
        "{}",
        form.text()
    );
    assert_eq!(get(server.addr(), "/nowhere").unwrap().status, 404);
    let wrong = send(server.addr(), b"DELETE /form HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("GET, HEAD, POST"));
    assert_eq!(get(server.addr(), "/fail").unwrap().status, 500);
    assert_eq!(get(server.addr(), "/panic").unwrap().status, 500);
    assert_eq!(
        get(server.addr(), "/sleep?ms=5").unwrap().text(),
        "slept 5 ms\n"
    );
    assert_eq!(get(server.addr(), "/").unwrap().status, 200);
}

#[test]
fn the_binary_serves_each_application_unchanged() {
    for (app, path, expected) in [
        ("hello", "/", "Hello, world!"),
        ("environ", "/x", "PATH_INFO=/x"),
        ("framework", "/hello/you", "Hello, you!"),
    ] {
        let server = TestServer::spawn(env!("CARGO_BIN_EXE_step02-wsgi"), &["--app", app]);
        let response = get(server.addr(), path).unwrap();
        assert_eq!(response.status, 200, "{app}");
        assert!(
            response.text().contains(expected),
            "{app}: {}",
            response.text()
        );
    }
}
