"""The fake GitLab's world: users, groups, projects, merge requests, notes, statuses, hooks, tokens.

Plain records plus one re-entrant lock; no HTTP and no webhooks here. Git content is not
duplicated: branches and commits live in each project's real bare repository (the forge-neutral
`fakes.github.git.GitRepo`), and records hold only what GitLab keeps beside git. Everything that
mutates this state from several threads (the HTTP server, the test, the webhook dispatcher)
holds `State.lock`.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from ..github.git import GitRepo

# GitLab's access levels (lib/gitlab/access.rb).
NO_ACCESS, MINIMAL, GUEST, PLANNER, REPORTER, DEVELOPER, MAINTAINER, OWNER = (
    0,
    5,
    10,
    15,
    20,
    30,
    40,
    50,
)
ACCESS_NAMES = {
    GUEST: "Guest",
    PLANNER: "Planner",
    REPORTER: "Reporter",
    DEVELOPER: "Developer",
    MAINTAINER: "Maintainer",
    OWNER: "Owner",
}
SCOPES = ("api", "read_api", "read_user", "read_repository", "write_repository")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def now_ms() -> datetime:
    """Now to the millisecond, as GitLab's API shows the times that order events (approvals
    and diff versions: a client tells "approved after this push" from them)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass
class User:
    id: int
    username: str
    name: str
    email: str
    bot: bool = False
    admin: bool = False
    state: str = "active"
    created_at: datetime = field(default_factory=now)


@dataclass
class Member:
    """A direct membership of a group or a project."""

    user_id: int
    access_level: int
    created_at: datetime = field(default_factory=now)
    created_by: int | None = None
    expires_at: date | None = None


@dataclass
class Group:
    id: int
    path: str
    name: str
    parent_id: int | None
    full_path: str
    visibility: str = "private"
    description: str = ""
    members: dict[int, Member] = field(default_factory=dict)
    created_at: datetime = field(default_factory=now)


@dataclass
class Token:
    """A personal, project or group access token (the secret is the dictionary key)."""

    id: int
    token: str
    kind: str  # "personal" | "project" | "group"
    user_id: int
    name: str
    scopes: list[str]
    resource_id: int | None = None  # the project or group of a project/group token
    expires_at: date | None = None
    revoked: bool = False
    created_at: datetime = field(default_factory=now)
    last_used_at: datetime | None = None


@dataclass
class ProtectedBranch:
    id: int
    name: str  # a branch name or a wildcard such as "release/*"
    push_access_level: int = MAINTAINER
    merge_access_level: int = MAINTAINER
    allow_force_push: bool = False
    code_owner_approval_required: bool = False


@dataclass
class Award:
    id: int
    name: str
    user_id: int
    awardable_type: str  # "Note" | "MergeRequest" | "Issue"
    awardable_id: int
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class Note:
    id: int
    project_id: int
    noteable_type: str  # "MergeRequest" | "Issue"
    noteable_id: int
    noteable_iid: int
    discussion_id: str
    author_id: int
    body: str
    system: bool = False
    type: str | None = None  # None | "DiscussionNote" | "DiffNote"
    position: dict[str, Any] | None = None
    resolvable: bool = False
    resolved: bool = False
    resolved_by_id: int | None = None
    resolved_at: datetime | None = None
    token_id: int | None = None  # which token posted it (None: a test acting as a person)
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    awards: list[Award] = field(default_factory=list)


@dataclass
class Discussion:
    id: str  # 40 hex characters, as GitLab's
    individual_note: bool
    note_ids: list[int] = field(default_factory=list)


@dataclass
class Approval:
    user_id: int
    sha: str
    created_at: datetime | None = field(default_factory=now_ms)  # None: an older GitLab's


@dataclass
class ApprovalRule:
    id: int
    name: str
    rule_type: str  # "regular" | "code_owner" | "any_approver" | "report_approver"
    approvals_required: int
    user_ids: list[int] = field(default_factory=list)
    group_ids: list[int] = field(default_factory=list)
    section: str | None = None


@dataclass
class DiffVersion:
    id: int
    head_sha: str
    base_sha: str
    start_sha: str
    created_at: datetime | None = field(default_factory=now_ms)


@dataclass
class MergeRequest:
    id: int
    iid: int
    project_id: int
    source_project_id: int
    title: str
    description: str
    author_id: int
    source_branch: str
    target_branch: str
    head_sha: str
    start_sha: str  # the target branch's head when the diff was last computed
    state: str = "opened"  # opened | closed | merged | locked
    draft: bool = False
    reviewer_ids: list[int] = field(default_factory=list)
    assignee_ids: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    squash: bool = False
    force_remove_source_branch: bool = False
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    merged_at: datetime | None = None
    merged_by_id: int | None = None
    merge_commit_sha: str | None = None
    squash_commit_sha: str | None = None
    closed_at: datetime | None = None
    closed_by_id: int | None = None
    approvals: list[Approval] = field(default_factory=list)
    discussions: dict[str, Discussion] = field(default_factory=dict)
    awards: list[Award] = field(default_factory=list)
    versions: list[DiffVersion] = field(default_factory=list)
    token_id: int | None = None


@dataclass
class Issue:
    id: int
    iid: int
    project_id: int
    title: str
    description: str
    author_id: int
    state: str = "opened"  # opened | closed
    labels: list[str] = field(default_factory=list)
    assignee_ids: list[int] = field(default_factory=list)
    confidential: bool = False
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    closed_at: datetime | None = None
    closed_by_id: int | None = None
    discussions: dict[str, Discussion] = field(default_factory=dict)
    awards: list[Award] = field(default_factory=list)
    token_id: int | None = None


@dataclass
class Pipeline:
    """The "external" pipeline GitLab creates to hold commit statuses posted through the API."""

    id: int
    iid: int
    project_id: int
    sha: str
    ref: str | None
    user_id: int
    source: str = "external"
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass
class CommitStatus:
    id: int
    project_id: int
    pipeline_id: int
    sha: str
    ref: str | None
    name: str
    status: str  # created | pending | running | success | failed | canceled | skipped
    author_id: int
    token_id: int | None
    description: str | None = None
    target_url: str | None = None
    coverage: float | None = None
    retried: bool = False
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Every state this status went through, in order ("created" first).
    history: list[str] = field(default_factory=lambda: ["created"])


@dataclass
class Hook:
    """A project (or group) webhook; `events` holds the `*_events` flags that are on."""

    id: int
    url: str
    token: str | None
    signing_token: str | None
    events: set[str]
    project_id: int | None = None
    group_id: int | None = None
    enable_ssl_verification: bool = True
    push_events_branch_filter: str | None = None
    created_at: datetime = field(default_factory=now)


@dataclass
class Project:
    id: int
    path: str
    name: str
    namespace_kind: str  # "user" | "group"
    namespace_id: int
    namespace_path: str
    git: GitRepo
    visibility: str = "private"
    default_branch: str = "main"
    description: str = ""
    members: dict[int, Member] = field(default_factory=dict)
    protected_branches: list[ProtectedBranch] = field(default_factory=list)
    merge_requests: dict[int, MergeRequest] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    pipelines: list[Pipeline] = field(default_factory=list)
    statuses: list[CommitStatus] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    approval_rules: list[ApprovalRule] = field(default_factory=list)
    # What the namespace's licence unlocks: "free", "premium" or "ultimate". Approval rules
    # (code-owner ones too) are Premium: on Free GitLab neither reports nor enforces them.
    tier: str = "premium"
    # Project approval settings (`/projects/:id/approvals`), GitLab's defaults.
    approvals_before_merge: int = 0
    reset_approvals_on_push: bool = True
    merge_requests_author_approval: bool = False
    merge_requests_disable_committers_approval: bool = False
    next_iid: dict[str, int] = field(default_factory=lambda: {"mr": 1, "issue": 1, "pipeline": 1})
    created_at: datetime = field(default_factory=now)
    last_activity_at: datetime = field(default_factory=now)

    @property
    def path_with_namespace(self) -> str:
        return f"{self.namespace_path}/{self.path}"


@dataclass
class RateLimit:
    """A simulated Rack::Attack throttle for one caller (or everybody: key "*")."""

    limit: int
    period: int = 60
    used: int = 0
    window_start: float = 0.0


class State:
    """All records of one fake GitLab, behind one re-entrant lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self.users: dict[int, User] = {}
        self.groups: dict[int, Group] = {}
        self.projects: dict[int, Project] = {}
        self.tokens: dict[str, Token] = {}
        self.notes: dict[int, Note] = {}
        self.hooks: dict[int, Hook] = {}

    def next_id(self) -> int:
        return next(self._ids)

    # Look-ups return None rather than raise: callers decide between a 404 for the API and an
    # exception for a test helper.
    def user_by_name(self, username: str) -> User | None:
        key = username.lower()
        return next((u for u in self.users.values() if u.username.lower() == key), None)

    def group_by_path(self, full_path: str) -> Group | None:
        key = full_path.strip("/").lower()
        return next((g for g in self.groups.values() if g.full_path.lower() == key), None)

    def project_by_path(self, full_path: str) -> Project | None:
        key = full_path.strip("/").lower()
        return next(
            (p for p in self.projects.values() if p.path_with_namespace.lower() == key), None
        )

    def project_ref(self, ref: str | int) -> Project | None:
        """A project by numeric id or full path, as `:id` in GitLab's API accepts either."""
        text = str(ref)
        if text.isdigit():
            return self.projects.get(int(text))
        return self.project_by_path(text)

    def group_ref(self, ref: str | int) -> Group | None:
        text = str(ref)
        if text.isdigit():
            return self.groups.get(int(text))
        return self.group_by_path(text)

    # -- membership ----------------------------------------------------------------------------
    def ancestors(self, group: Group) -> list[Group]:
        """The group and its parents, nearest first."""
        chain = [group]
        while chain[-1].parent_id is not None:
            chain.append(self.groups[chain[-1].parent_id])
        return chain

    def group_access(self, group: Group, user_id: int) -> int:
        """A user's access to a group: the highest of direct and inherited memberships."""
        best = NO_ACCESS
        for g in self.ancestors(group):
            member = g.members.get(user_id)
            if member is not None:
                best = max(best, member.access_level)
        return best

    def project_memberships(self, project: Project, user_id: int) -> list[tuple[str, Member]]:
        """Direct and inherited memberships of a user in a project: [(source, member)]."""
        found: list[tuple[str, Member]] = []
        direct = project.members.get(user_id)
        if direct is not None:
            found.append(("direct", direct))
        if project.namespace_kind == "group":
            for g in self.ancestors(self.groups[project.namespace_id]):
                member = g.members.get(user_id)
                if member is not None:
                    found.append((f"group:{g.id}", member))
        elif project.namespace_id == user_id:
            # A personal project's owner is its Owner without a membership record of the group.
            found.append(("namespace", Member(user_id, OWNER)))
        return found

    def project_access(self, project: Project, user_id: int) -> int:
        return max(
            (m.access_level for _, m in self.project_memberships(project, user_id)), default=0
        )

    def all_project_members(self, project: Project) -> dict[int, Member]:
        """Every user with access, each with their highest membership (`/members/all`)."""
        users = set(project.members)
        if project.namespace_kind == "group":
            for g in self.ancestors(self.groups[project.namespace_id]):
                users |= set(g.members)
        elif project.namespace_id in self.users:
            users.add(project.namespace_id)
        out: dict[int, Member] = {}
        for uid in sorted(users):
            best = max(self.project_memberships(project, uid), key=lambda sm: sm[1].access_level)
            out[uid] = best[1]
        return out

    def all_group_members(self, group: Group) -> dict[int, Member]:
        out: dict[int, Member] = {}
        for g in reversed(self.ancestors(group)):
            for uid, member in g.members.items():
                if uid not in out or member.access_level >= out[uid].access_level:
                    out[uid] = member
        return dict(sorted(out.items()))

    def protected_branch(self, project: Project, branch: str) -> ProtectedBranch | None:
        import fnmatch

        exact = next((p for p in project.protected_branches if p.name == branch), None)
        if exact is not None:
            return exact
        return next(
            (
                p
                for p in project.protected_branches
                if "*" in p.name and fnmatch.fnmatchcase(branch, p.name)
            ),
            None,
        )
