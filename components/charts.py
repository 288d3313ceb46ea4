"""Plotly figure helpers with one look across pages: risk colours, readable fonts, image export.

Charts are drawn with ``show_chart(fig, key=...)`` so every chart has plotly's own image
export (the camera button) set to PNG at twice the size.
"""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

__all__ = [
    "RISK_SEQUENCE", "CATEGORY_COLOURS", "CLASS_COLOURS", "style", "show_chart", "PLOTLY_CONFIG", "label", "tr",
    "number_columns",
]

RISK_SEQUENCE = ["#fff5eb", "#fdd0a2", "#fd8d3c", "#e6550d", "#a63603", "#67000d"]
"""Sequential risk colour scale, low (light) to high (dark red)."""

CATEGORY_COLOURS = ["#1f5fa8", "#e6550d", "#2a9d8f", "#8e44ad", "#c9a227", "#6c757d", "#d62728", "#17becf"]

CLASS_COLOURS = {
    "normal": "#2a9d8f",
    "special_mention": "#e9c46a",
    "substandard": "#f4a261",
    "doubtful": "#e76f51",
    "loss": "#9b2226",
}
"""Five-level classification colours: 正常 green through 损失 dark red."""

PLOTLY_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
}

_TEMPLATE = go.layout.Template(pio.templates["plotly_white"])
_TEMPLATE.layout.colorway = CATEGORY_COLOURS
_TEMPLATE.layout.font = {"family": "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif", "size": 13}
_TEMPLATE.layout.margin = {"l": 10, "r": 10, "t": 40, "b": 10}
_TEMPLATE.layout.hoverlabel = {"font_size": 12}
_TEMPLATE.layout.legend = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}


def style(fig: go.Figure, title: str | None = None, height: int = 360) -> go.Figure:
    """Apply the house template (and a title) to ``fig``."""
    fig.update_layout(template=_TEMPLATE, height=height)
    if title:
        fig.update_layout(title={"text": title, "font": {"size": 15}})
    return fig


def show_chart(fig: go.Figure, key: str, **kwargs) -> object:
    """Draw ``fig`` full width with the image-export config; returns the selection event."""
    kwargs.setdefault("theme", None)  # our template, not Streamlit's
    return st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG, width="stretch", **kwargs)


def label(en: str, zh: str, lang: str) -> str:
    """The label in the page's language: ``en`` when ``lang`` is ``"en"``, else ``zh``."""
    return en if lang == "en" else zh


def tr(lang: str, en: str, zh: str) -> str:
    """:func:`label` with the language first (the early-warning and customer charts' order)."""
    return label(en, zh, lang)


def number_columns(lang: str, columns: Mapping[str, tuple[str, ...]]) -> dict:
    """``column_config`` of number columns for ``st.dataframe``: display name →
    ``(format, English help, 中文 help)``, or ``(format,)`` for a column without help; the
    help is given in ``lang``."""
    return {
        name: st.column_config.NumberColumn(format=spec[0], help=tr(lang, *spec[1:]) if len(spec) > 1 else None)
        for name, spec in columns.items()
    }
