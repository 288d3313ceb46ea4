"""Region sets and region-name normalisation (data/regions.py)."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.regions import (
    REGION_SETS,
    Region,
    RegionSet,
    get_region_set,
    mainland_codes,
    normalise_region,
    normalise_region_series,
    region_set_from_geojson,
)

REPO = Path(__file__).resolve().parent.parent
CN = get_region_set("cn_provinces")
US = get_region_set("us_states")


# --- the shipped sets -------------------------------------------------------------------------


def test_region_set_names():
    assert REGION_SETS == ("cn_provinces", "us_states")
    assert CN.name == "cn_provinces" and CN.code_kind == "gb2260"
    assert US.name == "us_states" and US.code_kind == "usps"


def test_cn_counts_and_codes():
    assert len(CN.regions) == 34
    assert len(set(CN.codes)) == 34
    assert all(len(c) == 6 and c.isdigit() and c.endswith("0000") for c in CN.codes)
    mainland = mainland_codes()
    assert len(mainland) == 31 and len(set(mainland)) == 31
    assert set(CN.codes) - set(mainland) == {"710000", "810000", "820000"}


def test_us_counts_and_codes():
    assert len(US.regions) == 51
    assert len(set(US.codes)) == 51
    assert all(len(c) == 2 and c.isalpha() and c.isupper() for c in US.codes)
    assert "DC" in US.codes
    assert not {"PR", "GU", "VI", "AS", "MP"} & set(US.codes)


def test_known_rows():
    assert CN.get("110000") == Region("110000", "北京市", "北京", "Beijing")
    assert CN.get("440000") == Region("440000", "广东省", "广东", "Guangdong")
    assert CN.get("150000") == Region("150000", "内蒙古自治区", "内蒙古", "Inner Mongolia")
    assert CN.get("540000").name_en == "Tibet"
    assert CN.get("810000").name_en == "Hong Kong"
    assert CN.get("820000").name_en == "Macao"
    assert CN.get("710000").name_zh == "台湾省"
    ca = US.get("CA")
    assert (ca.name_en, ca.name_zh, ca.short_zh) == ("California", "加利福尼亚州", "加州")
    assert US.get("DC").name_en == "District of Columbia"


def test_names_unique_within_each_set():
    for rs in (CN, US):
        for attr in ("name_zh", "short_zh", "name_en"):
            values = [getattr(r, attr) for r in rs.regions]
            assert len(set(values)) == len(values), (rs.name, attr)


def test_region_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CN.regions[0].code = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        CN.name = "x"  # type: ignore[misc]


def test_get_region_set_unknown_names_valid_sets():
    with pytest.raises(ValueError) as err:
        get_region_set("eu_countries")
    assert "cn_provinces" in str(err.value) and "us_states" in str(err.value)
    assert "eu_countries" in str(err.value)


def test_no_streamlit_import():
    code = (
        "import sys, data.regions, data.geometry; "
        "sys.exit(1 if any(m == 'streamlit' or m.startswith('streamlit.') for m in sys.modules) else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- normalisation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["440000", 440000, 440000.0, "440000.0", np.int64(440000), np.float64(440000.0), " 440000 ",
     "４４００００", "156440000", "广东省", "广东", " 广东 ", "guangdong", "Guangdong", "GUANGDONG",
     "Guangdong Province", "guangdong province"],
)
def test_normalise_cn_forms(value):
    assert normalise_region(value, CN) == "440000"
    assert normalise_region(value, "cn_provinces") == "440000"


@pytest.mark.parametrize(
    "value, code",
    [("内蒙古自治区", "150000"), ("内蒙古", "150000"), ("inner mongolia", "150000"),
     ("Inner Mongolia Autonomous Region", "150000"), ("广西壮族自治区", "450000"),
     ("Guangxi Zhuang Autonomous Region", "450000"), ("Tibet", "540000"), ("Xizang", "540000"),
     ("新疆维吾尔自治区", "650000"), ("xinjiang", "650000"), ("宁夏", "640000"),
     ("香港特别行政区", "810000"), ("Hong Kong", "810000"), ("hong kong sar", "810000"),
     ("澳门", "820000"), ("Macao", "820000"), ("macau", "820000"), ("台湾", "710000"),
     ("臺灣", "710000"), ("Taiwan", "710000"), ("北京市", "110000"), ("Beijing Municipality", "110000"),
     ("shanxi", "140000"), ("shaanxi", "610000"), (110000, "110000")],
)
def test_normalise_cn_names(value, code):
    assert normalise_region(value, CN) == code


def test_every_cn_region_every_form():
    for r in CN.regions:
        forms = [r.code, int(r.code), float(r.code), f"{r.code}.0", r.name_zh, r.short_zh,
                 r.name_en, r.name_en.lower(), r.name_en.upper()]
        for form in forms:
            assert normalise_region(form, CN) == r.code, form


@pytest.mark.parametrize(
    "value, code",
    [("CA", "CA"), ("ca", "CA"), ("Ca", "CA"), (" ca ", "CA"), ("US-CA", "CA"),
     ("California", "CA"), ("CALIFORNIA", "CA"), ("加利福尼亚州", "CA"), ("加州", "CA"),
     ("New York", "NY"), ("new york state", "NY"), ("纽约州", "NY"), ("Washington", "WA"),
     ("washington state", "WA"), ("District of Columbia", "DC"), ("Washington, D.C.", "DC"),
     ("dc", "DC"), ("west virginia", "WV"), ("Virginia", "VA"), ("德州", "TX"), ("得克萨斯州", "TX")],
)
def test_normalise_us_forms(value, code):
    assert normalise_region(value, US) == code
    assert normalise_region(value, "us_states") == code


def test_every_us_region_every_form():
    for r in US.regions:
        for form in (r.code, r.code.lower(), r.name_en, r.name_en.lower(), r.name_en.upper(),
                     r.name_zh, r.short_zh):
            assert normalise_region(form, US) == r.code, form


@pytest.mark.parametrize(
    "value",
    [None, float("nan"), np.nan, pd.NA, "", "   ", "Atlantis", "999999", "440100", "4400",
     440000.5, "440000.5", True, "CA", "XX", "广东市", math.inf],
)
def test_normalise_cn_unknown_is_none(value):
    assert normalise_region(value, CN) is None


@pytest.mark.parametrize("value", ["440000", "广东", "Puerto Rico", "PR", "GU", "XX", "", None])
def test_normalise_us_unknown_is_none(value):
    assert normalise_region(value, US) is None


def test_normalise_unknown_set_raises():
    with pytest.raises(ValueError):
        normalise_region("440000", "nope")


def test_series_equals_scalar():
    values = ["440000", 440000, 440000.0, "440000.0", "广东省", "广东", "guangdong", None, np.nan,
              "Atlantis", "", "北京", "Beijing", "Inner Mongolia", "香港", 110000.0, "  上海 "]
    series = pd.Series(values * 3, index=range(100, 100 + 3 * len(values)), name="region")
    out = normalise_region_series(series, CN)
    assert out.index.equals(series.index) and out.name == "region"
    assert out.tolist() == [normalise_region(v, CN) for v in series]
    assert out.isna().sum() == 3 * 4


def test_series_string_dtype_and_categorical():
    s = pd.Series(["CA", "ny", None, "Texas"], dtype="string")
    assert normalise_region_series(s, "us_states").tolist() == ["CA", "NY", None, "TX"]
    c = s.astype("category")
    assert normalise_region_series(c, US).tolist() == ["CA", "NY", None, "TX"]


def test_series_empty():
    out = normalise_region_series(pd.Series([], dtype=object), CN)
    assert len(out) == 0


def test_series_million_rows():
    rng = np.random.default_rng(7)
    pool = np.array(list(CN.codes) + [r.short_zh for r in CN.regions] + ["junk", None], dtype=object)
    series = pd.Series(rng.choice(pool, size=1_000_000))
    out = normalise_region_series(series, CN)
    assert out.notna().sum() == series.isin(pool[:-2]).sum()


# --- custom sets ------------------------------------------------------------------------------


def _square(x: float, y: float, size: float = 1.0) -> dict:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def _write_geojson(path: Path, features: list[dict]) -> Path:
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features
    ]}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def test_custom_set_from_geojson(tmp_path):
    path = _write_geojson(tmp_path / "branches.geojson", [
        ({"adcode": 440100, "label": "广州市"}, _square(113, 23)),
        ({"adcode": "440300", "label": "深圳市"}, _square(114, 22)),
        ({"adcode": 440100, "label": "广州（岛）"}, _square(113.5, 22.5, 0.1)),  # same region
        ({"adcode": None, "label": "境界线"}, {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
    ])
    rs = region_set_from_geojson(path, "adcode", "label")
    assert isinstance(rs, RegionSet)
    assert rs.name == "custom" and rs.code_kind == "custom"
    assert rs.codes == ("440100", "440300")
    assert rs.get("440100").name_zh == "广州市"
    assert normalise_region("深圳市", rs) == "440300"
    assert normalise_region(440100, rs) == "440100"
    assert normalise_region("440100.0", rs) == "440100"
    assert normalise_region("北京", rs) is None
    assert normalise_region_series(pd.Series(["广州市", "x", 440300]), rs).tolist() == [
        "440100", None, "440300"]
    named = region_set_from_geojson(path, "adcode", name="lender_x")
    assert named.name == "lender_x" and named.get("440300").name_en == "440300"


def test_custom_set_ambiguous_names_match_nothing(tmp_path):
    path = _write_geojson(tmp_path / "d.geojson", [
        ({"id": "A1", "n": "新区"}, _square(0, 0)),
        ({"id": "B2", "n": "新区"}, _square(1, 0)),
        ({"id": "C3", "n": "老城"}, _square(2, 0)),
    ])
    rs = region_set_from_geojson(path, "id", "n")
    assert normalise_region("新区", rs) is None
    assert normalise_region("老城", rs) == "C3"
    assert normalise_region("a1", rs) == "A1"


def test_custom_set_errors(tmp_path):
    path = _write_geojson(tmp_path / "x.geojson", [({"code": "1"}, _square(0, 0))])
    with pytest.raises(ValueError, match="name_prop"):
        region_set_from_geojson(path, "code", "name_prop")
    with pytest.raises(ValueError, match="adcode"):
        region_set_from_geojson(path, "adcode")
    empty = _write_geojson(tmp_path / "e.geojson", [({"code": None}, _square(0, 0))])
    with pytest.raises(ValueError):
        region_set_from_geojson(empty, "code")
    with pytest.raises(FileNotFoundError):
        region_set_from_geojson(tmp_path / "missing.geojson", "code")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError):
        region_set_from_geojson(bad, "code")
