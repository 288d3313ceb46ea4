"""Figures and display tables of the Customer value page (客户价值).

Plain functions: frames in, plotly figures or display frames out (no Streamlit calls), so
they are tested without an app. Inputs are the frames of ``data.customers.customer_segments``:
``customers`` (one row per customer: ``customer_id``, ``clv``, ``balance``, ``loans``,
``products_held``, ``tenure_months``, ``worst_dpd_12m``, ``score_trend_6m``, ``segment``,
``segment_name``, ``action``) and ``profiles`` (one row per segment: ``segment``,
``segment_name``, ``action``, ``customers``, ``mean_<feature>``). Money is in the store's
currency; labels come in English or Chinese (``lang`` = ``"en"`` / ``"zh"``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.clv import ClvParams
from components.charts import CATEGORY_COLOURS, number_columns, style, tr
from components.formatting import fmt_money

__all__ = [
    "SCATTER_FEATURES",
    "segment_label",
    "action_label",
    "segment_colours",
    "clv_summary",
    "clv_histogram",
    "scatter_sample",
    "segment_scatter",
    "selected_segment",
    "profile_table",
    "profile_column_config",
    "members_table",
    "members_column_config",
    "silhouette_table",
    "silhouette_chart",
    "clv_definition",
    "money_format",
]

_WORDS: dict[str, str] = {
    "high value": "高价值",
    "mid value": "中等价值",
    "low value": "低价值",
    "delinquent": "逾期",
    "rising risk": "风险上升",
    "low risk": "低风险",
    "large balance": "大额",
    "small balance": "小额",
    "long tenure": "长期客户",
    "new": "新客户",
    "multi-product": "多产品",
    "single product": "单一产品",
}

_ACTIONS: dict[str, str] = {
    "collect": "催收",
    "watch": "加强监测",
    "retain with a rate offer": "利率优惠留存",
    "cross-sell": "交叉销售",
}

SCATTER_FEATURES: dict[str, tuple[str, str, bool]] = {
    "balance": ("Balance", "贷款余额", True),
    "tenure_months": ("Tenure (months)", "客户年限（月）", False),
    "worst_dpd_12m": ("Worst DPD, last 12 months", "近12个月最长逾期天数", False),
    "score_trend_6m": ("Score change, 6 months (points)", "近6个月评分变化（分）", False),
}
"""Features offered on the scatter's x axis: column → (English, 中文, log axis)."""


def segment_label(name: str, lang: str) -> str:
    """A segment name of ``analytics.clv.name_segment`` in ``lang``.

    "high value, low risk" → "高价值 · 低风险" in Chinese; a trailing " (2)" is kept;
    unknown words pass through unchanged.
    """
    if lang == "en" or not name:
        return name
    base, suffix = name, ""
    if name.endswith(")") and " (" in name:
        base, _, num = name.rpartition(" (")
        suffix = f"（{num[:-1]}）"
    return " · ".join(_WORDS.get(p.strip(), p.strip()) for p in base.split(",")) + suffix


def action_label(action: str, lang: str) -> str:
    """A suggested action in ``lang`` ("cross-sell" → "交叉销售")."""
    return action if lang == "en" else _ACTIONS.get(action, action)


def segment_colours(profiles: pd.DataFrame) -> dict[int, str]:
    """One colour per segment number (segments are numbered by mean CLV, highest first)."""
    return {int(s): CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)] for i, s in enumerate(profiles["segment"])}


def money_format(currency: str) -> str:
    """A ``st.column_config.NumberColumn`` format for money in ``currency``."""
    return {"CNY": "yen", "JPY": "yen", "USD": "dollar", "EUR": "euro"}.get(currency, "localized")


# ------------------------------------------------------------------ distribution


def clv_summary(customers: pd.DataFrame) -> dict[str, float]:
    """Headline figures of the CLV distribution over customers with a CLV.

    ``customers`` (all rows), ``valued`` (rows with a CLV), ``total_clv``, ``median_clv``,
    ``p10_clv``, ``p90_clv`` (store currency) and ``negative_share`` (share of valued
    customers whose CLV < 0, a fraction; NaN without any).
    """
    clv = customers["clv"].dropna().to_numpy(dtype=float)
    if clv.size == 0:
        nan = float("nan")
        return {"customers": float(len(customers)), "valued": 0.0, "total_clv": 0.0, "median_clv": nan,
                "p10_clv": nan, "p90_clv": nan, "negative_share": nan}
    p10, med, p90 = np.quantile(clv, [0.1, 0.5, 0.9])
    return {
        "customers": float(len(customers)),
        "valued": float(clv.size),
        "total_clv": float(clv.sum()),
        "median_clv": float(med),
        "p10_clv": float(p10),
        "p90_clv": float(p90),
        "negative_share": float((clv < 0).mean()),
    }


def _edges(values: np.ndarray, bins: int, clip: float) -> np.ndarray:
    lo, hi = np.quantile(values, [clip, 1 - clip]) if values.size else (0.0, 1.0)
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        lo, hi = (lo - 1.0, lo + 1.0) if np.isfinite(lo) else (0.0, 1.0)
    return np.linspace(lo, hi, bins + 1)


def clv_histogram(
    customers: pd.DataFrame, profiles: pd.DataFrame, lang: str = "zh", currency: str = "CNY",
    bins: int = 40, clip: float = 0.01, title: str | None = None,
) -> go.Figure:
    """Histogram of customer CLV, stacked by segment.

    The bins span the ``clip`` and ``1 − clip`` quantiles of CLV; customers beyond them are
    counted in the first or last bin (its hover says "or less" / "or more"), so a few very
    large values do not squeeze the rest into one bar. Customers without a CLV are left out.
    Binned here (one bar per bin and segment), so the browser gets ~bins × segments bars,
    not one point per customer.
    """
    valued = customers.dropna(subset=["clv"])
    clv = valued["clv"].to_numpy(dtype=float)
    edges = _edges(clv, bins, clip)
    idx = np.clip(np.searchsorted(edges, clv, side="right") - 1, 0, bins - 1)
    colours = segment_colours(profiles)
    names = dict(zip(profiles["segment"].astype(int), profiles["segment_name"]))
    lows = [fmt_money(v, currency, lang) for v in edges[:-1]]
    highs = [fmt_money(v, currency, lang) for v in edges[1:]]
    ranges = [f"{a} – {b}" for a, b in zip(lows, highs)]
    ranges[0] = tr(lang, f"{highs[0]} or less", f"{highs[0]} 及以下")
    ranges[-1] = tr(lang, f"{lows[-1]} or more", f"{lows[-1]} 及以上")
    fig = go.Figure()
    seg = valued["segment"].to_numpy(dtype=int)
    for s in profiles["segment"].astype(int):
        counts = np.bincount(idx[seg == s], minlength=bins)
        fig.add_bar(
            x=((edges[:-1] + edges[1:]) / 2).tolist(), y=counts.tolist(), width=np.diff(edges).tolist(),
            name=segment_label(names[s], lang),
            marker_color=colours[s], customdata=ranges,
            hovertemplate="%{customdata}<br>" + tr(lang, "customers", "客户数")
            + ": %{y:,}<extra>%{fullData.name}</extra>",
        )
    fig.update_layout(barmode="stack", bargap=0.02)
    fig.update_xaxes(title=tr(lang, f"CLV ({currency})", f"客户生命周期价值 CLV（{currency}）"))
    fig.update_yaxes(title=tr(lang, "Customers", "客户数"))
    fig.add_vline(x=0, line_dash="dot", line_color="#6c757d")
    return _legend_below(style(fig, title, height=420))


# ----------------------------------------------------------------------- scatter


def scatter_sample(customers: pd.DataFrame, n: int = 2000, min_per_segment: int = 150, seed: int = 7) -> pd.DataFrame:
    """A deterministic sample of customers for the scatter, every segment represented.

    Each segment gets its share of ``n`` (at least ``min_per_segment``, at most all its
    customers); rows are drawn without replacement with ``numpy.random.default_rng(seed)``.
    With ``n`` or fewer customers, all of them. Keeps the original row order.
    """
    if len(customers) <= n:
        return customers
    rng = np.random.default_rng(seed)
    seg = customers["segment"].to_numpy()
    keep: list[np.ndarray] = []
    for s in np.unique(seg):
        rows = np.flatnonzero(seg == s)
        size = min(rows.size, max(min_per_segment, int(round(n * rows.size / len(customers)))))
        keep.append(rng.choice(rows, size=size, replace=False))
    return customers.iloc[np.sort(np.concatenate(keep))]


def _axis_range(values: np.ndarray, clip: float = 0.01) -> list[float] | None:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return None
    lo, hi = np.quantile(v, [clip, 1 - clip])
    pad = (hi - lo) * 0.05 or max(abs(hi), 1.0) * 0.05
    return [float(lo - pad), float(hi + pad)]


def segment_scatter(
    sample: pd.DataFrame, profiles: pd.DataFrame, x: str = "balance", lang: str = "zh",
    currency: str = "CNY", selected: int | None = None, title: str | None = None,
) -> go.Figure:
    """CLV (y) against a customer feature (x), one colour per segment, segment centres as
    large diamonds. Every point's ``customdata[0]`` is its segment number, so a click (a
    selection event) names the segment. The axes span the 1st-99th percentiles; a
    ``selected`` segment is drawn in full colour and the others faded."""
    if x not in SCATTER_FEATURES:
        raise ValueError(f"unknown x feature {x!r}; choose from {list(SCATTER_FEATURES)}")
    en, zh, log = SCATTER_FEATURES[x]
    colours = segment_colours(profiles)
    money = x == "balance"
    # the traces are built as plain dicts and handed to one Figure: adding them one by one
    # makes plotly validate and copy the earlier ones again each time. SVG (scatter), not
    # WebGL: for a sample of a few thousand points it draws sooner (headless Chromium, no GPU:
    # 2,000 points 0.24 s against 0.41 s), and the centres, added last, stay on top
    traces: list[dict] = []
    seg_of = sample["segment"].to_numpy()
    for s, name in zip(profiles["segment"].astype(int), profiles["segment_name"]):
        rows = sample[seg_of == s]
        label = segment_label(name, lang)
        faded = selected is not None and s != selected
        xs = rows[x].to_numpy(dtype=float)
        if money:
            x_txt = [fmt_money(v, currency, lang) for v in xs]
        else:
            x_txt = [f"{v:,.1f}" if np.isfinite(v) else "—" for v in xs]
        # numpy arrays, not lists: plotly validates and deep-copies a list element by element
        # (about 0.1 s for the 4,000 points of a sample), an array in one go
        customdata = np.empty((len(rows), 4), dtype=object)
        customdata[:, 0] = s
        customdata[:, 1] = rows["customer_id"].astype(str).to_numpy(dtype=object)
        customdata[:, 2] = [fmt_money(v, currency, lang) for v in rows["clv"]]
        customdata[:, 3] = x_txt
        traces.append({
            "type": "scatter", "x": xs, "y": rows["clv"].to_numpy(dtype=float), "mode": "markers",
            "name": label, "legendgroup": str(s),
            "marker": {"color": colours[s], "size": 5, "opacity": 0.2 if faded else 0.55},
            "customdata": customdata,
            "hovertemplate": "%{customdata[1]}<br>CLV %{customdata[2]}<br>" + tr(lang, en, zh)
            + ": %{customdata[3]}<extra>" + label + "</extra>",
        })
    cx = profiles[f"mean_{x}"].to_numpy(dtype=float)
    cy = profiles["mean_clv"].to_numpy(dtype=float)
    labels = [segment_label(n, lang) for n in profiles["segment_name"]]
    segs = profiles["segment"].astype(int).tolist()
    traces.append({
        "type": "scatter", "x": cx.tolist(), "y": cy.tolist(), "mode": "markers",
        "name": tr(lang, "Segment centre", "客群中心"), "legendgroup": "centres",
        "marker": {"symbol": "diamond", "size": [22 if s == selected else 15 for s in segs],
                   "color": [colours[s] for s in segs], "line": {"width": 2, "color": "#212529"}},
        "customdata": [[s, lab, fmt_money(v, currency, lang), f"{int(c):,}"]
                       for s, lab, v, c in zip(segs, labels, cy, profiles["customers"])],
        "hovertemplate": "<b>%{customdata[1]}</b><br>" + tr(lang, "mean CLV", "平均CLV") + " %{customdata[2]}<br>"
        + tr(lang, "customers", "客户数") + " %{customdata[3]}<extra></extra>",
    })
    xaxis: dict = {"title": {"text": tr(lang, en, zh) + (f" ({currency})" if money else "")},
                   "type": "log" if log else "linear"}
    if not log:
        rng = _axis_range(np.concatenate([sample[x].to_numpy(dtype=float), cx]))
        if rng:
            xaxis["range"] = rng
    yaxis: dict = {"title": {"text": tr(lang, f"CLV ({currency})", f"客户生命周期价值 CLV（{currency}）")}}
    yr = _axis_range(np.concatenate([sample["clv"].to_numpy(dtype=float), cy]))
    if yr:
        yaxis["range"] = yr
    fig = go.Figure(data=traces, layout={"xaxis": xaxis, "yaxis": yaxis, "clickmode": "event+select",
                                         "dragmode": "zoom"})
    return _legend_below(style(fig, title, height=500))


def _legend_below(fig: go.Figure) -> go.Figure:
    """Up to 8 segments: the legend goes under the plot, where it cannot cover the title."""
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0, "font": {"size": 11},
                              "traceorder": "normal"}, margin={"b": 20})
    return fig


def selected_segment(event: Mapping | None) -> int | None:
    """The segment picked by a plotly selection event (``st.plotly_chart(on_select=...)``):
    the most frequent ``customdata[0]`` among the selected points (ties → the lower
    number); None when nothing with a segment is selected."""
    if not event:
        return None
    selection = event.get("selection") if isinstance(event, Mapping) else getattr(event, "selection", None)
    points = (selection or {}).get("points") or []
    segs: list[int] = []
    for p in points:
        cd = p.get("customdata")
        if cd is None:
            continue
        value = cd[0] if isinstance(cd, list | tuple) else cd
        try:
            segs.append(int(float(value)))
        except (TypeError, ValueError):
            continue
    if not segs:
        return None
    counts = pd.Series(segs).value_counts()
    return int(min(counts.index[counts == counts.max()]))


# ------------------------------------------------------------------------ tables


def profile_table(profiles: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """The segment profile table: number, name, suggested action, customers, their share,
    mean and total CLV, and the mean of every feature; column names in ``lang``."""
    total = profiles["customers"].sum()
    out = pd.DataFrame({
        "segment": profiles["segment"].astype(int),
        "name": [segment_label(n, lang) for n in profiles["segment_name"]],
        "action": [action_label(a, lang) for a in profiles["action"]],
        "customers": profiles["customers"].astype(int),
        "share": profiles["customers"] / total if total else np.nan,
        "mean_clv": profiles["mean_clv"].astype(float),
        "total_clv": profiles["mean_clv"].astype(float) * profiles["customers"],
        "mean_balance": profiles["mean_balance"].astype(float),
        "mean_tenure_months": profiles["mean_tenure_months"].astype(float),
        "mean_products_held": profiles["mean_products_held"].astype(float),
        "mean_worst_dpd_12m": profiles["mean_worst_dpd_12m"].astype(float),
        "mean_score_trend_6m": profiles["mean_score_trend_6m"].astype(float),
    })
    return out.rename(columns=_profile_names(lang))


def _profile_names(lang: str) -> dict[str, str]:
    return {
        "segment": "#",
        "name": tr(lang, "Segment", "客群"),
        "action": tr(lang, "Suggested action", "建议措施"),
        "customers": tr(lang, "Customers", "客户数"),
        "share": tr(lang, "Share", "占比"),
        "mean_clv": tr(lang, "Mean CLV", "平均CLV"),
        "total_clv": tr(lang, "Total CLV", "CLV合计"),
        "mean_balance": tr(lang, "Mean balance", "平均余额"),
        "mean_tenure_months": tr(lang, "Tenure (months)", "客户年限（月）"),
        "mean_products_held": tr(lang, "Products held", "持有产品数"),
        "mean_worst_dpd_12m": tr(lang, "Worst DPD 12m", "近12月最长逾期天数"),
        "mean_score_trend_6m": tr(lang, "Score change 6m", "近6月评分变化"),
    }


def profile_column_config(lang: str = "zh", currency: str = "CNY") -> dict:
    """``column_config`` for :func:`profile_table` (formats, and the definitions as help)."""
    n = _profile_names(lang)
    money = money_format(currency)
    return number_columns(lang, {
        n["share"]: ("percent", "Customers in the segment ÷ all customers.", "该客群客户数 ÷ 全部客户数。"),
        n["mean_clv"]: (money, "Mean risk-adjusted lifetime value of the segment's customers (method below).",
                        "该客群客户的风险调整后生命周期价值均值（方法见下方）。"),
        n["total_clv"]: (money, "Mean CLV × customers.", "平均CLV × 客户数。"),
        n["mean_balance"]: (money, "Mean of Σ outstanding principal per customer at the month.", "每位客户月末贷款余额合计的均值。"),
        n["mean_tenure_months"]: ("%.1f", "Months since the customer's first disbursement.", "自客户首笔放款以来的月数。"),
        n["mean_products_held"]: ("%.2f", "Distinct products among the customer's loans in the book.", "客户在贷贷款的不同产品数。"),
        n["mean_worst_dpd_12m"]: ("%.1f", "Highest days past due of any of the customer's loans over the last 12 month ends.",
                                  "近12个月末客户任一贷款的最长逾期天数。"),
        n["mean_score_trend_6m"]: ("%+.1f", "Credit score now − 6 months ago, mean over the customer's loans (points).",
                                   "当前信用评分 − 6个月前评分，按客户贷款取均值（分）。"),
    })


def _member_names(lang: str) -> dict[str, str]:
    return {
        "customer_id": tr(lang, "Customer", "客户编号"),
        "name": tr(lang, "Name (masked)", "姓名（脱敏）"),
        "phone": tr(lang, "Phone (masked)", "电话（脱敏）"),
        "clv": "CLV",
        "balance": tr(lang, "Balance", "贷款余额"),
        "loans": tr(lang, "Loans", "贷款笔数"),
        "products_held": tr(lang, "Products", "产品数"),
        "tenure_months": tr(lang, "Tenure (months)", "客户年限（月）"),
        "worst_dpd_12m": tr(lang, "Worst DPD 12m", "近12月最长逾期天数"),
        "score_trend_6m": tr(lang, "Score change 6m", "近6月评分变化"),
    }


def members_table(members: pd.DataFrame, contacts: pd.DataFrame | None = None, lang: str = "zh") -> pd.DataFrame:
    """The customers of a segment for display: the rows of ``data.customer_lists.top_customers``
    with the masked ``name`` and ``phone`` of ``contacts`` (``masked_contacts``; or already in
    ``members``), columns of ``MEMBER_COLUMNS`` named in ``lang``, in the members' order."""
    names = _member_names(lang)
    if contacts is not None:
        members = members.drop(columns=["name", "phone"], errors="ignore").merge(
            contacts[["customer_id", "name", "phone"]], on="customer_id", how="left")
    return members[list(names)].rename(columns=names).reset_index(drop=True)


def members_column_config(lang: str = "zh", currency: str = "CNY") -> dict:
    """``column_config`` for :func:`members_table`."""
    n = _member_names(lang)
    money = money_format(currency)
    return number_columns(lang, {
        n["clv"]: (money, "Risk-adjusted customer lifetime value (method below).", "风险调整后的客户生命周期价值（方法见下方）。"),
        n["balance"]: (money,),
        n["score_trend_6m"]: ("%+.1f",),
    })


# ------------------------------------------------------------------------ method


def silhouette_table(silhouette: Mapping[int, float], k: int, lang: str = "zh") -> pd.DataFrame:
    """k, its mean silhouette, and whether it was chosen, k ascending."""
    ks = sorted(int(x) for x in silhouette)
    return pd.DataFrame({
        "k": ks,
        tr(lang, "Silhouette", "轮廓系数"): [float(silhouette[x]) for x in ks],
        tr(lang, "Chosen", "选用"): [x == k for x in ks],
    })


def silhouette_chart(silhouette: Mapping[int, float], k: int, lang: str = "zh") -> go.Figure:
    """Mean silhouette per k, the chosen k highlighted."""
    ks = sorted(int(x) for x in silhouette)
    fig = go.Figure(go.Bar(
        x=[str(x) for x in ks], y=[silhouette[x] for x in ks],
        marker_color=[CATEGORY_COLOURS[1] if x == k else "#adb5bd" for x in ks],
        text=[f"{silhouette[x]:.3f}" for x in ks], textposition="outside",
        hovertemplate="k = %{x}<br>" + tr(lang, "silhouette", "轮廓系数") + " %{y:.3f}<extra></extra>",
    ))
    fig.update_xaxes(title="k")
    fig.update_yaxes(title=tr(lang, "Mean silhouette", "平均轮廓系数"), rangemode="tozero")
    return style(fig, None, height=260)


def clv_definition(params: ClvParams, lang: str = "zh", pd_source: str = "") -> str:
    """The CLV definition and the segmentation method, as Markdown, with the parameters used."""
    d, f, s = params.annual_discount_rate, params.funding_cost_rate, params.servicing_cost_rate
    formula = (r"$$\mathrm{CLV} = \sum_{\text{loans}} \sum_{t=1}^{T} \frac{S_t\,\big(\mathrm{interest}_t"
               r" - \mathrm{funding}_t - \mathrm{servicing}_t - \mathrm{PD}_m \cdot \mathrm{LGD} \cdot"
               r" \mathrm{EAD}_t\big)}{(1+d)^t}$$")
    if lang == "en":
        return "\n\n".join([
            "**Customer lifetime value (CLV), risk-adjusted.** For each of the customer's loans in the book "
            "at the month, over its remaining months t = 1…T:",
            formula,
            f"- d: monthly rate equivalent to {d:.0%} a year; S_t: probability of reaching month t without "
            "default; PD_m: monthly PD compounding to the 12-month PD; LGD as in the ECL (collateral after "
            "haircut); EAD_t = balance_t (annuity repayment; credit cards keep a flat balance).",
            f"- interest_t = balance_t × rate ÷ 12; funding cost {f:.1%} and servicing cost {s:.1%} a year of "
            "the balance.",
            f"- PD source: {pd_source or '—'}.",
            "**Segments.** k-means on standardised customer features (CLV and balance on a signed log scale, "
            "tenure, products held, worst DPD over 12 months, score change over 6 months); k is the one in "
            "3…8 with the best mean silhouette (ties → fewer segments). Segments are numbered by mean CLV, "
            "highest first; names and suggested actions follow rules on the segment centre.",
        ])
    return "\n\n".join([
        "**客户生命周期价值（CLV，风险调整后）。** 对客户在该月末在贷的每笔贷款，按剩余期限 t = 1…T 计算：",
        formula,
        f"- d：与年利率 {d:.0%} 等价的月折现率；S_t：存活至第 t 月未违约的概率；PD_m：与12个月违约概率等价的"
        "月违约概率；LGD 与预期信用损失（ECL）口径一致（押品按折扣计）；EAD_t = 第 t 月余额（等额本息摊还，"
        "信用卡余额不变）。",
        f"- 利息_t = 余额_t × 利率 ÷ 12；资金成本年 {f:.1%}、运营成本年 {s:.1%}（按余额计）。",
        f"- 违约概率来源：{pd_source or '—'}。",
        "**客群细分。** 对标准化后的客户特征（CLV 与余额取带符号对数、客户年限、持有产品数、近12个月最长逾期"
        "天数、近6个月评分变化）做 k-means 聚类；k 在 3…8 中取平均轮廓系数最高者（相同取较小的 k）。客群按平均"
        "CLV 由高到低编号；名称与建议措施按客群中心的特征规则给出。",
    ])
