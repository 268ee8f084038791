#!/usr/bin/env python3
"""Every internal link of the rendered book resolves.

Reads every .html and .css file under the built book (book/book) and checks
each relative reference: `href` and `src` (and `srcset`) of any element,
and `url(...)` in stylesheets. The file it names must exist in the book,
and a `#fragment` on a link to a page must be an `id` (or `name`) on that
page. External links (any scheme: https, mailto, data, javascript) are
skipped, never fetched. Checking the output rather than the Markdown also
catches links mdBook rewrites (`chapter.md` becomes `chapter.html`) and
links to files outside book/src, which the built book does not contain.

    links.py BOOK_HTML [BOOK_SRC]

Prints one line per broken link, naming the chapter source when there is
one, and exits 1 if there is any. Standard library only.
"""

from __future__ import annotations

import posixpath
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

# A made-up origin to resolve against: urljoin then handles `..`, `/`,
# `<base>` and fragments exactly as a browser does.
ROOT = "http://book.invalid/"
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+?)['"]?\s*\)""")


class Page(HTMLParser):
    """The ids a page defines and the references it makes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.refs: list[tuple[int, str, str]] = []  # (line, tag, url)
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name") and tag not in ("meta", "input", "select", "textarea"):
                self.ids.add(value)
            elif name == "href" and tag == "base":
                self.base = value
            elif name in ("href", "src"):
                self.refs.append((self.getpos()[0], tag, value))
            elif name == "srcset":
                for candidate in value.split(","):
                    if candidate.strip():
                        self.refs.append((self.getpos()[0], tag, candidate.split()[0]))

    handle_startendtag = handle_starttag


def is_external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme or parts.netloc)


def check(book: Path, src: Path | None) -> tuple[list[str], int]:
    """The broken references, and how many internal ones were checked."""
    pages: dict[str, Page] = {}
    for path in sorted(book.rglob("*.html")):
        page = Page()
        page.feed(path.read_text(errors="replace"))
        pages[path.relative_to(book).as_posix()] = page
    files = {p.relative_to(book).as_posix() for p in book.rglob("*") if p.is_file()}

    def target_of(origin: str, url: str, base: str | None) -> str | None:
        """The file `url` names, relative to the book root; None if outside.

        Resolved as a browser would with the book served at the root of a
        site (mdBook's default `site-url`, which 404.html's <base> uses).
        """
        page_url = urljoin(ROOT + origin, base) if base is not None else ROOT + origin
        absolute = urljoin(page_url, url)
        if not absolute.startswith(ROOT):
            return None
        path = unquote(urlsplit(absolute).path).lstrip("/")
        if path == "" or path.endswith("/") or path + "/index.html" in files:
            path = posixpath.join(path, "index.html")
        return path

    problems: list[str] = []
    checked = 0

    def where(origin: str, line: int) -> str:
        source = ""
        if src is not None:
            md = src / (posixpath.splitext(origin)[0] + ".md")
            if md.is_file():
                source = f" (from {md.as_posix()})"
        return f"{origin}:{line}{source}"

    for origin, page in pages.items():
        for line, tag, url in page.refs:
            if is_external(url) or url.startswith("#") and len(url) == 1:
                continue
            checked += 1
            # A bare `#id` is checked against its own page even under a
            # <base>: mdBook's 404.html has <base href="/"> and a heading
            # self-link, which is mdBook's quirk and not the book's.
            target = origin if url.startswith("#") else target_of(origin, url, page.base)
            if target is None:
                problems.append(f"{where(origin, line)}: <{tag}> {url}: points outside the book")
                continue
            if target not in files:
                problems.append(f"{where(origin, line)}: <{tag}> {url}: no file {target} in the book")
                continue
            fragment = unquote(urlsplit(url).fragment)
            if fragment and target in pages and fragment not in pages[target].ids:
                problems.append(f"{where(origin, line)}: <{tag}> {url}: no id \"{fragment}\" in {target}")

    for path in sorted(book.rglob("*.css")):
        origin = path.relative_to(book).as_posix()
        text = path.read_text(errors="replace")
        for match in CSS_URL.finditer(text):
            url = match.group(1).strip()
            if is_external(url) or url.startswith("#"):
                continue
            checked += 1
            target = target_of(origin, url, None)
            if target is None or target not in files:
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{origin}:{line}: url({url}): no such file in the book")
    # mdBook writes each image twice (inline, and in its zoom overlay).
    return list(dict.fromkeys(problems)), checked


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print(__doc__, file=sys.stderr)
        return 2
    book = Path(argv[0])
    src = Path(argv[1]) if len(argv) == 2 else None
    if not (book / "index.html").is_file():
        print(f"no book in {book}: run `mdbook build book` first", file=sys.stderr)
        return 2
    problems, checked = check(book, src)
    for problem in problems:
        print(f"  FAIL {problem}")
    print(f"links: {checked} internal references checked, {len(problems)} broken")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
