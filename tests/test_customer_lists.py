"""data.customer_lists: a segment's customers, ordered, limited, names and phones masked."""

import pytest
import sqlalchemy as sa

from data.customer_lists import masked_contacts, segment_members, top_customers
from data.customers import customer_segments
from data.generate import generate_into
from data.read import Filters, Scope


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path / "cache"))


def test_segment_members_are_masked_ordered_and_scoped(engine, cache):
    generate_into(engine, 500, 14, 11)
    with engine.connect() as c:
        seg = customer_segments(c, Scope.all(), Filters())
        s = int(seg.profiles["segment"].iloc[0])
        size = int(seg.profiles["customers"].iloc[0])
        got = segment_members(c, Scope.all(), Filters(), s, "clv_desc", 10)
        assert got.total == size and len(got.customers) == min(10, size)
        assert got.segment_name == seg.profiles["segment_name"].iloc[0]
        assert got.customers["clv"].is_monotonic_decreasing
        expected = seg.customers[seg.customers["segment"] == s].nlargest(min(10, size), "clv")["customer_id"]
        assert set(got.customers["customer_id"]) == set(expected)
        names = got.customers["name"]
        assert names.str.contains(r"\*").all()  # masked: 张** / J*** S****
        assert got.customers["phone"].str.fullmatch(r"\d{3}\*{4}\d{4}").all()
        by_balance = segment_members(c, Scope.all(), Filters(), s, "balance_desc", 5).customers
        assert by_balance["balance"].is_monotonic_decreasing
        assert segment_members(c, Scope.all(), Filters(), 99).total == 0
        lowest = top_customers(seg.customers, s, "clv_asc", 3)
        assert lowest["clv"].tolist() == sorted(seg.customers.loc[seg.customers["segment"] == s, "clv"])[:3]
        with pytest.raises(ValueError, match="unknown order"):
            segment_members(c, Scope.all(), Filters(), s, "name")
        with pytest.raises(ValueError, match="limit"):
            segment_members(c, Scope.all(), Filters(), s, limit=0)

        gd = customer_segments(c, Scope.of(["440000"]), Filters())
        ids = []
        for g in gd.profiles["segment"]:
            got_gd = segment_members(c, Scope.of(["440000"]), Filters(), int(g), limit=1000)
            ids += got_gd.customers["customer_id"].tolist()
        assert sorted(ids) == sorted(gd.customers["customer_id"])
        regions = c.execute(sa.text(
            "SELECT customer_id FROM loans WHERE customer_id IN :ids GROUP BY customer_id "
            "HAVING SUM(CASE WHEN region_code = '440000' THEN 1 ELSE 0 END) = 0"
        ).bindparams(sa.bindparam("ids", expanding=True)), {"ids": ids}).all()
        assert regions == []


def test_masked_contacts_keep_the_order_and_hide_unknowns(engine):
    generate_into(engine, 50, 2, 2)
    with engine.connect() as c:
        known = c.execute(sa.text("SELECT customer_id FROM customers ORDER BY customer_id LIMIT 2")).scalars().all()
        out = masked_contacts(c, Scope.all(), [known[1], "nobody", known[0]])
        assert masked_contacts(c, Scope.all(), []).empty
        # outside the caller's scope: nothing, even when asked by id
        region = c.execute(sa.text("SELECT MIN(region_code) FROM loans WHERE customer_id = :c"),
                           {"c": known[0]}).scalar()
        other = c.execute(sa.text("SELECT MIN(region_code) FROM loans WHERE region_code <> :r"), {"r": region}).scalar()
        elsewhere = masked_contacts(c, Scope.of([other]), [known[0]])
        assert c.execute(sa.text("SELECT COUNT(*) FROM loans WHERE customer_id = :c AND region_code = :r"),
                         {"c": known[0], "r": other}).scalar() == 0
    assert out["customer_id"].tolist() == [known[1], "nobody", known[0]]
    assert out.loc[1, "name"] == "" and out.loc[1, "phone"] == ""
    assert out.loc[0, "name"].count("*") >= 1 and "*" in out.loc[2, "phone"]
    assert elsewhere.loc[0, "name"] == "" and elsewhere.loc[0, "phone"] == ""


def test_masked_contacts_read_the_key_once_per_call(engine, monkeypatch):
    """The configuration (a file read) is read once for the whole list, not per value: it was
    most of the list's time (1,000 values: 0.2 s)."""
    import data.crypto as crypto

    generate_into(engine, 50, 2, 2)
    calls = []
    real = crypto.settings
    monkeypatch.setattr(crypto, "settings", lambda: calls.append(1) or real())
    with engine.connect() as c:
        ids = c.execute(sa.text("SELECT customer_id FROM customers ORDER BY customer_id LIMIT 20")).scalars().all()
        out = masked_contacts(c, Scope.all(), ids)
    assert len(ids) == 20 and out["name"].str.contains(r"\*").all() and out["phone"].str.contains(r"\*").all()
    assert len(calls) == 1


def test_top_customers_by_hand_with_ties_and_missing_values():
    """Ties at the limit are broken by customer_id, missing values come last, other
    segments never show."""
    import pandas as pd

    frame = pd.DataFrame({
        "customer_id": ["E", "C", "A", "D", "B", "X"],
        "segment": [0, 0, 0, 0, 0, 1],
        "clv": [1.0, 3.0, 5.0, float("nan"), 3.0, 99.0],
    })
    ids = lambda order, limit: top_customers(frame, 0, order, limit)["customer_id"].tolist()  # noqa: E731
    assert ids("clv_desc", 2) == ["A", "B"]
    assert ids("clv_desc", 3) == ["A", "B", "C"]
    assert ids("clv_desc", 9) == ["A", "B", "C", "E", "D"]
    assert ids("clv_asc", 2) == ["E", "B"]
    assert top_customers(frame, 1, "clv_desc", 5)["customer_id"].tolist() == ["X"]
    assert top_customers(frame, 7, "clv_desc", 5).empty
