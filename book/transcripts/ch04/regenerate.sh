#!/usr/bin/env bash
# Regenerates the terminal sessions shown in chapter 4 of the book.
#
# Every *.txt file beside this script is the output of the command written on
# its `$` lines, run against the real step04-reaping binary and the workspace's
# load client. Run this script after changing step04 (or the code it reuses)
# and commit whatever changed:
#
#     book/transcripts/ch04/regenerate.sh
#
# The conventions are chapter 2's, and the helpers lib.sh's (../lib.sh):
# - Each server listens on a free port (`-p 0`); the script reads the port
#   from the line it prints, `Listening on http://ADDR`. The commands are
#   written with the book's port 8080, and run with 8080 replaced by the real
#   port (lib.sh's `expand`, redefined here). Any other mention of the real
#   port in the output becomes 8080.
# - `pgrep` answers with the PID of the server this script started, which is
#   what the reader's `pgrep -o step04-reaping` finds (`-o`, the oldest: the
#   parent, not one of its children).
# - Besides what lib.sh rewrites (log timestamps, the timing middleware's
#   measurements, the load client's times and rates), addresses in strace's
#   output
#   `<addr>`, the client's port in strace's output 51000. PIDs become stable
#   numbers that keep the columns of `ps` aligned: the server is 4100, the
#   other processes of one session 4101, 4102, … in the order they first
#   appear, and the shell that sends a signal 3800.
# - Not rewritten, on purpose: how many zombies `--reap once` leaves, and how
#   many SIGCHLD the server received for its 200 children. They depend on
#   timing and change from run to run; the chapter says so. If a run of
#   `--reap once` happens to leave no zombie at all, the burst is tried again
#   on a fresh server, up to five times (the script says when it retried).
# - Every server is started with lib.sh's launch, so that it leads a process
#   group of its own with its children. The script stops each server it
#   started by the PID of the binary itself (with SIGTERM), and if it exits
#   early, lib.sh's trap on EXIT kills each group that is still there: no
#   server, child or zombie parent is left behind.
# - The Flask session (python.txt) is regenerated only when the virtualenv of
#   the README's one-time setup exists (`.venv-wsgi`); otherwise the file
#   is left as it was. The strace session (strace.txt) needs strace.
# - Needs: cargo, curl, ps and pgrep (procps), setsid (util-linux), strace,
#   GNU sed, awk, perl.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
STOP_SIGNAL=TERM
# The transcripts are drafted in $work, and finished (PIDs made stable)
# beside this script.
OUT="$work"

# The sessions run copies of the binaries, so that nothing built meanwhile
# (another chapter's script, a test run) changes what they show. The Python
# build comes first: it writes the same target path, which the plain build
# then restores.
venv="$root/.venv-wsgi"
python_bin=""
if [[ -x "$venv/bin/python" ]]; then
    PYO3_PYTHON="$venv/bin/python" cargo build --quiet -p step04-reaping --features python
    mkdir "$work/python"
    python_bin="$work/python/step04-reaping"
    cp "$target/debug/step04-reaping" "$python_bin"
fi
cargo build --quiet -p step04-reaping -p loadgen
bin="$work/step04-reaping"
cp "$target/debug/step04-reaping" "$bin"

TIDY=(
    -e 's/sin_port=htons\([0-9]+\)/sin_port=htons(51000)/'
    -e 's/(SI_USER, si_pid=)[0-9]+/\13800/'
    -e 's/0x[0-9a-f]{6,}/<addr>/g'
)

# The commands are run with 8080 replaced by the real port.
expand() { printf '%s' "${1//8080/$PORT}"; }

# children: the PIDs of the server's children right now (zombies included).
children() { ps -o pid= --ppid "$SERVER_PID" || true; }

load="cargo run -q -p loadgen -- -c 20 -n 10"
ps_children='ps -o pid,ppid,stat,cmd --ppid $(pgrep -o step04-reaping)'

# Each file is written afresh (python.txt only when it can be).
if [[ -n "$python_bin" ]]; then fresh; else fresh python.txt; fi

# --- The opening: a burst, and no zombie left -------------------------------

launch burst "$bin" -p 0
announce burst.txt burst "# terminal 1:" "cargo run -p step04-reaping"
say burst.txt "# terminal 2:"
shot burst.txt "$load http://127.0.0.1:8080/hello/you"
sleep 1
shot burst.txt "$ps_children"
finish burst.txt
stop_server

# --- One wait per signal: zombies remain -------------------------------------

zombies=0
for attempt in 1 2 3 4 5; do
    : >"$work/reap-once.txt"
    launch once "$bin" -p 0 --reap once
    announce reap-once.txt once "# terminal 1:" "cargo run -p step04-reaping -- --reap once"
    say reap-once.txt "# terminal 2:"
    shot reap-once.txt "$load http://127.0.0.1:8080/hello/you"
    # Every child has long finished its request by now.
    sleep 1
    zombies="$(ps -o stat= --ppid "$SERVER_PID" | grep -c 'Z' || true)"
    ((zombies > 0)) && break
    echo "reap-once: attempt $attempt left no zombie; trying again" >&2
    stop_server
done
((zombies > 0)) || {
    echo "reap-once: five bursts left no zombie" >&2
    exit 1
}
((attempt == 1)) || echo "reap-once: zombies on attempt $attempt" >&2
shot reap-once.txt "$ps_children | head -n 5"
shot reap-once.txt 'ps -o stat= --ppid $(pgrep -o step04-reaping) | sort | uniq -c'
# shellcheck disable=SC2046 # one PID per word
finish reap-once.txt $(children)
stop_server

# --- The loop, and how many signals 200 exits made ---------------------------

launch coalescing env RUST_LOG=step04_reaping=debug "$bin" -p 0
announce coalescing.txt coalescing "# terminal 1:" \
    "RUST_LOG=step04_reaping=debug cargo run -p step04-reaping 2> server.log"
say coalescing.txt "# terminal 2:"
shot coalescing.txt "$load http://127.0.0.1:8080/hello/you"
sleep 1
shot coalescing.txt "$ps_children"
(
    # The reader's server.log is this server's stderr.
    cd "$work"
    cp coalescing.err server.log
    shot coalescing.txt "grep -c 'reaped [0-9]*:' server.log"
    shot coalescing.txt "grep -o '[0-9]* SIGCHLD' server.log | awk '{n += \$1} END {print n}'"
)
finish coalescing.txt
stop_server

# --- EINTR, seen with strace -------------------------------------------------

if command -v strace >/dev/null; then
    trace="strace -e trace=poll,accept4,clone,wait4,sendto,recvfrom,rt_sigreturn"
    # The request sleeps for half a second, so that its child exits long
    # after the parent is back in poll: under strace the parent is slowed
    # down, and a child that answered at once could exit before that.
    request="curl -s -o /dev/null 'http://127.0.0.1:8080/sleep?ms=500'"
    caught=no
    for attempt in 1 2 3; do
        launch strace $trace "$bin" -p 0
        eval "${request//8080/$PORT}"
        # The child has exited and been reaped; the parent is back in poll.
        sleep 1
        stop_server
        # Both signals must have found the parent inside poll, as they do
        # when it waits there between events.
        if [[ "$(grep -c 'rt_sigreturn.*EINTR' "$work/strace.err")" == 2 ]]; then
            caught=yes
            break
        fi
        echo "strace: attempt $attempt did not catch poll twice; trying again" >&2
    done
    [[ "$caught" == yes ]] || {
        echo "strace: no attempt caught poll twice; strace.txt not written" >&2
        exit 1
    }
    # What the terminal showed: the server's two lines, then strace's (on
    # stderr). Left out: the lines before `Listening`, from Rust's start-up,
    # and signal-hook's zero-byte probes of the pipes it was given.
    {
        echo "# terminal 1:"
        echo "\$ cargo build -q -p step04-reaping"
        echo "\$ $trace ./target/debug/step04-reaping"
        normalise <"$work/strace.out"
        sed -E -e '/^poll\(\[\{fd=0, /d' -e '/^sendto\([0-9]+, "", 0, /d' "$work/strace.err" | normalise
        echo "# terminal 2:"
        echo "\$ $request"
        echo "\$ kill -TERM \$(pgrep -o step04-reaping)"
    } >"$work/strace.txt"
    # shellcheck disable=SC2046 # one PID per word
    finish strace.txt $(grep -oE '^clone\(.*\) = [0-9]+' "$work/strace.err" | grep -oE '[0-9]+$')
else
    echo "strace is not installed: strace.txt left as it was" >&2
fi

# --- A graceful stop: SIGTERM with a request in flight -----------------------

launch sigterm "$bin" -p 0 -v
curl -s 'http://127.0.0.1:'"$PORT"'/sleep?ms=3000' >"$work/sigterm.curl" &
sleeper=$!
sleep 1
shot sigterm-kill.txt 'kill -TERM $(pgrep -o step04-reaping)'
wait "$sleeper"
wait_server
{
    echo "# terminal 1:"
    echo "\$ cargo run -p step04-reaping -- -v"
    normalise <"$work/sigterm.out"
    normalise <"$work/sigterm.err"
    echo "\$ echo \$?"
    echo "$STATUS"
    echo
    echo "# terminal 2, started first:"
    echo "\$ curl 'http://127.0.0.1:8080/sleep?ms=3000'"
    normalise <"$work/sigterm.curl"
    echo
    echo "# terminal 3, one second later:"
    cat "$work/sigterm-kill.txt"
} >"$work/sigterm.txt"
finish sigterm.txt
[[ "$STATUS" == 0 ]] || echo "sigterm: the server exited with $STATUS" >&2

# --- Ctrl-C to the whole group, and the shutdown timeout ---------------------

launch ctrl-c "$bin" -p 0 -v --shutdown-timeout 1
(
    status=0
    curl -sS "http://127.0.0.1:$PORT/sleep?ms=5000" || status=$?
    echo "$status" >"$work/ctrl-c.status"
) >"$work/ctrl-c.curl" 2>&1 &
sleeper=$!
sleep 1
# What Ctrl-C in terminal 1 does: SIGINT to every process in the foreground
# process group, the server and its children alike.
kill -INT -- "-$GROUP"
wait "$sleeper"
wait_server
{
    echo "# terminal 1:"
    echo "\$ cargo run -p step04-reaping -- -v --shutdown-timeout 1"
    normalise <"$work/ctrl-c.out"
    echo "^C"
    normalise <"$work/ctrl-c.err"
    echo "\$ echo \$?"
    echo "$STATUS"
    echo
    echo "# terminal 2, started a second before the Ctrl-C:"
    echo "\$ curl -sS 'http://127.0.0.1:8080/sleep?ms=5000'"
    normalise <"$work/ctrl-c.curl"
    echo "\$ echo \$?"
    cat "$work/ctrl-c.status"
} >"$work/ctrl-c.txt"
finish ctrl-c.txt

# --- Flask, with reaping ------------------------------------------------------

if [[ -n "$python_bin" ]]; then
    launch python "$python_bin" -p 0 --wsgi flaskapp:app
    announce python.txt python "# terminal 1:" \
        "cargo run -p step04-reaping --features python -- --wsgi flaskapp:app"
    say python.txt "# terminal 2:"
    shot python.txt "curl -s http://127.0.0.1:8080/hello/reader"
    shot python.txt "cargo run -q -p loadgen -- -c 20 -n 10 http://127.0.0.1:8080/hello/reader"
    sleep 1
    shot python.txt "$ps_children"
    finish python.txt
    stop_server
else
    echo "no .venv-wsgi (see the README): python.txt left as it was" >&2
fi

echo "transcripts written to $here"
