"""Commit statuses named like the bot's checks, posted by someone else: a bypass, made visible.

The bot reports through check runs and never posts a commit status. Branch protection that
requires `compliance` without pinning the App accepts a *status* of that name from anyone with
write access, so such a status is a way around the check (DESIGN §5 item 12). Each one is
recorded once (a redelivery finds it recorded) and audited, and the bot's checks on that head
are posted again. The checks read the records on every run (``forged_statuses``) and fail while
any exist, so a later re-run can't turn them green.

This module decides nothing about findings or exceptions; it only adds this failure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.events import CheckRequestEvent, Repo, StatusEvent
from bot.forge.base import CheckOutput, ForeignStatus
from bot.handlers import exception_review
from bot.handlers import pull_request as compliance
from bot.handlers.context import Context
from bot.report.markdown import MAX_SUMMARY, code, md
from bot.store.tables import ForgedStatus

SHOWN = 10  # forged statuses named in a summary; the rest are counted


@dataclass(frozen=True)
class Forgery:
    """A recorded commit status that used one of the bot's check names."""

    status_id: int
    context: str
    creator: str
    state: str

    def to_json(self) -> dict[str, Any]:
        return {
            "status_id": self.status_id,
            "context": self.context,
            "creator": self.creator,
            "state": self.state,
        }


def on_status(event: StatusEvent, ctx: Context) -> None:
    repo = event.repo
    if repo is None or not event.sha or not _forged(event, ctx):
        return
    _record(
        ctx,
        repo,
        event.sha,
        ForeignStatus(
            status_id=event.status_id,
            context=event.context,
            state=event.state,
            creator=event.creator,
            creator_is_bot=event.creator_is_bot,
            description=event.description,
            target_url=event.target_url,
        ),
    )
    # Always post the checks again, even when the status was recorded before: a retry after a
    # crash between the record and the checks must still leave them failing.
    for pr in ctx.forge.open_pull_requests(repo):
        if pr.head_sha == event.sha:
            compliance.run_check(ctx, repo, compliance.Target.of_pull(pr, ctx.forge))
            exception_review.evaluate(ctx, repo, pr)


def on_pipeline(event: CheckRequestEvent, ctx: Context) -> None:
    """A pipeline started on a merge request's head (GitLab): both of the bot's statuses are
    posted again, so the latest pipeline, which "Pipelines must succeed" reads, holds them."""
    repo = event.repo
    assert repo is not None
    for number in event.pull_numbers:
        pr = ctx.forge.pull_request(repo, number)
        if pr.state == "open" and pr.head_sha == event.head_sha:
            compliance.run_check(ctx, repo, compliance.Target.of_pull(pr, ctx.forge))
            exception_review.evaluate(ctx, repo, pr)


def _forged(event: StatusEvent, ctx: Context) -> bool:
    if event.context not in check_names():
        return False
    # The bot posts no statuses, but one from its own login would not be a forgery. The slug
    # is a GitHub App fact (the `status` webhook is GitHub's), not on the Forge port.
    slug = getattr(ctx.forge, "app_slug", None)
    own = f"{slug()}[bot]".lower() if callable(slug) else None
    return event.creator.lower() != own


def _record(ctx: Context, repo: Repo, sha: str, event: ForeignStatus) -> None:
    """Store the status and audit it, once per status (a redelivery finds it stored)."""
    where = (
        ForgedStatus.forge == ctx.forge.name,
        ForgedStatus.repository == repo.full_name,
        ForgedStatus.status_id == event.status_id,
    )
    with ctx.store.session() as session:
        if session.scalar(select(ForgedStatus.id).where(*where)) is not None:
            return
    ctx.actions.remember(
        ForgedStatus(
            forge=ctx.forge.name,
            repository=repo.full_name,
            sha=sha,
            context=event.context,
            creator=event.creator or "unknown",
            state=event.state,
            status_id=event.status_id,
            seen_at=ctx.now(),
        ),
        "status.forged",
        actor=event.creator or "unknown",
        repository=repo.full_name,
        sha=sha,
        details={
            "context": event.context,
            "state": event.state,
            "status_id": event.status_id,
            "description": event.description,
            "target_url": event.target_url,
            "creator_is_bot": event.creator_is_bot,
        },
        at=ctx.now(),
    )


def check_names() -> tuple[str, ...]:
    """The names of the bot's checks (read late: those modules import this one)."""
    return (compliance.CHECK_NAME, exception_review.REVIEW_CHECK)


def forged_statuses(ctx: Context, repo: Repo, sha: str) -> list[Forgery]:
    """The forged statuses recorded on a head commit, oldest first (one indexed query).

    Where the forge sends no event for statuses (GitLab), it is asked first, and what it
    reports is recorded and audited like a ``status`` webhook's."""
    for found in ctx.forge.foreign_statuses(repo, sha, check_names()):
        _record(ctx, repo, sha, found)
    with ctx.store.session() as session:
        rows = session.execute(
            select(
                ForgedStatus.status_id,
                ForgedStatus.context,
                ForgedStatus.creator,
                ForgedStatus.state,
            )
            .where(
                ForgedStatus.forge == ctx.forge.name,
                ForgedStatus.repository == repo.full_name,
                ForgedStatus.sha == sha,
            )
            .order_by(ForgedStatus.id)
        ).all()
    return [Forgery(*row) for row in rows]


_HOW = {
    "github": (
        " The bot reports only through check runs, so a status with its name is an attempt "
        "to satisfy branch protection without the check: this check fails on this commit, "
        "whatever its findings, and the status is recorded in the audit log. Require the check "
        "from the compliance-bot App in branch protection (pin the App as the expected source "
        "of the required check), so that a status can't stand in for it; push a new commit to "
        "be checked again."
    ),
    "gitlab": (
        ' Only the bot\'s own statuses count, and "Pipelines must succeed" reads the latest '
        "status of a name whoever posted it, so this is an attempt to pass the merge request "
        "without the check: this check fails on this commit, whatever its findings, and the "
        "status is recorded in the audit log. Keep Developer access to people you trust with "
        "statuses (on Ultimate, require an external status check instead); push a new commit "
        "to be checked again."
    ),
}


def notice(forgeries: Sequence[Forgery], forge: str = "github") -> str:
    """The paragraph a check's summary starts with while forged statuses exist on its head."""
    lines = [
        f"A commit status named {code(f.context)} was posted on this commit by "
        f"@{md(f.creator, 100)} (state {md(f.state, 20)}), not by compliance-bot."
        for f in forgeries[:SHOWN]
    ]
    if len(forgeries) > SHOWN:
        lines.append(f"… and {len(forgeries) - SHOWN} more such statuses.")
    return "⛔ **Forged status**: " + " ".join(lines) + _HOW.get(forge, _HOW["github"])


def summary_line(forgeries: Sequence[Forgery]) -> str:
    """A short statement of the forgery, for a report's list of errors."""
    first = forgeries[0]
    more = f" and {len(forgeries) - 1} more" if len(forgeries) > 1 else ""
    return (
        f"A commit status named {first.context} was posted on this commit by @{first.creator}"
        f"{more}, not by compliance-bot (see the top of this summary)."
    )


def overridden(
    output: CheckOutput, forgeries: Sequence[Forgery], forge: str = "github"
) -> CheckOutput:
    """A check's output made a failure that starts with the forgery notice (after its marker)."""
    text = notice(forgeries, forge)
    marker, newline, rest = output.summary.partition("\n")
    if not (newline and marker.startswith("<!-- compliance-bot:")):
        marker, rest = "", output.summary
    head = f"{marker}\n{text}\n\n" if marker else f"{text}\n\n"
    budget = MAX_SUMMARY - len(head.encode("utf-8"))
    if len(rest.encode("utf-8")) > budget:
        # Keep whole lines (table rows stay rows) and say that the rest was left out.
        cut = "… (shortened: see the annotations)\n"
        kept = rest.encode("utf-8")[: budget - len(cut.encode("utf-8"))].decode("utf-8", "ignore")
        rest = kept.rsplit("\n", 1)[0] + "\n" + cut
    first = forgeries[0]
    return dataclasses.replace(
        output,
        title=f"Forged status: {first.context} posted by {first.creator}"[:255],
        summary=head + rest,
        conclusion="failure",
    )
