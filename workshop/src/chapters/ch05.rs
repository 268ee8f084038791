//! Chapter 5's exercises: pools, keep-alive and files.
//!
//! The chapter builds three things, and there is an exercise on each. On
//! the files: a strong `ETag` and `If-None-Match` (`etag`), which is the
//! chapter's own exercise 3. On the pool: a page that shows what the
//! workers are doing (`pool-metrics`, exercise 4), which makes the cost of
//! keep-alive visible, since a worker waiting on an idle connection counts
//! as busy. On keep-alive and shutdown: a stop that does not wait for idle
//! connections to time out (`stop-idle`). The last takes the chapter's
//! closing question head on, holding many idle connections at once
//! (`idle-clients`), and its answer is chapter 6's server, unchanged. Each
//! check starts `step05-threadpool` and talks to it over sockets, as
//! clients would.

use std::fs::{self, File};
use std::io;
use std::net::{SocketAddr, TcpStream};

use std::thread;
use std::time::{Duration, Instant, SystemTime};
use tempfile::TempDir;

use nix::sys::signal::Signal;
use test_support::{Client, RawResponse};

use crate::exercise::{Chapter, Exercise, Outcome, Solution};
use crate::failure::{Failure, scratch_dir, setup_failed, show_bytes};
use crate::probe::{CONNECT_TIMEOUT, Exchange, Probe, content_type_is, no_response};
use crate::probe::{random_below, token};
use crate::subject::Subject;

/// Chapter 5's exercises, in the order of the book's page.
pub const CHAPTER: Chapter = Chapter {
    id: "ch05",
    title: "Pools, keep-alive and files",
    package: "step05-threadpool",
    exercises: &[
        Exercise {
            name: "etag",
            title: "a strong ETag on files, and If-None-Match answered with 304",
            solutions: &[Solution::Patch],
            check: etag,
        },
        Exercise {
            name: "pool-metrics",
            title: "a /-/pool page: workers, busy, queued, replaced",
            solutions: &[Solution::Patch],
            check: pool_metrics,
        },
        Exercise {
            name: "stop-idle",
            title: "Ctrl-C closes idle keep-alive connections at once",
            solutions: &[Solution::Patch],
            check: stop_idle,
        },
        Exercise {
            name: "idle-clients",
            title: "300 idle keep-alive connections, and a new client is still served",
            solutions: &[Solution::Chapter("step06-full")],
            check: idle_clients,
        },
    ],
};

/// How the learner starts the shipped demo site, for "try it" lines of
/// checks whose own document root is gone by the time they are read.
const DEMO: &str = "cargo run -p step05-threadpool      # the demo site, port 8080";

/// A request for `target` on a connection that stays open (no
/// `Connection: close`), as a browser sends it.
fn keep_alive_request(addr: SocketAddr, target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes()
}

/// Opens a connection to `addr` whose reads wait at most `wait`.
fn connect(addr: SocketAddr, wait: Duration) -> io::Result<Client> {
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    Client::from_stream(stream, wait)
}

/// A response as failure messages show it: head, then the body, shortened.
fn shown(response: &RawResponse) -> String {
    let body = if response.body.is_empty() {
        "(no body)".to_owned()
    } else {
        show_bytes(&response.body, 400)
    };
    format!("{}\n{body}", show_bytes(&response.head, 600))
}

/// A document root of the check's own, in a temporary directory, holding
/// one file; dropping it removes the directory.
struct TempRoot {
    /// The document root.
    dir: TempDir,
}

impl TempRoot {
    fn new() -> Result<TempRoot, Failure> {
        let dir = scratch_dir("ch05")?;
        Ok(TempRoot { dir })
    }

    /// Writes `name` with `contents`, and sets its modification time to
    /// `modified`; returns the time the file system kept (it may round).
    fn write(
        &self,
        name: &str,
        contents: &str,
        modified: SystemTime,
    ) -> Result<SystemTime, Failure> {
        let path = self.dir.path().join(name);
        let set = || -> io::Result<SystemTime> {
            fs::write(&path, contents)?;
            File::options()
                .write(true)
                .open(&path)?
                .set_modified(modified)?;
            fs::metadata(&path)?.modified()
        };
        set().map_err(|e| setup_failed(&path, &e))
    }
}

/// `exchange`, with commands that repeat it against the demo site.
fn on_the_demo_site(mut exchange: Exchange, curl: &str) -> Exchange {
    exchange.try_it = format!("{DEMO}\n{curl}");
    exchange
}

/// Files carry a strong `ETag`; `If-None-Match` naming it (alone, in a
/// list, in weak form, or `*`) gets 304 with the `ETag`; while
/// `If-None-Match` is present `If-Modified-Since` is ignored; and a change
/// within the same second gives a new tag.
fn etag(subject: &Subject) -> Outcome {
    let root = TempRoot::new()?;
    let name = format!("page-{}.txt", token());
    let target = format!("/{name}");
    let first = format!("first version {}\n", token());
    // An hour ago, at a made-up fraction of a second: a whole second plus
    // 123 456 789 ns, so that a change 0.2 s later stays in the same second.
    let whole_seconds = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(3_600);
    let modified = SystemTime::UNIX_EPOCH
        + Duration::from_secs(whole_seconds)
        + Duration::from_nanos(123_456_789);
    let kept = root.write(&name, &first, modified)?;
    let root_arg = root.dir.path().to_string_lossy().into_owned();
    let server = subject.start(&["--root", &root_arg])?;
    let curl_etag = "curl -si http://127.0.0.1:8080/hello.txt | grep -i etag";

    // 1. The tag.
    let exchange = on_the_demo_site(Probe::get(&target).send(&server)?, curl_etag);
    exchange.expect_status(200, "the file exists")?;
    let tag_shape = "a strong ETag: an opaque tag in double quotes, without W/, \
                     such as \"1a-187a5c3e2f1d0b40\"";
    let Some(tag) = exchange.header("etag").map(str::to_owned) else {
        return Err(exchange.fail("the response has no ETag header", tag_shape));
    };
    if tag.starts_with("W/") {
        return Err(exchange.fail(
            "the ETag is weak (W/…): two different contents may share a weak \
             tag, and the reference asks for a strong one",
            tag_shape,
        ));
    }
    let quoted = tag.len() >= 2
        && tag.starts_with('"')
        && tag.ends_with('"')
        && !tag[1..tag.len() - 1].contains('"');
    if !quoted {
        return Err(exchange.fail(
            format!("{tag} is not an entity-tag: it goes in double quotes (RFC 9110 §8.8.3)"),
            tag_shape,
        ));
    }

    // 2. The client's copy is current: 304, with the tag, and no body.
    let curl_304 = "curl -si -H 'If-None-Match: \"…\"' http://127.0.0.1:8080/hello.txt";
    let listed = format!("\"{}\", W/{tag}", token());
    for (method, value, what) in [
        ("GET", tag.as_str(), "the ETag itself"),
        (
            "GET",
            listed.as_str(),
            "a list, with the ETag in weak form (W/) in it",
        ),
        ("GET", "*", "`*`, any version at all"),
        ("HEAD", tag.as_str(), "the ETag itself, on a HEAD request"),
    ] {
        let probe = Probe::new(method, &target).header("If-None-Match", value);
        let exchange = on_the_demo_site(probe.send(&server)?, curl_304);
        let expected = format!(
            "304 Not Modified, with ETag: {tag} and no body: If-None-Match \
             names {what} (compared weakly, RFC 9110 §13.1.2)"
        );
        if exchange.status() != 304 {
            return Err(exchange.fail(
                format!(
                    "If-None-Match with {what} answered {}, not 304",
                    exchange.status()
                ),
                expected,
            ));
        }
        if exchange.header("etag") != Some(tag.as_str()) {
            return Err(exchange.fail("the 304 does not carry the ETag", expected));
        }
    }

    // 3. If-None-Match decides alone: a date that says "unchanged" must not
    // win over a tag that says "changed".
    let Some(last_modified) = exchange.header("last-modified").map(str::to_owned) else {
        return Err(exchange.fail(
            "the response lost its Last-Modified header",
            "Last-Modified, as before, next to the ETag",
        ));
    };
    let other = format!("\"{}\"", token());
    let probe = Probe::get(&target)
        .header("If-None-Match", &other)
        .header("If-Modified-Since", &last_modified);
    let exchange = on_the_demo_site(probe.send(&server)?, curl_304);
    if exchange.status() != 200 || exchange.body() != first.as_bytes() {
        return Err(exchange.fail(
            "with If-None-Match present, If-Modified-Since must be ignored \
             (RFC 9110 §13.1.3), and the tag does not match",
            "200 and the file: the client's copy is another version",
        ));
    }

    // 4. A change in the same second: same length, new contents. Only a
    // tag built from the time to the nanosecond (or from the contents)
    // sees it; Last-Modified, in whole seconds, cannot.
    let second = first.replace("first ", "later ");
    let mut later = modified + Duration::from_millis(200);
    if root.write(&name, &second, later)? == kept {
        // A file system that keeps whole seconds only: the next second.
        later = modified + Duration::from_secs(1);
        root.write(&name, &second, later)?;
    }
    let probe = Probe::get(&target).header("If-None-Match", &tag);
    let exchange = on_the_demo_site(probe.send(&server)?, curl_etag);
    let expected = format!(
        "200, the new contents, and an ETag other than {tag}: the file \
         changed 0.2 s after the version the client has, its length did not"
    );
    if exchange.status() != 200 || exchange.body() != second.as_bytes() {
        return Err(exchange.fail(
            "the file changed, but the server says the client's copy is current",
            expected,
        ));
    }
    if exchange.header("etag") == Some(tag.as_str()) {
        return Err(exchange.fail("the file changed, but its ETag did not", expected));
    }
    Ok(())
}

/// The counters of a `/-/pool` page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PoolCounts {
    workers: u64,
    busy: u64,
    queued: u64,
    replaced: u64,
}

impl PoolCounts {
    fn show(self) -> String {
        format!(
            "workers: {}\nbusy: {}\nqueued: {}\nreplaced: {}",
            self.workers, self.busy, self.queued, self.replaced
        )
    }
}

/// Reads `name: value` lines (or `name=value`, `name value`).
fn parse_pool_page(text: &str) -> Result<PoolCounts, String> {
    let value = |name: &str| -> Result<u64, String> {
        text.lines()
            .filter_map(|line| {
                let mut words = line
                    .split(|c: char| c == ':' || c == '=' || c.is_whitespace())
                    .filter(|w| !w.is_empty());
                let key = words.next()?;
                key.eq_ignore_ascii_case(name).then(|| words.next())
            })
            .next()
            .flatten()
            .ok_or_else(|| format!("no `{name}:` line"))?
            .parse()
            .map_err(|_| format!("`{name}` is not a whole number"))
    };
    Ok(PoolCounts {
        workers: value("workers")?,
        busy: value("busy")?,
        queued: value("queued")?,
        replaced: value("replaced")?,
    })
}

/// Commands that show the page by hand, with two workers pinned.
const POOL_TRY_IT: &str = "cargo run -p step05-threadpool -- -w 3 --idle-timeout 60 --request-timeout 60\n\
     curl -s http://127.0.0.1:8080/-/pool\n\
     nc 127.0.0.1 8080 &      # twice: connections that wait, idle\n\
     curl -s http://127.0.0.1:8080/-/pool";

/// How long the pool page may take to show the state the check set up.
const POOL_SETTLE: Duration = Duration::from_secs(3);

/// With `--model pool -w W`, `/-/pool` answers `workers: W` and counts the
/// busy workers (this request's included) and the connections waiting in
/// the queue, on a connection kept open between readings.
fn pool_metrics(subject: &Subject) -> Outcome {
    let workers = 2 + random_below(3);
    let waiting = 1 + random_below(3);
    let workers_arg = workers.to_string();
    let server = subject.start(&[
        "--model",
        "pool",
        "-w",
        &workers_arg,
        "--queue",
        "8",
        "--idle-timeout",
        "30",
        "--request-timeout",
        "30",
    ])?;
    let addr = server.addr();
    let request = keep_alive_request(addr, "/-/pool");
    let mut reader = connect(addr, Duration::from_secs(5))?;
    let read_page = |reader: &mut Client| -> Result<(RawResponse, PoolCounts), Failure> {
        let fail = |problem: String, got: Option<&RawResponse>| {
            let mut failure = Failure::new(problem)
                .sent(show_bytes(&request, 200))
                .expected(
                    "200, text/plain, one `name: value` per line: workers, \
                     busy, queued, replaced",
                );
            if let Some(response) = got {
                failure = failure.got(shown(response));
            }
            failure.try_it(POOL_TRY_IT)
        };
        reader.send(&request)?;
        let response = reader
            .read_response(false)
            .map_err(|e| fail(no_response(&e, Duration::from_secs(5)), None))?;
        if response.status != 200 {
            return Err(fail(
                format!("GET /-/pool answered {}, not 200", response.status),
                Some(&response),
            ));
        }
        if !content_type_is(response.header("content-type"), "text/plain") {
            return Err(fail("the page is not text/plain".into(), Some(&response)));
        }
        if response
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            return Err(fail(
                "the page closed the connection: the check reads it again on \
                 the same one, as a kept-alive client would"
                    .into(),
                Some(&response),
            ));
        }
        let counts = parse_pool_page(&response.text()).map_err(|problem| {
            fail(
                format!("the page cannot be read: {problem}"),
                Some(&response),
            )
        })?;
        Ok((response, counts))
    };

    // A quiet pool: this request's worker is the only busy one.
    let (response, counts) = read_page(&mut reader)?;
    let quiet = PoolCounts {
        workers,
        busy: 1,
        queued: 0,
        replaced: 0,
    };
    if counts != quiet {
        return Err(
            Failure::new("the counts are wrong for a pool with nothing else to do")
                .sent(format!(
                    "started with -w {workers}, then, on one connection:\n{}",
                    show_bytes(&request, 200)
                ))
                .expected(format!(
                    "{}\n(busy counts the worker answering this very request)",
                    quiet.show()
                ))
                .got(shown(&response))
                .try_it(POOL_TRY_IT),
        );
    }

    // Pin every other worker with a kept-alive connection, idle after one
    // request, then open connections that wait in the queue for a worker.
    let mut held = Vec::new();
    for _ in 1..workers {
        let mut client = connect(addr, Duration::from_secs(5))?;
        client.send(&keep_alive_request(addr, "/hello.txt"))?;
        client.read_response(false).map_err(|e| {
            Failure::new(format!(
                "a client asking for /hello.txt got {}",
                no_response(&e, Duration::from_secs(5))
            ))
        })?;
        held.push(client);
    }
    let mut queued = Vec::new();
    for _ in 0..waiting {
        queued.push(TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?);
    }
    let full = PoolCounts {
        workers,
        busy: workers,
        queued: waiting,
        replaced: 0,
    };
    let deadline = Instant::now() + POOL_SETTLE;
    loop {
        let (response, counts) = read_page(&mut reader)?;
        if counts == full {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Failure::new("the counts are wrong for a full pool")
                .sent(format!(
                    "started with -w {workers} --queue 8; on connection 1, GET \
                     /-/pool (kept open); on {} more, one request each, then \
                     nothing (idle, kept open); then {waiting} connection(s) \
                     that send nothing; then GET /-/pool on connection 1 again, \
                     for {} s",
                    workers - 1,
                    POOL_SETTLE.as_secs()
                ))
                .expected(format!(
                    "{}\n(every worker serves a connection, idle or not, and \
                     {waiting} connection(s) wait in the queue)",
                    full.show()
                ))
                .got(shown(&response))
                .try_it(POOL_TRY_IT));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// How long after SIGTERM an idle connection may stay open.
const IDLE_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// How long after the last connection the server may take to exit.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// On SIGTERM, a kept-alive connection that is idle is closed at once (not
/// when its idle timeout ends), a request in progress is still answered,
/// with `Connection: close`, and the server exits.
fn stop_idle(subject: &Subject) -> Outcome {
    let mut server =
        subject.start(&["-w", "2", "--idle-timeout", "30", "--request-timeout", "30"])?;
    let addr = server.addr();
    let first_request = keep_alive_request(addr, "/hello.txt");
    let half = b"GET /hello.txt HTTP/1.1\r\n";
    let rest = format!("Host: {addr}\r\n\r\n");
    let sent = format!(
        "started with -w 2 --idle-timeout 30 --request-timeout 30\n\
         client 1: {}   … answered, then idle on the open connection\n\
         client 2: {}   … the start of a request\n\
         then SIGTERM to the server; then, from client 2, the rest:\n{}",
        show_bytes(&first_request, 200),
        show_bytes(half, 100),
        show_bytes(rest.as_bytes(), 200),
    );
    let try_it = "cargo run -p step05-threadpool -- --idle-timeout 30 --request-timeout 30\n\
                  nc 127.0.0.1 8080      # in a second terminal: type `GET /hello.txt HTTP/1.1`, \
                  `Host: x` and an empty line, then wait\n\
                  kill -TERM $(pgrep -n step05-thread)      # in a third: how long until nc ends?"
        .to_owned();

    let mut idle = connect(addr, Duration::from_secs(5))?;
    idle.send(&first_request)?;
    let answer = idle.read_response(false).map_err(|e| {
        Failure::new(format!(
            "client 1's first request got {}",
            no_response(&e, Duration::from_secs(5))
        ))
        .sent(show_bytes(&first_request, 200))
    })?;
    if answer.status != 200 {
        return Err(Failure::new("client 1's GET /hello.txt failed")
            .sent(show_bytes(&first_request, 200))
            .expected("200: the demo site's hello.txt")
            .got(shown(&answer)));
    }
    let mut busy = connect(addr, Duration::from_secs(10))?;
    busy.send(half)?;
    // Let a worker take client 2 and start reading its request.
    thread::sleep(Duration::from_millis(300));
    server.inner.signal(Signal::SIGTERM);

    if !idle.sees_eof_within(IDLE_CLOSE_WAIT) {
        return Err(Failure::new(format!(
            "client 1's idle connection was still open {} s after SIGTERM",
            IDLE_CLOSE_WAIT.as_secs()
        ))
        .sent(sent)
        .expected(
            "the idle connection is closed within a fraction of a second: the \
             server is stopping, and no request is in progress on it",
        )
        .got(
            "no end of file: the connection stays open until its idle timeout \
             (30 s here) ends",
        )
        .try_it(try_it)
        .note("a graceful stop finishes what is in progress; an idle connection has nothing in progress"));
    }
    drop(idle);

    let cut_off = |got: String| {
        Failure::new("client 2's request, begun before SIGTERM, was not answered")
            .sent(sent.clone())
            .expected(
                "200 with Connection: close: a request in progress is finished, \
                 and it is the connection's last",
            )
            .got(got)
            .try_it(try_it.clone())
    };
    if let Err(e) = busy.send(rest.as_bytes()) {
        return Err(cut_off(format!("the connection was closed: {e}")));
    }
    let response = match busy.read_response(false) {
        Ok(response) => response,
        Err(e) => return Err(cut_off(no_response(&e, Duration::from_secs(10)))),
    };
    let closes = response
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    if response.status != 200 || !closes {
        return Err(cut_off(shown(&response)));
    }
    drop(busy);

    if server.inner.wait_exit(EXIT_WAIT).is_none() {
        return Err(Failure::new(format!(
            "the server was still running {} s after its last connection closed",
            EXIT_WAIT.as_secs()
        ))
        .sent(sent)
        .expected("the server exits once both connections are done")
        .try_it(try_it));
    }
    Ok(())
}

/// How many idle keep-alive connections the check holds open. More than
/// the pool's 16 workers and the threads model's 256 slots, the defaults of
/// this chapter; a few hundred descriptors, well within any `ulimit -n`.
const IDLE_CLIENTS: usize = 300;

/// How long each client may wait for its answer.
const IDLE_CLIENT_WAIT: Duration = Duration::from_secs(2);

/// 300 clients connect one after the other, each makes one request and
/// keeps its connection open, idle: each is answered at once, and the
/// first one's connection still serves a second request at the end.
fn idle_clients(subject: &Subject) -> Outcome {
    let server = subject.start(&[])?;
    let addr = server.addr();
    let request = keep_alive_request(addr, "/hello.txt");
    let sent = |n: usize| {
        format!(
            "{} client(s), one after the other, each on its own connection:\n{}\n\
             and each keeps its connection open, idle, once answered",
            n,
            show_bytes(&request, 200)
        )
    };
    let try_it = format!(
        "{}\n\
         for i in $(seq 20); do (printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'; sleep 60) | nc 127.0.0.1 8080 >/dev/null & done\n\
         time curl -s http://127.0.0.1:8080/hello.txt      # while they are open",
        server.run_line
    );
    let mut clients: Vec<Client> = Vec::with_capacity(IDLE_CLIENTS);
    for n in 1..=IDLE_CLIENTS {
        let failed = |got: String| {
            Failure::new(format!(
                "client {n} was not answered within {} s while {} other \
                 connection(s) were open and idle",
                IDLE_CLIENT_WAIT.as_secs(),
                n - 1
            ))
            .sent(sent(n))
            .expected(format!(
                "every client is answered at once: an idle connection costs \
                 the server a little memory, not a worker ({IDLE_CLIENTS} \
                 clients in all)"
            ))
            .got(got)
            .try_it(try_it.clone())
            .note("this is the question chapter 6 answers")
        };
        let mut client = connect(addr, IDLE_CLIENT_WAIT).map_err(|e| failed(e.to_string()))?;
        client.send(&request).map_err(|e| failed(e.to_string()))?;
        match client.read_response(false) {
            Ok(response) if response.status == 200 => clients.push(client),
            Ok(response) => return Err(failed(shown(&response))),
            Err(e) => return Err(failed(no_response(&e, IDLE_CLIENT_WAIT))),
        }
    }
    // The first connection was held, not dropped to make room.
    let first_again = clients[0]
        .send(&request)
        .and_then(|()| clients[0].read_response(false));
    match first_again {
        Ok(response) if response.status == 200 => Ok(()),
        failed => Err(Failure::new(
            "client 1's connection no longer serves requests once the others \
             have connected",
        )
        .sent(format!(
            "{}\nthen, on client 1's connection, the same request again",
            sent(IDLE_CLIENTS)
        ))
        .expected(
            "200 on client 1's connection: the server holds every idle \
             connection open (until its idle timeout) rather than closing \
             old ones to make room",
        )
        .got(match failed {
            Ok(response) => shown(&response),
            Err(e) => no_response(&e, IDLE_CLIENT_WAIT),
        })
        .try_it(try_it)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pool_pages_in_any_reasonable_spelling() {
        let expected = PoolCounts {
            workers: 4,
            busy: 2,
            queued: 1,
            replaced: 0,
        };
        for page in [
            "workers: 4\nbusy: 2\nqueued: 1\nreplaced: 0\n",
            "Workers=4\r\nBusy=2\r\nQueued=1\r\nReplaced=0\r\n",
            "# the pool\nworkers 4\nbusy 2\nqueued 1\nreplaced 0",
        ] {
            assert_eq!(parse_pool_page(page), Ok(expected), "{page:?}");
        }
        assert!(parse_pool_page("workers: 4\nbusy: 2\nqueued: 1\n").is_err());
        assert!(parse_pool_page("workers: four\nbusy: 2\nqueued: 1\nreplaced: 0").is_err());
    }
}
