#!/usr/bin/env bash
# Regenerates the terminal sessions shown in chapter 3 of the book.
#
# Every *.txt file beside this script is the output of the commands written on
# its `$` lines, run against the real step03-fork binary and the workspace's
# load client. Run this script after changing step03 (or the step01/step02
# code it reuses, or loadgen) and commit whatever changed:
#
#     book/transcripts/ch03/regenerate.sh
#
# The conventions are chapter 2's, and the helpers lib.sh's (../lib.sh):
# - Each server listens on a free port (`-p 0`, added to the command the
#   chapter shows); the script reads the port from the first line it prints,
#   `Listening on http://ADDR`. The commands are written with the book's port
#   8080 and run with 8080 replaced by the real port (lib.sh's `expand`,
#   redefined here); any other mention of the real port in the output
#   becomes 8080, and the `-p 0` is left out of the command lines `ps`
#   prints.
# - Each server runs on a terminal of its own, as in the reader's terminal 1:
#   it is started under `script`, which gives it a pseudo-terminal for its
#   standard input, output and error and makes it the leader of a new session
#   (and process group), with its children. This is what the descriptor
#   listings show as 0, 1 and 2. Descriptors this script inherited are closed
#   first, so that the server starts with exactly what a shell gives it.
#   The server runs from a scratch directory holding a copy of the binary at
#   target/debug/step03-fork, so that `ps` shows the path `cargo run` shows,
#   and nothing built meanwhile (another chapter's script, a test run)
#   changes what the sessions show.
# - `pgrep` and `ps -C step03-fork` answer only with processes of the session
#   of the server this script started: the server and its children, which is
#   what they find on the reader's machine. `pgrep -o` is the oldest, the
#   parent; `pgrep -n` the newest, the latest child. `cargo run -q -p loadgen
#   -- ARGS` runs a copy of the load client with ARGS.
# - Besides what lib.sh rewrites (log timestamps, the load client's times
#   and rates, colour codes, carriage returns), file dates
#   in `ls -l` `<date>`, the owner and group of those files `ann ann` (the
#   reader's own), the terminal `/dev/pts/0`, a resident size `<n> kB`.
#   Socket inode numbers become 81001, 81002, … and PIDs (and thread IDs)
#   4242, 4243, … each in the order it first appears in the whole run, so
#   that the same socket or process keeps its number from file to file; the
#   shell a server was started from is 3800. In a row of `ps`, a rewritten
#   PID keeps its column's width.
# - curl runs through a small wrapper on PATH (so that `timeout curl` finds it
#   too) that adds --no-buffer, as on a terminal: writing into a file it
#   would otherwise hold the body back, and lose it when `timeout` ends it.
# - Every server the script starts is stopped by the PID of the binary itself
#   (SIGTERM to its process group, children included: lib.sh's stop_group),
#   and lib.sh's trap on EXIT kills each group still there: no server, child
#   or zombie parent is left behind. The zombies of a stopped server are
#   reaped by init.
# - The Flask session (python.txt) is regenerated only when the virtualenv of
#   the README's one-time setup exists (`.venv-wsgi`); otherwise the file is
#   left as it was.
# - Needs: cargo, curl, script and setsid (util-linux), ps, pgrep (procps),
#   ss (iproute2), timeout (coreutils), GNU sed, awk, perl.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
STOP_SIGNAL=TERM

# --- The binaries -------------------------------------------------------------

# The Python build comes first: it writes the same target path, which the
# plain build then restores.
venv="$root/.venv-wsgi"
python_dir=""
if [[ -x "$venv/bin/python" ]]; then
    PYO3_PYTHON="$venv/bin/python" cargo build --quiet -p step03-fork --features python
    python_dir="$work/python"
    mkdir -p "$python_dir/target/debug"
    cp "$target/debug/step03-fork" "$python_dir/target/debug/"
fi
cargo build --quiet -p step03-fork -p loadgen
run_dir="$work/run"
mkdir -p "$run_dir/target/debug"
cp "$target/debug/step03-fork" "$target/debug/stepwise-load" "$run_dir/target/debug/"

# --- Starting and stopping servers ----------------------------------------------

# launch NAME DIR COMMAND: runs the shell command COMMAND from DIR on a
# terminal of its own (see above) and waits until it listens. This chapter's
# own, in place of lib.sh's, which starts servers without a terminal; it
# sets the same variables: PORT, SERVER_PID and GROUP (the binary, which
# leads its own session and process group) and JOB (the `script` process
# holding its terminal). Everything the server writes, stdout and stderr,
# goes to $work/NAME.out.
launch() {
    local name="$1" dir="$2" command="$3"
    (
        # Close what this script inherited (descriptors 3 and up).
        for fd in /proc/"$BASHPID"/fd/*; do
            fd="${fd##*/}"
            if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        cd "$dir"
        exec env -u RUST_BACKTRACE -u VIRTUAL_ENV -u PYTHONHOME -u PYTHONPATH \
            SHELL=/bin/sh script -qefc "exec $command" /dev/null
    ) </dev/null >"$work/$name.out" 2>&1 &
    JOB=$!
    await "$JOB"
    SERVER_PID=""
    local port=""
    for _ in $(seq 300); do
        [[ -n "$SERVER_PID" ]] || SERVER_PID="$(command pgrep -P "$JOB" || true)"
        port="$(listening_port "$work/$name.out")"
        [[ -n "$SERVER_PID" && -n "$port" ]] && break
        sleep 0.1
    done
    [[ -n "$SERVER_PID" && -n "$port" ]] || {
        echo "server $name did not start:" >&2
        cat "$work/$name.out" >&2
        exit 1
    }
    GROUP="$SERVER_PID"
    own_group "$GROUP"
    PORT="$port"
    # The shell of terminal 1, in the reader's session.
    echo "pid $JOB 3800" >>"$work/ids"
}

# --- The helpers the chapter's commands use ------------------------------------

# curl is a program on PATH, not a function (lib.sh's is unset), so that
# `timeout curl …` finds it.
unset -f curl
mkdir "$work/wrap"
printf '#!/bin/sh\nexec %s --no-buffer "$@"\n' "$(command -v curl)" >"$work/wrap/curl"
chmod +x "$work/wrap/curl"
PATH="$work/wrap:$PATH"
pgrep() { command pgrep -s "$SERVER_PID" "$@"; }
ps() {
    local args=()
    while (($#)); do
        if [[ "$1" == -C && "${2:-}" == step03-fork ]]; then
            args+=(--sid "$SERVER_PID")
            shift 2
        else
            args+=("$1")
            shift
        fi
    done
    command ps "${args[@]}"
}
cargo() {
    if [[ "$*" == "run -q -p loadgen -- "* ]]; then
        shift 5
        "$run_dir/target/debug/stepwise-load" "$@"
    else
        command cargo "$@"
    fi
}

# --- Normalising ---------------------------------------------------------------

# ids: rewrites socket inodes and the PIDs in $work/known (see the header),
# remembering each number it gave in $work/ids.
cat >"$work/ids.pl" <<'EOF'
use strict;
use warnings;
my ($state, $knownfile, $server) = @ARGV;
@ARGV = ();
my (%pid, %sock);
my ($next_pid, $next_sock) = (4242, 81001);
if (open my $f, '<', $state) {
    while (<$f>) {
        my ($kind, $real, $new) = split;
        if ($kind eq 'pid') {
            $pid{$real} = $new;
            $next_pid = $new + 1 if $new >= $next_pid;
        } else {
            $sock{$real} = $new;
            $next_sock = $new + 1 if $new >= $next_sock;
        }
    }
    close $f;
}
my %known;
if (open my $f, '<', $knownfile) {
    while (<$f>) { $known{$1} = 1 if /^\s*(\d+)\s*$/; }
    close $f;
}
my @lines = <STDIN>;
# The server is numbered before its children, wherever it first appears.
if (defined $server && $server ne '' && !exists $pid{$server}
    && grep { my $l = $_; grep { $known{$_} } $l =~ /\b(\d+)\b/g } @lines) {
    $pid{$server} = $next_pid++;
}
for my $line (@lines) {
    $line =~ s{socket:\[(\d+)\]}{
        $sock{$1} //= $next_sock++;
        "socket:[$sock{$1}]"
    }ge;
    # A row of ps (PID, PPID or TID, …): right-aligned numeric columns.
    my $columns = $line =~ /^ *\d+ +\d+ /;
    $line =~ s{( *)\b(\d+)\b}{
        my ($space, $num) = ($1, $2);
        # Only a number standing in a column of its own keeps its width.
        my $in_column = $columns && ($space ne '' || $-[0] == 0);
        if (exists $pid{$num} || $known{$num}) {
            $pid{$num} //= $next_pid++;
            $in_column
                ? sprintf("%*s", length($space) + length($num), $pid{$num})
                : "$space$pid{$num}";
        } else {
            "$space$num";
        }
    }ge;
    print $line;
}
open my $out, '>', $state or die "cannot write $state: $!";
print $out "pid $_ $pid{$_}\n" for sort keys %pid;
print $out "sock $_ $sock{$_}\n" for sort keys %sock;
close $out;
EOF
touch "$work/ids"

# known: the PIDs and thread IDs of the current server's session right now
# (the server, its children, zombies included, and their threads).
known() {
    {
        echo "$SERVER_PID"
        command ps -L -o lwp= --sid "$SERVER_PID" 2>/dev/null || true
    } >"$work/known"
}

user="$(id -un)"
group="$(id -gn)"

# The rewrites of the header, after lib.sh's.
TIDY=(
    -e "s/^([-lrwxsStT]{10}\\.? +[0-9]+ )$user +$group /\\1ann ann /"
    -e 's/ [A-Z][a-z]{2} +[0-9]{1,2} +[0-9]{2}:[0-9]{2} / <date> /'
    -e 's#/dev/pts/[0-9]+#/dev/pts/0#g'
    -e 's/^(VmRSS:[[:space:]]+)[0-9]+ kB/\1<n> kB/'
    -e 's#(target/debug/step03-fork.*) -p 0$#\1#'
    -e 's/(127\.0\.0\.1:)(3[2-9]|[4-6][0-9])[0-9]{3}( +users| *$)/\151000\3/'
)
renumber() { perl "$work/ids.pl" "$work/ids" "$work/known" "${SERVER_PID:-}"; }
TIDY_FILTER=(renumber)

# The commands are run with 8080 replaced by the real port, and shown as
# written, through normalise: a command line may name a PID. The PIDs of the
# server's session are taken first (known), after the command has run.
expand() { printf '%s' "${1//8080/$PORT}"; }
show_command() {
    known
    printf '$ %s\n' "$(expand "$1")" | normalise
}

# children_gone: waits (up to ten seconds) until the server's session has no
# process left, zombies included: init has reaped them.
children_gone() {
    for _ in $(seq 100); do
        [[ -z "$(command ps -o pid= --sid "$SERVER_PID" 2>/dev/null || true)" ]] && return 0
        sleep 0.1
    done
    echo "the session of $SERVER_PID still has processes" >&2
}

# Each file is written afresh (python.txt only when it can be).
if [[ -n "$python_dir" ]]; then fresh; else fresh python.txt; fi

sleeping="curl 'http://127.0.0.1:8080/sleep?ms=5000'"

# --- The opening: a slow request no longer blocks a quick one -----------------

launch overlap "$run_dir" "target/debug/step03-fork -p 0"
announce overlap.txt overlap "# terminal 1:" "cargo run -p step03-fork" "head -n 2"
{
    echo '# terminal 2:'
    echo "\$ $sleeping"
    eval "${sleeping//8080/$PORT} -s" >"$work/sleep.txt" &
    sleeper=$!
    sleep 1

    echo '# terminal 3, one second later:'
    echo '$ time curl -s -o /dev/null http://127.0.0.1:8080/'
    timed curl -s -o /dev/null "http://127.0.0.1:$PORT/"

    wait "$sleeper"
    echo '# terminal 2, five seconds after its request:'
    normalise <"$work/sleep.txt"
} >>"$here/overlap.txt"
stop_group

# --- Descriptors after fork, in the parent and in a child ------------------------

launch fds "$run_dir" "target/debug/step03-fork -p 0"
announce fds.txt fds "# terminal 1:" "cargo run -p step03-fork" "head -n 2"
say fds.txt '# terminal 2:' "\$ $sleeping"
eval "${sleeping//8080/$PORT} -s" >"$work/sleep.txt" &
sleeper=$!
sleep 0.5
say fds.txt '# terminal 3, while it sleeps:'
shot fds.txt 'ps -o pid,ppid,stat,cmd -C step03-fork'
shot fds.txt 'ls -l /proc/$(pgrep -o step03-fork)/fd'
shot fds.txt 'ls -l /proc/$(pgrep -n step03-fork)/fd'
wait "$sleeper"
stop_group

# --- The bug on purpose: the parent keeps its copies --------------------------------

stream="timeout 3 curl -s -0 'http://127.0.0.1:8080/stream?n=3&ms=0'; echo \"exit status: \$?\""

launch leak "$run_dir" "target/debug/step03-fork --leak-client-sockets -p 0"
announce leak.txt leak "# terminal 1:" "cargo run -p step03-fork -- --leak-client-sockets" "head -n 2"
say leak.txt '# terminal 2:'
shot leak.txt "$stream"
shot leak.txt "timeout 3 curl -s -0 http://127.0.0.1:8080/hello/you; echo \"exit status: \$?\""
shot leak.txt "timeout 3 curl -s 'http://127.0.0.1:8080/stream?n=3&ms=0'; echo \"exit status: \$?\""
shot leak.txt "ss -tnp state close-wait '( sport = :8080 )'"

# The same server, during a slow request.
say leak-fds.txt '# terminal 2:' "\$ $sleeping"
eval "${sleeping//8080/$PORT} -s" >"$work/sleep.txt" &
sleeper=$!
sleep 0.5
say leak-fds.txt '# terminal 3, while it sleeps:'
shot leak-fds.txt 'ls -l /proc/$(pgrep -o step03-fork)/fd'
shot leak-fds.txt 'ls -l /proc/$(pgrep -n step03-fork)/fd'
wait "$sleeper"
stop_group

launch fixed "$run_dir" "target/debug/step03-fork -p 0"
announce leak-fixed.txt fixed "# terminal 1:" "cargo run -p step03-fork" "head -n 2"
say leak-fixed.txt '# terminal 2:'
shot leak-fixed.txt "$stream"
stop_group

# --- Running out of descriptors --------------------------------------------------

launch exhaustion "$run_dir" "bash -c 'ulimit -n 64; exec target/debug/step03-fork --leak-client-sockets -p 0'"
announce exhaustion.txt exhaustion "# terminal 1:" \
    "bash -c 'ulimit -n 64; exec target/debug/step03-fork --leak-client-sockets'" "head -n 2"
say exhaustion.txt '# terminal 2:'
shot exhaustion.txt "grep 'open files' /proc/\$(pgrep -o step03-fork)/limits"
shot exhaustion.txt 'ls /proc/$(pgrep -o step03-fork)/fd | wc -l'
shot exhaustion.txt 'cargo run -q -p loadgen -- -c 10 -n 20 --timeout 1 http://127.0.0.1:8080/hello/you'
shot exhaustion.txt 'ls /proc/$(pgrep -o step03-fork)/fd | wc -l'
shot exhaustion.txt "timeout 3 curl -s http://127.0.0.1:8080/; echo \"exit status: \$?\""
{
    echo '# terminal 1, meanwhile (its first lines; one more every 100 ms, for ever):'
    grep -m 3 'accept failed' "$work/exhaustion.out" | normalise
} >>"$here/exhaustion.txt"
stop_group

# --- Zombies ------------------------------------------------------------------

launch zombies "$run_dir" "target/debug/step03-fork -p 0"
announce zombies.txt zombies "# terminal 1:" "cargo run -p step03-fork" "head -n 2"
say zombies.txt '# terminal 2:'
shot zombies.txt 'cargo run -q -p loadgen -- -c 10 -n 20 http://127.0.0.1:8080/hello/you'
# Each child exits once its client has closed; give the last ones time.
sleep 1
shot zombies.txt 'ps -o pid,ppid,stat,cmd --ppid $(pgrep -o step03-fork) | head -n 6'
shot zombies.txt 'ps --no-headers --ppid $(pgrep -o step03-fork) | wc -l'
first="$(command ps -o pid= --ppid "$SERVER_PID" | head -n 1 | tr -d ' ')"
shot zombies.txt "grep -E '^(State|PPid|FDSize|VmRSS)' /proc/$first/status"
shot zombies.txt "grep -E '^(State|PPid|FDSize|VmRSS)' /proc/\$(pgrep -o step03-fork)/status"
shot zombies.txt "kill -9 $first; echo \"exit status: \$?\""
shot zombies.txt "ps -o pid,ppid,stat,cmd -p $first"
shot zombies.txt 'kill $(pgrep -o step03-fork)'
wait_server
children_gone
say zombies.txt '# a moment later:'
shot zombies.txt "ps -o pid,ppid,stat,cmd -p $first"

# --- The load client --------------------------------------------------------------

shot loadgen-help.txt 'cargo run -q -p loadgen -- --help'

# --- Flask, forked ----------------------------------------------------------------

if [[ -n "$python_dir" ]]; then
    : >"$here/python.txt"
    run="cargo run -p step03-fork --features python --"
    launch flask "$python_dir" "target/debug/step03-fork --wsgi flaskapp:app -p 0"
    announce python.txt flask "# terminal 1:" "$run --wsgi flaskapp:app" "head -n 2"
    say python.txt '# terminal 2:'
    shot python.txt 'curl -s http://127.0.0.1:8080/'
    shot python.txt 'curl -s http://127.0.0.1:8080/hello/reader'
    shot python.txt 'ps -T -o pid,tid,comm -p $(pgrep -o step03-fork)'
    sleep 0.5
    shot python.txt 'ps -o pid,ppid,stat,cmd --ppid $(pgrep -o step03-fork)'
    stop_group

    launch wsgiapp "$python_dir" "target/debug/step03-fork --wsgi wsgiapp:app -p 0"
    announce python.txt wsgiapp "# terminal 1, after Ctrl-C:" "$run --wsgi wsgiapp:app" "head -n 2"
    say python.txt '# terminal 2:'
    shot python.txt 'for i in 1 2 3; do curl -s http://127.0.0.1:8080/local; done'
    shot python.txt "curl -s http://127.0.0.1:8080/environ | grep -E '^wsgi\\.multi'"
    streaming="curl -s 'http://127.0.0.1:8080/stream?n=300' | tail -n 1"
    say python.txt "\$ $streaming"
    eval "${streaming//8080/$PORT}" >"$work/stream.txt" &
    streamer=$!
    sleep 1
    say python.txt '# terminal 3, while it streams:'
    shot python.txt 'ps -T -o pid,tid,comm -p $(pgrep -n step03-fork)'
    wait "$streamer"
    say python.txt '# terminal 2, a few seconds after its request:'
    normalise <"$work/stream.txt" >>"$here/python.txt"
    stop_group
fi

echo "transcripts written to $here"
