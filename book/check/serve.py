#!/usr/bin/env python3
"""A static file server for the browser check: the book, plus the check page.

Serves BOOK_HTML at `/` and CHECK_DIR at `/__check__/` on 127.0.0.1, on a
port the kernel picks (port 0, so there is no race for a "free" port); the
port is written to PORT_FILE once the socket is listening. Every request is
appended to LOG_FILE as `status path`, so the check can report any resource
the browser asked for and did not get (a missing image, script or font),
whichever page asked.

    serve.py BOOK_HTML CHECK_DIR PORT_FILE LOG_FILE

Runs until killed. Standard library only.
"""

from __future__ import annotations

import functools
import os
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHECK_PREFIX = "/__check__/"


class Handler(SimpleHTTPRequestHandler):
    check_dir: Path
    log_file: Path

    def translate_path(self, path: str) -> str:
        if urlsplit(path).path.startswith(CHECK_PREFIX):
            name = unquote(urlsplit(path).path[len(CHECK_PREFIX) :])
            return str(self.check_dir / Path(name).name)
        return super().translate_path(path)

    def log_request(self, code: object = "-", size: object = "-") -> None:
        status = getattr(code, "value", code)
        with open(self.log_file, "a") as log:
            log.write(f"{status} {self.path}\n")

    def log_message(self, format: str, *args: object) -> None:
        pass  # requests are logged by log_request; stay quiet on stderr


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    book, check_dir, port_file, log_file = (Path(a).resolve() for a in argv)
    Handler.check_dir = check_dir
    Handler.log_file = log_file
    handler = functools.partial(Handler, directory=str(book))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # Written whole, then renamed, so the script never reads half a number.
    partial = port_file.with_suffix(".partial")
    partial.write_text(str(server.server_address[1]))
    os.replace(partial, port_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
