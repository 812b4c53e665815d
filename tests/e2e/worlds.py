"""Forge worlds: one story vocabulary over the GitHub world and the GitLab world.

A shared story (``test_shared_stories.py``) speaks of *changes* (pull requests, merge requests),
*checks* (check runs, commit statuses) and their *summaries* (a check run's output, the summary
note) without knowing which forge it runs on. Each class here wraps the existing fixture world
(``conftest.World``, ``gitlab_world.GitLabWorld``) and translates; the fakes keep every rule of
their forge, so nothing here decides anything a fake or the bot should. Stories that exist
because the forges differ (annotations, inline discussions, forged statuses) stay in their
forge's own files and use the fixture worlds directly.

Every action returns once the bot has handled all it caused (``settle``), so a story reads in
order: act, then look.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.store.tables import AuditEvent

from .conftest import World
from .gitlab_world import HOOK_TOKEN, GitLabWorld
from .harness import BotUnderTest

EXCEPTIONS = ".compliance/exceptions.yaml"
EXCEPTION_BRANCH = "compliance/exception/"
CLEANUP_BRANCH = "compliance/cleanup-expired"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REPLY_MARKER = "compliance-bot:reply"


class ForgeWorld(ABC):
    """The neutral vocabulary; what is the same on every forge is written here once."""

    forge: str  # "github" | "gitlab", as the bot names them
    change_word: str  # "pull request" | "merge request"
    merger: str  # who merges into main: someone the forge lets merge there
    bot: BotUnderTest
    fake: Any

    # -- the bot ------------------------------------------------------------------------------
    def settle(self) -> None:
        """Until the fake has delivered its webhooks and the bot has handled every one."""
        self.bot.wait_idle()

    def deliveries_recorded(self) -> int:
        return len(self.bot.deliveries())

    def audit_actions(self) -> list[str]:
        with self.bot.services.store.session() as s:
            return [a.action for a in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]

    def sweep(self, days: float) -> dict[str, Any]:
        """The deadline sweep of the repository as of ``days`` from now, then settle."""
        when = datetime.now(UTC) + timedelta(days=days)
        summary = self.bot.services.sweep(self._sweep_key, self.full_name, now=when)
        self.settle()
        return summary

    # -- what the bot asked of the forge --------------------------------------------------------
    def api_calls(self) -> int:
        """REST calls the bot made to the fake (people's actions in a story are not calls)."""
        return sum(self.fake.calls.values())

    def writes(self) -> int:
        """REST calls that change something on the forge."""
        return sum(n for (method, _), n in self.fake.calls.items() if method in WRITES)

    # -- changes, by the branches the bot names them by --------------------------------------------
    def exception_changes(self) -> list[int]:
        """Open changes the bot opened to add or change an exception."""
        return self._open_changes_from(EXCEPTION_BRANCH)

    def cleanup_changes(self) -> list[int]:
        """Open changes the deadline sweep opened to remove expired exceptions."""
        return self._open_changes_from(CLEANUP_BRANCH)

    def replies(self, number: int) -> list[str]:
        """The bot's replies to commands on a change, oldest first."""
        return [body for body in self._comment_bodies(number) if REPLY_MARKER in body]

    def file_at(self, number: int, path: str) -> str | None:
        """A file as it is on the change's head."""
        return self.fake.file_at(self._where, self.head(number), path)

    # -- per forge ------------------------------------------------------------------------------
    full_name: str
    _sweep_key: int | str
    _where: Any  # the fake's repository or project

    @abstractmethod
    def ref(self, number: int) -> str:
        """How people write a reference to the change: ``#3`` or ``!3``."""

    @abstractmethod
    def open_change(
        self, files: dict[str, str | None], *, author: str = "dev", branch: str = "feature"
    ) -> int: ...

    @abstractmethod
    def push(self, number: int, files: dict[str, str | None], *, author: str = "dev") -> str:
        """A commit on the change's branch; its SHA."""

    @abstractmethod
    def head(self, number: int) -> str: ...

    @abstractmethod
    def check(self, number: int, name: str = "compliance") -> str:
        """The bot's check of that name on the change's head: success | failure | pending."""

    @abstractmethod
    def summary(self, number: int, name: str = "compliance") -> str:
        """What the bot says about the check, where people read it on this forge."""

    @abstractmethod
    def comment(self, number: int, text: str, *, author: str = "dev") -> None: ...

    @abstractmethod
    def approve(self, number: int, user: str) -> None:
        """``user`` approves the change's current head."""

    @abstractmethod
    def approve_own(self, number: int) -> None:
        """The change's author approves it: staged past the forge's own default refusal, as an
        attacker with a lax setting (or an admin) could."""

    @abstractmethod
    def merge(self, number: int) -> None: ...

    @abstractmethod
    def redeliver_last(self, event: str = "comment") -> int:
        """Send again, as the forge's "redeliver" does, the webhook of the last ``comment``
        posted or change ``opened`` through this world; the bot's HTTP answer."""

    @abstractmethod
    def post_forged_webhook(self) -> int:
        """A webhook with the wrong secret (signature or token); the bot's HTTP answer."""

    @abstractmethod
    def _open_changes_from(self, prefix: str) -> list[int]: ...

    @abstractmethod
    def _comment_bodies(self, number: int) -> list[str]: ...


class GitHubForgeWorld(ForgeWorld):
    """Pull requests, check runs and their output, issue comments and reviews."""

    forge = "github"
    change_word = "pull request"
    merger = "alice"

    def __init__(self, world: World) -> None:
        self.world = world
        self.bot = world.bot
        self.fake = world.fake
        self.full_name = world.full_name
        self._sweep_key = world.installation.id
        self._where = world.repo
        self._last: dict[str, Any] = {}

    def ref(self, number: int) -> str:
        return f"#{number}"

    def open_change(
        self, files: dict[str, str | None], *, author: str = "dev", branch: str = "feature"
    ) -> int:
        number, _ = self.world.open_pr(files, branch=branch, user=author)
        self._last["opened"] = number
        self.settle()
        return number

    def push(self, number: int, files: dict[str, str | None], *, author: str = "dev") -> str:
        branch = self.fake.pull(self._where, number).pull.head_ref
        sha = self.fake.commit(self._where, branch, files, "a later commit", author=author)
        self.settle()
        return sha

    def head(self, number: int) -> str:
        return self.fake.pull(self._where, number).pull.head_sha

    def _run(self, number: int, name: str):
        return self.world.check(self.head(number), name)

    def check(self, number: int, name: str = "compliance") -> str:
        run = self._run(number, name)
        return "pending" if run.status != "completed" else run.conclusion

    def summary(self, number: int, name: str = "compliance") -> str:
        return self._run(number, name).output["summary"]

    def comment(self, number: int, text: str, *, author: str = "dev") -> None:
        self._last["comment"] = self.fake.comment(self._where, number, text, user=author).id
        self.settle()

    def approve(self, number: int, user: str) -> None:
        self.fake.review(
            self._where, number, user=user, event="APPROVE", commit_id=self.head(number)
        )
        self.settle()

    def approve_own(self, number: int) -> None:
        author = self.fake.pull(self._where, number).user
        self.fake.review(
            self._where,
            number,
            user=author,
            event="APPROVE",
            commit_id=self.head(number),
            allow_own=True,  # GitHub itself answers 422
        )
        self.settle()

    def merge(self, number: int) -> None:
        self.fake.merge_pull(self._where, number, user=self.merger)
        self.settle()

    def redeliver_last(self, event: str = "comment") -> int:
        if event == "comment":
            [delivery] = [
                d
                for d in self.fake.deliveries_of("issue_comment", "created")
                if d.payload["comment"]["id"] == self._last["comment"]
            ]
        else:
            [delivery] = [
                d
                for d in self.fake.deliveries_of("pull_request", "opened")
                if d.payload["number"] == self._last["opened"]
            ]
        attempt = self.fake.redeliver(delivery.guid)
        self.settle()
        return attempt.status

    def post_forged_webhook(self) -> int:
        body = json.dumps({"action": "opened"}).encode()
        wrong = "sha256=" + hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
        return _post(
            f"{self.bot.url}/webhooks/github",
            body,
            {
                "X-GitHub-Event": "pull_request",
                "X-GitHub-Delivery": "forged-1",
                "X-Hub-Signature-256": wrong,
            },
        )

    def _open_changes_from(self, prefix: str) -> list[int]:
        return [
            p.number
            for p in self._where.pulls()
            if p.state == "open" and p.pull.head_ref.startswith(prefix)
        ]

    def _comment_bodies(self, number: int) -> list[str]:
        return [c.body for c in self.fake.comments_on(self._where, number)]


class GitLabForgeWorld(ForgeWorld):
    """Merge requests, commit statuses and the summary note, notes and approvals."""

    forge = "gitlab"
    change_word = "merge request"
    merger = "lead"  # main is protected: Maintainers merge, and alice is a Developer

    def __init__(self, world: GitLabWorld) -> None:
        self.world = world
        self.bot = world.bot
        self.fake = world.fake
        self.full_name = world.full_name
        self._sweep_key = "gitlab"
        self._where = world.project
        self._last: dict[str, Any] = {}

    def ref(self, number: int) -> str:
        return f"!{number}"

    def open_change(
        self, files: dict[str, str | None], *, author: str = "dev", branch: str = "feature"
    ) -> int:
        iid, _ = self.world.open_mr(files, branch=branch, author=author)
        self._last["opened"] = iid
        self.settle()
        return iid

    def push(self, number: int, files: dict[str, str | None], *, author: str = "dev") -> str:
        branch = self.fake.mr(self._where, number).source_branch
        sha = self.fake.commit(self._where, branch, files, "a later commit", author=author)
        self.settle()
        return sha

    def head(self, number: int) -> str:
        return self.fake.mr(self._where, number).head_sha

    def check(self, number: int, name: str = "compliance") -> str:
        status = self.world.status(self.head(number), name)
        return {"failed": "failure", "success": "success"}.get(status.status, "pending")

    def summary(self, number: int, name: str = "compliance") -> str:
        marker = f"<!-- compliance-bot:check:{name} -->"
        [note] = [
            n
            for n in self.world.notes(number)
            if n.author_id == self.world.bot_user.id and (n.body or "").startswith(marker)
        ]
        return note.body

    def comment(self, number: int, text: str, *, author: str = "dev") -> None:
        self._last["comment"] = self.fake.comment(self._where, number, text, user=author).id
        self.settle()

    def approve(self, number: int, user: str) -> None:
        self.fake.approve(self._where, number, user=user)
        self.settle()

    def approve_own(self, number: int) -> None:
        # GitLab refuses an author's approval unless the project allows it
        self.fake.set_approval_settings(self._where, merge_requests_author_approval=True)
        author = self.fake.user(self.fake.mr(self._where, number).author_id)
        self.fake.approve(self._where, number, user=author)
        self.settle()

    def merge(self, number: int) -> None:
        self.fake.merge_mr(self._where, number, user=self.merger)
        self.settle()

    def redeliver_last(self, event: str = "comment") -> int:
        if event == "comment":
            [delivery] = [
                d
                for d in self.fake.deliveries_of("Note Hook")
                if d.payload["object_attributes"]["id"] == self._last["comment"]
            ]
        else:
            [delivery] = [
                d
                for d in self.fake.deliveries_of("Merge Request Hook", action="open")
                if d.payload["object_attributes"]["iid"] == self._last["opened"]
            ]
        attempt = self.fake.redeliver(delivery)
        self.settle()
        return attempt.status

    def post_forged_webhook(self) -> int:
        return _post(
            f"{self.bot.url}/webhooks/gitlab",
            json.dumps({"object_kind": "push"}).encode(),
            {
                "X-Gitlab-Event": "Push Hook",
                "X-Gitlab-Token": HOOK_TOKEN + "x",
                "Idempotency-Key": "2b1e7c54-0000-4000-8000-000000000001",
            },
        )

    def _open_changes_from(self, prefix: str) -> list[int]:
        return [
            mr.iid
            for mr in self.fake.project(self._where).merge_requests.values()
            if mr.state == "opened" and mr.source_branch.startswith(prefix)
        ]

    def _comment_bodies(self, number: int) -> list[str]:
        return [n.body or "" for n in self.world.notes(number)]


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
