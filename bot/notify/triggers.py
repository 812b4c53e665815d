"""Triggers: which audit events are worth telling people about, and what to tell them.

One table, :data:`TRIGGERS`: an audit action, the kind of notification it makes, a builder (one
per kind) and an optional ``when`` filter, as Argo CD Notifications keeps triggers apart from
templates and services. An action with no trigger makes no notification; so do the notifier's
own events (``notification.*``), which keeps the notifier from feeding on itself.

Builders are pure: an :class:`AuditRecord` and the forge's web address in, notifications out.
They read ``details`` tolerantly (``.get``): an older event with fewer facts still makes a
message, with fewer lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.exemptions.model import parse_expires
from bot.notify.model import AuditRecord, Link, Notification


@dataclass(frozen=True)
class Site:
    """Links on the forge's web UI (github.com, or a GitHub Enterprise Server host)."""

    web_url: str

    def repo(self, repository: str) -> str:
        return f"{self.web_url.rstrip('/')}/{repository}"

    def pull(self, repository: str, number: int) -> str:
        return f"{self.repo(repository)}/pull/{number}"

    def checks(self, repository: str, number: int) -> str:
        return f"{self.pull(repository, number)}/checks"

    def commit(self, repository: str, sha: str) -> str:
        return f"{self.repo(repository)}/commit/{sha}"


Builder = Callable[[str, AuditRecord, Site], "list[Notification]"]


@dataclass(frozen=True)
class Trigger:
    action: str  # the audit event's action
    kind: str  # the notification's kind, what routes name
    build: Builder
    when: Callable[[AuditRecord], bool] = lambda event: True


# -- builders, one per kind -------------------------------------------------------------------


def requested(kind: str, e: AuditRecord, site: Site) -> list[Notification]:
    """``/compliance exempt|extend|revoke``: a PR that changes the exceptions file was opened."""
    d = e.details
    exc, number = d.get("exception"), d.get("pull_request")
    what = {
        "exception.requested": ("Exception {id} requested", "asks for an exception"),
        "exception.renewal_requested": ("Renewal of exception {id} requested", "asks to extend"),
        "exception.revocation_requested": ("Revocation of {id} requested", "asks to revoke"),
    }[kind]
    origin = f" on #{e.pull_request}" if e.pull_request is not None else ""
    pr = f"#{number}" if number is not None else "a pull request"
    return [
        _note(
            kind,
            e,
            site,
            title=what[0].format(id=exc or "?"),
            text=f"{e.actor}{origin} {what[1]}; {pr} makes the change and needs a code owner's"
            " approval before it applies.",
            pull_request=number if number is not None else e.pull_request,
            who=f"requested by {e.actor}",
            until=_until(d),
            why=_why(d),
            exception=exc,
            policy=d.get("policy"),
            extra=[Link("Pull request where it was asked", site.pull(e.repository, e.pull_request))]
            if e.repository and e.pull_request is not None and number != e.pull_request
            else [],
        )
    ]


def approved(kind: str, e: AuditRecord, site: Site) -> list[Notification]:
    """An exception PR merged with a code owner's approval: the entry applies from now on."""
    d = e.details
    exc = d.get("exception")
    renewal = kind == "exception.renewed"
    title = (
        f"Exception {exc} renewed until {d.get('expires')}"
        if renewal
        else f"Exception {exc} approved and live"
    )
    count = d.get("renewal_count")
    text = (
        f"Renewal {count} of {exc} is merged; it applies until its new deadline."
        if renewal and count
        else f"{exc} is merged with a code owner's approval and now covers its findings."
    )
    return [
        _note(
            kind,
            e,
            site,
            title=title,
            text=text,
            who=_people(approved_by=d.get("approvers"), merged_by=e.actor, requested_by=d),
            until=_until(d),
            why=_why(d),
            exception=exc,
            policy=d.get("policy"),
        )
    ]


def revoked(kind: str, e: AuditRecord, site: Site) -> list[Notification]:
    d = e.details
    exc = d.get("exception")
    return [
        _note(
            kind,
            e,
            site,
            title=f"Exception {exc} revoked",
            key=f"{kind}:{e.repository}:{exc}:{e.pull_request}",
            text=f"A merged pull request removed {exc} before its deadline; its findings block"
            " again.",
            who=f"merged by {e.actor}",
            until=_until(d),
            why=_why(d) or f"removed from the exceptions file by #{e.pull_request}",
            exception=exc,
            policy=d.get("policy"),
        )
    ]


def expiring(kind: str, e: AuditRecord, site: Site) -> list[Notification]:
    d = e.details
    exc, days = d.get("exception"), d.get("days")
    return [
        _note(
            kind,
            e,
            site,
            title=f"Exception {exc} expires in {days} days",
            text=f"{exc} stops applying at its deadline; fix its findings or ask to extend it"
            " (`/compliance extend`).",
            who=_people(requested_by=d),
            until=_until(d),
            why=_why(d),
            exception=exc,
            policy=d.get("policy"),
            severity="warning",
        )
    ]


def expired(kind: str, e: AuditRecord, site: Site) -> list[Notification]:
    """One notification per exception the cleanup PR removes, told once per deadline."""
    d = e.details
    branch = d.get("branch")
    entries = d.get("entries") or [{"exception": i} for i in d.get("expired", ())]
    out = []
    for entry in entries:
        exc = entry.get("exception")
        out.append(
            _note(
                kind,
                e,
                site,
                title=f"Exception {exc} expired",
                text=f"{exc} no longer applies: its findings block again. Cleanup PR"
                f" #{e.pull_request} removes it from the exceptions file.",
                branch=branch,
                sha=None,
                who=_people(requested_by=entry),
                until=_until(entry),
                why=_why(entry),
                exception=exc,
                policy=entry.get("policy"),
                severity="warning",
                key=f"{kind}:{e.repository}:{branch}:{exc}:{_until(entry) or ''}",
            )
        )
    return out


def cleanup_opened(kind: str, e: AuditRecord, site: Site) -> list[Notification]:
    """The first ``cleanup.updated`` of a cleanup PR is its opening (the key is the PR)."""
    d = e.details
    ids = [str(i) for i in d.get("expired", ())]
    return [
        _note(
            kind,
            e,
            site,
            title=f"Cleanup PR #{e.pull_request} opened",
            text=f"It removes {len(ids)} expired exception{'' if len(ids) == 1 else 's'} from the"
            " exceptions file:"
            f" {', '.join(ids)}. A code owner's review merges it.",
            branch=d.get("branch"),
            sha=None,
            who="compliance-bot",
            why="the deadlines passed",
            key=f"{kind}:{e.repository}:{e.pull_request}",
        )
    ]


def unapproved_ignored(kind: str, e: AuditRecord, site: Site) -> list[Notification]:
    """An entry on the base branch that no approved PR added: told once per entry version."""
    d = e.details
    exc = d.get("exception")
    return [
        _note(
            kind,
            e,
            site,
            title=f"Unapproved exception {exc} ignored",
            text=f"{exc} is in the exceptions file, but no approved pull request added it as"
            " written: the check ignores it. Someone changed the file without review.",
            who=_people(requested_by=d) or "nobody approved it",
            until=_until(d),
            why=_why(d),
            exception=exc,
            policy=d.get("policy"),
            severity="alert",
            key=f"{kind}:{e.repository}:{exc}:{d.get('content_hash', '')}",
        )
    ]


def merged_unapproved(kind: str, e: AuditRecord, site: Site) -> list[Notification]:
    d = e.details
    entries = ", ".join(str(i) for i in d.get("entries", ())) or "exceptions file changes"
    return [
        _note(
            kind,
            e,
            site,
            title=f"Exception PR #{e.pull_request} merged without approval",
            text=f"{e.actor} merged it without a passing exception review ({entries}); the"
            " entries are not honoured.",
            who=f"merged by {e.actor}",
            why="; ".join(str(r) for r in d.get("reasons", ())) or None,
            severity="alert",
        )
    ]


def config_loosened(kind: str, e: AuditRecord, site: Site) -> list[Notification]:
    d = e.details
    approved = kind == "config.loosened"
    what = "; ".join(str(c) for c in d.get("loosenings", ())) or "the rules"
    approvers = ", ".join(str(a) for a in d.get("approvers", ()))
    return [
        _note(
            kind,
            e,
            site,
            title=(
                f"Config loosened by PR #{e.pull_request}"
                if approved
                else f"Config loosened WITHOUT approval by PR #{e.pull_request}"
            ),
            text=(
                f"The merged change {what}; approved by {approvers or 'code owners'}."
                if approved
                else f"{e.actor} merged a change that {what}, without a passing review by the"
                " config's code owners. It applies: revert it, or approve it in a new PR."
            ),
            who=f"merged by {e.actor}",
            branch=d.get("base_ref"),
            why="; ".join(str(r) for r in d.get("reasons", ())) or None,
            severity="info" if approved else "alert",
        )
    ]


def forged_status(kind: str, e: AuditRecord, site: Site) -> list[Notification]:
    d = e.details
    context, state = d.get("context", "?"), d.get("state", "?")
    return [
        _note(
            kind,
            e,
            site,
            title=f"Forged status '{context}' on {(e.sha or '')[:7]}",
            text=f"{e.actor} posted a '{context}' status ({state}) under the bot's check name;"
            " the bot's own check fails that commit.",
            who=f"posted by {e.actor}",
            why="only the bot posts this check"
            + (f"; the status says: {d['description']}" if d.get("description") else ""),
            severity="alert",
        )
    ]


def renewal_capped(kind: str, e: AuditRecord, site: Site) -> list[Notification]:
    d = e.details
    exc = d.get("exception")
    limit = d.get("max_renewals")
    return [
        _note(
            kind,
            e,
            site,
            title=f"Exception {exc} reached its renewal limit",
            text=f"A pull request tries to extend {exc} once more"
            + (f" (the limit is {limit})" if limit is not None else "")
            + "; it can't pass review: the findings must be fixed.",
            who=_people(requested_by=d) or e.actor,
            until=_until(d),
            why=_why(d),
            exception=exc,
            policy=d.get("policy"),
            severity="alert",
            # every evaluation of the PR records it again: people hear it once per PR
            key=f"{kind}:{e.repository}:{exc}:{e.pull_request}",
        )
    ]


# -- the table --------------------------------------------------------------------------------


def _renewal(e: AuditRecord) -> bool:
    return bool(e.details.get("renewal"))


def _past(e: AuditRecord) -> bool:
    """An entry removed after its deadline: the cleanup of an expiry already told, no revocation."""
    deadline = parse_expires(str(_until(e.details) or ""))
    return deadline is not None and deadline <= e.at


TRIGGERS: tuple[Trigger, ...] = (
    Trigger("command.exempt", "exception.requested", requested),
    Trigger("command.extend", "exception.renewal_requested", requested),
    Trigger("command.revoke", "exception.revocation_requested", requested),
    Trigger("exception.approved", "exception.approved", approved, when=lambda e: not _renewal(e)),
    Trigger("exception.approved", "exception.renewed", approved, when=_renewal),
    Trigger("exception.revoked", "exception.revoked", revoked, when=lambda e: not _past(e)),
    Trigger("exception.reminded", "exception.expiring", expiring),
    Trigger("cleanup.updated", "exception.expired", expired),
    Trigger("cleanup.updated", "cleanup.opened", cleanup_opened),
    Trigger("config.loosened", "config.loosened", config_loosened),
    # bypass signals
    Trigger("exception.ignored", "bypass.unapproved_exception", unapproved_ignored),
    Trigger("exception.merged_unapproved", "bypass.merged_without_approval", merged_unapproved),
    Trigger("status.forged", "bypass.forged_status", forged_status),
    Trigger("exception.renewal_capped", "bypass.renewal_cap_reached", renewal_capped),
    Trigger("config.merged_unapproved", "bypass.config_merged_without_approval", config_loosened),
)

KINDS: tuple[str, ...] = tuple(dict.fromkeys(t.kind for t in TRIGGERS))
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(k.split(".", 1)[0] for k in KINDS))
ALL = "*"


def notifications_for(event: AuditRecord, site: Site) -> list[Notification]:
    """What ``event`` makes people hear: nothing for most events."""
    out: list[Notification] = []
    for trigger in TRIGGERS:
        if trigger.action == event.action and trigger.when(event):
            out.extend(trigger.build(trigger.kind, event, site))
    return out


def kind_matches(pattern: str, kind: str) -> bool:
    """A route's ``kinds`` entry: a kind, a group (``bypass``, ``exception``...) or ``*``."""
    return pattern in (ALL, kind) or kind.startswith(f"{pattern}.")


def known_pattern(pattern: str) -> bool:
    return pattern == ALL or pattern in KINDS or pattern in GROUPS


# -- helpers ----------------------------------------------------------------------------------


def _note(
    kind: str,
    e: AuditRecord,
    site: Site,
    *,
    extra: Iterable[Link] = (),
    **fields: Any,
) -> Notification:
    fields.setdefault("pull_request", e.pull_request)
    fields.setdefault("sha", e.sha)
    number = fields["pull_request"]
    links: list[Link] = []
    if e.repository and number is not None:
        links.append(Link(f"Pull request #{number}", site.pull(e.repository, number)))
        links.append(Link("Checks", site.checks(e.repository, number)))
    elif e.repository and fields["sha"]:
        links.append(Link(f"Commit {fields['sha'][:7]}", site.commit(e.repository, fields["sha"])))
    links.extend(extra)
    if e.repository:
        links.append(Link(e.repository, site.repo(e.repository)))
    return Notification(
        kind=kind,
        at=e.at,
        seq=e.seq,
        repository=e.repository,
        links=tuple(links),
        **fields,
    )


def _until(details: dict[str, Any]) -> str | None:
    """The deadline as the exceptions file writes it (a date means through that day)."""
    return details.get("expires_as_written") or details.get("expires")


def _why(details: dict[str, Any]) -> str | None:
    reason, ticket = details.get("reason"), details.get("ticket")
    if reason and ticket:
        return f"{reason} (ticket {ticket})"
    return reason or (f"ticket {ticket}" if ticket else None)


def _people(
    *,
    approved_by: Iterable[str] | None = None,
    merged_by: str | None = None,
    requested_by: dict[str, Any] | None = None,
) -> str:
    parts = []
    requester = (requested_by or {}).get("requested_by")
    if requester:
        parts.append(f"requested by {requester}")
    if approved_by:
        parts.append(f"approved by {', '.join(approved_by)}")
    if merged_by:
        parts.append(f"merged by {merged_by}")
    return "; ".join(parts)
