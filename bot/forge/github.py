"""GitHub through PyGithub: App authentication, installation tokens, and the ``Forge`` port.

Only this module (and ``gitlab.py``) imports a forge library. PyGithub's defaults are changed on
purpose (PLATFORM §12): no automatic retry of POST/PATCH (a retried POST can duplicate a check run
or a comment), no sleeping for minutes on a rate limit inside a worker; instead a rate limit or a
5xx becomes ``TransientForgeError`` with the delay GitHub asked for, and the job queue retries.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlparse

import jwt
from github import Auth, Github, GithubException, GithubIntegration
from github.GithubException import RateLimitExceededException, UnknownObjectException
from jwt.algorithms import RSAAlgorithm
from urllib3.util.retry import Retry

from bot.config import Settings
from bot.events import PullRequest, Repo, parse_pull_request
from bot.exemptions.review import (
    CODEOWNERS_LOCATIONS,
    ApprovalRule,
    CoAuthor,
    CodeownersError,
    Profile,
    ReviewRecord,
    co_authors_in,
)
from bot.forge.base import (
    REQUEST_TRAILER,
    Annotation,
    BranchTaken,
    CheckOutput,
    CheckRef,
    CommitPeople,
    ForeignStatus,
    ForgeError,
    TransientForgeError,
)
from bot.forge.git import GitRepo, MirrorCache
from bot.forge.meter import MeteredRequester

T = TypeVar("T")
ANNOTATION_BATCH = 50  # GitHub accepts at most 50 annotations per request
SUMMARY_LIMIT = 65535

# Idempotent reads only; never POST/PATCH (a retried write may have happened the first time).
_RETRY = Retry(
    total=2,
    connect=2,
    read=0,
    status=2,
    backoff_factor=0.3,
    status_forcelist=(502, 503, 504),
    allowed_methods=frozenset({"GET", "HEAD"}),
    respect_retry_after_header=False,
    raise_on_status=False,
)


@dataclass(frozen=True)
class _Page:
    etag: str
    items: list[Any]
    next_url: str | None


class ConditionalCache:
    """The last answer to each list request the sweep repeats, kept for conditional requests.

    Keyed by installation and URL; holds the ETag, the page's items as the caller kept them (small
    records, not the raw JSON) and the next page's link. Sending the ETag in If-None-Match gets a
    304 with no body when nothing changed, and GitHub doesn't charge a 304 to the rate limit.
    Bounded: the least recently used pages go first. Thread-safe.
    """

    def __init__(self, max_pages: int = 20_000) -> None:
        self.max_pages = max_pages
        self._pages: OrderedDict[tuple[Any, ...], _Page] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> _Page | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: tuple[Any, ...], page: _Page) -> None:
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.max_pages:
                self._pages.popitem(last=False)


# POSTs that make nothing twice: git objects are content-addressed (an orphan commit is harmless),
# GitHub keeps one reaction per user and content, and requesting a reviewer twice is a no-op.
_REPEATABLE_POSTS = re.compile(r"/(git/trees|git/commits|reactions|requested_reviewers)$")
IN_PLACE_ATTEMPTS = 3
IN_PLACE_MAX_WAIT = 2.0  # seconds; a longer Retry-After (a spent rate limit) is the queue's to wait


class PatientRequester:
    """Repeats at once a request that is safe to repeat when GitHub answers 429/5xx or the
    connection fails: reads, PATCH/PUT/DELETE, and POSTs that make nothing twice. A job under
    flaky conditions then keeps its progress instead of starting over from the queue. Other
    POSTs are not repeated here: their callers first look whether the write happened."""

    def __init__(self, requester: Any) -> None:
        self._requester = requester

    def requestJsonAndCheck(
        self,
        verb: str,
        url: str,
        parameters: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        input: Any | None = None,
    ) -> tuple[dict[str, Any], Any]:
        repeatable = verb != "POST" or bool(_REPEATABLE_POSTS.search(url.split("?", 1)[0]))
        for attempt in range(1, IN_PLACE_ATTEMPTS + 1):
            try:
                return _call(
                    lambda: self._requester.requestJsonAndCheck(
                        verb, url, parameters=parameters, headers=headers, input=input
                    )
                )
            except TransientForgeError as exc:
                wait = exc.retry_after if exc.retry_after is not None else 0.5 * 2 ** (attempt - 1)
                if not repeatable or attempt == IN_PLACE_ATTEMPTS or wait > IN_PLACE_MAX_WAIT:
                    raise
                time.sleep(wait)
        raise AssertionError("unreachable")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._requester, name)


class _AppKey:
    """The App's private key for the JWTs that ask for installation tokens, read from its PEM
    once. Given the PEM, PyJWT reads the key again for every JWT, and reading an RSA key checks
    it: ~20 ms, which a restarted process paid in its first delivery (and every process, for
    each installation token it asks for). Read as PyJWT reads it, with its errors; thread-safe."""

    ALGORITHM = "RS256"  # what PyGithub's AppAuth signs with (Consts.DEFAULT_JWT_ALGORITHM)

    def __init__(self, pem: str) -> None:
        self._pem = pem
        self._key: Any = None
        self._lock = threading.Lock()

    def key(self) -> Any:
        with self._lock:
            if self._key is None:
                self._key = RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(self._pem)
            return self._key

    def sign(self, payload: dict[str, Any]) -> str:
        return jwt.encode(payload, self.key(), algorithm=self.ALGORITHM)


class GitHubApp:
    """The App itself: JWT auth, cached installation tokens, and what the process remembers
    between jobs (conditional-request cache, the last listing of each installation's
    repositories). Thread-safe."""

    def __init__(self, settings: Settings) -> None:
        if not settings.github_configured:
            raise ForgeError("the GitHub App is not configured")
        self.settings = settings
        self.api_url = settings.github_api_url
        self._key = _AppKey(settings.github_private_key or "")
        self._auth = Auth.AppAuth(settings.github_app_id, sign_func=self._key.sign)
        self._integration = GithubIntegration(auth=self._auth, base_url=self.api_url)
        self._tokens: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.responses = ConditionalCache()
        self._listed: dict[int, dict[str, Repo]] = {}

    def warm(self) -> None:
        """Read the App's key now (the service does on a thread as it starts), not when the
        first job after a start needs a token."""
        self._key.key()

    def installation_token(self, installation_id: int) -> str:
        """A token for the installation, minted once and reused until a minute before expiry."""
        with self._lock:
            cached = self._tokens.get(installation_id)
            if cached and cached[1] - time.time() > 60:
                return cached[0]
        token = _call(lambda: self._integration.get_access_token(installation_id))
        expires = token.expires_at.timestamp() if token.expires_at else time.time() + 3000
        with self._lock:
            self._tokens[installation_id] = (token.token, expires)
        return token.token

    def slug(self) -> str:
        """The App's slug (its bot login is ``<slug>[bot]``), asked once."""
        if not hasattr(self, "_slug"):
            self._slug = str(_call(lambda: self._integration.get_app()).slug)
        return self._slug

    def installations(self) -> list[int]:
        return [i.id for i in _call(lambda: list(self._integration.get_installations()))]

    def repository(self, full_name: str) -> tuple[int, Repo]:
        """The installation that covers a repository, and the repository's facts."""
        owner, name = full_name.split("/", 1)
        installation = _call(lambda: self._integration.get_repo_installation(owner, name))
        requester = MeteredRequester(self.client(installation.id).requester, installation.id)
        _, data = _call(lambda: requester.requestJsonAndCheck("GET", f"/repos/{full_name}"))
        return installation.id, _repo(data)

    def listed_repository(self, installation_id: int, full_name: str) -> Repo | None:
        """The repository's facts from the last listing of the installation's repositories
        (``GitHubForge.installation_repositories``), if it was in it."""
        with self._lock:
            return self._listed.get(installation_id, {}).get(full_name)

    def remember_listing(self, installation_id: int, repos: list[Repo]) -> None:
        with self._lock:
            self._listed[installation_id] = {r.full_name: r for r in repos}

    def client(self, installation_id: int) -> Github:
        return Github(
            auth=Auth.Token(self.installation_token(installation_id)),
            base_url=self.api_url,
            retry=_RETRY,
            per_page=100,
            seconds_between_requests=None,
            seconds_between_writes=self.settings.github_write_interval or None,
            timeout=20,
            lazy=True,  # no GET for objects we only use to reach their sub-resources
        )


class GitHubForge:
    """The ``Forge`` port for one installation."""

    name = "github"
    codeowners_locations: tuple[str, ...] = CODEOWNERS_LOCATIONS
    codeowners_flavor: Literal["github", "gitlab"] = "github"
    change_sigil = "#"  # how text on the forge refers to a change (GitLab: !12; #12 is an issue)

    def __init__(self, app: GitHubApp, installation_id: int, mirrors: MirrorCache) -> None:
        self.app = app
        self.installation_id = installation_id
        self.mirrors = mirrors
        self.gh = app.client(installation_id)
        # every API call of this port goes through it: counted by status, rate limit kept,
        # and a call that is safe to repeat is repeated at once when GitHub stumbles
        self._requester = PatientRequester(MeteredRequester(self.gh.requester, installation_id))

    # -- git ----------------------------------------------------------------------------------
    def clone_url(self, repo: Repo) -> str:
        if repo.clone_url:
            return repo.clone_url
        return f"{self.app.settings.github_web_url}/{repo.full_name}.git"

    def pull_ref(self, number: int) -> str:
        return f"refs/pull/{number}/head"

    def foreign_statuses(self, repo: Repo, sha: str, names: tuple[str, ...]) -> list[ForeignStatus]:
        return []  # GitHub tells of every status through the `status` webhook (handlers.status)

    def fetch(self, repo: Repo, refs: list[str]) -> GitRepo:
        url = self.clone_url(repo)
        host = urlparse(url).netloc.replace(":", "_") or "github"
        token = self.app.installation_token(self.installation_id)
        return self.mirrors.fetch(host, repo.full_name, url, token, refs)

    # -- checks -------------------------------------------------------------------------------
    def find_check(self, repo: Repo, head_sha: str, name: str) -> CheckRef | None:
        _, data = _call(
            lambda: self._requester.requestJsonAndCheck(
                "GET",
                f"/repos/{repo.full_name}/commits/{head_sha}/check-runs",
                parameters={"check_name": name, "filter": "all", "per_page": 100},
            )
        )
        mine = [
            run
            for run in data.get("check_runs", [])
            if str((run.get("app") or {}).get("id")) == str(self.app.settings.github_app_id)
        ]
        if not mine:
            return None
        run = min(mine, key=lambda r: r["id"])  # the first one is the one we keep updating
        return CheckRef(
            id=run["id"], head_sha=head_sha, name=name, conclusion=run.get("conclusion")
        )

    def post_check(
        self,
        repo: Repo,
        head_sha: str,
        output: CheckOutput,
        existing: CheckRef | None,
        *,
        pull_request: int | None = None,  # a check run belongs to the commit, not the PR
    ) -> CheckRef:
        sent = set(existing.annotation_keys) if existing else set()
        pending = [a for a in output.annotations if a.key not in sent]
        batches = [
            pending[i : i + ANNOTATION_BATCH] for i in range(0, len(pending), ANNOTATION_BATCH)
        ]
        first = batches[0] if batches else []
        body: dict[str, Any] = {
            "name": output.name,
            "head_sha": head_sha,
            "output": self._output(output, first),
        }
        if output.details_url:
            body["details_url"] = output.details_url
        if output.external_id:
            body["external_id"] = output.external_id
        if output.conclusion is None:
            body["status"] = "in_progress"
        else:
            body["status"] = "completed"
            body["conclusion"] = output.conclusion
            body["completed_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if existing is None:
            try:
                _, run = _call(
                    lambda: self._requester.requestJsonAndCheck(
                        "POST", f"/repos/{repo.full_name}/check-runs", input=body
                    )
                )
                check_id = run["id"]
            except TransientForgeError:
                # GitHub may have made it before the error: find it rather than make a twin
                existing = self.find_check(repo, head_sha, output.name)
                if existing is None:
                    raise
                sent = set()
        if existing is not None:
            check_id = existing.id
            patch = {k: v for k, v in body.items() if k not in ("head_sha",)}
            _call(
                lambda: self._requester.requestJsonAndCheck(
                    "PATCH", f"/repos/{repo.full_name}/check-runs/{check_id}", input=patch
                )
            )
        sent.update(a.key for a in first)
        for batch in batches[1:]:
            # GitHub appends the annotations of each update to the run's list.
            _call(
                lambda batch=batch: self._requester.requestJsonAndCheck(
                    "PATCH",
                    f"/repos/{repo.full_name}/check-runs/{check_id}",
                    input={"output": self._output(output, batch)},
                )
            )
            sent.update(a.key for a in batch)
        return CheckRef(
            id=check_id,
            head_sha=head_sha,
            name=output.name,
            conclusion=output.conclusion,
            annotation_keys=frozenset(sent),
        )

    @staticmethod
    def _output(output: CheckOutput, annotations: list[Annotation]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "title": output.title[:255],
            "summary": output.summary[:SUMMARY_LIMIT],
        }
        if output.text:
            out["text"] = output.text[:SUMMARY_LIMIT]
        if annotations:
            out["annotations"] = [
                {
                    "path": a.path,
                    "start_line": a.start_line,
                    "end_line": a.end_line,
                    "annotation_level": a.level,
                    "message": a.message[:60000],
                    **({"title": a.title[:255]} if a.title else {}),
                }
                for a in annotations
            ]
        return out

    # -- pull requests ------------------------------------------------------------------------
    def pull_request(self, repo: Repo, number: int) -> PullRequest:
        _, data = _call(
            lambda: self._requester.requestJsonAndCheck(
                "GET", f"/repos/{repo.full_name}/pulls/{number}"
            )
        )
        return parse_pull_request(data)

    def open_pull_requests(self, repo: Repo) -> list[PullRequest]:
        return self._conditional_pages(
            f"/repos/{repo.full_name}/pulls", {"state": "open"}, parse_pull_request
        )

    # -- reviews and code owners (exception PRs) ---------------------------------------------
    def _pages(self, path: str, parameters: dict[str, Any] | None = None) -> list[Any]:
        """Every item of a list endpoint, following GitHub's Link headers (100 per page)."""
        items: list[Any] = []
        url: str | None = path
        params: dict[str, Any] | None = {"per_page": 100, **(parameters or {})}
        while url:
            headers, data = _call(
                lambda url=url, params=params: self._requester.requestJsonAndCheck(
                    "GET", url, parameters=params
                )
            )
            items.extend(data if isinstance(data, list) else [])
            url = _next_link(headers)
            params = None  # the next link carries them
        return items

    def _conditional_pages(
        self,
        path: str,
        parameters: dict[str, Any],
        keep: Callable[[Any], T],
        field: str | None = None,
    ) -> list[T]:
        """Like ``_pages``, each item made into ``keep(item)``, for lists asked again and again
        (every sweep): each page is asked with the ETag of its last answer, and a 304 reuses
        the items kept from it (``ConditionalCache``). ``field`` names the list in an object
        answer (``repositories``)."""
        items: list[T] = []
        url: str | None = path
        params: dict[str, Any] | None = {"per_page": 100, **parameters}
        while url:
            key = (self.installation_id, url, tuple(sorted((params or {}).items())))
            cached = self.app.responses.get(key)
            condition = {"If-None-Match": cached.etag} if cached else None
            headers, data = _call(
                lambda url=url, params=params, condition=condition: (
                    self._requester.requestJsonAndCheck(
                        "GET", url, parameters=params, headers=condition
                    )
                )
            )
            if data is None and cached is not None:  # 304 Not Modified: no body
                page = cached
            else:
                raw = (data or {}).get(field, []) if field else data
                page = _Page(
                    etag=_lower(headers).get("etag", ""),
                    items=[keep(item) for item in (raw if isinstance(raw, list) else [])],
                    next_url=_next_link(headers),
                )
                if page.etag:
                    self.app.responses.put(key, page)
            items.extend(page.items)
            url, params = page.next_url, None  # the next link carries the parameters
        return items

    def reviews(self, repo: Repo, number: int) -> list[ReviewRecord]:
        out = []
        for r in self._pages(f"/repos/{repo.full_name}/pulls/{number}/reviews"):
            user = r.get("user") or {}
            submitted = r.get("submitted_at")
            out.append(
                ReviewRecord(
                    login=str(user.get("login") or ""),
                    state=str(r.get("state") or "").upper(),
                    commit_id=r.get("commit_id"),
                    submitted_at=datetime.fromisoformat(submitted.replace("Z", "+00:00"))
                    if submitted
                    else None,
                    is_bot=user.get("type") == "Bot",
                )
            )
        return out

    def commit_people(self, repo: Repo, number: int) -> CommitPeople:
        """Logins of the authors and committers of a PR's commits (GitHub's own web-flow
        committer, which signs web and API commits, is not a person and is left out), and the
        co-authors their messages credit, with the login when the email is a noreply address."""
        people: set[str] = set()
        co_authors: list[CoAuthor] = []
        for c in self._pages(f"/repos/{repo.full_name}/pulls/{number}/commits"):
            for role in ("author", "committer"):
                login = (c.get(role) or {}).get("login")
                if login and login != "web-flow":
                    people.add(str(login))
            message = str((c.get("commit") or {}).get("message") or "")
            for name, email in co_authors_in(message):
                co_authors.append(
                    CoAuthor(name, email, str(c.get("sha") or ""), noreply_login(email))
                )
        return CommitPeople(tuple(sorted(people)), tuple(co_authors))

    def profile(self, login: str) -> Profile | None:
        """The public name and email of a user; None when GitHub won't show them (a rate
        limit or outage is raised, so the job is retried rather than the approval refused)."""
        try:
            _, data = _call(
                lambda: self._requester.requestJsonAndCheck(
                    "GET", f"/users/{quote(login, safe='')}"
                )
            )
        except TransientForgeError:
            raise
        except ForgeError:
            return None
        data = data or {}
        return Profile(
            str(data.get("login") or login),
            str(data["name"]) if data.get("name") else None,
            str(data["email"]) if data.get("email") else None,
        )

    def team_members(self, org: str, slug: str) -> frozenset[str] | None:
        try:
            members = self._pages(f"/orgs/{org}/teams/{slug}/members")
        except ForgeError:
            return None  # can't tell: the caller must not treat this as "no members"
        return frozenset(str(m.get("login")) for m in members if m.get("login"))

    def role_members(self, repo: Repo, role: str) -> frozenset[str] | None:
        return None  # GitHub's CODEOWNERS names users and teams, never roles

    def approval_rules(self, repo: Repo, number: int) -> list[ApprovalRule] | None:
        return None  # branch protection decides on GitHub; the bot enforces owners itself

    def codeowners_errors(self, repo: Repo, ref: str) -> list[CodeownersError]:
        _, data = _call(
            lambda: self._requester.requestJsonAndCheck(
                "GET", f"/repos/{repo.full_name}/codeowners/errors", parameters={"ref": ref}
            )
        )
        return [
            CodeownersError(
                path=str(e.get("path") or ""),
                line=int(e.get("line") or 0),
                message=str(e.get("message") or e.get("kind") or ""),
                kind=str(e.get("kind") or ""),
            )
            for e in (data or {}).get("errors", [])
        ]

    # -- conversation: comment commands and the pull requests they open ----------------------
    def permission(self, repo: Repo, login: str) -> str:
        """admin, maintain, write, triage, read or none (not a collaborator)."""
        try:
            _, data = _call(
                lambda: self._requester.requestJsonAndCheck(
                    "GET", f"/repos/{repo.full_name}/collaborators/{login}/permission"
                )
            )
        except ForgeError as exc:
            if "not found" in str(exc) or "answered 404" in str(exc):
                return "none"  # not a collaborator (or no such user): no access
            raise
        return str(data.get("role_name") or data.get("permission") or "none")

    def react(
        self, repo: Repo, comment_id: int, content: str = "eyes", *, number: int | None = None
    ) -> None:  # GitHub finds a comment by its id alone
        _call(
            lambda: self._requester.requestJsonAndCheck(
                "POST",
                f"/repos/{repo.full_name}/issues/comments/{comment_id}/reactions",
                input={"content": content},
            )
        )

    def comments(self, repo: Repo, number: int) -> list[tuple[int, str, str]]:
        """(id, body, author login) of every comment on an issue or pull request."""
        return [
            (int(c["id"]), str(c.get("body") or ""), str((c.get("user") or {}).get("login", "")))
            for c in self._pages(f"/repos/{repo.full_name}/issues/{number}/comments")
        ]

    def comment(self, repo: Repo, number: int, body: str) -> int:
        _, data = _call(
            lambda: self._requester.requestJsonAndCheck(
                "POST", f"/repos/{repo.full_name}/issues/{number}/comments", input={"body": body}
            )
        )
        return int(data["id"])

    def open_change(
        self,
        repo: Repo,
        *,
        base_branch: str,
        base_sha: str,
        base_tree: str,
        branch: str,
        files: dict[str, str],
        message: str,
        title: str,
        body: str,
        request: str,
    ) -> tuple[int, str]:
        """A branch with one commit changing ``files`` on ``base_sha``, and its open PR.

        Made with the Git Data API and no custom author, so GitHub signs the commit and shows it
        as verified. The commit message carries a ``Compliance-Bot-Request:`` trailer naming the
        request; an existing branch is moved only when its commit carries the same trailer (this
        request's own earlier attempt), never when it belongs to anyone or anything else
        (``BranchTaken``). An open PR for the branch is reused.
        """
        full = repo.full_name
        trailer = f"{REQUEST_TRAILER} {request}"
        _, tree = _call(
            lambda: self._requester.requestJsonAndCheck(
                "POST",
                f"/repos/{full}/git/trees",
                input={
                    "base_tree": base_tree,
                    "tree": [
                        {"path": p, "mode": "100644", "type": "blob", "content": text}
                        for p, text in files.items()
                    ],
                },
            )
        )
        _, commit = _call(
            lambda: self._requester.requestJsonAndCheck(
                "POST",
                f"/repos/{full}/git/commits",
                input={
                    "message": f"{message.rstrip()}\n\n{trailer}\n",
                    "tree": tree["sha"],
                    "parents": [base_sha],
                },
            )
        )
        try:
            _call(
                lambda: self._requester.requestJsonAndCheck(
                    "POST",
                    f"/repos/{full}/git/refs",
                    input={"ref": f"refs/heads/{branch}", "sha": commit["sha"]},
                )
            )
        except ForgeError as exc:
            # a transient error may hide a ref GitHub made anyway: look before trying again
            if not isinstance(exc, TransientForgeError) and "already exists" not in str(exc):
                raise
            if not self._move_own_branch(repo, branch, trailer, commit, tree["sha"]):
                raise

        existing = self._pages(
            f"/repos/{full}/pulls", {"state": "open", "head": f"{repo.owner}:{branch}"}
        )
        if existing:
            pr = existing[0]
            return int(pr["number"]), str(pr.get("html_url") or "")
        try:
            _, pr = _call(
                lambda: self._requester.requestJsonAndCheck(
                    "POST",
                    f"/repos/{full}/pulls",
                    input={"title": title, "head": branch, "base": base_branch, "body": body},
                )
            )
        except ForgeError as exc:
            # GitHub may have opened it before the error ("A pull request already exists")
            made = self._pages(
                f"/repos/{full}/pulls", {"state": "open", "head": f"{repo.owner}:{branch}"}
            )
            if not made:
                raise exc from None
            pr = made[0]
        return int(pr["number"]), str(pr.get("html_url") or "")

    def _move_own_branch(
        self, repo: Repo, branch: str, trailer: str, commit: dict[str, Any], tree: str
    ) -> bool:
        """Make an existing ``branch`` hold ``commit`` if its head is this request's (same
        trailer); left as it is when it holds the same change on the same base already (a retry:
        a new head would void approvals given on it). False when there is no such branch."""
        full = repo.full_name
        try:
            _, ref = _call(
                lambda: self._requester.requestJsonAndCheck(
                    "GET", f"/repos/{full}/git/ref/heads/{branch}"
                )
            )
        except TransientForgeError:
            raise
        except ForgeError:
            return False  # not found: the create did fail
        head = str((ref.get("object") or {}).get("sha") or "")
        _, current = _call(
            lambda: self._requester.requestJsonAndCheck("GET", f"/repos/{full}/git/commits/{head}")
        )
        lines = str(current.get("message") or "").splitlines()
        if trailer not in (line.strip() for line in lines):
            raise BranchTaken(
                f"branch {branch} already exists and was not made for this request "
                f"(its commit {head[:7]} has no `{trailer}` trailer)"
            )
        parents = [p.get("sha") for p in current.get("parents") or ()]
        wanted = [p.get("sha") for p in commit.get("parents") or ()]
        if (current.get("tree") or {}).get("sha") == tree and parents == wanted:
            return True
        _call(
            lambda: self._requester.requestJsonAndCheck(
                "PATCH",
                f"/repos/{full}/git/refs/heads/{branch}",
                input={"sha": commit["sha"], "force": True},
            )
        )
        return True

    def request_reviewers(
        self, repo: Repo, number: int, users: list[str], teams: list[str]
    ) -> None:
        if not users and not teams:
            return
        _call(
            lambda: self._requester.requestJsonAndCheck(
                "POST",
                f"/repos/{repo.full_name}/pulls/{number}/requested_reviewers",
                # GitHub takes a team's slug; the core names teams "org/slug"
                input={"reviewers": users, "team_reviewers": [t.split("/")[-1] for t in teams]},
            )
        )

    def open_branches(self, repo: Repo, prefix: str) -> list[str]:
        """Head branches of open PRs that start with ``prefix``."""
        return [
            str((p.get("head") or {}).get("ref") or "")
            for p in self._pages(f"/repos/{repo.full_name}/pulls", {"state": "open"})
            if str((p.get("head") or {}).get("ref") or "").startswith(prefix)
        ]

    # -- the bot's own issues and pull requests (dashboard, cleanup) -------------------------
    def find_issue(self, repo: Repo, marker: str) -> tuple[int, str] | None:
        """The open issue this App created whose body holds ``marker``: (number, body)."""
        creator = f"app/{self.app_slug()}"
        issues = self._conditional_pages(
            f"/repos/{repo.full_name}/issues",
            {"state": "open", "creator": creator},
            lambda i: (int(i["number"]), str(i.get("body") or ""), "pull_request" in i),
        )
        for number, body, is_pull in issues:
            if not is_pull and marker in body:
                return number, body
        return None

    def create_issue(self, repo: Repo, title: str, body: str) -> int:
        _, data = _call(
            lambda: self._requester.requestJsonAndCheck(
                "POST", f"/repos/{repo.full_name}/issues", input={"title": title, "body": body}
            )
        )
        return int(data["number"])

    def edit_issue(
        self, repo: Repo, number: int, *, body: str | None = None, state: str | None = None
    ) -> None:
        patch = {k: v for k, v in (("body", body), ("state", state)) if v is not None}
        _call(
            lambda: self._requester.requestJsonAndCheck(
                "PATCH", f"/repos/{repo.full_name}/issues/{number}", input=patch
            )
        )

    def open_pull_for_branch(self, repo: Repo, branch: str) -> int | None:
        pulls = self._pages(
            f"/repos/{repo.full_name}/pulls", {"state": "open", "head": f"{repo.owner}:{branch}"}
        )
        return int(pulls[0]["number"]) if pulls else None

    def close_pull(self, repo: Repo, number: int) -> None:
        _call(
            lambda: self._requester.requestJsonAndCheck(
                "PATCH", f"/repos/{repo.full_name}/pulls/{number}", input={"state": "closed"}
            )
        )

    def edit_pull(self, repo: Repo, number: int, *, title: str, body: str) -> None:
        _call(
            lambda: self._requester.requestJsonAndCheck(
                "PATCH",
                f"/repos/{repo.full_name}/pulls/{number}",
                input={"title": title, "body": body},
            )
        )

    def protected_branches(self, repo: Repo) -> list[str]:
        """Asked every sweep, so conditionally: unchanged, it costs no rate limit."""
        return self._conditional_pages(
            f"/repos/{repo.full_name}/branches",
            {"protected": "true"},
            lambda b: str(b.get("name") or ""),
        )

    def installation_repositories(self) -> list[str]:
        """Full names of the repositories this installation can reach. The listing holds each
        repository's facts, which the App remembers (``GitHubApp.listed_repository``) so that
        sweeping them needs no further request."""
        repos = self._conditional_pages(
            "/installation/repositories", {}, _repo, field="repositories"
        )
        self.app.remember_listing(self.installation_id, repos)
        return [r.full_name for r in repos]

    def app_slug(self) -> str:
        if not hasattr(self, "_slug"):
            self._slug = self.app.slug()
        return self._slug

    def merged_pull_requests(self, repo: Repo, base: str) -> list[PullRequest]:
        return [
            parse_pull_request(p)
            for p in self._pages(
                f"/repos/{repo.full_name}/pulls",
                {"state": "closed", "base": base, "sort": "created", "direction": "asc"},
            )
            if p.get("merged_at")
        ]


def _repo(data: Any) -> Repo:
    return Repo(
        full_name=str(data["full_name"]),
        default_branch=data.get("default_branch") or "main",
        clone_url=data.get("clone_url"),
        private=bool(data.get("private")),
    )


def _next_link(headers: Any) -> str | None:
    link = _lower(headers).get("link", "")
    for part in link.split(","):
        section = part.split(";")
        if len(section) > 1 and 'rel="next"' in section[1]:
            return section[0].strip().strip("<>")
    return None


# GitHub's private commit email is ``ID+login@users.noreply.github.com`` (accounts from before
# July 2017: ``login@users.noreply.github.com``); GitHub Enterprise Server puts its own host name
# after ``users.noreply.``. Any host is read here: a co-author taken for the wrong login can only
# stop an approval from counting.
_NOREPLY = re.compile(r"(?:\d+\+)?(?P<login>[^@+\s]+)@users\.noreply\.[^@\s]+", re.IGNORECASE)


def noreply_login(email: str) -> str | None:
    """The login a GitHub noreply address belongs to; None for any other address."""
    match = _NOREPLY.fullmatch(email.strip())
    return match["login"] if match else None


def _call(fn: Callable[[], T]) -> T:
    """Run a PyGithub call, turning its failures into ForgeError / TransientForgeError."""
    try:
        return fn()
    except RateLimitExceededException as exc:
        raise TransientForgeError("GitHub rate limit", _retry_after(exc.headers)) from None
    except UnknownObjectException as exc:
        raise ForgeError(f"not found: {_message(exc)}") from None
    except GithubException as exc:
        headers = exc.headers or {}
        if exc.status == 429 or (
            exc.status == 403
            and (
                "retry-after" in _lower(headers)
                or _lower(headers).get("x-ratelimit-remaining") == "0"
            )
        ):
            raise TransientForgeError("GitHub rate limit", _retry_after(headers)) from None
        if exc.status >= 500:
            # no delay named: the job queue backs off exponentially
            raise TransientForgeError(f"GitHub error {exc.status}", None) from None
        raise ForgeError(f"GitHub answered {exc.status}: {_message(exc)}") from None
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise TransientForgeError(f"cannot reach GitHub: {exc}", None) from None


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}


def _retry_after(headers: Any) -> float:
    h = _lower(headers)
    if "retry-after" in h:
        try:
            return max(1.0, float(h["retry-after"]))
        except ValueError:
            pass
    if h.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in h:
        try:
            return max(1.0, float(h["x-ratelimit-reset"]) - time.time() + 1)
        except ValueError:
            pass
    return 60.0  # GitHub: "wait for at least one minute before retrying"


def _message(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    return str(data.get("message") or exc.data or exc.status)
