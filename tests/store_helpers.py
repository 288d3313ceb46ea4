"""Helpers for store tests that put rows into an older schema (before a migration)."""

from __future__ import annotations

import sqlalchemy as sa

from data.schema import Performance


def performance_without_cohort() -> sa.Table:
    """``performance`` as migrations 0001 and 0002 left it (no ``cohort`` column), for
    ``insert_frame`` into a store downgraded below 0003."""
    return sa.Table(
        "performance", sa.MetaData(),
        *(sa.Column(col.name, col.type) for col in Performance.__table__.columns if col.name != "cohort"),
    )
