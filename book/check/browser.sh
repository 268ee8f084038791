#!/usr/bin/env bash
# Checks the built book in a real browser: headless Chromium (Debian's
# /usr/bin/chromium) opens every page and this script fails if any page
# does not render, any diagram does not load, or any code block is not the
# code it claims to include.
#
# Run it after building the book, from anywhere in the repository:
#
#     mdbook build book && bash book/check/browser.sh
#
# What it does, in order:
# 1. links.py reads the HTML files: every relative href/src (pages, #ids,
#    images, the theme's files) must resolve inside book/book.
# 2. serve.py serves book/book on 127.0.0.1 (a port the kernel picks), with
#    check.html beside it at /__check__/, and logs every request it answers.
# 3. Chromium loads check.html, which opens every page listed in SUMMARY.md
#    (and index, print and 404) in an iframe and, once they and their images
#    have loaded, writes what it saw as JSON into its own DOM; --dump-dom
#    prints it.
# 4. pages.py compares that report with the sources: each page's <h1>, every
#    image loaded and shown, every code block equal to its Markdown with the
#    {{#include}} expanded as mdBook does (anchors, line ranges), none empty
#    and none with a literal {{#include}} left in it. Any request the server
#    answered with an error, and any uncaught JavaScript error Chromium
#    logged, fails the check too.
#
# Needs: bash, python3 (standard library only), chromium (apt-get install
# chromium), coreutils' timeout. CHROMIUM=/path/to/chromium overrides the
# browser. Chromium gets at most CHECK_TIMEOUT seconds (default 120).
# CHECK_KEEP=1 keeps the report, the request log and Chromium's log.
# Exits 0 when all is well, 1 on any failure, 2 when it cannot run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"  # so that messages name files as book/src/..., book/book/...
book_src=book/src
book_html=book/book
chromium="${CHROMIUM:-/usr/bin/chromium}"
budget="${CHECK_TIMEOUT:-120}"

if [ ! -f "$book_html/index.html" ]; then
    echo "no built book in $book_html: run \`mdbook build book\` first" >&2
    exit 2
fi
work="$(mktemp -d)"
server_pid=""
cleanup() {
    # Stop only what this script started, then remove its files (the
    # browser profile included).
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "${CHECK_KEEP:-}" ]; then
        echo "kept the check's files (report, logs) in $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM  # so that cleanup runs on these too

failed=0
started=$SECONDS

# ---- 1. links, in the files ------------------------------------------------------
echo "==> internal links in $book_html"
python3 "$here/links.py" "$book_html" "$book_src" || failed=1

if [ ! -x "$chromium" ]; then
    echo "no browser at $chromium: apt-get install chromium (or set CHROMIUM)" >&2
    exit 2
fi

# ---- 2. the server -----------------------------------------------------------------
mkdir "$work/check"
cp "$here/check.html" "$work/check/"
pages_json="$(python3 "$here/pages.py" list "$book_src")"
printf 'const PAGES = %s;\n' "$pages_json" >"$work/check/pages.js"

python3 "$here/serve.py" "$book_html" "$work/check" "$work/port" "$work/requests.log" &
server_pid=$!
for _ in $(seq 100); do
    [ -s "$work/port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [ ! -s "$work/port" ]; then
    echo "the check server did not start" >&2
    exit 2
fi
url="http://127.0.0.1:$(cat "$work/port")/__check__/check.html"

# ---- 3. the browser ----------------------------------------------------------------
echo "==> $(basename "$chromium") --headless: every page of the book ($url)"
# A fresh profile, no network beyond loopback, no sandbox (CI runs as root),
# no GPU. --enable-logging=stderr makes Chromium log each page's console
# messages, uncaught errors included.
chromium_status=0
timeout --kill-after=10 "$budget" "$chromium" \
    --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --window-size=1280,900 \
    --enable-logging=stderr \
    --dump-dom "$url" >"$work/dom.html" 2>"$work/chromium.log" || chromium_status=$?
if [ "$chromium_status" -ne 0 ]; then
    if [ "$chromium_status" -eq 124 ] || [ "$chromium_status" -eq 137 ]; then
        echo "  FAIL chromium did not finish within ${budget}s"
    else
        echo "  FAIL chromium exited with status $chromium_status; its log ends:"
        tail -n 20 "$work/chromium.log"
    fi
    exit 1
fi

# ---- 4. the verdict ----------------------------------------------------------------
echo "==> what the browser showed, against book/src"
python3 "$here/pages.py" verify "$book_src" --dom "$work/dom.html" || failed=1

# Anything the pages asked for and did not get: an image, a script, a font.
errors="$(awk '$1 >= 400 { print "  FAIL HTTP " $1 " for " $2 }' "$work/requests.log" | sort -u)"
if [ -n "$errors" ]; then
    echo "$errors"
    failed=1
fi
# Uncaught JavaScript errors, from any page (the lines quote the message).
js_errors="$(grep -E 'CONSOLE.*"Uncaught' "$work/chromium.log" | sed -E 's/^[^]]*\] /  FAIL JavaScript: /' | sort -u || true)"
if [ -n "$js_errors" ]; then
    echo "$js_errors"
    failed=1
fi

echo "book check took $((SECONDS - started))s"
if [ "$failed" -ne 0 ]; then
    echo "book check FAILED"
    exit 1
fi
echo "book check passed"
