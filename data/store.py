"""Store-wide facts: the region set and currency fixed by the first load, and emptiness."""

from __future__ import annotations

import sqlalchemy as sa

from data.schema import Loan, Region, StoreSetting

__all__ = [
    "get_setting",
    "set_setting",
    "store_region_set",
    "is_empty",
    "RegionSetMismatch",
    "fix_region_set",
    "clear_portfolio",
]


class RegionSetMismatch(ValueError):
    """A load names another region set than the one the store was created with."""


def get_setting(conn: sa.Connection, key: str) -> str | None:
    """A store setting, or ``None`` when unset."""
    return conn.execute(sa.select(StoreSetting.value).where(StoreSetting.key == key)).scalar_one_or_none()


def set_setting(conn: sa.Connection, key: str, value: str) -> None:
    """Set (insert or replace) a store setting."""
    conn.execute(sa.delete(StoreSetting).where(StoreSetting.key == key))
    conn.execute(sa.insert(StoreSetting).values(key=key, value=value))


def store_region_set(conn: sa.Connection) -> str | None:
    """The store's region set name, or ``None`` for a store never loaded."""
    return get_setting(conn, "region_set")


def is_empty(conn: sa.Connection) -> bool:
    """True when no loan is stored."""
    return conn.execute(sa.select(Loan.loan_id).limit(1)).first() is None


def fix_region_set(conn: sa.Connection, name: str, currency: str, regions: list[dict]) -> None:
    """On the first load, record the region set and currency and write the regions table.

    ``regions`` rows have the columns of :class:`data.schema.Region` except ``region_set``.
    A later call with another set name raises :class:`RegionSetMismatch`; with the same
    name it does nothing.
    """
    current = store_region_set(conn)
    if current is not None:
        if current != name:
            raise RegionSetMismatch(
                f"This store uses the region set '{current}'; a load naming '{name}' is rejected. "
                f"Load with --region-set {current}, or start a new store (DAIHOU_DB_URL)."
            )
        return
    set_setting(conn, "region_set", name)
    set_setting(conn, "currency", currency)
    conn.execute(sa.delete(Region))
    if regions:
        conn.execute(sa.insert(Region), [{**r, "region_set": name} for r in regions])


def clear_portfolio(conn: sa.Connection) -> None:
    """Delete every loan-tape row, alert, import batch, summary and the store settings.

    Users, the audit log, saved scenarios and the provision policy (``policy.*`` settings,
    the bank's own minimums, not the portfolio's) stay. Used to replace the demo portfolio. The
    (empty) roll summary is then marked current again.
    """
    from data.schema import (
        Alert,
        Branch,
        CollectionCase,
        Customer,
        ImportBatch,
        Inspection,
        Performance,
        RollSummary,
    )
    from data.summaries import refresh_roll_summary

    from data.policy import SETTING_PREFIX

    for model in (Performance, RollSummary, CollectionCase, Inspection, Alert, Loan, Customer, Branch, Region, ImportBatch):
        conn.execute(sa.delete(model))
    conn.execute(sa.delete(StoreSetting).where(sa.not_(StoreSetting.key.startswith(SETTING_PREFIX, autoescape=True))))
    refresh_roll_summary(conn)  # nothing stored: an empty summary, marked current
