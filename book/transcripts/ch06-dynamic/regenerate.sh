#!/usr/bin/env bash
# Regenerates the terminal sessions shown in chapter 6, part 2 of the book
# ("Dynamic content: CGI, PHP, SSI").
#
# Every *.txt file beside this script is the output of the commands written
# on its `$` lines, run against the real step06-full binary and php-cgi. Run
# this script after changing step06's CGI, PHP or SSI code (or the demo
# site) and commit whatever changed:
#
#     book/transcripts/ch06-dynamic/regenerate.sh
#
# perf-cgi.txt, the measurements, is made by ../ch06/perf-cgi.sh, never here.
#
# The conventions are those of part 1 (../ch06/regenerate.sh), and the
# helpers lib.sh's (../lib.sh):
# - The opening sessions and the SSI headers use the demo site with the
#   shipped configuration, its logs and sessions moved to the scratch
#   directory so that the demo's own are left alone. The others use the
#   chapter's scratch site, /tmp/ch06 (a fresh temporary directory here,
#   written back as /tmp/ch06): a `www/` document root, one small script per
#   case, and a `site.toml` with `header_timeout` and `idle_timeout` of two
#   seconds and `max_processes` of 2. Its sessions run in /tmp/ch06, as the
#   chapter says.
# - Each server listens on a free port (`-p 0`). The commands are written,
#   and run, with the book's ports: lib.sh's `curl` reaches the real port
#   while sending the bytes a reader's curl sends to 127.0.0.1:8080 (or
#   8081, for the second server of "Without php-cgi"), and any other mention
#   of the real port in the output becomes the book's.
# - Besides what lib.sh rewrites (dates, log timestamps), the workspace's
#   path is written ~/stepwise, the script's process ID in env.cgi's output
#   5001, the client's port 51000 (in the environment and the error log),
#   the server's PID 4100, the time part of an ETag `<mtime>`, and a PHP
#   session ID is made stable (lib.sh's stable_session_ids). The dates an
#   SSI page prints are written by their format: `Weekday, dd-Mon-yyyy
#   hh:mm:ss` and `yyyy-mm-dd hh:mm:ss`. Wall-clock times are rounded to
#   whole seconds.
# - php-cgi keeps its sessions in /var/lib/php/sessions (Debian); the
#   session files the opening makes there are deleted on exit.
# - Needs: cargo, curl, php-cgi (Debian: php-cgi), setsid (util-linux), GNU
#   sed, awk, perl.
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

# The sessions run a copy of the binary, so that nothing built meanwhile
# changes what they show.
cargo build -q -p step06-full
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
    -e 's#^pythonpath = \["\.\./#pythonpath = ["'"$root"'/step06-full/../#' \
    step06-full/stepwise.toml >"$shipped"
grep -q "$work/demo-sessions" "$shipped" || {
    echo "could not redirect the shipped configuration's sessions" >&2
    exit 1
}

# The reader's scratch directory, and the reader's current directory for the
# opening (curl's cookie jar is written there).
scratch="$work/ch06"
mkdir -p "$scratch" "$work/home"

# The book's second server, in "Without php-cgi", is on port 8081.
BOOK_PORT=8080

TIDY=(
    -e "s#$scratch#/tmp/ch06#g"
    -e "s#$root#~/stepwise#g"
    -e 's/^(CGI environment of .* \(pid )[0-9]+\):$/\15001):/'
    -e 's/^REMOTE_PORT=[0-9]+$/REMOTE_PORT=51000/'
    -e 's/(\[client 127\.0\.0\.1:)[0-9]+\]/\151000]/g'
    -e 's/[A-Z][a-z]+day, [0-9]{2}-[A-Z][a-z]{2}-[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}/Weekday, dd-Mon-yyyy hh:mm:ss/g'
    -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}/yyyy-mm-dd hh:mm:ss/g'
)
# The server's PID, as the error log prints it, then the session IDs.
tidy_ids() {
    sed -E "s/\\[pid ${SERVER_PID:-0}:tid ${SERVER_PID:-0}\\]/[pid 4100:tid 4100]/g" |
        stable_session_ids
}
TIDY_FILTER=(tidy_ids)
finish_filter() { stable_etags; }

# php-cgi's session files from the opening are not the reader's to keep.
at_exit 'for id in $(awk '\''/PHPSESSID/ {print $7}'\'' "$work/home/jar" 2>/dev/null); do rm -f "/var/lib/php/sessions/sess_$id"; done'

# Each file is written afresh.
fresh

# --- The opening, and SSI's headers: the demo site -----------------------------

launch demo "$bin" --config "$shipped" -p 0
cd "$work/home"
shot cgi-env.txt "curl -s -H 'Cookie: a=1' -H 'Cookie: b=2' -H 'Proxy: http://evil.example:3128' \\
    -u ann:secret --data 'name=Ann' \\
    'http://127.0.0.1:8080/cgi-bin/env.cgi/extra/p%20q?x=1&y=%41'"
finish cgi-env.txt

shot php-visits.txt "curl -si -c jar -b jar 'http://127.0.0.1:8080/php/?name=Ann' \\
    | grep -E '^(HTTP|Set-Cookie|Content-Type)|visits|Hello,'"
shot php-visits.txt "curl -si -c jar -b jar -d name=Bob 'http://127.0.0.1:8080/php/' \\
    | grep -E '^(HTTP|Set-Cookie|Content-Type)|visits|Hello,'"
finish php-visits.txt

shot ssi.txt "curl -s 'http://127.0.0.1:8080/ssi/?a=42' \\
    | grep -E 'modified|Local time|You asked|sub-request|CGI script\$|error message|^\\[an error'"
finish ssi.txt

shot ssi-headers.txt "curl -si http://127.0.0.1:8080/ssi/ | head -5"
finish ssi-headers.txt
cd "$root"
stop_server

# --- The scratch site -------------------------------------------------------------

mkdir -p "$scratch/www/cgi-bin" "$scratch/www/uploads"
cat >"$scratch/site.toml" <<'EOF'
[server]
listen = ["127.0.0.1:8080"]
document_root = "www"

[log]
access = "logs/access.log"
error = "logs/error.log"
stderr = "never"

[cgi]
enabled = true
directories = ["/cgi-bin"]
header_timeout = 2
idle_timeout = 2
max_processes = 2

[php]
enabled = true
binary = "php-cgi"
EOF
printf 'hello, world\n' >"$scratch/www/hello.txt"
# script NAME BODY: a shell script in cgi-bin, made executable.
script() {
    printf '#!/bin/sh\n%s\n' "$2" >"$scratch/www/cgi-bin/$1"
    chmod 755 "$scratch/www/cgi-bin/$1"
}
script local.cgi 'printf "Location: /hello.txt\n\nthis body is thrown away\n"'
script away.cgi 'printf "Location: https://example.com/\n\n"'
script see.cgi 'printf "Status: 303 See Other\nLocation: /hello.txt\n\n"'
script teapot.cgi 'printf "Status: 418\nContent-Type: text/plain\n\nshort and stout\n"'
script stall.cgi 'printf "Content-Type: text/plain\n\nfirst line\n"; sleep 10'
script inject.cgi 'printf "Content-Type: text/plain\nX-Note: a\rInjected: yes\n\nbody\n"'
script crash.cgi 'exit 3'
script noexec.cgi 'printf "Content-Type: text/plain\n\nnever run\n"'
chmod 644 "$scratch/www/cgi-bin/noexec.cgi"
script slow.cgi 'sleep 10'
script nph-raw.cgi 'printf "HTTP/1.1 299 Custom\r\nContent-Type: text/plain\r\n\r\nnph body\n"'
printf '<?php echo "secret source\\n";\n' >"$scratch/www/src.php"
printf '<?php echo "I am x.php, run for {$_SERVER["REQUEST_URI"]}\\n";\n' >"$scratch/www/x.php"
printf 'GIF89a <?php echo "evil code ran\\n"; ?>\n' >"$scratch/www/uploads/evil.jpg"

launch scratch "$bin" --config "$scratch/site.toml" -p 0
cd "$scratch"

shot redirects.txt "cat www/cgi-bin/local.cgi"
shot redirects.txt "curl -si http://127.0.0.1:8080/cgi-bin/local.cgi"
shot redirects.txt "curl -si http://127.0.0.1:8080/cgi-bin/away.cgi        # Location: https://example.com/"
shot redirects.txt "curl -si http://127.0.0.1:8080/cgi-bin/see.cgi         # Status: 303, Location: /hello.txt"
shot redirects.txt "curl -si http://127.0.0.1:8080/cgi-bin/teapot.cgi      # Status: 418"
finish redirects.txt

shot stall.txt "curl -s --raw -i http://127.0.0.1:8080/cgi-bin/stall.cgi; echo \"curl exit: \$?\""
finish stall.txt

code="curl -s -o /dev/null -w '%{http_code}\\n'"
shot errors.txt "$code http://127.0.0.1:8080/cgi-bin/inject.cgi"
shot errors.txt "$code http://127.0.0.1:8080/cgi-bin/crash.cgi    # exit 3"
shot errors.txt "$code http://127.0.0.1:8080/cgi-bin/noexec.cgi   # mode 644"
shot_timed errors.txt "$code http://127.0.0.1:8080/cgi-bin/slow.cgi  # sleep 10"
expect_seconds "the 504" 1.9 3
sleep 0.3
shot errors.txt "grep cgi: logs/error.log | cut -d' ' -f6-"
finish errors.txt

shot nph.txt "cat www/cgi-bin/nph-raw.cgi"
shot nph.txt "curl -si http://127.0.0.1:8080/cgi-bin/nph-raw.cgi"
finish nph.txt

shot php-redirect-status.txt "env -i SCRIPT_FILENAME=\$PWD/www/src.php REQUEST_METHOD=GET GATEWAY_INTERFACE=CGI/1.1 php-cgi; echo \"exit status: \$?\""
finish php-redirect-status.txt

shot php-pathinfo.txt "cat www/uploads/evil.jpg"
shot php-pathinfo.txt "env -i SCRIPT_FILENAME=\$PWD/www/uploads/evil.jpg/x.php REDIRECT_STATUS=200 \\
    REQUEST_METHOD=GET GATEWAY_INTERFACE=CGI/1.1 php-cgi"
finish php-pathinfo.txt

shot php-find.txt "$code http://127.0.0.1:8080/uploads/evil.jpg/x.php"
shot php-find.txt "curl -s http://127.0.0.1:8080/x.php/extra/bits"
shot php-find.txt "curl -s 'http://127.0.0.1:8080/src.php?-s'"
finish php-find.txt
cd "$root"
stop_server

# --- A second scratch server, on the book's port 8081, without php-cgi -----------

sed -e 's#^listen = .*#listen = ["127.0.0.1:8081"]#' \
    -e 's#^binary = .*#binary = "/opt/php/bin/php-cgi"#' \
    -e 's#"logs/#"logs-8081/#' \
    "$scratch/site.toml" >"$scratch/no-php.toml"
BOOK_PORT=8081
launch no-php "$bin" --config "$scratch/no-php.toml" -p 0
shot php-missing.txt "curl -si http://127.0.0.1:8081/x.php"
finish php-missing.txt
stop_server
BOOK_PORT=8080

echo "transcripts written to $here"
