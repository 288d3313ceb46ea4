"""IFRS 9 stages, LGD and ECL against small books computed by hand; ECL from the store."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pandas.testing import assert_frame_equal

from analytics.ecl import EclConfig, assign_stage, ecl_summary, horizon_pd, lgd, lifetime_pd, loan_ecl, secured_mask
from data import credit
from data.credit import ecl_by, ecl_by_months, loan_ecl as store_loan_ecl
from data.read import Filters, Scope
from data.schema import ImportBatch, Performance
from test_pd_model import FEB, PD_CURRENT, _private_cache, chain_store  # noqa: F401  (shared fixtures)


def test_stage_by_dpd_and_npl_class():
    dpd = [0, 30, 31, 90, 91, 0, 45, 0]
    cls = ["normal", "special_mention", "special_mention", "special_mention", "substandard", "doubtful", "normal", "loss"]
    assert list(assign_stage(dpd, cls)) == [1, 1, 2, 2, 3, 3, 2, 3]


def test_lgd_with_and_without_collateral():
    balance = [100, 100, 100, 100, 100, 100, 100, 100, 100]
    value = [200, 100, 100, 50, 500, 0, np.nan, 100, 100]
    ctype = ["real_estate", "real_estate", "vehicle", "deposit", "none", "real_estate", "real_estate", None, "guarantee"]
    product = ["mortgage", "mortgage", "auto", "business", "consumer", "consumer", "credit_card", "credit_card", "business"]
    got = lgd(balance, value, ctype, product)
    expected = [
        0.10,  # 200 × (1 − 0.40) = 120 covers 100: LGD 0, floored at 10 %
        0.40,  # 100 − 100 × 0.60 = 40
        0.40,  # vehicles: same 40 % haircut
        0.50,  # cash deposit, no haircut: 100 − 50 = 50
        0.45,  # collateral type none: unsecured consumer
        0.45,  # real estate worth 0 is no collateral
        0.75,  # value missing: unsecured credit card
        0.75,  # no collateral type: unsecured credit card
        0.50,  # guarantee: 100 − 100 × 0.50 = 50
    ]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_lgd_house_price_shock_moves_real_estate_only():
    got = lgd([100, 100, 100], [200, 100, 100], ["real_estate", "real_estate", "vehicle"], ["mortgage"] * 3,
              house_price_shock=-0.30)
    # 200 × 0.70 × 0.60 = 84 → 16; 100 × 0.70 × 0.60 = 42 → 58; the vehicle keeps 60 → 40
    np.testing.assert_allclose(got, [0.16, 0.58, 0.40], rtol=0, atol=1e-12)


def test_lgd_floor_and_haircut_are_configurable():
    cfg = EclConfig(haircuts=(("real_estate", 0.50),), lgd_floor=0.20, default_unsecured_lgd=0.60, unsecured_lgd=())
    got = lgd([100, 100, 100], [300, 150, 0], ["real_estate", "real_estate", "none"], ["mortgage", "mortgage", "credit_card"], cfg)
    # 300 × 0.5 = 150 ≥ 100 → floor 0.20; 150 × 0.5 = 75 → 0.25; unsecured default 0.60
    np.testing.assert_allclose(got, [0.20, 0.25, 0.60], rtol=0, atol=1e-12)


def test_config_rejects_a_fraction_outside_0_1():
    with pytest.raises(ValueError, match="lgd_floor"):
        EclConfig(lgd_floor=1.5)


def test_secured_mask():
    assert list(secured_mask(["real_estate", "none", None, "NONE", "vehicle"], [1, 1, 1, 1, 0])) == [True, False, False, False, False]


def test_horizon_and_lifetime_pd():
    # 1 − 0.81^(24/12) = 0.3439; 1 − 0.81^(6/12) = 0.1; 12 months gives the 12-month PD back
    np.testing.assert_allclose(lifetime_pd([0.19, 0.19, 0.19], [24, 6, 12]), [0.3439, 0.1, 0.19], atol=1e-12)
    # remaining term 0 or negative counts as 1 month: 1 − 0.81^(1/12)
    np.testing.assert_allclose(lifetime_pd([0.19, 0.19], [0, -5]), [0.01740680614731016] * 2, atol=1e-12)
    np.testing.assert_allclose(horizon_pd([0.0, 1.0], [24, 24]), [0.0, 1.0])


def _book() -> pd.DataFrame:
    return pd.DataFrame({
        "loan_id": ["A", "B", "C", "D", "E"],
        "region_code": ["440000", "440000", "110000", "110000", "440000"],
        "balance": [1000.0, 2000.0, 1000.0, 500.0, 400.0],
        "dpd": [0, 10, 45, 120, 0],
        "classification": ["normal", "special_mention", "special_mention", "substandard", "doubtful"],
        "pd_12m": [0.19, 0.19, 0.19, 1.0, 1.0],
        "remaining_months": [24, 6, 24, 10, 30],
        "collateral_type": ["none", "real_estate", None, None, "real_estate"],
        "collateral_value": [np.nan, 2500.0, np.nan, np.nan, 1000.0],
        "product": ["consumer", "mortgage", "credit_card", "consumer", "mortgage"],
    })


def test_loan_ecl_small_book_by_hand():
    out = loan_ecl(_book())
    assert list(out["stage"]) == [1, 1, 2, 3, 3]
    # A: stage 1, 12-month PD 0.19; B: stage 1 with 6 months left: 1 − 0.81^0.5 = 0.1;
    # C: stage 2, lifetime over 24 months: 1 − 0.81² = 0.3439; D, E: stage 3, PD 1
    np.testing.assert_allclose(out["pd_used"], [0.19, 0.1, 0.3439, 1.0, 1.0], atol=1e-12)
    # B: 2000 − 2500 × 0.6 = 500 → 0.25; E: 1000 × 0.6 = 600 ≥ 400 → floor 0.10
    np.testing.assert_allclose(out["lgd"], [0.45, 0.25, 0.75, 0.45, 0.10], atol=1e-12)
    # 0.19 × 0.45 × 1000; 0.1 × 0.25 × 2000; 0.3439 × 0.75 × 1000; 0.45 × 500; 0.10 × 400
    np.testing.assert_allclose(out["ecl"], [85.5, 50.0, 257.925, 225.0, 40.0], atol=1e-9)
    assert list(out["ead"]) == [1000.0, 2000.0, 1000.0, 500.0, 400.0]


def test_ecl_summary_by_stage_and_region():
    summary = ecl_summary(loan_ecl(_book()))
    expected = pd.DataFrame({
        "stage": np.array([1, 2, 3], dtype=np.int8),
        "loans": [2, 1, 2],
        "balance": [3000.0, 1000.0, 900.0],
        "ecl": [135.5, 257.925, 265.0],
        "coverage": [135.5 / 3000, 257.925 / 1000, 265.0 / 900],
    })
    assert_frame_equal(summary, expected, check_exact=False, rtol=1e-12)
    by_region = ecl_summary(loan_ecl(_book()), by=["region_code"])
    assert list(zip(by_region["region_code"], by_region["stage"])) == [("110000", 2), ("110000", 3), ("440000", 1), ("440000", 3)]
    np.testing.assert_allclose(by_region["ecl"], [257.925, 225.0, 135.5, 40.0])


def test_missing_pd_gives_missing_ecl_except_in_stage_3():
    book = _book()
    book["pd_12m"] = np.nan
    out = loan_ecl(book)
    assert out["ecl"].iloc[:3].isna().all()
    np.testing.assert_allclose(out["ecl"].iloc[3:], [225.0, 40.0])
    assert np.isnan(ecl_summary(out).loc[lambda d: d["stage"] == 1, "ecl"].iloc[0])


def test_one_missing_pd_makes_its_group_missing():
    book = _book()
    book.loc[0, "pd_12m"] = np.nan  # one of the two stage 1 loans
    summary = ecl_summary(loan_ecl(book)).set_index("stage")
    assert np.isnan(summary.loc[1, "ecl"]) and summary.loc[1, "loans"] == 2
    np.testing.assert_allclose(summary.loc[[2, 3], "ecl"], [257.925, 265.0])


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"loan_ecl: frame is missing column\(s\) \['pd_12m'\]"):
        loan_ecl(_book().drop(columns="pd_12m"))


def test_empty_book():
    out = loan_ecl(_book().iloc[:0])
    assert out.empty and "ecl" in out.columns
    assert ecl_summary(out).empty


def test_one_loan():
    out = loan_ecl(_book().iloc[:1])
    assert ecl_summary(out)[["loans", "balance", "ecl"]].to_dict("records") == [{"loans": 1, "balance": 1000.0, "ecl": pytest.approx(85.5)}]


# --- from the store (both back ends) ---------------------------------------------------------


def test_ecl_by_stage_from_store(chain_store):
    """The chain store's PDs (tests/test_pd_model.py) give ECLs computable by hand."""
    with chain_store.connect() as c:
        by_stage = ecl_by(c, Scope.all(), Filters(), as_of=FEB)
        loans = store_loan_ecl(c, Scope.all(), Filters(as_of=FEB))
    # L1 consumer current, PD 4095/8192, 24 months left, LGD 45 %, 1000;
    # L6 mortgage current, PD 0; L2 consumer 31-60 DPD, PD 1 (lifetime 1), 45 % of 2000;
    # L5 substandard, PD 1, 45 % of 500.
    l1 = PD_CURRENT * 0.45 * 1000
    assert by_stage["stage"].tolist() == [1, 2, 3]
    assert by_stage["loans"].tolist() == [2, 1, 1]
    np.testing.assert_allclose(by_stage["balance"], [3000.0, 2000.0, 500.0])
    np.testing.assert_allclose(by_stage["ecl"], [l1, 900.0, 225.0], rtol=1e-12)
    ecl = dict(zip(loans["loan_id"], loans["ecl"]))
    assert ecl == {"L1": pytest.approx(l1), "L2": pytest.approx(900.0), "L5": pytest.approx(225.0), "L6": 0.0}
    assert dict(zip(loans["loan_id"], loans["lgd"]))["L6"] == pytest.approx(0.25)  # 2000 − 2500 × 0.6


def test_ecl_by_region_respects_scope(chain_store):
    with chain_store.connect() as c:
        gd = ecl_by(c, Scope.of(["440000"]), Filters(regions=("110000", "440000")), by=("region_code",), as_of=FEB)
        with pytest.raises(ValueError, match="cannot group ECL"):
            ecl_by(c, Scope.all(), Filters(), by=("customer_id",))
    assert set(gd["region_code"]) == {"440000"}
    assert gd["loans"].sum() == 2  # L1 and L2


def test_month_defaults_to_the_latest_in_the_range(chain_store):
    with chain_store.connect() as c:
        latest = store_loan_ecl(c, Scope.all(), Filters())
        in_range = store_loan_ecl(c, Scope.all(), Filters(end=dt.date(2024, 1, 15)))
    assert latest.attrs["as_of"] == FEB and in_range.attrs["as_of"] == dt.date(2024, 1, 31)
    assert sorted(in_range["loan_id"]) == ["L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8", "L9"]


def test_ecl_of_an_empty_month(chain_store):
    with chain_store.connect() as c:
        out = ecl_by(c, Scope.all(), Filters(), as_of=dt.date(2020, 1, 31))
    assert out.empty


# --- several months at once, the regional table, and the cache -----------------------------

JAN = dt.date(2024, 1, 31)
L1_ECL = PD_CURRENT * 0.45 * 1000  # see test_ecl_by_stage_from_store


def test_ecl_by_months_matches_one_month_at_a_time(chain_store):
    with chain_store.connect() as c:
        both = ecl_by_months(c, Scope.all(), Filters(), ("region_code",), [FEB, dt.date(2024, 1, 1)], use_cache=False)
        jan = ecl_by(c, Scope.all(), Filters(), ("region_code",), as_of=JAN)
        feb = ecl_by(c, Scope.all(), Filters(), ("region_code",), as_of=FEB)
    assert both["as_of"].tolist() == [JAN] * len(jan) + [FEB] * len(feb)  # sorted by month
    for month, one in ((JAN, jan), (FEB, feb)):
        part = both.loc[both["as_of"] == month].drop(columns="as_of").reset_index(drop=True)
        assert_frame_equal(part, one, check_dtype=False)
    # Feb by hand: 440000 has L1 (stage 1) and L2 (stage 2, 45 % of 2000); 110000 has L6 (PD 0), L5 (225)
    f = feb.set_index(["region_code", "stage"])["ecl"]
    np.testing.assert_allclose([f[("440000", 1)], f[("440000", 2)], f[("110000", 1)], f[("110000", 3)]],
                               [L1_ECL, 900.0, 0.0, 225.0], rtol=1e-12)


def test_regional_table_expected_loss_by_hand(chain_store):
    from data.regional import regional_risk

    with chain_store.connect() as c:
        t = regional_risk(c, Scope.all(), Filters(), FEB).set_index("region_code")
        gd = regional_risk(c, Scope.of(["440000"]), Filters(), FEB)
    np.testing.assert_allclose(t.loc[["440000", "110000"], "expected_loss"], [L1_ECL + 900.0, 225.0], rtol=1e-12)
    assert gd["region_code"].tolist() == ["440000"]
    assert gd["expected_loss"].iloc[0] == pytest.approx(L1_ECL + 900.0, rel=1e-12)


def _count_reads(monkeypatch) -> list:
    calls: list = []
    real = credit._books_of_months

    def counting(conn, scope, filters, months, by):
        calls.append(list(months))
        return real(conn, scope, filters, months, by)

    monkeypatch.setattr(credit, "_books_of_months", counting)
    return calls


def test_ecl_cache_is_keyed_by_month_scope_filters_and_grouping(chain_store, monkeypatch):
    calls = _count_reads(monkeypatch)
    with chain_store.connect() as c:
        first = ecl_by_months(c, Scope.all(), Filters(), ("region_code",), [FEB])
        again = ecl_by_months(c, Scope.all(), Filters(), ("region_code",), [FEB])
        assert len(calls) == 1
        assert_frame_equal(first, again)
        # only the month not cached yet is read
        ecl_by_months(c, Scope.all(), Filters(), ("region_code",), [JAN, FEB])
        assert calls[-1] == [JAN]
        # scope, filters and grouping are part of the key: each is computed, and in scope
        gd = ecl_by_months(c, Scope.of(["440000"]), Filters(), ("region_code",), [FEB])
        consumer = ecl_by_months(c, Scope.all(), Filters(products=("mortgage",)), ("region_code",), [FEB])
        by_stage = ecl_by_months(c, Scope.all(), Filters(), (), [FEB])
        assert len(calls) == 5
        nobody = ecl_by_months(c, Scope.of([]), Filters(), ("region_code",), [FEB])
    assert set(gd["region_code"]) == {"440000"} and gd["loans"].sum() == 2
    assert consumer["region_code"].tolist() == ["110000"] and consumer["loans"].tolist() == [1]  # L6
    assert by_stage["loans"].tolist() == [2, 1, 1]
    assert nobody.empty


def test_ecl_cache_survives_a_restart_and_is_dropped_by_an_import(chain_store, monkeypatch, tmp_path):
    with chain_store.connect() as c:
        before = ecl_by_months(c, Scope.all(), Filters(), ("region_code",), [FEB])
    files = list((tmp_path / "cache" / "ecl").glob("*.parquet"))
    assert len(files) == 1
    credit._ECL_CACHE.clear_memory()  # a new process: read from disk, nothing recomputed
    calls = _count_reads(monkeypatch)
    with chain_store.connect() as c:
        assert_frame_equal(ecl_by_months(c, Scope.all(), Filters(), ("region_code",), [FEB]), before,
                           check_dtype=False)
    assert calls == []
    # an import changes L2's balance: the next call recomputes, and the old entry is deleted
    with chain_store.begin() as c:
        c.execute(sa.update(Performance.__table__).where(Performance.__table__.c.loan_id == "L2",
                                                         Performance.__table__.c.as_of == FEB)
                  .values(outstanding_principal=4000))
        c.execute(ImportBatch.__table__.insert().values(started_at=dt.datetime(2024, 5, 1)))
    with chain_store.connect() as c:
        after = ecl_by_months(c, Scope.all(), Filters(), ("region_code",), [FEB])
    assert calls == [[FEB]]
    gd = after.set_index(["region_code", "stage"])
    assert gd.loc[("440000", 2), "balance"] == 4000.0 and gd.loc[("440000", 2), "ecl"] == pytest.approx(1800.0)
    new_files = list((tmp_path / "cache" / "ecl").glob("*.parquet"))
    assert len(new_files) == 1 and new_files != files
