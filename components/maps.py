"""Choropleth maps of a metric by region (folium, shown with streamlit-folium).

The map draws without any basemap by default: tile servers are often out of reach inside a
bank, and vector regions need none. A light basemap can be switched on. On the China map
the national boundary lines (国界线, including the South China Sea line) are drawn on top.

Nothing is fetched from the internet: folium's maps load Leaflet, jQuery, Bootstrap and
d3 (for branca's legend) from public CDNs, which an offline bank cannot reach (the map then
does not draw at all). Here the map carries the vendored Leaflet 1.9.3
(``components/static/leaflet-1.9.3``, BSD-2-Clause) inline, as a ``data:`` script and an
inline style, drops the other libraries (a choropleth needs none of them) and draws its
legend in plain HTML instead of with d3.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # folium and branca are imported when a map is drawn (about 0.3 s): pages
    import branca.colormap as cm  # that only use the colours below do not pay for them
    import folium

__all__ = ["RISK_COLOURS", "BALANCE_COLOURS", "DIVERGING_COLOURS", "NO_DATA", "choropleth"]

RISK_COLOURS = ["#fff5eb", "#fdd0a2", "#fd8d3c", "#e6550d", "#a63603", "#67000d"]
"""Sequential risk colours, light (low) to dark red (high)."""

BALANCE_COLOURS = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"]
"""Sequential neutral colours (light to dark blue) for sizes that are not risks (balance)."""

DIVERGING_COLOURS = ["#1a9850", "#91cf60", "#f7f7f7", "#fc8d59", "#d73027"]
"""Diverging colours for changes: green (fell) through white (0) to red (rose)."""

NO_DATA = "#d9d9d9"

_LEAFLET_DIR = Path(__file__).resolve().parent / "static" / "leaflet-1.9.3"


@lru_cache(maxsize=1)
def _leaflet_js_url() -> str:
    """The vendored leaflet.js as a ``data:`` URL (no source-map comment, nothing to fetch)."""
    text = (_LEAFLET_DIR / "leaflet.js").read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("//# sourceMappingURL"))
    return "data:text/javascript;base64," + base64.b64encode(text.encode("utf-8")).decode("ascii")


@lru_cache(maxsize=1)
def _leaflet_css() -> str:
    return (_LEAFLET_DIR / "leaflet.css").read_text(encoding="utf-8")


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _domain(values: pd.Series, center_zero: bool) -> tuple[float, float]:
    finite = [float(v) for v in values if not _missing(v) and math.isfinite(float(v))]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if center_zero:
        m = max(abs(lo), abs(hi)) or 1e-6
        return -m, m
    if hi <= lo:  # one value (or all equal): put it in the middle of the scale, not at "low"
        pad = abs(lo) * 0.01 or 1e-6
        lo, hi = lo - pad, hi + pad
    return lo, hi


def _colormap(
    values: pd.Series,
    caption: str,
    higher_is_worse: bool,
    colours: Sequence[str] | None = None,
    center_zero: bool = False,
) -> cm.LinearColormap:
    import branca.colormap as cm

    lo, hi = _domain(values, center_zero)
    scale = list(colours) if colours is not None else RISK_COLOURS
    if not higher_is_worse:
        scale = list(reversed(scale))
    return cm.LinearColormap(scale, vmin=lo, vmax=hi, caption=caption)


@lru_cache(maxsize=1)
def _legend_class() -> type:
    """The legend element's class (defined on first use: it needs branca and jinja2)."""
    from branca.element import MacroElement
    from jinja2 import Template

    class _Legend(MacroElement):
        """A Leaflet control (bottom left) with the caption, a colour bar, its range, and the
        no-data swatch: plain HTML, so it needs no d3 (branca's own legend loads d3 from a CDN)."""

        _template = Template(
            """
            {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.control({position: "bottomleft"});
            {{ this.get_name() }}.onAdd = function (map) {
                var div = L.DomUtil.create("div", "daihou-legend");
                div.innerHTML = {{ this.body|tojson }};
                L.DomEvent.disableClickPropagation(div);
                return div;
            };
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
            {% endmacro %}
            """
        )

        def __init__(self, body: str) -> None:
            super().__init__()
            self._name = "Legend"
            self.body = body

    return _Legend


def _legend_html(colour: cm.LinearColormap, caption: str, fmt: Callable[[float], str], no_data_label: str) -> str:
    stops = ", ".join(colour.rgb_hex_str(colour.vmin + (colour.vmax - colour.vmin) * i / 10) for i in range(11))
    lo, mid, hi = colour.vmin, (colour.vmin + colour.vmax) / 2, colour.vmax
    box = (
        "background:rgba(255,255,255,0.92);padding:6px 8px;border-radius:4px;"
        "box-shadow:0 0 4px rgba(0,0,0,0.25);font:12px/1.3 sans-serif;color:#222;min-width:170px"
    )
    return (
        f'<div style="{box}">'
        f'<div style="font-weight:600;margin-bottom:4px">{html.escape(caption)}</div>'
        f'<div style="height:10px;border:1px solid #999;background:linear-gradient(to right, {stops})"></div>'
        '<div style="display:flex;justify-content:space-between;margin-top:2px">'
        f"<span>{html.escape(fmt(lo))}</span><span>{html.escape(fmt(mid))}</span><span>{html.escape(fmt(hi))}</span></div>"
        f'<div style="margin-top:4px"><span style="display:inline-block;width:12px;height:10px;background:{NO_DATA};'
        f'border:1px solid #999;vertical-align:middle"></span> {html.escape(no_data_label)}</div>'
        "</div>"
    )


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
    colours: Sequence[str] | None = None,
    center_zero: bool = False,
    legend_format: Callable[[float], str] | None = None,
    no_data_label: str = "无数据 no data",
) -> folium.Map:
    """A folium map colouring each region of ``geojson`` by ``values[value_column]``.

    ``values`` has one row per region (column ``code`` plus the tooltip columns);
    ``tooltip_fields`` are (column, label, formatter). Regions without a value are grey.
    ``selected`` outlines one region. ``colours`` replaces the risk scale (low to high;
    reversed when ``higher_is_worse`` is False); ``center_zero`` makes the scale symmetric
    around 0 (for changes, with :data:`DIVERGING_COLOURS`); ``legend_format`` formats the
    legend's numbers. The regions are SVG paths (``path.leaflet-interactive``) that answer
    clicks; the boundary lines do not.
    """
    import folium
    from branca.element import Element

    # New feature and property dicts, shared geometries (never modified): a deep copy of a
    # province map costs more than the rest of the map.
    features = {
        **geojson,
        "features": [{**f, "properties": dict(f["properties"])} for f in geojson["features"]],
    }
    by_code = values.set_index("code").to_dict("index")
    colour = _colormap(values[value_column], caption, higher_is_worse, colours, center_zero)
    for f in features["features"]:
        props = f["properties"]
        row = by_code.get(props["code"], {})
        raw = row.get(value_column)
        props["_fill"] = NO_DATA if _missing(raw) else colour(float(raw))
        props["_name"] = props.get(name_field) or props["code"]
        for col, _, fmt in tooltip_fields:
            v = row.get(col)
            props[col] = "—" if _missing(v) else fmt(v)

    # keyboard=False: Leaflet focuses the map on mousedown for its keyboard handler, and focusing a
    # partly visible map (an iframe in Streamlit) scrolls the page between mousedown and mouseup,
    # which turns a click on a region into a small drag: no click.
    fmap = folium.Map(tiles=None, zoom_control=True, prefer_canvas=False, control_scale=False, zoom_snap=0.25, keyboard=False)
    # Leaflet from the package, inline; none of folium's CDN libraries (see the module docstring).
    fmap.default_js = [("leaflet", _leaflet_js_url())]
    fmap.default_css = []
    fmap.get_root().header.add_child(Element(f"<style>{_leaflet_css()}\n.leaflet-container {{ background: #ffffff; }}</style>"), name="leaflet_css_inline")
    if basemap:
        folium.TileLayer("CartoDB positron", name="basemap", control=False).add_to(fmap)
    bounds = _bounds(geojson)
    regions = folium.GeoJson(
        features,
        name="regions",
        style_function=lambda f: {
            "fillColor": f["properties"]["_fill"],
            "color": "#111" if f["properties"]["code"] == selected else "#666",
            "weight": 3 if f["properties"]["code"] == selected else 0.6,
            "fillOpacity": 0.85,
        },
        highlight_function=lambda f: {"weight": 2, "color": "#000"},
        tooltip=folium.GeoJsonTooltip(
            fields=["_name", *[c for c, _, _ in tooltip_fields]],
            aliases=["", *[label for _, label, _ in tooltip_fields]],
            sticky=True,
        ),
    )
    regions._get_self_bounds = lambda: bounds  # known already; folium would walk every point again
    regions.add_to(fmap)
    if boundary_lines:
        folium.GeoJson(
            boundary_lines,
            name="boundary",
            style_function=lambda f: {"color": "#555", "weight": 1.2},
            interactive=False,
        ).add_to(fmap)
    _legend_class()(_legend_html(colour, caption, legend_format or (lambda v: f"{v:,.4g}"), no_data_label)).add_to(fmap)
    if bounds:
        fmap.fit_bounds(bounds)
    return fmap


def _bounds(geojson: dict) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the features (from the GeoJSON ``bbox`` when given)."""
    box = geojson.get("bbox")
    if box and len(box) == 4:
        return [[box[1], box[0]], [box[3], box[2]]]
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
