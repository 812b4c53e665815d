"""Notifications (issue 10): the outbox fed from the audit stream, its cursor, and each
repository's routes as last read.

The cursor starts at the end of the stream as it is now: events from before notifications
existed are not told.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    cursor = op.create_table(
        "notify_cursor",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    )
    start = op.get_bind().execute(sa.text("SELECT MAX(seq) FROM audit_events")).scalar()
    op.bulk_insert(cursor, [{"name": "notify", "seq": start or 0}])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_seq", sa.BigInteger, nullable=False, index=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("repository", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(64), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.UniqueConstraint("destination", "key", name="uq_notifications_destination_key"),
        sa.Index("ix_notifications_status", "status", "next_attempt_at"),
    )
    op.create_table(
        "notify_routes",
        sa.Column("repository", sa.String(255), primary_key=True),
        sa.Column("routes", sa.JSON, nullable=False),
        sa.Column("sha", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notify_routes")
    op.drop_table("notifications")
    op.drop_table("notify_cursor")
