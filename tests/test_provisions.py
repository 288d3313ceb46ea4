"""Five-level classification and provisions: floor exceptions, class migration, NPL,
benchmark provisions, coverage and the gaps to the regulatory minimums.

Store tests use the seven-loan tape of ``test_delinquency`` on DuckDB and PostgreSQL; the
expected figures are worked out by hand in the comments.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from analytics.classification import CLASSES, floor_class
from analytics.kpi import ProvisionPolicy, book_kpis, provision_kpis, safe_ratio
from analytics.provisions import (
    CLASS_LABELS,
    DEFINITIONS,
    METRIC_LABELS,
    MIGRATION_STATES,
    exception_mask,
    floor_rank,
    migration_matrix,
    provision_table,
    regulatory_check,
)
from data import classification as dc
from data.bulk import insert_frame
from data.classification import MigrationCell
from data.read import Filters, Scope
from data.schema import Loan, Performance
from test_delinquency import BJ, FEB, GD, JAN, MAR, load_tape

ALL = Scope.all()
NAN = float("nan")


@pytest.fixture
def tape(engine):
    load_tape(engine)
    return engine


def _matrix(rows: dict[str, dict[str, float]]) -> pd.DataFrame:
    m = pd.DataFrame(NAN, index=pd.Index(CLASSES, name="from_state"), columns=pd.Index(MIGRATION_STATES, name="to_state"))
    for r, entries in rows.items():
        m.loc[r] = 0.0
        for c, v in entries.items():
            m.loc[r, c] = v
    return m


# ---------------------------------------------------------------- floor and exceptions


def test_floor_rank_and_exception_mask():
    dpd = np.array([0, 1, 90, 91, 270, 271, 360, 361])
    assert list(floor_rank(dpd)) == [0, 1, 1, 2, 2, 3, 3, 4]
    assert [CLASSES[i] for i in floor_rank(dpd)] == list(floor_class(dpd))
    reported = ["normal", "normal", "special_mention", "special_mention", "doubtful", None, "bogus", "substandard"]
    # better than floor: dpd 1 reported normal; dpd 91 reported special mention; dpd 361 reported substandard.
    assert list(exception_mask(dpd, reported)) == [False, True, False, True, False, False, False, True]


def test_sql_floor_matches_python_at_every_edge(engine):
    dpd = [0, 1, 90, 91, 270, 271, 360, 361]
    ids = [f"E{i}" for i in range(len(dpd))]
    loans = pd.DataFrame({"loan_id": ids, "customer_id": "C", "region_code": GD, "product": "consumer",
                          "segment": "retail", "disbursement_date": dt.date(2023, 1, 1),
                          "maturity_date": dt.date(2030, 1, 1), "principal": 100.0, "interest_rate": 0.05})
    perf = pd.DataFrame({"loan_id": ids, "as_of": JAN, "region_code": GD, "product": "consumer", "segment": "retail",
                         "outstanding_principal": [float(10 * (i + 1)) for i in range(len(dpd))], "dpd": dpd,
                         "status": "active", "classification_reported": "normal",
                         "classification": floor_class(dpd)})
    with engine.begin() as c:
        insert_frame(c, Loan.__table__, loans)
        insert_frame(c, Performance.__table__, perf)
    with engine.connect() as c:
        exc = dc.exceptions(c, ALL, Filters(), JAN)
    got = exc.loans.set_index("loan_id")
    assert exc.total == 7  # every loan with dpd > 0 reported "normal"
    expected = dict(zip(ids[1:], floor_class(dpd[1:])))
    assert got["floor_class"].to_dict() == expected


def test_exceptions_list(tape):
    with tape.connect() as c:
        jan = dc.exceptions(c, ALL, Filters(as_of=MAR), JAN)  # the month argument wins over as_of
        feb = dc.exceptions(c, ALL, Filters(), FEB)
        mar = dc.exceptions(c, ALL, Filters(), MAR)
        bj = dc.exceptions(c, Scope.of([BJ]), Filters(), JAN)
        capped = dc.exceptions(c, ALL, Filters(), JAN, limit=1)
    # Jan: L2 15 dpd reported normal (floor 关注); L5 100 dpd reported 关注 (floor 次级).
    # L6 has no reported class; L7 is reported at its floor.
    assert jan.total == 2
    assert jan.loans[["loan_id", "balance", "dpd", "classification_reported", "floor_class", "classification"]].to_dict(
        "records"
    ) == [
        dict(loan_id="L2", balance=2000.0, dpd=15, classification_reported="normal",
             floor_class="special_mention", classification="special_mention"),
        dict(loan_id="L5", balance=500.0, dpd=100, classification_reported="special_mention",
             floor_class="substandard", classification="substandard"),
    ]
    assert list(jan.loans.columns[:9]) == ["loan_id", "customer_id", "region_code", "branch_id", "product",
                                           "balance", "dpd", "classification", "credit_score"]
    # Feb: L3 20 dpd reported normal; L4 reported 关注 at 0 dpd is worse than its floor: no exception.
    assert feb.total == 1 and list(feb.loans["loan_id"]) == ["L3"]
    assert mar.total == 1 and list(mar.loans["loan_id"]) == ["L7"]  # 35 dpd reported normal
    assert bj.total == 0 and bj.loans.empty
    assert capped.total == 2 and list(capped.loans["loan_id"]) == ["L2"]


def test_exception_counts(tape):
    with tape.connect() as c:
        counts = dc.exception_counts(c, ALL, Filters())
    expected = pd.DataFrame({
        "as_of": [JAN, FEB, MAR],
        "loans": [7, 4, 5],
        "balance": [12400.0, 9700.0, 10700.0],
        "loans_exceptions": [2, 1, 1],
        "balance_exceptions": [2500.0, 2900.0, 1000.0],
        "share_count": [2 / 7, 1 / 4, 1 / 5],
        "share_balance": [2500 / 12400, 2900 / 9700, 1000 / 10700],
    })
    assert_frame_equal(counts, expected)


# ---------------------------------------------------------------- migration


def test_migration_jan_feb_has_written_off_and_missing(tape):
    with tape.connect() as c:
        count = dc.migration_matrix(c, ALL, Filters(), JAN, FEB, "count")
        balance = dc.migration_matrix(c, ALL, Filters(), JAN, FEB, "balance")
    # normal at Jan: L1 (900) stays normal, L3 (3,000) becomes 关注, L6 (1,000) has no Feb row.
    # 关注: L2, L4 stay. 次级: L5 (500) written off, L7 (1,000) no Feb row.
    assert_frame_equal(count, _matrix({
        "normal": {"normal": 1 / 3, "special_mention": 1 / 3, "missing": 1 / 3},
        "special_mention": {"special_mention": 1.0},
        "substandard": {"written_off": 1 / 2, "missing": 1 / 2},
    }))
    assert_frame_equal(balance, _matrix({
        "normal": {"normal": 900 / 4900, "special_mention": 3000 / 4900, "missing": 1000 / 4900},
        "special_mention": {"special_mention": 1.0},
        "substandard": {"written_off": 500 / 1500, "missing": 1000 / 1500},
    }))
    np.testing.assert_allclose(count.dropna().sum(axis=1), 1.0)
    np.testing.assert_allclose(balance.dropna().sum(axis=1), 1.0)


def test_migration_jan_mar_has_closed(tape):
    with tape.connect() as c:
        count = dc.migration_matrix(c, ALL, Filters(), JAN, MAR, "count")
        balance = dc.migration_matrix(c, ALL, Filters(), JAN, MAR, "balance")
        cell = dc.migration_drill_down(c, ALL, Filters(), MigrationCell(JAN, MAR, "special_mention", "doubtful"))
    # normal: L1 closed, L3 L6 normal. 关注: L2 → 可疑, L4 stays. 次级: L5 gone (missing), L7 → 关注.
    assert_frame_equal(count, _matrix({
        "normal": {"normal": 2 / 3, "closed": 1 / 3},
        "special_mention": {"special_mention": 1 / 2, "doubtful": 1 / 2},
        "substandard": {"special_mention": 1 / 2, "missing": 1 / 2},
    }))
    assert_frame_equal(balance, _matrix({
        "normal": {"normal": 4000 / 4900, "closed": 900 / 4900},
        "special_mention": {"special_mention": 4000 / 6000, "doubtful": 2000 / 6000},
        "substandard": {"special_mention": 1000 / 1500, "missing": 500 / 1500},
    }))
    assert cell.total == 1 and list(cell.loans["loan_id"]) == ["L2"]
    assert cell.loans["class_next"].iloc[0] == "doubtful" and cell.loans["classification"].iloc[0] == "special_mention"


def test_migration_empty_and_one_loan():
    assert migration_matrix(pd.DataFrame(columns=["from_state", "to_state", "loans", "balance"])).isna().all().all()
    one = migration_matrix(pd.DataFrame({"from_state": ["loss"], "to_state": ["written_off"], "loans": [1],
                                         "balance": [0.0]}), "balance")
    assert one.isna().all().all()  # zero balance at a: the balance share is undefined
    one = migration_matrix(pd.DataFrame({"from_state": ["loss"], "to_state": ["written_off"], "loans": [1],
                                         "balance": [0.0]}), "count")
    assert one.loc["loss", "written_off"] == 1.0 and one.loc["loss"].sum() == 1.0


# ---------------------------------------------------------------- provisions


def test_provision_table_jan(tape):
    with tape.connect() as c:
        t = dc.provision_table(c, ALL, Filters(), JAN)
    # Jan: normal L1 L3 L6 4,900; 关注 L2 L4 6,000; 次级 L5 L7 1,500; total 12,400.
    expected = pd.DataFrame({
        "class": ["normal", "special_mention", "substandard", "doubtful", "loss", "general_reserve", "total"],
        "label": ["Normal 正常", "Special mention 关注", "Substandard 次级", "Doubtful 可疑", "Loss 损失",
                  "General reserve 一般准备", "Total 合计"],
        "name_zh": ["正常", "关注", "次级", "可疑", "损失", "一般准备", "合计"],
        "loans": [3, 2, 2, 0, 0, 7, 7],
        "balance": [4900.0, 6000.0, 1500.0, 0.0, 0.0, 12400.0, 12400.0],
        "rate": [0.0, 0.02, 0.25, 0.50, 1.00, 0.01, 619 / 12400],
        # 2 % of 6,000 = 120; 25 % of 1,500 = 375; 1 % of 12,400 = 124; total 619.
        "provision": [0.0, 120.0, 375.0, 0.0, 0.0, 124.0, 619.0],
    })
    assert_frame_equal(t, expected, check_dtype=False)


def test_provision_table_mar_and_by_region_rows_are_summed(tape):
    with tape.connect() as c:
        t = dc.provision_table(c, ALL, Filters(regions=(GD, BJ)), MAR).set_index("class")
    # Mar: normal L3 L6 3,700; 关注 L4 L7 5,000 (100); 可疑 L2 2,000 (1,000); 1 % of 10,700 = 107.
    assert list(t["balance"]) == [3700.0, 5000.0, 0.0, 2000.0, 0.0, 10700.0, 10700.0]
    assert list(t["provision"]) == pytest.approx([0.0, 100.0, 0.0, 1000.0, 0.0, 107.0, 1207.0])
    agg = pd.DataFrame({"as_of": [MAR, MAR], "region_code": [GD, BJ], "loans": [1, 1], "balance": [100.0, 300.0],
                        **{f"balance_{c}": [100.0 if c == "loss" else 0.0, 300.0 if c == "normal" else 0.0]
                           for c in CLASSES},
                        **{f"loans_{c}": [int(c == "loss"), int(c == "normal")] for c in CLASSES}})
    summed = provision_table(agg).set_index("class")
    assert summed.loc["total", "provision"] == pytest.approx(4.0 + 100.0)  # 1 % of 400 + 100 % of 100
    with pytest.raises(ValueError, match="several months"):
        provision_table(pd.concat([agg, agg.assign(as_of=FEB)]))


def test_provision_check_by_month(tape):
    with tape.connect() as c:
        k = dc.provision_check(c, ALL, Filters())
    assert list(k["as_of"]) == [JAN, FEB, MAR]
    # Jan: NPL 1,500 (次级 L5 L7); provisions 619; coverage 619 / 1,500 < 150 % → short 2,250 − 619 = 1,631;
    #      拨贷比 619 / 12,400 = 5.0 % ≥ 2.5 %.
    # Feb: no NPL → coverage null, met; provisions 1 % × 9,700 + 2 % × 8,900 = 97 + 178 = 275; 275 / 9,700 = 2.8 %.
    # Mar: NPL 2,000 (可疑 L2); provisions 1,207; short 3,000 − 1,207 = 1,793.
    assert list(k["npl_balance"]) == [1500.0, 0.0, 2000.0]
    np.testing.assert_allclose(k["npl_ratio"], [1500 / 12400, 0.0, 2000 / 10700])
    np.testing.assert_allclose(k["provisions"], [619.0, 275.0, 1207.0])
    np.testing.assert_allclose(k["provision_coverage"], [619 / 1500, NAN, 1207 / 2000])
    assert list(k["coverage_met"]) == [False, True, False]
    np.testing.assert_allclose(k["coverage_gap"], [1631.0, 0.0, 1793.0])
    np.testing.assert_allclose(k["loan_provision_ratio"], [619 / 12400, 275 / 9700, 1207 / 10700])
    assert list(k["loan_provision_met"]) == [True, True, True]
    np.testing.assert_allclose(k["loan_provision_gap"], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(k["shortfall"], [1631.0, 0.0, 1793.0])
    assert list(k["min_coverage"]) == [1.5] * 3 and list(k["min_loan_provision_ratio"]) == [0.025] * 3


def test_provision_check_loan_provision_ratio_breached(tape):
    with tape.connect() as c:
        k = dc.provision_check(c, ALL, Filters(as_of=FEB), by=("region_code",))
        lenient = dc.provision_check(c, ALL, Filters(as_of=FEB), by=("region_code",),
                                     policy=ProvisionPolicy(min_coverage=1.2, min_loan_provision_ratio=0.02))
        jan_lenient = dc.provision_check(c, ALL, Filters(as_of=JAN),
                                         policy=ProvisionPolicy(min_coverage=1.2, min_loan_provision_ratio=0.02))
    gd = k.set_index("region_code").loc[GD]
    # 440000 in Feb: L1 800 normal, L2 2,000 关注 → provisions 28 + 40 = 68; 68 / 2,800 = 2.43 % < 2.5 %:
    # short 2.5 % × 2,800 − 68 = 70 − 68 = 2. No NPL: coverage null and met.
    assert gd["provisions"] == pytest.approx(68.0)
    assert gd["loan_provision_ratio"] == pytest.approx(68 / 2800)
    assert not gd["loan_provision_met"] and gd["loan_provision_gap"] == pytest.approx(2.0)
    assert math.isnan(gd["provision_coverage"]) and gd["coverage_met"] and gd["coverage_gap"] == 0.0
    assert gd["shortfall"] == pytest.approx(2.0)
    # 110000 in Feb: L3 2,900 + L4 4,000 关注 → 69 + 138 = 207 = 3 % of 6,900: met.
    bj = k.set_index("region_code").loc[BJ]
    assert bj["loan_provision_met"] and bj["loan_provision_gap"] == 0.0
    # At a 2 % minimum 440000 is fine (2 % × 2,800 = 56 ≤ 68).
    assert lenient.set_index("region_code").loc[GD, "loan_provision_gap"] == 0.0
    # At a 120 % coverage minimum Jan is short 1.2 × 1,500 − 619 = 1,181.
    assert jan_lenient["coverage_gap"].iloc[0] == pytest.approx(1181.0)


def test_provision_kpis_one_loss_loan():
    agg = pd.DataFrame({"balance": [1000.0], **{f"balance_{c}": [1000.0 if c == "loss" else 0.0] for c in CLASSES}})
    k = provision_kpis(agg)
    # 1 % × 1,000 + 100 % × 1,000 = 1,010; coverage 1.01 < 1.5 → short 1,500 − 1,010 = 490.
    assert k["provisions"].iloc[0] == 1010.0
    assert k["provision_coverage"].iloc[0] == pytest.approx(1.01)
    assert k["coverage_gap"].iloc[0] == pytest.approx(490.0)
    assert k["loan_provision_gap"].iloc[0] == 0.0


def test_book_kpis_keeps_its_columns():
    agg = pd.DataFrame({"as_of": [JAN], "loans": [1], "balance": [100.0],
                        **{f"loans_dpd_gt_{k}": [0] for k in (0, 30, 90)},
                        **{f"balance_dpd_gt_{k}": [0.0] for k in (0, 30, 90)},
                        **{f"balance_{c}": [100.0 if c == "normal" else 0.0] for c in CLASSES},
                        **{f"loans_{c}": [int(c == "normal")] for c in CLASSES}})
    k = book_kpis(agg)
    for col in ("overdue_rate_1_balance", "overdue_rate_90_count", "npl_ratio", "provisions", "provision_coverage",
                "loan_provision_ratio", "coverage_gap", "loan_provision_gap"):
        assert col in k.columns
    assert math.isnan(k["provision_coverage"].iloc[0]) and k["provisions"].iloc[0] == 1.0
    assert k["loan_provision_gap"].iloc[0] == pytest.approx(1.5)  # 2.5 % of 100 − 1
    assert safe_ratio(1.0, 0.0) != safe_ratio(1.0, 0.0)  # NaN, not ZeroDivisionError


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(min_coverage=1.19), "min_coverage"),
        (dict(min_coverage=1.51), "min_coverage"),
        (dict(min_loan_provision_ratio=0.0149), "min_loan_provision_ratio"),
        (dict(min_loan_provision_ratio=0.026), "min_loan_provision_ratio"),
        (dict(general_rate=1.5), "general_rate"),
        (dict(specific_rates=(("normal", 0.0),)), "specific_rates"),
        (dict(specific_rates=tuple((c, 2.0) for c in CLASSES)), "specific rates"),
    ],
)
def test_policy_validates_ranges(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProvisionPolicy(**kwargs)


def test_policy_accepts_range_ends():
    for cov, lpr in ((1.2, 0.015), (1.5, 0.025)):
        p = ProvisionPolicy(min_coverage=cov, min_loan_provision_ratio=lpr)
        assert p.min_coverage == cov and p.rate("doubtful") == 0.5


def test_missing_class_column_is_named():
    with pytest.raises(ValueError, match=r"book aggregate: frame is missing column\(s\) \['balance_loss'\]"):
        regulatory_check(pd.DataFrame(columns=["balance", *(f"balance_{c}" for c in CLASSES[:-1])]))


# ---------------------------------------------------------------- empty store


def test_empty_store(engine):
    with engine.connect() as c:
        t = dc.provision_table(c, ALL, Filters(), JAN)
        assert dc.provision_check(c, ALL, Filters()).empty
        assert dc.exception_counts(c, ALL, Filters()).empty
        exc = dc.exceptions(c, ALL, Filters(), JAN)
        assert dc.migration_matrix(c, ALL, Filters(), JAN, FEB).isna().all().all()
    assert exc.total == 0 and exc.loans.empty
    assert list(t["provision"]) == [0.0] * 7 and math.isnan(t.set_index("class").loc["total", "rate"])


# ---------------------------------------------------------------- labels


def test_labels_carry_chinese_regulatory_names():
    assert [CLASS_LABELS[c][-2:] for c in CLASSES] == ["正常", "关注", "次级", "可疑", "损失"]
    assert "拨备覆盖率" in METRIC_LABELS["provision_coverage"]
    assert "拨贷比" in METRIC_LABELS["loan_provision_ratio"]
    assert "不良贷款率" in METRIC_LABELS["npl_ratio"]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in label) for label in METRIC_LABELS.values())
    assert all(set(d) == {"en", "zh"} for d in DEFINITIONS.values())


# ---------------------------------------------------------------- properties

# Balances are money: whole cents (a float like 5e-324 is no balance, and underflows the ratios).
_class_balances = st.lists(st.integers(0, 10**11).map(lambda cents: cents / 100), min_size=5, max_size=5)


@settings(max_examples=100, deadline=None)
@given(st.lists(_class_balances, min_size=1, max_size=5),
       st.floats(1.2, 1.5), st.floats(0.015, 0.025))
def test_property_provisions_never_below_general_reserve(rows, min_cov, min_lpr):
    agg = pd.DataFrame(rows, columns=[f"balance_{c}" for c in CLASSES])
    agg["balance"] = agg.sum(axis=1)
    policy = ProvisionPolicy(min_coverage=min_cov, min_loan_provision_ratio=min_lpr)
    k = regulatory_check(agg, policy)
    assert (k["provisions"] >= 0.01 * k["balance"] * (1 - 1e-12)).all()
    npl = k["npl_ratio"].dropna()
    assert ((npl >= 0) & (npl <= 1 + 1e-12)).all()
    assert (k["coverage_gap"] >= 0).all() and (k["loan_provision_gap"] >= 0).all()
    # A gap is exactly what brings the ratio to its minimum; no gap means the minimum is met.
    cov_after = safe_ratio(k["provisions"] + k["coverage_gap"], k["npl_balance"])
    assert (cov_after.dropna() >= min_cov * (1 - 1e-9)).all()
    lpr_after = safe_ratio(k["provisions"] + k["loan_provision_gap"], k["balance"])
    assert (lpr_after.dropna() >= min_lpr * (1 - 1e-9)).all()
    table = provision_table(agg.iloc[[0]].assign(loans=1, **{f"loans_{c}": 0 for c in CLASSES}), policy)
    total = table.set_index("class").loc["total", "provision"]
    assert total >= 0.01 * agg["balance"].iloc[0] * (1 - 1e-12)
    assert total == pytest.approx(k["provisions"].iloc[0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.sampled_from([*CLASSES, None])), max_size=30))
def test_property_an_exception_is_exactly_reported_better_than_floor(rows):
    dpd = np.array([r[0] for r in rows], dtype=np.int64)
    reported = [r[1] for r in rows]
    mask = exception_mask(dpd, reported)
    rank = {c: i for i, c in enumerate(CLASSES)}
    for d, rep, m in zip(dpd, reported, mask):
        assert m == (rep is not None and rank[rep] < rank[floor_class([d])[0]])
