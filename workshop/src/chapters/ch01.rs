//! Chapter 1's exercises: one connection at a time.
//!
//! The chapter is about what a request and a response are on the wire, so
//! three exercises add pages that read the request (`headers`,
//! `echo-json`) or keep state between requests (`count`), and the
//! framing, `Content-Length` and `Connection: close` stay `response.rs`'s
//! job. The fourth takes the chapter's closing question head on: a slow
//! client must not make everyone else wait, and it must not be cut off
//! either. Each check starts `step01-iterative` and talks to it over a
//! socket, as a client would.

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::Client;

use crate::exercise::{Chapter, Exercise, Outcome, Solution};
use crate::failure::{Failure, show_bytes};
use crate::probe::{CONNECT_TIMEOUT, Probe, content_type_is, no_response, random_below, token};
use crate::subject::Subject;

/// Chapter 1's exercises, in the order of the book's page.
pub const CHAPTER: Chapter = Chapter {
    id: "ch01",
    title: "One connection at a time",
    package: "step01-iterative",
    exercises: &[
        Exercise {
            name: "headers",
            title: "a /headers page that lists the request's header fields",
            solutions: &[Solution::Patch],
            check: headers,
        },
        Exercise {
            name: "echo-json",
            title: "/echo answers with JSON when the client accepts it",
            solutions: &[Solution::Patch],
            check: echo_json,
        },
        Exercise {
            name: "count",
            title: "a /count page: how many requests the server has answered",
            solutions: &[Solution::Patch],
            check: count,
        },
        Exercise {
            name: "slow-client",
            title: "a slow client no longer makes the others wait",
            solutions: &[Solution::Patch, Solution::Chapter("step03-fork")],
            check: slow_client,
        },
    ],
};

/// `GET /headers` lists the request's header fields, one `name: value` per
/// line, in the order they arrived, as `text/plain`.
fn headers(subject: &Subject) -> Outcome {
    let server = subject.start(&[])?;
    let probe = Probe::get("/headers")
        .header("X-Workshop", &token())
        .header("accept-language", "tlh, en;q=0.5");
    let exchange = probe.send(&server)?;
    let lines: Vec<String> = probe
        .header_fields(server.addr())
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    let expected = format!(
        "200, Content-Type text/plain, and the body\n{}",
        lines.join("\n")
    );
    if exchange.status() != 200 {
        return Err(exchange.fail(
            format!("GET /headers answered {}, not 200", exchange.status()),
            expected,
        ));
    }
    if !content_type_is(exchange.header("content-type"), "text/plain") {
        return Err(exchange.fail("the page is not text/plain", expected));
    }
    let text = exchange.text();
    let got: Vec<&str> = text
        .lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.is_empty())
        .collect();
    if got != lines {
        return Err(exchange.fail(
            "the body does not list the header fields as they were sent: \
             one `name: value` per line, names as sent, in order",
            expected,
        ));
    }
    Ok(())
}

/// `/echo` with `Accept: application/json` answers with the request as a
/// JSON object; without it, `/echo` still sends the request's bytes back.
fn echo_json(subject: &Subject) -> Outcome {
    let server = subject.start(&[])?;
    let token = token();
    // Quotes, a backslash, control characters and non-ASCII text: the body
    // is valid JSON only if each is escaped (or not) as JSON requires.
    let body = format!("say \"hi\" \\ to\n\tthe {token}, é\u{1}");
    let target = format!("/echo?token={token}");
    let probe = Probe::new("POST", &target)
        .header("Accept", "text/html;q=0.9, application/json")
        .header("X-Workshop", &token)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(body.clone());
    let exchange = probe.send(&server)?;
    let headers: Vec<Value> = probe
        .header_fields(server.addr())
        .into_iter()
        .map(|(name, value)| json!([name, value]))
        .collect();
    let wanted = json!({
        "method": "POST",
        "target": target,
        "headers": headers,
        "body": body,
    });
    let expected = format!(
        "200, Content-Type application/json, and the body (keys in any order)\n{}",
        serde_json::to_string_pretty(&wanted).unwrap_or_default()
    );
    if exchange.status() != 200 {
        return Err(exchange.fail(
            format!("POST /echo answered {}, not 200", exchange.status()),
            expected,
        ));
    }
    if !content_type_is(exchange.header("content-type"), "application/json") {
        return Err(exchange.fail(
            "the client accepts application/json, but the answer is not JSON",
            expected,
        ));
    }
    let got: Value = match serde_json::from_slice(exchange.body()) {
        Ok(value) => value,
        Err(e) => {
            return Err(exchange.fail(format!("the body is not valid JSON: {e}"), expected));
        }
    };
    for key in ["method", "target", "headers", "body"] {
        if got.get(key) != wanted.get(key) {
            return Err(exchange.fail(
                format!(
                    "\"{key}\" is {}, not {}",
                    got.get(key).unwrap_or(&Value::Null),
                    wanted[key]
                ),
                expected,
            ));
        }
    }
    // The raw echo is still there for everyone else.
    let plain = Probe::new("POST", "/echo").body(token).send(&server)?;
    if plain.status() != 200 || plain.body() != plain.sent {
        return Err(plain.fail(
            "without `Accept: application/json`, /echo must still answer \
             with the request's bytes",
            "200, and the body is exactly the bytes sent",
        ));
    }
    Ok(())
}

/// `GET /count` answers with the number of requests the handler has
/// answered since the server started, this one included.
fn count(subject: &Subject) -> Outcome {
    let server = subject.start(&[])?;
    // A random number of pages first, and a missing one: a 404 is an
    // answer too.
    let pages = 1 + random_below(4);
    for _ in 0..pages {
        Probe::get("/")
            .send(&server)?
            .expect_status(200, "the home page")?;
    }
    Probe::get(&format!("/no-such-page-{}", token()))
        .send(&server)?
        .expect_status(404, "a page that does not exist")?;
    for answered in [pages + 2, pages + 3] {
        let exchange = Probe::get("/count").send(&server)?;
        let expected = format!(
            "200 and the body {answered}: before it, the server answered {pages} \
             home page(s), one missing page{}",
            if answered > pages + 2 {
                " and one /count"
            } else {
                ""
            }
        );
        if exchange.status() != 200 {
            return Err(exchange.fail(
                format!("GET /count answered {}, not 200", exchange.status()),
                expected,
            ));
        }
        if exchange.text().trim() != answered.to_string() {
            return Err(exchange.fail(format!("the count is not {answered}"), expected));
        }
    }
    Ok(())
}

/// How long the slow client of [`slow_client`] takes over its request: well
/// under the chapter's 10 s `READ_TIMEOUT`, so an honest server waits for
/// it, and long enough that a server which merely gives up sooner is caught.
const SLOW_CLIENT_PAUSE: Duration = Duration::from_secs(3);

/// How long the slow client waits for any one read, its answer included.
const SLOW_CLIENT_WAIT: Duration = Duration::from_secs(10);

/// How long the quick client may wait while the slow one is still sending.
const QUICK_CLIENT_WAIT: Duration = Duration::from_secs(2);

/// A client that sends half a request and pauses must not hold up the
/// next client, and must still be answered when it finishes.
fn slow_client(subject: &Subject) -> Outcome {
    let server = subject.start(&[])?;
    let addr = server.addr();
    let first_part = b"GET / HTTP/1.1\r\n";
    let rest = format!("Host: {addr}\r\nConnection: close\r\n\r\n");
    let slow_sent = format!(
        "client 1: {}   … then, {} s later, the rest:\n{}",
        show_bytes(first_part, 100),
        SLOW_CLIENT_PAUSE.as_secs(),
        show_bytes(rest.as_bytes(), 200),
    );
    let try_it = format!(
        "{}\n\
         nc 127.0.0.1 8080      # in a second terminal: connect, and type nothing\n\
         time curl -s http://127.0.0.1:8080/ >/dev/null      # in a third",
        server.run_line
    );

    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    let mut slow = Client::from_stream(stream, SLOW_CLIENT_WAIT)?;
    slow.send(first_part)?;
    let slow_started = Instant::now();
    // Give the server time to accept it and start waiting for the rest.
    thread::sleep(Duration::from_millis(300));

    let quick = Probe::get("/").timeout(QUICK_CLIENT_WAIT);
    let exchange = quick.send(&server).map_err(|failure| {
        let mut out = Failure::new(format!(
            "while client 1 was still sending its request, client 2 got {}",
            failure.problem.replace("no response", "no answer")
        ))
        .sent(format!(
            "{slow_sent}\nclient 2, meanwhile:\n{}",
            show_bytes(&quick.bytes(addr), 300)
        ))
        .expected("client 2 is answered at once, whatever client 1 is doing")
        .try_it(try_it.clone());
        if let Some(got) = failure.detail("got") {
            out = out.got(got);
        }
        out
    })?;
    exchange.expect_status(200, "the home page, for the quick client")?;

    // Now the slow client finishes its request.
    thread::sleep(SLOW_CLIENT_PAUSE.saturating_sub(slow_started.elapsed()));
    let cut_off = |got: String| {
        Failure::new(
            "client 1 was not served once its request was complete: the \
             others must not wait for a slow client, but it must not be \
             dropped either",
        )
        .sent(slow_sent.clone())
        .expected(format!(
            "client 1 is answered 200 once its request is complete, \
             {} s after it began (the chapter's READ_TIMEOUT is 10 s)",
            SLOW_CLIENT_PAUSE.as_secs()
        ))
        .got(got)
        .try_it(try_it.clone())
    };
    if let Err(e) = slow.send(rest.as_bytes()) {
        return Err(cut_off(format!("the connection was closed: {e}")));
    }
    match slow.read_response(false) {
        Ok(response) if response.status == 200 => Ok(()),
        Ok(response) => Err(cut_off(show_bytes(&response.head, 400))),
        Err(e) => Err(cut_off(no_response(&e, SLOW_CLIENT_WAIT))),
    }
}
