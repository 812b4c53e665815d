"""Who is calling the fake GitHub: App JWTs, installation tokens and user tokens.

Mirrors GitHub's rules closely enough that a bot which authenticates wrongly fails here as it
would on GitHub: RS256 JWTs signed by the App's key, `iss` the App id or client id, `exp` at most
ten minutes ahead; installation tokens that expire after an hour and reach only the
installation's repositories with the installation's permissions. This module decides identity
and permission; it never answers HTTP itself (the server turns `ApiError` into a response).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .state import App, Installation, State, Token, now, permission_at_least

JWT_MAX_LIFETIME = timedelta(minutes=10)
CLOCK_SKEW = timedelta(seconds=60)
TOKEN_LIFETIME = timedelta(hours=1)
PERMISSION_LEVELS = ("read", "write", "admin")


class ApiError(Exception):
    """An error GitHub would answer with: status, message and optional extra fields/headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        documentation_url: str = "https://docs.github.com/rest",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.documentation_url = documentation_url

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {
            "message": self.message,
            "documentation_url": self.documentation_url,
            "status": str(self.status),
        }
        if self.errors:
            body["errors"] = self.errors
        return body


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def generate_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair as (private PEM, public PEM), like the ones GitHub issues Apps."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def public_pem_of(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class Principal:
    """The authenticated caller of one request."""

    kind: str  # "app" | "installation" | "user" | "anonymous"
    app: App | None = None
    token: Token | None = None
    installation: Installation | None = None
    user: str | None = None  # acting login (a user, or the App's bot user)

    @property
    def rate_key(self) -> str:
        if self.kind == "installation" and self.installation:
            return f"installation:{self.installation.id}"
        if self.kind == "app" and self.app:
            return f"app:{self.app.id}"
        if self.kind == "user" and self.user:
            return f"user:{self.user}"
        return "anonymous"


def verify_app_jwt(state: State, encoded: str, at: datetime | None = None) -> App:
    """The App whose key signed this JWT, or ApiError(401) with GitHub's wording."""
    at = at or now()
    try:
        header = jwt.get_unverified_header(encoded)
        claims = jwt.decode(encoded, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise ApiError(401, "A JSON web token could not be decoded") from exc
    if header.get("alg") != "RS256":
        raise ApiError(401, "A JSON web token could not be decoded")
    issuer = claims.get("iss")
    if issuer is None:
        raise ApiError(401, "'Issuer' claim ('iss') must be an Integer")
    app = state.app(issuer)
    if app is None:
        raise ApiError(401, "Integration not found")
    try:
        jwt.decode(
            encoded,
            app.public_key_pem,
            algorithms=["RS256"],
            options={"require": ["iat", "exp", "iss"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise ApiError(401, "A JSON web token could not be decoded") from exc
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or iat > (at + CLOCK_SKEW).timestamp():
        raise ApiError(
            401,
            "'Issued at' claim ('iat') must be an Integer representing the time that the "
            "assertion was issued.",
        )
    if not isinstance(exp, int) or exp <= at.timestamp():
        raise ApiError(
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires.",
        )
    if (
        exp > (at + JWT_MAX_LIFETIME + CLOCK_SKEW).timestamp()
        or exp - iat > (JWT_MAX_LIFETIME + CLOCK_SKEW).total_seconds()
    ):
        raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
    return app


def mint_installation_token(
    state: State,
    installation: Installation,
    repositories: list[str] | None = None,
    permissions: dict[str, str] | None = None,
) -> Token:
    """An installation access token, optionally narrowed to some repositories and permissions."""
    repos: set[str] | None = None
    if repositories:
        repos = set()
        for name in repositories:
            full = name if "/" in name else f"{installation.account}/{name}"
            if full.lower() not in {r.lower() for r in installation.repos}:
                raise ApiError(
                    422,
                    "There is at least one repository that does not exist or is not "
                    "accessible to the parent installation.",
                )
            repos.add(full.lower())
    granted = dict(installation.permissions)
    if permissions:  # an empty object narrows nothing
        for key, level in permissions.items():
            if not permission_level_at_least(installation.permissions.get(key), level):
                raise ApiError(
                    422, "The permissions requested are not granted to this installation."
                )
        granted = dict(permissions)
    token = Token(
        token="ghs_" + secrets.token_urlsafe(27).replace("-", "A").replace("_", "B")[:36],
        kind="installation",
        expires_at=now() + TOKEN_LIFETIME,
        installation_id=installation.id,
        permissions=granted,
        repos=repos,
    )
    state.tokens[token.token] = token
    return token


def mint_user_token(state: State, login: str) -> Token:
    """A personal access token for a user of the fake (for tests that act as a person)."""
    token = Token(
        token="ghp_" + secrets.token_hex(18),
        kind="user",
        expires_at=None,
        user=login.lower(),
    )
    state.tokens[token.token] = token
    return token


def permission_level_at_least(have: str | None, need: str) -> bool:
    if have is None:
        return False
    return PERMISSION_LEVELS.index(have) >= PERMISSION_LEVELS.index(need)


def identify(state: State, authorization: str | None, at: datetime | None = None) -> Principal:
    """The principal an Authorization header names; ApiError(401) for bad credentials."""
    if not authorization:
        return Principal("anonymous")
    scheme, _, credential = authorization.strip().partition(" ")
    scheme = scheme.lower()
    credential = credential.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credential).decode()
        except ValueError as exc:
            raise ApiError(401, "Bad credentials") from exc
        _user, _, credential = decoded.partition(":")
        scheme = "token"
    if scheme not in ("token", "bearer"):
        raise ApiError(401, "Bad credentials")
    if credential.count(".") == 2 and scheme == "bearer":
        app = verify_app_jwt(state, credential, at)
        return Principal("app", app=app)
    token = state.tokens.get(credential)
    if token is None:
        raise ApiError(401, "Bad credentials")
    if token.expires_at is not None and token.expires_at <= (at or now()):
        raise ApiError(401, "Bad credentials")
    if token.kind == "installation":
        assert token.installation_id is not None
        installation = state.installations.get(token.installation_id)
        if installation is None:
            raise ApiError(401, "Bad credentials")
        app = state.apps[installation.app_id]
        if installation.suspended_at is not None:
            raise ApiError(403, "This installation has been suspended")
        return Principal(
            "installation",
            app=app,
            token=token,
            installation=installation,
            user=app.bot_login,
        )
    return Principal("user", token=token, user=token.user)


def repo_visible(state: State, principal: Principal, full_name: str) -> bool:
    """Whether the caller may see the repository at all (otherwise GitHub answers 404)."""
    repo = state.repo(full_name)
    if repo is None:
        return False
    if principal.kind == "installation":
        assert principal.installation is not None and principal.token is not None
        allowed = principal.token.repos
        if allowed is None:
            allowed = {r.lower() for r in principal.installation.repos}
        return repo.full_name.lower() in allowed
    if principal.kind == "user":
        assert principal.user is not None
        return state.user_permission(repo, principal.user) != "none"
    return not repo.private


def check_permission(
    state: State, principal: Principal, alternatives: tuple[str, ...], full_name: str | None
) -> None:
    """Raise 403 unless the caller holds one of the permissions ("checks:write", ...)."""
    if not alternatives:
        return
    if principal.kind == "installation":
        assert principal.token is not None
        for alt in alternatives:
            key, _, level = alt.partition(":")
            if key == "metadata" or permission_level_at_least(
                principal.token.permissions.get(key), level
            ):
                return
        raise ApiError(
            403,
            "Resource not accessible by integration",
            headers={
                "X-Accepted-GitHub-Permissions": "; ".join(
                    alt.replace(":", "=") for alt in alternatives
                )
            },
        )
    if principal.kind == "user":
        if any(alt.startswith("checks:write") for alt in alternatives):
            raise ApiError(403, "You must authenticate via a GitHub App.")
        if full_name is None:
            return
        repo = state.repo(full_name)
        assert repo is not None and principal.user is not None
        have = state.user_permission(repo, principal.user)
        # Anyone who can read a repository may comment, review and open issues or pull
        # requests; pushing content or statuses needs write.
        writes = {"contents:write", "statuses:write", "administration:write"}
        need = "write" if writes.intersection(alternatives) else "read"
        if not permission_at_least(have, need):
            raise ApiError(403, "Must have push access to this repository.")
