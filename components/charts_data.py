"""Figures of the Data page's quality summary: plain functions, frames in, plotly figures out.

They take the frames of :mod:`data.quality` and the language (``"zh"`` or ``"en"``), so they
are testable without Streamlit.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from components.charts import CATEGORY_COLOURS, RISK_SEQUENCE, style, tr as _tr

__all__ = ["missing_figure", "monthly_rows_figure"]


def missing_figure(missing: pd.DataFrame, table: str, lang: str = "zh") -> go.Figure:
    """Horizontal bars: the share of rows leaving each column of ``table`` blank.

    ``missing`` is :func:`data.quality.missing_shares` (columns ``table``, ``column``,
    ``rows``, ``missing``, ``share``, ``note_en``, ``note_zh``). The bars run from 0 to 100 %;
    a blank that is normal for the column (its note) is said in the hover and drawn lighter.
    """
    need = {"table", "column", "rows", "missing", "share", "note_en", "note_zh"}
    lacking = sorted(need - set(missing.columns))
    if lacking:
        raise ValueError(f"missing frame lacks column(s): {', '.join(lacking)}")
    part = missing[missing["table"] == table].iloc[::-1]  # first column on top
    note = part["note_en" if lang == "en" else "note_zh"].fillna("")
    colours = [RISK_SEQUENCE[2] if n else RISK_SEQUENCE[4] for n in note]
    fig = go.Figure(
        go.Bar(
            x=part["share"].fillna(0.0),
            y=part["column"],
            orientation="h",
            marker_color=colours,
            customdata=list(zip(part["missing"], part["rows"], note, strict=True)),
            text=[f"{s:.1%}" if pd.notna(s) else "—" for s in part["share"]],
            textposition="outside",
            cliponaxis=False,
            hovertemplate=(
                "%{y}: %{x:.2%}<br>"
                + _tr(lang, "blank in %{customdata[0]:,} of %{customdata[1]:,} rows", "%{customdata[1]:,} 行中 %{customdata[0]:,} 行为空")
                + "<br>%{customdata[2]}<extra></extra>"
            ),
        )
    )
    fig.update_xaxes(range=[0, 1.12], tickformat=".0%", title=_tr(lang, "share of rows blank", "空值占比"))
    fig.update_yaxes(title=None, automargin=True)
    style(fig, _tr(lang, "Blank values per column", "各列空值占比"), height=max(220, 60 + 34 * len(part)))
    return fig


def monthly_rows_figure(monthly: pd.DataFrame, lang: str = "zh") -> go.Figure:
    """Performance rows per stored month (bars: active and other rows) and the share of active
    rows without a credit score (line, right axis): a partial month or a scoring gap stands out.

    ``monthly`` is :func:`data.quality.monthly_rows` (columns ``as_of``, ``rows``, ``active``,
    ``score_missing``, ``score_missing_share``).
    """
    need = {"as_of", "rows", "active", "score_missing_share"}
    lacking = sorted(need - set(monthly.columns))
    if lacking:
        raise ValueError(f"monthly frame lacks column(s): {', '.join(lacking)}")
    x = pd.to_datetime(monthly["as_of"])
    fig = go.Figure()
    fig.add_bar(
        x=x, y=monthly["active"], name=_tr(lang, "active rows", "在贷行"), marker_color=CATEGORY_COLOURS[0],
        hovertemplate="%{x|%Y-%m}: %{y:,}<extra></extra>",
    )
    fig.add_bar(
        x=x, y=monthly["rows"] - monthly["active"], name=_tr(lang, "closed / written off", "结清/核销行"),
        marker_color=CATEGORY_COLOURS[5], hovertemplate="%{x|%Y-%m}: %{y:,}<extra></extra>",
    )
    fig.add_scatter(
        x=x, y=monthly["score_missing_share"], name=_tr(lang, "active rows without score", "在贷缺评分占比"),
        yaxis="y2", mode="lines+markers", line={"color": CATEGORY_COLOURS[1]},
        hovertemplate="%{x|%Y-%m}: %{y:.2%}<extra></extra>",
    )
    top = monthly["score_missing_share"].max() if len(monthly) else 0.0
    span = max(0.05, float(top) * 1.2) if pd.notna(top) else 0.05
    fig.update_layout(
        barmode="stack",
        yaxis={"title": _tr(lang, "rows", "行数"), "tickformat": ","},
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0},
        yaxis2={
            "overlaying": "y", "side": "right", "tickformat": ".0%", "showgrid": False,
            "range": [0, span], "dtick": 0.01 if span <= 0.05 else None,
            "title": _tr(lang, "without score", "缺评分"),
        },
        xaxis={"tickformat": "%Y-%m"},
    )
    style(fig, _tr(lang, "Performance rows per month", "每月表现行数"), height=360)
    return fig
