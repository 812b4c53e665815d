"""Exceptions by state per repository, as the last deadline sweep found them (``bot.standing``);
indexes that let ``/metrics`` count deliveries and checks from an index alone.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exemption_states",
        sa.Column("forge", sa.String(16), primary_key=True),
        sa.Column("repository", sa.String(255), primary_key=True),
        sa.Column("state", sa.String(16), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("swept_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_index("ix_deliveries_status_event", "deliveries", ["status", "event"])
    op.create_index("ix_check_records_name_conclusion", "check_records", ["name", "conclusion"])


def downgrade() -> None:
    op.drop_index("ix_check_records_name_conclusion", "check_records")
    op.drop_index("ix_deliveries_status_event", "deliveries")
    op.drop_table("exemption_states")
