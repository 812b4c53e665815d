"""Accounts, organizations and teams of the fake GitHub.

One part of `FakeGitHub`: every method changes the state and sends the webhooks GitHub would
send for that change, so tests and REST handlers share it. Nothing here speaks HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..state import (
    Account,
    Team,
    TeamMembership,
)
from .base import WorldBase


class Accounts(WorldBase):
    """Users, organizations, teams and team membership."""

    def add_user(
        self,
        login: str,
        *,
        name: str | None = None,
        email: str | None = None,
        type: str = "User",
        site_admin: bool = False,
    ) -> Account:
        with self.state.lock:
            if self.state.account(login):
                raise ValueError(f"account {login} exists")
            account = Account(
                id=self.state.next_id(),
                login=login,
                type=type,
                name=name or login,
                email=email or f"{login}@users.noreply.example.com",
                site_admin=site_admin,
            )
            self.state.accounts[login.lower()] = account
            return account

    def add_org(
        self, login: str, *, members: Iterable[str] = (), admins: Iterable[str] = ()
    ) -> Account:
        with self.state.lock:
            org = Account(id=self.state.next_id(), login=login, type="Organization", name=login)
            self.state.accounts[login.lower()] = org
            for m in members:
                self._ensure_user(m)
                org.members[m.lower()] = "member"
            for a in admins:
                self._ensure_user(a)
                org.members[a.lower()] = "admin"
            return org

    def _ensure_user(self, login: str) -> Account:
        account = self.state.account(login)
        return account if account is not None else self.add_user(login)

    def add_team(
        self,
        org: str,
        slug: str,
        *,
        name: str | None = None,
        members: Iterable[str] = (),
        maintainers: Iterable[str] = (),
        pending: Iterable[str] = (),
        parent: str | None = None,
        repos: dict[str, str] | None = None,
        privacy: str = "closed",
    ) -> Team:
        with self.state.lock:
            organization = self.state.account(org)
            if organization is None or organization.type != "Organization":
                raise ValueError(f"no organization {org}")
            team = Team(
                id=self.state.next_id(),
                org=organization.login,
                slug=slug,
                name=name or slug,
                privacy=privacy,
                parent=parent,
            )
            for login in members:
                self.add_team_member(org, team, login, _team=team)
            for login in maintainers:
                self.add_team_member(org, team, login, role="maintainer", _team=team)
            for login in pending:
                self.add_team_member(org, team, login, state="pending", _team=team)
            for full_name, permission in (repos or {}).items():
                team.repos[full_name.lower()] = permission
            self.state.teams[(org.lower(), slug.lower())] = team
            return team

    def add_team_member(
        self,
        org: str,
        team: str | Team,
        login: str,
        *,
        role: str = "member",
        state: str = "active",
        _team: Team | None = None,
    ) -> None:
        with self.state.lock:
            found = _team or (team if isinstance(team, Team) else self.state.team(org, team))
            if found is None:
                raise ValueError(f"no team {org}/{team}")
            self._ensure_user(login)
            organization = self.state.account(org)
            assert organization is not None
            organization.members.setdefault(login.lower(), "member")
            found.members[login.lower()] = TeamMembership(role=role, state=state)

    def remove_team_member(self, org: str, team: str, login: str) -> None:
        with self.state.lock:
            found = self.state.team(org, team)
            assert found is not None
            found.members.pop(login.lower(), None)
