"""Early-warning rules: configuration, each rule on a hand-made tape (and its near misses),
idempotent evaluation, scope, reads, and a back-test counted by hand — on both back ends."""

from __future__ import annotations

import datetime as dt
import json
import math

import pandas as pd
import pytest
import sqlalchemy as sa
from pandas.testing import assert_frame_equal

from analytics.early_warning import (
    DpdThreshold,
    backtest_table,
    merge_rule_config,
    rules_from_config,
)
from data import alerts as alerts_module
from data.alerts import RULES_FILE, alert_counts, backtest, backtest_months, evaluate_alerts, load_rules, read_alerts
from data.bulk import insert_frame
from data.read import Filters, Scope
from data.schema import ImportBatch, Inspection, Loan, Performance

import tomllib

GD, BJ = "440000", "110000"
JAN, FEB, MAR, APR = dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31), dt.date(2024, 4, 30)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Each test caches back-tests in its own folder, starting with an empty memory cache."""
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path / "cache"))
    alerts_module._BACKTEST_CACHE.clear_memory()
    alerts_module._BOOK_CACHE.clear_memory()


# ------------------------------------------------------------------ configuration


def _shipped() -> dict:
    with RULES_FILE.open("rb") as fh:
        return tomllib.load(fh)


def test_shipped_rules():
    r = load_rules()
    assert r.dpd_crossing.thresholds == (
        DpdThreshold(0, "low"), DpdThreshold(30, "medium"), DpdThreshold(60, "high"), DpdThreshold(90, "high"))
    assert (r.score_drop.points, r.score_drop.months) == (50, 3)
    assert dict(r.ltv.max_ltv)["real_estate"] == 0.70
    fall = r.collateral_fall
    assert fall.default == 0.20 and fall.limit("real_estate") == 0.20 and fall.limit("vehicle") == 0.40
    assert fall.limit("an_unlisted_type") == 0.20
    assert (r.multiple_delinquent.min_loans, r.multiple_delinquent.dpd_over) == (2, 0)
    assert r.inspection_overdue.grace_days == 0
    assert r.rule_names() == ["dpd_1+", "dpd_30+", "dpd_60+", "dpd_90+", "score_drop", "ltv", "collateral_fall",
                              "classification_exception", "multiple_delinquent", "inspection_overdue"]
    assert r.levels()["classification_exception"] == "high"


def test_user_file_is_laid_over_the_shipped_one(tmp_path, monkeypatch):
    f = tmp_path / "mine.toml"
    f.write_text('[score_drop]\npoints = 80\n[ltv.max_ltv]\nreal_estate = 0.6\n[inspection_overdue]\nenabled = false\n')
    monkeypatch.setenv("DAIHOU_ALERT_RULES", str(f))
    r = load_rules()
    assert r.score_drop.points == 80 and r.score_drop.months == 3 and r.score_drop.level == "medium"
    assert dict(r.ltv.max_ltv)["real_estate"] == 0.6 and dict(r.ltv.max_ltv)["vehicle"] == 0.85
    assert "inspection_overdue" not in r.rule_names()


def test_collateral_fall_per_type_or_one_number(tmp_path, monkeypatch):
    f = tmp_path / "mine.toml"
    f.write_text('[collateral_fall.max_fall]\nvehicle = 0.5\ndefault = 0.3\n')
    monkeypatch.setenv("DAIHOU_ALERT_RULES", str(f))
    r = load_rules().collateral_fall  # laid over the shipped table key by key
    assert (r.limit("vehicle"), r.limit("real_estate"), r.limit("other"), r.default) == (0.5, 0.20, 0.3, 0.3)
    f.write_text('[collateral_fall]\nmax_fall = 0.25\n')  # the older form: one number for every type
    r = load_rules().collateral_fall
    assert r.max_fall == () and r.default == 0.25 and r.limit("vehicle") == r.limit("real_estate") == 0.25


@pytest.mark.parametrize("override, message", [
    ({"score_drop": {"level": "urgent"}}, "score_drop.level"),
    ({"score_drop": {"pionts": 3}}, "pionts"),
    ({"velocity": {}}, "velocity"),
    ({"collateral_fall": {"max_fall": 20}}, "collateral_fall.max_fall"),
    ({"collateral_fall": {"max_fall": {"vehicle": 1.0}}}, "collateral_fall.max_fall.vehicle"),
    ({"collateral_fall": {"max_fall": {"default": "20%"}}}, "collateral_fall.max_fall.default"),
    ({"collateral_fall": {"max_fall": {"none": 0.1}}}, "collateral_fall.max_fall.none"),
    ({"dpd_crossing": {"thresholds": [{"over": 30, "level": "low"}, {"over": 0, "level": "low"}]}}, "strictly increase"),
    ({"multiple_delinquent": {"min_loans": 1}}, "multiple_delinquent.min_loans"),
    ({"ltv": {"max_ltv": {"real_estate": "70%"}}}, "ltv.max_ltv.real_estate"),
])
def test_bad_configuration_names_the_key(override, message):
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        rules_from_config(merge_rule_config(_shipped(), override))


def test_missing_key_is_named():
    cfg = _shipped()
    del cfg["score_drop"]["points"]
    with pytest.raises(ValueError, match=r"score_drop: missing key\(s\) \['points'\]"):
        rules_from_config(cfg)
    cfg = _shipped()
    del cfg["collateral_fall"]["max_fall"]["default"]
    with pytest.raises(ValueError, match="collateral_fall.max_fall: missing key 'default'"):
        rules_from_config(cfg)


# ----------------------------------------------------------------- the hand tape


def _row(loan, as_of, dpd=0, *, region=GD, bal=1000.0, score=None, coll=None, rep=None, status="active"):
    return dict(loan_id=loan, as_of=as_of, region_code=region, branch_id=None, product="consumer",
                segment="retail", outstanding_principal=bal, dpd=dpd, credit_score=score,
                collateral_value=coll, status=status, classification="normal", classification_reported=rep)


def _loan(loan, customer, *, region=GD, ctype=None, cval=None):
    return dict(loan_id=loan, customer_id=customer, region_code=region, product="consumer", segment="retail",
                disbursement_date=dt.date(2023, 1, 15), maturity_date=dt.date(2026, 1, 15), principal=5000.0,
                interest_rate=0.06, collateral_type=ctype, collateral_value=cval)


def _history(loan, dpds, **kw):
    """Rows for Mar and Apr from ``dpds`` = (dpd at Mar, dpd at Apr)."""
    return [_row(loan, MAR, dpds[0], **kw), _row(loan, APR, dpds[1], **kw)]


def _tape():
    """April 2024 is evaluated; each loan is built to fire one rule (or to just miss it)."""
    perf, loans = [], []

    def add(loan, rows, **loan_kw):
        perf.extend(rows)
        loans.append(_loan(loan, loan_kw.pop("customer", "C_" + loan), **loan_kw))

    # DPD crossings: previous ≤ k < now; only the highest crossed fires
    add("D1", _history("D1", (0, 5)))            # dpd_1+
    add("D1n", _history("D1n", (0, 0)))          # near miss
    add("D30", _history("D30", (30, 31)))        # dpd_30+
    add("D30n", _history("D30n", (29, 30)))      # 30 is not > 30; 29 > 0 so no 1+ either
    add("D60", _history("D60", (60, 61)))        # dpd_60+
    add("D60n", _history("D60n", (61, 75)))      # already past 60
    add("D90", _history("D90", (0, 95)))         # jumps: only dpd_90+
    add("NEW", [_row("NEW", APR, 5)])            # no row at March: no crossing
    # score drop ≥ 50 over 3 months (Jan → Apr)
    add("S50", [_row("S50", JAN, score=700), _row("S50", APR, score=650)])
    add("S49", [_row("S49", JAN, score=700), _row("S49", APR, score=651)])
    add("S_NO_BEFORE", [_row("S_NO_BEFORE", FEB, score=700), _row("S_NO_BEFORE", APR, score=600)])
    add("S_ALL", [_row("S_ALL", m, score=v) for m, v in zip((JAN, FEB, MAR, APR), (700, 690, 680, 650))])
    add("S_GAP", [_row("S_GAP", m, score=v) for m, v in zip((JAN, MAR, APR), (700, 660, 650))])  # no Feb
    # LTV above the real-estate maximum 0.70; collateral value unchanged (no fall)
    add("LTV", [_row("LTV", APR, bal=701.0, coll=1000.0)], ctype="real_estate", cval=1000.0)
    add("LTVn", [_row("LTVn", APR, bal=700.0, coll=1000.0)], ctype="real_estate", cval=1000.0)
    add("LTV_ORIG", [_row("LTV_ORIG", APR, bal=900.0)], ctype="real_estate", cval=1000.0)  # no valuation at m
    add("LTV_NOTYPE", [_row("LTV_NOTYPE", APR, bal=2000.0, coll=1000.0)], ctype="guarantee", cval=1000.0)
    # collateral fall (latest vs origination) above the type's maximum: real estate 20 %,
    # vehicles 40 %, unlisted types the default 20 %; small balance
    add("FALL", [_row("FALL", APR, bal=10.0, coll=799.0)], ctype="real_estate", cval=1000.0)
    add("FALLn", [_row("FALLn", APR, bal=10.0, coll=800.0)], ctype="real_estate", cval=1000.0)
    add("FALL_VEH", [_row("FALL_VEH", APR, bal=10.0, coll=599.0)], ctype="vehicle", cval=1000.0)
    add("FALL_VEHn", [_row("FALL_VEHn", APR, bal=10.0, coll=600.0)], ctype="vehicle", cval=1000.0)
    add("FALL_OTHER", [_row("FALL_OTHER", APR, bal=10.0, coll=799.0)], ctype="machinery", cval=1000.0)
    # reported class better than the DPD floor (dpd 95 → substandard); no crossing (prev 94)
    add("CX", _history("CX", (94, 95), rep="special_mention"))
    add("CXn", _history("CXn", (94, 95), rep="substandard"))
    add("CX_NONE", _history("CX_NONE", (94, 95), rep=None))
    # two delinquent loans of one customer (no crossings: same dpd both months)
    add("M1", _history("M1", (10, 10)), customer="CM")
    add("M2", _history("M2", (20, 20)), customer="CM")
    add("N1", _history("N1", (10, 10)), customer="CN")
    add("N2", _history("N2", (0, 0)), customer="CN")
    # inspections (table below)
    for lid in ("I1", "I2", "I3", "I4", "I5"):
        add(lid, [_row(lid, APR)])
    # a loan of another region firing dpd_1+
    add("BJ1", _history("BJ1", (0, 3), region=BJ), region=BJ)
    insp = pd.DataFrame([
        dict(inspection_id="X1", loan_id="I1", kind="routine", due_on=dt.date(2024, 4, 15), done_on=None),
        dict(inspection_id="X2", loan_id="I2", kind="routine", due_on=dt.date(2024, 4, 30), done_on=None),
        dict(inspection_id="X3", loan_id="I3", kind="routine", due_on=dt.date(2024, 4, 10),
             done_on=dt.date(2024, 4, 20)),
        dict(inspection_id="X4", loan_id="I4", kind="first", due_on=dt.date(2024, 4, 10),
             done_on=dt.date(2024, 5, 3)),
        dict(inspection_id="X4b", loan_id="I4", kind="routine", due_on=dt.date(2024, 3, 1), done_on=None),
        dict(inspection_id="X5", loan_id="I5", kind="routine", due_on=dt.date(2024, 5, 10), done_on=None),
    ])
    perf = pd.DataFrame(perf).astype({"credit_score": "Int64"})
    return pd.DataFrame(loans), perf, insp


EXPECTED_APR = {
    ("D1", "dpd_1+", "low"), ("D30", "dpd_30+", "medium"), ("D60", "dpd_60+", "high"),
    ("D90", "dpd_90+", "high"), ("S50", "score_drop", "medium"), ("S_ALL", "score_drop", "medium"),
    ("S_GAP", "score_drop", "medium"), ("LTV", "ltv", "medium"),
    ("LTV_ORIG", "ltv", "medium"), ("FALL", "collateral_fall", "medium"),
    ("FALL_VEH", "collateral_fall", "medium"), ("FALL_OTHER", "collateral_fall", "medium"),
    ("CX", "classification_exception", "high"), ("M1", "multiple_delinquent", "medium"),
    ("M2", "multiple_delinquent", "medium"), ("I1", "inspection_overdue", "low"),
    ("I4", "inspection_overdue", "low"), ("BJ1", "dpd_1+", "low"),
}


@pytest.fixture
def tape(engine):
    loans, perf, insp = _tape()
    with engine.begin() as c:
        insert_frame(c, Loan.__table__, loans)
        insert_frame(c, Performance.__table__, perf)
        insert_frame(c, Inspection.__table__, insp)
    return engine


def _alerts(conn, scope=Scope.all(), filters=Filters()):
    a = read_alerts(conn, scope, filters)
    return {(r.loan_id, r.rule, r.level) for r in a.itertuples()}, a


def test_each_rule_fires_exactly_on_the_hand_tape(tape):
    with tape.begin() as c:
        n = evaluate_alerts(c, Scope.all(), Filters(as_of=APR))
    with tape.connect() as c:
        got, a = _alerts(c)
    assert got == EXPECTED_APR
    assert n == len(EXPECTED_APR)
    assert set(a["as_of"]) == {APR}
    detail = {(r.loan_id, r.rule): json.loads(r.detail) for r in a.itertuples()}
    assert detail[("D90", "dpd_90+")] == {"dpd": 95, "previous_dpd": 0, "threshold": 90}
    assert detail[("S50", "score_drop")] == {"score": 650, "score_before": 700, "drop": 50, "months": 3}
    assert detail[("S_GAP", "score_drop")]["score_before"] == 700
    assert detail[("LTV", "ltv")] == {"ltv": 0.701, "max_ltv": 0.7, "balance": 701.0, "collateral_value": 1000.0,
                                      "collateral_type": "real_estate"}
    assert detail[("LTV_ORIG", "ltv")]["ltv"] == 0.9 and detail[("LTV_ORIG", "ltv")]["collateral_value"] == 1000.0
    assert detail[("FALL", "collateral_fall")] == {"origination_value": 1000.0, "latest_value": 799.0,
                                                   "fall": 0.201, "max_fall": 0.2, "collateral_type": "real_estate"}
    assert detail[("FALL_VEH", "collateral_fall")] == {"origination_value": 1000.0, "latest_value": 599.0,
                                                       "fall": 0.401, "max_fall": 0.4, "collateral_type": "vehicle"}
    assert detail[("FALL_OTHER", "collateral_fall")]["max_fall"] == 0.2
    assert detail[("CX", "classification_exception")] == {"reported": "special_mention", "floor": "substandard",
                                                          "dpd": 95}
    assert detail[("M1", "multiple_delinquent")] == {"customer_id": "CM", "delinquent_loans": 2, "dpd": 10}
    # I4: the first inspection was done after the month end, the routine one never: 2 overdue
    assert detail[("I4", "inspection_overdue")] == {"overdue_inspections": 2, "oldest_due_on": "2024-03-01",
                                                    "days_overdue": 60}
    assert detail[("I1", "inspection_overdue")]["days_overdue"] == 15


def test_re_evaluation_replaces_the_month(tape):
    with tape.begin() as c:
        first = evaluate_alerts(c, Scope.all(), Filters(as_of=APR))
    with tape.connect() as c:
        before, a1 = _alerts(c)
    with tape.begin() as c:
        again = evaluate_alerts(c, Scope.all(), Filters(as_of=dt.date(2024, 4, 2)))
    with tape.connect() as c:
        after, a2 = _alerts(c)
    assert first == again == len(a2) == len(EXPECTED_APR)
    assert before == after
    assert sorted(a1["detail"]) == sorted(a2["detail"])


def test_evaluation_with_disabled_rules_and_another_level(tape, tmp_path):
    cfg = merge_rule_config(_shipped(), {"inspection_overdue": {"enabled": False}, "score_drop": {"points": 49,
                                                                                                 "level": "high"}})
    with tape.begin() as c:
        evaluate_alerts(c, Scope.all(), Filters(as_of=APR), rules_from_config(cfg))
    with tape.connect() as c:
        got, _ = _alerts(c)
    expected = {x for x in EXPECTED_APR if x[1] != "inspection_overdue" and x[1] != "score_drop"}
    assert got == expected | {(lid, "score_drop", "high") for lid in ("S50", "S49", "S_ALL", "S_GAP")}


def test_scope(tape):
    with tape.begin() as c:
        evaluate_alerts(c, Scope.all(), Filters(as_of=APR))
    with tape.connect() as c:
        bj, _ = _alerts(c, Scope.of([BJ]))
        assert bj == {("BJ1", "dpd_1+", "low")}
        gd, _ = _alerts(c, Scope.of([GD]), Filters(regions=(GD, BJ)))
        assert gd == EXPECTED_APR - {("BJ1", "dpd_1+", "low")}
        assert read_alerts(c, Scope.of([]), Filters()).empty
        assert set(alert_counts(c, Scope.of([BJ]), Filters())["rule"]) == {"dpd_1+"}
    # a regional evaluation replaces only its own region's alerts
    with tape.begin() as c:
        assert evaluate_alerts(c, Scope.of([BJ]), Filters(as_of=APR)) == 1
    with tape.connect() as c:
        got, _ = _alerts(c)
    assert got == EXPECTED_APR


def test_read_filters(tape):
    with tape.begin() as c:
        evaluate_alerts(c, Scope.all(), Filters(as_of=APR))
    with tape.connect() as c:
        high = read_alerts(c, Scope.all(), Filters(), levels=["high"])
        assert set(high["loan_id"]) == {"D60", "D90", "CX"}
        dpd = read_alerts(c, Scope.all(), Filters(as_of=APR), rules=["dpd_1+", "dpd_30+"])
        assert set(dpd["loan_id"]) == {"D1", "D30", "BJ1"}
        assert read_alerts(c, Scope.all(), Filters(as_of=MAR)).empty
        assert read_alerts(c, Scope.all(), Filters(start=MAR, end=MAR)).empty
        assert len(read_alerts(c, Scope.all(), Filters(start=MAR))) == len(EXPECTED_APR)
        assert set(read_alerts(c, Scope.all(), Filters(regions=(BJ,)))["loan_id"]) == {"BJ1"}
        assert read_alerts(c, Scope.all(), Filters(products=("mortgage",))).empty
        ordered = read_alerts(c, Scope.all(), Filters())
        assert list(ordered["level"][:3]) == ["high"] * 3 and ordered["level"].iloc[-1] == "low"
        counts = alert_counts(c, Scope.all(), Filters(as_of=APR))
        assert dict(zip(counts["rule"], counts["alerts"]))["multiple_delinquent"] == 2
        with pytest.raises(ValueError, match="urgent"):
            read_alerts(c, Scope.all(), Filters(), levels=["urgent"])


def test_empty_store(engine):
    with engine.begin() as c:
        assert evaluate_alerts(c, Scope.all(), Filters()) == 0
        assert read_alerts(c, Scope.all(), Filters()).empty
        bt = backtest(c, Scope.all(), Filters())
    assert list(bt["alerts"]) == [0] * 10 and bt["lift"].isna().all() and (bt["months"] == 0).all()


# ---------------------------------------------------------------------- back-test


def _me(y: int, m: int) -> dt.date:
    return (pd.Timestamp(y, m, 1) + pd.offsets.MonthEnd(0)).date()


MONTHS = [_me(2022, 12)] + [_me(2023, m) for m in range(1, 13)] + [_me(2024, 1), _me(2024, 2)]  # 15 months


def _path(loan, dpds):
    return [_row(loan, m, d) for m, d in zip(MONTHS, dpds)]


@pytest.fixture
def history(engine):
    """Dec 2022 - Feb 2024. Months with 12 months of future: Dec 2022, Jan 2023, Feb 2023.

    B1: 0, 10 (dpd_1+ at Jan), 40 (dpd_30+ at Feb), 70 (dpd_60+ at Mar), 100 (Apr) ... bad
        for Dec, Jan and Feb (Apr 2023 is within 12 months of each).
    B2: 0, 5 (dpd_1+ at Jan), then 0: never bad.
    B3: always 0.
    B4: 0 until 95 at Jan 2024: bad for Jan 2023 (m + 12) and Feb 2023, not Dec 2022 (m + 13).
    B5: 0 until 95 at Feb 2024: bad for Feb 2023 only.
    """
    n = len(MONTHS)
    paths = {
        "B1": [0, 10, 40, 70] + [100 + 30 * i for i in range(n - 4)],
        "B2": [0, 5] + [0] * (n - 2),
        "B3": [0] * n,
        "B4": [0] * (n - 2) + [95, 125],
        "B5": [0] * (n - 1) + [95],
    }
    perf = pd.DataFrame([r for lid, d in paths.items() for r in _path(lid, d)]).astype({"credit_score": "Int64"})
    loans = pd.DataFrame([_loan(lid, "C_" + lid) for lid in paths])
    with engine.begin() as c:
        insert_frame(c, Loan.__table__, loans)
        insert_frame(c, Performance.__table__, perf)
    return engine


def test_backtest_counts_by_hand(history):
    with history.connect() as c:
        assert backtest_months(c, Scope.all(), Filters()) == MONTHS[:3]
        bt = backtest(c, Scope.all(), Filters()).set_index("rule")
    # book: 5 loans × 3 months = 15 loan-months; bad: B1 ×3, B4 at Jan and Feb, B5 at Feb = 6
    assert (bt["base_loan_months"] == 15).all() and (bt["base_bad"] == 6).all()
    assert bt.loc["dpd_1+", "base_rate"] == pytest.approx(6 / 15)
    # dpd_1+: B1 at Jan (bad), B2 at Jan (not bad)
    assert bt.loc["dpd_1+", ["alerts", "alerted_loans", "alerts_bad"]].tolist() == [2, 2, 1]
    assert bt.loc["dpd_1+", "share_bad"] == pytest.approx(0.5)
    assert bt.loc["dpd_1+", "lift"] == pytest.approx(0.5 / 0.4)
    # dpd_30+: B1 at Feb (bad)
    assert bt.loc["dpd_30+", ["alerts", "alerted_loans", "alerts_bad"]].tolist() == [1, 1, 1]
    assert bt.loc["dpd_30+", "lift"] == pytest.approx(1.0 / 0.4)
    # dpd_60+ fires at Mar 2023, outside the back-tested months
    assert bt.loc["dpd_60+", "alerts"] == 0 and math.isnan(bt.loc["dpd_60+", "share_bad"])
    assert math.isnan(bt.loc["dpd_60+", "lift"])
    assert bt.loc["dpd_1+", "level"] == "low" and bt.loc["dpd_1+", "months"] == 3
    assert bt.loc["dpd_1+", "first_month"] == MONTHS[0] and bt.loc["dpd_1+", "last_month"] == MONTHS[2]


def test_backtest_from_a_start_month(history):
    with history.connect() as c:
        bt = backtest(c, Scope.all(), Filters(start=MONTHS[1])).set_index("rule")
    # Jan and Feb 2023: 10 loan-months, bad: B1 ×2, B4 ×2, B5 ×1 = 5
    assert bt.loc["dpd_1+", "base_rate"] == pytest.approx(0.5)
    assert bt.loc["dpd_1+", "lift"] == pytest.approx(1.0)
    assert bt.loc["dpd_30+", "lift"] == pytest.approx(2.0)


def test_backtest_in_scope_sees_nothing_elsewhere(history):
    with history.connect() as c:
        bt = backtest(c, Scope.of([BJ]), Filters())
    assert (bt["alerts"] == 0).all() and bt["base_rate"].isna().all()


def test_backtest_table_ratios():
    counts = pd.DataFrame({"rule": ["a", "__book__"], "alerts": [4, 100], "alerted_loans": [3, 40],
                           "alerts_bad": [2, 10]})
    t = backtest_table(counts, {"a": "high", "b": "low"}).set_index("rule")
    assert t.loc["a", "share_bad"] == 0.5 and t.loc["a", "base_rate"] == 0.1 and t.loc["a", "lift"] == pytest.approx(5)
    assert t.loc["b", "alerts"] == 0 and math.isnan(t.loc["b", "share_bad"])
    with pytest.raises(ValueError, match="alerts_bad"):
        backtest_table(counts.drop(columns="alerts_bad"), {"a": "high"})


# ------------------------------------------------------------------ back-test cache


def _count(monkeypatch, name: str) -> list:
    """Calls of ``data.alerts.<name>`` (the live per-scope SQL ``_backtest``, or the whole
    book's ``_compute_book``), recorded as they go through."""
    calls: list = []
    real = getattr(alerts_module, name)

    def counting(*args):
        calls.append(args[1:3])
        return real(*args)

    monkeypatch.setattr(alerts_module, name, counting)
    return calls


def test_backtest_is_cached_per_rules_scope_and_filters(history, monkeypatch):
    book, live = _count(monkeypatch, "_compute_book"), _count(monkeypatch, "_backtest")
    strict = rules_from_config(merge_rule_config(_shipped(), {"dpd_crossing": {"thresholds": [{"over": 30, "level": "high"}]}}))
    with history.connect() as c:
        first = backtest(c, Scope.all(), Filters())
        assert_frame_equal(backtest(c, Scope.all(), Filters()), first)
        assert len(book) == 1
        other_rules = backtest(c, Scope.all(), Filters(), strict).set_index("rule")
        elsewhere = backtest(c, Scope.of([BJ]), Filters())  # no month in scope: nothing computed
        later = backtest(c, Scope.all(), Filters(start=MONTHS[1])).set_index("rule")
        assert len(book) == 3
        # the as_of of the filters does not change the back-test: served from the cache
        backtest(c, Scope.all(), Filters(as_of=MONTHS[5]))
        # another scope and filters over the same months: a filter and sum of the book's groups
        gd = backtest(c, Scope.of([GD]), Filters(products=("consumer",)))
        assert len(book) == 3 and live == []
        assert_frame_equal(gd, first)  # every loan of this book is a consumer loan in GD
    assert "dpd_1+" not in other_rules.index and other_rules.loc["dpd_30+", "level"] == "high"
    assert (elsewhere["alerts"] == 0).all() and elsewhere["base_rate"].isna().all()
    assert later.loc["dpd_1+", "base_rate"] == pytest.approx(0.5)


def test_backtest_cache_survives_a_restart_and_is_dropped_by_an_import(history, monkeypatch, tmp_path):
    with history.connect() as c:
        before = backtest(c, Scope.all(), Filters()).set_index("rule")
    assert (before["base_bad"] == 6).all()
    alerts_module._BACKTEST_CACHE.clear_memory()  # as a new process: from the Parquet files
    alerts_module._BOOK_CACHE.clear_memory()
    book, live = _count(monkeypatch, "_compute_book"), _count(monkeypatch, "_backtest")
    with history.connect() as c:
        assert_frame_equal(backtest(c, Scope.all(), Filters()).set_index("rule"), before, check_dtype=False)
        backtest(c, Scope.of([GD]), Filters())  # a new scope, from the book's file
    assert book == [] and live == []
    # an import: B3 is 95 days past due in Jun 2023, within 12 months of Dec, Jan and Feb
    p = Performance.__table__
    with history.begin() as c:
        c.execute(sa.update(p).where(p.c.loan_id == "B3", p.c.as_of == MONTHS[6]).values(dpd=95))
        c.execute(ImportBatch.__table__.insert().values(started_at=dt.datetime(2024, 3, 1)))
    with history.connect() as c:
        after = backtest(c, Scope.all(), Filters()).set_index("rule")
    assert len(book) == 1 and (after["base_bad"] == 9).all()
    assert len(list((tmp_path / "cache" / "backtest").glob("*.parquet"))) == 1  # the old entries are gone
    assert len(list((tmp_path / "cache" / "backtest_book").iterdir())) == 1


# ------------------------------------------- back-test by region, product and segment

SH = "310000"


@pytest.fixture
def groups(engine):
    """The months of ``history`` with loans in several regions, products and segments.

    G1 (GD consumer retail, customer CA): 0, then 10: dpd_1+ at Jan 2023, never bad.
    BX (BJ consumer retail, CA): 0, 20, 20, 20, then > 90 from Apr 2023: dpd_1+ at Jan, bad
        at Dec, Jan and Feb. CA has two delinquent loans at Jan and Feb in the whole book,
        one in GD or BJ alone.
    G2 (GD mortgage retail, CB): 0, 0, then 35: dpd_30+ at Feb. G3 (GD consumer retail, CB):
        0, 0, then 5: dpd_1+ at Feb. CB has two delinquent loans at Feb (two products).
    G4, G5 (GD consumer sme, CC): 5 from Dec (no crossing: no earlier row); G5 is 95 at
        Jan 2024: bad at Jan and Feb 2023. CC has two delinquent loans at Dec, Jan, Feb.
    SH1 (SH consumer retail, CD): 0 from Jan 2023: SH's back-tested months are Jan and Feb.
    """
    n = len(MONTHS)
    spec = {  # loan: region, product, segment, customer, dpds
        "G1": (GD, "consumer", "retail", "CA", [0] + [10] * (n - 1)),
        "BX": (BJ, "consumer", "retail", "CA", [0, 20, 20, 20] + [100 + 30 * i for i in range(n - 4)]),
        "G2": (GD, "mortgage", "retail", "CB", [0, 0] + [35] * (n - 2)),
        "G3": (GD, "consumer", "retail", "CB", [0, 0] + [5] * (n - 2)),
        "G4": (GD, "consumer", "sme", "CC", [5] * n),
        "G5": (GD, "consumer", "sme", "CC", [5] * (n - 2) + [95, 125]),
        "SH1": (SH, "consumer", "retail", "CD", [None] + [0] * (n - 1)),
    }
    perf, loans = [], []
    for lid, (region, product, segment, customer, dpds) in spec.items():
        perf += [dict(_row(lid, m, d, region=region), product=product, segment=segment)
                 for m, d in zip(MONTHS, dpds) if d is not None]
        loans.append(dict(_loan(lid, customer, region=region), product=product, segment=segment))
    with engine.begin() as c:
        insert_frame(c, Loan.__table__, pd.DataFrame(loans))
        insert_frame(c, Performance.__table__, pd.DataFrame(perf).astype({"credit_score": "Int64"}))
    return engine


def _counts_of(bt: pd.DataFrame, rule: str) -> list[int]:
    return bt.set_index("rule").loc[rule, ["alerts", "alerted_loans", "alerts_bad"]].tolist()


def test_backtest_by_region_product_and_segment_by_hand(groups):
    with groups.connect() as c:
        book = backtest(c, Scope.all(), Filters())
        gd = backtest(c, Scope.of([GD]), Filters())
        mortgage = backtest(c, Scope.of([GD, BJ]), Filters(products=("mortgage",)))
        sme = backtest(c, Scope.all(), Filters(segments=("sme",)))
        bj_asking_gd = backtest(c, Scope.of([BJ]), Filters(regions=(GD,)))
    # whole book: 6 loans × 3 months + SH1 × 2 = 20 loan-months; bad: BX × 3, G5 × 2
    assert (book["base_loan_months"] == 20).all() and (book["base_bad"] == 5).all()
    assert _counts_of(book, "dpd_1+") == [3, 3, 1]  # G1, BX at Jan (BX bad), G3 at Feb; SH1 never
    # CA at Jan and Feb (G1, BX), CB at Feb (G2, G3), CC at Dec, Jan, Feb (G4, G5)
    assert _counts_of(book, "multiple_delinquent") == [12, 6, 4]
    # GD: 15 loan-months, bad G5 × 2; CA has one delinquent loan in GD: no alert
    assert (gd["base_loan_months"] == 15).all() and gd.set_index("rule").loc["dpd_1+", "base_rate"] == pytest.approx(2 / 15)
    assert _counts_of(gd, "dpd_1+") == [2, 2, 0] and _counts_of(gd, "dpd_30+") == [1, 1, 0]
    assert _counts_of(gd, "multiple_delinquent") == [8, 4, 2]
    assert (gd["first_month"] == MONTHS[0]).all() and (gd["months"] == 3).all()
    # mortgages: G2 alone; CB's other loan is a consumer loan: no multiple_delinquent
    assert (mortgage["base_loan_months"] == 3).all() and mortgage["base_rate"].eq(0).all()
    assert _counts_of(mortgage, "dpd_30+") == [1, 1, 0] and _counts_of(mortgage, "multiple_delinquent") == [0, 0, 0]
    assert math.isnan(mortgage.set_index("rule").loc["dpd_30+", "lift"])
    assert _counts_of(sme, "multiple_delinquent") == [6, 2, 2] and (sme["base_loan_months"] == 6).all()
    assert (bj_asking_gd["alerts"] == 0).all() and (bj_asking_gd["months"] == 0).all()


def test_every_scope_and_filter_gets_the_live_backtest_from_one_book(groups, monkeypatch):
    book = _count(monkeypatch, "_compute_book")
    cases = [
        (Scope.all(), Filters()), (Scope.of([GD]), Filters()), (Scope.of([BJ]), Filters()),
        (Scope.of([GD, BJ]), Filters(products=("mortgage",))), (Scope.all(), Filters(segments=("sme",))),
        (Scope.all(), Filters(regions=(GD, BJ), products=("consumer",), segments=("retail",))),
        (Scope.of([BJ]), Filters(regions=(GD,))), (Scope.of([]), Filters()),
        (Scope.of([GD]), Filters(end=MONTHS[2])),
    ]
    with groups.connect() as c:
        for scope, filters in cases:
            assert_frame_equal(backtest(c, scope, filters), backtest(c, scope, filters, use_cache=False))
    assert len(book) == 1  # computed once for all of them
    live = _count(monkeypatch, "_backtest")
    with groups.connect() as c:
        # SH's back-test starts at Jan 2023, the book's at Dec 2022: computed live for SH
        sh = backtest(c, Scope.of([SH]), Filters())
        assert len(live) == 1 and (sh["months"] == 2).all() and (sh["base_loan_months"] == 2).all()
        # from Jan 2023: another book (its months), which SH's back-test now shares
        assert_frame_equal(backtest(c, Scope.of([SH]), Filters(start=MONTHS[1])), sh)
        assert_frame_equal(backtest(c, Scope.of([GD]), Filters(start=MONTHS[1])),
                           backtest(c, Scope.of([GD]), Filters(start=MONTHS[1]), use_cache=False))
    assert len(book) == 2 and len(live) == 1 + 1  # and the use_cache=False reference
