#!/usr/bin/env bash
# Regenerates the terminal sessions shown in chapter 1 of the book.
#
# Every *.txt file beside this script is the output of the command written on
# its `$` lines, run against the real step01-iterative server. Run this script
# after changing step01 and commit whatever changed:
#
#     book/transcripts/ch01/regenerate.sh
#
# How the sessions stay exact and still read as the book's:
# - The server listens on a free port (`-p 0`). The commands are written, and
#   run, with the book's port 8080: `curl` is wrapped with `--connect-to` so
#   it reaches the real port while sending exactly the bytes a reader's curl
#   sends to 127.0.0.1:8080 (same Host header, so the same Content-Length).
#   `raw` connects to the real port. Any other mention of the real port in
#   the output is rewritten to 8080.
# - Date headers become `Date: <date>`, log timestamps `<time>`, timings are
#   rounded to whole seconds, and carriage returns that the terminal would
#   not show are removed (the sessions that show CRLF print them as `\r\n`).
# - Needs: cargo, curl, bash (for /dev/tcp), ss (iproute2), GNU sed, awk.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"

cargo build --quiet -p step01-iterative
bin="${CARGO_TARGET_DIR:-$root/target}/debug/step01-iterative"

work="$(mktemp -d)"
pids=()
cleanup() {
    # Stop only what this script started.
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# start_server NAME ARGS...: starts the binary on a free port and sets PORT
# and SERVER_PID; its stdout and stderr go to $work/NAME.out and NAME.err.
start_server() {
    local name="$1"
    shift
    NO_COLOR=1 "$bin" -p 0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
    SERVER_PID=$!
    pids+=("$SERVER_PID")
    local line=""
    for _ in $(seq 100); do
        line="$(head -n 1 "$work/$name.out" 2>/dev/null || true)"
        [[ "$line" == "Listening on http://"* ]] && break
        sleep 0.1
    done
    [[ "$line" == "Listening on http://"* ]] || {
        echo "server did not start" >&2
        exit 1
    }
    PORT="${line##*:}"
}

# timed COMMAND...: runs a command, then prints its wall-clock time the way
# bash's `time` does, rounded to whole seconds (user and sys are left out).
timed() {
    local start end
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "\nreal\t0m%.0fs\n", b - a }'
}

# The helpers the chapter's commands use, aimed at the real port.
curl() { command curl --connect-to "127.0.0.1:8080:127.0.0.1:$PORT" "$@"; }
raw() {
    exec 3<>"/dev/tcp/127.0.0.1/$PORT"
    cat >&3
    cat <&3
    exec 3<&-
}

normalise() {
    tr -d '\r' |
        sed -E \
            -e '/^\* Connecting to (hostname|port): /d' \
            -e 's/(Date: )[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT/\1<date>/' \
            -e 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/<time>/' \
            -e "s/\\b$PORT\\b/8080/g"
}

# shot FILE COMMAND: appends `$ COMMAND` and its normalised output to FILE.
# The command is run exactly as written (with the helpers above).
shot() {
    local file="$here/$1" command="$2"
    printf '$ %s\n' "$command" >>"$file"
    eval "$command" 2>&1 | normalise >>"$file"
}

# Sessions against one server, in the order the chapter shows them.
start_server main

{
    echo '$ cargo run -p step01-iterative'
    normalise <"$work/main.out"
} >"$here/start.txt"

{
    echo "\$ ss -ltn 'sport = :8080'"
    # ss aligns its columns; keep them aligned after the port is shortened.
    ss -ltn "sport = :$PORT" | sed -E "s/:$PORT( +)/:8080 \\1/"
} >"$here/backlog.txt"

: >"$here/echo.txt"
shot echo.txt "curl -sv http://127.0.0.1:8080/echo"

: >"$here/echo-bytes.txt"
shot echo-bytes.txt "curl -s -i --raw http://127.0.0.1:8080/echo | sed 's/\\r\$/\\\\r\\\\n/'"

: >"$here/post.txt"
shot post.txt "curl -s -i --raw -d 'hello world' http://127.0.0.1:8080/echo | sed 's/\\r\$/\\\\r\\\\n/'; echo"

: >"$here/head.txt"
shot head.txt "printf 'HEAD / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | raw"
shot head.txt "curl -s http://127.0.0.1:8080/ | wc -c"

: >"$here/garbage.txt"
shot garbage.txt "printf 'GARBAGE\\r\\n\\r\\n' | raw"

: >"$here/split.txt"
shot split.txt "{ printf 'GET /echo HT'; sleep 1; printf 'TP/1.1\\r\\nHost: x\\r\\n\\r\\n'; } | raw"

: >"$here/limits.txt"
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
: >"$here/timeout.txt"
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

kill "$SERVER_PID"
wait "$SERVER_PID" || true

# Ctrl-C while a request is in progress: the request is finished, then the
# server stops. (Ctrl-C sends SIGINT; the script sends it with kill.)
start_server shutdown -v
curl -s 'http://127.0.0.1:8080/sleep?ms=2000' >"$work/shutdown-sleep.txt" &
sleeper=$!
sleep 0.5
kill -INT "$SERVER_PID"
wait "$sleeper"
status=0
wait "$SERVER_PID" || status=$?
{
    echo '# terminal 1:'
    echo '$ cargo run -p step01-iterative -- -v'
    normalise <"$work/shutdown.out"
    echo '^C'
    normalise <"$work/shutdown.err"
    echo '$ echo $?'
    echo "$status"
    echo
    echo '# terminal 2, started before the Ctrl-C:'
    echo "\$ curl 'http://127.0.0.1:8080/sleep?ms=2000'"
    normalise <"$work/shutdown-sleep.txt"
} >"$here/shutdown.txt"

echo "transcripts written to $here"
