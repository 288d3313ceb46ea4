"""Drawing pieces of the stress-test page (压力测试): slider specs, KPI cards, tables, figures.

Plain functions, testable without a running Streamlit app: they take the outputs of
``analytics.stress`` (``StressResult`` summaries and tables, ``compare`` frames) and the
language (``"zh"`` or ``"en"``), and return frames, small records or plotly figures. No
risk maths happens here: every number shown comes from ``analytics.stress.evaluate``;
this module only relabels, orders and formats.

Units: shocks on the sliders are in percentage points (GDP growth, unemployment, interest
rates) or per cent (house prices), i.e. the ``analytics.stress.Scenario`` fraction × 100.
Money in the store's currency; rates are fractions (shown as percentages).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.special import ndtr

from analytics.stress import OUTPUTS, PRESETS, Scenario, StressConfig, scenario_z
from components.charts import CATEGORY_COLOURS, label, style
from components.formatting import fmt_count, fmt_money, fmt_rate

__all__ = [
    "ShockSpec",
    "SHOCKS",
    "PRESET_LABELS",
    "Kpi",
    "label",
    "slider_values",
    "scenario_from_values",
    "scenario_options",
    "option_label",
    "return_period_years",
    "kpi_cards",
    "output_label",
    "result_table",
    "column_config",
    "shown_columns",
    "TABLE_COLUMNS",
    "compare_table",
    "saved_table",
    "calibration_table",
    "calibration_config",
    "money_axis",
    "compare_columns",
    "COMPARE_COLUMNS",
    "waterfall_figure",
    "dimension_figure",
    "compare_figure",
    "methodology_markdown",
]


# --- sliders --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShockSpec:
    """One macro shock's slider: the ``Scenario`` field, label, range and step in display
    units (percentage points or per cent = fraction × 100), and the printf display format."""

    field: str
    en: str
    zh: str
    min: float
    max: float
    step: float
    fmt: str
    help_en: str
    help_zh: str

    def label(self, lang: str) -> str:
        return label(self.en, self.zh, lang)

    def help(self, lang: str) -> str:
        return label(self.help_en, self.help_zh, lang)


SHOCKS: tuple[ShockSpec, ...] = (
    ShockSpec(
        "gdp_growth", "GDP growth shock", "GDP增速冲击", -10.0, 5.0, 0.25, "%+.2f pp",
        "Change in real GDP growth, percentage points (−3 = growth 3 pp lower than today). "
        "Lower growth raises z. Range −10 … +5 pp.",
        "实际GDP增速变化，单位百分点（−3 表示增速比当前低3个百分点）。增速下降使 z 上升。范围 −10 至 +5 个百分点。",
    ),
    ShockSpec(
        "unemployment", "Unemployment shock", "失业率冲击", -3.0, 10.0, 0.25, "%+.2f pp",
        "Change in the unemployment rate, percentage points (+2 = 2 pp higher). Higher unemployment "
        "raises z. Range −3 … +10 pp.",
        "失业率变化，单位百分点（+2 表示上升2个百分点）。失业率上升使 z 上升。范围 −3 至 +10 个百分点。",
    ),
    ShockSpec(
        "house_prices", "House-price shock", "房价冲击", -60.0, 30.0, 1.0, "%+.0f%%",
        "Change in house prices, per cent (−15 = a 15 % fall). A fall raises z and lowers the value "
        "of real-estate collateral, so it also raises LGD. Range −60 … +30 %.",
        "房价变化，单位%（−15 表示下跌15%）。房价下跌使 z 上升，并降低房产抵押品价值，从而提高违约损失率 LGD。范围 −60% 至 +30%。",
    ),
    ShockSpec(
        "interest_rate", "Interest-rate shock", "利率冲击", -3.0, 6.0, 0.25, "%+.2f pp",
        "Change in interest rates, percentage points (+1 = 1 pp higher). Higher rates raise z. "
        "Range −3 … +6 pp.",
        "利率变化，单位百分点（+1 表示上升1个百分点）。利率上升使 z 上升。范围 −3 至 +6 个百分点。",
    ),
)
"""The four sliders, in ``Scenario`` field order."""

PRESET_LABELS: dict[str, tuple[str, str]] = {
    "baseline": ("Baseline", "基准情景"),
    "adverse": ("Adverse", "不利情景"),
    "severely_adverse": ("Severely adverse", "严重不利情景"),
}


def slider_values(scenario: Scenario) -> tuple[dict[str, float], bool]:
    """The slider positions (display units) of ``scenario``, and whether any shock had to be
    clipped to the slider's range or rounded to its step (a scenario saved elsewhere)."""
    values: dict[str, float] = {}
    changed = False
    for spec in SHOCKS:
        raw = getattr(scenario, spec.field) * 100.0
        pos = min(max(raw, spec.min), spec.max)
        pos = round(round(pos / spec.step) * spec.step, 6)
        changed = changed or not math.isclose(pos, raw, abs_tol=1e-9)
        values[spec.field] = pos
    return values, changed


def scenario_from_values(values: Mapping[str, float], name: str = "custom") -> Scenario:
    """The ``Scenario`` of slider positions in display units (fraction = position ÷ 100)."""
    return Scenario(name=name, **{spec.field: float(values[spec.field]) / 100.0 for spec in SHOCKS})


def scenario_options(saved: pd.DataFrame) -> dict[str, Scenario]:
    """Preset and saved scenarios by option key: ``preset:<name>`` then ``saved:<name>``
    (``saved`` as ``data.scenarios.list_scenarios`` returns it)."""
    options = {f"preset:{name}": sc for name, sc in PRESETS.items()}
    fields = [spec.field for spec in SHOCKS]
    for row in saved.itertuples(index=False):
        options[f"saved:{row.name}"] = Scenario(name=row.name, **{f: float(getattr(row, f)) for f in fields})
    return options


def option_label(key: str) -> str:
    """How a scenario option shows, the same in both languages (a widget keeps its choice by
    this text, so it must not change when the language does): ``不利情景 Adverse``,
    ``<name> · 已保存 saved``, ``当前滑块 Current sliders``."""
    kind, _, name = key.partition(":")
    if kind == "preset" and name in PRESET_LABELS:
        en, zh = PRESET_LABELS[name]
        return f"{zh} {en}"
    if kind == "saved":
        return f"{name} · 已保存 saved"
    if key == "current":
        return "当前滑块 Current sliders"
    return key


def return_period_years(z: float) -> float | None:
    """How rare a year at least as bad as z is: 1 ÷ (1 − Φ(z)) years; None for z <= 0."""
    if not math.isfinite(z) or z <= 0:
        return None
    tail = float(ndtr(-z))
    return math.inf if tail == 0 else 1.0 / tail


# --- KPI cards ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    """One KPI card, ready for ``st.metric``: label, value, delta (str, or 0 for none),
    delta description, help text and delta colour."""

    key: str
    label: str
    value: str
    delta: str
    description: str
    help: str
    delta_color: str
    arrow: str = "auto"


_RATE_KPIS = {"pd_stressed", "npl_ratio_after", "capital_ratio_after"}


_NO_CHANGE = "±0"


def _delta(key: str, value: float, base: float, money: Callable[[float], str]) -> str:
    """The change against the baseline: ``+1.23 pp`` for rates, ``+¥4.5万`` for money, ``±0``
    when there is none (or it cannot be computed)."""
    if value is None or base is None or not (math.isfinite(value) and math.isfinite(base)):
        return _NO_CHANGE
    diff = value - base
    if key in _RATE_KPIS:
        return _NO_CHANGE if abs(diff) < 5e-7 else f"{diff * 100:+.2f} pp"
    if abs(diff) < 0.5:
        return _NO_CHANGE
    return ("+" if diff > 0 else "") + money(diff)


def kpi_cards(stressed: Mapping[str, float], baseline: Mapping[str, float], lang: str, currency: str = "CNY") -> list[Kpi]:
    """The five headline cards: stressed EL, stressed PD, NPL ratio after stress, provision
    shortfall, capital ratio after the loss; each with the baseline scenario's value as delta
    (``±0``, grey and without arrow, when equal). A sixth card shows the book: balance and loans.

    ``stressed`` and ``baseline`` are ``StressResult.summary`` dicts of the chosen scenario
    and of the baseline scenario (no shock) on the same book.
    """

    def money(v: float) -> str:
        return fmt_money(v, currency, lang)

    base_word = label("baseline", "基准", lang)
    specs = [
        ("el_stressed", label("Stressed EL 压力预期损失", "压力预期损失 Stressed EL", lang), money, "inverse",
         label("Expected loss over 12 months under the scenario: Σ stressed PD × stressed LGD × balance "
               "(EAD = balance). Delta: against the baseline scenario (no shock), i.e. today's EL.",
               "情景下未来12个月预期损失：Σ 压力PD × 压力LGD × 余额（违约风险暴露 = 余额）。变化值相对基准情景（无冲击），即当前预期损失。", lang)),
        ("pd_stressed", label("Stressed PD 压力违约概率", "压力违约概率 Stressed PD", lang), fmt_rate, "inverse",
         label("Balance-weighted 12-month PD of performing loans (dpd ≤ 90, not 次级/可疑/损失) under the "
               "scenario, from the Vasicek formula. Delta: against today's PD (baseline scenario).",
               "正常履约贷款（逾期≤90天且非次级/可疑/损失）按余额加权的12个月违约概率，由 Vasicek 公式得到。变化值相对当前PD（基准情景）。", lang)),
        ("npl_ratio_after", label("NPL ratio after stress 不良贷款率", "压力后不良贷款率 NPL ratio", lang), fmt_rate, "inverse",
         label("(NPL balance today + Σ stressed PD × balance of performing loans) ÷ balance: the loans expected to "
               "default within a year move to 次级 substandard. Delta: against the baseline scenario, whose value "
               "already includes the defaults expected without a shock.",
               "（当前不良余额 + Σ 正常贷款压力PD × 余额）÷ 贷款余额：预计一年内违约的贷款迁徙至次级。变化值相对基准情景；"
               "基准情景本身已包含无冲击时的预期违约。", lang)),
        ("provision_shortfall", label("Provision shortfall 拨备缺口", "拨备缺口 Provision shortfall", lang), money, "inverse",
         label("max(0, provisions needed − provisions held). Benchmark method: 1 % general reserve + 正常 0 %, "
               "关注 2 %, 次级 25 %, 可疑 50 %, 损失 100 %; needed = the same after the expected defaults migrate to "
               "次级. The baseline scenario already shows a shortfall when today's PDs imply defaults within the year.",
               "max(0, 压力后应计拨备 − 现有拨备)。基准法：1%一般准备 + 正常0%、关注2%、次级25%、可疑50%、损失100%；"
               "应计拨备按预期违约迁徙至次级后计算。若当前PD意味着一年内有违约，基准情景也会显示缺口。", lang)),
        ("capital_ratio_after", label("CAR after loss 资本充足率", "损失后资本充足率 Capital ratio", lang), fmt_rate, "normal",
         label("Capital adequacy ratio (CAR) after the loss: (capital − max(0, stressed EL − provisions held)) ÷ RWA. RWA = 35 % mortgages, 75 % other retail, "
               "100 % corporate and SME (Basel standardised); capital = 12 % of RWA unless the bank configures its own.",
               "（资本 − max(0, 压力预期损失 − 现有拨备)）÷ 风险加权资产。风险权重：住房贷款35%、其他零售75%、公司及小微100%"
               "（巴塞尔标准法）；未配置时资本按风险加权资产的12%计。", lang)),
    ]
    cards = []
    for key, name, fmt, colour, help_text in specs:
        value, base = stressed.get(key), baseline.get(key)
        delta = _delta(key, value, base, money)
        flat = delta == _NO_CHANGE
        cards.append(Kpi(key, name, fmt(value), delta, f"{base_word} {fmt(base)}", help_text,
                         "off" if flat else colour, "off" if flat else "auto"))
    loans = stressed.get("loans")
    cards.append(Kpi(
        "balance", label("Balance 贷款余额", "贷款余额 Balance", lang), money(stressed.get("balance")),
        label(f"{fmt_count(loans)} loans", f"{fmt_count(loans)} 笔", lang), "",
        label("The book under test: active loans at month end in your scope and filters; Σ outstanding principal.",
              "测试范围：您权限及筛选条件下月末在贷贷款；贷款余额合计。", lang), "off", "off"))
    return cards


# --- tables ---------------------------------------------------------------------------------

_OUTPUT_LABELS: dict[str, tuple[str, str, str, str]] = {
    # key: (English, 中文, help English, help 中文)
    "scenario": ("Scenario", "情景", "", ""),
    "gdp_growth": ("GDP growth shock", "GDP增速冲击", "Change in real GDP growth (pp).", "实际GDP增速变化（百分点）。"),
    "unemployment": ("Unemployment shock", "失业率冲击", "Change in the unemployment rate (pp).", "失业率变化（百分点）。"),
    "house_prices": ("House-price shock", "房价冲击", "Change in house prices (%).", "房价变化（%）。"),
    "interest_rate": ("Interest-rate shock", "利率冲击", "Change in interest rates (pp).", "利率变化（百分点）。"),
    "z": ("z (systematic factor)", "系统性因子 z", "z from the satellite mapping of the shocks; > 0 is adverse.",
          "由宏观冲击经卫星模型映射得到的系统性因子；大于0为不利。"),
    "loans": ("Loans 贷款笔数", "贷款笔数 Loans", "Active loans in the book.", "在贷笔数。"),
    "balance": ("Balance 贷款余额", "贷款余额 Balance", "Σ outstanding principal.", "贷款余额合计。"),
    "npl_balance": ("NPL balance 不良余额", "不良余额 NPL balance", "Balance in 次级 substandard + 可疑 doubtful + 损失 loss.",
                    "次级 + 可疑 + 损失类贷款余额。"),
    "npl_ratio": ("NPL ratio today 不良贷款率", "当前不良贷款率 NPL ratio", "NPL balance ÷ balance, today.", "当前不良余额 ÷ 贷款余额。"),
    "npl_ratio_after": ("NPL ratio after stress 不良贷款率", "压力后不良贷款率 NPL ratio",
                        "(NPL balance + Σ stressed PD × balance of performing loans) ÷ balance.",
                        "（不良余额 + Σ 正常贷款压力PD × 余额）÷ 贷款余额。"),
    "pd_baseline": ("Baseline PD", "基准PD", "Balance-weighted 12-month PD of performing loans today.",
                    "正常贷款按余额加权的当前12个月违约概率。"),
    "pd_stressed": ("Stressed PD", "压力PD", "Balance-weighted 12-month PD of performing loans under the scenario.",
                    "正常贷款按余额加权的情景下12个月违约概率。"),
    "el_baseline": ("Baseline EL", "基准预期损失", "Σ PD × LGD × balance today.", "Σ PD × LGD × 余额（当前）。"),
    "el_stressed": ("Stressed EL", "压力预期损失", "Σ stressed PD × stressed LGD × balance.", "Σ 压力PD × 压力LGD × 余额。"),
    "provisions_held": ("Provisions held 贷款损失准备", "现有拨备 Provisions held",
                        "Benchmark requirement today: 1 % general + class rates.", "基准法当前应计：1%一般准备 + 分类计提。"),
    "provisions_needed": ("Provisions needed", "压力后应计拨备", "The requirement after expected defaults migrate to 次级 substandard.",
                          "预期违约迁徙至次级后的应计拨备。"),
    "provision_shortfall": ("Provision shortfall 拨备缺口", "拨备缺口 Provision shortfall",
                            "max(0, provisions needed − provisions held).", "max(0, 压力后应计拨备 − 现有拨备)。"),
    "rwa": ("RWA", "风险加权资产", "Σ risk weight × balance (35 % mortgage, 75 % other retail, 100 % corporate/SME).",
            "Σ 风险权重 × 余额（住房35%、其他零售75%、公司/小微100%）。"),
    "capital": ("Capital", "资本", "Capital allocated pro rata to RWA (12 % of RWA by default).", "按风险加权资产比例分配的资本（默认为其12%）。"),
    "capital_ratio_before": ("Capital ratio before 资本充足率", "损失前资本充足率 Capital ratio", "Capital ÷ RWA.", "资本 ÷ 风险加权资产。"),
    "capital_ratio_after": ("Capital ratio after loss 资本充足率", "损失后资本充足率 Capital ratio",
                            "(capital − max(0, stressed EL − provisions held)) ÷ RWA.", "（资本 − max(0, 压力预期损失 − 现有拨备)）÷ 风险加权资产。"),
}

_RATE_COLUMNS = {"npl_ratio", "npl_ratio_after", "pd_baseline", "pd_stressed", "capital_ratio_before", "capital_ratio_after",
                 "gdp_growth", "unemployment", "house_prices", "interest_rate"}
_MONEY_COLUMNS = {"balance", "npl_balance", "el_baseline", "el_stressed", "provisions_held", "provisions_needed",
                  "provision_shortfall", "rwa", "capital"}
_DIMENSION_LABELS = {"region_code": ("Region", "地区"), "product": ("Product", "产品"), "segment": ("Segment", "客群")}

TABLE_COLUMNS: tuple[str, ...] = (
    "loans", "balance", "el_baseline", "el_stressed", "pd_baseline", "pd_stressed", "npl_ratio", "npl_ratio_after",
    "provision_shortfall", "capital_ratio_after",
)
"""The output columns shown on screen (the download holds every output)."""


def output_label(key: str, lang: str) -> str:
    """The column header of an output (``analytics.stress.OUTPUTS``), a shock, or a dimension."""
    if key in _DIMENSION_LABELS:
        return label(*_DIMENSION_LABELS[key], lang)
    if key == "code":
        return label("Code", "代码", lang)
    en, zh, _, _ = _OUTPUT_LABELS[key]
    return label(en, zh, lang)


def result_table(table: pd.DataFrame, dimension: str, names: Mapping[str, str], lang: str) -> pd.DataFrame:
    """A ``StressResult`` table (one row per group of ``dimension``) with the group's display
    name first and every output, headers in ``lang``; sorted by stressed EL, largest first.
    ``names`` maps a group's code to its display name (a missing one shows the code)."""
    out = table.sort_values("el_stressed", ascending=False, kind="stable").reset_index(drop=True)
    shown = out[dimension].map(lambda c: names.get(c, str(c)))
    frame = pd.DataFrame({output_label(dimension, lang): shown})
    if dimension == "region_code":
        frame[output_label("code", lang)] = out[dimension].astype(str)
    for col in OUTPUTS:
        frame[output_label(col, lang)] = out[col].to_numpy()
    return frame


def column_config(lang: str, columns: Sequence[str] = (*OUTPUTS, "gdp_growth", "unemployment", "house_prices", "interest_rate", "z")) -> dict:
    """``st.dataframe`` column settings keyed by the headers of :func:`result_table` /
    :func:`compare_table`: percentages for rates, thousands separators for money, the
    definition as help."""
    import streamlit as st  # only the column-config builders; no app needed

    config = {}
    for col in columns:
        en, zh, help_en, help_zh = _OUTPUT_LABELS[col]
        head, help_text = label(en, zh, lang), label(help_en, help_zh, lang) or None
        if col in _RATE_COLUMNS:
            config[head] = st.column_config.NumberColumn(head, help=help_text, format="percent")
        elif col in _MONEY_COLUMNS:
            config[head] = st.column_config.NumberColumn(head, help=help_text, format="%,.0f")
        elif col == "z":
            config[head] = st.column_config.NumberColumn(head, help=help_text, format="%.2f")
        else:
            config[head] = st.column_config.NumberColumn(head, help=help_text, format="%,d")
    return config


def shown_columns(dimension: str, lang: str) -> list[str]:
    """Headers of :func:`result_table` shown on screen (``column_order``)."""
    first = [output_label(dimension, lang)]
    return first + [output_label(c, lang) for c in TABLE_COLUMNS]


def compare_table(frame: pd.DataFrame, labels: Mapping[str, str], lang: str) -> pd.DataFrame:
    """``analytics.stress.compare``'s frame (rows = shocks, z, outputs; one column per
    scenario) as one row per scenario, headers in ``lang``, scenario names from ``labels``."""
    rows = frame.T
    out = pd.DataFrame({output_label("scenario", lang): [labels.get(c, c) for c in frame.columns]})
    for key in frame.index:
        out[output_label(key, lang)] = rows[key].to_numpy()
    return out


def calibration_table(records: Sequence[Mapping], lang: str) -> pd.DataFrame:
    """``pd_model_report``'s calibration records (decile, rows, defaults, mean_pd,
    observed_rate) as a frame with headers in ``lang``."""
    heads = {
        "decile": label("PD decile", "PD十分位", lang),
        "rows": label("Loan-months", "样本数", lang),
        "defaults": label("Defaults", "违约数", lang),
        "mean_pd": label("Mean PD", "平均PD", lang),
        "observed_rate": label("Observed default rate", "实际违约率", lang),
    }
    return pd.DataFrame(list(records), columns=list(heads)).rename(columns=heads)


def calibration_config(lang: str) -> dict:
    """Column settings of :func:`calibration_table`: percentages with their definitions."""
    import streamlit as st

    return {
        label("Mean PD", "平均PD", lang): st.column_config.NumberColumn(
            format="percent", help=label("Mean predicted 12-month PD in the decile.", "该十分位的平均预测12个月PD。", lang)),
        label("Observed default rate", "实际违约率", lang): st.column_config.NumberColumn(
            format="percent", help=label("Share of the decile's loan-months that defaulted (dpd > 90 or written off) "
                                         "within the next 12 months.", "该十分位样本在随后12个月内违约（逾期>90天或核销）的占比。", lang)),
    }


COMPARE_COLUMNS: tuple[str, ...] = (
    "gdp_growth", "unemployment", "house_prices", "interest_rate", "z",
    "el_stressed", "pd_stressed", "npl_ratio_after", "provision_shortfall", "capital_ratio_after",
)
"""The columns of :func:`compare_table` shown on screen (the download holds every output)."""


def compare_columns(lang: str) -> list[str]:
    """Headers of :func:`compare_table` shown on screen (``column_order``)."""
    return [output_label("scenario", lang)] + [output_label(c, lang) for c in COMPARE_COLUMNS]


def saved_table(saved: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The saved scenarios (``data.scenarios.list_scenarios``) for display: name, author,
    comment, saved at and the four shocks (fractions)."""
    heads = {
        "name": label("Name", "名称", lang),
        "author": label("Author", "创建人", lang),
        "comment": label("Comment", "说明", lang),
        "created_at": label("Saved at", "保存时间", lang),
    }
    out = saved[list(heads)].rename(columns=heads)
    for spec in SHOCKS:
        out[output_label(spec.field, lang)] = saved[spec.field].to_numpy()
    return out


# --- figures --------------------------------------------------------------------------------

_INCREASE, _DECREASE, _TOTAL = "#c0392b", "#2a9d8f", "#1f5fa8"


def money_axis(values: Sequence[float], lang: str, currency: str = "CNY") -> tuple[float, str]:
    """The unit of a money axis: ``(divisor, unit label)``. Chinese: 亿 when the largest
    absolute value reaches 10亿, else 万 (万元, 亿元 for CNY); English: millions or billions."""
    big = max([abs(float(v)) for v in values if v == v] + [0.0])
    if lang == "en":
        return (1e9, f"{currency} bn") if big >= 1e10 else (1e6, f"{currency} m")
    unit = "元" if currency == "CNY" else f" {currency}"
    return (1e8, f"亿{unit}") if big >= 1e9 else (1e4, f"万{unit}")


def waterfall_figure(waterfall: pd.DataFrame, lang: str, currency: str = "CNY") -> go.Figure:
    """Baseline EL → PD effect → LGD effect → stressed EL (``StressResult.waterfall``)."""
    names = {
        "baseline_el": label("Baseline EL", "基准预期损失", lang),
        "pd_effect": label("PD effect", "PD效应", lang),
        "lgd_effect": label("LGD effect", "LGD效应", lang),
        "stressed_el": label("Stressed EL", "压力预期损失", lang),
    }
    steps = waterfall["step"].tolist()
    values = waterfall["value"].astype(float).tolist()
    measure = ["absolute" if s == "baseline_el" else "total" if s == "stressed_el" else "relative" for s in steps]
    text = [("+" if m == "relative" and v > 0 else "") + fmt_money(v, currency, lang) for m, v in zip(measure, values)]
    div, unit = money_axis(values, lang, currency)
    shown = [0.0 if m == "total" else v / div for m, v in zip(measure, values)]  # a total bar draws the running sum
    fig = go.Figure(go.Waterfall(
        x=[names.get(s, s) for s in steps], y=shown, measure=measure, text=text, textposition="outside",
        customdata=text, hovertemplate="%{x}: %{customdata}<extra></extra>",
        increasing={"marker": {"color": _INCREASE}}, decreasing={"marker": {"color": _DECREASE}},
        totals={"marker": {"color": _TOTAL}}, connector={"line": {"color": "#999", "dash": "dot"}},
    ))
    running, top = 0.0, 1.0
    for m, v in zip(measure, values):
        running = v if m in ("absolute", "total") else running + v
        top = max(top, running)
    fig.update_yaxes(title=label(f"Expected loss ({unit})", f"预期损失（{unit}）", lang), range=[0, top / div * 1.18],
                     tickformat=",~r")
    fig.update_layout(showlegend=False)
    return style(fig, label("From baseline to stressed expected loss", "从基准到压力情景的预期损失", lang), height=340)


def dimension_figure(table: pd.DataFrame, dimension: str, names: Mapping[str, str], lang: str, currency: str = "CNY",
                     top: int = 15) -> go.Figure:
    """Baseline and stressed EL per group (horizontal bars, the ``top`` largest stressed EL),
    the loss rate (EL ÷ balance) in the hover."""
    t = table.sort_values("el_stressed", ascending=False, kind="stable").head(top).iloc[::-1]
    groups = [names.get(c, str(c)) for c in t[dimension]]
    div, unit = money_axis([*t["el_baseline"], *t["el_stressed"]], lang, currency)
    fig = go.Figure()
    for col, colour in (("el_baseline", "#9bb7d4"), ("el_stressed", _INCREASE)):
        bal = t["balance"].replace(0, float("nan"))
        rate = (t[col] / bal).tolist()
        fig.add_bar(
            y=groups, x=t[col] / div, orientation="h", name=output_label(col, lang), marker_color=colour,
            customdata=[[fmt_money(v, currency, lang), fmt_rate(r)] for v, r in zip(t[col], rate)],
            hovertemplate="%{y}: %{customdata[0]} (" + label("of balance", "占余额", lang) + " %{customdata[1]})<extra></extra>",
        )
    fig.update_layout(barmode="group", bargap=0.25, legend={"x": 1, "xanchor": "right", "y": 1.02})
    fig.update_xaxes(title=label(f"Expected loss ({unit})", f"预期损失（{unit}）", lang), tickformat=",~r")
    title = label(f"Expected loss by {output_label(dimension, 'en').lower()}", f"按{output_label(dimension, 'zh')}的预期损失", lang)
    if len(table) > top:
        title += label(f" (top {top})", f"（前{top}）", lang)
    return style(fig, title, height=max(200, 80 + 36 * len(t)))


def compare_figure(frame: pd.DataFrame, labels: Mapping[str, str], lang: str, currency: str = "CNY") -> go.Figure:
    """Scenarios side by side (``analytics.stress.compare`` frame): rates on the left
    (stressed PD, NPL ratio after stress, capital ratio after loss), money on the right
    (stressed EL, provision shortfall); one colour per scenario."""
    rates = ["pd_stressed", "npl_ratio_after", "capital_ratio_after"]
    money = ["el_stressed", "provision_shortfall"]
    ticks = {
        "pd_stressed": label("Stressed PD", "压力PD", lang),
        "npl_ratio_after": label("NPL ratio<br>after stress", "压力后<br>不良贷款率", lang),
        "capital_ratio_after": label("Capital ratio<br>after loss", "损失后<br>资本充足率", lang),
        "el_stressed": label("Stressed EL", "压力预期损失", lang),
        "provision_shortfall": label("Provision<br>shortfall", "拨备缺口", lang),
    }
    div, unit = money_axis(frame.loc[money].to_numpy().ravel().tolist(), lang, currency)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.58, 0.42], horizontal_spacing=0.1,
                        subplot_titles=(label("Rates", "比率", lang), label(f"Amounts ({unit})", f"金额（{unit}）", lang)))
    for i, col in enumerate(frame.columns):
        colour = CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)]
        name = labels.get(col, col)
        r = frame.loc[rates, col].astype(float)
        m = frame.loc[money, col].astype(float)
        fig.add_bar(x=[ticks[k] for k in rates], y=r, name=name, legendgroup=name, marker_color=colour,
                    customdata=[fmt_rate(v) for v in r], hovertemplate=name + ": %{customdata}<extra></extra>",
                    row=1, col=1)
        fig.add_bar(x=[ticks[k] for k in money], y=m / div, name=name, legendgroup=name, marker_color=colour,
                    showlegend=False, customdata=[fmt_money(v, currency, lang) for v in m],
                    hovertemplate=name + ": %{customdata}<extra></extra>", row=1, col=2)
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".1%", row=1, col=1)
    fig.update_yaxes(tickformat=",~r", row=1, col=2)
    fig.update_xaxes(tickangle=0)
    style(fig, None, height=380)
    fig.update_layout(margin={"t": 70}, legend={"y": 1.14})
    return fig


# --- method notes ---------------------------------------------------------------------------


def _pct(v: float) -> str:
    return f"{v * 100:g} %"


_TERMS_ZH = {
    "real_estate": "房产", "vehicle": "车辆", "equipment": "设备", "inventory": "存货", "receivables": "应收账款",
    "deposit": "存款", "guarantee": "保证", "credit_card": "信用卡", "mortgage": "个人住房贷款", "consumer": "消费贷款",
    "business": "经营贷款", "auto": "汽车贷款",
}


def _term(key: str, lang: str) -> str:
    return key.replace("_", " ") if lang == "en" else _TERMS_ZH.get(key, key)


def methodology_markdown(config: StressConfig, lang: str) -> str:
    """The stress test's definitions in plain words, with the configured numbers: the
    satellite mapping and why, the Vasicek formula, ρ, LGD haircuts and floor, outputs."""
    s, e = config.satellite, config.ecl
    sample = {"adverse": PRESETS["adverse"], "severely_adverse": PRESETS["severely_adverse"]}
    z = {k: scenario_z(v, s) for k, v in sample.items()}
    years = {k: return_period_years(v) or math.inf for k, v in z.items()}
    sep = ", " if lang == "en" else "、"
    haircuts = sep.join(f"{_term(k, lang)} {_pct(v)}" for k, v in e.haircuts)
    unsecured = sep.join(f"{_term(k, lang)} {_pct(v)}" for k, v in e.unsecured_lgd)
    if lang == "en":
        return f"""
**1 · From macro shocks to one number z (satellite mapping).**
z = −{s.gdp:g} · ΔGDP + {s.unemployment:g} · ΔUnemployment − {s.house_prices:.3g} · ΔHousePrices + {s.interest_rate:g} · ΔRates
(shocks as fractions: −3 pp GDP growth is −0.03). Every adverse move raises z; no shock gives z = 0, today.
The adverse preset gives z = {z['adverse']:.2f} (a year that bad comes about once in {years['adverse']:.0f} years) and the severely adverse
z = {z['severely_adverse']:.2f} (about once in {years['severely_adverse']:.0f} years). *Why these weights:* in published regressions of retail default
rates on the economy, GDP growth and unemployment explain most of the common swing in defaults, house prices and rates
less. They are a judgement, not estimated from this store; the bank should recalibrate them on its own default history.
House prices also act a second time, on collateral values (LGD).

**2 · Stressed PD (Vasicek, Basel ASRF).** PD_s = Φ((Φ⁻¹(PD) + √ρ · z) ÷ √(1 − ρ)).
The PD model gives today's (point-in-time) PD, so the formula is anchored there: at z = 0 each loan keeps today's PD,
and PD_s rises with z. ρ, the loan's sensitivity to the economy, follows Basel: mortgages {_pct(0.15)}, credit cards
{_pct(0.04)}, other retail {_pct(0.03)}–{_pct(0.16)} (lower for riskier loans), corporate and SME {_pct(0.12)}–{_pct(0.24)}.
Loans already non-performing (dpd > 90 or 次级/可疑/损失) have PD = 1. Horizon: 12 months.

**3 · Stressed LGD.** For a loan with collateral: LGD = max(0, balance − collateral value × (1 + house-price shock,
real estate only) × (1 − haircut)) ÷ balance, at least {_pct(e.lgd_floor)}. Haircuts (forced-sale loss): {haircuts};
other types {_pct(e.default_haircut)} (Basel III foundation-IRB haircuts). Without collateral: {unsecured}, otherwise
{_pct(e.default_unsecured_lgd)}.

**4 · Outputs.** Stressed EL = Σ PD_s × LGD_s × balance; PD effect = Σ (PD_s − PD) × LGD × balance, LGD effect =
Σ PD_s × (LGD_s − LGD) × balance. NPL ratio after stress = (NPL balance + Σ PD_s × balance of performing loans) ÷ balance.
Provisions by the benchmark method (1 % general reserve + 正常 normal 0 %, 关注 special mention 2 %, 次级 substandard 25 %,
可疑 doubtful 50 %, 损失 loss 100 %); needed = the same after the expected defaults move to 次级; shortfall = max(0,
needed − held). Capital ratio after loss = (capital − max(0, stressed EL − provisions held)) ÷ RWA, risk weights
{_pct(config.risk_weight_mortgage)} mortgage, {_pct(config.risk_weight_retail)} other retail,
{_pct(config.risk_weight_corporate)} corporate/SME; capital = {_pct(config.capital_ratio)} of RWA unless configured.
"""
    return f"""
**1 · 宏观冲击 → 系统性因子 z（卫星模型）。**
z = −{s.gdp:g} · ΔGDP增速 + {s.unemployment:g} · Δ失业率 − {s.house_prices:.3g} · Δ房价 + {s.interest_rate:g} · Δ利率
（冲击以小数计：GDP增速下降3个百分点即 −0.03）。任何不利变化都使 z 上升；无冲击时 z = 0，即当前状况。
不利情景 z = {z['adverse']:.2f}（约{years['adverse']:.0f}年一遇），严重不利情景 z = {z['severely_adverse']:.2f}（约{years['severely_adverse']:.0f}年一遇）。
*系数依据：* 公开的零售违约率宏观回归中，GDP增速和失业率解释了违约率共同波动的大部分，房价和利率影响较小。
系数为专家判断，并非由本库数据估计；银行应以自身违约历史重新校准。房价还通过抵押品价值第二次影响违约损失率（LGD）。

**2 · 压力违约概率（Vasicek 公式，巴塞尔 ASRF）。** PD_s = Φ((Φ⁻¹(PD) + √ρ · z) ÷ √(1 − ρ))。
PD 模型给出的是当前时点（point-in-time）PD，公式以此为锚：z = 0 时每笔贷款保持当前PD，z 越大 PD_s 越高。
资产相关系数 ρ（贷款对经济周期的敏感度）按巴塞尔规则：住房贷款 {_pct(0.15)}，信用卡 {_pct(0.04)}，
其他零售 {_pct(0.03)}–{_pct(0.16)}（风险越高越低），公司及小微 {_pct(0.12)}–{_pct(0.24)}。
已不良贷款（逾期 > 90天或次级/可疑/损失）PD = 1。期限：12个月。

**3 · 压力违约损失率（LGD）。** 有抵押贷款：LGD = max(0, 余额 − 抵押品价值 × (1 + 房价冲击，仅房产) × (1 − 折扣率)) ÷ 余额，
下限 {_pct(e.lgd_floor)}。折扣率（变现损失）：{haircuts}；其他类型 {_pct(e.default_haircut)}（巴塞尔III基础内评法）。
无抵押：{unsecured}，其余 {_pct(e.default_unsecured_lgd)}。

**4 · 输出。** 压力预期损失 = Σ PD_s × LGD_s × 余额；PD效应 = Σ (PD_s − PD) × LGD × 余额，LGD效应 = Σ PD_s × (LGD_s − LGD) × 余额。
压力后不良贷款率 = (不良余额 + Σ 正常贷款 PD_s × 余额) ÷ 贷款余额。拨备按基准法（1%一般准备 + 正常0%、关注2%、次级25%、
可疑50%、损失100%）；压力后应计拨备 = 预期违约迁徙至次级后的同一要求；拨备缺口 = max(0, 应计 − 现有)。
损失后资本充足率 = (资本 − max(0, 压力预期损失 − 现有拨备)) ÷ 风险加权资产，风险权重：住房 {_pct(config.risk_weight_mortgage)}、
其他零售 {_pct(config.risk_weight_retail)}、公司/小微 {_pct(config.risk_weight_corporate)}；未配置时资本 = 风险加权资产的 {_pct(config.capital_ratio)}。
"""
