"""fetch hygiene and source health: adaptive interval, body hash, moved/gone sources, operator notices

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("config_url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("body_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("interval_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("health", sa.String(length=16), nullable=False, server_default="ok"))
        batch_op.add_column(sa.Column("health_since", sa.DateTime(), nullable=True))
    op.execute("UPDATE sources SET config_url = url")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.alter_column("cluster_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("story_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stories_key"), ["key"], unique=False)
    op.create_table(
        "monitor_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_monitor_state")),
    )


def downgrade() -> None:
    op.drop_table("monitor_state")
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stories_key"))
    op.execute("DELETE FROM alerts WHERE cluster_id IS NULL OR story_id IS NULL")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.alter_column("story_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("cluster_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("sources", schema=None) as batch_op:
        for name in ("health_since", "health", "disabled_at", "interval_s", "body_hash", "config_url"):
            batch_op.drop_column(name)
