"""Settings from the environment (12-factor), validated at start; errors name the variable.

A ``.env`` file in the working directory is read too (values already in the environment win).
Secrets are kept out of ``repr`` and error messages. Nothing here runs at import time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from dotenv import dotenv_values

if TYPE_CHECKING:
    from bot.notify.destinations import Destination

DEFAULT_GITHUB_API_URL = "https://api.github.com"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
SIGN_IN_FORGES = ("github", "gitlab")  # the forges the dashboard can sign people in with
# a login as GitHub and GitLab spell them (GitLab also allows dots and underscores)
_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the variable and never its secret value."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".compliance-bot")
    database_url: str | None = None
    redis_url: str | None = None
    github_app_id: str | None = None
    github_private_key: str | None = field(default=None, repr=False)
    github_webhook_secret: str | None = field(default=None, repr=False)
    github_api_url: str = DEFAULT_GITHUB_API_URL
    gitlab_url: str | None = None
    gitlab_token: str | None = field(default=None, repr=False)
    gitlab_webhook_secret: str | None = field(default=None, repr=False)
    # a Standard Webhooks secret (whsec_ and base64): GitLab's hooks are then signed too
    gitlab_webhook_signing_token: str | None = field(default=None, repr=False)
    public_url: str | None = None  # where GitHub reaches us (setup page, details links)
    mirror_max_bytes: int = 5 * 1024**3
    worker_threads: int = 4
    github_write_interval: float = 0.0  # seconds between mutating REST calls per client
    queue_name: str = "compliance-bot"  # separates deployments sharing one Redis
    # PRs of 200+ files are evaluated in this many processes (default: CPUs, at most 4)
    evaluation_processes: int = field(default_factory=lambda: min(os.cpu_count() or 1, 4))
    sweep_minutes: int = 5  # how often deadlines are enforced (cleanup PRs, re-checks, reminders)
    log_level: str = "INFO"
    log_format: str = "text"  # or json: one object per line (bot.logs)
    metrics_token: str | None = field(default=None, repr=False)  # bearer token for /metrics
    payload_retention_days: int = 30  # delivery payloads are pruned after this
    delivery_retention_days: int = 365  # delivery rows (metadata) are deleted after this
    # Ed25519 key that signs audit checkpoints (PEM); unset: <data dir>/audit-signing-key.pem
    audit_key: str | None = field(default=None, repr=False)
    checkpoint_minutes: int = 10  # how often the audit chain is sealed by a signed checkpoint
    checkpoint_dir: Path | None = None  # a second place checkpoints are written, for shipping
    # where notifications go (bot.notify.destinations); URLs are secrets, kept out of repr
    notify_destinations: tuple[Destination, ...] = field(default=(), repr=False)
    notify_default_route: tuple[str, ...] = ()  # destinations that hear every kind
    # dashboard sign-in: the GitHub App's OAuth credentials, a GitLab OAuth application's
    github_client_id: str | None = None
    github_client_secret: str | None = field(default=None, repr=False)
    gitlab_oauth_client_id: str | None = None
    gitlab_oauth_client_secret: str | None = field(default=None, repr=False)
    # who sees every repository on the dashboard: "login" (any forge) or "github:login"
    dashboard_admins: tuple[str, ...] = ()
    session_hours: int = 8  # a dashboard session ends this long after sign-in

    # -- derived ------------------------------------------------------------------------------
    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Heroku-style postgres:// URLs; SQLAlchemy 2 wants a driver name
            if url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url[len("postgres://") :]
            elif url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{(self.data_dir / 'compliance-bot.db').resolve()}"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    @property
    def mirrors_dir(self) -> Path:
        return self.data_dir / "mirrors"

    @property
    def audit_key_path(self) -> Path:
        """Where the audit signing key is kept (generated on first start) when none is given."""
        return self.data_dir / "audit-signing-key.pem"

    @property
    def audit_origin(self) -> str:
        """The name of this deployment's audit log in its signed checkpoints."""
        host = urlparse(self.public_url).netloc if self.public_url else ""
        return f"{host or 'localhost'}/compliance-bot/audit"

    @property
    def metrics_dir(self) -> Path:
        """Where this host's processes keep their metric files (Prometheus multiprocess mode)."""
        return self.data_dir / "metrics"

    @property
    def github_configured(self) -> bool:
        return bool(self.github_app_id and self.github_private_key and self.github_webhook_secret)

    @property
    def gitlab_configured(self) -> bool:
        return bool(self.gitlab_url and self.gitlab_token and self.gitlab_webhook_secret)

    @property
    def dashboard_forges(self) -> tuple[str, ...]:
        """The forges people can sign in to the dashboard with; none: the dashboard is off."""
        forges = []
        if self.github_client_id and self.github_client_secret:
            forges.append("github")
        if self.gitlab_url and self.gitlab_oauth_client_id and self.gitlab_oauth_client_secret:
            forges.append("gitlab")
        return tuple(forges)

    @property
    def dashboard_enabled(self) -> bool:
        return bool(self.dashboard_forges)

    def dashboard_admin(self, forge: str, login: str) -> bool:
        """Whether ``login`` of ``forge`` is named in ``COMPLIANCE_BOT_DASHBOARD_ADMINS``
        (logins compare without case, as both forges treat them)."""
        wanted = login.casefold()
        for entry in self.dashboard_admins:
            entry_forge, _, entry_login = entry.rpartition(":")
            if entry_login.casefold() == wanted and entry_forge in ("", forge):
                return True
        return False

    @property
    def github_web_url(self) -> str:
        """github.com, or the GitHub Enterprise Server host behind ``GITHUB_API_URL``."""
        if self.github_api_url.rstrip("/") == DEFAULT_GITHUB_API_URL:
            return "https://github.com"
        parsed = urlparse(self.github_api_url)
        return f"{parsed.scheme}://{parsed.netloc}"

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, dotenv: Path | None = Path(".env")
    ) -> Settings:
        env: dict[str, str] = {}
        if dotenv is not None and dotenv.is_file():
            env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
        env.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        data_dir = Path(get("COMPLIANCE_BOT_DATA_DIR") or ".compliance-bot")
        key = get("GITHUB_PRIVATE_KEY")
        key_path = get("GITHUB_PRIVATE_KEY_PATH")
        if key and key_path:
            raise ConfigError("set GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH, not both")
        if key_path:
            try:
                key = Path(key_path).read_text("utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"GITHUB_PRIVATE_KEY_PATH: cannot read {key_path}: {exc.strerror}"
                ) from None
        if key is not None:
            key = key.replace("\\n", "\n")  # one-line PEMs in .env files
            if "PRIVATE KEY-----" not in key:
                raise ConfigError("GITHUB_PRIVATE_KEY: not a PEM private key")
        audit_key = _audit_key(
            get("COMPLIANCE_BOT_AUDIT_KEY"), get("COMPLIANCE_BOT_AUDIT_KEY_PATH")
        )
        checkpoint_dir = get("COMPLIANCE_BOT_CHECKPOINT_DIR")
        from bot.notify import destinations as notify

        destinations, default_route = notify.load(
            get(notify.DESTINATIONS_VAR), get(notify.DEFAULT_ROUTE_VAR)
        )
        settings = cls(
            host=get("HOST") or "127.0.0.1",
            port=_int(get("PORT"), "PORT", 8000, 1, 65535),
            data_dir=data_dir,
            database_url=get("DATABASE_URL"),
            redis_url=get("REDIS_URL"),
            github_app_id=get("GITHUB_APP_ID"),
            github_private_key=key,
            github_webhook_secret=get("GITHUB_WEBHOOK_SECRET"),
            github_api_url=(get("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL).rstrip("/"),
            gitlab_url=get("GITLAB_URL"),
            gitlab_token=get("GITLAB_TOKEN"),
            gitlab_webhook_secret=get("GITLAB_WEBHOOK_SECRET"),
            gitlab_webhook_signing_token=get("GITLAB_WEBHOOK_SIGNING_TOKEN"),
            public_url=get("COMPLIANCE_BOT_PUBLIC_URL"),
            mirror_max_bytes=_int(
                get("COMPLIANCE_BOT_MIRROR_MAX_MB"), "COMPLIANCE_BOT_MIRROR_MAX_MB", 5120, 1, 10**7
            )
            * 1024**2,
            worker_threads=_int(get("COMPLIANCE_BOT_WORKERS"), "COMPLIANCE_BOT_WORKERS", 4, 1, 64),
            queue_name=get("COMPLIANCE_BOT_QUEUE_NAME") or "compliance-bot",
            evaluation_processes=_int(
                get("COMPLIANCE_BOT_EVALUATION_PROCESSES"),
                "COMPLIANCE_BOT_EVALUATION_PROCESSES",
                min(os.cpu_count() or 1, 4),
                1,
                64,
            ),
            sweep_minutes=_int(
                get("COMPLIANCE_BOT_SWEEP_MINUTES"), "COMPLIANCE_BOT_SWEEP_MINUTES", 5, 1, 1440
            ),
            github_write_interval=_float(
                get("GITHUB_WRITE_INTERVAL"), "GITHUB_WRITE_INTERVAL", 0.0
            ),
            log_level=_log_level(get("LOG_LEVEL")),
            log_format=_log_format(get("LOG_FORMAT")),
            metrics_token=get("COMPLIANCE_BOT_METRICS_TOKEN"),
            payload_retention_days=_int(
                get("COMPLIANCE_BOT_PAYLOAD_RETENTION_DAYS"),
                "COMPLIANCE_BOT_PAYLOAD_RETENTION_DAYS",
                30,
                1,
                3650,
            ),
            delivery_retention_days=_int(
                get("COMPLIANCE_BOT_DELIVERY_RETENTION_DAYS"),
                "COMPLIANCE_BOT_DELIVERY_RETENTION_DAYS",
                365,
                1,
                36500,
            ),
            audit_key=audit_key,
            checkpoint_minutes=_int(
                get("COMPLIANCE_BOT_CHECKPOINT_MINUTES"),
                "COMPLIANCE_BOT_CHECKPOINT_MINUTES",
                10,
                1,
                1440,
            ),
            checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir else None,
            notify_destinations=destinations,
            notify_default_route=default_route,
            github_client_id=get("GITHUB_CLIENT_ID"),
            github_client_secret=get("GITHUB_CLIENT_SECRET"),
            gitlab_oauth_client_id=get("GITLAB_OAUTH_CLIENT_ID"),
            gitlab_oauth_client_secret=get("GITLAB_OAUTH_CLIENT_SECRET"),
            dashboard_admins=_dashboard_admins(get("COMPLIANCE_BOT_DASHBOARD_ADMINS")),
            session_hours=_int(
                get("COMPLIANCE_BOT_SESSION_HOURS"), "COMPLIANCE_BOT_SESSION_HOURS", 8, 1, 720
            ),
        )
        settings.check()
        return settings

    def check(self) -> None:
        for name, url in (
            ("DATABASE_URL", self.database_url),
            ("REDIS_URL", self.redis_url),
            ("GITHUB_API_URL", self.github_api_url),
            ("GITLAB_URL", self.gitlab_url),
            ("COMPLIANCE_BOT_PUBLIC_URL", self.public_url),
        ):
            if url and not urlparse(url).scheme:
                raise ConfigError(f"{name}: not a URL (expected scheme://...)")
        if self.database_url and not self.database_url.startswith(
            ("postgres://", "postgresql://", "postgresql+", "sqlite:")
        ):
            raise ConfigError("DATABASE_URL: only PostgreSQL and SQLite URLs are supported")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("REDIS_URL: expected redis://, rediss:// or unix://")
        if self.github_app_id is not None and not self.github_app_id.isdecimal():
            raise ConfigError(
                f"GITHUB_APP_ID: {self.github_app_id!r} is not a whole number"
                " (the App ID shown on the App's settings page)"
            )
        app = (self.github_app_id, self.github_private_key, self.github_webhook_secret)
        if any(app) and not all(app):
            names = ("GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET")
            missing = [n for n, v in zip(names, app, strict=True) if not v]
            raise ConfigError(f"GitHub App partly configured: missing {', '.join(missing)}")
        if self.gitlab_url and not (self.gitlab_token and self.gitlab_webhook_secret):
            raise ConfigError(
                "GITLAB_URL is set: GITLAB_TOKEN and GITLAB_WEBHOOK_SECRET are needed too"
            )
        if self.gitlab_webhook_signing_token is not None:
            # the token on the hook says who may send; the signature only adds to it
            if not self.gitlab_webhook_secret:
                raise ConfigError(
                    "GITLAB_WEBHOOK_SIGNING_TOKEN is set: GITLAB_WEBHOOK_SECRET is needed too"
                )
            from bot.notify.destinations import _secret as standard_webhooks_key

            standard_webhooks_key(self.gitlab_webhook_signing_token, "GITLAB_WEBHOOK_SIGNING_TOKEN")
        self._check_sign_in()

    def _check_sign_in(self) -> None:
        """Dashboard sign-in: each OAuth client complete, GitLab's with somewhere to sign in."""
        for forge, names, values in (
            (
                "GitHub",
                ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"),
                (self.github_client_id, self.github_client_secret),
            ),
            (
                "GitLab",
                ("GITLAB_OAUTH_CLIENT_ID", "GITLAB_OAUTH_CLIENT_SECRET"),
                (self.gitlab_oauth_client_id, self.gitlab_oauth_client_secret),
            ),
        ):
            if any(values) and not all(values):
                missing = [n for n, v in zip(names, values, strict=True) if not v]
                raise ConfigError(
                    f"{forge} dashboard sign-in partly configured: missing {missing[0]}"
                )
        if self.gitlab_oauth_client_id and not self.gitlab_url:
            raise ConfigError(
                "GITLAB_OAUTH_CLIENT_ID is set: GITLAB_URL is needed too (where people sign in)"
            )
        if not 1 <= self.session_hours <= 720:
            raise ConfigError(
                f"COMPLIANCE_BOT_SESSION_HOURS: {self.session_hours} is out of range (1..720)"
            )
        for entry in self.dashboard_admins:
            _dashboard_admin(entry)


def _int(text: str | None, name: str, default: int, low: int, high: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}: {text!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: {value} is out of range ({low}..{high})")
    return value


def _dashboard_admins(text: str | None) -> tuple[str, ...]:
    """``COMPLIANCE_BOT_DASHBOARD_ADMINS``: comma-separated logins, each maybe ``forge:login``."""
    if text is None:
        return ()
    return tuple(_dashboard_admin(entry.strip()) for entry in text.split(",") if entry.strip())


def _dashboard_admin(entry: str) -> str:
    name = "COMPLIANCE_BOT_DASHBOARD_ADMINS"
    forge, colon, login = entry.rpartition(":")
    if colon and forge not in SIGN_IN_FORGES:
        raise ConfigError(
            f"{name}: {entry!r} names the forge {forge!r}; use github:LOGIN or gitlab:LOGIN"
        )
    if not _LOGIN.fullmatch(login):
        raise ConfigError(f"{name}: {entry!r} is not a login (letters, digits, '.', '_', '-')")
    return f"{forge}:{login}" if colon else login


def _audit_key(key: str | None, key_path: str | None) -> str | None:
    """The audit signing key's PEM, checked to be an Ed25519 private key; never echoed."""
    if key and key_path:
        raise ConfigError("set COMPLIANCE_BOT_AUDIT_KEY or COMPLIANCE_BOT_AUDIT_KEY_PATH, not both")
    name = "COMPLIANCE_BOT_AUDIT_KEY"
    if key_path:
        name = "COMPLIANCE_BOT_AUDIT_KEY_PATH"
        try:
            key = Path(key_path).read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"{name}: cannot read {key_path}: {exc.strerror}") from None
    if key is None:
        return None
    key = key.replace("\\n", "\n")  # one-line PEMs in .env files
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        loaded = load_pem_private_key(key.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{name}: not an unencrypted PEM private key") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigError(f"{name}: not an Ed25519 private key")
    return key


def _log_level(text: str | None) -> str:
    if text is None:
        return "INFO"
    if text.upper() not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL: {text!r} is not one of {', '.join(LOG_LEVELS)}")
    return text.upper()


def _log_format(text: str | None) -> str:
    if text is None:
        return "text"
    if text.lower() not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT: {text!r} is not one of {', '.join(LOG_FORMATS)}")
    return text.lower()


def _float(text: str | None, name: str, default: float) -> float:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}: {text!r} is not a number") from None
    if value < 0:
        raise ConfigError(f"{name}: must not be negative")
    return value
