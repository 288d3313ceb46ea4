"""Score drift: PSI, distributions, band migration, KS/AUC and score drops, computed by hand."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from analytics import drift
from data import scores
from data.bulk import insert_frame
from data.read import Filters, Scope
from data.reports import kpi_report
from data.schema import Loan, Performance, Region

JAN, FEB, MAR, APR = dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31), dt.date(2024, 4, 30)
GD, BJ = Scope.of(["440000"]), Scope.of(["110000"])

# ----------------------------------------------------------------------------- pure maths


def test_psi_deciles_of_one_to_ten_by_hand():
    # Baseline 1..10: deciles 1.9, 2.8, ..., 9.1, one score per bin, E_i = 0.1.
    # Month m: five 1s and five 2s -> A = 0.5, 0.5 and eight empty bins floored at 0.0001.
    edges = drift.histogram_quantiles(np.arange(1, 11), np.ones(10), drift.DECILES)
    assert edges == pytest.approx([1.9, 2.8, 3.7, 4.6, 5.5, 6.4, 7.3, 8.2, 9.1])
    e = drift.binned_counts(np.arange(1, 11), np.ones(10), edges)
    a = drift.binned_counts(np.array([1, 2]), np.array([5, 5]), edges)
    assert list(e) == [1] * 10 and list(a) == [5, 5, 0, 0, 0, 0, 0, 0, 0, 0]
    expected = 2 * (0.5 - 0.1) * math.log(0.5 / 0.1) + 8 * (0.0001 - 0.1) * math.log(0.0001 / 0.1)
    assert drift.psi_from_counts(e, a) == pytest.approx(expected)
    assert drift.psi_from_counts(e, a) == pytest.approx(6.808228348909804)


def test_repeated_edges_leave_empty_bins_and_floor_is_not_renormalised():
    # Baseline 1,1,1,1,1,1,1,1,2,3: positions 0.9k -> edges 1 (x7), 1.2, 2.1.
    vals, cnt = np.array([1, 2, 3]), np.array([8, 1, 1])
    edges = drift.histogram_quantiles(vals, cnt, drift.DECILES)
    assert edges == pytest.approx([1, 1, 1, 1, 1, 1, 1, 1.2, 2.1])
    # bin 0 (<= 1) holds the eight 1s, bins 1-7 are empty, 2 in (1.2, 2.1], 3 above.
    assert list(drift.binned_counts(vals, cnt, edges)) == [8, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    table = drift.psi_table([8, 0, 0, 0, 0, 0, 0, 0, 1, 1], [4, 0, 0, 0, 0, 0, 0, 0, 3, 3], edges)
    # E = 0.8, 0.0001 x7, 0.1, 0.1: floored shares are not renormalised (sum 1.0007).
    assert table["expected_share"].sum() == pytest.approx(1.0007)
    assert list(table["expected_share"]) == pytest.approx([0.8] + [0.0001] * 7 + [0.1, 0.1])
    assert list(table["actual_share"]) == pytest.approx([0.4] + [0.0001] * 7 + [0.3, 0.3])
    # (0.4-0.8)ln(0.5) + 2 (0.3-0.1) ln 3; empty bins contribute 0.
    psi = -0.4 * math.log(0.5) + 2 * 0.2 * math.log(3)
    assert table["contribution"].sum() == pytest.approx(psi)
    assert table["contribution"].sum() == pytest.approx(0.7167037876912216)
    assert list(table["contribution"].iloc[1:8]) == [0.0] * 7
    assert list(table["label"][:2]) == ["≤ 1", "(1, 1]"] and table["upper"].iloc[-1] == math.inf


def test_psi_of_a_distribution_with_itself_is_zero_and_empty_is_nan():
    assert drift.psi_from_counts([3, 0, 7], [3, 0, 7]) == 0.0
    assert drift.psi_from_counts([3, 0, 7], [6, 0, 14]) == 0.0
    assert math.isnan(drift.psi_from_counts([0, 0], [1, 2]))
    assert math.isnan(drift.psi_from_counts([1, 2], [0, 0]))
    with pytest.raises(ValueError, match="differ in length"):
        drift.psi_from_counts([1, 2], [1, 2, 3])


@pytest.mark.parametrize(
    "value, band",
    [(0.0, "stable"), (0.0999, "stable"), (0.10, "shifting"), (0.25, "shifting"), (0.2501, "shifted"),
     (float("nan"), None), (None, None)],
)
def test_psi_bands(value, band):
    assert drift.psi_band(value) == band


def _hist(rows):
    return pd.DataFrame(rows, columns=["as_of", "credit_score", "loans"])


# Jan 510..600 (one each); Feb: 520 falls to 510; Mar: back to Jan's scores.
JAN_S = [510, 520, 530, 540, 550, 560, 570, 580, 590, 600]
FEB_S = [510, 510, 530, 540, 550, 560, 570, 580, 590, 600]


def _trend_hist():
    rows = [(JAN, s, 1) for s in JAN_S] + [(FEB, 510, 2)] + [(FEB, s, 1) for s in FEB_S[2:]]
    rows += [(MAR, s, 1) for s in JAN_S]
    return _hist(rows)


# Jan deciles 519, 528, ..., 591; Feb on them: bin 0 holds 2, bin 1 none, others 1.
PSI_FEB = (0.2 - 0.1) * math.log(0.2 / 0.1) + (0.0001 - 0.1) * math.log(0.0001 / 0.1)
# Feb deciles 510, 526, 537, ...: Feb has 2, 0, 1 x8; Mar 1 x10 on them.
PSI_MAR_MOM = (0.1 - 0.2) * math.log(0.1 / 0.2) + (0.1 - 0.0001) * math.log(0.1 / 0.0001)


def test_psi_trend_baseline_and_month_on_month_by_hand():
    t = drift.psi_trend(_trend_hist())
    assert list(t["as_of"]) == [JAN, FEB, MAR] and list(t["loans"]) == [10, 10, 10]
    assert t.attrs["baseline"] == JAN
    assert t["psi"].tolist() == pytest.approx([0.0, PSI_FEB, 0.0])
    assert math.isnan(t["psi_mom"][0])
    assert t["psi_mom"][1:].tolist() == pytest.approx([PSI_FEB, PSI_MAR_MOM])
    assert PSI_MAR_MOM == pytest.approx(0.7593994704263101)
    assert t["psi_band"].tolist() == ["stable", "shifted", "stable"]
    assert pd.isna(t["psi_mom_band"][0]) and t["psi_mom_band"][1:].tolist() == ["shifted", "shifted"]


def test_psi_trend_other_baseline_gap_month_and_no_scores():
    h = _trend_hist()
    t = drift.psi_trend(h, baseline=FEB)
    assert t["psi"].tolist() == pytest.approx([PSI_MAR_MOM, 0.0, PSI_MAR_MOM])
    # Without February, March has no previous month: no month-on-month PSI.
    t2 = drift.psi_trend(h[h["as_of"] != FEB])
    assert t2["psi_mom"].isna().all()
    stamped = drift.psi_trend(h.assign(as_of=pd.to_datetime(h["as_of"])))  # datetime64 months work too
    assert stamped["as_of"].tolist() == [JAN, FEB, MAR]
    assert stamped["psi_mom"][1:].tolist() == pytest.approx([PSI_FEB, PSI_MAR_MOM])
    empty = drift.psi_trend(_hist([]))
    assert empty.empty and empty.attrs["baseline"] is None
    assert drift.psi_trend(h, baseline=APR)["psi"].isna().all()


def test_psi_trend_one_loan():
    t = drift.psi_trend(_hist([(JAN, 600, 1), (FEB, 500, 1)]))
    # One score: all edges 600; Jan in bin 0, Feb's 500 also in bin 0.
    assert t["psi"].tolist() == [0.0, 0.0]


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"hist: frame is missing column\(s\) \['loans'\]"):
        drift.psi_trend(pd.DataFrame({"as_of": [JAN], "credit_score": [1]}))
    with pytest.raises(ValueError, match="'bad'"):
        drift.discrimination_by_month(pd.DataFrame({"as_of": [], "credit_score": [], "loans": []}))


def test_score_distribution_fixed_width_and_deciles():
    d = drift.score_distribution(_trend_hist(), JAN, FEB, width=20)
    assert d["label"].tolist() == ["[500, 520)", "[520, 540)", "[540, 560)", "[560, 580)", "[580, 600)", "[600, 620)"]
    assert d["loans_a"].tolist() == [1, 2, 2, 2, 2, 1]
    assert d["loans_b"].tolist() == [2, 1, 2, 2, 2, 1]
    assert d["share_b"].tolist() == pytest.approx([0.2, 0.1, 0.2, 0.2, 0.2, 0.1])
    dec = drift.score_distribution(_trend_hist(), JAN, FEB)
    assert dec["loans_b"].tolist() == [2, 0, 1, 1, 1, 1, 1, 1, 1, 1]
    assert dec["upper"].tolist()[:2] == pytest.approx([519, 528])
    assert drift.score_distribution(_trend_hist(), APR, APR).empty
    with pytest.raises(ValueError, match="not both"):
        drift.score_distribution(_trend_hist(), JAN, FEB, width=20, edges=[1])


def test_band_labels_and_index():
    assert drift.band_labels() == ["<550", "550-599", "600-649", "650-699", "700-749", "≥750"]
    assert drift.band_index([549, 550, 599, 600, 749, 750, 850]).tolist() == [0, 1, 1, 2, 4, 5, 5]
    with pytest.raises(ValueError, match="increase"):
        drift.band_labels([600, 550])


def test_migration_matrix_by_hand():
    cuts = (530, 560, 590)  # <530, 530-559, 560-589, >=590
    pairs = pd.DataFrame(
        [(0, 2, None, 1), (0, None, "not_reported", 1), (1, None, "closed", 1), (1, None, "written_off", 1),
         (1, None, "unscored", 1), (2, 1, None, 1), (2, 2, None, 2), (3, 3, None, 2)],
        columns=["band_from", "band_to", "state_to", "loans"],
    )
    counts = drift.migration_matrix(pairs, cuts, shares=False)
    assert counts.columns.tolist() == ["<530", "530-559", "560-589", "≥590", "closed", "written_off", "unscored", "not_reported"]
    assert counts.to_numpy().tolist() == [
        [0, 0, 1, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1, 1, 1, 0],
        [0, 1, 2, 0, 0, 0, 0, 0],
        [0, 0, 0, 2, 0, 0, 0, 0],
    ]
    sh = drift.migration_matrix(pairs, cuts)
    assert sh.loc["<530"].tolist() == [0, 0, 0.5, 0, 0, 0, 0, 0.5]
    assert sh.loc["530-559", ["closed", "written_off", "unscored"]].tolist() == pytest.approx([1 / 3] * 3)
    assert sh.loc["560-589", ["530-559", "560-589"]].tolist() == pytest.approx([1 / 3, 2 / 3])
    assert sh.sum(axis=1).tolist() == pytest.approx([1, 1, 1, 1])
    square = drift.migration_matrix(pairs, cuts, exits=False)
    assert square.shape == (4, 4)
    assert square.loc["<530", "560-589"] == 1.0
    assert square.loc["530-559"].isna().all()  # no loan stayed in a band: no shares
    empty = drift.migration_matrix(pairs.iloc[0:0], cuts, shares=False)
    assert empty.shape == (4, 8) and int(empty.to_numpy().sum()) == 0
    with pytest.raises(ValueError, match="outside"):
        drift.migration_matrix(pairs.assign(state_to="gone"), cuts)


def test_ks_auc_four_good_two_bad_by_hand():
    # goods 700, 650, 600, 550; bads 580, 500. Bad 580 is below 3 goods, bad 500 below 4: AUC 7/8.
    # Ascending: 500B 550G 580B 600G ...: |F_bad - F_good| = .5, .25, .75, .5, .25, 0 -> KS .75.
    ks, auc = drift.ks_auc([700, 650, 600, 550, 580, 500], [0, 0, 0, 0, 1, 1], [1, 1, 1, 1, 0, 0])
    assert ks == pytest.approx(0.75) and auc == pytest.approx(0.875)


def test_ks_auc_ties_and_degenerate():
    # One bad and one good at the same score: AUC 1/2, KS 0.
    assert drift.ks_auc([600], [1], [1]) == pytest.approx((0.0, 0.5))
    # Perfect separation.
    assert drift.ks_auc([400, 700], [3, 0], [0, 5]) == pytest.approx((1.0, 1.0))
    ks, auc = drift.ks_auc([600, 700], [0, 0], [1, 1])
    assert math.isnan(ks) and math.isnan(auc)


def test_discrimination_by_month_matches_hand_values():
    rows = [(JAN, s, False, 1) for s in (700, 650, 600, 550)] + [(JAN, 580, True, 1), (JAN, 500, True, 1)]
    rows += [(FEB, 600, False, 3)]
    table = pd.DataFrame(rows, columns=["as_of", "credit_score", "bad", "loans"])
    d = drift.discrimination_by_month(table)
    assert d["as_of"].tolist() == [JAN, FEB]
    assert d["loans"].tolist() == [6, 3] and d["bads"].tolist() == [2, 0]
    assert d["bad_rate"].tolist() == pytest.approx([1 / 3, 0.0])
    assert d.loc[0, "ks"] == pytest.approx(0.75) and d.loc[0, "auc"] == pytest.approx(0.875)
    assert math.isnan(d.loc[1, "ks"]) and math.isnan(d.loc[1, "auc"])
    assert drift.discrimination_by_month(table.iloc[0:0]).empty


# ----------------------------------------------------------------------------- properties

counts_st = st.lists(st.integers(0, 1000), min_size=2, max_size=12)


@settings(max_examples=200, deadline=None)
@given(counts_st, st.data())
def test_psi_is_non_negative_and_zero_for_identical_distributions(e, data):
    a = data.draw(st.lists(st.integers(0, 1000), min_size=len(e), max_size=len(e)))
    psi = drift.psi_from_counts(e, a)
    if sum(e) == 0 or sum(a) == 0:
        assert math.isnan(psi)
        return
    assert psi >= 0.0
    assert drift.psi_from_counts(e, e) == 0.0
    k = data.draw(st.integers(1, 5))
    assert drift.psi_from_counts(e, [k * x for x in e]) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(300, 850), min_size=1, max_size=300))
def test_histogram_quantiles_are_numpys_exactly(scores_):
    arr = np.array(scores_)
    vals, cnt = np.unique(arr, return_counts=True)
    got = drift.histogram_quantiles(vals, cnt, drift.DECILES)
    assert np.array_equal(got, np.quantile(arr, drift.DECILES))
    # Binning the histogram equals pandas.cut(right=True) on the loans.
    edges = np.unique(got)
    want = pd.cut(arr, np.concatenate(([-np.inf], edges, [np.inf])), right=True, labels=False)
    assert np.array_equal(drift.bin_index(arr, edges), want)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(300, 850), st.booleans()), min_size=1, max_size=80))
def test_ks_auc_within_bounds_and_auc_matches_pairwise_count(obs):
    s = np.array([o[0] for o in obs])
    b = np.array([o[1] for o in obs])
    ks, auc = drift.ks_auc(s, b.astype(int), (~b).astype(int))
    if b.all() or not b.any():
        assert math.isnan(ks) and math.isnan(auc)
        return
    assert 0.0 <= ks <= 1.0 and 0.0 <= auc <= 1.0
    bad, good = s[b], s[~b]
    pairwise = ((bad[:, None] < good[None, :]).sum() + 0.5 * (bad[:, None] == good[None, :]).sum()) / (len(bad) * len(good))
    assert auc == pytest.approx(pairwise)


# ----------------------------------------------------------------------------- the store


def _perf(loan, as_of, score, *, region="440000", status="active", dpd=0, bal=1000.0, product="consumer"):
    return dict(loan_id=loan, as_of=as_of, region_code=region, branch_id=None, product=product,
                segment="retail", outstanding_principal=bal, dpd=dpd, credit_score=score, status=status,
                classification="normal" if dpd == 0 else ("special_mention" if dpd <= 90 else "substandard"))


def _load(engine, perf, regions=True):
    perf = perf.assign(credit_score=perf["credit_score"].astype("Int64"))
    loans = perf.drop_duplicates("loan_id")[["loan_id", "region_code", "product", "segment"]].assign(
        customer_id="C1", disbursement_date=dt.date(2023, 1, 1), maturity_date=dt.date(2027, 1, 1),
        principal=5000.0, interest_rate=0.05)
    with engine.begin() as c:
        insert_frame(c, Loan.__table__, loans)
        insert_frame(c, Performance.__table__, perf)
        if regions:
            insert_frame(c, Region.__table__, pd.DataFrame([
                dict(region_code="110000", region_set="cn_provinces", name_zh="北京市", short_zh="北京", name_en="Beijing"),
                dict(region_code="440000", region_set="cn_provinces", name_zh="广东省", short_zh="广东", name_en="Guangdong"),
            ]))
    return engine


@pytest.fixture
def drift_store(engine):
    """Ten Guangdong loans (L1-L10) scored Jan-Apr 2024, plus Beijing and unscored/closed loans.

    Jan 510..600; Feb L2 520→510; Mar as Jan; Apr: L1 → 560, L2 no row, L3 closed,
    L4 written off, L5 unscored, L6 560 → 530, L7 570 → 565, others as Jan.
    """
    rows = []
    for i, s in enumerate(JAN_S, start=1):
        rows.append(_perf(f"L{i}", JAN, s))
        rows.append(_perf(f"L{i}", FEB, FEB_S[i - 1]))
        rows.append(_perf(f"L{i}", MAR, s))
    apr = {1: 560, 6: 530, 7: 565, 8: 580, 9: 590, 10: 600}
    rows += [_perf(f"L{i}", APR, s, dpd=15 if i == 6 else 0, bal=800.0 if i == 6 else 1000.0) for i, s in apr.items()]
    rows += [_perf("L3", APR, 530, status="closed", bal=0.0), _perf("L4", APR, 400, status="written_off", dpd=200),
             _perf("L5", APR, None)]
    for m in (JAN, FEB, MAR, APR):
        rows.append(_perf("L11", m, None))  # never scored: left out
        rows.append(_perf("B1", m, 800, region="110000"))
        rows.append(_perf("B2", m, 810 if m != APR else 700, region="110000", product="mortgage"))
    rows.append(_perf("L12", FEB, 300, status="closed", bal=0.0))  # not in the book
    return _load(engine, pd.DataFrame(rows))


def test_store_psi_trend_by_hand(drift_store):
    with drift_store.connect() as c:
        t = scores.psi_trend(c, GD, Filters(end=MAR))
        assert t.attrs["baseline"] == JAN
        assert t["as_of"].tolist() == [JAN, FEB, MAR] and t["loans"].tolist() == [10, 10, 10]
        assert t["psi"].tolist() == pytest.approx([0.0, PSI_FEB, 0.0])
        assert t["psi_mom"][1:].tolist() == pytest.approx([PSI_FEB, PSI_MAR_MOM])
        # The KPI report shows the same PSI.
        rep = kpi_report(c, GD, Filters(end=MAR))
        assert [m["psi"] for m in rep["months"]] == pytest.approx(t["psi"].tolist())
        # Selected months only, baseline still January.
        only_mar = scores.psi_trend(c, GD, Filters(as_of=dt.date(2024, 3, 5)))
        assert only_mar["as_of"].tolist() == [MAR] and only_mar.attrs["baseline"] == JAN
        assert only_mar["psi"].tolist() == [0.0]
        assert scores.psi_trend(c, GD, Filters(end=MAR), baseline=FEB)["psi"].tolist() == pytest.approx(
            [PSI_MAR_MOM, 0.0, PSI_MAR_MOM])


def test_store_scope_and_filters_limit_drift(drift_store):
    with drift_store.connect() as c:
        bj = scores.psi_trend(c, BJ, Filters(end=MAR))
        assert bj["loans"].tolist() == [2, 2, 2] and bj["psi"].tolist() == [0.0, 0.0, 0.0]
        assert scores.psi_trend(c, Scope.of([]), Filters()).empty
        assert scores.psi_trend(c, GD, Filters(regions=("110000",))).empty
        mort = scores.score_histogram(c, Scope.all(), Filters(products=("mortgage",), as_of=JAN))
        assert mort[["credit_score", "loans"]].to_numpy().tolist() == [[810, 1]]
        assert scores.largest_score_drops(c, GD, Filters(), APR, JAN)["region_code"].eq("440000").all()
        assert scores.largest_score_drops(c, GD, Filters(regions=("110000",)), APR, JAN).empty
        assert scores.score_migration(c, BJ, Filters(), JAN, APR, shares=False).to_numpy().sum() == 2


def test_store_psi_contributions_and_distribution(drift_store):
    with drift_store.connect() as c:
        t = scores.psi_contributions(c, GD, Filters(), FEB)
        assert t.attrs["reference"] == JAN
        assert t["upper"].tolist()[:-1] == pytest.approx([519, 528, 537, 546, 555, 564, 573, 582, 591])
        assert t["expected_loans"].tolist() == [1] * 10
        assert t["actual_loans"].tolist() == [2, 0, 1, 1, 1, 1, 1, 1, 1, 1]
        assert t["contribution"].tolist()[:2] == pytest.approx(
            [0.1 * math.log(2), (0.0001 - 0.1) * math.log(0.0001 / 0.1)])
        assert t["contribution"].sum() == pytest.approx(PSI_FEB)
        mom = scores.psi_contributions(c, GD, Filters(), MAR, reference=FEB)
        assert mom["contribution"].sum() == pytest.approx(PSI_MAR_MOM)
        assert scores.psi_contributions(c, Scope.of([]), Filters(), FEB).empty
        d = scores.score_distribution(c, GD, Filters(), JAN, FEB, width=20)
        assert d["loans_a"].tolist() == [1, 2, 2, 2, 2, 1] and d["loans_b"].tolist() == [2, 1, 2, 2, 2, 1]


def test_store_migration_matrix_by_hand(drift_store):
    cuts = (530, 560, 590)
    with drift_store.connect() as c:
        counts = scores.score_migration(c, GD, Filters(), JAN, APR, cuts=cuts, shares=False)
        sh = scores.score_migration(c, GD, Filters(), JAN, APR, cuts=cuts)
        square = scores.score_migration(c, GD, Filters(), JAN, APR, cuts=cuts, exits=False)
    # Jan bands: <530 L1 L2; 530-559 L3 L4 L5; 560-589 L6 L7 L8; >=590 L9 L10 (L11 unscored: no row).
    assert counts.to_numpy().tolist() == [
        [0, 0, 1, 0, 0, 0, 0, 1],  # L1 -> 560-589, L2 not reported
        [0, 0, 0, 0, 1, 1, 1, 0],  # L3 closed, L4 written off, L5 unscored
        [0, 1, 2, 0, 0, 0, 0, 0],  # L6 -> 530, L7 565, L8 580
        [0, 0, 0, 2, 0, 0, 0, 0],
    ]
    assert sh.sum(axis=1).tolist() == pytest.approx([1, 1, 1, 1])
    assert sh.loc["560-589", "530-559"] == pytest.approx(1 / 3)
    assert square.loc["<530", "560-589"] == 1.0 and square.loc["530-559"].isna().all()


def test_store_largest_score_drops(drift_store):
    with drift_store.connect() as c:
        d = scores.largest_score_drops(c, GD, Filters(), APR)  # default: from 3 months before (Jan)
        top1 = scores.largest_score_drops(c, GD, Filters(), dt.date(2024, 4, 2), dt.date(2024, 1, 9), n=1)
        feb = scores.largest_score_drops(c, Scope.all(), Filters(), FEB, JAN)
    assert d.attrs["month_from"] == JAN
    assert d["loan_id"].tolist() == ["L6", "L7"]
    assert d["change"].tolist() == [-30, -5]
    row = d.iloc[0]
    assert (row["score_from"], row["score_to"], row["dpd"], row["dpd_from"]) == (560, 530, 15, 0)
    assert row["balance"] == 800.0 and row["region_name_zh"] == "广东省" and row["product"] == "consumer"
    assert top1["loan_id"].tolist() == ["L6"]
    assert feb["loan_id"].tolist() == ["L2"] and feb["change"].tolist() == [-10]


@pytest.fixture
def outcome_store(engine):
    """Jan 2024 observations with outcomes over the next 13 months (hand-labelled).

    Goods G1-G4 (700, 650, 600, 550), bads B1 (580: dpd 120 in Mar 2024) and B2 (500: dpd 95
    in Jan 2025, exactly 12 months on), G4 past 90 only in Feb 2025 (13 months: still good),
    G3 60 dpd in Jun 2024 (not > 90), X1 already 100 dpd in Jan (left out), W1 in Beijing
    (450, written off in Apr 2024 at 0 dpd).
    """
    rows = [
        _perf("G1", JAN, 700), _perf("G2", JAN, 650), _perf("G3", JAN, 600), _perf("G4", JAN, 550),
        _perf("B1", JAN, 580), _perf("B2", JAN, 500), _perf("X1", JAN, 400, dpd=100),
        _perf("W1", JAN, 450, region="110000"),
        _perf("B1", MAR, 420, dpd=120), _perf("W1", APR, None, region="110000", status="written_off"),
        _perf("G3", dt.date(2024, 6, 30), 600, dpd=60), _perf("B2", dt.date(2025, 1, 31), 450, dpd=95),
        _perf("G4", dt.date(2025, 2, 28), 400, dpd=200),
    ]
    return _load(engine, pd.DataFrame(rows))


def test_store_ks_auc_by_hand(outcome_store):
    with outcome_store.connect() as c:
        gd = scores.discrimination_trend(c, GD, Filters())
        allr = scores.discrimination_trend(c, Scope.all(), Filters())
        wo = scores.discrimination_trend(c, Scope.all(), Filters(), bad_if_written_off=True)
        part = scores.discrimination_trend(c, GD, Filters(), partial=True)
        none = scores.discrimination_trend(c, Scope.of([]), Filters())
    # Guangdong: 4 good, 2 bad -> KS 0.75, AUC 0.875 (see the pure test).
    assert gd["as_of"].tolist() == [JAN] and gd["horizon_months"].tolist() == [12]
    assert (gd.loc[0, "loans"], gd.loc[0, "bads"]) == (6, 2)
    assert gd.loc[0, "ks"] == pytest.approx(0.75) and gd.loc[0, "auc"] == pytest.approx(0.875)
    # With W1 (450, good): ascending 450G 500B 550G 580B ...: KS 0.6; AUC (3 + 4) / 10.
    assert allr.loc[0, "ks"] == pytest.approx(0.6) and allr.loc[0, "auc"] == pytest.approx(0.7)
    assert allr.loc[0, "bad_rate"] == pytest.approx(2 / 7)
    # Written off counted as bad: bads 450, 500, 580 -> AUC (4 + 4 + 3) / 12, KS 0.75.
    assert wo.loc[0, "auc"] == pytest.approx(11 / 12) and wo.loc[0, "ks"] == pytest.approx(0.75)
    # Partial horizon: June 2024 (8 months of outcome, one good loan, no KS); Mar 2024's
    # only loan is past 90 days and Jan/Feb 2025 have no scored performing loan left.
    assert part["as_of"].tolist() == [JAN, dt.date(2024, 6, 30)]
    assert part["horizon_months"].tolist() == [12, 8]
    assert part.loc[1, "loans"] == 1 and math.isnan(part.loc[1, "auc"])
    assert none.empty and "horizon_months" in none.columns


def test_store_empty(engine):
    with engine.connect() as c:
        assert scores.psi_trend(c, Scope.all(), Filters()).empty
        assert scores.psi_contributions(c, Scope.all(), Filters(), JAN).empty
        assert scores.discrimination_trend(c, Scope.all(), Filters()).empty
        assert scores.largest_score_drops(c, Scope.all(), Filters(), APR).empty
        m = scores.score_migration(c, Scope.all(), Filters(), JAN, APR, shares=False)
        assert m.shape == (6, 10) and int(m.to_numpy().sum()) == 0
        assert scores.score_distribution(c, Scope.all(), Filters(), JAN, FEB).empty


def test_shift_month():
    assert scores.shift_month(dt.date(2024, 3, 31), -1) == FEB
    assert scores.shift_month(dt.date(2024, 2, 29), 12) == dt.date(2025, 2, 28)
    assert scores.shift_month(dt.date(2024, 1, 15), -13) == dt.date(2022, 12, 31)


def test_psi_table_requires_matching_edges():
    with pytest.raises(ValueError, match="edges"):
        drift.psi_table([1, 2], [1, 2], [1, 2])
    t = drift.psi_table([1, 1], [0, 0])
    assert t["contribution"].isna().all()
    assert_frame_equal(t[["bin", "expected_loans"]], pd.DataFrame({"bin": [0, 1], "expected_loans": [1.0, 1.0]}))


def test_store_histogram_kept_until_the_next_import(drift_store, tmp_path, monkeypatch):
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path / "cache"))
    scores._HISTOGRAM_CACHE.clear_memory()
    with drift_store.connect() as c:
        first = scores.score_histogram(c, BJ, Filters(end=MAR))
        scores._HISTOGRAM_CACHE.clear_memory()  # as after a restart
        assert list((tmp_path / "cache" / "score_histogram").glob("*.parquet"))
        again = scores.score_histogram(c, BJ, Filters(end=MAR))
        jan_only = scores.score_histogram(c, BJ, Filters(end=MAR), months=[JAN])
    pd.testing.assert_frame_equal(again, first, check_exact=True, check_dtype=False)
    # Beijing: 2 scored loans in each of January to March; the months read are part of the key
    assert again.groupby("as_of")["loans"].sum().tolist() == [2, 2, 2]
    assert jan_only["as_of"].unique().tolist() == [JAN] and jan_only["loans"].sum() == 2
