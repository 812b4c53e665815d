"""The head commit each approval was given on, where the forge does not say (GitLab).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approvals_seen",
        sa.Column("forge", sa.String(16), primary_key=True),
        sa.Column("repository", sa.String(255), primary_key=True),
        sa.Column("pull_request", sa.Integer, primary_key=True),
        sa.Column("login", sa.String(255), primary_key=True),
        sa.Column("head_sha", sa.String(64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("approvals_seen")
