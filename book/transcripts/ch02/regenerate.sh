#!/usr/bin/env bash
# Regenerates the terminal sessions shown in chapter 2 of the book.
#
# Every *.txt file beside this script is the output of the command written on
# its `$` lines, run against the real step02-wsgi binary. Run this script
# after changing step02 (or the step01 code it reuses) and commit whatever
# changed:
#
#     book/transcripts/ch02/regenerate.sh
#
# The conventions are chapter 1's, and the helpers lib.sh's (../lib.sh):
# - Each server listens on a free port (`-p 0`). The commands are written,
#   and run, with the book's port 8080: lib.sh's `curl` reaches the real
#   port while sending exactly the bytes a reader's curl sends to
#   127.0.0.1:8080 (same Host header). `raw` connects to the real port.
# - Besides what lib.sh rewrites (dates, log timestamps, the port, the
#   timing middleware's `<t>ms`), the client's port in the environ becomes
#   `REMOTE_PORT=51000`, the timing middleware's header `<t>ms`, and the
#   thread id in a panic message `<tid>`; wall-clock times are rounded to
#   whole seconds. The sessions that show CRLF print it as `\r\n`.
# - Servers run without RUST_BACKTRACE (lib.sh's SERVER_ENV), so a panic
#   prints the two lines a reader sees by default, not a backtrace.
# - Needs: cargo, curl, bash (for /dev/tcp), setsid (util-linux), GNU sed,
#   awk, perl.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"

cargo build --quiet -p step02-wsgi
bin="$work/step02-wsgi"
cp "$target/debug/step02-wsgi" "$bin"

# start_server NAME ARGS...: starts the binary on a free port (lib.sh's
# launch); its stdout and stderr go to $work/NAME.out and NAME.err.
start_server() {
    local name="$1"
    shift
    launch "$name" "$bin" -p 0 "$@"
}

TIDY=(
    -e 's/^REMOTE_PORT=[0-9]+$/REMOTE_PORT=51000/'
    -e 's/(X-Response-Time: )[0-9.]+ms/\1<t>ms/'
    -e "s/^(thread '[^']*' )\\([0-9]+\\)/\\1(<tid>)/"
)

# Each file is written afresh.
fresh

# --- The hello application ----------------------------------------------

start_server hello --app hello
announce three-apps.txt hello "# terminal 1:" "cargo run -p step02-wsgi -- --app hello"
say three-apps.txt "# terminal 2:"
shot three-apps.txt "curl -s http://127.0.0.1:8080/"

shot hello-raw.txt "curl -s -i --raw http://127.0.0.1:8080/ | sed 's/\\r\$/\\\\r\\\\n/'"
stop_server

# --- The environ dumper ---------------------------------------------------

start_server environ --app environ
announce three-apps.txt environ "# terminal 1, after Ctrl-C:" "cargo run -p step02-wsgi -- --app environ"
say three-apps.txt "# terminal 2:"
shot three-apps.txt "curl -s 'http://127.0.0.1:8080/any/path?x=1' | head -n 4"

shot environ.txt "curl -s 'http://127.0.0.1:8080/a%20b/c?x=1&y=%41' \\
    -H 'X-Forwarded-For: 1.2.3.4' -H 'X_Forwarded_For: 6.6.6.6' \\
    -H 'Cookie: a=1' -H 'Cookie: b=2' \\
    -H 'Proxy: http://attacker.example:3128' -u 'ann:secret' \\
    -d 'hello'"

shot environ-bodies.txt "curl -s http://127.0.0.1:8080/ | grep -E '^(REQUEST_METHOD|CONTENT_|wsgi.input)'"
shot environ-bodies.txt "curl -s -d '' http://127.0.0.1:8080/ | grep -E '^(REQUEST_METHOD|CONTENT_|wsgi.input)'"

shot chunked.txt "printf 'POST /upload HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n6;note=ignored\\r\\n world\\r\\n0\\r\\nX-Checksum: 42\\r\\n\\r\\n' | raw | grep -E '^(HTTP/1.1 |CONTENT_LENGTH|HTTP_|wsgi.input)'"

(
    # The file the upload sends lives in a scratch directory.
    cd "$work"
    shot chunked-file.txt "seq 1 20000 > numbers.txt"
    shot chunked-file.txt "wc -c < numbers.txt"
    shot chunked-file.txt "curl -s -H 'Transfer-Encoding: chunked' --data-binary @numbers.txt http://127.0.0.1:8080/upload | grep -E '^(CONTENT_LENGTH|wsgi.input)'"
)

for request in \
    "'POST / HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\n'" \
    "'POST / HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n3\\r\\nabcX\\r\\n'" \
    "'POST / HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n200000\\r\\n'"; do
    shot chunked-limits.txt "printf $request | raw | sed -n 1p"
done
stop_server

# --- The framework demo ---------------------------------------------------

start_server framework
announce three-apps.txt framework "# terminal 1, after Ctrl-C:" "cargo run -p step02-wsgi -- --app framework"
say three-apps.txt "# terminal 2:"
shot three-apps.txt "curl -s http://127.0.0.1:8080/hello/reader"

shot chunked-form.txt "curl -s -H 'Transfer-Encoding: chunked' -d 'name=Ann&message=sent+in+chunks' http://127.0.0.1:8080/form"

shot stream-http11.txt "curl -s -i --raw 'http://127.0.0.1:8080/stream?n=3&ms=500' | sed 's/\\r\$/\\\\r\\\\n/'"
shot stream-http10.txt "curl -sv -0 'http://127.0.0.1:8080/stream?n=3&ms=500'"

stop_server

# Failures, with a server that logs each request (-v), so that its side of
# the story can be shown too.
start_server failures -v
shot failures.txt "curl -s -i http://127.0.0.1:8080/fail"
shot failures.txt "curl -s -i http://127.0.0.1:8080/panic"
shot failures.txt "curl -s http://127.0.0.1:8080/hello/again"

# The server's side of the same requests. Stopping it first makes sure every
# line has been written; the lines about stopping are left out.
stop_server
{
    echo '# terminal 1:'
    echo '$ cargo run -p step02-wsgi -- -v'
    normalise <"$work/failures.out"
    normalise <"$work/failures.err" | sed '/signal 2 received/,$d'
} >"$here/server-log.txt"

# --- Head-of-line blocking, once more --------------------------------------

start_server blocking
{
    echo '# terminal 2, with the server idle:'
    echo '$ time curl -s -o /dev/null http://127.0.0.1:8080/hello/you'
    timed curl -s -o /dev/null http://127.0.0.1:8080/hello/you
    echo

    echo '# terminal 1:'
    echo "\$ curl 'http://127.0.0.1:8080/sleep?ms=5000'"
    curl -s 'http://127.0.0.1:8080/sleep?ms=5000' >"$work/sleep.txt" &
    sleeper=$!
    sleep 1

    echo '# terminal 2, one second later:'
    echo '$ time curl -s -o /dev/null http://127.0.0.1:8080/hello/you'
    timed curl -s -o /dev/null http://127.0.0.1:8080/hello/you
    echo

    wait "$sleeper"
    echo '# terminal 1, five seconds after its request:'
    normalise <"$work/sleep.txt"
} >"$here/blocking.txt"
stop_server

echo "transcripts written to $here"
