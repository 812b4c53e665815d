"""The comment commands: each one's grammar, permission and help, beside the data it parses to.

This is the one place a command is declared. Each class below is the typed result of parsing one
command line, and its ``SPEC`` says how the line is written (arguments and options, with the
shape check of each value), who may run it, and the help people read. The parser, the usage
lines, ``/compliance help`` and the README section are all generated from ``COMMANDS``, so adding
a command here is the whole of teaching the grammar about it (its handler lives with the other
handlers). The tuple is explicit: no registration happens as a side effect of importing.

Nothing here runs a command or checks it against the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from bot.commands.model import Argument, Command, Option, Permission, Spec
from bot.commands.values import (
    MAX_DAYS,
    check_exception_id,
    check_expires,
    check_glob,
    check_policy_id,
    check_resource,
    check_text,
    expires_text,
    resolve_expires,
)

MAX_REASON = 4000  # the exceptions schema's maxLength for reason
MAX_SCOPE_ITEMS = 20  # --paths / --resources in one command; more belong in a hand-made PR


def _check_topic(value: str) -> str | None:
    if lookup(value) is not None:
        return None
    return "is not a command; the commands are " + ", ".join(f"`{n}`" for n in names())


POLICY = Argument(
    "policy",
    "POLICY",
    "the policy's id, as the check names it, e.g. `k8s.privileged`",
    check_policy_id,
)
EXCEPTION_ID = Argument(
    "exception_id",
    "EXCEPTION-ID",
    "the exception's `id` in the exceptions file, e.g. `EXC-7`",
    check_exception_id,
)
EXPIRES_FORMS = (
    "a date (`2026-12-31`, through the end of that day, UTC), an RFC 3339 timestamp"
    f" (`2026-12-31T18:00:00Z`) or a number of days from today (`30d`, 1 to {MAX_DAYS});"
    " at most the policy's limit (90 days unless the policy says otherwise)"
)


def _expires(what: str) -> Option:
    help_text = f"{what}: {EXPIRES_FORMS}"
    return Option("expires", "DATE|Nd", help_text, check_expires, required=True, max_length=64)


def _reason(help_text: str, *, required: bool = True) -> Option:
    return Option("reason", "TEXT", help_text, check_text, required=required, max_length=MAX_REASON)


@dataclass(frozen=True, kw_only=True)
class Help(Command):
    SPEC: ClassVar[Spec] = Spec(
        name="help",
        permission=Permission.ANYONE,
        summary="Show the commands, or how to use one of them.",
        arguments=(
            Argument("topic", "COMMAND", "a command, e.g. `exempt`", _check_topic, required=False),
        ),
        examples=("/compliance help", "/compliance help exempt"),
    )
    topic: str | None = None


@dataclass(frozen=True, kw_only=True)
class Recheck(Command):
    SPEC: ClassVar[Spec] = Spec(
        name="recheck",
        permission=Permission.AUTHOR_OR_WRITE,
        summary=(
            "Evaluate the pull request again, with the policies and exceptions of its base"
            " branch as they are now, and update the `compliance` check."
        ),
        examples=("/compliance recheck",),
    )


@dataclass(frozen=True, kw_only=True)
class Explain(Command):
    SPEC: ClassVar[Spec] = Spec(
        name="explain",
        permission=Permission.ANYONE,
        summary=(
            "Explain a policy: what it checks and why, how to fix a finding, the standards it"
            " implements, and whether it allows exceptions (and for how long)."
        ),
        arguments=(POLICY,),
        examples=("/compliance explain k8s.privileged",),
    )
    policy: str


@dataclass(frozen=True, kw_only=True)
class ListExceptions(Command):
    SPEC: ClassVar[Spec] = Spec(
        name="list",
        permission=Permission.ANYONE,
        summary=(
            "List the repository's exceptions with their scope, owner and deadline, and which"
            " of them apply to this pull request."
        ),
        examples=("/compliance list",),
    )


@dataclass(frozen=True, kw_only=True)
class Exempt(Command):
    SPEC: ClassVar[Spec] = Spec(
        name="exempt",
        permission=Permission.WRITE,
        summary=(
            "Ask for an exception: the bot opens a pull request that adds an entry to"
            " `.compliance/exceptions.yaml` and asks the file's code owners to review it. It"
            " applies once a code owner approves it and it is merged."
        ),
        arguments=(POLICY,),
        options=(
            Option(
                "paths",
                "GLOB",
                "where it applies: a gitignore-style glob from the repository root, e.g."
                " `'deploy/app/**'` (quote globs); without it, the files in which this pull"
                " request has findings of the policy",
                check_glob,
                repeatable=True,
                max_count=MAX_SCOPE_ITEMS,
                max_length=1024,
            ),
            Option(
                "resources",
                "R",
                "narrows it to a resource, written as findings show it: `Kind/name` or"
                " `Kind/namespace/name`",
                check_resource,
                repeatable=True,
                max_count=MAX_SCOPE_ITEMS,
                max_length=512,
            ),
            _reason("why it is needed, at least 20 characters; quote it"),
            _expires("when it stops applying"),
            Option(
                "ticket",
                "ID",
                "a tracking ticket, e.g. `SEC-12` (required when the repository's"
                " configuration says so)",
                check_text,
            ),
        ),
        examples=(
            "/compliance exempt k8s.privileged --paths 'deploy/node-exporter/**'"
            ' --reason "node-exporter reads host metrics through hostPID" --expires 30d'
            " --ticket SEC-12",
            "/compliance exempt k8s.host-namespaces --resources DaemonSet/monitoring/node-exporter"
            ' --reason "scrapes every node\'s network metrics" --expires 2026-12-31',
        ),
    )
    policy: str
    paths: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    reason: str
    expires: str  # as typed; ``expires_at(now)`` resolves it
    ticket: str | None = None

    def expires_at(self, now: datetime) -> date | datetime:
        return resolve_expires(self.expires, now)

    def to_entry(
        self,
        *,
        entry_id: str,
        requested_by: str,
        now: datetime,
        paths: tuple[str, ...] | list[str] = (),
    ) -> dict[str, Any]:
        """The exceptions-file entry this command asks for, fields in the file's order.

        ``paths`` is used when the command named none (the caller passes the files with
        findings of the policy). The dict is what ``bot.exemptions.add_entry`` takes, and what
        the caller validates (``ExemptionEntry.from_mapping`` + ``entry_problems``) before
        opening a pull request; ``expires`` is written as in the file (``2026-12-31``).
        """
        entry: dict[str, Any] = {
            "id": entry_id,
            "policy": self.policy,
            "paths": list(self.paths or paths),
        }
        if self.resources:
            entry["resources"] = list(self.resources)
        entry["reason"] = self.reason
        if self.ticket is not None:
            entry["ticket"] = self.ticket
        entry["requested_by"] = requested_by
        entry["expires"] = expires_text(self.expires_at(now))
        return entry


@dataclass(frozen=True, kw_only=True)
class Extend(Command):
    SPEC: ClassVar[Spec] = Spec(
        name="extend",
        permission=Permission.WRITE,
        summary=(
            "Ask to move an exception's deadline: the bot opens a pull request that changes its"
            " `expires`. Like a new exception, it applies only once a code owner approves it."
        ),
        arguments=(EXCEPTION_ID,),
        options=(
            _expires("the new deadline"),
            _reason("why it needs more time; quote it"),
        ),
        examples=(
            '/compliance extend EXC-7 --expires 30d --reason "the upstream fix ships in v2.4"',
        ),
    )
    exception_id: str
    expires: str  # as typed; ``expires_at(now)`` resolves it
    reason: str

    def expires_at(self, now: datetime) -> date | datetime:
        return resolve_expires(self.expires, now)

    def new_expires(self, now: datetime) -> str:
        """The new ``expires`` as written in the exceptions file (``change_entry`` takes it)."""
        return expires_text(self.expires_at(now))


@dataclass(frozen=True, kw_only=True)
class Revoke(Command):
    SPEC: ClassVar[Spec] = Spec(
        name="revoke",
        permission=Permission.WRITE,
        summary=(
            "Ask to end an exception before its deadline: the bot opens a pull request that"
            " removes its entry."
        ),
        arguments=(EXCEPTION_ID,),
        options=(_reason("why it is no longer needed; quote it", required=False),),
        examples=('/compliance revoke EXC-7 --reason "node-exporter no longer needs hostPID"',),
    )
    exception_id: str
    reason: str | None = None


COMMANDS: tuple[type[Command], ...] = (
    Help,
    Recheck,
    Explain,
    ListExceptions,
    Exempt,
    Extend,
    Revoke,
)
"""Every command, in the order help lists them."""


def names() -> list[str]:
    return [command.SPEC.name for command in COMMANDS]


def lookup(name: str) -> type[Command] | None:
    """The command called ``name`` (any case), or None."""
    wanted = name.lower()
    return next((c for c in COMMANDS if c.SPEC.name == wanted), None)
