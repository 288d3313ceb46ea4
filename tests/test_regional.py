"""Regional and branch risk tables against a tiny book computed by hand (DuckDB and PostgreSQL)."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal, assert_series_equal

from analytics import regional as ar
from analytics.kpi import book_kpis
from data import regional
from data.bulk import insert_frame
from data.read import Filters, Scope
from data.schema import Branch, Loan, Performance, Region

MAR23, FEB, MAR = dt.date(2023, 3, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31)
GD, BJ = Scope.of(["440000"]), Scope.of(["110000"])

# ----------------------------------------------------------------------------- pure maths


def test_collateral_coverage_and_missing_column():
    f = pd.DataFrame({"collateral_value": [2500.0, 0.0, 10.0], "collateralised_balance": [3000.0, 0.0, 0.0]})
    cov = ar.collateral_coverage(f)
    assert cov[0] == pytest.approx(2500 / 3000) and cov[1:].isna().all()
    with pytest.raises(ValueError, match=r"collateral_coverage: frame is missing column\(s\) \['collateralised_balance'\]"):
        ar.collateral_coverage(f[["collateral_value"]])


def test_period_changes_rates_as_differences_levels_as_relative():
    cur = pd.DataFrame({"region_code": ["A", "B", "C"], "balance": [120.0, 50.0, 10.0],
                        "npl_ratio": [0.05, 0.10, 0.0]})
    then = pd.DataFrame({"region_code": ["B", "A", "C"], "balance": [100.0, 100.0, 0.0],
                         "npl_ratio": [0.04, 0.02, np.nan]})
    out = ar.period_changes(cur, then, "region_code", "mom")
    expected = pd.DataFrame({"npl_ratio_mom": [0.03, 0.06, np.nan], "balance_mom": [0.2, -0.5, np.nan]})
    assert_frame_equal(out, expected, atol=1e-12)
    none = ar.period_changes(cur, then.iloc[0:0], "region_code", "yoy")
    assert none.isna().all().all() and list(none.columns) == ["npl_ratio_yoy", "balance_yoy"]


def test_risk_rank_worst_first_ties_and_missing():
    r = ar.risk_rank(pd.Series([0.1, 0.3, np.nan, 0.3]))
    assert r.tolist() == [3, 1, pd.NA, 1]
    assert ar.risk_rank(pd.Series([1.2, 0.8]), higher_is_worse=False).tolist() == [2, 1]


def test_risk_table_rejects_unknown_rank_metric():
    kpis = pd.DataFrame({"as_of": [MAR], "region_code": ["A"], "balance": [1.0]})
    with pytest.raises(ValueError, match="'no_such_metric'"):
        ar.risk_table(kpis, "region_code", MAR, rank_by="no_such_metric")


# A random book: loans with a region, a balance >= 0, a dpd and a class.
loans_st = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C"]), st.floats(0, 1e7, allow_nan=False), st.integers(0, 500),
              st.sampled_from(["normal", "special_mention", "substandard", "doubtful", "loss"])),
    min_size=1, max_size=40,
)


def _aggregates(book: list, as_of: dt.date) -> pd.DataFrame:
    """The book_aggregates frame of a loan list, computed with pandas (no SQL)."""
    df = pd.DataFrame(book, columns=["region_code", "balance", "dpd", "classification"])
    cols = {"loans": np.ones(len(df)), "balance": df["balance"]}
    for k in (0, 30, 90):
        hit = df["dpd"] > k
        cols[f"loans_dpd_gt_{k}"], cols[f"balance_dpd_gt_{k}"] = hit * 1, df["balance"] * hit
    for c in ("normal", "special_mention", "substandard", "doubtful", "loss"):
        hit = df["classification"] == c
        cols[f"loans_{c}"], cols[f"balance_{c}"] = hit * 1, df["balance"] * hit
    return pd.DataFrame(cols).groupby(df["region_code"]).sum().reset_index().assign(as_of=as_of)


@settings(max_examples=60, deadline=None)
@given(loans_st, loans_st)
def test_rates_within_zero_one_and_changes_bounded(now, before):
    kpis = book_kpis(pd.concat([_aggregates(now, MAR), _aggregates(before, FEB)], ignore_index=True))
    t = ar.risk_table(kpis, "region_code", MAR, previous=FEB)
    rates = [c for c in ar.RATE_METRICS if c in t.columns]
    for c in rates:
        v = t[c].dropna()
        assert ((v >= 0) & (v <= 1 + 1e-12)).all(), c
        d = t[f"{c}_mom"].dropna()
        assert ((d >= -1 - 1e-12) & (d <= 1 + 1e-12)).all(), c
    ranked = t["rank"].dropna()
    assert ranked.min() == 1 if len(ranked) else True
    assert (ranked <= len(t)).all()
    assert t["balance_yoy"].isna().all()  # no year-ago month given


# ----------------------------------------------------------------------------- the store


def _perf(loan, as_of, region, branch, bal, dpd, cls, cv=None):
    return dict(loan_id=loan, as_of=as_of, region_code=region, branch_id=branch, product="consumer",
                segment="retail", outstanding_principal=bal, dpd=dpd, credit_score=650, status="active",
                classification=cls, collateral_value=cv)


@pytest.fixture
def book(engine):
    """Guangdong (A1-A4, branches BR44-1/BR44-2) and Beijing (C1, C2, BR11-1) in Mar 2023, Feb and Mar 2024.

    Collateral: A1 real estate (valued 1500), A2 none, A3 vehicle (no valuation stored: 1000
    at origination), A4 guarantee (5000: not collateral), C1 real estate (4500, 4000, 4000),
    C2 none.
    """
    perf = pd.DataFrame([
        _perf("A1", MAR23, "440000", "BR44-1", 1500, 0, "normal", 1500),
        _perf("C1", MAR23, "110000", "BR11-1", 6000, 0, "normal", 4500),
        _perf("A1", FEB, "440000", "BR44-1", 1100, 0, "normal", 1500),
        _perf("A2", FEB, "440000", "BR44-1", 3000, 15, "special_mention"),
        _perf("A3", FEB, "440000", "BR44-2", 2000, 95, "substandard"),
        _perf("C1", FEB, "110000", "BR11-1", 5000, 0, "normal", 4000),
        _perf("C2", FEB, "110000", "BR11-1", 5000, 370, "loss"),
        _perf("A1", MAR, "440000", "BR44-1", 1000, 0, "normal", 1500),
        _perf("A2", MAR, "440000", "BR44-1", 3000, 45, "special_mention"),
        _perf("A3", MAR, "440000", "BR44-2", 2000, 120, "substandard"),
        _perf("A4", MAR, "440000", "BR44-2", 4000, 0, "normal", 5000),
        _perf("C1", MAR, "110000", "BR11-1", 5000, 31, "special_mention", 4000),
        _perf("C2", MAR, "110000", "BR11-1", 5000, 400, "loss"),
        dict(_perf("A9", MAR, "440000", "BR44-1", 0, 0, "normal", 9999), status="closed"),  # not in the book
    ])
    ctype = {"A1": "real_estate", "A2": "none", "A3": "vehicle", "A4": "guarantee", "A9": "real_estate",
             "C1": "real_estate", "C2": None}
    cval = {"A1": 2000.0, "A2": None, "A3": 1000.0, "A4": 5000.0, "A9": 9999.0, "C1": 7000.0, "C2": None}
    loans = perf.drop_duplicates("loan_id")[["loan_id", "region_code", "branch_id", "product", "segment"]].assign(
        customer_id="C", disbursement_date=dt.date(2022, 6, 1), maturity_date=dt.date(2027, 6, 1),
        principal=8000.0, interest_rate=0.05)
    loans["collateral_type"] = loans["loan_id"].map(ctype)
    loans["collateral_value"] = loans["loan_id"].map(cval)
    with engine.begin() as c:
        insert_frame(c, Region.__table__, pd.DataFrame([
            dict(region_code="110000", region_set="cn_provinces", name_zh="北京市", short_zh="北京", name_en="Beijing"),
            dict(region_code="440000", region_set="cn_provinces", name_zh="广东省", short_zh="广东", name_en="Guangdong"),
        ]))
        insert_frame(c, Branch.__table__, pd.DataFrame([
            dict(branch_id="BR44-1", region_code="440000", name="天河支行"),
            dict(branch_id="BR44-2", region_code="440000", name=None),
            dict(branch_id="BR11-1", region_code="110000", name="西城支行"),
        ]))
        insert_frame(c, Loan.__table__, loans)
        insert_frame(c, Performance.__table__, perf)
    return engine


def test_regional_table_by_hand(book):
    with book.connect() as c:
        t = regional.regional_risk(c, Scope.all(), Filters(), MAR, expected_loss=False)
    assert t["region_code"].tolist() == ["110000", "440000"]  # ranked by 30+ by balance, worst first
    assert t["rank"].tolist() == [1, 2]
    bj, gd = t.iloc[0], t.iloc[1]
    assert (gd["name_zh"], gd["short_zh"], gd["name_en"]) == ("广东省", "广东", "Guangdong")
    # Guangdong, March 2024: balance 1000 + 3000 + 2000 + 4000; A2 (45 dpd) and A3 (120) overdue.
    assert gd["balance"] == 10000.0 and gd["loans"] == 4
    assert gd["overdue_rate_1_balance"] == pytest.approx(0.5) and gd["overdue_rate_1_count"] == pytest.approx(0.5)
    assert gd["overdue_rate_30_balance"] == pytest.approx(0.5) and gd["overdue_rate_30_count"] == pytest.approx(0.5)
    assert gd["overdue_rate_90_balance"] == pytest.approx(0.2) and gd["overdue_rate_90_count"] == pytest.approx(0.25)
    assert gd["npl_ratio"] == pytest.approx(0.2)
    assert gd["provisions"] == pytest.approx(100 + 60 + 500)  # 1% of 10000, 2% of 3000, 25% of 2000
    # Collateral: A1 1500 (stored valuation) + A3 1000 (origination) over 1000 + 2000; A4 is a guarantee.
    assert gd["collateralised_loans"] == 2 and gd["collateralised_balance"] == 3000.0
    assert gd["collateral_value"] == 2500.0 and gd["collateral_coverage"] == pytest.approx(2500 / 3000)
    # Feb: balance 6100, 30+ only A3 (A2 at 15 dpd), collateral 2500 / 3100; Mar 2023: A1 alone.
    assert gd["overdue_rate_30_balance_mom"] == pytest.approx(0.5 - 2000 / 6100)
    assert gd["overdue_rate_30_balance_yoy"] == pytest.approx(0.5)
    assert gd["balance_mom"] == pytest.approx(10000 / 6100 - 1) and gd["balance_yoy"] == pytest.approx(10000 / 1500 - 1)
    assert gd["loans_mom"] == pytest.approx(4 / 3 - 1)
    assert gd["npl_ratio_mom"] == pytest.approx(0.2 - 2000 / 6100)
    assert gd["provisions_mom"] == pytest.approx(660 / 621 - 1)  # Feb: 61 + 60 + 500
    assert gd["collateral_coverage_mom"] == pytest.approx(2500 / 3000 - 2500 / 3100)
    assert gd["collateral_coverage_yoy"] == pytest.approx(2500 / 3000 - 1500 / 1500)
    # Beijing: C1 31 dpd (关注), C2 400 dpd (损失).
    assert bj["balance"] == 10000.0 and bj["loans"] == 2
    assert bj["overdue_rate_30_balance"] == pytest.approx(1.0) and bj["overdue_rate_90_count"] == pytest.approx(0.5)
    assert bj["npl_ratio"] == pytest.approx(0.5)
    assert bj["provisions"] == pytest.approx(100 + 100 + 5000)
    assert bj["collateral_coverage"] == pytest.approx(0.8)
    assert bj["overdue_rate_30_balance_mom"] == pytest.approx(0.5) and bj["overdue_rate_30_balance_yoy"] == pytest.approx(1.0)
    assert bj["balance_mom"] == pytest.approx(0.0) and bj["balance_yoy"] == pytest.approx(10000 / 6000 - 1)
    assert bj["provisions_mom"] == pytest.approx(5200 / 5100 - 1)
    assert bj["collateral_coverage_yoy"] == pytest.approx(0.8 - 0.75)
    assert t.attrs["previous"] == FEB and t.attrs["year_ago"] == MAR23
    assert t["expected_loss"].isna().all()


def test_regional_rank_by_other_metrics(book):
    with book.connect() as c:
        by_cov = regional.regional_risk(c, Scope.all(), Filters(), MAR, rank_by="collateral_coverage", expected_loss=False)
        by_90c = regional.regional_risk(c, Scope.all(), Filters(), MAR, rank_by="overdue_rate_90_count", expected_loss=False)
    # Coverage: lower is worse -> Beijing 0.8 before Guangdong 0.833.
    assert by_cov[["region_code", "rank"]].to_numpy().tolist() == [["110000", 1], ["440000", 2]]
    assert by_90c[["region_code", "rank"]].to_numpy().tolist() == [["110000", 1], ["440000", 2]]


def test_default_month_is_the_latest_and_filters_apply(book):
    with book.connect() as c:
        latest = regional.regional_risk(c, Scope.all(), Filters(), expected_loss=False)
        feb = regional.regional_risk(c, Scope.all(), Filters(as_of=dt.date(2024, 2, 10)), expected_loss=False)
        feb_end = regional.regional_risk(c, Scope.all(), Filters(end=FEB), expected_loss=False)
    assert latest.attrs["as_of"] == MAR
    assert feb.attrs["as_of"] == FEB and feb_end.attrs["as_of"] == FEB
    gd = feb.set_index("region_code").loc["440000"]
    assert gd["balance"] == 6100.0 and gd["overdue_rate_30_balance"] == pytest.approx(2000 / 6100)
    assert math.isnan(gd["balance_mom"])  # no January 2024 book
    assert gd["collateral_coverage"] == pytest.approx(2500 / 3100)


def test_branch_table_by_hand(book):
    with book.connect() as c:
        b = regional.branch_risk(c, Scope.all(), Filters(), "440000", MAR, expected_loss=False)
    assert b["branch_id"].tolist() == ["BR44-1", "BR44-2"] and b["rank"].tolist() == [1, 2]
    assert b["branch_name"].iloc[0] == "天河支行" and pd.isna(b["branch_name"].iloc[1])
    assert (b["region_code"] == "440000").all()
    b1, b2 = b.iloc[0], b.iloc[1]
    # BR44-1: A1 1000 + A2 3000 (45 dpd); BR44-2: A3 2000 (120 dpd) + A4 4000.
    assert b1["balance"] == 4000.0 and b1["overdue_rate_30_balance"] == pytest.approx(0.75)
    assert b2["balance"] == 6000.0 and b2["overdue_rate_30_balance"] == pytest.approx(2000 / 6000)
    assert b1["collateral_coverage"] == pytest.approx(1.5) and b2["collateral_coverage"] == pytest.approx(0.5)
    assert b1["overdue_rate_30_balance_mom"] == pytest.approx(0.75)  # Feb 4100, nothing 30+
    assert b2["overdue_rate_30_balance_mom"] == pytest.approx(2000 / 6000 - 1.0)  # Feb: A3 alone, 95 dpd
    assert b2["balance_mom"] == pytest.approx(2.0)
    assert b1["balance_yoy"] == pytest.approx(4000 / 1500 - 1) and math.isnan(b2["balance_yoy"])


def test_regional_head_sees_only_her_region_and_its_branches(book):
    with book.connect() as c:
        t = regional.regional_risk(c, GD, Filters(), MAR, expected_loss=False)
        widened = regional.regional_risk(c, GD, Filters(regions=("110000", "440000")), MAR, expected_loss=False)
        other = regional.regional_risk(c, GD, Filters(regions=("110000",)), MAR, expected_loss=False)
        own = regional.branch_risk(c, GD, Filters(), "440000", MAR, expected_loss=False)
        foreign = regional.branch_risk(c, GD, Filters(), "110000", MAR, expected_loss=False)
        nobody = regional.regional_risk(c, Scope.of([]), Filters(), MAR, expected_loss=False)
        agg = regional.risk_aggregates(c, GD, Filters(), "branch_id", [MAR, FEB])
    assert t["region_code"].tolist() == ["440000"] and t["rank"].tolist() == [1]
    assert t["balance"].iloc[0] == 10000.0
    assert widened["region_code"].tolist() == ["440000"]
    assert other.empty and foreign.empty and nobody.empty
    assert own["branch_id"].tolist() == ["BR44-1", "BR44-2"]
    assert set(agg["branch_id"]) == {"BR44-1", "BR44-2"}


def test_one_loan_region_and_empty_month(book):
    with book.connect() as c:
        one = regional.regional_risk(c, Scope.all(), Filters(), MAR23, expected_loss=False)
        empty = regional.regional_risk(c, Scope.all(), Filters(), dt.date(2024, 1, 31), expected_loss=False)
    gd = one.set_index("region_code").loc["440000"]
    assert gd["loans"] == 1 and gd["overdue_rate_30_balance"] == 0.0 and gd["collateral_coverage"] == 1.0
    assert math.isnan(gd["provision_coverage"])  # no NPL: coverage is null
    assert one["rank"].tolist() == [1, 1]  # both at 0: tied
    assert empty.empty


def test_empty_store(engine):
    with engine.connect() as c:
        assert regional.regional_risk(c, Scope.all(), Filters()).empty
        assert regional.branch_risk(c, Scope.all(), Filters(), "440000").empty
    with pytest.raises(ValueError, match="cannot group"):
        with engine.connect() as c:
            regional.risk_aggregates(c, Scope.all(), Filters(), "product", [MAR])


def test_expected_loss_hook(book):
    """Expected loss is data.credit.ecl_by's when that exists, else NaN (never made up here)."""
    try:
        from data.credit import ecl_by  # noqa: F401
    except ImportError:
        with book.connect() as c:
            t = regional.regional_risk(c, Scope.all(), Filters(), MAR)
        assert t["expected_loss"].isna().all()
        return
    with book.connect() as c:
        t = regional.regional_risk(c, Scope.all(), Filters(), MAR)
        el = regional.expected_loss_by(c, Scope.all(), Filters(), "region_code", MAR)
    got = t.set_index("region_code")["expected_loss"].sort_index()
    want = el.set_index("region_code")["expected_loss"].sort_index()
    assert_series_equal(got, want, check_names=False, check_index_type=False)
    assert (got.dropna() >= 0).all()


def test_money_sums_keep_cents(engine):
    """Sums are doubles in SQL: a balance of 61,165,273.64 comes back to the cent."""
    perf = pd.DataFrame([_perf("X1", MAR, "440000", "B", 61165273.64, 0, "normal", 70000001.01)])
    loans = perf[["loan_id", "region_code", "branch_id", "product", "segment"]].assign(
        customer_id="C", disbursement_date=dt.date(2022, 6, 1), maturity_date=dt.date(2027, 6, 1),
        principal=7e7, interest_rate=0.05, collateral_type="real_estate")
    with engine.begin() as c:
        insert_frame(c, Loan.__table__, loans)
        insert_frame(c, Performance.__table__, perf)
    with engine.connect() as c:
        agg = regional.risk_aggregates(c, Scope.all(), Filters(), "region_code", [MAR])
    assert agg["balance"].iloc[0] == 61165273.64
    assert agg["collateral_value"].iloc[0] == 70000001.01


@pytest.mark.parametrize("regions", [("440000",), ("110000", "440000"), ("999999",)])
def test_region_table_narrowed_in_memory_is_the_table_read_for_those_regions(book, regions):
    from data import regional_view

    month = Filters(as_of=MAR, regions=regions)
    with book.connect() as c:
        every = regional_view.region_table(c, Scope.all(), regional_view.table_filters(month))
        direct = regional_view.region_table(c, Scope.all(), month)
    assert regional_view.table_filters(month) == Filters(as_of=MAR)
    assert regional_view.table_filters(Filters(regions=regions)) == Filters(regions=regions)  # no month: as given
    picked = regional_view.in_regions(every, regions)
    if direct.empty:  # a region without a book: no rows either way (the page says so)
        assert picked.empty
        return
    assert_frame_equal(picked, direct, check_exact=True)
    assert picked.attrs == direct.attrs
    if regions == ("440000",):  # Guangdong alone ranks first (30+ DPD 0.5); in the whole table it is 2nd
        assert every.set_index("region_code").loc["440000", "rank"] == 2 and picked["rank"].tolist() == [1]
    assert regional_view.in_regions(every, ()) is every


def test_rank_rows_ranks_among_the_rows_given():
    table = pd.DataFrame({"region_code": ["a", "b", "c"], "overdue_rate_30_balance": [0.1, 0.3, None],
                          "collateral_coverage": [0.9, 0.5, 0.7]})
    table.attrs["as_of"] = MAR
    out = ar.rank_rows(table, "region_code")
    assert out["region_code"].tolist() == ["b", "a", "c"] and out["rank"].tolist() == [1, 2, pd.NA]
    assert out.attrs == {"as_of": MAR}
    # coverage: higher is better, so the lowest ranks worst
    assert ar.rank_rows(table, "region_code", "collateral_coverage")["region_code"].tolist() == ["b", "c", "a"]


def test_risk_sums_are_kept_per_month_and_only_missing_months_read(book, tmp_path, monkeypatch):
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path / "cache"))
    regional._RISK_CACHE.clear_memory()
    reads: list[list] = []
    real = regional._read_risk_aggregates

    def spy(conn, scope, filters, by, months):
        reads.append(sorted(months))
        return real(conn, scope, filters, by, months)

    monkeypatch.setattr(regional, "_read_risk_aggregates", spy)
    with book.connect() as c:
        first = regional.risk_aggregates(c, Scope.all(), Filters(), "region_code", [MAR, FEB])
        regional._RISK_CACHE.clear_memory()  # as after a restart: FEB and MAR come from Parquet
        second = regional.risk_aggregates(c, Scope.all(), Filters(as_of=MAR), "region_code", [FEB, MAR23])
        direct = real(c, Scope.all(), Filters(), "region_code", [MAR23, FEB])
        gd = regional.risk_aggregates(c, Scope.all(), Filters(regions=("440000",)), "region_code", [FEB])
    assert reads == [[FEB, MAR], [MAR23], [FEB]]  # the filters' regions are part of the key
    assert_frame_equal(second, direct, check_exact=True, check_dtype=False)
    assert second["as_of"].tolist() == [MAR23, MAR23, FEB, FEB] and first["as_of"].tolist() == [FEB, FEB, MAR, MAR]
    # Beijing, Feb 2024 by hand: C1 5000 + C2 5000 (370 dpd, loss); C1 collateralised at 4000
    bj = second[(second["as_of"] == FEB) & (second["region_code"] == "110000")].iloc[0]
    assert bj["balance"] == 10000.0 and bj["balance_dpd_gt_90"] == 5000.0 and bj["balance_loss"] == 5000.0
    assert bj["collateralised_balance"] == 5000.0 and bj["collateral_value"] == 4000.0
    assert gd["region_code"].tolist() == ["440000"]
