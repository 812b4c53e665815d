"""Approvals belong to a base branch and can be retired (issue 9: no resurrected opt-outs).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        # NULL: recorded before branches were kept; it counts for the default branch only
        batch.add_column(sa.Column("base_ref", sa.String(255), nullable=True))
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retired_by", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_column("retired_by")
        batch.drop_column("retired_at")
        batch.drop_column("base_ref")
