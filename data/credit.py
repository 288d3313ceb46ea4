"""Credit risk reads: the PD model's training data and book, ECL and the stress test.

The maths lives in ``analytics.pd_model``, ``analytics.ecl`` and ``analytics.stress``; this
module holds the SQL (SQLAlchemy Core, the same statements on DuckDB and PostgreSQL) and
the wiring. Loan-level reads are allowed here because the maths is per loan: they select
only the needed columns, for the book of one month, in the caller's scope.

The PD model is the bank's one model: it is fitted on the whole store's history (every
region), so a regional head and the risk committee see the same PD for the same loan.
What a user sees of it stays in scope: :func:`loan_pd` scores only the loans in scope,
and :func:`pd_model_report` computes the held-out AUC, KS and calibration over the held-out
rows of the regions in scope (the training row count is the model's, store-wide).

Training set (one SQL statement): performing loan-months (active, dpd <= 90, not in an
NPL class) at every 3rd labelled month counted back from the latest one (every month when
there are six or fewer), where a month is labelled when the store holds 12 months after
it; the label is an ``EXISTS`` over the next 12 months (dpd > 90 or written off). When
there are more than ``MAX_TRAIN_ROWS`` candidate rows, whole loans are sampled
deterministically by the first six hex digits of ``md5(loan_id)`` (the same on both back
ends), so the sample is the same on every run.

Cache: the fitted model is kept until the next import: in memory and pickled under
``$DAIHOU_CACHE_DIR/models/`` (else ``<repo>/.cache/models/``), keyed by the store
(a hash of its URL) and its data version (``data.result_cache.data_version_key``: the
latest import batch's id and times, the number of loans and the latest month, so a store
recreated at the same path, or written without import batches, refits) and
:data:`MODEL_VERSION`. The pickle is the app's own file in its own cache
folder; nothing else is ever unpickled.

The ECL aggregates (:func:`ecl_by`, :func:`ecl_by_months`) are kept until the next import
too, per store, data version, month, scope, filters, grouping and parameters, in
``data.result_cache`` (Parquet under ``$DAIHOU_CACHE_DIR/ecl/``). So is the stress test's
scored book of a month (:func:`scored_book`: the whole book in the reader's scope, the
stress inputs and PD per loan, no ids; kind ``stress_book``): another region, product or
segment filter is cut from it in memory, so the stress page reads a month once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import pickle
import tempfile
import threading
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from analytics import ecl as ecl_math
from analytics import pd_model as pdm
from analytics import stress as stress_math
from analytics.classification import NPL_CLASSES
from data import read
from data.config import REPO_ROOT
from data.read import Filters, Scope
from data.result_cache import ResultCache, data_version_key, store_key
from data.schema import ImportBatch, Loan, Performance

__all__ = [
    "MODEL_VERSION",
    "MAX_TRAIN_ROWS",
    "LOAN_COLUMNS",
    "models_dir",
    "model_key",
    "training_frame",
    "transition_counts",
    "fit_model",
    "pd_model",
    "loan_book",
    "loan_pd",
    "pd_model_report",
    "loan_ecl",
    "ecl_by",
    "ecl_by_months",
    "STRESS_COLUMNS",
    "scored_book",
    "stress_book",
    "run_stress",
]

MODEL_VERSION = 1
"""Bumped when the features, the label or the sampling change: old cached models are ignored."""

MAX_TRAIN_ROWS = 500_000

LOAN_COLUMNS: tuple[str, ...] = (
    "loan_id",
    "customer_id",
    "region_code",
    "branch_id",
    "product",
    "segment",
    "balance",
    "dpd",
    "classification",
    "credit_score",
    "collateral_type",
    "collateral_value",
    "months_on_book",
    "remaining_months",
    "interest_rate",
)
"""Columns of :func:`loan_book` (and of :func:`loan_pd`, which adds ``pd_12m``)."""

P = Performance.__table__
L = Loan.__table__


# --- SQL helpers ---------------------------------------------------------------------------


def _month_index(col: sa.ColumnElement) -> sa.ColumnElement[int]:
    """year × 12 + month of a date column, as an integer (portable EXTRACT)."""
    return sa.cast(sa.extract("year", col), sa.Integer) * 12 + sa.cast(sa.extract("month", col), sa.Integer)


def _mi(d: dt.date) -> int:
    return d.year * 12 + d.month


def _mi_date(mi: int) -> dt.date:
    return read.month_end(dt.date((mi - 1) // 12, (mi - 1) % 12 + 1, 1))


def _money(col: sa.ColumnElement) -> sa.ColumnElement[float]:
    return sa.cast(col, sa.Double)


def _performing(table: sa.Table = P) -> list[sa.ColumnElement[bool]]:
    return [
        table.c.status == "active",
        table.c.dpd <= 90,
        sa.or_(table.c.classification.is_(None), table.c.classification.not_in(list(NPL_CLASSES))),
    ]


def _arrow(conn: sa.Connection, stmt: sa.Select) -> pa.Table:
    """Rows of ``stmt`` on DuckDB as an Arrow table, straight from its columnar result."""
    result = conn.execute(stmt)
    try:
        with warnings.catch_warnings():  # "makes an extra copy": still twice as fast as fetch_df
            warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
            return result.cursor.to_arrow_table()
    finally:
        result.close()


def _fetch(conn: sa.Connection, stmt: sa.Select) -> pd.DataFrame:
    """Rows of ``stmt`` as a DataFrame; on DuckDB straight from its columnar result (fast)."""
    if conn.dialect.name == "duckdb":
        return _arrow(conn, stmt).to_pandas()
    return read.read_frame(conn, stmt)


def _features_select(as_of_col: sa.ColumnElement) -> list[sa.ColumnElement]:
    return [
        P.c.region_code,
        P.c.product,
        P.c.segment,
        _money(P.c.outstanding_principal).label("balance"),
        P.c.dpd,
        P.c.credit_score,
        P.c.classification,
        L.c.collateral_type,
        _money(sa.func.coalesce(P.c.collateral_value, L.c.collateral_value)).label("collateral_value"),
        (_month_index(as_of_col) - _month_index(L.c.disbursement_date)).label("months_on_book"),
    ]


# --- the training data -----------------------------------------------------------------


def _all_months(conn: sa.Connection) -> list[dt.date]:
    return read.stored_months(conn, Scope.all(), Filters())


def training_frame(conn: sa.Connection, max_rows: int = MAX_TRAIN_ROWS) -> pd.DataFrame:
    """Labelled performing loan-months of the whole store (module docstring), ``pdm.TRAIN_COLUMNS``
    plus ``region_code``; empty when no month has 12 months of history after it."""
    months = _all_months(conn)
    empty = pd.DataFrame(columns=[*pdm.TRAIN_COLUMNS, "region_code"])
    if not months:
        return empty
    last = _mi(months[-1])
    labelled = [_mi(m) for m in months if _mi(m) + 12 <= last]
    sample = pdm.sample_months(labelled)
    if not sample:
        return empty
    dates = [_mi_date(m) for m in sample]
    conds = [P.c.as_of.in_(dates), *_performing()]
    n = conn.execute(sa.select(sa.func.count()).select_from(P).where(*conds)).scalar_one()
    if n > max_rows:
        threshold = int(16**6 * max_rows / n)
        conds.append(sa.func.substr(sa.func.md5(P.c.loan_id), 1, 6) < f"{threshold:06x}")
    bad = P.alias("later")
    horizon_end = sa.case({d: _mi_date(_mi(d) + 12) for d in dates}, value=P.c.as_of)
    label = sa.exists().where(
        bad.c.loan_id == P.c.loan_id,
        bad.c.as_of > P.c.as_of,
        bad.c.as_of <= horizon_end,
        sa.or_(bad.c.dpd > 90, bad.c.status == "written_off"),
    )
    stmt = (
        sa.select(
            *_features_select(P.c.as_of),
            _month_index(P.c.as_of).label("month_index"),
            sa.case((label, 1), else_=0).label("default_12m"),
        )
        .select_from(P.join(L, L.c.loan_id == P.c.loan_id))
        .where(*conds)
    )
    return _fetch(conn, stmt)


def transition_counts(conn: sa.Connection, max_months: int = 13) -> pd.DataFrame:
    """Month-to-month moves of performing loans over the latest ``max_months`` months, store-wide.

    Columns ``product``, ``from_state`` (0-3: current, 1-30, 31-60, 61-90), ``to_state``
    (the same, 4 default = dpd > 90 or written off, 5 closed) and ``loans``; a loan without
    a row the next month is left out.
    """
    months = _all_months(conn)
    if len(months) < 2:
        return pd.DataFrame(columns=["product", "from_state", "to_state", "loans"])
    first = months[-max_months:][0]
    state = sa.case(
        (sa.or_(P.c.status == "written_off", P.c.dpd > 90), 4),
        (P.c.status == "closed", 5),
        (P.c.dpd == 0, 0),
        (P.c.dpd <= 30, 1),
        (P.c.dpd <= 60, 2),
        else_=3,
    )
    performing = sa.and_(*_performing())
    s = (
        sa.select(P.c.loan_id, P.c.product, _month_index(P.c.as_of).label("mi"), state.label("state"),
                  sa.case((performing, 1), else_=0).label("performing"))
        .where(P.c.as_of >= first)
        .cte("s")
    )
    s1 = s.alias("s1")
    stmt = (
        sa.select(s.c.product, s.c.state.label("from_state"), s1.c.state.label("to_state"), sa.func.count().label("loans"))
        .select_from(s.join(s1, sa.and_(s1.c.loan_id == s.c.loan_id, s1.c.mi == s.c.mi + 1)))
        .where(s.c.performing == 1)
        .group_by(s.c.product, s.c.state, s1.c.state)
        .order_by(s.c.product, s.c.state, s1.c.state)
    )
    return read.read_frame(conn, stmt)


# --- the model and its cache ----------------------------------------------------------------


def models_dir() -> Path:
    """``$DAIHOU_CACHE_DIR/models`` or ``<repo>/.cache/models``."""
    base = os.environ.get("DAIHOU_CACHE_DIR")
    return (Path(base) if base else REPO_ROOT / ".cache") / "models"


def model_key(conn: sa.Connection) -> str:
    """Cache key of the store's current data (module docstring), as a hex digest."""
    raw = f"{MODEL_VERSION}|{store_key(conn)}|{data_version_key(conn)}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def fit_model(conn: sa.Connection) -> pdm.PdModel:
    """Fit the PD model on the store now (no cache); ``meta`` records timings and counts."""
    t0 = time.perf_counter()
    train = training_frame(conn)
    t1 = time.perf_counter()
    transitions = None
    n_def = int(train["default_12m"].sum()) if len(train) else 0
    if len(train) == 0 or n_def < pdm.MIN_CLASS_ROWS or len(train) - n_def < pdm.MIN_CLASS_ROWS:
        transitions = transition_counts(conn)
    model = pdm.fit_pd_model(train, transitions)
    model.meta.update(
        fitted_at=dt.datetime.now().isoformat(timespec="seconds"),
        read_seconds=round(t1 - t0, 3),
        fit_seconds=round(time.perf_counter() - t1, 3),
        data_version=conn.execute(sa.select(sa.func.max(ImportBatch.batch_id))).scalar_one(),
    )
    return model


_memory: dict[str, pdm.PdModel] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def pd_model(conn: sa.Connection, *, refit: bool = False) -> pdm.PdModel:
    """The store's PD model: from memory, else from the disk cache, else fitted and cached."""
    key = model_key(conn)
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:  # one fit per key at a time (several app sessions may ask at once)
        if not refit and key in _memory:
            return _memory[key]
        path = models_dir() / f"pd-{key}.pkl"
        if not refit and path.is_file():
            try:
                with path.open("rb") as fh:
                    model = pickle.load(fh)
                _memory[key] = model
                return model
            except Exception:  # a partial or stale file: fit again
                pass
        model = fit_model(conn)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pd-", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        _memory.clear()  # keep one model in memory: the store's current one
        _memory[key] = model
        return model


# --- the book, scored -----------------------------------------------------------------------


def _resolve_month(conn: sa.Connection, scope: Scope, filters: Filters, as_of: dt.date | None) -> dt.date | None:
    if as_of is not None:
        return read.month_end(as_of)
    if filters.as_of is not None:
        return read.month_end(filters.as_of)
    months = read.stored_months(conn, scope, filters)  # every month; the range is applied here
    if filters.start is not None:
        months = [m for m in months if m >= read.month_end(filters.start)]
    if filters.end is not None:
        months = [m for m in months if m <= read.month_end(filters.end)]
    return months[-1] if months else None


def _book_expressions() -> dict[str, sa.ColumnElement]:
    """Each column of :data:`LOAN_COLUMNS` as an expression on ``performance`` ⋈ ``loans``."""
    return {
        "loan_id": P.c.loan_id,
        "customer_id": L.c.customer_id,
        "region_code": P.c.region_code,
        "branch_id": P.c.branch_id,
        "product": P.c.product,
        "segment": P.c.segment,
        "balance": _money(P.c.outstanding_principal),
        "dpd": P.c.dpd,
        "classification": P.c.classification,
        "credit_score": P.c.credit_score,
        "collateral_type": L.c.collateral_type,
        "collateral_value": _money(sa.func.coalesce(P.c.collateral_value, L.c.collateral_value)),
        "months_on_book": _month_index(P.c.as_of) - _month_index(L.c.disbursement_date),
        "remaining_months": _month_index(L.c.maturity_date) - _month_index(P.c.as_of),
        "interest_rate": sa.cast(L.c.interest_rate, sa.Double),
    }


def _book_statement(scope: Scope, filters: Filters, names: tuple[str, ...]) -> sa.Select:
    """SELECT the columns ``names`` (of :data:`LOAN_COLUMNS`) of the book in ``scope`` under
    ``filters`` (one month: ``filters.as_of``), one row per loan, sorted by ``loan_id``."""
    cols = _book_expressions()
    return (
        sa.select(*(cols[n].label(n) for n in names))
        .select_from(P.join(L, L.c.loan_id == P.c.loan_id))
        .where(*read.book_conditions(scope, filters))
        .order_by(P.c.loan_id)
    )


def loan_book(conn: sa.Connection, scope: Scope, filters: Filters, as_of: dt.date | None = None) -> pd.DataFrame:
    """The book (active loans) in scope at one month, one row per loan, ``LOAN_COLUMNS``.

    The month is ``as_of``, else ``filters.as_of``, else the latest stored month in scope
    within ``filters.start``..``filters.end``; regions, products and segments of
    ``filters`` apply. Money in store currency,
    ``collateral_value`` = latest valuation (the origination value when none is stored),
    ``months_on_book`` and ``remaining_months`` (to the maturity month, may be <= 0) in
    whole months, ``interest_rate`` a fraction. Sorted by ``loan_id``; the month is in
    ``attrs["as_of"]``.
    """
    month = _resolve_month(conn, scope, filters, as_of)
    if month is None:
        out = pd.DataFrame(columns=list(LOAN_COLUMNS))
        out.attrs["as_of"] = None
        return out
    stmt = _book_statement(scope, replace(filters, as_of=month, start=None, end=None), LOAN_COLUMNS)
    out = _fetch(conn, stmt)
    out.attrs["as_of"] = month
    return out


def loan_pd(conn: sa.Connection, scope: Scope, filters: Filters, as_of: dt.date | None = None) -> pd.DataFrame:
    """Each loan's 12-month PD at a month: :func:`loan_book` plus ``pd_12m`` (a fraction).

    ``pd_12m`` is 1 for loans > 90 DPD or in an NPL class, NaN when the store has too
    little history for any PD (method ``none``). ``attrs``: ``as_of``, ``pd_method``
    (logistic, roll_rate_chain or none).
    """
    book = loan_book(conn, scope, filters, as_of)
    model = pd_model(conn)
    book["pd_12m"] = pdm.predict_pd(model, book) if len(book) else pd.Series(dtype=float)
    book.attrs["pd_method"] = model.method
    return book


def _none_if_nan(v: object) -> object:
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: _none_if_nan(v) for k, v in row.items()} for row in df.to_dict("records")]


def pd_model_report(conn: sa.Connection, scope: Scope, as_of: dt.date | None = None) -> dict:
    """How the PD model was built and how it validates, in scope.

    Returns a dict: ``method``, ``fallback_used``, ``fallback_reason``; ``auc``, ``ks``
    (held-out months, rows of the regions in scope; None when not computable),
    ``n_train`` / ``n_train_defaults`` (store-wide), ``n_test`` / ``n_test_defaults`` (in
    scope), ``train_months`` / ``test_months`` (YYYY-MM-DD), ``calibration`` (list of
    {decile, rows, defaults, mean_pd, observed_rate} on the held-out rows in scope),
    ``coefficients`` (logistic: {feature, coefficient}), ``chain`` (fallback: {product,
    bucket, pd_12m}), ``fitted_at``, ``read_seconds``, ``fit_seconds``, ``data_version``,
    and ``book``: at ``as_of`` (default the latest month in scope) the loans, balance,
    mean PD and balance-weighted PD of the book in scope.
    """
    model = pd_model(conn)
    v = model.validation
    keep = np.array([scope.allows(r) if r is not None else scope.regions is None for r in model.test_region], dtype=bool)
    y, p = model.test_y[keep], model.test_p[keep]
    report: dict = {
        "method": model.method,
        "fallback_used": model.method != "logistic",
        "fallback_reason": model.fallback_reason,
        "auc": _none_if_nan(pdm.auc(y, p)) if len(y) else None,
        "ks": _none_if_nan(pdm.ks(y, p)) if len(y) else None,
        "n_train": int(v.get("n_train", 0)),
        "n_train_defaults": int(v.get("n_train_defaults", 0)),
        "n_test": int(len(y)),
        "n_test_defaults": int(y.sum()) if len(y) else 0,
        "train_months": [_mi_date(m).isoformat() for m in v.get("train_months", [])],
        "test_months": [_mi_date(m).isoformat() for m in v.get("test_months", [])],
        "calibration": _records(pdm.calibration_table(y, p)),
        "coefficients": (
            [{"feature": n, "coefficient": float(c)} for n, c in zip(model.spec.names, model.coef)]
            + [{"feature": "intercept", "coefficient": float(model.intercept)}]
            if model.method == "logistic"
            else []
        ),
        "chain": _records(model.chain) if model.chain is not None else [],
        **{k: _none_if_nan(model.meta.get(k)) for k in ("fitted_at", "read_seconds", "fit_seconds", "data_version")},
    }
    book = scored_book(conn, scope, Filters(), as_of)  # the stress page's book, cached
    bal = book["balance"].to_numpy(dtype=np.float64) if len(book) else np.zeros(0)
    pds = book["pd_12m"].to_numpy(dtype=np.float64) if len(book) else np.zeros(0)
    report["book"] = {
        "as_of": book.attrs["as_of"].isoformat() if book.attrs.get("as_of") else None,
        "loans": int(len(book)),
        "balance": float(bal.sum()),
        "mean_pd": _none_if_nan(float(pds.mean())) if len(pds) else None,
        "balance_weighted_pd": _none_if_nan(float((pds * bal).sum() / bal.sum())) if bal.sum() > 0 else None,
    }
    return report


# --- ECL -------------------------------------------------------------------------------------


def loan_ecl(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    as_of: dt.date | None = None,
    config: ecl_math.EclConfig = ecl_math.DEFAULT_ECL,
) -> pd.DataFrame:
    """Per-loan IFRS 9 stage, PD used, LGD, EAD and ECL (``analytics.ecl.loan_ecl``) of the book."""
    book = loan_pd(conn, scope, filters, as_of)
    out = ecl_math.loan_ecl(book, config)
    out.attrs.update(book.attrs)
    return out


def ecl_by(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    by: tuple[str, ...] = (),
    as_of: dt.date | None = None,
    config: ecl_math.EclConfig = ecl_math.DEFAULT_ECL,
) -> pd.DataFrame:
    """ECL by stage and by ``by`` (region_code, branch_id, product, segment): loans, balance,
    ecl, coverage (ECL ÷ balance); see ``analytics.ecl.ecl_summary``. The month as in
    :func:`loan_book`; computed by :func:`ecl_by_months` (cached until the next import)."""
    _check_by(by)
    month = _resolve_month(conn, scope, filters, as_of)
    if month is None:
        return pd.DataFrame(columns=[*by, "stage", "loans", "balance", "ecl", "coverage"])
    out = ecl_by_months(conn, scope, filters, by, [month], config)
    return out.drop(columns="as_of")


def _check_by(by: tuple[str, ...]) -> None:
    bad = [d for d in by if d not in read.DIMENSIONS]
    if bad:
        raise ValueError(f"cannot group ECL by {bad}; choose from {read.DIMENSIONS}")


def _books_of_months(conn: sa.Connection, scope: Scope, filters: Filters, months: list[dt.date],
                     by: tuple[str, ...]) -> pd.DataFrame:
    """The books (active loans in scope under the filters' regions, products and segments) of
    ``months`` in one statement: ``month_index``, the ``by`` columns and what the PD model and
    the ECL need (as :func:`loan_book`), unordered; text columns as pandas categoricals, so
    the per-category look-ups of the maths factorise integer codes, not strings."""
    f = replace(filters, as_of=None, start=None, end=None)
    exprs = _book_expressions()
    needed = ("product", "segment", "balance", "dpd", "classification", "credit_score", "collateral_type",
              "collateral_value", "months_on_book", "remaining_months")
    cols = {"month_index": _month_index(P.c.as_of), **{d: exprs[d] for d in (*by, *needed)}}
    stmt = (
        sa.select(*(c.label(name) for name, c in cols.items()))
        .select_from(P.join(L, L.c.loan_id == P.c.loan_id))
        .where(*read.book_conditions(scope, f, months=False), P.c.as_of.in_(months))
    )
    if conn.dialect.name == "duckdb":
        return _arrow(conn, stmt).to_pandas(strings_to_categorical=True)
    frame = read.read_frame(conn, stmt)
    text = ["classification", "collateral_type", *{d for d in ("product", "segment", *by)}]
    return frame.astype({c: "category" for c in text})


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns back to their categories' dtype (as :func:`loan_book` gives them)."""
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].astype(frame[c].cat.categories.dtype)
    return frame


_ECL_CACHE = ResultCache("ecl", version=1)
"""ECL aggregates per month (``ecl_by_months``), until the next import (``data.result_cache``)."""


def ecl_by_months(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    by: tuple[str, ...] = (),
    months: list[dt.date] | tuple[dt.date, ...] = (),
    config: ecl_math.EclConfig = ecl_math.DEFAULT_ECL,
    *,
    use_cache: bool = True,
) -> pd.DataFrame:
    """:func:`ecl_by` for several months at once: ``as_of`` plus its columns, by month.

    ``months`` are month ends (any day of the month); the filters' regions, products and
    segments apply, their months do not. The books of the months not cached are read in
    one statement, scored with :func:`pd_model` and passed to ``analytics.ecl``; each
    month's result is cached (``data.result_cache``) under the store, its data version, the
    month, the scope, the filters, ``by``, ``config`` and :data:`MODEL_VERSION`, so a new
    import recomputes. Rows sorted by month, then ``by`` and stage; a month without a book
    has no rows.
    """
    by = tuple(by)
    _check_by(by)
    wanted = sorted({read.month_end(m) for m in months})
    cols = ["as_of", *by, "stage", "loans", "balance", "ecl", "coverage"]
    parts = {
        "scope": None if scope.regions is None else sorted(scope.regions),
        "filters": [sorted(filters.regions), sorted(filters.products), sorted(filters.segments)],
        "by": list(by),
        "config": repr(config),
        "model": MODEL_VERSION,
    }
    found: dict[dt.date, pd.DataFrame] = {}
    keys: dict[dt.date, tuple[str, str]] = {}
    if use_cache:
        keys = dict(zip(wanted, _ECL_CACHE.keys(conn, [{**parts, "month": m.isoformat()} for m in wanted])))
        for m in wanted:
            hit = _ECL_CACHE.get(keys[m][1])
            if hit is not None:
                found[m] = hit
    todo = [m for m in wanted if m not in found]
    if todo:
        book = _books_of_months(conn, scope, filters, todo, by)
        if len(book):
            book["pd_12m"] = pdm.predict_pd(pd_model(conn), book)
            loans = ecl_math.loan_ecl(book, config)
            summary = _plain(ecl_math.ecl_summary(loans, ("month_index", *by)))
        else:
            summary = pd.DataFrame(columns=["month_index", *cols[1:]])
        for m in todo:
            part = summary.loc[summary["month_index"] == _mi(m)].drop(columns="month_index").reset_index(drop=True)
            part.insert(0, "as_of", m)
            found[m] = part[cols]
            if use_cache:
                _ECL_CACHE.put(*keys[m], found[m])
    frames = [found[m] for m in wanted if len(found[m])]
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)


# --- stress test ------------------------------------------------------------------------------

STRESS_COLUMNS: tuple[str, ...] = (*stress_math.BOOK_COLUMNS,)
"""Columns of :func:`scored_book`: what ``analytics.stress.prepare_book`` needs, ``pd_12m`` included."""

_TEXT_COLUMNS: tuple[str, ...] = ("region_code", "product", "segment", "classification", "collateral_type")
"""The few-valued text columns of :func:`scored_book`, kept as pandas categoricals."""

_SCORED_INPUTS: tuple[str, ...] = (*_TEXT_COLUMNS, "balance", "dpd", "credit_score", "collateral_value", "months_on_book")
"""What :func:`scored_book` reads: the stress inputs and the PD model's features."""


def _fetch_categorical(conn: sa.Connection, stmt: sa.Select, text: tuple[str, ...]) -> pd.DataFrame:
    """:func:`_fetch` with the ``text`` columns as pandas categoricals (on DuckDB dictionary-
    encoded in Arrow before the conversion): the maths factorises their integer codes, in
    the order of first appearance as for strings, so every result is the same."""
    if conn.dialect.name != "duckdb":
        return read.read_frame(conn, stmt).astype({c: "category" for c in text})
    table = _arrow(conn, stmt)
    columns = [pc.dictionary_encode(table.column(n)) if n in text else table.column(n) for n in table.column_names]
    return pa.table(columns, names=table.column_names).to_pandas()


_BOOK_CACHE = ResultCache("stress_book", version=1, max_memory=6)
"""The scored book of a month and scope (:func:`scored_book`), until the next import
(``data.result_cache``). At 1M loans a month's book is some 520,000 rows, about 25 MB in
memory and 10 MB of Parquet; it holds no loan or customer ids."""


def _scope_book(conn: sa.Connection, scope: Scope, month: dt.date) -> pd.DataFrame:
    """The whole book in ``scope`` at ``month`` (no region, product or segment filter), sorted
    by ``loan_id`` (as :func:`loan_book`), :data:`STRESS_COLUMNS`, scored by :func:`pd_model`."""
    stmt = _book_statement(scope, Filters(as_of=month), _SCORED_INPUTS)
    frame = _fetch_categorical(conn, stmt, _TEXT_COLUMNS)
    model = pd_model(conn)
    frame["pd_12m"] = pdm.predict_pd(model, frame) if len(frame) else pd.Series(dtype=float)
    return frame[list(STRESS_COLUMNS)]


def _within_filters(book: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The rows of ``book`` in the filters' regions, products and segments (order kept), as a
    new frame (the cached one is shared and being written)."""
    keep = np.ones(len(book), dtype=bool)
    for column, values in (("region_code", filters.regions), ("product", filters.products), ("segment", filters.segments)):
        if values:
            keep &= book[column].isin(list(values)).to_numpy(dtype=bool)
    return book.copy(deep=False) if keep.all() else book.loc[keep].reset_index(drop=True)


def scored_book(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    as_of: dt.date | None = None,
    *,
    use_cache: bool = True,
) -> pd.DataFrame:
    """The book in scope at a month under the filters, scored: :data:`STRESS_COLUMNS`.

    The same rows, order (by ``loan_id``) and values as :func:`loan_pd` (its columns that
    the stress test needs; the month as in :func:`loan_book`), with the text columns as
    pandas categoricals. The whole book in ``scope`` is read once per month and kept in
    ``data.result_cache`` (memory and Parquet) under the store, its data version, the
    month, the scope and :data:`MODEL_VERSION`; the filters' regions, products and
    segments are then applied to it in memory, which gives the rows a read with those
    filters gives. The scope is always the reader's: a book is never read wider than it.
    ``attrs["as_of"]`` holds the month.
    """
    month = _resolve_month(conn, scope, filters, as_of)
    if month is None:
        out = pd.DataFrame({c: pd.Series(dtype=float if c in ("balance", "collateral_value", "pd_12m") else object)
                            for c in STRESS_COLUMNS})
        out.attrs["as_of"] = None
        return out
    key = None
    book = None
    if use_cache:
        key = _BOOK_CACHE.key(conn, {
            "month": month.isoformat(),
            "scope": None if scope.regions is None else sorted(scope.regions),
            "model": MODEL_VERSION,
        })
        book = _BOOK_CACHE.get(key[1])
    if book is None:
        book = _scope_book(conn, scope, month)
        if key is not None:  # written beside the page's work: Parquet takes ~0.15 s at 1M loans
            threading.Thread(target=_BOOK_CACHE.put, args=(*key, book), name="stress-book-cache", daemon=True).start()
    out = _within_filters(book, filters)
    out.attrs["as_of"] = month
    return out


def stress_book(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    as_of: dt.date | None = None,
    config: stress_math.StressConfig = stress_math.DEFAULT_STRESS,
    *,
    use_cache: bool = True,
) -> stress_math.StressBook:
    """The book in scope at a month, scored and prepared for ``analytics.stress.evaluate``
    (:func:`scored_book`: the scope's book of the month is read once and cached; another
    region, product or segment filter is applied to it in memory)."""
    return stress_math.prepare_book(scored_book(conn, scope, filters, as_of, use_cache=use_cache), config)


def run_stress(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    scenario: stress_math.Scenario,
    as_of: dt.date | None = None,
    config: stress_math.StressConfig = stress_math.DEFAULT_STRESS,
) -> stress_math.StressResult:
    """One scenario on the book in scope (reads and prepares the book; a page that moves a
    slider should keep :func:`stress_book` and call ``analytics.stress.evaluate``)."""
    return stress_math.evaluate(stress_book(conn, scope, filters, as_of, config), scenario)
