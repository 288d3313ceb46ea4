"""The roll summary (data/summaries.py): equal to the live self-join, kept current by every write.

Store tests run on DuckDB and PostgreSQL (the ``engine`` fixture). A six-loan, three-month tape
with its every summary row worked out by hand in the comments; then the same figures after a
generate, a month re-load through the importer, under a scope and filters; an insert that goes
around the importer makes reads fall back to the live join; a failed import leaves the summary
and its marker as they were.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from pandas.testing import assert_frame_equal

from data import delinquency as dd
from data import summaries
from data.bulk import insert_frame
from data.engine import _alembic_config, upgrade
from data.generate import generate_into
from data.importer import load_files, load_tables
from data.read import Filters, Scope, read_frame
from data.schema import Loan, Performance, RollSummary
from data.store import clear_portfolio
from data.summaries import (
    ROLL_SUMMARY_KEY,
    performance_changed,
    refresh_roll_summary,
    roll_summary_dirty,
    roll_summary_is_current,
    sync_roll_summary,
)
from store_helpers import performance_without_cohort

JAN, FEB, MAR, APR, MAY = (dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31), dt.date(2024, 4, 30),
                           dt.date(2024, 5, 31))
GD, BJ = "440000", "110000"
ALL = Scope.all()
S = RollSummary.__table__

# loan, region, product, segment
LOANS = [
    ("A1", GD, "consumer", "retail"),
    ("A2", GD, "consumer", "retail"),
    ("A3", GD, "mortgage", "sme"),
    ("A4", BJ, "consumer", "retail"),
    ("A5", BJ, "consumer", "sme"),
    ("A6", GD, "consumer", "retail"),
]
# loan, month, balance, dpd, status. A4 closes in Feb; A5 has no Feb row and is back in Mar;
# A2 cures in Feb and is written off in Mar.
PERF = [
    ("A1", JAN, 100, 0, "active"), ("A2", JAN, 200, 10, "active"), ("A3", JAN, 300, 40, "active"),
    ("A4", JAN, 400, 0, "active"), ("A5", JAN, 500, 95, "active"), ("A6", JAN, 50, 0, "active"),
    ("A1", FEB, 90, 0, "active"), ("A2", FEB, 190, 0, "active"), ("A3", FEB, 300, 70, "active"),
    ("A4", FEB, 0, 0, "closed"), ("A6", FEB, 40, 0, "active"),
    ("A1", MAR, 80, 5, "active"), ("A2", MAR, 0, 0, "written_off"), ("A3", MAR, 250, 0, "active"),
    ("A5", MAR, 500, 125, "active"), ("A6", MAR, 30, 0, "active"),
]
# to month, region, product, segment, from (bucket at m-1), to (at m), loans, Σ balance at m-1
EXPECTED = [
    # Jan → Feb: every loan active in Jan.
    (FEB, GD, "consumer", "retail", "current", "current", 2, 150.0),  # A1 100 + A6 50
    (FEB, GD, "consumer", "retail", "1-30", "current", 1, 200.0),  # A2 10 → 0 dpd
    (FEB, GD, "mortgage", "sme", "31-60", "61-90", 1, 300.0),  # A3 40 → 70
    (FEB, BJ, "consumer", "retail", "current", "closed", 1, 400.0),  # A4
    (FEB, BJ, "consumer", "sme", "91-180", "missing", 1, 500.0),  # A5: no Feb row
    # Feb → Mar: A1, A2, A3, A6 (A4 is closed, A5 has no Feb row).
    (MAR, GD, "consumer", "retail", "current", "1-30", 1, 90.0),  # A1 0 → 5
    (MAR, GD, "consumer", "retail", "current", "written_off", 1, 190.0),  # A2
    (MAR, GD, "consumer", "retail", "current", "current", 1, 40.0),  # A6
    (MAR, GD, "mortgage", "sme", "61-90", "current", 1, 300.0),  # A3 70 → 0
    # Mar → Apr (nothing stored for Apr yet): every loan active in Mar is missing.
    (APR, GD, "consumer", "retail", "1-30", "missing", 1, 80.0),  # A1
    (APR, GD, "consumer", "retail", "current", "missing", 1, 30.0),  # A6
    (APR, GD, "mortgage", "sme", "current", "missing", 1, 250.0),  # A3
    (APR, BJ, "consumer", "sme", "91-180", "missing", 1, 500.0),  # A5 125 dpd
]


def loans_frame() -> pd.DataFrame:
    return pd.DataFrame(LOANS, columns=["loan_id", "region_code", "product", "segment"]).assign(
        customer_id=lambda f: "C" + f["loan_id"], disbursement_date=dt.date(2023, 6, 1),
        maturity_date=dt.date(2030, 1, 1), principal=1000, interest_rate=0.05,
    )


def perf_frame(rows=PERF) -> pd.DataFrame:
    """Performance rows with the loans' fixed columns, for ``insert_frame``."""
    fixed = loans_frame().set_index("loan_id")[["region_code", "product", "segment"]]
    perf = pd.DataFrame(rows, columns=["loan_id", "as_of", "outstanding_principal", "dpd", "status"])
    return perf.join(fixed, on="loan_id").assign(classification="normal")


def load_tape(engine, performance: sa.Table = Performance.__table__) -> None:
    with engine.begin() as c:
        insert_frame(c, Loan.__table__, loans_frame())
        insert_frame(c, performance, perf_frame())


def summary_rows(conn: sa.Connection) -> list[tuple]:
    rows = conn.execute(sa.select(S.c.as_of, S.c.region_code, S.c.product, S.c.segment, S.c.from_state,
                                  S.c.to_state, S.c.loans, S.c.balance))
    return sorted(tuple(r) for r in rows)


def marker(conn: sa.Connection) -> str | None:
    return conn.execute(sa.text("SELECT value FROM store_settings WHERE key = :k"), {"k": ROLL_SUMMARY_KEY}).scalar()


def live(conn: sa.Connection, scope: Scope, filters: Filters) -> pd.DataFrame:
    """The reference: the live self-join over the months the read would take."""
    pairs = dd.month_pairs(conn, scope, filters)
    if not pairs:
        return pd.DataFrame(columns=["as_of", "from_state", "to_state", "loans", "balance"])
    return read_frame(conn, dd.transition_select(pairs, "bucket", scope, filters, constant_pair=len(pairs) == 1))


CASES = [
    (ALL, Filters()),
    (Scope.of([BJ]), Filters()),
    (Scope.of([GD]), Filters(products=("consumer",))),
    (ALL, Filters(segments=("sme",))),
    (ALL, Filters(regions=(BJ,), products=("consumer",), segments=("retail", "sme"))),
    (Scope.of([GD]), Filters(regions=(BJ,))),  # a filter outside the scope: nothing
    (ALL, Filters(start=MAR)),
    (ALL, Filters(as_of=FEB)),
    (Scope.of([]), Filters()),
]


def assert_summary_equals_live(conn: sa.Connection, cases=CASES) -> None:
    assert roll_summary_is_current(conn)
    for scope, filters in cases:
        got = dd.roll_transitions(conn, scope, filters)
        want = live(conn, scope, filters)
        assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False,
                           check_exact=False, rtol=1e-12, obj=f"{scope} {filters}")


@pytest.fixture
def tape(engine):
    load_tape(engine)
    with engine.begin() as c:
        refresh_roll_summary(c)
    return engine


# ---------------------------------------------------------------- by hand


def test_fresh_store_has_an_empty_current_summary(engine):
    with engine.connect() as c:
        assert summary_rows(c) == [] and roll_summary_is_current(c)
        assert dd.roll_trend(c, ALL, Filters()).empty


def test_insert_marks_months_dirty_and_refresh_builds_rows_by_hand(engine):
    load_tape(engine)
    with engine.connect() as c:
        assert roll_summary_dirty(c) == {JAN, FEB, MAR}
        assert not roll_summary_is_current(c)
    with engine.begin() as c:
        result = refresh_roll_summary(c)
    assert result.months is None  # a full build
    with engine.connect() as c:
        assert summary_rows(c) == sorted(EXPECTED)
        assert roll_summary_is_current(c) and marker(c) == '{"dirty": []}'


def test_reads_come_from_the_summary_with_hand_figures(tape, monkeypatch):
    def no_live(*args, **kwargs):
        raise AssertionError("the live self-join was used although the summary is current")

    monkeypatch.setattr(dd, "transition_select", no_live)
    with tape.connect() as c:
        cure = dd.cure_rates(c, ALL, Filters())
        bj = dd.roll_transitions(c, Scope.of([BJ]), Filters())
        retail = dd.roll_transitions(c, ALL, Filters(products=("consumer",), segments=("retail",)))
        matrix = dd.roll_matrix(c, ALL, Filters(), MAR, "balance")
    # Feb: delinquent at Jan A2 200, A3 300, A5 500; A2 cures. Mar: delinquent at Feb A3 300; cures.
    assert list(cure["as_of"]) == [FEB, MAR]
    assert list(cure["loans_delinquent"]) == [3, 1] and list(cure["loans_cured"]) == [1, 1]
    assert list(cure["balance_delinquent"]) == [1000.0, 300.0] and list(cure["balance_cured"]) == [200.0, 300.0]
    assert list(cure["cure_rate_balance"]) == [pytest.approx(0.2), 1.0]
    # 110000: A4 closes, A5 goes missing in Feb; no loan of it is active in Feb (so no Mar rows).
    assert sorted(map(tuple, bj.itertuples(index=False))) == [
        (FEB, "91-180", "missing", 1, 500.0), (FEB, "current", "closed", 1, 400.0),
    ]
    # consumer retail: A1, A2, A6 in 440000 and A4 in 110000.
    assert sorted(map(tuple, retail.itertuples(index=False))) == [
        (FEB, "1-30", "current", 1, 200.0), (FEB, "current", "closed", 1, 400.0),
        (FEB, "current", "current", 2, 150.0),
        (MAR, "current", "1-30", 1, 90.0), (MAR, "current", "current", 1, 40.0),
        (MAR, "current", "written_off", 1, 190.0),
    ]
    # Feb → Mar by balance: current 320 (A1 90, A2 190, A6 40); 61-90 A3 300 cures.
    assert matrix.loc["current", "1-30"] == pytest.approx(90 / 320)
    assert matrix.loc["current", "written_off"] == pytest.approx(190 / 320)
    assert matrix.loc["61-90", "current"] == 1.0


def test_summary_equals_live_under_scopes_and_filters(tape):
    with tape.connect() as c:
        assert_summary_equals_live(c)


def test_class_migration_and_month_gaps_stay_live(tape, monkeypatch):
    calls = []
    real = dd.transition_select
    monkeypatch.setattr(dd, "transition_select", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    with tape.connect() as c:
        dd.transition_sums(c, ALL, Filters(), {JAN: MAR}, "bucket")  # not consecutive months
        dd.transition_sums(c, ALL, Filters(), {JAN: FEB}, "class")
        dd.transition_sums(c, ALL, Filters(), {JAN: FEB}, "bucket")  # from the summary
    assert calls == ["bucket", "class"]


# ---------------------------------------------------------------- invalidation


def test_insert_around_the_importer_falls_back_to_live(tape):
    # A1 in Apr: active at 40 dpd. The summary still says A1 went missing (Mar → Apr).
    with tape.begin() as c:
        insert_frame(c, Performance.__table__, perf_frame([("A1", APR, 70, 40, "active")]))
    with tape.connect() as c:
        assert roll_summary_dirty(c) == {APR}
        assert (APR, GD, "consumer", "retail", "1-30", "missing", 1, 80.0) in summary_rows(c)  # stale row
        apr = dd.roll_transitions(c, ALL, Filters(as_of=APR))
    # Mar → Apr live: A1 1-30 → 31-60; A6, A3 and A5 have no Apr row.
    assert sorted(map(tuple, apr.itertuples(index=False))) == [
        (APR, "1-30", "31-60", 1, 80.0), (APR, "91-180", "missing", 1, 500.0),
        (APR, "current", "missing", 2, 280.0),
    ]
    with tape.begin() as c:
        result = sync_roll_summary(c)
    assert result is not None and result.months == (APR, MAY)
    with tape.connect() as c:
        rows = summary_rows(c)
        assert (APR, GD, "consumer", "retail", "1-30", "31-60", 1, 80.0) in rows
        assert (MAY, GD, "consumer", "retail", "31-60", "missing", 1, 70.0) in rows
        assert_summary_equals_live(c)
    with tape.begin() as c:
        assert sync_roll_summary(c) is None  # current: nothing to do


def test_unbuilt_summary_stays_unbuilt_until_a_full_build(tape):
    with tape.begin() as c:
        performance_changed(c, None)  # months unknown
    with tape.connect() as c:
        assert roll_summary_dirty(c) is None and not roll_summary_is_current(c)
    with tape.begin() as c:
        performance_changed(c, [FEB])  # still unbuilt: a part alone cannot make it current
        c.execute(sa.delete(S))
        result = refresh_roll_summary(c, [FEB])  # so this builds it whole
    assert result.months is None
    with tape.connect() as c:
        assert summary_rows(c) == sorted(EXPECTED) and roll_summary_is_current(c)


def test_clear_portfolio_empties_the_summary(tape):
    with tape.begin() as c:
        clear_portfolio(c)
    with tape.connect() as c:
        assert summary_rows(c) == [] and roll_summary_is_current(c)
        assert dd.roll_trend(c, ALL, Filters()).empty


# ---------------------------------------------------------------- importer, generator, migration


def import_frames(rows) -> dict[str, pd.DataFrame]:
    perf = pd.DataFrame(rows, columns=["loan_id", "as_of", "outstanding_principal", "dpd", "status"])
    return {"performance": perf.assign(as_of=perf["as_of"].map(lambda d: d.replace(day=15).isoformat()))}


def test_import_and_month_reload_keep_the_summary_current(engine):
    loans = loans_frame().astype(str)  # as read from a file
    with engine.begin() as c:
        report = load_tables(c, {"loans": loans, **import_frames(PERF)}, region_set="cn_provinces", currency="CNY")
        assert report.ok, report.rejections
    with engine.connect() as c:
        assert summary_rows(c) == sorted(EXPECTED)
        assert_summary_equals_live(c)
    # Feb again for A1 alone, now 45 dpd: a stored row replaced (in place on DuckDB), no insert.
    with engine.begin() as c:
        report = load_tables(c, import_frames([("A1", FEB, 90, 45, "active")]), region_set="cn_provinces", currency="CNY")
        assert report.ok and report.performance_replaced == 1
    # Feb for A5 (100 dpd): a new row in a stored month.
    with engine.begin() as c:
        report = load_tables(c, import_frames([("A5", FEB, 500, 100, "active")]), region_set="cn_provinces", currency="CNY")
        assert report.ok and report.performance_replaced == 0
    expected = set(EXPECTED) - {
        (FEB, GD, "consumer", "retail", "current", "current", 2, 150.0),
        (MAR, GD, "consumer", "retail", "current", "1-30", 1, 90.0),
        (FEB, BJ, "consumer", "sme", "91-180", "missing", 1, 500.0),
    } | {
        (FEB, GD, "consumer", "retail", "current", "current", 1, 50.0),  # A6 alone
        (FEB, GD, "consumer", "retail", "current", "31-60", 1, 100.0),  # A1 0 → 45
        (MAR, GD, "consumer", "retail", "31-60", "1-30", 1, 90.0),  # A1 45 → 5
        (FEB, BJ, "consumer", "sme", "91-180", "91-180", 1, 500.0),  # A5 95 → 100
        (MAR, BJ, "consumer", "sme", "91-180", "91-180", 1, 500.0),  # A5 100 → 125
    }
    with engine.connect() as c:
        assert summary_rows(c) == sorted(expected)
        assert_summary_equals_live(c)


def test_an_import_also_refreshes_months_left_stale_before(tape):
    with tape.begin() as c:
        insert_frame(c, Performance.__table__, perf_frame([("A1", APR, 70, 40, "active")]))
    with tape.begin() as c:  # a March re-load for A6 (unchanged figures) through the importer
        report = load_tables(c, import_frames([("A6", MAR, 30, 0, "active")]), region_set="cn_provinces", currency="CNY")
        assert report.ok, report.rejections
    with tape.connect() as c:
        assert roll_summary_dirty(c) == set()
        assert (APR, GD, "consumer", "retail", "1-30", "31-60", 1, 80.0) in summary_rows(c)
        assert_summary_equals_live(c)


def test_failed_import_leaves_summary_and_marker_unchanged(engine, tmp_path, monkeypatch):
    load_tape(engine)
    with engine.begin() as c:
        refresh_roll_summary(c)
        c.execute(sa.text("INSERT INTO store_settings (key, value) VALUES ('region_set', 'cn_provinces')"))
    with engine.connect() as c:
        before = (summary_rows(c), marker(c), c.execute(sa.text("SELECT COUNT(*) FROM performance")).scalar())
    path = tmp_path / "feb.csv"
    path.write_text("loan_id,as_of,outstanding_principal,dpd,status\nA1,2024-02-29,90,45,active\nA5,2024-02-29,500,100,active\n")
    real = summaries.refresh_roll_summary
    seen = []

    def refresh_then_fail(conn, months=None):
        seen.append(real(conn, months))  # the summary is rewritten, then the import fails
        raise RuntimeError("disk full")

    monkeypatch.setattr(summaries, "refresh_roll_summary", refresh_then_fail)
    report = load_files(engine, {"performance": path})
    assert not report.ok and len(seen) == 1 and "disk full" in report.rejections[0].reason
    # a rejected file (negative dpd) writes nothing either
    path.write_text("loan_id,as_of,outstanding_principal,dpd,status\nA1,2024-02-29,90,-1,active\n")
    assert not load_files(engine, {"performance": path}).ok
    with engine.connect() as c:
        assert (summary_rows(c), marker(c), c.execute(sa.text("SELECT COUNT(*) FROM performance")).scalar()) == before
        assert roll_summary_is_current(c)


def test_generate_leaves_a_current_summary_equal_to_live(engine):
    generate_into(engine, 300, 7, 9, chunk_loans=100)
    with engine.connect() as c:
        region = c.execute(sa.select(Performance.region_code).limit(1)).scalar()
        product = c.execute(sa.select(Performance.product).limit(1)).scalar()
        assert c.execute(sa.select(sa.func.count()).select_from(S)).scalar() > 0
        assert_summary_equals_live(c, [
            *CASES, (Scope.of([region]), Filters(products=(product,))), (ALL, Filters(segments=("retail",))),
        ])


def test_migration_builds_the_summary_of_an_existing_store(engine):
    with engine.begin() as c:
        command.downgrade(_alembic_config(c), "0001")
    load_tape(engine, performance_without_cohort())  # a store at 0001 with performance rows and no summary
    upgrade(engine)
    with engine.connect() as c:
        assert summary_rows(c) == sorted(EXPECTED)
        assert_summary_equals_live(c)
