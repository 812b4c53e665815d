"""GitHub Apps, their installations and tokens (the identities the bot acts with).

One part of `FakeGitHub`: every method changes the state and sends the webhooks GitHub would
send for that change, so tests and REST handlers share it. Nothing here speaks HTTP.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from .. import auth
from ..state import (
    App,
    Installation,
    Token,
    now,
)
from .base import WorldBase

DEFAULT_APP_PERMISSIONS = {
    "checks": "write",
    "contents": "write",
    "pull_requests": "write",
    "issues": "write",
    "metadata": "read",
    "members": "read",
    "statuses": "read",
}
DEFAULT_APP_EVENTS = [
    "check_run",
    "check_suite",
    "issue_comment",
    "merge_group",
    "pull_request",
    "pull_request_review",
    "push",
]


class Apps(WorldBase):
    """Apps, installations, installation and user tokens, manifest codes."""

    def create_app(
        self,
        *,
        name: str = "compliance-bot",
        slug: str | None = None,
        owner: str | None = None,
        app_id: int | None = None,
        private_key: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = "webhook-secret",
        events: Iterable[str] = DEFAULT_APP_EVENTS,
        permissions: dict[str, str] | None = None,
    ) -> App:
        """Register a GitHub App (its key pair is generated unless one is given)."""
        with self.state.lock:
            slug = slug or name.lower().replace(" ", "-")
            owner_login = owner or "app-owner"
            self._ensure_user(owner_login)
            if private_key is None:
                private_key, public_key = auth.generate_key_pair()
            else:
                public_key = auth.public_pem_of(private_key)
            app = App(
                id=app_id or self.state.next_id(),
                slug=slug,
                name=name,
                owner=owner_login,
                client_id="Iv1." + secrets.token_hex(8),
                client_secret=secrets.token_hex(20),
                private_key_pem=private_key,
                public_key_pem=public_key,
                webhook_url=webhook_url,
                webhook_secret=webhook_secret,
                events=list(events),
                permissions=dict(permissions or DEFAULT_APP_PERMISSIONS),
                bot_login=f"{slug}[bot]",
                hook_id=self.state.next_id(),
            )
            self.state.apps[app.id] = app
            if self.state.account(app.bot_login) is None:
                self.add_user(
                    app.bot_login,
                    type="Bot",
                    email=f"{app.id}+{app.bot_login}@users.noreply.github.com",
                )
            return app

    def install(
        self,
        app: App,
        account: str,
        repositories: Iterable[str] | None = None,
        *,
        sender: str | None = None,
    ) -> Installation:
        """Install an App on an account: all its repositories, or the named ones."""
        with self.state.lock:
            owner = self.state.account(account)
            if owner is None:
                raise ValueError(f"no account {account}")
            if repositories is None:
                selection = "all"
                repos = {r.full_name for r in self.state.repos.values() if r.owner == owner.login}
            else:
                selection = "selected"
                repos = {
                    self.repo(n if "/" in n else f"{owner.login}/{n}").full_name
                    for n in repositories
                }
            inst = Installation(
                id=self.state.next_id(),
                app_id=app.id,
                account=owner.login,
                repository_selection=selection,
                repos=repos,
                permissions=dict(app.permissions),
                events=list(app.events),
            )
            self.state.installations[inst.id] = inst
            self.events.installation(
                "created", inst, sender or owner.login, [self.repo(r) for r in sorted(repos)]
            )
            return inst

    def install_app(
        self,
        *,
        account: str,
        repositories: Iterable[str] | None = None,
        **app_options: Any,
    ) -> App:
        """Create an App and install it on `account` in one step; return the App."""
        app = self.create_app(**app_options)
        self.install(app, account, repositories)
        return app

    def installation(self, app: App, account: str) -> Installation:
        for inst in self.state.installations.values():
            if inst.app_id == app.id and inst.account.lower() == account.lower():
                return inst
        raise KeyError(f"{app.slug} is not installed on {account}")

    def add_installation_repos(
        self, inst: Installation, repositories: Iterable[str], *, sender: str | None = None
    ) -> None:
        with self.state.lock:
            added = [self.repo(n) for n in repositories]
            inst.repos.update(r.full_name for r in added)
            self.events.installation_repositories("added", inst, sender or inst.account, added, [])

    def remove_installation_repos(
        self, inst: Installation, repositories: Iterable[str], *, sender: str | None = None
    ) -> None:
        with self.state.lock:
            removed = [self.repo(n) for n in repositories]
            inst.repos.difference_update(r.full_name for r in removed)
            inst.repository_selection = "selected"
            self.events.installation_repositories(
                "removed", inst, sender or inst.account, [], removed
            )

    def installation_token(self, inst: Installation, **narrowing: Any) -> str:
        with self.state.lock:
            return auth.mint_installation_token(self.state, inst, **narrowing).token

    def user_token(self, login: str) -> str:
        """A personal access token acting as `login`, for tests that call the API as a person."""
        with self.state.lock:
            self._ensure_user(login)
            return auth.mint_user_token(self.state, login).token

    def expire_token(self, token: str) -> None:
        with self.state.lock:
            found: Token = self.state.tokens[token]
            found.expires_at = now()

    def manifest_code(self, manifest: dict[str, Any], owner: str | None = None) -> str:
        """The `code` GitHub would hand back after someone registers an App from a manifest."""
        code = secrets.token_hex(10)
        with self.state.lock:
            self.state.manifest_codes[code] = {"manifest": manifest, "owner": owner}
        return code
