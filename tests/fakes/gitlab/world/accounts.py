"""Users, groups and subgroups, memberships and access tokens of the fake GitLab.

One part of `FakeGitLab`. Nothing here speaks HTTP and nothing here sends webhooks: GitLab's
member events go to group hooks only, which the fake does not send (see README).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from .. import auth
from ..state import (
    DEVELOPER,
    SCOPES,
    Group,
    Member,
    Project,
    Token,
    User,
)
from .base import WorldBase


class Accounts(WorldBase):
    """Users (people and bots), groups, members and tokens."""

    def add_user(
        self,
        username: str,
        *,
        name: str | None = None,
        email: str | None = None,
        bot: bool = False,
        admin: bool = False,
    ) -> User:
        with self.state.lock:
            if self.state.user_by_name(username) is not None:
                raise ValueError(f"user {username} exists")
            user = User(
                id=self.state.next_id(),
                username=username,
                name=name or username.replace("_", " ").title(),
                email=email or f"{username}@example.com",
                bot=bot,
                admin=admin,
            )
            self.state.users[user.id] = user
            return user

    def block_user(self, who: str | User, blocked: bool = True) -> None:
        with self.state.lock:
            self.user(who).state = "blocked" if blocked else "active"

    def add_group(
        self,
        full_path: str,
        *,
        name: str | None = None,
        visibility: str = "private",
        members: dict[str, int] | None = None,
    ) -> Group:
        """A group; "acme/platform" makes a subgroup of "acme" (which must exist)."""
        with self.state.lock:
            if self.state.group_by_path(full_path) is not None:
                raise ValueError(f"group {full_path} exists")
            parent_path, _, path = full_path.rpartition("/")
            parent = None
            if parent_path:
                parent = self.state.group_by_path(parent_path)
                if parent is None:
                    raise KeyError(f"no parent group {parent_path}")
            group = Group(
                id=self.state.next_id(),
                path=path,
                name=name or path,
                parent_id=parent.id if parent else None,
                full_path=full_path,
                visibility=visibility,
            )
            self.state.groups[group.id] = group
            for username, level in (members or {}).items():
                self.add_member(group, username, level)
            return group

    def group(self, ref: str | int | Group) -> Group:
        if isinstance(ref, Group):
            return ref
        found = self.state.group_ref(ref)
        if found is None:
            raise KeyError(f"no group {ref}")
        return found

    def add_member(
        self,
        target: str | Group | Project,
        who: str | User,
        access_level: int = DEVELOPER,
        *,
        expires_at: date | None = None,
    ) -> Member:
        """Make a user a direct member of a group or project (`target` may be a path: a
        project path is tried first)."""
        with self.state.lock:
            user = self.user(who)
            resolved: Group | Project
            if isinstance(target, str):
                project = self.state.project_by_path(target)
                resolved = project if project is not None else self.group(target)
            else:
                resolved = target
            member = Member(user.id, access_level, expires_at=expires_at)
            resolved.members[user.id] = member
            return member

    def remove_member(self, target: Group | Project | str, who: str | User) -> None:
        with self.state.lock:
            user = self.user(who)
            if isinstance(target, str):
                project = self.state.project_by_path(target)
                target = project if project is not None else self.group(target)
            target.members.pop(user.id, None)

    # -- tokens ---------------------------------------------------------------------------------
    def personal_token(
        self,
        who: str | User,
        *,
        scopes: Iterable[str] = ("api",),
        name: str = "personal",
        expires_at: date | None = None,
    ) -> str:
        """A personal access token of the user; returns the secret."""
        scopes = list(scopes)
        unknown = set(scopes) - set(SCOPES)
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)}")
        with self.state.lock:
            token = auth.mint_token(
                self.state, self.user(who), scopes=scopes, name=name, expires_at=expires_at
            )
            return token.token

    def project_token(
        self,
        project: str | Project,
        *,
        access_level: int = DEVELOPER,
        scopes: Iterable[str] = ("api",),
        name: str = "compliance-bot",
        expires_at: date | None = None,
    ) -> tuple[str, User]:
        """A project access token: a new bot user who is a member of the project at
        `access_level`, as GitLab creates one. Returns (secret, bot user)."""
        with self.state.lock:
            p = self.project(project)
            bot = self.add_user(
                f"project_{p.id}_bot_{self.state.next_id():x}",
                name=name,
                email=f"project{p.id}_bot@noreply.example.com",
                bot=True,
            )
            p.members[bot.id] = Member(bot.id, access_level)
            token = auth.mint_token(
                self.state,
                bot,
                kind="project",
                scopes=list(scopes),
                name=name,
                resource_id=p.id,
                expires_at=expires_at,
            )
            return token.token, bot

    def group_token(
        self,
        group: str | Group,
        *,
        access_level: int = DEVELOPER,
        scopes: Iterable[str] = ("api",),
        name: str = "compliance-bot",
    ) -> tuple[str, User]:
        """A group access token: a bot user who is a member of the group."""
        with self.state.lock:
            g = self.group(group)
            bot = self.add_user(
                f"group_{g.id}_bot_{self.state.next_id():x}",
                name=name,
                email=f"group{g.id}_bot@noreply.example.com",
                bot=True,
            )
            g.members[bot.id] = Member(bot.id, access_level)
            token = auth.mint_token(
                self.state, bot, kind="group", scopes=list(scopes), name=name, resource_id=g.id
            )
            return token.token, bot

    def token_record(self, secret: str) -> Token:
        return self.state.tokens[secret]

    def revoke_token(self, secret: str) -> None:
        with self.state.lock:
            self.state.tokens[secret].revoked = True

    def expire_token(self, secret: str) -> None:
        with self.state.lock:
            self.state.tokens[secret].expires_at = date(2000, 1, 1)
