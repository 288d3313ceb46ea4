"""Drawing pieces of the Score drift page (评分迁移): figures and display tables.

Plain functions, testable without a running Streamlit app: they take the frames of
``analytics.drift_view`` and ``data.scores`` and the language (``"zh"`` or ``"en"``), and
return plotly figures, display frames or column settings. No risk maths happens here:
every number comes from ``analytics.drift`` / ``analytics.drift_view``; this module
relabels, orders and formats.

Units: PSI, KS and AUC are pure numbers; shares and rates are fractions (shown as
percentages); scores are the store's integer credit scores (higher is better).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from analytics.drift import EXIT_STATES
from components.charts import CATEGORY_COLOURS, label, style
from components.regional_panel import PRODUCT_LABELS, money_columns, money_unit

__all__ = [
    "BAND_LABELS",
    "BAND_COLOURS",
    "EXIT_LABELS",
    "PSI_HELP",
    "band_label",
    "month_label",
    "fmt_num",
    "distribution_figure",
    "psi_trend_figure",
    "migration_figure",
    "migration_table",
    "discrimination_figure",
    "trend_table",
    "contributions_table",
    "discrimination_table",
    "drops_table",
    "column_config",
]

BAND_LABELS: dict[str, tuple[str, str]] = {
    "stable": ("Stable (< 0.10)", "稳定（< 0.10）"),
    "shifting": ("Shifting (0.10-0.25)", "轻度偏移（0.10-0.25）"),
    "shifted": ("Shifted (> 0.25)", "显著偏移（> 0.25）"),
}
"""PSI stability bands (metrics.md)."""

BAND_COLOURS: dict[str, str] = {"stable": "green", "shifting": "orange", "shifted": "red"}
"""``st.metric`` delta colours of the bands."""

_BAND_FILL = (("stable", 0.0, 0.10, "rgba(42,157,143,0.12)"), ("shifting", 0.10, 0.25, "rgba(233,196,106,0.22)"),
              ("shifted", 0.25, None, "rgba(231,111,81,0.16)"))

EXIT_LABELS: dict[str, tuple[str, str]] = {
    "closed": ("Closed", "已结清"),
    "written_off": ("Written off", "已核销"),
    "unscored": ("No score", "无评分"),
    "not_reported": ("Not reported", "未报送"),
}
"""Migration-matrix columns for loans not in a band at the later month."""

PSI_HELP = (
    "PSI = Σ (A_i − E_i) · ln(A_i ÷ E_i) over 10 bins cut at the baseline month's score deciles; E_i, A_i = share "
    "of scored loans in bin i at the baseline and at the month (floored at 0.0001). < 0.10 stable, 0.10-0.25 "
    "shifting, > 0.25 shifted.",
    "群体稳定性指数 PSI = Σ (A_i − E_i) · ln(A_i ÷ E_i)，分箱为基准月评分的十分位（10箱）；E_i、A_i 为基准月与当月"
    "落在第 i 箱的有评分贷款占比（下限 0.0001）。< 0.10 稳定，0.10-0.25 轻度偏移，> 0.25 显著偏移。",
)


def band_label(band: str | None, lang: str) -> str:
    """The band's name in ``lang`` (— for none)."""
    return label(*BAND_LABELS[band], lang) if band in BAND_LABELS else "—"


def month_label(m: object) -> str:
    """A month end as ``YYYY-MM`` (— for none)."""
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "—"
    return pd.Timestamp(m).strftime("%Y-%m")


def fmt_num(v: object, digits: int = 3) -> str:
    """A PSI, KS or AUC with ``digits`` decimals (— for none)."""
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.{digits}f}"


# --- figures --------------------------------------------------------------------------------


def distribution_figure(dist: pd.DataFrame, baseline: object, month: object, lang: str) -> go.Figure:
    """Baseline and comparison month side by side on common score bins (shares of scored
    loans; numbers of loans in the hover). ``dist`` is ``analytics.drift.score_distribution``."""
    fig = go.Figure()
    fixed = not dist.empty and bool((dist["lower"] > float("-inf")).all() and (dist["upper"] < float("inf")).all())
    if not dist.empty:
        # fixed-width bins: the lower edge on the axis (the full interval in the hover)
        x = [f"{v:g}" for v in dist["lower"]] if fixed else list(dist["label"])
        for side, name, colour in (("a", month_label(baseline), "#9bb7d4"), ("b", month_label(month), CATEGORY_COLOURS[1])):
            tag = label("baseline", "基准", lang) if side == "a" else label("month", "当月", lang)
            fig.add_bar(
                x=x, y=dist[f"share_{side}"].astype(float), name=f"{name} ({tag})", marker_color=colour,
                customdata=list(zip(dist["label"], dist[f"loans_{side}"].astype(int))),
                hovertemplate=f"{name} %{{customdata[0]}}: %{{y:.1%}} (%{{customdata[1]:,}} " + label("loans", "笔", lang) + ")<extra></extra>",
            )
    fig.update_layout(barmode="group", bargap=0.15)
    fig.update_yaxes(tickformat=".0%", title=label("Share of scored loans", "有评分贷款占比", lang))
    fig.update_xaxes(title=label("Credit score (bin)", "信用评分（分箱）", lang), type="category", tickangle=0 if fixed else -30)
    style(fig, label("Score distribution: baseline vs month", "评分分布：基准月 vs 当月", lang), height=380)
    fig.update_layout(margin={"t": 84}, title={"y": 0.98, "yanchor": "top"}, legend={"y": 1.02, "yanchor": "bottom"})
    return fig


def psi_trend_figure(trend: pd.DataFrame, month: object, lang: str) -> go.Figure:
    """PSI against the baseline (solid) and month on month (dashed) by month, over the
    stability bands (green < 0.10, amber 0.10-0.25, red > 0.25); the comparison month ringed."""
    fig = go.Figure()
    top = 0.3
    if not trend.empty:
        x = pd.to_datetime(trend["as_of"])
        psi = trend["psi"].astype(float)
        mom = trend["psi_mom"].astype(float)
        top = max(0.3, float(pd.concat([psi, mom]).max(skipna=True) or 0) * 1.15)
        fig.add_scatter(x=x, y=psi, name=label("PSI vs baseline", "PSI（对基准月）", lang), mode="lines+markers",
                        line={"color": CATEGORY_COLOURS[0], "width": 2.5},
                        customdata=[band_label(b, lang) for b in trend["psi_band"]],
                        hovertemplate="%{x|%Y-%m}: %{y:.3f} · %{customdata}<extra></extra>")
        fig.add_scatter(x=x, y=mom, name=label("PSI month on month", "PSI（环比）", lang), mode="lines",
                        line={"color": "#6c757d", "dash": "dash", "width": 1.5},
                        hovertemplate="%{x|%Y-%m} " + label("MoM", "环比", lang) + ": %{y:.3f}<extra></extra>")
        at = trend[trend["as_of"] == month]
        if len(at):
            fig.add_scatter(x=pd.to_datetime(at["as_of"]), y=at["psi"].astype(float), mode="markers", showlegend=False,
                            marker={"size": 14, "color": "rgba(0,0,0,0)", "line": {"color": "#111", "width": 2}},
                            hoverinfo="skip")
    for band, lo, hi, fill in _BAND_FILL:
        fig.add_hrect(y0=lo, y1=hi if hi is not None else top, fillcolor=fill, line_width=0, layer="below",
                      annotation_text=band_label(band, lang), annotation_position="top left",
                      annotation_font={"size": 11, "color": "#555"})
    fig.update_yaxes(range=[0, top], title="PSI")
    fig.update_xaxes(tickformat="%Y-%m")
    style(fig, label("PSI by month, with the stability bands", "PSI 走势（含稳定性区间）", lang), height=380)
    fig.update_layout(margin={"t": 84}, title={"y": 0.98, "yanchor": "top"}, legend={"y": 1.02, "yanchor": "bottom"})
    return fig


def migration_figure(shares: pd.DataFrame, counts: pd.DataFrame, month_from: object, month_to: object, lang: str) -> go.Figure:
    """Heatmap of the score-band migration (``analytics.drift.migration_matrix``): rows are
    bands at ``month_from`` (riskiest at the top), columns bands at ``month_to`` then where
    the other loans went; cells show the row share, hovers the number of loans."""
    cols = [label(*EXIT_LABELS[c], lang) if c in EXIT_LABELS else str(c) for c in shares.columns]
    rows = [str(r) for r in shares.index]
    z = shares.to_numpy(dtype=float)
    text = [["" if math.isnan(v) or v == 0 else f"{v:.0%}" if v >= 0.005 else "<1%" for v in row] for row in z]
    n = counts.reindex(index=shares.index, columns=shares.columns).fillna(0).to_numpy()
    fig = go.Figure(go.Heatmap(
        z=z, x=cols, y=rows, text=text, texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1,
        customdata=n, colorbar={"title": label("Share", "占比", lang), "tickformat": ".0%"},
        hovertemplate=label("from", "从", lang) + " %{y} → %{x}: %{z:.1%} (%{customdata:,} " + label("loans", "笔", lang) + ")<extra></extra>",
    ))
    nb = sum(1 for c in shares.columns if c not in EXIT_STATES)
    for i in range(min(nb, len(rows))):  # outline the diagonal: loans that stayed in their band
        fig.add_shape(type="rect", x0=i - 0.5, x1=i + 0.5, y0=i - 0.5, y1=i + 0.5, line={"color": "#111", "width": 1.5})
    if nb:
        fig.add_vline(x=nb - 0.5, line={"color": "#666", "width": 1, "dash": "dot"})
    fig.update_yaxes(title=label(f"Band at {month_label(month_from)}", f"{month_label(month_from)} 评分段", lang), autorange="reversed")
    fig.update_xaxes(title=label(f"Band at {month_label(month_to)}", f"{month_label(month_to)} 评分段 / 去向", lang), side="bottom")
    return style(fig, label("Score-band migration (share of each row)", "评分段迁移矩阵（按行占比）", lang), height=400)


def discrimination_figure(disc: pd.DataFrame, lang: str, horizon: int = 12) -> go.Figure:
    """KS and AUC of the score by observation month; months whose outcome window is shorter
    than ``horizon`` are drawn with hollow markers; the bad rate is in the hover."""
    fig = go.Figure()
    if not disc.empty:
        x = pd.to_datetime(disc["as_of"])
        full = disc["horizon_months"].astype(int) >= horizon
        extra = [[f"{b:.2%}", int(h), int(n)] for b, h, n in zip(disc["bad_rate"].astype(float), disc["horizon_months"], disc["loans"])]
        hover = ("%{x|%Y-%m}: %{y:.3f}<br>" + label("bad rate", "坏账率", lang) + " %{customdata[0]} · "
                 + label("outcome months", "观察期（月）", lang) + " %{customdata[1]} · %{customdata[2]:,} " + label("loans", "笔", lang))
        for col, name, colour in (("ks", "KS", CATEGORY_COLOURS[1]), ("auc", "AUC", CATEGORY_COLOURS[0])):
            fig.add_scatter(
                x=x, y=disc[col].astype(float), name=name, mode="lines+markers", line={"color": colour, "width": 2},
                marker={"size": 7, "symbol": ["circle" if f else "circle-open" for f in full]},
                customdata=extra, hovertemplate=name + " " + hover + "<extra></extra>",
            )
    fig.update_yaxes(range=[0, 1], title="KS / AUC")
    fig.update_xaxes(tickformat="%Y-%m")
    style(fig, label("Discrimination by month: KS and AUC", "区分能力走势：KS 与 AUC", lang), height=380)
    fig.update_layout(margin={"t": 84}, title={"y": 0.98, "yanchor": "top"}, legend={"y": 1.02, "yanchor": "bottom"})
    return fig


# --- tables ---------------------------------------------------------------------------------


def migration_table(shares: pd.DataFrame, counts: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The migration matrix as a flat table: the band at the first month, its number of
    loans, then the row shares (fractions) of each band / exit at the later month."""
    band = label("Band (from)", "评分段（期初）", lang)
    loans = label("Loans (from)", "期初笔数", lang)
    out = pd.DataFrame({band: [str(i) for i in shares.index],
                        loans: counts.reindex(index=shares.index).sum(axis=1).astype("int64").to_numpy()})
    for c in shares.columns:
        out[label(*EXIT_LABELS[c], lang) if c in EXIT_LABELS else str(c)] = shares[c].astype(float).to_numpy()
    return out


def trend_table(trend: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The PSI trend for display: month, scored loans, PSI vs baseline and its band, PSI
    month on month and its band."""
    heads = [label("Month", "月份", lang), label("Scored loans", "有评分笔数", lang), label("PSI vs baseline", "PSI（对基准）", lang),
             label("Band", "区间", lang), label("PSI month on month", "PSI（环比）", lang), label("Band (MoM)", "区间（环比）", lang)]
    if trend.empty:
        return pd.DataFrame(columns=heads)
    return pd.DataFrame({
        heads[0]: [month_label(m) for m in trend["as_of"]],
        heads[1]: trend["loans"].astype("int64").to_numpy(),
        heads[2]: trend["psi"].astype(float).to_numpy(),
        heads[3]: [band_label(b, lang) for b in trend["psi_band"]],
        heads[4]: trend["psi_mom"].astype(float).to_numpy(),
        heads[5]: [band_label(b, lang) for b in trend["psi_mom_band"]],
    })


def contributions_table(contrib: pd.DataFrame, lang: str) -> pd.DataFrame:
    """PSI bin by bin (``analytics.drift.psi_table``): score bin, loans and share at the
    baseline (E) and at the month (A), and the bin's contribution to the PSI."""
    heads = [label("Score bin", "评分分箱", lang), label("Baseline loans", "基准月笔数", lang), label("Month loans", "当月笔数", lang),
             label("Baseline share E", "基准月占比 E", lang), label("Month share A", "当月占比 A", lang),
             label("Contribution to PSI", "PSI 贡献", lang)]
    if contrib.empty:
        return pd.DataFrame(columns=heads)
    return pd.DataFrame({
        heads[0]: contrib["label"].to_numpy(),
        heads[1]: contrib["expected_loans"].astype("int64").to_numpy(),
        heads[2]: contrib["actual_loans"].astype("int64").to_numpy(),
        heads[3]: contrib["expected_share"].astype(float).to_numpy(),
        heads[4]: contrib["actual_share"].astype(float).to_numpy(),
        heads[5]: contrib["contribution"].astype(float).to_numpy(),
    })


def discrimination_table(disc: pd.DataFrame, lang: str) -> pd.DataFrame:
    """KS/AUC by month for display: month, outcome months observed, loans, bads, bad rate,
    KS, AUC."""
    heads = [label("Month", "观察月", lang), label("Outcome months", "观察期（月）", lang), label("Loans", "笔数", lang),
             label("Bad loans", "坏样本", lang), label("Bad rate", "坏账率", lang), "KS", "AUC"]
    if disc.empty:
        return pd.DataFrame(columns=heads)
    return pd.DataFrame({
        heads[0]: [month_label(m) for m in disc["as_of"]],
        heads[1]: disc["horizon_months"].astype("int64").to_numpy(),
        heads[2]: disc["loans"].astype("int64").to_numpy(),
        heads[3]: disc["bads"].astype("int64").to_numpy(),
        heads[4]: disc["bad_rate"].astype(float).to_numpy(),
        heads[5]: disc["ks"].astype(float).to_numpy(),
        heads[6]: disc["auc"].astype(float).to_numpy(),
    })


def drops_table(drops: pd.DataFrame, names: Mapping[str, str], lang: str, currency: str = "CNY") -> pd.DataFrame:
    """``data.scores.largest_score_drops`` for display: loan, region, branch, product,
    score then and now, change, balance (in the currency), dpd then and now."""
    div, unit = money_unit(lang, currency, loan_level=True)
    heads = [label("Loan", "贷款编号", lang), label("Region", "地区", lang), label("Branch", "网点", lang),
             label("Product", "产品", lang), label("Score before", "期初评分", lang), label("Score now", "当前评分", lang),
             label("Change", "变化", lang), label(f"Balance ({unit})", f"余额（{unit}）", lang),
             label("DPD before", "期初逾期天数", lang), label("DPD now", "当前逾期天数", lang)]
    if drops.empty:
        return pd.DataFrame(columns=heads)
    d = drops
    return pd.DataFrame({
        heads[0]: d["loan_id"].to_numpy(),
        heads[1]: [names.get(str(c), str(c)) for c in d["region_code"]],
        heads[2]: ["" if b is None or (isinstance(b, float) and math.isnan(b)) else str(b) for b in d["branch_id"]],
        heads[3]: [label(*PRODUCT_LABELS[p], lang) if p in PRODUCT_LABELS else str(p) for p in d["product"]],
        heads[4]: d["score_from"].astype("int64").to_numpy(),
        heads[5]: d["score_to"].astype("int64").to_numpy(),
        heads[6]: d["change"].astype("int64").to_numpy(),
        heads[7]: (d["balance"].astype(float) / div).to_numpy(),
        heads[8]: d["dpd_from"].astype("int64").to_numpy(),
        heads[9]: d["dpd"].astype("int64").to_numpy(),
    })


def column_config(frame: pd.DataFrame, lang: str, currency: str = "CNY") -> dict:
    """``st.dataframe`` column settings for the tables above: PSI, KS and AUC with three
    decimals and their definitions; shares and rates as percentages; money with separators."""
    import streamlit as st

    money = money_columns(frame, lang, currency)
    num = st.column_config.NumberColumn
    psi_help = label(*PSI_HELP, lang)
    by_name = {
        label("PSI vs baseline", "PSI（对基准）", lang): num(format="%.3f", help=psi_help),
        label("PSI month on month", "PSI（环比）", lang): num(format="%.3f", help=label(
            "PSI of the month against the previous month, on the previous month's deciles.",
            "当月相对上月的 PSI，分箱为上月评分的十分位。", lang)),
        label("Contribution to PSI", "PSI 贡献", lang): num(format="%.4f", help=label(
            "(A_i − E_i) · ln(A_i ÷ E_i); the bins add up to the PSI.", "(A_i − E_i) · ln(A_i ÷ E_i)；各箱之和即 PSI。", lang)),
        label("Baseline share E", "基准月占比 E", lang): num(format="percent", help=label(
            "Share of the baseline month's scored loans in the bin (floored at 0.0001).", "基准月有评分贷款落在该箱的占比（下限0.0001）。", lang)),
        label("Month share A", "当月占比 A", lang): num(format="percent", help=label(
            "Share of the month's scored loans in the bin (floored at 0.0001).", "当月有评分贷款落在该箱的占比（下限0.0001）。", lang)),
        "KS": num(format="%.3f", help=label(
            "Kolmogorov-Smirnov: the largest gap between the score distributions of bad and good loans.",
            "KS：坏样本与好样本评分累计分布之差的最大值。", lang)),
        "AUC": num(format="%.3f", help=label(
            "Probability that a bad loan scores below a good one (ties count half). 0.5 = no power.",
            "坏样本评分低于好样本的概率（同分计一半）。0.5 表示无区分能力。", lang)),
        label("Bad rate", "坏账率", lang): num(format="percent", help=label(
            "Share of the month's scored loans (dpd ≤ 90 then) that were more than 90 days past due within the next "
            "12 months.", "当月有评分且逾期≤90天的贷款中，在随后12个月内逾期超过90天的占比。", lang)),
        label("Change", "变化", lang): num(format="%+d", help=label("Score now minus score before.", "当前评分减期初评分。", lang)),
    }
    cfg = {c: by_name[c] for c in frame.columns if c in by_name}
    for c in frame.columns:
        if c in money:
            cfg[c] = num(format=money[c])
        elif c not in cfg and str(c) not in (label("Band (from)", "评分段（期初）", lang), label("Loans (from)", "期初笔数", lang)) \
                and frame[c].dtype.kind == "f" and not any(w in str(c) for w in ("PSI", "KS", "AUC")):
            cfg[c] = num(format="percent")
    return cfg
