"""analytics.overview: the Overview page's movers, high-alert counts and month provisions,
on small hand-made frames with the expected numbers worked out by hand."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from analytics import overview as ao
from analytics.classification import CLASSES

JAN, FEB, MAR, APR = dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31), dt.date(2024, 4, 30)


def _row(as_of, product, region, loans, balance, gt0=(0, 0.0), gt30=(0, 0.0), gt90=(0, 0.0), **classes):
    """One ``book_aggregates`` row; ``classes`` gives (loans, balance) per class, the rest 0."""
    row = {"as_of": as_of, "product": product, "region_code": region, "loans": loans, "balance": balance}
    for k, (n, b) in ((0, gt0), (30, gt30), (90, gt90)):
        row[f"loans_dpd_gt_{k}"], row[f"balance_dpd_gt_{k}"] = n, b
    for c in CLASSES:
        row[f"loans_{c}"], row[f"balance_{c}"] = classes.get(c, (0, 0.0))
    return row


def _sums() -> pd.DataFrame:
    return pd.DataFrame([
        # January: A in R1 (100 of 600 at 31-89 dpd, substandard) and R2; C in R2 only
        _row(JAN, "A", "R1", 2, 600.0, gt0=(1, 100.0), gt30=(1, 100.0), normal=(1, 500.0), substandard=(1, 100.0)),
        _row(JAN, "A", "R2", 2, 400.0, normal=(2, 400.0)),
        _row(JAN, "C", "R2", 1, 100.0, normal=(1, 100.0)),
        # February: A in R1 (200 of 500 past 90 dpd, doubtful) and R2; B new in R1; C gone
        _row(FEB, "A", "R1", 2, 500.0, gt0=(1, 200.0), gt30=(1, 200.0), gt90=(1, 200.0),
             normal=(1, 300.0), doubtful=(1, 200.0)),
        _row(FEB, "A", "R2", 1, 300.0, normal=(1, 300.0)),
        _row(FEB, "B", "R1", 1, 50.0, normal=(1, 50.0)),
    ])


def test_group_changes_by_product_by_hand():
    out = ao.group_changes(_sums(), "product", FEB, JAN)
    # C has no book in February: no row. A: Jan balance 1000 (100 overdue, 100 NPL), Feb 800 (200, 200).
    assert out["product"].tolist() == ["A", "B"] and out["loans"].tolist() == [3, 1]
    a = out.iloc[0]
    assert a["balance"] == 800.0 and a["balance_prev"] == 1000.0
    assert a["balance_change"] == pytest.approx(800 / 1000 - 1)  # -0.2, a relative change
    assert a["overdue_rate_30_balance"] == pytest.approx(0.25) and a["overdue_rate_30_balance_prev"] == pytest.approx(0.1)
    assert a["overdue_rate_30_balance_change"] == pytest.approx(0.15)  # fraction points
    assert a["overdue_rate_90_balance_change"] == pytest.approx(0.25 - 0.0)
    assert a["overdue_rate_1_balance_change"] == pytest.approx(0.15)
    assert a["npl_ratio"] == pytest.approx(200 / 800) and a["npl_ratio_change"] == pytest.approx(0.25 - 0.1)
    # B is new: no previous value, no change
    b = out.iloc[1]
    assert math.isnan(b["balance_prev"]) and math.isnan(b["balance_change"]) and math.isnan(b["npl_ratio_change"])
    expected_cols = ["product", "loans"] + [f"{x}{s}" for x in ao.MOVER_METRICS for s in ("", "_prev", "_change")]
    assert out.columns.tolist() == expected_cols


def test_group_changes_by_region_sums_the_products():
    out = ao.group_changes(_sums(), "region_code", FEB, JAN).set_index("region_code")
    # R1: Jan A 600 (100 overdue); Feb A 500 (200 overdue) + B 50 = 550
    assert out.loc["R1", "loans"] == 3 and out.loc["R1", "balance"] == 550.0
    assert out.loc["R1", "balance_change"] == pytest.approx(550 / 600 - 1)  # -1/12
    assert out.loc["R1", "overdue_rate_30_balance_change"] == pytest.approx(200 / 550 - 100 / 600)  # 13/66
    # R2: Jan A 400 + C 100 = 500; Feb A 300; nothing overdue either month
    assert out.loc["R2", "balance_change"] == pytest.approx(300 / 500 - 1)  # -0.4
    assert out.loc["R2", "overdue_rate_30_balance_change"] == 0.0


def test_group_changes_of_a_month_without_a_book():
    out = ao.group_changes(_sums(), "product", MAR, FEB)
    assert out.empty and out.columns[0] == "product"
    assert ao.group_changes(_sums().iloc[0:0], "product", FEB, JAN).empty


def test_rank_movers_by_absolute_change():
    regions = ao.group_changes(_sums(), "region_code", FEB, JAN)
    # |13/66| = 0.197 > |0|
    assert ao.rank_movers(regions, "overdue_rate_30_balance", 5)["region_code"].tolist() == ["R1", "R2"]
    # |-0.4| > |-1/12|
    assert ao.rank_movers(regions, "balance", 1)["region_code"].tolist() == ["R2"]
    # B has no change (new in February): left out
    products = ao.group_changes(_sums(), "product", FEB, JAN)
    assert ao.rank_movers(products, "balance", 5)["product"].tolist() == ["A"]
    with pytest.raises(ValueError, match="metric must be one of"):
        ao.rank_movers(products, "psi")
    with pytest.raises(ValueError, match=r"rank_movers: frame is missing column\(s\) \['npl_ratio_change'\]"):
        ao.rank_movers(products[["product", "balance_change"]], "npl_ratio")


def test_high_alert_counts_only_for_the_given_months():
    counts = pd.DataFrame({
        "as_of": [JAN, JAN, JAN, FEB, MAR],
        "rule": ["x", "y", "z", "x", "x"],
        "level": ["high", "low", "high", "medium", "high"],
        "alerts": [3, 5, 2, 4, 9],
    })
    out = ao.high_alert_counts(counts, [JAN, FEB, APR])
    # January 3 + 2 high; February only medium: 0; April not in counts: 0; March not asked for
    assert out["as_of"].tolist() == [JAN, FEB, APR] and out["high_alerts"].tolist() == [5, 0, 0]
    assert out["high_alerts"].dtype == "int64"
    none = ao.high_alert_counts(counts, [])
    assert none.empty and none.columns.tolist() == ["as_of", "high_alerts"] and none["high_alerts"].dtype == "int64"


def test_with_alerts_sorts_and_leaves_unevaluated_months_blank():
    kpis = pd.DataFrame({"as_of": [MAR, JAN, FEB], "loans": [3, 1, 2]})
    out = ao.with_alerts(kpis, pd.DataFrame({"as_of": [JAN, MAR], "high_alerts": [4, 0]}))
    assert out["as_of"].tolist() == [JAN, FEB, MAR] and out["loans"].tolist() == [1, 2, 3]
    assert out["high_alerts"].tolist()[0] == 4.0 and np.isnan(out["high_alerts"].iloc[1]) and out["high_alerts"].iloc[2] == 0.0
    empty = ao.with_alerts(kpis.iloc[0:0], pd.DataFrame({"as_of": [JAN], "high_alerts": [1]}))
    assert empty.empty and "high_alerts" in empty.columns


def test_month_provisions_by_hand():
    kpis = pd.DataFrame([_row(JAN, "A", "R1", 1, 100.0, normal=(1, 100.0)),
                         _row(FEB, "A", "R1", 3, 800.0, normal=(2, 600.0), doubtful=(1, 200.0))])
    table, check = ao.month_provisions(kpis, FEB)
    t = table.set_index("class")
    # doubtful 50 % × 200 = 100; general 1 % × 800 = 8; total 108 = 13.5 % of 800
    assert t.loc["doubtful", "provision"] == pytest.approx(100.0) and t.loc["normal", "provision"] == 0.0
    assert t.loc["general_reserve", "provision"] == pytest.approx(8.0)
    assert t.loc["total", "provision"] == pytest.approx(108.0) and t.loc["total", "rate"] == pytest.approx(0.135)
    assert t.loc["total", "loans"] == 3 and t.loc["doubtful", "loans"] == 1
    c = check.iloc[0]
    assert len(check) == 1 and c["as_of"] == FEB
    assert c["npl_balance"] == pytest.approx(200.0) and c["provision_coverage"] == pytest.approx(108 / 200)
    assert not c["coverage_met"] and c["coverage_gap"] == pytest.approx(1.5 * 200 - 108)  # 192
    assert c["loan_provision_met"] and c["loan_provision_gap"] == 0.0 and c["shortfall"] == pytest.approx(192.0)
    # a month without a book: a table of zeros, a check without rows
    table, check = ao.month_provisions(kpis, MAR)
    assert check.empty and table["provision"].tolist() == [0.0] * 7 and math.isnan(table.set_index("class").loc["total", "rate"])


# --- the book cube: cube_rows and cube_sums ---------------------------------------------


def _cube() -> pd.DataFrame:
    return pd.DataFrame(
        [
            (JAN, "R1", "A", 0, "normal", 2, 50_000),  # 2 loans, 500.00
            (JAN, "R1", "A", 2, "substandard", 1, 10_050),  # 31-90 dpd, 100.50
            (JAN, "R2", "B", 3, "loss", 1, 2_500),  # past 90 dpd, 25.00
            (FEB, "R2", "B", 1, None, 1, 1),  # 1-30 dpd, 0.01, no class
        ],
        columns=list(ao.CUBE_COLUMNS),
    )


def test_cube_sums_by_hand():
    total = ao.cube_sums(_cube())
    assert total["as_of"].tolist() == [JAN, FEB]
    jan = total.iloc[0]
    assert jan["loans"] == 4 and jan["balance"] == 625.5
    assert (jan["loans_dpd_gt_0"], jan["balance_dpd_gt_0"]) == (2, 125.5)
    assert (jan["loans_dpd_gt_30"], jan["balance_dpd_gt_30"]) == (2, 125.5)
    assert (jan["loans_dpd_gt_90"], jan["balance_dpd_gt_90"]) == (1, 25.0)
    assert (jan["loans_normal"], jan["balance_normal"]) == (2, 500.0)
    assert (jan["loans_substandard"], jan["balance_substandard"]) == (1, 100.5)
    assert (jan["loans_loss"], jan["balance_loss"]) == (1, 25.0)
    feb = total.iloc[1]
    assert feb["balance"] == 0.01 and feb["loans_dpd_gt_0"] == 1 and feb["loans_dpd_gt_30"] == 0
    assert sum(feb[f"loans_{c}"] for c in CLASSES) == 0  # the unclassed loan counts in the book only
    assert total["loans"].dtype == np.int64 and total["balance"].dtype == np.float64
    by_region = ao.cube_sums(_cube(), ("region_code",))
    assert by_region[["as_of", "region_code", "loans"]].values.tolist() == [[JAN, "R1", 3], [JAN, "R2", 1], [FEB, "R2", 1]]
    sums = ["loans", "balance"] + [f"{k}_dpd_gt_{t}" for t in (0, 30, 90) for k in ("loans", "balance")] + [
        f"{k}_{c}" for c in CLASSES for k in ("loans", "balance")]
    assert by_region.columns.tolist() == ["as_of", "region_code"] + sums
    assert ao.cube_sums(_cube().iloc[0:0]).columns.tolist() == ["as_of"] + sums


def test_cube_sums_are_the_nearest_float_even_beyond_2_53_cents():
    # 0.1 + 0.2 summed as floats is 0.30000000000000004; as cents it is 30 → 0.3
    cube = pd.DataFrame([(JAN, "R1", "A", 0, "normal", 1, 10), (JAN, "R2", "A", 0, "normal", 1, 20)],
                        columns=list(ao.CUBE_COLUMNS))
    assert ao.cube_sums(cube)["balance"].iloc[0] == 0.3
    big = 2**53 + 1  # not a float: int → float would round before the division
    cube = pd.DataFrame([(JAN, "R1", "A", 0, "normal", 1, big)], columns=list(ao.CUBE_COLUMNS))
    assert ao.cube_sums(cube)["balance"].iloc[0] == float("90071992547409.93")


def test_cube_rows_pick_regions_products_and_months():
    cube = _cube()
    assert len(ao.cube_rows(cube)) == 4
    assert ao.cube_rows(cube, regions=["R2"])["as_of"].tolist() == [JAN, FEB]
    assert len(ao.cube_rows(cube, products=["A"], regions=["R2"])) == 0
    assert ao.cube_rows(cube, months=[FEB])["region_code"].tolist() == ["R2"]
    assert len(ao.cube_rows(cube, start=FEB)) == 1 and len(ao.cube_rows(cube, end=JAN)) == 3
