#!/usr/bin/env bash
# Chapter 6 part 2's performance figures: CGI and PHP through step06-full
# against lighttpd, same machine, same run, same load (wrk over loopback).
#
#   book/transcripts/ch06/perf-cgi.sh > book/transcripts/ch06/perf-cgi.txt
#
# Needs: cargo, wrk, lighttpd and php-cgi (Debian packages wrk, lighttpd,
# php-cgi). Each server gets its own configuration in a temporary
# directory, listens on loopback only, logs nothing per request, and is
# stopped on exit. Workloads (wrk -t2 -c16, DURATION each, default 10s):
#   1. hello.cgi, a two-line shell script, as CGI (a fork and exec each);
#   2. hello.php through php-cgi as CGI (PHP starts for every request);
#   3. the same hello.php through lighttpd's FastCGI, with four php-cgi
#      processes started once and reused: why FastCGI was invented.
# The helpers (the scratch directory, the cleanup, wrk_row) are lib.sh's
# (../lib.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
for tool in wrk lighttpd php-cgi; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
DURATION="${DURATION:-10s}"
php="$(command -v php-cgi)"

cargo build --release --quiet -p step06-full
bin="$target/release/step06-full"
chmod 755 "$work"

mkdir -p "$work/www/cgi-bin" "$work/logs"
printf '#!/bin/sh\nprintf '"'"'Content-Type: text/plain\\r\\n\\r\\nHello from CGI\\n'"'"'\n' \
    > "$work/www/cgi-bin/hello.cgi"
printf '<?php echo "Hello from PHP\\n";\n' > "$work/www/hello.php"
chmod 755 "$work/www" "$work/www/cgi-bin" "$work/www/cgi-bin/hello.cgi"
chmod 644 "$work/www/hello.php"

# --- lighttpd: mod_cgi for .cgi and .php (php-cgi as the interpreter) ------
cat > "$work/lighttpd-cgi.conf" <<CONF
server.modules += ("mod_cgi")
server.document-root = "$work/www"
server.bind = "127.0.0.1"
server.port = 18192
server.errorlog = "$work/logs/lighttpd-error.log"
cgi.assign = (".cgi" => "", ".php" => "$php")
CONF
lighttpd -D -f "$work/lighttpd-cgi.conf" &
track $!

# --- lighttpd: mod_fastcgi, php-cgi processes kept running ------------------
cat > "$work/lighttpd-fcgi.conf" <<CONF
server.modules += ("mod_fastcgi")
server.document-root = "$work/www"
server.bind = "127.0.0.1"
server.port = 18194
server.errorlog = "$work/logs/lighttpd-fcgi-error.log"
fastcgi.server = (".php" => ((
    "bin-path" => "$php",
    "socket" => "$work/php.socket",
    "max-procs" => 1,
    "bin-environment" => ("PHP_FCGI_CHILDREN" => "4", "PHP_FCGI_MAX_REQUESTS" => "0")
)))
CONF
lighttpd -D -f "$work/lighttpd-fcgi.conf" &
track $!

# --- step06-full: its defaults, minus the access log -------------------------
cat > "$work/step06.toml" <<CONF
[server]
listen = ["127.0.0.1:18193"]
document_root = "www"
[php]
binary = "$php"
[log]
error = "logs/step06-error.log"
stderr = "never"
CONF
"$bin" --config "$work/step06.toml" > /dev/null 2>&1 &
track $!
sleep 1

run_wrk() {  # label url
    local label="$1" url="$2"
    local status
    status="$(curl -s -o /dev/null -w '%{http_code}' "$url")"
    if [ "$status" != 200 ]; then
        echo "$label: $url answered $status before the run" >&2
        tail -n 5 "$work"/logs/*.log >&2
    fi
    wrk_row 26 "$label" -t2 -c16 -d"$DURATION" --timeout 10s "$url"
}

echo "Machine: $(nproc) cores, $(uname -sr); $(date -u +%Y-%m-%d); $("$php" -v | head -1 | cut -d' ' -f1-2)"
echo "Load: wrk -t2 -c16 -d$DURATION over loopback, keep-alive"
echo
echo "| hello.cgi (shell) | requests/s | p50 | p99 | errors |"
echo "| --- | ---: | ---: | ---: | --- |"
run_wrk "lighttpd mod_cgi" "http://127.0.0.1:18192/cgi-bin/hello.cgi"
run_wrk "step06-full" "http://127.0.0.1:18193/cgi-bin/hello.cgi"
echo
echo "| hello.php | requests/s | p50 | p99 | errors |"
echo "| --- | ---: | ---: | ---: | --- |"
run_wrk "lighttpd mod_cgi + php-cgi" "http://127.0.0.1:18192/hello.php"
run_wrk "step06-full + php-cgi" "http://127.0.0.1:18193/hello.php"
run_wrk "lighttpd FastCGI (4 procs)" "http://127.0.0.1:18194/hello.php"
