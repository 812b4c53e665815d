"""The ``compliance/exception-review`` verdict for a PR that changes the exceptions file (pure).

Everything it needs comes in as neutral facts gathered by the handler (from the base commit and
the forge); nothing here calls a forge or reads a clock. DESIGN §5 items 3, 4, 5, 7 and 14 are
decided here; the ledger and provenance (item 6) live in ``bot.ledger``.

INTERFACE (agreed; the implementation fills in ``review``):
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bot.engine.model import Policy
from bot.repoconfig import RepoConfig

EXCEPTIONS_PATH = ".compliance/exceptions.yaml"
CODEOWNERS_LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")  # GitHub's order


@dataclass(frozen=True)
class ReviewRecord:
    """One PR review, as the forge lists them (chronological order)."""

    login: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit_id: str | None
    submitted_at: datetime | None = None
    is_bot: bool = False


@dataclass(frozen=True)
class CodeownersError:
    """A line of CODEOWNERS the forge could not use (GitHub's ``codeowners/errors``)."""

    path: str
    line: int
    message: str
    kind: str = ""


@dataclass(frozen=True)
class ReviewFacts:
    pr_number: int
    author: str
    head_sha: str
    changed_paths: tuple[str, ...]  # every path the PR changes (merge base -> head)
    commit_people: tuple[str, ...]  # logins of the authors and committers of the PR's commits
    base_exceptions_text: str | None  # the file at the base commit (None: absent)
    head_exceptions_text: str | None  # the file at the head commit (None: deleted)
    codeowners_path: str | None  # which CODEOWNERS file of the base applies (search order)
    codeowners_text: str | None
    codeowners_errors: tuple[CodeownersError, ...] = ()
    reviews: tuple[ReviewRecord, ...] = ()


# Team resolution: (org, team slug) -> the team's active members, or None when it can't be
# resolved (API error, no permission): then the verdict is pending, never success.
TeamMembers = Callable[[str, str], "frozenset[str] | None"]
# How many times an exception id has been renewed already (from the ledger).
RenewalCount = Callable[[str], int]

Conclusion = Literal["success", "failure", "pending"]


@dataclass(frozen=True)
class ReviewAnnotation:
    path: str
    line: int
    level: Literal["notice", "warning", "failure"]
    message: str


@dataclass(frozen=True)
class EntryChange:
    """An entry the PR adds, changes or removes; ``renewal`` when only ``expires`` moved later."""

    id: str
    kind: Literal["added", "changed", "removed"]
    content_hash: str | None  # of the head version (None for removed)
    renewal: bool = False
    line: int | None = None  # in the head file


@dataclass(frozen=True)
class ReviewVerdict:
    conclusion: Conclusion
    title: str  # one line for the check run title
    summary: str  # markdown, starting with <!-- compliance-bot:exception-review -->
    reasons: tuple[str, ...]  # each thing that is missing or wrong, in words for people
    approvers: tuple[str, ...]  # code owners whose approval counts
    changes: tuple[EntryChange, ...] = ()
    annotations: tuple[ReviewAnnotation, ...] = field(default_factory=tuple)


def review(
    facts: ReviewFacts,
    policies: Mapping[str, Policy],
    config: RepoConfig,
    now: datetime,
    team_members: TeamMembers,
    renewals: RenewalCount,
) -> ReviewVerdict:
    """Decide the exception-review check. See the module docstring and DESIGN §5."""
    raise NotImplementedError
