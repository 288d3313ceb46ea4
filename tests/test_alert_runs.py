"""data.alert_runs: a month's alerts evaluated once per data version and rule set, for the whole book."""

import datetime as dt
import threading

import sqlalchemy as sa
import tomllib

from analytics.early_warning import merge_rule_config, rules_from_config
from data.alert_runs import ensure_month_evaluated, marker_key, month_alerts, month_status
from data.alerts import RULES_FILE, load_rules
from data.engine import make_engine, upgrade
from data.generate import generate_into
from data.read import Filters, Scope
from data.schema import ImportBatch

GD = Scope.of(["440000"])


def _latest(conn):
    return conn.execute(sa.text("SELECT MAX(as_of) FROM performance")).scalar()


def _alerts(conn, month):
    return conn.execute(sa.text(
        "SELECT COUNT(*), COUNT(DISTINCT region_code), MIN(created_at) FROM alerts WHERE as_of = :m"),
        {"m": month}).one()


def test_a_month_is_evaluated_once_for_the_whole_book(engine):
    generate_into(engine, 400, 14, 3)
    with engine.connect() as c:
        m = _latest(c)
        assert month_status(c, m) is None
        # a regional head's visit evaluates every region (reads stay scoped)
        first = ensure_month_evaluated(c, GD, m, now=dt.datetime(2026, 1, 1, 9, 0))
    assert first.evaluated_now and first.month == m and first.evaluated_at == dt.datetime(2026, 1, 1, 9, 0)
    with engine.connect() as c:
        n, regions, created = _alerts(c, m)
        assert n > 0 and regions > 1
        again = ensure_month_evaluated(c, Scope.all(), m, now=dt.datetime(2026, 1, 2))
        assert not again.evaluated_now and again.evaluated_at == dt.datetime(2026, 1, 1, 9, 0)
        assert _alerts(c, m) == (n, regions, created)  # not rewritten
        assert month_status(c, m) is not None
        # one marker row, in store_settings
        keys = c.execute(sa.text("SELECT key FROM store_settings WHERE key LIKE 'alerts_evaluated:%'")).scalars().all()
        assert keys == [marker_key(m)]

        # the page's one call: scoped counts and list
        got = month_alerts(c, GD, Filters(as_of=m), levels=("high", "medium"), limit=5)
        assert not got.run.evaluated_now
        assert set(got.alerts["region_code"]) <= {"440000"} and len(got.alerts) <= 5
        assert set(got.alerts["level"]) <= {"high", "medium"}
        in_gd = c.execute(sa.text("SELECT COUNT(*) FROM alerts WHERE as_of = :m AND region_code = '440000'"),
                          {"m": m}).scalar()
        assert int(got.counts["alerts"].sum()) == in_gd < n

    # a changed rule set evaluates again
    with RULES_FILE.open("rb") as fh:
        config = tomllib.load(fh)
    stricter = rules_from_config(merge_rule_config(config, {"score_drop": {"points": 200}}))
    with engine.connect() as c:
        assert ensure_month_evaluated(c, Scope.all(), m, stricter).evaluated_now
        assert ensure_month_evaluated(c, Scope.all(), m, stricter).evaluated_now is False
        assert _alerts(c, m)[0] <= n
    # a new import (a new data version) evaluates again, with the shipped rules
    with engine.begin() as c:
        stamp = dt.datetime(2026, 2, 1)
        c.execute(sa.insert(ImportBatch).values(started_at=stamp, finished_at=stamp))
    with engine.connect() as c:
        assert month_status(c, m) is None
        assert ensure_month_evaluated(c, Scope.all(), m, load_rules()).evaluated_now
        assert _alerts(c, m)[0] == n


def test_concurrent_sessions_evaluate_once(tmp_path):
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    engine = make_engine(url)
    upgrade(engine)
    generate_into(engine, 300, 13, 5)
    with engine.connect() as c:
        m = _latest(c)
    results, errors = [], []
    start = threading.Barrier(3)

    def visit():
        try:
            start.wait()
            with engine.connect() as c:
                results.append(ensure_month_evaluated(c, Scope.all(), m).evaluated_now)
                c.execute(sa.text("SELECT COUNT(*) FROM alerts")).scalar()  # other sessions keep reading
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=visit) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(results) == [False, False, True]
