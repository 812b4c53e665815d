"""The port between the bot's core and a forge: neutral records and the ``Forge`` protocol.

The protocol is shaped around pull-request facts and effects (fetch the commits, find and post a
check, list open pull requests), not around REST endpoints, so GitHub and GitLab each implement it
and the core never sees a PyGithub or python-gitlab object.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.events import PullRequest, Repo
from bot.exemptions.review import (
    ApprovalRule,
    CoAuthor,
    CodeownersError,
    Profile,
    ReviewRecord,
)
from bot.forge.git import GitRepo

AnnotationLevel = Literal["notice", "warning", "failure"]
Conclusion = Literal["success", "failure", "neutral", "action_required"]


class ForgeError(RuntimeError):
    """A forge call failed for good (not found, forbidden, invalid)."""


class TransientForgeError(ForgeError):
    """A forge call failed but may work later; ``retry_after`` says when (seconds), or None to
    let the job queue back off exponentially."""

    def __init__(self, message: str, retry_after: float | None = 30.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BranchTaken(ForgeError):
    """A branch the bot wanted to write exists and is not this request's own earlier attempt."""


# The trailer naming the request a bot-made commit belongs to (see ``Forge.open_change``).
REQUEST_TRAILER = "Compliance-Bot-Request:"


@dataclass(frozen=True)
class Annotation:
    path: str
    start_line: int
    end_line: int
    level: AnnotationLevel
    message: str
    title: str = ""

    @property
    def key(self) -> str:
        """Identity of an annotation, to avoid sending the same one twice to one check run."""
        text = f"{self.path}\0{self.start_line}\0{self.level}\0{self.title}\0{self.message}"
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True)
class CheckOutput:
    name: str
    title: str
    summary: str
    conclusion: Conclusion | None  # None: still running
    annotations: tuple[Annotation, ...] = ()
    details_url: str | None = None
    external_id: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class CommitPeople:
    """Who wrote a PR's commits: the logins of their authors and committers, and the co-authors
    that ``Co-authored-by:`` lines of their messages credit."""

    logins: tuple[str, ...] = ()
    co_authors: tuple[CoAuthor, ...] = ()


@dataclass(frozen=True)
class ForeignStatus:
    """A commit status named like one of the bot's checks, posted by someone else."""

    status_id: int
    context: str
    state: str
    creator: str
    creator_is_bot: bool = False
    description: str | None = None
    target_url: str | None = None


@dataclass(frozen=True)
class CheckRef:
    id: int
    head_sha: str
    name: str
    conclusion: str | None = None
    annotation_keys: frozenset[str] = field(default_factory=frozenset)


class Forge(Protocol):
    name: str
    # where CODEOWNERS may be, in the forge's search order, and whose rules it follows
    codeowners_locations: tuple[str, ...]
    codeowners_flavor: Literal["github", "gitlab"]
    change_sigil: str  # how the forge's markdown refers to a PR: "#12" (GitHub), "!12" (GitLab)

    def fetch(self, repo: Repo, refs: list[str]) -> GitRepo:
        """Bring ``refs`` of ``repo`` into the local mirror and return it."""
        ...

    def pull_ref(self, number: int) -> str:
        """The ref that holds a pull request's head on this forge, forks too (GitHub's
        ``refs/pull/N/head``, GitLab's ``refs/merge-requests/N/head``)."""
        ...

    def find_check(self, repo: Repo, head_sha: str, name: str) -> CheckRef | None: ...

    def post_check(
        self,
        repo: Repo,
        head_sha: str,
        output: CheckOutput,
        existing: CheckRef | None,
        *,
        pull_request: int | None = None,
    ) -> CheckRef:
        """Publish the check on ``head_sha`` (or update ``existing`` in place) with every
        annotation sent: a check run on GitHub; on GitLab a commit status, the pull request's
        summary note and inline discussions (hence ``pull_request``)."""
        ...

    def foreign_statuses(self, repo: Repo, sha: str, names: tuple[str, ...]) -> list[ForeignStatus]:
        """Statuses on ``sha`` named like the bot's checks that someone else posted, where the
        forge has no event for them (GitLab; GitHub sends ``status`` webhooks: none here)."""
        ...

    def pull_request(self, repo: Repo, number: int) -> PullRequest: ...

    def open_pull_requests(self, repo: Repo) -> list[PullRequest]: ...

    def protected_branches(self, repo: Repo) -> list[str]:
        """Names of the repository's protected branches."""
        ...

    # -- exception PRs: reviews and code owners -------------------------------------------
    def reviews(self, repo: Repo, number: int) -> list[ReviewRecord]: ...

    def commit_people(self, repo: Repo, number: int) -> CommitPeople:
        """Authors and committers of a PR's commits, and the co-authors their messages credit."""
        ...

    def profile(self, login: str) -> Profile | None:
        """A person's public name and email; None when the forge won't show them."""
        ...

    def team_members(self, org: str, slug: str) -> frozenset[str] | None:
        """Active members of a team; None when they can't be resolved."""
        ...

    def role_members(self, repo: Repo, role: str) -> frozenset[str] | None:
        """The repository's direct members holding exactly ``role`` (developer, maintainer or
        owner: GitLab's ``@@role`` code owners); None when the forge can't say, or has no such
        owners (GitHub)."""
        return None

    def approval_rules(self, repo: Repo, number: int) -> list[ApprovalRule] | None:
        """The forge's own approval rules on a PR and whether each is met (GitLab Premium's
        ``approval_state``); None where the forge has none to give (GitHub, GitLab Free)."""
        return None

    def codeowners_errors(self, repo: Repo, ref: str) -> list[CodeownersError]: ...

    def merged_pull_requests(self, repo: Repo, base: str) -> list[PullRequest]: ...

    # -- the conversation: comment commands, the PRs and issues the bot keeps ----------------
    def permission(self, repo: Repo, login: str) -> str:
        """admin, maintain, write, triage, read or none."""
        ...

    def react(
        self, repo: Repo, comment_id: int, content: str = "eyes", *, number: int | None = None
    ) -> None:
        """React to a comment (``number``: its pull request, which GitLab needs to find it)."""
        ...

    def comments(self, repo: Repo, number: int) -> list[tuple[int, str, str]]: ...

    def comment(self, repo: Repo, number: int, body: str) -> int: ...

    def open_change(
        self,
        repo: Repo,
        *,
        base_branch: str,
        base_sha: str,
        base_tree: str,
        branch: str,
        files: dict[str, str],
        message: str,
        title: str,
        body: str,
        request: str,
    ) -> tuple[int, str]:
        """A branch with one verified commit changing ``files``, and its open PR (reused).

        ``request`` names the request the branch is for: an existing branch is moved only if
        it was made for the same request, else ``BranchTaken``."""
        ...

    def request_reviewers(
        self, repo: Repo, number: int, users: list[str], teams: list[str]
    ) -> None: ...

    def open_branches(self, repo: Repo, prefix: str) -> list[str]: ...

    def open_pull_for_branch(self, repo: Repo, branch: str) -> int | None:
        """The open PR from ``branch`` of this repository, if any."""
        ...

    def edit_pull(self, repo: Repo, number: int, *, title: str, body: str) -> None: ...

    def close_pull(self, repo: Repo, number: int) -> None: ...

    def find_issue(self, repo: Repo, marker: str) -> tuple[int, str] | None: ...

    def create_issue(self, repo: Repo, title: str, body: str) -> int: ...

    def edit_issue(
        self, repo: Repo, number: int, *, body: str | None = None, state: str | None = None
    ) -> None: ...
