"""GitLab through python-gitlab: the ``Forge`` port for one GitLab instance and one token.

Only this module (and ``github.py``) imports a forge library. Calls go through python-gitlab's
HTTP layer with explicit REST paths (``http_get``/``http_list``/``http_post``/``http_put``), like
``GitHubForge`` goes through PyGithub's requester: each port method makes exactly the calls it
names, and none of python-gitlab's object conveniences adds a hidden one (PLATFORM §12: its
``mr.diffs`` is ``/versions``, its ``list(all=...)`` means "every page", not GitLab's ``all``).

Robustness is in one place, ``_PatientBackend``, the transport every request of the client
passes through: it counts each answer (``bot.metrics``, as ``MeteredRequester`` does for GitHub),
repeats at once a request that is safe to repeat when GitLab answers 429/5xx/409 "lock" or the
connection fails (reads, PUTs, and the POSTs that make nothing twice), and otherwise raises
``TransientForgeError`` with the delay GitLab asked for, so the job queue retries. python-gitlab's
own retries stay off: its ``retry_transient_errors`` would repeat a POST that may have happened
(a second note, commit or merge request), and its rate-limit wait has no upper bound. Writes that
can't be repeated blindly are looked for before a retry (``open_change``, the summary note), or
found again by their hidden marker on the next run (inline discussions).

GitLab differs from GitHub in kind in places, and meets the port its own way here (DESIGN §2):

- A check is a commit status named like the check. A status has no annotations, so when the
  merge request is known ``post_check`` also keeps one summary note per check (found by a hidden
  marker, edited in place) and a few inline discussions on added lines for blocking findings.
  Which lines a merge request adds is read from the local mirror (``git diff`` of its
  ``diff_refs``, as Gitaly diffs), so the calls don't grow with the number of files; GitLab's
  paginated ``/diffs`` only when the mirror lacks a commit.
- Permissions are access levels, mapped to GitHub's words (``permission``).
- Approvals carry no commit: which head each approval was given on comes from the webhooks the bot
  saw (``approvals_seen``), else from GitLab's times (an approval given after the diff version
  of the current head was made is on that head); one neither can place has no commit, and
  can't count.
- There is no CODEOWNERS error API (``codeowners_errors`` is empty). ``@@role`` code owners are
  the project's direct members with exactly that role (``role_members``); where the tier has
  approval rules (Premium, Ultimate), ``approval_rules`` reads GitLab's own verdict on each, which
  the review requires on top of its own count.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime
from itertools import pairwise
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote, unquote, urlsplit

import gitlab
import requests
from gitlab._backends.requests_backend import RequestsBackend, RequestsResponse

from bot import metrics
from bot.events import PullRequest, Repo
from bot.exemptions.gitlab_codeowners import LOCATIONS as CODEOWNERS_LOCATIONS
from bot.exemptions.review import (
    ApprovalRule,
    CoAuthor,
    CodeownersError,
    Profile,
    ReviewRecord,
    co_authors_in,
    is_co_author,
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
from bot.forge.git import GitError, GitRepo, MirrorCache, hunk_added_lines
from bot.report.markdown import md

log = logging.getLogger(__name__)

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
FORGE = "gitlab"
TEXT_LIMIT = 255  # a status's description and target_url
NOTE_LIMIT = 1_000_000  # characters in a note's body
MAX_DISCUSSIONS = 20  # open inline discussions per merge request and check
MAX_REFUSED = 3  # positions GitLab may refuse in one evaluation before the bot stops trying
GITALY_RENAMES = 30  # percent similarity at which GitLab's diffs pair a rename (Gitaly's)
MAX_REVIEWERS = 50  # reviewers the bot sets on one merge request, groups expanded
MEMO_SIZE = 10_000  # entries each memo keeps
MEMO_SECONDS = 600.0  # how long a user or project fact is trusted before it is asked again
PER_PAGE = 100
IN_PLACE_ATTEMPTS = 3
IN_PLACE_MAX_WAIT = 2.0  # seconds; a longer wait (a spent rate limit) is the queue's to wait
RATE_LIMIT_WAIT = 60.0  # a 429 that names no delay

# POSTs that make nothing twice: re-posting a status moves the same one through GitLab's state
# machine (or replaces a finished one with its equal), and GitLab keeps one emoji per user and
# name (a second is refused, which ``react`` takes as done).
_REPEATABLE_POSTS = re.compile(r"/(statuses/[^/]+|award_emoji)$")

# The check's conclusion as a commit status state. GitLab has no "neutral": it does not block.
_STATE = {
    None: "running",
    "success": "success",
    "neutral": "success",
    "failure": "failed",
    "action_required": "failed",
}
_CONCLUSION = {"success": "success", "failed": "failure"}
_TRANSITION = re.compile(r"Cannot transition status via :\w+ from :(?P<state>\w+)")

# GitLab's access levels in GitHub's words, so the core's checks (``write`` or more runs a
# state-changing command) read the same on both forges: write access is Developer or higher.
# Owner (50) and Maintainer (40) administer the project as GitHub's admin and maintain do;
# Reporter (20) reads; Guest (10), Minimal access (5) and no membership are "none" (a Guest
# can't read a private project's code). GitHub's "triage" has no GitLab level.
_PERMISSIONS = ((50, "admin"), (40, "maintain"), (30, "write"), (20, "read"))
# The access level of each role CODEOWNERS can name (``@@developer``...).
_ROLE_LEVELS = {"developer": 30, "maintainer": 40, "owner": 50}

# Bot users GitLab makes for project and group access tokens: ``project_42_bot_1a2b...``.
# Used when a listing doesn't carry the user's ``bot`` flag (only ``GET /users/:id`` does).
_TOKEN_BOT = re.compile(r"(?:project|group)_\d+_bot\w*", re.IGNORECASE)
# GitLab's private commit email: ``ID-username@users.noreply.<host>``.
_NOREPLY = re.compile(r"(?:\d+-)?(?P<login>[^@+\s]+)@users\.noreply\.[^@\s]+", re.IGNORECASE)


# Failures on the way, not answers: worth another try (python-gitlab's own list).
_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class GitLabApiError(ForgeError):
    """GitLab refused a call for good; ``status`` is its HTTP status (0: no status)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Memo(Generic[K, T]):
    """Facts the forge remembers between calls (users, project ids, which merge request a note
    is on): bounded (least recently used out first), each trusted for ``seconds`` at most, and
    safe to share between threads, since one forge serves every job of a process."""

    def __init__(self, size: int = MEMO_SIZE, seconds: float | None = MEMO_SECONDS) -> None:
        self.size, self.seconds = size, seconds
        self._items: OrderedDict[K, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> T | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if self.seconds is not None and time.monotonic() - item[0] > self.seconds:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: K, value: T) -> T:
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def remember(self, key: K, make: Callable[[], T]) -> T:
        """The value kept for ``key``, else ``make()``'s (kept; an exception keeps nothing)."""
        found = self.get(key)
        return found if found is not None else self.put(key, make())


class _PatientBackend(RequestsBackend):
    """python-gitlab's transport with the bot's metrics and in-place retries (see the module
    docstring). A request it gives up on raises ``TransientForgeError`` straight through
    python-gitlab, which then neither retries nor sleeps."""

    def http_request(
        self,
        method: str,
        url: str,
        json: Any = None,
        data: Any = None,
        params: Any | None = None,
        timeout: float | None = None,
        verify: bool | str | None = True,
        stream: bool | None = False,
        **kwargs: Any,
    ) -> RequestsResponse:
        verb = method.upper()
        path = urlsplit(url).path
        repeatable = verb != "POST" or bool(_REPEATABLE_POSTS.search(path))
        what = f"{verb} {_shown(path)}"
        for attempt in range(1, IN_PLACE_ATTEMPTS + 1):
            backoff = 0.5 * 2 ** (attempt - 1)
            try:
                result = super().http_request(
                    method,
                    url,
                    json=json,
                    data=data,
                    params=params,
                    timeout=timeout,
                    verify=verify,
                    stream=stream,
                    **kwargs,
                )
            except _NETWORK_ERRORS as exc:
                metrics.forge_response(FORGE, verb, "error")
                if repeatable and attempt < IN_PLACE_ATTEMPTS:
                    time.sleep(backoff)
                    continue
                # a POST may have reached GitLab: its caller looks before trying again
                raise TransientForgeError(
                    f"cannot reach GitLab ({what}): {type(exc).__name__}", None
                ) from None
            status = result.status_code
            metrics.forge_response(FORGE, verb, status, remaining=_remaining(result.headers))
            if not _is_transient(result):
                return result
            wait = _retry_after(result.headers)
            # A 429 is answered before GitLab does anything, so even a POST may go again.
            again = repeatable or status == 429
            pause = wait if wait is not None else backoff
            if again and attempt < IN_PLACE_ATTEMPTS and pause <= IN_PLACE_MAX_WAIT:
                time.sleep(pause)
                continue
            if status == 429:
                raise TransientForgeError(
                    f"GitLab rate limit ({what})", wait if wait is not None else RATE_LIMIT_WAIT
                )
            # no delay named: the job queue backs off exponentially
            raise TransientForgeError(f"GitLab answered {status} to {what}", wait)
        raise AssertionError("unreachable")


class GitLabForge:
    """The ``Forge`` port for one GitLab instance, acting as the user that ``token`` belongs to
    (a project, group or service account token's bot user, ideally).

    ``approvals_seen(project_path, iid)`` answers, for a merge request, the head SHA the bot
    recorded each current approval on (username -> SHA), from the ``approval`` webhooks; by
    default none is known, and no approval counts. One forge may serve every job of a process
    (``bot.services`` keeps one): what it remembers is bounded, expires and is thread-safe.
    """

    name = FORGE
    codeowners_locations: tuple[str, ...] = CODEOWNERS_LOCATIONS  # GitLab's search order
    codeowners_flavor: Literal["github", "gitlab"] = "gitlab"
    change_sigil = "!"  # how text on the forge refers to a change (GitLab: !12; #12 is an issue)

    def __init__(
        self,
        url: str,
        token: str,
        mirrors: MirrorCache,
        *,
        approvals_seen: Callable[[str, int], dict[str, str]] | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.mirrors = mirrors
        self._token = token
        self._approvals_seen = approvals_seen or (lambda _path, _iid: {})
        self.gl = gitlab.Gitlab(
            self.url,
            private_token=token,
            per_page=PER_PAGE,
            timeout=timeout,
            retry_transient_errors=False,  # _PatientBackend retries what is safe to repeat
            backend=_PatientBackend,
        )
        self._me: dict[str, Any] | None = None  # the token's user: it stays who it is
        # lower-cased username -> the user, or {} when there is none
        self._users: _Memo[str, dict[str, Any]] = _Memo()
        self._user_details: _Memo[int, dict[str, Any]] = _Memo()  # id -> user, {}: not shown
        self._project_paths: _Memo[int, str] = _Memo()
        self._project_ids: _Memo[str, int] = _Memo()  # full path -> numeric id
        self._note_iids: _Memo[int, int] = _Memo(seconds=None)  # note id -> iid (``react``)
        # (project, head, finding) GitLab refused a position for: not asked again on that head
        self._refused: _Memo[tuple[str, str, str], bool] = _Memo(seconds=None)

    # -- calls --------------------------------------------------------------------------------
    def _call(self, verb: str, path: str, fn: Callable[[], T]) -> T:
        """Run a python-gitlab call, its failures as ForgeError / TransientForgeError naming it."""
        what = f"{verb} {_shown(path)}"
        try:
            return fn()
        except TransientForgeError:
            raise
        except gitlab.GitlabError as exc:
            status = int(exc.response_code or 0)
            message = _message(exc)
            if status == 429 or status >= 500 or (status == 409 and "lock" in message.lower()):
                raise TransientForgeError(f"GitLab answered {status} to {what}", None) from None
            raise GitLabApiError(
                f"GitLab answered {status or 'an error'} to {what}: {message}", status
            ) from None
        except _NETWORK_ERRORS as exc:
            raise TransientForgeError(
                f"cannot reach GitLab ({what}): {type(exc).__name__}", None
            ) from None
        except requests.RequestException as exc:  # a bad URL or the like: no retry mends it
            raise GitLabApiError(f"cannot ask GitLab ({what}): {exc}", 0) from None

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._call("GET", path, lambda: self.gl.http_get(path, query_data=params or {}))

    def _list(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a list endpoint, 100 per page (python-gitlab follows the Link header)."""
        query = {"per_page": PER_PAGE, **(params or {})}
        return self._call(
            "GET",
            path,
            lambda: [
                dict(item) for item in self.gl.http_list(path, query_data=query, iterator=True)
            ],
        )

    def _post(self, path: str, data: dict[str, Any]) -> Any:
        return self._call("POST", path, lambda: self.gl.http_post(path, post_data=data))

    def _put(self, path: str, data: dict[str, Any]) -> Any:
        return self._call("PUT", path, lambda: self.gl.http_put(path, post_data=data))

    @staticmethod
    def _p(repo: Repo) -> str:
        """The API path of a project: its full path, URL-encoded (it may hold several /)."""
        return f"/projects/{quote(repo.full_name, safe='')}"

    def _mr_path(self, repo: Repo, iid: int, *, by_id: bool = False) -> str:
        project = f"/projects/{self._project_id(repo)}" if by_id else self._p(repo)
        return f"{project}/merge_requests/{int(iid)}"

    def _project_id(self, repo: Repo) -> int:
        """The project's numeric id, for the endpoints GitLab's API description types ``id``
        as an integer (approvals, award emoji): GitLab takes a path there too (Grape's
        ``types: [String, Integer]``), but a checker reading the description would not. Known
        from any merge request or note seen, else asked once."""
        return self._project_ids.remember(
            repo.full_name, lambda: int(self._get(self._p(repo))["id"])
        )

    def _saw_project(self, repo: Repo, data: dict[str, Any]) -> None:
        pid = data.get("target_project_id") or data.get("project_id")
        if pid and self._project_ids.get(repo.full_name) is None:
            self._project_ids.put(repo.full_name, int(pid))

    def me(self) -> dict[str, Any]:
        """The token's user, asked once: statuses and notes by anyone else are not the bot's."""
        if self._me is None:
            self._me = dict(self._get("/user"))
        return self._me

    # -- projects -----------------------------------------------------------------------------
    def projects(self) -> list[str]:
        """Every project the token can act on (Developer or more): the deadline sweep's round."""
        listed = self._list(
            "/projects", {"membership": "true", "min_access_level": 30, "archived": "false"}
        )
        return sorted(str(p["path_with_namespace"]) for p in listed if p.get("path_with_namespace"))

    def repository(self, full_name: str) -> Repo:
        """A project by its path, as the port's ``Repo``."""
        data = self._get(f"/projects/{quote(full_name, safe='')}")
        self._project_ids.put(full_name, int(data["id"]))
        return Repo(
            full_name=str(data.get("path_with_namespace") or full_name),
            default_branch=str(data.get("default_branch") or "main"),
            clone_url=self.clone_url(Repo(full_name)),
            private=data.get("visibility") != "public",
        )

    # -- git ----------------------------------------------------------------------------------
    def clone_url(self, repo: Repo) -> str:
        """Always on the configured instance, whatever a payload says, so the token is only
        ever sent there."""
        return f"{self.url}/{repo.full_name}.git"

    def pull_ref(self, number: int) -> str:
        return f"refs/merge-requests/{number}/head"

    def fetch(self, repo: Repo, refs: list[str]) -> GitRepo:
        """Git over HTTP into the mirror; the token reaches git in its environment only
        (``MirrorCache``), never in the URL."""
        url = self.clone_url(repo)
        return self.mirrors.fetch(self._mirror_host(), repo.full_name, url, self._token, refs)

    def _mirror_host(self) -> str:
        return urlsplit(self.url).netloc.replace(":", "_") or "gitlab"

    def _mirror(self, repo: Repo) -> GitRepo | None:
        """The mirror ``fetch`` fills for ``repo``, read as it is (no fetch); None if absent."""
        path = self.mirrors.path_for(self._mirror_host(), repo.full_name)
        return GitRepo(path) if (path / "HEAD").exists() else None

    # -- checks: a commit status, a summary note, inline discussions --------------------------
    def foreign_statuses(self, repo: Repo, sha: str, names: tuple[str, ...]) -> list[ForeignStatus]:
        """Statuses named like the bot's checks on ``sha`` by anyone but the bot's user: the
        latest status of a name is what "Pipelines must succeed" reads, so one posted by a
        Developer could pass a merge request the bot failed. GitLab sends no event for a
        status, so this is asked on every evaluation."""
        me = self.me()["id"]
        rows = self._list(f"{self._p(repo)}/repository/commits/{sha}/statuses", {"all": "true"})
        return [
            ForeignStatus(
                status_id=int(s["id"]),
                context=str(s.get("name")),
                state=str(s.get("status") or ""),
                creator=str((s.get("author") or {}).get("username") or "unknown"),
                creator_is_bot=bool((s.get("author") or {}).get("bot")),
                description=s.get("description"),
                target_url=s.get("target_url"),
            )
            for s in rows
            if s.get("name") in names and (s.get("author") or {}).get("id") != me
        ]

    def find_check(self, repo: Repo, head_sha: str, name: str) -> CheckRef | None:
        """The latest status named ``name`` on ``head_sha`` that the bot posted."""
        me = self.me()["id"]
        rows = self._list(
            f"{self._p(repo)}/repository/commits/{head_sha}/statuses",
            {"name": name, "all": "true"},
        )
        mine = [
            s for s in rows if s.get("name") == name and (s.get("author") or {}).get("id") == me
        ]
        if not mine:
            return None
        latest = max(mine, key=lambda s: int(s["id"]))
        return CheckRef(
            id=int(latest["id"]),
            head_sha=head_sha,
            name=name,
            conclusion=_CONCLUSION.get(str(latest.get("status"))),
        )

    def post_check(
        self,
        repo: Repo,
        head_sha: str,
        output: CheckOutput,
        existing: CheckRef | None,
        *,
        pull_request: int | None = None,
    ) -> CheckRef:
        """The status named like the check on ``head_sha``; with ``pull_request``, also the
        merge request's summary note for the check and its inline discussions, unless the
        merge request has moved on to another head (then they belong to that head's run).

        ``annotation_keys`` of the answer: the annotations that have an open discussion.
        """
        mr = self._get(self._mr_path(repo, pull_request)) if pull_request is not None else None
        if mr is not None:
            self._saw_project(repo, mr)
        status_id = self._post_status(repo, head_sha, output, existing, mr)
        placed: frozenset[str] = frozenset()
        if mr is not None and mr.get("sha") == head_sha:
            discussions = self._list(f"{self._mr_path(repo, int(mr['iid']))}/discussions")
            self._summary_note(repo, int(mr["iid"]), output, discussions)
            placed = self._inline_discussions(repo, mr, output, discussions)
        return CheckRef(
            id=status_id,
            head_sha=head_sha,
            name=output.name,
            conclusion=output.conclusion,
            annotation_keys=placed,
        )

    def _post_status(
        self,
        repo: Repo,
        head_sha: str,
        output: CheckOutput,
        existing: CheckRef | None,
        mr: dict[str, Any] | None,
    ) -> int:
        state = _STATE[output.conclusion]
        data: dict[str, Any] = {
            "state": state,
            "name": output.name,
            "description": output.title[:TEXT_LIMIT],
        }
        if output.details_url and len(output.details_url) <= TEXT_LIMIT:
            data["target_url"] = output.details_url  # a cut URL would lead nowhere
        if mr is not None and mr.get("source_branch"):
            data["ref"] = mr["source_branch"]  # the merge request's pipeline, not another's
        try:
            status = self._post(f"{self._p(repo)}/statuses/{head_sha}", data)
            return int(status["id"])
        except GitLabApiError as exc:
            # Re-posting a running or pending state is GitLab's 400 "Cannot transition status
            # via :run from :running": the status already says it (PLATFORM §9.1).
            found = _TRANSITION.search(str(exc))
            if exc.status != 400 or found is None or found["state"] != state:
                raise
        ref = existing or self.find_check(repo, head_sha, output.name)
        if ref is None:
            raise ForgeError(f"status {output.name} on {head_sha[:12]} is {state} but not ours")
        return ref.id

    def _summary_note(
        self, repo: Repo, iid: int, output: CheckOutput, discussions: list[dict[str, Any]]
    ) -> None:
        """One note per merge request and check, found by its marker and edited in place."""
        marker = f"<!-- compliance-bot:check:{output.name} -->"
        text = f"{marker}\n{output.summary}"
        if output.text:
            text += f"\n\n{output.text}"
        body = text[:NOTE_LIMIT]
        note = self._own_note(discussions, marker)
        notes = f"{self._mr_path(repo, iid)}/notes"
        if note is None:
            try:
                self._post(notes, {"body": body})
                return
            except TransientForgeError:
                # GitLab may have made it before the error: look rather than make a twin
                again = self._list(f"{self._mr_path(repo, iid)}/discussions")
                note = self._own_note(again, marker)
                if note is None:
                    raise
        if note.get("body") != body:
            self._put(f"{notes}/{int(note['id'])}", {"body": body})

    def _own_note(self, discussions: list[dict[str, Any]], marker: str) -> dict[str, Any] | None:
        me = self.me()["id"]
        for discussion in discussions:
            for note in discussion.get("notes") or ():
                author = (note.get("author") or {}).get("id")
                if author == me and str(note.get("body") or "").startswith(marker):
                    return dict(note)
        return None

    def _inline_discussions(
        self,
        repo: Repo,
        mr: dict[str, Any],
        output: CheckOutput,
        discussions: list[dict[str, Any]],
    ) -> frozenset[str]:
        """Make the bot's inline discussions for this check match its blocking findings.

        One discussion per (path, line, message), found again by the marker that starts its
        first note. A discussion whose finding is gone is resolved; one the bot resolved whose
        finding is back is unresolved (one a person resolved is left to them). New ones go only
        on lines the merge request adds, where GitLab accepts a position, at most
        ``MAX_DISCUSSIONS`` open at once; the summary note lists every finding anyway.
        """
        iid = int(mr["iid"])
        prefix = f"<!-- compliance-bot:finding:{output.name}:"
        wanted: dict[str, Annotation] = {}
        for a in output.annotations:
            if a.level == "failure":
                wanted.setdefault(_finding_key(a), a)
        me = self.me()["id"]
        ours: dict[str, dict[str, Any]] = {}
        for discussion in discussions:
            first = (discussion.get("notes") or [{}])[0]
            body = str(first.get("body") or "")
            if (first.get("author") or {}).get("id") == me and body.startswith(prefix):
                ours.setdefault(body[len(prefix) :].split(" ", 1)[0], discussion)

        base = f"{self._mr_path(repo, iid)}/discussions"
        open_keys: set[str] = set()
        for key, discussion in ours.items():
            first = discussion["notes"][0]
            resolved = bool(first.get("resolved"))
            if key not in wanted:
                if not resolved:
                    self._put(f"{base}/{discussion['id']}", {"resolved": True})
                continue
            by = (first.get("resolved_by") or {}).get("id")
            if resolved and by == me:
                self._put(f"{base}/{discussion['id']}", {"resolved": False})
                resolved = False
            if not resolved:
                open_keys.add(key)

        refs = mr.get("diff_refs") or {}
        head = str(refs.get("head_sha") or "")
        new = [
            k
            for k in wanted
            if k not in ours and self._refused.get((repo.full_name, head, k)) is None
        ]
        room = MAX_DISCUSSIONS - len(open_keys)
        if new and room > 0 and all(refs.get(k) for k in ("base_sha", "start_sha", "head_sha")):
            added = self._added_lines(repo, mr, {wanted[k].path for k in new})
            refused = 0
            for key in new:
                if room <= 0 or refused >= MAX_REFUSED:
                    break
                a = wanted[key]
                change = added.get(a.path)
                if change is None or a.start_line not in change[1]:
                    continue
                position = {
                    "position_type": "text",
                    "base_sha": refs.get("base_sha"),
                    "start_sha": refs.get("start_sha"),
                    "head_sha": refs.get("head_sha"),
                    "old_path": change[0],
                    "new_path": a.path,
                    "new_line": a.start_line,
                }
                body = (
                    f"{prefix}{key} -->\n**{md(a.title or output.name)}**\n\n{md(a.message, 4000)}"
                )
                try:
                    self._post(base, {"body": body, "position": position})
                except GitLabApiError as exc:
                    if exc.status != 400:
                        raise
                    # GitLab would not place it after all (a file too large for its diff): the
                    # summary has it, and this head won't ask again. MAX_REFUSED refusals end
                    # this evaluation's tries, so the calls stay bounded.
                    self._refused.put((repo.full_name, head, key), True)
                    refused += 1
                    log.warning(
                        "GitLab refused a discussion on %s:%s: %s", a.path, a.start_line, exc
                    )
                    continue
                open_keys.add(key)
                room -= 1
        return frozenset(wanted[k].key for k in open_keys)

    def _added_lines(
        self, repo: Repo, mr: dict[str, Any], paths: set[str]
    ) -> dict[str, tuple[str, frozenset[int]]]:
        """new path -> (old path, the new line numbers the merge request adds), for ``paths``.

        Read from the mirror the evaluation fetched, with no call: the diff of the merge
        request's ``diff_refs`` (base to head), renames paired as GitLab pairs them, which is
        how GitLab itself checks a position's line (``Gitlab::Diff::Position``). Only when the
        mirror lacks a commit (none fetched yet, or evicted) are GitLab's own diffs read, one
        call per 100 files (``/diffs``; python-gitlab's ``mr.diffs`` is ``/versions``).
        """
        refs = mr.get("diff_refs") or {}
        mirror = self._mirror(repo)
        if mirror is not None:
            try:
                return mirror.added_lines(
                    str(refs["base_sha"]), str(refs["head_sha"]), paths, renames=GITALY_RENAMES
                )
            except GitError as exc:
                log.info("the mirror can't diff !%s (%s): asking GitLab", mr.get("iid"), exc)
        out: dict[str, tuple[str, frozenset[int]]] = {}
        for d in self._list(f"{self._mr_path(repo, int(mr['iid']))}/diffs"):
            new_path = str(d.get("new_path") or "")
            if new_path in paths and not d.get("deleted_file"):
                lines = frozenset(hunk_added_lines(d.get("diff")))
                out[new_path] = (str(d.get("old_path") or new_path), lines)
        return out

    # -- merge requests -----------------------------------------------------------------------
    def pull_request(self, repo: Repo, number: int) -> PullRequest:
        data = self._get(self._mr_path(repo, number))
        self._saw_project(repo, data)
        return self._pull(data)

    def open_pull_requests(self, repo: Repo) -> list[PullRequest]:
        """Open merge requests; a listing has no ``diff_refs``, so their ``base_sha`` is ""."""
        rows = self._list(f"{self._p(repo)}/merge_requests", {"state": "opened"})
        for m in rows[:1]:
            self._saw_project(repo, m)
        return [self._pull(m) for m in rows]

    def merged_pull_requests(self, repo: Repo, base: str) -> list[PullRequest]:
        rows = self._list(
            f"{self._p(repo)}/merge_requests",
            {"state": "merged", "target_branch": base, "order_by": "created_at", "sort": "asc"},
        )
        return [self._pull(m) for m in rows]

    def _pull(self, m: dict[str, Any]) -> PullRequest:
        author = m.get("author") or {}
        merged = m.get("state") == "merged"
        merger = m.get("merge_user") or m.get("merged_by") or {}
        source, target = m.get("source_project_id"), m.get("target_project_id")
        return PullRequest(
            number=int(m["iid"]),
            head_sha=str(m.get("sha") or ""),
            head_ref=str(m.get("source_branch") or ""),
            base_ref=str(m.get("target_branch") or ""),
            base_sha=str((m.get("diff_refs") or {}).get("base_sha") or ""),
            title=str(m.get("title") or ""),
            body=str(m.get("description") or ""),
            author=str(author.get("username") or ""),
            author_is_bot=_is_bot(author),
            labels=tuple(str(x) for x in m.get("labels") or ()),
            draft=bool(m.get("draft") or m.get("work_in_progress")),
            state="open" if m.get("state") == "opened" else "closed",
            merged=merged,
            # a fast-forward merge makes no commit: the head itself is what landed
            merge_sha=(m.get("merge_commit_sha") or m.get("squash_commit_sha") or m.get("sha"))
            if merged
            else None,
            head_repo=(self._project_path(int(source)) or None)
            if source and source != target
            else None,
            merged_at=_when(m.get("merged_at")),
            merged_by=str(merger["username"]) if merger.get("username") else None,
        )

    def _project_path(self, project_id: int) -> str:
        return self._project_paths.remember(
            project_id,
            lambda: str(self._get(f"/projects/{project_id}").get("path_with_namespace") or ""),
        )

    def protected_branches(self, repo: Repo) -> list[str]:
        """Names of protected branches, wildcards (``release/*``) as written."""
        return [
            str(b["name"])
            for b in self._list(f"{self._p(repo)}/protected_branches")
            if b.get("name")
        ]

    # -- approvals and people (exception merge requests) ---------------------------------------
    def reviews(self, repo: Repo, number: int) -> list[ReviewRecord]:
        """One ``APPROVED`` record per current approver (GitLab has no "changes requested";
        a withdrawn approval just leaves the list).

        ``commit_id`` is the head the approval was given on: the one its webhook named, when
        the bot saw it (``approvals_seen``); else the one GitLab's times show, asked once for
        all such approvals (``/versions``, see ``approved_head``), so a lost webhook or a
        rebuilt ledger doesn't lose an approval; None when neither can tell, and then the
        approval can't count.
        """
        data = self._get(f"{self._mr_path(repo, number, by_id=True)}/approvals") or {}
        seen = self._approvals_seen(repo.full_name, number)
        seen_folded = {k.casefold(): v for k, v in seen.items()}
        versions: list[dict[str, Any]] | None = None
        out = []
        for approval in data.get("approved_by") or ():
            user = approval.get("user") or {}
            login = str(user.get("username") or "")
            if not login:
                continue
            approved_at = _when(approval.get("approved_at"))
            commit = seen.get(login) or seen_folded.get(login.casefold())
            if commit is None and approved_at is not None:
                if versions is None:
                    versions = self._list(f"{self._mr_path(repo, number)}/versions")
                commit = approved_head(approved_at, versions)
            out.append(
                ReviewRecord(
                    login=login,
                    state="APPROVED",
                    commit_id=commit,
                    submitted_at=approved_at,
                    is_bot=self._user_is_bot(user),
                )
            )
        return out

    def _user_is_bot(self, user: dict[str, Any]) -> bool:
        """A bot account, from the flag only ``GET /users/:id`` shows (asked once per user);
        a user GitLab won't show counts as a bot, so their approval doesn't count."""
        if "bot" in user:
            return bool(user["bot"])
        if _TOKEN_BOT.fullmatch(str(user.get("username") or "")):
            return True
        detail = self._user_detail(int(user["id"])) if user.get("id") else None
        return detail is None or bool(detail.get("bot"))

    def _user_detail(self, user_id: int) -> dict[str, Any] | None:
        def ask() -> dict[str, Any]:
            try:
                return dict(self._get(f"/users/{user_id}"))
            except TransientForgeError:
                raise
            except ForgeError:
                return {}  # GitLab won't show them

        return self._user_details.remember(user_id, ask) or None

    def _user(self, login: str) -> dict[str, Any] | None:
        """A user by username (``GET /users?username=``, asked once), None if there is none."""
        key = login.casefold()
        if not key:
            return None

        def ask() -> dict[str, Any]:
            rows = self._list("/users", {"username": login})
            return next((u for u in rows if str(u.get("username", "")).casefold() == key), {})

        return self._users.remember(key, ask) or None

    def commit_people(self, repo: Repo, number: int) -> CommitPeople:
        """Usernames of the authors and committers of a merge request's commits, and the
        co-authors their messages credit.

        A commit names people by email only. An email becomes a username when it is GitLab's
        private commit address (``ID-username@users.noreply.host``), or the public email of one
        of the merge request's participants (the author, commenters, approvers), or when the
        name beside it is a participant's name or username (``is_co_author``, the question the
        review asks of co-authors); otherwise its local part is kept as a
        login-like token. Reading too many people only stops an approval from counting (an
        approver must not be a commit author), never makes one count: fail closed.
        """
        people: set[str] = set()
        co_authors: list[CoAuthor] = []
        unresolved: list[tuple[str, str]] = []
        for c in self._list(f"{self._mr_path(repo, number)}/commits"):
            for role in ("author", "committer"):
                email = str(c.get(f"{role}_email") or "").strip()
                name = str(c.get(f"{role}_name") or "").strip()
                login = noreply_login(email)
                if login:
                    people.add(login)
                elif email or name:
                    unresolved.append((email, name))
            for name, email in co_authors_in(str(c.get("message") or "")):
                co_authors.append(
                    CoAuthor(name, email, str(c.get("id") or ""), noreply_login(email))
                )
        if unresolved:
            participants = self._participants(repo, number)
            for email, name in unresolved:
                someone = CoAuthor(name, email, "")  # the same question as for a co-author
                matched = [
                    login
                    for login, profile in participants.items()
                    if is_co_author(someone, login, profile)
                ]
                people.update(matched)
                if not matched and "@" in email:
                    people.add(email.split("@", 1)[0])
        return CommitPeople(tuple(sorted(people)), tuple(co_authors))

    def _participants(self, repo: Repo, number: int) -> dict[str, Profile]:
        """username -> public profile of a merge request's participants."""
        out: dict[str, Profile] = {}
        for user in self._list(f"{self._mr_path(repo, number)}/participants"):
            login = str(user.get("username") or "")
            if not login:
                continue
            shown = (self._user_detail(int(user["id"])) if user.get("id") else None) or user
            out[login] = Profile(
                login,
                str(shown.get("name") or "") or None,
                str(shown.get("public_email") or "") or None,
            )
        return out

    def profile(self, login: str) -> Profile | None:
        """A user's name and public email; None when GitLab won't show the user (a rate limit
        or outage is raised, so the job is retried rather than the approval refused)."""
        user = self._user(login)
        if user is None:
            return None
        detail = self._user_detail(int(user["id"]))
        if detail is None:
            return None
        return Profile(
            str(detail.get("username") or login),
            str(detail["name"]) if detail.get("name") else None,
            str(detail["public_email"]) if detail.get("public_email") else None,
        )

    def team_members(self, org: str, slug: str) -> frozenset[str] | None:
        """Active direct members of the group ``org/slug``, or of the top-level group ``org``
        when ``slug`` is empty (GitLab's ``@group/subgroup`` code owners are its direct
        members, PLATFORM §10.2); None when they can't be resolved.

        GitLab answers 404 for a group that doesn't exist and for one the token may not see
        alike, so a 404 can't be told from a hidden group: None. Except for a plain ``@name``
        that is a user's: that is no group at all, and it has no members.
        """
        group = f"{org}/{slug}" if slug else org
        try:
            members = self._list(f"/groups/{quote(group, safe='')}/members")
        except GitLabApiError as exc:
            if exc.status == 404 and not slug and self._user(org) is not None:
                return frozenset()
            return None  # can't tell: the caller must not treat this as "no members"
        except ForgeError:
            return None
        return frozenset(
            str(m["username"])
            for m in members
            if m.get("username") and m.get("state", "active") == "active"
        )

    def role_members(self, repo: Repo, role: str) -> frozenset[str] | None:
        """Usernames of the project's active direct members whose role is exactly ``role``
        (``developer``, ``maintainer`` or ``owner``): who a ``@@role`` code owner is.

        GitLab's documentation (doc/user/project/codeowners/reference.md, "Add a role as a Code
        Owner"): "Roles are not inclusive of higher roles. For example, specifying `@@developer`
        does not include users with Maintainer or Owner roles", and "Only direct project members
        with the specified roles are eligible Code Owners". So ``/members`` (direct members),
        not ``/members/all`` (inherited too), and the access level compared for equality.
        Blocked users and invitations awaiting a seat are left out. Asked afresh each time, like
        ``team_members``: membership decides who may approve, so it is remembered for one
        evaluation only (by the caller). None when the members can't be listed, or for a role
        GitLab doesn't map; a rate limit or outage is raised, so the job is retried.
        """
        level = _ROLE_LEVELS.get(role.lower())
        if level is None:
            return None
        try:
            members = self._list(f"{self._p(repo)}/members")
        except GitLabApiError:
            return None
        return frozenset(
            str(m["username"])
            for m in members
            if m.get("username")
            and int(m.get("access_level") or 0) == level
            and m.get("state", "active") == "active"
            and m.get("membership_state", "active") == "active"
        )

    def approval_rules(self, repo: Repo, number: int) -> list[ApprovalRule] | None:
        """GitLab's own approval rules on a merge request and whether each is met
        (``GET …/approval_state``), as neutral records; None where GitLab has none to give.

        The endpoint is Enterprise Edition code (ee/lib/ee/api/merge_request_approvals.rb): an
        instance of the Community Edition has no such route (404), and a fine-grained token may
        lack its permission (403); both are None, and the bot's own check applies alone. An EE
        instance without Premium answers with no rules (``ApprovalState#wrapped_approval_rules``
        is empty unless ``merge_request_approvers`` is licensed): an empty list, same effect.
        Older GitLab marks code-owner rules with ``code_owner: true`` only.
        """
        try:
            data = self._get(f"{self._mr_path(repo, number)}/approval_state")
        except GitLabApiError as exc:
            if exc.status in (403, 404):
                return None
            raise
        out = []
        for rule in (data or {}).get("rules") or ():
            kind = rule.get("rule_type") or ("code_owner" if rule.get("code_owner") else "regular")
            out.append(
                ApprovalRule(
                    name=str(rule.get("name") or ""),
                    kind=str(kind),
                    approved=bool(rule.get("approved")),
                    section=str(rule["section"]) if rule.get("section") else None,
                    approvals_required=int(rule.get("approvals_required") or 0),
                    approved_by=tuple(
                        str(u["username"])
                        for u in rule.get("approved_by") or ()
                        if u.get("username")
                    ),
                )
            )
        return out

    def codeowners_errors(self, repo: Repo, ref: str) -> list[CodeownersError]:
        return []  # GitLab has no API that lists CODEOWNERS errors

    # -- the conversation ----------------------------------------------------------------------
    def permission(self, repo: Repo, login: str) -> str:
        """The user's highest access level to the project, direct or inherited, in GitHub's
        words (``_PERMISSIONS``): write access is Developer or higher."""
        user = self._user(login)
        if user is None:
            return "none"
        try:
            member = self._get(f"{self._p(repo)}/members/all/{int(user['id'])}")
        except GitLabApiError as exc:
            if exc.status == 404:
                return "none"  # not a member: no access
            raise
        if str(member.get("state") or "active") != "active":
            return "none"  # a blocked or deactivated account acts on nothing
        level = int(member.get("access_level") or 0)
        return next((word for floor, word in _PERMISSIONS if level >= floor), "none")

    def react(
        self, repo: Repo, comment_id: int, content: str = "eyes", *, number: int | None = None
    ) -> None:
        """Award an emoji (GitLab's names: ``eyes``) on a merge request note.

        GitLab's API reaches a note only through its merge request, and the port passes the
        note id alone: ``number`` (the merge request's iid) can be given, else the iid is
        taken from the notes ``comments`` and ``comment`` have seen. Unknown both ways, the
        acknowledgement is skipped (logged): it is a courtesy, not an effect anyone relies on.
        """
        iid = number if number is not None else self._note_iids.get(int(comment_id))
        if iid is None:
            log.warning("cannot react to GitLab note %s: its merge request is unknown", comment_id)
            return
        awards = f"{self._mr_path(repo, iid, by_id=True)}/notes/{int(comment_id)}/award_emoji"
        try:
            self._post(awards, {"name": content})
        except GitLabApiError as exc:
            # GitLab answers a second award of the same emoji with a 404: look whether ours is on
            if exc.status != 404:
                raise
            me = self.me()["id"]
            if not any(
                a.get("name") == content and (a.get("user") or {}).get("id") == me
                for a in self._list(awards)
            ):
                raise

    def comments(self, repo: Repo, number: int) -> list[tuple[int, str, str]]:
        """(id, body, author username) of every note on a merge request that a person or bot
        wrote (GitLab's system notes, "added 1 commit", are left out), oldest first."""
        out = []
        for n in self._list(
            f"{self._mr_path(repo, number)}/notes", {"sort": "asc", "order_by": "created_at"}
        ):
            self._note_iids.put(int(n["id"]), number)
            self._saw_project(repo, n)
            if n.get("system"):
                continue
            out.append(
                (
                    int(n["id"]),
                    str(n.get("body") or ""),
                    str((n.get("author") or {}).get("username") or ""),
                )
            )
        return out

    def comment(self, repo: Repo, number: int, body: str) -> int:
        data = self._post(f"{self._mr_path(repo, number)}/notes", {"body": body[:NOTE_LIMIT]})
        self._note_iids.put(int(data["id"]), number)
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
        """A branch with one commit changing ``files`` on ``base_sha``, and its open merge
        request (``remove_source_branch``), returned as (iid, web URL).

        One ``POST /repository/commits`` makes the branch and the commit (``start_sha``), each
        file created or updated as it exists at the base. The commit message carries the
        ``Compliance-Bot-Request:`` trailer; an existing branch is reused only when its tip
        carries the same trailer (this request's own earlier attempt), left as it is when it
        already holds this change on this base (a new head would void approvals), moved
        (``force``) otherwise, and never touched when it belongs to anyone or anything else
        (``BranchTaken``). After an error that may have come after the write, the branch and
        the merge request are looked up before anything is made again. ``base_tree`` is
        GitHub's; GitLab builds on ``start_sha``. The port's ``files`` only write files, so no
        ``delete`` action is ever sent.
        """
        trailer = f"{REQUEST_TRAILER} {request}"
        at_base = {path: self._blob_id(repo, base_sha, path) for path in files}
        commit = {
            "branch": branch,
            "start_sha": base_sha,
            "commit_message": f"{message.rstrip()}\n\n{trailer}\n",
            "actions": [
                {
                    "action": "update" if at_base[path] is not None else "create",
                    "file_path": path,
                    "content": text,
                }
                for path, text in files.items()
            ],
        }
        commits = f"{self._p(repo)}/repository/commits"
        try:
            self._post(commits, commit)
        except ForgeError as exc:
            # a transient error may hide a commit GitLab made anyway: look before trying again
            if not isinstance(exc, TransientForgeError) and "already exists" not in str(exc):
                raise
            held = self._own_branch_holds(repo, branch, trailer, base_sha, files)
            if held is None:
                raise  # no branch after all: the write did fail
            if not held:
                self._post(commits, {**commit, "force": True})

        existing = self._open_mr_for(repo, branch)
        if existing is not None:
            return int(existing["iid"]), str(existing.get("web_url") or "")
        try:
            mr = self._post(
                f"{self._p(repo)}/merge_requests",
                {
                    "source_branch": branch,
                    "target_branch": base_branch,
                    "title": title,
                    "description": body,
                    "remove_source_branch": True,
                },
            )
        except ForgeError as exc:
            # GitLab may have opened it before the error (409: "Another open merge request
            # already exists for this source branch")
            mr = self._open_mr_for(repo, branch)
            if mr is None:
                raise exc from None
        return int(mr["iid"]), str(mr.get("web_url") or "")

    def _blob_id(self, repo: Repo, ref: str, path: str) -> str | None:
        """The git blob id of ``path`` at ``ref``; None when there is no such file."""
        try:
            data = self._get(
                f"{self._p(repo)}/repository/files/{quote(path, safe='')}", {"ref": ref}
            )
        except GitLabApiError as exc:
            if exc.status == 404:
                return None
            raise
        return str(data.get("blob_id") or "") or None

    def _branch_tip(self, repo: Repo, branch: str) -> dict[str, Any] | None:
        try:
            data = self._get(f"{self._p(repo)}/repository/branches/{quote(branch, safe='')}")
        except GitLabApiError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(data.get("commit") or {})

    def _own_branch_holds(
        self, repo: Repo, branch: str, trailer: str, base_sha: str, files: dict[str, str]
    ) -> bool | None:
        """Whether ``branch``, made for this request, holds this change on this base already
        (False: it holds another, to be replaced); None when there is no such branch, and
        ``BranchTaken`` when it was not made for this request."""
        tip = self._branch_tip(repo, branch)
        if tip is None:
            return None
        lines = str(tip.get("message") or "").splitlines()
        if trailer not in (line.strip() for line in lines):
            raise BranchTaken(
                f"branch {branch} already exists and was not made for this request "
                f"(its commit {str(tip.get('id') or '')[:7]} has no `{trailer}` trailer)"
            )
        if list(tip.get("parent_ids") or ()) != [base_sha]:
            return False
        head = str(tip.get("id") or "")
        return all(self._blob_id(repo, head, p) == _git_blob_id(t) for p, t in files.items())

    def _open_mr_for(self, repo: Repo, branch: str) -> dict[str, Any] | None:
        rows = self._list(
            f"{self._p(repo)}/merge_requests", {"state": "opened", "source_branch": branch}
        )
        same = [m for m in rows if m.get("source_project_id") == m.get("target_project_id")]
        return same[0] if same else None

    def request_reviewers(
        self, repo: Repo, number: int, users: list[str], teams: list[str]
    ) -> None:
        """Add reviewers to a merge request (those it has stay): users by username (a name
        that is no user's may be a top-level group, as a plain ``@name`` in GitLab's
        CODEOWNERS), and each team, a group's full path (``org/team``; a bare ``team`` is taken
        in the project's top-level group), as its direct members. At most ``MAX_REVIEWERS``
        in all; the bot itself is never one. Asking is a courtesy: an unknown name is skipped.
        """
        if not users and not teams:
            return
        me = self.me()["id"]
        wanted: list[int] = []
        for login in users:
            user = self._user(login)
            if user is not None:
                wanted.append(int(user["id"]))
            else:
                wanted.extend(self._group_member_ids(login) or ())
        for team in teams:
            wanted.extend(
                self._group_member_ids(team if "/" in team else f"{repo.owner}/{team}") or ()
            )
        mr = self._get(self._mr_path(repo, number))
        current = [int(r["id"]) for r in mr.get("reviewers") or () if r.get("id")]
        ids = list(dict.fromkeys([*current, *(i for i in wanted if i != me)]))[:MAX_REVIEWERS]
        if ids != current:
            self._put(self._mr_path(repo, number), {"reviewer_ids": ids})

    def _group_member_ids(self, group: str) -> list[int] | None:
        try:
            members = self._list(f"/groups/{quote(group, safe='')}/members")
        except GitLabApiError:
            return None
        return [
            int(m["id"]) for m in members if m.get("id") and m.get("state", "active") == "active"
        ]

    def open_branches(self, repo: Repo, prefix: str) -> list[str]:
        """Source branches of open merge requests that start with ``prefix``."""
        rows = self._list(f"{self._p(repo)}/merge_requests", {"state": "opened"})
        return [
            str(m["source_branch"])
            for m in rows
            if str(m.get("source_branch") or "").startswith(prefix)
            and m.get("source_project_id") == m.get("target_project_id")
        ]

    def open_pull_for_branch(self, repo: Repo, branch: str) -> int | None:
        mr = self._open_mr_for(repo, branch)
        return int(mr["iid"]) if mr else None

    def edit_pull(self, repo: Repo, number: int, *, title: str, body: str) -> None:
        self._put(self._mr_path(repo, number), {"title": title, "description": body})

    def close_pull(self, repo: Repo, number: int) -> None:
        self._put(self._mr_path(repo, number), {"state_event": "close"})

    # -- the bot's own issues (dashboard) --------------------------------------------------------
    def find_issue(self, repo: Repo, marker: str) -> tuple[int, str] | None:
        """The open issue the bot opened whose description holds ``marker``: (iid, description).
        GitLab's search narrows by the marker's words; the exact marker is checked here."""
        words = marker.removeprefix("<!--").removesuffix("-->").strip()
        rows = self._list(
            f"{self._p(repo)}/issues",
            {
                "state": "opened",
                "author_id": self.me()["id"],
                "search": words,
                "in": "description",
                "order_by": "created_at",
                "sort": "asc",
            },
        )
        for issue in rows:
            description = str(issue.get("description") or "")
            if marker in description:
                return int(issue["iid"]), description
        return None

    def create_issue(self, repo: Repo, title: str, body: str) -> int:
        data = self._post(f"{self._p(repo)}/issues", {"title": title, "description": body})
        return int(data["iid"])

    def edit_issue(
        self, repo: Repo, number: int, *, body: str | None = None, state: str | None = None
    ) -> None:
        data: dict[str, Any] = {}
        if body is not None:
            data["description"] = body
        if state is not None:
            data["state_event"] = {"closed": "close", "open": "reopen"}[state]
        if data:
            self._put(f"{self._p(repo)}/issues/{int(number)}", data)


# -- helpers -----------------------------------------------------------------------------------


def approved_head(approved_at: datetime | None, versions: list[dict[str, Any]]) -> str | None:
    """The head an approval given at ``approved_at`` was given on, from a merge request's diff
    versions (GitLab makes one per push that changes its head): the latest version's head, if
    the approval came strictly after that version was made. None, and the approval can't
    count, when it came at or before (the head has moved since), or when that can't be told:
    a time missing or without a zone, or the versions' times not in the order of their ids."""
    if approved_at is None or approved_at.tzinfo is None or not versions:
        return None
    ordered = sorted(versions, key=lambda v: int(v.get("id") or 0))
    times = [_when(v.get("created_at")) for v in ordered]
    known = [t for t in times if t is not None and t.tzinfo is not None]
    if len(known) != len(times) or any(a >= b for a, b in pairwise(known)):
        return None  # a time missing, or two versions whose order the times can't tell
    head = str(ordered[-1].get("head_commit_sha") or "")
    return head if head and approved_at > known[-1] else None


def noreply_login(email: str) -> str | None:
    """The username a GitLab private commit address belongs to; None for any other address."""
    match = _NOREPLY.fullmatch(email.strip())
    return match["login"] if match else None


def _finding_key(a: Annotation) -> str:
    text = f"{a.path}\0{a.start_line}\0{a.message}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _git_blob_id(text: str) -> str:
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _is_bot(user: dict[str, Any]) -> bool:
    return bool(user.get("bot")) or bool(_TOKEN_BOT.fullmatch(str(user.get("username") or "")))


def _when(value: object) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _shown(path: str) -> str:
    """A request path as a message names it: without the API prefix, readable."""
    return unquote(path.split("/api/v4", 1)[-1])


def _is_transient(result: RequestsResponse) -> bool:
    status = result.status_code
    if status == 429 or status >= 500:
        return True
    if status == 409:  # "Resource lock": GitLab could not take a lock; nothing was done
        return "lock" in f"{result.reason} {result.content[:500]!r}".lower()
    return False


def _retry_after(headers: Any) -> float | None:
    """The wait GitLab names (``Retry-After``, else ``RateLimit-Reset``), in seconds."""
    value = headers.get("Retry-After")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    reset = headers.get("RateLimit-Reset")
    if reset is not None:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    return None


def _remaining(headers: Any) -> int | None:
    value = headers.get("RateLimit-Remaining")
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _message(exc: gitlab.GitlabError) -> str:
    message = exc.error_message
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return str(message)[:300]
