"""The target interface: how a kind of file (or the pull request itself) becomes policy subjects.

A target parses its input once and hands the engine :class:`Subject` records whose ``variables``
are the CEL activation. Policies name their target; the engine never knows what a Kubernetes
resource or a text line is. A new target (``dockerfile``, ``github-workflow``) is a new module
registered in ``targets/__init__.py``; the engine does not change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

from bot.engine.model import PullRequestFacts, SourceFile, Subject


class TargetError(ValueError):
    """The input can't be read as this target's kind of file; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class MatchError(ValueError):
    """A policy's ``match`` block does not suit its target."""


class Target:
    """Base class; subclasses set ``name`` and override what they need."""

    name: ClassVar[str]
    default_files: ClassVar[tuple[str, ...]] = ()
    default_exclude: ClassVar[tuple[str, ...]] = ()  # left out unless a policy names its files
    match_keys: ClassVar[frozenset[str]] = frozenset()
    variables: ClassVar[Mapping[str, str]] = {}  # CEL variable -> what it holds (for docs)

    def compile_match(self, match: Mapping[str, Any]) -> Any:
        """Check and prepare a policy's ``match`` block; raise :class:`MatchError` if it's wrong."""
        unknown = set(match) - self.match_keys
        if unknown:
            allowed = ", ".join(sorted(self.match_keys)) or "none"
            # (bot.report.text.count is out of reach: the report layer imports the engine)
            keys = "1 match key" if len(unknown) == 1 else f"{len(unknown)} match keys"
            raise MatchError(
                f"{keys} not known to target {self.name!r}: {', '.join(sorted(unknown))}"
                f" (allowed: {allowed})"
            )
        return dict(match)

    def select(self, compiled_match: Any, subject: Subject) -> Iterable[Subject]:
        """The subjects one policy looks at, given one parsed subject. Default: all of them."""
        return (subject,)

    def selection_key(self, subject: Subject) -> Any:
        """A key that decides ``select`` for every policy, or None where there is none.

        Where ``select`` gives each policy either the subject itself or nothing, and which only
        by something of the subject that this key names (a resource's kind, say), the engine
        works out which policies judge a subject once per key, not once per subject. Default:
        None, ``select`` is asked each time."""
        return None


class FileTarget(Target):
    """A target fed by file contents."""

    def subjects(self, file: SourceFile) -> list[Subject]:
        raise NotImplementedError


class ChangeTarget(Target):
    """A target fed by facts about the change itself (the pull request), not by a file."""

    def change_subjects(self, facts: PullRequestFacts) -> Iterator[Subject]:
        raise NotImplementedError
