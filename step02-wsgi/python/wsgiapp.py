"""A plain WSGI application: no framework, just PEP 3333.

Run it with:  cargo run -p step02-wsgi --features python -- --wsgi wsgiapp:app

Each path shows one rule of the interface:
  /          a page from a list of one chunk (the server can send Content-Length)
  /stream    a generator that calls start_response lazily, from inside itself
  /write     the legacy write() callable
  /echo      reads wsgi.input (POST a body to it)
  /environ   the environ, as the application sees it
  /error     raises: the server answers 500 and keeps serving
  /lines     ?n=N numbered lines from an iterable whose close() is counted
  /fail-late yields a chunk, then raises: the response is cut short
  /local     a threading.local counter: it grows because this thread keeps its state
  /closes    how many response iterables have been closed so far
"""

import threading
import time

CLOSED = 0
_lock = threading.Lock()
_local = threading.local()


class Closing:
    """A response iterable that records its close(), as PEP 3333 requires servers to call it."""

    def __init__(self, chunks):
        self._chunks = list(chunks)

    def __iter__(self):
        return iter(self._chunks)

    def close(self):
        _count_close()


class Lines:
    """Numbered lines, made one at a time, whose close() is counted.

    A class rather than a generator on purpose: a generator's `finally`
    also runs when the generator is garbage-collected, so it could not
    prove that the *server* called close(). Only the server calls this one.
    """

    def __init__(self, count, fail_after=None):
        self.count = count
        self.fail_after = fail_after
        self.sent = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.fail_after is not None and self.sent >= self.fail_after:
            raise RuntimeError("failing after the head was sent")
        if self.sent >= self.count:
            raise StopIteration
        self.sent += 1
        return b"line %d of %d\n" % (self.sent, self.count)

    def close(self):
        _count_close()


def _count_close():
    global CLOSED
    with _lock:
        CLOSED += 1


def app(environ, start_response):
    path = environ.get("PATH_INFO", "") or "/"
    text = [("Content-Type", "text/plain; charset=utf-8")]
    if path == "/":
        start_response("200 OK", text)
        return [b"Hello from a plain WSGI application\n"]
    if path == "/stream":
        return _stream(start_response, int(environ.get("QUERY_STRING", "").partition("=")[2] or 3))
    if path == "/write":
        write = start_response("200 OK", text)
        write(b"written with write()\n")
        return Closing([b"then returned\n"])
    if path == "/echo":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        start_response("200 OK", text)
        return Closing([b"received %d bytes\n" % len(body)])
    if path == "/environ":
        start_response("200 OK", text)
        lines = ["%s=%r\n" % (key, environ[key]) for key in sorted(environ)]
        return [("".join(lines)).encode("utf-8")]
    if path == "/error":
        environ["wsgi.errors"].write("about to fail on purpose\n")
        raise RuntimeError("this application fails on purpose")
    if path == "/lines":
        start_response("200 OK", text)
        return Lines(int(environ.get("QUERY_STRING", "").partition("=")[2] or 3))
    if path == "/fail-late":
        start_response("200 OK", text)
        return Lines(3, fail_after=1)
    if path == "/local":
        _local.count = getattr(_local, "count", 0) + 1
        start_response("200 OK", text)
        return [b"%d\n" % _local.count]
    if path == "/closes":
        start_response("200 OK", text)
        return [b"%d\n" % CLOSED]
    start_response("404 Not Found", text)
    return Closing([b"not found\n"])


def _stream(start_response, lines):
    # start_response is called only when the server asks for the first chunk.
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    for i in range(1, lines + 1):
        yield b"line %d of %d\n" % (i, lines)
        time.sleep(0.01)

