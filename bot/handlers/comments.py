"""Comment commands on pull requests: `/compliance exempt|extend|revoke|recheck|list|...`.

The grammar and the help texts live in ``bot.commands``; this module runs what was asked. State
changing commands never change the exceptions file directly: they open a pull request that the
file's code owners must approve, like any other exception PR. Every command runs at most once per
comment (``command_runs``), so a redelivered or retried comment never opens a second PR or posts a
second reply; each reply carries a hidden marker naming its comment, for the same reason.
"""

from __future__ import annotations

import difflib
import logging
import re
from datetime import datetime
from typing import Any

from codeowners import CodeOwners
from sqlalchemy.exc import IntegrityError

from bot import audit
from bot.commands import parse_comment
from bot.commands.model import Command, Ignored, Reply
from bot.commands.registry import Exempt, Explain, Extend, Help, ListExceptions, Recheck, Revoke
from bot.commands.replies import help_markdown, refusal
from bot.events import CommentEvent, PullRequest, Repo
from bot.exemptions import add_entry, change_entry, parse, remove_entries, validate
from bot.exemptions.review import CODEOWNERS_LOCATIONS, EXCEPTIONS_PATH
from bot.forge.git import GitRepo
from bot.handlers import pull_request as compliance
from bot.handlers.context import Context
from bot.report.markdown import code, md
from bot.store.tables import CommandRun

log = logging.getLogger(__name__)

WRITE = ("admin", "maintain", "write")
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
    ctx.forge.react(repo, event.comment_id, "eyes")  # received; GitHub keeps one per user
    pr = ctx.forge.pull_request(repo, event.number)
    for position, result in enumerate(runnable):
        name = result.name if isinstance(result, Command) else (result.command or "reply")
        previous = _claim(ctx, repo, event, position, name)
        if previous == "done":
            continue
        retry = previous == "started"
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
            compliance.Target.of_pull(pr),
        )
        verdict = "passes" if report.conclusion == "success" else "fails"
        text = (
            f"Checked {code(pr.head_sha[:7])} again with the rules of {code(pr.base_ref)} as they"
            f" are now: `compliance` {verdict} ({len(report.blocking)} blocking,"
            f" {len(report.excepted)} excepted, {len(report.errors)} error(s))."
        )
        return text, {"head": pr.head_sha, "conclusion": report.conclusion}
    mirror = ctx.forge.fetch(
        repo,
        [
            f"refs/heads/{repo.default_branch}",
            f"refs/heads/{pr.base_ref}",
            f"refs/pull/{pr.number}/head",
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
        close = difflib.get_close_matches(command.policy, sorted(policies), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise CommandRefused(f"there is no policy {command.policy}{hint}")
    if not policy.exceptions.allowed:
        raise CommandRefused(
            f"{code(policy.id)} does not allow exceptions: the finding must be fixed"
        )
    report = compliance.evaluate(
        mirror,
        compliance.Target.of_pull(pr),
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
    body = _pr_body(event, pr, f"Adds exception `{entry_id}` for `{policy.id}`.", entry, covered)
    number, url, reviewers = _open_exception_pr(
        ctx,
        repo,
        mirror,
        base_sha,
        event,
        branch=f"compliance/exception/{entry_id}",
        new_text=new_text,
        message=f"Request exception {entry_id} for {policy.id}\n\n{command.reason}",
        title=f"Exception {entry_id}: {policy.id} until {entry['expires']}",
        body=body,
    )
    reply = (
        f"Opened #{number} to add exception {code(entry_id)} for {code(policy.id)} "
        f"until {md(str(entry['expires']))}."
        + (f" Review requested from {', '.join(md(r) for r in reviewers)}." if reviewers else "")
        + " It applies once a code owner approves it and it is merged."
    )
    return reply, {"exception": entry_id, "pull_request": number, "url": url}


def _change(
    ctx: Context,
    repo: Repo,
    pr: PullRequest,
    event: CommentEvent,
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
    body = _pr_body(event, pr, what, summary, [])
    number, url, reviewers = _open_exception_pr(
        ctx,
        repo,
        mirror,
        base_sha,
        event,
        branch=f"compliance/{branch_kind}/{entry.id}-{event.comment_id}",
        new_text=new_text,
        message=f"{title}\n\n{reason}",
        title=title,
        body=body,
    )
    reply = f"Opened #{number}: {md(title[0].lower() + title[1:])}." + (
        f" Review requested from {', '.join(md(r) for r in reviewers)}." if reviewers else ""
    )
    return reply, {"exception": entry.id, "pull_request": number, "url": url}


def _open_exception_pr(
    ctx: Context,
    repo: Repo,
    mirror: GitRepo,
    base_sha: str,
    event: CommentEvent,
    *,
    branch: str,
    new_text: str,
    message: str,
    title: str,
    body: str,
) -> tuple[int, str, list[str]]:
    """A PR that changes only the exceptions file, with its code owners asked to review."""
    number, url = ctx.forge.open_change(
        repo,
        base_branch=repo.default_branch,
        base_sha=base_sha,
        base_tree=mirror.tree(base_sha),
        branch=branch,
        files={EXCEPTIONS_PATH: new_text},
        message=message,
        title=title,
        body=body,
    )
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
    """``EXC-<n>``, unique among the file's entries and open exception PRs; kept for retries."""
    with ctx.store.session() as session:
        run = session.get(CommandRun, (ctx.forge.name, repo.full_name, event.comment_id, position))
        if run is not None and run.exception_id:
            return run.exception_id
    parsed, _ = parse(text or "")
    taken = {e.id for e in parsed.entries} if parsed else set()
    taken |= {b.rsplit("/", 1)[-1] for b in ctx.forge.open_branches(repo, "compliance/exception/")}
    numbers = [int(m.group(1)) for i in taken if (m := _ID_NUMBER.match(i))]
    entry_id = f"EXC-{max(numbers, default=0) + 1}"
    with ctx.store.session() as session:
        run = session.get(CommandRun, (ctx.forge.name, repo.full_name, event.comment_id, position))
        if run is not None:
            run.exception_id = entry_id
    return entry_id


def _request_code_owners(
    ctx: Context, repo: Repo, mirror: GitRepo, base_sha: str, number: int, requester: str
) -> list[str]:
    texts = mirror.read_files(base_sha, list(CODEOWNERS_LOCATIONS))
    where = next((p for p in CODEOWNERS_LOCATIONS if p in texts), None)
    if where is None:
        return []
    owners = CodeOwners(_text(texts[where]) or "").of(EXCEPTIONS_PATH)
    users = [o.lstrip("@") for kind, o in owners if kind == "USERNAME"]
    users = [u for u in users if u.lower() != requester.lower()]
    teams = [o.split("/", 1)[1] for kind, o in owners if kind == "TEAM" and "/" in o]
    try:
        ctx.forge.request_reviewers(repo, number, users, teams)
    except Exception as exc:  # a review request is a courtesy; the check enforces approval
        log.warning("could not request reviewers on #%s: %s", number, exc)
        return []
    return [f"@{u}" for u in users] + [o for kind, o in owners if kind == "TEAM"]


def _pr_body(
    event: CommentEvent, pr: PullRequest, what: str, entry: dict[str, Any], findings: list
) -> str:
    lines = [
        "<!-- compliance-bot:exception-request -->",
        what,
        "",
        f"Requested by @{event.author} in #{pr.number} (comment {event.comment_id}).",
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
        close = difflib.get_close_matches(command.policy, sorted(policies), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
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
        compliance.Target.of_pull(pr),
        now=ctx.now(),
        verify=ledger.verifier(ctx.store, ctx.forge.name, repo.full_name),
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
        here = f"yes, {use.findings} finding(s)" if use.id in applied else "no"
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
    """The previous status of this command if it ran before (done, refused, started), else None."""
    key = (ctx.forge.name, repo.full_name, event.comment_id, position)
    with ctx.store.session() as session:
        run = session.get(CommandRun, key)
        if run is not None:
            return "done" if run.status in ("done", "refused") else run.status
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
                )
            )
    except IntegrityError:
        return "started"
    return None


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
    marker = reply_marker(event.comment_id, position)
    if retry and any(marker in body for _, body, _ in ctx.forge.comments(repo, pr.number)):
        return  # posted before the previous attempt died
    generic = "<!-- compliance-bot:reply -->"
    body = text.replace(generic, marker, 1) if text.startswith(generic) else f"{marker}\n{text}"
    ctx.forge.comment(repo, pr.number, body)


def _audit(
    ctx: Context,
    repo: Repo,
    pr: PullRequest,
    event: CommentEvent,
    action: str,
    details: dict[str, Any],
) -> None:
    with ctx.store.session() as session:
        audit.record(
            session,
            actor=event.author,
            action=action,
            repository=repo.full_name,
            pull_request=pr.number,
            sha=pr.head_sha,
            details={"comment": event.comment_id, **details},
        )


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace")
