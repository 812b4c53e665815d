"""Replaying the audit chain against its signed checkpoints: intact, or the first thing wrong.

The events are streamed in ``seq`` order (a server-side cursor on PostgreSQL), each hash is
recomputed from the event's content and the previous hash, and at every checkpoint's size the
chain must end in the hash the checkpoint signed. What is found first is named by the event's
``seq`` and ``id``:

- *changed*: an event's content no longer gives its stored hash;
- *removed*: a ``seq`` is missing;
- *reordered*: an event is not chained to the one before it (it follows another one);
- *rewritten*: the chain is consistent but differs from a checkpoint (rows changed and rehashed);
- *cut off*: the chain ends before a checkpoint's size, or before its own head.

Memory stays bounded: only the checkpoints (one per sealing period) are held, never the events.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, select, type_coerce

from bot.audit.chain import GENESIS, content, link, timestamp, utc
from bot.audit.checkpoints import Checkpoint, NoKey, Verifier
from bot.store import Store
from bot.store.tables import AuditCheckpoint, AuditEvent, AuditHead, AuditVerification

BATCH = 5000


@dataclass(frozen=True)
class Given:
    """A checkpoint from outside the database (a file or a URL), and where it came from."""

    checkpoint: Checkpoint
    source: str


@dataclass(frozen=True)
class Report:
    events: int
    checkpoints: int
    last: Checkpoint | None  # the largest checkpoint the chain matched
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem:
            return f"NOT intact: {self.problem}"
        if self.last is None:
            return f"intact: {self.events} events, no checkpoint yet"
        return (
            f"intact: {self.events} events, last checkpoint at {self.last.size} "
            f"signed by {self.last.key_name} (key {self.last.key_id}); "
            f"{self.checkpoints} checkpoints verified"
        )


def verify(store: Store, verifier: Verifier | None, given: Sequence[Given] = ()) -> Report:
    """Check every event and every checkpoint (stored, and ``given``); stop at the first
    problem. Without a ``verifier``, checkpoint signatures can't be checked: the caller must
    refuse when there are checkpoints."""
    with store.session() as session:  # read before the events: anything newer only adds
        head = session.get(AuditHead, 1)
        stored = [
            Given(Checkpoint.from_row(row), "stored")
            for row in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.size))
        ]
    seals = sorted([*stored, *given], key=lambda g: g.checkpoint.size)
    if seals and verifier is None:
        raise NoKey(
            "no public key to verify the checkpoints with: pass --public-key (this deployment's "
            "key is not in the data dir or COMPLIANCE_BOT_AUDIT_KEY)"
        )
    for seal in seals:
        if not _signed(seal.checkpoint, verifier):
            return Report(
                0,
                0,
                None,
                f"{_name(seal)}: its signature does not verify with "
                f"the public key given (forged, or signed by another key)",
            )
    return _replay(store, head, seals)


def scheduled(
    store: Store, verifier: Verifier, now: datetime, *, every: timedelta
) -> AuditVerification | None:
    """Verify the whole chain unless it was verified within ``every`` (any process may run
    this), and keep the result for the dashboard; returns it, or None when it was not due."""
    with store.session() as session:
        last = session.scalar(select(AuditVerification.at).order_by(AuditVerification.id.desc()))
    if last is not None and now - utc(last) < every:
        return None
    started = time.perf_counter()
    found = verify(store, verifier)
    row = AuditVerification(
        at=now,
        events=found.events,
        checkpoints=found.checkpoints,
        last_size=found.last.size if found.last else None,
        intact=found.intact,
        problem=found.problem,
        seconds=round(time.perf_counter() - started, 3),
    )
    with store.session() as session:
        session.add(row)
    return row


def latest_verification(store: Store) -> AuditVerification | None:
    with store.session() as session:
        return session.scalar(select(AuditVerification).order_by(AuditVerification.id.desc()))


def _signed(checkpoint: Checkpoint, verifier: Verifier | None) -> bool:
    if verifier is None:
        return False
    if not verifier.name:  # a bare PEM: the key signs under the name the note gives
        verifier = Verifier(checkpoint.key_name, verifier.public)
    return verifier.verifies(checkpoint)


def _name(seal: Given) -> str:
    where = "" if seal.source == "stored" else f" from {seal.source}"
    return f"the checkpoint at size {seal.checkpoint.size}{where}"


def _replay(store: Store, head: AuditHead | None, seals: list[Given]) -> Report:
    t = AuditEvent.__table__
    at: Any = t.c.at
    if store.engine.dialect.name == "sqlite":
        at = type_coerce(at, String)  # the stored text: reformatted below, not parsed
    query = select(
        t.c.id,
        t.c.seq,
        t.c.prev_hash,
        t.c.hash,
        at,
        t.c.actor,
        t.c.action,
        t.c.repository,
        t.c.pull_request,
        t.c.sha,
        t.c.details,
    )
    query = query.order_by(t.c.seq).execution_options(yield_per=BATCH)
    prev, expected, last_id = GENESIS, 1, None
    matched: Checkpoint | None = None
    count = i = 0

    def found(problem: str) -> Report:
        return Report(expected - 1, count, matched, problem)

    with store.session() as session:
        for row in session.execute(query):
            id_, seq, prev_hash, stored_hash = row[0], row[1], row[2], row[3]
            if seq != expected:
                gap = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
                after = f"seq {expected - 1} (id {last_id})" if last_id is not None else "start"
                return found(f"removed: {gap} missing; the chain jumps from {after} to {_at(row)}")
            if prev_hash != prev:
                return found(_broken_link(session, row))
            text = content(seq, _at_text(row[4]), row[5], row[6], row[7], row[8], row[9], row[10])
            if link(prev_hash, text) != stored_hash:
                return found(f"changed: {_at(row)} ({row[6]}) no longer matches its hash")
            prev, last_id = stored_hash, id_
            while i < len(seals) and seals[i].checkpoint.size == seq:
                if seals[i].checkpoint.hash != prev:
                    since = f"after seq {matched.size}" if matched else "from the start"
                    return found(
                        f"rewritten: the chain at {_at(row)} does not match {_name(seals[i])}; "
                        f"an event {since} up to seq {seq} was changed, removed or reordered, "
                        "and the hashes after it recomputed"
                    )
                matched, count, i = seals[i].checkpoint, count + 1, i + 1
            if head is not None and seq == head.seq and head.hash != prev:
                return found(f"rewritten: the chain at {_at(row)} does not end in its head's hash")
            expected += 1
    size = expected - 1
    end = f"seq {size} (id {last_id})" if last_id is not None else "nothing (no events)"
    if i < len(seals):
        seal = seals[i]
        return found(
            f"cut off: the chain ends at {end}, but {_name(seal)} signed by "
            f"{seal.checkpoint.key_name} vouches for {seal.checkpoint.size} events; "
            f"seq {size + 1}..{seal.checkpoint.size} were removed"
        )
    if head is not None and head.seq > size:
        return found(
            f"cut off: the chain ends at {end}, but its head records {head.seq} events; "
            f"seq {size + 1}..{head.seq} were removed"
        )
    return Report(size, count, matched)


def _at_text(value: datetime | str) -> str:
    """``chain.timestamp`` of a stored ``at``; SQLite's text (``2026-12-01 09:00:00.000000``,
    UTC) is only reshaped, which is most of the speed of a million-event replay."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":
            return f"{value[:10]}T{value[11:]}Z"
        value = datetime.fromisoformat(value)
    return timestamp(value)


def _at(row) -> str:  # type: ignore[no-untyped-def]
    return f"event seq {row.seq} (id {row.id})"


def _broken_link(session, row) -> str:  # type: ignore[no-untyped-def]
    """Why an event isn't chained to the one before it: find the event it was chained to."""
    t = AuditEvent.__table__
    origin = session.execute(select(t.c.seq, t.c.id).where(t.c.hash == row.prev_hash)).first()
    if origin is not None:
        return (
            f"reordered: {_at(row)} was written right after the event now at seq "
            f"{origin.seq} (id {origin.id}), not after seq {row.seq - 1}"
        )
    return (
        f"changed or removed: {_at(row)} is not chained to seq {row.seq - 1}; the event it "
        "followed was removed, or changed and rehashed"
    )
