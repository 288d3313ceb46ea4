"""A row of KPI cards: value, change against the previous month, a sparkline, and help."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

__all__ = ["Card", "kpi_row"]


@dataclass(frozen=True)
class Card:
    """One KPI: its column in the KPI frame, label, formatter, help text, and whether up is bad."""

    column: str
    label: str
    fmt: Callable[[float], str]
    help: str
    up_is_bad: bool = False
    delta_as_points: bool = False


def kpi_row(kpis: pd.DataFrame, cards: Sequence[Card], spark_months: int = 12) -> None:
    """Draw ``cards`` from the last row of ``kpis`` (sorted by as_of), delta vs the row before."""
    if kpis.empty:
        st.info("No data for this selection.")
        return
    last = kpis.iloc[-1]
    prev = kpis.iloc[-2] if len(kpis) > 1 else None
    cols = st.columns(len(cards))
    for col, card in zip(cols, cards, strict=True):
        value = last[card.column]
        delta = None
        if prev is not None and pd.notna(value) and pd.notna(prev[card.column]):
            diff = value - prev[card.column]
            delta = f"{diff * 100:+.2f} pp" if card.delta_as_points else card.fmt(diff)
            if not card.delta_as_points and diff > 0:
                delta = "+" + delta
        spark = kpis[card.column].tail(spark_months).astype(float).fillna(0).tolist()
        col.metric(
            card.label,
            card.fmt(value),
            delta,
            delta_color="inverse" if card.up_is_bad else "normal",
            help=card.help,
            border=True,
            chart_data=spark,
            chart_type="line",
        )
