"""Data quality of the store: per table, what is there and what looks odd, in SQL.

The importer already rejects what is impossible (a negative dpd, a maturity before the
disbursement, an unknown loan). What it cannot reject, because each row is valid on its own,
is what looks odd across rows or tables: a loan without any performance row, a loan whose
months have a gap, a closed loan that still has a balance, a secured loan without a
collateral value. This module counts those, with a plain definition of each check, and
reports the row counts, the months covered and the share of missing values per column.

Every function takes ``conn, scope, filters`` first (like the read layer), so each figure is
inside the user's scope and the global dimension filters (regions, products, segments; the
month filters are ignored: data quality looks at the whole history). Tables without a
region of their own are scoped through their loans: customers with a loan in scope,
collection cases and inspections of loans in scope. All counts are computed in the database
with one or two statements per table (no table is read into Python).

Units: counts are ints, shares are fractions (``count / base``; NaN when the base is 0 or
the check does not apply), dates are ``datetime.date``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data.read import Filters, Scope, book_conditions, read_frame, scope_condition
from data.schema import CollectionCase, Customer, ImportBatch, Inspection, Loan, Performance

__all__ = [
    "QUALITY_TABLES",
    "Check",
    "CHECKS",
    "COLUMN_NOTES",
    "table_profile",
    "table_summary",
    "quality_checks",
    "flag_summary",
    "missing_shares",
    "monthly_rows",
    "import_history",
]

QUALITY_TABLES: tuple[str, ...] = ("loans", "performance", "customers", "collections", "inspections")
"""The loan-tape tables, in load order."""

L = Loan.__table__
P = Performance.__table__
C = Customer.__table__
K = CollectionCase.__table__
I = Inspection.__table__  # noqa: E741

_MODELS = {"loans": L, "performance": P, "customers": C, "collections": K, "inspections": I}

_DATE_COLUMN = {
    "loans": "disbursement_date",
    "performance": "as_of",
    "collections": "opened_on",
    "inspections": "due_on",
}
"""The date each table's "months covered" is counted on (customers have none)."""

SECURED_TYPES: tuple[str, ...] = ("real_estate", "vehicle", "equipment", "inventory", "receivables", "deposit")
"""Collateral types that are an asset with a value (``guarantee`` and ``none`` are not)."""

SECURED_PRODUCTS: tuple[str, ...] = ("mortgage", "auto")
"""Products that are secured by their nature (a home, a vehicle)."""


@dataclass(frozen=True)
class Check:
    """One data-quality check: its table, its name and plain definition in both languages."""

    table: str
    name_en: str
    name_zh: str
    definition_en: str
    definition_zh: str


CHECKS: dict[str, Check] = {
    "loans_without_performance": Check(
        "loans", "Loans without performance", "无月度表现的贷款",
        "Loans with no performance row at all. Base: loans.",
        "没有任何月度表现记录的贷款。分母：贷款笔数。",
    ),
    "performance_before_disbursement": Check(
        "loans", "Performance before disbursement", "放款前即有表现",
        "Loans whose first performance month is before their disbursement month. Base: loans with performance.",
        "首个表现月份早于放款月份的贷款。分母：有表现记录的贷款。",
    ),
    "secured_without_value": Check(
        "loans", "Secured loan without collateral value", "抵押贷款缺押品价值",
        "Loans whose collateral type is an asset (real estate, vehicle, equipment, inventory, receivables, "
        "deposit) but whose collateral value is blank or 0. Base: loans with such a collateral type.",
        "押品类型为实物或权利（房产、车辆、设备、存货、应收账款、存单）但押品价值为空或为0的贷款。分母：这些押品类型的贷款。",
    ),
    "secured_product_without_collateral": Check(
        "loans", "Mortgage/auto without collateral", "房贷/车贷无押品",
        "Mortgage and auto loans whose collateral type is blank or none. Base: mortgage and auto loans.",
        "押品类型为空或 none 的个人住房贷款和汽车贷款。分母：房贷和车贷笔数。",
    ),
    "customer_not_stored": Check(
        "loans", "Customer not in customers table", "客户表中无此客户",
        "Loans whose customer_id has no row in the customers table. Base: loans.",
        "customer_id 在客户表中找不到的贷款。分母：贷款笔数。",
    ),
    "months_with_gaps": Check(
        "performance", "Loans with missing months", "表现月份有缺口的贷款",
        "Loans with a month missing between their first and last performance month. Base: loans with performance.",
        "在首个与最后一个表现月份之间缺少某个月的贷款。分母：有表现记录的贷款。",
    ),
    "missing_month_rows": Check(
        "performance", "Missing loan-months", "缺失的贷款月份数",
        "Loan-months missing inside those gaps (rows that would close every gap). Base: performance rows.",
        "上述缺口内缺失的贷款-月份行数（补齐所有缺口所需的行数）。分母：表现记录行数。",
    ),
    "reopened": Check(
        "performance", "Active again after closure", "结清或核销后又为正常在贷",
        "Loans with an active row after a closed or written-off row. Base: loans that closed or were written off.",
        "在结清（closed）或核销（written_off）之后又出现在贷（active）记录的贷款。分母：曾结清或核销的贷款。",
    ),
    "closed_with_balance": Check(
        "performance", "Closed with a balance", "已结清仍有余额",
        "Rows with status closed and a balance above 0. Base: closed rows.",
        "状态为结清（closed）但余额大于0的记录。分母：结清记录行数。",
    ),
    "active_zero_balance": Check(
        "performance", "Active with zero balance", "在贷但余额为0",
        "Rows with status active and a balance of 0 (a repaid loan not marked closed, unless a revolving line). "
        "Base: active rows.",
        "状态为在贷（active）但余额为0的记录（已还清却未标记结清；循环额度除外）。分母：在贷记录行数。",
    ),
    "score_missing": Check(
        "performance", "Book rows without a score", "在贷记录缺信用评分",
        "Active rows without a credit score (left out of PSI and the PD model). Base: active rows.",
        "缺少信用评分的在贷记录（不计入PSI和PD模型）。分母：在贷记录行数。",
    ),
    "class_raised": Check(
        "performance", "Reported class better than the DPD floor", "报送分类优于逾期天数下限",
        "Rows whose reported five-level class (正常/关注/次级/可疑/损失) is better than the floor set by days past "
        "due; the stored class was raised to the floor. Base: rows with a reported class.",
        "报送的五级分类（正常/关注/次级/可疑/损失）优于按逾期天数确定的下限，入库时已调整为下限的记录。分母：有报送分类的记录。",
    ),
    "customers_without_loans": Check(
        "customers", "Customers without loans", "无贷款的客户",
        "Customers with no loan in the store (only counted over the whole store, without scope or filters). "
        "Base: customers.",
        "在库中没有任何贷款的客户（仅在不限地区、无筛选时统计）。分母：客户数。",
    ),
    "debt_ratio_above_1": Check(
        "customers", "Debt ratio above 100%", "负债收入比超过100%",
        "Customers whose debt service exceeds their income (debt_ratio > 1). Base: customers with a debt ratio.",
        "偿债支出超过收入（debt_ratio > 1）的客户。分母：有负债收入比的客户。",
    ),
    "recovered_above_due": Check(
        "collections", "Recovered more than due", "回收金额超过应收",
        "Collection cases whose amount recovered exceeds the amount due. Base: cases with both amounts.",
        "回收金额大于应收金额的催收案件。分母：两项金额都有的案件。",
    ),
    "case_before_disbursement": Check(
        "collections", "Case opened before disbursement", "放款前即开案",
        "Collection cases opened before their loan's disbursement date. Base: cases.",
        "开案日期早于贷款放款日的催收案件。分母：案件数。",
    ),
    "done_without_result": Check(
        "inspections", "Done without a result", "已检查无结论",
        "Inspections with a done date but no result (ok / issue). Base: inspections done.",
        "有完成日期但没有检查结论（ok / issue）的贷后检查。分母：已完成的检查。",
    ),
    "result_without_done": Check(
        "inspections", "Result without a done date", "有结论无完成日期",
        "Inspections with a result but no done date. Base: inspections with a result.",
        "有检查结论但没有完成日期的贷后检查。分母：有结论的检查。",
    ),
    "inspection_before_disbursement": Check(
        "inspections", "Due before disbursement", "应检日早于放款日",
        "Inspections due before their loan's disbursement date. Base: inspections.",
        "应检查日期早于贷款放款日的贷后检查。分母：检查数。",
    ),
}
"""Every check, keyed by its id, in display order."""

COLUMN_NOTES: dict[tuple[str, str], tuple[str, str]] = {
    ("loans", "collateral_type"): ("blank = not given (none = unsecured)", "空 = 未提供（none 为无押品）"),
    ("loans", "collateral_value"): ("blank for unsecured loans", "无押品贷款为空"),
    ("performance", "collateral_value"): ("blank for unsecured loans", "无押品贷款为空"),
    ("performance", "classification_reported"): ("blank = class from the DPD floor", "空 = 按逾期天数定级"),
    ("customers", "name_enc"): ("name (stored encrypted)", "姓名（加密存储）"),
    ("customers", "id_number_enc"): ("id number (stored encrypted)", "证件号（加密存储）"),
    ("customers", "phone_enc"): ("phone (stored encrypted)", "电话（加密存储）"),
    ("collections", "closed_on"): ("blank = case still open", "空 = 案件未结"),
    ("collections", "agency"): ("blank = in-house collection", "空 = 行内自催"),
    ("inspections", "done_on"): ("blank = not done yet", "空 = 尚未检查"),
    ("inspections", "result"): ("blank = not done yet", "空 = 尚未检查"),
}
"""What a blank means for the columns where blank is normal."""


# ---------------------------------------------------------------------------------------------
# Conditions: every table in scope and under the dimension filters
# ---------------------------------------------------------------------------------------------


def _restricted(scope: Scope, filters: Filters) -> bool:
    """True when the scope or the filters narrow the loans (some checks then do not apply)."""
    return scope.regions is not None or bool(filters.regions or filters.products or filters.segments)


def _loan_conditions(scope: Scope, filters: Filters, table: sa.Table = L) -> list[sa.ColumnElement[bool]]:
    """WHERE conditions for the loans (or performance rows) in scope under the dimension filters."""
    return book_conditions(scope, filters, table=table, active_only=False, months=False)


def _loans_in_scope(scope: Scope, filters: Filters) -> sa.Select:
    return sa.select(L.c.loan_id).where(*_loan_conditions(scope, filters))


def _customer_conditions(scope: Scope, filters: Filters) -> list[sa.ColumnElement[bool]]:
    if not _restricted(scope, filters):
        return []
    return [C.c.customer_id.in_(sa.select(L.c.customer_id).where(*_loan_conditions(scope, filters)))]


def _month_index(col: sa.ColumnElement) -> sa.ColumnElement:
    """Months since year 0 (year × 12 + month), the same on DuckDB and PostgreSQL."""
    return sa.cast(sa.extract("year", col), sa.Integer) * 12 + sa.cast(sa.extract("month", col), sa.Integer)


def _count_if(cond: sa.ColumnElement[bool]) -> sa.ColumnElement:
    return sa.func.count().filter(cond)


def _nullable_columns(table: sa.Table) -> list[str]:
    """Columns a tape may leave blank (every nullable column but the batch stamp)."""
    return [c.name for c in table.columns if c.nullable and not c.primary_key and c.name != "batch_id"]


# ---------------------------------------------------------------------------------------------
# Per table: rows, months covered, last batch
# ---------------------------------------------------------------------------------------------


def _table_wheres(scope: Scope, filters: Filters) -> dict[str, list[sa.ColumnElement[bool]]]:
    restricted = _restricted(scope, filters)
    return {
        "loans": _loan_conditions(scope, filters),
        "performance": _loan_conditions(scope, filters, P),
        "customers": _customer_conditions(scope, filters),
        "collections": [K.c.loan_id.in_(_loans_in_scope(scope, filters))] if restricted else [],
        "inspections": [I.c.loan_id.in_(_loans_in_scope(scope, filters))] if restricted else [],
    }


def table_profile(conn: sa.Connection, scope: Scope, filters: Filters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`table_summary` and :func:`missing_shares` together, from ONE statement per table
    (each table is scanned once for both): ``(summary, missing)``."""
    summary_rows = []
    missing_rows = []
    wheres = _table_wheres(scope, filters)
    for name in QUALITY_TABLES:
        t = _MODELS[name]
        date_name = _DATE_COLUMN.get(name)
        blanks = _nullable_columns(t)
        cols = [sa.func.count().label("_rows"), sa.func.max(t.c.batch_id).label("_last_batch")]
        if date_name is not None:
            d = t.c[date_name]
            cols += [
                sa.func.min(d).label("_first"),
                sa.func.max(d).label("_last"),
                # as_of is always a month end: its distinct values are the months
                sa.func.count(sa.distinct(d if name == "performance" else _month_index(d))).label("_months"),
            ]
        cols += [sa.func.count(t.c[c]).label(c) for c in blanks]
        r = conn.execute(sa.select(*cols).select_from(t).where(*wheres[name])).mappings().one()
        n = int(r["_rows"])
        first, last = r.get("_first"), r.get("_last")
        months = int(r["_months"]) if date_name is not None else np.nan
        gap = np.nan
        if name == "performance" and first is not None:
            span = (last.year * 12 + last.month) - (first.year * 12 + first.month) + 1
            gap = span - months
        summary_rows.append(
            {
                "table": name,
                "rows": n,
                "date_column": date_name,
                "first": first,
                "last": last,
                "months": months,
                "missing_months": gap,
                "last_batch": np.nan if r["_last_batch"] is None else float(r["_last_batch"]),
            }
        )
        for c in blanks:
            missing = n - int(r[c])
            note = COLUMN_NOTES.get((name, c), ("", ""))
            missing_rows.append(
                {
                    "table": name,
                    "column": c,
                    "rows": n,
                    "missing": missing,
                    "share": missing / n if n else np.nan,
                    "note_en": note[0],
                    "note_zh": note[1],
                }
            )
    summary = pd.DataFrame(summary_rows)
    for col in ("months", "missing_months", "last_batch"):
        summary[col] = summary[col].astype("Float64").astype("Int64")
    return summary, pd.DataFrame(missing_rows)


def table_summary(conn: sa.Connection, scope: Scope, filters: Filters) -> pd.DataFrame:
    """One row per tape table: what is stored in scope.

    Columns: ``table``, ``rows``, ``date_column`` (the date months are counted on; None for
    customers), ``first`` and ``last`` (earliest and latest date, None without rows or date),
    ``months`` (distinct months of that date), ``missing_months`` (months between ``first``
    and ``last`` without any row: performance only, where every month should be there;
    NaN for the others), ``last_batch`` (the latest import batch that wrote a row; NaN when
    none is stamped). (Use :func:`table_profile` when :func:`missing_shares` is wanted too.)
    """
    return table_profile(conn, scope, filters)[0]


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _loan_checks(conn: sa.Connection, scope: Scope, filters: Filters) -> dict[str, tuple[int | None, int]]:
    """The loan checks and the per-loan performance checks, from one join of the loans with a
    per-loan aggregate of their performance rows."""
    first_idx = _month_index(sa.func.min(P.c.as_of))
    last_idx = _month_index(sa.func.max(P.c.as_of))
    agg = (
        sa.select(
            P.c.loan_id,
            first_idx.label("first_m"),
            (last_idx - first_idx + 1 - sa.func.count()).label("missing"),
            sa.func.max(P.c.as_of).filter(P.c.status == "active").label("last_active"),
            sa.func.min(P.c.as_of).filter(P.c.status != "active").label("first_ended"),
        )
        .where(*_loan_conditions(scope, filters, P))
        .group_by(P.c.loan_id)
        .subquery("agg")
    )
    has_perf = agg.c.loan_id.is_not(None)
    ctype = L.c.collateral_type
    secured_type = ctype.in_(SECURED_TYPES)
    secured_product = L.c.product.in_(SECURED_PRODUCTS)
    stmt = (
        sa.select(
            sa.func.count().label("loans"),
            _count_if(~has_perf).label("loans_without_performance"),
            _count_if(has_perf).label("with_performance"),
            _count_if(has_perf & (agg.c.first_m < _month_index(L.c.disbursement_date))).label(
                "performance_before_disbursement"
            ),
            _count_if(secured_type).label("secured_loans"),
            _count_if(secured_type & (sa.func.coalesce(L.c.collateral_value, 0) == 0)).label("secured_without_value"),
            _count_if(secured_product).label("secured_products"),
            _count_if(secured_product & (sa.func.coalesce(ctype, "none") == "none")).label(
                "secured_product_without_collateral"
            ),
            _count_if(has_perf & (agg.c.missing > 0)).label("months_with_gaps"),
            sa.func.coalesce(sa.func.sum(agg.c.missing), 0).label("missing_month_rows"),
            _count_if(agg.c.first_ended.is_not(None)).label("ended"),
            _count_if(agg.c.last_active > agg.c.first_ended).label("reopened"),
        )
        .select_from(L.outerjoin(agg, agg.c.loan_id == L.c.loan_id))
        .where(*_loan_conditions(scope, filters))
    )
    r = conn.execute(stmt).mappings().one()
    n = int(r["loans"])
    with_perf = int(r["with_performance"])
    # An anti-join of its own: inside a FILTER the EXISTS is evaluated far more slowly.
    no_customer = (
        sa.select(sa.func.count())
        .select_from(L)
        .where(*_loan_conditions(scope, filters), ~sa.exists().where(C.c.customer_id == L.c.customer_id).correlate(L))
    )
    not_stored = int(conn.execute(no_customer).scalar_one())
    return {
        "loans_without_performance": (int(r["loans_without_performance"]), n),
        "performance_before_disbursement": (int(r["performance_before_disbursement"]), with_perf),
        "secured_without_value": (int(r["secured_without_value"]), int(r["secured_loans"])),
        "secured_product_without_collateral": (
            int(r["secured_product_without_collateral"]), int(r["secured_products"])
        ),
        "customer_not_stored": (not_stored, n),
        "months_with_gaps": (int(r["months_with_gaps"]), with_perf),
        "missing_month_rows": (int(r["missing_month_rows"]), -1),  # base: performance rows, filled below
        "reopened": (int(r["reopened"]), int(r["ended"])),
    }


def _performance_row_checks(conn: sa.Connection, scope: Scope, filters: Filters) -> dict[str, tuple[int | None, int]]:
    bal = P.c.outstanding_principal
    active = P.c.status == "active"
    closed = P.c.status == "closed"
    reported = P.c.classification_reported.is_not(None)
    stmt = sa.select(
        sa.func.count().label("rows"),
        _count_if(closed).label("closed_rows"),
        _count_if(closed & (bal > 0)).label("closed_with_balance"),
        _count_if(active).label("active_rows"),
        _count_if(active & (bal == 0)).label("active_zero_balance"),
        _count_if(active & P.c.credit_score.is_(None)).label("score_missing"),
        _count_if(reported).label("reported"),
        _count_if(reported & (P.c.classification != P.c.classification_reported)).label("class_raised"),
    ).select_from(P).where(*_loan_conditions(scope, filters, P))
    r = conn.execute(stmt).mappings().one()
    return {
        "rows": (int(r["rows"]), 0),
        "closed_with_balance": (int(r["closed_with_balance"]), int(r["closed_rows"])),
        "active_zero_balance": (int(r["active_zero_balance"]), int(r["active_rows"])),
        "score_missing": (int(r["score_missing"]), int(r["active_rows"])),
        "class_raised": (int(r["class_raised"]), int(r["reported"])),
    }


def _customer_checks(conn: sa.Connection, scope: Scope, filters: Filters) -> dict[str, tuple[int | None, int]]:
    restricted = _restricted(scope, filters)
    no_loan = ~sa.exists().where(L.c.customer_id == C.c.customer_id).correlate(C)
    cols = [
        sa.func.count().label("customers"),
        sa.func.count(C.c.debt_ratio).label("with_ratio"),
        _count_if(C.c.debt_ratio > 1).label("debt_ratio_above_1"),
    ]
    if not restricted:
        cols.append(_count_if(no_loan).label("customers_without_loans"))
    r = conn.execute(sa.select(*cols).select_from(C).where(*_customer_conditions(scope, filters))).mappings().one()
    n = int(r["customers"])
    return {
        "customers_without_loans": (None if restricted else int(r["customers_without_loans"]), n),
        "debt_ratio_above_1": (int(r["debt_ratio_above_1"]), int(r["with_ratio"])),
    }


def _collection_checks(conn: sa.Connection, scope: Scope, filters: Filters) -> dict[str, tuple[int | None, int]]:
    both = K.c.amount_due.is_not(None) & K.c.amount_recovered.is_not(None)
    stmt = (
        sa.select(
            sa.func.count().label("cases"),
            _count_if(both).label("with_amounts"),
            _count_if(both & (K.c.amount_recovered > K.c.amount_due)).label("recovered_above_due"),
            _count_if(K.c.opened_on < L.c.disbursement_date).label("case_before_disbursement"),
        )
        .select_from(K.join(L, L.c.loan_id == K.c.loan_id))
        .where(*_loan_conditions(scope, filters))
    )
    r = conn.execute(stmt).mappings().one()
    n = int(r["cases"])
    return {
        "recovered_above_due": (int(r["recovered_above_due"]), int(r["with_amounts"])),
        "case_before_disbursement": (int(r["case_before_disbursement"]), n),
    }


def _inspection_checks(conn: sa.Connection, scope: Scope, filters: Filters) -> dict[str, tuple[int | None, int]]:
    done = I.c.done_on.is_not(None)
    has_result = I.c.result.is_not(None)
    stmt = (
        sa.select(
            sa.func.count().label("inspections"),
            _count_if(done).label("done"),
            _count_if(done & ~has_result).label("done_without_result"),
            _count_if(has_result).label("with_result"),
            _count_if(has_result & ~done).label("result_without_done"),
            _count_if(I.c.due_on < L.c.disbursement_date).label("inspection_before_disbursement"),
        )
        .select_from(I.join(L, L.c.loan_id == I.c.loan_id))
        .where(*_loan_conditions(scope, filters))
    )
    r = conn.execute(stmt).mappings().one()
    return {
        "done_without_result": (int(r["done_without_result"]), int(r["done"])),
        "result_without_done": (int(r["result_without_done"]), int(r["with_result"])),
        "inspection_before_disbursement": (int(r["inspection_before_disbursement"]), int(r["inspections"])),
    }


def quality_checks(conn: sa.Connection, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Every check of :data:`CHECKS` over the store in scope, one row each, in display order.

    Columns: ``table``, ``check`` (the id in :data:`CHECKS`), ``count`` (rows, loans, cases
    ... that fail the check; ``<NA>`` when the check does not apply, e.g. customers without
    loans under a region scope), ``base`` (what the count is out of, as the definition says),
    ``share`` (``count / base``; NaN when the base is 0 or the count is NA), and the check's
    ``name_en``, ``name_zh``, ``definition_en``, ``definition_zh``.
    """
    found: dict[str, tuple[int | None, int]] = {}
    found.update(_loan_checks(conn, scope, filters))
    perf = _performance_row_checks(conn, scope, filters)
    found.update(perf)
    found["missing_month_rows"] = (found["missing_month_rows"][0], perf["rows"][0])
    found.update(_customer_checks(conn, scope, filters))
    found.update(_collection_checks(conn, scope, filters))
    found.update(_inspection_checks(conn, scope, filters))
    records = []
    for key, check in CHECKS.items():
        count, base = found[key]
        share = count / base if count is not None and base > 0 else np.nan
        records.append(
            {
                "table": check.table,
                "check": key,
                "count": count,
                "base": base,
                "share": share,
                "name_en": check.name_en,
                "name_zh": check.name_zh,
                "definition_en": check.definition_en,
                "definition_zh": check.definition_zh,
            }
        )
    frame = pd.DataFrame(records)
    frame["count"] = frame["count"].astype("Int64")
    frame["base"] = frame["base"].astype("int64")
    frame["share"] = frame["share"].astype(float)
    return frame


def flag_summary(summary: pd.DataFrame, checks: pd.DataFrame) -> pd.DataFrame:
    """``summary`` (:func:`table_summary`) with two columns from ``checks`` (:func:`quality_checks`):
    ``checks`` (checks run on the table) and ``flagged`` (of those, how many found something)."""
    counts = checks["count"].fillna(0)
    per = pd.DataFrame(
        {"table": checks["table"], "run": checks["count"].notna(), "flag": counts > 0}
    ).groupby("table", sort=False)[["run", "flag"]].sum()
    out = summary.copy()
    out["checks"] = out["table"].map(per["run"]).fillna(0).astype("int64")
    out["flagged"] = out["table"].map(per["flag"]).fillna(0).astype("int64")
    return out


# ---------------------------------------------------------------------------------------------
# Missing values per column
# ---------------------------------------------------------------------------------------------


def missing_shares(conn: sa.Connection, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Per table and column that may be blank, how many rows leave it blank.

    Columns: ``table``, ``column``, ``rows`` (rows of the table in scope), ``missing`` (rows
    where the column is NULL), ``share`` (``missing / rows``; NaN without rows),
    ``note_en`` / ``note_zh`` (what a blank means, where blank is normal; else empty).
    Required columns are never blank (the importer rejects such rows) and are left out.
    (Use :func:`table_profile` when :func:`table_summary` is wanted too.)
    """
    return table_profile(conn, scope, filters)[1]


# ---------------------------------------------------------------------------------------------
# Performance rows per month
# ---------------------------------------------------------------------------------------------


def monthly_rows(conn: sa.Connection, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Per stored month, the performance rows in scope: a partial or missing month stands out.

    Columns: ``as_of`` (month end), ``rows``, ``active`` (active rows), ``score_missing``
    (active rows without a credit score), ``score_missing_share`` (``score_missing / active``,
    NaN without active rows). Sorted by month. A month without any row is not listed (see
    ``missing_months`` in :func:`table_summary`).
    """
    active = P.c.status == "active"
    stmt = (
        sa.select(
            P.c.as_of,
            sa.func.count().label("rows"),
            _count_if(active).label("active"),
            _count_if(active & P.c.credit_score.is_(None)).label("score_missing"),
        )
        .where(*_loan_conditions(scope, filters, P))
        .group_by(P.c.as_of)
        .order_by(P.c.as_of)
    )
    frame = read_frame(conn, stmt)
    if frame.empty:
        frame = pd.DataFrame({"as_of": [], "rows": [], "active": [], "score_missing": []})
    for col in ("rows", "active", "score_missing"):
        frame[col] = frame[col].astype("int64")
    active_n = frame["active"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["score_missing_share"] = np.where(active_n > 0, frame["score_missing"] / np.where(active_n > 0, active_n, 1), np.nan)
    return frame


# ---------------------------------------------------------------------------------------------
# Import history
# ---------------------------------------------------------------------------------------------

_COUNT_COLUMNS = (
    "loans_new",
    "loans_unchanged",
    "performance_rows",
    "performance_replaced",
    "customers_rows",
    "collections_rows",
    "inspections_rows",
)


def _files_text(source: str | None) -> str:
    if not source:
        return ""
    try:
        files = json.loads(source)
    except (TypeError, ValueError):
        return str(source)
    if isinstance(files, dict):
        return "; ".join(f"{k}: {v}" for k, v in files.items())
    return str(files)


def _months_text(months: str | None) -> tuple[str, int]:
    if not months:
        return "", 0
    try:
        values = sorted(json.loads(months))
    except (TypeError, ValueError):
        return str(months), 0
    if not values:
        return "", 0
    first, last = values[0][:7], values[-1][:7]
    return (first if first == last else f"{first} – {last}"), len(values)


def import_history(conn: sa.Connection, scope: Scope) -> pd.DataFrame:
    """The import batches, newest first.

    Columns: ``batch_id``, ``started_at``, ``finished_at``, ``seconds`` (duration), ``username``,
    ``files`` (``table: file`` pairs), ``region_set``, ``months`` (first – last month loaded),
    ``month_count``, the counts (``loans_new``, ``loans_unchanged``, ``performance_rows``,
    ``performance_replaced``, ``customers_rows``, ``collections_rows``, ``inspections_rows``) and
    ``note``. A batch's counts are store-wide, so for a scope limited to some regions they are
    withheld (``<NA>``): a regional head sees when and what was loaded, not the whole book's size.
    """
    b = ImportBatch.__table__
    raw = read_frame(conn, sa.select(b).order_by(b.c.batch_id.desc()))
    whole = scope.regions is None
    started = pd.to_datetime(raw["started_at"]).astype("datetime64[us]")
    finished = pd.to_datetime(raw["finished_at"]).astype("datetime64[us]")
    months = [_months_text(m) for m in raw["months"]]
    out = pd.DataFrame(
        {
            "batch_id": raw["batch_id"].astype("int64"),
            "started_at": started,
            "finished_at": finished,
            "seconds": (finished - started).dt.total_seconds(),
            "username": raw["username"].astype(object),
            "files": [_files_text(s) for s in raw["source"]],
            "region_set": raw["region_set"].astype(object),
            "months": [m[0] for m in months],
            "month_count": pd.Series([m[1] for m in months], dtype="int64", index=raw.index),
        },
        index=raw.index,
    )
    for col in _COUNT_COLUMNS:
        out[col] = raw[col].astype("Int64") if whole else pd.Series(pd.NA, index=raw.index, dtype="Int64")
    out["note"] = raw["note"].astype(object)
    return out.reset_index(drop=True)
