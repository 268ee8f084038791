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
# The conventions are chapter 2's (book/transcripts/ch02/regenerate.sh):
# - Each server listens on a free port (`-p 0`); the script reads the port
#   from the line it prints, `Listening on http://ADDR`. The commands are
#   written with the book's port 8080, and run with 8080 replaced by the real
#   port. Any other mention of the real port in the output becomes 8080.
# - `pgrep` answers with the PID of the server this script started, which is
#   what the reader's `pgrep -o step04-reaping` finds (`-o`, the oldest: the
#   parent, not one of its children).
# - What changes from run to run is rewritten: log timestamps become
#   `<time>`, the timing middleware's measurements `<t>ms`, the load
#   client's times and rates `<t>` and `<r>`, addresses in strace's output
#   `<addr>`, the client's port in strace's output 51000. PIDs become stable
#   numbers that keep the columns of `ps` aligned: the server is 4100, the
#   other processes of one session 4101, 4102, … in the order they first
#   appear, and the shell that sends a signal 3800.
# - Not rewritten, on purpose: how many zombies `--reap once` leaves, and how
#   many SIGCHLD the server received for its 200 children. They depend on
#   timing and change from run to run; the chapter says so. If a run of
#   `--reap once` happens to leave no zombie at all, the burst is tried again
#   on a fresh server, up to five times (the script says when it retried).
# - Every server is started with `setsid`, so that it leads a process group
#   of its own with its children. The script stops each server it started
#   by the PID of the binary itself, and if it exits early, the trap on EXIT
#   kills each group that is still there: no server, child or zombie parent
#   is left behind.
# - The Flask session (python.txt) is regenerated only when the virtualenv of
#   the README's one-time setup exists (`.venv-wsgi`); otherwise the file
#   is left as it was. The strace session (strace.txt) needs strace.
# - Needs: cargo, curl, ps and pgrep (procps), setsid (util-linux), strace,
#   GNU sed, awk, perl.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"

work="$(mktemp -d)"
jobs_started=() # the background jobs this script started, to wait for
groups=()       # the process groups they lead (their PIDs)
cleanup() {
    local group job
    for group in "${groups[@]}"; do
        # Only a group whose leader is still one of ours (or its zombie).
        case "$(cat "/proc/$group/comm" 2>/dev/null || true)" in
        step04-reaping | strace) kill -KILL -- "-$group" 2>/dev/null || true ;;
        esac
    done
    for job in "${jobs_started[@]}"; do
        wait "$job" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

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

# launch NAME COMMAND...: starts COMMAND (a server on port 0, or strace
# running one) as the leader of a new session, and waits until it listens.
# Sets PORT, JOB (the background job, whose exit status is the server's),
# GROUP (the PID of COMMAND, the leader of the group) and SERVER_PID (the
# server itself: GROUP, or strace's child). Its stdout goes to $work/NAME.out
# and its stderr to $work/NAME.err.
launch() {
    local name="$1"
    shift
    # The inner shell writes its own PID, then becomes COMMAND: that PID is
    # COMMAND's, whether or not setsid had to fork (`-w` then waits for it).
    setsid -w bash -c 'echo $$ >"$0"; exec "$@"' "$work/$name.pid" \
        env -u RUST_BACKTRACE -u VIRTUAL_ENV -u PYTHONHOME -u PYTHONPATH NO_COLOR=1 "$@" \
        >"$work/$name.out" 2>"$work/$name.err" &
    JOB=$!
    jobs_started+=("$JOB")
    local line=""
    for _ in $(seq 300); do
        line="$(grep -h -m 1 '^Listening on http://' "$work/$name.out" "$work/$name.err" 2>/dev/null | head -n 1 || true)"
        [[ -n "$line" && -s "$work/$name.pid" ]] && break
        sleep 0.1
    done
    [[ -n "$line" ]] || {
        echo "server $name did not start:" >&2
        cat "$work/$name.err" >&2
        exit 1
    }
    PORT="${line##*:}"
    GROUP="$(cat "$work/$name.pid")"
    groups+=("$GROUP")
    SERVER_PID="$GROUP"
    if [[ "$(cat "/proc/$GROUP/comm")" == strace ]]; then
        SERVER_PID="$(command pgrep -P "$GROUP" -x step04-reaping)"
    fi
}

# stop_server [SIGNAL]: sends SIGNAL (default TERM) to the server alone,
# waits for it to exit, and sets STATUS to its exit status.
stop_server() {
    kill "-${1:-TERM}" "$SERVER_PID"
    wait_server
}

# wait_server: waits for the server (already told to stop) to exit; sets
# STATUS. A server that is gone is forgotten by the cleanup.
wait_server() {
    STATUS=0
    wait "$JOB" || STATUS=$?
    local kept=() group
    for group in "${groups[@]}"; do
        [[ "$group" == "$GROUP" ]] || kept+=("$group")
    done
    groups=("${kept[@]}")
}

# The helpers the chapter's commands use, aimed at the real server.
pgrep() { echo "$SERVER_PID"; }

normalise() {
    tr -d '\r' |
        sed -E \
            -e 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/<time>/' \
            -e 's/( took )[0-9.]+ms/\1<t>ms/' \
            -e 's/^([0-9]+ requests in )[0-9.]+s(, [0-9]+ errors, )[0-9.]+( requests\/s)/\1<t>s\2<r>\3/' \
            -e 's/(p50|p90|p99|max) [0-9.]+(ns|µs|us|ms|s)\b/\1 <t>/g' \
            -e 's/sin_port=htons\([0-9]+\)/sin_port=htons(51000)/' \
            -e 's/(SI_USER, si_pid=)[0-9]+/\13800/' \
            -e 's/0x[0-9a-f]{6,}/<addr>/g' \
            -e "s/\\b${PORT:-8080}\\b/8080/g"
}

# pids SERVER [PID...]: rewrites the server's PID as 4100 and each other PID
# given, in the order it first appears, as 4101, 4102, … In a row of `ps`
# (PID, PPID, STAT, …), where the PIDs are right-aligned in columns, each
# keeps its column's width.
pids() {
    perl -e '
        my ($server, @others) = @ARGV;
        @ARGV = ();
        my %other = map { $_ => 1 } @others;
        my %new = ($server => 4100);
        my $next = 4101;
        while (my $line = <STDIN>) {
            my $columns = $line =~ /^ *\d+ +\d+ +[A-Za-z<+]+ /;
            $line =~ s{( *)\b(\d+)\b}{
                my ($space, $pid) = ($1, $2);
                if (exists $new{$pid} || $other{$pid}) {
                    $new{$pid} //= $next++;
                    $columns
                        ? sprintf("%*s", length($space) + length($pid), $new{$pid})
                        : "$space$new{$pid}";
                } else {
                    "$space$pid";
                }
            }ge;
            print $line;
        }' "$@"
}

# children: the PIDs of the server's children right now (zombies included).
children() { ps -o pid= --ppid "$SERVER_PID" || true; }

# shot FILE COMMAND: appends `$ COMMAND` and its normalised output to the
# draft of FILE. The command is run as written, with 8080 replaced by the
# real port; a command that fails (ps finding no process) does not stop the
# script.
shot() {
    local file="$work/$1" command="$2"
    printf '$ %s\n' "$command" >>"$file"
    { eval "${command//8080/$PORT}" 2>&1 || true; } | normalise >>"$file"
}

# say FILE TEXT...: appends lines to the draft of FILE as they are.
say() {
    local file="$work/$1"
    shift
    printf '%s\n' "$@" >>"$file"
}

# announce FILE NAME HEADING COMMAND: appends the command that started
# server NAME and the lines it printed on stdout, as terminal 1 saw them.
announce() {
    local file="$work/$1" name="$2" heading="$3" command="$4"
    {
        echo "$heading"
        printf '$ %s\n' "$command"
        normalise <"$work/$name.out"
    } >>"$file"
}

# finish FILE [PID...]: writes the draft of FILE beside this script, with the
# server's PID and the PIDs given made stable.
finish() {
    local file="$1"
    shift
    pids "$SERVER_PID" "$@" <"$work/$file" >"$here/$file"
}

load="cargo run -q -p loadgen -- -c 20 -n 10"
ps_children='ps -o pid,ppid,stat,cmd --ppid $(pgrep -o step04-reaping)'

# Each file is written afresh (python.txt only when it can be).
for file in "$here"/*.txt; do
    [[ -e "$file" ]] || continue
    [[ "$file" == */python.txt && -z "$python_bin" ]] && continue
    rm -f -- "$file"
done

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
