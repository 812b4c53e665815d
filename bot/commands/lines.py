"""Which lines of a comment are commands: ``/compliance`` at the start of a line of the author's own
visible text.

A comment is Markdown, and what runs should be what a reader sees as a command. The block
structure comes from a CommonMark parser (markdown-it-py, the ``commonmark`` preset with inline
parsing turned off), because GitHub and GitLab render comments with CommonMark and the corner
cases (fences inside list items, unclosed fences, a fence closed only by a long enough run of the
same character) are exactly where a hand-written scanner and the rendered page would disagree.

A line is a *command line* when it starts with at most three spaces and then ``/compliance``
(any case), followed by whitespace or the end of the line, and it is not:

- quoted: it starts with ``>`` (after up to three spaces). Someone else's words, or one's own
  quoted back, never run. A line *without* ``>`` that CommonMark folds into the quote above it
  ("lazy continuation") is the commenter's own typing, and does run;
- code: inside a fenced code block (backticks or tildes, any info string, closed or running to
  the end of the comment), or indented by four columns or more (a tab counts as four). An
  indented line is never a command, whether CommonMark renders it as an indented code block or
  as the continuation of a paragraph: "at the start of a line" means at most three spaces;
- hidden or raw HTML: inside an HTML comment (``<!-- ... -->``), or a ``<pre>``, ``<script>``,
  ``<style>`` or ``<textarea>`` block. Other HTML blocks (``<details>``) are shown to readers and
  their lines are read like any other.

Lines are split on ``\\r\\n``, ``\\r`` and ``\\n``, as CommonMark does: a vertical tab, form feed,
NEL or U+2028 does not start a new line, so it can't make text in the middle of a line look like
the start of one. Only the first ``MAX_BODY`` characters of a comment are read.

Lines that look like commands but are quoted, code or hidden are reported with the reason, so the
caller can audit them; nothing else is. Pure: text in, records out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from markdown_it import MarkdownIt

from bot.commands.model import IgnoreReason

MAX_BODY = 100_000
"""Characters of a comment that are read (GitHub allows 65,536; GitLab notes 1,000,000)."""
PREFIX = "/compliance"

_BREAK = re.compile(r"\r\n|\r|\n")
# ``/compliance`` then whitespace or the end of the line (``/compliances`` is not a command).
_COMMAND = re.compile(r"/compliance(?=\s|$)", re.IGNORECASE)
# Anything that would read as a command once quote markers and indentation are taken away.
_LOOKS_LIKE = re.compile(r"[\s>]*/compliance(?=\s|$)", re.IGNORECASE)
_HIDDEN_HTML = re.compile(r"[ \t]*<(?:!--|(?:pre|script|style|textarea)(?:[\s>]|$))", re.I)


@dataclass(frozen=True)
class Line:
    """A line that starts with ``/compliance``: its 1-based number, its text, and whether it is
    a live command (``ignored is None``) or why not."""

    number: int
    text: str
    ignored: IgnoreReason | None = None

    @property
    def arguments(self) -> str:
        """The text after ``/compliance`` (only meaningful for a live command line)."""
        match = _COMMAND.search(self.text)
        return self.text[match.end() :] if match else ""


@functools.cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").disable(["inline", "text_join"])


def _hidden_lines(text: str) -> dict[int, IgnoreReason]:
    """0-based line numbers inside code blocks or hidden HTML, with the reason."""
    hidden: dict[int, IgnoreReason] = {}
    try:
        tokens = _parser().parse(text)
    except Exception:  # never seen; if the parser fails, no line of the comment runs
        return {i: IgnoreReason.CODE for i in range(text.count("\n") + 1)}
    for token in tokens:
        if token.map is None:
            continue
        if token.type in ("fence", "code_block"):
            reason = IgnoreReason.CODE
        elif token.type == "html_block" and _HIDDEN_HTML.match(token.content):
            reason = IgnoreReason.HTML
        else:
            continue
        start, end = token.map
        for number in range(start, end):
            hidden.setdefault(number, reason)
    return hidden


def _indent(text: str) -> int:
    """Leading whitespace in columns, tabs to the next multiple of four."""
    columns = 0
    for ch in text:
        if ch == " ":
            columns += 1
        elif ch == "\t":
            columns += 4 - columns % 4
        else:
            break
    return columns


def command_lines(body: str) -> Iterator[Line]:
    """Every line of ``body`` that starts with ``/compliance`` once quote markers and indentation
    are set aside, in order, each live or with the reason it is ignored."""
    text = body[:MAX_BODY]
    lines = _BREAK.split(text)
    candidates = [i for i, line in enumerate(lines) if _LOOKS_LIKE.match(line)]
    if not candidates:  # the usual comment: no need to parse its Markdown
        return
    # CommonMark replaces NUL with U+FFFD and splits lines exactly as _BREAK does.
    hidden = _hidden_lines("\n".join(lines))
    for i in candidates:
        line = lines[i]
        stripped = line.lstrip(" \t")
        reason: IgnoreReason | None
        if i in hidden:
            reason = hidden[i]
        elif stripped.startswith(">"):
            reason = IgnoreReason.QUOTED
        elif _indent(line) >= 4:
            reason = IgnoreReason.CODE
        elif _COMMAND.match(stripped):
            reason = None
        else:  # e.g. "/compliance" after a non-breaking space: not at the start of the line
            continue
        yield Line(i + 1, line, reason)
