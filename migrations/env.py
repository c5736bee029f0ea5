"""Alembic environment: uses the engine news-monitor passes in, else sqlalchemy.url."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from monitor.store.schema import metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///var/news-monitor.db")

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
