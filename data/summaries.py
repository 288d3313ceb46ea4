"""Pre-aggregated summaries of ``performance``, kept current in the transaction that writes it.

The roll summary (``roll_summary``, :class:`data.schema.RollSummary`) holds, for every month
m whose month before (m-1) is stored, the DPD-bucket transitions m-1 → m of the loans active
at m-1, per region, product and segment: ``loans`` (count) and ``balance`` (Σ balance at
m-1, store currency). It is exactly ``data.delinquency.transition_select`` grouped by those
three columns, so a roll-rate or cure-rate read over all months sums a few hundred thousand
rows instead of self-joining the whole performance table.

**Freshness.** A marker row in ``store_settings`` (key :data:`ROLL_SUMMARY_KEY`) says how
the summary stands against ``performance``. Its value is JSON ``{"dirty": [month ends]}``:

* no row: the summary was never built (or cannot be trusted); readers use the live join;
* ``{"dirty": []}``: current; readers use the summary;
* ``{"dirty": ["2024-03-31", ...]}``: performance rows of those months changed since the
  summary was computed; readers use the live join until the months are refreshed.

Every write of ``performance`` records its months in the marker in the same transaction:
``data.bulk.insert_frame`` does it for every bulk insert (:func:`performance_changed`), the
importer for its month re-loads (in-place updates or deletes), ``data.store.clear_portfolio``
resets it. The importer then refreshes the months it loaded, and any left stale before
(:func:`sync_roll_summary`), in its own transaction, so an import stays all or nothing and
leaves the summary current; the demo generator does the same once after its last chunk.
Since the marker and the summary change in the transaction that changes ``performance``, a
reader never sees a summary that does not match the table it describes.

Concurrent writers on PostgreSQL are serialised by a transaction-level advisory lock taken
before the marker is read, so two imports cannot each refresh from a snapshot lacking the
other's rows. (DuckDB: one writing process; a write-write conflict fails one transaction.)

Everything is SQLAlchemy Core, the same statements on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from data.read import Filters, Scope, book_conditions, month_end, month_start
from data.schema import Performance, RollSummary, StoreSetting

__all__ = [
    "ROLL_SUMMARY_KEY",
    "SUMMARY_DIMENSIONS",
    "RefreshResult",
    "roll_summary_dirty",
    "roll_summary_is_current",
    "performance_changed",
    "refresh_roll_summary",
    "sync_roll_summary",
    "roll_summary_select",
]

log = logging.getLogger(__name__)

ROLL_SUMMARY_KEY = "roll_summary"
"""Key of the roll summary's freshness marker in ``store_settings``."""

SUMMARY_DIMENSIONS: tuple[str, ...] = ("region_code", "product", "segment")
"""Loan columns the roll summary is grouped by (all the filters and the scope apply to)."""

_MONTH_BY_MONTH = 4
"""Up to this many to months are recomputed one statement each; more in one VALUES join."""

_PG_LOCK_KEY = 0x4461_6948_6F75_5253  # "DaiHouRS": one advisory lock for the roll summary
P = Performance.__table__
S = RollSummary.__table__
K = StoreSetting.__table__


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did: the to months recomputed (``None`` = all), rows written, seconds."""

    months: tuple[dt.date, ...] | None
    rows: int
    seconds: float


def _lock(conn: sa.Connection) -> None:
    """Serialise summary maintenance across PostgreSQL sessions until this transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))


def _next_month(month: dt.date) -> dt.date:
    return month_end(month_end(month) + dt.timedelta(days=1))


def _previous_month(month: dt.date) -> dt.date:
    return month_start(month) - dt.timedelta(days=1)


def roll_summary_dirty(conn: sa.Connection) -> set[dt.date] | None:
    """The months whose performance rows changed since the summary was computed.

    Empty when the summary is current; ``None`` when it was never built (no marker, or a
    marker this version cannot read).
    """
    raw = conn.execute(sa.select(K.c.value).where(K.c.key == ROLL_SUMMARY_KEY)).scalar_one_or_none()
    if raw is None:
        return None
    try:
        return {dt.date.fromisoformat(m) for m in json.loads(raw)["dirty"]}
    except (ValueError, KeyError, TypeError):
        return None


def roll_summary_is_current(conn: sa.Connection) -> bool:
    """True when ``roll_summary`` matches ``performance`` (one small SELECT)."""
    return roll_summary_dirty(conn) == set()


def _write_marker(conn: sa.Connection, dirty: set[dt.date] | None) -> None:
    conn.execute(sa.delete(K).where(K.c.key == ROLL_SUMMARY_KEY))
    if dirty is not None:
        value = json.dumps({"dirty": sorted(m.isoformat() for m in dirty)})
        conn.execute(sa.insert(K).values(key=ROLL_SUMMARY_KEY, value=value))


def _month_ends(months: Iterable[object]) -> set[dt.date]:
    """Distinct month ends of date-like values (dates, Timestamps, numpy datetimes, ISO text)."""
    values = pd.unique(months if isinstance(months, pd.Series) else pd.Series(list(months), dtype=object))
    return {month_end(t.date()) for t in pd.to_datetime(pd.Series(values)).dropna()}


def performance_changed(conn: sa.Connection, months: Iterable[object] | None) -> None:
    """Record in the marker that performance rows of ``months`` were written or deleted.

    ``months`` may repeat and be any date-like values (the ``as_of`` column of a frame);
    ``None`` means months unknown: the summary is then marked never built (a full rebuild
    is needed). A summary never built stays so. Call it in the writing transaction.
    """
    _lock(conn)
    dirty = roll_summary_dirty(conn)
    if dirty is None:
        return
    if months is None:
        _write_marker(conn, None)
        return
    changed = _month_ends(months)
    if not changed <= dirty:
        _write_marker(conn, dirty | changed)


def _stored_months(conn: sa.Connection) -> list[dt.date]:
    return [r[0] for r in conn.execute(sa.select(P.c.as_of).distinct().order_by(P.c.as_of))]


def refresh_roll_summary(conn: sa.Connection, months: Iterable[dt.date] | None = None) -> RefreshResult:
    """Recompute the roll summary for the months whose performance rows changed, in SQL.

    A changed month M affects the pairs M-1 → M and M → M+1, so the to months M and M+1
    are deleted and re-inserted (``INSERT … SELECT`` of the live self-join grouped by
    region, product and segment). ``months=None`` rebuilds the whole summary (every to
    month m whose m-1 is stored). A summary never built is rebuilt whole whatever
    ``months`` says: a part alone would not make it current. The marker is updated: the
    refreshed months are no longer dirty. Runs on the caller's connection and inside the
    caller's transaction (commit or roll back with the data it describes).
    """
    from data.delinquency import transition_select  # (data.delinquency reads this module)

    t0 = time.perf_counter()
    _lock(conn)
    dirty = roll_summary_dirty(conn)
    full = months is None or dirty is None
    if full:
        to_months = sorted({_next_month(m) for m in _stored_months(conn)})
        conn.execute(sa.delete(S))
        changed: set[dt.date] = set()
    else:
        changed = _month_ends(months)
        to_months = sorted(changed | {_next_month(m) for m in changed})
        if to_months:
            conn.execute(sa.delete(S).where(S.c.as_of.in_(to_months)))
    # A few months one by one, with the months as constants the scans filter on (about twice
    # as fast as the VALUES join for one or two months at a million loans); more in one join.
    batches = [[m] for m in to_months] if len(to_months) <= _MONTH_BY_MONTH else [to_months]
    names = ["as_of", *SUMMARY_DIMENSIONS, "from_state", "to_state", "loans", "balance"]
    rows = 0
    for batch in batches if to_months else []:
        pairs = {_previous_month(m): m for m in batch}
        select = transition_select(pairs, "bucket", by=SUMMARY_DIMENSIONS, constant_pair=len(batch) == 1)
        result = conn.execute(sa.insert(S).from_select(names, select.order_by(None)))
        rows += max(result.rowcount or 0, 0)
    _write_marker(conn, set() if full else (dirty - changed))
    seconds = time.perf_counter() - t0
    log.info("roll summary: %s to months refreshed (%s), %d rows, %.2f s",
             len(to_months), "all" if full else ", ".join(m.isoformat() for m in to_months), rows, seconds)
    return RefreshResult(None if full else tuple(to_months), rows, seconds)


def sync_roll_summary(conn: sa.Connection) -> RefreshResult | None:
    """Bring the summary up to date: refresh its dirty months, or build it when never built.

    ``None`` when it was already current (one SELECT). In the caller's transaction.
    """
    _lock(conn)
    dirty = roll_summary_dirty(conn)
    if dirty == set():
        return None
    return refresh_roll_summary(conn, dirty)  # (None → a full build)


def roll_summary_select(scope: Scope, filters: Filters, to_months: Sequence[dt.date]) -> sa.Select:
    """The transition sums of ``to_months`` from the roll summary, in ``scope`` under ``filters``.

    Same columns and order as ``data.delinquency.transition_sums``: ``as_of`` (to month),
    ``from_state``, ``to_state``, ``loans`` (int), ``balance`` (float, store currency). The
    scope and the region / product / segment filters apply to the summary's own columns
    exactly as ``book_conditions`` applies them to the from rows of the live join. Only
    meaningful when :func:`roll_summary_is_current`.
    """
    keys = [S.c.as_of, S.c.from_state, S.c.to_state]
    return (
        sa.select(
            *keys,
            sa.cast(sa.func.sum(S.c.loans), sa.BigInteger).label("loans"),
            sa.cast(sa.func.sum(S.c.balance), sa.Double).label("balance"),
        )
        .where(S.c.as_of.in_(list(to_months)), *book_conditions(scope, filters, table=S, active_only=False, months=False))
        .group_by(*keys)
        .order_by(*keys)
    )
