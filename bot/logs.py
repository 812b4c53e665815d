"""Log lines: plain text or one JSON object per line (``LOG_FORMAT``), with the job's context.

What a line is about (the delivery, repository, pull request, head SHA and job) is carried in a
context variable, so it follows the job through every module without being passed around: the
job binds it once (``bound``, ``bind_event``) and every line logged meanwhile, by the bot or a
library, carries it. A context variable is per thread, so concurrent jobs never mix theirs.

This module formats and routes; it decides nothing and never reads the environment itself.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

FIELDS = ("delivery", "repository", "pull_request", "sha", "job")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(context)s%(message)s"

_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "compliance_bot_log_context", default=MappingProxyType({})
)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Within the block, this thread's log lines carry ``fields`` (None values are left out);
    at its end the context is what it was before, including whatever ``bind_event`` added."""
    token = _context.set({**_context.get(), **_present(fields)})
    try:
        yield
    finally:
        _context.reset(token)


def bind_event(event: Any) -> None:
    """Add what a parsed event is about (repository, pull request, head SHA) to the context;
    undone by the enclosing ``bound`` block."""
    pull = getattr(event, "pull_request", None)
    numbers = getattr(event, "pull_numbers", ()) or ()
    repo = getattr(event, "repo", None)
    fields = {
        "repository": repo.full_name if repo is not None else None,
        "pull_request": pull.number if pull is not None else (numbers[0] if numbers else None),
        "sha": getattr(event, "head_sha", None) or (pull.head_sha if pull is not None else None),
    }
    _context.set({**_context.get(), **_present(fields)})


def context() -> dict[str, Any]:
    """The fields bound in this thread now."""
    return dict(_context.get())


def _present(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None and v != ""}


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record (a field given with ``extra=`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            record.__dict__.setdefault(key, value)
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: [delivery=... repository=...] message``; no brackets without context."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        pairs = [f"{k}={record.__dict__[k]}" for k in FIELDS if record.__dict__.get(k) is not None]
        record.context = f"[{' '.join(pairs)}] " if pairs else ""
        return super().formatMessage(record)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``LOG_FORMAT`` (``text`` or ``json``)."""
    if log_format == "json":
        # timestamp (UTC, ISO 8601), level, logger, message, then the context fields and any
        # ``extra=`` a caller gave; a traceback is one escaped string, so a line is one object
        return JsonFormatter(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
        )
    return TextFormatter()


def configure(level: str, log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """Send every logger's lines to ``stream`` (stderr) in ``log_format``, at ``level``.

    Safe to call again: the handler a previous call installed is replaced, others are kept.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(ContextFilter())
    handler._compliance_bot = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_compliance_bot", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
