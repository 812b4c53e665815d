"""Comment commands on pull requests: `/compliance exempt|extend|revoke|recheck|list|...`.

The grammar and the help texts live in ``bot.commands``; this module runs what was asked. State
changing commands never change the exceptions file directly: they open a pull request that the
file's code owners must approve, like any other exception PR.

Exactly once, under concurrency and faults:
- every command of a comment is claimed in ``command_runs`` by the delivery that runs it; the same
  comment delivered again (same or another delivery id, even at the same moment) finds the claim
  and does nothing while the claiming attempt is alive, and takes over only a dead one;
- exception ids come from ``exception_ids``, one per request, never shared (atomic per
  repository), and the branch of an exception PR is moved only by its own request;
- each reply carries a hidden marker naming its comment and position, so a retry after a reply
  whose answer was lost doesn't post it twice;
- every command ends with exactly one reply: its result, a refusal, or (``on_failed``) what went
  wrong and what to do.
"""

from __future__ import annotations

import difflib
import logging
import re
import time
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot import liveness
from bot.commands import parse_comment
from bot.commands.model import Command, Ignored, Reply
from bot.commands.registry import Exempt, Explain, Extend, Help, ListExceptions, Recheck, Revoke
from bot.commands.replies import help_markdown, refusal
from bot.engine.model import closest_policy
from bot.events import CommentEvent, PullRequest, Repo
from bot.exemptions import add_entry, change_entry, parse, remove_entries, validate
from bot.exemptions.review import EXCEPTIONS_PATH, code_owners_of
from bot.forge.base import BranchTaken, ForgeError, TransientForgeError
from bot.forge.git import GitRepo
from bot.handlers import pull_request as compliance
from bot.handlers.context import Context
from bot.report.markdown import code, md
from bot.report.text import count
from bot.store.db import rows_changed
from bot.store.tables import CommandRun, Delivery, ExceptionId

log = logging.getLogger(__name__)

WRITE = ("admin", "maintain", "write")
FAILURE_REPLY_ATTEMPTS = 3
EMPTY_FILE = "version: 1\nexceptions: []\n"
_ID_NUMBER = re.compile(r"^EXC-(\d+)$")


def reply_marker(comment_id: int, position: int) -> str:
    return f"<!-- compliance-bot:reply comment={comment_id}#{position} -->"


def on_comment(event: CommentEvent, ctx: Context) -> None:
    repo = event.repo
    if repo is None or not event.on_pull_request:
        return
    results = parse_comment(
        event.body,
        action=event.action or "",
        author=event.author,
        author_is_bot=event.author_is_bot,
    )
    runnable = [r for r in results if not isinstance(r, Ignored)]
    if not runnable:
        return
    # received; the forge keeps one per user
    ctx.actions.react(repo, event.comment_id, "eyes", number=event.number)
    pr = ctx.forge.pull_request(repo, event.number)
    for position, result in enumerate(runnable):
        name = result.name if isinstance(result, Command) else (result.command or "reply")
        previous = _claim(ctx, repo, event, position, name)
        if previous in ("done", "elsewhere"):
            continue
        retry = previous == "started"
        if retry and _replied(ctx, repo, event, position):
            # an earlier attempt answered (its reply is the last effect) and died before it
            # could note it: the command is done, whatever this attempt would redo
            _done_before(ctx, repo, pr, event, position, name)
            continue
        if isinstance(result, Reply):
            _reply(ctx, repo, pr, event, position, result.text, retry=retry)
            _finish(ctx, repo, event, position, "done")
            continue
        _run(ctx, repo, pr, event, position, result, retry=retry)


# -- running one command -------------------------------------------------------------------------


def _run(
    ctx: Context,
    repo: Repo,
    pr: PullRequest,
    event: CommentEvent,
    position: int,
    command: Command,
    *,
    retry: bool,
) -> None:
    is_author = event.author.lower() == pr.author.lower()
    can_write = True
    if command.permission.value != "anyone":
        can_write = ctx.forge.permission(repo, event.author) in WRITE
    if not command.permission.allows(is_author=is_author, can_write=can_write):
        reason = f"only {command.permission.who} may run it"
        _reply(ctx, repo, pr, event, position, refusal(command, reason), retry=retry)
        _audit(ctx, repo, pr, event, "command.refused", {"command": command.name, "reason": reason})
        _finish(ctx, repo, event, position, "refused")
        return
    try:
        text, result = _dispatch(ctx, repo, pr, event, position, command)
    except CommandRefused as exc:
        _reply(ctx, repo, pr, event, position, refusal(command, str(exc)), retry=retry)
        _audit(
            ctx, repo, pr, event, "command.refused", {"command": command.name, "reason": str(exc)}
        )
        _finish(ctx, repo, event, position, "refused")
        return
    except TransientForgeError:
        raise  # the job queue retries; ``on_failed`` answers if it never succeeds
    except ForgeError as exc:
        _fail(ctx, repo, pr.number, event, position, command.name, str(exc), head=pr.head_sha)
        return
    if text:
        _reply(ctx, repo, pr, event, position, text, retry=retry)
    _audit(ctx, repo, pr, event, f"command.{command.name}", {"command": command.name, **result})
    _finish(ctx, repo, event, position, "done", result)


class CommandRefused(Exception):
    """The command can't be carried out; the message says why, for the reply."""


def _dispatch(
    ctx: Context,
    repo: Repo,
    pr: PullRequest,
    event: CommentEvent,
    position: int,
    command: Command,
) -> tuple[str, dict[str, Any]]:
    if isinstance(command, Help):
        return help_markdown(getattr(command, "topic", None)), {}
    if isinstance(command, Recheck):
        report = compliance.run_check(
            ctx,
            repo,
            compliance.Target.of_pull(pr, ctx.forge),
        )
        verdict = "passes" if report.conclusion == "success" else "fails"
        text = (
            f"Checked {code(pr.head_sha[:7])} again with the rules of {code(pr.base_ref)} as they"
            f" are now: `compliance` {verdict} ({len(report.blocking)} blocking,"
            f" {len(report.excepted)} excepted, {count(len(report.errors), 'error')})."
        )
        return text, {"head": pr.head_sha, "conclusion": report.conclusion}
    mirror = ctx.forge.fetch(
        repo,
        [
            f"refs/heads/{repo.default_branch}",
            f"refs/heads/{pr.base_ref}",
            ctx.forge.pull_ref(pr.number),
        ],
    )
    base_sha = mirror.resolve(f"refs/heads/{repo.default_branch}")
    rules = compliance.rules_at(mirror, base_sha)
    policies = {p.id: p for p in rules.policies}
    if isinstance(command, Explain):
        return _explain(command, policies), {"policy": command.policy}
    if isinstance(command, ListExceptions):
        return _list(ctx, repo, pr, mirror), {}
    file_text = _text(mirror.read_files(base_sha, [EXCEPTIONS_PATH]).get(EXCEPTIONS_PATH))
    now = ctx.now()
    if isinstance(command, Exempt):
        return _exempt(
            ctx,
            repo,
            pr,
            event,
            position,
            command,
            mirror,
            base_sha,
            file_text,
            policies,
            rules.config.require_ticket,
            now,
        )
    if isinstance(command, (Extend, Revoke)):
        return _change(
            ctx,
            repo,
            pr,
            event,
            position,
            command,
            mirror,
            base_sha,
            file_text,
            policies,
            rules.config.require_ticket,
            now,
        )
    raise CommandRefused(f"`{command.name}` is not available")


def _exempt(
    ctx: Context,
    repo: Repo,
    pr: PullRequest,
    event: CommentEvent,
    position: int,
    command: Exempt,
    mirror: GitRepo,
    base_sha: str,
    text: str | None,
    policies: dict[str, Any],
    require_ticket: bool,
    now: datetime,
) -> tuple[str, dict[str, Any]]:
    policy = policies.get(command.policy)
    if policy is None:
        close = closest_policy(command.policy, policies.values())
        hint = f" (did you mean {close}?)" if close else ""
        raise CommandRefused(f"there is no policy {command.policy}{hint}")
    if not policy.exceptions.allowed:
        raise CommandRefused(
            f"{code(policy.id)} does not allow exceptions: the finding must be fixed"
        )
    report = compliance.evaluate(
        mirror,
        compliance.Target.of_pull(pr, ctx.forge),
        now=now,
    )
    findings = [f.finding for f in report.findings if f.finding.policy == policy.id]
    paths = tuple(sorted({f.path for f in findings if f.path}))
    if not command.paths and not paths:
        raise CommandRefused(
            f"this pull request has no findings of {policy.id}; name the files with --paths"
        )
    entry_id = _allocate_id(ctx, repo, event, position, text)
    entry = command.to_entry(entry_id=entry_id, requested_by=event.author, now=now, paths=paths)
    new_text = add_entry(text or EMPTY_FILE, entry)
    _refuse_if_invalid(new_text, entry_id, policies, require_ticket, now)
    scope = set(entry["paths"])
    covered = [f for f in findings if f.path in scope] if not command.paths else findings
    what = f"Adds exception `{entry_id}` for `{policy.id}`."
    body = _pr_body(event, pr, what, entry, covered, ctx.forge.change_sigil)
    number, url, reviewers = _open_exception_pr(
        ctx,
        repo,
        mirror,
        base_sha,
        event,
        position,
        branch=f"compliance/exception/{entry_id}",
        new_text=new_text,
        message=f"Request exception {entry_id} for {policy.id}\n\n{command.reason}",
        title=f"Exception {entry_id}: {policy.id} until {entry['expires']}",
        body=body,
    )
    reply = (
        f"Opened {ctx.forge.change_sigil}{number} to add exception {code(entry_id)} "
        f"for {code(policy.id)} "
        f"until {md(str(entry['expires']))}."
        + (f" Review requested from {', '.join(md(r) for r in reviewers)}." if reviewers else "")
        + " It applies once a code owner approves it and it is merged."
    )
    why = {"policy": policy.id, "reason": command.reason, "expires": str(entry["expires"])}
    return reply, {"exception": entry_id, "pull_request": number, "url": url, **why}


def _change(
    ctx: Context,
    repo: Repo,
    pr: PullRequest,
    event: CommentEvent,
    position: int,
    command: Extend | Revoke,
    mirror: GitRepo,
    base_sha: str,
    text: str | None,
    policies: dict[str, Any],
    require_ticket: bool,
    now: datetime,
) -> tuple[str, dict[str, Any]]:
    parsed, _ = parse(text or "")
    entry = parsed.by_id(command.exception_id) if parsed else None
    if entry is None:
        known = [e.id for e in parsed.entries] if parsed else []
        close = difflib.get_close_matches(command.exception_id, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise CommandRefused(
            f"there is no exception {command.exception_id} on {repo.default_branch}{hint}"
        )
    if isinstance(command, Extend):
        expires = command.new_expires(now)
        new_text = change_entry(text or "", entry.id, {"expires": expires})
        _refuse_if_invalid(new_text, entry.id, policies, require_ticket, now)
        what, branch_kind = f"Extends exception `{entry.id}` to {expires}.", "extend"
        title = f"Extend exception {entry.id} until {expires}"
        reason = command.reason
    else:
        new_text = remove_entries(text or "", [entry.id])
        what, branch_kind = f"Revokes exception `{entry.id}`.", "revoke"
        title = f"Revoke exception {entry.id}"
        reason = command.reason or "revoked"
    summary = {"id": entry.id, "policy": entry.policy, "reason": reason}
    if isinstance(command, Extend):
        summary["expires"] = expires
    body = _pr_body(event, pr, what, summary, [], ctx.forge.change_sigil)
    number, url, reviewers = _open_exception_pr(
        ctx,
        repo,
        mirror,
        base_sha,
        event,
        position,
        branch=f"compliance/{branch_kind}/{entry.id}-{event.comment_id}",
        new_text=new_text,
        message=f"{title}\n\n{reason}",
        title=title,
        body=body,
    )
    reply = f"Opened {ctx.forge.change_sigil}{number}: {md(title[0].lower() + title[1:])}." + (
        f" Review requested from {', '.join(md(r) for r in reviewers)}." if reviewers else ""
    )
    return reply, {"exception": entry.id, "pull_request": number, "url": url, **summary}


def _open_exception_pr(
    ctx: Context,
    repo: Repo,
    mirror: GitRepo,
    base_sha: str,
    event: CommentEvent,
    position: int,
    *,
    branch: str,
    new_text: str,
    message: str,
    title: str,
    body: str,
) -> tuple[int, str, list[str]]:
    """A PR that changes only the exceptions file, with its code owners asked to review."""
    _note(ctx, repo, event, position, branch=branch)  # a failure later can name the PR it made
    try:
        number, url = ctx.actions.open_change(
            repo,
            base_branch=repo.default_branch,
            base_sha=base_sha,
            base_tree=mirror.tree(base_sha),
            branch=branch,
            files={EXCEPTIONS_PATH: new_text},
            message=message,
            title=title,
            body=body,
            request=_request_key(ctx, repo, event, position),
            why=f"requested by @{event.author} in comment {event.comment_id}",
        )
    except BranchTaken as exc:
        raise CommandRefused(f"{exc}; post the command again to use a new exception id") from None
    reviewers = _request_code_owners(ctx, repo, mirror, base_sha, number, event.author)
    return number, url, reviewers


def _refuse_if_invalid(
    new_text: str, entry_id: str, policies: dict[str, Any], require_ticket: bool, now: datetime
) -> None:
    parsed, problems = parse(new_text)
    if parsed is None:
        raise CommandRefused(
            "the exceptions file on the default branch can't be read; fix it first"
        )
    problems = problems + validate(parsed, policies, now, require_ticket=require_ticket)
    mine = [p for p in problems if p.entry_id == entry_id]
    if mine:
        raise CommandRefused("; ".join(p.message for p in mine))


def _allocate_id(
    ctx: Context, repo: Repo, event: CommentEvent, position: int, text: str | None
) -> str:
    """``EXC-<n>``, handed to this request only: unique among the file's entries, open exception
    PRs and every id allocated before in this repository; the same id for the request's retries.

    Atomic per repository without a lock: the id is taken by inserting it into
    ``exception_ids`` (primary key forge, repository, id), and a request that loses the race for
    a number tries the next one.
    """
    request = _request_key(ctx, repo, event, position)
    forge, name = ctx.forge.name, repo.full_name
    with ctx.store.session() as session:
        mine = session.scalar(
            select(ExceptionId.exception_id).where(ExceptionId.request == request)
        )
    if mine is not None:
        return mine
    parsed, _ = parse(text or "")
    taken = {e.id for e in parsed.entries} if parsed else set()
    taken |= {b.rsplit("/", 1)[-1] for b in ctx.forge.open_branches(repo, "compliance/exception/")}
    known = max((int(m.group(1)) for i in taken if (m := _ID_NUMBER.match(i))), default=0)
    while True:
        with ctx.store.session() as session:
            allocated = session.scalars(
                select(ExceptionId.exception_id).where(
                    ExceptionId.forge == forge, ExceptionId.repository == name
                )
            )
            highest = max(
                (int(m.group(1)) for i in allocated if (m := _ID_NUMBER.match(i))), default=0
            )
        entry_id = f"EXC-{max(known, highest) + 1}"
        try:
            with ctx.store.session() as session:
                session.add(
                    ExceptionId(
                        forge=forge,
                        repository=name,
                        exception_id=entry_id,
                        request=request,
                        allocated_at=ctx.now(),
                    )
                )
        except IntegrityError:
            # another request took this number (or this request its id, concurrently)
            with ctx.store.session() as session:
                mine = session.scalar(
                    select(ExceptionId.exception_id).where(ExceptionId.request == request)
                )
            if mine is not None:
                return mine
            continue
        break
    with ctx.store.session() as session:
        run = session.get(CommandRun, (forge, name, event.comment_id, position))
        if run is not None:
            run.exception_id = entry_id
    return entry_id


def _request_key(ctx: Context, repo: Repo, event: CommentEvent, position: int) -> str:
    """Names one command of one comment, across retries and redeliveries."""
    return f"{ctx.forge.name}:{repo.full_name}:{event.comment_id}#{position}"[-128:]


def _request_code_owners(
    ctx: Context, repo: Repo, mirror: GitRepo, base_sha: str, number: int, requester: str
) -> list[str]:
    locations = ctx.forge.codeowners_locations
    texts = mirror.read_files(base_sha, list(locations))
    where = next((p for p in locations if p in texts), None)
    if where is None:
        return []
    users, teams = code_owners_of(_text(texts[where]) or "", where, ctx.forge.codeowners_flavor)
    users = [u for u in users if u.lower() != requester.lower()]
    if not ctx.actions.request_reviewers(repo, number, users, teams):
        return []  # a courtesy, refused (and recorded); the review check enforces approval
    return [f"@{u}" for u in users] + [f"@{t}" for t in teams]


def _pr_body(
    event: CommentEvent,
    pr: PullRequest,
    what: str,
    entry: dict[str, Any],
    findings: list,
    sigil: str = "#",
) -> str:
    lines = [
        "<!-- compliance-bot:exception-request -->",
        what,
        "",
        f"Requested by @{event.author} in {sigil}{pr.number} (comment {event.comment_id}).",
        "",
        f"- **Policy:** `{entry.get('policy')}`",
        f"- **Reason:** {md(str(entry.get('reason') or ''))}",
    ]
    if entry.get("ticket"):
        lines.append(f"- **Ticket:** {md(str(entry['ticket']))}")
    if entry.get("expires"):
        lines.append(f"- **Expires:** {entry['expires']} (end of day, UTC)")
    if entry.get("paths"):
        lines.append("- **Scope:** " + ", ".join(code(p) for p in entry["paths"]))
    if findings:
        lines += ["", "Findings it covers:", ""]
        for f in findings[:50]:
            lines.append(f"- {code(f'{f.path}:{f.line}')}: {md(f.message)}")
    lines += [
        "",
        "This pull request changes only `.compliance/exceptions.yaml`. It needs an approval from"
        " the file's code owners on its latest commit (`compliance/exception-review`); when it"
        " merges, the exception applies and the pull requests it covers are checked again.",
    ]
    return "\n".join(lines)


def _explain(command: Explain, policies: dict[str, Any]) -> str:
    policy = policies.get(command.policy)
    if policy is None:
        close = closest_policy(command.policy, policies.values())
        hint = f" (did you mean {close}?)" if close else ""
        raise CommandRefused(f"there is no policy {command.policy}{hint}")
    limits = (
        f"Exceptions allowed, for at most {policy.exceptions.max_days} days."
        if policy.exceptions.allowed
        else "Exceptions are not allowed: findings must be fixed."
    )
    return "\n".join(
        [
            f"### {code(policy.id)}: {md(policy.title)}",
            "",
            f"**Severity** {policy.severity} · **enforcement** {policy.enforcement} · "
            f"**standards** {', '.join(code(s) for s in policy.standards) or 'none'}",
            "",
            md(policy.description),
            "",
            f"**How to fix:** {md(policy.remediation)}",
            "",
            f"**Exceptions:** {limits}",
        ]
    )


def _list(ctx: Context, repo: Repo, pr: PullRequest, mirror: GitRepo) -> str:
    """Every exception of the base branch: scope, requester, deadline, state, applies here?"""
    from bot import ledger

    report = compliance.evaluate(
        mirror,
        compliance.Target.of_pull(pr, ctx.forge),
        now=ctx.now(),
        verify=ledger.verifier(
            ctx.store, ctx.forge.name, repo.full_name, pr.base_ref, repo.default_branch
        ),
    )
    soon = {u.id for u in report.expiring_soon}
    uses = [
        *(("active", u) for u in report.applied),
        *(("active", u) for u in report.unused),
        *(("expired", u) for u in report.expired),
        *(("unapproved", u) for u in report.unapproved),
        *(("invalid", u) for u in report.invalid),
    ]
    if not uses:
        return "This repository has no exceptions on its base branch."
    applied = {u.id for u in report.applied}
    rows = []
    for state, use in sorted(uses, key=lambda item: (item[1].line or 0, item[1].id)):
        shown = "expiring soon" if state == "active" and use.id in soon else state
        scope = ", ".join(code(p) for p in use.paths) or "–"
        here = f"yes, {count(use.findings, 'finding')}" if use.id in applied else "no"
        rows.append(
            f"| {code(use.id)} | {code(use.policy)} | {scope} | "
            f"{md(use.requested_by or '–')} | {md((use.expires or '')[:10])} | {shown} | {here} |"
        )
    return "\n".join(
        [
            f"Exceptions on `{md(pr.base_ref)}`:",
            "",
            "| Exception | Policy | Scope | Requested by | Expires | State | Applies here |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )


# -- bookkeeping ---------------------------------------------------------------------------------


def _claim(ctx: Context, repo: Repo, event: CommentEvent, position: int, name: str) -> str | None:
    """Claim one command of a comment for this delivery. Returns None (claimed, first run),
    "started" (this delivery's own earlier attempt, or a dead attempt taken over: effects may
    exist already), "done" (finished before) or "elsewhere" (a live attempt of another delivery
    of the same comment holds it: it will answer)."""
    key = (ctx.forge.name, repo.full_name, event.comment_id, position)
    me = _delivery_key(event)
    try:
        with ctx.store.session() as session:
            session.add(
                CommandRun(
                    forge=key[0],
                    repository=key[1],
                    comment_id=key[2],
                    position=key[3],
                    command=name,
                    actor=event.author,
                    status="started",
                    result={},
                    updated_at=ctx.now(),
                    owner=me,
                    claimed_at=ctx.now(),
                )
            )
        return None
    except IntegrityError:
        pass
    with ctx.store.session() as session:
        run = session.get(CommandRun, key)
        assert run is not None
        if run.status != "started":
            return "done"
        owner = run.owner
        if owner == me:
            return "started"
        if owner is not None and _attempt_alive(session, owner, ctx.now()):
            return "elsewhere"
        # The claiming attempt is finished or dead without finishing: take it over, unless
        # another delivery does so at the same moment.
        taken = rows_changed(
            session,
            update(CommandRun)
            .where(
                CommandRun.forge == key[0],
                CommandRun.repository == key[1],
                CommandRun.comment_id == key[2],
                CommandRun.position == key[3],
                CommandRun.status == "started",
                (CommandRun.owner == owner) if owner is not None else CommandRun.owner.is_(None),
            )
            .values(owner=me, claimed_at=ctx.now()),
        )
        return "started" if taken == 1 else "elsewhere"


def _attempt_alive(session: Any, delivery_key: str, now: datetime) -> bool:
    """Will the delivery that claimed a command still run it (queued, or running in a live
    process)? A delivery unknown to the store (run without one, e.g. a test) counts as dead."""
    row = session.get(Delivery, delivery_key)
    if row is None or row.status in ("done", "failed"):
        return False
    if row.status in ("received", "queued"):
        return True
    return row.worker in set(session.scalars(liveness.live_ids(now)))


def _delivery_key(event: CommentEvent) -> str:
    return f"{event.forge}:{event.delivery_id}"


def _note(ctx: Context, repo: Repo, event: CommentEvent, position: int, **facts: Any) -> None:
    """Keep facts of a command in progress (e.g. the branch of the PR it is opening)."""
    with ctx.store.session() as session:
        run = session.get(CommandRun, (ctx.forge.name, repo.full_name, event.comment_id, position))
        if run is not None:
            run.result = {**(run.result or {}), **facts}


def _finish(
    ctx: Context,
    repo: Repo,
    event: CommentEvent,
    position: int,
    status: str,
    result: dict[str, Any] | None = None,
) -> None:
    with ctx.store.session() as session:
        run = session.get(CommandRun, (ctx.forge.name, repo.full_name, event.comment_id, position))
        if run is not None:
            run.status = status
            run.result = result or {}
            run.updated_at = ctx.now()


def on_failed(event: CommentEvent, ctx: Context, error: str) -> None:
    """The delivery of this comment failed for good: every command it claimed and didn't
    finish gets its one reply, saying what went wrong and what to do."""
    repo = event.repo
    if repo is None or not event.on_pull_request:
        return
    with ctx.store.session() as session:
        runs = list(
            session.scalars(
                select(CommandRun).where(
                    CommandRun.forge == ctx.forge.name,
                    CommandRun.repository == repo.full_name,
                    CommandRun.comment_id == event.comment_id,
                    CommandRun.status == "started",
                    CommandRun.owner == _delivery_key(event),
                )
            )
        )
    for run in runs:
        if _replied(ctx, repo, event, run.position):
            _done_before(ctx, repo, None, event, run.position, run.command)
            continue
        opened = _opened_for(ctx, repo, run)
        _fail(ctx, repo, event.number, event, run.position, run.command, error, opened=opened)


def _replied(ctx: Context, repo: Repo, event: CommentEvent, position: int) -> bool:
    marker = reply_marker(event.comment_id, position)
    return any(marker in body for _, body, _ in ctx.forge.comments(repo, event.number))


def _done_before(
    ctx: Context,
    repo: Repo,
    pr: PullRequest | None,
    event: CommentEvent,
    position: int,
    name: str,
) -> None:
    details = {"command": name, "recovered": "its reply was posted by an earlier attempt"}
    with ctx.store.session() as session:
        run = session.get(CommandRun, (ctx.forge.name, repo.full_name, event.comment_id, position))
        details.update((run.result or {}) if run else {})
    _audit(ctx, repo, pr, event, f"command.{name}", details)
    _finish(ctx, repo, event, position, "done", details)


def _opened_for(ctx: Context, repo: Repo, run: CommandRun) -> int | None:
    """The open PR a failed command's earlier attempt made, if any (so its reply says so)."""
    branch = (run.result or {}).get("branch")
    if not branch:
        return None
    try:
        return ctx.forge.open_pull_for_branch(repo, branch)
    except ForgeError:
        return None


def _fail(
    ctx: Context,
    repo: Repo,
    number: int,
    event: CommentEvent,
    position: int,
    name: str,
    error: str,
    *,
    head: str | None = None,
    opened: int | None = None,
) -> None:
    if opened is not None:
        ref = f"{ctx.forge.change_sigil}{opened}"
        text = (
            f"`/compliance {name}` opened {ref}, but could not finish: {md(error)}.\n\n"
            f"{ref} is the request: it applies once a code owner approves it and it is "
            "merged. Don't post the command again (that would open a second request); ask for "
            f"reviews on {ref} if none were requested. The bot's operators can find this "
            f"attempt in the audit log (`command.failed`, comment {event.comment_id})."
        )
    else:
        text = (
            f"`/compliance {name}` could not be completed: {md(error)}.\n\n"
            "Nothing it was asked to do takes effect until it succeeds. Post the command again "
            "in a new comment to retry; if it keeps failing, the bot's operators can find this "
            f"attempt in the audit log (`command.failed`, comment {event.comment_id})."
        )
    replied = False
    for _ in range(FAILURE_REPLY_ATTEMPTS):  # the forge is what failed: insist a little
        try:
            _reply_to(ctx, repo, number, event, position, text, retry=True)
            replied = True
            break
        except ForgeError as exc:
            log.warning("could not reply to comment %s: %s", event.comment_id, exc)
            time.sleep(1.0)
    ctx.actions.record(
        "command.failed",
        actor=event.author,
        repository=repo.full_name,
        pull_request=number,
        sha=head,
        details={
            "comment": event.comment_id,
            "command": name,
            "error": error,
            "replied": replied,
            "pull_request_opened": opened,
        },
    )
    _finish(ctx, repo, event, position, "failed", {"error": error, "opened": opened})


def _reply(
    ctx: Context,
    repo: Repo,
    pr: PullRequest,
    event: CommentEvent,
    position: int,
    text: str,
    *,
    retry: bool,
) -> None:
    _reply_to(ctx, repo, pr.number, event, position, text, retry=retry)


def _reply_to(
    ctx: Context,
    repo: Repo,
    number: int,
    event: CommentEvent,
    position: int,
    text: str,
    *,
    retry: bool,
) -> None:
    marker = reply_marker(event.comment_id, position)
    generic = "<!-- compliance-bot:reply -->"
    body = text.replace(generic, marker, 1) if text.startswith(generic) else f"{marker}\n{text}"
    # on a retry, the reply may be there already (its answer was lost, or the attempt died)
    ctx.actions.comment(
        repo, number, body, marker=marker, look_first=retry, why=f"reply to {event.comment_id}"
    )


def _audit(
    ctx: Context,
    repo: Repo,
    pr: PullRequest | None,
    event: CommentEvent,
    action: str,
    details: dict[str, Any],
) -> None:
    ctx.actions.record(
        action,
        actor=event.author,
        repository=repo.full_name,
        pull_request=pr.number if pr else event.number,
        sha=pr.head_sha if pr else None,
        details={"comment": event.comment_id, **details},
    )


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace")
