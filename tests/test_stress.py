"""Stress test: Vasicek and ρ by hand, a small book by hand, properties, and from the store."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.stress import (
    ADVERSE,
    BASELINE,
    OUTPUTS,
    PRESETS,
    SEVERELY_ADVERSE,
    SatelliteModel,
    Scenario,
    StressConfig,
    asset_correlation,
    compare,
    conditional_pd,
    evaluate,
    prepare_book,
    scenario_z,
    stressed_pd,
    unconditional_pd,
)
from data import credit
from data.credit import run_stress, stress_book
from data.read import Filters, Scope
from test_pd_model import FEB, PD_CURRENT, _private_cache, chain_store  # noqa: F401  (shared fixtures)

# Constants derived by hand (normal tables / a calculator), not by the code under test:
# Φ⁻¹(0.02) = −2.053748910631823, √0.15 = 0.3872983346207417, √0.85 = 0.9219544457292888.
PHI_INV_002 = -2.053748910631823
# (−2.0537489 + 0.3872983) ÷ 0.9219544 = −1.8075289 → Φ = 0.0353407
VASICEK_002_015_Z1 = 0.03534066383438068
# z = 0 leaves the median: Φ(−2.0537489 ÷ 0.9219544) = Φ(−2.2275989) = 0.0129535
VASICEK_002_015_Z0 = 0.012953484965745448
# point in time: Φ(Φ⁻¹(0.02) + √(0.15/0.85)) = Φ(−2.0537489 + 0.4200840) = Φ(−1.6336649)
P1 = 0.05116461768384918
# other retail at PD 0.10: w = (1 − e^−3.5) ÷ (1 − e^−35) = 0.9698026, ρ = 0.03 w + 0.16 (1 − w)
RHO_RETAIL_010 = 0.03392565984490131
# Φ(Φ⁻¹(0.10) + √(ρ/(1−ρ))) = Φ(−1.2815516 + 0.1873954) = Φ(−1.0941562)
P2 = 0.13694324183251527


def test_vasicek_by_hand():
    assert conditional_pd(0.02, 0.15, 1.0) == pytest.approx(VASICEK_002_015_Z1, rel=1e-12)
    assert conditional_pd(0.02, 0.15, 0.0) == pytest.approx(VASICEK_002_015_Z0, rel=1e-12)
    # the unconditional PD whose median (z = 0) is 0.02: Φ(√0.85 × Φ⁻¹(0.02)) = Φ(−1.8934646)
    assert unconditional_pd(0.02, 0.15) == pytest.approx(0.029148166180547674, rel=1e-12)
    assert conditional_pd(0.029148166180547674, 0.15, 0.0) == pytest.approx(0.02, rel=1e-12)
    assert stressed_pd(0.02, 0.15, 0.0) == pytest.approx(0.02, rel=1e-12)  # point in time: z = 0 is today
    assert stressed_pd(0.02, 0.15, 1.0) == pytest.approx(P1, rel=1e-12)
    assert stressed_pd(0.02, 0.15, 1.0, point_in_time=False) == pytest.approx(VASICEK_002_015_Z1, rel=1e-12)
    assert conditional_pd(0.0, 0.15, 3.0) == 0.0 and conditional_pd(1.0, 0.15, -3.0) == 1.0


def test_asset_correlation_by_basel_class():
    rho = asset_correlation([0.02, 0.02, 0.02, 0.02, 0.10, 0.02],
                            ["mortgage", "credit_card", "consumer", "business", "consumer", "mortgage"],
                            ["retail", "retail", "retail", "sme", "retail", "corporate"])
    # other retail at 0.02: w = (1 − e^−0.7)/(1 − e^−35) = 0.5034147 → 0.0945561;
    # corporate at 0.02: w = (1 − e^−1)/(1 − e^−50) = 0.6321206 → 0.12 w + 0.24 (1 − w) = 0.1641455
    np.testing.assert_allclose(rho, [0.15, 0.04, 0.0945560894928832, 0.16414553294057307, RHO_RETAIL_010, 0.16414553294057307],
                               rtol=1e-12)


def test_scenario_z_and_presets():
    assert scenario_z(BASELINE) == 0.0
    assert scenario_z(ADVERSE) == pytest.approx(1.0)  # 0.45 + 0.35 + 0.10 + 0.10
    assert scenario_z(SEVERELY_ADVERSE) == pytest.approx(2.0)
    assert scenario_z(Scenario(gdp_growth=-0.01)) == pytest.approx(0.15)
    assert scenario_z(Scenario(house_prices=-0.30)) == pytest.approx(0.2)
    assert scenario_z(Scenario(gdp_growth=0.02)) == pytest.approx(-0.3)  # a boom lowers z
    assert set(PRESETS) == {"baseline", "adverse", "severely_adverse"}
    with pytest.raises(ValueError, match=">= 0"):
        SatelliteModel(gdp=-1.0)
    with pytest.raises(ValueError, match="finite"):
        Scenario(unemployment=float("nan"))
    with pytest.raises(ValueError, match="unknown scenario parameter"):
        Scenario.from_dict({"gdp": -0.03})


def _book() -> pd.DataFrame:
    return pd.DataFrame({
        "loan_id": ["L1", "L2", "L3"],
        "region_code": ["A", "B", "A"],
        "product": ["mortgage", "consumer", "business"],
        "segment": ["retail", "retail", "sme"],
        "balance": [1000.0, 2000.0, 500.0],
        "dpd": [0, 45, 120],
        "classification": ["normal", "special_mention", "substandard"],
        "pd_12m": [0.02, 0.10, 1.0],
        "collateral_type": ["real_estate", "none", None],
        "collateral_value": [2000.0, np.nan, np.nan],
    })


# z = 1 from the interest-rate shock alone; the house-price shock moves only LGD here.
RATES_ONLY = StressConfig(satellite=SatelliteModel(gdp=0.0, unemployment=0.0, house_prices=0.0, interest_rate=100.0))
SHOCK = Scenario("hand", interest_rate=0.01, house_prices=-0.30)


def test_small_book_by_hand():
    r = evaluate(prepare_book(_book(), RATES_ONLY), SHOCK)
    s = r.summary
    assert r.z == pytest.approx(1.0)
    # L1 mortgage: ρ 0.15, PD 0.02 → P1; LGD 2000 × 0.6 = 1200 ≥ 1000 → floor 0.10, after a
    # 30 % fall 2000 × 0.7 × 0.6 = 840 → 0.16. L2 other retail: PD 0.10 → P2, LGD 0.45.
    # L3 substandard (NPL): PD 1, LGD 0.45.
    assert s["balance"] == 3500.0 and s["loans"] == 3.0
    assert s["npl_balance"] == 500.0 and s["npl_ratio"] == pytest.approx(500 / 3500)
    assert s["npl_ratio_after"] == pytest.approx((500 + 1000 * P1 + 2000 * P2) / 3500, rel=1e-12)
    assert s["pd_baseline"] == pytest.approx((0.02 * 1000 + 0.10 * 2000) / 3000, rel=1e-12)
    assert s["pd_stressed"] == pytest.approx((P1 * 1000 + P2 * 2000) / 3000, rel=1e-12)
    assert s["el_baseline"] == pytest.approx(0.02 * 0.10 * 1000 + 0.10 * 0.45 * 2000 + 0.45 * 500, rel=1e-12)  # 317
    el_s = P1 * 0.16 * 1000 + P2 * 0.45 * 2000 + 0.45 * 500
    assert s["el_stressed"] == pytest.approx(el_s, rel=1e-12)
    # held: 1 % of 3500 + 2 % of 2000 (关注) + 25 % of 500 (次级) = 35 + 40 + 125 = 200
    assert s["provisions_held"] == pytest.approx(200.0)
    # needed: expected defaults move to substandard (25 %): L1 0 % → 25 % on P1 × 1000,
    # L2 2 % → 25 % on P2 × 2000
    needed = 200 + 0.25 * P1 * 1000 + 0.23 * P2 * 2000
    assert s["provisions_needed"] == pytest.approx(needed, rel=1e-12)
    assert s["provision_shortfall"] == pytest.approx(needed - 200, rel=1e-12)
    # RWA 35 % × 1000 + 75 % × 2000 + 100 % × 500 = 2350; capital 12 % = 282
    assert s["rwa"] == pytest.approx(2350.0) and s["capital"] == pytest.approx(282.0)
    assert s["capital_ratio_before"] == pytest.approx(0.12)
    assert s["capital_ratio_after"] == pytest.approx((282 - max(0.0, el_s - 200)) / 2350, rel=1e-12)
    wf = dict(zip(r.waterfall["step"], r.waterfall["value"]))
    assert wf["baseline_el"] == pytest.approx(317.0)
    assert wf["pd_effect"] == pytest.approx((P1 - 0.02) * 0.10 * 1000 + (P2 - 0.10) * 0.45 * 2000, rel=1e-12)
    assert wf["lgd_effect"] == pytest.approx(P1 * (0.16 - 0.10) * 1000, rel=1e-12)
    assert wf["stressed_el"] == pytest.approx(el_s, rel=1e-12)
    region_a = r.by_region.set_index("region_code").loc["A"]
    assert region_a["loans"] == 2 and region_a["balance"] == 1500.0
    assert region_a["el_stressed"] == pytest.approx(P1 * 0.16 * 1000 + 225, rel=1e-12)
    # capital allotted by RWA: (350 + 500) × 12 % = 102; held: 1 % of 1500 + 25 % of 500 = 15 + 125 = 140
    assert region_a["capital"] == pytest.approx(102.0) and region_a["provisions_held"] == pytest.approx(140.0)
    assert r.by_segment["segment"].tolist() == ["retail", "sme"]
    assert r.by_product.columns.tolist() == ["product", *OUTPUTS]


def test_given_capital_and_rwa():
    cfg = StressConfig(satellite=RATES_ONLY.satellite, capital=400.0, rwa=4000.0)
    r = evaluate(prepare_book(_book(), cfg), SHOCK)
    el_s = P1 * 0.16 * 1000 + P2 * 0.45 * 2000 + 0.45 * 500
    assert r.summary["capital_ratio_before"] == pytest.approx(0.10)
    assert r.summary["capital_ratio_after"] == pytest.approx((400 - max(0.0, el_s - 200)) / 4000, rel=1e-12)
    assert r.by_region["rwa"].sum() == pytest.approx(4000.0)


def test_baseline_reproduces_todays_pd_and_el():
    r = evaluate(prepare_book(_book()), BASELINE)
    assert r.z == 0.0
    assert r.summary["pd_stressed"] == pytest.approx(r.summary["pd_baseline"], rel=1e-12)
    assert r.summary["el_stressed"] == pytest.approx(317.0, rel=1e-12)
    assert r.waterfall["value"].tolist()[1:3] == pytest.approx([0.0, 0.0], abs=1e-9)


def test_not_point_in_time_uses_the_pd_as_unconditional():
    cfg = StressConfig(satellite=RATES_ONLY.satellite, pd_is_point_in_time=False)
    r = evaluate(prepare_book(_book().iloc[:1], cfg), Scenario(interest_rate=0.01))
    assert r.summary["pd_stressed"] == pytest.approx(VASICEK_002_015_Z1, rel=1e-12)


def test_degenerate_books():
    empty = evaluate(prepare_book(_book().iloc[:0]), ADVERSE)
    assert empty.summary["balance"] == 0.0 and np.isnan(empty.summary["npl_ratio"]) and np.isnan(empty.summary["pd_stressed"])
    assert empty.by_region.empty and empty.summary["capital_ratio_after"] != empty.summary["capital_ratio_after"]  # NaN
    one = evaluate(prepare_book(_book().iloc[2:]), ADVERSE)  # only an NPL loan: nothing performing
    assert one.summary["npl_ratio_after"] == 1.0 and np.isnan(one.summary["pd_stressed"])
    no_npl = evaluate(prepare_book(_book().iloc[:2], RATES_ONLY), SHOCK).summary
    assert no_npl["npl_ratio"] == 0.0
    assert no_npl["npl_ratio_after"] == pytest.approx((1000 * P1 + 2000 * P2) / 3000, rel=1e-12)
    no_pd = _book().assign(pd_12m=np.nan)
    r = evaluate(prepare_book(no_pd), ADVERSE)
    assert np.isnan(r.summary["el_stressed"])


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"prepare_book: frame is missing column\(s\) \['region_code'\]"):
        prepare_book(_book().drop(columns="region_code"))


def test_compare_lays_scenarios_side_by_side():
    book = prepare_book(_book(), RATES_ONLY)
    table = compare(book, [BASELINE, SHOCK])
    assert table.columns.tolist() == ["baseline", "hand"]
    assert table.index.tolist() == ["gdp_growth", "unemployment", "house_prices", "interest_rate", "z", *OUTPUTS]
    assert table.loc["house_prices", "hand"] == -0.30 and table.loc["z", "hand"] == pytest.approx(1.0)
    assert table.loc["el_baseline", "baseline"] == pytest.approx(317.0)


# --- properties -------------------------------------------------------------------------------

pds = st.floats(0.0, 1.0)
rhos = st.floats(0.01, 0.30)
zs = st.floats(-6.0, 6.0)


@given(pds, rhos, zs)
def test_stressed_pd_is_a_probability(p, rho, z):
    for pit in (True, False):
        v = float(stressed_pd(p, rho, z, point_in_time=pit))
        assert 0.0 <= v <= 1.0


@given(pds, rhos, st.floats(0.0, 6.0), st.floats(0.0, 6.0))
def test_adverse_z_raises_pd_monotonically(p, rho, z1, z2):
    lo, hi = sorted((z1, z2))
    at_lo = float(stressed_pd(p, rho, lo))
    at_hi = float(stressed_pd(p, rho, hi))
    assert at_lo >= p - 1e-12  # stressed PD ≥ PD for z ≥ 0
    assert at_hi >= at_lo - 1e-15


shock = st.floats(0.0, 0.5)


@settings(max_examples=60, deadline=None)
@given(shock, shock, shock, shock, st.integers(0, 3), st.floats(0.0, 0.5))
def test_each_adverse_shock_raises_stressed_pd_and_loss(gdp, unemp, hpi, rate, which, extra):
    """Making any one shock more adverse never lowers z, the stressed PD or the stressed EL."""
    base = Scenario(gdp_growth=-gdp, unemployment=unemp, house_prices=-min(hpi, 1.0), interest_rate=rate)
    field = ["gdp_growth", "unemployment", "house_prices", "interest_rate"][which]
    sign = -1.0 if field in ("gdp_growth", "house_prices") else 1.0
    new_value = getattr(base, field) + sign * extra
    if field == "house_prices":
        new_value = max(new_value, -1.0)
    worse = Scenario(**{**base.shocks(), field: new_value})
    book = prepare_book(_book())
    r0, r1 = evaluate(book, base), evaluate(book, worse)
    assert r0.z >= 0.0 and r1.z >= r0.z
    assert r0.summary["pd_stressed"] >= r0.summary["pd_baseline"] - 1e-12
    assert r1.summary["pd_stressed"] >= r0.summary["pd_stressed"] - 1e-12
    assert r1.summary["el_stressed"] >= r0.summary["el_stressed"] - 1e-9
    assert r0.summary["el_stressed"] >= r0.summary["el_baseline"] - 1e-9


loan_rows = st.lists(
    st.tuples(
        st.floats(0.0, 1e6), st.sampled_from([0, 10, 45, 75, 120, 400]),
        st.sampled_from(["normal", "special_mention", "substandard", "doubtful", "loss"]),
        st.floats(0.0, 1.0), st.sampled_from(["mortgage", "consumer", "credit_card", "business"]),
        st.sampled_from(["retail", "sme", "corporate"]), st.sampled_from(["real_estate", "none", "vehicle"]),
        st.floats(0.0, 2e6),
    ),
    min_size=1, max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(loan_rows, st.floats(-0.1, 0.1), st.floats(-0.05, 0.1), st.floats(-1.0, 0.5), st.floats(-0.05, 0.05))
def test_outputs_stay_in_range_and_provisions_cover_the_general_reserve(rows, gdp, unemp, hpi, rate):
    frame = pd.DataFrame(rows, columns=["balance", "dpd", "classification", "pd_12m", "product", "segment",
                                        "collateral_type", "collateral_value"]).assign(region_code="A")
    r = evaluate(prepare_book(frame), Scenario(gdp_growth=gdp, unemployment=unemp, house_prices=hpi, interest_rate=rate))
    s = r.summary
    general = 0.01 * s["balance"]
    assert s["provisions_needed"] >= general - 1e-6
    assert s["provisions_needed"] >= s["provisions_held"] - 1e-6
    assert s["provision_shortfall"] >= 0.0
    assert 0.0 <= s["el_stressed"] <= s["balance"] + 1e-6
    if s["balance"] > 0:
        assert -1e-12 <= s["npl_ratio_after"] <= 1.0 + 1e-12
        assert s["npl_ratio_after"] >= s["npl_ratio"] - 1e-12


# --- from the store (both back ends) ---------------------------------------------------------


def test_stress_from_store_by_hand(chain_store):
    """The chain store's Feb book: L1 PD 4095…, L2 (31-60 DPD) PD 1, L5 NPL, L6 PD 0."""
    with chain_store.connect() as c:
        book = stress_book(c, Scope.all(), Filters(), as_of=FEB)
        gd = run_stress(c, Scope.of(["440000"]), Filters(), BASELINE, as_of=FEB)
    r = evaluate(book, BASELINE)
    s = r.summary
    assert s["loans"] == 4 and s["balance"] == 5500.0 and s["npl_balance"] == 500.0
    # EL = PD × LGD × balance: L1 45 % of 1000 at PD_CURRENT; L2 45 % of 2000; L5 45 % of 500; L6 PD 0
    assert s["el_baseline"] == pytest.approx(PD_CURRENT * 450 + 900 + 225, rel=1e-12)
    assert s["el_stressed"] == pytest.approx(s["el_baseline"], rel=1e-12)
    assert s["npl_ratio_after"] == pytest.approx((500 + PD_CURRENT * 1000 + 2000) / 5500, rel=1e-12)
    severe = evaluate(book, SEVERELY_ADVERSE).summary
    assert severe["el_stressed"] > s["el_stressed"]
    assert gd.summary["balance"] == 3000.0 and gd.by_region["region_code"].tolist() == ["440000"]


# --- the cached book of the month (data.credit.scored_book) ------------------------------------

_STRESS_COLUMNS = ["region_code", "product", "segment", "balance", "dpd", "classification", "collateral_type",
                   "collateral_value", "pd_12m"]


def _plain_rows(frame: pd.DataFrame) -> list[tuple]:
    """The rows of a book as plain Python values (categoricals and strings alike), in order."""
    return [tuple(None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in row)
            for row in frame[_STRESS_COLUMNS].astype(object).itertuples(index=False)]


def _same_book(a, b) -> None:
    """Two prepared books hold the same arrays and give the same results, bit for bit."""
    assert a.n == b.n
    for name in ("balance", "performing", "pd", "a", "b", "lgd0", "secured_idx", "sec_balance", "sec_recoverable",
                 "sec_beta", "provision_base", "provision_delta", "cell"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    pd.testing.assert_frame_equal(a.cell_keys, b.cell_keys)
    ra, rb = evaluate(a, SEVERELY_ADVERSE), evaluate(b, SEVERELY_ADVERSE)
    assert ra.summary == pytest.approx(rb.summary, rel=0, abs=0, nan_ok=True)
    for dim in ("region_code", "product", "segment"):
        pd.testing.assert_frame_equal(ra.by(dim), rb.by(dim), check_exact=True)


CASES = [
    (Scope.all(), Filters()),
    (Scope.all(), Filters(regions=("440000",))),
    (Scope.all(), Filters(products=("mortgage",))),
    (Scope.all(), Filters(regions=("110000",), products=("consumer",), segments=("retail",))),
    (Scope.all(), Filters(segments=("corporate",))),  # nobody
    (Scope.of(["110000"]), Filters()),
    (Scope.of(["110000"]), Filters(regions=("110000", "440000"))),  # asks wider than the scope
    (Scope.of(["110000"]), Filters(regions=("440000",))),  # only outside the scope: nothing
    (Scope.of([]), Filters()),
]


def test_filtered_book_from_the_cached_month_equals_the_book_read_with_the_filter(chain_store):
    """Whatever the scope and filters, the book cut from the month's cached book (first call
    fills it, the others cut it) has the rows, order and values of ``loan_pd`` read in SQL
    with those filters, and the prepared stress book is the same, bit for bit."""
    with chain_store.connect() as c:
        for scope, filters in CASES:
            read_with_filter = credit.loan_pd(c, scope, filters, as_of=FEB)
            cut = credit.scored_book(c, scope, filters, as_of=FEB)
            uncached = credit.scored_book(c, scope, filters, as_of=FEB, use_cache=False)
            assert _plain_rows(cut) == _plain_rows(read_with_filter) == _plain_rows(uncached), (scope, filters)
            assert cut.attrs["as_of"] == FEB
            _same_book(stress_book(c, scope, filters, as_of=FEB), prepare_book(read_with_filter))


def test_scope_is_never_widened_by_the_cache(chain_store):
    """The whole store's book cached first does not leak into a regional head's book, and a
    regional book cached first is not served to the whole store: the scope is in the key."""
    with chain_store.connect() as c:
        everyone = credit.scored_book(c, Scope.all(), Filters(), as_of=FEB)
        guangdong = credit.scored_book(c, Scope.of(["440000"]), Filters(), as_of=FEB)
        asks_wider = credit.scored_book(c, Scope.of(["440000"]), Filters(regions=("110000", "440000")), as_of=FEB)
        outside = credit.scored_book(c, Scope.of(["440000"]), Filters(regions=("110000",)), as_of=FEB)
        again = credit.scored_book(c, Scope.all(), Filters(), as_of=FEB)
    assert len(everyone) == 4 and sorted(set(everyone["region_code"].astype(str))) == ["110000", "440000"]
    assert guangdong["region_code"].astype(str).tolist() == ["440000", "440000"]  # L1, L2
    assert guangdong["balance"].tolist() == [1000.0, 2000.0]
    assert asks_wider["region_code"].astype(str).tolist() == ["440000", "440000"]
    assert outside.empty
    assert _plain_rows(again) == _plain_rows(everyone)


def test_book_cache_survives_a_restart_from_parquet(chain_store):
    """The month's book is written to disk beside the page's work; a fresh process (memory
    cleared) reads it back with the same values and the same prepared book."""
    import threading

    with chain_store.connect() as c:
        first = credit.scored_book(c, Scope.all(), Filters(), as_of=FEB)
        for t in threading.enumerate():
            if t.name == "stress-book-cache":
                t.join(timeout=30)
        assert list(credit._BOOK_CACHE.directory().glob("*.parquet"))
        credit._BOOK_CACHE.clear_memory()
        credit._memory.clear()  # and no model in memory: a hit must not need it
        from_disk = credit.scored_book(c, Scope.all(), Filters(regions=("110000",)), as_of=FEB)
        assert not credit._memory  # served from the cached book, the PD model was not loaded
        read = credit.loan_pd(c, Scope.all(), Filters(regions=("110000",)), as_of=FEB)
    assert len(first) == 4
    assert _plain_rows(from_disk) == _plain_rows(read)
    _same_book(prepare_book(from_disk), prepare_book(read))


def test_empty_month_gives_an_empty_book(engine):
    with engine.connect() as c:
        book = stress_book(c, Scope.all(), Filters())
    assert book.n == 0 and evaluate(book, ADVERSE).summary["balance"] == 0.0
