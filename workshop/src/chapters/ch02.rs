//! Chapter 2's exercises: the gateway between server and application.
//!
//! The chapter splits the server from its applications, so the exercises
//! work on the application side of the gateway: a new application
//! (`echo-app`), a new route in the framework (`add-route`), and a
//! middleware that wraps another application without either side noticing
//! (`nosniff`). The last asks the chapter's closing question, how to serve
//! two clients at once; its solution is chapter 3's server, unchanged.
//! Each check starts `step02-wsgi` and talks to it over a socket.

use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use test_support::Client;

use crate::exercise::{Chapter, Exercise, Outcome, Solution};
use crate::failure::{Failure, show_bytes};
use crate::probe::{CONNECT_TIMEOUT, Probe, content_type_is, no_response, random_below, token};
use crate::subject::Subject;

/// Chapter 2's exercises, in the order of the book's page.
pub const CHAPTER: Chapter = Chapter {
    id: "ch02",
    title: "The gateway: server meets application",
    package: "step02-wsgi",
    exercises: &[
        Exercise {
            name: "echo-app",
            title: "an application that answers with the request body (--app echo)",
            solutions: &[Solution::Patch],
            check: echo_app,
        },
        Exercise {
            name: "add-route",
            title: "a route with two parameters: /add/A/B answers A + B",
            solutions: &[Solution::Patch],
            check: add_route,
        },
        Exercise {
            name: "nosniff",
            title: "a middleware that adds X-Content-Type-Options: nosniff",
            solutions: &[Solution::Patch],
            check: nosniff,
        },
        Exercise {
            name: "two-clients",
            title: "a quick page is served while a slow one is still working",
            solutions: &[Solution::Chapter("step03-fork")],
            check: two_clients,
        },
    ],
};

/// `--app echo` answers every request with its body, under the request's
/// `Content-Type` (or `application/octet-stream` when it had none),
/// however the body was framed.
fn echo_app(subject: &Subject) -> Outcome {
    let server = subject.start(&["--app", "echo"])?;
    let token = token();
    let content_type = format!("text/x-workshop; token={token}");
    let chunked = Probe::new("POST", "/anything")
        .header("Content-Type", &content_type)
        .chunked(&[b"first the head, ", token.as_bytes(), b", then the rest\n"]);
    let exchange = chunked.send(&server)?;
    let expected = format!(
        "200, Content-Type {content_type}, and the body {:?}",
        String::from_utf8_lossy(&chunked.body_bytes())
    );
    if exchange.status() != 200 {
        return Err(exchange.fail(
            format!("the echo application answered {}", exchange.status()),
            expected,
        ));
    }
    if exchange.header("content-type") != Some(content_type.as_str()) {
        return Err(exchange.fail("the Content-Type is not the request's", expected));
    }
    if exchange.body() != chunked.body_bytes() {
        return Err(exchange.fail(
            "the body is not the request's body (sent chunked: the \
             application sees it de-chunked, in wsgi.input)",
            expected,
        ));
    }

    // Bytes that are not text, with no Content-Type at all.
    let bytes: Vec<u8> = (0..=255u8).rev().chain(token.bytes()).collect();
    let binary = Probe::new("PUT", "/x").body(bytes.clone());
    let exchange = binary.send(&server)?;
    let expected = "200, Content-Type application/octet-stream, and the same 264 bytes";
    if exchange.status() != 200 || exchange.body() != bytes {
        return Err(exchange.fail("a binary body did not come back byte for byte", expected));
    }
    if !content_type_is(exchange.header("content-type"), "application/octet-stream") {
        return Err(exchange.fail(
            "a body sent without a Content-Type should come back as \
             application/octet-stream (RFC 9110 §8.3)",
            expected,
        ));
    }
    Ok(())
}

/// The demo site answers `/add/A/B` with the sum of two whole numbers, and
/// with 400 when either is not a number.
fn add_route(subject: &Subject) -> Outcome {
    let server = subject.start(&[])?;
    // Made up each run, so no answer can be written in advance.
    let a = random_below(2_000) as i64 - 1_000;
    let b = random_below(1_000_000) as i64;
    let exchange = Probe::get(&format!("/add/{a}/{b}")).send(&server)?;
    let expected = format!("200 and the body {}", a + b);
    if exchange.status() != 200 {
        return Err(exchange.fail(
            format!("/add/{a}/{b} answered {}", exchange.status()),
            expected,
        ));
    }
    if exchange.text().trim() != (a + b).to_string() {
        return Err(exchange.fail(format!("{a} + {b} is not {}", a + b), expected));
    }
    let not_a_number = format!("x{}", token());
    let exchange = Probe::get(&format!("/add/{a}/{not_a_number}")).send(&server)?;
    if exchange.status() != 400 {
        return Err(exchange.fail(
            format!(
                "/add/{a}/{not_a_number} answered {}, not 400",
                exchange.status()
            ),
            "400 Bad Request: the path matched the route, so not 404, and \
             nothing broke on the server, so not 500; the client sent a word \
             where a number belongs",
        ));
    }
    Ok(())
}

/// Every response of the demo site carries `X-Content-Type-Options:
/// nosniff`, the timing middleware still wraps it, and a page built in
/// memory still goes out with a `Content-Length`.
fn nosniff(subject: &Subject) -> Outcome {
    let server = subject.start(&[])?;
    let missing = format!("/no-such-page-{}", token());
    for target in ["/", missing.as_str(), "/stream?n=2&ms=0"] {
        let exchange = Probe::get(target).send(&server)?;
        let expected = "X-Content-Type-Options: nosniff on every response, \
                        next to Timing's X-Response-Time";
        if exchange.header("x-content-type-options") != Some("nosniff") {
            return Err(exchange.fail(
                format!("GET {target}: no `X-Content-Type-Options: nosniff`"),
                expected,
            ));
        }
        if exchange.header("x-response-time").is_none() {
            return Err(exchange.fail(
                format!(
                    "GET {target}: no X-Response-Time: wrap the site in your \
                     middleware *and* in Timing"
                ),
                expected,
            ));
        }
        if target == "/"
            && (exchange.response.chunked || exchange.header("content-length").is_none())
        {
            return Err(exchange
                .fail(
                    "GET /: the page lost its Content-Length and went out chunked",
                    "the home page is one chunk in memory: the server can send \
                     it with a Content-Length, as it did before",
                )
                .note(
                    "the server knows a body is complete when its iterator's \
                     size_hint says nothing more will come: does yours pass \
                     the inner body's size_hint on?",
                ));
        }
    }
    Ok(())
}

/// How long the slow page of [`two_clients`] takes.
const SLOW_PAGE_MS: u64 = 3_000;

/// How long the quick page may take while the slow one is working.
const QUICK_PAGE_WAIT: Duration = Duration::from_secs(2);

/// While `/sleep?ms=3000` is being served, a request for `/` is answered
/// at once; the slow page still arrives.
fn two_clients(subject: &Subject) -> Outcome {
    let server = subject.start(&[])?;
    let addr = server.addr();
    let slow_probe = Probe::get(&format!("/sleep?ms={SLOW_PAGE_MS}"));
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    let mut slow = Client::from_stream(stream, Duration::from_secs(10))?;
    slow.send(&slow_probe.bytes(addr))?;
    // Let the server start on the slow page before the quick one arrives.
    thread::sleep(Duration::from_millis(300));

    let quick = Probe::get("/").timeout(QUICK_PAGE_WAIT);
    let sent = format!(
        "client 1: {}\nclient 2, 0.3 s later:\n{}",
        show_bytes(&slow_probe.bytes(addr), 300),
        show_bytes(&quick.bytes(addr), 300)
    );
    let try_it = format!(
        "{}\n\
         curl 'http://127.0.0.1:8080/sleep?ms=5000' &      # a slow page\n\
         time curl -s http://127.0.0.1:8080/ >/dev/null   # and a quick one",
        server.run_line
    );
    let exchange = quick.send(&server).map_err(|failure| {
        let mut out = Failure::new(format!(
            "the quick page waited behind the slow one: {}",
            failure.problem
        ))
        .sent(sent.clone())
        .expected(format!(
            "client 2 is answered within {} s, while client 1's page is still \
             sleeping",
            QUICK_PAGE_WAIT.as_secs()
        ))
        .try_it(try_it.clone());
        if let Some(got) = failure.detail("got") {
            out = out.got(got);
        }
        out.note("this is the question chapter 3 answers")
    })?;
    exchange.expect_status(200, "the home page, for the quick client")?;

    match slow.read_response(false) {
        Ok(response) if response.status == 200 => Ok(()),
        Ok(response) => Err(Failure::new("the slow page failed")
            .sent(sent)
            .expected(format!("200: slept {SLOW_PAGE_MS} ms"))
            .got(show_bytes(&response.head, 400))
            .try_it(try_it)),
        Err(e) => Err(Failure::new("the slow page never arrived")
            .sent(sent)
            .got(no_response(&e, Duration::from_secs(10)))
            .try_it(try_it)),
    }
}
