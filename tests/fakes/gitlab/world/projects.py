"""Projects and their repositories: commits, pushes, branches, files, protected branches, hooks.

One part of `FakeGitLab`: every method changes the state and sends the webhooks GitLab would
send for that change (a push: `Push Hook`, and `Merge Request Hook` update with `oldrev` for the
merge requests whose source branch moved). Nothing here speaks HTTP.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from ...github.git import GitRepo, Person
from ..auth import ApiError
from ..events import HOOK_EVENTS
from ..state import Group, Hook, Project, ProtectedBranch, User, now
from ..webhooks import signing_key
from .base import WorldBase


class Projects(WorldBase):
    """Projects, commits and pushes, branches and protected branches, project hooks."""

    def create_project(
        self,
        full_path: str,
        *,
        visibility: str = "private",
        default_branch: str = "main",
        files: dict[str, str | bytes | None] | None = None,
        author: str | User | Person | None = None,
        message: str = "Initial commit",
        description: str = "",
    ) -> Project:
        """A project in a group ("acme/platform/shop", the group must exist) or a user's
        namespace ("alice/tools", the user is created if needed), with `files` committed."""
        namespace, _, path = full_path.rpartition("/")
        with self.state.lock:
            if self.state.project_by_path(full_path) is not None:
                raise ValueError(f"project {full_path} exists")
            group = self.state.group_by_path(namespace)
            if group is not None:
                kind, ns_id, ns_path = "group", group.id, group.full_path
            else:
                if "/" in namespace:
                    raise KeyError(f"no group {namespace}")
                owner = self.user(namespace)
                kind, ns_id, ns_path = "user", owner.id, owner.username
            pid = self.state.next_id()
            project = Project(
                id=pid,
                path=path,
                name=path,
                namespace_kind=kind,
                namespace_id=ns_id,
                namespace_path=ns_path,
                git=GitRepo.init_bare(self.git_root / f"{pid}-{path}.git", default_branch),
                visibility=visibility,
                default_branch=default_branch,
                description=description,
            )
            self.state.projects[project.id] = project
        if files:
            self.commit(project, default_branch, files, message, author=author, notify=False)
        return project

    def set_tier(self, project: str | Project, tier: str) -> None:
        """The licence of the project's namespace: "free", "premium" (the default) or
        "ultimate". On Free, approval rules are neither reported (`approval_state` lists none)
        nor enforced."""
        if tier not in ("free", "premium", "ultimate"):
            raise ValueError(f"unknown tier {tier!r}")
        p = self.project(project)
        with self.state.lock:
            p.tier = tier

    def protect_branch(
        self,
        project: str | Project,
        name: str,
        *,
        push_access_level: int = 40,
        merge_access_level: int = 40,
        allow_force_push: bool = False,
        code_owner_approval_required: bool = False,
    ) -> ProtectedBranch:
        with self.state.lock:
            p = self.project(project)
            p.protected_branches = [b for b in p.protected_branches if b.name != name]
            protected = ProtectedBranch(
                id=self.state.next_id(),
                name=name,
                push_access_level=push_access_level,
                merge_access_level=merge_access_level,
                allow_force_push=allow_force_push,
                code_owner_approval_required=code_owner_approval_required,
            )
            p.protected_branches.append(protected)
            return protected

    def unprotect_branch(self, project: str | Project, name: str) -> None:
        with self.state.lock:
            p = self.project(project)
            p.protected_branches = [b for b in p.protected_branches if b.name != name]

    def branch_sha(self, project: str | Project, branch: str) -> str | None:
        return self.project(project).git.branch_sha(branch)

    def file_at(self, project: str | Project, ref: str, path: str) -> str | None:
        p = self.project(project)
        sha = p.git.resolve(ref)
        if sha is None:
            return None
        data = p.git.read_file(sha, path)
        return None if data is None else data.decode()

    # -- commits and pushes -----------------------------------------------------------------
    def commit(
        self,
        project: str | Project,
        branch: str,
        files: dict[str, str | bytes | None],
        message: str = "Change files",
        *,
        author: str | User | Person | None = None,
        base: str | None = None,
        pusher: str | User | None = None,
        notify: bool = True,
    ) -> str:
        """Commit `files` (None deletes a path) on `branch` and push it; return the SHA.

        A new branch starts from `base` (a branch or SHA), else the default branch. The push
        sends `Push Hook` and updates the merge requests of the branch, as GitLab does.
        """
        p = self.project(project)
        with self.state.lock:
            before = p.git.branch_sha(branch)
            parent = before
            if parent is None:
                start = base or p.default_branch
                parent = p.git.resolve(start) if start else None
            person = self.person(author)
            sha = p.git.commit_files(parent, files, message, person, person)
            p.git.update_ref(f"refs/heads/{branch}", sha, before)
            who = self._pusher(p, pusher, author)
            self._after_ref_update(p, f"refs/heads/{branch}", before, sha, who, notify=notify)
            return sha

    def _pusher(self, project: Project, pusher: Any, author: Any) -> User:
        if pusher is not None:
            return self.user(pusher)
        if isinstance(author, (str, User)):
            return self.user(author)
        if project.namespace_kind == "user":
            return self.state.users[project.namespace_id]
        owners = sorted(project.members.items(), key=lambda kv: -kv[1].access_level)
        if owners:
            return self.state.users[owners[0][0]]
        return self.user("root")

    def move_branch(
        self, project: str | Project, branch: str, sha: str | None, *, pusher: str | User
    ) -> None:
        """Point a branch at a commit (None deletes it), as a (force-)push does."""
        p = self.project(project)
        with self.state.lock:
            before = p.git.branch_sha(branch)
            if sha is None:
                p.git.delete_ref(f"refs/heads/{branch}")
            else:
                p.git.update_ref(f"refs/heads/{branch}", sha)
            self._after_ref_update(p, f"refs/heads/{branch}", before, sha, self.user(pusher))

    def _after_ref_update(
        self,
        project: Project,
        ref: str,
        before: str | None,
        after: str | None,
        pusher: User,
        *,
        notify: bool = True,
    ) -> None:
        if before == after or not ref.startswith("refs/heads/"):
            return
        project.last_activity_at = now()
        branch = ref.removeprefix("refs/heads/")
        if notify:
            if after is None:
                commits: list[str] = []
            elif before is not None:
                commits = project.git.commits_between(before, after)
            else:
                default = project.git.branch_sha(project.default_branch)
                base = default if default and default != after else None
                commits = project.git.commits_between(base, after) if base else [after]
            self.events.push(project, ref, before, after, pusher, commits)
        self._sync_merge_requests(project, branch, before, after, pusher, notify=notify)

    def _after_git_push(self, project: Project, before: dict[str, str], pusher: User) -> None:
        with self.state.lock:
            after = project.git.refs("refs/heads/")
            for ref in sorted(set(before) | set(after)):
                if before.get(ref) != after.get(ref):
                    self._after_ref_update(project, ref, before.get(ref), after.get(ref), pusher)

    # -- the Commits API with actions (PLATFORM.md §11) ------------------------------------------
    def commit_actions(
        self,
        project: str | Project,
        *,
        branch: str,
        message: str,
        actions: list[dict[str, Any]],
        user: str | User,
        start_branch: str | None = None,
        start_sha: str | None = None,
        author_name: str | None = None,
        author_email: str | None = None,
        force: bool = False,
    ) -> str:
        """`POST /projects/:id/repository/commits`: apply create/update/delete/move/chmod
        actions in one commit on `branch`, refusing what GitLab refuses (ApiError 400)."""
        p = self.project(project)
        committer = self.user(user)
        with self.state.lock:
            git = p.git
            current = git.branch_sha(branch)
            if start_branch is not None and start_sha is not None:
                raise ApiError(400, error="start_branch, start_sha are mutually exclusive")
            if start_branch is not None or start_sha is not None:
                if current is not None and not force and start_branch != branch:
                    raise ApiError(
                        400,
                        f"A branch called '{branch}' already exists. Switch to that branch in "
                        "order to make changes",
                    )
                if start_sha is not None:
                    parent = git.rev_parse(start_sha) if len(start_sha) >= 7 else None
                    if parent is None:
                        raise ApiError(400, f"Invalid start sha: {start_sha}")
                else:
                    parent = git.branch_sha(start_branch or "")
                    if parent is None:
                        raise ApiError(400, f"Invalid start branch name: {start_branch}")
            else:
                if current is None:
                    if git.refs("refs/heads/"):
                        raise ApiError(
                            400, "You can only create or edit files when you are on a branch"
                        )
                    parent = None
                else:
                    parent = current
            files: dict[str, str | bytes | None] = {}
            modes: dict[str, str] = {}

            def exists(path: str) -> bool:
                if path in files:
                    return files[path] is not None
                return parent is not None and git.entry(parent, path) is not None

            for action in actions:
                kind = action.get("action")
                path = action.get("file_path")
                if kind not in ("create", "update", "delete", "move", "chmod"):
                    raise ApiError(400, error="actions[action] does not have a valid value")
                if not path:
                    raise ApiError(400, error="actions[file_path] is missing")
                content = action.get("content")
                data: bytes | None = None
                if content is not None:
                    if action.get("encoding") == "base64":
                        try:
                            data = base64.b64decode(content)
                        except ValueError as exc:
                            raise ApiError(400, "Invalid base64 content") from exc
                    else:
                        data = str(content).encode()
                last = action.get("last_commit_id")
                if last and kind in ("update", "move", "delete") and parent is not None:
                    touched = action.get("previous_path") or path if kind == "move" else path
                    real = git.run("log", "-1", "--format=%H", parent, "--", touched).strip()
                    if real and real != last:
                        raise ApiError(
                            400,
                            "You are attempting to update a file that has changed since you "
                            "started editing it.",
                        )
                if kind == "create":
                    if exists(path):
                        raise ApiError(400, "A file with this name already exists")
                    files[path] = data or b""
                elif kind == "update":
                    if not exists(path):
                        raise ApiError(400, "A file with this name doesn't exist")
                    files[path] = data or b""
                elif kind == "delete":
                    if not exists(path):
                        raise ApiError(400, "A file with this name doesn't exist")
                    files[path] = None
                elif kind == "move":
                    previous = action.get("previous_path")
                    if not previous or not exists(previous):
                        raise ApiError(400, "A file with this name doesn't exist")
                    if exists(path):
                        raise ApiError(400, "A file with this name already exists")
                    if data is None:
                        old = files.get(previous)
                        data = old if old is not None else git.read_file(parent or "", previous)
                    files[previous] = None
                    files[path] = data or b""
                else:  # chmod
                    if not exists(path):
                        raise ApiError(400, "A file with this name doesn't exist")
                    modes[path] = "100755" if action.get("execute_filemode") else "100644"
            person = Person(author_name or committer.name, author_email or committer.email, now())
            committer_person = Person(committer.name, committer.email, now())
            sha = self._write_commit(git, parent, files, modes, message, person, committer_person)
            git.update_ref(f"refs/heads/{branch}", sha)
            self._after_ref_update(p, f"refs/heads/{branch}", current, sha, committer)
            return sha

    @staticmethod
    def _write_commit(
        git: GitRepo,
        parent: str | None,
        files: dict[str, str | bytes | None],
        modes: dict[str, str],
        message: str,
        author: Person,
        committer: Person,
    ) -> str:
        if not modes:
            return git.commit_files(parent, files, message, author, committer)
        base_tree = git.commit_info(parent).tree if parent else None
        written = {p: c for p, c in files.items() if c is not None}
        shas = dict(zip(written, git.hash_blobs(list(written.values())), strict=True))
        changes: list[tuple[str, str, str | None]] = [
            (path, modes.get(path, "100644"), shas.get(path)) for path in files
        ]
        for path, mode in modes.items():
            if path not in files:
                entry = git.entry(parent or "", path)
                assert entry is not None
                changes.append((path, mode, entry.sha))
        tree = git.mktree_from(base_tree, changes)
        return git.commit_tree(tree, [parent] if parent else [], message, author, committer)

    # -- hooks ------------------------------------------------------------------------------------
    def add_hook(
        self,
        target: str | Project | Group,
        url: str,
        *,
        token: str | None = None,
        signing_token: str | None = None,
        events: Iterable[str] = (
            "push_events",
            "merge_requests_events",
            "note_events",
            "issues_events",
            "emoji_events",
        ),
        push_events_branch_filter: str | None = None,
        group: bool = False,
    ) -> Hook:
        """A project webhook (or, with `group=True`, a group webhook on `target`), with a
        secret token (X-Gitlab-Token) and/or a signing token `whsec_...` (webhook-signature)."""
        events = set(events)
        unknown = events - set(HOOK_EVENTS)
        if unknown:
            raise ValueError(f"unknown hook events {sorted(unknown)}")
        if signing_token is not None:
            signing_key(signing_token)  # ValueError for a malformed token, as GitLab's 400
        with self.state.lock:
            hook = Hook(
                id=self.state.next_id(),
                url=url,
                token=token,
                signing_token=signing_token,
                events=events,
                push_events_branch_filter=push_events_branch_filter,
            )
            if group:
                g = self.state.group_ref(target) if isinstance(target, str) else target
                if not isinstance(g, Group):
                    raise KeyError(f"no group {target}")
                hook.group_id = g.id
            else:
                p = self.project(target)
                hook.project_id = p.id
                p.hooks.append(hook)
            self.state.hooks[hook.id] = hook
            return hook

    def remove_hook(self, hook: Hook) -> None:
        with self.state.lock:
            self.state.hooks.pop(hook.id, None)
            if hook.project_id is not None:
                p = self.state.projects[hook.project_id]
                p.hooks = [h for h in p.hooks if h.id != hook.id]
