"""Alembic environment: runs on the connection handed over by ``data.engine.upgrade``."""

from alembic import context

import data.engine  # noqa: F401  (registers the DuckDB implementation)
from data.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
