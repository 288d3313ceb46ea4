"""Customer lifetime value and value segments: sums written out by hand, conventions, edge
cases, properties, segmentation, and the store reads/wiring on DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math
import sys
import types

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.metrics import silhouette_score

from analytics import clv as C
from analytics.clv import (
    ClvParams,
    SegmentParams,
    choose_k,
    customer_clv,
    loan_cash_flows,
    loan_clv,
    monthly_pd,
    name_segment,
    segment_customers,
    standardise_features,
)
from data import customers as cu
from data.bulk import insert_frame
from data.engine import make_engine, upgrade
from data.read import Filters, Scope
from data.schema import ImportBatch, Loan, Performance

# monthly discount 1 % and costs of 0.2 % + 0.1 % a month: sums easy to write out
EASY = ClvParams(annual_discount_rate=1.01**12 - 1, funding_cost_rate=0.024, servicing_cost_rate=0.012)


def _loans(rows: list[dict]) -> pd.DataFrame:
    base = dict(customer_id="C1", product="consumer", lgd=0.45)
    return pd.DataFrame([{**base, **r} for r in rows])


# ------------------------------------------------------------------------ by hand


def test_default_discount_rate():
    assert ClvParams().monthly_discount_rate == pytest.approx(0.00643403011, abs=1e-11)
    assert EASY.monthly_discount_rate == pytest.approx(0.01, abs=1e-14)


def test_amortising_loan_without_default_by_hand():
    # B = 1000 at r = 12 % (i = 1 % a month) over T = 2 months, annuity:
    #   balance_1 = 1000, balance_2 = 1000 · (1 − 1/1.01) ÷ (1 − 1/1.0201) = 502.48756219
    # margin a month = 1 % − 0.2 % − 0.1 % = 0.7 % of the balance; PD = 0: S_t = 1
    #   CF_1 = 7.0, CF_2 = 3.51741294; CLV = 7 / 1.01 + 3.51741294 / 1.0201
    #       = 6.93069307 + 3.44810600 = 10.37879907
    loans = _loans([dict(loan_id="A", balance=1000.0, interest_rate=0.12, remaining_months=2, pd_12m=0.0)])
    out = loan_clv(loans, EASY).iloc[0]
    assert out["term_months"] == 2 and out["pd_monthly"] == 0.0
    assert out["pv_balance"] == pytest.approx(1000 / 1.01 + 502.48756219 / 1.0201, rel=1e-9)
    assert out["clv"] == pytest.approx(10.37879907, rel=1e-8)
    assert out["pv_expected_loss"] == 0.0
    flows = loan_cash_flows(loans, EASY)
    assert flows["balance"].tolist() == pytest.approx([1000.0, 502.48756219])
    assert flows["pv"].tolist() == pytest.approx([6.93069307, 3.44810600])


def test_revolving_loan_with_default_by_hand():
    # credit card: flat balance 600, r = 18 % (1.5 % a month), T = 3 (its remaining term)
    # PD12 = 1 − 0.9^12 → PD_m = 0.1; S_t = 0.9^(t−1) = 1, 0.9, 0.81; LGD 0.5
    # per month: 600 · (1.5 % − 0.3 %) − 0.1 · 0.5 · 600 = 7.2 − 30 = −22.8
    # CLV = −22.8 · (1/1.01 + 0.9/1.0201 + 0.81/1.030301)
    #     = −22.8 · (0.99009901 + 0.88226644 + 0.78617802) = −22.8 · 2.65854347 = −60.61479121
    loans = _loans([dict(loan_id="K", product="credit_card", balance=600.0, interest_rate=0.18,
                         remaining_months=3, pd_12m=1 - 0.9**12, lgd=0.5)])
    out = loan_clv(loans, EASY).iloc[0]
    assert out["pd_monthly"] == pytest.approx(0.1, abs=1e-12)
    assert out["clv"] == pytest.approx(-60.61479121, rel=1e-8)
    # parts: interest 600 · 1.5 % = 9 a month, expected loss 30 a month, same weights
    assert out["pv_interest"] == pytest.approx(9 * 2.65854347, rel=1e-8)
    assert out["pv_expected_loss"] == pytest.approx(30 * 2.65854347, rel=1e-8)
    flows = loan_cash_flows(loans, EASY)
    assert flows["survival"].tolist() == pytest.approx([1.0, 0.9, 0.81])
    assert flows["discount"].tolist() == pytest.approx([1 / 1.01, 1 / 1.0201, 1 / 1.030301])
    assert flows["balance"].tolist() == [600.0, 600.0, 600.0]


def test_customer_clv_sums_the_loans():
    loans = _loans([
        dict(loan_id="A", balance=1000.0, interest_rate=0.12, remaining_months=2, pd_12m=0.0),
        dict(loan_id="K", product="credit_card", balance=600.0, interest_rate=0.18, remaining_months=3,
             pd_12m=1 - 0.9**12, lgd=0.5),
        dict(loan_id="Z", customer_id="C2", balance=300.0, interest_rate=0.0, remaining_months=3, pd_12m=0.0),
    ])
    out = customer_clv(loan_clv(loans, EASY)).set_index("customer_id")
    assert out.loc["C1", "clv"] == pytest.approx(10.37879907 - 60.61479121, rel=1e-8)
    assert out.loc["C1", "loans"] == 2
    # zero rate: linear repayment 300, 200, 100; only costs, 0.3 % a month
    # CLV = −0.9/1.01 − 0.6/1.0201 − 0.3/1.030301 = −1.77044378
    assert out.loc["C2", "clv"] == pytest.approx(-1.77044378, rel=1e-8)


def test_pd_one_defaults_in_the_first_month():
    # PD = 1: S_1 = 1, S_t = 0 after; CF_1 = 1000 · 0.7 % − 1 · 0.4 · 1000 = −393 → −393/1.01
    loans = _loans([dict(loan_id="A", balance=1000.0, interest_rate=0.12, remaining_months=12, pd_12m=1.0,
                         lgd=0.4)])
    assert monthly_pd(1.0) == 1.0
    assert loan_clv(loans, EASY)["clv"].iloc[0] == pytest.approx(-389.10891089, rel=1e-9)
    assert loan_cash_flows(loans, EASY)["survival"].tolist()[:3] == [1.0, 0.0, 0.0]


def test_terms():
    # past maturity → T = 1; a revolving loan past its term → the horizon; NaN PD → NaN
    p = ClvParams(revolving_horizon_months=5)
    loans = _loans([
        dict(loan_id="late", balance=100.0, interest_rate=0.12, remaining_months=-2, pd_12m=0.0),
        dict(loan_id="card", product="credit_card", balance=100.0, interest_rate=0.12, remaining_months=0,
             pd_12m=0.0),
        dict(loan_id="nopd", balance=100.0, interest_rate=0.12, remaining_months=4, pd_12m=np.nan),
    ])
    out = loan_clv(loans, p).set_index("loan_id")
    assert out.loc["late", "term_months"] == 1 and out.loc["card", "term_months"] == 5
    assert math.isnan(out.loc["nopd", "clv"])
    assert math.isnan(customer_clv(loan_clv(loans, p)).set_index("customer_id").loc["C1", "clv"])


def test_missing_column_and_empty_input():
    loans = _loans([dict(loan_id="A", balance=1.0, interest_rate=0.1, remaining_months=2, pd_12m=0.1)])
    with pytest.raises(ValueError, match="pd_12m"):
        loan_clv(loans.drop(columns="pd_12m"))
    empty = loan_clv(loans.iloc[:0])
    assert empty.empty and "clv" in empty.columns
    assert customer_clv(empty).empty
    assert loan_cash_flows(loans.iloc[:0]).empty


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 1e7), st.sampled_from([0.0, 1e-12, 0.001, 0.05, 0.3, 0.99]), st.integers(-5, 360),
            st.floats(0, 1), st.floats(0, 1), st.booleans(),
        ),
        min_size=1, max_size=8,
    ),
    st.sampled_from([0.0, 0.08, 0.3]),
)
@example(rows=[(4.0, 0.0, 247, 5.960464477539063e-08, 0.0, False)], annual=0.0)  # PD_m 5e-9: near x = 1
def test_closed_form_matches_the_month_by_month_sum(rows, annual):
    loans = _loans([dict(loan_id=f"L{i}", balance=b, interest_rate=r, remaining_months=t, pd_12m=p, lgd=g,
                         product="credit_card" if rev else "mortgage")
                    for i, (b, r, t, p, g, rev) in enumerate(rows)])
    params = ClvParams(annual_discount_rate=annual)
    fast = loan_clv(loans, params).set_index("loan_id")
    flows = loan_cash_flows(loans, params)
    slow = flows.groupby("loan_id")["pv"].sum()
    assert fast["clv"].to_numpy() == pytest.approx(slow.reindex(fast.index).to_numpy(), rel=1e-7, abs=1e-6)
    # the survival-weighted discounted balance is within [0, balance · T]
    assert (fast["pv_balance"] >= -1e-9).all()
    assert (fast["pv_balance"] <= loans.set_index("loan_id")["balance"] * fast["term_months"] + 1e-6).all()


# ----------------------------------------------------------------------- segments


def _features(n_per: int, centres: list[tuple[float, ...]], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for j, c in enumerate(centres):
        pts = np.asarray(c) + rng.normal(0, 0.05, size=(n_per, len(c)))
        for i, p in enumerate(pts):
            rows.append(dict(customer_id=f"B{j}-{i}", blob=j, **dict(zip(C.SEGMENT_FEATURES, p))))
    return pd.DataFrame(rows)


# four blobs far apart in (tenure, products, dpd); money and trend alike
BLOBS = [(1000, 5e4, 10, 1, 0, 0), (1000, 5e4, 100, 1, 0, 0), (1000, 5e4, 10, 4, 0, 0), (1000, 5e4, 10, 1, 200, 0)]


def test_silhouette_picks_four_blobs_and_is_deterministic():
    feats = _features(60, BLOBS)
    a = segment_customers(feats)
    b = segment_customers(feats.sample(frac=1.0, random_state=3).sort_values("customer_id"))
    assert a.k == 4
    assert sorted(a.silhouette) == [3, 4, 5, 6, 7, 8]
    assert max(a.silhouette, key=a.silhouette.get) == 4
    # every blob is one segment
    assert (a.customers.groupby("blob")["segment"].nunique() == 1).all()
    assert a.customers["segment"].nunique() == 4
    # the same input gives the same answer
    a2 = segment_customers(feats)
    pd.testing.assert_frame_equal(a.customers, a2.customers)
    assert a.silhouette == a2.silhouette
    # row order changes nothing but the row order
    merged = a.customers.merge(b.customers, on="customer_id")
    assert (merged["segment_x"] == merged["segment_y"]).all()
    # the delinquent blob is named and actioned as such
    prof = a.profiles.set_index("segment")
    dq = a.customers.loc[a.customers["blob"] == 3, "segment"].iloc[0]
    assert prof.loc[dq, "segment_name"].endswith("delinquent") and prof.loc[dq, "action"] == "collect"
    assert prof["customers"].sum() == 240 and list(prof.index) == [0, 1, 2, 3]
    assert len(set(prof["segment_name"])) == 4  # names are made distinct


def test_silhouette_matches_sklearn():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 6))
    labels = [rng.integers(0, k, 500) for k in (2, 3, 7)]
    ours = C._mean_silhouettes(x, labels, chunk=97)
    assert ours == pytest.approx([silhouette_score(x, lab) for lab in labels], abs=1e-9)


def test_k_range_limits_and_tiny_input():
    z = np.array([[0.0], [0.0], [1.0]])
    k, scores, _ = choose_k(z)
    assert (k, scores) == (1, {})  # 2 distinct points: no k in 3..8 can be scored
    feats = _features(1, BLOBS[:3])
    r = segment_customers(feats)
    assert r.k == 1 and r.silhouette == {} and (r.customers["segment"] == 0).all()
    empty = segment_customers(feats.iloc[:0])
    assert empty.k == 0 and empty.customers.empty and empty.profiles.empty
    with pytest.raises(ValueError, match="worst_dpd_12m"):
        segment_customers(feats.drop(columns="worst_dpd_12m"))
    with pytest.raises(ValueError, match="k_range"):
        SegmentParams(k_range=(1, 4))


def test_standardise_by_hand():
    f = pd.DataFrame({"clv": [0.0, math.e - 1], "balance": [5.0, 5.0], "tenure_months": [10, 30],
                      "products_held": [1, 1], "worst_dpd_12m": [0, 0], "score_trend_6m": [np.nan, 4.0]})
    z = standardise_features(f)
    # clv → ln(1 + x) = 0, 1: mean 0.5, std 0.5 → −1, 1; constant balance → 0;
    # missing trend → 0, so trend 0, 4 → −1, 1
    assert z["clv"].tolist() == pytest.approx([-1.0, 1.0])
    assert z["balance"].tolist() == [0.0, 0.0]
    assert z["tenure_months"].tolist() == pytest.approx([-1.0, 1.0])
    assert z["score_trend_6m"].tolist() == pytest.approx([-1.0, 1.0])


@pytest.mark.parametrize("z, expected", [
    (dict(clv=1.0), ("high value, low risk", "retain with a rate offer")),
    (dict(clv=0.5), ("high value, low risk", "retain with a rate offer")),
    (dict(clv=0.49), ("mid value, low risk", "cross-sell")),
    (dict(clv=-0.5), ("low value, low risk", "cross-sell")),
    (dict(clv=0.6, score_trend_6m=-0.8), ("high value, rising risk", "watch")),
    (dict(clv=0.0, worst_dpd_12m=0.5), ("mid value, rising risk", "watch")),
    (dict(clv=-1.0, worst_dpd_12m=1.0), ("low value, delinquent", "collect")),
    (dict(clv=2.0, worst_dpd_12m=3.0, score_trend_6m=-2.0), ("high value, delinquent", "collect")),
])
def test_naming_rules(z, expected):
    assert name_segment(z) == expected


def test_equal_names_get_a_qualifier():
    cent = pd.DataFrame({"balance": [1.0, -0.2, 0.0], "tenure_months": [0.0, -1.5, 0.0],
                         "products_held": [0.0, 0.0, 0.0]})
    names = C._distinct_names(["mid value, low risk"] * 2 + ["low value, delinquent"], cent)
    assert names == ["mid value, low risk, large balance", "mid value, low risk, new", "low value, delinquent"]


# ---------------------------------------------------------------------- the store

GD, BJ = "440000", "110000"
M = dt.date(2024, 12, 31)
M6, M11, M12, M3 = dt.date(2024, 6, 30), dt.date(2024, 1, 31), dt.date(2023, 12, 31), dt.date(2024, 9, 30)


def _p(loan, as_of, region, product, bal, dpd=0, score=None, status="active", coll=None):
    return dict(loan_id=loan, as_of=as_of, region_code=region, branch_id=None, product=product, segment="retail",
                outstanding_principal=bal, dpd=dpd, credit_score=score, collateral_value=coll, status=status,
                classification="normal")


def _l(loan, customer, region, product, disb, mat, rate, ctype=None, cval=None):
    return dict(loan_id=loan, customer_id=customer, region_code=region, product=product, segment="retail",
                disbursement_date=disb, maturity_date=mat, principal=10_000.0, interest_rate=rate,
                collateral_type=ctype, collateral_value=cval)


def _book_frames(l1_balance: float = 100_000.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(loans, performance) of ``book``; ``l1_balance`` is L1's balance at M."""
    loans = pd.DataFrame([
        _l("L1", "C1", GD, "mortgage", dt.date(2020, 3, 10), dt.date(2040, 3, 10), 0.048, "real_estate", 200_000.0),
        _l("L2", "C1", GD, "consumer", dt.date(2023, 6, 1), dt.date(2025, 6, 1), 0.12),
        _l("L3", "C2", BJ, "credit_card", dt.date(2024, 1, 15), dt.date(2025, 3, 15), 0.18),
        _l("L4", "C2", BJ, "consumer", dt.date(2022, 5, 5), dt.date(2024, 11, 5), 0.10),
        _l("L5", "C3", GD, "consumer", dt.date(2021, 1, 1), dt.date(2024, 12, 1), 0.10),
    ])
    perf = pd.DataFrame([
        _p("L1", M, GD, "mortgage", l1_balance, 0, 720, coll=180_000.0),
        _p("L1", M6, GD, "mortgage", 102_000.0, 0, 700),
        _p("L1", M11, GD, "mortgage", 104_000.0, 15, 690),
        _p("L1", M12, GD, "mortgage", 104_500.0, 45, 680),  # 12 months back: outside the window
        _p("L2", M, GD, "consumer", 5_000.0, 0, 650),
        _p("L2", M6, GD, "consumer", 7_000.0, 0, 660),
        _p("L3", M, BJ, "credit_card", 2_000.0, 40, 600),
        _p("L3", M6, BJ, "credit_card", 1_500.0, 0, None),
        _p("L4", M3, BJ, "consumer", 0.0, 100, None, status="closed"),
        _p("L5", M, GD, "consumer", 0.0, 0, 640, status="closed"),
    ]).astype({"credit_score": "Int64"})
    return loans, perf


@pytest.fixture
def book(engine, tmp_path, monkeypatch):
    """C1 (Guangdong): mortgage L1 + consumer L2; C2 (Beijing): card L3 + closed L4; C3: closed only."""
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path / "cache"))
    cu._SEGMENTS_CACHE.clear_memory()
    loans, perf = _book_frames()
    with engine.begin() as c:
        insert_frame(c, Loan.__table__, loans)
        insert_frame(c, Performance.__table__, perf)
    return engine


def test_customer_features_by_hand(book):
    with book.connect() as c:
        f = cu.customer_features(c, Scope.all(), Filters(as_of=M)).set_index("customer_id")
    assert list(f.index) == ["C1", "C2"]  # C3 has no loan in the book
    c1, c2 = f.loc["C1"], f.loc["C2"]
    assert (c1["balance"], c1["loans"], c1["products_held"]) == (105_000.0, 2, 2)
    assert c1["tenure_months"] == (2024 * 12 + 12) - (2020 * 12 + 3)  # 57
    assert c1["worst_dpd_12m"] == 15  # the 45 is 12 months back
    assert c1["score_trend_6m"] == pytest.approx(((720 - 700) + (650 - 660)) / 2)  # 5
    assert (c2["balance"], c2["loans"], c2["products_held"]) == (2_000.0, 1, 1)
    assert c2["tenure_months"] == (2024 * 12 + 12) - (2022 * 12 + 5)  # 31: the closed loan counts
    assert c2["worst_dpd_12m"] == 100  # the closed loan's dpd in the window counts
    assert math.isnan(c2["score_trend_6m"])  # no loan with a score at both months


def test_customer_features_in_scope(book):
    with book.connect() as c:
        bj = cu.customer_features(c, Scope.of([BJ]), Filters(as_of=M))
        assert list(bj["customer_id"]) == ["C2"]
        assert cu.customer_features(c, Scope.of([BJ]), Filters(as_of=M, regions=(GD,))).empty
        cons = cu.customer_features(c, Scope.all(), Filters(as_of=M, products=("consumer",)))
    assert list(cons["customer_id"]) == ["C1"] and cons["balance"].iloc[0] == 5_000.0


def test_loan_clv_inputs(book):
    with book.connect() as c:
        x = cu.loan_clv_inputs(c, Scope.all(), Filters(as_of=M)).set_index("loan_id")
    assert list(x.index) == ["L1", "L2", "L3"]
    assert x.loc["L1", "remaining_months"] == (2040 * 12 + 3) - (2024 * 12 + 12)  # 183
    assert x.loc["L3", "remaining_months"] == 3
    assert x.loc["L1", "collateral_value"] == 180_000.0 and x.loc["L1", "collateral_type"] == "real_estate"
    assert x.loc["L2", "balance"] == 5_000.0 and x.loc["L3", "dpd"] == 40


def _fake_credit(monkeypatch, pds: dict[str, float], full: bool = True) -> None:
    """Stand in for data.credit.loan_pd (the PD model) with fixed PDs: the whole book with
    ``pd_12m`` (``full``), or only ``loan_id`` and ``pd_12m``."""
    fake = types.ModuleType("data.credit")

    def loan_pd(conn, scope, filters, as_of=None):
        book = cu.loan_clv_inputs(conn, scope, Filters(as_of=as_of or filters.as_of))
        book["pd_12m"] = book["loan_id"].map(pds)
        if not full:
            book = book[["loan_id", "pd_12m"]].iloc[::-1].reset_index(drop=True)
        book.attrs["pd_method"] = "fake"
        return book

    fake.loan_pd = loan_pd
    monkeypatch.setitem(sys.modules, "data.credit", fake)


@pytest.mark.parametrize("full", [True, False])
def test_loan_values_through_the_pd_model(book, monkeypatch, full):
    _fake_credit(monkeypatch, {"L1": 0.01, "L2": 0.05, "L3": 0.0}, full)
    assert cu.loan_pd_source() == cu.MODEL_PD_SOURCE
    with book.connect() as c:
        v, source = cu.loan_values(c, Scope.all(), Filters())
        cust = cu.customer_values(c, Scope.all(), Filters()).set_index("customer_id")
    assert source == "data.credit.loan_pd (fake)"
    v = v.set_index("loan_id")
    # L3, card, T = 3, PD 0, default parameters: margin (18 % − 2.5 % − 0.5 %) ÷ 12 of 2000 = 25 a
    # month; v = 1 ÷ 1.08^(1/12) = 0.99360710; CLV = 25 · (0.99360710 + 0.98725507 + 0.98094365)
    assert v.loc["L3", "clv"] == pytest.approx(74.04514568, rel=1e-8)
    assert cust.loc["C2", "clv"] == pytest.approx(74.04514568, rel=1e-8)
    assert v.loc["L1", "pd_12m"] == 0.01 and v.loc["L2", "lgd"] == pytest.approx(0.45)
    assert cust.loc["C1", "clv"] == pytest.approx(v.loc["L1", "clv"] + v.loc["L2", "clv"])


def test_missing_pd_module_uses_the_interim(monkeypatch):
    monkeypatch.setitem(sys.modules, "data.credit", None)  # import raises ModuleNotFoundError
    assert cu.loan_pd_source() == cu.INTERIM_PD_SOURCE


def test_segments_cached_until_the_next_import(book, monkeypatch):
    _fake_credit(monkeypatch, {"L1": 0.01, "L2": 0.05, "L3": 0.0})
    with book.connect() as c:
        first = cu.customer_segments(c, Scope.all(), Filters())
        again = cu.customer_segments(c, Scope.all(), Filters())
        bj = cu.customer_segments(c, Scope.of([BJ]), Filters())
    assert first.as_of == M and not first.from_cache and again.from_cache
    assert list(first.customers["customer_id"]) == ["C1", "C2"] and first.k == 1 and first.silhouette == {}
    pd.testing.assert_frame_equal(first.customers, again.customers)
    assert again.pd_source == "data.credit.loan_pd (fake)"
    assert list(bj.customers["customer_id"]) == ["C2"] and not bj.from_cache
    with book.begin() as c:
        c.execute(sa.insert(ImportBatch).values(started_at=dt.datetime(2025, 1, 5)))
    with book.connect() as c:
        after = cu.customer_segments(c, Scope.all(), Filters())
    assert not after.from_cache


def _count_segmentations(monkeypatch) -> list[dt.date]:
    """Record the month of every computation of ``customer_segments`` (not served from the cache)."""
    calls: list[dt.date] = []
    real = cu.customer_features

    def counting(conn, scope, filters):
        calls.append(filters.as_of)
        return real(conn, scope, filters)

    monkeypatch.setattr(cu, "customer_features", counting)
    return calls


def _assert_same_segments(got: cu.CustomerSegments, want: cu.CustomerSegments) -> None:
    """Identical frames (values and dtypes), k, silhouettes (int keys) and PD source."""
    pd.testing.assert_frame_equal(got.customers, want.customers)
    pd.testing.assert_frame_equal(got.profiles, want.profiles)
    assert (got.as_of, got.k, got.silhouette, got.pd_source) == (want.as_of, want.k, want.silhouette, want.pd_source)


def test_segments_cache_is_keyed_by_month_scope_filters_and_parameters(book, monkeypatch):
    _fake_credit(monkeypatch, {"L1": 0.01, "L2": 0.05, "L3": 0.0})
    calls = _count_segmentations(monkeypatch)
    with book.connect() as c:
        first = cu.customer_segments(c, Scope.all(), Filters())
        assert cu.customer_segments(c, Scope.all(), Filters(as_of=dt.date(2024, 12, 5))).from_cache  # same month
        assert len(calls) == 1
        bj = cu.customer_segments(c, Scope.of([BJ]), Filters())
        both = cu.customer_segments(c, Scope.of([BJ, GD]), Filters())
        consumer = cu.customer_segments(c, Scope.all(), Filters(products=("consumer",)))
        gd_filter = cu.customer_segments(c, Scope.all(), Filters(regions=(GD,)))
        cheaper = cu.customer_segments(c, Scope.all(), Filters(), EASY)
        other_k = cu.customer_segments(c, Scope.all(), Filters(), segment_params=SegmentParams(k_range=(2, 3)))
        earlier = cu.customer_segments(c, Scope.all(), Filters(as_of=M6))
        assert len(calls) == 8 and calls[-1] == M6
        for r in (bj, both, consumer, gd_filter, cheaper, other_k, earlier):
            assert not r.from_cache
        # each is its own entry: asked again, all come from the cache
        assert cu.customer_segments(c, Scope.of([BJ]), Filters()).from_cache
        assert cu.customer_segments(c, Scope.all(), Filters(products=("consumer",))).from_cache
        assert cu.customer_segments(c, Scope.all(), Filters(), EASY).from_cache
        assert len(calls) == 8
    assert list(bj.customers["customer_id"]) == ["C2"] and list(gd_filter.customers["customer_id"]) == ["C1"]
    assert list(consumer.customers["customer_id"]) == ["C1"] and consumer.customers["balance"].tolist() == [5_000.0]
    assert list(both.customers["customer_id"]) == ["C1", "C2"]
    assert cheaper.customers["clv"].tolist() != first.customers["clv"].tolist()
    assert earlier.as_of == M6 and first.as_of == M
    entries = [p for p in cu._SEGMENTS_CACHE.directory().iterdir() if not p.name.startswith(".")]
    assert len(entries) == 8 and all(p.is_dir() for p in entries)


def test_segments_cache_survives_a_restart_and_is_dropped_by_an_import(book, monkeypatch):
    _fake_credit(monkeypatch, {"L1": 0.01, "L2": 0.05, "L3": 0.0})
    with book.connect() as c:
        computed = cu.customer_segments(c, Scope.all(), Filters())
        from_memory = cu.customer_segments(c, Scope.all(), Filters())
    folder = cu._SEGMENTS_CACHE.directory()
    [entry] = list(folder.iterdir())
    assert sorted(p.name for p in entry.iterdir()) == ["bundle.json", "customers.parquet", "profiles.parquet"]
    cu._SEGMENTS_CACHE.clear_memory()  # a new process: read from the files, nothing computed
    calls = _count_segmentations(monkeypatch)
    with book.connect() as c:
        from_file = cu.customer_segments(c, Scope.all(), Filters())
    assert calls == [] and from_memory.from_cache and from_file.from_cache and not computed.from_cache
    _assert_same_segments(from_memory, computed)
    _assert_same_segments(from_file, computed)
    # a caller changing its result does not change the cached one
    from_file.customers.loc[:, "clv"] = 0.0
    with book.connect() as c:
        _assert_same_segments(cu.customer_segments(c, Scope.all(), Filters()), computed)
    # an import (a new batch; L1's balance moves): recomputed, and the old entry deleted
    with book.begin() as c:
        c.execute(sa.update(Performance.__table__).where(Performance.__table__.c.loan_id == "L1",
                                                         Performance.__table__.c.as_of == M)
                  .values(outstanding_principal=90_000))
        c.execute(sa.insert(ImportBatch).values(started_at=dt.datetime(2025, 1, 5)))
    with book.connect() as c:
        after = cu.customer_segments(c, Scope.all(), Filters())
    assert calls == [M] and not after.from_cache
    assert after.customers.set_index("customer_id").loc["C1", "balance"] == 95_000.0
    assert [p.name for p in folder.iterdir()] != [entry.name] and len(list(folder.iterdir())) == 1


def test_segments_of_a_store_recreated_at_the_same_path_are_not_served_old(tmp_path, monkeypatch):
    """The old key (max batch_id) matched here: the new store's first import is batch 1 again."""
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path / "cache"))
    cu._SEGMENTS_CACHE.clear_memory()
    _fake_credit(monkeypatch, {"L1": 0.01, "L2": 0.05, "L3": 0.0})
    path = tmp_path / "store.duckdb"
    results = []
    for balance, started in ((100_000.0, dt.datetime(2025, 1, 5, 9)), (80_000.0, dt.datetime(2025, 1, 6, 9))):
        path.unlink(missing_ok=True)
        eng = make_engine(f"duckdb:///{path}")
        upgrade(eng)
        loans, perf = _book_frames(balance)
        with eng.begin() as c:
            insert_frame(c, Loan.__table__, loans)
            insert_frame(c, Performance.__table__, perf)
            c.execute(sa.insert(ImportBatch).values(started_at=started, finished_at=started))
        with eng.connect() as c:
            assert c.execute(sa.select(sa.func.max(ImportBatch.batch_id))).scalar() == 1
            results.append(cu.customer_segments(c, Scope.all(), Filters()))
        eng.dispose()
    old, new = results
    assert not old.from_cache and not new.from_cache
    assert old.customers.set_index("customer_id").loc["C1", "balance"] == 105_000.0
    assert new.customers.set_index("customer_id").loc["C1", "balance"] == 85_000.0
    assert len(list(cu._SEGMENTS_CACHE.directory().iterdir())) == 1  # the old store's entry is gone


def test_segments_of_an_empty_store(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path))
    with engine.connect() as c:
        r = cu.customer_segments(c, Scope.all(), Filters())
        v, _ = cu.loan_values(c, Scope.all(), Filters())
    assert r.as_of is None and r.customers.empty and r.k == 0
    assert v.empty and "clv" in v.columns


# --------------------------------------------------------------- the interim PD

M0, MID = dt.date(2023, 12, 31), dt.date(2024, 6, 30)


@pytest.fixture
def calib(engine):
    """Book at Dec 2023 (m0), Jun 2024, Dec 2024 (m).

    consumer, current at m0: 25 loans, K00-K04 go > 90 DPD by Jun 2024 → 5 / 25.
    consumer, 1-30 at m0: 3 loans (dpd 15), P0 goes bad → 1 / 3 (too few: prior).
    mortgage, current at m0: 10 loans, none bad (too few: the current bucket's 5 / 35).
    """
    rows, loans = [], []
    specs = ([(f"K{i:02d}", "consumer", 0, i < 5) for i in range(25)]
             + [(f"P{i}", "consumer", 15, i == 0) for i in range(3)]
             + [(f"H{i}", "mortgage", 0, False) for i in range(10)])
    for lid, product, dpd0, bad in specs:
        loans.append(_l(lid, "C" + lid, GD, product, dt.date(2023, 1, 1), dt.date(2030, 1, 1), 0.1))
        rows.append(_p(lid, M0, GD, product, 1000.0, dpd0))
        rows.append(_p(lid, MID, GD, product, 1000.0, 120 if bad else 0))
        rows.append(_p(lid, M, GD, product, 1000.0, 300 if bad else 0))
    with engine.begin() as c:
        insert_frame(c, Loan.__table__, pd.DataFrame(loans))
        insert_frame(c, Performance.__table__, pd.DataFrame(rows).astype({"credit_score": "Int64"}))
    return engine


def test_interim_pd_by_hand(calib):
    with calib.connect() as c:
        t = cu.interim_pd_table(c, Scope.all(), Filters(), M).set_index(["product", "dpd_bucket"])
        per_loan = cu.interim_loan_pd(c, Scope.all(), Filters(), M).set_index("loan_id")["pd_12m"]
    assert t.loc[("consumer", "current"), ["loans", "defaults", "basis"]].tolist() == [25, 5, "cell"]
    assert t.loc[("consumer", "current"), "pd_12m"] == pytest.approx(0.2)
    assert t.loc[("consumer", "1-30"), ["loans", "defaults", "basis"]].tolist() == [3, 1, "prior"]
    assert t.loc[("consumer", "1-30"), "pd_12m"] == 0.20
    assert t.loc[("consumer", "61-90"), "pd_12m"] == 0.60
    assert t.loc[("mortgage", "current"), "basis"] == "bucket"
    assert t.loc[("mortgage", "current"), "pd_12m"] == pytest.approx(5 / 35)
    assert (t["horizon_months"] == 12).all()
    assert per_loan["K10"] == pytest.approx(0.2) and per_loan["H3"] == pytest.approx(5 / 35)
    assert per_loan["K00"] == 1.0  # 300 DPD at m: in default


def test_interim_pd_with_six_months_of_history(calib):
    with calib.connect() as c:
        t = cu.interim_pd_table(c, Scope.all(), Filters(), MID).set_index(["product", "dpd_bucket"])
    # h = 6: 1 − (1 − rate)^2
    assert (t["horizon_months"] == 6).all()
    assert t.loc[("consumer", "current"), "pd_12m"] == pytest.approx(1 - 0.8**2)  # 0.36
    assert t.loc[("mortgage", "current"), "pd_12m"] == pytest.approx(1 - (30 / 35) ** 2)  # 0.26530612


def test_interim_pd_without_history_is_the_prior(calib):
    with calib.connect() as c:
        t = cu.interim_pd_table(c, Scope.all(), Filters(), M0)
    assert (t["basis"] == "prior").all() and (t["horizon_months"] == 0).all()
    assert t.set_index(["product", "dpd_bucket"]).loc[("mortgage", "31-60"), "pd_12m"] == 0.40


def test_loan_values_with_the_interim_pd(calib, monkeypatch):
    monkeypatch.setattr(cu, "loan_pd_source", lambda: cu.INTERIM_PD_SOURCE)
    with calib.connect() as c:
        v, source = cu.loan_values(c, Scope.all(), Filters(as_of=M))
    assert source.startswith(cu.INTERIM_PD_SOURCE) and "prior" in source
    v = v.set_index("loan_id")
    assert v.loc["K10", "pd_12m"] == pytest.approx(0.2) and v.loc["K00", "pd_12m"] == 1.0
    assert len(v) == 38 and v["clv"].notna().all()


def test_importing_clv_does_not_load_scikit_learn():
    """scikit-learn (about 1 s to import) is loaded by the k-means step only, so a page that
    shows cached segments never pays for it."""
    import subprocess
    from pathlib import Path

    code = "import sys, analytics.clv, data.customers, data.customer_lists; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"


def test_pd_source_without_loading_the_model_module(monkeypatch):
    """``load=False`` names the PD model when data.credit is on disk, without importing it
    (SciPy and the model, some 0.4 s, on a page whose segments come from the cache); a
    module already imported is looked at as before."""
    monkeypatch.delitem(sys.modules, "data.credit", raising=False)
    assert cu.loan_pd_source(load=False) == cu.MODEL_PD_SOURCE
    assert "data.credit" not in sys.modules
    monkeypatch.setitem(sys.modules, "data.credit", types.ModuleType("data.credit"))  # no loan_pd in it
    assert cu.loan_pd_source(load=False) == cu.INTERIM_PD_SOURCE == cu.loan_pd_source()
