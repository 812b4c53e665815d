"""FakeGitHub: the test-facing object. Start it, populate it, act on it as people do, inspect it.

Tests build a world (users, organizations, teams, repositories with real commits, an installed
App), then play a story: open a pull request, review it, comment, merge. Every action here
changes the same state the REST API serves and sends the webhooks GitHub would send, so the bot
under test sees a consistent forge. The same methods back the REST handlers, which is why an
action taken through the API and one taken by a test look alike to the bot.

It must not be imported by the bot, and it must only listen on 127.0.0.1.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import auth
from .auth import ApiError
from .events import Events
from .git import GitRepo, Person
from .openapi.validator import OpenApiValidator
from .render import Renderer
from .server import CallRecord, ServerThread, Violation, create_app
from .state import (
    Account,
    App,
    CheckRun,
    CheckSuite,
    CommitStatus,
    Installation,
    Issue,
    IssueComment,
    Label,
    PullInfo,
    RateLimit,
    Reaction,
    Repository,
    Review,
    State,
    Team,
    TeamMembership,
    Token,
    now,
)
from .webhooks import Attempt, Delivery, Dispatcher

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
WEB_FLOW = Person("GitHub", "noreply@github.com")
REACTIONS = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}


@dataclass
class GitRequest:
    repo: str
    service: str
    principal: str
    status: int


class FakeGitHub:
    """A stateful fake of GitHub (REST, a little GraphQL, git over HTTP, webhooks)."""

    def __init__(self, root: Path, *, validate_responses: bool = False) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.git_root = self.root / "git"
        self.state = State()
        self.validator = OpenApiValidator.vendored()
        self.validate_responses = validate_responses
        self.dispatcher = Dispatcher()
        self.events = Events(self)
        self.calls: Counter[tuple[str, str]] = Counter()
        self.call_log: list[CallRecord] = []
        self.violations: list[Violation] = []
        self.deprecated_calls: list[tuple[str, str]] = []
        self.git_requests: list[GitRequest] = []
        self._server = ServerThread(create_app(self))
        self.render = Renderer(self.state, self.web_url, self.api_url)
        self._started = False

    # -- lifecycle and addresses ------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        if not self._started:
            self._server.start()
            self.dispatcher.start()
            self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self.dispatcher.stop()
            self._server.stop()
            self._started = False

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The REST base URL, GitHub Enterprise Server style (`GITHUB_API_URL`)."""
        return f"{self.web_url}/api/v3"

    @property
    def graphql_url(self) -> str:
        return f"{self.web_url}/api/graphql"

    def git_url(self, owner: str, repo: str | None = None) -> str:
        """Clone URL; `git_url("org/repo")` or `git_url("org", "repo")`."""
        full = owner if repo is None else f"{owner}/{repo}"
        return f"{self.web_url}/{full}.git"

    # -- records ----------------------------------------------------------------------------------
    def reset_calls(self) -> None:
        """Forget call counts and the call log (not violations), e.g. before a measured step."""
        with self.state.lock:
            self.calls.clear()
            self.call_log.clear()
            self.git_requests.clear()

    def _count(self, method: str, template: str) -> None:
        with self.state.lock:
            self.calls[(method, template)] += 1

    def _record_call(self, record: CallRecord) -> None:
        with self.state.lock:
            self.call_log.append(record)

    @contextmanager
    def expect_violations(self) -> Iterator[list[Violation]]:
        """Collect (and remove from `violations`) those recorded inside the block."""
        with self.state.lock:
            start = len(self.violations)
        caught: list[Violation] = []
        try:
            yield caught
        finally:
            with self.state.lock:
                caught.extend(self.violations[start:])
                del self.violations[start:]

    def _violate(self, violation: Violation) -> None:
        with self.state.lock:
            self.violations.append(violation)

    def _record_git(self, repo: str, service: str, principal: str, status: int) -> None:
        with self.state.lock:
            self.git_requests.append(GitRequest(repo, service, principal, status))

    def _rate_limit(self, principal: auth.Principal) -> RateLimit:
        with self.state.lock:
            key = principal.rate_key
            limit = self.state.rate_limits.get(key)
            if limit is None:
                limit = RateLimit(limit=60 if key == "anonymous" else 5000)
                limit.reset = int(now().timestamp()) + 3600
                self.state.rate_limits[key] = limit
            return limit

    def set_rate_limit(self, installation: Installation, *, remaining: int) -> None:
        """Pretend an installation has spent its primary rate limit down to `remaining`."""
        limit = self._rate_limit(auth.Principal("installation", installation=installation))
        limit.used = limit.limit - remaining

    @property
    def git_fetches(self) -> list[GitRequest]:
        return [r for r in self.git_requests if r.service == "git-upload-pack" and r.status == 200]

    # -- webhooks ---------------------------------------------------------------------------------
    @property
    def deliveries(self) -> list[Delivery]:
        return list(self.dispatcher.deliveries)

    def deliveries_of(self, event: str, action: str | None = None) -> list[Delivery]:
        return [
            d
            for d in self.dispatcher.deliveries
            if d.event == event and (action is None or d.action == action)
        ]

    @property
    def webhook_mode(self) -> str:
        return self.dispatcher.mode

    @webhook_mode.setter
    def webhook_mode(self, mode: str) -> None:
        assert mode in ("auto", "manual"), mode
        self.dispatcher.mode = mode

    def pending_deliveries(self) -> list[Delivery]:
        return self.dispatcher.pending()

    def deliver_pending(self, guids: Iterable[str] | None = None) -> list[Delivery]:
        return self.dispatcher.release(list(guids) if guids is not None else None)

    def drop_pending(self, guids: Iterable[str] | None = None) -> list[Delivery]:
        return self.dispatcher.drop(list(guids) if guids is not None else None)

    def redeliver(self, guid: str) -> Attempt:
        return self.dispatcher.redeliver(guid)

    def wait_for_deliveries(self, timeout: float = 30.0) -> None:
        self.dispatcher.wait(timeout)

    # -- accounts, organizations, teams -----------------------------------------------------------
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

    # -- repositories and git ---------------------------------------------------------------------
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
            repo.git.fetch_into(head_repo, p.head_sha, f"refs/pull/{issue.number}/head")
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

    # -- apps and installations -------------------------------------------------------------------
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

    # -- pull requests ----------------------------------------------------------------------------
    def pull(self, repo: str | Repository, number: int) -> Issue:
        issue = self.repo(repo).issues.get(number)
        if issue is None or issue.pull is None:
            raise KeyError(f"no pull request #{number}")
        return issue

    def _new_issue(self, repo: Repository, title: str, body: str | None, user: str) -> Issue:
        issue = Issue(
            id=self.state.next_id(),
            number=repo.next_number,
            repo=repo.full_name,
            title=title,
            body=body,
            user=self.state.account(user).login if self.state.account(user) else user,
        )
        repo.next_number += 1
        repo.issues[issue.number] = issue
        return issue

    def open_pull(
        self,
        repo: str | Repository,
        head: str,
        base: str | None = None,
        *,
        title: str = "A change",
        body: str | None = "",
        user: str,
        draft: bool = False,
        head_repo: str | Repository | None = None,
        labels: Iterable[str] = (),
        app_id: int | None = None,
    ) -> Issue:
        """Open a pull request from `head` (a branch, `owner:branch` for a fork) into `base`."""
        r = self.repo(repo)
        with self.state.lock:
            source = self.repo(head_repo) if head_repo is not None else r
            if ":" in head:
                owner, head = head.split(":", 1)
                if owner.lower() != r.owner.lower():
                    source = self.repo(f"{owner}/{r.name}")
            base = base or r.default_branch
            head_sha = source.git.branch_sha(head)
            base_sha = r.git.branch_sha(base)
            errors = []
            if head_sha is None:
                errors.append({"resource": "PullRequest", "field": "head", "code": "invalid"})
            if base_sha is None:
                errors.append({"resource": "PullRequest", "field": "base", "code": "invalid"})
            if errors:
                raise ApiError(422, "Validation Failed", errors=errors)
            assert head_sha and base_sha
            for other in r.pulls():
                o = other.pull
                assert o is not None
                if (
                    other.state == "open"
                    and o.head_ref == head
                    and o.head_repo.lower() == source.full_name.lower()
                    and o.base_ref == base
                ):
                    raise ApiError(
                        422,
                        "Validation Failed",
                        errors=[
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"A pull request already exists for "
                                f"{source.owner}:{head}.",
                            }
                        ],
                    )
            if source is not r:
                r.git.fetch_into(source, head_sha, f"refs/pull/{r.next_number}/head")
            if r.git.is_ancestor(head_sha, base_sha):
                raise ApiError(
                    422,
                    "Validation Failed",
                    errors=[
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"No commits between {base} and {head}",
                        }
                    ],
                )
            issue = self._new_issue(r, title, body, user)
            issue.app_id = app_id
            issue.pull = PullInfo(
                head_ref=head,
                head_repo=source.full_name,
                base_ref=base,
                head_sha=head_sha,
                base_sha=base_sha,
                draft=draft,
            )
            for label in labels:
                self._ensure_label(r, label)
                issue.labels.append(label)
            self._update_pull_refs(r, issue)
            self.events.pull_request("opened", r, issue, issue.user)
            return issue

    def edit_pull(
        self,
        repo: str | Repository,
        number: int,
        *,
        user: str,
        title: str | None = None,
        body: str | None = None,
        base: str | None = None,
        state: str | None = None,
    ) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            p = issue.pull
            assert p is not None
            changes: dict[str, Any] = {}
            if title is not None and title != issue.title:
                changes["title"] = {"from": issue.title}
                issue.title = title
            if body is not None and body != issue.body:
                changes["body"] = {"from": issue.body}
                issue.body = body
            if base is not None and base != p.base_ref:
                new_base = r.git.branch_sha(base)
                if new_base is None:
                    raise ApiError(
                        422,
                        "Validation Failed",
                        errors=[{"resource": "PullRequest", "field": "base", "code": "invalid"}],
                    )
                changes["base"] = {"ref": {"from": p.base_ref}, "sha": {"from": p.base_sha}}
                p.base_ref, p.base_sha = base, new_base
                self._update_pull_refs(r, issue)
            if changes:
                issue.updated_at = now()
                self.events.pull_request("edited", r, issue, user, changes=changes)
            if state == "closed" and issue.state == "open":
                self.close_pull(r, number, user=user)
            elif state == "open" and issue.state == "closed":
                self.reopen_pull(r, number, user=user)
            return issue

    def close_pull(self, repo: str | Repository, number: int, *, user: str) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            if issue.state == "closed":
                return issue
            issue.state = "closed"
            issue.closed_at = issue.updated_at = now()
            issue.closed_by = user
            self.events.pull_request("closed", r, issue, user)
            return issue

    def reopen_pull(self, repo: str | Repository, number: int, *, user: str) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            p = issue.pull
            assert p is not None
            if issue.state == "open" or p.merged:
                return issue
            issue.state = "open"
            issue.closed_at = None
            issue.closed_by = None
            head_repo = self.repo(p.head_repo)
            p.head_sha = head_repo.git.branch_sha(p.head_ref) or p.head_sha
            p.base_sha = r.git.branch_sha(p.base_ref) or p.base_sha
            self._update_pull_refs(r, issue)
            self.events.pull_request("reopened", r, issue, user)
            return issue

    def set_draft(self, repo: str | Repository, number: int, draft: bool, *, user: str) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            assert issue.pull is not None
            if issue.pull.draft != draft:
                issue.pull.draft = draft
                action = "converted_to_draft" if draft else "ready_for_review"
                self.events.pull_request(action, r, issue, user)
            return issue

    def ready_for_review(self, repo: str | Repository, number: int, *, user: str) -> Issue:
        return self.set_draft(repo, number, False, user=user)

    def merge_pull(
        self,
        repo: str | Repository,
        number: int,
        *,
        user: str,
        method: str = "merge",
        sha: str | None = None,
        commit_title: str | None = None,
        commit_message: str | None = None,
    ) -> str:
        """Merge with a real merge (or squash) commit on the base branch; return its SHA."""
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            p = issue.pull
            assert p is not None
            if issue.state != "open":
                raise ApiError(405, "Pull Request is not mergeable")
            if p.draft:
                raise ApiError(405, "Pull Request is still a draft")
            if sha is not None and sha != p.head_sha:
                raise ApiError(409, "Head branch was modified. Review and try the merge again.")
            if method not in ("merge", "squash"):
                raise ApiError(405, f"The fake does not support {method} merges")
            base_sha = r.git.branch_sha(p.base_ref)
            assert base_sha is not None
            tree = r.git.merge_tree(base_sha, p.head_sha)
            if tree is None:
                raise ApiError(405, "Pull Request is not mergeable")
            merger = self.person(user)
            if method == "merge":
                title = commit_title or (
                    f"Merge pull request #{number} from {self.repo(p.head_repo).owner}/{p.head_ref}"
                )
                message = (
                    f"{title}\n\n{commit_message if commit_message is not None else issue.title}\n"
                )
                parents = [base_sha, p.head_sha]
            else:
                title = commit_title or f"{issue.title} (#{number})"
                message = f"{title}\n\n{commit_message or ''}".rstrip() + "\n"
                parents = [base_sha]
            merge_sha = r.git.commit_tree(tree, parents, message, merger, WEB_FLOW)
            r.verified_commits[merge_sha] = "valid"
            r.git.update_ref(f"refs/heads/{p.base_ref}", merge_sha, base_sha)
            p.merged = True
            p.merged_at = now()
            p.merged_by = user
            p.merge_commit_sha = merge_sha
            p.base_sha = base_sha
            issue.state = "closed"
            issue.closed_at = issue.updated_at = p.merged_at
            self._after_ref_update(r, f"refs/heads/{p.base_ref}", base_sha, merge_sha, user)
            self.events.pull_request("closed", r, issue, user)
            return merge_sha

    def request_reviewers(
        self,
        repo: str | Repository,
        number: int,
        *,
        user: str,
        reviewers: Iterable[str] = (),
        team_reviewers: Iterable[str] = (),
    ) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            p = issue.pull
            assert p is not None
            for login in reviewers:
                account = self.state.account(login)
                if account is None or self.state.user_permission(r, login) == "none":
                    raise ApiError(
                        422,
                        "Reviews may only be requested from collaborators. One or more of the "
                        "users or teams you specified is not a collaborator of the "
                        f"{r.full_name} repository.",
                    )
                if login.lower() == issue.user.lower():
                    raise ApiError(422, "Review cannot be requested from pull request author.")
                if account.login not in p.requested_reviewers:
                    p.requested_reviewers.append(account.login)
                    self.events.pull_request(
                        "review_requested",
                        r,
                        issue,
                        user,
                        requested_reviewer=self.render.user(account),
                    )
            for slug in team_reviewers:
                team = self.state.team(r.owner, slug)
                if team is None:
                    raise ApiError(
                        422,
                        "Reviews may only be requested from collaborators. One or more of the "
                        "users or teams you specified is not a collaborator of the "
                        f"{r.full_name} repository.",
                    )
                if team.slug not in p.requested_teams:
                    p.requested_teams.append(team.slug)
                    self.events.pull_request(
                        "review_requested",
                        r,
                        issue,
                        user,
                        requested_team=self.render.team(team),
                    )
            return issue

    def review(
        self,
        repo: str | Repository,
        number: int,
        *,
        user: str,
        event: str = "APPROVE",
        body: str = "",
        commit_id: str | None = None,
    ) -> Review:
        """Submit a review: event APPROVE | REQUEST_CHANGES | COMMENT (or PENDING, unsent)."""
        r = self.repo(repo)
        states = {
            "APPROVE": "APPROVED",
            "REQUEST_CHANGES": "CHANGES_REQUESTED",
            "COMMENT": "COMMENTED",
            "PENDING": "PENDING",
        }
        with self.state.lock:
            issue = self.pull(r, number)
            p = issue.pull
            assert p is not None
            if event not in states:
                raise ApiError(422, f"Unknown review event {event}")
            if user.lower() == issue.user.lower() and event in ("APPROVE", "REQUEST_CHANGES"):
                verb = "approve" if event == "APPROVE" else "request changes on"
                raise ApiError(
                    422,
                    "Unprocessable Entity",
                    errors=[f"Review Can not {verb} your own pull request"],  # type: ignore[list-item]
                )
            if event in ("REQUEST_CHANGES", "COMMENT") and not body:
                raise ApiError(
                    422,
                    "Unprocessable Entity",
                    errors=[f"Review Body is required for {event}"],  # type: ignore[list-item]
                )
            login = self._ensure_user(user).login
            review = Review(
                id=self.state.next_id(),
                user=login,
                state=states[event],
                body=body,
                commit_id=commit_id or p.head_sha,
                submitted_at=None if event == "PENDING" else now(),
            )
            p.reviews.append(review)
            if event != "PENDING":
                p.requested_reviewers = [
                    u for u in p.requested_reviewers if u.lower() != login.lower()
                ]
                self.events.pull_request_review("submitted", r, issue, review, login)
            return review

    def find_review(self, repo: Repository, number: int, review_id: int) -> Review:
        issue = self.pull(repo, number)
        assert issue.pull is not None
        for review in issue.pull.reviews:
            if review.id == review_id:
                return review
        raise ApiError(404, "Not Found")

    def dismiss_review(
        self,
        repo: str | Repository,
        number: int,
        review_id: int,
        *,
        user: str,
        message: str = "Dismissed",
    ) -> Review:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            review = self.find_review(r, number, review_id)
            if review.state not in ("APPROVED", "CHANGES_REQUESTED"):
                raise ApiError(422, "Can not dismiss a commented pull request review")
            review.state = "DISMISSED"
            self.events.pull_request_review("dismissed", r, issue, review, user)
            return review

    def edit_review(
        self, repo: str | Repository, number: int, review_id: int, *, user: str, body: str
    ) -> Review:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            review = self.find_review(r, number, review_id)
            old = review.body
            review.body = body
            self.events.pull_request_review(
                "edited", r, issue, review, user, changes={"body": {"from": old}}
            )
            return review

    # -- issues, comments, reactions, labels ------------------------------------------------------
    def issue(self, repo: str | Repository, number: int) -> Issue:
        issue = self.repo(repo).issues.get(number)
        if issue is None:
            raise KeyError(f"no issue #{number}")
        return issue

    def create_issue(
        self,
        repo: str | Repository,
        *,
        title: str,
        user: str,
        body: str | None = None,
        labels: Iterable[str] = (),
        app_id: int | None = None,
    ) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self._new_issue(r, title, body, user)
            issue.app_id = app_id
            for label in labels:
                self._ensure_label(r, label)
                issue.labels.append(label)
            self.events.issues("opened", r, issue, user)
            return issue

    def edit_issue(
        self,
        repo: str | Repository,
        number: int,
        *,
        user: str,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
        state_reason: str | None = None,
        labels: Iterable[str] | None = None,
    ) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.issue(r, number)
            if issue.pull is not None and state is not None:
                if state == "closed":
                    self.close_pull(r, number, user=user)
                else:
                    self.reopen_pull(r, number, user=user)
                state = None
            changes: dict[str, Any] = {}
            if title is not None and title != issue.title:
                changes["title"] = {"from": issue.title}
                issue.title = title
            if body is not None and body != issue.body:
                changes["body"] = {"from": issue.body}
                issue.body = body
            if labels is not None:
                issue.labels = []
                for label in labels:
                    self._ensure_label(r, label)
                    issue.labels.append(label)
            issue.updated_at = now()
            if changes and issue.pull is None:
                self.events.issues("edited", r, issue, user, changes=changes)
            if state is not None and state != issue.state:
                issue.state = state
                if state == "closed":
                    issue.closed_at = now()
                    issue.closed_by = user
                    issue.state_reason = state_reason or "completed"
                    self.events.issues("closed", r, issue, user)
                else:
                    issue.closed_at = None
                    issue.state_reason = "reopened"
            return issue

    def _ensure_label(self, repo: Repository, name: str) -> Label:
        label = repo.labels.get(name.lower())
        if label is None:
            label = Label(id=self.state.next_id(), name=name)
            repo.labels[name.lower()] = label
        return label

    def add_labels(
        self, repo: str | Repository, number: int, labels: Iterable[str], *, user: str
    ) -> Issue:
        r = self.repo(repo)
        with self.state.lock:
            issue = self.issue(r, number)
            for name in labels:
                label = self._ensure_label(r, name)
                if label.name not in issue.labels:
                    issue.labels.append(label.name)
                    if issue.pull is not None:
                        self.events.pull_request(
                            "labeled", r, issue, user, label=self.render.label(r, label)
                        )
            return issue

    def comment(
        self,
        repo: str | Repository,
        number: int,
        body: str,
        *,
        user: str,
        app_id: int | None = None,
    ) -> IssueComment:
        """Comment on an issue or pull request (sends `issue_comment` created)."""
        r = self.repo(repo)
        with self.state.lock:
            issue = self.issue(r, number)
            login = self._ensure_user(user).login
            comment = IssueComment(
                id=self.state.next_id(),
                repo=r.full_name,
                issue_number=number,
                user=login,
                body=body,
                app_id=app_id,
            )
            self.state.comments[comment.id] = comment
            issue.comments.append(comment.id)
            self.events.issue_comment("created", r, issue, comment, login)
            return comment

    def edit_comment(self, comment_id: int, body: str, *, user: str) -> IssueComment:
        with self.state.lock:
            comment = self.state.comments[comment_id]
            r = self.repo(comment.repo)
            old = comment.body
            comment.body = body
            comment.updated_at = now()
            self.events.issue_comment(
                "edited",
                r,
                r.issues[comment.issue_number],
                comment,
                user,
                changes={"body": {"from": old}},
            )
            return comment

    def delete_comment(self, comment_id: int, *, user: str) -> None:
        with self.state.lock:
            comment = self.state.comments.pop(comment_id)
            r = self.repo(comment.repo)
            issue = r.issues[comment.issue_number]
            issue.comments.remove(comment_id)
            # The payload still carries the comment, as GitHub's `deleted` payload does.
            self.state.comments[comment_id] = comment
            self.events.issue_comment("deleted", r, issue, comment, user)
            del self.state.comments[comment_id]

    def comments_on(self, repo: str | Repository, number: int) -> list[IssueComment]:
        issue = self.issue(repo, number)
        return [self.state.comments[c] for c in issue.comments]

    def react(self, comment_id: int, content: str, *, user: str) -> tuple[Reaction, bool]:
        """Add a reaction; (reaction, created) since GitHub answers 200 for an existing one."""
        if content not in REACTIONS:
            raise ApiError(422, "Validation Failed")
        with self.state.lock:
            comment = self.state.comments[comment_id]
            for existing in comment.reactions:
                if existing.user.lower() == user.lower() and existing.content == content:
                    return existing, False
            reaction = Reaction(id=self.state.next_id(), user=user, content=content)
            comment.reactions.append(reaction)
            return reaction, True

    # -- checks and statuses ----------------------------------------------------------------------
    def check_runs(
        self,
        repo: str | Repository,
        *,
        sha: str | None = None,
        name: str | None = None,
        app: App | None = None,
    ) -> list[CheckRun]:
        return [
            run
            for run in self.repo(repo).check_runs
            if (sha is None or run.head_sha == sha)
            and (name is None or run.name == name)
            and (app is None or run.app_id == app.id)
        ]

    def create_check_run(
        self, repo: str | Repository, app: App, fields: dict[str, Any], *, sender: str
    ) -> CheckRun:
        """Create a check run as `app` from the REST body fields (validated by the caller)."""
        r = self.repo(repo)
        with self.state.lock:
            sha = r.git.resolve(fields["head_sha"])
            if sha is None or not sha.startswith(fields["head_sha"]):
                raise ApiError(
                    422,
                    "Validation Failed",
                    errors=[{"resource": "CheckRun", "code": "invalid", "field": "head_sha"}],
                )
            branch = next(
                (
                    n.removeprefix("refs/heads/")
                    for n, s in r.git.refs("refs/heads/").items()
                    if s == sha
                ),
                None,
            )
            suite = self._suite_for(r, app.id, sha, branch)
            run = CheckRun(
                id=self.state.next_id(),
                repo=r.full_name,
                app_id=app.id,
                suite_id=suite.id,
                name=fields["name"],
                head_sha=sha,
            )
            self._apply_check_fields(run, fields)
            if run.status == "in_progress" and run.started_at is None:
                run.started_at = now()
            if run.started_at is None:
                run.started_at = now()
            r.check_runs.append(run)
            self._update_suite(r, suite)
            self.events.check_run("created", r, run, sender)
            if run.status == "completed":
                self.events.check_run("completed", r, run, sender)
            return run

    def update_check_run(
        self, repo: str | Repository, run: CheckRun, fields: dict[str, Any], *, sender: str
    ) -> CheckRun:
        r = self.repo(repo)
        with self.state.lock:
            was_completed = run.status == "completed"
            run.updates.append(fields)
            if "name" in fields:
                run.name = fields["name"]
            self._apply_check_fields(run, fields)
            suite = next(s for s in r.check_suites if s.id == run.suite_id)
            self._update_suite(r, suite)
            if run.status == "completed" and not was_completed:
                self.events.check_run("completed", r, run, sender)
            return run

    @staticmethod
    def _apply_check_fields(run: CheckRun, fields: dict[str, Any]) -> None:
        def parse(value: str | None) -> Any:
            if value is None:
                return None
            return datetime.fromisoformat(value.replace("Z", "+00:00"))

        for key in ("external_id", "details_url"):
            if key in fields:
                setattr(run, key, fields[key])
        if "status" in fields:
            run.status = fields["status"]
        if "started_at" in fields:
            run.started_at = parse(fields["started_at"])
        if "conclusion" in fields and fields["conclusion"] is not None:
            # "Providing conclusion will automatically set the status parameter to completed."
            run.conclusion = fields["conclusion"]
            run.status = "completed"
        if "completed_at" in fields:
            run.completed_at = parse(fields["completed_at"])
        if run.status == "completed" and run.completed_at is None:
            run.completed_at = now()
        output = fields.get("output")
        if output:
            for key in ("title", "summary", "text"):
                if key in output:
                    run.output[key] = output[key]
            # GitHub appends annotations on every update; it never replaces them.
            run.annotations.extend(output.get("annotations") or [])
        if "actions" in fields:
            run.actions = list(fields["actions"] or [])

    def _update_suite(self, repo: Repository, suite: CheckSuite) -> None:
        runs = [r for r in repo.check_runs if r.suite_id == suite.id]
        suite.updated_at = now()
        if runs and all(r.status == "completed" for r in runs):
            suite.status = "completed"
            order = [
                "action_required",
                "cancelled",
                "timed_out",
                "failure",
                "neutral",
                "skipped",
                "stale",
                "success",
            ]
            conclusions = [r.conclusion or "success" for r in runs]
            suite.conclusion = min(conclusions, key=lambda c: order.index(c) if c in order else 99)
        elif runs:
            suite.status = "in_progress"
            suite.conclusion = None

    def rerequest_check_run(self, run: CheckRun | int, *, user: str) -> None:
        """A person clicks "Re-run": the suite is queued again and only the run's App is told."""
        with self.state.lock:
            found = self._find_run(run)
            r = self.repo(found.repo)
            suite = next(s for s in r.check_suites if s.id == found.suite_id)
            suite.status, suite.conclusion = "queued", None
            self.events.check_run("rerequested", r, found, user, only_app=found.app_id)

    def request_check_action(self, run: CheckRun | int, identifier: str, *, user: str) -> None:
        """A person clicks one of the run's action buttons."""
        with self.state.lock:
            found = self._find_run(run)
            r = self.repo(found.repo)
            self.events.check_run(
                "requested_action",
                r,
                found,
                user,
                only_app=found.app_id,
                requested_action={"identifier": identifier},
            )

    def rerequest_check_suite(self, suite: CheckSuite, *, user: str) -> None:
        with self.state.lock:
            r = self.repo(suite.repo)
            suite.status, suite.conclusion = "queued", None
            self.events.check_suite("rerequested", r, suite, user)

    def _find_run(self, run: CheckRun | int) -> CheckRun:
        if isinstance(run, CheckRun):
            return run
        for repo in self.state.repos.values():
            for candidate in repo.check_runs:
                if candidate.id == run:
                    return candidate
        raise KeyError(f"no check run {run}")

    def create_status(
        self,
        repo: str | Repository,
        sha: str,
        state: str,
        *,
        context: str = "default",
        description: str | None = None,
        target_url: str | None = None,
        creator: str,
    ) -> CommitStatus:
        r = self.repo(repo)
        with self.state.lock:
            if r.git.rev_parse(sha) is None:
                raise ApiError(422, f"No commit found for SHA: {sha}")
            status = CommitStatus(
                id=self.state.next_id(),
                repo=r.full_name,
                sha=sha,
                state=state,
                context=context,
                description=description,
                target_url=target_url,
                creator=creator,
            )
            r.statuses.append(status)
            return status

    # -- merge queue ------------------------------------------------------------------------------
    def enqueue_merge_group(
        self, repo: str | Repository, number: int, *, user: str
    ) -> tuple[str, str]:
        """Put a PR in the merge queue: a real `gh-readonly-queue/...` branch, and the event.

        Returns (head_ref, head_sha) of the merge group.
        """
        r = self.repo(repo)
        with self.state.lock:
            issue = self.pull(r, number)
            p = issue.pull
            assert p is not None
            base_sha = r.git.branch_sha(p.base_ref)
            assert base_sha is not None
            tree = r.git.merge_tree(base_sha, p.head_sha)
            if tree is None:
                raise ApiError(405, "Pull Request is not mergeable")
            message = f"Merge pull request #{number} from {p.head_ref}\n\n{issue.title}\n"
            sha = r.git.commit_tree(tree, [base_sha, p.head_sha], message, WEB_FLOW)
            head_ref = f"refs/heads/gh-readonly-queue/{p.base_ref}/pr-{number}-{p.head_sha}"
            r.git.update_ref(head_ref, sha)
            self.events.merge_group(
                "checks_requested", r, head_ref, sha, f"refs/heads/{p.base_ref}", base_sha, user
            )
            return head_ref, sha

    def destroy_merge_group(
        self, repo: str | Repository, head_ref: str, *, user: str, reason: str = "dequeued"
    ) -> None:
        r = self.repo(repo)
        with self.state.lock:
            sha = r.git.rev_parse(head_ref)
            assert sha is not None
            base_ref = "refs/heads/" + head_ref.split("/")[3]
            base_sha = r.git.rev_parse(base_ref) or sha
            r.git.delete_ref(head_ref)
            self.events.merge_group(
                "destroyed", r, head_ref, sha, base_ref, base_sha, user, reason=reason
            )
