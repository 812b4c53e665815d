"""The forge side of dashboard sign-in: OAuth 2.0 authorization code with PKCE, who signed in,
and which repositories that person may see.

Plain HTTP with ``requests``, one short-lived user token per sign-in, nothing stored and nothing
of Flask: ``bot.web.signin`` keeps the state, the verifier and the session. Every request has a
timeout, and every way a forge can fail (unreachable, slow, an error status, an OAuth error, a
body that is not what the documentation promises) becomes a ``SignInError`` whose message can
be shown to the person signing in. The user token is used for the few reads below and then
forgotten: the dashboard acts with it for nothing else.

GitHub: the GitHub App's own OAuth client (its "user access tokens"), so what a person may see
is what the App and the person can both reach: the repositories of the App's installations the
person has explicit access to. GitLab: an OAuth application with the ``read_api`` scope, and
the projects the person is a member of (Guest or above).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

# What one sign-in reads at most. Beyond this the list is cut (``Repositories.truncated``): a
# person with access to more repositories than this sees the first ones the forge lists.
MAX_REPOSITORIES = 10_000
PER_PAGE = 100
# Requests one sign-in may make after the token exchange: enough for MAX_REPOSITORIES at 100 a
# page and some installations besides; a forge that pages forever cannot hold a sign-in open.
MAX_REQUESTS = 250
TIMEOUT = (5.0, 20.0)  # seconds: connecting, then waiting for each answer
USER_AGENT = "compliance-bot (dashboard sign-in)"


class SignInError(Exception):
    """The sign-in cannot finish; ``str()`` is a sentence for the person signing in and
    ``status`` the HTTP status to answer with (400: start again, 502: the forge failed)."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Person:
    """Who signed in: the forge's login (GitLab's username) and display name."""

    login: str
    name: str | None


@dataclass(frozen=True)
class Repositories:
    """The repositories (``owner/name``, GitLab's ``path_with_namespace``, as the forge spells
    them) a person may see; ``truncated`` when the list was cut at ``MAX_REPOSITORIES``."""

    names: frozenset[str]
    truncated: bool = False


class SignIn(Protocol):
    """One forge's OAuth client: where to send the browser, the code exchanged for a user
    token, and what that token says about its person."""

    forge: str  # "github" | "gitlab"
    label: str  # the forge's name for people: "GitHub", "GitLab"

    def authorize_url(self, redirect_uri: str, state: str, code_challenge: str) -> str: ...

    def exchange(self, code: str, redirect_uri: str, verifier: str) -> str: ...

    def person(self, token: str) -> Person: ...

    def repositories(self, token: str) -> Repositories: ...

    def close(self) -> None: ...


def pkce_pair() -> tuple[str, str]:
    """A PKCE ``code_verifier`` and its S256 ``code_challenge`` (RFC 7636 §4.1-4.2): 86
    characters of the unreserved set, and BASE64URL(SHA256(verifier)) without padding."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _Exhausted(Exception):
    """The sign-in spent its ``MAX_REQUESTS``: what was read so far is what the person sees."""


class _Client:
    """The HTTP both forges share: timeouts, a request budget, and failures turned into
    ``SignInError``. One instance serves one sign-in (it counts that sign-in's requests)."""

    label = "the forge"

    def __init__(self, http: requests.Session | None) -> None:
        self._http = http
        self._own_http = http is None
        self.requests_left = MAX_REQUESTS

    @property
    def http(self) -> requests.Session:
        if self._http is None:  # made on first use: showing the authorize URL needs none
            self._http = requests.Session()
            self._http.headers["User-Agent"] = USER_AGENT
        return self._http

    def close(self) -> None:
        """Release the connections this sign-in opened (not those of a session passed in)."""
        if self._own_http and self._http is not None:
            self._http.close()
            self._http = None

    def _send(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        try:
            return self.http.request(method, url, timeout=TIMEOUT, allow_redirects=False, **kwargs)
        except requests.Timeout:
            raise SignInError(f"{self.label} did not answer in time ({what}). Try again.") from None
        except requests.RequestException:
            raise SignInError(f"{self.label} could not be reached ({what}). Try again.") from None

    def _json(self, response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise SignInError(
                f"{self.label} answered {what} with something that is not JSON "
                f"(status {response.status_code})."
            ) from None

    def _get(self, url: str, token: str, what: str, **headers: str) -> requests.Response:
        if self.requests_left <= 0:
            raise _Exhausted
        self.requests_left -= 1
        response = self._send(
            "GET", url, what, headers={"Authorization": f"Bearer {token}", **headers}
        )
        if response.status_code in (401, 403):
            raise SignInError(
                f"{self.label} refused the sign-in's token when reading {what} "
                f"(status {response.status_code}). Start again."
            )
        if response.status_code != 200:
            raise SignInError(f"{self.label} answered {response.status_code} when reading {what}.")
        return response

    def _pages(self, url: str, token: str, what: str, **headers: str) -> Iterator[Any]:
        """Each page's JSON, following ``Link: rel="next"`` (both forges send it) or GitLab's
        ``X-Next-Page``."""
        while url:
            response = self._get(url, token, what, **headers)
            yield self._json(response, what)
            next_url = response.links.get("next", {}).get("url")
            next_page = response.headers.get("X-Next-Page", "").strip()
            if not next_url and next_page.isdecimal():
                next_url = _with_page(url, next_page)
            url = next_url or ""

    def _listing(self, read: Callable[[], Iterator[str]], what: str) -> Repositories:
        """What ``read()`` lists, cut at ``MAX_REPOSITORIES`` or the request budget; a body not
        shaped as documented is the forge's failure, said as such."""
        names: list[str] = []
        try:
            for name in read():
                names.append(name)
                if len(names) >= MAX_REPOSITORIES:
                    return Repositories(frozenset(names), truncated=True)
        except _Exhausted:
            return Repositories(frozenset(names), truncated=True)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise SignInError(
                f"{self.label}'s answer listing {what} is not shaped as documented."
            ) from None
        return Repositories(frozenset(names))


class GitHubSignIn(_Client):
    """Sign-in with the GitHub App's OAuth client (a user access token for the App).

    Endpoints and parameters, from GitHub's docs (docs.github.com):
    - apps/creating-github-apps/authenticating-with-a-github-app/
      generating-a-user-access-token-for-a-github-app: ``GET {web}/login/oauth/authorize`` with
      ``client_id``, ``redirect_uri`` (must exactly match a "Callback URL" of the App),
      ``state``, ``code_challenge`` + ``code_challenge_method=S256`` (PKCE), ``allow_signup``;
      then ``POST {web}/login/oauth/access_token`` with ``client_id``, ``client_secret``,
      ``code``, ``redirect_uri``, ``code_verifier``; ``Accept: application/json`` gets JSON
      (``access_token``, ``token_type`` "bearer"). A user access token reaches only what both
      the App and the person can reach.
    - apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-
      errors: a refused exchange is still a 200, with ``error`` (``incorrect_client_credentials``,
      ``redirect_uri_mismatch``, ``bad_verification_code``...) and ``error_description``.
    - rest/users/users#get-the-authenticated-user: ``GET {api}/user``.
    - rest/apps/installations#list-app-installations-accessible-to-the-user-access-token:
      ``GET {api}/user/installations`` (the App's installations where the person has explicit
      access: owner, collaborator, organization membership) and
      ``GET {api}/user/installations/{installation_id}/repositories`` (the repositories of one
      of them the person can access); both ``per_page`` at most 100, paged by ``Link``.
    """

    forge = "github"
    label = "GitHub"
    API_HEADERS: ClassVar[dict[str, str]] = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        web_url: str,
        api_url: str,
        http: requests.Session | None = None,
    ) -> None:
        super().__init__(http)
        self.client_id = client_id
        self.client_secret = client_secret
        self.web_url = web_url.rstrip("/")
        self.api_url = api_url.rstrip("/")

    def authorize_url(self, redirect_uri: str, state: str, code_challenge: str) -> str:
        query = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "allow_signup": "false",  # the dashboard is for people who already have access
        }
        return f"{self.web_url}/login/oauth/authorize?{urlencode(query)}"

    def person(self, token: str) -> Person:
        what = "who you are"
        user = self._json(self._get(f"{self.api_url}/user", token, what, **self.API_HEADERS), what)
        if not isinstance(user, dict) or not isinstance(user.get("login"), str):
            raise SignInError("GitHub's answer about who you are has no login.")
        name = user.get("name")
        return Person(user["login"], name if isinstance(name, str) and name else None)

    def exchange(self, code: str, redirect_uri: str, verifier: str) -> str:
        what = "the sign-in code"
        response = self._send(
            "POST",
            f"{self.web_url}/login/oauth/access_token",
            what,
            headers={"Accept": "application/json"},
            data={
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
        )
        if response.status_code != 200:
            raise SignInError(f"GitHub answered {response.status_code} when exchanging {what}.")
        body = self._json(response, what)
        if not isinstance(body, dict):
            raise SignInError(f"GitHub's answer to {what} is not an object.")
        if body.get("error"):
            raise _oauth_error("GitHub", str(body["error"]), body.get("error_description"))
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise SignInError(f"GitHub's answer to {what} holds no access token.")
        return token

    def repositories(self, token: str) -> Repositories:
        def read() -> Iterator[str]:
            installations = self._pages(
                f"{self.api_url}/user/installations?per_page={PER_PAGE}",
                token,
                "the App's installations you can access",
                **self.API_HEADERS,
            )
            for page in installations:
                for installation in _items(page, "installations", "GitHub"):
                    url = (
                        f"{self.api_url}/user/installations/{int(installation['id'])}"
                        f"/repositories?per_page={PER_PAGE}"
                    )
                    what = "the repositories you can access"
                    for repositories in self._pages(url, token, what, **self.API_HEADERS):
                        for repository in _items(repositories, "repositories", "GitHub"):
                            yield str(repository["full_name"])

        return self._listing(read, "the repositories you can access")


class GitLabSignIn(_Client):
    """Sign-in with a GitLab OAuth application (scope ``read_api``).

    Endpoints and parameters, from GitLab's docs (docs.gitlab.com):
    - api/oauth2 ("Authorization code with Proof Key for Code Exchange (PKCE)"):
      ``GET {GITLAB_URL}/oauth/authorize`` with ``client_id``, ``redirect_uri``,
      ``response_type=code``, ``state``, ``scope`` (space-separated), ``code_challenge`` and
      ``code_challenge_method=S256``; then ``POST {GITLAB_URL}/oauth/token`` with ``client_id``,
      ``client_secret``, ``code``, ``grant_type=authorization_code``, ``redirect_uri`` (the same
      as before) and ``code_verifier``, answered with ``access_token`` and ``token_type``
      "bearer". Errors are doorkeeper's: a 400 or 401 with ``error`` and ``error_description``.
    - api/users: ``GET /api/v4/user``, the person the token belongs to.
    - api/projects ("List all projects"): ``GET /api/v4/projects`` with ``membership=true``,
      ``min_access_level=10`` (Guest), ``simple=true``; ``per_page`` at most 100, paged by
      ``Link`` / ``X-Next-Page`` (offset pagination goes to 50,000 records, beyond the cap here).
    """

    forge = "gitlab"
    label = "GitLab"
    SCOPE = "read_api"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        gitlab_url: str,
        http: requests.Session | None = None,
    ) -> None:
        super().__init__(http)
        self.client_id = client_id
        self.client_secret = client_secret
        self.url = gitlab_url.rstrip("/")

    def authorize_url(self, redirect_uri: str, state: str, code_challenge: str) -> str:
        query = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "state": state,
            "scope": self.SCOPE,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.url}/oauth/authorize?{urlencode(query)}"

    def person(self, token: str) -> Person:
        what = "who you are"
        user = self._json(self._get(f"{self.url}/api/v4/user", token, what), what)
        if not isinstance(user, dict) or not isinstance(user.get("username"), str):
            raise SignInError("GitLab's answer about who you are has no username.")
        name = user.get("name")
        return Person(user["username"], name if isinstance(name, str) and name else None)

    def exchange(self, code: str, redirect_uri: str, verifier: str) -> str:
        what = "the sign-in code"
        response = self._send(
            "POST",
            f"{self.url}/oauth/token",
            what,
            headers={"Accept": "application/json"},
            data={
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "code": code,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
        )
        if response.status_code in (400, 401):
            body = self._json(response, what)
            error = body.get("error") if isinstance(body, dict) else None
            if error:
                raise _oauth_error("GitLab", str(error), body.get("error_description"))
        if response.status_code != 200:
            raise SignInError(f"GitLab answered {response.status_code} when exchanging {what}.")
        body = self._json(response, what)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise SignInError(f"GitLab's answer to {what} holds no access token.")
        return token

    def repositories(self, token: str) -> Repositories:
        query = urlencode(
            {
                "membership": "true",
                "min_access_level": 10,
                "simple": "true",
                "order_by": "id",  # a stable order while paging
                "sort": "asc",
                "per_page": PER_PAGE,
            }
        )
        what = "the projects you are a member of"

        def read() -> Iterator[str]:
            for page in self._pages(f"{self.url}/api/v4/projects?{query}", token, what):
                if not isinstance(page, list):
                    raise TypeError(page)
                for project in page:
                    yield str(project["path_with_namespace"])

        return self._listing(read, what)


def _with_page(url: str, page: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("page", page)])))


def _items(page: Any, key: str, label: str) -> list[Any]:
    items = page.get(key) if isinstance(page, dict) else None
    if not isinstance(items, list):
        raise SignInError(f"{label}'s answer has no {key} list.")
    return items


# OAuth errors a person can act on: starting again fixes them (400); the rest are the
# deployment's (wrong secret, wrong callback URL) and are said as such (502).
_START_AGAIN = {"bad_verification_code", "invalid_grant", "access_denied"}


def _oauth_error(label: str, error: str, description: Any) -> SignInError:
    said = f": {description}" if isinstance(description, str) and description else ""
    if error in _START_AGAIN:
        return SignInError(f"{label} refused the sign-in ({error}{said}). Start again.", 400)
    return SignInError(
        f"{label} refused the sign-in ({error}{said}). The dashboard's OAuth settings "
        "may be wrong; tell whoever runs compliance-bot.",
        502,
    )
