"""The store: migrations on both back ends, sequences, settings."""

import datetime as dt

import pytest
import sqlalchemy as sa

from data.engine import make_engine, schema_is_current, upgrade
from data.schema import AuditLog, Loan
from data.store import RegionSetMismatch, fix_region_set, is_empty, store_region_set


def test_fresh_store_is_current_and_empty(engine):
    assert schema_is_current(engine)
    with engine.connect() as c:
        assert is_empty(c)
        assert store_region_set(c) is None


def test_upgrade_is_idempotent(engine):
    upgrade(engine)
    upgrade(engine)
    assert schema_is_current(engine)


def test_new_store_file_is_created_and_migrated(tmp_path):
    eng = make_engine(f"duckdb:///{tmp_path / 'sub' / 'new.duckdb'}")
    assert not schema_is_current(eng)
    upgrade(eng)
    assert schema_is_current(eng)


def test_sequence_keys_count_up(engine):
    with engine.begin() as c:
        for action in ("a", "b", "c"):
            c.execute(sa.insert(AuditLog).values(occurred_at=dt.datetime(2026, 1, 1), action=action))
        ids = c.execute(sa.select(AuditLog.audit_id).order_by(AuditLog.audit_id)).scalars().all()
    assert ids == [ids[0], ids[0] + 1, ids[0] + 2]


def test_region_set_is_fixed_by_first_load(engine):
    regions = [{"region_code": "440000", "name_zh": "广东省", "short_zh": "广东", "name_en": "Guangdong"}]
    with engine.begin() as c:
        fix_region_set(c, "cn_provinces", "CNY", regions)
        fix_region_set(c, "cn_provinces", "CNY", regions)  # same set: fine
    with engine.begin() as c:
        with pytest.raises(RegionSetMismatch, match="cn_provinces"):
            fix_region_set(c, "us_states", "USD", [])
    with engine.connect() as c:
        assert store_region_set(c) == "cn_provinces"
