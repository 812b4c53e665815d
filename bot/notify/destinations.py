"""Where notifications can go: the deployment's destinations, read from the environment.

``COMPLIANCE_BOT_NOTIFY_DESTINATIONS`` holds a JSON object inline, or the path of a JSON or YAML
file holding it (a mounted secret, say)::

    {"security-slack": {"type": "slack", "url": "https://hooks.slack.com/services/..."},
     "security-teams": {"type": "teams", "url": "https://...powerautomate.com/..."},
     "siem": {"type": "webhook", "url": "https://siem.example/hooks", "secret": "whsec_..."}}

``COMPLIANCE_BOT_NOTIFY_DEFAULT_ROUTE`` names destinations (comma-separated) that hear every
kind from every repository, whatever the repositories route.

A destination's URL is a secret (a Slack or Teams webhook URL is its own credential): it is kept
out of ``repr``, logs, errors and audit events, which name the destination instead. Errors here
name the variable and the field, never a value.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.config import ConfigError
from bot.report.text import count

DESTINATIONS_VAR = "COMPLIANCE_BOT_NOTIFY_DESTINATIONS"
DEFAULT_ROUTE_VAR = "COMPLIANCE_BOT_NOTIFY_DEFAULT_ROUTE"
TYPES = ("slack", "teams", "webhook")
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LOOPBACK = ("127.0.0.1", "::1", "localhost")
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Destination:
    name: str
    type: str  # slack | teams | webhook
    url: str = field(repr=False)
    secret: bytes | None = field(default=None, repr=False)  # webhook: the decoded whsec_ key
    timeout: float = DEFAULT_TIMEOUT


def load(
    destinations: str | None, default_route: str | None
) -> tuple[tuple[Destination, ...], tuple[str, ...]]:
    """The destinations and the default route from the two variables' values (None: unset)."""
    found: tuple[Destination, ...] = ()
    if destinations:
        found = parse(_document(destinations), DESTINATIONS_VAR)
    route = tuple(n.strip() for n in (default_route or "").split(",") if n.strip())
    names = {d.name for d in found}
    for name in route:
        if name not in names:
            raise ConfigError(
                f"{DEFAULT_ROUTE_VAR}: {name!r} is not a destination in {DESTINATIONS_VAR}"
                + (f" (known: {', '.join(sorted(names))})" if names else " (none are set)")
            )
    return found, route


def parse(data: Any, where: str) -> tuple[Destination, ...]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object of destinations by name")
    out = []
    for name, spec in data.items():
        at = f"{where}: {name}"
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ConfigError(f"{where}: {name!r} is not a destination name (a-z, 0-9, - and _)")
        if not isinstance(spec, dict):
            raise ConfigError(f"{at}: expected an object with type and url")
        unknown = sorted(set(spec) - {"type", "url", "secret", "timeout"})
        if unknown:
            raise ConfigError(f"{at}: {count(len(unknown), 'unknown field')}: {', '.join(unknown)}")
        kind = spec.get("type")
        if kind not in TYPES:
            raise ConfigError(f"{at}.type: expected one of {', '.join(TYPES)}")
        url = spec.get("url")
        if not isinstance(url, str) or not _acceptable(url):
            raise ConfigError(
                f"{at}.url: expected an https:// URL (http:// only on the loopback interface)"
            )
        secret = None
        if kind == "webhook":
            secret = _secret(spec.get("secret"), f"{at}.secret")
        elif "secret" in spec:
            raise ConfigError(f"{at}.secret: only webhook destinations are signed")
        timeout = spec.get("timeout", DEFAULT_TIMEOUT)
        number = isinstance(timeout, int | float) and not isinstance(timeout, bool)
        if not number or not 0 < timeout <= 30:
            raise ConfigError(f"{at}.timeout: expected seconds, more than 0 and at most 30")
        out.append(Destination(name, kind, url, secret, float(timeout)))
    return tuple(out)


def _document(value: str) -> Any:
    text = value.strip()
    if not text.startswith(("{", "[")):
        path = Path(text)
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(
                f"{DESTINATIONS_VAR}: neither a JSON object nor a readable file"
                f" ({exc.strerror or type(exc).__name__})"
            ) from None
        if path.suffix in (".yaml", ".yml"):
            from bot import safeyaml

            try:
                return safeyaml.load(text, safeyaml.STRICT).value
            except safeyaml.YAMLError as exc:
                # the message names the line; the value may hold secrets, so it is not shown
                raise ConfigError(
                    f"{DESTINATIONS_VAR}: {path.name}: line {exc.line}: not valid YAML"
                ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{DESTINATIONS_VAR}: not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None


def _acceptable(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.hostname:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and parts.hostname in LOOPBACK


def _secret(value: Any, where: str) -> bytes:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of 24 to 64 random bytes."""
    if not isinstance(value, str) or not value.startswith("whsec_"):
        raise ConfigError(f"{where}: expected a whsec_ secret (whsec_ and base64)")
    try:
        key = base64.b64decode(value[len("whsec_") :], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: the part after whsec_ is not base64") from None
    if not 24 <= len(key) <= 64:
        raise ConfigError(f"{where}: expected 24 to 64 bytes of key (32 recommended)")
    return key


def by_name(destinations: tuple[Destination, ...]) -> dict[str, Destination]:
    return {d.name: d for d in destinations}
