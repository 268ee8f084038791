#!/usr/bin/env bash
# Regenerates the terminal sessions shown in chapter 1 of the book.
#
# Every *.txt file beside this script is the output of the command written on
# its `$` lines, run against the real step01-iterative server. Run this script
# after changing step01 and commit whatever changed:
#
#     book/transcripts/ch01/regenerate.sh
#
# How the sessions stay exact and still read as the book's: the helpers and
# conventions shared by every chapter are in ../lib.sh (a free port shown as
# 8080, dates and log timestamps rewritten, every server stopped on exit).
# This chapter's commands are written, and run, with the book's port 8080:
# lib.sh's `curl` reaches the real port while sending exactly the bytes a
# reader's curl sends to 127.0.0.1:8080 (same Host header, so the same
# Content-Length), and `raw` connects to the real port. Timings are rounded
# to whole seconds, and the sessions that show CRLF print it as `\r\n`.
#
# Needs: cargo, curl, bash (for /dev/tcp), ss (iproute2), setsid
# (util-linux), GNU sed, awk, perl.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"

cargo build --quiet -p step01-iterative
bin="$work/step01-iterative"
cp "$target/debug/step01-iterative" "$bin"

# start_server NAME ARGS...: starts the binary on a free port (lib.sh's
# launch); its stdout and stderr go to $work/NAME.out and NAME.err.
start_server() {
    local name="$1"
    shift
    launch "$name" "$bin" -p 0 "$@"
}

# Each file is written afresh.
fresh

# Sessions against one server, in the order the chapter shows them.
start_server main

{
    echo '$ cargo run -p step01-iterative'
    normalise <"$work/main.out"
} >"$here/start.txt"

{
    echo "\$ ss -ltn 'sport = :8080'"
    # ss aligns its columns; normalise keeps them aligned.
    ss -ltn "sport = :$PORT" | normalise
} >"$here/backlog.txt"

shot echo.txt "curl -sv http://127.0.0.1:8080/echo"

shot echo-bytes.txt "curl -s -i --raw http://127.0.0.1:8080/echo | sed 's/\\r\$/\\\\r\\\\n/'"

shot post.txt "curl -s -i --raw -d 'hello world' http://127.0.0.1:8080/echo | sed 's/\\r\$/\\\\r\\\\n/'; echo"

shot head.txt "printf 'HEAD / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | raw"
shot head.txt "curl -s http://127.0.0.1:8080/ | wc -c"

shot garbage.txt "printf 'GARBAGE\\r\\n\\r\\n' | raw"

shot split.txt "{ printf 'GET /echo HT'; sleep 1; printf 'TP/1.1\\r\\nHost: x\\r\\n\\r\\n'; } | raw"

for request in \
    "'GET / HTTP/1.1\\r\\n\\r\\n'" \
    "'POST /echo HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\n'" \
    "'POST /echo HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 2000000\\r\\n\\r\\n'" \
    "'GET /%09000d HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' 0" \
    "'GET / HTTP/1.1\\r\\nHost: x\\r\\nX-Big: %09000d\\r\\n\\r\\n' 0" \
    "'BREW /pot HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'" \
    "'GET / HTTP/2.0\\r\\nHost: x\\r\\n\\r\\n'"; do
    shot limits.txt "printf $request | raw | sed -n 1p"
done

# A request that never finishes: the server gives up after READ_TIMEOUT.
{
    echo "\$ time (printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\n' | raw | sed -n 1p)"
    timed_request() { printf 'GET / HTTP/1.1\r\nHost: x\r\n' | raw | sed -n 1p | normalise; }
    timed timed_request
} >"$here/timeout.txt"

# Head-of-line blocking: a slow request holds the server, the next one waits.
{
    echo '# terminal 2, with the server idle:'
    echo '$ time curl -s -o /dev/null http://127.0.0.1:8080/'
    timed curl -s -o /dev/null http://127.0.0.1:8080/
    echo

    echo "# terminal 1:"
    echo "\$ curl 'http://127.0.0.1:8080/sleep?ms=5000'"
    curl -s 'http://127.0.0.1:8080/sleep?ms=5000' >"$work/sleep.txt" &
    sleeper=$!
    sleep 1

    echo '# terminal 2, one second later:'
    echo '$ time curl -s -o /dev/null http://127.0.0.1:8080/'
    timed curl -s -o /dev/null http://127.0.0.1:8080/
    echo

    wait "$sleeper"
    echo '# terminal 1, five seconds after its request:'
    normalise <"$work/sleep.txt"
} >"$here/blocking.txt"

# A slow client blocks everyone too: one that connects and sends nothing.
{
    echo '# terminal 1: connect, and send nothing'
    echo '$ exec 3<>/dev/tcp/127.0.0.1/8080'
    exec 3<>"/dev/tcp/127.0.0.1/$PORT"
    sleep 1
    echo '# terminal 2, one second later:'
    echo '$ time curl -s -o /dev/null http://127.0.0.1:8080/'
    timed curl -s -o /dev/null http://127.0.0.1:8080/
    echo '# terminal 1 again: what the server said to the silent client'
    echo '$ head -n 1 <&3'
    head -n 1 <&3 | normalise
    echo '$ exec 3<&-'
    exec 3<&-
} >"$here/idle.txt"

stop_server TERM

# Ctrl-C while a request is in progress: the request is finished, then the
# server stops. (Ctrl-C sends SIGINT; the script sends it with kill.)
start_server shutdown -v
curl -s 'http://127.0.0.1:8080/sleep?ms=2000' >"$work/shutdown-sleep.txt" &
sleeper=$!
sleep 0.5
kill -INT "$SERVER_PID"
wait "$sleeper"
wait_server
{
    echo '# terminal 1:'
    echo '$ cargo run -p step01-iterative -- -v'
    normalise <"$work/shutdown.out"
    echo '^C'
    normalise <"$work/shutdown.err"
    echo '$ echo $?'
    echo "$STATUS"
    echo
    echo '# terminal 2, started before the Ctrl-C:'
    echo "\$ curl 'http://127.0.0.1:8080/sleep?ms=2000'"
    normalise <"$work/shutdown-sleep.txt"
} >"$here/shutdown.txt"

echo "transcripts written to $here"
