"""What the parts of `FakeGitLab` in this package share: the attributes they rely on, and
turning the names tests use (usernames, "group/project" paths) into records."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...github.git import Person
from ..state import Project, State, User, now

if TYPE_CHECKING:
    from ..events import Events
    from ..render import Renderer
    from ..webhooks import Dispatcher


class WorldBase:
    """Attributes `FakeGitLab` sets up; declared here so that each part can use them."""

    root: Path
    git_root: Path
    state: State
    events: Events
    render: Renderer
    dispatcher: Dispatcher
    web_url: str

    def add_user(self, username: str, **kwargs: object) -> User:  # defined in Accounts
        raise NotImplementedError

    def _sync_merge_requests(  # defined in MergeRequests
        self,
        project: Project,
        branch: str,
        before: str | None,
        after: str | None,
        pusher: User,
        *,
        notify: bool,
    ) -> None:
        raise NotImplementedError

    def user(self, who: str | User | int) -> User:
        """A user by username (created on first mention, as a convenience for stories) or id."""
        if isinstance(who, User):
            return who
        if isinstance(who, int):
            return self.state.users[who]
        with self.state.lock:
            found = self.state.user_by_name(who)
            return found if found is not None else self.add_user(who)

    def project(self, ref: str | int | Project) -> Project:
        if isinstance(ref, Project):
            return ref
        found = self.state.project_ref(ref)
        if found is None:
            raise KeyError(f"no project {ref}")
        return found

    def person(self, who: str | User | Person | None) -> Person:
        if isinstance(who, Person):
            return who
        if who is None:
            return Person("Test Author", "author@example.com", now())
        user = self.user(who)
        return Person(user.name, user.email, now())
