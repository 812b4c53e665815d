"""Neutral event records, and tolerant parsing of forge webhook payloads into them.

Handlers see these records, never payload dicts. Parsing is tolerant on purpose: GitHub's own
example payloads don't all match GitHub's own schemas, so a missing optional field becomes a
default, and only a payload without the facts a handler needs is refused (``PayloadError``).
GitLab's webhooks are read into the same records, under GitHub's event and action names
(``parse_gitlab``), so that one routing table serves both forges.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
class ReviewEvent(PullRequestEvent):
    """A review given or withdrawn (``pull_request_review``): who, what, on which head commit.

    GitLab's approvals API lists who approved but not on which commit, so the head an approval
    was given on is taken from its webhook (``commit_id``) and recorded.
    """

    reviewer: str = ""
    state: str = ""  # APPROVED, or DISMISSED when an approval is withdrawn
    commit_id: str = ""


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
        user = comment["user"] if isinstance(comment.get("user"), Mapping) else {}
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


# -- GitLab ----------------------------------------------------------------------------------
#
# GitLab's hooks map onto GitHub's events (PLATFORM.md §8): a merge request is a pull request,
# a note a comment, an approval a review. What has no GitHub counterpart the routing table takes
# becomes an event named after its hook (``Emoji Hook``), with no action: acknowledged, not run.

MERGE_REQUEST_HOOK = "Merge Request Hook"
NOTE_HOOK = "Note Hook"
PUSH_HOOK = "Push Hook"
PIPELINE_HOOK = "Pipeline Hook"
# X-Gitlab-Event -> the hook it is. The worker parses a recorded delivery again under the name
# its event was recorded with, so the neutral names parse_gitlab gives are read as their hooks.
_GITLAB_HOOKS = {
    MERGE_REQUEST_HOOK: MERGE_REQUEST_HOOK,
    NOTE_HOOK: NOTE_HOOK,
    PUSH_HOOK: PUSH_HOOK,
    "pull_request": MERGE_REQUEST_HOOK,
    "pull_request_review": MERGE_REQUEST_HOOK,
    "issue_comment": NOTE_HOOK,
    "push": PUSH_HOOK,
    PIPELINE_HOOK: PIPELINE_HOOK,
    "pipeline": PIPELINE_HOOK,
}
# A pipeline that has just started: the bot's statuses must be in it (see ``_pipeline``).
_PIPELINE_STARTING = ("created", "waiting_for_resource", "preparing", "pending", "running")
PUBLIC = 20  # a project's ``visibility_level`` when public (0 private, 10 internal)
# Project and group access tokens act as bot users named so; GitLab's payloads have no user type.
_GITLAB_BOT = re.compile(r"(?:project|group)_\d+_bot(?:_[0-9a-z]+|\d*)")
_MR_ACTIONS = {"open": "opened", "reopen": "reopened", "close": "closed", "merge": "closed"}
# `approval`/`unapproval` are one person's; `approved`/`unapproved` are sent instead of them when
# that person's approval completed or broke the required count: each is a review either way.
_REVIEW_ACTIONS = {
    "approval": ("submitted", "APPROVED"),
    "approved": ("submitted", "APPROVED"),
    "unapproval": ("dismissed", "DISMISSED"),
    "unapproved": ("dismissed", "DISMISSED"),
}
_MR_STATES = {"opened": "open", "locked": "open", "closed": "closed", "merged": "closed"}
_EDITED = {"title": "title", "description": "body", "target_branch": "base"}  # GitLab: GitHub


def parse_gitlab(event_header: str, delivery_id: str, payload: Mapping[str, Any]) -> Event:
    """A GitLab webhook payload as the neutral event GitHub's counterpart gives.

    ``event_header`` is ``X-Gitlab-Event``, or the name of the event this function made from
    the same payload (a recorded delivery is read again by the worker). Every event is
    ``forge="gitlab"`` without an installation. Raises PayloadError naming the field when a
    routed event lacks a fact its handler needs.
    """
    if not isinstance(payload, Mapping):
        raise PayloadError("payload is not a JSON object")
    hook = _GITLAB_HOOKS.get(event_header, event_header)
    # the actor: `user` on most hooks, flat `user_username` on pushes
    sender = _text(_get(payload, "user", "username")) or _text(payload.get("user_username")) or ""
    base: dict[str, Any] = {
        "forge": "gitlab",
        "name": hook,
        "action": None,
        "delivery_id": delivery_id,
        "installation_id": None,
        "repo": _gitlab_repo(payload),
        "sender": sender,
        "sender_is_bot": _is_gitlab_bot(sender),
    }
    if hook == MERGE_REQUEST_HOOK:
        return _merge_request(payload, base)
    if hook == NOTE_HOOK:
        return _note(payload, base)
    if hook == PIPELINE_HOOK:
        return _pipeline(payload, base)
    if hook == PUSH_HOOK:
        _need_repo(base)
        commits = _list(payload.get("commits"))
        total = payload.get("total_commits_count")
        # GitLab lists the newest 20 commits only: the others' paths are unknown, and an empty
        # list tells the handler the push may have changed anything
        truncated = type(total) is int and total > len(commits)
        return PushEvent(
            **{**base, "name": "push"},
            ref=_text(payload.get("ref")) or "",
            before=_text(payload.get("before")) or "",
            after=_text(payload.get("after")) or "",
            paths=() if truncated else _pushed_paths(commits),
        )
    return Event(**base)


def _pipeline(payload: Mapping[str, Any], base: dict[str, Any]) -> Event:
    """A CI pipeline starting on a merge request's head: ``pipeline`` ``requested``.

    "Pipelines must succeed" reads the head's latest pipeline, and a CI pipeline started after
    the bot posted its statuses doesn't hold them: the bot posts them again (into the latest
    pipeline of the SHA and ref, as GitLab attaches an external status). The bot's own
    statuses make ``external`` pipelines: those are not asked about, or it would never stop.
    """
    attrs = payload.get("object_attributes")
    mr = payload.get("merge_request")
    if not isinstance(attrs, Mapping) or not isinstance(mr, Mapping):
        return Event(**base)
    if attrs.get("source") == "external" or attrs.get("status") not in _PIPELINE_STARTING:
        return Event(**base)
    _need_repo(base)
    return CheckRequestEvent(
        **{**base, "name": "pipeline", "action": "requested"},
        head_sha=str(_need(attrs, "sha")),
        head_ref=_text(attrs.get("ref")),
        pull_numbers=(_number(_need(mr, "iid"), "merge_request.iid"),),
    )


def _merge_request(payload: Mapping[str, Any], base: dict[str, Any]) -> Event:
    attrs = _need_object(payload, "object_attributes")
    _need_repo(base)
    action = _text(attrs.get("action"))
    pr = _gitlab_pull_request(payload, attrs, action, base["sender"])
    if action in _REVIEW_ACTIONS:
        review_action, state = _REVIEW_ACTIONS[action]
        if not base["sender"]:
            raise PayloadError("payload has no user.username")
        return ReviewEvent(
            **{**base, "name": "pull_request_review", "action": review_action},
            pull_request=pr,
            reviewer=base["sender"],
            state=state,
            commit_id=pr.head_sha,  # the head the approval was given on
        )
    neutral = _MR_ACTIONS.get(action) if action else None
    changes: dict[str, Any] = {}
    if action == "update":
        # an update with nothing the bot acts on (labels, assignees, resolved threads) stays
        # without an action; GitLab says to read `changes`, which may even be empty
        changes = _gitlab_changes(payload.get("changes"))
        if _text(attrs.get("oldrev")):  # "only available when there are actual code changes"
            neutral = "synchronize"
        elif _draft_lifted(payload.get("changes")):  # may come with a title edit: this wins
            neutral = "ready_for_review"
        elif changes:
            neutral = "edited"
    if neutral is None:
        return PullRequestEvent(**base, pull_request=pr)
    return PullRequestEvent(
        **{**base, "name": "pull_request", "action": neutral}, pull_request=pr, changes=changes
    )


def _gitlab_pull_request(
    payload: Mapping[str, Any], attrs: Mapping[str, Any], action: str | None, sender: str
) -> PullRequest:
    """The merge request of a Merge Request Hook, from its ``object_attributes``.

    The payload names the author by id only (``author_id``); ``user`` is who acted. The author
    is known when they are the same person (always on ``open``), and left empty otherwise, for
    the forge to fill where it matters.
    """
    author_id, user_id = attrs.get("author_id"), _get(payload, "user", "id")
    author = sender if type(author_id) is int and author_id == user_id else ""
    state = _text(attrs.get("state"))
    merged = action == "merge" or state == "merged"
    labels = attrs.get("labels") if isinstance(attrs.get("labels"), list) else payload.get("labels")
    draft = attrs.get("draft")
    return PullRequest(
        number=_number(_need(payload, "object_attributes", "iid"), "object_attributes.iid"),
        head_sha=_need_text(payload, "object_attributes", "last_commit", "id"),
        head_ref=_text(attrs.get("source_branch")) or "",
        base_ref=_need_text(payload, "object_attributes", "target_branch"),
        base_sha=_text(_get(attrs, "diff_refs", "base_sha")) or "",
        title=_text(attrs.get("title")) or "",
        body=_text(attrs.get("description")) or "",
        author=author,
        author_is_bot=_is_gitlab_bot(author),
        labels=tuple(
            label["title"]
            for label in _list(labels)
            if isinstance(label, Mapping) and isinstance(label.get("title"), str)
        ),
        draft=bool(draft if draft is not None else attrs.get("work_in_progress", False)),
        state=_MR_STATES.get(state or "") or ("closed" if action in ("close", "merge") else "open"),
        merged=merged,
        merge_sha=_text(attrs.get("merge_commit_sha")),
        head_repo=_text(_get(attrs, "source", "path_with_namespace")),
        # hooks carry no merged_at: a merge hook's updated_at is when the merge was recorded
        merged_at=_gitlab_time(attrs.get("merged_at"))
        or (_gitlab_time(attrs.get("updated_at")) if action == "merge" else None),
        merged_by=(sender or None) if action == "merge" else None,
    )


def _note(payload: Mapping[str, Any], base: dict[str, Any]) -> Event:
    attrs = _need_object(payload, "object_attributes")
    noteable = _text(attrs.get("noteable_type"))
    raw_action = attrs.get("action")  # since GitLab 16.11; older ones only send new notes
    action = {None: "created", "create": "created", "update": "edited"}.get(
        raw_action if raw_action is None or isinstance(raw_action, str) else "?"
    )
    # system notes ("added 1 commit") and notes on commits or snippets: nothing to run
    if attrs.get("system") or noteable not in ("MergeRequest", "Issue") or action is None:
        return Event(**base)
    _need_repo(base)
    if not base["sender"]:
        raise PayloadError("payload has no user.username")
    key = "merge_request" if noteable == "MergeRequest" else "issue"
    return CommentEvent(
        **{**base, "name": "issue_comment", "action": action},
        comment_id=_number(_need(payload, "object_attributes", "id"), "object_attributes.id"),
        body=_text(attrs.get("note")) or "",
        author=base["sender"],
        author_is_bot=base["sender_is_bot"],
        number=_number(_need(payload, key, "iid"), f"{key}.iid"),
        on_pull_request=noteable == "MergeRequest",
    )


def _gitlab_repo(payload: Mapping[str, Any]) -> Repo | None:
    project = payload.get("project")
    if not isinstance(project, Mapping) or project.get("path_with_namespace") is None:
        return None
    path = project["path_with_namespace"]
    if not isinstance(path, str) or path.count("/") < 1 or not all(path.split("/")):
        raise PayloadError("payload project.path_with_namespace is not group/project")
    level = project.get("visibility_level")
    public = level == PUBLIC if level is not None else project.get("visibility") == "public"
    return Repo(
        full_name=path,
        default_branch=_text(project.get("default_branch")) or "main",
        clone_url=_text(project.get("git_http_url")),
        private=not public,  # internal projects too: not everyone may read them
    )


def _need_repo(base: dict[str, Any]) -> Repo:
    if base["repo"] is None:
        raise PayloadError("payload has no project.path_with_namespace")
    repo: Repo = base["repo"]
    return repo


def _need_text(obj: Any, *path: str) -> str:
    value = _need(obj, *path)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"payload {'.'.join(path)} is not a non-empty string")
    return value


def _gitlab_changes(changes: Any) -> dict[str, Any]:
    """``changes`` of an MR update under GitHub's keys and shape (``{"title": {"from": old}}``),
    for the fields whose edit GitHub reports as ``edited``."""
    if not isinstance(changes, Mapping):
        return {}
    out: dict[str, Any] = {}
    for gitlab_key, github_key in _EDITED.items():
        change = changes.get(gitlab_key)
        if isinstance(change, Mapping):
            previous = change.get("previous")
            out[github_key] = (
                {"ref": {"from": previous}} if github_key == "base" else {"from": previous}
            )
    return out


def _draft_lifted(changes: Any) -> bool:
    if not isinstance(changes, Mapping):
        return False
    for key in ("draft", "work_in_progress"):  # work_in_progress: GitLab before 13.x
        change = changes.get(key)
        if isinstance(change, Mapping) and change.get("previous") is True:
            return change.get("current") is False
    return False


def _gitlab_time(value: Any) -> datetime | None:
    """GitLab's hook times: ``2013-12-03T17:23:34Z`` or ``2015-05-17 18:21:36 UTC``."""
    if isinstance(value, str) and value.endswith(" UTC"):
        value = value.removesuffix(" UTC") + "+00:00"
    at = _time(value)
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _is_gitlab_bot(username: str) -> bool:
    return bool(username) and _GITLAB_BOT.fullmatch(username) is not None
