"""Table definitions. Changing one means writing a migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Delivery(Base):
    """One webhook delivery: recorded before it is queued, so nothing accepted is lost."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_event", "status", "event"),)  # /metrics

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # "<forge>:<delivery id>"
    forge: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    installation_id: Mapped[int | None] = mapped_column(BigInteger)
    repository: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # received (recorded, not yet on the queue), queued, running, done, failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str | None] = mapped_column(String(64))  # the process running it
    error: Mapped[str | None] = mapped_column(Text)
    # raw JSON, to run it again after a crash; None once pruned by retention
    payload: Mapped[str | None] = mapped_column(Text)


class Worker(Base):
    """A process that runs jobs (``serve`` or ``worker``), alive while its heartbeat is fresh.

    A delivery is ``running`` under one worker; it is taken over only when that worker is known
    dead (its heartbeat is stale, or it was this host's process and is gone), never on a timer
    alone, so a long job is never run twice at once.
    """

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditEvent(Base):
    """Append-only: the migrations install triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"
    # the dashboard's audit page: one repository's events newest first, a page at a time; it
    # also serves every lookup by repository alone (an index on repository alone would lead
    # SQLite to sort all of a person's repositories' events for one page)
    __table_args__ = (Index("ix_audit_events_repository_seq", "repository", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64), index=True)
    repository: Mapped[str | None] = mapped_column(String(255))
    pull_request: Mapped[int | None] = mapped_column(Integer)
    sha: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    # The hash chain (bot/audit/chain.py): filled in at commit, never by the ORM.
    seq: Mapped[int] = mapped_column(BigInteger, unique=True, index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row (id 1): the end of the audit chain, locked by each commit that appends to it."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement that the audit chain had ``size`` events ending in ``hash``."""

    __tablename__ = "audit_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(255))
    key_name: Mapped[str] = mapped_column(String(255))
    key_id: Mapped[str] = mapped_column(String(8))  # hex of the note format's 4-byte key id
    signature: Mapped[str] = mapped_column(String(128))  # base64 of the 64-byte Ed25519 signature
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class CheckRecord(Base):
    """The bot's check run for one head SHA and check name: updated in place, never duplicated."""

    __tablename__ = "check_records"
    __table_args__ = (
        UniqueConstraint("forge", "repository", "head_sha", "name"),
        Index("ix_check_records_name_conclusion", "name", "conclusion"),  # /metrics
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    forge: Mapped[str] = mapped_column(String(16))
    repository: Mapped[str] = mapped_column(String(255))
    head_sha: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    check_run_id: Mapped[int | None] = mapped_column(BigInteger)
    pull_request: Mapped[int | None] = mapped_column(Integer)
    conclusion: Mapped[str | None] = mapped_column(String(32))
    policies: Mapped[list] = mapped_column(JSON, default=list)  # policy ids with findings
    annotations: Mapped[list] = mapped_column(JSON, default=list)  # keys of annotations sent
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    base_ref: Mapped[str | None] = mapped_column(String(255))
    # what the verdict rested on: {"file": blob of the exceptions file at the base or None,
    # "applied": [{"id", "hash", "expires"}]}; a change to any of it (revoked, narrowed,
    # shortened, expired, a new exception) means the result must be judged again
    relied_on: Mapped[dict | None] = mapped_column(JSON)


class Installation(Base):
    __tablename__ = "installations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    forge: Mapped[str] = mapped_column(String(16), default="github")
    account: Mapped[str] = mapped_column(String(255))
    suspended: Mapped[bool] = mapped_column(default=False)
    repositories: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Lock(Base):
    """A named lock with an expiry (see ``bot.locks``)."""

    __tablename__ = "locks"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LedgerEntry(Base):
    """An exception entry whose exact content was approved in a merged pull request.

    The check honours an exception only if the hash of its content is here (provenance): an
    entry that reached the default branch any other way is ignored and reported.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("forge", "repository", "content_hash", "pull_request"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    forge: Mapped[str] = mapped_column(String(16))
    repository: Mapped[str] = mapped_column(String(255), index=True)
    exception_id: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    approvers: Mapped[list] = mapped_column(JSON, default=list)
    pull_request: Mapped[int] = mapped_column(Integer)
    merge_sha: Mapped[str] = mapped_column(String(64))
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    renewal_count: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16), default="merge")  # merge | rebuild
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the branch the approving PR merged into (None: recorded before branches were kept, counts
    # for the default branch); an approval holds only there
    base_ref: Mapped[str | None] = mapped_column(String(255))
    # set when the content left that branch's file (revoked, narrowed, renewed, cleaned up): a
    # later push of the same content is not approved by the old review
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_by: Mapped[str | None] = mapped_column(String(255))


class CommandRun(Base):
    """One comment command, run at most once: a redelivered or retried comment finds it here."""

    __tablename__ = "command_runs"

    forge: Mapped[str] = mapped_column(String(16), primary_key=True)
    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    comment_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    command: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # started, done, refused
    exception_id: Mapped[str | None] = mapped_column(String(64))  # allocated once, reused
    result: Mapped[dict] = mapped_column(JSON, default=dict)  # e.g. the PR it opened
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    owner: Mapped[str | None] = mapped_column(String(80))  # the delivery running it
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ExceptionId(Base):
    """An exception id handed to one request, never to another (atomic per repository)."""

    __tablename__ = "exception_ids"

    forge: Mapped[str] = mapped_column(String(16), primary_key=True)
    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    exception_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request: Mapped[str] = mapped_column(String(128), unique=True)  # forge:repo:comment#position
    allocated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ForgedStatus(Base):
    """A commit status named like one of the bot's checks, posted by someone else."""

    __tablename__ = "forged_statuses"
    __table_args__ = (
        UniqueConstraint("forge", "repository", "status_id"),
        Index("ix_forged_statuses_head", "forge", "repository", "sha"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    forge: Mapped[str] = mapped_column(String(16))
    repository: Mapped[str] = mapped_column(String(255))
    sha: Mapped[str] = mapped_column(String(64))
    context: Mapped[str] = mapped_column(String(255))
    creator: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(32))
    status_id: Mapped[int] = mapped_column(BigInteger)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RefusedRequests(Base):
    """Refused webhook requests counted per source and window: anonymous traffic can't grow
    the append-only audit log by more than one event per source and window."""

    __tablename__ = "refused_requests"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(255))
    summarised: Mapped[bool] = mapped_column(Boolean, default=False)


class ReminderSent(Base):
    """A reminder posted for one version (content hash) of an exception at one threshold."""

    __tablename__ = "reminders_sent"

    forge: Mapped[str] = mapped_column(String(16), primary_key=True)
    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    exception_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    days: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExemptionState(Base):
    """How many of a repository's exceptions were in each state (active, expiring, expired,
    unapproved, invalid) when its deadline sweep last ran; replaced by every sweep."""

    __tablename__ = "exemption_states"

    forge: Mapped[str] = mapped_column(String(16), primary_key=True)
    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    swept_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ApprovalSeen(Base):
    """The head a person's approval was given on, from the approval webhook: GitLab's approvals
    API lists who approved, not which commit, and an approval of an older head must not count."""

    __tablename__ = "approvals_seen"

    forge: Mapped[str] = mapped_column(String(16), primary_key=True)
    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    pull_request: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(255), primary_key=True)
    head_sha: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class NotifyCursor(Base):
    """How far a reader of the audit stream has got, by ``seq`` (the notifier: ``notify``)."""

    __tablename__ = "notify_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationRecord(Base):
    """One notification to one destination (``bot.notify.outbox``): made once, sent once."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("destination", "key", name="uq_notifications_destination_key"),
        Index("ix_notifications_status", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_seq: Mapped[int] = mapped_column(BigInteger, index=True)  # the audit event's seq
    kind: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(64))  # a name; never the URL
    key: Mapped[str] = mapped_column(String(255))  # "<seq>:<kind>", or a repeated signal's own
    repository: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # pending, sending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict] = mapped_column(JSON)  # the neutral notification (bot.notify.model)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str | None] = mapped_column(String(64))  # the process sending it
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)  # the last attempt's, naming no URL


class NotifyRoutes(Base):
    """A repository's notification routes as the bot last read them from its default branch
    (keyed by name, as audit events name a repository)."""

    __tablename__ = "notify_routes"

    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    routes: Mapped[list] = mapped_column(JSON, default=list)
    sha: Mapped[str | None] = mapped_column(String(64))  # the commit they were read at
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExceptionStanding(Base):
    """One exception of one base branch as the repository's last deadline sweep found it
    (``bot.standing``): what the web dashboard lists across repositories without reading a
    single exceptions file. Replaced, per repository, by every sweep."""

    __tablename__ = "exception_standing"
    __table_args__ = (
        Index("ix_exception_standing_repo", "repository", "forge"),  # IN (names), then forge
        Index("ix_exception_standing_state_expires", "state", "expires"),
        Index("ix_exception_standing_policy", "policy"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    forge: Mapped[str] = mapped_column(String(16))
    repository: Mapped[str] = mapped_column(String(255))
    branch: Mapped[str] = mapped_column(String(255))
    exception_id: Mapped[str] = mapped_column(String(64))
    # active, expiring, expired (awaiting cleanup), unapproved, invalid
    state: Mapped[str] = mapped_column(String(16))
    unused: Mapped[bool] = mapped_column(Boolean, default=False)  # applies, matches nothing
    policy: Mapped[str | None] = mapped_column(String(64))
    paths: Mapped[list] = mapped_column(JSON, default=list)
    resources: Mapped[list] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text)
    ticket: Mapped[str | None] = mapped_column(String(255))
    requested_by: Mapped[str | None] = mapped_column(String(255))
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_text: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    approvers: Mapped[list] = mapped_column(JSON, default=list)
    approval_pull_request: Mapped[int | None] = mapped_column(Integer)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    renewal_count: Mapped[int] = mapped_column(Integer, default=0)
    cleanup_pull_request: Mapped[int | None] = mapped_column(Integer)
    problem: Mapped[str | None] = mapped_column(Text)  # why an invalid entry is invalid
    line: Mapped[int | None] = mapped_column(Integer)  # of the exceptions file
    swept_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExceptionHistory(Base):
    """Exceptions by state per repository and day (UTC), the last sweep of the day winning:
    the dashboard's "live exceptions over time"."""

    __tablename__ = "exception_history"
    # covering: the overview's sums per day read the index alone, not a row per repository
    __table_args__ = (
        Index("ix_exception_history_day", "day", "repository", "live", "expired", "unapproved"),
    )

    forge: Mapped[str] = mapped_column(String(16), primary_key=True)
    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    live: Mapped[int] = mapped_column(Integer)  # active and expiring: the rules they bypass
    expired: Mapped[int] = mapped_column(Integer)
    unapproved: Mapped[int] = mapped_column(Integer)


class CheckReport(Base):
    """The full report behind one check on one head (the JSON report, zlib-compressed): what
    the check's "Details" link opens on the dashboard."""

    __tablename__ = "check_reports"

    forge: Mapped[str] = mapped_column(String(16), primary_key=True)
    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    head_sha: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    pull_request: Mapped[int | None] = mapped_column(Integer)
    conclusion: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(Text, default="")
    report: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class WebSession(Base):
    """A dashboard session, server-side: the cookie holds a random token, this row its SHA-256.

    A row without ``login`` is a sign-in under way (it holds the OAuth ``state``); signing in
    replaces it with a new row and a new token, so a token seen before sign-in is worth nothing
    after it."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    forge: Mapped[str | None] = mapped_column(String(16))
    login: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # the repositories this person may see, read from the forge at sign-in
    repositories: Mapped[list] = mapped_column(JSON, default=list)
    csrf: Mapped[str] = mapped_column(String(64))
    oauth_state: Mapped[str | None] = mapped_column(String(64))
    oauth_verifier: Mapped[str | None] = mapped_column(String(128))
    next_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditVerification(Base):
    """The result of one full verification of the audit chain (``bot.audit.verify``), run on a
    schedule: what the dashboard's audit page shows, since a million events take seconds."""

    __tablename__ = "audit_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    events: Mapped[int] = mapped_column(BigInteger)
    checkpoints: Mapped[int] = mapped_column(Integer)
    last_size: Mapped[int | None] = mapped_column(BigInteger)  # the largest checkpoint matched
    intact: Mapped[bool] = mapped_column(Boolean)
    problem: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(Float)
