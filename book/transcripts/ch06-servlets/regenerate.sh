#!/usr/bin/env bash
# Regenerates the terminal sessions shown in chapter 6, part 3 of the book
# ("Servlets and sessions").
#
# Every *.txt file beside this script is the output of the commands written
# on its `$` lines, run against the real step06-full binary (built with
# Python, for the Flask mount), php-cgi, and the shell and Python examples
# the chapter shows. Run this script after changing step06's servlets,
# sessions or mounts and commit whatever changed:
#
#     book/transcripts/ch06-servlets/regenerate.sh
#
# perf-servlets.txt, the measurements, is made by ../ch06/perf-servlets.sh,
# never here.
#
# The conventions are those of part 1 (../ch06/regenerate.sh), and the
# helpers lib.sh's (../lib.sh):
# - The demo sessions use the demo site with the shipped configuration, its
#   logs and sessions moved to the scratch directory so that the demo's own
#   are left alone. Expiry and corrupt records use the chapter's scratch
#   site, /tmp/ch06s (a fresh temporary directory here, written back as
#   /tmp/ch06s), served on the book's port 8081, with the visits servlet at
#   /visits, `idle_timeout = 5` and `sweep_interval = 2`; its sessions run
#   in /tmp/ch06s, as the chapter says.
# - Each server listens on a free port (`-p 0`). The commands are written,
#   and run, with the book's ports: lib.sh's `curl` reaches the real port
#   while sending the bytes a reader's curl sends to 127.0.0.1:8080 (or
#   8081), and any other mention of the real port becomes the book's.
# - Besides what lib.sh rewrites (dates, log timestamps), session IDs,
#   step06-full's and PHP's, are made stable (lib.sh's stable_session_ids):
#   the same session keeps its made-up ID from file to file. `ls` lists in
#   columns, as on a terminal.
# - The expiry session sleeps as the chapter shows (18 seconds in all), and
#   the script fails if its sessions do not come out new, resumed, new, as
#   the text describes.
# - php-cgi keeps its sessions in /var/lib/php/sessions (Debian); the
#   session files this script makes there are deleted on exit.
# - Needs: cargo, curl, python3, php-cgi (Debian: php-cgi), the
#   virtualenv of the README's one-time setup (`.venv-wsgi`), setsid
#   (util-linux), xargs, GNU sed, awk, perl.
set -euo pipefail
export LC_ALL=C

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
umask 022
chmod 755 "$work"
# The transcripts are drafted in $work, and finished beside this script.
OUT="$work"

command -v php-cgi >/dev/null || {
    echo "php-cgi is not installed (Debian: apt-get install php-cgi)" >&2
    exit 1
}
venv="$root/.venv-wsgi"
[[ -x "$venv/bin/python" ]] || {
    echo "no .venv-wsgi: do the README's one-time Python setup first" >&2
    exit 1
}

# The sessions run a copy of the binary, built with Python as the chapter's
# mounts need, so that nothing built meanwhile changes what they show.
PYO3_PYTHON="$venv/bin/python" cargo build -q -p step06-full --features python
bin="$work/step06-full"
cp "$target/debug/step06-full" "$bin"

# The shipped configuration, with its logs and sessions in the scratch
# directory, and nothing copied to stderr. Paths are made absolute, since
# the copy lives elsewhere.
shipped="$work/shipped.toml"
sed -E \
    -e "s#^document_root = \"demo/www\"#document_root = \"$root/step06-full/demo/www\"#" \
    -e "s#^(access|error) = \"demo/logs/#\\1 = \"$work/demo-logs/#" \
    -e "s#^directory = \"demo/sessions\"#directory = \"$work/demo-sessions\"#" \
    -e 's#^stderr = "auto"#stderr = "never"#' \
    -e "s#^pythonpath = \\[\"\\.\\./#pythonpath = [\"$root/#" \
    step06-full/stepwise.toml >"$shipped"
grep -q "$work/demo-sessions" "$shipped" && grep -q "\"$root/step02-wsgi/python\"" "$shipped" || {
    echo "could not redirect the shipped configuration's sessions and pythonpath" >&2
    exit 1
}

# The reader's current directory for the demo sessions (curl's cookie jars
# are written there), and the scratch site.
home="$work/home"
scratch="$work/ch06s"
mkdir -p "$home" "$scratch/www"

BOOK_PORT=8080
TIDY=(
    -e "s#$scratch#/tmp/ch06s#g"
    -e "s#$root#~/stepwise#g"
)
TIDY_FILTER=(stable_session_ids)
finish_filter() { cat; }

# ls lists in columns, as on the reader's terminal.
ls() { command ls -C "$@"; }

# xargs runs the curl program, not lib.sh's function: it is given the real
# port the same way.
expand() {
    local from='-I{} curl ' to="-I{} curl --connect-to 127.0.0.1:8080:127.0.0.1:$PORT "
    printf '%s' "${1//"$from"/"$to"}"
}

# php-cgi's session files are not the reader's to keep: those named in the
# jars, the one planted by name, and the one strict mode made up.
php_sessions=(chosenbymallory)
at_exit 'for id in "${php_sessions[@]}" $(cat "$home"/pj 2>/dev/null | awk '\''/PHPSESSID/ {print $7}'\''); do rm -f "/var/lib/php/sessions/sess_$id"; done'

# Each file is written afresh.
fresh

# --- The opening: visits, a login, two mounted applications ---------------------

launch demo "$bin" --config "$shipped" -p 0
cd "$home"
shot visits.txt "curl -si -c jar -b jar http://127.0.0.1:8080/servlet/visits \\
    | grep -E '^(HTTP|Set-Cookie|Cache-Control)|Visit number|Session '"
shot visits.txt "curl -si -c jar -b jar 'http://127.0.0.1:8080/servlet/visits/extra?x=1' \\
    | grep -E '^(HTTP|Set-Cookie|Cache-Control)|Visit number|Session |<li>|<code>|_INFO|SCRIPT_NAME'"
finish visits.txt

shot login.txt "curl -si -c jar -b jar -d name=Ann http://127.0.0.1:8080/servlet/login \\
    | grep -E '^(HTTP|Location|Set-Cookie)'"
shot login.txt "curl -s -c jar -b jar http://127.0.0.1:8080/servlet/login | grep 'id=\"user\"'"
shot login.txt "grep STEPWISE jar"
shot login.txt "curl -si -c jar -b jar -d action=logout http://127.0.0.1:8080/servlet/login \\
    | grep -E '^(HTTP|Set-Cookie)'"
shot login.txt "curl -s -c jar -b jar http://127.0.0.1:8080/servlet/login | grep 'id=\"user\"'"
finish login.txt

shot mounts.txt "curl -s http://127.0.0.1:8080/apps/framework/environ | grep -E '^(SCRIPT_NAME|PATH_INFO)='"
shot mounts.txt "curl -s http://127.0.0.1:8080/py/hello/Ann"
shot mounts.txt "curl -si http://127.0.0.1:8080/py | grep -E '^(HTTP|Location)'"
finish mounts.txt

# --- Hostile and planted cookies ------------------------------------------------

shot hostile-cookie.txt "curl -si -b 'STEPWISE_SESSION=../../etc/passwd' http://127.0.0.1:8080/servlet/visits \\
    | grep -E '^(HTTP|Set-Cookie)|visits\"'"
finish hostile-cookie.txt

shot fixation.txt "curl -si -b 'STEPWISE_SESSION=0123456789abcdef0123456789abcdef' -d name=Mallory \\
    http://127.0.0.1:8080/servlet/login | grep -E '^(HTTP|Set-Cookie)'"
finish fixation.txt

# --- Fifty requests, one session -------------------------------------------------

mkdir "$home/fifty"
cd "$home/fifty"
shot fifty.txt "curl -s -c jar -o /dev/null http://127.0.0.1:8080/servlet/visits"
shot fifty.txt "seq 200 | xargs -P 50 -I{} curl -s -b jar -o /dev/null http://127.0.0.1:8080/servlet/visits"
shot fifty.txt "curl -s -b jar http://127.0.0.1:8080/servlet/visits | grep -o 'Visit number.*</h1>'"
finish fifty.txt
grep -q '"visits">202<' "$work/fifty.txt" || {
    echo "fifty: expected 202 visits, got:" >&2
    tail -n 1 "$work/fifty.txt" >&2
    exit 1
}
cd "$home"

# --- PHP's sessions -------------------------------------------------------------

shot php-age.txt "curl -s -c pj -b pj http://127.0.0.1:8080/php/ | grep -o 'visits\">[0-9]*'"
shot php-age.txt "touch -d '2 days ago' /var/lib/php/sessions/sess_\$(awk '/PHPSESSID/ {print \$7}' pj)"
shot php-age.txt "curl -s -c pj -b pj http://127.0.0.1:8080/php/ | grep -o 'visits\">[0-9]*'"
finish php-age.txt

shot php-adopt.txt "curl -si -b 'PHPSESSID=chosenbymallory' http://127.0.0.1:8080/php/ \\
    | grep -E '^(HTTP|Set-Cookie)|session '"
shot php-adopt.txt "ls /var/lib/php/sessions/sess_chosenbymallory"
finish php-adopt.txt
cd "$root"
stop_server

# php-cgi by hand, in step06-full/demo, as the chapter runs it.
cd "$root/step06-full/demo"
shot php-strict.txt "env -i HTTP_COOKIE=PHPSESSID=plantedbymallory SCRIPT_FILENAME=\$PWD/www/php/index.php \\
    REDIRECT_STATUS=200 REQUEST_METHOD=GET GATEWAY_INTERFACE=CGI/1.1 \\
    php-cgi -d session.use_strict_mode=1 2>/dev/null | grep -E '^Set-Cookie|session '"
mapfile -t -O "${#php_sessions[@]}" php_sessions < <(grep -oE 'PHPSESSID=[0-9a-v]+' "$work/last" | cut -d= -f2 || true)
finish php-strict.txt
cd "$root"

# --- Expiry and corrupt records: the scratch site on port 8081 -------------------

cat >"$scratch/site.toml" <<'EOF'
[server]
listen = ["127.0.0.1:8081"]
document_root = "www"

[log]
error = "logs/error.log"
stderr = "never"

[sessions]
directory = "sessions"
idle_timeout = 5
sweep_interval = 2

[[mount]]
path = "/visits"
servlet = "visits"
sessions = true
EOF
BOOK_PORT=8081
launch scratch "$bin" --config "$scratch/site.toml" -p 0
cd "$scratch"
shot_set expiry.txt "P='^Set-Cookie|Visit number|Session '"
shot expiry.txt "curl -si -c jar -b jar http://127.0.0.1:8081/visits | grep -E \"\$P\""
shot expiry.txt "sleep 4; curl -si -c jar -b jar http://127.0.0.1:8081/visits | grep -E \"\$P\""
shot expiry.txt "sleep 6; curl -si -c jar -b jar http://127.0.0.1:8081/visits | grep -E \"\$P\""
shot expiry.txt "ls sessions/"
shot expiry.txt "sleep 8; ls sessions/"
finish expiry.txt
[[ "$(grep -oE '\((new|resumed)\)' "$here/expiry.txt" | tr '\n' ' ')" == "(new) (resumed) (new) " ]] || {
    echo "expiry: expected new, resumed, new; got:" >&2
    cat "$here/expiry.txt" >&2
    exit 1
}

shot corrupt.txt "rm jar; curl -s -c jar -b jar -o /dev/null http://127.0.0.1:8081/visits"
shot corrupt.txt "id=\$(awk '/STEPWISE/ {print \$7}' jar); echo garbage > sessions/\$id.json"
shot corrupt.txt "curl -si -c jar -b jar http://127.0.0.1:8081/visits | grep -E \"\$P\""
shot corrupt.txt "id=\$(awk '/STEPWISE/ {print \$7}' jar); ln -sf /etc/passwd sessions/\$id.json"
shot corrupt.txt "curl -si -c jar -b jar http://127.0.0.1:8081/visits | grep -E \"\$P\""
finish corrupt.txt
cd "$root"
stop_server
BOOK_PORT=8080
# The error log, for each: the lines about the damaged records (the
# timestamp and the PID cut).
grep 'corrupt session record' "$scratch/logs/error.log" | cut -d' ' -f6,10- | normalise >"$here/corrupt-log.txt"

# --- Locks, by hand: the shell and Python --------------------------------------

mkdir "$work/locks"
cd "$work/locks"
cat >race.sh <<'EOF'
echo 1 > n
( exec 9<n; flock 9; sleep 1; echo 2 > n.tmp; mv n.tmp n ) &
sleep 0.2
( exec 9<n; flock 9; echo "B read: $(cat <&9)"; echo "the name holds: $(cat n)" )
wait
EOF
shot race.txt "cat race.sh"
shot race.txt "bash race.sh"
finish race.txt

cat >locks.py <<'EOF'
import fcntl, threading

def grab(how, name):
    f = open("session.lock", "w")          # each thread opens the file itself
    try:
        how(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print(f"{how.__name__}: {name} holds the lock")
    except BlockingIOError:
        print(f"{how.__name__}: {name} must wait")
    return f                               # keep it open, and locked

for how in (fcntl.lockf, fcntl.flock):
    kept = []
    for name in ("thread 1", "thread 2"):
        t = threading.Thread(target=lambda: kept.append(grab(how, name)))
        t.start(); t.join()
EOF
shot locks.txt "cat locks.py"
shot locks.txt "python3 locks.py"
finish locks.txt
cd "$root"

echo "transcripts written to $here"
