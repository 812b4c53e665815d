"""The approval ledger: exception entries approved in merged pull requests.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("forge", sa.String(16), nullable=False),
        sa.Column("repository", sa.String(255), nullable=False, index=True),
        sa.Column("exception_id", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False, index=True),
        sa.Column("approvers", sa.JSON, nullable=False),
        sa.Column("pull_request", sa.Integer, nullable=False),
        sa.Column("merge_sha", sa.String(64), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewal_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("requested_by", sa.String(255)),
        sa.Column("source", sa.String(16), nullable=False, server_default="merge"),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("forge", "repository", "content_hash", "pull_request"),
    )


def downgrade() -> None:
    op.drop_table("ledger_entries")
