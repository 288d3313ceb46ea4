"""The global filter bar: as-of month, trend window, region, product, segment.

The widgets live in the sidebar, are drawn by ``app.py`` on every run (so they persist
across pages) and are bound to the URL's query parameters, so a view can be shared.
Only regions inside the user's scope are offered; the data layer enforces the scope anyway.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import streamlit as st

from components.i18n import both, t
from components.store import cached_dimension_values, cached_months, cached_regions, data_version
from data.read import Filters, Scope

__all__ = ["GlobalFilters", "filter_bar", "current_filters"]

_KEY = "daihou_filters"


@dataclass(frozen=True)
class GlobalFilters:
    """What the sidebar selects. ``month()`` for a one-month view, ``trend()`` for a window."""

    as_of: dt.date | None
    start: dt.date | None
    end: dt.date | None
    regions: tuple[str, ...]
    products: tuple[str, ...]
    segments: tuple[str, ...]

    def month(self) -> Filters:
        """The filters of the as-of month."""
        return Filters(as_of=self.as_of, regions=self.regions, products=self.products, segments=self.segments)

    def trend(self) -> Filters:
        """The filters of the trend window (inclusive)."""
        return Filters(start=self.start, end=self.end, regions=self.regions, products=self.products, segments=self.segments)

    def history(self) -> Filters:
        """The dimension filters over every stored month."""
        return Filters(regions=self.regions, products=self.products, segments=self.segments)


def _ym(d: dt.date) -> str:
    return d.strftime("%Y-%m")


def filter_bar(scope: Scope) -> GlobalFilters:
    """Draw the filters in the sidebar and return the selection (also kept for the pages)."""
    version = data_version()
    months = cached_months(version, scope)
    by_label = {_ym(m): m for m in months}
    labels = list(by_label)
    sb = st.sidebar
    sb.subheader(t("filters"))
    if labels:
        as_of = sb.selectbox(t("as_of"), labels, index=len(labels) - 1, key="as_of", bind="query-params")
        window = sb.select_slider(
            t("months"), labels, value=(labels[0], labels[-1]), key="window", bind="query-params"
        ) if len(labels) > 1 else (labels[0], labels[0])
    else:
        as_of, window = None, (None, None)
    regions = cached_regions(version, scope)
    # Labels are bilingual and the same in either language: a widget bound to the URL keeps
    # its label there, so a shared link must not depend on the viewer's language.
    names = {
        code: f"{zh} {en}" if zh != en else zh
        for code, zh, en in zip(regions["region_code"], regions["short_zh"], regions["name_en"], strict=True)
    }
    sel_regions = sb.multiselect(
        t("region"), list(names), format_func=lambda c: names.get(c, c), key="region",
        placeholder=t("all"), bind="query-params",
    )
    products = cached_dimension_values(version, scope, "product")
    sel_products = sb.multiselect(t("product"), products, format_func=both, key="product", placeholder=t("all"), bind="query-params")
    segments = cached_dimension_values(version, scope, "segment")
    sel_segments = sb.multiselect(t("segment"), segments, format_func=both, key="segment", placeholder=t("all"), bind="query-params")
    chosen = GlobalFilters(
        as_of=by_label.get(as_of),
        start=by_label.get(window[0]),
        end=by_label.get(window[1]),
        regions=tuple(sel_regions),
        products=tuple(sel_products),
        segments=tuple(sel_segments),
    )
    st.session_state[_KEY] = chosen
    return chosen


def current_filters() -> GlobalFilters:
    """The selection made by the sidebar in this run (pages run after ``filter_bar``)."""
    return st.session_state[_KEY]
