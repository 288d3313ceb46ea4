"""Customer reads and wiring: lifetime value (CLV) and value segments.

Reads, all in scope (``data.read.book_conditions`` / ``scope_condition``):

* :func:`loan_clv_inputs` — the loan-level frame the CLV maths needs, for the book of one
  month (a loan-level read is allowed here: the maths is per loan). Columns only.
* :func:`customer_features` — one row per customer, aggregated in SQL: balance, loans,
  products held, tenure, worst DPD over 12 months, score trend over 6 months.
* :func:`interim_pd_table` / :func:`interim_loan_pd` — the stand-in 12-month PD used while
  ``data.credit.loan_pd`` (the PD model) is not importable.

Wiring: :func:`loan_values` (CLV per loan), :func:`customer_values` (CLV per customer) and
:func:`customer_segments` (features + CLV + k-means segments, cached until the next import).

PD source
---------
:func:`loan_pd_source` says which PD the CLV uses: ``data.credit.loan_pd`` when that
module and function can be imported, else the interim one. The interim PD is the
**observed 12-month default rate by product × DPD bucket**: take the book at the
calibration month m0 = the latest stored month at least 12 months before m (normally
m − 12; with less history, the earliest stored month before m); over the h months from m0
to m, a loan defaults when it is > 90 DPD or written off at any month in (m0, m];
rate = defaults ÷ loans per (product, bucket), computed in SQL, and when h ≠ 12
annualised as 1 − (1 − rate)^(12/h). Buckets: current (0), 1-30, 31-60,
61-90; a cell with fewer than 20 loans takes its bucket's rate over all products, and a
bucket with fewer than 20 loans the prior below. Loans > 90 DPD at m have PD = 1. With no
month before m at all, the prior is used: 0.02, 0.20, 0.40, 0.60 (current, 1-30, 31-60,
61-90) — a crude, documented placeholder, shown as such in ``pd_source``.

Cache
-----
:func:`customer_segments` keeps its result in ``data.result_cache`` (kind ``clv``: a bundle
of the ``customers`` and ``profiles`` frames and the k, silhouettes and PD source, under
``$DAIHOU_CACHE_DIR/clv/``, else ``<repo>/.cache/clv/``), keyed by the store, its data
version (``data.result_cache.data_version_key``), the month, the scope, the filters, the
parameters and the PD source. A new import, or a store recreated at the same path, changes
the data version, so the next call recomputes; older entries of the same store are then
deleted.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import sqlalchemy as sa

from analytics.clv import (
    DEFAULT_CLV_PARAMS,
    DEFAULT_SEGMENT_PARAMS,
    ClvParams,
    SegmentParams,
    customer_clv,
    loan_clv,
    loan_lgd,
    segment_customers,
)
from data.read import Filters, Scope, book_conditions, month_end, read_frame, stored_months
from data.result_cache import Bundle, ResultCache
from data.schema import Loan, Performance

__all__ = [
    "CustomerSegments",
    "INTERIM_PD_SOURCE",
    "MODEL_PD_SOURCE",
    "PRIOR_PD",
    "add_months",
    "resolve_month",
    "loan_pd_source",
    "loan_clv_inputs",
    "customer_features",
    "interim_pd_table",
    "interim_loan_pd",
    "loan_values",
    "customer_values",
    "customer_segments",
]

P = Performance.__table__
L = Loan.__table__

MODEL_PD_SOURCE = "data.credit.loan_pd"
INTERIM_PD_SOURCE = "interim: observed 12-month default rate by product x DPD bucket"

PD_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("current", 0, 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
)
"""DPD buckets of the interim PD (name, lowest dpd, highest dpd); > 90 is in default."""

PRIOR_PD: dict[str, float] = {"current": 0.02, "1-30": 0.20, "31-60": 0.40, "61-90": 0.60}
"""Interim PD by bucket when the store has no history to observe (a crude placeholder)."""

_MIN_CELL = 20


# ------------------------------------------------------------------------ helpers


def add_months(month: dt.date, k: int) -> dt.date:
    """The month end ``k`` months after ``month``'s (negative k: before)."""
    i = month.year * 12 + (month.month - 1) + k
    return month_end(dt.date(i // 12, i % 12 + 1, 1))


def _month_idx(col: sa.ColumnElement) -> sa.ColumnElement[int]:
    """year · 12 + month of a date column, as an integer (portable)."""
    return sa.cast(sa.extract("year", col) * 12 + sa.extract("month", col), sa.Integer)


def _idx(d: dt.date) -> int:
    return d.year * 12 + d.month


def _money(expr: sa.ColumnElement) -> sa.ColumnElement[float]:
    """Money as a 64-bit float (``sa.Float`` is 32-bit on DuckDB: 12345678.91 → 12345679)."""
    return sa.cast(expr, sa.Double)


def _fetch(conn: sa.Connection, stmt: sa.Select) -> pd.DataFrame:
    """Rows of ``stmt`` as a DataFrame; on DuckDB straight from its columnar result (fast)."""
    if conn.dialect.name == "duckdb":
        result = conn.execute(stmt)
        try:
            return result.cursor.fetch_df()
        finally:
            result.close()
    return read_frame(conn, stmt)


def resolve_month(conn: sa.Connection, scope: Scope, filters: Filters) -> dt.date | None:
    """``filters.as_of``'s month end, or the latest stored month in scope; None if none."""
    if filters.as_of is not None:
        return month_end(filters.as_of)
    months = stored_months(conn, scope, filters)
    return months[-1] if months else None


def _at(filters: Filters, month: dt.date) -> Filters:
    return replace(filters, as_of=month, start=None, end=None)


# ------------------------------------------------------------------------- reads


def loan_clv_inputs(conn: sa.Connection, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Loan-level CLV inputs for the book at ``filters.as_of`` (required) in scope.

    Columns: ``loan_id``, ``customer_id``, ``product``, ``balance`` (outstanding
    principal, store currency), ``interest_rate`` (annual fraction), ``remaining_months``
    (maturity month − m, whole months, may be ≤ 0), ``collateral_type``,
    ``collateral_value`` (latest valuation at m, else the origination value), ``dpd``
    (days). The same columns as ``data.credit.loan_book``, so either feeds the CLV.
    """
    if filters.as_of is None:
        raise ValueError("loan_clv_inputs needs filters.as_of (the month of the book)")
    m = month_end(filters.as_of)
    coll = sa.func.coalesce(P.c.collateral_value, L.c.collateral_value)
    stmt = (
        sa.select(
            P.c.loan_id,
            L.c.customer_id,
            P.c.product,
            _money(P.c.outstanding_principal).label("balance"),
            L.c.interest_rate,
            (_month_idx(L.c.maturity_date) - _idx(m)).label("remaining_months"),
            L.c.collateral_type,
            _money(coll).label("collateral_value"),
            P.c.dpd,
        )
        .select_from(P.join(L, L.c.loan_id == P.c.loan_id))
        .where(*book_conditions(scope, _at(filters, m)))
        .order_by(P.c.loan_id)
    )
    return _fetch(conn, stmt)


def customer_features(conn: sa.Connection, scope: Scope, filters: Filters) -> pd.DataFrame:
    """One row per customer with a loan in the book at ``filters.as_of`` (required).

    Aggregated in SQL over the customer's loans in scope (and under the filters):

    * ``balance``: Σ balance of the customer's loans in the book at m (store currency);
    * ``loans``: the number of those loans; ``products_held``: their distinct products;
    * ``tenure_months``: months from the month of the customer's first disbursement (any
      loan in scope, disbursed by m) to m;
    * ``worst_dpd_12m``: the highest dpd of any of the customer's loans over the 12 month
      ends m − 11 … m (any status: a loan written off in the window counts);
    * ``score_trend_6m``: mean over the customer's loans with a credit score at both m and
      m − 6 of (score at m − score at m − 6), in score points; NULL when no loan has both.

    Columns: ``customer_id``, ``balance``, ``loans``, ``products_held``,
    ``tenure_months``, ``worst_dpd_12m``, ``score_trend_6m``; sorted by customer_id.
    """
    if filters.as_of is None:
        raise ValueError("customer_features needs filters.as_of (the month of the book)")
    m = month_end(filters.as_of)
    m6, m11 = add_months(m, -6), add_months(m, -11)
    any_month = replace(filters, as_of=None, start=None, end=None)
    in_book = sa.and_(P.c.as_of == m, P.c.status == "active")
    per_loan = (
        sa.select(
            P.c.loan_id,
            sa.func.sum(P.c.outstanding_principal).filter(in_book).label("balance"),
            sa.func.count().filter(in_book).label("in_book"),
            sa.func.max(P.c.dpd).label("worst_dpd"),
            sa.func.max(P.c.credit_score).filter(P.c.as_of == m).label("score_now"),
            sa.func.max(P.c.credit_score).filter(P.c.as_of == m6).label("score_then"),
        )
        .where(*book_conditions(scope, any_month, active_only=False, months=False), P.c.as_of >= m11, P.c.as_of <= m)
        .group_by(P.c.loan_id)
        .subquery("per_loan")
    )
    first = (
        sa.select(L.c.customer_id, sa.func.min(L.c.disbursement_date).label("first_disbursed"))
        .where(*book_conditions(scope, any_month, table=L, active_only=False, months=False), L.c.disbursement_date <= m)
        .group_by(L.c.customer_id)
        .subquery("first")
    )
    booked = per_loan.c.in_book > 0
    per_customer = (
        sa.select(
            L.c.customer_id,
            _money(sa.func.coalesce(sa.func.sum(per_loan.c.balance), 0)).label("balance"),
            sa.cast(sa.func.sum(per_loan.c.in_book), sa.Integer).label("loans"),
            sa.func.count(sa.distinct(sa.case((booked, L.c.product)))).label("products_held"),
            sa.func.max(per_loan.c.worst_dpd).label("worst_dpd_12m"),
            sa.cast(sa.func.avg(per_loan.c.score_now - per_loan.c.score_then), sa.Double).label("score_trend_6m"),
        )
        .select_from(per_loan.join(L, L.c.loan_id == per_loan.c.loan_id))
        .group_by(L.c.customer_id)
        .having(sa.func.sum(per_loan.c.in_book) > 0)
        .subquery("per_customer")
    )
    stmt = (
        sa.select(
            per_customer.c.customer_id,
            per_customer.c.balance,
            per_customer.c.loans,
            per_customer.c.products_held,
            (_idx(m) - _month_idx(first.c.first_disbursed)).label("tenure_months"),
            per_customer.c.worst_dpd_12m,
            per_customer.c.score_trend_6m,
        )
        .select_from(per_customer.outerjoin(first, first.c.customer_id == per_customer.c.customer_id))
        .order_by(per_customer.c.customer_id)
    )
    out = _fetch(conn, stmt)
    out["score_trend_6m"] = out["score_trend_6m"].astype(float)
    return out


def _bucket_expr(dpd: sa.ColumnElement) -> sa.ColumnElement[str]:
    whens = [(dpd <= hi, name) for name, _, hi in PD_BUCKETS]
    return sa.case(*whens, else_="91+")


def _bucket_of(dpd: pd.Series) -> pd.Series:
    edges = [hi for _, _, hi in PD_BUCKETS]
    names = np.array([n for n, _, _ in PD_BUCKETS] + ["91+"], dtype=object)
    return pd.Series(names[np.searchsorted(edges, dpd.to_numpy(dtype=np.int64), side="left")], index=dpd.index)


def interim_pd_table(conn: sa.Connection, scope: Scope, filters: Filters, as_of: dt.date) -> pd.DataFrame:
    """The interim 12-month PD by product × DPD bucket (module docstring for the method).

    Columns: ``product``, ``dpd_bucket`` (current, 1-30, 31-60, 61-90), ``loans`` and
    ``defaults`` observed at the calibration month (0 when a prior is used),
    ``horizon_months`` (h, 0 without history), ``pd_12m`` (fraction) and ``basis``
    (``cell``, ``bucket`` or ``prior``). Products are those in the book at ``as_of``.
    """
    m = month_end(as_of)
    months = stored_months(conn, scope, replace(filters, as_of=None, start=None, end=None))
    earlier = [x for x in months if x < m]
    m12 = add_months(m, -12)
    at_least_12 = [x for x in earlier if x <= m12]
    m0 = max(at_least_12) if at_least_12 else (earlier[0] if earlier else None)
    prod_stmt = sa.select(P.c.product).where(*book_conditions(scope, _at(filters, m))).distinct().order_by(P.c.product)
    products = [r[0] for r in conn.execute(prod_stmt)]
    grid = pd.MultiIndex.from_product([products, [b for b, _, _ in PD_BUCKETS]], names=["product", "dpd_bucket"])
    table = pd.DataFrame(index=grid).reset_index()
    if m0 is None:
        return table.assign(loans=0, defaults=0, horizon_months=0,
                            pd_12m=table["dpd_bucket"].map(PRIOR_PD).astype(float), basis="prior")
    h = _idx(m) - _idx(m0)
    any_month = replace(filters, as_of=None, start=None, end=None)
    bad = sa.or_(P.c.dpd > 90, P.c.status == "written_off")
    future = (
        sa.select(P.c.loan_id, sa.func.max(sa.case((bad, 1), else_=0)).label("bad"))
        .where(*book_conditions(scope, any_month, active_only=False, months=False), P.c.as_of > m0, P.c.as_of <= m)
        .group_by(P.c.loan_id)
        .subquery("future")
    )
    bucket = _bucket_expr(P.c.dpd).label("dpd_bucket")
    stmt = (
        sa.select(
            P.c.product,
            bucket,
            sa.func.count().label("loans"),
            sa.cast(sa.func.coalesce(sa.func.sum(future.c.bad), 0), sa.Integer).label("defaults"),
        )
        .select_from(P.outerjoin(future, future.c.loan_id == P.c.loan_id))
        .where(*book_conditions(scope, _at(filters, m0)), P.c.dpd <= 90)
        .group_by(P.c.product, bucket)
    )
    obs = read_frame(conn, stmt)
    table = table.merge(obs, on=["product", "dpd_bucket"], how="left")
    table[["loans", "defaults"]] = table[["loans", "defaults"]].fillna(0).astype("int64")
    pooled = obs.groupby("dpd_bucket")[["loans", "defaults"]].sum() if not obs.empty else pd.DataFrame(
        columns=["loans", "defaults"])

    def annualise(rate: pd.Series | float) -> pd.Series | float:
        return 1.0 - (1.0 - rate) ** (12.0 / h)

    cell_rate = table["defaults"] / table["loans"].where(table["loans"] > 0)
    b_loans = table["dpd_bucket"].map(pooled["loans"]).fillna(0)
    b_rate = table["dpd_bucket"].map(pooled["defaults"]).fillna(0) / b_loans.where(b_loans > 0)
    use_cell = table["loans"] >= _MIN_CELL
    use_bucket = ~use_cell & (b_loans >= _MIN_CELL)
    table["horizon_months"] = h
    table["pd_12m"] = np.where(use_cell, annualise(cell_rate), np.where(
        use_bucket, annualise(b_rate), table["dpd_bucket"].map(PRIOR_PD).astype(float)))
    table["basis"] = np.where(use_cell, "cell", np.where(use_bucket, "bucket", "prior"))
    return table


def _apply_pd_table(loans: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """PD per loan from (product, dpd) and the interim table; > 90 DPD → 1."""
    key = pd.MultiIndex.from_arrays([loans["product"], _bucket_of(loans["dpd"])])
    lookup = table.set_index(["product", "dpd_bucket"])["pd_12m"]
    pd12 = pd.Series(lookup.reindex(key).to_numpy(), index=loans.index, dtype=float)
    return pd12.where(loans["dpd"] <= 90, 1.0)


def interim_loan_pd(conn: sa.Connection, scope: Scope, filters: Filters, as_of: dt.date) -> pd.DataFrame:
    """The interim PD per loan of the book at ``as_of``: ``loan_id``, ``pd_12m``.

    Same shape as ``data.credit.loan_pd``; see the module docstring for the method.
    """
    m = month_end(as_of)
    stmt = sa.select(P.c.loan_id, P.c.product, P.c.dpd).where(*book_conditions(scope, _at(filters, m))).order_by(P.c.loan_id)
    loans = _fetch(conn, stmt)
    if loans.empty:
        return pd.DataFrame({"loan_id": pd.Series(dtype=object), "pd_12m": pd.Series(dtype=float)})
    table = interim_pd_table(conn, scope, filters, m)
    return pd.DataFrame({"loan_id": loans["loan_id"], "pd_12m": _apply_pd_table(loans, table)})


def loan_pd_source(*, load: bool = True) -> str:
    """``data.credit.loan_pd`` when importable (the PD model), else the interim PD's name.

    Only a missing module or function counts as "not there": an error inside
    ``data.credit`` itself is raised, not hidden behind the fallback. With ``load=False`` a
    ``data.credit`` not imported yet is not imported (that costs some 0.4 s, mostly SciPy,
    on a page showing cached segments): a module on disk counts as there, and
    :func:`customer_segments` checks with the import before it computes anything.
    """
    if not load and "data.credit" not in sys.modules:
        return MODEL_PD_SOURCE if importlib.util.find_spec("data.credit") is not None else INTERIM_PD_SOURCE
    try:
        from data.credit import loan_pd  # noqa: F401
    except ImportError as exc:
        missing_module = isinstance(exc, ModuleNotFoundError) and exc.name == "data.credit"
        missing_name = exc.name == "data.credit" and "loan_pd" in str(exc)
        if missing_module or missing_name:
            return INTERIM_PD_SOURCE
        raise
    return MODEL_PD_SOURCE


_VALUE_INPUTS = ["loan_id", "customer_id", "product", "balance", "interest_rate", "remaining_months",
                 "collateral_type", "collateral_value", "dpd"]


def loan_values(
    conn: sa.Connection, scope: Scope, filters: Filters, params: ClvParams = DEFAULT_CLV_PARAMS
) -> tuple[pd.DataFrame, str]:
    """(CLV per loan of the book at ``filters.as_of`` or the latest month, PD source).

    With the PD model: ``data.credit.loan_pd`` (the book with ``pd_12m``, one read; when it
    returns only ``loan_id`` and ``pd_12m``, the inputs are read and the PDs matched by
    loan); the source is then ``"data.credit.loan_pd (<method>)"``. Without it,
    :func:`loan_clv_inputs` and the interim PD (module docstring). Loans without a PD get
    NaN (their CLV is then NaN, not silently 0). The frame has the inputs (``loan_id``,
    ``customer_id``, ``product``, ``balance``, ``interest_rate``, ``remaining_months``,
    ``collateral_type``, ``collateral_value``, ``dpd``), ``pd_12m``, ``lgd`` and the
    columns of ``analytics.clv.loan_clv`` (``clv`` and its present-value parts, store
    currency), sorted by loan_id.
    """
    source = loan_pd_source()
    m = resolve_month(conn, scope, filters)
    if m is None:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in _VALUE_INPUTS}).assign(
            pd_12m=pd.Series(dtype=float), lgd=pd.Series(dtype=float))
        return pd.concat([empty, loan_clv(empty).drop(columns=["loan_id", "customer_id"])], axis=1), source
    f = _at(filters, m)
    if source == MODEL_PD_SOURCE:
        from data.credit import loan_pd

        book = loan_pd(conn, scope, f, m)
        source = f"{source} ({book.attrs.get('pd_method', 'model')})"
        if all(c in book.columns for c in _VALUE_INPUTS):  # the book with its PDs: one read
            inputs = book[[*_VALUE_INPUTS, "pd_12m"]].copy()
        else:  # only loan_id and pd_12m: read the inputs and match the PDs by loan
            inputs = loan_clv_inputs(conn, scope, f)
            inputs["pd_12m"] = inputs["loan_id"].map(book.set_index("loan_id")["pd_12m"]).astype(float)
    else:
        inputs = loan_clv_inputs(conn, scope, f)
        if len(inputs):
            table = interim_pd_table(conn, scope, filters, m)
            if (table["basis"] == "prior").any():
                source = f"{source}; the prior where too few loans were observed"
            inputs["pd_12m"] = _apply_pd_table(inputs, table)
        else:
            inputs["pd_12m"] = pd.Series(dtype=float)
    inputs = inputs.reset_index(drop=True)
    inputs["lgd"] = loan_lgd(inputs, params) if len(inputs) else pd.Series(dtype=float)
    values = loan_clv(inputs, params)
    return pd.concat([inputs, values.drop(columns=["loan_id", "customer_id"])], axis=1), source


def customer_values(
    conn: sa.Connection, scope: Scope, filters: Filters, params: ClvParams = DEFAULT_CLV_PARAMS
) -> pd.DataFrame:
    """CLV per customer (``customer_id``, ``clv``, ``loans``) over the customer's loans in
    the book at ``filters.as_of`` (or the latest month) in scope."""
    values, _ = loan_values(conn, scope, filters, params)
    return customer_clv(values)


@dataclass(frozen=True)
class CustomerSegments:
    """Customers with their CLV, features and value segment at one month.

    ``customers``: ``customer_id``, the features of :func:`customer_features`, ``clv``,
    ``segment``, ``segment_name``, ``action``. ``profiles``, ``k`` and ``silhouette`` as in
    ``analytics.clv.SegmentResult``. ``pd_source`` names the PD used; ``from_cache`` is
    True when the result was read from the cache.
    """

    as_of: dt.date | None
    customers: pd.DataFrame
    profiles: pd.DataFrame
    k: int
    silhouette: dict[int, float] = field(default_factory=dict)
    pd_source: str = ""
    from_cache: bool = False


_SEGMENTS_CACHE = ResultCache("clv", version=1, max_memory=4)
"""``customer_segments`` results until the next import (``data.result_cache``). At 1M loans
an entry is some 415,000 customers (about 54 MB in memory, 10 MB of Parquet), so memory
keeps only the latest four (the page keeps its own copy); disk keeps every entry of the
current data version."""


def customer_segments(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    clv_params: ClvParams = DEFAULT_CLV_PARAMS,
    segment_params: SegmentParams = DEFAULT_SEGMENT_PARAMS,
    *,
    use_cache: bool = True,
) -> CustomerSegments:
    """Customers' CLV, features and value segments at ``filters.as_of`` (or the latest month).

    Features come from :func:`customer_features` (SQL), CLV from :func:`loan_values`
    summed per customer; customers whose CLV is NaN (no PD) are kept with NaN CLV, which
    the segmentation imputes with the mean. Segments: ``analytics.clv.segment_customers``.
    Cached (module docstring) unless ``use_cache`` is False.
    """
    m = resolve_month(conn, scope, filters)
    if m is None:
        empty = segment_customers(pd.DataFrame(columns=["customer_id", "clv", "balance", "tenure_months",
                                                        "products_held", "worst_dpd_12m", "score_trend_6m"]))
        return CustomerSegments(None, empty.customers, empty.profiles, 0, {}, loan_pd_source())
    f = _at(filters, m)

    def cache_key(source: str) -> tuple[str, str] | None:
        return _SEGMENTS_CACHE.key(conn, {
            "month": m.isoformat(),
            "scope": None if scope.regions is None else sorted(scope.regions),
            "filters": [sorted(f.regions), sorted(f.products), sorted(f.segments)],
            "clv": asdict(clv_params),
            "seg": asdict(segment_params),
            "pd": source,
        }) if use_cache else None

    source = loan_pd_source(load=False)  # a cache hit needs no PD model (nor its imports)
    key = cache_key(source)
    if key is not None:
        hit = _SEGMENTS_CACHE.get_bundle(key[1])
        if hit is not None:
            return CustomerSegments(
                m, hit.frames["customers"], hit.frames["profiles"], int(hit.meta["k"]),
                {int(k): float(v) for k, v in hit.meta["silhouette"].items()}, hit.meta["pd_source"], from_cache=True,
            )
    if loan_pd_source() != source:  # data.credit on disk but without loan_pd: the interim PD's key
        key = cache_key(loan_pd_source())
    features = customer_features(conn, scope, f)
    values, source = loan_values(conn, scope, f, clv_params)
    clv = customer_clv(values)
    features = features.merge(clv[["customer_id", "clv"]], on="customer_id", how="left")
    seg = segment_customers(features, segment_params)
    result = CustomerSegments(m, seg.customers, seg.profiles, seg.k, seg.silhouette, source)
    if key is not None:
        _SEGMENTS_CACHE.put_bundle(*key, Bundle(
            {"customers": result.customers, "profiles": result.profiles},
            {"k": result.k, "silhouette": result.silhouette, "pd_source": result.pd_source},
        ))
    return result
