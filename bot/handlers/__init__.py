"""The routing table from forge events to handlers: explicit, in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.events import Event
from bot.handlers import comments, exception_review, installation, pull_request, push, status
from bot.handlers.context import Context

Handler = Callable[[Any, Context], None]
FailureHandler = Callable[[Any, Context, str], None]

_PR_UPDATES = ("opened", "synchronize", "reopened", "ready_for_review", "edited")

# (event, action) -> handlers, run in order; action None matches any action of that event.
ROUTES: dict[tuple[str, str | None], tuple[Handler, ...]] = {
    **{
        ("pull_request", action): (pull_request.on_pull_request, exception_review.on_pull_request)
        for action in _PR_UPDATES
    },
    ("pull_request", "closed"): (exception_review.on_pull_request,),
    ("pull_request_review", "submitted"): (exception_review.on_review,),
    ("pull_request_review", "edited"): (exception_review.on_review,),
    ("pull_request_review", "dismissed"): (exception_review.on_review,),
    ("issue_comment", "created"): (comments.on_comment,),
    ("check_run", "rerequested"): (pull_request.on_check_request,),
    # check_suite.requested is not routed: every push to a PR also sends pull_request
    # (synchronize), from forks too, so answering both would evaluate each head twice; a lost
    # pull_request webhook is caught by the sweep's reconcile.
    ("check_suite", "rerequested"): (pull_request.on_check_request,),
    ("merge_group", "checks_requested"): (pull_request.on_check_request,),
    ("push", None): (push.on_push,),
    ("status", None): (status.on_status,),
    # GitLab: a CI pipeline started on a merge request's head gets the bot's statuses again
    ("pipeline", "requested"): (status.on_pipeline,),
    ("membership", None): (push.on_membership,),
    ("installation", None): (installation.on_installation,),
    ("installation_repositories", None): (installation.on_installation,),
}


# What to do when an event's job fails for good (retries spent, or a permanent error): tell the
# people waiting for an answer. Every other failure is recorded and audited by the job queue.
FAILURES: dict[tuple[str, str | None], tuple[FailureHandler, ...]] = {
    ("issue_comment", "created"): (comments.on_failed,),
}


def route(event: Event) -> tuple[Handler, ...]:
    return ROUTES.get((event.name, event.action)) or ROUTES.get((event.name, None)) or ()


def on_failure(event: Event) -> tuple[FailureHandler, ...]:
    return FAILURES.get((event.name, event.action)) or FAILURES.get((event.name, None)) or ()
