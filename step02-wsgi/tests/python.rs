//! Real Python WSGI applications behind the gateway (feature `python`).
//!
//! Every example application is wrapped in the standard library's
//! `wsgiref.validate.validator`, which checks both the application and this
//! server against PEP 3333 on every call and raises on any violation (which
//! the server turns into a 500, failing the test). Framework tests skip with
//! a printed reason when the framework is not installed, and fail in CI.
#![cfg(feature = "python")]

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use step01_iterative::Shutdown;
use step02_wsgi::python::{PythonError, PythonOptions, load};
use test_support::{Client, TestServer, get, in_ci, send};

/// The close() counter of wsgiapp.py is global: tests reading it run one
/// at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn options(validate: bool) -> PythonOptions {
    PythonOptions {
        validate,
        ..PythonOptions::default()
    }
}

/// Serves `spec` (validated) in-process; `None` (after printing why) when
/// its framework is not installed outside CI.
fn serve(spec: &str) -> Option<TestServer> {
    serve_with(spec, true)
}

fn serve_with(spec: &str, validate: bool) -> Option<TestServer> {
    let app = match load(spec, &options(validate)) {
        Ok(app) => app,
        Err(PythonError::Python(traceback))
            if traceback.contains("ModuleNotFoundError") && !in_ci() =>
        {
            eprintln!(
                "skipping {spec}: its framework is not installed ({})",
                last(&traceback)
            );
            return None;
        }
        Err(e) => panic!("cannot load {spec}: {e}"),
    };
    let app = Arc::new(app);
    Some(TestServer::in_process(
        move |listener: TcpListener, stop| {
            let shutdown = Shutdown::for_listener(&listener).expect("listener address");
            let trigger = shutdown.clone();
            thread::spawn(move || {
                stop.wait();
                trigger.trigger();
            });
            step02_wsgi::run(listener, shutdown, app).expect("server runs");
        },
    ))
}

fn last(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
}

fn post(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> test_support::RawResponse {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    send(server.addr(), &request).expect("the server answers")
}

/// GET, HEAD, a form POST and a 1 MiB POST, all through the validator.
fn check_framework(spec: &str, home_text: &str) {
    let Some(server) = serve(spec) else { return };
    let home = get(server.addr(), "/").expect("the server answers");
    assert_eq!(home.status, 200, "{spec}: {}", home.text());
    assert!(home.text().contains(home_text), "{spec}: {}", home.text());

    let head =
        send(server.addr(), b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").expect("the server answers");
    assert_eq!(head.status, 200, "{spec} HEAD");
    assert!(head.body.is_empty());

    let hello = get(server.addr(), "/hello/Ann").expect("the server answers");
    assert!(
        hello.text().contains("Hello, Ann!"),
        "{spec}: {}",
        hello.text()
    );

    let form = post(
        &server,
        "/form",
        "application/x-www-form-urlencoded",
        b"name=Ann+B",
    );
    assert_eq!(form.status, 200, "{spec}: {}", form.text());
    assert!(
        form.text().contains("Thank you, Ann B"),
        "{spec}: {}",
        form.text()
    );

    let big = vec![b'x'; 1024 * 1024];
    let upload = post(&server, "/upload", "application/octet-stream", &big);
    assert_eq!(upload.status, 200, "{spec}: {}", upload.text());
    assert_eq!(upload.text(), "received 1048576 bytes\n", "{spec}");
}

#[test]
fn flask_passes_the_validator() {
    check_framework("flaskapp:app", "Hello world from Flask!");
}

#[test]
fn pyramid_passes_the_validator() {
    check_framework("pyramidapp:app", "Hello world from Pyramid!");
}

#[test]
fn django_passes_the_validator() {
    check_framework("djangoapp:app", "Hello world from Django!");
}

#[test]
fn a_plain_wsgi_app_passes_the_validator() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = serve("wsgiapp:app").expect("wsgiapp needs no framework");
    let home = get(server.addr(), "/").unwrap();
    assert_eq!(home.text(), "Hello from a plain WSGI application\n");
    let head = send(server.addr(), b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!((head.status, head.body.len()), (200, 0));
    let echo = post(&server, "/echo", "text/plain", b"hello");
    assert_eq!(echo.text(), "received 5 bytes\n");
    let big = post(
        &server,
        "/echo",
        "application/octet-stream",
        &vec![b'y'; 1024 * 1024],
    );
    assert_eq!(big.text(), "received 1048576 bytes\n");
}

#[test]
fn a_list_of_one_chunk_gets_a_content_length() {
    // Unvalidated: the validator wraps the list in an iterator of its own.
    let server = serve_with("wsgiapp:app", false).expect("wsgiapp");
    let home = get(server.addr(), "/").unwrap();
    assert_eq!(home.header("content-length"), Some("36"));
    assert!(!home.chunked);
}

#[test]
fn lazy_start_response_write_and_streaming() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = serve("wsgiapp:app").expect("wsgiapp");
    let stream = get(server.addr(), "/stream?n=3").unwrap();
    assert!(stream.chunked);
    assert_eq!(stream.text(), "line 1 of 3\nline 2 of 3\nline 3 of 3\n");
    let written = get(server.addr(), "/write").unwrap();
    assert_eq!(written.text(), "written with write()\nthen returned\n");
}

#[test]
fn an_exception_is_a_500_and_the_server_keeps_serving() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = serve("wsgiapp:app").expect("wsgiapp");
    assert_eq!(get(server.addr(), "/error").unwrap().status, 500);
    assert_eq!(get(server.addr(), "/").unwrap().status, 200);
}

fn closes(server: &TestServer) -> u64 {
    get(server.addr(), "/closes")
        .expect("a counter")
        .text()
        .trim()
        .parse()
        .expect("a counter")
}

#[test]
fn close_is_called_after_success_an_exception_and_a_vanished_client() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = serve("wsgiapp:app").expect("wsgiapp");
    let before = closes(&server);

    // Success.
    assert_eq!(get(server.addr(), "/write").unwrap().status, 200);
    assert_eq!(closes(&server), before + 1);

    // An exception while iterating, after the head went out: the body is
    // cut short (no last chunk), and close() still runs.
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send(b"GET /fail-late HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let raw = String::from_utf8(client.read_to_end().unwrap()).unwrap();
    assert!(raw.contains("line 1 of 3"));
    assert!(!raw.ends_with("0\r\n\r\n"), "{raw:?}");
    assert_eq!(closes(&server), before + 2);

    // A client that goes away in the middle of a long streamed body.
    let mut client = Client::connect(server.addr()).unwrap();
    client
        .send(b"GET /lines?n=1000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    client.set_read_timeout(Duration::from_secs(10)).unwrap();
    let mut first = [0u8; 64];
    let _ = std::io::Read::read(
        &mut std::io::BufReader::new(&mut client_stream(&client)),
        &mut first,
    );
    drop(client);
    assert_eq!(closes(&server), before + 3);
}

/// A second handle on the client's socket, to read a few bytes raw.
fn client_stream(client: &Client) -> std::net::TcpStream {
    client.try_clone_stream().expect("a socket handle")
}

#[test]
fn python_threads_keep_their_state_across_requests() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = serve("wsgiapp:app").expect("wsgiapp");
    let first: u64 = get(server.addr(), "/local")
        .unwrap()
        .text()
        .trim()
        .parse()
        .unwrap();
    let second: u64 = get(server.addr(), "/local")
        .unwrap()
        .text()
        .trim()
        .parse()
        .unwrap();
    // Attaching a fresh thread state per request would reset it to 1.
    assert_eq!(second, first + 1);
}

#[test]
fn import_errors_are_clear_and_carry_the_traceback() {
    let missing = load("no_such_module_here:app", &options(false))
        .err()
        .unwrap();
    assert!(
        missing.to_string().contains("ModuleNotFoundError"),
        "{missing}"
    );
    let attribute = load("wsgiapp:no_such_app", &options(false)).err().unwrap();
    assert!(
        attribute.to_string().contains("AttributeError"),
        "{attribute}"
    );
    assert!(matches!(
        load("wsgiapp", &options(false)),
        Err(PythonError::Spec(_))
    ));
    let not_callable = load("wsgiapp:CLOSED", &options(false)).err().unwrap();
    assert!(not_callable.to_string().contains("not callable"));
}

#[test]
fn the_binary_finds_its_python_with_no_environment_help() {
    // No VIRTUAL_ENV, no LD_LIBRARY_PATH, no PYTHONHOME: the rpath and the
    // recorded interpreter must be enough.
    let server = TestServer::spawn_with(
        env!("CARGO_BIN_EXE_step02-wsgi"),
        &["--wsgi", "wsgiapp:app"],
        |command| {
            command
                .env_remove("VIRTUAL_ENV")
                .env_remove("LD_LIBRARY_PATH")
                .env_remove("PYTHONHOME")
                .env_remove("PYTHONPATH");
        },
    );
    let response = get(server.addr(), "/environ").unwrap();
    assert_eq!(response.status, 200);
    assert!(
        response.text().contains("wsgi.version=(1, 0)"),
        "{}",
        response.text()
    );
}

#[test]
fn the_binary_reports_an_import_error_and_exits() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_step02-wsgi"))
        .args(["--wsgi", "no_such_module_here:app", "--port", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ModuleNotFoundError"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
