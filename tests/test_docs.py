"""Every code block of README.md and docs/*.md runs as written, and prints what it claims.

One test per page. The page's ```python blocks run in order in one namespace, in a fresh
temporary working directory, one top-level statement at a time (tracebacks point at the
page's own line numbers). What is checked, as docs/testing.md describes for writers:

* The output of each top-level statement that calls ``print`` and carries expectation
  comments: for each ``print(...)`` in it, the comment ending the call's last line,
  ``print(x.shape)  # (5, 2)``, and the full-line comments right below that line (one per
  line printed, for output of several lines). The statement's whole output is compared
  with these lines, in order. Two or more spaces inside a comment start an explanation
  (``# 68  the course's number``), so the expectation is the comment up to such a run (or
  the whole comment, for outputs with double spaces of their own); ``...`` matches any
  text (``# {'loss': 0.09...}``); whitespace runs compare as one space, so output of
  several lines may also be written on one comment line. A comment that starts with
  ``e.g.`` shows a value that changes from run to run and is not compared.
* A fence ```output right after a ```python block holds what the block's other
  statements (those without an expectation comment) print, compared line by line after
  stripping trailing spaces, ``...`` matching any text.
* ```text, ```bash, ```output and bare ``` fences are not run.

Pages that need datasets see ``$JAXDL_SOURCE_DIR`` = ``<repo>/../shared/data`` (the raw
files of this project's machines) when that folder exists, and a writable
``$JAXDL_DATA_DIR`` shared by the session; a block that stops on
``jaxdl.data.DataNotFoundError`` is skipped, with the reason, when that folder is absent.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import tokenize
import traceback
from pathlib import Path
from typing import NamedTuple

import jax
import pytest

from jaxdl.data import DataNotFoundError

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = {"python", "py", "python3"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")


class Block(NamedTuple):
    """One fenced block: its language, its first content line (1-based) and its text."""

    lang: str
    line: int
    code: str
    after: int  # the 1-based line of the closing fence


def fenced_blocks(text: str) -> list[Block]:
    """The fenced blocks of a markdown page, with their language and line numbers."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = len(m["indent"]), m["fence"]
        lang = (m["info"].split() or [""])[0].lower()
        body, j = [], i + 1
        while j < len(lines):
            close = FENCE.match(lines[j])
            if close and close["fence"][0] == fence[0] and len(close["fence"]) >= len(fence) \
                    and not close["info"].strip():
                break
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        blocks.append(Block(lang, i + 2, "\n".join(body) + "\n", j + 1))
        i = j + 1
    return blocks


def _comments(code: str, first_line: int) -> tuple[dict[int, str], dict[int, str]]:
    """``(trailing, full_line)``: comment texts (``#`` removed) by page line number."""
    trailing, full = {}, {}
    lines = code.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type != tokenize.COMMENT:
            continue
        row, col = tok.start
        text = tok.string[1:]
        text = text[1:] if text.startswith(" ") else text
        if lines[row - 1][:col].strip():
            trailing[row + first_line - 1] = text
        else:
            full[row + first_line - 1] = text
    return trailing, full


def _norm(s: str) -> str:
    return " ".join(s.split())


def _candidates(comment: str) -> list[str]:
    """The comment, and each cut before a run of two or more spaces (an explanation)."""
    text = comment.strip()
    return [text] + [text[:m.start()] for m in re.finditer(r" {2,}", text)]


def _like(expected: str, got: str, *, normalise: bool = True) -> bool:
    """``got`` equals ``expected``, with ``...`` in ``expected`` matching any text."""
    if normalise:
        expected, got = _norm(expected), _norm(got)
    pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, got, flags=re.S) is not None


def printed_as_claimed(expected: list[str], output: str) -> bool:
    """Whether ``output`` is what the expectation comment lines claim."""
    out_lines = output.rstrip("\n").split("\n")
    if len(expected) >= len(out_lines) and all(
            any(_like(c, line) for c in _candidates(e)) for e, line in zip(expected, out_lines)):
        return True
    return any(any(_like(c, output) for c in _candidates("  ".join(expected[:k])))
               for k in range(1, len(expected) + 1))


def _print_calls(stmt: ast.stmt) -> list[ast.Call]:
    """The ``print(...)`` calls of a top-level statement, in source order (none inside a
    ``def`` or ``class``: those run later, from another statement)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return []
    calls = [n for n in ast.walk(stmt) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name) and n.func.id == "print"]
    return sorted(calls, key=lambda n: (n.lineno, n.col_offset))


def _expectation(stmt: ast.stmt, trailing: dict[int, str], full: dict[int, str]) -> list[str]:
    """The expectation lines of a statement: for each of its ``print`` calls, the comment
    ending the call's last line and the full-line comments right below it."""
    lines: list[str] = []
    for line in dict.fromkeys(call.end_lineno for call in _print_calls(stmt)):
        if line in trailing:
            lines.append(trailing[line])
        line += 1
        while line in full:
            lines.append(full[line])
            line += 1
    return lines


def _where(page: Path, line: int) -> str:
    return f"{page.relative_to(ROOT)}:{line}"


def _traceback(e: BaseException) -> str:
    """The exception and its frames from the page and jaxdl (none from this test)."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename != __file__]
    return "".join(traceback.format_list(frames[-8:])) + "".join(
        traceback.format_exception_only(e))


def run_block(page: Path, block: Block, namespace: dict[str, object],
              mismatches: list[str]) -> str:
    """Runs one python block, adding to ``mismatches`` each print that differs from its
    expectation comment; returns the block's unclaimed output."""
    source = "\n" * (block.line - 1) + block.code  # page line numbers in tracebacks
    tree = ast.parse(source, filename=str(page))
    trailing, full = _comments(block.code, block.line)
    unclaimed = []
    for stmt in tree.body:
        module = ast.Module(body=[stmt], type_ignores=[])
        out = io.StringIO()
        error: Exception | None = None
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(module, str(page), "exec"), namespace)
        except Exception as e:  # reported below, outside the handler: no chained context
            error = e
        if error is not None:
            if isinstance(error, DataNotFoundError) and not SHARED_DATA.is_dir() \
                    and not mismatches:  # never let a skip hide mismatches already found
                pytest.skip(f"{_where(page, stmt.lineno)} needs a dataset that is absent here "
                            f"({SHARED_DATA} does not exist): {str(error).splitlines()[0]}")
            pytest.fail("\n\n".join([*mismatches, f"{_where(page, stmt.lineno)}: the statement "
                                      f"raised {type(error).__name__}:\n{_traceback(error)}"
                                      f"its output:\n{out.getvalue()}"]), pytrace=False)
        printed = out.getvalue()
        expected = _expectation(stmt, trailing, full)
        if not expected:
            unclaimed.append(printed)
        elif expected[0].strip().startswith("e.g."):
            continue
        elif not printed.strip():
            mismatches.append(f"{_where(page, stmt.end_lineno)}: the comment claims "
                              f"{expected[0].strip()!r} but the statement printed nothing")
        elif not printed_as_claimed(expected, printed):
            claim = "\n".join(f"  # {e}" for e in expected)
            mismatches.append(f"{_where(page, stmt.end_lineno)}: printed\n{printed.rstrip()}\n"
                              f"but the page claims\n{claim}")
    return "".join(unclaimed)


def _lines(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_code_blocks_run_and_print_what_the_page_claims(page, tmp_path, monkeypatch,
                                                        session_data_dir):
    text = page.read_text(encoding="utf-8")
    blocks = fenced_blocks(text)
    lines = text.splitlines()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JAXDL_DATA_DIR", str(session_data_dir))  # conftest.py
    if SHARED_DATA.is_dir() and not os.environ.get("JAXDL_SOURCE_DIR"):
        monkeypatch.setenv("JAXDL_SOURCE_DIR", str(SHARED_DATA))
    namespace: dict[str, object] = {"__name__": "__doc_page__"}
    x64, promotion = jax.config.jax_enable_x64, jax.config.jax_numpy_rank_promotion
    try:
        previous: tuple[Block, str] | None = None
        mismatches: list[str] = []
        for block in blocks:
            if block.lang == "output":
                gap = lines[previous[0].after:block.line - 2] if previous else ["?"]
                if previous is None or any(g.strip() for g in gap):
                    pytest.fail(f"{_where(page, block.line - 1)}: an ```output block must "
                                "follow a ```python block directly", pytrace=False)
                if not _like(_lines(block.code), _lines(previous[1]), normalise=False):
                    mismatches.append(f"{_where(page, block.line)}: the python block above "
                                      f"printed\n{_lines(previous[1])}\nbut the ```output "
                                      f"block shows\n{_lines(block.code)}")
                previous = None
            elif block.lang in RUN:
                previous = (block, run_block(page, block, namespace, mismatches))
            else:
                previous = None
        if mismatches:
            pytest.fail("\n\n".join(mismatches), pytrace=False)
    finally:
        jax.config.update("jax_enable_x64", x64)
        jax.config.update("jax_numpy_rank_promotion", promotion)


# ------------------------------------------------------------------------------ links

LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def anchors(text: str) -> set[str]:
    """GitHub's anchors for a page's headings (outside code blocks)."""
    found: set[str] = set()
    in_code = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code and (m := re.match(r"^#{1,6}\s+(.*?)\s*#*$", line)):
            slug = re.sub(r"[^\w\- ]", "", m[1].lower()).replace(" ", "-")
            candidate, i = slug, 0
            while candidate in found:
                i += 1
                candidate = f"{slug}-{i}"
            found.add(candidate)
    return found


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page):
    text = page.read_text(encoding="utf-8")
    in_code, prose = False, []
    for line in text.splitlines():  # links outside code blocks
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            prose.append(line)
    broken = []
    for m in LINK.finditer("\n".join(prose)):
        target = m["target"]
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text("utf-8")):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


# ------------------------------------------------------------ the checker checks itself


def test_expectation_rules():
    assert printed_as_claimed(["(3,) 131"], "(3,) 131\n")
    assert printed_as_claimed(["68  the course's number"], "68\n")
    assert printed_as_claimed(["1.32 [0.5 1.  2. ]"], "1.32 [0.5 1.  2. ]\n")
    assert printed_as_claimed(["{'accuracy': 0.97..., 'loss': 0.09...}"],
                              "{'accuracy': 0.9733, 'loss': 0.0938}\n")
    assert printed_as_claimed(["[[ True False] [ True True]]"], "[[ True False]\n [ True  True]]\n")
    assert printed_as_claimed(["a", "b  why", "a later comment"], "a\nb\n")
    assert not printed_as_claimed(["(3,) 131"], "(3,) 132\n")
    assert not printed_as_claimed(["a", "c"], "a\nb\n")
    assert anchors("# A `b.c` page\n## Where `jit` belongs\n```\n# not a heading\n```\n"
                   "## Where `jit` belongs\n") == {"a-bc-page", "where-jit-belongs",
                                                  "where-jit-belongs-1"}
    blocks = fenced_blocks("x\n```python\nprint(1)  # 1\n```\n\n  ```text\n  no\n  ```\n")
    assert [(b.lang, b.line, b.code) for b in blocks] == [("python", 3, "print(1)  # 1\n"),
                                                          ("text", 7, "no\n")]
