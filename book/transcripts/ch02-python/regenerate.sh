#!/usr/bin/env bash
# Regenerates the terminal sessions shown in chapter 2's section "Hosting
# real Python applications".
#
# Every *.txt file beside this script is the output of the command written on
# its `$` lines, run against the real step02-wsgi binary built with the
# `python` feature. Run this script after changing step02's Python support
# (src/python/, build.rs, python/) and commit whatever changed:
#
#     book/transcripts/ch02-python/regenerate.sh
#
# It does the chapter's one-time setup if it has not been done: a virtualenv
# `.venv-wsgi` at the top of the repository, with the pinned frameworks of
# step02-wsgi/python/requirements.txt. Then it builds against that
# virtualenv's interpreter, as the chapter tells the reader to.
#
# The conventions are chapter 2's (book/transcripts/ch02/regenerate.sh):
# - Each server listens on a free port (`-p 0`); the script reads the port
#   from the first line it prints, `Listening on http://ADDR`. The commands
#   are written, and run, with the book's port 8080: `curl` is wrapped with
#   `--connect-to` so it reaches the real port while sending exactly the
#   bytes a reader's curl sends to 127.0.0.1:8080. Any other mention of the
#   real port in the output is rewritten to 8080. In the same way, `pgrep`
#   answers with the PID of the server this script started, which is what
#   the reader's `pgrep -n step02-wsgi` finds.
# - What changes from run to run is rewritten: Date headers become
#   `Date: <date>`, log timestamps `<time>`, Python object addresses
#   (`object at 0x7f…`) `<addr>`. Paths that are this machine's, not the
#   reader's, are shortened: the repository becomes `…/` (as in
#   `…/step02-wsgi/python/wsgiapp.py`), the home directory `~/`, and the
#   scratch directory that holds sloppy.py is shown as /tmp/sloppy.
#   Carriage returns are removed.
# - Servers run with RUST_BACKTRACE unset, and with no VIRTUAL_ENV,
#   PYTHONHOME or PYTHONPATH: the binary must find its Python by itself.
# - Every server the script starts is stopped when it exits (trap on EXIT),
#   by the PID of the binary itself.
# - Needs: python3 (with venv and a shared libpython), cargo, curl, ps,
#   readelf, GNU sed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"

# --- The one-time setup -----------------------------------------------------

venv="$root/.venv-wsgi"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet -r step02-wsgi/python/requirements.txt

PYO3_PYTHON="$venv/bin/python" cargo build --quiet -p step02-wsgi --features python

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

# The same path holds step02-wsgi built with or without the feature (chapter
# 2's own script builds it without): run a copy of this build, so that
# nothing built meanwhile changes which binary the sessions show.
bin="$work/step02-wsgi"
cp "${CARGO_TARGET_DIR:-$root/target}/debug/step02-wsgi" "$bin"

# The directory the reader would put sloppy.py in, and the real one.
sloppy="$work/sloppy"
mkdir "$sloppy"

# start_server NAME ARGS...: starts the binary on a free port and sets PORT
# and SERVER_PID; its stdout and stderr go to $work/NAME.out and NAME.err.
start_server() {
    local name="$1"
    shift
    env -u RUST_BACKTRACE -u VIRTUAL_ENV -u PYTHONHOME -u PYTHONPATH NO_COLOR=1 \
        "$bin" -p 0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
    SERVER_PID=$!
    pids+=("$SERVER_PID")
    local line=""
    for _ in $(seq 300); do
        line="$(head -n 1 "$work/$name.out" 2>/dev/null || true)"
        [[ "$line" == "Listening on http://"* ]] && break
        sleep 0.1
    done
    [[ "$line" == "Listening on http://"* ]] || {
        echo "server $name did not start:" >&2
        cat "$work/$name.err" >&2
        exit 1
    }
    PORT="${line##*:}"
}

# stop_server: what Ctrl-C does (SIGINT), then waits for the exit.
stop_server() {
    kill -INT "$SERVER_PID"
    wait "$SERVER_PID" || true
    # It is gone: the cleanup must not signal a PID that may be reused.
    local kept=() pid
    for pid in "${pids[@]}"; do
        [[ "$pid" == "$SERVER_PID" ]] || kept+=("$pid")
    done
    pids=("${kept[@]}")
}

# The helpers the chapter's commands use, aimed at the real server. curl
# also gets --no-buffer: writing into a pipe, it would otherwise hold the
# body back until it exits, after its own error messages, where a terminal
# shows the body first.
curl() { command curl --no-buffer --connect-to "127.0.0.1:8080:127.0.0.1:$PORT" "$@"; }
pgrep() { echo "$SERVER_PID"; }

# A path as a sed pattern (the paths here hold `.` and `/`, never `|`).
literal() { printf '%s' "$1" | sed -e 's/[.[\*^$]/\\&/g'; }

normalise() {
    tr -d '\r' |
        sed -E \
            -e '/^\* Connecting to (hostname|port): /d' \
            -e 's/(Date: )[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT/\1<date>/' \
            -e 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/<time>/' \
            -e 's/( object at )0x[0-9a-f]+/\1<addr>/g' \
            -e "s|$(literal "$sloppy")|/tmp/sloppy|g" \
            -e "s|$(literal "$root")/|…/|g" \
            -e "s|$(literal "$HOME")/|~/|g" \
            -e "s/\\b${PORT:-8080}\\b/8080/g"
}

# shot FILE COMMAND: appends `$ COMMAND` and its normalised output to FILE.
# The command is run exactly as written (with the helpers above); some of
# them fail on purpose, which does not stop the script.
shot() {
    local file="$here/$1" command="$2"
    printf '$ %s\n' "$command" >>"$file"
    { eval "$command" 2>&1 || true; } | normalise >>"$file"
}

# announce FILE NAME HEADING COMMAND: appends the command that started
# server NAME and the lines it printed, as terminal 1 saw them.
announce() {
    local file="$here/$1" name="$2" heading="$3" command="$4"
    {
        echo "$heading"
        printf '$ %s\n' "$command"
        normalise <"$work/$name.out"
        echo '# terminal 2:'
    } >>"$file"
}

run="cargo run -p step02-wsgi --features python --"

# Each file is written afresh.
rm -f -- "$here"/*.txt

# --- What the build put in the binary ---------------------------------------

# The libpython it needs, and where the loader is told to look for it (the
# rpath that build.rs asks for). Run on the copy, which is the same file.
{
    echo "\$ readelf -d target/debug/step02-wsgi | grep -E 'libpython|RUNPATH'"
    readelf -d "$bin" | grep -E 'libpython|RUNPATH' | normalise
} >"$here/linking.txt"

# --- Flask, then Pyramid and Django -----------------------------------------

start_server flask --wsgi flaskapp:app
announce flask.txt flask "# terminal 1:" "$run --wsgi flaskapp:app"
shot flask.txt "curl -s -i http://127.0.0.1:8080/"
shot flask.txt "curl -s http://127.0.0.1:8080/hello/reader"
shot flask.txt "curl -s -d name=Ann http://127.0.0.1:8080/form"
shot flask.txt "curl -s -i http://127.0.0.1:8080/nowhere | head -n 1"
stop_server

for app in pyramidapp djangoapp; do
    start_server "$app" --wsgi "$app:app"
    announce frameworks.txt "$app" "# terminal 1, after Ctrl-C:" "$run --wsgi $app:app"
    shot frameworks.txt "curl -s http://127.0.0.1:8080/"
    # These two send their JSON without a final newline.
    shot frameworks.txt "curl -s http://127.0.0.1:8080/hello/reader; echo"
    shot frameworks.txt "curl -s -d name=Ann http://127.0.0.1:8080/form"
    stop_server
done

# --- The plain WSGI application: threads, environ, close() ------------------

start_server wsgiapp --wsgi wsgiapp:app
announce threads.txt wsgiapp "# terminal 1:" "$run --wsgi wsgiapp:app"
shot threads.txt 'ps -T -o comm= -p "$(pgrep -n step02-wsgi)"'
shot threads.txt "for i in 1 2 3; do curl -s http://127.0.0.1:8080/local; done"
shot threads.txt 'ps -T -o comm= -p "$(pgrep -n step02-wsgi)"'

shot environ.txt "curl -s http://127.0.0.1:8080/environ -H 'X-Name: café' | grep -E '^(HTTP_X_NAME|PATH_INFO|wsgi\\.)'"

shot close.txt "curl -s http://127.0.0.1:8080/closes"
shot close.txt "curl -s http://127.0.0.1:8080/write"
shot close.txt "curl -s http://127.0.0.1:8080/closes"
shot close.txt "curl -sS http://127.0.0.1:8080/fail-late"
shot close.txt "curl -s http://127.0.0.1:8080/closes"
shot close.txt "curl -s 'http://127.0.0.1:8080/lines?n=1000000' | head -n 2"
shot close.txt "curl -s http://127.0.0.1:8080/closes"
stop_server

# An exception, with a server that logs each request (-v), so that its side
# of the story can be shown too.
start_server errors -v --wsgi wsgiapp:app
shot errors.txt "curl -s -i http://127.0.0.1:8080/error"
shot errors.txt "curl -s http://127.0.0.1:8080/"
# Stopping the server first makes sure every line has been written; the
# lines about stopping are left out.
stop_server
{
    echo '# terminal 1:'
    echo "\$ $run --wsgi wsgiapp:app -v"
    normalise <"$work/errors.out"
    normalise <"$work/errors.err" | sed '/signal 2 received/,$d'
} >"$here/errors-log.txt"

# --- wsgiref.validate --------------------------------------------------------

start_server unvalidated --wsgi wsgiapp:app
announce validate.txt unvalidated "# terminal 1:" "$run --wsgi wsgiapp:app"
shot validate.txt "curl -s -i http://127.0.0.1:8080/"
stop_server

start_server validated --wsgi wsgiapp:app --validate
announce validate.txt validated "# terminal 1, after Ctrl-C:" "$run --wsgi wsgiapp:app --validate"
shot validate.txt "curl -s -i http://127.0.0.1:8080/"
shot validate.txt "curl -s http://127.0.0.1:8080/environ | grep -E '^wsgi\\.(input|errors)='"
shot validate.txt "curl -s -d hello http://127.0.0.1:8080/echo"
shot validate.txt "curl -s 'http://127.0.0.1:8080/stream?n=2'"
shot validate.txt "curl -s http://127.0.0.1:8080/write"
stop_server

# An application that breaks a rule the server forgives: read() with no size.
cat >"$sloppy/sloppy.py" <<'EOF'
def app(environ, start_response):
    body = environ["wsgi.input"].read()  # no size: "all the rest"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"received %d bytes\n" % len(body)]
EOF
{
    echo '# terminal 1:'
    echo '$ cat /tmp/sloppy/sloppy.py'
    cat "$sloppy/sloppy.py"
} >"$here/sloppy.txt"

start_server sloppy --wsgi sloppy:app --pythonpath "$sloppy"
{
    printf '$ %s\n' "$run --wsgi sloppy:app --pythonpath /tmp/sloppy"
    normalise <"$work/sloppy.out"
    echo '# terminal 2:'
} >>"$here/sloppy.txt"
shot sloppy.txt "curl -s -d hello http://127.0.0.1:8080/"
stop_server

start_server sloppy-validated --wsgi sloppy:app --pythonpath "$sloppy" --validate
announce sloppy.txt sloppy-validated "# terminal 1, after Ctrl-C:" \
    "$run --wsgi sloppy:app --pythonpath /tmp/sloppy --validate"
shot sloppy.txt "curl -s -o /dev/null -w '%{http_code}\\n' -d hello http://127.0.0.1:8080/"
stop_server
{
    echo '# terminal 1 meanwhile:'
    normalise <"$work/sloppy-validated.err" | sed '/signal 2 received/,$d'
} >>"$here/sloppy.txt"

echo "transcripts written to $here"
