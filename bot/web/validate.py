"""The envelope of a signed webhook delivery, checked before anything is stored or queued.

A valid signature says who sent a delivery, not that its content fits what we store and route:
a JSON text can nest a thousand levels, hold NUL characters or lone surrogates (neither fits a
PostgreSQL text column), or put a string where an object belongs. Each such delivery is refused
here with an ``EnvelopeError`` naming the field, so that the store never raises on it and the
queue never carries a delivery the worker can't route. Only the fields the edge itself stores
(event, action, sender, installation, repository) are checked for type; the rest of a payload is
for ``bot.events`` to read tolerantly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

MAX_DEPTH = 64  # GitHub's payloads nest about 8 levels
MAX_ID = 2**63 - 1  # a PostgreSQL BIGINT
EVENT = re.compile(r"[a-z_]{1,64}")
DELIVERY = re.compile(r"[A-Za-z0-9._-]{1,72}")  # GitHub sends a GUID
FULL_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}/[A-Za-z0-9._-]{1,100}")
MAX_ACTION = 64  # the width of ``deliveries.action``
MAX_LOGIN = 255  # the width of ``audit_events.actor``


class EnvelopeError(ValueError):
    """A delivery that can't be stored or routed; the message names the header or field."""


def check_headers(event: str, delivery: str) -> None:
    if not EVENT.fullmatch(event):
        raise EnvelopeError("X-GitHub-Event: expected an event name ([a-z_], at most 64)")
    if not DELIVERY.fullmatch(delivery):
        raise EnvelopeError("X-GitHub-Delivery: expected a delivery id ([A-Za-z0-9._-], 1 to 72)")


def read_payload(
    body: bytes,
    mimetype: str,
    check: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The delivery's JSON object, checked for depth and for text PostgreSQL can't hold, then
    by ``check`` for the fields the edge stores (GitHub's, ``check_fields``, by default)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise EnvelopeError("payload: not UTF-8") from None
    if mimetype == "application/x-www-form-urlencoded":
        text = parse_qs(text).get("payload", [""])[0]
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise EnvelopeError(f"payload: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, NaN, a number of thousands of digits
        raise EnvelopeError(f"payload: not JSON ({_short(exc)})") from None
    if not isinstance(value, dict):
        raise EnvelopeError("payload: not a JSON object")
    _check_tree(value)
    (check or check_fields)(value)
    return value


def check_fields(payload: dict[str, Any]) -> None:
    """The fields the edge stores and the worker routes on have the types they must have."""
    action = payload.get("action")
    if action is not None and not (isinstance(action, str) and len(action) <= MAX_ACTION):
        raise EnvelopeError(f"action: expected a string of at most {MAX_ACTION} characters")
    sender = payload.get("sender")
    if sender is not None:
        login = sender.get("login") if isinstance(sender, dict) else None
        if not (isinstance(login, str) and len(login) <= MAX_LOGIN):
            raise EnvelopeError("sender: expected an object with a string login")
    installation = payload.get("installation")
    if installation is not None:
        if not isinstance(installation, dict):
            raise EnvelopeError("installation: expected an object")
        number = installation.get("id")
        if not (type(number) is int and 1 <= number <= MAX_ID):  # bool is no id
            raise EnvelopeError("installation.id: expected a whole number from 1 to 2**63-1")
    repository = payload.get("repository")
    if repository is not None:
        if not isinstance(repository, dict):
            raise EnvelopeError("repository: expected an object")
        full_name = repository.get("full_name")
        if not (isinstance(full_name, str) and FULL_NAME.fullmatch(full_name)):
            raise EnvelopeError("repository.full_name: expected owner/name")


def _check_tree(root: dict[str, Any]) -> None:
    """Depth and text of every key and value, without recursion (a payload chooses its depth)."""
    # (value, depth, path) where path is (parent path, key): a string only if there's an error
    stack: list[tuple[Any, int, Any]] = [(root, 1, None)]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_DEPTH:
                raise EnvelopeError(f"{_path(path)}: nested deeper than {MAX_DEPTH} levels")
            for key, item in value.items():
                _check_text(key, (path, "<key>"))
                stack.append((item, depth + 1, (path, key)))
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                raise EnvelopeError(f"{_path(path)}: nested deeper than {MAX_DEPTH} levels")
            stack.extend((item, depth + 1, (path, index)) for index, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, path)


def _check_text(text: str, path: Any) -> None:
    if "\x00" in text:
        raise EnvelopeError(f"{_path(path)}: contains a NUL character")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise EnvelopeError(f"{_path(path)}: contains a lone surrogate") from None


def _path(path: Any) -> str:
    """``a.b[2].c`` from the linked (parent, key) pairs; odd keys are shown escaped."""
    parts: list[str] = []
    while path is not None:
        path, key = path
        if isinstance(key, int):
            parts.append(f"[{key}]")
        else:
            safe = key.encode("unicode_escape").decode("ascii")[:64]
            parts.append(f".{safe}")
    return "payload" + "".join(reversed(parts))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _short(exc: ValueError) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
