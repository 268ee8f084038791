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
# The conventions are chapter 2's, and the helpers lib.sh's (../lib.sh):
# - Each server listens on a free port (`-p 0`). The commands are written,
#   and run, with the book's port 8080: lib.sh's `curl` reaches the real
#   port while sending exactly the bytes a reader's curl sends to
#   127.0.0.1:8080. In the same way, `pgrep` answers with the PID of the
#   server this script started, which is what the reader's `pgrep -n
#   step02-wsgi` finds.
# - Besides what lib.sh rewrites (dates, log timestamps, the port), Python
#   object addresses (`object at 0x7f…`) become `<addr>`. Paths that are
#   this machine's, not the reader's, are shortened: the repository becomes
#   `…/` (as in `…/step02-wsgi/python/wsgiapp.py`), the home directory `~/`,
#   and the scratch directory that holds sloppy.py is shown as /tmp/sloppy.
# - Servers run with no RUST_BACKTRACE, VIRTUAL_ENV, PYTHONHOME or
#   PYTHONPATH (lib.sh's SERVER_ENV): the binary must find its Python by
#   itself.
# - Needs: python3 (with venv and a shared libpython), cargo, curl, ps,
#   readelf, setsid (util-linux), GNU sed, awk, perl.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"

# --- The one-time setup -----------------------------------------------------

venv="$root/.venv-wsgi"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet -r step02-wsgi/python/requirements.txt

PYO3_PYTHON="$venv/bin/python" cargo build --quiet -p step02-wsgi --features python

# The same path holds step02-wsgi built with or without the feature (chapter
# 2's own script builds it without): run a copy of this build, so that
# nothing built meanwhile changes which binary the sessions show.
bin="$work/step02-wsgi"
cp "$target/debug/step02-wsgi" "$bin"

# The directory the reader would put sloppy.py in, and the real one.
sloppy="$work/sloppy"
mkdir "$sloppy"

# start_server NAME ARGS...: starts the binary on a free port (lib.sh's
# launch); its stdout and stderr go to $work/NAME.out and NAME.err.
start_server() {
    local name="$1"
    shift
    launch "$name" "$bin" -p 0 "$@"
}

# curl gets --no-buffer: writing into a file, it would otherwise hold the
# body back until it exits, after its own error messages, where a terminal
# shows the body first.
CURL_OPTS=(--no-buffer)

TIDY=(
    -e 's/( object at )0x[0-9a-f]+/\1<addr>/g'
    -e "s|$(literal "$sloppy")|/tmp/sloppy|g"
    -e "s|$(literal "$root")/|…/|g"
    -e "s|$(literal "$HOME")/|~/|g"
)

run="cargo run -p step02-wsgi --features python --"

# Each file is written afresh.
fresh

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
say flask.txt "# terminal 2:"
shot flask.txt "curl -s -i http://127.0.0.1:8080/"
shot flask.txt "curl -s http://127.0.0.1:8080/hello/reader"
shot flask.txt "curl -s -d name=Ann http://127.0.0.1:8080/form"
shot flask.txt "curl -s -i http://127.0.0.1:8080/nowhere | head -n 1"
stop_server

for app in pyramidapp djangoapp; do
    start_server "$app" --wsgi "$app:app"
    announce frameworks.txt "$app" "# terminal 1, after Ctrl-C:" "$run --wsgi $app:app"
    say frameworks.txt "# terminal 2:"
    shot frameworks.txt "curl -s http://127.0.0.1:8080/"
    # These two send their JSON without a final newline.
    shot frameworks.txt "curl -s http://127.0.0.1:8080/hello/reader; echo"
    shot frameworks.txt "curl -s -d name=Ann http://127.0.0.1:8080/form"
    stop_server
done

# --- The plain WSGI application: threads, environ, close() ------------------

start_server wsgiapp --wsgi wsgiapp:app
announce threads.txt wsgiapp "# terminal 1:" "$run --wsgi wsgiapp:app"
say threads.txt "# terminal 2:"
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
say validate.txt "# terminal 2:"
shot validate.txt "curl -s -i http://127.0.0.1:8080/"
stop_server

start_server validated --wsgi wsgiapp:app --validate
announce validate.txt validated "# terminal 1, after Ctrl-C:" "$run --wsgi wsgiapp:app --validate"
say validate.txt "# terminal 2:"
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
say sloppy.txt "# terminal 2:"
shot sloppy.txt "curl -s -o /dev/null -w '%{http_code}\\n' -d hello http://127.0.0.1:8080/"
stop_server
{
    echo '# terminal 1 meanwhile:'
    normalise <"$work/sloppy-validated.err" | sed '/signal 2 received/,$d'
} >>"$here/sloppy.txt"

echo "transcripts written to $here"
