"""What a notification says, independent of where it goes: the neutral record every sink renders.

A :class:`Notification` is built from one audit event by the triggers (``bot.notify.triggers``)
and rendered by one template per sink (``slack``, ``teams``, ``webhook``). It carries the facts
people ask about (what, where, who, until when, why) and links; it holds no URL of a destination
and nothing about how it is sent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Severity = Literal["info", "warning", "alert"]


@dataclass(frozen=True)
class AuditRecord:
    """One event of the audit stream, as the triggers see it (no ORM object leaks into them)."""

    seq: int
    at: datetime
    actor: str
    action: str
    repository: str | None = None
    pull_request: int | None = None
    sha: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class Notification:
    kind: str  # e.g. exception.approved, bypass.forged_status (``triggers.KINDS``)
    title: str  # what happened, in one line
    text: str  # what it means, one or two sentences
    at: datetime  # when it happened (the audit event's time)
    seq: int  # the audit event it comes from
    repository: str | None = None
    pull_request: int | None = None
    branch: str | None = None
    sha: str | None = None
    who: str | None = None  # the people involved, in words ("requested by dev")
    until: str | None = None  # the deadline, as written in the exceptions file
    why: str | None = None  # the reason given, or what is wrong
    exception: str | None = None
    policy: str | None = None
    links: tuple[Link, ...] = ()
    severity: Severity = "info"
    # Notifications with the same key are one notification: sent once per destination. Most
    # keys are "<seq>:<kind>"; a signal repeated by many events (an ignored exception on every
    # check) has a key of its own, so it is told once.
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", f"{self.seq}:{self.kind}")

    def facts(self) -> list[tuple[str, str]]:
        """The labelled facts every template shows, in this order, empty ones left out."""
        where = self.repository or ""
        if self.pull_request is not None:
            where += f" #{self.pull_request}"
        if self.branch:
            where += f" ({self.branch})"
        if self.sha and self.pull_request is None:
            where += f" @ {self.sha[:7]}"
        exception = self.exception or ""
        if self.exception and self.policy:
            exception += f" ({self.policy})"
        elif self.policy:
            exception = self.policy
        rows = [
            ("Where", where.strip()),
            ("Exception" if self.exception else "Policy", exception),
            ("Who", self.who or ""),
            ("Until", self.until or ""),
            ("Why", self.why or ""),
            ("When", self.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ]
        return [(label, value) for label, value in rows if value]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.astimezone(UTC).isoformat()
        data["links"] = [asdict(link) for link in self.links]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notification:
        values = dict(data)
        values["at"] = datetime.fromisoformat(values["at"])
        values["links"] = tuple(Link(**link) for link in values.get("links", ()))
        return cls(**values)


@dataclass(frozen=True)
class Outgoing:
    """A rendered message: the exact bytes to POST and the headers to send with them."""

    body: bytes
    headers: dict[str, str]
