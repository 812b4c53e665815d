"""The web dashboard: exceptions as each sweep found them, their history by day, the report
behind each check, server-side sessions, scheduled verifications of the audit chain, and an
index for one repository's audit events by seq (in place of the one on repository alone).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exception_standing",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("forge", sa.String(16), nullable=False),
        sa.Column("repository", sa.String(255), nullable=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("exception_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("unused", sa.Boolean, nullable=False),
        sa.Column("policy", sa.String(64)),
        sa.Column("paths", sa.JSON, nullable=False),
        sa.Column("resources", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("ticket", sa.String(255)),
        sa.Column("requested_by", sa.String(255)),
        sa.Column("expires", sa.DateTime(timezone=True)),
        sa.Column("expires_text", sa.String(64)),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("approvers", sa.JSON, nullable=False),
        sa.Column("approval_pull_request", sa.Integer),
        sa.Column("approved_at", sa.DateTime(timezone=True)),
        sa.Column("renewal_count", sa.Integer, nullable=False),
        sa.Column("cleanup_pull_request", sa.Integer),
        sa.Column("problem", sa.Text),
        sa.Column("line", sa.Integer),
        sa.Column("swept_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_exception_standing_repo", "exception_standing", ["repository", "forge"])
    op.create_index(
        "ix_exception_standing_state_expires", "exception_standing", ["state", "expires"]
    )
    op.create_index("ix_exception_standing_policy", "exception_standing", ["policy"])
    op.create_table(
        "exception_history",
        sa.Column("forge", sa.String(16), primary_key=True),
        sa.Column("repository", sa.String(255), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("live", sa.Integer, nullable=False),
        sa.Column("expired", sa.Integer, nullable=False),
        sa.Column("unapproved", sa.Integer, nullable=False),
    )
    # covering: the overview's sums per day read the index alone (benchmarks/dashboard.py)
    op.create_index(
        "ix_exception_history_day",
        "exception_history",
        ["day", "repository", "live", "expired", "unapproved"],
    )
    op.create_table(
        "check_reports",
        sa.Column("forge", sa.String(16), primary_key=True),
        sa.Column("repository", sa.String(255), primary_key=True),
        sa.Column("head_sha", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("pull_request", sa.Integer),
        sa.Column("conclusion", sa.String(32)),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("report", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("forge", sa.String(16)),
        sa.Column("login", sa.String(255)),
        sa.Column("name", sa.String(255)),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("repositories", sa.JSON, nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("oauth_state", sa.String(64)),
        sa.Column("oauth_verifier", sa.String(128)),
        sa.Column("next_url", sa.String(2048)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_index("ix_audit_events_repository_seq", "audit_events", ["repository", "seq"])
    # its prefix, and worse: with both, SQLite picks this one for "these repositories, newest
    # first" and sorts every event of them to show fifty
    op.drop_index("ix_audit_events_repository", "audit_events")
    op.create_table(
        "audit_verifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("checkpoints", sa.Integer, nullable=False),
        sa.Column("last_size", sa.BigInteger),
        sa.Column("intact", sa.Boolean, nullable=False),
        sa.Column("problem", sa.Text),
        sa.Column("seconds", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_verifications")
    op.create_index("ix_audit_events_repository", "audit_events", ["repository"])
    op.drop_index("ix_audit_events_repository_seq", "audit_events")
    op.drop_table("web_sessions")
    op.drop_table("check_reports")
    op.drop_table("exception_history")
    op.drop_table("exception_standing")
