"""The loan-tape importer: every rule, all-or-nothing loads, on DuckDB and PostgreSQL.

Each test writes tiny tapes into tmp_path; the expected numbers are written out by hand. A
rejected import must leave the store exactly as it was (row counts and a checksum of every
table).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from data import bulk
from data.importer import IMPORT_FILE, ImportReport, Rejection, load_files, load_tables, read_table
from data.schema import Base

REPO = Path(__file__).resolve().parent.parent

LOANS = """\
loan_id,customer_id,region_code,branch_id,product,segment,disbursement_date,maturity_date,principal,interest_rate,origination_score,collateral_type,collateral_value,purpose,industry
L1,C1,广东,B1,mortgage,retail,2023-01-15,2043-01-15,1000000,0.0435,720,real_estate,1500000,home,
L2,C2,440000,B1,consumer,,2023-06-01,2026-06-01,50000,0.12,650,none,,,
L3,C3,Beijing,B2,business,sme,2024-02-10,2027-02-10,2000000,0.06,,equipment,800000,expansion,manufacturing
"""

PERF_MARCH = """\
loan_id,as_of,outstanding_principal,dpd,credit_score,collateral_value,status,classification,principal_paid,interest_paid,recovered_amount
L1,2024-03-15,950000,0,730,1600000,active,正常,4000,3500,
L2,2024-03-31,30000,120,600,,active,normal,0,0,
L3,2024-03-01,2000000,15,,,active,关注,,,
"""

PERF_APRIL = PERF_MARCH.replace("2024-03-31", "2024-04-30").replace("2024-03", "2024-04")

CUSTOMERS = """\
customer_id,name,id_number,phone,segment,industry,annual_income,debt_ratio
C1,张三,110101199001011234,13800138000,retail,,300000,0.35
C2,李四,,13900139000,retail,,120000,0.5
"""

COLLECTIONS = """\
case_id,loan_id,opened_on,closed_on,stage,agency,amount_due,amount_recovered,complaints
K1,L2,2024-02-01,,mid,Acme Recovery,5000,1000,0
"""

INSPECTIONS = """\
inspection_id,loan_id,kind,due_on,done_on,result
I1,L1,first,2023-02-15,2023-02-10,ok
I2,L3,routine,2024-08-10,,
"""


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch):
    """Encrypt with a throw-away key (never the repository's key file)."""
    monkeypatch.setenv("DAIHOU_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.delenv("DAIHOU_REGION_SET", raising=False)


def put(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def snapshot(engine: sa.Engine) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every table of the store."""
    out = {}
    with engine.connect() as c:
        for table in Base.metadata.sorted_tables:
            rows = sorted(repr(tuple(r)) for r in c.execute(sa.select(table)).all())
            out[table.name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as c:
        return c.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def rows_of(engine: sa.Engine, sql: str) -> list[tuple]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(sa.text(sql)).all()]


def where(report: ImportReport) -> list[tuple]:
    """(file, row, column) of every rejection, in report order."""
    return [(r.file, r.row, r.column) for r in report.rejections]


def load_base(engine, tmp_path) -> ImportReport:
    report = load_files(
        engine, {"loans": put(tmp_path, "loans.csv", LOANS), "performance": put(tmp_path, "perf.csv", PERF_MARCH)}
    )
    assert report.ok, report.rejections
    return report


def assert_rejected_unchanged(engine, before, report: ImportReport) -> None:
    assert not report.ok
    assert report.batch_id is None
    assert report.loans_new == 0 and report.performance_rows == 0
    assert snapshot(engine) == before


# ---------------------------------------------------------------------------------------------
# Happy path
# ---------------------------------------------------------------------------------------------


def test_happy_path_all_tables(engine, tmp_path):
    seen: list[tuple[float, str]] = []
    report = load_files(
        engine,
        {
            "loans": put(tmp_path, "loans.csv", LOANS),
            "performance": put(tmp_path, "perf.csv", PERF_MARCH),
            "customers": put(tmp_path, "customers.csv", CUSTOMERS),
            "collections": put(tmp_path, "collections.csv", COLLECTIONS),
            "inspections": put(tmp_path, "inspections.csv", INSPECTIONS),
        },
        username="alice",
        progress=lambda f, m: seen.append((f, m)),
    )
    assert report.ok, report.rejections
    assert (report.loans_new, report.loans_unchanged) == (3, 0)
    assert (report.performance_rows, report.performance_replaced) == (3, 0)
    assert (report.customers_rows, report.collections_rows, report.inspections_rows) == (2, 1, 2)
    assert report.months == [dt.date(2024, 3, 31)]
    assert report.batch_id is not None
    assert report.to_frame().empty and list(report.to_frame().columns) == ["file", "row", "column", "value", "reason"]
    assert "3 new loans" in report.summary()

    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in fractions) and fractions == sorted(fractions)

    assert count(engine, "loans") == 3
    assert count(engine, "performance") == 3
    assert count(engine, "customers") == 2
    assert count(engine, "collections") == 1
    assert count(engine, "inspections") == 2
    assert count(engine, "regions") == 34
    assert rows_of(engine, "SELECT branch_id, region_code FROM branches ORDER BY branch_id") == [
        ("B1", "440000"), ("B2", "110000"),
    ]
    # region names normalised to codes: 广东 -> 440000, Beijing -> 110000; segment default retail
    assert rows_of(engine, "SELECT loan_id, region_code, segment FROM loans ORDER BY loan_id") == [
        ("L1", "440000", "retail"), ("L2", "440000", "retail"), ("L3", "110000", "sme"),
    ]
    perf = rows_of(
        engine,
        "SELECT loan_id, as_of, region_code, branch_id, product, segment, dpd, status, "
        "classification_reported, classification, batch_id FROM performance ORDER BY loan_id",
    )
    march = dt.date(2024, 3, 31)
    b = report.batch_id
    assert perf == [
        ("L1", march, "440000", "B1", "mortgage", "retail", 0, "active", "normal", "normal", b),
        # reported normal with 120 days past due: the floor makes it substandard
        ("L2", march, "440000", "B1", "consumer", "retail", 120, "active", "normal", "substandard", b),
        ("L3", march, "110000", "B2", "business", "sme", 15, "active", "special_mention", "special_mention", b),
    ]
    money = rows_of(engine, "SELECT outstanding_principal, principal_paid FROM performance WHERE loan_id = 'L1'")
    assert [float(x) for x in money[0]] == [950000.0, 4000.0]
    rate = rows_of(engine, "SELECT interest_rate, principal FROM loans WHERE loan_id = 'L1'")[0]
    assert rate[0] == pytest.approx(0.0435, abs=1e-7) and float(rate[1]) == 1_000_000.0

    # personal data is stored encrypted, never in clear
    cust = rows_of(engine, "SELECT customer_id, name_enc, id_number_enc, phone_enc FROM customers ORDER BY customer_id")
    dump = repr(cust)
    for clear in ("张三", "李四", "110101199001011234", "13800138000", "13900139000"):
        assert clear not in dump
    from data.crypto import decrypt_value

    assert decrypt_value(cust[0][1]) == "张三" and decrypt_value(cust[0][3]) == "13800138000"
    assert cust[1][2] is None  # blank id_number stays missing

    batch = rows_of(
        engine,
        "SELECT batch_id, username, region_set, loans_new, performance_rows, customers_rows, "
        "collections_rows, inspections_rows, months, source FROM import_batches",
    )
    assert len(batch) == 1
    assert batch[0][:8] == (b, "alice", "cn_provinces", 3, 3, 2, 1, 2)
    assert json.loads(batch[0][8]) == ["2024-03-31"]
    assert json.loads(batch[0][9])["performance"] == "perf.csv"
    assert rows_of(engine, "SELECT DISTINCT batch_id FROM loans") == [(b,)]
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT value FROM store_settings WHERE key = 'region_set'")).scalar_one() == "cn_provinces"
        assert c.execute(sa.text("SELECT value FROM store_settings WHERE key = 'currency'")).scalar_one() == "CNY"


def test_load_tables_takes_dataframes_on_callers_transaction(engine):
    loans = pd.read_csv(pd.io.common.StringIO(LOANS), dtype=str)
    perf = pd.DataFrame(
        {
            "loan_id": ["L1", "L2"],
            "as_of": pd.to_datetime(["2024-04-30", "2024-04-02"]),  # typed dates
            "outstanding_principal": [940000.0, 29000.0],
            "dpd": [0, 400],
        }
    )
    with engine.connect() as conn:
        with conn.begin():
            report = load_tables(conn, {"loans": loans, "performance": perf}, region_set="cn_provinces", currency="CNY")
            assert report.ok, report.rejections
    assert report.files == {"loans": "loans", "performance": "performance"}
    assert rows_of(engine, "SELECT loan_id, as_of, classification, status FROM performance ORDER BY loan_id") == [
        ("L1", dt.date(2024, 4, 30), "normal", "active"),
        ("L2", dt.date(2024, 4, 30), "loss", "active"),
    ]
    # a DataFrame's row numbers count as if it were a CSV file with a header line
    bad = perf.assign(dpd=[0, -3])
    with engine.connect() as conn:
        with conn.begin() as tx:
            report = load_tables(conn, {"performance": bad}, region_set="cn_provinces", currency="CNY")
            tx.rollback()
    assert where(report) == [("performance", 3, "dpd")]


# ---------------------------------------------------------------------------------------------
# One failing input per rule. Each asserts file/row/column, that every bad row is reported, and
# that the store did not change.
# ---------------------------------------------------------------------------------------------


def test_missing_required_column(engine, tmp_path):
    load_base(engine, tmp_path)
    before = snapshot(engine)
    text = "\n".join(",".join(f for i, f in enumerate(line.split(",")) if i != 8) for line in LOANS.splitlines())
    report = load_files(engine, {"loans": put(tmp_path, "loans2.csv", text + "\n")})
    assert where(report) == [("loans2.csv", None, "principal")]
    assert report.rejections[0].reason.startswith("required column principal is missing")
    assert_rejected_unchanged(engine, before, report)


def test_bad_dates_every_row(engine, tmp_path):
    load_base(engine, tmp_path)
    before = snapshot(engine)
    text = LOANS.replace("2023-01-15,2043", "2024-13-01,2043").replace("2024-02-10,2027", "yesterday,2027")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    assert where(report) == [("loans.csv", 2, "disbursement_date"), ("loans.csv", 4, "disbursement_date")]
    assert report.rejections[0].value == "2024-13-01"
    assert report.rejections[1].reason == (
        "disbursement_date 'yesterday' is not a valid date (use YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD)"
    )
    assert_rejected_unchanged(engine, before, report)


def test_maturity_before_disbursement(engine, tmp_path):
    before = snapshot(engine)
    text = LOANS.replace("2024-02-10,2027-02-10", "2024-03-05,2023-01-01")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    assert report.rejections == [
        Rejection("loans.csv", 4, "maturity_date", "2023-01-01",
                  "maturity_date 2023-01-01 is before disbursement_date 2024-03-05"),
    ]
    assert_rejected_unchanged(engine, before, report)


def test_zero_and_negative_principal(engine, tmp_path):
    before = snapshot(engine)
    text = LOANS.replace(",1000000,0.0435", ",0,0.0435").replace(",50000,0.12", ",-5,0.12")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    assert where(report) == [("loans.csv", 2, "principal"), ("loans.csv", 3, "principal")]
    assert [r.reason for r in report.rejections] == [
        "principal 0 must be greater than 0", "principal -5 must be greater than 0",
    ]
    assert_rejected_unchanged(engine, before, report)


def test_rates_in_percent(engine, tmp_path):
    before = snapshot(engine)
    text = LOANS.replace(",0.0435,", ",4.35,").replace(",0.12,", ",12,").replace(",0.06,", ",6,")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    assert where(report) == [("loans.csv", None, "interest_rate")]
    assert "fractions" in report.rejections[0].reason and "not percents" in report.rejections[0].reason
    assert_rejected_unchanged(engine, before, report)
    # one rate out of range among fractions: that row only
    text = LOANS.replace(",0.12,", ",12,")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    assert report.rejections == [
        Rejection("loans.csv", 3, "interest_rate", "12", "interest_rate 12 must be at least 0 and below 1"),
    ]
    assert_rejected_unchanged(engine, before, report)


def test_duplicate_loan_id_in_file(engine, tmp_path):
    before = snapshot(engine)
    text = LOANS + LOANS.splitlines()[1] + "\n"  # L1 again on line 5
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    assert where(report) == [("loans.csv", 2, "loan_id"), ("loans.csv", 5, "loan_id")]
    assert report.rejections[0].reason == "loan_id L1 appears 2 times in this file (rows 2, 5)"
    assert_rejected_unchanged(engine, before, report)


def test_loan_already_stored_differs_or_unchanged(engine, tmp_path):
    load_base(engine, tmp_path)
    before = snapshot(engine)
    text = LOANS.replace(",1000000,0.0435", ",1200000,0.0435").replace("2023-06-01,2026-06-01", "2023-06-01,2027-06-01")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    assert where(report) == [("loans.csv", 2, "principal"), ("loans.csv", 3, "maturity_date")]
    assert report.rejections[0].reason == (
        "loan_id L1 is already stored with principal 1000000.00; this file has 1200000.00 "
        "(a stored loan's fixed columns cannot change)"
    )
    assert "2026-06-01" in report.rejections[1].reason and "2027-06-01" in report.rejections[1].reason
    assert_rejected_unchanged(engine, before, report)
    # a bad value in a stored loan is reported once, for what is wrong with it
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", LOANS.replace(",1000000,0.0435", ",-5,0.0435"))})
    assert [(r.row, r.column, r.reason) for r in report.rejections] == [(2, "principal", "principal -5 must be greater than 0")]
    assert_rejected_unchanged(engine, before, report)

    # identical rows (names instead of codes, other case, same values) are skipped as unchanged
    same = LOANS.replace("440000,B1,consumer", "广东省,B1,consumer").replace("Beijing", "北京").replace(",mortgage,retail,", ",mortgage,RETAIL,")
    extra = "L4,C4,上海,B3,auto,,2024-01-01,2029-01-01,80000,0.05,,vehicle,90000,,\n"
    report = load_files(engine, {"loans": put(tmp_path, "loans3.csv", same + extra)})
    assert report.ok, report.rejections
    assert (report.loans_new, report.loans_unchanged) == (1, 3)
    assert count(engine, "loans") == 4
    assert rows_of(engine, "SELECT region_code FROM branches WHERE branch_id = 'B3'") == [("310000",)]


def test_performance_for_unknown_loans(engine, tmp_path):
    load_base(engine, tmp_path)
    before = snapshot(engine)
    text = PERF_APRIL + "L9,2024-04-30,100,0,,,,,,,\nL8,2024-04-30,100,0,,,,,,,\n"
    report = load_files(engine, {"performance": put(tmp_path, "perf.csv", text)})
    assert where(report) == [("perf.csv", 5, "loan_id"), ("perf.csv", 6, "loan_id")]
    assert report.rejections[0].reason == "loan_id L9 is neither in the loans of this import nor in the store"
    assert_rejected_unchanged(engine, before, report)
    # the same rows load when the loans come in the same import
    loans = LOANS + "L9,C9,湖南,,consumer,,2024-01-01,2025-01-01,1000,0.1,,,,,\nL8,C8,HN,,consumer,,2024-01-01,2025-01-01,1000,0.1,,,,,\n"
    report = load_files(engine, {"loans": put(tmp_path, "l.csv", loans), "performance": put(tmp_path, "perf.csv", text)})
    assert where(report) == [("l.csv", 6, "region_code")]  # HN is no region (湖南 is 430000)
    loans = loans.replace(",HN,", ",Hunan,")
    report = load_files(engine, {"loans": put(tmp_path, "l.csv", loans), "performance": put(tmp_path, "perf.csv", text)})
    assert report.ok, report.rejections
    assert rows_of(engine, "SELECT region_code, branch_id FROM performance WHERE loan_id = 'L9'") == [("430000", None)]


def test_unknown_region(engine, tmp_path):
    before = snapshot(engine)
    text = LOANS.replace("C2,440000", "C2,火星").replace("Beijing", "Atlantis")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    assert report.rejections == [
        Rejection("loans.csv", 3, "region_code", "火星", "region_code '火星' is not a region of the region set cn_provinces"),
        Rejection("loans.csv", 4, "region_code", "Atlantis", "region_code 'Atlantis' is not a region of the region set cn_provinces"),
    ]
    assert_rejected_unchanged(engine, before, report)


def test_two_rows_for_one_loan_and_month(engine, tmp_path):
    load_base(engine, tmp_path)
    before = snapshot(engine)
    text = PERF_MARCH + "L1,2024/03/05,940000,0,,,,,,,\n"  # another March row for L1 (line 5)
    report = load_files(engine, {"performance": put(tmp_path, "perf.csv", text)})
    assert where(report) == [("perf.csv", 2, "as_of"), ("perf.csv", 5, "as_of")]
    assert report.rejections[1].reason == "loan L1 with a row for 2024-03 appears 2 times in this file (rows 2, 5)"
    assert_rejected_unchanged(engine, before, report)


def test_negative_dpd_and_other_performance_values(engine, tmp_path):
    load_base(engine, tmp_path)
    before = snapshot(engine)
    text = (
        PERF_MARCH.replace("L1,2024-03-15,950000,0,", "L1,2024-03-15,950000,-1,")
        .replace("L2,2024-03-31,30000,120,", "L2,2024-03-31,30000,-30,")
        .replace(",active,关注,", ",paused,坏账,")
        .replace("2000000,15,", "-2000000,1.5,")
    )
    report = load_files(engine, {"performance": put(tmp_path, "perf.csv", text)})
    assert [(r.row, r.column, r.reason) for r in report.rejections] == [
        (2, "dpd", "dpd -1 must not be negative"),
        (3, "dpd", "dpd -30 must not be negative"),
        (4, "outstanding_principal", "outstanding_principal -2000000 must not be negative"),
        (4, "dpd", "dpd 1.5 is not a whole number"),
        (4, "status", "status 'paused' is not one of active, closed, written_off"),
        (4, "classification", "classification '坏账' is not a five-level class (normal, special_mention, "
            "substandard, doubtful, loss, or 正常, 关注, 次级, 可疑, 损失)"),
    ]
    assert_rejected_unchanged(engine, before, report)


def test_text_in_numeric_column(engine, tmp_path):
    before = snapshot(engine)
    text = LOANS.replace(",1000000,0.0435", ",abc,0.0435").replace(",50000,0.12,650", ",50000,0.12,good")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    assert report.rejections == [
        Rejection("loans.csv", 2, "principal", "abc", "principal 'abc' is not a number"),
        Rejection("loans.csv", 3, "origination_score", "good", "origination_score 'good' is not a number"),
    ]
    assert_rejected_unchanged(engine, before, report)


def test_loan_enumerations_and_negative_collateral(engine, tmp_path):
    before = snapshot(engine)
    text = LOANS.replace(",sme,", ",vip,").replace(",none,", ",gold,").replace(",800000,", ",-1,")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    assert [(r.row, r.column) for r in report.rejections] == [
        (3, "collateral_type"), (4, "segment"), (4, "collateral_value"),
    ]
    assert report.rejections[1].reason == "segment 'vip' is not one of retail, sme, corporate"
    assert_rejected_unchanged(engine, before, report)


def test_empty_and_header_only_files(engine, tmp_path):
    load_base(engine, tmp_path)
    before = snapshot(engine)
    report = load_files(engine, {"performance": put(tmp_path, "empty.csv", "")})
    assert report.rejections == [Rejection("empty.csv", None, None, None, "empty.csv is empty (no header, no rows)")]
    assert_rejected_unchanged(engine, before, report)
    report = load_files(engine, {"performance": put(tmp_path, "head.csv", PERF_MARCH.splitlines()[0] + "\n\n")})
    assert report.rejections == [Rejection("head.csv", None, None, None, "head.csv has a header but no data rows")]
    assert_rejected_unchanged(engine, before, report)
    # an empty optional table still rejects the whole import
    report = load_files(
        engine, {"performance": put(tmp_path, "perf.csv", PERF_MARCH), "customers": put(tmp_path, "c.csv", "")}
    )
    assert where(report) == [("c.csv", None, None)]
    assert_rejected_unchanged(engine, before, report)


def test_truncated_file(engine, tmp_path):
    before = snapshot(engine)
    cut = LOANS[: LOANS.index("L3,C3,Beijing,B2,busi") + len("L3,C3,Beijing,B2,busi")]  # last line cut
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", cut)})
    assert report.rejections == [
        Rejection("loans.csv", 4, None, "L3,C3,Beijing,B2,busi",
                  "the row has 5 values, the header has 15 (is the line cut off, or does a value "
                  "contain an unquoted comma?)"),
    ]
    assert_rejected_unchanged(engine, before, report)
    # a line in the middle with too many values, a bad value further down: both reported
    lines = LOANS.splitlines()
    lines[1] += ",extra"
    lines[3] = lines[3].replace("2000000", "lots")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", "\n".join(lines) + "\n")})
    assert where(report) == [("loans.csv", 2, None), ("loans.csv", 4, "principal")]
    assert_rejected_unchanged(engine, before, report)
    # an unterminated quote: the file ends inside a quoted value
    text = LOANS + 'L4,C4,"上海,B3,auto,,2024-01-01,2029-01-01,80000,0.05,,vehicle,90000,,\n'
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    assert where(report) == [("loans.csv", 5, None)]
    assert "unterminated quote" in report.rejections[0].reason
    assert_rejected_unchanged(engine, before, report)


def test_quoted_values_and_blank_lines_keep_line_numbers(engine, tmp_path):
    before = snapshot(engine)
    lines = LOANS.splitlines()
    lines[1] = lines[1].replace(",home,", ',"home, with ""garden""\nand pool",')
    text = "\n".join([lines[0], lines[1], "", lines[2], lines[3].replace("2000000", "-1")]) + "\n"
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    # L1 spans lines 2-3, line 4 is blank, L2 is line 5, L3 line 6
    assert where(report) == [("loans.csv", 6, "principal")]
    assert_rejected_unchanged(engine, before, report)
    raw = read_table(put(tmp_path, "ok.csv", text.replace("-1", "2000000")), "loans")
    assert raw.rows.tolist() == [2, 5, 6]
    assert raw.frame.loc[0, "purpose"] == 'home, with "garden"\nand pool'


def test_collections_and_inspections_rules(engine, tmp_path):
    load_base(engine, tmp_path)
    before = snapshot(engine)
    coll = COLLECTIONS + "K2,L7,2024-02-01,2024-01-01,final,,-5,,1\nK1,L1,2024-03-01,,,,,,\n"
    insp = INSPECTIONS + "I3,L2,annual,2024-13-40,,fine\n"
    report = load_files(
        engine, {"collections": put(tmp_path, "coll.csv", coll), "inspections": put(tmp_path, "insp.csv", insp)}
    )
    assert where(report) == [
        ("coll.csv", 2, "case_id"),
        ("coll.csv", 3, "loan_id"),
        ("coll.csv", 3, "closed_on"),
        ("coll.csv", 3, "stage"),
        ("coll.csv", 3, "amount_due"),
        ("coll.csv", 4, "case_id"),
        ("insp.csv", 4, "kind"),
        ("insp.csv", 4, "due_on"),
        ("insp.csv", 4, "result"),
    ]
    assert report.rejections[2].reason == "closed_on 2024-01-01 is before opened_on 2024-02-01"
    assert_rejected_unchanged(engine, before, report)


def test_customers_rules_and_update(engine, tmp_path):
    load_base(engine, tmp_path)
    before = snapshot(engine)
    bad = CUSTOMERS + "C1,王五,,,,,-1,35\n"
    report = load_files(engine, {"customers": put(tmp_path, "c.csv", bad)})
    assert where(report) == [
        ("c.csv", 2, "customer_id"), ("c.csv", 4, "customer_id"), ("c.csv", 4, "annual_income"),
    ]
    assert_rejected_unchanged(engine, before, report)
    # a cut-off customer line is reported without copying its personal data into the report
    report = load_files(engine, {"customers": put(tmp_path, "c.csv", CUSTOMERS + "C3,赵六,1101011990\n")})
    assert report.rejections == [
        Rejection("c.csv", 4, None, None, "the row has 3 values, the header has 8 (is the line cut off, or "
                  "does a value contain an unquoted comma?)"),
    ]
    assert_rejected_unchanged(engine, before, report)
    assert load_files(engine, {"customers": put(tmp_path, "c.csv", CUSTOMERS)}).ok
    # a customer already stored is updated (replaced), and the report says so
    report = load_files(engine, {"customers": put(tmp_path, "c.csv", CUSTOMERS.replace("300000", "310000"))})
    assert report.ok and report.customers_rows == 2
    assert report.notes == ["customers: updated 2 stored customers"]
    assert count(engine, "customers") == 2
    assert rows_of(engine, "SELECT annual_income FROM customers WHERE customer_id = 'C1'")[0][0] == 310000


def test_month_reload_replaces_and_reports(engine, tmp_path):
    first = load_base(engine, tmp_path)
    april = PERF_APRIL
    report = load_files(engine, {"performance": put(tmp_path, "april.csv", april)})
    assert report.ok and report.performance_replaced == 0 and report.notes == []
    assert count(engine, "performance") == 6
    # March again, two loans only, L2 now 200 dpd: replaces those two rows, never duplicates
    again = "\n".join(PERF_MARCH.splitlines()[:3]).replace("30000,120,", "29000,200,") + "\n"
    report = load_files(engine, {"performance": put(tmp_path, "march.csv", again)})
    assert report.ok, report.rejections
    assert (report.performance_rows, report.performance_replaced) == (2, 2)
    assert report.notes == ["performance 2024-03: replaced 2 stored rows"]
    assert report.months == [dt.date(2024, 3, 31)]
    assert count(engine, "performance") == 6
    assert rows_of(
        engine, "SELECT loan_id, dpd, batch_id FROM performance WHERE as_of = '2024-03-31' ORDER BY loan_id"
    ) == [("L1", 0, report.batch_id), ("L2", 200, report.batch_id), ("L3", 15, first.batch_id)]
    assert rows_of(
        engine, "SELECT outstanding_principal, classification, region_code FROM performance "
        "WHERE loan_id = 'L2' AND as_of = '2024-03-31'"
    ) == [(29000, "substandard", "440000")]
    assert rows_of(engine, "SELECT performance_replaced, note FROM import_batches WHERE batch_id = :b".replace(":b", str(report.batch_id))) == [
        (2, "performance 2024-03: replaced 2 stored rows")
    ]
    # collections and inspections re-sent are replaced too
    assert load_files(engine, {"collections": put(tmp_path, "k.csv", COLLECTIONS)}).ok
    report = load_files(engine, {"collections": put(tmp_path, "k.csv", COLLECTIONS.replace(",1000,0", ",2500,1"))})
    assert report.ok and report.notes == ["collections: replaced 1 stored case"]
    assert rows_of(engine, "SELECT amount_recovered, complaints FROM collections")[0] == (2500, 1)


def test_performance_rows_carry_their_loans_cohort(engine, tmp_path):
    # cohort = the last day of the disbursement month: L1 2023-01-15 → 2023-01-31,
    # L2 2023-06-01 → 2023-06-30, L3 2024-02-15 → 2024-02-29 (a leap year's February)
    loans = LOANS.replace("2024-02-10,2027-02-10", "2024-02-15,2027-02-15")
    want = {"L1": dt.date(2023, 1, 31), "L2": dt.date(2023, 6, 30), "L3": dt.date(2024, 2, 29)}

    def cohorts() -> list[tuple]:
        return rows_of(engine, "SELECT loan_id, as_of, cohort FROM performance ORDER BY as_of, loan_id")

    # loans and performance in one import: the cohort comes from the file's loans
    assert load_files(engine, {"loans": put(tmp_path, "loans.csv", loans),
                               "performance": put(tmp_path, "perf.csv", PERF_MARCH)}).ok
    march = [(k, dt.date(2024, 3, 31), v) for k, v in want.items()]
    assert cohorts() == march
    # a performance-only import: from the stored loans
    assert load_files(engine, {"performance": put(tmp_path, "april.csv", PERF_APRIL)}).ok
    april = [(k, dt.date(2024, 4, 30), v) for k, v in want.items()]
    assert cohorts() == march + april
    # a month re-load (replaced in place on DuckDB, deleted and inserted on PostgreSQL) keeps it
    again = "\n".join(PERF_MARCH.splitlines()[:3]).replace("30000,120,", "29000,200,") + "\n"
    report = load_files(engine, {"performance": put(tmp_path, "march.csv", again)})
    assert report.ok and report.performance_replaced == 2
    assert cohorts() == march + april
    assert rows_of(engine, "SELECT dpd FROM performance WHERE loan_id = 'L2' AND as_of = '2024-03-31'") == [(200,)]


def test_mid_write_failure_rolls_back(engine, tmp_path, monkeypatch):
    load_base(engine, tmp_path)
    before = snapshot(engine)
    real = bulk.insert_frame

    def failing(conn, table, df):  # noqa: ANN001
        if table.name == "performance":
            raise sa.exc.OperationalError("INSERT INTO performance", {}, RuntimeError("disk full"))
        return real(conn, table, df)

    monkeypatch.setattr(bulk, "insert_frame", failing)
    loans = LOANS + "L4,C4,上海,B3,auto,,2024-01-01,2029-01-01,80000,0.05,,vehicle,90000,,\n"
    report = load_files(
        engine,
        {
            "loans": put(tmp_path, "loans.csv", loans),
            "customers": put(tmp_path, "c.csv", CUSTOMERS),
            # replaces March for L1-L3 (updated or deleted first), L4 is a new row
            "performance": put(tmp_path, "perf.csv", PERF_MARCH + "L4,2024-03-31,80000,0,,,,,,,\n"),
        },
    )
    assert where(report) == [(IMPORT_FILE, None, None)]
    assert "disk full" in report.rejections[0].reason and "nothing was loaded" in report.rejections[0].reason
    assert report.notes == []
    assert_rejected_unchanged(engine, before, report)


def test_encodings_gbk_and_bom(engine, tmp_path):
    report = load_files(
        engine,
        {
            "loans": put(tmp_path, "loans_gbk.csv", LOANS, "gbk"),
            "performance": put(tmp_path, "perf_bom.csv", PERF_MARCH, "utf-8-sig"),
            "customers": put(tmp_path, "c_gbk.csv", CUSTOMERS, "gbk"),
        },
    )
    assert report.ok, report.rejections
    assert report.ignored_columns == {}
    assert rows_of(engine, "SELECT loan_id, region_code FROM loans ORDER BY loan_id")[0] == ("L1", "440000")
    assert rows_of(engine, "SELECT classification_reported FROM performance WHERE loan_id = 'L1'") == [("normal",)]
    from data.crypto import decrypt_value

    assert decrypt_value(rows_of(engine, "SELECT name_enc FROM customers WHERE customer_id = 'C2'")[0][0]) == "李四"


def test_windows_line_ends_and_excel_quirks(engine, tmp_path):
    # Excel on Windows: GBK, CRLF line ends, a trailing blank line, an unnamed empty last column
    loans = "".join(line + ",\r\n" for line in LOANS.splitlines()) + "\r\n"
    perf = PERF_MARCH.replace("\n", "\r\n")
    report = load_files(
        engine, {"loans": put(tmp_path, "loans.csv", loans, "gbk"), "performance": put(tmp_path, "p.csv", perf)}
    )
    assert report.ok, report.rejections
    assert report.ignored_columns == {"loans.csv": ["(column 16, no name)"]}
    assert rows_of(engine, "SELECT loan_id, industry FROM loans ORDER BY loan_id")[2] == ("L3", "manufacturing")


def test_malformed_csv_never_crashes(engine, tmp_path):
    before = snapshot(engine)
    stray = LOANS.replace(",home,", ',5" tall home,')  # a quote inside an unquoted value
    report = load_files(engine, {"loans": put(tmp_path, "stray.csv", stray)})
    assert not report.ok and all(r.file == "stray.csv" for r in report.rejections)
    dup = LOANS.replace("purpose,industry", "purpose,LOAN_ID", 1)
    report = load_files(engine, {"loans": put(tmp_path, "dup.csv", dup)})
    assert report.rejections[0] == Rejection(
        "dup.csv", None, "loan_id", None, "column loan_id appears more than once in the header (columns 1 and 15)"
    )
    binary = put(tmp_path, "bin.csv", "")
    binary.write_bytes(bytes(range(256)) * 4)
    report = load_files(engine, {"loans": binary})
    assert where(report)[0][0] == "bin.csv"
    assert snapshot(engine) == before


def test_percent_sign_and_cents(engine, tmp_path):
    before = snapshot(engine)
    text = LOANS.replace(",0.0435,", ",4.35%,").replace(",50000,0.12", ",0.001,0.12")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    assert [(r.row, r.column, r.reason) for r in report.rejections] == [
        (2, "interest_rate", "interest_rate '4.35%' is a percent: rates must be fractions such as 0.0435, not percents"),
        (3, "principal", "principal 0.001 must be greater than 0"),  # it would be stored as 0.00
    ]
    assert_rejected_unchanged(engine, before, report)


def test_parquet(engine, tmp_path):
    loans = pd.read_csv(pd.io.common.StringIO(LOANS), dtype=str)
    loans["principal"] = loans["principal"].astype(float)
    loans["disbursement_date"] = pd.to_datetime(loans["disbursement_date"]).dt.date
    loans.to_parquet(tmp_path / "loans.parquet")
    perf = pd.read_csv(pd.io.common.StringIO(PERF_MARCH), dtype=str)
    perf["dpd"] = perf["dpd"].astype(int)
    perf["as_of"] = pd.to_datetime(perf["as_of"])
    perf.loc[1, "outstanding_principal"] = "-1"
    perf.to_parquet(tmp_path / "perf.pq")
    report = load_files(engine, {"loans": tmp_path / "loans.parquet", "performance": tmp_path / "perf.pq"})
    assert where(report) == [("perf.pq", 3, "outstanding_principal")]  # row = 1-based index + 1
    assert count(engine, "loans") == 0
    perf.loc[1, "outstanding_principal"] = "30000"
    perf.to_parquet(tmp_path / "perf.pq")
    report = load_files(engine, {"loans": tmp_path / "loans.parquet", "performance": tmp_path / "perf.pq"})
    assert report.ok, report.rejections
    assert rows_of(engine, "SELECT loan_id, as_of, classification FROM performance ORDER BY loan_id")[1] == (
        "L2", dt.date(2024, 3, 31), "substandard",
    )
    (tmp_path / "broken.parquet").write_bytes((tmp_path / "perf.pq").read_bytes()[:100])
    report = load_files(engine, {"performance": tmp_path / "broken.parquet"})
    assert where(report) == [("broken.parquet", None, None)]
    assert "could not be read as Parquet" in report.rejections[0].reason


def test_case_insensitive_headers_and_ignored_columns(engine, tmp_path):
    lines = LOANS.splitlines()
    header = " LOAN_ID ,Customer_ID,Region_Code,branch_id,PRODUCT,segment,disbursement_date,maturity_date,Principal,interest_rate,origination_score,collateral_type,collateral_value,purpose,industry,Remarks"
    text = "\n".join([header] + [line + ",note" for line in lines[1:]]) + "\n"
    perf = PERF_MARCH.splitlines()
    ptext = "\n".join([perf[0].upper() + ",internal_flag"] + [line + ",x" for line in perf[1:]]) + "\n"
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text), "performance": put(tmp_path, "p.csv", ptext)})
    assert report.ok, report.rejections
    assert report.ignored_columns == {"loans.csv": ["Remarks"], "p.csv": ["internal_flag"]}
    assert "Remarks" in report.summary()
    assert count(engine, "loans") == 3 and count(engine, "performance") == 3


def test_alternative_date_formats(engine, tmp_path):
    text = LOANS.replace("2023-01-15,2043-01-15", "2023/01/15,20430115").replace("2024-02-10", "20240210")
    perf = PERF_MARCH.replace("2024-03-15", "20240315").replace("2024-03-01", "2024/03/01")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text), "performance": put(tmp_path, "p.csv", perf)})
    assert report.ok, report.rejections
    assert rows_of(engine, "SELECT disbursement_date, maturity_date FROM loans WHERE loan_id = 'L1'") == [
        (dt.date(2023, 1, 15), dt.date(2043, 1, 15))
    ]
    assert rows_of(engine, "SELECT DISTINCT as_of FROM performance") == [(dt.date(2024, 3, 31),)]


def test_region_set_mismatch_on_later_load(engine, tmp_path):
    load_base(engine, tmp_path)
    before = snapshot(engine)
    april = PERF_APRIL
    report = load_files(engine, {"performance": put(tmp_path, "april.csv", april)}, region_set="us_states")
    assert where(report) == [(IMPORT_FILE, None, None)]
    assert "cn_provinces" in report.rejections[0].reason and "us_states" in report.rejections[0].reason
    assert_rejected_unchanged(engine, before, report)
    # without --region-set the store's own set is used
    assert load_files(engine, {"performance": put(tmp_path, "april.csv", april)}).ok


def test_first_load_fixes_region_set_from_argument(engine, tmp_path):
    text = LOANS.replace("广东", "CA").replace("C2,440000", "C2,new york").replace("Beijing", "Texas")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)}, region_set="us_states")
    assert report.ok, report.rejections
    assert rows_of(engine, "SELECT region_code FROM loans ORDER BY loan_id") == [("CA",), ("NY",), ("TX",)]
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT value FROM store_settings WHERE key = 'region_set'")).scalar_one() == "us_states"


def test_no_table_given_and_unknown_table(engine, tmp_path):
    before = snapshot(engine)
    report = load_files(engine, {})
    assert where(report) == [(IMPORT_FILE, None, None)] and "no table given" in report.rejections[0].reason
    report = load_files(engine, {"payments": put(tmp_path, "x.csv", "a\n1\n")})
    assert where(report) == [(IMPORT_FILE, None, None)] and "unknown table" in report.rejections[0].reason
    report = load_files(engine, {"loans": tmp_path / "missing.csv"})
    assert where(report) == [("missing.csv", None, None)]
    assert snapshot(engine) == before


def test_report_csv_and_summary(engine, tmp_path):
    text = LOANS.replace(",1000000,0.0435", ",abc,0.0435").replace("Beijing", "火星")
    report = load_files(engine, {"loans": put(tmp_path, "loans.csv", text)})
    out = tmp_path / "rejections.csv"
    report.write_csv(out)
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert frame.to_dict("records") == [
        {"file": "loans.csv", "row": "2", "column": "principal", "value": "abc", "reason": "principal 'abc' is not a number"},
        {"file": "loans.csv", "row": "4", "column": "region_code", "value": "火星",
         "reason": "region_code '火星' is not a region of the region set cn_provinces"},
    ]
    assert report.summary().startswith("Nothing was loaded: 2 problem(s) (loans.csv: 2).")


# ---------------------------------------------------------------------------------------------
# Scale: a 1,000,000-row performance file on DuckDB (a measurement, not a timed assertion)
# ---------------------------------------------------------------------------------------------

_BENCH = textwrap.dedent(
    """
    import json, resource, sys, time
    from data.engine import make_engine
    from data.importer import load_files
    url, table, path = sys.argv[1:4]
    eng = make_engine(url)
    t0 = time.perf_counter()
    report = load_files(eng, {table: path})
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ok": report.ok, "rows": report.performance_rows or report.loans_new,
                      "seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb),
                      "rejections": [str(r) for r in report.rejections[:3]]}))
    """
)


def _bench(url: str, table: str, path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", _BENCH, url, table, str(path)], capture_output=True, text=True, env=env, check=True, cwd=REPO
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_million_row_performance_file(duckdb_engine, tmp_path):
    import numpy as np

    rng = np.random.default_rng(7)
    n_loans, months = 250_000, 4
    ids = np.char.add("LN", np.arange(n_loans).astype(str))
    loans = pd.DataFrame(
        {
            "loan_id": ids,
            "customer_id": np.char.add("C", np.arange(n_loans).astype(str)),
            "region_code": rng.choice(["440000", "广东", "Beijing", "310000", "浙江省"], n_loans),
            "branch_id": np.char.add("B", rng.integers(0, 300, n_loans).astype(str)),
            "product": rng.choice(["mortgage", "consumer", "business"], n_loans),
            "disbursement_date": "2023-01-15",
            "maturity_date": "2028-01-15",
            "principal": rng.integers(10_000, 2_000_000, n_loans),
            "interest_rate": rng.choice([0.0435, 0.05, 0.12], n_loans),
        }
    )
    loans.to_csv(tmp_path / "loans.csv", index=False)
    perf = pd.DataFrame(
        {
            "loan_id": np.tile(ids, months),
            "as_of": np.repeat(["2024-01-31", "2024/02/29", "20240331", "2024-04-15"], n_loans),
            "outstanding_principal": rng.integers(0, 2_000_000, n_loans * months),
            "dpd": rng.choice([0, 0, 0, 0, 5, 45, 120, 400], n_loans * months),
            "credit_score": rng.integers(300, 850, n_loans * months),
            "status": "active",
            "classification": rng.choice(["normal", "关注", ""], n_loans * months),
            "principal_paid": rng.integers(0, 5_000, n_loans * months),
        }
    )
    path = tmp_path / "perf.csv"
    perf.to_csv(path, index=False)
    del perf
    url = str(duckdb_engine.url)
    duckdb_engine.dispose()
    loans_run = _bench(url, "loans", tmp_path / "loans.csv")
    assert loans_run["ok"], loans_run
    run = _bench(url, "performance", path)
    print(f"\n1,000,000-row performance CSV on DuckDB: {run['seconds']} s, peak RSS {run['peak_rss_mb']} MB "
          f"(250,000-row loans CSV first: {loans_run['seconds']} s, {loans_run['peak_rss_mb']} MB)")
    assert run["ok"], run
    assert run["rows"] == 1_000_000
    # a second load of the same months replaces every row
    again = _bench(url, "performance", path)
    print(f"re-load replacing 1,000,000 rows: {again['seconds']} s, peak RSS {again['peak_rss_mb']} MB")
    assert again["ok"] and again["rows"] == 1_000_000
    eng = sa.create_engine(url)
    with eng.connect() as c:
        assert c.execute(sa.text("SELECT COUNT(*) FROM performance")).scalar_one() == 1_000_000
    eng.dispose()
