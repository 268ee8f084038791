#!/usr/bin/env bash
# Regenerates the terminal sessions shown in chapter 5 of the book.
#
# Every *.txt file beside this script, except perf.txt, is the output of the
# commands written on its `$` lines, run against the real step05-threadpool
# binary and the workspace's load client. Run this script after changing
# step05 (or the code it reuses) and commit whatever changed:
#
#     book/transcripts/ch05/regenerate.sh
#
# perf.txt is not made here: it comes from perf.sh beside this script, which
# runs wrk against nginx and every model for about two minutes, and is best
# run alone on an idle machine:
#
#     book/transcripts/ch05/perf.sh > book/transcripts/ch05/perf.txt
#
# The conventions are those of chapters 2 and 4, and the helpers lib.sh's
# (../lib.sh):
# - Each server listens on a free port (`-p 0`); the script reads the port
#   from the line it prints, `Listening on http://ADDR`. The commands are
#   written with the book's port 8080, and run with 8080 replaced by the real
#   port (lib.sh's `expand`, redefined here). Any other mention of the real
#   port in the output becomes 8080 (in `ss` output, with the columns kept
#   aligned).
# - The commands that run the load client are written as the reader types
#   them, `cargo run -q -p loadgen -- …`, and run as a copy of the built
#   binary, so that cargo's start-up does not shift the timings.
# - The scratch directory the reader creates, /tmp/ch05, is a fresh
#   temporary directory here; its path is written back as /tmp/ch05.
# - `pgrep` answers with the PID of the server this script started, which is
#   what the reader's `pgrep -o step05-thread` finds (`-o`, the oldest: the
#   parent, not one of the pre-forked workers).
# - What changes from run to run is rewritten (lib.sh's normalise): `Date`
#   and `Last-Modified` values become `<date>` (Last-Modified depends on
#   when the files were checked out), log timestamps `<time>`, access-log
#   times `[<time>]`, the timing middleware's measurements `<t>ms`, the load
#   client's times and rates `<t>` and `<r>`. Wall-clock times are rounded
#   to whole seconds (bash's `time`, of which only `real` is shown) or, for
#   curl's `%{time_total}`, to a tenth of a second. PIDs become stable
#   numbers that keep the columns of `ps` aligned (lib.sh's stable_pids):
#   the server is 4100, the other processes and threads of one session
#   4101, 4102, … in the order they first appear.
# - The timings that the chapter relies on are checked here: the script
#   fails if one comes out different, rather than writing a transcript the
#   text no longer describes.
# - Every server is started with lib.sh's launch, so that it leads a process
#   group of its own (with its workers, for the pre-fork model). The script
#   stops each server it started by the PID of the server itself; if the
#   script exits early, lib.sh's trap on EXIT kills each group still there.
#   No server or worker is left behind.
# - Needs: cargo, curl, bash (for /dev/tcp), ps and pgrep (procps), ss
#   (iproute2), setsid (util-linux), strace, GNU sed, awk, perl.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
# The transcripts are drafted in $work, and finished (PIDs made stable)
# beside this script.
OUT="$work"

# The sessions run copies of the binaries, so that nothing built meanwhile
# (another chapter's script, a test run) changes what they show.
cargo build --quiet -p step05-threadpool -p loadgen
bin="$work/step05-threadpool"
loadgen="$work/stepwise-load"
cp "$target/debug/step05-threadpool" "$bin"
cp "$target/debug/stepwise-load" "$loadgen"
# The reader's scratch directory.
scratch="$work/ch05"
mkdir "$scratch"

# A client that sends a request line, then a header one byte every tenth of
# a second, for six seconds, and never ends it.
drip() { printf 'GET /hello.txt HTTP/1.1\r\nX-Slow: '; for i in $(seq 60); do printf a; sleep 0.1; done; }

TIDY=(
    -e "s#$scratch#/tmp/ch05#g"
    # strace -f pads a thread ID to five digits: one space, whatever its width.
    -e 's/^([0-9]+) +(sendto|sendfile)\(/\1 \2(/'
)

# expand COMMAND: the command as the reader typed it, with the book's port,
# scratch directory and load client replaced by the real ones.
expand() {
    local command="$1"
    command="${command//8080/$PORT}"
    command="${command//\/tmp\/ch05/$scratch}"
    command="${command//cargo run -q -p loadgen --/$loadgen}"
    printf '%s' "$command"
}

# Each file is written afresh; perf.sh and perf.txt are not this script's.
fresh perf.txt

# --- The opening: a pool serves the demo site, and keeps its threads -------

launch start "$bin" -p 0
announce start.txt start "# terminal 1:" "cargo run -p step05-threadpool"
say start.txt "# terminal 2:"
shot start.txt "curl -si http://127.0.0.1:8080/hello.txt"
shot start.txt 'ps -o pid,nlwp,comm -p $(pgrep -o step05-thread)'
shot start.txt "cargo run -q -p loadgen -- -c 20 -n 10 http://127.0.0.1:8080/hello.txt"
shot start.txt 'ps -o pid,nlwp,comm -p $(pgrep -o step05-thread)'
shot start.txt 'ps -o pid= --ppid $(pgrep -o step05-thread) | wc -l'
finish start.txt
stop_server

# --- Backpressure: a full queue leaves clients in the backlog ---------------

sleepers="for i in 1 2 3 4 5 6; do curl -s -o /dev/null 'http://127.0.0.1:8080/app/sleep?ms=1000' & done"
listen="ss -ltn 'sport = :8080'"
# sleepers_start: what $sleepers does, with the clients' PIDs kept (a bare
# `wait` here would wait for the server too); half a second later every
# client has connected.
sleepers_start() {
    say backlog.txt "\$ $sleepers"
    clients=()
    for _ in 1 2 3 4 5 6; do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/app/sleep?ms=1000" &
        clients+=($!)
    done
    sleep 0.5
}

launch backlog "$bin" -p 0 -w 1 --queue 1 --mount /app=framework
announce backlog.txt backlog "# terminal 1:" "cargo run -p step05-threadpool -- -w 1 --queue 1 --mount /app=framework"
say backlog.txt "# terminal 2:"
sleepers_start
shot backlog.txt "$listen"
wait "${clients[@]}"
stop_server

launch backlog-rayon "$bin" -p 0 --model rayon -w 1 --mount /app=framework
announce backlog.txt backlog-rayon "# terminal 1, after Ctrl-C:" "cargo run -p step05-threadpool -- --model rayon -w 1 --mount /app=framework"
say backlog.txt "# terminal 2:"
sleepers_start
shot backlog.txt "$listen"
wait "${clients[@]}"
finish backlog.txt
stop_server

# --- Ctrl-C: the acceptor stops, the pool drains and joins -----------------

launch shutdown "$bin" -p 0 -v --mount /app=framework
curl -s "http://127.0.0.1:$PORT/app/sleep?ms=2000" >"$work/shutdown.curl" &
sleeper=$!
sleep 1
stop_server INT
wait "$sleeper"
{
    echo "# terminal 1:"
    echo "\$ cargo run -p step05-threadpool -- -v --mount /app=framework"
    normalise <"$work/shutdown.out"
    echo "^C"
    normalise <"$work/shutdown.err"
    echo "\$ echo \$?"
    echo "$STATUS"
    echo
    echo "# terminal 2, started a second before the Ctrl-C:"
    echo "\$ curl 'http://127.0.0.1:8080/app/sleep?ms=2000'"
    normalise <"$work/shutdown.curl"
} >"$work/shutdown.txt"
finish shutdown.txt
[[ "$STATUS" == 0 ]] || {
    echo "shutdown: the server exited with $STATUS" >&2
    exit 1
}

# --- rayon: two threads, two connections at a time -------------------------

three="for i in 1 2 3; do curl -s -o /dev/null -w '%{time_total}\\n' 'http://127.0.0.1:8080/app/sleep?ms=1000' & done; wait"

launch rayon "$bin" -p 0 --model rayon -w 2 --mount /app=framework
announce rayon.txt rayon "# terminal 1:" "cargo run -p step05-threadpool -- --model rayon -w 2 --mount /app=framework"
say rayon.txt "# terminal 2:"
shot rayon.txt "$three" tenths
[[ "$(tail -n 3 "$work/rayon.txt" | tr '\n' ' ')" == "1.0 1.0 2.0 " ]] || {
    echo "rayon: expected 1.0 1.0 2.0, got:" >&2
    tail -n 3 "$work/rayon.txt" >&2
    exit 1
}
stop_server

launch rayon-pool "$bin" -p 0 --mount /app=framework
announce rayon.txt rayon-pool "# terminal 1, after Ctrl-C:" "cargo run -p step05-threadpool -- --mount /app=framework"
say rayon.txt "# terminal 2:"
shot rayon.txt "$three" tenths
finish rayon.txt
stop_server

# --- The pre-forked pool: workers, a death, a replacement, Ctrl-C ----------

launch prefork "$bin" -p 0 --model prefork -w 4 -v
for _ in $(seq 50); do
    [[ "$(ps -o pid= --ppid "$SERVER_PID" | wc -l)" == 4 ]] && break
    sleep 0.1
done
mapfile -t first_workers < <(ps -o pid= --ppid "$SERVER_PID" | tr -d ' ')
: >"$work/prefork-t2.txt"
shot prefork-t2.txt 'ps -o pid,ppid,nlwp,comm --ppid $(pgrep -o step05-thread)'
shot prefork-t2.txt "kill -KILL ${first_workers[0]}"
sleep 0.5
shot prefork-t2.txt 'ps -o pid,ppid,nlwp,comm --ppid $(pgrep -o step05-thread)'
mapfile -t all_workers < <(ps -o pid= --ppid "$SERVER_PID" | tr -d ' ')
shot prefork-t2.txt "curl -s http://127.0.0.1:8080/hello.txt"
# What Ctrl-C in terminal 1 does: SIGINT to every process in the foreground
# process group, the parent and its workers alike.
kill -INT -- "-$GROUP"
wait_server
{
    echo "# terminal 1:"
    echo "\$ cargo run -p step05-threadpool -- --model prefork -w 4 -v"
    normalise <"$work/prefork.out"
    echo "# terminal 2:"
    cat "$work/prefork-t2.txt"
    echo "# terminal 1, meanwhile, and then Ctrl-C:"
    # Ctrl-C came just before the parent logged that it was stopping.
    normalise <"$work/prefork.err" | awk '/stopping [0-9]+ workers/ { print "^C" } { print }'
    echo "\$ echo \$?"
    echo "$STATUS"
} >"$work/prefork.txt"
finish prefork.txt "${first_workers[@]}" "${all_workers[@]}"
[[ "$STATUS" == 0 ]] || {
    echo "prefork: the server exited with $STATUS" >&2
    exit 1
}

# --- Keep-alive by hand: pipelining, HTTP/1.0, the two timeouts -------------

launch keepalive "$bin" -p 0
shot pipelining.txt "printf 'GET /hello.txt HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /data.json HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /nope HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | raw"
shot http10.txt "printf 'GET /hello.txt HTTP/1.0\\r\\nConnection: keep-alive\\r\\n\\r\\nGET /hello.txt HTTP/1.0\\r\\n\\r\\n' | raw"
shot_timed timeouts.txt "(printf 'GET /hello.txt HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | raw)"
expect_seconds "the idle close" 4.9 6.1
shot_timed timeouts.txt "(printf 'GET /hello.txt HTTP/1.1\\r\\nHost: x\\r\\n' | raw | sed -n 1p)"
expect_seconds "the 408" 4.9 6.1
finish pipelining.txt
finish http10.txt
finish timeouts.txt
stop_server

# --- Keep-alive pins a worker ------------------------------------------------

launch pinned "$bin" -p 0 -w 2
announce pinned.txt pinned "# terminal 1:" "cargo run -p step05-threadpool -- -w 2"
holders="cargo run -q -p loadgen -- -c 2 -n 1 -k --hold 10 http://127.0.0.1:8080/hello.txt"
say pinned.txt "# terminal 2: two clients that each make one request, then keep the" \
    "# connection open for ten seconds" \
    "\$ $holders"
"$loadgen" -c 2 -n 1 -k --hold 10 "http://127.0.0.1:$PORT/hello.txt" >"$work/holders.out" 2>&1 &
holding=$!
sleep 1
say pinned.txt "# terminal 3, a second later:"
shot_timed pinned.txt "curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:8080/hello.txt"
expect_seconds "the pinned request" 4.6 5.4
wait "$holding" || true
say pinned.txt "# terminal 2, ten seconds after it started:"
normalise <"$work/holders.out" >>"$work/pinned.txt"
finish pinned.txt
stop_server

# --- Slow clients: more drips than workers ----------------------------------

launch slowloris "$bin" -p 0 -w 2 --request-timeout 2 -v
announce slowloris.txt slowloris "# terminal 1:" "cargo run -p step05-threadpool -- -w 2 --request-timeout 2 -v"
say slowloris.txt "# terminal 2: five clients that each send a request line, then a header" \
    "# one byte every tenth of a second, and never finish it" \
    "\$ drip() { printf 'GET /hello.txt HTTP/1.1\\r\\nX-Slow: '; for i in \$(seq 60); do printf a; sleep 0.1; done; }" \
    '$ for i in 1 2 3 4 5; do drip | raw > /dev/null & done'
drips=()
for _ in 1 2 3 4 5; do
    drip | raw >/dev/null &
    drips+=($!)
done
sleep 0.2
say slowloris.txt "# terminal 3, at once:"
shot_timed slowloris.txt "curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:8080/hello.txt"
expect_seconds "the request behind the drips" 5.6 6.4
wait "${drips[@]}"
stop_server
say slowloris.txt "# terminal 1, meanwhile:"
normalise <"$work/slowloris.err" | sed '/signal 2 received/,$d' >>"$work/slowloris.txt"
finish slowloris.txt

# --- Confinement: every way out of the root, refused -----------------------

: >"$work/confinement.txt"
for command in \
    "mkdir -p /tmp/ch05/www /tmp/ch05/private" \
    "echo hello > /tmp/ch05/www/hello.txt" \
    "echo 'top secret' > /tmp/ch05/private/secret.txt" \
    "ln -s ../private/secret.txt /tmp/ch05/www/escape.txt" \
    "ln -s ../private /tmp/ch05/www/private" \
    "ln -s hello.txt /tmp/ch05/www/inside.txt"; do
    shot confinement.txt "$command"
done
launch confinement "$bin" -p 0 -r "$scratch/www"
announce confinement.txt confinement "# terminal 1:" "cargo run -p step05-threadpool -- -r /tmp/ch05/www"
say confinement.txt "# terminal 2:"
shot confinement.txt 'for path in /hello.txt /../private/secret.txt /%2e%2e/private/secret.txt \
    /.%2E/private/secret.txt /..%2fprivate/secret.txt /%252e%252e/private/secret.txt \
    /hello.txt%00.html /%zz /escape.txt /private/secret.txt /inside.txt /private/../hello.txt; do
  curl -s --path-as-is -o /dev/null -w "%{http_code} $path\n" "http://127.0.0.1:8080$path"
done'
shot confinement.txt "curl -s --path-as-is http://127.0.0.1:8080/../private/secret.txt"
shot confinement.txt "curl -s -o /dev/null -w '%{http_code}\\n' --request-target 'http://example.com/../private/secret.txt' http://127.0.0.1:8080/"
shot confinement.txt "curl -s --request-target 'http://example.com/hello.txt' http://127.0.0.1:8080/"
finish confinement.txt
stop_server

# --- Files: 301, index, HEAD, 304, 405 ---------------------------------------

launch files "$bin" -p 0
say files.txt "# with the demo site: cargo run -p step05-threadpool"
shot files.txt "curl -si 'http://127.0.0.1:8080/docs?x=1'"
shot files.txt "curl -s http://127.0.0.1:8080/docs/ | head -n 5"
shot files.txt "curl -sI http://127.0.0.1:8080/hello.txt"
shot_set files.txt "lm=\$(curl -sI http://127.0.0.1:8080/hello.txt | sed -n 's/^Last-Modified: //p' | tr -d '\\r')"
shot files.txt "curl -si -z \"\$lm\" http://127.0.0.1:8080/hello.txt"
shot files.txt "curl -si -X POST http://127.0.0.1:8080/hello.txt"
finish files.txt
stop_server

# --- The access log, and a mounted application beside the files ------------

launch access "$bin" -p 0 -l "$scratch/access.log" --mount /app=framework
announce access-log.txt access "# terminal 1:" "cargo run -p step05-threadpool -- -l /tmp/ch05/access.log --mount /app=framework"
say access-log.txt "# terminal 2:"
shot access-log.txt "curl -s http://127.0.0.1:8080/app/hello/reader"
shot access-log.txt "curl -s http://127.0.0.1:8080/app/environ | grep -E '^(SCRIPT_NAME|PATH_INFO)='"
shot access-log.txt "curl -s -o /dev/null http://127.0.0.1:8080/hello.txt"
shot access-log.txt "curl -s -o /dev/null --path-as-is http://127.0.0.1:8080/../etc/passwd"
shot access-log.txt "cat /tmp/ch05/access.log"
finish access-log.txt
stop_server

# --- What goes out: one write for a small file, a stream for a big one ------

if command -v strace >/dev/null; then
    : >"$work/strace.txt"
    shot strace.txt "seq 1 200000 > /tmp/ch05/www/numbers.txt"
    launch strace strace -f -qq -s 17 -e trace=sendto,sendfile -o "$scratch/trace.txt" "$bin" -p 0 -w 1 -r "$scratch/www"
    announce strace.txt strace "# terminal 1:" \
        "strace -f -qq -s 17 -e trace=sendto,sendfile -o /tmp/ch05/trace.txt target/debug/step05-threadpool -w 1 -r /tmp/ch05/www"
    say strace.txt "# terminal 2:"
    shot strace.txt "curl -s -o /dev/null http://127.0.0.1:8080/hello.txt"
    shot strace.txt "curl -s -o /dev/null http://127.0.0.1:8080/numbers.txt"
    sleep 0.3
    shot strace.txt "head -n 3 /tmp/ch05/trace.txt"
    shot strace.txt "grep -c ', 8192, MSG_NOSIGNAL' /tmp/ch05/trace.txt"
    shot strace.txt "tail -n 1 /tmp/ch05/trace.txt"
    shot strace.txt "wc -c < /tmp/ch05/www/numbers.txt"
    shot strace.txt "grep -c sendfile /tmp/ch05/trace.txt"
    # shellcheck disable=SC2046 # one thread ID per word
    finish strace.txt $(awk '{ print $1 }' "$scratch/trace.txt" | sort -u)
    stop_server
else
    echo "strace is not installed: strace.txt left as it was" >&2
fi

echo "transcripts written to $here"
