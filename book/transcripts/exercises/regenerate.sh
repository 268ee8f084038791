#!/usr/bin/env bash
# Regenerates the terminal sessions shown in the book's "Exercises" part.
#
#     book/transcripts/exercises/regenerate.sh
#
# headers-failure.txt is the workshop checking chapter 1's `headers`
# exercise against step01-iterative as shipped, where it fails. Besides what
# lib.sh rewrites (dates), the server's real port becomes 38007, and the
# random token the check sends becomes c39db7ce. Run it on a clean checkout:
# with the exercise solved, the session shows a pass instead.
#
# Needs: cargo, GNU sed.
set -euo pipefail
export LC_ALL=C.UTF-8

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"

cargo build -q -p workshop -p step01-iterative
# The check's port and token change on every run: the failure message
# prints both, so they are made stable here.
TIDY=(
    -e 's/127\.0\.0\.1:[0-9]{5}\b/127.0.0.1:38007/g'
    -e 's/X-Workshop: [0-9a-f]{8}/X-Workshop: c39db7ce/g'
    -e 's/\(([0-9]+\.[0-9]) s\)$/(<t> s)/'
)
fresh
shot headers-failure.txt "cargo run -q -p workshop -- ch01 headers"
echo "wrote $here/headers-failure.txt"
