"""source gaps: Telegram posts that could not be recovered, counted on the source; alerts by creation time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gap_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("missed_posts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_gap", sa.Text(), nullable=True))
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_created_at"))
    with op.batch_alter_table("sources", schema=None) as batch_op:
        for name in ("last_gap", "missed_posts", "gap_count"):
            batch_op.drop_column(name)
