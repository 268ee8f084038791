#!/usr/bin/env bash
# Chapter 5's performance figures: step05's models against nginx, same
# machine, same run, same load (wrk over loopback).
#
#   book/transcripts/ch05/perf.sh > book/transcripts/ch05/perf.txt
#
# Needs: cargo, wrk and nginx (Debian packages `wrk`, `nginx-light`).
# Workloads:
#   - a 1 KiB file over 50 keep-alive connections, 10 s (wrk -c50);
#   - the same file with a new connection per request (wrk with
#     "Connection: close"), 100 connections.
# nginx runs with its Debian defaults that matter here (2 workers = 2 cores,
# sendfile on, keepalive on), its own config in a temporary directory, on a
# loopback port; every server is stopped on exit. The helpers (the scratch
# directory, the cleanup, wrk_row) are lib.sh's (../lib.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx-light)" >&2; exit 1; }

cargo build --release --quiet -p step05-threadpool
bin="$target/release/step05-threadpool"
# nginx runs as a daemon: it is stopped by the PID it writes.
at_exit '[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null'

mkdir -p "$work/www" "$work/logs"
# nginx's workers run as an unprivileged user: let them read the files.
chmod 755 "$work" "$work/www"
head -c 1024 /dev/urandom | base64 -w 76 | head -c 1024 > "$work/www/1k.txt"
chmod 644 "$work/www/1k.txt"

DURATION="${DURATION:-10s}"
WORKERS="${WORKERS:-64}"

port_of() { sed -n 's#^Listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$1" | head -n1; }

start_step05() {  # model workers; sets $port and $server (no subshell: pids must be tracked)
    local out="$work/step05-$1.out"
    "$bin" -p 0 -r "$work/www" --model "$1" -w "$2" --max-clients 256 > "$out" 2>/dev/null &
    server=$!
    track "$server"
    for _ in $(seq 100); do [ -n "$(port_of "$out")" ] && break; sleep 0.05; done
    port="$(port_of "$out")"
}

cat > "$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:18099;
        root $work/www;
    }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" -g 'daemon on;'

run_wrk() {  # label url [extra wrk args]
    local label="$1" url="$2"; shift 2
    wrk_row 34 "$label" -t2 -c"${CONNS:-50}" -d"$DURATION" "$@" "$url"
}

echo "Machine: $(nproc) cores, $(uname -sr); $(date -u +%Y-%m-%d)"
echo "Load: wrk -t2 -d$DURATION over loopback; file: 1 KiB; step05 workers: $WORKERS"
echo
echo "| server (1 KiB file, 50 keep-alive connections) | requests/s | p50 | p99 | errors |"
echo "| --- | ---: | ---: | ---: | --- |"
CONNS=50 run_wrk "nginx (2 workers)" "http://127.0.0.1:18099/1k.txt"
for model in pool threads rayon prefork; do
    workers="$WORKERS"
    [ "$model" = rayon ] && workers=2
    start_step05 "$model" "$workers"
    CONNS=50 run_wrk "step05 --model $model -w $workers" "http://127.0.0.1:$port/1k.txt"
    kill "$server"; wait "$server" 2>/dev/null || true
done
echo
echo "| server (1 KiB file, new connection per request, 100 clients) | requests/s | p50 | p99 | errors |"
echo "| --- | ---: | ---: | ---: | --- |"
CONNS=100 run_wrk "nginx (2 workers)" "http://127.0.0.1:18099/1k.txt" -H "Connection: close"
start_step05 pool "$WORKERS"
CONNS=100 run_wrk "step05 --model pool -w $WORKERS" "http://127.0.0.1:$port/1k.txt" -H "Connection: close"
