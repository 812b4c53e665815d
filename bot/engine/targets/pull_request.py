"""The pull request itself: title, body, labels, author and changed paths.

For rules about the change rather than any one file, such as "a PR touching ``deploy/prod`` needs
a ticket in its title". Subjects have no file; findings point at the PR (path ``""``, line 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from bot.engine.model import PullRequestFacts, Subject
from bot.engine.targets.base import ChangeTarget


class PullRequestTarget(ChangeTarget):
    name = "pull-request"
    variables: ClassVar[dict[str, str]] = {
        "title": "the PR title",
        "body": "the PR description",
        "labels": "label names",
        "author": "the author's login",
        "changed_paths": "every path the PR adds, changes or deletes",
        "base_ref": "the target branch",
        "head_ref": "the source branch",
        "draft": "whether the PR is a draft",
    }

    def change_subjects(self, facts: PullRequestFacts) -> Iterator[Subject]:
        yield Subject(path="", line=1, variables=facts.variables(), key="pull-request")
