"""Region sets: the areas a loan's ``region_code`` refers to.

Two sets ship with Daihou (see ``/work/shared/spec/loan-tape.md``, "Region sets"):

``cn_provinces`` (the default)
    The 31 mainland provincial-level divisions plus Hong Kong, Macao and Taiwan: 34 regions,
    coded with the 6-digit GB/T 2260 administrative division code as text (``'440000'``).
``us_states``
    The 50 states plus the District of Columbia: 51 regions, coded with the USPS code (``'CA'``).

A lender may also bring its own GeoJSON: :func:`region_set_from_geojson` builds a set whose
codes are the values of one feature property.

Loan tapes often carry names instead of codes; :func:`normalise_region` maps a code, a full or
short Chinese name, an English name (any case) or, for the US, a USPS code in any case to the
canonical code, and :func:`normalise_region_series` does the same for a whole column, mapping
each distinct value only once.

This module has no Streamlit dependency and no geometry: see :mod:`data.geometry` for shapes.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from numbers import Number
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Region",
    "RegionSet",
    "REGION_SETS",
    "DEFAULT_REGION_SET",
    "CN_PROVINCES",
    "US_STATES",
    "get_region_set",
    "mainland_codes",
    "normalise_region",
    "normalise_region_series",
    "region_set_from_geojson",
]


@dataclass(frozen=True)
class Region:
    """One region. ``code`` is the canonical code stored in ``region_code``."""

    code: str
    name_zh: str
    short_zh: str
    name_en: str


@dataclass(frozen=True)
class RegionSet:
    """An ordered, immutable set of regions.

    ``code_kind`` says what the codes are: ``'gb2260'`` (6-digit Chinese administrative
    division codes), ``'usps'`` (US postal codes) or ``'custom'`` (a GeoJSON property).
    """

    name: str
    regions: tuple[Region, ...]
    code_kind: str
    # Extra spellings accepted by normalise_region (alias -> code), beyond code and names.
    aliases: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        codes = [r.code for r in self.regions]
        if len(set(codes)) != len(codes):
            dupes = sorted({c for c in codes if codes.count(c) > 1})
            raise ValueError(f"region set {self.name!r} repeats codes: {', '.join(dupes)}")

    def __len__(self) -> int:
        return len(self.regions)

    def __iter__(self):
        return iter(self.regions)

    def __contains__(self, code: object) -> bool:
        return code in self.by_code()

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes in set order."""
        return tuple(r.code for r in self.regions)

    def by_code(self) -> dict[str, Region]:
        """``{code: Region}`` (built once per set and cached)."""
        return _by_code(self)

    def get(self, code: str) -> Region | None:
        """The region with this canonical code, or None."""
        return self.by_code().get(code)


@lru_cache(maxsize=None)
def _by_code(region_set: RegionSet) -> dict[str, Region]:
    return {r.code: r for r in region_set.regions}


# ---------------------------------------------------------------------------------------------
# cn_provinces: GB/T 2260 provincial-level divisions.
# (code, full Chinese name, short Chinese name, English name)
# ---------------------------------------------------------------------------------------------
_CN_TABLE: tuple[tuple[str, str, str, str], ...] = (
    ("110000", "北京市", "北京", "Beijing"),
    ("120000", "天津市", "天津", "Tianjin"),
    ("130000", "河北省", "河北", "Hebei"),
    ("140000", "山西省", "山西", "Shanxi"),
    ("150000", "内蒙古自治区", "内蒙古", "Inner Mongolia"),
    ("210000", "辽宁省", "辽宁", "Liaoning"),
    ("220000", "吉林省", "吉林", "Jilin"),
    ("230000", "黑龙江省", "黑龙江", "Heilongjiang"),
    ("310000", "上海市", "上海", "Shanghai"),
    ("320000", "江苏省", "江苏", "Jiangsu"),
    ("330000", "浙江省", "浙江", "Zhejiang"),
    ("340000", "安徽省", "安徽", "Anhui"),
    ("350000", "福建省", "福建", "Fujian"),
    ("360000", "江西省", "江西", "Jiangxi"),
    ("370000", "山东省", "山东", "Shandong"),
    ("410000", "河南省", "河南", "Henan"),
    ("420000", "湖北省", "湖北", "Hubei"),
    ("430000", "湖南省", "湖南", "Hunan"),
    ("440000", "广东省", "广东", "Guangdong"),
    ("450000", "广西壮族自治区", "广西", "Guangxi"),
    ("460000", "海南省", "海南", "Hainan"),
    ("500000", "重庆市", "重庆", "Chongqing"),
    ("510000", "四川省", "四川", "Sichuan"),
    ("520000", "贵州省", "贵州", "Guizhou"),
    ("530000", "云南省", "云南", "Yunnan"),
    ("540000", "西藏自治区", "西藏", "Tibet"),
    ("610000", "陕西省", "陕西", "Shaanxi"),
    ("620000", "甘肃省", "甘肃", "Gansu"),
    ("630000", "青海省", "青海", "Qinghai"),
    ("640000", "宁夏回族自治区", "宁夏", "Ningxia"),
    ("650000", "新疆维吾尔自治区", "新疆", "Xinjiang"),
    ("710000", "台湾省", "台湾", "Taiwan"),
    ("810000", "香港特别行政区", "香港", "Hong Kong"),
    ("820000", "澳门特别行政区", "澳门", "Macao"),
)

_CN_NOT_MAINLAND = frozenset({"710000", "810000", "820000"})

# Other spellings seen in loan tapes: traditional characters, informal short forms, pinyin
# variants. English aliases are matched after _en_key() (lower case, letters and digits only).
_CN_ALIASES: tuple[tuple[str, str], ...] = (
    ("内蒙", "150000"),
    ("臺灣", "710000"),
    ("台灣", "710000"),
    ("臺灣省", "710000"),
    ("台灣省", "710000"),
    ("香港特別行政區", "810000"),
    ("澳門", "820000"),
    ("澳門特別行政區", "820000"),
    ("Nei Mongol", "150000"),
    ("Neimenggu", "150000"),
    ("Xizang", "540000"),
    ("Macau", "820000"),
    ("Hongkong", "810000"),
)

# ---------------------------------------------------------------------------------------------
# us_states: the 50 states and DC, USPS codes. Chinese names follow the usual mainland
# renderings (新华社译名); short_zh is the name without 州, or the common short form.
# ---------------------------------------------------------------------------------------------
_US_TABLE: tuple[tuple[str, str, str, str], ...] = (
    ("AL", "亚拉巴马州", "亚拉巴马", "Alabama"),
    ("AK", "阿拉斯加州", "阿拉斯加", "Alaska"),
    ("AZ", "亚利桑那州", "亚利桑那", "Arizona"),
    ("AR", "阿肯色州", "阿肯色", "Arkansas"),
    ("CA", "加利福尼亚州", "加州", "California"),
    ("CO", "科罗拉多州", "科罗拉多", "Colorado"),
    ("CT", "康涅狄格州", "康涅狄格", "Connecticut"),
    ("DE", "特拉华州", "特拉华", "Delaware"),
    ("DC", "哥伦比亚特区", "华盛顿特区", "District of Columbia"),
    ("FL", "佛罗里达州", "佛罗里达", "Florida"),
    ("GA", "佐治亚州", "佐治亚", "Georgia"),
    ("HI", "夏威夷州", "夏威夷", "Hawaii"),
    ("ID", "爱达荷州", "爱达荷", "Idaho"),
    ("IL", "伊利诺伊州", "伊利诺伊", "Illinois"),
    ("IN", "印第安纳州", "印第安纳", "Indiana"),
    ("IA", "艾奥瓦州", "艾奥瓦", "Iowa"),
    ("KS", "堪萨斯州", "堪萨斯", "Kansas"),
    ("KY", "肯塔基州", "肯塔基", "Kentucky"),
    ("LA", "路易斯安那州", "路易斯安那", "Louisiana"),
    ("ME", "缅因州", "缅因", "Maine"),
    ("MD", "马里兰州", "马里兰", "Maryland"),
    ("MA", "马萨诸塞州", "马萨诸塞", "Massachusetts"),
    ("MI", "密歇根州", "密歇根", "Michigan"),
    ("MN", "明尼苏达州", "明尼苏达", "Minnesota"),
    ("MS", "密西西比州", "密西西比", "Mississippi"),
    ("MO", "密苏里州", "密苏里", "Missouri"),
    ("MT", "蒙大拿州", "蒙大拿", "Montana"),
    ("NE", "内布拉斯加州", "内布拉斯加", "Nebraska"),
    ("NV", "内华达州", "内华达", "Nevada"),
    ("NH", "新罕布什尔州", "新罕布什尔", "New Hampshire"),
    ("NJ", "新泽西州", "新泽西", "New Jersey"),
    ("NM", "新墨西哥州", "新墨西哥", "New Mexico"),
    ("NY", "纽约州", "纽约", "New York"),
    ("NC", "北卡罗来纳州", "北卡罗来纳", "North Carolina"),
    ("ND", "北达科他州", "北达科他", "North Dakota"),
    ("OH", "俄亥俄州", "俄亥俄", "Ohio"),
    ("OK", "俄克拉何马州", "俄克拉何马", "Oklahoma"),
    ("OR", "俄勒冈州", "俄勒冈", "Oregon"),
    ("PA", "宾夕法尼亚州", "宾夕法尼亚", "Pennsylvania"),
    ("RI", "罗得岛州", "罗得岛", "Rhode Island"),
    ("SC", "南卡罗来纳州", "南卡罗来纳", "South Carolina"),
    ("SD", "南达科他州", "南达科他", "South Dakota"),
    ("TN", "田纳西州", "田纳西", "Tennessee"),
    ("TX", "得克萨斯州", "得克萨斯", "Texas"),
    ("UT", "犹他州", "犹他", "Utah"),
    ("VT", "佛蒙特州", "佛蒙特", "Vermont"),
    ("VA", "弗吉尼亚州", "弗吉尼亚", "Virginia"),
    ("WA", "华盛顿州", "华盛顿", "Washington"),
    ("WV", "西弗吉尼亚州", "西弗吉尼亚", "West Virginia"),
    ("WI", "威斯康星州", "威斯康星", "Wisconsin"),
    ("WY", "怀俄明州", "怀俄明", "Wyoming"),
)

_US_ALIASES: tuple[tuple[str, str], ...] = (
    ("加利福尼亚", "CA"),
    ("阿拉巴马州", "AL"),
    ("阿拉巴马", "AL"),
    ("爱荷华州", "IA"),
    ("爱荷华", "IA"),
    ("麻省", "MA"),
    ("麻州", "MA"),
    ("北卡", "NC"),
    ("南卡", "SC"),
    ("宾州", "PA"),
    ("德州", "TX"),
    ("德克萨斯州", "TX"),
    ("德克萨斯", "TX"),
    ("罗德岛州", "RI"),
    ("罗德岛", "RI"),
    ("Washington DC", "DC"),
    ("Washington D.C.", "DC"),
    ("Washington, D.C.", "DC"),
)

CN_PROVINCES = RegionSet(
    name="cn_provinces",
    regions=tuple(Region(*row) for row in _CN_TABLE),
    code_kind="gb2260",
    aliases=_CN_ALIASES,
)

US_STATES = RegionSet(
    name="us_states",
    regions=tuple(Region(*row) for row in _US_TABLE),
    code_kind="usps",
    aliases=_US_ALIASES,
)

_SHIPPED: dict[str, RegionSet] = {s.name: s for s in (CN_PROVINCES, US_STATES)}

REGION_SETS: tuple[str, ...] = tuple(_SHIPPED)
"""Names of the shipped region sets (``'cn_provinces'``, ``'us_states'``)."""

DEFAULT_REGION_SET = "cn_provinces"


def get_region_set(name: str) -> RegionSet:
    """The shipped region set called ``name``; ValueError naming the valid sets otherwise.

    A lender's own GeoJSON is not looked up here: build it with :func:`region_set_from_geojson`.
    """
    try:
        return _SHIPPED[name]
    except (KeyError, TypeError):
        valid = ", ".join(REGION_SETS)
        raise ValueError(
            f"unknown region set {name!r}: valid sets are {valid} "
            "(or a custom set built from a GeoJSON file)"
        ) from None


def mainland_codes() -> tuple[str, ...]:
    """The 31 mainland province codes of ``cn_provinces`` (no Hong Kong, Macao, Taiwan)."""
    return tuple(c for c in CN_PROVINCES.codes if c not in _CN_NOT_MAINLAND)


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------

_INT_LIKE = re.compile(r"^[+]?\d+(?:\.0*)?$")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")

# English suffixes dropped when the plain English key does not match ("Guangdong Province",
# "Guangxi Zhuang Autonomous Region", "Hong Kong SAR", "New York State"). Longest first.
_EN_SUFFIXES: tuple[str, ...] = tuple(
    sorted(
        (
            "province",
            "municipality",
            "city",
            "shi",
            "sheng",
            "autonomousregion",
            "zhuangautonomousregion",
            "huiautonomousregion",
            "uyghurautonomousregion",
            "uygurautonomousregion",
            "uighurautonomousregion",
            "specialadministrativeregion",
            "sar",
            "state",
        ),
        key=len,
        reverse=True,
    )
)


def _clean_text(value: str) -> str:
    """NFKC (full-width to half-width), strip, and drop inner whitespace."""
    text = unicodedata.normalize("NFKC", value).strip()
    return re.sub(r"\s+", "", text)


def _en_key(value: str) -> str:
    return _NON_ALNUM.sub("", _clean_text(value).lower())


@dataclass(frozen=True)
class _Index:
    exact: dict[str, str]  # cleaned text (codes, Chinese names) -> code
    english: dict[str, str]  # _en_key -> code
    upper_codes: dict[str, str]  # code.upper() -> code (codes are case-insensitive)


class _Builder:
    """Collects lookup keys; a key claimed by two regions is an error for shipped sets and is
    dropped (ambiguous, so it matches nothing) for custom sets."""

    def __init__(self, region_set: RegionSet) -> None:
        self.set = region_set
        self.keys: dict[str, str] = {}
        self.ambiguous: set[str] = set()

    def add(self, key: str, code: str, *, weak: bool = False) -> None:
        if not key or key in self.ambiguous:
            return
        prior = self.keys.get(key)
        if prior is None:
            self.keys[key] = code
        elif prior != code and not weak:
            if self.set.code_kind != "custom":
                raise ValueError(
                    f"region set {self.set.name!r}: {key!r} would mean both {prior!r} and {code!r}"
                )
            self.ambiguous.add(key)
            del self.keys[key]


@lru_cache(maxsize=32)
def _index(region_set: RegionSet) -> _Index:
    codes = {_clean_text(r.code): r.code for r in region_set.regions}
    exact, english, upper = _Builder(region_set), _Builder(region_set), _Builder(region_set)
    for r in region_set.regions:
        upper.add(_clean_text(r.code).upper(), r.code)
        if region_set.code_kind == "usps":
            upper.add("US-" + r.code, r.code)
        for name in (r.name_zh, r.short_zh):
            key = _clean_text(name)
            if key not in codes:  # a code always means its own region
                exact.add(key, r.code)
        english.add(_en_key(r.name_en), r.code)
    for alias, code in region_set.aliases:
        if code not in region_set:
            raise ValueError(f"region set {region_set.name!r}: alias {alias!r} -> unknown {code!r}")
        if alias.isascii():
            english.add(_en_key(alias), code)
        else:
            exact.add(_clean_text(alias), code)
    if region_set.code_kind != "custom":
        # A shipped set's Chinese name without its 州 / 省 / 市 suffix is accepted too.
        for r in region_set.regions:
            name = _clean_text(r.name_zh)
            if len(name) > 2 and name[-1] in "州省市":
                exact.add(name[:-1], r.code, weak=True)
    return _Index(exact={**exact.keys, **codes}, english=english.keys, upper_codes=upper.keys)


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, np.floating) and np.isnan(value):
        return True
    return False


def _as_text(value: Any) -> str | None:
    """A code-ish text for a value: ints and integral floats lose their ``.0``."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, Number):
        try:
            f = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        if not math.isfinite(f) or f != int(f):
            return None
        return str(int(f))
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        value = str(value)
    return value


def normalise_region(value: Any, region_set: RegionSet | str) -> str | None:
    """The canonical code of ``value`` in ``region_set``, or None when it names no region.

    Accepted: the code itself (``'440000'``, also ``440000``, ``440000.0``, ``'440000.0'``, the
    9-digit form with China's 156 prefix ``'156440000'``; for
    US sets the USPS code in any case, ``'US-CA'`` too), the full Chinese name (``'广东省'``),
    the short Chinese name (``'广东'``), the English name in any case, ignoring spaces and
    punctuation, with or without a suffix such as "Province", "Municipality", "Autonomous
    Region", "SAR" or "State" (``'guangdong'``, ``'Guangdong Province'``, ``'new york'``), and a
    few common variants (``'Macau'``, ``'Xizang'``, ``'臺灣'``, ``'德州'``, ``'Washington DC'``).
    Full-width characters and surrounding whitespace are ignored. Missing values give None.
    """
    if isinstance(region_set, str):
        region_set = get_region_set(region_set)
    if _is_missing(value):
        return None
    text = _as_text(value)
    if text is None:
        return None
    text = _clean_text(text)
    if not text:
        return None
    idx = _index(region_set)
    hit = idx.exact.get(text)
    if hit is not None:
        return hit
    if _INT_LIKE.match(text):  # '440000.0', '+440000'
        digits = str(int(float(text)))
        hit = idx.exact.get(digits)
        if hit is None and region_set.code_kind == "gb2260" and len(digits) == 9:
            if digits.startswith("156"):  # the 9-digit form with the country prefix
                hit = idx.exact.get(digits[3:])
        if hit is not None:
            return hit
    hit = idx.upper_codes.get(text.upper())
    if hit is not None:
        return hit
    key = _en_key(text)
    if not key:
        return None
    hit = idx.english.get(key)
    if hit is not None:
        return hit
    for suffix in _EN_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            hit = idx.english.get(key[: -len(suffix)])
            if hit is not None:
                return hit
    return None


def normalise_region_series(series: pd.Series, region_set: RegionSet | str) -> pd.Series:
    """:func:`normalise_region` for a whole column, computed once per distinct value.

    Returns an object Series with the same index and name: canonical codes, None where the
    value is missing or names no region.
    """
    if isinstance(region_set, str):
        region_set = get_region_set(region_set)
    if not isinstance(series, pd.Series):
        series = pd.Series(series)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    for i, value in enumerate(np.asarray(uniques, dtype=object)):
        mapped[i] = normalise_region(value, region_set)
    mapped[-1] = None  # sentinel -1 (missing) indexes the last slot
    return pd.Series(mapped[codes], index=series.index, name=series.name, dtype=object)


# ---------------------------------------------------------------------------------------------
# Custom region sets
# ---------------------------------------------------------------------------------------------


def _read_features(path: str | Path) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"GeoJSON file not found: {p}")
    try:
        with p.open("r", encoding="utf-8-sig") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p} is not valid JSON: {exc}") from None
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features") or []
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    else:
        raise ValueError(f"{p} is not a GeoJSON FeatureCollection")
    return [f for f in features if isinstance(f, dict)]


def custom_code(value: Any) -> str | None:
    """A custom set's code for a property value: text, integral numbers without ``.0``."""
    if _is_missing(value):
        return None
    text = _as_text(value)
    if text is None and isinstance(value, Number):
        text = str(value)
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text).strip()
    return text or None


def region_set_from_geojson(
    path: str | Path,
    code_property: str,
    name_property: str | None = None,
    *,
    name: str = "custom",
) -> RegionSet:
    """A region set from a lender's GeoJSON: one region per distinct ``code_property`` value.

    Codes are the property values as text (integral numbers lose any ``.0``), in file order.
    Features whose code is empty or missing are skipped (for instance decoration lines);
    features repeating a code are the same region (the first name wins). The name of each
    region comes from ``name_property`` (else the code) and fills ``name_zh``, ``short_zh`` and
    ``name_en``. ValueError when the property is absent from every feature or no feature has a
    code; the codes must fit the store's ``region_code`` column (32 characters).
    """
    features = _read_features(path)
    if not features:
        raise ValueError(f"{path}: the GeoJSON has no features")
    props = [f.get("properties") or {} for f in features]
    if not any(code_property in p for p in props):
        available = sorted({k for p in props for k in p})
        raise ValueError(
            f"{path}: no feature has the code property {code_property!r}; "
            f"properties present: {', '.join(available) or '(none)'}"
        )
    if name_property is not None and not any(name_property in p for p in props):
        raise ValueError(f"{path}: no feature has the name property {name_property!r}")
    regions: dict[str, Region] = {}
    for p in props:
        code = custom_code(p.get(code_property))
        if code is None or code in regions:
            continue
        if len(code) > 32:
            raise ValueError(f"{path}: code {code!r} is longer than 32 characters")
        label = p.get(name_property) if name_property else None
        label = code if _is_missing(label) or str(label).strip() == "" else str(label).strip()
        regions[code] = Region(code=code, name_zh=label, short_zh=label, name_en=label)
    if not regions:
        raise ValueError(f"{path}: no feature has a value for {code_property!r}")
    return RegionSet(name=name, regions=tuple(regions.values()), code_kind="custom")
