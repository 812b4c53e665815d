"""Fixtures for end-to-end stories: a fake GitHub with the App installed, and the bot under test,
in both store/queue modes (SQLite + SQLite queue; PostgreSQL + Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .gitlab_world import gitlab_world  # noqa: F401 (a fixture, for the GitLab stories)
from .harness import (
    BotUnderTest,
    ScratchDatabase,
    bot_settings,
    require_services,
    services_available,
)

BASE_FILES = {
    "README.md": "# shop\n",
    ".compliance/exceptions.yaml": "version: 1\nexceptions: []\n",
    ".github/CODEOWNERS": "/.compliance/ @acme/security\n",
}


@dataclass
class World:
    fake: object
    app: object
    installation: object
    repo: object
    bot: BotUnderTest

    @property
    def full_name(self) -> str:
        return self.repo.full_name

    def open_pr(
        self,
        files: dict[str, str | None],
        *,
        branch: str = "feature",
        title: str = "A change",
        user: str = "dev",
    ) -> tuple[int, str]:
        sha = self.fake.commit(self.repo, branch, files, f"change on {branch}", author=user)
        issue = self.fake.open_pull(self.repo, branch, title=title, user=user)
        return issue.number, sha

    def checks(self, sha: str, name: str = "compliance") -> list:
        return self.fake.check_runs(self.repo, sha=sha, name=name, app=self.app)

    def check(self, sha: str, name: str = "compliance"):
        runs = self.checks(sha, name)
        assert len(runs) == 1, f"expected one {name} check on {sha[:8]}, got {len(runs)}"
        return runs[0]


@pytest.fixture(params=["sqlite", "postgres"])
def mode(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        missing = services_available()
        if missing:
            if require_services():
                pytest.fail(f"COMPLIANCE_BOT_REQUIRE_SERVICES=1 but {missing}")
            pytest.skip(missing)
    return request.param


@dataclass
class FakeWorld:
    fake: object
    app: object
    installation: object
    repo: object


@pytest.fixture
def fake_world(fake_github) -> FakeWorld:
    """An organization with a team, a repository and the App installed; no bot yet."""
    return acme_shop(fake_github)


def acme_shop(fake) -> FakeWorld:
    """``fake_world`` on a fake GitHub of one's own (e.g. one a module-scoped world shares)."""
    fake.add_org("acme")
    for login in ("dev", "alice", "bob"):
        fake.add_user(login)
    repo = fake.create_repo("acme/shop", files=BASE_FILES)
    # code-owner teams need explicit write access, as on GitHub
    fake.add_team("acme", "security", members=["alice"], repos={"acme/shop": "write"})
    for login in ("dev", "alice", "bob"):
        fake.add_collaborator(repo, login, "write")
    app = fake.create_app(owner="acme")
    installation = fake.install(app, "acme")
    return FakeWorld(fake, app, installation, repo)


@pytest.fixture
def scratch_database(mode: str) -> Iterator[str | None]:
    database = ScratchDatabase() if mode == "postgres" else None
    try:
        yield database.url if database else None
    finally:
        if database:
            database.drop()


@pytest.fixture
def world(fake_world: FakeWorld, mode: str, scratch_database, tmp_path: Path) -> Iterator[World]:
    fw = fake_world
    settings = bot_settings(
        tmp_path, app=fw.app, api_url=fw.fake.api_url, mode=mode, database_url=scratch_database
    )
    bot = BotUnderTest(settings, fake=fw.fake).start()
    fw.app.webhook_url = f"{bot.url}/webhooks/github"
    try:
        yield World(fw.fake, fw.app, fw.installation, fw.repo, bot)
    finally:
        bot.stop()
