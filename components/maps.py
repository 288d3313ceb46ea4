"""Choropleth maps of a metric by region (folium, shown with streamlit-folium).

The map draws without any basemap by default: tile servers are often out of reach inside a
bank, and vector regions need none. A light basemap can be switched on. On the China map
the national boundary lines (国界线, including the South China Sea line) are drawn on top.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import branca.colormap as cm
import folium
import pandas as pd

__all__ = ["RISK_COLOURS", "choropleth"]

RISK_COLOURS = ["#fff5eb", "#fdd0a2", "#fd8d3c", "#e6550d", "#a63603", "#67000d"]
"""Sequential risk colours, light (low) to dark red (high)."""

NO_DATA = "#d9d9d9"


def _colormap(values: pd.Series, caption: str, higher_is_worse: bool) -> cm.LinearColormap:
    finite = values[values.map(lambda v: v is not None and not (isinstance(v, float) and math.isnan(v)))]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if hi <= lo:
        hi = lo + (abs(lo) * 0.01 or 1e-6)
    colours = RISK_COLOURS if higher_is_worse else list(reversed(RISK_COLOURS))
    return cm.LinearColormap(colours, vmin=lo, vmax=hi, caption=caption)


def choropleth(
    geojson: dict,
    values: pd.DataFrame,
    *,
    value_column: str,
    caption: str,
    tooltip_fields: list[tuple[str, str, Callable[[object], str]]],
    name_field: str = "name_zh",
    boundary_lines: dict | None = None,
    basemap: bool = False,
    higher_is_worse: bool = True,
    selected: str | None = None,
) -> folium.Map:
    """A folium map colouring each region of ``geojson`` by ``values[value_column]``.

    ``values`` has one row per region (column ``code`` plus the tooltip columns);
    ``tooltip_fields`` are (column, label, formatter). Regions without a value are grey.
    ``selected`` outlines one region.
    """
    features = copy.deepcopy(geojson)
    by_code = values.set_index("code").to_dict("index")
    colour = _colormap(values[value_column], caption, higher_is_worse)
    for f in features["features"]:
        props = f["properties"]
        row = by_code.get(props["code"], {})
        raw = row.get(value_column)
        props["_fill"] = NO_DATA if raw is None or (isinstance(raw, float) and math.isnan(raw)) else colour(raw)
        props["_name"] = props.get(name_field) or props["code"]
        for col, _, fmt in tooltip_fields:
            v = row.get(col)
            props[col] = "—" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt(v)

    fmap = folium.Map(tiles=None, zoom_control=True, prefer_canvas=True, control_scale=False)
    if basemap:
        folium.TileLayer("CartoDB positron", name="basemap", control=False).add_to(fmap)
    folium.GeoJson(
        features,
        name="regions",
        style_function=lambda f: {
            "fillColor": f["properties"]["_fill"],
            "color": "#222" if f["properties"]["code"] == selected else "#666",
            "weight": 2.5 if f["properties"]["code"] == selected else 0.6,
            "fillOpacity": 0.85,
        },
        highlight_function=lambda f: {"weight": 2, "color": "#000"},
        tooltip=folium.GeoJsonTooltip(
            fields=["_name", *[c for c, _, _ in tooltip_fields]],
            aliases=["", *[label for _, label, _ in tooltip_fields]],
            sticky=True,
        ),
    ).add_to(fmap)
    if boundary_lines:
        folium.GeoJson(
            boundary_lines,
            name="boundary",
            style_function=lambda f: {"color": "#555", "weight": 1.2},
            interactive=False,
        ).add_to(fmap)
    colour.add_to(fmap)
    bounds = _bounds(geojson)
    if bounds:
        fmap.fit_bounds(bounds)
    return fmap


def _bounds(geojson: dict) -> list[list[float]] | None:
    xs: list[float] = []
    ys: list[float] = []

    def walk(coords: object) -> None:
        if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
            xs.append(coords[0])
            ys.append(coords[1])
        elif isinstance(coords, (list, tuple)):
            for c in coords:
                walk(c)

    for f in geojson["features"]:
        walk(f["geometry"]["coordinates"])
    if not xs:
        return None
    return [[min(ys), min(xs)], [max(ys), max(xs)]]
