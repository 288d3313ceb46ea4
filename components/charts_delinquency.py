"""Drawing pieces of the Overview (总览) and Delinquency (逾期) pages: figures, labels, tables.

Plain functions, testable without a running Streamlit app: they take the frames of
``data.overview``, ``data.delinquency`` and ``data.classification`` and the language
(``"zh"`` or ``"en"``), and return plotly figures, display frames or small values. No risk
maths happens here: every rate comes from ``analytics`` (through the data layer); this
module only picks, relabels, orders and draws. The one exception is a share of the book
within a stacked bar (class balance ÷ balance), a display proportion of columns the
KPI frame already holds.

Clickable charts carry ``customdata`` on every point (month as ISO text, then the state
keys), so a plotly selection event can be turned back into the cell behind it with
:func:`picked`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.classification import CLASS_NAMES_ZH, CLASSES, NPL_CLASSES
from analytics.delinquency import DPD_BUCKETS, FORWARD_ROLLS, ROLL_STATES
from analytics.kpi import safe_ratio
from components.charts import CATEGORY_COLOURS, CLASS_COLOURS, label, style

__all__ = [
    "BUCKET_COLOURS",
    "THRESHOLD_COLUMNS",
    "DELINQUENCY_TABS",
    "tab_label",
    "label",
    "bucket_label",
    "state_label",
    "class_label",
    "threshold_label",
    "measure_label",
    "rate_column",
    "in_window",
    "picked",
    "rate_trend_figure",
    "bucket_figure",
    "roll_heatmap",
    "roll_label",
    "roll_trend_figure",
    "CURE_COLUMNS",
    "cure_names",
    "vintage_figure",
    "class_mix_figure",
    "class_donut",
    "cohort_options",
    "default_cohorts",
    "loan_frame",
    "movers_frame",
    "provision_frame",
]

BUCKET_COLOURS: dict[str, str] = {
    "current": "#2a9d8f",
    "1-30": "#fdd0a2",
    "31-60": "#fdae6b",
    "61-90": "#fd8d3c",
    "91-180": "#e6550d",
    "181-360": "#a63603",
    "361+": "#67000d",
}
"""DPD bucket colours: current green, then light orange (1-30) to dark red (361+)."""

THRESHOLD_COLUMNS: dict[int, str] = {0: "1", 30: "30", 90: "90"}
"""Threshold k (dpd > k) → the suffix of its KPI columns (``overdue_rate_<suffix>_<measure>``)."""

DELINQUENCY_TABS: tuple[str, ...] = ("trend", "buckets", "roll", "vintage", "classification")
"""The sections (tabs) of the Delinquency page, in order; :func:`tab_label` names them."""

_TAB_NAMES = {
    "trend": ("Overdue trend", "逾期率趋势"),
    "buckets": ("DPD buckets", "逾期分布"),
    "roll": ("Roll rates", "迁徙率"),
    "vintage": ("Vintage", "账龄分析"),
    "classification": ("Five-level & provisions", "五级分类与拨备"),
}

_BUCKET_NAMES = {
    "current": ("Current", "未逾期"),
    "1-30": ("1-30 DPD", "逾期1-30天"),
    "31-60": ("31-60 DPD", "逾期31-60天"),
    "61-90": ("61-90 DPD", "逾期61-90天"),
    "91-180": ("91-180 DPD", "逾期91-180天"),
    "181-360": ("181-360 DPD", "逾期181-360天"),
    "361+": ("361+ DPD", "逾期360天以上"),
}
_TERMINAL_NAMES = {
    "closed": ("Closed", "已结清"),
    "written_off": ("Written off", "已核销"),
    "missing": ("Not reported", "未报送"),
}
_CLASS_EN = {
    "normal": "Normal",
    "special_mention": "Special mention",
    "substandard": "Substandard",
    "doubtful": "Doubtful",
    "loss": "Loss",
}


def tab_label(tab: str, lang: str) -> str:
    """The label of a Delinquency page tab (also its ``?dq_tab=`` value in the URL)."""
    en, zh = _TAB_NAMES[tab]
    return label(en, zh, lang)


def bucket_label(bucket: str, lang: str) -> str:
    """Short display name of a DPD bucket key (``"1-30"`` → ``逾期1-30天`` / ``1-30 DPD``)."""
    en, zh = _BUCKET_NAMES[bucket]
    return label(en, zh, lang)


def state_label(state: str, lang: str) -> str:
    """Short display name of a roll-rate state: a bucket, closed, written off or not reported."""
    if state in _BUCKET_NAMES:
        return bucket_label(state, lang)
    en, zh = _TERMINAL_NAMES[state]
    return label(en, zh, lang)


def class_label(cls: str, lang: str) -> str:
    """A class of the five-level classification with both names (``正常 Normal`` / ``Normal 正常``)."""
    zh, en = CLASS_NAMES_ZH[cls], _CLASS_EN[cls]
    return f"{en} {zh}" if lang == "en" else f"{zh} {en}"


def threshold_label(k: int) -> str:
    """``1+ DPD`` for k = 0, ``30+ DPD``, ``90+ DPD``."""
    return f"{1 if k == 0 else k}+ DPD"


def measure_label(measure: str, lang: str) -> str:
    """``By balance 按余额`` / ``By count 按笔数``."""
    return {"balance": label("By balance", "按余额", lang), "count": label("By count", "按笔数", lang)}[measure]


def rate_column(threshold: int, measure: str) -> str:
    """The KPI column of the overdue rate at ``threshold`` by ``measure`` (``overdue_rate_30_balance``)."""
    if threshold not in THRESHOLD_COLUMNS:
        raise ValueError(f"threshold must be one of {list(THRESHOLD_COLUMNS)}, not {threshold!r}")
    if measure not in ("balance", "count"):
        raise ValueError(f"measure must be 'balance' or 'count', not {measure!r}")
    return f"overdue_rate_{THRESHOLD_COLUMNS[threshold]}_{measure}"


def in_window(frame: pd.DataFrame, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
    """Rows of ``frame`` whose ``as_of`` lies in [start, end] (either bound may be None)."""
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= frame["as_of"] >= start
    if end is not None:
        keep &= frame["as_of"] <= end
    return frame[keep]


def picked(selection: Mapping | None) -> tuple[str, ...] | None:
    """The ``customdata`` of the first selected point of a plotly selection event, as a tuple.

    ``selection`` is the event's ``selection`` (``{"points": [...]}``) or the whole event
    (``{"selection": {...}}``). ``None`` when nothing is selected or the point carries no
    customdata (e.g. a point of a decorative trace).
    """
    if not selection:
        return None
    sel = selection.get("selection", selection)
    for point in (sel or {}).get("points", []) or []:
        data = point.get("customdata")
        if data is None:
            continue
        if isinstance(data, (list, tuple)):
            return tuple(str(v) for v in data)
        return (str(data),)
    return None


def _iso(values: Sequence) -> list[str]:
    return [pd.Timestamp(v).date().isoformat() for v in values]


def _pct_axis(fig: go.Figure, digits: int = 1) -> None:
    fig.update_yaxes(tickformat=f".{digits}%", rangemode="tozero")


def _legend_below(fig: go.Figure) -> None:
    """Legend under the plot, so it never runs into the title."""
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0, "title": None})


def _month_line(
    months: list, rates: pd.Series, name: str, i: int, customdata: list, prefix: str, suffix: str = ""
) -> go.Scatter:
    """A clickable line of rates (fractions) over months, in the ``i``-th category colour."""
    return go.Scatter(
        x=months,
        y=rates.astype("float64"),
        name=name,
        mode="lines+markers",
        marker={"size": 6},
        line={"color": CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)], "width": 2},
        customdata=customdata,
        hovertemplate=prefix + name + ": %{y:.2%}" + suffix + "<extra></extra>",
        selected={"marker": {"size": 11}},
        unselected={"marker": {"opacity": 0.6}},
    )


def rate_trend_figure(
    kpis: pd.DataFrame,
    columns: Mapping[str, str],
    title: str | None = None,
    *,
    highlight: dt.date | None = None,
    height: int = 340,
) -> go.Figure:
    """Lines of rate columns (fractions) of a KPI frame over its months.

    Parameters
    ----------
    kpis
        ``as_of`` and the columns of ``columns`` (already cut to the months to show).
    columns
        KPI column → legend label, in drawing order.
    highlight
        A month to mark with a vertical dotted line (the as-of month).

    Every point carries ``customdata = [as_of ISO, column]``.
    """
    fig = go.Figure()
    months = list(kpis["as_of"])
    iso = _iso(months)
    for i, (col, name) in enumerate(columns.items()):
        fig.add_trace(_month_line(months, kpis[col], name, i, [[m, col] for m in iso], "%{x|%Y-%m}<br>"))
    _pct_axis(fig, 2)
    fig.update_xaxes(tickformat="%Y-%m")
    if highlight is not None and months:
        fig.add_vline(x=pd.Timestamp(highlight).timestamp() * 1000, line={"dash": "dot", "color": "#6c757d"})
    style(fig, title, height)
    _legend_below(fig)
    fig.update_layout(showlegend=len(columns) > 1)
    return fig


def bucket_figure(
    dist: pd.DataFrame, measure: str, lang: str, title: str | None = None, *, height: int = 360
) -> go.Figure:
    """Stacked bars per month of the delinquent DPD buckets' share of the book.

    Parameters
    ----------
    dist
        ``data.delinquency.bucket_distribution``: ``as_of``, ``bucket``, ``share_count``,
        ``share_balance``, ``loans``, ``balance``.
    measure
        ``"balance"`` or ``"count"``: which share is stacked.

    The current bucket is left out, so a bar's height is the 1+ DPD rate by ``measure``.
    Every bar carries ``customdata = [as_of ISO, bucket]``.
    """
    share = f"share_{measure}"
    fig = go.Figure()
    for bucket in DPD_BUCKETS[1:]:
        rows = dist[dist["bucket"] == bucket]
        name = bucket_label(bucket, lang)
        fig.add_trace(
            go.Bar(
                x=list(rows["as_of"]),
                y=rows[share].astype("float64"),
                name=name,
                marker={"color": BUCKET_COLOURS[bucket]},
                customdata=[[m, bucket] for m in _iso(rows["as_of"])],
                hovertemplate="%{x|%Y-%m} · " + name + ": %{y:.2%}<extra></extra>",
                unselected={"marker": {"opacity": 0.45}},
            )
        )
    fig.update_layout(barmode="stack", bargap=0.15)
    fig.update_xaxes(tickformat="%Y-%m")
    _pct_axis(fig, 1)
    style(fig, title, height)
    _legend_below(fig)
    return fig


def roll_heatmap(matrix: pd.DataFrame, lang: str, title: str | None = None, *, height: int = 400) -> go.Figure:
    """The roll-rate matrix as a heatmap: rows the bucket at m-1, columns the state at m.

    ``matrix`` is ``data.delinquency.roll_matrix`` (index the buckets, columns the roll
    states; fractions, NaN rows for empty buckets). A transparent marker sits on every cell
    so a click selects it: its ``customdata = [from_state, to_state]``.
    """
    rows = [b for b in DPD_BUCKETS if b in matrix.index]
    cols = [s for s in ROLL_STATES if s in matrix.columns]
    z = matrix.reindex(index=rows, columns=cols).astype("float64")
    x = [state_label(s, lang) for s in cols]
    y = [bucket_label(b, lang) for b in rows]
    text = [["" if np.isnan(v) else f"{v:.1%}" for v in row] for row in z.to_numpy()]
    fig = go.Figure(
        go.Heatmap(
            z=z.to_numpy(),
            x=x,
            y=y,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 11},
            colorscale=[[0.0, "#fff5eb"], [0.05, "#fdd0a2"], [0.2, "#fd8d3c"], [0.5, "#e6550d"], [1.0, "#67000d"]],
            zmin=0.0,
            zmax=1.0,
            colorbar={"tickformat": ".0%", "thickness": 12},
            hoverinfo="skip",
        )
    )
    xs, ys, data, hover = [], [], [], []
    for r, b in zip(y, rows):
        for c, s in zip(x, cols):
            xs.append(c)
            ys.append(r)
            data.append([b, s])
            v = z.loc[b, s]
            hover.append(f"{r} → {c}: {'—' if np.isnan(v) else f'{v:.2%}'}")
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            marker={"size": 28, "opacity": 0, "symbol": "square"},
            customdata=data,
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_yaxes(autorange="reversed", title=label("Bucket at m-1", "上月逾期段", lang))
    fig.update_xaxes(title=label("State at m", "本月状态", lang), tickangle=-30)
    return style(fig, title, height)


def roll_label(from_state: str, to_state: str, lang: str) -> str:
    """``1-30 → 31-60 DPD`` (English) / ``逾期1-30天 → 逾期31-60天``: a roll between two states."""
    if lang == "en" and from_state in _BUCKET_NAMES and to_state in _BUCKET_NAMES:
        # "1-30 DPD → 31-60 DPD" reads twice; keep the unit once at the end
        frm = _BUCKET_NAMES[from_state][0].removesuffix(" DPD")
        return f"{frm} → {state_label(to_state, lang)}"
    return f"{state_label(from_state, lang)} → {state_label(to_state, lang)}"


def roll_trend_figure(
    trend: pd.DataFrame,
    measure: str,
    lang: str,
    title: str | None = None,
    *,
    highlight: dt.date | None = None,
    height: int = 380,
) -> go.Figure:
    """The roll-forward rates per month, one line per roll (current→1-30, 1-30→31-60, …).

    Parameters
    ----------
    trend
        ``data.delinquency.roll_trend``: ``as_of`` (month m), ``from_state``, ``to_state``,
        ``loans_from``, ``balance_from``, ``rate_count``, ``rate_balance`` (fractions, NaN
        where nothing was in ``from_state`` at m-1).
    measure
        ``"balance"`` or ``"count"``: which rate is drawn.
    highlight
        A month to mark with a vertical dotted line (the as-of month).

    Rolls are drawn in ``FORWARD_ROLLS`` order; a roll with no rate in any month (its
    bucket empty throughout) is left out. Every point carries ``customdata = [as_of ISO,
    from_state, to_state, loans in from_state at m-1]``: the first three are the keys of a
    ``data.delinquency.RollCell``, the count is shown on hover (a rate of a few loans is noisy).
    """
    col = f"rate_{measure}"
    if measure not in ("balance", "count"):
        raise ValueError(f"measure must be 'balance' or 'count', not {measure!r}")
    fig = go.Figure()
    for i, (frm, to) in enumerate(FORWARD_ROLLS):
        rows = trend[(trend["from_state"] == frm) & (trend["to_state"] == to)].sort_values("as_of")
        if rows.empty or rows[col].isna().all():
            continue
        name = roll_label(frm, to, lang)
        customdata = [[m, frm, to, f"{n:,}"] for m, n in zip(_iso(rows["as_of"]), rows["loans_from"])]
        of = label(" (of %{customdata[3]} loans at m-1)", "（上月 %{customdata[3]} 笔）", lang)
        fig.add_trace(_month_line(list(rows["as_of"]), rows[col], name, i, customdata, "%{x|%Y-%m} · ", of))
    _pct_axis(fig, 0)
    fig.update_xaxes(tickformat="%Y-%m")
    if highlight is not None and len(trend):
        fig.add_vline(x=pd.Timestamp(highlight).timestamp() * 1000, line={"dash": "dot", "color": "#6c757d"})
    style(fig, title, height)
    _legend_below(fig)
    return fig


CURE_COLUMNS: tuple[str, ...] = ("cure_rate_count", "cure_rate_balance")
"""The columns of ``data.delinquency.cure_rates`` drawn as the cure-rate trend."""


def cure_names(lang: str) -> dict[str, str]:
    """Legend names of the cure-rate lines, for :func:`rate_trend_figure` (column → name)."""
    return {c: f"{label('Cure rate', '逾期治愈率', lang)} · {measure_label(c.rsplit('_', 1)[1], lang)}"
            for c in CURE_COLUMNS}


def vintage_figure(
    curves: pd.DataFrame,
    cohorts: Sequence[dt.date],
    metric: str,
    lang: str,
    title: str | None = None,
    *,
    height: int = 380,
) -> go.Figure:
    """Vintage curves: ``metric`` against months on book, one line per cohort of ``cohorts``.

    ``curves`` is ``data.delinquency.vintage_curves`` (``cohort``, ``mob``,
    ``vintage_30_balance``, ``cum_default_count``). Every point carries
    ``customdata = [cohort ISO, mob]``.
    """
    fig = go.Figure()
    for i, cohort in enumerate(cohorts):
        rows = curves[(curves["cohort"] == cohort) & curves[metric].notna()]
        if rows.empty:
            continue
        name = f"{pd.Timestamp(cohort):%Y-%m}"
        fig.add_trace(
            go.Scatter(
                x=rows["mob"],
                y=rows[metric].astype("float64"),
                name=name,
                mode="lines+markers",
                marker={"size": 5},
                line={"color": CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)], "width": 2},
                customdata=[[pd.Timestamp(cohort).date().isoformat(), str(int(m))] for m in rows["mob"]],
                hovertemplate=name + " · MOB %{x}: %{y:.2%}<extra></extra>",
                selected={"marker": {"size": 10}},
                unselected={"marker": {"opacity": 0.6}},
            )
        )
    _pct_axis(fig, 1)
    fig.update_xaxes(title=label("Months on book (MOB)", "账龄（月，MOB）", lang), dtick=3)
    style(fig, title, height)
    fig.update_layout(legend={"orientation": "v", "y": 1, "x": 1.02, "yanchor": "top",
                              "title": {"text": label("Cohort", "放款月", lang)}})
    return fig


def class_mix_figure(
    kpis: pd.DataFrame, measure: str, lang: str, title: str | None = None, *, height: int = 360
) -> go.Figure:
    """Stacked bars per month of the share of the book in each class worse than normal (五级分类).

    ``kpis`` has ``as_of``, ``balance``, ``loans`` and ``balance_<class>`` / ``loans_<class>``
    (``data.reports.monthly_kpis``); ``measure`` is ``"balance"`` or ``"count"``. Normal
    (正常) is left out, so a bar's height is the share of special mention + NPL and the
    NPL part (次级 + 可疑 + 损失) is the NPL ratio for ``"balance"``. Every bar carries
    ``customdata = [as_of ISO, class]``.
    """
    prefix = "balance" if measure == "balance" else "loans"
    fig = go.Figure()
    iso = _iso(kpis["as_of"])
    for cls in CLASSES[1:]:
        share = safe_ratio(kpis[f"{prefix}_{cls}"], kpis[prefix]) if len(kpis) else pd.Series(dtype=float)
        name = class_label(cls, lang)
        fig.add_trace(
            go.Bar(
                x=list(kpis["as_of"]),
                y=share,
                name=name,
                marker={"color": CLASS_COLOURS[cls]},
                customdata=[[m, cls] for m in iso],
                hovertemplate="%{x|%Y-%m} · " + name + ": %{y:.2%}<extra></extra>",
                unselected={"marker": {"opacity": 0.45}},
            )
        )
    fig.update_layout(barmode="stack", bargap=0.15)
    fig.update_xaxes(tickformat="%Y-%m")
    _pct_axis(fig, 1)
    style(fig, title, height)
    _legend_below(fig)
    return fig


def class_donut(row: Mapping, lang: str, title: str | None = None, *, height: int = 320) -> go.Figure:
    """Donut of the five classes' balance at one month, the NPL ratio in the middle.

    ``row`` is one row of the KPI frame (``balance``, ``balance_<class>``, ``npl_ratio``).
    Each legend entry carries its class's share of the balance (small slices would not
    hold a readable label).
    """
    values = [float(row[f"balance_{c}"]) for c in CLASSES]
    shares = [safe_ratio(v, float(row["balance"])) for v in values]
    names = [f"{class_label(c, lang)}  {'—' if np.isnan(sh) else f'{sh:.2%}'}" for c, sh in zip(CLASSES, shares)]
    fig = go.Figure(
        go.Pie(
            labels=names,
            values=values,
            hole=0.62,
            sort=False,
            direction="clockwise",
            marker={"colors": [CLASS_COLOURS[c] for c in CLASSES]},
            textinfo="none",
            hovertemplate="%{label}<extra></extra>",
        )
    )
    npl = row.get("npl_ratio")
    centre = "—" if npl is None or pd.isna(npl) else f"{float(npl):.2%}"
    fig.add_annotation(
        text=f"<b>{centre}</b><br>{label('NPL ratio', '不良贷款率', lang)}",
        showarrow=False,
        font={"size": 14},
    )
    style(fig, title, height)
    fig.update_layout(legend={"orientation": "v", "y": 0.5, "x": 1.0, "yanchor": "middle", "xanchor": "left"})
    return fig


def cohort_options(curves: pd.DataFrame) -> list[dt.date]:
    """The cohorts of a vintage frame, oldest first."""
    if curves.empty:
        return []
    return sorted(pd.unique(curves["cohort"]))


def default_cohorts(options: Sequence[dt.date], n: int = 6, min_mob: int = 3, curves: pd.DataFrame | None = None) -> list:
    """Up to ``n`` cohorts spread evenly over ``options`` (newest included).

    With ``curves``, cohorts observed for fewer than ``min_mob`` months on book are skipped
    first (their curve is a dot), unless that leaves none.
    """
    opts = list(options)
    if curves is not None and not curves.empty and opts:
        seen = curves.groupby("cohort")["mob"].max()
        longer = [c for c in opts if seen.get(c, -1) >= min_mob]
        opts = longer or opts
    if len(opts) <= n:
        return opts
    idx = np.unique(np.round(np.linspace(0, len(opts) - 1, n)).astype(int))
    return [opts[i] for i in idx]


def loan_frame(loans: pd.DataFrame, lang: str, products: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A drill-down loan list (``data.delinquency.loan_list`` columns) with readable labels.

    ``classification`` (and ``classification_reported``, ``floor_class``, ``class_next``
    when present) become ``正常 Normal``-style labels, ``status_next`` is translated, and
    ``product`` is named by ``products`` (key → label) when given. Other columns are
    unchanged, so the download holds the numbers.
    """
    out = loans.copy()
    if products and "product" in out.columns:
        out["product"] = out["product"].map(lambda v: products.get(v, v))
    for col in ("classification", "classification_reported", "floor_class", "class_next"):
        if col in out.columns:
            out[col] = out[col].map(lambda c: class_label(c, lang) if c in CLASS_NAMES_ZH else c)
    if "status_next" in out.columns:
        names = {"active": label("Active", "在贷", lang), **{k: label(*v, lang) for k, v in _TERMINAL_NAMES.items()}}
        out["status_next"] = out["status_next"].map(lambda s: names.get(s, s) if isinstance(s, str) else s)
    return out


def movers_frame(movers: pd.DataFrame, by: str, metric: str, lang: str, name_of: Mapping[str, str]) -> pd.DataFrame:
    """The ranked movers (``data.overview.rank_movers``) as a display table.

    Columns ``name`` (region short name or product label from ``name_of``), ``now`` and
    ``before`` (the metric at the month and the month before: rates in per cent, i.e.
    fraction × 100, the balance in money), ``change`` (percentage points for a rate, per
    cent for the balance: ``data.overview.movers``' change × 100) and ``loans``.
    """
    if movers.empty:
        return pd.DataFrame(columns=["name", "now", "before", "change", "loans"])
    if by == "region_code":
        names = movers["name_en"] if lang == "en" else movers["short_zh"]
        names = names.fillna(movers["region_code"])
    else:
        names = movers[by].map(lambda v: name_of.get(v, v))
    scale = 1.0 if metric == "balance" else 100.0
    return pd.DataFrame({
        "name": names.to_numpy(),
        "now": movers[metric].astype("float64").to_numpy() * scale,
        "before": movers[f"{metric}_prev"].astype("float64").to_numpy() * scale,
        "change": movers[f"{metric}_change"].astype("float64").to_numpy() * 100.0,
        "loans": movers["loans"].to_numpy(),
    })


def provision_frame(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """``data.classification.provision_table`` with class labels in ``lang`` (both names) and
    an ``npl`` flag (次级/可疑/损失 are NPL)."""
    out = table.copy()
    names = {
        "general_reserve": label("General reserve 一般准备", "一般准备 General reserve", lang),
        "total": label("Total 合计", "合计 Total", lang),
    }
    out["label"] = [class_label(c, lang) if c in CLASS_NAMES_ZH else names.get(c, c) for c in out["class"]]
    out["npl"] = out["class"].isin(NPL_CLASSES)
    return out[["class", "label", "npl", "loans", "balance", "rate", "provision"]]
