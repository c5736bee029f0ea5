"""delivery policy: digests (digest_key), the age budget of rows that waited (budget_from), channel circuits

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest_key", sa.String(length=96), nullable=True))
        batch_op.add_column(sa.Column("budget_from", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_alerts_digest_key"), ["digest_key"], unique=False)
    op.create_table(
        "channel_states",
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("url_hash", sa.String(length=64), nullable=True),
        sa.Column("broken_at", sa.DateTime(), nullable=True),
        sa.Column("probe_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_states")),
    )


def downgrade() -> None:
    op.drop_table("channel_states")
    # The older relay knows neither state: folded and held rows become plain pending rows (none is lost).
    op.execute("UPDATE alerts SET status = 'pending' WHERE status IN ('digest', 'held')")
    op.execute("UPDATE alerts SET status = 'pending', lease_until = NULL "
               "WHERE status = 'sending' AND digest_key IS NOT NULL")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_digest_key"))
        batch_op.drop_column("budget_from")
        batch_op.drop_column("digest_key")
