"""Overview (总览): the headline KPIs of the selected month, for managers."""

import streamlit as st

from components.auth import current_user
from components.filters import current_filters
from components.formatting import fmt_count, fmt_money, fmt_rate
from components.i18n import lang, t
from components.kpi_cards import Card, kpi_row
from components.store import cached_monthly_kpis, data_version

scope = current_user().scope
flt = current_filters()
kpis = cached_monthly_kpis(data_version(), scope, flt.history())
kpis = kpis[kpis["as_of"] <= flt.as_of] if flt.as_of is not None else kpis

st.title(t("overview"))
if kpis.empty:
    st.info(t("no_data"))
    st.stop()

st.caption(f"{t('latest_month')}: {kpis['as_of'].iloc[-1]:%Y-%m} · {t('book_note')}")


def money(v: float) -> str:
    return fmt_money(v, lang=lang())


kpi_row(
    kpis,
    [
        Card("balance", t("balance"), money, "Σ outstanding principal of active loans at month end. 月末在贷余额合计。"),
        Card("loans", t("loans"), fmt_count, "Number of active loans at month end. 月末在贷笔数。"),
        Card("overdue_rate_30_balance", t("dpd30"), fmt_rate,
             "Σ balance with dpd > 30 ÷ Σ balance. 逾期30天以上余额 ÷ 贷款余额。", up_is_bad=True, delta_as_points=True),
        Card("overdue_rate_90_balance", t("dpd90"), fmt_rate,
             "Σ balance with dpd > 90 ÷ Σ balance. 逾期90天以上余额 ÷ 贷款余额。", up_is_bad=True, delta_as_points=True),
        Card("npl_ratio", t("npl_ratio"), fmt_rate,
             "Balance classed 次级 substandard + 可疑 doubtful + 损失 loss ÷ balance.", up_is_bad=True, delta_as_points=True),
    ],
)
