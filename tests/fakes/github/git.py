"""Real git repositories behind the fake GitHub: bare repositories driven through git plumbing.

Every commit, tree, blob, ref and merge the fake reports exists in a bare repository on disk, so
that `git fetch` from the fake and the REST answers about the same SHA always agree. This module
only runs `git`; it knows nothing about pull requests, permissions or HTTP.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


class GitError(Exception):
    """A git command failed; `stderr` says why."""

    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        super().__init__(f"git {' '.join(args)} exited {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    date: datetime | None = None

    def env(self, role: str) -> dict[str, str]:
        out = {f"GIT_{role}_NAME": self.name, f"GIT_{role}_EMAIL": self.email}
        if self.date is not None:
            out[f"GIT_{role}_DATE"] = self.date.strftime("%Y-%m-%dT%H:%M:%S%z")
        return out


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: list[str]
    author: Person
    committer: Person
    message: str


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str
    sha: str
    path: str
    size: int | None


@dataclass(frozen=True)
class FileChange:
    filename: str
    status: str  # added | removed | modified | renamed
    additions: int
    deletions: int
    patch: str | None
    sha: str | None
    previous_filename: str | None = None

    @property
    def changes(self) -> int:
        return self.additions + self.deletions


_STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "T": "changed"}


class GitRepo:
    """One bare repository on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def init_bare(cls, path: Path, default_branch: str) -> GitRepo:
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(path)],
            check=True,
            capture_output=True,
        )
        repo = cls(path)
        # Let `git http-backend` serve it, and accept pushes over HTTP (auth is the fake's job).
        repo.run("config", "http.receivepack", "true")
        repo.run("config", "uploadpack.allowAnySHA1InWant", "true")
        return repo

    # -- running git ------------------------------------------------------------------------
    def run(
        self,
        *args: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> str:
        return self.run_bytes(*args, input=input, env=env, check=check).decode()

    def run_bytes(
        self,
        *args: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> bytes:
        full_env = {
            **os.environ,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }
        full_env.pop("GIT_DIR", None)
        full_env.pop("GIT_INDEX_FILE", None)
        full_env.update(env or {})
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path), *args],
            input=input,
            capture_output=True,
            env=full_env,
        )
        if check and proc.returncode != 0:
            raise GitError(list(args), proc.returncode, proc.stderr.decode(errors="replace"))
        return proc.stdout

    # -- refs -------------------------------------------------------------------------------
    def rev_parse(self, rev: str) -> str | None:
        """The commit SHA a revision names, or None."""
        out = self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        return out.strip() or None

    def object_type(self, sha: str) -> str | None:
        out = self.run("cat-file", "-t", sha, check=False).strip()
        return out or None

    def resolve(self, ref: str) -> str | None:
        """A branch, tag, full ref or (abbreviated) SHA to a commit SHA, as GitHub's `ref=` does."""
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            if candidate.startswith("-"):
                return None
            sha = self.rev_parse(candidate)
            if sha:
                return sha
        return None

    def refs(self, prefix: str = "refs/") -> dict[str, str]:
        out = self.run("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        pairs = (line.split(" ", 1) for line in out.splitlines() if line)
        return {name: sha for name, sha in pairs}

    def branch_sha(self, branch: str) -> str | None:
        return self.refs(f"refs/heads/{branch}").get(f"refs/heads/{branch}")

    def update_ref(self, ref: str, new: str, old: str | None = None) -> None:
        args = ["update-ref", ref, new]
        if old is not None:
            args.append(old)
        self.run(*args)

    def delete_ref(self, ref: str) -> None:
        self.run("update-ref", "-d", ref)

    # -- objects ----------------------------------------------------------------------------
    def hash_blob(self, content: bytes) -> str:
        return self.run("hash-object", "-w", "--stdin", input=content).strip()

    def cat(self, sha: str) -> bytes:
        kind = self.object_type(sha) or "blob"
        return self.run_bytes("cat-file", kind, sha)

    def hash_blobs(self, contents: list[str | bytes]) -> list[str]:
        """Write many blobs with one git call (a commit of 3,000 files stays fast)."""
        if not contents:
            return []
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for i, content in enumerate(contents):
                path = Path(tmp) / str(i)
                path.write_bytes(content.encode() if isinstance(content, str) else content)
                paths.append(str(path))
            out = self.run(
                "hash-object",
                "-w",
                "--no-filters",
                "--stdin-paths",
                input="\n".join(paths).encode(),
            )
        return out.split()

    def diff_stats(self, base: str, head: str) -> tuple[int, int, int]:
        """(changed files, additions, deletions) between two commits, without patches."""
        files = additions = deletions = 0
        for line in self.run("diff", "--numstat", "-M", base, head).splitlines():
            added, deleted, _ = line.split("\t", 2)
            files += 1
            additions += 0 if added == "-" else int(added)
            deletions += 0 if deleted == "-" else int(deleted)
        return files, additions, deletions

    def blob_size(self, sha: str) -> int:
        return int(self.run("cat-file", "-s", sha).strip())

    def read_file(self, commit: str, path: str) -> bytes | None:
        out = self.run_bytes("cat-file", "blob", f"{commit}:{path}", check=False)
        if not out and not self.entry(commit, path):
            return None
        return out

    def entry(self, treeish: str, path: str) -> TreeEntry | None:
        path = path.strip("/")
        if not path:
            tree = self.run("rev-parse", "--verify", "--quiet", f"{treeish}^{{tree}}", check=False)
            return TreeEntry("040000", "tree", tree.strip(), "", None) if tree.strip() else None
        entries = self.ls_tree(treeish, path=path)
        return next((e for e in entries if e.path == path), None)

    def ls_tree(
        self, treeish: str, recursive: bool = False, path: str | None = None
    ) -> list[TreeEntry]:
        args = ["ls-tree", "-l", "-z"]
        if recursive:
            args += ["-r", "-t"]
        args.append(treeish)
        if path is not None:
            args += ["--", path]
        raw = self.run_bytes(*args, check=False).decode()
        entries = []
        for record in raw.split("\0"):
            if not record:
                continue
            meta, path = record.split("\t", 1)
            mode, kind, sha, size = meta.split()
            entries.append(TreeEntry(mode, kind, sha, path, None if size == "-" else int(size)))
        return entries

    def mktree_from(
        self,
        base_tree: str | None,
        changes: list[tuple[str, str, str | None]],
    ) -> str:
        """A new tree: `base_tree` with (path, mode, blob-or-commit sha | None to delete) applied.

        Raises KeyError for a deletion of a path that is not there (GitHub refuses those too).
        """
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if base_tree:
                self.run("read-tree", base_tree, env=env)
            else:
                self.run("read-tree", "--empty", env=env)
            present = set(self.run("ls-files", "-z", "--cached", env=env).split("\0"))
            lines = []
            for path, mode, sha in changes:
                if sha is None:
                    if path not in present:
                        raise KeyError(path)
                    lines.append(f"0 {'0' * 40}\t{path}")
                elif mode == "040000":
                    self.run(
                        "update-index", "--index-info", input="\n".join(lines).encode(), env=env
                    )
                    lines = []
                    self.run("read-tree", f"--prefix={path.rstrip('/')}/", sha, env=env)
                else:
                    lines.append(f"{mode} {sha}\t{path}")
                    present.add(path)
            if lines:
                self.run("update-index", "--index-info", input="\n".join(lines).encode(), env=env)
            return self.run("write-tree", env=env).strip()

    def commit_tree(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: Person,
        committer: Person | None = None,
    ) -> str:
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        env = {**author.env("AUTHOR"), **(committer or author).env("COMMITTER")}
        return self.run(*args, input=message.encode(), env=env).strip()

    def commit_files(
        self,
        parent: str | None,
        files: dict[str, str | bytes | None],
        message: str,
        author: Person,
        committer: Person | None = None,
    ) -> str:
        """A commit on top of `parent` (None: a root commit) with `files` written or deleted."""
        base_tree = self.commit_info(parent).tree if parent else None
        written = {p: c for p, c in files.items() if c is not None}
        shas = dict(zip(written, self.hash_blobs(list(written.values())), strict=True))
        changes: list[tuple[str, str, str | None]] = [
            (path, "100644", shas.get(path)) for path in files
        ]
        tree = self.mktree_from(base_tree, changes)
        return self.commit_tree(tree, [parent] if parent else [], message, author, committer)

    def commit_info(self, sha: str) -> CommitInfo:
        raw = self.run("cat-file", "commit", sha)
        header, _, message = raw.partition("\n\n")
        tree = ""
        parents: list[str] = []
        people: dict[str, Person] = {}
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key in ("author", "committer"):
                people[key] = _parse_person(value)
        return CommitInfo(sha, tree, parents, people["author"], people["committer"], message)

    # -- history and diffs ------------------------------------------------------------------
    def merge_base(self, a: str, b: str) -> str | None:
        return self.run("merge-base", a, b, check=False).strip() or None

    def is_ancestor(self, a: str, b: str) -> bool:
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path), "merge-base", "--is-ancestor", a, b],
            capture_output=True,
        )
        return proc.returncode == 0

    def commits_between(self, base: str, head: str) -> list[str]:
        """Commits reachable from head and not from base, oldest first."""
        out = self.run("rev-list", "--reverse", "--topo-order", f"{base}..{head}")
        return out.split()

    def merge_tree(self, base: str, head: str) -> str | None:
        """The tree of merging head into base, or None on conflicts (git >= 2.38)."""
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path), "merge-tree", "--write-tree", base, head],
            capture_output=True,
        )
        if proc.returncode != 0:
            return None
        return proc.stdout.decode().splitlines()[0].strip()

    def diff_files(self, base: str, head: str) -> list[FileChange]:
        """Files changed between two commits, in the shape of GitHub's PR file list.

        Three git calls whatever the number of files: raw entries, numstat and the patch are
        printed in the same order, so they are zipped rather than asked for file by file.
        """
        raw = self.run("diff", "--raw", "-z", "-M", "--no-abbrev", base, head).split("\0")
        entries: list[tuple[str, str | None, str, str]] = []  # status, old path, path, blob
        i = 0
        while i < len(raw) and raw[i]:
            _old_mode, _new_mode, old_sha, new_sha, code = raw[i].lstrip(":").split()
            if code.startswith(("R", "C")):
                entries.append((code[0], raw[i + 1], raw[i + 2], new_sha))
                i += 3
            else:
                entries.append((code[0], None, raw[i + 1], old_sha if code == "D" else new_sha))
                i += 2
        numstat = self.run("diff", "--numstat", "-z", "-M", base, head).split("\0")
        counts: list[tuple[int, int]] = []
        i = 0
        while i < len(numstat) and numstat[i]:
            added, deleted, path = numstat[i].split("\t", 2)
            i += 3 if path == "" else 1
            counts.append(
                (0 if added == "-" else int(added), 0 if deleted == "-" else int(deleted))
            )
        patch_text = self.run("diff", "-M", base, head)
        patches = ("\n" + patch_text).split("\ndiff --git ")[1:]
        changes = []
        for n, (code, old, path, blob) in enumerate(entries):
            added, deleted = counts[n] if n < len(counts) else (0, 0)
            hunk = patches[n].split("\n@@", 1) if n < len(patches) else []
            changes.append(
                FileChange(
                    filename=path,
                    status=_STATUS.get(code, "modified"),
                    additions=added,
                    deletions=deleted,
                    patch=("@@" + hunk[1].rstrip("\n")) if len(hunk) == 2 else None,
                    sha=blob,
                    previous_filename=old,
                )
            )
        return changes

    def fetch_into(self, source: GitRepo, src_ref: str, dst_ref: str) -> None:
        """Copy a ref and its objects from another repository (a fork) into this one."""
        self.run("fetch", "--quiet", "--no-tags", str(source.path), f"+{src_ref}:{dst_ref}")


def _parse_person(value: str) -> Person:
    # "Name <email> 1700000000 +0000"
    name, _, rest = value.partition(" <")
    email, _, stamp = rest.partition("> ")
    seconds, _, tz = stamp.partition(" ")
    sign = 1 if tz.startswith("+") else -1
    offset = sign * (int(tz[1:3]) * 3600 + int(tz[3:5]) * 60) if tz else 0
    date = datetime.fromtimestamp(int(seconds), UTC).astimezone(timezone(timedelta(seconds=offset)))
    return Person(name, email, date)
