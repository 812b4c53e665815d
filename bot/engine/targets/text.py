"""Text files, line by line: for secrets and other patterns that live in any kind of file.

A text policy names an RE2 ``pattern`` in its ``match`` block. RE2 runs in linear time, so a
pattern from a repository's own policy can't stall the bot (Python's ``re`` can backtrack for
minutes). Each match becomes one subject, and the policy's CEL condition can refine it (for example
to skip documented placeholder values).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any, ClassVar

import re2

from bot.engine.model import SourceFile, Subject
from bot.engine.targets.base import FileTarget, MatchError, TargetError

MAX_TEXT_CHARS = 20_000_000  # RE2 scans 2 MB in about 20 ms
MAX_MATCHES = 1_000  # per file and policy: beyond that a pattern is too loose to be useful


class TextTarget(FileTarget):
    name = "text"
    default_files = ("**",)
    match_keys = frozenset({"pattern"})
    variables: ClassVar[dict[str, str]] = {
        "match": "the text the pattern matched",
        "groups": "its capture groups (missing ones are empty strings)",
        "line": "the whole line it is on",
        "number": "that line's number, from 1",
        "path": "the file's path",
    }

    def compile_match(self, match: dict[str, Any]) -> Any:
        super().compile_match(match)
        pattern = match.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise MatchError("target 'text' needs match.pattern, an RE2 regular expression")
        try:
            return re2.compile(pattern)
        except Exception as exc:  # re2 raises its own error type
            raise MatchError(f"match.pattern is not a valid RE2 expression: {exc}") from None

    def subjects(self, file: SourceFile) -> list[Subject]:
        if len(file.text) > MAX_TEXT_CHARS:
            # Fail closed: padding a file must not hide what it contains.
            raise TargetError(
                f"file too large to scan for patterns ({len(file.text):,} characters; "
                f"the limit is {MAX_TEXT_CHARS:,})"
            )
        if "\x00" in file.text[:8192]:
            return []  # binary: no lines to annotate
        return [Subject(path=file.path, line=1, variables={"text": file.text}, key=file.path)]

    def select(self, compiled_match: Any, subject: Subject) -> Iterable[Subject]:
        text: str = subject.variables["text"]
        line_starts: list[int] | None = None
        matches = 0
        for m in compiled_match.finditer(text):
            if m.end() == m.start():
                continue  # an empty match marks nothing
            matches += 1
            if matches > MAX_MATCHES:
                raise TargetError(f"pattern matched more than {MAX_MATCHES:,} times in this file")
            if line_starts is None:
                line_starts = _line_starts(text)
            number = _line_number(line_starts, m.start())
            start = line_starts[number - 1]
            end = text.find("\n", start)
            line = text[start : end if end != -1 else len(text)].removesuffix("\r")
            yield Subject(
                path=subject.path,
                line=number,
                variables={
                    "match": m.group(0),
                    "groups": [g or "" for g in m.groups()],
                    "line": line,
                    "number": number,
                    "path": subject.path,
                },
            )


def _line_starts(text: str) -> list[int]:
    starts = [0]
    pos = text.find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts


def _line_number(starts: list[int], offset: int) -> int:
    return bisect.bisect_right(starts, offset)
