"""Reading a git repository through the ``git`` command: refs, merge bases, changes, file contents.

The CLI's ``check`` uses it on a local clone; the bot uses it on its mirror cache. Contents are
read with one ``git cat-file --batch`` process per call, so the cost doesn't grow with a process
per file. Nothing here writes to the repository.
"""

from __future__ import annotations

import base64
import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.forge.errors import GitError as GitError  # (raised here; named by callers from here)


@dataclass(frozen=True)
class Change:
    path: str
    status: str  # A, M, D, R, C, T (git's letters)
    old_path: str | None = None


class GitRepo:
    def __init__(self, path: Path | str, *, env: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self._env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}

    def _run(self, *args: str, input: bytes | None = None) -> bytes:
        try:
            proc = subprocess.run(
                ["git", "-C", str(self.path), *args],
                input=input,
                capture_output=True,
                env=self._env,
                check=False,
            )
        except FileNotFoundError:
            raise GitError("git is not installed or not on PATH") from None
        if proc.returncode != 0:
            message = proc.stderr.decode("utf-8", "replace").strip() or f"exit {proc.returncode}"
            raise GitError(f"git {args[0]}: {message}")
        return proc.stdout

    def is_repository(self) -> bool:
        try:
            self._run("rev-parse", "--git-dir")
            return True
        except GitError:
            return False

    def resolve(self, ref: str) -> str:
        """The commit SHA a ref names; GitError naming the ref if it doesn't exist."""
        if ref.startswith("-"):
            raise GitError(f"not a valid ref: {ref!r}")
        try:
            return (
                self._run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
            )
        except GitError:
            raise GitError(f"unknown revision {ref!r} in {self.path}") from None

    def tree(self, commit: str) -> str:
        """The SHA of a commit's root tree."""
        return self._run("rev-parse", "--verify", f"{commit}^{{tree}}").decode().strip()

    def merge_base(self, a: str, b: str) -> str:
        try:
            return self._run("merge-base", a, b).decode().strip()
        except GitError:
            raise GitError(f"{a[:12]} and {b[:12]} have no common ancestor") from None

    def changed_files(self, base: str, head: str) -> list[Change]:
        """Files changed from ``base`` to ``head`` (pass the merge base as ``base``)."""
        out = self._run("diff", "--name-status", "-z", "--no-renames", "--no-ext-diff", base, head)
        fields = out.decode("utf-8", "surrogateescape").split("\0")
        changes = []
        i = 0
        while i + 1 < len(fields):
            status, path = fields[i], fields[i + 1]
            changes.append(Change(path=path, status=status[:1]))
            i += 2
        return changes

    def read_files(self, commit: str, paths: Iterable[str]) -> dict[str, bytes]:
        """Contents of blobs at a commit; paths that don't exist (or aren't files) are left out."""
        wanted = [p for p in paths if "\n" not in p]
        if not wanted:
            return {}
        request = "".join(f"{commit}:{p}\n" for p in wanted).encode("utf-8", "surrogateescape")
        out = self._run("cat-file", "--batch", input=request)
        result: dict[str, bytes] = {}
        pos = 0
        for path in wanted:
            header_end = out.index(b"\n", pos)
            header = out[pos:header_end].split()
            pos = header_end + 1
            if len(header) == 2 and header[1] == b"missing":
                continue
            if len(header) != 3:
                continue
            kind, size = header[1], int(header[2])
            data = out[pos : pos + size]
            pos += size + 1  # content is followed by a newline
            if kind == b"blob":
                result[path] = data
        return result

    def list_files(self, commit: str, directory: str = "") -> list[str]:
        """Paths of files under ``directory`` (default: the whole tree) at a commit."""
        where = ["--", directory.rstrip("/") + "/"] if directory else []
        out = self._run("ls-tree", "-r", "-z", "--name-only", commit, *where)
        return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]

    def commit_message(self, commit: str) -> tuple[str, str, str]:
        """(subject, body, author name) of a commit."""
        out = self._run("log", "-1", "--format=%s%x00%b%x00%an", commit).decode("utf-8", "replace")
        subject, body, author = [*out.split("\0"), "", "", ""][:3]
        return subject, body.strip(), author.strip()

    def is_shallow(self) -> bool:
        """Whether history is cut at a depth (a shallow clone): refs and merge bases beyond the
        cut are missing, and fetching more history is what brings them back."""
        try:
            return self._run("rev-parse", "--is-shallow-repository").decode().strip() == "true"
        except GitError:
            return False

    def added_lines(
        self, base: str, head: str, paths: Iterable[str], *, renames: int = 50
    ) -> dict[str, tuple[str, frozenset[int]]]:
        """For each of ``paths`` that ``head`` adds or changes from ``base``: (its path at
        ``base``, the line numbers of its ``head`` version that the diff adds). Deleted and
        unchanged paths are left out; a binary file adds no line.

        Two ``git diff`` processes whatever the number of paths: the whole diff's name pairs
        first (renames are found among all files, at ``renames`` percent similarity, as the
        forge finds them), then the hunks of the wanted files alone, without context (which
        only groups lines into hunks: it changes no line from context to added). GitError when
        a commit is missing."""
        if base.startswith("-") or head.startswith("-"):
            raise GitError(f"not a valid revision: {base!r}..{head!r}")
        flags = (
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--diff-algorithm=myers",  # what a forge runs, whatever this host's git config says
            "--indent-heuristic",
            f"--find-renames={renames}%",
        )
        pairs = _diff_pairs(self._run("diff", "--raw", "-z", "--no-abbrev", *flags, base, head))
        old_of = {new: old for old, new in pairs if new is not None}
        wanted = {p: old_of[p] for p in dict.fromkeys(paths) if p in old_of}
        if not wanted:
            return {}
        spec = [f":(literal){p}" for p in dict.fromkeys([*wanted, *wanted.values()])]
        if len(spec) > _MAX_PATHSPECS:  # a command line has its limits: diff it all instead
            spec = []
        out = self._run("diff", "--raw", "-z", "-p", "--unified=0", *flags, base, head, "--", *spec)
        limited, patch = _split_raw(out)
        sections = ("\n" + patch.decode("utf-8", "surrogateescape")).split("\ndiff --git ")[1:]
        if len(sections) != len(limited):
            raise GitError(
                f"git diff {base[:12]}..{head[:12]}: {len(limited)} files, {len(sections)} patches"
            )
        result: dict[str, tuple[str, frozenset[int]]] = {}
        for (old, new), section in zip(limited, sections, strict=True):
            # a file paired otherwise than in the whole diff is not the forge's file: left out
            if new in wanted and old == wanted[new]:
                result[new] = (old, frozenset(hunk_added_lines(section)))
        return result


class MirrorCache:
    """Bare mirrors of forge repositories under one directory, bounded in size.

    Each repository gets a bare repository that is fetched into, never cloned from scratch twice.
    Credentials reach git only through environment variables (``GIT_CONFIG_*`` carrying an
    ``http.extraHeader``), so a token never appears in a process list, a log line or a
    ``.git/config``. When the cache grows past ``max_bytes``, the least recently used mirrors are
    removed (they are fetched again when needed).
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path_for(self, host: str, full_name: str) -> Path:
        safe = "/".join(part for part in full_name.split("/") if part not in ("", ".", ".."))
        return self.root / host / f"{safe}.git"

    def fetch(
        self, host: str, full_name: str, url: str, token: str | None, refs: list[str]
    ) -> GitRepo:
        """Fetch ``refs`` (full ref names) from ``url`` into the mirror; returns the mirror.

        Fetches into one mirror are serialised (a file lock, so across worker processes too):
        two concurrent fetches of the same ref fail to lock it in git.
        """
        path = self.path_for(host, full_name)
        path.mkdir(parents=True, exist_ok=True)
        with open(path.parent / f".{path.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return self._fetch(path, url, token, refs)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _fetch(self, path: Path, url: str, token: str | None, refs: list[str]) -> GitRepo:
        if not (path / "HEAD").exists():
            subprocess.run(
                ["git", "init", "--bare", "--quiet", str(path)], check=True, capture_output=True
            )
        env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
        if token:
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            env.update(
                {
                    "GIT_CONFIG_COUNT": "1",
                    "GIT_CONFIG_KEY_0": "http.extraHeader",
                    "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
                }
            )
        repo = GitRepo(path, env=env)
        refspecs = [f"+{ref}:{ref}" for ref in refs]
        try:
            repo._run("fetch", "--quiet", "--no-tags", "--prune", url, *refspecs)
        except GitError as exc:
            raise GitError(str(exc).replace(token, "***") if token else str(exc)) from None
        # Remember this mirror's size beside it, so eviction reads one small file per mirror
        # instead of walking every file of every mirror after each fetch.
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        (path / "compliance-bot-used").write_text(str(size))
        self.evict(keep=path)
        return GitRepo(path)

    def size(self) -> int:
        return sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file())

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Remove least recently used mirrors until the cache fits; returns what was removed."""
        # host/owner/name.git, or deeper for GitLab's subgroups (host/group/sub/name.git)
        mirrors = [p.parent for p in self.root.rglob("*.git/compliance-bot-used")]
        sizes = {m: _recorded_size(m) for m in mirrors}
        total = sum(sizes.values())
        removed = []
        for mirror in sorted(mirrors, key=lambda m: (m / "compliance-bot-used").stat().st_mtime):
            if total <= self.max_bytes:
                break
            if mirror == keep:
                continue
            shutil.rmtree(mirror, ignore_errors=True)
            total -= sizes[mirror]
            removed.append(mirror)
        return removed


def _recorded_size(mirror: Path) -> int:
    try:
        return int((mirror / "compliance-bot-used").read_text() or 0)
    except (OSError, ValueError):
        return sum(f.stat().st_size for f in mirror.rglob("*") if f.is_file())


_MAX_PATHSPECS = 2_000
_HUNK = re.compile(r"@@ -\d+(?:,\d+)? \+(?P<start>\d+)(?:,\d+)? @@")


def hunk_added_lines(diff: object) -> set[int]:
    """New-file line numbers that a unified diff of one file adds (its hunks, with or without
    context; header lines before the first hunk are skipped). Context and removed lines are not
    in it, nor anything outside a hunk; lines end at ``\\n`` only, so a CRLF file counts as git
    does."""
    added: set[int] = set()
    line: int | None = None
    for text in str(diff or "").split("\n"):
        hunk = _HUNK.match(text)
        if hunk:
            line = int(hunk["start"])
            continue
        if line is None or text.startswith("\\"):  # "\ No newline at end of file"
            continue
        if text.startswith("+"):
            added.add(line)
            line += 1
        elif not text.startswith("-"):
            line += 1
    return added


def _split_raw(out: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """``git diff --raw -z [-p]`` output: its (old path, new path) pairs in order (a path
    deleted has no new path: ""), and the patch that follows them."""
    fields = out.split(b"\0")
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(fields) and fields[i].startswith(b":"):
        status = fields[i].split()[-1][:1]
        first = fields[i + 1].decode("utf-8", "surrogateescape")
        if status in (b"R", b"C"):
            second = fields[i + 2].decode("utf-8", "surrogateescape")
            pairs.append((first, second))
            i += 3
        else:
            pairs.append((first, "" if status == b"D" else first))
            i += 2
    # the pairs end with an empty field; the patch, if any, follows it
    rest = b"\0".join(fields[i + 1 :]) if i < len(fields) else b""
    return pairs, rest


def _diff_pairs(out: bytes) -> list[tuple[str, str | None]]:
    """(old path, new path or None when deleted) of each file of ``git diff --raw -z``."""
    return [(old, new or None) for old, new in _split_raw(out)[0]]
