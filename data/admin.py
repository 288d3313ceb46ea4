"""Loading a loan tape as a signed-in user: only administrators may, and every load is audited.

The Data page calls these, never the importer directly, so the role is checked in the data
layer whatever the page does:

* :func:`validate_as` runs the whole import (:func:`data.importer.load_tables`) inside a
  transaction that is **always rolled back**: the report has every rejection and, for a clean
  tape, the counts the load would write (new loans, unchanged loans, performance rows and the
  stored rows they would replace, per month in the notes). Nothing is kept, whatever happens.
* :func:`load_as` loads the files all or nothing (:func:`data.importer.load_files`) and writes
  an audit line (``import`` with the batch and its counts, or ``import_rejected`` with the
  number of problems). A load moves the store's data version (the newest batch id), which is
  part of every cached query's key, so every page shows the new data on its next run.

Both raise :class:`PermissionError` for a user who is not an administrator, after auditing
the attempt (``import_denied``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import sqlalchemy as sa

from data.config import settings
from data.importer import ImportReport, RawTable, load_files, load_tables, read_table
from data.store import store_region_set
from data.users import AppUser, audit

__all__ = ["ADMIN_ROLE", "can_load", "require_admin", "validate_as", "load_as"]

ADMIN_ROLE = "admin"
"""The only role that may load data."""

Progress = Callable[[float, str], None]


def can_load(user: AppUser) -> bool:
    """True when ``user`` may upload and load a loan tape."""
    return user.role == ADMIN_ROLE


def require_admin(engine: sa.Engine, user: AppUser, action: str) -> None:
    """Raise :class:`PermissionError` (and audit the attempt) unless ``user`` is an administrator."""
    if can_load(user):
        return
    with engine.begin() as conn:
        audit(conn, user.username, "import_denied", {"action": action, "role": user.role})
    raise PermissionError(f"only an administrator may {action} data (user {user.username!r} is {user.role})")


def _tables(tables: Mapping[str, RawTable | str | Path]) -> dict[str, RawTable]:
    return {name: v if isinstance(v, RawTable) else read_table(v, name) for name, v in tables.items()}


def validate_as(
    engine: sa.Engine,
    user: AppUser,
    tables: Mapping[str, RawTable | str | Path],
    *,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate one import without keeping anything: the report a load would give.

    ``tables`` maps table names to a :class:`~data.importer.RawTable` already read (the
    preview's) or to a file path. The import runs in full (validation, then the writes, so the
    counts are exact) inside a transaction that is rolled back in every case. ``batch_id`` of
    the report is None (no batch was kept).
    """
    require_admin(engine, user, "validate")
    raws = _tables(tables)
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            region_set = store_region_set(conn) or settings().region_set
            report = load_tables(
                conn, raws, region_set=region_set, currency=settings().currency,
                username=user.username, progress=progress,
            )
        finally:
            tx.rollback()
    report.batch_id = None
    return report


def load_as(
    engine: sa.Engine,
    user: AppUser,
    paths: Mapping[str, str | Path],
    *,
    progress: Progress | None = None,
) -> ImportReport:
    """Load the files of one import, all or nothing, as ``user``, and audit it.

    ``paths`` maps table names to files (CSV or Parquet). Returns the importer's report:
    ``ok`` with ``batch_id`` set when loaded, else the rejections (nothing was written).
    """
    require_admin(engine, user, "load")
    report = load_files(engine, dict(paths), username=user.username, progress=progress)
    detail: dict = {"files": {k: Path(v).name for k, v in paths.items()}}
    if report.ok:
        detail.update(
            batch_id=report.batch_id,
            **report.counts(),
            months=[m.isoformat() for m in report.months],
        )
    else:
        detail["problems"] = len(report.rejections)
    with engine.begin() as conn:
        audit(conn, user.username, "import" if report.ok else "import_rejected", detail)
    return report
