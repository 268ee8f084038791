#!/usr/bin/env bash
# Chapter 6 part 3's performance figures: the visits servlet with sessions
# (every request reads, changes and saves its session file, under the
# session's lock), measured with wrk over loopback.
#
#   book/transcripts/ch06/perf-servlets.sh > book/transcripts/ch06/perf-servlets.txt
#
# Needs: cargo and wrk (Debian package wrk). wrk runs one thread per
# connection here (-t50 -c50), so each connection has its own Lua state
# and keeps its own cookie: 50 clients, 50 sessions. Workloads (DURATION
# each, default 10s), with the session directory first on tmpfs
# (/dev/shm), then on the disk this script runs from:
#   1. the visits servlet mounted with sessions, each client its own;
#   2. the same servlet, all 50 clients sharing ONE session (they queue
#      on its lock: the cost of serialising a session's requests);
#   3. the servlet mounted without sessions (what the session costs).
# The helpers (the cleanup, wrk_row) are lib.sh's (../lib.sh); the scratch
# directory is its own, on the disk measured (under target/), not in /tmp.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
DURATION="${DURATION:-10s}"

cargo build --release --quiet -p step06-full
bin="$target/release/step06-full"
rmdir "$work"
work="$(mktemp -d -p "$target")"
shm="$(mktemp -d -p /dev/shm)"
server=""
# stop_server: this script's own (the server runs on a fixed port, not
# through lib.sh's launch).
stop_server() {
    [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
    server=""
}
at_exit 'stop_server; rm -rf "$shm"'
ulimit -n "$(ulimit -Hn)"
mkdir -p "$work/www" "$work/logs"

start_server() {  # session directory
cat > "$work/step06.toml" <<CONF
[server]
listen = ["127.0.0.1:18195"]
document_root = "www"
[log]
error = "logs/error.log"
stderr = "never"
[sessions]
directory = "$1"
[[mount]]
path = "/visits"
servlet = "visits"
sessions = true
[[mount]]
path = "/plain"
servlet = "visits"
CONF
"$bin" --config "$work/step06.toml" > /dev/null 2>&1 &
server=$!
sleep 1
}

# Each wrk thread (one connection each) keeps the cookie it was given.
cat > "$work/own.lua" <<'LUA'
local cookie = nil
response = function(status, headers, body)
    local set = headers["Set-Cookie"]
    if set then cookie = set:match("^[^;]+") end
end
request = function()
    if cookie then return wrk.format(nil, nil, { ["Cookie"] = cookie }) end
    return wrk.format()
end
LUA
# Every thread sends the one cookie made before the run.
shared_session() {
    shared="$(curl -s -D - -o /dev/null http://127.0.0.1:18195/visits | awk -F'[ ;]' 'tolower($1)=="set-cookie:" {print $2}')"
    printf 'wrk.headers["Cookie"] = "%s"\n' "$shared" > "$work/shared.lua"
}

run_wrk() {  # label path script
    local label="$1" path="$2" script="$3"
    wrk_row 34 "$label" -t50 -c50 -d"$DURATION" --timeout 10s ${script:+-s "$script"} "http://127.0.0.1:18195$path"
}

echo "Machine: $(nproc) cores, $(uname -sr); $(date -u +%Y-%m-%d)"
echo "Load: wrk -t50 -c50 -d$DURATION over loopback, keep-alive"
for place in tmpfs disk; do
    if [ "$place" = tmpfs ]; then dir="$shm/sessions"; else dir="$work/sessions"; fi
    start_server "$dir"
    shared_session
    echo
    echo "| visits servlet, sessions on $place ($(df --output=fstype "$(dirname "$dir")" | tail -1)) | requests/s | p50 | p99 | errors |"
    echo "| --- | ---: | ---: | ---: | --- |"
    run_wrk "sessions, one per client" /visits "$work/own.lua"
    run_wrk "sessions, one shared by all" /visits "$work/shared.lua"
    run_wrk "no sessions" /plain ""
    counted="$(curl -s -H "Cookie: $shared" http://127.0.0.1:18195/visits | sed -n 's/.*id="visits">\([0-9]*\)<.*/\1/p')"
    echo
    echo "Session files: $(find "$dir" -name '*.json' | wc -l); visits counted on the shared session: $counted"
    stop_server
done
