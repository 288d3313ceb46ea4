"""Data quality (data.quality), loading as a user (data.admin), the Data page's helpers and figures.

The quality checks run on a tiny hand-made store on DuckDB and PostgreSQL; every expected
count is worked out by hand in the comments of ``_tiny_store``.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pandas.testing import assert_frame_equal

from components.charts_data import missing_figure, monthly_rows_figure
from components.upload import bad_rows, checks_table, detect_encoding, filter_rejections, safe_name
from data import quality
from data.admin import can_load, load_as, validate_as
from data.bulk import insert_frame
from data.importer import read_table
from data.read import Filters, Scope
from data.schema import AuditLog, CollectionCase, Customer, ImportBatch, Inspection, Loan, Performance, Region
from data.users import AppUser

D = dt.date
GD = Scope.of(["440000"])
ADMIN = AppUser("admin", "Admin", "admin", Scope.all())
MANAGER = AppUser("manager", "Manager", "manager", Scope.all())


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("DAIHOU_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.delenv("DAIHOU_REGION_SET", raising=False)


def _tiny_store(engine: sa.Engine) -> None:
    """Five loans with one oddity each, on purpose:

    * L1 GD mortgage, real estate 1,000,000; Jan-Mar all active, Mar balance 0 (active zero balance).
    * L2 GD mortgage without a collateral type (mortgage without collateral); customer C2 not stored;
      rows for Jan and Mar only (one missing month); Mar reported normal at dpd 40 (class raised).
    * L3 BJ consumer, vehicle without a value; disbursed 2024-03-05 but a Feb row (performance
      before disbursement); Mar without a score; Feb row without a reported class.
    * L4 BJ business, no performance at all; customer C4 not stored.
    * L5 GD consumer: Jan active, Feb closed with balance 100, Mar active again (reopened).
    """
    loans = pd.DataFrame(
        {
            "loan_id": ["L1", "L2", "L3", "L4", "L5"],
            "customer_id": ["C1", "C2", "C3", "C4", "C5"],
            "region_code": ["440000", "440000", "110000", "110000", "440000"],
            "branch_id": ["B1", "B1", "B2", None, "B1"],
            "product": ["mortgage", "mortgage", "consumer", "business", "consumer"],
            "segment": ["retail", "retail", "sme", "corporate", "retail"],
            "disbursement_date": [D(2024, 1, 15), D(2024, 1, 10), D(2024, 3, 5), D(2023, 12, 1), D(2023, 11, 1)],
            "maturity_date": [D(2044, 1, 15), D(2044, 1, 10), D(2027, 3, 5), D(2026, 12, 1), D(2026, 11, 1)],
            "principal": [1_200_000.0, 800_000.0, 50_000.0, 2_000_000.0, 30_000.0],
            "interest_rate": [0.04, 0.04, 0.1, 0.06, 0.12],
            "origination_score": pd.array([700, 690, None, 650, 600], dtype="Int64"),
            "collateral_type": ["real_estate", None, "vehicle", "none", "none"],
            "collateral_value": [1_000_000.0, None, None, None, None],
            "purpose": [None] * 5,
            "industry": [None, None, None, "manufacturing", None],
            "batch_id": [7] * 5,
        }
    )
    attrs = loans.set_index("loan_id")[["region_code", "branch_id", "product", "segment"]]
    jan, feb, mar = D(2024, 1, 31), D(2024, 2, 29), D(2024, 3, 31)
    rows = [
        # loan, as_of, balance, dpd, score, status, reported, stored class
        ("L1", jan, 1_190_000.0, 0, 700, "active", "normal", "normal"),
        ("L1", feb, 1_180_000.0, 0, 700, "active", "normal", "normal"),
        ("L1", mar, 0.0, 0, 700, "active", "normal", "normal"),
        ("L2", jan, 790_000.0, 0, 690, "active", "normal", "normal"),
        ("L2", mar, 780_000.0, 40, 650, "active", "normal", "special_mention"),
        ("L3", feb, 50_000.0, 0, 640, "active", None, "normal"),
        ("L3", mar, 49_000.0, 0, None, "active", "normal", "normal"),
        ("L5", jan, 20_000.0, 0, 600, "active", "normal", "normal"),
        ("L5", feb, 100.0, 0, 600, "closed", "normal", "normal"),
        ("L5", mar, 19_000.0, 0, 600, "active", "normal", "normal"),
    ]
    perf = pd.DataFrame(rows, columns=["loan_id", "as_of", "outstanding_principal", "dpd", "credit_score", "status",
                                       "classification_reported", "classification"])
    perf = perf.join(attrs, on="loan_id")
    perf["credit_score"] = perf["credit_score"].astype("Int64")
    perf["principal_paid"] = 1000.0
    customers = pd.DataFrame(
        {
            "customer_id": ["C1", "C3", "C5", "C9"],  # C9 has no loan
            "segment": ["retail", "sme", "retail", "retail"],
            "debt_ratio": [1.2, 0.3, None, 0.2],
            "annual_income": [100_000.0, 200_000.0, None, 50_000.0],
        }
    )
    collections = pd.DataFrame(
        {
            "case_id": ["K1", "K2"],
            "loan_id": ["L5", "L3"],
            "opened_on": [D(2024, 2, 1), D(2024, 3, 1)],  # K2 before L3's disbursement (2024-03-05)
            "amount_due": [100.0, 50.0],
            "amount_recovered": [150.0, 10.0],  # K1 recovered more than due
        }
    )
    inspections = pd.DataFrame(
        {
            "inspection_id": ["I1", "I2", "I3"],
            "loan_id": ["L1", "L2", "L3"],
            "kind": ["first", "routine", "first"],
            "due_on": [D(2024, 2, 15), D(2024, 3, 10), D(2024, 2, 1)],  # I3 due before L3's disbursement
            "done_on": [D(2024, 2, 10), D(2024, 3, 12), None],  # I2 done without a result
            "result": ["ok", None, "issue"],  # I3 result without a done date
        }
    )
    with engine.begin() as c:
        insert_frame(c, Region.__table__, pd.DataFrame({
            "region_code": ["440000", "110000"], "region_set": "cn_provinces",
            "name_zh": ["广东省", "北京市"], "short_zh": ["广东", "北京"], "name_en": ["Guangdong", "Beijing"]}))
        insert_frame(c, Loan.__table__, loans)
        insert_frame(c, Performance.__table__, perf)
        insert_frame(c, Customer.__table__, customers)
        insert_frame(c, CollectionCase.__table__, collections)
        insert_frame(c, Inspection.__table__, inspections)


def _counts(frame: pd.DataFrame) -> dict[str, tuple]:
    return {r.check: (None if pd.isna(r.count) else int(r.count), int(r.base)) for r in frame.itertuples()}


def test_quality_checks_whole_store(engine):
    _tiny_store(engine)
    with engine.connect() as c:
        got = quality.quality_checks(c, Scope.all(), Filters())
    assert list(got["check"]) == list(quality.CHECKS)
    assert _counts(got) == {
        "loans_without_performance": (1, 5),
        "performance_before_disbursement": (1, 4),
        "secured_without_value": (1, 2),
        "secured_product_without_collateral": (1, 2),
        "customer_not_stored": (2, 5),
        "months_with_gaps": (1, 4),
        "missing_month_rows": (1, 10),
        "reopened": (1, 1),
        "closed_with_balance": (1, 1),
        "active_zero_balance": (1, 9),
        "score_missing": (1, 9),
        "class_raised": (1, 9),
        "customers_without_loans": (1, 4),
        "debt_ratio_above_1": (1, 3),
        "recovered_above_due": (1, 2),
        "case_before_disbursement": (1, 2),
        "done_without_result": (1, 2),
        "result_without_done": (1, 2),
        "inspection_before_disbursement": (1, 3),
    }
    share = got.set_index("check")["share"]
    assert share["customer_not_stored"] == pytest.approx(0.4)
    assert share["missing_month_rows"] == pytest.approx(0.1)
    for col in ("name_en", "name_zh", "definition_en", "definition_zh"):
        assert got[col].str.len().gt(0).all()


def test_quality_checks_in_a_regional_scope(engine):
    _tiny_store(engine)
    with engine.connect() as c:
        got = quality.quality_checks(c, GD, Filters())
    counts = _counts(got)
    assert counts["loans_without_performance"] == (0, 3)
    assert counts["secured_product_without_collateral"] == (1, 2)
    assert counts["secured_without_value"] == (0, 1)
    assert counts["customer_not_stored"] == (1, 3)
    assert counts["missing_month_rows"] == (1, 8)
    assert counts["active_zero_balance"] == (1, 7)
    assert counts["score_missing"] == (0, 7)
    assert counts["class_raised"] == (1, 8)
    assert counts["customers_without_loans"] == (None, 2)  # does not apply in a scope
    assert counts["debt_ratio_above_1"] == (1, 1)
    assert counts["recovered_above_due"] == (1, 1)
    assert counts["case_before_disbursement"] == (0, 1)
    assert counts["done_without_result"] == (1, 2)
    assert counts["inspection_before_disbursement"] == (0, 2)
    share = got.set_index("check")["share"]
    assert np.isnan(share["customers_without_loans"])


def test_table_summary_and_filters(engine):
    _tiny_store(engine)
    with engine.connect() as c:
        got = quality.table_summary(c, Scope.all(), Filters())
        mortgage = quality.table_summary(c, Scope.all(), Filters(products=("mortgage",)))
        nothing = quality.table_summary(c, Scope.of([]), Filters())
    expected = pd.DataFrame(
        {
            "table": ["loans", "performance", "customers", "collections", "inspections"],
            "rows": [5, 10, 4, 2, 3],
            "date_column": ["disbursement_date", "as_of", None, "opened_on", "due_on"],
            "first": [D(2023, 11, 1), D(2024, 1, 31), None, D(2024, 2, 1), D(2024, 2, 1)],
            "last": [D(2024, 3, 5), D(2024, 3, 31), None, D(2024, 3, 1), D(2024, 3, 10)],
            "months": pd.array([4, 3, pd.NA, 2, 2], dtype="Int64"),
            "missing_months": pd.array([pd.NA, 0, pd.NA, pd.NA, pd.NA], dtype="Int64"),
            "last_batch": pd.array([7, pd.NA, pd.NA, pd.NA, pd.NA], dtype="Int64"),
        }
    )
    assert_frame_equal(got, expected, check_dtype=False)
    assert mortgage["rows"].tolist() == [2, 5, 1, 0, 2]  # L1, L2; C1 only (C2 not stored)
    assert nothing["rows"].tolist() == [0, 0, 0, 0, 0]


def test_missing_shares_and_monthly_rows(engine):
    _tiny_store(engine)
    with engine.connect() as c:
        missing = quality.missing_shares(c, Scope.all(), Filters())
        monthly = quality.monthly_rows(c, Scope.all(), Filters())
    m = missing.set_index(["table", "column"])
    assert m.loc[("loans", "collateral_type"), "missing"] == 1
    assert m.loc[("loans", "collateral_value"), "share"] == pytest.approx(4 / 5)
    assert m.loc[("performance", "credit_score"), "missing"] == 1
    assert m.loc[("performance", "interest_paid"), "share"] == pytest.approx(1.0)
    assert m.loc[("customers", "name_enc"), "missing"] == 4
    assert m.loc[("inspections", "done_on"), "note_en"] == "blank = not done yet"
    assert ("loans", "loan_id") not in m.index and ("performance", "batch_id") not in m.index
    assert monthly["as_of"].tolist() == [D(2024, 1, 31), D(2024, 2, 29), D(2024, 3, 31)]
    assert monthly["rows"].tolist() == [3, 3, 4]
    assert monthly["active"].tolist() == [3, 2, 4]
    assert monthly["score_missing_share"].tolist() == pytest.approx([0.0, 0.0, 0.25])


def test_flag_summary_counts_checks_per_table(engine):
    _tiny_store(engine)
    with engine.connect() as c:
        summary = quality.table_summary(c, GD, Filters())
        checks = quality.quality_checks(c, GD, Filters())
    flagged = quality.flag_summary(summary, checks).set_index("table")
    assert flagged.loc["loans", "checks"] == 5 and flagged.loc["loans", "flagged"] == 2
    assert flagged.loc["customers", "checks"] == 1  # customers without loans does not apply
    assert flagged.loc["inspections", "flagged"] == 1


def test_import_history_newest_first_counts_withheld_in_a_scope(engine):
    with engine.connect() as c:
        empty = quality.import_history(c, Scope.all())
    assert empty.empty and {"batch_id", "files", "loans_new", "note"} <= set(empty.columns)
    with engine.begin() as c:
        for i, who in ((1, None), (2, "admin")):
            c.execute(sa.insert(ImportBatch).values(
                batch_id=i, started_at=dt.datetime(2024, 4, i, 9), finished_at=dt.datetime(2024, 4, i, 9, 0, 30),
                username=who, source=json.dumps({"loans": "loans.csv", "performance": "p.csv"}),
                region_set="cn_provinces", loans_new=10 * i, loans_unchanged=0, performance_rows=100 * i,
                performance_replaced=0, customers_rows=0, collections_rows=0, inspections_rows=0,
                months=json.dumps(["2024-01-31", "2024-03-31", "2024-02-29"]), note=None,
            ))
    with engine.connect() as c:
        whole = quality.import_history(c, Scope.all())
        head = quality.import_history(c, GD)
    assert whole["batch_id"].tolist() == [2, 1]
    assert whole["loans_new"].tolist() == [20, 10]
    assert whole["seconds"].tolist() == [30.0, 30.0]
    assert whole["files"].iloc[0] == "loans: loans.csv; performance: p.csv"
    assert whole["months"].iloc[0] == "2024-01 – 2024-03" and whole["month_count"].iloc[0] == 3
    assert head["batch_id"].tolist() == [2, 1]
    assert head["loans_new"].isna().all() and head["performance_rows"].isna().all()


# ----------------------------------------------------------------------------- loading as a user

LOANS = """\
loan_id,customer_id,region_code,product,disbursement_date,maturity_date,principal,interest_rate
A1,C1,440000,consumer,2024-01-10,2027-01-10,10000,0.1
A2,C2,110000,mortgage,2024-02-10,2044-02-10,500000,0.04
"""
PERF = """\
loan_id,as_of,outstanding_principal,dpd
A1,2024-02-29,9500,0
A2,2024-02-29,499000,0
"""


def _tape(tmp_path, perf: str = PERF) -> dict:
    (tmp_path / "loans.csv").write_text(LOANS, encoding="utf-8")
    (tmp_path / "perf.csv").write_text(perf, encoding="utf-8")
    return {"loans": tmp_path / "loans.csv", "performance": tmp_path / "perf.csv"}


def _count(engine, table) -> int:
    with engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_validate_writes_nothing_and_reports_what_a_load_would_do(engine, tmp_path):
    paths = _tape(tmp_path)
    report = validate_as(engine, ADMIN, {k: read_table(p, k) for k, p in paths.items()})
    assert report.ok and report.batch_id is None
    assert (report.loans_new, report.performance_rows) == (2, 2)
    assert report.months == [D(2024, 2, 29)]
    for t in (Loan, Performance, ImportBatch, Region):
        assert _count(engine, t) == 0
    loaded = load_as(engine, ADMIN, paths)
    assert loaded.ok and loaded.batch_id is not None
    again = validate_as(engine, ADMIN, paths)  # paths are read too
    assert again.ok and again.loans_unchanged == 2 and again.performance_replaced == 2
    assert _count(engine, ImportBatch) == 1


def test_load_as_admin_is_audited_and_moves_the_data_version(engine, tmp_path):
    report = load_as(engine, ADMIN, _tape(tmp_path))
    assert report.ok
    with engine.connect() as c:
        version = c.execute(sa.select(sa.func.max(ImportBatch.batch_id))).scalar_one()
        audit = c.execute(sa.select(AuditLog.username, AuditLog.action, AuditLog.detail)).all()
    assert version == report.batch_id
    assert [(a.username, a.action) for a in audit] == [("admin", "import")]
    detail = json.loads(audit[0].detail)
    assert detail["batch_id"] == report.batch_id and detail["loans_new"] == 2
    assert detail["files"] == {"loans": "loans.csv", "performance": "perf.csv"}


def test_broken_tape_is_rejected_and_audited(engine, tmp_path):
    paths = _tape(tmp_path, PERF.replace("A2,2024-02-29,499000,0", "A9,2024-02-29,-5,0"))
    report = validate_as(engine, ADMIN, paths)
    assert not report.ok
    frame = report.to_frame()
    assert set(frame["column"]) == {"loan_id", "outstanding_principal"}
    assert (frame["row"] == 3).all()
    loaded = load_as(engine, ADMIN, paths)
    assert not loaded.ok and _count(engine, Loan) == 0
    with engine.connect() as c:
        actions = c.execute(sa.select(AuditLog.action)).scalars().all()
    assert actions == ["import_rejected"]


def test_only_administrators_may_validate_or_load(engine, tmp_path):
    paths = _tape(tmp_path)
    assert can_load(ADMIN) and not can_load(MANAGER)
    with pytest.raises(PermissionError, match="only an administrator may load"):
        load_as(engine, MANAGER, paths)
    with pytest.raises(PermissionError, match="only an administrator may validate"):
        validate_as(engine, MANAGER, paths)
    assert _count(engine, Loan) == 0
    with engine.connect() as c:
        rows = c.execute(sa.select(AuditLog.username, AuditLog.action)).all()
    assert [tuple(r) for r in rows] == [("manager", "import_denied")] * 2


# ----------------------------------------------------------------------------- page helpers


def test_detect_encoding_and_safe_name():
    assert detect_encoding("a,b\n1,广东\n".encode("utf-8")) == "UTF-8"
    assert detect_encoding(b"\xef\xbb\xbfa,b\n") == "UTF-8 with BOM"
    assert detect_encoding("a,b\n1,广东\n".encode("gbk")) == "GBK/GB18030"
    assert detect_encoding(b"PAR1", "loans.parquet") == "Parquet"
    assert safe_name("..\\..\\evil/贷款 2024.csv") == "贷款_2024.csv"
    assert safe_name("") == "upload.csv"


def test_filter_rejections_and_bad_rows(tmp_path):
    (tmp_path / "perf.csv").write_text(PERF + "A3,2024-02-29,x,-1\n", encoding="utf-8")
    raw = read_table(tmp_path / "perf.csv", "performance")
    rej = pd.DataFrame(
        {
            "file": ["perf.csv", "perf.csv", "perf.csv", "loans.csv"],
            "row": pd.array([4, 4, 2, pd.NA], dtype="Int64"),
            "column": ["outstanding_principal", "dpd", "loan_id", None],
            "value": ["x", "-1", "A1", None],
            "reason": ["not a number", "must not be negative", "unknown loan", "file is empty"],
        }
    )
    assert len(filter_rejections(rej)) == 4
    assert filter_rejections(rej, files=["loans.csv"])["reason"].tolist() == ["file is empty"]
    assert filter_rejections(rej, columns=["dpd", "loan_id"])["row"].tolist() == [4, 2]
    assert filter_rejections(rej, text="NEGATIVE")["column"].tolist() == ["dpd"]
    assert filter_rejections(rej, text="-1")["column"].tolist() == ["dpd"]  # values are searched too
    rows = bad_rows(raw, rej)
    assert rows["row"].tolist() == [2, 4]
    assert rows["problems"].tolist() == ["unknown loan", "not a number | must not be negative"]
    assert rows.loc[1, "outstanding_principal"] == "x" and list(rows.columns[:3]) == ["row", "problems", "loan_id"]
    assert bad_rows(raw, rej.iloc[3:]).empty


def test_checks_table_reads_one_table_in_either_language(engine):
    _tiny_store(engine)
    with engine.connect() as c:
        checks = quality.quality_checks(c, GD, Filters())
    zh = checks_table(checks, "customers", "zh")
    assert list(zh.index) == ["无贷款的客户", "负债收入比超过100%"] and zh.index.name == "检查项"
    assert zh["发现数"].tolist() == ["—", "1"] and zh["占比"].tolist() == ["—", "100.00%"]
    en = checks_table(checks, "loans", "en")
    assert list(en.columns) == ["Found", "Out of", "Share", "Definition"]
    assert en.loc["Mortgage/auto without collateral", "Share"] == "50.00%"


# ----------------------------------------------------------------------------- figures


def test_missing_figure_one_table_percent_axis():
    missing = pd.DataFrame(
        {
            "table": ["loans", "loans", "collections"],
            "column": ["branch_id", "collateral_value", "agency"],
            "rows": [10, 10, 4],
            "missing": [1, 6, 2],
            "share": [0.1, 0.6, 0.5],
            "note_en": ["", "blank for unsecured loans", "blank = in-house collection"],
            "note_zh": ["", "无押品贷款为空", "空 = 行内自催"],
        }
    )
    fig = missing_figure(missing, "loans", "en")
    bar = fig.data[0]
    assert list(bar.y) == ["collateral_value", "branch_id"]  # first column on top
    assert list(bar.x) == [0.6, 0.1]
    assert list(bar.text) == ["60.0%", "10.0%"]
    assert bar.marker.color[0] != bar.marker.color[1]  # a normal blank is drawn lighter
    assert fig.layout.xaxis.tickformat == ".0%"
    assert fig.layout.title.text == "Blank values per column"
    assert missing_figure(missing, "loans", "zh").layout.title.text == "各列空值占比"
    with pytest.raises(ValueError, match="lacks column\\(s\\): note_en, note_zh"):
        missing_figure(missing.drop(columns=["note_en", "note_zh"]), "loans")


def test_monthly_rows_figure_stacks_rows_and_plots_score_gaps():
    monthly = pd.DataFrame(
        {
            "as_of": [D(2024, 1, 31), D(2024, 2, 29)],
            "rows": [10, 12],
            "active": [9, 10],
            "score_missing": [0, 5],
            "score_missing_share": [0.0, 0.5],
        }
    )
    fig = monthly_rows_figure(monthly, "en")
    assert [t.type for t in fig.data] == ["bar", "bar", "scatter"]
    assert list(fig.data[0].y) == [9, 10] and list(fig.data[1].y) == [1, 2]
    assert list(fig.data[2].y) == [0.0, 0.5] and fig.data[2].yaxis == "y2"
    assert fig.layout.barmode == "stack"
    assert fig.layout.yaxis2.range == (0, pytest.approx(0.6))
    with pytest.raises(ValueError, match="lacks column\\(s\\): active"):
        monthly_rows_figure(monthly.drop(columns=["active"]))
