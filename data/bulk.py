"""Fast, transactional bulk writes of a DataFrame into a store table.

Row-by-row ``executemany`` is far too slow for millions of performance rows, so each
dialect gets its native bulk path, on the caller's connection (and so inside the
caller's transaction, which keeps an import all-or-nothing):

* DuckDB: the frame is registered as a view and copied with ``INSERT ... SELECT``;
* PostgreSQL (psycopg 3): ``COPY ... FROM STDIN``;
* any other dialect: SQLAlchemy ``executemany`` in chunks.

A write into ``performance`` also records its months as changed in the roll summary's
freshness marker (``data.summaries.performance_changed``), in the same transaction, so the
pre-aggregated summary is never read while it lags the table. A performance frame without
the ``cohort`` column (hand-made frames: the importer always writes it) gets it from the
stored loans (the last day of each loan's disbursement month).
"""

from __future__ import annotations

import itertools
import math
import uuid

import numpy as np
import pandas as pd
import sqlalchemy as sa

__all__ = ["insert_frame", "with_cohort"]


def _column_order(table: sa.Table, df: pd.DataFrame) -> list[str]:
    unknown = [c for c in df.columns if c not in table.c]
    if unknown:
        raise ValueError(f"{table.name}: no such column(s) {unknown}")
    return [c.name for c in table.columns if c.name in df.columns]


def insert_frame(conn: sa.Connection, table: sa.Table, df: pd.DataFrame) -> int:
    """Insert every row of ``df`` into ``table`` on ``conn``; return the row count.

    Columns of ``df`` must be columns of ``table`` (a subset is fine: the others take their
    defaults). Missing values (NaN, NaT, None, pd.NA) are written as NULL. Rows written into
    ``performance`` mark their months stale in the roll summary (``data.summaries``), and
    get their loan's ``cohort`` when the frame leaves it out (:func:`with_cohort`).
    """
    if df.empty:
        return 0
    if table.name == "performance":
        from data.summaries import performance_changed

        performance_changed(conn, df["as_of"] if "as_of" in df.columns else None)
        df = with_cohort(conn, table, df)
    cols = _column_order(table, df)
    df = df[cols]
    name = conn.dialect.name
    if name == "duckdb":
        _insert_duckdb(conn, table, df, cols)
    elif name == "postgresql" and conn.dialect.driver == "psycopg":
        _insert_postgres_copy(conn, table, df, cols)
    else:
        _insert_generic(conn, table, df)
    return len(df)


def with_cohort(conn: sa.Connection, table: sa.Table, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (performance rows) with ``cohort`` filled from the stored loans when it lacks it.

    The cohort is the last day of the loan's disbursement month (``loans.disbursement_date``
    2024-02-15 → 2024-02-29). Frames that already have the column, and tables without it (an
    older schema), are returned as they are. A row whose loan is not stored raises
    ``ValueError`` (insert the loans first, as the importer does).
    """
    if "cohort" not in table.c or "cohort" in df.columns or "loan_id" not in df.columns:
        return df
    from data.schema import Loan

    loans = Loan.__table__
    ids = pd.unique(df["loan_id"].dropna().astype(object))
    disbursed: dict[object, object] = {}
    for start in range(0, len(ids), 10_000):
        chunk = [str(i) for i in ids[start:start + 10_000]]
        stmt = sa.select(loans.c.loan_id, loans.c.disbursement_date).where(loans.c.loan_id.in_(chunk))
        disbursed.update((r[0], r[1]) for r in conn.execute(stmt))
    missing = [i for i in ids if str(i) not in disbursed]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise ValueError(
            f"performance: {len(missing):,} loan(s) not stored ({shown}); insert the loans first "
            "(a performance row's cohort comes from its loan's disbursement_date)"
        )
    dates = pd.to_datetime(df["loan_id"].astype(object).map(lambda i: disbursed.get(str(i))))
    return df.assign(cohort=(dates + pd.offsets.MonthEnd(0)).dt.date)


def _insert_duckdb(conn: sa.Connection, table: sa.Table, df: pd.DataFrame, cols: list[str]) -> None:
    raw = conn.connection.driver_connection  # the duckdb-engine ConnectionWrapper
    view = f"_daihou_bulk_{uuid.uuid4().hex}"
    raw.register(view, df)
    try:
        col_sql = ", ".join(f'"{c}"' for c in cols)
        raw.execute(f'INSERT INTO "{table.name}" ({col_sql}) SELECT {col_sql} FROM "{view}"')
    finally:
        try:
            raw.unregister(view)
        except Exception:  # the transaction is aborted: the view goes with the connection
            pass


def _copy_value(v: object) -> object:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v


def _insert_postgres_copy(conn: sa.Connection, table: sa.Table, df: pd.DataFrame, cols: list[str]) -> None:
    raw = conn.connection.driver_connection  # psycopg.Connection
    col_sql = ", ".join(f'"{c}"' for c in cols)
    date_cols = {c.name for c in table.columns if isinstance(c.type, sa.Date) and not isinstance(c.type, sa.DateTime)}
    frame = df.copy()
    for c in cols:
        if c in date_cols and pd.api.types.is_datetime64_any_dtype(frame[c]):
            frame[c] = frame[c].dt.date
    with raw.cursor() as cur:
        with cur.copy(f'COPY "{table.name}" ({col_sql}) FROM STDIN') as copy:
            for row in frame.itertuples(index=False, name=None):
                copy.write_row([_copy_value(v) for v in row])


def _insert_generic(conn: sa.Connection, table: sa.Table, df: pd.DataFrame) -> None:
    records = df.astype(object).where(df.notna(), None).to_dict("records")
    it = iter(records)
    while chunk := list(itertools.islice(it, 10_000)):
        conn.execute(table.insert(), chunk)
