"""Who is calling the fake GitLab, and what they may do: tokens, scopes and access levels.

Mirrors GitLab's rules closely enough that a bot which authenticates or authorizes wrongly fails
here as it would on GitLab: a token is sent as `PRIVATE-TOKEN`, `Authorization: Bearer` or the
`private_token` query parameter (git uses Basic with the token as password); an unknown token is
`401 Unauthorized`, an expired or revoked one an `invalid_token` 401; a token without the scope
is a 403 `insufficient_scope`; a project the caller cannot see is a 404, an action the caller's
role does not allow a 403 (or GitLab's own 401 where GitLab answers so). This module decides;
it never answers HTTP itself (the server turns `ApiError` into a response).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from .state import (
    DEVELOPER,
    GUEST,
    REPORTER,
    Group,
    Project,
    State,
    Token,
    User,
    now,
)


class ApiError(Exception):
    """An answer GitLab would give: a status and GitLab's JSON body (`message` or `error`)."""

    def __init__(
        self,
        status: int,
        message: Any = None,
        *,
        error: str | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or error or status)
        self.status = status
        self.payload: dict[str, Any] = (
            body if body is not None else ({"error": error} if error else {"message": message})
        )
        self.headers = headers or {}


def not_found(what: str = "") -> ApiError:
    return ApiError(404, f"404 {what} Not Found" if what else "404 Not found")


def forbidden() -> ApiError:
    return ApiError(403, "403 Forbidden")


def unauthorized() -> ApiError:
    return ApiError(401, "401 Unauthorized")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def missing(param: str) -> ApiError:
    """Grape's answer to a missing required parameter."""
    return ApiError(400, error=f"{param} is missing")


def mint_token(
    state: State,
    user: User,
    *,
    kind: str = "personal",
    scopes: list[str] | None = None,
    name: str = "token",
    resource_id: int | None = None,
    expires_at: date | None = None,
) -> Token:
    prefix = {"personal": "glpat-", "project": "glpat-", "group": "glpat-"}[kind]
    token = Token(
        id=state.next_id(),
        token=prefix + secrets.token_urlsafe(15).replace("-", "x").replace("_", "y")[:20],
        kind=kind,
        user_id=user.id,
        name=name,
        scopes=list(scopes or ["api"]),
        resource_id=resource_id,
        expires_at=expires_at,
    )
    state.tokens[token.token] = token
    return token


@dataclass
class Principal:
    """The authenticated caller of one request (anonymous when `user` is None)."""

    user: User | None = None
    token: Token | None = None

    @property
    def key(self) -> str:
        if self.token is not None:
            return f"token:{self.token.id}"
        if self.user is not None:
            return f"user:{self.user.username}"
        return "anonymous"

    @property
    def label(self) -> str:
        return self.user.username if self.user else "anonymous"

    def has_scope(self, *wanted: str) -> bool:
        if self.token is None:
            return True
        return any(scope in self.token.scopes for scope in wanted)


def _token_problem(token: Token) -> ApiError | None:
    if token.revoked:
        return ApiError(
            401,
            body={
                "error": "invalid_token",
                "error_description": "Token was revoked. You have to re-authorize from the user.",
            },
        )
    if token.expires_at is not None and token.expires_at <= now().date():
        return ApiError(
            401, body={"error": "invalid_token", "error_description": "Token has expired."}
        )
    return None


def lookup(state: State, secret: str) -> Principal:
    token = state.tokens.get(secret)
    if token is None:
        raise unauthorized()
    problem = _token_problem(token)
    if problem is not None:
        raise problem
    user = state.users.get(token.user_id)
    if user is None or user.state != "active":
        raise unauthorized()
    token.last_used_at = now()
    return Principal(user=user, token=token)


def identify(state: State, headers: Any, args: Any) -> Principal:
    """The principal a REST request names; ApiError(401) for bad credentials."""
    secret = headers.get("PRIVATE-TOKEN") or args.get("private_token")
    if not secret:
        authorization = headers.get("Authorization") or ""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            secret = value.strip()
        elif authorization:
            raise unauthorized()
    if not secret:
        return Principal()
    return lookup(state, secret)


def identify_git(state: State, authorization: str | None) -> Principal:
    """The principal of a git smart HTTP request (Basic, any username, the token as password)."""
    if not authorization:
        return Principal()
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return lookup(state, value.strip())
    if scheme.lower() != "basic":
        raise unauthorized()
    try:
        decoded = base64.b64decode(value.strip()).decode()
    except ValueError as exc:
        raise unauthorized() from exc
    _username, _, password = decoded.partition(":")
    return lookup(state, password)


def insufficient_scope(scopes: tuple[str, ...]) -> ApiError:
    return ApiError(
        403,
        body={
            "error": "insufficient_scope",
            "error_description": (
                "The request requires higher privileges than provided by the access token."
            ),
            "scope": " ".join(scopes),
        },
        headers={
            "WWW-Authenticate": (
                'Bearer realm="Protected by OAuth 2", error="insufficient_scope", '
                'error_description="The request requires higher privileges than provided by '
                f'the access token.", scope="{" ".join(scopes)}"'
            )
        },
    )


# -- visibility and roles ---------------------------------------------------------------------
def access(state: State, principal: Principal, project: Project) -> int:
    if principal.user is None:
        return 0
    return state.project_access(project, principal.user.id)


def can_see(state: State, principal: Principal, project: Project) -> bool:
    if project.visibility == "public":
        return True
    if principal.user is None:
        return False
    if principal.user.admin:
        return True
    if project.visibility == "internal" and not principal.user.bot:
        return True
    return access(state, principal, project) >= GUEST


def can_see_group(state: State, principal: Principal, group: Group) -> bool:
    if group.visibility == "public":
        return True
    if principal.user is None:
        return False
    if principal.user.admin or group.visibility == "internal":
        return True
    if state.group_access(group, principal.user.id) >= GUEST:
        return True
    # Members of a project or subgroup inside a private group can see the group.
    for project in state.projects.values():
        if (
            project.namespace_kind == "group"
            and access(state, principal, project) >= GUEST
            and group in state.ancestors(state.groups[project.namespace_id])
        ):
            return True
    return False


def require(state: State, principal: Principal, project: Project, level: int) -> None:
    """403 unless the caller's role in the project is at least `level` (admins pass)."""
    if principal.user is not None and principal.user.admin:
        return
    if project.visibility == "public" and level <= REPORTER and principal.user is None:
        return
    have = access(state, principal, project)
    if project.visibility in ("public", "internal") and level <= REPORTER and principal.user:
        have = max(have, REPORTER if project.visibility == "public" else GUEST)
    if have < level:
        raise forbidden()


def can_read_code(state: State, principal: Principal, project: Project) -> bool:
    if project.visibility == "public":
        return True
    if principal.user is not None and principal.user.admin:
        return True
    have = access(state, principal, project)
    if project.visibility == "internal" and principal.user and not principal.user.bot:
        return True
    return have >= REPORTER


def can_push(state: State, principal: Principal, project: Project, branch: str) -> bool:
    if principal.user is None:
        return False
    if principal.user.admin:
        return True
    have = access(state, principal, project)
    protected = state.protected_branch(project, branch)
    if protected is not None:
        return have >= protected.push_access_level
    return have >= DEVELOPER


def can_merge(state: State, principal: Principal, project: Project, branch: str) -> bool:
    if principal.user is None:
        return False
    if principal.user.admin:
        return True
    have = access(state, principal, project)
    protected = state.protected_branch(project, branch)
    if protected is not None:
        return have >= protected.merge_access_level
    return have >= DEVELOPER
