"""Repositories and their git history: commits, pushes, forks, and what a push sets off.

One part of `FakeGitHub`: every method changes the state and sends the webhooks GitHub would
send for that change, so tests and REST handlers share it. Nothing here speaks HTTP.
"""

from __future__ import annotations

from .. import auth
from ..git import GitRepo, Person
from ..state import (
    CheckSuite,
    Issue,
    Repository,
    now,
)
from .base import WEB_FLOW, WorldBase


class Repositories(WorldBase):
    """Repositories, commits and pushes, and the pull request refs a push moves."""

    def create_repo(
        self,
        full_name: str,
        *,
        private: bool = True,
        default_branch: str = "main",
        files: dict[str, str | bytes | None] | None = None,
        author: str | Person | None = None,
        message: str = "Initial commit",
    ) -> Repository:
        owner, name = full_name.split("/")
        with self.state.lock:
            owner_account = self.state.account(owner) or self.add_user(owner)
            if self.state.repo(full_name):
                raise ValueError(f"repository {full_name} exists")
            path = self.git_root / owner_account.login / f"{name}.git"
            repo = Repository(
                id=self.state.next_id(),
                owner=owner_account.login,
                name=name,
                git=GitRepo.init_bare(path, default_branch),
                private=private,
                default_branch=default_branch,
            )
            self.state.repos[repo.full_name.lower()] = repo
            for inst in self.state.installations.values():
                if inst.repository_selection == "all" and inst.account.lower() == owner.lower():
                    inst.repos.add(repo.full_name)
        if files:
            self.commit(repo, default_branch, files, message, author=author, notify=False)
        return repo

    def fork_repo(self, full_name: str, owner: str) -> Repository:
        """A fork: a new repository holding the same commits, owned by `owner`."""
        source = self.repo(full_name)
        fork = self.create_repo(
            f"{owner}/{source.name}", private=source.private, default_branch=source.default_branch
        )
        fork.fork_of = source.full_name
        fork.git.run("fetch", "--quiet", str(source.git.path), "+refs/heads/*:refs/heads/*")
        return fork

    def repo(self, full_name: str | Repository) -> Repository:
        if isinstance(full_name, Repository):
            return full_name
        repo = self.state.repo(full_name)
        if repo is None:
            raise KeyError(f"no repository {full_name}")
        return repo

    def add_collaborator(
        self, repo: str | Repository, login: str, permission: str = "write"
    ) -> None:
        with self.state.lock:
            self._ensure_user(login)
            self.repo(repo).collaborators[login.lower()] = permission

    def protect_branch(self, repo: str | Repository, branch: str, protected: bool = True) -> None:
        """Mark a branch protected (only the flag: merges are not blocked, see README)."""
        with self.state.lock:
            branches = self.repo(repo).protected_branches
            if protected:
                branches.add(branch)
            else:
                branches.discard(branch)

    def person(self, who: str | Person | None) -> Person:
        if isinstance(who, Person):
            return who
        if who is None:
            return Person("Test Author", "author@example.com", now())
        account = self._ensure_user(who)
        return Person(account.name or account.login, account.email or "", now())

    def branch_sha(self, repo: str | Repository, branch: str) -> str | None:
        return self.repo(repo).git.branch_sha(branch)

    def file_at(self, repo: str | Repository, ref: str, path: str) -> str | None:
        r = self.repo(repo)
        sha = r.git.resolve(ref)
        if sha is None:
            return None
        data = r.git.read_file(sha, path)
        return None if data is None else data.decode()

    def commit(
        self,
        repo: str | Repository,
        branch: str,
        files: dict[str, str | bytes | None],
        message: str = "Change files",
        *,
        author: str | Person | None = None,
        base: str | None = None,
        pusher: str | None = None,
        notify: bool = True,
    ) -> str:
        """Commit `files` (None deletes a path) on `branch` and push it; return the SHA.

        A new branch starts from `base` (a branch or SHA), else the default branch. The push
        sends `push`, `pull_request` synchronize and `check_suite` requested, as GitHub does.
        """
        r = self.repo(repo)
        with self.state.lock:
            before = r.git.branch_sha(branch)
            parent = before
            if parent is None:
                start = base or r.default_branch
                parent = r.git.resolve(start) if start else None
            person = self.person(author)
            sha = r.git.commit_files(parent, files, message, person, person)
            r.git.update_ref(f"refs/heads/{branch}", sha, before)
            who = pusher or (author if isinstance(author, str) else None) or r.owner
            if notify:
                self._after_ref_update(r, f"refs/heads/{branch}", before, sha, who)
            else:
                self._sync_pulls(r, branch, before, sha, who, notify=False)
            return sha

    def move_branch(
        self,
        repo: str | Repository,
        branch: str,
        sha: str | None,
        *,
        pusher: str,
        force: bool = True,
    ) -> None:
        """Point a branch at a commit (None deletes it), as a (force-)push does."""
        r = self.repo(repo)
        with self.state.lock:
            before = r.git.branch_sha(branch)
            if sha is None:
                r.git.delete_ref(f"refs/heads/{branch}")
            else:
                r.git.update_ref(f"refs/heads/{branch}", sha)
            self._after_ref_update(r, f"refs/heads/{branch}", before, sha, pusher, forced=force)

    def _after_ref_update(
        self,
        repo: Repository,
        ref: str,
        before: str | None,
        after: str | None,
        pusher: str,
        forced: bool = False,
    ) -> None:
        if before == after:
            return
        if before and after and not forced:
            forced = not repo.git.is_ancestor(before, after)
        self.events.push(repo, ref, before, after, pusher, forced)
        if not ref.startswith("refs/heads/"):
            return
        branch = ref.removeprefix("refs/heads/")
        if after is not None:
            self._request_check_suites(repo, after, branch, pusher)
        self._sync_pulls(repo, branch, before, after, pusher, notify=True)

    def _sync_pulls(
        self,
        repo: Repository,
        branch: str,
        before: str | None,
        after: str | None,
        pusher: str,
        notify: bool,
    ) -> None:
        """Follow a moved branch in the pull requests whose head or base it is."""
        for target in self.state.repos.values():
            for issue in target.pulls():
                p = issue.pull
                assert p is not None
                if issue.state != "open":
                    continue
                if p.base_ref == branch and target is repo and after:
                    p.base_sha = after
                if p.head_ref == branch and p.head_repo.lower() == repo.full_name.lower():
                    if after is None:
                        continue
                    old = p.head_sha
                    p.head_sha = after
                    self._update_pull_refs(target, issue)
                    issue.updated_at = now()
                    if notify and old != after:
                        self.events.pull_request(
                            "synchronize", target, issue, pusher, before=old, after=after
                        )

    def _update_pull_refs(self, repo: Repository, issue: Issue) -> None:
        """Maintain refs/pull/N/head (and /merge when it merges cleanly), as GitHub does."""
        p = issue.pull
        assert p is not None
        head_repo = self.repo(p.head_repo)
        if head_repo is not repo:
            repo.git.fetch_into(head_repo.git, p.head_sha, f"refs/pull/{issue.number}/head")
        else:
            repo.git.update_ref(f"refs/pull/{issue.number}/head", p.head_sha)
        tree = repo.git.merge_tree(p.base_sha, p.head_sha)
        if tree is not None:
            merge = repo.git.commit_tree(
                tree,
                [p.base_sha, p.head_sha],
                f"Merge {p.head_sha} into {p.base_sha}",
                WEB_FLOW,
            )
            repo.git.update_ref(f"refs/pull/{issue.number}/merge", merge)

    def _request_check_suites(
        self, repo: Repository, sha: str, branch: str | None, sender: str
    ) -> None:
        for app in self.state.apps.values():
            inst = self.state.installation_for_repo(app.id, repo.full_name)
            if inst is None or not auth.permission_level_at_least(
                inst.permissions.get("checks"), "write"
            ):
                continue
            suite = self._suite_for(repo, app.id, sha, branch)
            self.events.check_suite("requested", repo, suite, sender)

    def _suite_for(self, repo: Repository, app_id: int, sha: str, branch: str | None) -> CheckSuite:
        for suite in repo.check_suites:
            if suite.app_id == app_id and suite.head_sha == sha:
                return suite
        suite = CheckSuite(
            id=self.state.next_id(),
            repo=repo.full_name,
            app_id=app_id,
            head_sha=sha,
            head_branch=branch,
        )
        repo.check_suites.append(suite)
        return suite

    def _after_git_push(self, repo: Repository, before: dict[str, str], pusher: str) -> None:
        with self.state.lock:
            after = repo.git.refs("refs/heads/")
            for ref in sorted(set(before) | set(after)):
                if before.get(ref) != after.get(ref):
                    self._after_ref_update(repo, ref, before.get(ref), after.get(ref), pusher)
