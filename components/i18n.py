"""Chinese and English labels. Regulatory terms keep both names whatever the language.

``t(key)`` gives the label in the current language (``lang`` query parameter, bound to the
language switch in the sidebar). Keys missing from ``LABELS`` are returned as they are,
so a missing translation shows up plainly instead of crashing.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

__all__ = ["LANGS", "LABELS", "DIMENSION_LABELS", "lang", "t", "both", "tr", "language_switch", "lang_tabs"]

LANGS = ("zh", "en")

DIMENSION_LABELS: dict[str, tuple[str, str]] = {
    "mortgage": ("Mortgage", "个人住房贷款"),
    "consumer": ("Consumer", "消费贷款"),
    "business": ("Business", "经营贷款"),
    "credit_card": ("Credit card", "信用卡"),
    "auto": ("Auto", "汽车贷款"),
    "retail": ("Retail", "零售"),
    "sme": ("SME", "小微企业"),
    "corporate": ("Corporate", "公司"),
}
"""Product and segment codes of the tape → (English, 中文); part of :data:`LABELS`."""

LABELS: dict[str, tuple[str, str]] = {
    # key: (English, 中文)
    "app_title": ("Daihou post-loan management", "贷后管理"),
    "filters": ("Filters", "筛选"),
    "as_of": ("As of month", "数据月份"),
    "months": ("Trend window", "趋势区间"),
    "region": ("Region", "地区"),
    "product": ("Product", "产品"),
    "segment": ("Segment", "客群"),
    "all": ("All", "全部"),
    "language": ("Language", "语言"),
    "overview": ("Overview", "总览"),
    "no_data": ("No data for this selection.", "当前筛选条件下没有数据。"),
    "latest_month": ("Month", "月份"),
    "book_note": ("the book = active loans at month end", "贷款余额口径：月末在贷（active）贷款"),
    # products and segments
    **DIMENSION_LABELS,
    # KPIs: regulatory terms carry both names in either language
    "balance": ("Balance 贷款余额", "贷款余额 Balance"),
    "loans": ("Loans 贷款笔数", "贷款笔数 Loans"),
    "dpd1": ("1+ DPD rate 逾期率", "1+ 逾期率 DPD"),
    "dpd30": ("30+ DPD rate 逾期率", "30+ 逾期率 DPD"),
    "dpd90": ("90+ DPD rate 逾期率", "90+ 逾期率 DPD"),
    "npl_ratio": ("NPL ratio 不良贷款率", "不良贷款率 NPL ratio"),
    "provisions": ("Provisions 贷款损失准备", "贷款损失准备 Provisions"),
    "coverage": ("Provision coverage 拨备覆盖率", "拨备覆盖率 Provision coverage"),
    "lpr": ("Loan provision ratio 拨贷比", "拨贷比 Loan provision ratio"),
}


def lang() -> str:
    """The current language, ``zh`` (default) or ``en``."""
    value = st.session_state.get("lang") or st.query_params.get("lang") or "zh"
    return value if value in LANGS else "zh"


def t(key: str) -> str:
    """The label for ``key`` in the current language."""
    pair = LABELS.get(key)
    if pair is None:
        return key
    return pair[0] if lang() == "en" else pair[1]


def both(key: str) -> str:
    """The label for ``key`` in Chinese and English ("个人住房贷款 Mortgage"), whatever the language."""
    pair = LABELS.get(key)
    if pair is None:
        return key
    en, zh = pair
    return zh if en in zh else f"{zh} {en}"


def tr(en: str, zh: str) -> str:
    """Inline label: ``en`` or ``zh`` by the current language (for labels used on one page only)."""
    return en if lang() == "en" else zh


def language_switch() -> None:
    """中文 / English switch in the sidebar, kept in the URL (``?lang=en``).

    Not ``bind="query-params"``: a bound widget with a ``format_func`` writes its label
    (``?lang=English``) and rejects ``?lang=en``, so the URL is kept by hand.
    """
    if st.session_state.get("lang") not in LANGS:
        st.session_state["lang"] = lang()  # from ?lang= on a new session
    choice = st.sidebar.segmented_control(
        "Language 语言",
        LANGS,
        format_func=lambda v: "中文" if v == "zh" else "English",
        key="lang",
        required=True,
        label_visibility="collapsed",
    )
    if st.query_params.get("lang") != choice:
        st.query_params["lang"] = choice


def _option_of(value: object, names: Mapping[str, tuple[str, str]]) -> str | None:
    """The option whose label is ``value`` in either language, else None."""
    for option, pair in names.items():
        if value in pair:
            return option
    return None


def lang_tabs(key: str, names: Mapping[str, tuple[str, str]], *, bind: str | None = None) -> dict:
    """Lazy ``st.tabs`` whose open tab survives a language switch and a visit to another page.

    ``names`` maps each tab's id to its (English, 中文) label; returns ``{id: tab}`` with
    ``tab.open`` True for the open one only (``on_change="rerun"``: only it needs to run).
    The widget's value (``st.session_state[key]``) is the open tab's label, as Streamlit
    keeps it. A language switch changes the labels, so Streamlit would see new tabs and
    open the first: the label of the other language is translated before the tabs are
    drawn. The open tab's id is also kept under ``<key>.open``, so coming back to the
    page (Streamlit drops the state of widgets not drawn) opens it again. With
    ``bind="query-params"`` the URL's ``?<key>=<label>`` opens a tab in a new session,
    in whichever language the link was made.
    """
    en = lang() == "en"
    labels = {option: pair[0] if en else pair[1] for option, pair in names.items()}
    memory = f"{key}.open"
    chosen = _option_of(st.session_state.get(key), names)
    if chosen is None and bind == "query-params":
        chosen = _option_of(st.query_params.get(key), names)
    if chosen is None and st.session_state.get(memory) in labels:
        chosen = st.session_state[memory]
    if chosen is not None and st.session_state.get(key) != labels[chosen]:
        st.session_state[key] = labels[chosen]
    made = dict(zip(labels, st.tabs(list(labels.values()), key=key, on_change="rerun", bind=bind), strict=True))
    st.session_state[memory] = next((option for option, tab in made.items() if tab.open), next(iter(labels)))
    return made
