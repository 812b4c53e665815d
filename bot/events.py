"""Neutral event records, and tolerant parsing of forge webhook payloads into them.

Handlers see these records, never payload dicts. Parsing is tolerant on purpose: GitHub's own
example payloads don't all match GitHub's own schemas, so a missing optional field becomes a
default, and only a payload without the facts a handler needs is refused (``PayloadError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class PayloadError(ValueError):
    """A payload lacks a field its event cannot do without; the message names the field."""


@dataclass(frozen=True)
class Repo:
    """A repository on a forge: ``full_name`` is ``owner/name``."""

    full_name: str
    default_branch: str = "main"
    clone_url: str | None = None
    private: bool = False

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]


@dataclass(frozen=True)
class PullRequest:
    number: int
    head_sha: str
    head_ref: str
    base_ref: str
    base_sha: str
    title: str = ""
    body: str = ""
    author: str = ""
    author_is_bot: bool = False
    labels: tuple[str, ...] = ()
    draft: bool = False
    state: str = "open"
    merged: bool = False
    merge_sha: str | None = None
    head_repo: str | None = None  # owner/name of the head repository (forks differ)
    merged_at: datetime | None = None
    merged_by: str | None = None


@dataclass(frozen=True)
class Event:
    """What every event has: which forge, which delivery, which installation and repository."""

    forge: str
    name: str  # the forge's event name, e.g. pull_request
    action: str | None
    delivery_id: str
    installation_id: int | None
    repo: Repo | None
    sender: str = ""
    sender_is_bot: bool = False


@dataclass(frozen=True)
class PullRequestEvent(Event):
    pull_request: PullRequest | None = None
    changes: Mapping[str, Any] = field(default_factory=dict)  # for `edited`: what changed


@dataclass(frozen=True)
class CheckRequestEvent(Event):
    """``check_run.rerequested`` / ``check_suite.requested`` / ``merge_group.checks_requested``."""

    head_sha: str = ""
    head_ref: str | None = None
    base_ref: str | None = None  # for merge groups: the queue's target branch
    base_sha: str | None = None
    pull_numbers: tuple[int, ...] = ()
    check_name: str | None = None


@dataclass(frozen=True)
class CommentEvent(Event):
    """A comment on an issue or pull request (``issue_comment``)."""

    comment_id: int = 0
    body: str = ""
    author: str = ""
    author_is_bot: bool = False
    number: int = 0  # the issue or pull request number
    on_pull_request: bool = False


@dataclass(frozen=True)
class PushEvent(Event):
    ref: str = ""
    before: str = ""
    after: str = ""
    paths: tuple[str, ...] = ()  # added, modified or removed by the pushed commits (as listed)


@dataclass(frozen=True)
class InstallationEvent(Event):
    account: str = ""
    repositories_added: tuple[str, ...] = ()
    repositories_removed: tuple[str, ...] = ()


def _get(obj: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return default
        obj = obj.get(key)
    return default if obj is None else obj


def _need(obj: Any, *path: str) -> Any:
    value = _get(obj, *path)
    if value is None:
        raise PayloadError(f"payload has no {'.'.join(path)}")
    return value


def _repo(payload: Mapping[str, Any]) -> Repo | None:
    repo = payload.get("repository")
    if not isinstance(repo, Mapping) or not repo.get("full_name"):
        return None
    return Repo(
        full_name=str(repo["full_name"]),
        default_branch=str(repo.get("default_branch") or "main"),
        clone_url=repo.get("clone_url"),
        private=bool(repo.get("private", False)),
    )


def parse_pull_request(pr: Mapping[str, Any]) -> PullRequest:
    user = _get(pr, "user", default={})
    return PullRequest(
        number=int(_need(pr, "number")),
        head_sha=str(_need(pr, "head", "sha")),
        head_ref=str(_get(pr, "head", "ref", default="")),
        base_ref=str(_need(pr, "base", "ref")),
        base_sha=str(_get(pr, "base", "sha", default="")),
        title=str(pr.get("title") or ""),
        body=str(pr.get("body") or ""),
        author=str(_get(user, "login", default="")),
        author_is_bot=_get(user, "type", default="") == "Bot",
        labels=tuple(
            str(label["name"])
            for label in pr.get("labels") or ()
            if isinstance(label, Mapping) and label.get("name")
        ),
        draft=bool(pr.get("draft", False)),
        state=str(pr.get("state") or "open"),
        merged=bool(pr.get("merged", False)),
        merge_sha=pr.get("merge_commit_sha"),
        head_repo=_get(pr, "head", "repo", "full_name"),
        merged_at=_time(pr.get("merged_at")),
        merged_by=_get(pr, "merged_by", "login"),
    )


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_github(name: str, delivery_id: str, payload: Mapping[str, Any]) -> Event:
    """A GitHub webhook payload as a neutral event. Raises PayloadError when facts are missing."""
    if not isinstance(payload, Mapping):
        raise PayloadError("payload is not a JSON object")
    sender = _get(payload, "sender", default={})
    base = {
        "forge": "github",
        "name": name,
        "action": payload.get("action"),
        "delivery_id": delivery_id,
        "installation_id": _get(payload, "installation", "id"),
        "repo": _repo(payload),
        "sender": str(_get(sender, "login", default="")),
        "sender_is_bot": _get(sender, "type", default="") == "Bot",
    }
    if name in ("pull_request", "pull_request_review"):
        return PullRequestEvent(
            **base,
            pull_request=parse_pull_request(_need(payload, "pull_request")),
            changes=payload.get("changes") or {},
        )
    if name == "issue_comment":
        comment = _need(payload, "comment")
        issue = _need(payload, "issue")
        user = comment.get("user") if isinstance(comment.get("user"), Mapping) else {}
        return CommentEvent(
            **base,
            comment_id=int(_need(comment, "id")),
            body=str(comment.get("body") or ""),
            author=str(user.get("login") or ""),
            author_is_bot=user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]"),
            number=int(_need(issue, "number")),
            on_pull_request=isinstance(issue.get("pull_request"), Mapping),
        )
    if name == "check_run":
        run = _need(payload, "check_run")
        return CheckRequestEvent(
            **base,
            head_sha=str(_need(run, "head_sha")),
            head_ref=_get(run, "check_suite", "head_branch"),
            pull_numbers=_numbers(run.get("pull_requests")),
            check_name=run.get("name"),
        )
    if name == "check_suite":
        suite = _need(payload, "check_suite")
        return CheckRequestEvent(
            **base,
            head_sha=str(_need(suite, "head_sha")),
            head_ref=suite.get("head_branch"),
            pull_numbers=_numbers(suite.get("pull_requests")),
        )
    if name == "merge_group":
        group = _need(payload, "merge_group")
        return CheckRequestEvent(
            **base,
            head_sha=str(_need(group, "head_sha")),
            head_ref=group.get("head_ref"),
            base_ref=_strip_heads(group.get("base_ref")),
            base_sha=group.get("base_sha"),
        )
    if name == "push":
        return PushEvent(
            **base,
            ref=str(payload.get("ref") or ""),
            before=str(payload.get("before") or ""),
            after=str(payload.get("after") or ""),
            paths=_pushed_paths(payload.get("commits")),
        )
    if name in ("installation", "installation_repositories"):
        account = _get(payload, "installation", "account", "login", default="")
        return InstallationEvent(
            **base,
            account=str(account),
            repositories_added=_names(
                payload.get("repositories_added") or payload.get("repositories")
            ),
            repositories_removed=_names(payload.get("repositories_removed")),
        )
    return Event(**base)


def _pushed_paths(commits: Any) -> tuple[str, ...]:
    paths: set[str] = set()
    for commit in commits if isinstance(commits, list) else ():
        if isinstance(commit, Mapping):
            for key in ("added", "modified", "removed"):
                paths.update(str(p) for p in commit.get(key) or () if isinstance(p, str))
    return tuple(sorted(paths))


def _numbers(prs: Any) -> tuple[int, ...]:
    if not isinstance(prs, list):
        return ()
    return tuple(int(p["number"]) for p in prs if isinstance(p, Mapping) and "number" in p)


def _names(repos: Any) -> tuple[str, ...]:
    if not isinstance(repos, list):
        return ()
    return tuple(
        str(r["full_name"]) for r in repos if isinstance(r, Mapping) and r.get("full_name")
    )


def _strip_heads(ref: Any) -> str | None:
    if not isinstance(ref, str):
        return None
    return ref.removeprefix("refs/heads/")
