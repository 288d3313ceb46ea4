"""A lender's own region geometry: configured GeoJSON, loads by name, map geometry."""

import json

import pytest
import sqlalchemy as sa

from data import geometry
from data.importer import load_files
from data.read import Scope, regions_frame


def _square(x, y, d=0.05):
    return {"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]}


@pytest.fixture
def districts(tmp_path, monkeypatch):
    path = tmp_path / "gz.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"adcode": 440103, "name": "荔湾区"}, "geometry": _square(113.2, 23.1)},
        {"type": "Feature", "properties": {"adcode": 440104, "name": "越秀区"}, "geometry": _square(113.25, 23.1)},
    ]}), encoding="utf-8")
    monkeypatch.setenv("DAIHOU_GEOJSON", str(path))
    monkeypatch.setenv("DAIHOU_GEOJSON_CODE", "adcode")
    monkeypatch.setenv("DAIHOU_GEOJSON_NAME", "name")
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path / "cache"))
    geometry.clear_memory_cache()
    return path


def test_load_with_a_custom_region_set(engine, districts, tmp_path):
    loans = tmp_path / "loans.csv"
    loans.write_text(
        "loan_id,customer_id,region_code,product,disbursement_date,maturity_date,principal,interest_rate\n"
        "L1,C1,荔湾区,consumer,2024-01-15,2026-01-15,10000,0.06\n"
        "L2,C2,440104,consumer,2024-01-15,2026-01-15,20000,0.06\n",
        encoding="utf-8",
    )
    rep = load_files(engine, {"loans": loans}, region_set="gz_districts")
    assert rep.ok, rep.summary()
    with engine.connect() as c:
        assert sorted(c.execute(sa.text("select region_code from loans")).scalars()) == ["440103", "440104"]
        names = regions_frame(c, Scope.all())
    assert list(names["name_zh"]) == ["荔湾区", "越秀区"]
    gj = geometry.store_geojson("gz_districts")
    assert [f["properties"]["code"] for f in gj["features"]] == ["440103", "440104"]

    bad = tmp_path / "bad.csv"
    bad.write_text(loans.read_text(encoding="utf-8").replace("L1,C1,荔湾区", "L3,C3,天河区"), encoding="utf-8")
    rep = load_files(engine, {"loans": bad}, region_set="gz_districts")
    assert not rep.ok
    assert any(r.column == "region_code" and r.value == "天河区" for r in rep.rejections)


def test_unconfigured_custom_set_says_what_to_set(monkeypatch):
    monkeypatch.delenv("DAIHOU_GEOJSON", raising=False)
    monkeypatch.setenv("DAIHOU_SECRETS_FILE", "/nonexistent.toml")
    with pytest.raises(geometry.GeometryError, match="DAIHOU_GEOJSON"):
        geometry.store_geojson("gz_districts")
