"""Tamper-evident audit log (issue 10): hash chain on audit_events, its head, signed checkpoints.

Existing events are chained in id order. The append-only triggers are dropped for the backfill
and recreated after it (on SQLite the table is rebuilt to make the new columns NOT NULL).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from bot.audit.chain import GENESIS, event_hash

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BATCH = 5000


def _drop_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")


def _create_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def _backfill() -> tuple[int, str]:
    events = sa.table(
        "audit_events",
        sa.column("id", sa.Integer),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String),
        sa.column("action", sa.String),
        sa.column("repository", sa.String),
        sa.column("pull_request", sa.Integer),
        sa.column("sha", sa.String),
        sa.column("details", sa.JSON),
        sa.column("seq", sa.BigInteger),
        sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
    )
    bind = op.get_bind()
    update = (
        events.update()
        .where(events.c.id == sa.bindparam("row_id"))
        .values(seq=sa.bindparam("s"), prev_hash=sa.bindparam("p"), hash=sa.bindparam("h"))
    )
    seq, head, last_id = 0, GENESIS, None
    while True:
        query = sa.select(events).order_by(events.c.id).limit(BATCH)
        if last_id is not None:
            query = query.where(events.c.id > last_id)
        rows = bind.execute(query).mappings().all()
        if not rows:
            return seq, head
        params = []
        for row in rows:
            seq += 1
            digest = event_hash(
                head,
                seq=seq,
                at=row["at"],
                actor=row["actor"],
                action=row["action"],
                repository=row["repository"],
                pull_request=row["pull_request"],
                sha=row["sha"],
                details=row["details"],
            )
            params.append({"row_id": row["id"], "s": seq, "p": head, "h": digest})
            head = digest
        bind.execute(update, params)
        last_id = rows[-1]["id"]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _drop_triggers(dialect)
    op.add_column("audit_events", sa.Column("seq", sa.BigInteger, nullable=True))
    op.add_column("audit_events", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("audit_events", sa.Column("hash", sa.String(64), nullable=True))
    size, head = _backfill()
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("seq", existing_type=sa.BigInteger, nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
        batch.create_index("ix_audit_events_seq", ["seq"], unique=True)
    _create_triggers(dialect)

    # One row: the end of the chain. Appenders lock it, so the chain grows one commit at a time.
    head_table = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head_table, [{"id": 1, "seq": size, "hash": head}])

    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("key_name", sa.String(255), nullable=False),
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_head")
    _drop_triggers(dialect)
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("ix_audit_events_seq")
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
    _create_triggers(dialect)
