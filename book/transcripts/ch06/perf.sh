#!/usr/bin/env bash
# Chapter 6's performance figures: step06-full against lighttpd and nginx,
# same machine, same run, same load (wrk over loopback).
#
#   book/transcripts/ch06/perf.sh > book/transcripts/ch06/perf.txt
#
# Needs: cargo, wrk, nginx and lighttpd (Debian packages wrk, nginx-light,
# lighttpd). Each server gets its own configuration in a temporary
# directory, listens on loopback only, logs nothing per request (so the
# comparison is of serving, not of logging), and is stopped on exit.
# Workloads (wrk -t2, DURATION each, default 10s):
#   1. a 1 KiB file over 50 keep-alive connections;
#   2. a 954 KB file over 50 keep-alive connections;
#   3. the 1 KiB file with a new connection per request, 100 clients;
#   4. 10,000 concurrent keep-alive connections on the 1 KiB file, with the
#      server's peak memory (VmHWM) afterwards.
# The helpers (the scratch directory, the cleanup, wrk_row) are lib.sh's
# (../lib.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
for tool in wrk nginx lighttpd; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
DURATION="${DURATION:-10s}"

cargo build --release --quiet -p step06-full
bin="$target/release/step06-full"
chmod 755 "$work"
# nginx runs as a daemon: it is stopped by the PID it writes.
at_exit '[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null'
# wrk and the servers need many descriptors for workload 4.
ulimit -n "$(ulimit -Hn)"

mkdir -p "$work/www" "$work/logs"
chmod 755 "$work/www"
head -c 1024 /dev/urandom | base64 -w 76 | head -c 1024 > "$work/www/1k.txt"
head -c 954000 /dev/urandom > "$work/www/954k.bin"
chmod 644 "$work/www/"*

# --- nginx: 2 workers (one per core), sendfile, no access log ---------------
cat > "$work/nginx.conf" <<CONF
worker_processes 2;
worker_rlimit_nofile 20000;
pid $work/nginx.pid;
error_log $work/logs/nginx-error.log;
events { worker_connections 10000; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    server { listen 127.0.0.1:18191; root $work/www; }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" -g 'daemon on;'

# --- lighttpd: its default single event-driven process --------------------
cat > "$work/lighttpd.conf" <<CONF
server.document-root = "$work/www"
server.bind = "127.0.0.1"
server.port = 18192
server.max-fds = 20000
server.max-connections = 10000
server.max-keep-alive-requests = 1000000
server.errorlog = "$work/logs/lighttpd-error.log"
CONF
lighttpd -D -f "$work/lighttpd.conf" &
track $!

# --- step06-full: its defaults, minus the access log ----------------------
cat > "$work/step06.toml" <<CONF
[server]
listen = ["127.0.0.1:18193"]
document_root = "www"
max_clients = 20000
[log]
error = "logs/step06-error.log"
stderr = "never"
CONF
"$bin" --config "$work/step06.toml" > /dev/null 2>&1 &
step06=$!
track "$step06"
sleep 1

# --- step06-full again, checking a cached file on every request ----------
# By default step06-full checks a cached file on disk at most once a
# second, as lighttpd's stat cache does; this instance checks it on every
# request (cache.revalidate = 0). The difference between the two rows is
# the cost of one stat.
sed -e 's/18193/18194/' -e 's/step06-error/step06r-error/' "$work/step06.toml" > "$work/step06r.toml"
printf '[cache]\nrevalidate = 0\n' >> "$work/step06r.toml"
"$bin" --config "$work/step06r.toml" > /dev/null 2>&1 &
step06r=$!
track "$step06r"
sleep 1

run_wrk() {  # label url connections [extra wrk args]
    local label="$1" url="$2" conns="$3"; shift 3
    wrk_row 22 "$label" -t2 -c"$conns" -d"$DURATION" --timeout 10s "$@" "$url"
}

table() {  # title path connections [extra]
    local title="$1" path="$2" conns="$3"; shift 3
    echo
    echo "| $title | requests/s | p50 | p99 | errors |"
    echo "| --- | ---: | ---: | ---: | --- |"
    run_wrk "nginx (2 workers)" "http://127.0.0.1:18191$path" "$conns" "$@"
    run_wrk "lighttpd" "http://127.0.0.1:18192$path" "$conns" "$@"
    run_wrk "step06-full" "http://127.0.0.1:18193$path" "$conns" "$@"
    run_wrk "step06, revalidate = 0" "http://127.0.0.1:18194$path" "$conns" "$@"
}

echo "Machine: $(nproc) cores, $(uname -sr); $(date -u +%Y-%m-%d)"
echo "Load: wrk -t2 -d$DURATION over loopback"
table "1 KiB file, 50 keep-alive connections" /1k.txt 50
table "954 KB file, 50 keep-alive connections" /954k.bin 50
table "1 KiB file, new connection per request, 100 clients" /1k.txt 100 -H "Connection: close"
table "1 KiB file, 10,000 keep-alive connections" /1k.txt 10000
echo
echo "step06-full peak memory after all runs: $(awk '/VmHWM/ {print $2, $3}' "/proc/$step06/status")"
echo "step06, revalidate = 0, peak memory after all runs: $(awk '/VmHWM/ {print $2, $3}' "/proc/$step06r/status")"
