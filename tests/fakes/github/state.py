"""The fake GitHub's world: accounts, teams, repositories, pull requests, checks, apps, tokens.

Plain records plus a lock; no HTTP and no webhooks here. Git content is not duplicated: a
repository's branches and commits live in its real bare repository (see `git.py`), and records
hold only what GitHub keeps beside git (reviews, check runs, comments...). Everything that mutates
this state from several threads (the HTTP server, the test, the webhook dispatcher) holds
`State.lock`.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .git import GitRepo

PERMISSION_ORDER = ("none", "read", "triage", "write", "maintain", "admin")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def permission_at_least(have: str | None, need: str) -> bool:
    if have is None:
        return False
    return PERMISSION_ORDER.index(have) >= PERMISSION_ORDER.index(need)


@dataclass
class Account:
    """A user, a bot user or an organization (they share GitHub's id and login space)."""

    id: int
    login: str
    type: str = "User"  # "User" | "Bot" | "Organization"
    name: str | None = None
    email: str | None = None
    site_admin: bool = False
    created_at: datetime = field(default_factory=now)
    # Organizations only: member login -> "admin" | "member".
    members: dict[str, str] = field(default_factory=dict)

    @property
    def node_id(self) -> str:
        return f"MDQ6VXNlcj{self.id}"


@dataclass
class TeamMembership:
    role: str = "member"  # "member" | "maintainer"
    state: str = "active"  # "active" | "pending"


@dataclass
class Team:
    id: int
    org: str
    slug: str
    name: str
    description: str | None = None
    privacy: str = "closed"  # "closed" (visible) | "secret"
    parent: str | None = None  # slug of the parent team
    members: dict[str, TeamMembership] = field(default_factory=dict)
    # Repository full name -> permission ("read" | "triage" | "write" | "maintain" | "admin").
    repos: dict[str, str] = field(default_factory=dict)
    created_at: datetime = field(default_factory=now)


@dataclass
class Review:
    id: int
    user: str
    state: str  # "PENDING" | "APPROVED" | "CHANGES_REQUESTED" | "COMMENTED" | "DISMISSED"
    body: str
    commit_id: str | None
    submitted_at: datetime | None


@dataclass
class Reaction:
    id: int
    user: str
    content: str
    created_at: datetime = field(default_factory=now)


@dataclass
class IssueComment:
    id: int
    repo: str
    issue_number: int
    user: str
    body: str
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    reactions: list[Reaction] = field(default_factory=list)
    app_id: int | None = None  # set when posted with an installation token


@dataclass
class PullInfo:
    """What a pull request adds to its issue."""

    head_ref: str
    head_repo: str  # full name of the repository that holds the head branch (a fork or the base)
    base_ref: str
    head_sha: str
    base_sha: str
    draft: bool = False
    merged: bool = False
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    requested_reviewers: list[str] = field(default_factory=list)
    requested_teams: list[str] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    maintainer_can_modify: bool = False


@dataclass
class Issue:
    """An issue, or a pull request (then `pull` is set): they share one number space."""

    id: int
    number: int
    repo: str
    title: str
    body: str | None
    user: str
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    locked: bool = False
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    closed_at: datetime | None = None
    closed_by: str | None = None
    comments: list[int] = field(default_factory=list)
    pull: PullInfo | None = None
    app_id: int | None = None


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class CheckSuite:
    id: int
    repo: str
    app_id: int
    head_sha: str
    head_branch: str | None
    status: str = "queued"
    conclusion: str | None = None
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class CheckRun:
    id: int
    repo: str
    app_id: int
    suite_id: int
    name: str
    head_sha: str
    status: str = "queued"
    conclusion: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    external_id: str | None = None
    details_url: str | None = None
    output: dict[str, Any] = field(
        default_factory=lambda: {"title": None, "summary": None, "text": None}
    )
    annotations: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    # Every PATCH the run received, as sent, so tests can see how a result was built.
    updates: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CommitStatus:
    id: int
    repo: str
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class Repository:
    id: int
    owner: str
    name: str
    git: GitRepo
    private: bool = True
    default_branch: str = "main"
    description: str | None = None
    fork_of: str | None = None
    created_at: datetime = field(default_factory=now)
    # Direct collaborators: login -> permission.
    collaborators: dict[str, str] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)
    check_suites: list[CheckSuite] = field(default_factory=list)
    check_runs: list[CheckRun] = field(default_factory=list)
    statuses: list[CommitStatus] = field(default_factory=list)
    protected_branches: set[str] = field(default_factory=set)
    # Commit SHA -> verification reason ("valid" for commits GitHub signed for an App).
    verified_commits: dict[str, str] = field(default_factory=dict)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def node_id(self) -> str:
        return f"R_kgDO{self.id}"

    def pulls(self) -> list[Issue]:
        return [i for i in self.issues.values() if i.pull is not None]


@dataclass
class App:
    id: int
    slug: str
    name: str
    owner: str
    client_id: str
    client_secret: str
    private_key_pem: str
    public_key_pem: str
    webhook_url: str | None
    webhook_secret: str | None
    events: list[str]
    permissions: dict[str, str]
    bot_login: str
    hook_id: int
    webhook_active: bool = True
    created_at: datetime = field(default_factory=now)


@dataclass
class Installation:
    id: int
    app_id: int
    account: str
    repository_selection: str  # "all" | "selected"
    repos: set[str]
    permissions: dict[str, str]
    events: list[str]
    suspended_at: datetime | None = None
    created_at: datetime = field(default_factory=now)


@dataclass
class Token:
    token: str
    kind: str  # "installation" | "user"
    expires_at: datetime | None
    installation_id: int | None = None
    user: str | None = None
    permissions: dict[str, str] = field(default_factory=dict)
    repos: set[str] | None = None  # narrowed repository set; None = the installation's


@dataclass
class RateLimit:
    limit: int = 5000
    used: int = 0
    reset: int = 0


class State:
    """All records of one fake GitHub, behind one re-entrant lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._ids = itertools.count(1001)
        self.accounts: dict[str, Account] = {}
        self.teams: dict[tuple[str, str], Team] = {}
        self.repos: dict[str, Repository] = {}
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Token] = {}
        self.rate_limits: dict[str, RateLimit] = {}
        self.manifest_codes: dict[str, dict[str, Any]] = {}
        # Issue comments are one table: their ids are global, as on GitHub.
        self.comments: dict[int, IssueComment] = {}

    def next_id(self) -> int:
        return next(self._ids)

    # Look-ups that every layer needs. They return None rather than raise: callers decide
    # between a 404 for the API and an exception for a test helper.
    def account(self, login: str) -> Account | None:
        return self.accounts.get(login.lower())

    def repo(self, full_name: str) -> Repository | None:
        return self.repos.get(full_name.lower())

    def team(self, org: str, slug: str) -> Team | None:
        return self.teams.get((org.lower(), slug.lower()))

    def team_by_id(self, team_id: int) -> Team | None:
        return next((t for t in self.teams.values() if t.id == team_id), None)

    def repo_by_id(self, repo_id: int) -> Repository | None:
        return next((r for r in self.repos.values() if r.id == repo_id), None)

    def app(self, app_id_or_client_id: int | str) -> App | None:
        for app in self.apps.values():
            if str(app.id) == str(app_id_or_client_id) or app.client_id == app_id_or_client_id:
                return app
        return None

    def installation_for_repo(self, app_id: int, full_name: str) -> Installation | None:
        for inst in self.installations.values():
            if inst.app_id == app_id and full_name.lower() in {r.lower() for r in inst.repos}:
                return inst
        return None

    # Team membership, including members of child teams (as GitHub's membership API reports).
    def team_membership(self, team: Team, login: str) -> TeamMembership | None:
        direct = team.members.get(login.lower())
        if direct is not None:
            return direct
        for child in self.teams.values():
            if child.org.lower() == team.org.lower() and child.parent == team.slug:
                found = self.team_membership(child, login)
                if found is not None:
                    return found
        return None

    def team_permission(self, team: Team, full_name: str) -> str | None:
        perm = team.repos.get(full_name.lower())
        if perm is None and team.parent:
            parent = self.team(team.org, team.parent)
            if parent is not None:
                return self.team_permission(parent, full_name)
        return perm

    def user_permission(self, repo: Repository, login: str) -> str:
        """A user's effective permission on a repository: owner, org admin, direct, or team."""
        login = login.lower()
        owner = self.account(repo.owner)
        if owner is not None and owner.type != "Organization" and owner.login.lower() == login:
            return "admin"
        best = "none"
        if (
            owner is not None
            and owner.type == "Organization"
            and owner.members.get(login) == "admin"
        ):
            return "admin"
        direct = repo.collaborators.get(login)
        if direct and permission_at_least(direct, best):
            best = direct
        for team in self.teams.values():
            if team.org.lower() != repo.owner.lower():
                continue
            membership = team.members.get(login)
            if membership is None or membership.state != "active":
                continue
            perm = self.team_permission(team, repo.full_name)
            if perm and permission_at_least(perm, best):
                best = perm
        if best == "none" and not repo.private:
            return "read"
        return best
