"""Credit-score drift reads: score histograms, band migration, discrimination, score drops.

The SQL here aggregates in the database and returns small frames; the maths is in
``analytics.drift``. Every read takes ``conn, scope, filters`` first and builds on
``data.read.book_conditions`` / ``scope_condition``, so nothing outside the scope is read.

Definitions chosen where ``metrics.md`` is silent (see also ``analytics.drift``):

* **Months.** PSI, distributions and KS/AUC are reported for the months the filters select
  (``as_of`` or ``start``/``end``; all stored months without a month filter); baselines,
  previous months and the 12-month outcome window may lie outside that selection (history
  is read with the same scope and region/product/segment filters).
* **PSI baseline.** Default: the first month of the history in scope whose book has scores
  (as the KPI report). Deciles come from the score histogram of the baseline book, which
  gives exactly ``numpy.quantile`` (linear; the same as ``percentile_cont`` in SQL) at a
  fraction of the cost. The KPI report uses this PSI too.
* **Discrimination label.** Population at month m: loans in the book at m with a score and
  dpd ≤ 90 at m (loans already past 90 days are not predictions). Bad = the loan has a
  performance row (any status) with dpd > 90 in the ``horizon`` months after m
  (as_of in (m, m + 12 months]); with ``bad_if_written_off`` a written-off row counts too.
  A month needs ``horizon`` stored months after it (up to the last stored month in scope)
  to be labelled: by default months without the full horizon are left out; with
  ``partial=True`` they are labelled on the months available (column ``horizon_months``),
  and the last stored month, without any future, is always left out.
* **Score drops.** Loans in the book at both months with a score at both; drop =
  score_to − score_from < 0, largest drop first (ties by loan_id). Default ``month_from``:
  3 calendar months before ``month_to``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import sqlalchemy as sa

from analytics import drift
from data.kept_reads import kept_frame, selection_parts
from data.read import Filters, Scope, book_conditions, month_end, read_frame
from data.result_cache import ResultCache
from data.schema import Performance, Region

__all__ = [
    "score_histogram",
    "psi_trend",
    "psi_contributions",
    "score_distribution",
    "migration_pairs",
    "score_migration",
    "discrimination_table",
    "discrimination_trend",
    "largest_score_drops",
    "shift_month",
]

P = Performance.__table__
R = Region.__table__

_HISTOGRAM_CACHE = ResultCache("score_histogram", version=1, max_memory=32)
"""Score histograms (:func:`score_histogram`) per store, data version, scope and filters."""


def shift_month(month: dt.date, k: int) -> dt.date:
    """The last day of the month ``k`` months after ``month``'s (``k`` may be negative)."""
    i = month.year * 12 + month.month - 1 + k
    return month_end(dt.date(i // 12, i % 12 + 1, 1))


def _history(filters: Filters) -> Filters:
    """The filters without their month selection (for baselines and outcome windows)."""
    return replace(filters, as_of=None, start=None, end=None)


def _selected(months: pd.Series, filters: Filters) -> pd.Series:
    """Boolean mask: months (month ends) selected by ``filters`` (as book_conditions does)."""
    keep = pd.Series(True, index=months.index)
    if filters.as_of is not None:
        keep &= months == month_end(filters.as_of)
    if filters.start is not None:
        keep &= months >= month_end(filters.start)
    if filters.end is not None:
        keep &= months <= month_end(filters.end)
    return keep


def score_histogram(
    conn: sa.Connection, scope: Scope, filters: Filters, months: Sequence[dt.date] | None = None
) -> pd.DataFrame:
    """Per month, the number of scored loans in the book at each distinct score.

    Parameters
    ----------
    months : sequence of date, optional
        Read these months (any day of each) instead of the months the filters select.

    Returns
    -------
    DataFrame
        ``as_of`` (month end), ``credit_score`` (int), ``loans``; sorted. Unscored loans are
        left out. One GROUP BY in the database, kept until the next import
        (``data.result_cache``, kind ``score_histogram``: memory and Parquet; some 20,000
        rows at 1M loans × 36 months), so a server restart reads it from disk.
    """
    read_months = None if months is None else sorted({month_end(m) for m in months})
    if read_months is not None:
        conds = book_conditions(scope, filters, months=False)
        conds.append(P.c.as_of.in_(read_months))
    else:
        conds = book_conditions(scope, filters)
    s = P.c.credit_score
    stmt = (
        sa.select(P.c.as_of, s.label("credit_score"), sa.func.count().label("loans"))
        .where(*conds, s.is_not(None))
        .group_by(P.c.as_of, s)
        .order_by(P.c.as_of, s)
    )
    parts = {**selection_parts(scope, filters), "read_months": None if read_months is None else [m.isoformat() for m in read_months]}
    return kept_frame(_HISTOGRAM_CACHE, conn, parts, lambda: read_frame(conn, stmt))


def _first_scored_month(conn: sa.Connection, scope: Scope, filters: Filters) -> dt.date | None:
    """The first month of the history in scope (under the non-month filters) with a score."""
    conds = book_conditions(scope, _history(filters), months=False)
    return conn.execute(sa.select(sa.func.min(P.c.as_of)).where(*conds, P.c.credit_score.is_not(None))).scalar()


def psi_trend(
    conn: sa.Connection, scope: Scope, filters: Filters, baseline: dt.date | None = None
) -> pd.DataFrame:
    """PSI per month against a baseline month and against the previous month, with bands.

    Parameters
    ----------
    baseline : date, optional
        Any day of the baseline month; default the first month of the history in scope
        with scores.

    Returns
    -------
    DataFrame
        ``analytics.drift.psi_trend`` for the selected months: ``as_of``, ``loans`` (scored
        loans), ``psi``, ``psi_band``, ``psi_mom``, ``psi_mom_band``; the baseline month in
        ``attrs["baseline"]`` (``None`` without scores).
    """
    hist = score_histogram(conn, scope, _history(filters))
    base = month_end(baseline) if baseline is not None else (None if hist.empty else hist["as_of"].min())
    trend = drift.psi_trend(hist, base)
    out = trend[_selected(trend["as_of"], filters)].reset_index(drop=True) if not trend.empty else trend
    out.attrs["baseline"] = base if not hist.empty else None
    return out


def _empty_psi_table() -> pd.DataFrame:
    return drift.psi_table([0.0], [0.0]).iloc[0:0]


def psi_contributions(
    conn: sa.Connection, scope: Scope, filters: Filters, month: dt.date, reference: dt.date | None = None
) -> pd.DataFrame:
    """PSI of ``month`` against ``reference`` bin by bin (E_i, A_i, contribution).

    Parameters
    ----------
    month : date
        Any day of the month compared.
    reference : date, optional
        Any day of the reference month whose deciles give the edges; default the first
        month of the history in scope with scores (pass the previous month for a
        month-on-month table).

    Returns
    -------
    DataFrame
        ``analytics.drift.psi_table``: one row per decile bin with ``expected_loans``,
        ``actual_loans``, ``expected_share``, ``actual_share`` (floored), ``contribution``;
        they sum to the PSI. Empty when the reference month has no scores.
    """
    m = month_end(month)
    if reference is None:
        ref = _first_scored_month(conn, scope, filters)
        if ref is None:
            return _empty_psi_table()
    else:
        ref = month_end(reference)
    hist = score_histogram(conn, scope, _history(filters), months=[ref, m])
    h_ref = hist[hist["as_of"] == ref]
    h_m = hist[hist["as_of"] == m]
    edges = drift.histogram_quantiles(h_ref["credit_score"].to_numpy(), h_ref["loans"].to_numpy(), drift.DECILES)
    if edges is None:
        return _empty_psi_table()
    e = drift.binned_counts(h_ref["credit_score"].to_numpy(), h_ref["loans"].to_numpy(), edges)
    a = drift.binned_counts(h_m["credit_score"].to_numpy(), h_m["loans"].to_numpy(), edges)
    table = drift.psi_table(e, a, edges)
    table.attrs.update(reference=ref, month=m)
    return table


def score_distribution(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    month_a: dt.date,
    month_b: dt.date,
    *,
    edges: Sequence[float] | None = None,
    width: float | None = None,
) -> pd.DataFrame:
    """Score distribution of two months on common bins (counts and shares, for a chart).

    Bins: ``width``-point left-closed bins (e.g. ``width=20``), or right-closed ``edges``,
    or by default month_a's deciles. See ``analytics.drift.score_distribution``.
    """
    a, b = month_end(month_a), month_end(month_b)
    hist = score_histogram(conn, scope, _history(filters), months=[a, b])
    return drift.score_distribution(hist, a, b, edges=edges, width=width)


def _band_expr(col: sa.ColumnElement, cuts: Sequence[float]) -> sa.ColumnElement:
    """SQL band index of a score: left-closed bands cut at ``cuts`` (as analytics.drift.band_index)."""
    whens = [(col < c, i) for i, c in enumerate(cuts)]
    return sa.case(*whens, else_=len(cuts)) if whens else sa.literal(0)


def migration_pairs(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    month_from: dt.date,
    month_to: dt.date,
    cuts: Sequence[float] = drift.SCORE_BAND_CUTS,
) -> pd.DataFrame:
    """Loans of the book at ``month_from`` with a score, by band then and state at ``month_to``.

    Returns
    -------
    DataFrame
        ``band_from`` (band index), ``band_to`` (band index when the loan is active with a
        score at month_to, else missing), ``state_to`` (``in_band``, ``closed``,
        ``written_off``, ``unscored`` or ``not_reported``), ``loans``. One self-join
        (LEFT JOIN on loan_id) grouped in the database.
    """
    a = P.alias("a")
    b = P.alias("b")
    f = _history(filters)
    conds = book_conditions(scope, f, table=a, months=False)
    conds += [a.c.as_of == month_end(month_from), a.c.credit_score.is_not(None)]
    joined = a.outerjoin(b, sa.and_(b.c.loan_id == a.c.loan_id, b.c.as_of == month_end(month_to)))
    in_band = sa.and_(b.c.status == "active", b.c.credit_score.is_not(None))
    band_from = _band_expr(a.c.credit_score, cuts).label("band_from")
    band_to = sa.case((in_band, _band_expr(b.c.credit_score, cuts)), else_=sa.null()).label("band_to")
    state_to = sa.case(
        (b.c.loan_id.is_(None), "not_reported"),
        (in_band, "in_band"),
        (b.c.status == "active", "unscored"),
        else_=b.c.status,
    ).label("state_to")
    stmt = (
        sa.select(band_from, band_to, state_to, sa.func.count().label("loans"))
        .select_from(joined)
        .where(*conds)
        .group_by(band_from, band_to, state_to)
    )
    out = read_frame(conn, stmt)
    out["band_to"] = out["band_to"].astype("Int64")
    return out.sort_values(["band_from", "band_to", "state_to"]).reset_index(drop=True)


def score_migration(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    month_from: dt.date,
    month_to: dt.date,
    *,
    cuts: Sequence[float] = drift.SCORE_BAND_CUTS,
    shares: bool = True,
    exits: bool = True,
) -> pd.DataFrame:
    """Score-band migration matrix from ``month_from`` to ``month_to``.

    Rows: bands at month_from (loans in the book with a score); columns: bands at month_to,
    then (``exits=True``) closed, written_off, unscored, not_reported. ``shares=True``: rows
    sum to 1 (NaN for an empty band); ``shares=False``: numbers of loans. See
    ``analytics.drift.migration_matrix``.
    """
    pairs = migration_pairs(conn, scope, filters, month_from, month_to, cuts)
    pairs["state_to"] = pairs["state_to"].where(pairs["state_to"] != "in_band", None)
    return drift.migration_matrix(pairs, cuts, shares=shares, exits=exits)


def _month_index(col: sa.ColumnElement) -> sa.ColumnElement:
    """year·12 + month of a date, as an integer (portable month arithmetic)."""
    return sa.cast(sa.extract("year", col) * 12 + sa.extract("month", col), sa.Integer)


def _last_stored_month(conn: sa.Connection, scope: Scope, filters: Filters) -> dt.date | None:
    conds = book_conditions(scope, _history(filters), active_only=False, months=False)
    return conn.execute(sa.select(sa.func.max(P.c.as_of)).where(*conds)).scalar()


def _months_between(a: dt.date, b: dt.date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def discrimination_table(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    *,
    horizon: int = 12,
    partial: bool = False,
    bad_if_written_off: bool = False,
) -> pd.DataFrame:
    """Per observation month, the number of good and bad loans at each score.

    The population and label are those of the module docstring: book at m, scored, dpd ≤ 90;
    bad = dpd > 90 on some row in (m, m + horizon months]. In the database: the loans' bad
    rows are collapsed into runs of consecutive months (gaps and islands:
    month index − ROW_NUMBER), a loan-month is bad when a run [first, last] of the same loan
    meets (m, m + horizon] (last > m and first ≤ m + horizon), and one statement returns the
    histogram of all loan-months and of the bad ones (UNION ALL, one snapshot). This avoids a
    correlated look-ahead over every loan-month.

    Returns
    -------
    DataFrame
        ``as_of``, ``credit_score``, ``bad`` (bool), ``loans``; ``attrs["last_month"]`` the
        last stored month used for horizons.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 month, got {horizon}")
    cols = ["as_of", "credit_score", "bad", "loans"]
    last = _last_stored_month(conn, scope, filters)
    if last is None:
        return pd.DataFrame(columns=cols)
    latest_obs = shift_month(last, -(1 if partial else horizon))
    history = _history(filters)
    o = P.alias("o")
    event = o.c.dpd > 90
    if bad_if_written_off:
        event = sa.or_(event, o.c.status == "written_off")
    bad_rows = (
        sa.select(o.c.loan_id, _month_index(o.c.as_of).label("idx"))
        .where(event, *book_conditions(scope, history, table=o, active_only=False, months=False))
        .cte("bad_rows")
    )
    islands = sa.select(
        bad_rows.c.loan_id,
        bad_rows.c.idx,
        (bad_rows.c.idx - sa.func.row_number().over(partition_by=bad_rows.c.loan_id, order_by=bad_rows.c.idx)).label("island"),
    ).subquery("islands")
    runs = (
        sa.select(islands.c.loan_id, sa.func.min(islands.c.idx).label("first"), sa.func.max(islands.c.idx).label("last"))
        .group_by(islands.c.loan_id, islands.c.island)
        .cte("runs")
    )
    s = P.alias("s")
    obs = (
        sa.select(s.c.loan_id, s.c.as_of, s.c.credit_score, _month_index(s.c.as_of).label("idx"))
        .where(
            *book_conditions(scope, filters, table=s),
            s.c.as_of <= latest_obs,
            s.c.credit_score.is_not(None),
            s.c.dpd <= 90,
        )
        .cte("obs")
    )
    bad_obs = (
        sa.select(obs.c.loan_id, obs.c.as_of, obs.c.credit_score)
        .distinct()
        .select_from(
            obs.join(
                runs,
                sa.and_(runs.c.loan_id == obs.c.loan_id, runs.c.last > obs.c.idx, runs.c.first <= obs.c.idx + horizon),
            )
        )
        .subquery("bad_obs")
    )
    every = sa.select(
        obs.c.as_of, obs.c.credit_score, sa.literal(0).label("kind"), sa.func.count().label("loans")
    ).group_by(obs.c.as_of, obs.c.credit_score)
    bads = sa.select(
        bad_obs.c.as_of, bad_obs.c.credit_score, sa.literal(1).label("kind"), sa.func.count().label("loans")
    ).group_by(bad_obs.c.as_of, bad_obs.c.credit_score)
    result = conn.execute(sa.union_all(every, bads))
    counts = pd.DataFrame(result.fetchall(), columns=["as_of", "credit_score", "kind", "loans"])
    if counts.empty:
        out = pd.DataFrame(columns=cols)
    else:
        wide = counts.pivot_table(
            index=["as_of", "credit_score"], columns="kind", values="loans", aggfunc="sum", fill_value=0
        ).reindex(columns=[0, 1], fill_value=0)
        n_bad = wide[1].to_numpy()
        n_good = wide[0].to_numpy() - n_bad
        keys = wide.index.to_frame(index=False)
        out = pd.concat(
            [keys.assign(bad=False, loans=n_good), keys.assign(bad=True, loans=n_bad)], ignore_index=True
        )
        out = out[out["loans"] > 0].sort_values(["as_of", "credit_score", "bad"]).reset_index(drop=True)
        out["loans"] = out["loans"].astype(np.int64)
    out.attrs["last_month"] = last
    return out


def discrimination_trend(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    *,
    horizon: int = 12,
    partial: bool = False,
    bad_if_written_off: bool = False,
) -> pd.DataFrame:
    """KS and AUC of the score per month against dpd > 90 within the next ``horizon`` months.

    Returns
    -------
    DataFrame
        ``as_of``, ``horizon_months`` (months of outcome observed, ≤ horizon), ``loans``,
        ``bads``, ``bad_rate``, ``ks``, ``auc`` (of −score: lower scores riskier); months
        without the full horizon only with ``partial=True``. See
        :func:`discrimination_table` and ``analytics.drift.discrimination_by_month``.
    """
    table = discrimination_table(
        conn, scope, filters, horizon=horizon, partial=partial, bad_if_written_off=bad_if_written_off
    )
    out = drift.discrimination_by_month(table)
    if out.empty:
        return out.assign(horizon_months=pd.Series(dtype="int64"))[
            ["as_of", "horizon_months", "loans", "bads", "bad_rate", "ks", "auc"]
        ]
    last = table.attrs["last_month"]
    out.insert(1, "horizon_months", [min(horizon, _months_between(m, last)) for m in out["as_of"]])
    return out


def largest_score_drops(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    month_to: dt.date,
    month_from: dt.date | None = None,
    *,
    n: int = 20,
) -> pd.DataFrame:
    """The ``n`` loans whose score fell most from ``month_from`` to ``month_to``.

    Parameters
    ----------
    month_to : date
        Any day of the later month.
    month_from : date, optional
        Any day of the earlier month; default 3 calendar months before ``month_to``.
    n : int
        How many loans (top-n in the database).

    Returns
    -------
    DataFrame
        ``loan_id``, ``region_code``, ``region_name_zh``, ``region_name_en``, ``branch_id``,
        ``product``, ``segment``, ``balance`` and ``dpd`` (at month_to), ``dpd_from``,
        ``score_from``, ``score_to``, ``change`` (score_to − score_from, < 0), largest drop
        first. Only loans in the book with a score at both months.
    """
    to = month_end(month_to)
    frm = month_end(month_from) if month_from is not None else shift_month(to, -3)
    a = P.alias("a")
    b = P.alias("b")
    f = _history(filters)
    change = (b.c.credit_score - a.c.credit_score).label("change")
    stmt = (
        sa.select(
            b.c.loan_id,
            b.c.region_code,
            R.c.name_zh.label("region_name_zh"),
            R.c.name_en.label("region_name_en"),
            b.c.branch_id,
            b.c.product,
            b.c.segment,
            sa.cast(b.c.outstanding_principal, sa.Double).label("balance"),
            b.c.dpd,
            a.c.dpd.label("dpd_from"),
            a.c.credit_score.label("score_from"),
            b.c.credit_score.label("score_to"),
            change,
        )
        .select_from(b.join(a, a.c.loan_id == b.c.loan_id).outerjoin(R, R.c.region_code == b.c.region_code))
        .where(
            *book_conditions(scope, f, table=b, months=False),
            *book_conditions(scope, f, table=a, months=False),
            b.c.as_of == to,
            a.c.as_of == frm,
            b.c.credit_score.is_not(None),
            a.c.credit_score.is_not(None),
            b.c.credit_score < a.c.credit_score,
        )
        .order_by(change, b.c.loan_id)
        .limit(max(int(n), 0))
    )
    out = read_frame(conn, stmt)
    out.attrs.update(month_from=frm, month_to=to)
    return out

