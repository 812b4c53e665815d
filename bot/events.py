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
class StatusEvent(Event):
    """A commit status was created (``status``). Its creator is the webhook's sender."""

    sha: str = ""
    context: str = ""
    state: str = ""  # pending, success, failure or error
    status_id: int = 0
    creator: str = ""
    creator_is_bot: bool = False
    target_url: str | None = None
    description: str | None = None


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


def _need_object(obj: Any, *path: str) -> Mapping[str, Any]:
    value = _need(obj, *path)
    if not isinstance(value, Mapping):
        raise PayloadError(f"payload {'.'.join(path)} is not an object")
    return value


MAX_ID = 2**63 - 1  # ids and numbers are stored in 64-bit columns


def _number(value: Any, name: str) -> int:
    """A whole number from 0 to ``MAX_ID``, or PayloadError naming the field."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise PayloadError(f"payload {name} is not a whole number from 0 to 2**63-1")
    return value


def _text(value: Any) -> str | None:
    """A string field that may be absent: anything but a string counts as absent."""
    return value if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _repo(payload: Mapping[str, Any]) -> Repo | None:
    repo = payload.get("repository")
    if not isinstance(repo, Mapping) or not repo.get("full_name"):
        return None
    full_name = repo["full_name"]
    if not isinstance(full_name, str) or full_name.count("/") != 1:
        raise PayloadError("payload repository.full_name is not owner/name")
    return Repo(
        full_name=full_name,
        default_branch=str(repo.get("default_branch") or "main"),
        clone_url=_text(repo.get("clone_url")),
        private=bool(repo.get("private", False)),
    )


def parse_pull_request(pr: Mapping[str, Any]) -> PullRequest:
    if not isinstance(pr, Mapping):
        raise PayloadError("payload pull_request is not an object")
    user = _get(pr, "user", default={})
    return PullRequest(
        number=_number(_need(pr, "number"), "pull_request.number"),
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
            for label in _list(pr.get("labels"))
            if isinstance(label, Mapping) and label.get("name")
        ),
        draft=bool(pr.get("draft", False)),
        state=str(pr.get("state") or "open"),
        merged=bool(pr.get("merged", False)),
        merge_sha=_text(pr.get("merge_commit_sha")),
        head_repo=_text(_get(pr, "head", "repo", "full_name")),
        merged_at=_time(pr.get("merged_at")),
        merged_by=_text(_get(pr, "merged_by", "login")),
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
    action = payload.get("action")
    if action is not None and not isinstance(action, str):
        raise PayloadError("payload action is not a string")
    installation_id = _get(payload, "installation", "id")
    base = {
        "forge": "github",
        "name": name,
        "action": action,
        "delivery_id": delivery_id,
        "installation_id": (
            None if installation_id is None else _number(installation_id, "installation.id")
        ),
        "repo": _repo(payload),
        "sender": str(_get(sender, "login", default="")),
        "sender_is_bot": _get(sender, "type", default="") == "Bot",
    }
    if name in ("pull_request", "pull_request_review"):
        return PullRequestEvent(
            **base,
            pull_request=parse_pull_request(_need_object(payload, "pull_request")),
            changes=_get(payload, "changes") if isinstance(payload.get("changes"), Mapping) else {},
        )
    if name == "issue_comment":
        comment = _need_object(payload, "comment")
        issue = _need_object(payload, "issue")
        user = comment.get("user") if isinstance(comment.get("user"), Mapping) else {}
        login = str(user.get("login") or "")
        return CommentEvent(
            **base,
            comment_id=_number(_need(comment, "id"), "comment.id"),
            body=str(comment.get("body") or ""),
            author=login,
            author_is_bot=user.get("type") == "Bot" or login.endswith("[bot]"),
            number=_number(_need(issue, "number"), "issue.number"),
            on_pull_request=isinstance(issue.get("pull_request"), Mapping),
        )
    if name == "check_run":
        run = _need_object(payload, "check_run")
        return CheckRequestEvent(
            **base,
            head_sha=str(_need(run, "head_sha")),
            head_ref=_text(_get(run, "check_suite", "head_branch")),
            pull_numbers=_numbers(run.get("pull_requests"), "check_run"),
            check_name=_text(run.get("name")),
        )
    if name == "check_suite":
        suite = _need_object(payload, "check_suite")
        return CheckRequestEvent(
            **base,
            head_sha=str(_need(suite, "head_sha")),
            head_ref=_text(suite.get("head_branch")),
            pull_numbers=_numbers(suite.get("pull_requests"), "check_suite"),
        )
    if name == "merge_group":
        group = _need_object(payload, "merge_group")
        return CheckRequestEvent(
            **base,
            head_sha=str(_need(group, "head_sha")),
            head_ref=_text(group.get("head_ref")),
            base_ref=_strip_heads(group.get("base_ref")),
            base_sha=_text(group.get("base_sha")),
        )
    if name == "push":
        return PushEvent(
            **base,
            ref=str(payload.get("ref") or ""),
            before=str(payload.get("before") or ""),
            after=str(payload.get("after") or ""),
            paths=_pushed_paths(payload.get("commits")),
        )
    if name == "status":
        return _status(payload, base)
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


def _status(payload: Mapping[str, Any], base: dict[str, Any]) -> StatusEvent:
    creator = base["sender"]
    return StatusEvent(
        **base,
        sha=str(_need(payload, "sha")),
        context=str(_need(payload, "context")),
        state=str(payload.get("state") or ""),
        status_id=_number(_need(payload, "id"), "id"),
        creator=creator,
        creator_is_bot=base["sender_is_bot"] or creator.lower().endswith("[bot]"),
        target_url=_text(payload.get("target_url")),
        description=_text(payload.get("description")),
    )


def _pushed_paths(commits: Any) -> tuple[str, ...]:
    paths: set[str] = set()
    for commit in _list(commits):
        if isinstance(commit, Mapping):
            for key in ("added", "modified", "removed"):
                paths.update(p for p in _list(commit.get(key)) if isinstance(p, str))
    return tuple(sorted(paths))


def _numbers(prs: Any, where: str) -> tuple[int, ...]:
    return tuple(
        _number(p["number"], f"{where}.pull_requests[].number")
        for p in _list(prs)
        if isinstance(p, Mapping) and "number" in p
    )


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
