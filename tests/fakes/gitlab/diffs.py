"""A merge request's diff as GitLab computes it, and the lines a diff position may name.

GitLab asks Gitaly, which runs ``git diff --find-renames=30%`` (``CommitDiff``): renames are
paired from 30 % similarity, not git's default 50 %. A diff note's position is checked the way
``Gitlab::Diff::Position#find_diff_file`` does it: the diff of the position's commits limited to
its ``old_path`` and ``new_path``, its first file, and in it a line whose (old, new) numbers are
the position's: an added line has no old number, a removed one no new number
(``Gitlab::Diff::Line#old_line``/``#new_line``). Anything else has no line code: GitLab's 400.
Unchanged lines outside the hunks are accepted with both numbers, as GitLab unfolds them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..github.git import FileChange, GitRepo

GITALY_DIFF = ("--find-renames=30%", "--no-color", "--no-ext-diff", "--diff-algorithm=myers")
_STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "T": "changed"}
_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class DiffFile:
    old_path: str
    new_path: str
    status: str  # git's letter: A, D, M, R, T
    patch: str  # the hunks, from the first "@@" ("" for a binary file or a mode change)
    blob: str
    added: frozenset[int]  # new line numbers
    removed: frozenset[int]  # old line numbers
    # (a new line, old line minus new line from there on), in order, for unchanged lines
    shifts: tuple[tuple[int, int], ...]

    def has_line(self, old_line: int | None, new_line: int | None) -> bool:
        if old_line is None and new_line is None:
            return False
        if old_line is None:
            return new_line in self.added
        if new_line is None:
            return old_line in self.removed
        if new_line in self.added or old_line in self.removed:
            return False
        shift = 0
        for start, after in self.shifts:
            if new_line >= start:
                shift = after
        return old_line - new_line == shift

    def change(self) -> FileChange:
        """The file in the shape the fake's renderer takes (`Renderer.diff`)."""
        return FileChange(
            filename=self.new_path if self.status != "D" else self.old_path,
            status=_STATUS.get(self.status, "modified"),
            additions=len(self.added),
            deletions=len(self.removed),
            patch=self.patch or None,
            sha=self.blob,
            previous_filename=self.old_path if self.status == "R" else None,
        )


def merge_request_diff(
    git: GitRepo, base: str, head: str, paths: list[str] | None = None
) -> list[DiffFile]:
    """The files changed from ``base`` to ``head`` (limited to ``paths``), in git's order."""
    spec = ["--", *(f":(literal){p}" for p in paths)] if paths else []
    out = git.run_bytes("diff", "--raw", "-z", "-p", "--no-abbrev", *GITALY_DIFF, base, head, *spec)
    fields = out.split(b"\0")
    entries: list[tuple[str, str, str, str]] = []  # status, old path, new path, blob
    i = 0
    while i < len(fields) and fields[i].startswith(b":"):
        _old_mode, _new_mode, old_blob, new_blob, code = fields[i].decode().lstrip(":").split()
        first = fields[i + 1].decode("utf-8", "surrogateescape")
        if code[0] in "RC":
            second = fields[i + 2].decode("utf-8", "surrogateescape")
            entries.append((code[0], first, second, new_blob))
            i += 3
        else:
            entries.append((code[0], first, first, old_blob if code[0] == "D" else new_blob))
            i += 2
    patch = b"\0".join(fields[i + 1 :]).decode("utf-8", "surrogateescape")
    sections = ("\n" + patch).split("\ndiff --git ")[1:]
    files = []
    for (code, old, new, blob), section in zip(entries, sections, strict=True):
        hunks = section.split("\n@@", 1)
        body = ("@@" + hunks[1].rstrip("\n")) if len(hunks) == 2 else ""
        added, removed, shifts = _lines(body)
        files.append(DiffFile(old, new, code, body, blob, added, removed, shifts))
    return files


def position_file(
    git: GitRepo, base: str, head: str, old_path: str, new_path: str
) -> DiffFile | None:
    """The diff file a position names (``find_diff_file``): the first of the diff limited to
    its paths."""
    found = merge_request_diff(git, base, head, list(dict.fromkeys([old_path, new_path])))
    return found[0] if found else None


def _lines(patch: str) -> tuple[frozenset[int], frozenset[int], tuple[tuple[int, int], ...]]:
    """Added new lines, removed old lines, and where the old-minus-new shift changes."""
    added: set[int] = set()
    removed: set[int] = set()
    shifts: list[tuple[int, int]] = []
    old = new = 0
    in_hunk = False
    for text in patch.split("\n"):
        hunk = _HUNK.match(text)
        if hunk:
            old, new, in_hunk = int(hunk[1]), int(hunk[3]), True
            # a side with no lines names the line before it: "@@ -0,0 +1,2 @@"
            old += hunk[2] == "0"
            new += hunk[4] == "0"
            continue
        if not in_hunk or text.startswith("\\"):  # "\ No newline at end of file"
            continue
        if text.startswith("+"):
            added.add(new)
            new += 1
        elif text.startswith("-"):
            removed.add(old)
            old += 1
        else:
            old, new = old + 1, new + 1
            continue
        shifts.append((new, old - new))
    return frozenset(added), frozenset(removed), tuple(shifts)
