"""The PD model: metrics by hand, the roll-rate chain by hand, fits on synthetic histories
whose answer is known, the fallback, PD = 1 for NPL loans, and the model cache.

``chain_store`` (two months, so the roll-rate chain) is shared with test_ecl, test_stress
and test_scenarios, which import it from here.
"""

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pytest

from analytics import pd_model as pdm
from analytics.classification import stored_class
from data import credit
from data.bulk import insert_frame
from data.read import Filters, Scope
from data.schema import ImportBatch, Loan, Performance

JAN, FEB = dt.date(2024, 1, 31), dt.date(2024, 2, 29)

PD_CURRENT = 2 / 3 - 5 / 50331648
"""12-month PD of a current consumer loan in ``chain_store``. From current a loan stays
(¼), rolls to 31-60 (¼), defaults (¼) or closes (¼); from 31-60 it always defaults. So it
defaults within 12 months when it stays k months then defaults (k <= 11) or rolls then
defaults (k <= 10): ¼ Σ_{k<12} ¼^k + ¼ Σ_{k<11} ¼^k = ⅓ (2 − ¼^12 − ¼^11) = 2/3 − 5/(3·4^12)."""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Each test caches models (and ECL) in its own folder and starts with empty memory caches."""
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path / "cache"))
    credit._memory.clear()
    credit._ECL_CACHE.clear_memory()
    credit._BOOK_CACHE.clear_memory()


def _perf(loan, as_of, region, product, bal, dpd, cls, *, status="active", score=700, cv=None, segment="retail"):
    return dict(loan_id=loan, as_of=as_of, region_code=region, branch_id=None, product=product, segment=segment,
                outstanding_principal=bal, dpd=dpd, credit_score=score, status=status, classification=cls,
                collateral_value=cv)


def _loans(perf: pd.DataFrame, **extra) -> pd.DataFrame:
    loans = perf.drop_duplicates("loan_id")[["loan_id", "region_code", "product", "segment"]].copy()
    loans = loans.assign(customer_id="C" + loans["loan_id"], disbursement_date=dt.date(2023, 6, 15),
                         maturity_date=dt.date(2026, 2, 15), principal=5000.0, interest_rate=0.06,
                         collateral_type="none", collateral_value=None)
    for col, values in extra.items():
        for loan_id, v in values.items():
            loans.loc[loans["loan_id"] == loan_id, col] = v
    return loans


@pytest.fixture
def chain_store(engine):
    """Two months, so no month has 12 months after it: the PD comes from the roll-rate chain.

    Jan → Feb moves of performing loans: consumer L1 current→current, L2 current→31-60,
    L3 current→written off, L4 current→closed, L7/L8/L9 (1-30, 31-60, 61-90)→written off;
    mortgage L6 current→current. L5 is substandard both months (not performing).
    Feb book: L1 (440000, 1000, current), L2 (440000, 2000, 45 dpd), L5 (110000, 500, 130 dpd,
    substandard), L6 (110000, mortgage 2000, real estate worth 2500, current). All loans
    mature 2026-02: 24 months left in Feb 2024.
    """
    rows = [
        _perf("L1", JAN, "440000", "consumer", 1100, 0, "normal"),
        _perf("L2", JAN, "440000", "consumer", 2100, 0, "normal"),
        _perf("L3", JAN, "110000", "consumer", 800, 0, "normal"),
        _perf("L4", JAN, "110000", "consumer", 300, 0, "normal"),
        _perf("L5", JAN, "110000", "consumer", 500, 100, "substandard"),
        _perf("L6", JAN, "110000", "mortgage", 2050, 0, "normal"),
        _perf("L7", JAN, "440000", "consumer", 100, 15, "special_mention"),
        _perf("L8", JAN, "440000", "consumer", 100, 45, "special_mention"),
        _perf("L9", JAN, "440000", "consumer", 100, 75, "special_mention"),
        _perf("L1", FEB, "440000", "consumer", 1000, 0, "normal"),
        _perf("L2", FEB, "440000", "consumer", 2000, 45, "special_mention"),
        _perf("L3", FEB, "110000", "consumer", 800, 120, "loss", status="written_off"),
        _perf("L4", FEB, "110000", "consumer", 0, 0, "normal", status="closed"),
        _perf("L5", FEB, "110000", "consumer", 500, 130, "substandard"),
        _perf("L6", FEB, "110000", "mortgage", 2000, 0, "normal"),
        _perf("L7", FEB, "440000", "consumer", 100, 105, "loss", status="written_off"),
        _perf("L8", FEB, "440000", "consumer", 100, 135, "loss", status="written_off"),
        _perf("L9", FEB, "440000", "consumer", 100, 165, "loss", status="written_off"),
    ]
    perf = pd.DataFrame(rows)
    loans = _loans(perf, collateral_type={"L6": "real_estate"}, collateral_value={"L6": 2500.0})
    with engine.begin() as c:
        insert_frame(c, Loan.__table__, loans)
        insert_frame(c, Performance.__table__, perf)
    return engine


def _month_ends(first: dt.date, n: int) -> list[dt.date]:
    out, y, m = [], first.year, first.month
    for _ in range(n):
        nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
        out.append(nxt - dt.timedelta(days=1))
        y, m = nxt.year, nxt.month
    return out


MONTHS16 = _month_ends(dt.date(2023, 1, 1), 16)  # 2023-01 … 2024-04


def _history(n_loans: int, bad: np.ndarray, score: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """16 months of consumer loans; ``bad`` loans are current for 7 months, then 30, 60 and
    91+ days past due (classed by the DPD floor) to the end; the others stay current."""
    t = np.arange(16)
    rows = []
    for i in range(n_loans):
        dpd = np.where(t < 7, 0, 30 * (t - 6) + np.where(t >= 9, 1, 0)) if bad[i] else np.zeros(16, dtype=int)
        cls = stored_class(dpd)
        for k, month in enumerate(MONTHS16):
            rows.append(_perf(f"H{i:04d}", month, "440000" if i % 2 == 0 else "110000", "consumer",
                              1000.0, int(dpd[k]), cls[k], score=int(score[i])))
    perf = pd.DataFrame(rows)
    loans = _loans(perf).assign(disbursement_date=dt.date(2022, 6, 15), maturity_date=dt.date(2027, 6, 15))
    return loans, perf


def _load(engine, loans, perf, batch: bool = False):
    with engine.begin() as c:
        insert_frame(c, Loan.__table__, loans)
        insert_frame(c, Performance.__table__, perf)
        if batch:
            c.execute(ImportBatch.__table__.insert().values(started_at=dt.datetime(2024, 5, 1)))


@pytest.fixture
def separable_store(engine):
    """200 loans; the 40 that default score 450, the others 750: the score separates them."""
    bad = np.arange(200) < 40
    _load(engine, *_history(200, bad, np.where(bad, 450, 750)))
    return engine


# --- metrics by hand -------------------------------------------------------------------


def test_auc_and_ks_by_hand():
    y, p = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    # pairs (default, non-default): 0.35>0.1 yes, 0.35>0.4 no, 0.8 beats both → 3 of 4
    assert pdm.auc(y, p) == 0.75
    # sorted: 0.1 (good) .35 (bad) .4 (good) .8 (bad): F_bad 0, .5, .5, 1; F_good .5, .5, 1, 1
    assert pdm.ks(y, p) == 0.5
    assert pdm.auc([0, 1], [0.5, 0.5]) == 0.5  # a tie counts one half
    assert pdm.ks([0, 1], [0.5, 0.5]) == 0.0  # tied scores cross a threshold together
    assert np.isnan(pdm.auc([1, 1], [0.2, 0.3])) and np.isnan(pdm.ks([0, 0], [0.2, 0.3]))


def test_calibration_table_by_hand():
    p = [0.05, 0.01, 0.02, 0.5, 0.04]
    y = [0, 0, 1, 1, 0]
    table = pdm.calibration_table(y, p, n_bins=2)
    # sorted PDs .01 .02 .04 .05 .5: rows 0,1,2 → ⌊i·2/5⌋ = 0,0,0 → group 1; rows 3, 4 → group 2
    assert table["rows"].tolist() == [3, 2]
    assert table["defaults"].tolist() == [1, 1]
    np.testing.assert_allclose(table["mean_pd"], [0.07 / 3, 0.275])
    np.testing.assert_allclose(table["observed_rate"], [1 / 3, 0.5])
    assert pdm.calibration_table([], []).empty


def test_sample_and_split_months():
    assert pdm.sample_months(range(1, 25)) == [3, 6, 9, 12, 15, 18, 21, 24]
    assert pdm.sample_months([1, 2, 3, 4, 5]) == [1, 2, 3, 4, 5]
    assert pdm.sample_months([]) == []
    assert pdm.split_out_of_time([3, 6, 9, 12, 15, 18, 21, 24]) == ([3, 6, 9, 12, 15, 18], [21, 24])
    assert pdm.split_out_of_time([1, 2, 3, 4]) == ([1, 2, 3], [4])
    assert pdm.split_out_of_time([7]) == ([7], [])


def test_design_matrix_row_by_hand():
    spec = pdm.FeatureSpec(score_mean=650.0, score_std=50.0, products=("consumer", "mortgage"), segments=("retail",))
    frame = pd.DataFrame({
        "credit_score": [700, None, 600],
        "dpd": [45, 0, 10],
        "product": ["mortgage", "consumer", "auto"],
        "segment": ["retail", "retail", "sme"],
        "balance": [150.0, 300.0, 50.0],
        "collateral_type": ["real_estate", "real_estate", "none"],
        "collateral_value": [100.0, 100.0, 100.0],
        "months_on_book": [5, 0, 40],
    })
    x = pd.DataFrame(pdm.design_matrix(frame, spec), columns=spec.names)
    assert x.loc[0].to_dict() == {
        "score_z": 1.0, "score_missing": 0.0, "dpd_1_30": 0.0, "dpd_31_60": 1.0, "dpd_61_90": 0.0,
        "product=consumer": 0.0, "product=mortgage": 1.0, "segment=retail": 1.0, "ltv": 1.5, "unsecured": 0.0,
        "mob_bin_0": 0.0, "mob_bin_1": 1.0, "mob_bin_2": 0.0, "mob_bin_3": 0.0, "mob_bin_4": 0.0, "mob_bin_5": 0.0,
    }
    assert x.loc[1, ["score_z", "score_missing", "ltv", "mob_bin_0"]].tolist() == [0.0, 1.0, 2.0, 1.0]  # LTV 3 capped at 2
    # an unseen product and segment are all zeros; unsecured: LTV 0 and the flag
    assert x.loc[2, ["score_z", "dpd_1_30", "product=consumer", "product=mortgage", "segment=retail", "ltv", "unsecured", "mob_bin_5"]].tolist() == [-1.0, 1.0, 0, 0, 0, 0, 1.0, 1.0]


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"design_matrix: frame is missing column\(s\) \['months_on_book'\]"):
        pdm.design_matrix(pd.DataFrame({c: [] for c in pdm.FEATURE_COLUMNS if c != "months_on_book"}),
                          pdm.FeatureSpec(0, 1, (), ()))


def _transitions(rows):
    return pd.DataFrame(rows, columns=["product", "from_state", "to_state", "loans"])


def test_chain_pd_table_by_hand():
    t = _transitions([
        ("A", 0, 0, 2), ("A", 0, 4, 1), ("A", 0, 5, 1), ("A", 1, 4, 1), ("A", 2, 4, 1), ("A", 3, 4, 1),
        ("B", 0, 0, 1), ("B", 0, 5, 1),
    ])
    table = pdm.chain_pd_table(t).set_index(["product", "bucket"])["pd_12m"]
    # A from current: stays ½, defaults ¼ a month → ¼ Σ_{k<12} ½^k = ½ (1 − ½^12) = 4095/8192
    assert table[("A", 0)] == pytest.approx(4095 / 8192, abs=1e-15)
    assert table[("A", 1)] == table[("A", 2)] == table[("A", 3)] == 1.0
    # B never defaults from current; its unobserved buckets take the pooled rows (default surely)
    assert table[("B", 0)] == 0.0
    assert table[("B", 1)] == 1.0
    # pooled from current: 3 of 6 stay, 1 defaults → ⅙ Σ_{k<12} ½^k = ⅓ (1 − ½^12) = 4095/12288
    assert table[("*", 0)] == pytest.approx(4095 / 12288, abs=1e-15)


def test_chain_bucket_never_observed_has_no_pd():
    table = pdm.chain_pd_table(_transitions([("A", 0, 0, 3), ("A", 0, 1, 1), ("A", 2, 4, 1)]))
    pds = table.set_index(["product", "bucket"])["pd_12m"]
    # 1-30 is never left in the data: it and current (which reaches it) have no PD; 31-60 has
    assert np.isnan(pds[("A", 1)]) and np.isnan(pds[("A", 0)])
    assert pds[("A", 2)] == 1.0
    assert pdm.chain_pd_table(_transitions([])).empty


def test_predict_pd_is_one_for_npl_and_chain_lookup():
    model = pdm.chain_model(_transitions([("A", 0, 0, 2), ("A", 0, 4, 1), ("A", 0, 5, 1), ("A", 1, 4, 1),
                                          ("A", 2, 4, 1), ("A", 3, 4, 1)]), "test")
    frame = pd.DataFrame({
        "credit_score": [700] * 4, "dpd": [0, 0, 120, 0], "product": ["A", "Z", "A", "A"],
        "segment": ["retail"] * 4, "balance": [1.0] * 4, "collateral_type": ["none"] * 4,
        "collateral_value": [0.0] * 4, "months_on_book": [3] * 4,
        "classification": ["normal", "normal", "substandard", "doubtful"],
    })
    np.testing.assert_allclose(pdm.predict_pd(model, frame), [4095 / 8192, 4095 / 8192, 1.0, 1.0])
    none = pdm.PdModel(method="none")
    out = pdm.predict_pd(none, frame)
    assert np.isnan(out[0]) and np.isnan(out[1]) and out[2] == 1.0 and out[3] == 1.0


def test_fit_falls_back_with_too_few_defaults():
    train = pd.DataFrame({
        "credit_score": [700] * 30, "dpd": [0] * 30, "product": ["A"] * 30, "segment": ["retail"] * 30,
        "balance": [1.0] * 30, "collateral_type": ["none"] * 30, "collateral_value": [0.0] * 30,
        "months_on_book": [3] * 30, "month_index": [24000] * 30, "default_12m": [1] * 3 + [0] * 27,
    })
    model = pdm.fit_pd_model(train, _transitions([("A", 0, 0, 3), ("A", 0, 4, 1), ("A", 1, 4, 1), ("A", 2, 4, 1), ("A", 3, 4, 1)]))
    assert model.method == "roll_rate_chain"
    assert "too few outcomes" in model.fallback_reason and "3 defaults" in model.fallback_reason


def test_no_scores_at_all():
    rng = np.random.default_rng(3)
    n = 400
    train = pd.DataFrame({
        "credit_score": [None] * n, "dpd": rng.choice([0, 15, 45], n), "product": ["A"] * n, "segment": ["retail"] * n,
        "balance": [1.0] * n, "collateral_type": ["none"] * n, "collateral_value": [0.0] * n,
        "months_on_book": [12] * n, "month_index": np.repeat([1, 2, 3, 4], n // 4),
    })
    train["default_12m"] = (rng.random(n) < np.where(train["dpd"] > 30, 0.6, 0.05)).astype(int)
    model = pdm.fit_pd_model(train)
    assert model.method == "logistic"
    assert (model.spec.score_mean, model.spec.score_std) == (0.0, 1.0)
    x = pdm.design_matrix(train, model.spec)
    assert (x[:, 0] == 0.0).all() and (x[:, 1] == 1.0).all()  # score_z 0, score_missing 1
    p = pdm.predict_pd(model, train.assign(classification="normal"))
    assert np.isfinite(p).all() and p[train["dpd"].to_numpy() > 30].mean() > p[train["dpd"].to_numpy() == 0].mean()


@pytest.mark.parametrize("seed", [1, 2])
def test_fit_on_random_labels_has_no_power(seed):
    rng = np.random.default_rng(seed)
    n = 4000
    train = pd.DataFrame({
        "credit_score": rng.integers(500, 800, n), "dpd": [0] * n, "product": ["A"] * n, "segment": ["retail"] * n,
        "balance": [1.0] * n, "collateral_type": ["none"] * n, "collateral_value": [0.0] * n,
        "months_on_book": [12] * n, "month_index": np.repeat([1, 2, 3, 4], n // 4),
        "default_12m": (rng.random(n) < 0.2).astype(int),
    })
    model = pdm.fit_pd_model(train)
    assert model.method == "logistic"
    assert 0.42 < model.validation["auc"] < 0.58
    assert model.validation["n_test"] == 1000 and model.validation["n_train"] == 3000


# --- from the store (both back ends) ---------------------------------------------------------


def test_perfect_separation_gives_auc_one(separable_store):
    with separable_store.connect() as c:
        rep = credit.pd_model_report(c, Scope.all())
        rep_gd = credit.pd_model_report(c, Scope.of(["440000"]))
        pds = credit.loan_pd(c, Scope.all(), Filters())
    assert rep["method"] == "logistic" and rep["fallback_used"] is False and rep["fallback_reason"] is None
    # 16 months: months 1-4 have 12 months after them; month 4 is held out
    assert rep["train_months"] == ["2023-01-31", "2023-02-28", "2023-03-31"]
    assert rep["test_months"] == ["2023-04-30"]
    assert rep["n_train"] == 600 and rep["n_train_defaults"] == 120
    assert rep["n_test"] == 200 and rep["n_test_defaults"] == 40
    assert rep["auc"] == 1.0 and rep["ks"] == 1.0
    assert [d["rows"] for d in rep["calibration"]] == [20] * 10
    assert rep["calibration"][-1]["observed_rate"] == 1.0 and rep["calibration"][0]["observed_rate"] == 0.0
    assert {d["feature"] for d in rep["coefficients"]} >= {"score_z", "intercept"}
    assert rep_gd["n_test"] == 100 and rep_gd["n_test_defaults"] == 20  # only its region's held-out rows
    # the latest month (2024-04): the 40 bad loans are 91+ DPD (NPL) → PD 1; the others are safe
    assert pds.attrs["as_of"] == dt.date(2024, 4, 30) and pds.attrs["pd_method"] == "logistic"
    bad = pds["loan_id"] < "H0040"
    assert (pds.loc[bad, "pd_12m"] == 1.0).all()
    assert (pds.loc[~bad, "pd_12m"] < 0.05).all()
    assert rep["book"] == {"as_of": "2024-04-30", "loans": 200, "balance": 200000.0,
                           "mean_pd": pytest.approx(pds["pd_12m"].mean()), "balance_weighted_pd": pytest.approx(pds["pd_12m"].mean())}


def test_training_frame_labels_and_sampling(separable_store):
    with separable_store.connect() as c:
        full = credit.training_frame(c)
        sampled = credit.training_frame(c, max_rows=100)
    assert len(full) == 800  # 200 loans × 4 labelled months
    assert full.groupby("credit_score")["default_12m"].agg(["sum", "size"]).to_dict("index") == {
        450: {"sum": 160, "size": 160}, 750: {"sum": 0, "size": 640}}
    assert set(full["months_on_book"]) == {7, 8, 9, 10}  # disbursed 2022-06: Jan 2023 is MOB 7
    # whole loans are kept when md5(loan_id)'s first six hex digits fall below 16^6 × 100 ÷ 800
    threshold = f"{int(16**6 * 100 / 800):06x}"
    kept = sum(hashlib.md5(f"H{i:04d}".encode()).hexdigest()[:6] < threshold for i in range(200))
    assert len(sampled) == 4 * kept and 0 < kept < 50


def test_short_history_falls_back_to_the_roll_rate_chain(chain_store):
    with chain_store.connect() as c:
        pds = credit.loan_pd(c, Scope.all(), Filters(), as_of=FEB)
        rep = credit.pd_model_report(c, Scope.all())
    assert pds.attrs["pd_method"] == "roll_rate_chain"
    got = dict(zip(pds["loan_id"], pds["pd_12m"]))
    assert got == {"L1": pytest.approx(PD_CURRENT, abs=1e-15), "L2": 1.0, "L5": 1.0, "L6": 0.0}
    assert rep["method"] == "roll_rate_chain" and rep["fallback_used"] is True
    assert rep["fallback_reason"] == "no month has 12 months of history after it"
    assert rep["auc"] is None and rep["ks"] is None and rep["calibration"] == []
    chain = {(r["product"], r["bucket"]): r["pd_12m"] for r in rep["chain"]}
    assert chain[("consumer", 0)] == pytest.approx(PD_CURRENT) and chain[("mortgage", 0)] == 0.0


def test_one_month_of_history_gives_no_pd_but_npl_is_one(engine):
    perf = pd.DataFrame([_perf("A", JAN, "440000", "consumer", 100, 0, "normal"),
                         _perf("B", JAN, "440000", "consumer", 100, 120, "substandard")])
    _load(engine, _loans(perf), perf)
    with engine.connect() as c:
        pds = credit.loan_pd(c, Scope.all(), Filters())
        rep = credit.pd_model_report(c, Scope.all())
    assert pds.attrs["pd_method"] == "none" and rep["method"] == "none"
    assert np.isnan(pds.loc[pds["loan_id"] == "A", "pd_12m"].iloc[0])
    assert pds.loc[pds["loan_id"] == "B", "pd_12m"].iloc[0] == 1.0


def test_empty_store_and_empty_scope(engine):
    with engine.connect() as c:
        pds = credit.loan_pd(c, Scope.all(), Filters())
        rep = credit.pd_model_report(c, Scope.all())
    assert pds.empty and "pd_12m" in pds.columns
    assert rep["method"] == "none" and rep["book"]["loans"] == 0 and rep["book"]["mean_pd"] is None


def test_model_is_cached_until_the_data_changes(separable_store, tmp_path):
    with separable_store.connect() as c:
        first = credit.pd_model(c)
        assert credit.pd_model(c) is first
        files = list((tmp_path / "cache" / "models").glob("pd-*.pkl"))
        assert len(files) == 1
        credit._memory.clear()
        reloaded = credit.pd_model(c)  # from the pickle, not refitted
        assert reloaded is not first and reloaded.meta["fitted_at"] == first.meta["fitted_at"]
        np.testing.assert_array_equal(reloaded.coef, first.coef)
    extra = pd.DataFrame([_perf("Z", MONTHS16[-1], "440000", "consumer", 100, 0, "normal")])
    _load(separable_store, _loans(extra), extra, batch=True)  # an import: a new data version
    with separable_store.connect() as c:
        refitted = credit.pd_model(c)
    assert refitted is not reloaded
    assert len(list((tmp_path / "cache" / "models").glob("pd-*.pkl"))) == 2


def test_linear_predictor_equals_the_design_matrix_product():
    """Scoring without the matrix gives the matrix product (unseen categories score as the base)."""
    rng = np.random.default_rng(7)
    n = 500
    spec = pdm.FeatureSpec(650.0, 80.0, ("consumer", "mortgage"), ("retail", "sme"))
    frame = pd.DataFrame({
        "credit_score": np.where(rng.random(n) < 0.1, np.nan, rng.normal(650, 100, n)),
        "dpd": rng.choice([0, 5, 30, 31, 60, 61, 90, 91, 200], n),
        "product": rng.choice(["consumer", "mortgage", "credit_card", None], n),
        "segment": pd.Categorical(rng.choice(["retail", "sme", "corporate"], n)),
        "balance": rng.uniform(0, 1000, n),
        "collateral_type": rng.choice(["real_estate", "none", None, "vehicle"], n),
        "collateral_value": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0, 2000, n)),
        "months_on_book": rng.integers(0, 60, n),
    })
    coef = rng.normal(0, 1, len(spec.names))
    expected = pdm.design_matrix(frame, spec) @ coef + 0.3
    np.testing.assert_allclose(pdm.linear_predictor(frame, spec, coef, 0.3), expected, rtol=1e-12, atol=1e-12)


def test_model_key_changes_when_the_store_is_recreated_at_the_same_path(tmp_path):
    """Batch ids restart in a recreated store file: its other import time gives another key."""
    from data.engine import make_engine, upgrade

    path = tmp_path / "same.duckdb"
    loans, perf = _history(20, np.arange(20) < 4, np.full(20, 700))
    keys = []
    for started in (dt.datetime(2024, 5, 1), dt.datetime(2024, 6, 1)):
        path.unlink(missing_ok=True)
        eng = make_engine(f"duckdb:///{path}")
        upgrade(eng)
        with eng.begin() as c:
            insert_frame(c, Loan.__table__, loans)
            insert_frame(c, Performance.__table__, perf)
            c.execute(ImportBatch.__table__.insert().values(started_at=started))
        with eng.connect() as c:
            keys.append(credit.model_key(c))
        eng.dispose()
    assert keys[0] != keys[1]
