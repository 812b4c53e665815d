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
from bot.forge.git import GitRepo

AnnotationLevel = Literal["notice", "warning", "failure"]
Conclusion = Literal["success", "failure", "neutral", "action_required"]


class ForgeError(RuntimeError):
    """A forge call failed for good (not found, forbidden, invalid)."""


class TransientForgeError(ForgeError):
    """A forge call failed but may work later; ``retry_after`` says when (seconds)."""

    def __init__(self, message: str, retry_after: float = 30.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
class CheckRef:
    id: int
    head_sha: str
    name: str
    conclusion: str | None = None
    annotation_keys: frozenset[str] = field(default_factory=frozenset)


class Forge(Protocol):
    name: str

    def fetch(self, repo: Repo, refs: list[str]) -> GitRepo:
        """Bring ``refs`` of ``repo`` into the local mirror and return it."""
        ...

    def find_check(self, repo: Repo, head_sha: str, name: str) -> CheckRef | None: ...

    def post_check(
        self, repo: Repo, head_sha: str, output: CheckOutput, existing: CheckRef | None
    ) -> CheckRef:
        """Create the check (or update ``existing`` in place) with every annotation sent."""
        ...

    def pull_request(self, repo: Repo, number: int) -> PullRequest: ...

    def open_pull_requests(self, repo: Repo) -> list[PullRequest]: ...
