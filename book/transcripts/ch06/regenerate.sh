#!/usr/bin/env bash
# Regenerates the terminal sessions shown in chapter 6 of the book (part 1,
# the async core).
#
# Every *.txt file beside this script, except perf.txt, is the output of the
# commands written on its `$` lines, run against the real step06-full binary
# and the workspace's load client. Run this script after changing step06
# (or the code it reuses) and commit whatever changed:
#
#     book/transcripts/ch06/regenerate.sh
#
# perf.txt is not made here, and this script never runs perf.sh: perf.sh
# runs wrk against nginx, lighttpd and step06-full for several minutes and
# needs a quiet machine. Run it alone:
#
#     book/transcripts/ch06/perf.sh > book/transcripts/ch06/perf.txt
#
# The conventions are those of chapter 5, and the helpers lib.sh's
# (../lib.sh):
# - Each server listens on a free port (`-p 0`, which overrides the
#   configuration's `listen`); the script reads the port from the line it
#   prints, `Listening on http://ADDR`. The commands are written with the
#   book's port 8080 and run with the real port (lib.sh's `expand`,
#   redefined here). Any other mention of the real port in the output
#   becomes 8080 (in `ss` output, with the columns kept aligned).
# - `cargo run -p step06-full …` and `cargo run -q -p loadgen -- …` are
#   written as the reader types them, and run as copies of the built
#   binaries, so that cargo's start-up shifts no timing. The workspace's
#   path, where the server prints it, is written as ~/stepwise.
# - The reader's scratch directory, /tmp/ch06, is a fresh temporary
#   directory here (mode 0755, so that `nobody` may read the document root
#   and the configuration after the privilege drop); its path is written
#   back as /tmp/ch06.
# - The opening session runs the shipped configuration, with two changes
#   that the reader does not see: the logs go to the scratch directory, so
#   that the demo's own log files are left alone, and `log.stderr` is
#   "always", which is what the shipped "auto" does in a terminal. Its
#   stdout and stderr are one stream, in the order they were written.
# - This machine runs the script as root. A server started as root without
#   `server.user` warns about it on stderr; the reader, who is not root,
#   never sees that warning, so it is left out of every session except
#   privileges.txt, which is about exactly that.
# - `pgrep` answers with the PID of the server this script started, which is
#   what the reader's `pgrep -n step06-full` finds.
# - What changes from run to run is rewritten (lib.sh's normalise, and the
#   rules below): `Date` and `Last-Modified` values become `<date>`, the
#   dates of a listing `dd-Mon-yyyy hh:mm` (same width, so the columns
#   stay aligned), log timestamps `<time>` (`[<time>]` in the access and
#   error logs), the time part of each ETag `<mtime>` (the size part is
#   kept; a second, different ETag in the same session becomes `<mtime2>`,
#   and so on), the load client's times and rates `<t>` and `<r>`, the
#   server's measured shutdown time `<t>`. Wall-clock times are rounded to
#   whole seconds (bash's `time`, of which only `real` is shown) or, for
#   curl's `%{time_total}`, to a tenth of a second. The server's PID
#   becomes 4100.
# - The timings the chapter relies on are checked here: the script fails if
#   one comes out different, rather than writing a transcript the text no
#   longer describes.
# - Before it signals a server, the script waits until the server has
#   installed its SIGHUP, SIGUSR1 and SIGTERM handlers (SigCgt in
#   /proc/PID/status): there is a short window after `Listening on` in which
#   SIGHUP would still kill it.
# - Every server is started with lib.sh's launch, so that it leads a process
#   group of its own, and its PID is kept in this shell (never in a
#   subshell). The script stops each server it started by that PID; if the
#   script exits early, lib.sh's trap on EXIT kills each group still there.
#   Background clients are waited for by their PIDs too.
# - Needs: cargo, curl, bash (for /dev/tcp), ps and pgrep (procps), ss
#   (iproute2), setsid (util-linux), mkfifo, zcat (gzip), GNU sed, awk,
#   perl. The privilege session needs root and a user `nobody`; without
#   them privileges.txt is left as it was.
set -euo pipefail
export LC_ALL=C
# A reader's environment: no backtraces, no log filter.
unset RUST_BACKTRACE RUST_LIB_BACKTRACE RUST_LOG

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
umask 022
chmod 755 "$work"
# The transcripts are drafted in $work, and finished beside this script.
OUT="$work"

# The sessions run copies of the binaries, so that nothing built meanwhile
# (another chapter's script, a test run) changes what they show.
cargo build -q -p step06-full -p loadgen
bin="$work/step06-full"
loadgen="$work/stepwise-load"
cp "$target/debug/step06-full" "$bin"
cp "$target/debug/stepwise-load" "$loadgen"
# The reader's scratch directory.
scratch="$work/ch06"
mkdir "$scratch"

# The shipped configuration, with its logs in the scratch directory and
# echoed to stderr (what "auto" does in a terminal). Paths are made absolute,
# since the copy lives elsewhere.
shipped="$work/shipped.toml"
sed -E \
    -e "s#^document_root = \"demo/www\"#document_root = \"$root/step06-full/demo/www\"#" \
    -e "s#^(access|error) = \"demo/logs/#\\1 = \"$work/demo-logs/#" \
    -e 's#^stderr = "auto"#stderr = "always"#' \
    step06-full/stepwise.toml >"$shipped"
grep -q "$work/demo-logs/access.log" "$shipped" || {
    echo "could not redirect the shipped configuration's logs" >&2
    exit 1
}

# start NAME [--combined] ARGS...: starts the server with ARGS (and -p 0)
# with lib.sh's launch, and waits until it has installed its signal
# handlers too.
start() {
    local name="$1"
    shift
    if [[ "${1:-}" == --combined ]]; then
        shift
        launch --combined "$name" "$bin" "$@" -p 0
    else
        launch "$name" "$bin" "$@" -p 0
    fi
    # SIGHUP is bit 0 of SigCgt, SIGUSR1 bit 9, SIGTERM bit 14.
    local mask=0
    for _ in $(seq 100); do
        mask="$(awk '/^SigCgt:/ { print $2 }' "/proc/$SERVER_PID/status")"
        (((16#$mask & 0x4201) == 0x4201)) && return
        sleep 0.05
    done
    echo "server $name never installed its signal handlers" >&2
    exit 1
}

# not_root_warning: drops the warning a server started as root without
# `server.user` prints (the reader is not root).
not_root_warning() { grep -v 'running as root with no server.user configured' || true; }

TIDY=(
    -e 's/[0-9]{2}-[A-Z][a-z]{2}-[0-9]{4} [0-9]{2}:[0-9]{2}/dd-Mon-yyyy hh:mm/g'
    -e 's/(closed in )[0-9.]+(ns|µs|us|ms|s)\b/\1<t>/'
    -e "s#$scratch#/tmp/ch06#g"
    -e "s#$root#~/stepwise#g"
)

# whole_after: rounds the "after N s" of the backlog session's curl to whole
# seconds.
whole_after() { perl -pe 's/after (\d+\.\d+) s/sprintf("after %.0f s", $1)/e'; }

# expand COMMAND: the command as the reader typed it, with the book's port,
# scratch directory and programs replaced by the real ones.
expand() {
    local command="$1"
    command="${command//8080/$PORT}"
    command="${command//\/tmp\/ch06/$scratch}"
    command="${command//cargo run -q -p loadgen --/$loadgen}"
    command="${command//cargo run -p step06-full --/$bin}"
    command="${command//target\/debug\/step06-full/$bin}"
    printf '%s' "$command"
}

# finish_filter, for lib.sh's finish FILE: the server's PID is written as
# 4100 (in the error log's `[pid N:tid N]` and in the PID column of `ps`,
# kept right-aligned), and each ETag's time part as <mtime>, <mtime2>, …
# (lib.sh's stable_etags).
finish_filter() {
    perl -pe '
        BEGIN { $server = shift @ARGV; }
        if ($server ne "") {
            s/\[pid \Q$server\E:tid \Q$server\E\]/[pid 4100:tid 4100]/g;
            if (/step06-full$/) {
                s{( *)\b\Q$server\E\b}{" " x (length($1) + length($server) - 4) . "4100"}e;
            }
        }' "${SERVER_PID:-}" | stable_etags
}

# The privilege session needs root and a user to drop to.
can_drop=false
if [[ "$(id -u)" == 0 ]] && getent passwd nobody >/dev/null; then
    can_drop=true
fi

# Each file is written afresh; the perf*.sh scripts and their perf*.txt
# are not this script's, and privileges.txt is kept when it cannot be made.
if [[ "$can_drop" == true ]]; then fresh 'perf*.txt'; else fresh 'perf*.txt' privileges.txt; fi

# --- The opening: the demo site, with the shipped configuration -------------

start start --combined --config "$shipped"
say start.txt "# terminal 1:" "\$ cargo run -p step06-full"
# What terminal 1 showed before any request.
normalise <"$work/start.out" | not_root_warning >>"$work/start.txt"
lines_before="$(wc -l <"$work/start.out")"
say start.txt "# terminal 2:"
shot start.txt "curl -s http://127.0.0.1:8080/files/"
shot start.txt "curl -sI http://127.0.0.1:8080/hello.txt"
shot_set start.txt "etag=\$(curl -sI http://127.0.0.1:8080/hello.txt | sed -n 's/^Etag: //p' | tr -d '\\r')"
shot start.txt "curl -si -H \"If-None-Match: \$etag\" http://127.0.0.1:8080/hello.txt"
shot start.txt "curl -si -r 0-4 http://127.0.0.1:8080/hello.txt; echo"
sleep 0.3
say start.txt "# terminal 1, meanwhile:"
tail -n "+$((lines_before + 1))" "$work/start.out" | normalise | not_root_warning >>"$work/start.txt"
finish start.txt
stop_server

# --- What hyper does for us, and what it does differently -------------------

start hyper --config "$shipped"
say hyper.txt "# with the demo site: cargo run -p step06-full"
shot hyper.txt "printf 'GET /hello.txt HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /files/data.json HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | raw"
shot hyper.txt "printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' | raw"
shot hyper.txt "printf 'GARBAGE\\r\\n\\r\\n' | raw"
shot hyper.txt "printf 'GET /hello.txt HTTP/1.1\\r\\nHost: x\\r\\nX-Big: %0200000d\\r\\n\\r\\n' 0 | raw"
shot hyper.txt "for request in 'GET /hello.txt HTTP/1.1\\r\\nConnection: close\\r\\n\\r\\n' \\
    'GET /hello.txt HTTP/2.0\\r\\nHost: x\\r\\n\\r\\n' \\
    'POST /hello.txt HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: gzip\\r\\n\\r\\n'; do
  printf \"\$request\" | raw | sed -n 1p
done"
shot_timed hyper.txt "(printf 'GET /hello.txt HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | raw | sed -n 1p)"
expect_seconds "the idle close" 4.9 6.1
shot_timed hyper.txt "(printf 'GET /hello.txt HTTP/1.1\\r\\nHost: x\\r\\n' | raw)"
expect_seconds "the slow head's close" 4.9 6.1
finish hyper.txt
stop_server

# --- A thousand idle connections, three threads -----------------------------

: >"$work/idle.txt"
shot idle.txt "mkdir -p /tmp/ch06/www"
shot idle.txt "printf 'hello, world\\n' > /tmp/ch06/www/hello.txt"
shot idle.txt "cat > /tmp/ch06/site.toml <<'EOF'
[server]
listen = [\"127.0.0.1:8080\"]
document_root = \"www\"
directory_listing = true

[timeouts]
idle = 60
header_read = 60

[log]
access = \"logs/access.log\"
error = \"logs/error.log\"
stderr = \"never\"
EOF"
start idle --config "$scratch/site.toml"
announce idle.txt idle "# terminal 1:" "cargo run -p step06-full -- --config /tmp/ch06/site.toml" not_root_warning
say idle.txt "# terminal 2:"
shot idle.txt 'ps -o pid,nlwp,comm -p $(pgrep -n step06-full)'
holders="cargo run -q -p loadgen -- -c 1000 -n 1 -k --hold 25 http://127.0.0.1:8080/hello.txt"
say idle.txt "# terminal 3: a thousand clients that each make one request, then keep" \
    "# the connection open for 25 seconds" \
    "\$ $holders"
"$loadgen" -c 1000 -n 1 -k --hold 25 "http://127.0.0.1:$PORT/hello.txt" >"$work/holders.out" 2>&1 &
holding=$!
await "$holding"
sleep 15
say idle.txt "# terminal 2, fifteen seconds later:"
shot idle.txt 'ps -o pid,nlwp,comm -p $(pgrep -n step06-full)'
shot idle.txt 'ls /proc/$(pgrep -n step06-full)/fd | wc -l'
shot idle.txt "ss -tn state established '( sport = :8080 )' | tail -n +2 | wc -l"
shot_timed idle.txt "curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:8080/hello.txt"
expect_seconds "the request beside a thousand idle connections" 0 0.5
wait "$holding" || true
say idle.txt "# terminal 3, 25 seconds after it started:"
normalise <"$work/holders.out" >>"$work/idle.txt"
finish idle.txt
stop_server

# --- max_clients: beyond it, the backlog ------------------------------------

: >"$work/backlog.txt"
shot backlog.txt "cat > /tmp/ch06/two.toml <<'EOF'
[server]
listen = [\"127.0.0.1:8080\"]
document_root = \"www\"
max_clients = 2
EOF"
start backlog --config "$scratch/two.toml"
announce backlog.txt backlog "# terminal 1:" "cargo run -p step06-full -- --config /tmp/ch06/two.toml" not_root_warning
say backlog.txt "# terminal 2: two clients that keep their connections for four seconds" \
    "\$ cargo run -q -p loadgen -- -c 2 -n 1 -k --hold 4 http://127.0.0.1:8080/hello.txt"
"$loadgen" -c 2 -n 1 -k --hold 4 "http://127.0.0.1:$PORT/hello.txt" >"$work/two.out" 2>&1 &
holding=$!
await "$holding"
sleep 1
say backlog.txt "# terminal 3, a second later:"
shot backlog.txt "curl -s -o /dev/null -w '%{http_code} after %{time_total} s\\n' http://127.0.0.1:8080/hello.txt & sleep 0.5; ss -ltn 'sport = :8080'; wait" \
    whole_after
waited="$(sed -n 's/^200 after \([0-9]*\) s$/\1/p' "$work/backlog.txt")"
[[ "$waited" == 3 ]] || {
    echo "backlog: expected the third client to wait 3 s, got '${waited}'" >&2
    exit 1
}
wait "$holding" || true
say backlog.txt "# terminal 2, four seconds after it started:"
normalise <"$work/two.out" >>"$work/backlog.txt"
finish backlog.txt
stop_server

# --- Configuration: checked before anything starts ---------------------------

SERVER_PID=""
PORT=8080
: >"$work/config.txt"
shot config.txt "cargo run -p step06-full -- --check"
shot config.txt "sed 's/^max_clients = /max_client = /' step06-full/stepwise.toml > /tmp/ch06/bad.toml"
shot config.txt "cargo run -p step06-full -- --config /tmp/ch06/bad.toml --check; echo \"exit status \$?\""
shot config.txt "sed 's/^idle = 60/idle = 0/' /tmp/ch06/site.toml > /tmp/ch06/zero.toml"
shot config.txt "cargo run -p step06-full -- --config /tmp/ch06/zero.toml --check; echo \"exit status \$?\""
finish config.txt

# --- Files: validators, conditionals, ranges ---------------------------------

start files --config "$scratch/site.toml"
say files.txt "# terminal 1: cargo run -p step06-full -- --config /tmp/ch06/site.toml" "# terminal 2:"
url="http://127.0.0.1:8080/hello.txt"
shot_set files.txt "etag=\$(curl -sI $url | sed -n 's/^Etag: //p' | tr -d '\\r')"
shot_set files.txt "lm=\$(curl -sI $url | sed -n 's/^Last-Modified: //p' | tr -d '\\r')"
shot files.txt "echo \"\$etag | \$lm\""
code="curl -s -o /dev/null -w '%{http_code}\\n'"
shot files.txt "$code -H \"If-None-Match: \$etag\" $url"
shot files.txt "$code -H \"If-None-Match: W/\$etag\" $url"
shot files.txt "$code -H \"If-Modified-Since: \$lm\" $url"
shot files.txt "$code -H 'If-None-Match: \"old\"' -H \"If-Modified-Since: \$lm\" $url"
shot files.txt "curl -si -r 7- $url"
shot files.txt "curl -s -r 0-4 -H \"If-Range: \$etag\" $url; echo"
shot files.txt "curl -s -r 0-4 -H 'If-Range: \"old\"' $url"
shot files.txt "curl -si -r 100-200 $url"
shot files.txt "$code -r 0-1,5-6 $url"
finish files.txt

# --- Listings: hostile names, hidden entries, a FIFO -------------------------

: >"$work/listing.txt"
shot listing.txt "mkdir /tmp/ch06/www/odd"
shot listing.txt "cd /tmp/ch06/www/odd && touch 'a&b <img src=x onerror=alert(1)>.txt' 'javascript:alert(1)' .secret"
shot listing.txt "mkfifo /tmp/ch06/www/odd/pipe"
shot listing.txt "ln -s /etc/passwd /tmp/ch06/www/odd/passwd"
shot listing.txt "ls -A /tmp/ch06/www/odd"
say listing.txt "# the same server as before:"
shot listing.txt "curl -s http://127.0.0.1:8080/odd/"
shot_timed listing.txt "curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:8080/odd/pipe"
expect_seconds "the request for a FIFO" 0 0.5
finish listing.txt
stop_server

# --- The cache: a hit, a rewrite (seen within a second), a file too big -------

start cache --config "$scratch/site.toml"
say cache.txt "# terminal 1, a fresh server: cargo run -p step06-full -- --config /tmp/ch06/site.toml" "# terminal 2:"
shot cache.txt "curl -s -D - -o /dev/null http://127.0.0.1:8080/hello.txt | grep -E '^(Etag|X-Cache)'"
shot cache.txt "curl -s -D - -o /dev/null http://127.0.0.1:8080/hello.txt | grep -E '^(Etag|X-Cache)'"
shot cache.txt "printf 'HELLO, WORLD\\n' > /tmp/ch06/www/hello.txt"
shot cache.txt "curl -s -D - http://127.0.0.1:8080/hello.txt | grep -E '^(X-Cache|hello|HELLO)'"
shot cache.txt "sleep 1"
shot cache.txt "curl -si http://127.0.0.1:8080/hello.txt"
shot cache.txt "head -c 100000000 /dev/zero > /tmp/ch06/www/big.bin"
shot cache.txt "curl -sI http://127.0.0.1:8080/big.bin"
finish cache.txt
stop_server

# --- The access log, and SIGUSR1 ----------------------------------------------

start logs --config "$scratch/site.toml"
say logs.txt "# terminal 1: cargo run -p step06-full -- --config /tmp/ch06/site.toml" "# terminal 2:"
shot logs.txt "curl -s -o /dev/null http://127.0.0.1:8080/hello.txt"
shot logs.txt "curl -s -o /dev/null -r 0-4 http://127.0.0.1:8080/hello.txt"
shot logs.txt "curl -sI -o /dev/null http://127.0.0.1:8080/hello.txt"
shot logs.txt "curl -s -o /dev/null -A 'sneaky\" 200 999 \"x' -e http://example.com/ http://127.0.0.1:8080/nope"
sleep 0.2
shot logs.txt "tail -n 4 /tmp/ch06/logs/access.log"
shot logs.txt "mv /tmp/ch06/logs/access.log /tmp/ch06/logs/access.log.old"
shot logs.txt "curl -s -o /dev/null 'http://127.0.0.1:8080/hello.txt?before'"
shot logs.txt 'kill -USR1 $(pgrep -n step06-full)'
sleep 0.3
shot logs.txt "curl -s -o /dev/null 'http://127.0.0.1:8080/hello.txt?after'"
sleep 0.2
shot logs.txt "tail -n 1 /tmp/ch06/logs/access.log.old"
shot logs.txt "cat /tmp/ch06/logs/access.log"
shot logs.txt "tail -n 1 /tmp/ch06/logs/error.log"
finish logs.txt
stop_server

# --- Rotation: many small logs, not one line lost ------------------------------

: >"$work/rotation.txt"
shot rotation.txt "cat > /tmp/ch06/rotate.toml <<'EOF'
[server]
listen = [\"127.0.0.1:8080\"]
document_root = \"www\"

[log]
access = \"rotated/access.log\"
error = \"rotated/error.log\"
rotate_size = 1024
keep = 100
stderr = \"never\"
EOF"
start rotation --config "$scratch/rotate.toml"
announce rotation.txt rotation "# terminal 1:" "cargo run -p step06-full -- --config /tmp/ch06/rotate.toml" not_root_warning
say rotation.txt "# terminal 2:"
shot rotation.txt "cargo run -q -p loadgen -- -c 10 -n 20 http://127.0.0.1:8080/hello.txt"
stop_server
say rotation.txt "# terminal 1: Ctrl-C, which lets the writers finish their last archive"
shot rotation.txt "ls /tmp/ch06/rotated | wc -l"
shot rotation.txt "ls /tmp/ch06/rotated | sort -V | head -n 5"
shot rotation.txt "wc -c /tmp/ch06/rotated/access.log"
shot rotation.txt "zcat /tmp/ch06/rotated/access.log.1.gz | head -n 2"
shot rotation.txt "zcat -f /tmp/ch06/rotated/access.log* | wc -l"
lines="$(tail -n 1 "$work/rotation.txt")"
[[ "$lines" == 200 ]] || {
    echo "rotation: expected 200 access lines, found $lines" >&2
    exit 1
}
finish rotation.txt

# --- Signals: a reload refused, a reload taken, a graceful stop --------------

start signals --config "$scratch/site.toml" -v
announce signals.txt signals "# terminal 1:" "cargo run -p step06-full -- --config /tmp/ch06/site.toml -v" not_root_warning
lines_before="$(wc -l <"$work/signals.err")"
say signals.txt "# terminal 2:"
shot signals.txt "curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:8080/odd/"
shot signals.txt "sed -i 's/^directory_listing = true/directory_listin = false/' /tmp/ch06/site.toml"
shot signals.txt 'kill -HUP $(pgrep -n step06-full)'
sleep 0.3
shot signals.txt "tail -n 1 /tmp/ch06/logs/error.log"
shot signals.txt "curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:8080/odd/"
shot signals.txt "sed -i 's/^directory_listin = false/directory_listing = false/' /tmp/ch06/site.toml"
shot signals.txt 'kill -HUP $(pgrep -n step06-full)'
sleep 0.3
shot signals.txt "tail -n 1 /tmp/ch06/logs/error.log"
shot signals.txt "curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:8080/odd/"
say signals.txt "# a slow download of the 100 MB file, and SIGTERM half a second into it:"
slow="curl -s --limit-rate 20M -o /dev/null -w '%{http_code} %{size_download}\\n' http://127.0.0.1:8080/big.bin"
say signals.txt "\$ $slow & sleep 0.5; kill -TERM \$(pgrep -n step06-full); wait"
started=$(date +%s.%N)
eval "$(expand "$slow")" >"$work/slow.out" 2>&1 &
downloading=$!
await "$downloading"
sleep 0.5
kill -TERM "$SERVER_PID"
wait_server
stopped=$(date +%s.%N)
wait "$downloading" || true
normalise <"$work/slow.out" >>"$work/signals.txt"
# The server must have waited for the download, which takes about five
# seconds at 20 MiB/s. It may exit before the client has read everything:
# once the rest of the body fits in the kernel's socket buffers (tens of
# megabytes on loopback), its part is done. That is why the file is large.
SECONDS_TAKEN="$(awk -v a="$started" -v b="$stopped" 'BEGIN { printf "%.2f", b - a }')"
expect_seconds "the graceful stop" 2.5 5.5
shot signals.txt "tail -n 3 /tmp/ch06/logs/error.log"
say signals.txt "# terminal 1, meanwhile:"
tail -n "+$((lines_before + 1))" "$work/signals.err" | normalise | not_root_warning >>"$work/signals.txt"
say signals.txt "\$ echo \$?" "$STATUS"
finish signals.txt
[[ "$STATUS" == 0 ]] || {
    echo "signals: the server exited with $STATUS" >&2
    exit 1
}

# --- Privileges: started as root, serving as nobody ---------------------------

if [[ "$can_drop" == true ]]; then
    start root --config "$scratch/site.toml"
    {
        echo "# terminal 1, as root, with the configuration of the sections before:"
        echo "\$ target/debug/step06-full --config /tmp/ch06/site.toml"
        normalise <"$work/root.out"
        normalise <"$work/root.err"
    } >"$work/privileges.txt"
    stop_server
    say privileges.txt "^C"
    shot privileges.txt "cat > /tmp/ch06/nobody.toml <<'EOF'
[server]
listen = [\"127.0.0.1:8080\"]
document_root = \"www\"
user = \"nobody\"

[log]
access = \"nobody-logs/access.log\"
error = \"nobody-logs/error.log\"
stderr = \"never\"
EOF"
    start nobody --config "$scratch/nobody.toml" -v
    {
        echo "\$ target/debug/step06-full --config /tmp/ch06/nobody.toml -v"
        normalise <"$work/nobody.out"
        normalise <"$work/nobody.err"
        echo "# terminal 2, as root:"
    } >>"$work/privileges.txt"
    shot privileges.txt "grep -E '^(Uid|Gid|Groups|CapPrm|CapEff)' /proc/\$(pgrep -n step06-full)/status"
    shot privileges.txt 'ps -o user,group,pid,nlwp,comm -p $(pgrep -n step06-full)'
    shot privileges.txt "stat -c '%A %U:%G %n' /tmp/ch06/nobody-logs /tmp/ch06/nobody-logs/*"
    shot privileges.txt "install -m 600 /dev/null /tmp/ch06/www/root-only.txt"
    shot privileges.txt "curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:8080/root-only.txt"
    shot privileges.txt "curl -s http://127.0.0.1:8080/hello.txt"
    shot privileges.txt 'kill -HUP $(pgrep -n step06-full)'
    sleep 0.3
    shot privileges.txt "tail -n 1 /tmp/ch06/nobody-logs/error.log"
    finish privileges.txt
    stop_server
else
    echo "not root, or no user nobody: privileges.txt left as it was" >&2
fi

echo "transcripts written to $here"
