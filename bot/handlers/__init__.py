"""The routing table from forge events to handlers: explicit, in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.events import Event
from bot.handlers import installation, pull_request
from bot.handlers.context import Context

Handler = Callable[[Any, Context], None]

# (event, action) -> handler; action None matches any action of that event.
ROUTES: dict[tuple[str, str | None], Handler] = {
    ("pull_request", "opened"): pull_request.on_pull_request,
    ("pull_request", "synchronize"): pull_request.on_pull_request,
    ("pull_request", "reopened"): pull_request.on_pull_request,
    ("pull_request", "ready_for_review"): pull_request.on_pull_request,
    ("pull_request", "edited"): pull_request.on_pull_request,
    ("check_run", "rerequested"): pull_request.on_check_request,
    ("check_suite", "requested"): pull_request.on_check_request,
    ("check_suite", "rerequested"): pull_request.on_check_request,
    ("merge_group", "checks_requested"): pull_request.on_check_request,
    ("push", None): pull_request.on_push,
    ("installation", None): installation.on_installation,
    ("installation_repositories", None): installation.on_installation,
}


def route(event: Event) -> Handler | None:
    return ROUTES.get((event.name, event.action)) or ROUTES.get((event.name, None))
