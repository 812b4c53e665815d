"""Exactly once under concurrency and faults (issue 9): worker liveness, delivery lifecycle,
atomic exception ids, what each check relied on, forged statuses, refused-request counters.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("worker", sa.String(64), nullable=True))
        batch.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
        batch.alter_column("payload", existing_type=sa.Text, nullable=True)
        batch.create_index("ix_deliveries_received_at", ["received_at"])
    with op.batch_alter_table("check_records") as batch:
        batch.add_column(sa.Column("base_ref", sa.String(255), nullable=True))
        batch.add_column(sa.Column("relied_on", sa.JSON, nullable=True))
    with op.batch_alter_table("command_runs") as batch:
        batch.add_column(sa.Column("owner", sa.String(80), nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "exception_ids",
        sa.Column("forge", sa.String(16), primary_key=True),
        sa.Column("repository", sa.String(255), primary_key=True),
        sa.Column("exception_id", sa.String(64), primary_key=True),
        sa.Column("request", sa.String(128), nullable=False, unique=True),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "forged_statuses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("forge", sa.String(16), nullable=False),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("context", sa.String(255), nullable=False),
        sa.Column("creator", sa.String(255), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("status_id", sa.BigInteger, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("forge", "repository", "status_id"),
        sa.Index("ix_forged_statuses_head", "forge", "repository", "sha"),
    )
    op.create_table(
        "refused_requests",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("summarised", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_table("refused_requests")
    op.drop_table("forged_statuses")
    op.drop_table("exception_ids")
    with op.batch_alter_table("command_runs") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("owner")
    with op.batch_alter_table("check_records") as batch:
        batch.drop_column("relied_on")
        batch.drop_column("base_ref")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_received_at")
        batch.alter_column("payload", existing_type=sa.Text, nullable=False)
        batch.drop_column("queued_at")
        batch.drop_column("worker")
    op.drop_table("workers")
