"""The read layer and the KPI report against a tiny book computed by hand."""

import datetime as dt
import math

import pandas as pd
import pytest
import sqlalchemy as sa

from data.bulk import insert_frame
from data.read import Filters, Scope, book_aggregates, regions_frame, stored_months
from data.reports import kpi_report, monthly_kpis
from data.schema import Loan, Performance, Region, StoreSetting

JAN, FEB = dt.date(2024, 1, 31), dt.date(2024, 2, 29)


def _perf(loan, as_of, region, product, bal, dpd, cls, score, status="active"):
    return dict(loan_id=loan, as_of=as_of, region_code=region, branch_id=None, product=product,
                segment="retail", outstanding_principal=bal, dpd=dpd, credit_score=score,
                status=status, classification=cls)


@pytest.fixture
def tiny(engine):
    """Three active loans over two months, one closed loan (not in the book)."""
    perf = pd.DataFrame([
        _perf("L1", JAN, "440000", "consumer", 1000, 0, "normal", 700),
        _perf("L2", JAN, "440000", "mortgage", 3000, 45, "special_mention", 600),
        _perf("L3", JAN, "110000", "consumer", 2000, 120, "substandard", 500),
        _perf("L4", JAN, "110000", "consumer", 0, 0, "normal", 650, status="closed"),
        _perf("L1", FEB, "440000", "consumer", 900, 0, "normal", 690),
        _perf("L2", FEB, "440000", "mortgage", 3000, 75, "special_mention", 580),
        _perf("L3", FEB, "110000", "consumer", 2000, 150, "substandard", 480),
    ])
    loans = perf.drop_duplicates("loan_id")[["loan_id", "region_code", "product", "segment"]].assign(
        customer_id="C1", disbursement_date=dt.date(2023, 6, 1), maturity_date=dt.date(2026, 6, 1),
        principal=5000.0, interest_rate=0.05)
    with engine.begin() as c:
        insert_frame(c, Loan.__table__, loans)
        insert_frame(c, Performance.__table__, perf)
        insert_frame(c, Region.__table__, pd.DataFrame([
            dict(region_code="110000", region_set="cn_provinces", name_zh="北京市", short_zh="北京", name_en="Beijing"),
            dict(region_code="440000", region_set="cn_provinces", name_zh="广东省", short_zh="广东", name_en="Guangdong"),
        ]))
        insert_frame(c, StoreSetting.__table__, pd.DataFrame({"key": ["region_set", "currency"], "value": ["cn_provinces", "CNY"]}))
    return engine


def test_report_matches_hand_computation(tiny):
    with tiny.connect() as c:
        rep = kpi_report(c, Scope.all(), Filters())
    assert rep["currency"] == "CNY" and rep["region_set"] == "cn_provinces"
    jan, feb = rep["months"]
    assert jan["as_of"] == "2024-01-31" and feb["as_of"] == "2024-02-29"
    assert jan["loans"] == 3 and jan["balance"] == 6000.0
    assert jan["overdue_rate_1_balance"] == pytest.approx(5000 / 6000)
    assert jan["overdue_rate_30_balance"] == pytest.approx(5000 / 6000)
    assert jan["overdue_rate_90_balance"] == pytest.approx(2000 / 6000)
    assert jan["overdue_rate_1_count"] == pytest.approx(2 / 3)
    assert jan["overdue_rate_90_count"] == pytest.approx(1 / 3)
    assert jan["npl_ratio"] == pytest.approx(2000 / 6000)
    # 1% of 6000 + 2% of 3000 (关注) + 25% of 2000 (次级)
    assert jan["provisions"] == pytest.approx(60 + 60 + 500)
    assert jan["provision_coverage"] == pytest.approx(620 / 2000)
    assert jan["loan_provision_ratio"] == pytest.approx(620 / 6000)
    assert jan["psi"] == 0.0
    # Feb scores move 700→690 (same bin), 600→580 (bin 4→3), 500→480 (same bin).
    assert feb["psi"] == pytest.approx(2 * (1 / 3 - 0.0001) * math.log((1 / 3) / 0.0001))
    assert jan["regions"] == [
        {"region_code": "110000", "balance": 2000.0, "loans": 1, "overdue_rate_30_balance": 1.0, "npl_ratio": 1.0},
        {"region_code": "440000", "balance": 4000.0, "loans": 2, "overdue_rate_30_balance": 0.75, "npl_ratio": 0.0},
    ]


def test_no_npl_gives_null_coverage(tiny):
    with tiny.connect() as c:
        rep = kpi_report(c, Scope.of(["440000"]), Filters(as_of=JAN))
    (jan,) = rep["months"]
    assert jan["npl_ratio"] == 0.0
    assert jan["provision_coverage"] is None


def test_scope_cannot_be_widened_by_filters(tiny):
    """A regional head asking for another region gets nothing from it."""
    with tiny.connect() as c:
        gd = Scope.of(["440000"])
        agg = book_aggregates(c, gd, Filters(regions=("110000", "440000")), by=("region_code",))
        assert set(agg["region_code"]) == {"440000"}
        assert book_aggregates(c, gd, Filters(regions=("110000",))).empty
        assert book_aggregates(c, Scope.of([]), Filters()).empty
        assert list(regions_frame(c, gd)["region_code"]) == ["440000"]
        assert stored_months(c, Scope.of([]), Filters()) == []
        rep = kpi_report(c, gd, Filters())
    assert {r["region_code"] for m in rep["months"] for r in m["regions"]} == {"440000"}
    assert rep["months"][0]["balance"] == 4000.0


def test_filters_narrow_the_book(tiny):
    with tiny.connect() as c:
        k = monthly_kpis(c, Scope.all(), Filters(products=("consumer",), as_of=dt.date(2024, 2, 10)))
    assert list(k["as_of"]) == [FEB]
    assert k["balance"].iloc[0] == 2900.0
    assert k["overdue_rate_90_balance"].iloc[0] == pytest.approx(2000 / 2900)


def test_empty_store_report_has_no_months(engine):
    with engine.connect() as c:
        rep = kpi_report(c, Scope.all(), Filters())
    assert rep["months"] == [] and rep["region_set"] is None
