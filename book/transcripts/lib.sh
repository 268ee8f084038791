# shellcheck shell=bash
# What the scripts that regenerate the book's terminal sessions share.
#
# Each chapter's regenerate.sh and perf*.sh, in the directories beside this
# file, starts
#
#     here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
#     source "$here/../lib.sh"
#
# and keeps only what is its chapter's own: what to build, which servers to
# start, the commands the chapter shows, and the extra rewrites its output
# needs. Sourcing this file is not running anything: it sets `set -euo
# pipefail`, goes to the repository's root, makes a scratch directory, and
# defines the helpers below.
#
# The conventions every session follows (each script's header adds its own):
# - A server listens on a free port (`-p 0`). The script reads the port from
#   the line the server prints, `Listening on http://ADDR`, and the book
#   shows the default port, 8080 (BOOK_PORT: a session about a second
#   server shows 8081): any mention of the real port in the output is
#   rewritten to it (followed by two spaces or more, as in a table of `ss`,
#   with the columns kept aligned).
# - What changes from run to run is rewritten: HTTP dates become `<date>`,
#   log timestamps `<time>` (`[<time>]` in the access and error logs), the
#   timing middleware's measurements `<t>ms`, the load client's times and
#   rates `<t>` and `<r>`. Colour codes and carriage returns that a
#   terminal would not show are removed.
# - Every process a script starts is stopped when it exits, by its own PID
#   or process group, never by name: nothing it did not start is touched.
#
# The interface, by group (details above each function):
#
#   set up       here (set by the script), root, target, work, OUT
#   clean up     own_group PID, track PID, await PID, at_exit COMMAND
#   servers      SERVER_ENV, launch [--combined] NAME COMMAND...,
#                listening_port FILE..., stop_server [SIG], stop_group [SIG],
#                wait_server; they set PORT, JOB, GROUP, SERVER_PID, STATUS
#   clients      curl (CURL_OPTS), raw, pgrep
#   recording    fresh [KEEP...], shot FILE COMMAND [FILTER], shot_set,
#                shot_timed, say FILE LINE..., announce FILE NAME HEADING
#                COMMAND [FILTER], finish FILE [PID...]
#   hooks        expand COMMAND, show_command COMMAND, finish_filter [PID...]
#                (a script redefines them after sourcing this file)
#   tidying      normalise (TIDY, TIDY_FILTER, BOOK_PORT), literal TEXT,
#                stable_pids SERVER [PID...], stable_etags,
#                stable_session_ids, tenths
#   timing       timed COMMAND..., expect_seconds WHAT LOW HIGH
#   benchmarks   wrk_row WIDTH LABEL WRK-ARGS...
#
# Needs: bash 4.4 or later, setsid (util-linux), GNU sed, awk, perl.

set -euo pipefail

# --- Set up ---------------------------------------------------------------------

# here: the script's own directory, where its transcripts are written. The
# script sets it before sourcing this file.
: "${here:?set here to the directory of the script before sourcing lib.sh}"
# root: the repository; every script runs from there.
root="$(cd "$here/../../.." && pwd)"
cd "$root"
# target: where cargo puts what it builds.
target="${CARGO_TARGET_DIR:-$root/target}"
# work: a scratch directory, removed on exit. Servers' output goes to
# $work/NAME.out and $work/NAME.err, a command's to $work/last.
work="$(mktemp -d)"
# OUT: where shot, say and announce append. By default the transcripts
# themselves; a script that post-processes whole files (finish) sets it to
# $work, which holds the drafts.
OUT="$here"

# --- Cleaning up ------------------------------------------------------------------

groups=()              # process groups led by a server (or strace) we started
declare -A group_comm  # … and the name of each leader when it started
tracked=()             # plain processes to stop at exit
awaited=()             # jobs to wait for at exit (already told to stop, or brief)
exit_hooks=()          # commands to run at exit

# own_group PID: PID leads a process group of ours; at exit, the whole group
# is killed if its leader (or its zombie) is still the same program.
own_group() {
    groups+=("$1")
    group_comm[$1]="$(cat "/proc/$1/comm" 2>/dev/null || true)"
}

# forget_group PID: the group's leader is gone; its PID may be reused, so the
# cleanup must not signal it.
forget_group() {
    local kept=() group
    for group in "${groups[@]}"; do
        [[ "$group" == "$1" ]] || kept+=("$group")
    done
    groups=("${kept[@]}")
}

# track PID: a background process of ours (a server that does not lead a
# group of its own), sent SIGTERM and waited for at exit.
track() { tracked+=("$1"); }

# await PID: a background job of ours that ends by itself; waited for at exit.
await() { awaited+=("$1"); }

# at_exit COMMAND: a shell command to run at exit, before the scratch
# directory is removed (for example, to stop a daemon by its PID file).
at_exit() { exit_hooks+=("$1"); }

lib_cleanup() {
    local hook group pid
    for hook in "${exit_hooks[@]}"; do
        eval "$hook" || true
    done
    for group in "${groups[@]}"; do
        if [[ -n "${group_comm[$group]:-}" &&
            "$(cat "/proc/$group/comm" 2>/dev/null || true)" == "${group_comm[$group]}" ]]; then
            kill -KILL -- "-$group" 2>/dev/null || true
        fi
    done
    for pid in "${tracked[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for pid in "${awaited[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap lib_cleanup EXIT

# --- Servers ----------------------------------------------------------------------

# SERVER_ENV: the environment a server runs in, a reader's: no backtraces,
# no log filter, no Python environment (a binary built with Python must
# find its interpreter by itself), and no colours.
SERVER_ENV=(env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE -u RUST_LOG
    -u VIRTUAL_ENV -u PYTHONHOME -u PYTHONPATH NO_COLOR=1)

# STOP_SIGNAL: what stop_server and stop_group send by default: SIGINT, what
# Ctrl-C sends.
STOP_SIGNAL=INT

# listening_port FILE...: the port in the first `Listening on http://ADDR`
# line of the files, or nothing yet.
listening_port() {
    local line
    line="$(grep -h -m 1 '^Listening on http://' "$@" 2>/dev/null | head -n 1 | tr -d '\r' || true)"
    [[ -z "$line" ]] || printf '%s\n' "${line##*:}"
}

# launch [--combined] NAME COMMAND...: starts COMMAND (a server asked for a
# free port, or strace running one) in SERVER_ENV, as the leader of a new
# session and process group (with its children, if it forks), and waits
# until it listens. Its stdout goes to $work/NAME.out and its stderr to
# $work/NAME.err (with --combined, to NAME.out too, in the order written).
# Sets PORT; JOB, the background job, whose exit status is the server's;
# GROUP, the PID of COMMAND; and SERVER_PID, the server itself: GROUP, or
# strace's child.
launch() {
    local combined=false
    if [[ "$1" == --combined ]]; then
        combined=true
        shift
    fi
    local name="$1"
    shift
    local out="$work/$name.out" err="$work/$name.err"
    # The inner shell writes its own PID, then becomes COMMAND: that PID is
    # COMMAND's, whether or not setsid had to fork (`-w` then waits for it).
    if $combined; then
        err="$out"
        setsid -w bash -c 'echo $$ >"$0"; exec "$@"' "$work/$name.pid" \
            "${SERVER_ENV[@]}" "$@" >"$out" 2>&1 &
    else
        setsid -w bash -c 'echo $$ >"$0"; exec "$@"' "$work/$name.pid" \
            "${SERVER_ENV[@]}" "$@" >"$out" 2>"$err" &
    fi
    JOB=$!
    await "$JOB"
    local port=""
    for _ in $(seq 300); do
        port="$(listening_port "$out" "$err")"
        [[ -n "$port" && -s "$work/$name.pid" ]] && break
        sleep 0.1
    done
    [[ -n "$port" ]] || {
        echo "server $name did not start:" >&2
        cat "$err" >&2
        exit 1
    }
    PORT="$port"
    GROUP="$(cat "$work/$name.pid")"
    own_group "$GROUP"
    SERVER_PID="$GROUP"
    if [[ "$(cat "/proc/$GROUP/comm")" == strace ]]; then
        SERVER_PID=""
        for _ in $(seq 50); do
            SERVER_PID="$(command pgrep -n -P "$GROUP" || true)"
            [[ -n "$SERVER_PID" ]] && break
            sleep 0.1
        done
    fi
}

# stop_server [SIGNAL]: sends SIGNAL (default STOP_SIGNAL) to the server
# alone, and waits for it (wait_server).
stop_server() {
    kill "-${1:-$STOP_SIGNAL}" "$SERVER_PID"
    wait_server
}

# stop_group [SIGNAL]: sends SIGNAL to the server's whole process group, as
# Ctrl-C in its terminal does, and waits for it (wait_server).
stop_group() {
    kill "-${1:-$STOP_SIGNAL}" -- "-$GROUP" 2>/dev/null || true
    wait_server
}

# wait_server: waits for the server (already told to stop) to exit, and sets
# STATUS to its exit status. A server that is gone is forgotten by the
# cleanup.
wait_server() {
    STATUS=0
    wait "$JOB" || STATUS=$?
    forget_group "$GROUP"
}

# --- The helpers the chapters' commands use ------------------------------------------

# BOOK_PORT: the port the book shows for the current server.
BOOK_PORT=8080

# curl: the reader's curl, aimed at the real server. A URL with the book's
# port, 127.0.0.1:BOOK_PORT, reaches the real port while curl sends exactly
# the bytes a reader's curl sends (the same Host header, so the same
# lengths); any other URL is left alone. CURL_OPTS are added in front (for
# example --no-buffer, which a terminal gets without asking).
CURL_OPTS=()
curl() {
    command curl "${CURL_OPTS[@]}" \
        --connect-to "127.0.0.1:$BOOK_PORT:127.0.0.1:${PORT:-$BOOK_PORT}" "$@"
}

# raw: sends its standard input to the server as it is, and prints every byte
# the server sends back until it closes (bash's /dev/tcp, as in the book).
raw() {
    exec 3<>"/dev/tcp/127.0.0.1/$PORT"
    cat >&3
    cat <&3
    exec 3<&-
}

# pgrep: the PID of the server this script started, which is what the
# reader's `pgrep -o NAME` or `pgrep -n NAME` finds.
pgrep() { echo "$SERVER_PID"; }

# --- Recording sessions ----------------------------------------------------------------

# fresh [KEEP...]: removes the transcripts (*.txt) beside the script, except
# those whose names match a KEEP pattern, so that each is written afresh.
fresh() {
    local file keep
    for file in "$here"/*.txt; do
        [[ -e "$file" ]] || continue
        for keep in "$@"; do
            # shellcheck disable=SC2053 # KEEP is a pattern
            [[ "${file##*/}" == $keep ]] && continue 2
        done
        rm -f -- "$file"
    done
}

# expand COMMAND: the command as it is run, from the command as the book
# shows it. By default the same; a script that runs commands with the real
# port, scratch directory or binaries redefines it.
expand() { printf '%s' "$1"; }

# show_command COMMAND: the line a transcript shows for COMMAND.
show_command() { printf '$ %s\n' "$1"; }

# run COMMAND: runs the expanded command in a subshell (so that its `wait`
# waits for its own jobs only), with its output, stdout and stderr, in
# $work/last. A command that fails on purpose does not stop the script.
run() {
    (eval "$(expand "$1")") >"$work/last" 2>&1 || true
}

# shot FILE COMMAND [FILTER]: runs COMMAND, and appends `$ COMMAND` and its
# normalised output (through FILTER too, if given) to FILE in OUT.
shot() {
    local file="$OUT/$1" command="$2" filter="${3:-cat}"
    run "$command"
    show_command "$command" >>"$file"
    normalise <"$work/last" | $filter >>"$file"
}

# shot_set FILE COMMAND: like shot, for a command that sets a variable the
# next commands use: it runs in this shell.
shot_set() {
    local file="$OUT/$1" command="$2"
    show_command "$command" >>"$file"
    eval "$(expand "$command")" >"$work/last" 2>&1 || true
    normalise <"$work/last" >>"$file"
}

# shot_timed FILE COMMAND: like shot, for `time COMMAND`; sets SECONDS_TAKEN.
shot_timed() {
    local file="$OUT/$1" command="$2"
    show_command "time $command" >>"$file"
    timed eval "$(expand "$command")" >"$work/last" 2>&1 || true
    normalise <"$work/last" >>"$file"
}

# say FILE LINE...: appends lines to FILE in OUT as they are.
say() {
    local file="$OUT/$1"
    shift
    printf '%s\n' "$@" >>"$file"
}

# announce FILE NAME HEADING COMMAND [FILTER]: appends HEADING, the command
# that started server NAME, and the lines the server printed on stdout (first
# through FILTER, if given), as its terminal showed them.
announce() {
    local file="$OUT/$1" name="$2" heading="$3" command="$4" filter="${5:-cat}"
    {
        echo "$heading"
        show_command "$command"
        $filter <"$work/$name.out" | normalise
    } >>"$file"
}

# finish FILE [ARG...]: writes the draft of FILE (in OUT) beside the script,
# through finish_filter ARG..., which by default makes the PIDs stable:
# stable_pids SERVER_PID ARG...
finish() {
    local file="$1"
    shift
    finish_filter "$@" <"$OUT/$file" >"$here/$file"
}
finish_filter() { stable_pids "${SERVER_PID:-0}" "$@"; }

# --- Tidying ----------------------------------------------------------------------------

# TIDY: the script's own rewrites, as arguments to `sed -E` (`-e EXPR` …),
# applied after the shared ones. TIDY_FILTER: a command the result goes
# through last (a function of the script's, for rewrites sed cannot do).
TIDY=()
TIDY_FILTER=(cat)

# normalise: a filter from what a command printed to what the transcript
# shows (see the conventions at the top).
normalise() {
    local port="${PORT:-$BOOK_PORT}"
    tr -d '\r' |
        sed -E \
            -e 's/\x1b\[[0-9;]*m//g' \
            -e '/^\* Connecting to (hostname|port): /d' \
            -e "s/:$port(  +)/:$BOOK_PORT \\1/g" \
            -e "s/\\b$port\\b/$BOOK_PORT/g" \
            -e 's/[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT/<date>/g' \
            -e 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/<time>/' \
            -e 's/\[[0-9]{2}\/[A-Z][a-z]{2}\/[0-9]{4}:[0-9:]{8} [+-][0-9]{4}\]/[<time>]/g' \
            -e 's/\[[A-Z][a-z]{2} [A-Z][a-z]{2} [0-9]{2} [0-9:]{8}\.[0-9]{6} [0-9]{4}\]/[<time>]/g' \
            -e 's/( took )[0-9.]+ms/\1<t>ms/' \
            -e 's/^([0-9]+ requests in )[0-9.]+s(, [0-9]+ errors, )[0-9.]+( requests\/s)/\1<t>s\2<r>\3/' \
            -e 's/(p50|p90|p99|max) [0-9.]+(ns|µs|us|ms|s)\b/\1 <t>/g' \
            "${TIDY[@]}" |
        "${TIDY_FILTER[@]}"
}

# literal TEXT: TEXT as a sed pattern (for paths: it escapes `.`, `[`, `\`,
# `*`, `^` and `$`; the paths here never hold `|` or `#`).
literal() { printf '%s' "$1" | sed -e 's/[.[\*^$]/\\&/g'; }

# stable_pids SERVER [PID...]: rewrites the server's PID as 4100 and each
# other PID given, in the order it first appears, as 4101, 4102, … In a row
# of `ps` (a PID, then another number, then the rest), where PIDs are
# right-aligned in columns, each keeps its column's width.
stable_pids() {
    perl -e '
        my ($server, @others) = @ARGV;
        @ARGV = ();
        my %other = map { $_ => 1 } @others;
        my %new = ($server => 4100);
        my $next = 4101;
        while (my $line = <STDIN>) {
            my $columns = $line =~ /^ *\d+ +\d+ +/;
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

# stable_etags: rewrites the part of each ETag ("SIZE-MTIME", in hex) that
# comes from the file's modification time as <mtime>, and the next distinct
# one as <mtime2>, and so on, in the order they first appear; the size part
# is kept.
stable_etags() {
    perl -pe '
        BEGIN { our (%seen, $next); $next = 1; }
        s{"([0-9a-f]+)-([0-9a-f]{9,})"}{
            my ($size, $time) = ($1, $2);
            $seen{$time} //= $next++;
            my $n = $seen{$time} == 1 ? "" : $seen{$time};
            "\"$size-<mtime$n>\"";
        }ge;'
}

# stable_session_ids: rewrites session IDs, which are random, as IDs that
# stay the same from run to run: the N-th distinct ID of a run (this
# script's whole run: the mapping is kept in $work) is always the same
# made-up one, of the same shape. Rewritten: 32 lowercase hex digits
# (step06-full's IDs; also their first eight, as its pages and logs show
# them, in `Session ID8` and `session=ID8`), and PHP's 26 characters from
# 0-9 and a-v after `PHPSESSID=`, `sess_` or `(session `.
stable_session_ids() {
    perl -e '
        use strict;
        use warnings;
        use Digest::MD5 qw(md5_hex);
        my $state = shift @ARGV;
        my (%map, $n);
        $n = 0;
        if (open my $f, "<", $state) {
            while (<$f>) { my ($k, $v) = split; $map{$k} = $v; $n++; }
            close $f;
        }
        my @b32 = (0 .. 9, "a" .. "v");
        # The fake for a key: hex for step06-full, base 32 for PHP.
        my $fake = sub {
            my ($key, $php) = @_;
            return $map{$key} //= do {
                $n++;
                my $hex = md5_hex("stepwise session $n") . md5_hex("stepwise session $n, more");
                $php ? join("", map { $b32[hex(substr($hex, 2 * $_, 2)) % 32] } 0 .. 25)
                     : substr($hex, 0, 32);
            };
        };
        while (my $line = <STDIN>) {
            # Keyed by their first eight digits, so that a short form seen
            # first and the full ID later get the same fake.
            $line =~ s{\b([0-9a-f]{8})([0-9a-f]{24})\b}{
                my $f = $fake->("s:$1"); $f
            }ge;
            $line =~ s{\b(Session |session=)([0-9a-f]{8})\b}{
                $1 . substr($fake->("s:$2"), 0, 8)
            }ge;
            $line =~ s{(PHPSESSID=|sess_|\(session )([0-9a-v]{26})\b}{
                $1 . $fake->("p:$2", 1)
            }ge;
            print $line;
        }
        open my $out, ">", $state or die "cannot write $state: $!";
        print $out "$_ $map{$_}\n" for sort keys %map;
        close $out;' "$work/session-ids"
}

# tenths: rounds lines that are a bare number of seconds (curl's
# %{time_total}) to a tenth of a second.
tenths() { perl -pe 's/^(\d+\.\d+)$/sprintf("%.1f", $1)/e'; }

# --- Timing -------------------------------------------------------------------------------

# timed COMMAND...: runs a command, then prints its wall-clock time the way
# bash's `time` does, rounded to whole seconds (user and sys are left out).
# Sets SECONDS_TAKEN to the exact time.
timed() {
    local start end
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    SECONDS_TAKEN="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')"
    awk -v a="$start" -v b="$end" 'BEGIN { printf "\nreal\t0m%.0fs\n", b - a }'
}

# expect_seconds WHAT LOW HIGH: fails unless LOW <= SECONDS_TAKEN < HIGH, so
# that a script never writes a transcript the text no longer describes.
expect_seconds() {
    awk -v t="$SECONDS_TAKEN" -v lo="$2" -v hi="$3" 'BEGIN { exit !(t >= lo && t < hi) }' || {
        echo "$1 took ${SECONDS_TAKEN}s, expected between $2 and $3 s" >&2
        exit 1
    }
}

# --- Benchmarks (perf*.sh) ------------------------------------------------------------------

# wrk_row WIDTH LABEL WRK-ARGS...: runs `wrk --latency WRK-ARGS...` and
# prints one row of a Markdown table: LABEL (padded to WIDTH), requests per
# second, median and 99th-percentile latency, and the socket errors and
# non-2xx responses wrk reported (0 for none).
wrk_row() {
    local width="$1" label="$2"
    shift 2
    local out rps p50 p99 errors
    out="$(wrk --latency "$@" 2>&1)"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
    p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
    errors="$(grep -E 'Socket errors|Non-2xx' <<<"$out" | tr '\n' ' ' | sed 's/  */ /g' || true)"
    printf "| %-${width}s | %10s | %8s | %8s | %s |\n" "$label" "$rps" "$p50" "$p99" "${errors:-0}"
}
