"""A GitLab world for end-to-end stories: the fake GitLab with a project, people, a code-owner
group and the bot's project token and webhook, and the bot under test pointed at it.

The people are those of the GitHub stories: dev (Developer, writes changes), alice (member of
the code-owner group acme/security), bob (Developer, not a code owner).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

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
    fake: object
    project: object
    bot_user: object
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


@pytest.fixture
def gitlab_world(fake_gitlab, mode: str, scratch_database, tmp_path: Path) -> Iterator[GitLabWorld]:
    fake = fake_gitlab
    fake.add_group("acme", members={"dev": 30, "bob": 30, "lead": 40})
    fake.add_group("acme/security", members={"alice": 30})
    project = fake.create_project("acme/shop", files=BASE_FILES)
    # a code owner needs access to the project to approve, as on GitLab
    fake.add_member(project, "alice", 30)
    fake.protect_branch(project, "main")
    # a group access token: reaches every project of the group, and the members of its
    # subgroups (who own code), as the README recommends
    token, bot_user = fake.group_token("acme", access_level=40)
    settings = bot_settings(
        tmp_path, app=None, api_url="", mode=mode, database_url=scratch_database
    )
    settings = replace(
        settings,
        gitlab_url=fake.web_url,
        gitlab_token=token,
        gitlab_webhook_secret=HOOK_TOKEN,
    )
    bot = BotUnderTest(settings, fake=fake).start()
    fake.add_hook(project, f"{bot.url}/webhooks/gitlab", token=HOOK_TOKEN)
    try:
        yield GitLabWorld(fake, project, bot_user, bot)
    finally:
        bot.stop()
