"""data.overview.book_cube and what the Overview derives from it (cube_kpis, cube_movers),
on DuckDB and PostgreSQL: the cube's rows worked out by hand, and the KPI series and movers
from the cube equal to those read straight from the store (monthly_kpis, movers)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from data import overview as ov
from data.bulk import insert_frame
from data.read import Filters, Scope
from data.reports import monthly_kpis
from data.schema import Loan, Performance, Region

FEB, MAR = dt.date(2024, 2, 29), dt.date(2024, 3, 31)


def _perf(loan, as_of, region, product, segment, bal, dpd, cls, status="active"):
    return dict(loan_id=loan, as_of=as_of, region_code=region, branch_id=None, product=product, segment=segment,
                outstanding_principal=bal, dpd=dpd, credit_score=650, status=status, classification=cls)


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    """The kept cubes (data.result_cache) in a folder of the test's own."""
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path / "cache"))
    ov._CUBE_CACHE.clear_memory()


@pytest.fixture
def store(engine):
    """Guangdong (440000) and Beijing (110000), mortgage and consumer, February and March 2024."""
    perf = pd.DataFrame([
        _perf("G1", FEB, "440000", "mortgage", "retail", 1000.10, 0, "normal"),
        _perf("G2", FEB, "440000", "mortgage", "retail", 200.25, 35, "special_mention"),
        _perf("G3", FEB, "440000", "consumer", "sme", 300.00, 95, "substandard"),
        _perf("B1", FEB, "110000", "consumer", "retail", 500.05, 10, "normal"),
        _perf("G1", MAR, "440000", "mortgage", "retail", 990.10, 0, "normal"),
        _perf("G2", MAR, "440000", "mortgage", "retail", 200.25, 65, "special_mention"),
        _perf("G4", MAR, "440000", "mortgage", "retail", 0.01, 1, "normal"),
        _perf("G3", MAR, "440000", "consumer", "sme", 300.00, 125, "doubtful"),
        _perf("B1", MAR, "110000", "consumer", "retail", 480.05, 0, "normal"),
        _perf("B2", MAR, "110000", "consumer", "retail", 700.00, 0, "normal", status="closed"),  # not in the book
    ])
    loans = perf.drop_duplicates("loan_id")[["loan_id", "region_code", "branch_id", "product", "segment"]].assign(
        customer_id="C", disbursement_date=dt.date(2023, 1, 1), maturity_date=dt.date(2028, 1, 1),
        principal=2000.0, interest_rate=0.05)
    with engine.begin() as c:
        insert_frame(c, Region.__table__, pd.DataFrame([
            dict(region_code="110000", region_set="cn_provinces", name_zh="北京市", short_zh="北京", name_en="Beijing"),
            dict(region_code="440000", region_set="cn_provinces", name_zh="广东省", short_zh="广东", name_en="Guangdong"),
        ]))
        insert_frame(c, Loan.__table__, loans)
        insert_frame(c, Performance.__table__, perf)
    return engine


def test_book_cube_by_hand(store):
    with store.connect() as c:
        cube = ov.book_cube(c, Scope.all(), Filters())
        gd = ov.book_cube(c, Scope.of(["440000"]), Filters(as_of=MAR, segments=("retail",)))
    rows = [tuple(r) for r in cube[list(ov.CUBE_COLUMNS)].itertuples(index=False)]
    assert rows == [
        # month, region, product, dpd band (0: ≤ 0, 1: 1-30, 2: 31-90, 3: > 90), class, loans, Σ balance in cents
        (FEB, "110000", "consumer", 1, "normal", 1, 50005),
        (FEB, "440000", "consumer", 3, "substandard", 1, 30000),
        (FEB, "440000", "mortgage", 0, "normal", 1, 100010),
        (FEB, "440000", "mortgage", 2, "special_mention", 1, 20025),
        (MAR, "110000", "consumer", 0, "normal", 1, 48005),  # B2 is closed: not in the book
        (MAR, "440000", "consumer", 3, "doubtful", 1, 30000),
        (MAR, "440000", "mortgage", 0, "normal", 1, 99010),
        (MAR, "440000", "mortgage", 1, "normal", 1, 1),
        (MAR, "440000", "mortgage", 2, "special_mention", 1, 20025),
    ]
    assert cube.attrs["filters"] == Filters()
    # the scope and the filters are applied in the database: Guangdong's retail book of March
    assert [tuple(r) for r in gd[["region_code", "product", "dpd_band", "loans", "balance_cents"]].itertuples(index=False)] == [
        ("440000", "mortgage", 0, 1, 99010), ("440000", "mortgage", 1, 1, 1), ("440000", "mortgage", 2, 1, 20025),
    ]


@pytest.mark.parametrize("filters", [
    Filters(),
    Filters(regions=("440000",)),
    Filters(products=("mortgage",), start=MAR),
    Filters(as_of=MAR, regions=("110000", "440000"), products=("consumer",)),
    Filters(regions=("999999",)),
])
@pytest.mark.parametrize("by", [(), ("product",)])
def test_cube_kpis_are_monthly_kpis(store, filters, by):
    with store.connect() as c:
        cube = ov.book_cube(c, Scope.all(), ov.cube_filters(filters))
        direct = monthly_kpis(c, Scope.all(), filters, by)
    from_cube = ov.cube_kpis(cube, filters, by=by)
    if direct.empty:
        assert from_cube.empty
        return
    pd.testing.assert_frame_equal(from_cube, direct, check_exact=True)
    if filters == Filters() and not by:  # March by hand: 990.10 + 200.25 + 0.01 + 300.00 + 480.05
        mar = from_cube.set_index("as_of").loc[MAR]
        assert mar["balance"] == 1970.41 and mar["loans"] == 5
        assert mar["balance_dpd_gt_0"] == 500.26 and mar["balance_dpd_gt_30"] == 500.25 and mar["balance_dpd_gt_90"] == 300.0
        assert mar["npl_ratio"] == pytest.approx(300.0 / 1970.41)


def test_cube_movers_are_the_movers_and_need_the_same_segments(store):
    with store.connect() as c:
        moved = ov.movers(c, Scope.all(), Filters(), MAR)
        cube = ov.book_cube(c, Scope.all(), Filters())
        names = pd.DataFrame({"region_code": ["110000", "440000"], "name_zh": ["北京市", "广东省"],
                              "short_zh": ["北京", "广东"], "name_en": ["Beijing", "Guangdong"]})
        retail = ov.book_cube(c, Scope.all(), Filters(segments=("retail",)))
    from_cube = ov.cube_movers(cube, Filters(), MAR, names)
    for by in ov.MOVER_DIMENSIONS:
        pd.testing.assert_frame_equal(from_cube[by], moved[by], check_exact=True)
    gd = from_cube["region_code"].set_index("region_code").loc["440000"]
    # Guangdong: February 1500.35, March 1490.36 (G4's 0.01 is new); 30+ DPD 500.25 of each
    assert gd["balance"] == 1490.36 and gd["balance_prev"] == 1500.35
    assert gd["balance_change"] == pytest.approx(1490.36 / 1500.35 - 1)
    assert gd["overdue_rate_30_balance_change"] == pytest.approx(500.25 / 1490.36 - 500.25 / 1500.35)
    mortgage = from_cube["product"].set_index("product").loc["mortgage"]
    assert mortgage["loans"] == 3 and mortgage["npl_ratio"] == 0.0
    with pytest.raises(ValueError, match="segments"):
        ov.cube_kpis(retail, Filters())


def test_the_cube_is_kept_until_the_next_import(store, tmp_path):
    with store.connect() as c:
        first = ov.book_cube(c, Scope.all(), Filters())
        ov._CUBE_CACHE.clear_memory()  # as after a server restart: from the Parquet file
        again = ov.book_cube(c, Scope.all(), Filters())
        direct = monthly_kpis(c, Scope.all(), Filters())
        other_scope = ov.book_cube(c, Scope.of(["110000"]), Filters())
    assert list((tmp_path / "cache" / "book_cube").glob("*.parquet"))
    assert again.attrs["filters"] == Filters()
    pd.testing.assert_frame_equal(ov.cube_kpis(again, Filters()), direct, check_exact=True)
    pd.testing.assert_frame_equal(ov.cube_kpis(first, Filters()), direct, check_exact=True)
    assert set(other_scope["region_code"]) == {"110000"}  # the scope is part of the key
    # a new month in the store (a new data version) is read, not the kept cube
    with store.begin() as c:
        insert_frame(c, Performance.__table__, pd.DataFrame([
            _perf("B1", dt.date(2024, 4, 30), "110000", "consumer", "retail", 470.05, 0, "normal")]))
    with store.connect() as c:
        newer = ov.book_cube(c, Scope.all(), Filters())
    assert newer["as_of"].max() == dt.date(2024, 4, 30)
