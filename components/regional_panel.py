"""Drawing pieces of the Regional risk page (区域风险): the metric picker's specs, the ranked
table, the map's values and tooltips, and the province panel's figures and tables.

Plain functions, testable without a running Streamlit app: they take the frames of
``data.regional_view`` / ``data.regional`` / ``data.reports.monthly_kpis`` and the language
(``"zh"`` or ``"en"``), and return frames, column settings or plotly figures. No risk maths
happens here: ranks come from ``analytics.regional.risk_rank``; this module relabels,
orders, scales money for display and formats.

Units: rates are fractions (shown as percentages); a change of a rate is a difference in
fraction points (shown in percentage points, pp); money is in the store's currency, shown
in 万 (Chinese) or millions (English) in tables and with ``fmt_money`` elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from analytics.regional import risk_rank
from components.charts import CATEGORY_COLOURS, label, style
from components.formatting import CURRENCY_SYMBOL, fmt_count, fmt_money, fmt_rate
from components.i18n import DIMENSION_LABELS
from components.maps import BALANCE_COLOURS, DIVERGING_COLOURS, RISK_COLOURS

__all__ = [
    "label",
    "MetricSpec",
    "METRICS",
    "metric_spec",
    "money_unit",
    "money_columns",
    "fmt_pp",
    "region_names",
    "ranked_table",
    "ranked_column_config",
    "map_values",
    "region_row",
    "rank_figure",
    "tooltip_fields",
    "Card",
    "province_cards",
    "province_summary",
    "trend_figure",
    "product_figure",
    "product_table",
    "branch_table",
    "worst_loans_table",
    "loan_column_config",
    "CLASS_LABELS",
    "PRODUCT_LABELS",
]


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def fmt_pp(v: float | None) -> str:
    """A change of a rate (fraction points) in percentage points: 0.0012 -> '+0.12 pp'."""
    return "—" if _missing(v) else f"{v * 100:+.2f} pp"


def money_unit(lang: str, currency: str = "CNY", *, loan_level: bool = False) -> tuple[float, str]:
    """(divisor, unit) for money columns of tables: 万 in Chinese, millions in English; for
    tables of single loans (``loan_level``) the currency itself (元 for CNY in Chinese)."""
    sym = CURRENCY_SYMBOL.get(currency, currency + " ")
    if loan_level:
        return 1.0, ("元" if lang == "zh" and currency == "CNY" else sym.strip())
    return (1e4, f"{sym}万") if lang == "zh" else (1e6, f"{sym}M")


def money_columns(frame: pd.DataFrame, lang: str, currency: str = "CNY") -> dict[str, str]:
    """The money columns of a display frame (their heading ends with a money unit in
    brackets) → the ``NumberColumn`` printf format for them."""
    out: dict[str, str] = {}
    for loan_level in (False, True):
        _, unit = money_unit(lang, currency, loan_level=loan_level)
        fmt = "%,.2f" if loan_level or lang == "en" else "%,.1f"
        for col in frame.columns:
            if str(col).endswith((f"({unit})", f"（{unit}）")):
                out[col] = fmt
    return out


CLASS_LABELS: dict[str, tuple[str, str]] = {
    "normal": ("Normal 正常", "正常 Normal"),
    "special_mention": ("Special mention 关注", "关注 Special mention"),
    "substandard": ("Substandard 次级", "次级 Substandard"),
    "doubtful": ("Doubtful 可疑", "可疑 Doubtful"),
    "loss": ("Loss 损失", "损失 Loss"),
}
"""Five-level classification (五级分类): both names in either language."""

PRODUCT_LABELS = DIMENSION_LABELS
"""Product and segment codes → (English, 中文): :data:`components.i18n.DIMENSION_LABELS`."""


def _product(code: object, lang: str) -> str:
    pair = PRODUCT_LABELS.get(str(code))
    return label(*pair, lang) if pair else str(code)


# --- the metric picker ----------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    """One metric of the map and the ranked table: its key, the table column, labels, its
    definition (help), its kind (``rate``, ``change`` (fraction points), ``ratio``,
    ``money``), whether higher is worse, and its map colours."""

    key: str
    column: str
    en: str
    zh: str
    help_en: str
    help_zh: str
    kind: str
    higher_is_worse: bool = True
    colours: tuple[str, ...] = tuple(RISK_COLOURS)
    center_zero: bool = False
    short_en: str = ""
    short_zh: str = ""

    def label(self, lang: str) -> str:
        return label(self.en, self.zh, lang)

    def short(self, lang: str) -> str:
        """A short column heading (the full label when none is set)."""
        return label(self.short_en or self.en, self.short_zh or self.zh, lang)

    def help(self, lang: str) -> str:
        return label(self.help_en, self.help_zh, lang)

    def fmt(self, lang: str, currency: str = "CNY") -> Callable[[object], str]:
        """The formatter of a value of this metric."""
        if self.kind == "money":
            return lambda v: fmt_money(None if _missing(v) else float(v), currency, lang)
        if self.kind == "change":
            return lambda v: fmt_pp(None if _missing(v) else float(v))
        if self.kind == "ratio":
            return lambda v: fmt_rate(None if _missing(v) else float(v), 1)
        return lambda v: fmt_rate(None if _missing(v) else float(v))


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "dpd30", "overdue_rate_30_balance", "30+ DPD rate (by balance) 逾期率", "30+ 逾期率（按余额）DPD",
        "Σ balance with dpd > 30 ÷ Σ balance of the active book at month end.",
        "逾期30天以上贷款余额 ÷ 月末在贷余额。", "rate", short_en="30+ DPD", short_zh="30+ 逾期率",
    ),
    MetricSpec(
        "dpd90", "overdue_rate_90_balance", "90+ DPD rate (by balance) 逾期率", "90+ 逾期率（按余额）DPD",
        "Σ balance with dpd > 90 ÷ Σ balance of the active book at month end.",
        "逾期90天以上贷款余额 ÷ 月末在贷余额。", "rate", short_en="90+ DPD", short_zh="90+ 逾期率",
    ),
    MetricSpec(
        "npl", "npl_ratio", "NPL ratio 不良贷款率", "不良贷款率 NPL ratio",
        "Balance classed 次级 substandard + 可疑 doubtful + 损失 loss ÷ balance.",
        "次级 + 可疑 + 损失类贷款余额 ÷ 贷款余额。", "rate", short_en="NPL ratio", short_zh="不良贷款率",
    ),
    MetricSpec(
        "balance", "balance", "Balance 贷款余额", "贷款余额 Balance",
        "Σ outstanding principal of the active book at month end.", "月末在贷余额合计。", "money",
        colours=tuple(BALANCE_COLOURS), short_en="Balance", short_zh="贷款余额",
    ),
    MetricSpec(
        "dpd30_mom", "overdue_rate_30_balance_mom", "30+ DPD rate, change on month 环比变化", "30+ 逾期率环比变化 MoM",
        "30+ DPD rate (by balance) this month minus last month, in percentage points (pp).",
        "本月30+逾期率（按余额）减上月，单位百分点（pp）。", "change",
        colours=tuple(DIVERGING_COLOURS), center_zero=True, short_en="30+ MoM (pp)", short_zh="30+ 环比（pp）",
    ),
    MetricSpec(
        "collateral", "collateral_coverage", "Collateral coverage 抵押覆盖率", "抵押覆盖率 Collateral coverage",
        "Σ latest collateral value ÷ Σ balance over collateralised loans (not guarantees). Higher is safer.",
        "押品最新估值合计 ÷ 有抵质押贷款余额（保证不计）。越高越安全。", "ratio", higher_is_worse=False, short_en="Coverage", short_zh="抵押覆盖率",
    ),
    MetricSpec(
        "el", "expected_loss", "Expected loss 预期信用损失", "预期信用损失 Expected loss (ECL)",
        "IFRS 9 style ECL = PD × LGD × EAD (EAD = balance) summed over the region's loans: stage 1 (dpd ≤ 30) "
        "12-month PD, stage 2 (31-90) lifetime, stage 3 (> 90 or NPL) PD = 1. Computed loan by loan.",
        "IFRS 9 口径预期信用损失 = PD × LGD × EAD（EAD = 余额），按贷款逐笔计算后汇总：第一阶段（逾期≤30天）12个月PD，"
        "第二阶段（31-90天）整个存续期，第三阶段（>90天或不良）PD = 1。", "money", short_en="ECL", short_zh="预期信用损失",
    ),
)
"""The map's metrics, in picker order."""


def metric_spec(key: str) -> MetricSpec:
    """The :class:`MetricSpec` of ``key`` (ValueError for an unknown key)."""
    for spec in METRICS:
        if spec.key == key:
            return spec
    raise ValueError(f"unknown metric {key!r}; choose from {[s.key for s in METRICS]}")


def region_names(regions: pd.DataFrame, lang: str) -> dict[str, str]:
    """Region code → short display name (``short_zh`` or ``name_en``) from a regions frame."""
    col = "name_en" if lang == "en" else ("short_zh" if "short_zh" in regions.columns else "name_zh")
    return {str(c): (n if isinstance(n, str) and n else str(c)) for c, n in zip(regions["region_code"], regions[col])}


# --- the ranked table and the map -----------------------------------------------------------


def _heads(lang: str, currency: str) -> dict[str, str]:
    _, unit = money_unit(lang, currency)
    return {
        "rank": label("Rank", "排名", lang),
        "region_code": label("Code", "代码", lang),
        "region": label("Region", "地区", lang),
        "balance": label(f"Balance ({unit})", f"贷款余额（{unit}）", lang),
        "loans": label("Loans 笔数", "笔数 Loans", lang),
        "overdue_rate_30_balance": label("30+ DPD", "30+ 逾期率", lang),
        "overdue_rate_90_balance": label("90+ DPD", "90+ 逾期率", lang),
        "npl_ratio": label("NPL ratio 不良率", "不良贷款率 NPL", lang),
        "collateral_coverage": label("Collateral coverage", "抵押覆盖率", lang),
        "expected_loss": label(f"Expected loss ({unit})", f"预期信用损失（{unit}）", lang),
        "change_mom": label("Change on month", "环比变化", lang),
        "change_yoy": label("Change on year", "同比变化", lang),
    }


def _metric_head(spec: MetricSpec, lang: str, currency: str) -> str:
    """The chosen metric's column heading in the ranked table (money with its unit)."""
    if spec.kind == "money":
        return f"{spec.short(lang)} ({money_unit(lang, currency)[1]})" if lang == "en" else f"{spec.short(lang)}（{money_unit(lang, currency)[1]}）"
    return spec.short(lang)


def ranked_table(
    table: pd.DataFrame, spec: MetricSpec, names: Mapping[str, str], lang: str, currency: str = "CNY"
) -> pd.DataFrame:
    """The ranked table beside the map: one row per region, worst first by ``spec``.

    ``table`` is ``data.regional_view.region_table``. Columns (labelled in ``lang``): rank
    (1 = worst by the chosen metric; ties share a rank; no rank without a value), region,
    the chosen metric, its change on month and on year (for rates in percentage points, for
    money a relative change; none for the change metric itself), then 30+ DPD, NPL ratio
    and balance (the ones not chosen), and the region code last.
    Rates stay fractions; changes of rates are in pp (× 100); money is divided by
    :func:`money_unit`'s divisor.
    """
    heads = _heads(lang, currency)
    if table.empty:
        return pd.DataFrame(columns=[heads["rank"], heads["region"], _metric_head(spec, lang, currency), heads["region_code"]])
    div, _ = money_unit(lang, currency)
    rank = risk_rank(table[spec.column], higher_is_worse=spec.higher_is_worse)
    out = pd.DataFrame(
        {
            heads["rank"]: rank.to_numpy(),
            heads["region"]: [names.get(str(c), str(c)) for c in table["region_code"]],
        }
    )
    value = table[spec.column].astype(float)
    scale = {"money": 1 / div, "change": 100.0}.get(spec.kind, 1.0)
    out[_metric_head(spec, lang, currency)] = (value * scale).to_numpy()
    if spec.kind != "change":
        points = 100.0 if spec.kind in ("rate", "ratio") else 1.0  # rates: pp; money: relative change
        for suffix in ("mom", "yoy"):
            col = f"{spec.column}_{suffix}"
            out[heads[f"change_{suffix}"]] = (table[col].astype(float) * points).to_numpy() if col in table.columns else float("nan")
    for col in ("overdue_rate_30_balance", "npl_ratio", "balance"):
        if col != spec.column and col in table.columns:
            v = table[col].astype(float)
            out[heads[col]] = (v / div if col == "balance" else v).to_numpy()
    out[heads["region_code"]] = table["region_code"].astype(str).to_numpy()
    order = out.assign(_r=rank.astype("float").to_numpy()).sort_values(
        ["_r", heads["region_code"]], na_position="last", kind="stable"
    )
    return order.drop(columns="_r").reset_index(drop=True)


def ranked_column_config(spec: MetricSpec, lang: str, currency: str = "CNY") -> dict:
    """``st.dataframe`` column settings of :func:`ranked_table`: formats and definitions."""
    import streamlit as st

    heads = _heads(lang, currency)
    _, unit = money_unit(lang, currency)
    num = st.column_config.NumberColumn
    money_fmt = "%,.1f" if lang == "zh" else "%,.2f"
    in_unit = label(f" In {unit}.", f"单位：{unit}。", lang)
    cfg: dict = {
        heads["rank"]: num(help=label(f"1 = worst by {spec.en}.", f"1 = 按{spec.zh}最差。", lang), format="%d", width="small"),
        heads["region_code"]: st.column_config.TextColumn(width="small"),
        heads["overdue_rate_30_balance"]: num(format="percent", help=metric_spec("dpd30").help(lang)),
        heads["npl_ratio"]: num(format="percent", help=metric_spec("npl").help(lang)),
        heads["balance"]: num(format=money_fmt, help=metric_spec("balance").help(lang) + in_unit),
    }
    name = _metric_head(spec, lang, currency)
    if spec.kind == "money":
        cfg[name] = num(format=money_fmt, help=spec.help(lang) + in_unit)
    elif spec.kind == "change":
        cfg[name] = num(format="%+.2f pp", help=spec.help(lang))
    else:
        cfg[name] = num(format="percent", help=spec.help(lang))
    if spec.kind in ("rate", "ratio"):
        fmt, how = "%+.2f pp", label(" Difference in percentage points.", "差值，单位百分点。", lang)
    else:
        fmt, how = "percent", label(" Relative change.", "相对变化。", lang)
    cfg[heads["change_mom"]] = num(format=fmt, help=label("Against the previous month.", "与上月相比。", lang) + how)
    cfg[heads["change_yoy"]] = num(format=fmt, help=label("Against the same month a year earlier.", "与上年同月相比。", lang) + how)
    return cfg


def tooltip_fields(spec: MetricSpec, lang: str, currency: str = "CNY") -> list[tuple[str, str, Callable[[object], str]]]:
    """The map's tooltip lines: (column of :func:`map_values`, label, formatter)."""
    def money(v: object) -> str:
        return fmt_money(float(v), currency, lang)

    def rate(v: object) -> str:
        return fmt_rate(float(v))

    fields: list[tuple[str, str, Callable[[object], str]]] = [
        ("value", spec.label(lang), spec.fmt(lang, currency)),
        ("balance", label("Balance 贷款余额", "贷款余额", lang), money),
        ("loans", label("Loans", "笔数", lang), lambda v: fmt_count(float(v))),
        ("overdue_rate_30_balance", "30+ DPD", rate),
        ("overdue_rate_90_balance", "90+ DPD", rate),
        ("npl_ratio", label("NPL ratio 不良率", "不良贷款率", lang), rate),
        ("rank", label("Rank", "排名", lang), lambda v: f"{int(v)}"),
    ]
    if spec.column in ("balance", "overdue_rate_30_balance", "overdue_rate_90_balance", "npl_ratio"):
        fields = [f for f in fields if f[0] != spec.column]
    return fields


def map_values(table: pd.DataFrame, spec: MetricSpec) -> pd.DataFrame:
    """One row per region of ``table`` for ``components.maps.choropleth``: ``code``,
    ``value`` (the chosen metric, raw), the tooltip columns and ``rank`` by the metric."""
    cols = ["balance", "loans", "overdue_rate_30_balance", "overdue_rate_90_balance", "npl_ratio"]
    if table.empty:
        return pd.DataFrame(columns=["code", "value", *cols, "rank"])
    out = pd.DataFrame({"code": table["region_code"].astype(str).to_numpy(),
                        "value": table[spec.column].astype(float).to_numpy()})
    for c in cols:
        out[c] = table[c].astype(float).to_numpy() if c in table.columns else float("nan")
    out["rank"] = risk_rank(out["value"], higher_is_worse=spec.higher_is_worse).astype("float").to_numpy()
    return out


def region_row(table: pd.DataFrame, spec: MetricSpec, code: str) -> tuple[dict, object]:
    """(the region's row of ``table`` as a dict, its rank by ``spec``); ({}, None) if absent."""
    values = map_values(table, spec)
    hit = table["region_code"].astype(str) == str(code)
    if not hit.any():
        return {}, None
    rank = values.loc[values["code"] == str(code), "rank"].iloc[0]
    return table.loc[hit].iloc[0].to_dict(), rank


def rank_figure(table: pd.DataFrame, spec: MetricSpec, names: Mapping[str, str], lang: str,
                currency: str = "CNY") -> go.Figure:
    """The chosen metric by region as bars, worst first (rank 1 at the left), the metric's
    definition in every bar's hover. Regions without a value are left out. Rates are plotted
    as fractions (percent axis), changes of rates in percentage points, money as is."""
    values = map_values(table, spec).dropna(subset=["value"]).sort_values(["rank", "code"], kind="stable")
    fmt = spec.fmt(lang, currency)
    y = values["value"].astype(float) * (100.0 if spec.kind == "change" else 1.0)
    plain = spec.help(lang).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # not markup
    definition = "<br>".join(_wrap(plain, 60 if lang == "en" else 30))
    fig = go.Figure()
    fig.add_bar(
        x=[names.get(c, c) for c in values["code"]], y=y, marker_color=spec.colours[-2],
        customdata=[[fmt(v), f"{r:.0f}"] for v, r in zip(values["value"], values["rank"])],
        hovertemplate="%{x} · " + label("rank", "排名", lang) + " %{customdata[1]}: <b>%{customdata[0]}</b>"
        "<br><br>" + definition + "<extra></extra>",
    )
    tick = {"rate": ".1%", "ratio": ".0%", "change": "+.2f", "money": "~s"}[spec.kind]
    fig.update_yaxes(tickformat=tick, ticksuffix=" pp" if spec.kind == "change" else "")
    fig.update_xaxes(tickangle=-45 if len(values) > 12 else 0)
    style(fig, label(f"{spec.short(lang)} by region, worst first", f"各地区{spec.short(lang)}（由差到好）", lang), height=320)
    fig.update_layout(showlegend=False, margin={"t": 48, "b": 8})
    return fig


def _wrap(text: str, width: int) -> list[str]:
    """``text`` cut into lines of at most ``width`` characters (at spaces when there are any)."""
    if " " not in text:
        return [text[i:i + width] for i in range(0, len(text), width)] or [""]
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


# --- the province panel ---------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """One KPI card of the province panel, ready for ``st.metric``."""

    label: str
    value: str
    delta: str | None
    help: str
    delta_color: str = "inverse"


def province_cards(row: Mapping[str, object], lang: str, currency: str = "CNY") -> list[Card]:
    """The province's headline cards from its ``region_table`` row: balance, 30+ DPD, NPL
    ratio, collateral coverage; deltas against the previous month (balance relative, rates
    in pp)."""
    def get(k: str) -> float | None:
        v = row.get(k)
        return None if _missing(v) else float(v)

    def rel(k: str) -> str | None:
        v = get(k)
        return None if v is None else f"{v * 100:+.1f}%"

    def pp(k: str) -> str | None:
        v = get(k)
        return None if v is None else fmt_pp(v)

    on_month = label(" Change: against last month.", "变化：与上月相比。", lang)
    return [
        Card(label("Balance 贷款余额", "贷款余额 Balance", lang), fmt_money(get("balance"), currency, lang), rel("balance_mom"),
             metric_spec("balance").help(lang) + on_month, "off"),
        Card(label("30+ DPD rate 逾期率", "30+ 逾期率 DPD", lang), fmt_rate(get("overdue_rate_30_balance")),
             pp("overdue_rate_30_balance_mom"), metric_spec("dpd30").help(lang) + on_month),
        Card(label("NPL ratio 不良贷款率", "不良贷款率 NPL ratio", lang), fmt_rate(get("npl_ratio")), pp("npl_ratio_mom"),
             metric_spec("npl").help(lang) + on_month),
        Card(label("Collateral coverage 抵押覆盖率", "抵押覆盖率 Collateral", lang), fmt_rate(get("collateral_coverage"), 1),
             pp("collateral_coverage_mom"), metric_spec("collateral").help(lang) + on_month, "normal"),
    ]


def province_summary(row: Mapping[str, object], spec: MetricSpec, rank: object, regions: int, lang: str) -> str:
    """One line under the province heading: its rank by the chosen metric, loans, 90+ DPD."""
    def get(k: str) -> float | None:
        v = row.get(k)
        return None if _missing(v) else float(v)

    r = "—" if _missing(rank) else f"{int(rank)}"
    loans = fmt_count(get("loans"))
    dpd90 = fmt_rate(get("overdue_rate_90_balance"))
    return label(
        f"Rank {r} of {regions} by {spec.en} · {loans} loans · 90+ DPD {dpd90}",
        f"按{spec.zh}排名 {r} / {regions} · 贷款 {loans} 笔 · 90+ 逾期率 {dpd90}",
        lang,
    )


def trend_figure(kpis: pd.DataFrame, name: str, lang: str) -> go.Figure:
    """The province's 30+ DPD, 90+ DPD and NPL ratio by month (``monthly_kpis`` rows)."""
    fig = go.Figure()
    lines = [
        ("overdue_rate_30_balance", "30+ DPD", CATEGORY_COLOURS[1], "solid"),
        ("overdue_rate_90_balance", "90+ DPD", CATEGORY_COLOURS[6], "solid"),
        ("npl_ratio", label("NPL ratio 不良贷款率", "不良贷款率 NPL", lang), CATEGORY_COLOURS[0], "dash"),
    ]
    if not kpis.empty:
        x = pd.to_datetime(kpis["as_of"])
        for col, nm, colour, dash in lines:
            fig.add_scatter(x=x, y=kpis[col].astype(float), name=nm, mode="lines+markers",
                            line={"color": colour, "dash": dash, "width": 2}, marker={"size": 5},
                            hovertemplate=nm + " %{x|%Y-%m}: %{y:.2%}<extra></extra>")
    fig.update_yaxes(tickformat=".1%", rangemode="tozero")
    fig.update_xaxes(tickformat="%Y-%m")
    style(fig, label(f"{name}: overdue and NPL ratio by month", f"{name}：逾期率与不良贷款率走势", lang), height=360)
    fig.update_layout(margin={"t": 84}, title={"y": 0.98, "yanchor": "top"}, legend={"y": 1.02, "yanchor": "bottom"})
    return fig


def product_table(kpis: pd.DataFrame, lang: str, currency: str = "CNY") -> pd.DataFrame:
    """The province's products at the month (``monthly_kpis`` by product): product, loans,
    balance (scaled), share of balance, 30+ DPD, 90+ DPD, NPL ratio; largest first."""
    div, unit = money_unit(lang, currency)
    heads = [label("Product", "产品", lang), label("Loans", "笔数", lang), label(f"Balance ({unit})", f"余额（{unit}）", lang),
             label("Share of balance", "余额占比", lang), "30+ DPD", "90+ DPD", label("NPL ratio 不良率", "不良贷款率", lang)]
    if kpis.empty:
        return pd.DataFrame(columns=heads)
    k = kpis.sort_values("balance", ascending=False, kind="stable")
    total = float(k["balance"].sum())
    return pd.DataFrame(
        {
            heads[0]: [_product(p, lang) for p in k["product"]],
            heads[1]: k["loans"].astype("int64").to_numpy(),
            heads[2]: (k["balance"].astype(float) / div).to_numpy(),
            heads[3]: (k["balance"].astype(float) / total).to_numpy() if total > 0 else float("nan"),
            heads[4]: k["overdue_rate_30_balance"].astype(float).to_numpy(),
            heads[5]: k["overdue_rate_90_balance"].astype(float).to_numpy(),
            heads[6]: k["npl_ratio"].astype(float).to_numpy(),
        }
    )


def product_figure(kpis: pd.DataFrame, lang: str, currency: str = "CNY") -> go.Figure:
    """Balance by product (bars) with each product's 30+ DPD rate (dots, top axis)."""
    fig = go.Figure()
    if not kpis.empty:
        k = kpis.sort_values("balance", kind="stable")
        names = [_product(p, lang) for p in k["product"]]
        fig.add_bar(y=names, x=k["balance"].astype(float), orientation="h", name=label("Balance", "余额", lang),
                    marker_color="#9bb7d4", customdata=[fmt_money(float(v), currency, lang) for v in k["balance"]],
                    hovertemplate="%{y}: %{customdata}<extra></extra>")
        fig.add_scatter(y=names, x=k["overdue_rate_30_balance"].astype(float), xaxis="x2", mode="markers",
                        name="30+ DPD", marker={"color": CATEGORY_COLOURS[1], "size": 11, "symbol": "diamond"},
                        hovertemplate="%{y} 30+ DPD: %{x:.2%}<extra></extra>")
    fig.update_layout(
        xaxis={"title": label("Balance", "余额", lang), "tickformat": "~s"},
        xaxis2={"overlaying": "x", "side": "top", "tickformat": ".1%", "rangemode": "tozero", "showgrid": False},
    )
    style(fig, label("Product mix: balance (bars) and 30+ DPD (◆, top axis)", "产品结构：余额（柱）与 30+ 逾期率（◆，上轴）", lang),
          height=max(260, 130 + 40 * len(kpis)))
    fig.update_layout(margin={"t": 90}, title={"y": 0.98, "yanchor": "top"}, legend={"y": -0.25, "yanchor": "top"})
    return fig


def branch_table(branches: pd.DataFrame, lang: str, currency: str = "CNY") -> pd.DataFrame:
    """The province's branches (``data.regional.branch_risk``), worst 30+ DPD first: rank,
    branch, loans, balance (scaled), 30+ DPD, 90+ DPD, NPL ratio, collateral coverage, 30+
    change on month."""
    div, unit = money_unit(lang, currency)
    heads = [label("Rank", "排名", lang), label("Branch", "网点", lang), label("Loans", "笔数", lang),
             label(f"Balance ({unit})", f"余额（{unit}）", lang), "30+ DPD", "90+ DPD",
             label("NPL ratio 不良率", "不良贷款率", lang), label("Collateral coverage", "抵押覆盖率", lang),
             label("30+ change on month (pp)", "30+ 环比（pp）", lang)]
    if branches.empty:
        return pd.DataFrame(columns=heads)
    b = branches
    name = [n if isinstance(n, str) and n else (str(i) if not _missing(i) else label("(no branch)", "（无网点）", lang))
            for n, i in zip(b["branch_name"], b["branch_id"])]
    return pd.DataFrame(
        {
            heads[0]: b["rank"].to_numpy(),
            heads[1]: name,
            heads[2]: b["loans"].astype("int64").to_numpy(),
            heads[3]: (b["balance"].astype(float) / div).to_numpy(),
            heads[4]: b["overdue_rate_30_balance"].astype(float).to_numpy(),
            heads[5]: b["overdue_rate_90_balance"].astype(float).to_numpy(),
            heads[6]: b["npl_ratio"].astype(float).to_numpy(),
            heads[7]: b["collateral_coverage"].astype(float).to_numpy(),
            heads[8]: (b["overdue_rate_30_balance_mom"].astype(float) * 100.0).to_numpy(),
        }
    )


def worst_loans_table(loans: pd.DataFrame, lang: str, currency: str = "CNY") -> pd.DataFrame:
    """``data.regional_view.worst_loans`` for display: loan, customer, branch, product,
    balance, dpd, class (both names), score, collateral value (money in the currency), disbursed."""
    div, unit = money_unit(lang, currency, loan_level=True)
    heads = [label("Loan", "贷款编号", lang), label("Customer", "客户编号", lang), label("Branch", "网点", lang),
             label("Product", "产品", lang), label(f"Balance ({unit})", f"余额（{unit}）", lang), label("DPD", "逾期天数", lang),
             label("Class 五级分类", "五级分类 Class", lang), label("Score", "评分", lang),
             label(f"Collateral ({unit})", f"押品估值（{unit}）", lang), label("Disbursed", "发放日", lang)]
    if loans.empty:
        return pd.DataFrame(columns=heads)
    w = loans
    return pd.DataFrame(
        {
            heads[0]: w["loan_id"].to_numpy(),
            heads[1]: w["customer_id"].to_numpy(),
            heads[2]: [n if isinstance(n, str) and n else ("" if _missing(i) else str(i)) for n, i in zip(w["branch_name"], w["branch_id"])],
            heads[3]: [_product(p, lang) for p in w["product"]],
            heads[4]: (w["balance"].astype(float) / div).to_numpy(),
            heads[5]: w["dpd"].astype("int64").to_numpy(),
            heads[6]: [label(*CLASS_LABELS[c], lang) if c in CLASS_LABELS else str(c) for c in w["classification"]],
            heads[7]: w["credit_score"].astype("Int64").to_numpy(),
            heads[8]: (w["collateral_value"].astype(float) / div).to_numpy(),
            heads[9]: w["disbursement_date"].to_numpy(),
        }
    )


def loan_column_config(frame: pd.DataFrame, lang: str, currency: str = "CNY") -> dict:
    """Column settings for the province tables: percentages for rates (with definitions),
    money with separators, dpd and ranks as integers."""
    import streamlit as st

    money = money_columns(frame, lang, currency)
    helps = {
        "30+ DPD": metric_spec("dpd30").help(lang),
        "90+ DPD": metric_spec("dpd90").help(lang),
        label("NPL ratio 不良率", "不良贷款率", lang): metric_spec("npl").help(lang),
        label("Collateral coverage", "抵押覆盖率", lang): metric_spec("collateral").help(lang),
        label("Share of balance", "余额占比", lang): label("The product's balance ÷ the province's balance.", "该产品余额 ÷ 本省余额。", lang),
    }
    cfg: dict = {}
    for col in frame.columns:
        if col in helps:
            cfg[col] = st.column_config.NumberColumn(format="percent", help=helps[col])
        elif col in money:
            unit = str(col).rstrip(")）").rsplit("(" if lang == "en" else "（", 1)[-1]
            cfg[col] = st.column_config.NumberColumn(format=money[col], help=label(f"In {unit}.", f"单位：{unit}。", lang))
        elif "pp" in str(col):
            cfg[col] = st.column_config.NumberColumn(
                format="%+.2f pp", help=label("30+ DPD rate minus last month's, in percentage points.",
                                              "30+逾期率减上月，单位百分点。", lang))
    return cfg
