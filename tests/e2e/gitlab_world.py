"""A GitLab world for end-to-end stories: the fake GitLab with a project, people, a code-owner
group and the bot's project token and webhook, and the bot under test pointed at it.

The people are those of the GitHub stories: dev (Developer, writes changes), alice (member of
the code-owner group acme/security), bob (Developer, not a code owner).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from .harness import BotUnderTest, bot_settings

HOOK_TOKEN = "gitlab-hook-secret"
BASE_FILES = {
    "README.md": "# shop\n",
    ".compliance/exceptions.yaml": "version: 1\nexceptions: []\n",
    "CODEOWNERS": "[Compliance]\n/.compliance/ @acme/security\n",
}


@dataclass
class GitLabWorld:
    fake: Any  # the FakeGitLab, imported as fakes.gitlab by tests, tests.fakes.gitlab by benchmarks
    project: Any
    bot_user: Any
    bot: BotUnderTest

    @property
    def full_name(self) -> str:
        return self.project.path_with_namespace

    def open_mr(
        self,
        files: dict[str, str | None],
        *,
        branch: str = "feature",
        title: str = "A change",
        author: str = "dev",
    ) -> tuple[int, str]:
        sha = self.fake.commit(self.project, branch, files, f"change on {branch}", author=author)
        mr = self.fake.open_mr(self.project, branch, title=title, author=author)
        return mr.iid, sha

    def status(self, sha: str, name: str = "compliance"):
        found = self.fake.statuses(self.project, sha, name=name, latest=True)
        assert len(found) == 1, f"expected one {name} status on {sha[:8]}, got {len(found)}"
        return found[0]

    def notes(self, iid: int) -> list:
        return self.fake.notes_of(self.project, iid)

    def add_project(self, path: str):
        """A project set up as the stories' acme/shop: the base files, the code owners able to
        approve, main protected, and the bot's webhook."""
        project = self.fake.create_project(path, files=BASE_FILES)
        # a code owner needs access to the project to approve, as on GitLab
        self.fake.add_member(project, "alice", 30)
        self.fake.protect_branch(project, "main")
        self.fake.add_hook(project, f"{self.bot.url}/webhooks/gitlab", token=HOOK_TOKEN)
        return project


@contextmanager
def open_gitlab_world(
    fake, root: Path, mode: str, database_url: str | None
) -> Iterator[GitLabWorld]:
    """The world on a started fake: the groups and people, the bot's group token, the bot
    under test (``mode``: its store and queue) and the project acme/shop with its webhook.
    Shared by the ``gitlab_world`` fixture and ``benchmarks/forge.py``."""
    fake.add_group("acme", members={"dev": 30, "bob": 30, "lead": 40})
    fake.add_group("acme/security", members={"alice": 30})
    # a group access token: reaches every project of the group, and the members of its
    # subgroups (who own code), as the README recommends
    token, bot_user = fake.group_token("acme", access_level=40)
    settings = bot_settings(root, app=None, api_url="", mode=mode, database_url=database_url)
    settings = replace(
        settings,
        gitlab_url=fake.web_url,
        gitlab_token=token,
        gitlab_webhook_secret=HOOK_TOKEN,
    )
    bot = BotUnderTest(settings, fake=fake).start()
    try:
        world = GitLabWorld(fake, None, bot_user, bot)
        world.project = world.add_project("acme/shop")
        yield world
    finally:
        bot.stop()


@pytest.fixture
def gitlab_world(fake_gitlab, mode: str, scratch_database, tmp_path: Path) -> Iterator[GitLabWorld]:
    with open_gitlab_world(fake_gitlab, tmp_path, mode, scratch_database) as world:
        yield world
