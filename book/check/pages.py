#!/usr/bin/env python3
"""What each page of the book must show, and whether the browser showed it.

The expectations come from the sources, never from the rendered HTML:
SUMMARY.md lists the pages, each chapter's first `# ` line is its <h1>, and
each fenced code block is its Markdown text with every `{{#include}}`
replaced the way mdBook replaces it (whole file, line range, or the lines
between `ANCHOR: name` and `ANCHOR_END: name`, marker lines dropped). The
k-th code block of a chapter is the k-th `<pre><code>` of its page.

    pages.py list BOOK_SRC                 the pages to load, as JSON
    pages.py verify BOOK_SRC --dom DUMP    compare what the browser saw
                                           (chromium --dump-dom of check.html)
    pages.py verify BOOK_SRC --static BOOK_HTML
                                           the same, read from the HTML
                                           files instead (no browser, so
                                           images are not loaded)

`verify` prints one line per problem and exits 1 if there is any.
Standard library only, so it runs wherever python3 does.
"""

from __future__ import annotations

import html
import json
import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

# mdBook's include directive; a backslash before it escapes it, and mdBook
# then prints it literally (the introduction shows one that way).
INCLUDE = re.compile(r"(\\?)\{\{#include\s+([^}\s]+)\s*\}\}")
ANCHOR_START = re.compile(r"ANCHOR:\s*([\w-]+)")
ANCHOR_END = re.compile(r"ANCHOR_END:\s*([\w-]+)")
FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)")
SUMMARY_LINK = re.compile(r"\[[^\]]*\]\(([^)]+)\)")

# Pages mdBook writes besides the chapters; their <h1> is not in SUMMARY.md.
EXTRA_PAGES = ["index.html", "print.html", "404.html"]


@dataclass
class Block:
    """One fenced code block of a chapter, as it must appear rendered."""

    source: str  # the chapter's .md
    line: int  # where the opening fence is, in that file
    lang: str
    expected: str
    includes: list[str] = field(default_factory=list)
    error: str | None = None  # an include that cannot be resolved


@dataclass
class Chapter:
    source: Path
    html: str
    h1: str
    blocks: list[Block]
    escaped_includes: int  # `\{{#include` shown on purpose


def rust_lines(text: str) -> list[str]:
    """Rust's `str::lines`, which mdBook uses: `\n` or `\r\n` ends a line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def resolve_include(chapter: Path, target: str) -> str:
    """The text mdBook puts in place of `{{#include target}}`."""
    path, _, selector = target.partition(":")
    lines = rust_lines((chapter.parent / path).read_text())
    if not selector:
        return "\n".join(lines)
    if selector[0].isdigit() or selector[0] == ":":
        # Line ranges, 1-based and inclusive: `5`, `5:9`, `5:`, `:9`.
        start, _, end = selector.partition(":")
        first = int(start) - 1 if start else 0
        if ":" not in selector:
            return lines[first] if first < len(lines) else ""
        last = int(end) if end else len(lines)
        return "\n".join(lines[first:last])
    taken: list[str] = []
    inside = False
    for line in lines:
        if not inside:
            found = ANCHOR_START.search(line)
            inside = bool(found and found.group(1) == selector)
            continue
        end = ANCHOR_END.search(line)
        if end and end.group(1) == selector:
            return "\n".join(taken)
        # Markers of other anchors nested in this one are dropped too.
        if ANCHOR_START.search(line) or end:
            continue
        taken.append(line)
    return "\n".join(taken)  # no end marker: mdBook takes the rest


def expand(chapter: Path, text: str) -> tuple[str, list[str], str | None]:
    """Replaces the include directives in `text`.

    Returns the text, the include targets, and an error if a target's file
    cannot be read (mdBook then leaves the directive in the page).
    """
    targets: list[str] = []
    errors: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(0)[1:]  # escaped: shown as written
        targets.append(match.group(2))
        try:
            return resolve_include(chapter, match.group(2))
        except OSError as e:
            errors.append(f"cannot read {match.group(2)}: {e.strerror}")
            return match.group(0)

    return INCLUDE.sub(replace, text), targets, "; ".join(errors) or None


def hide_rust_lines(text: str) -> str:
    """mdBook's hidden lines in Rust blocks: `# x` shows as `x`, greyed out."""
    out = []
    for line in text.split("\n"):
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("##"):
            out.append(indent + stripped[1:])
        elif stripped == "#":
            out.append(indent)
        elif stripped.startswith("# "):
            out.append(indent + stripped[2:])
        else:
            out.append(line)
    return "\n".join(out)


def code_blocks(chapter: Path, markdown: str) -> list[Block]:
    blocks: list[Block] = []
    lines = markdown.split("\n")
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i].lstrip(" ")) if lines[i].strip() else None
        if not opening:
            i += 1
            continue
        indent = len(lines[i]) - len(lines[i].lstrip(" "))
        marker = opening.group(2)
        lang = opening.group(3).split(",")[0]
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(marker[0] * len(marker)) and set(stripped) == {marker[0]}:
                break
            # A fence indented by n spaces (in a list item) loses up to n
            # spaces from each of its lines.
            line = lines[j]
            removable = len(line) - len(line.lstrip(" "))
            body.append(line[min(indent, removable) :])
            j += 1
        raw = "\n".join(body)
        text, targets, error = expand(chapter, raw)
        if lang == "rust":
            text = hide_rust_lines(text)
        blocks.append(Block(chapter.as_posix(), i + 1, lang, text, targets, error))
        i = j + 1
    return blocks


def first_heading(markdown: str) -> str:
    for line in markdown.split("\n"):
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def chapters(src: Path) -> list[Chapter]:
    """The chapters SUMMARY.md links to, in reading order (drafts skipped)."""
    found = []
    for target in SUMMARY_LINK.findall((src / "SUMMARY.md").read_text()):
        target = target.strip()
        if not target or "://" in target:
            continue
        source = src / target
        markdown = source.read_text()
        page = re.sub(r"\.md$", ".html", target)
        if Path(page).stem in ("README", "index"):
            page = str(Path(page).with_name("index.html"))
        found.append(
            Chapter(
                source=source,
                html=page,
                h1=first_heading(markdown),
                blocks=code_blocks(source, markdown),
                escaped_includes=len(re.findall(r"\\\{\{#include", markdown)),
            )
        )
    return found


def plain(text: str) -> str:
    """Heading text as a reader sees it, for comparing source and page."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [text](url)
    text = text.replace("`", "").replace("**", "").replace("*", "")
    for curly, straight in {"’": "'", "‘": "'", "“": '"', "”": '"', "–": "--", "—": "---", "…": "..."}.items():
        text = text.replace(curly, straight)
    return " ".join(text.split())


def first_difference(expected: str, got: str) -> str:
    want, have = expected.split("\n"), got.split("\n")
    for n, (a, b) in enumerate(zip(want, have), start=1):
        if a != b:
            return f"line {n}: expected {a!r}, got {b!r}"
    if len(want) != len(have):
        return f"expected {len(want)} lines, got {len(have)}"
    return "whitespace differs"


def check_code(page: str, blocks: list[Block], seen: list[dict], escaped: int) -> list[str]:
    """The rendered code blocks of a page against the chapter(s) it shows."""
    problems = []
    literal = sum(block["text"].count("{{#include") for block in seen)
    if literal > escaped:
        problems.append(f"{page}: {literal - escaped} literal {{{{#include}}}} left in code (not expanded)")
    if len(seen) != len(blocks):
        problems.append(
            f"{page}: {len(seen)} code blocks on the page, {len(blocks)} fenced blocks in the source"
        )
        return problems
    for block, shown in zip(blocks, seen):
        got = shown["text"].rstrip("\n")
        where = f"{page}: code block at {block.source}:{block.line}"
        if block.includes:
            where += " (" + ", ".join("{{#include " + t + "}}" for t in block.includes) + ")"
        if block.error:
            problems.append(f"{where}: {block.error}")
        elif block.includes and not got.strip():
            problems.append(f"{where}: empty")
        elif got != block.expected.rstrip("\n"):
            problems.append(f"{where}: differs from the source, {first_difference(block.expected.rstrip(chr(10)), got)}")
    return problems


def check_images(page: str, images: list[dict]) -> list[str]:
    """Every image loaded, and each one is visible somewhere on the page.

    mdBook renders an image twice: inline, and hidden in a zoom overlay that
    shows when the reader clicks it, so visibility is checked per source.
    """
    problems = []
    shown: dict[str, bool] = {}
    for image in images:
        failed = f"{page}: image {image['src']} did not load"
        if (not image["complete"] or image["naturalWidth"] == 0) and failed not in problems:
            problems.append(failed)
        shown[image["src"]] = shown.get(image["src"], False) or image["shownWidth"] > 0
    for src, visible in shown.items():
        if not visible and f"{page}: image {src} did not load" not in problems:
            problems.append(f"{page}: image {src} loaded but is not shown (zero width)")
    return problems


def verify(src: Path, observed: dict) -> list[str]:
    """Every problem with the pages the browser (or the HTML) showed."""
    book = chapters(src)
    problems = []
    expectations: dict[str, tuple[list[str], list[Block], int]] = {
        chapter.html: ([chapter.h1], chapter.blocks, chapter.escaped_includes) for chapter in book
    }
    if book and "index.html" not in expectations:
        first = book[0]
        expectations["index.html"] = ([first.h1], first.blocks, first.escaped_includes)
    expectations["print.html"] = (
        [chapter.h1 for chapter in book],
        [block for chapter in book for block in chapter.blocks],
        sum(chapter.escaped_includes for chapter in book),
    )
    for name in [chapter.html for chapter in book] + EXTRA_PAGES:
        page = observed.get(name)
        if page is None:
            problems.append(f"{name}: not checked (the browser did not report it)")
            continue
        if page.get("error"):
            problems.append(f"{name}: {page['error']}")
            continue
        if page["status"] != 200:
            problems.append(f"{name}: HTTP status {page['status']}")
        h1s = [plain(h) for h in page["h1"]]
        if name in expectations:
            wanted, blocks, escaped = expectations[name]
            missing = [h for h in wanted if plain(h) not in h1s]
            if missing:
                problems.append(f"{name}: no <h1> {' / '.join(missing)!r} (page has {h1s!r})")
            problems += check_code(name, blocks, page["code"], escaped)
        elif not any(h1s):
            problems.append(f"{name}: no <h1>")
        problems += check_images(name, page["images"])
        if page["code"] and page.get("highlighted") == 0:
            problems.append(f"{name}: no code block was highlighted (did the book's JavaScript run?)")
    return problems


class StaticPage(HTMLParser):
    """What a browser would report, read from an HTML file (no scripts)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.h1: list[str] = []
        self.code: list[dict] = []
        self.images: list[dict] = []
        self._in_main = self._in_pre = False
        self._h1: list[str] | None = None
        self._code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "main":
            self._in_main = True
        elif tag == "pre":
            self._in_pre = True
        elif tag == "h1" and self._in_main:
            self._h1 = []
        elif tag == "code" and self._in_main and self._in_pre:
            self._code = []
        elif tag == "img":
            # Without a browser an image counts as shown if it is not empty.
            self.images.append({"src": attributes.get("src"), "complete": True, "naturalWidth": 1, "shownWidth": 1})

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self._in_main = False
        elif tag == "pre":
            self._in_pre = False
        elif tag == "h1" and self._h1 is not None:
            self.h1.append("".join(self._h1))
            self._h1 = None
        elif tag == "code" and self._code is not None:
            self.code.append({"text": "".join(self._code)})
            self._code = None

    def handle_data(self, data: str) -> None:
        for sink in (self._h1, self._code):
            if sink is not None:
                sink.append(data)


def read_static(html_dir: Path, names: list[str]) -> dict:
    observed = {}
    for name in names:
        path = html_dir / name
        if not path.is_file():
            observed[name] = {"error": "no such file"}
            continue
        parser = StaticPage()
        parser.feed(path.read_text())
        observed[name] = {"status": 200, "h1": parser.h1, "code": parser.code, "images": parser.images}
    return observed


def read_dump(path: Path) -> dict | None:
    """The report check.html wrote into its DOM, from chromium --dump-dom."""
    found = re.search(r'<pre id="report">(.*?)</pre>', path.read_text(), re.S)
    if not found or not found.group(1).startswith("{"):
        return None
    report = json.loads(html.unescape(found.group(1)))
    return report["pages"] if report.get("done") else None


def page_names(src: Path) -> list[str]:
    return list(dict.fromkeys([chapter.html for chapter in chapters(src)] + EXTRA_PAGES))


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "list":
        print(json.dumps(page_names(Path(argv[1]))))
        return 0
    if len(argv) == 4 and argv[0] == "verify" and argv[2] in ("--dom", "--static"):
        src = Path(argv[1])
        if argv[2] == "--static":
            observed = read_static(Path(argv[3]), page_names(src))
        else:
            observed = read_dump(Path(argv[3]))
            if observed is None:
                print("  FAIL the check page did not finish: no report in the browser's DOM")
                return 1
        problems = verify(src, observed)
        for problem in problems:
            print(f"  FAIL {problem}")
        pages = [page for page in observed.values() if not page.get("error")]
        images = {image["src"] for page in pages for image in page["images"]}
        blocks = sum(len(page["code"]) for page in pages)
        included = sum(1 for chapter in chapters(src) for block in chapter.blocks if block.includes)
        print(
            f"pages: {len(pages)} pages, {len(images)} distinct images, {blocks} code blocks "
            f"({included} {{{{#include}}}} listings in the chapters), {len(problems)} problems"
        )
        return 1 if problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
