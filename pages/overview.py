"""Overview (总览): the headline KPIs of the latest month, for managers."""

import streamlit as st

from components.auth import current_user
from components.formatting import fmt_count, fmt_money, fmt_rate
from components.kpi_cards import Card, kpi_row
from components.store import cached_monthly_kpis, data_version
from data.read import Filters

scope = current_user().scope
kpis = cached_monthly_kpis(data_version(), scope, Filters())

st.title("Overview 总览")
if kpis.empty:
    st.info("The store holds no loans yet.")
    st.stop()

latest = kpis["as_of"].iloc[-1]
st.caption(f"Latest month: {latest:%Y-%m} · the book = active loans at month end")
kpi_row(
    kpis,
    [
        Card("balance", "Balance 贷款余额", fmt_money, "Σ outstanding principal of active loans at month end."),
        Card("loans", "Loans 贷款笔数", fmt_count, "Number of active loans at month end."),
        Card(
            "overdue_rate_30_balance", "30+ DPD 逾期率", fmt_rate,
            "Σ balance with dpd > 30 ÷ Σ balance (by balance).", up_is_bad=True, delta_as_points=True,
        ),
        Card(
            "overdue_rate_90_balance", "90+ DPD 逾期率", fmt_rate,
            "Σ balance with dpd > 90 ÷ Σ balance (by balance).", up_is_bad=True, delta_as_points=True,
        ),
        Card(
            "npl_ratio", "NPL ratio 不良贷款率", fmt_rate,
            "Balance classed 次级 substandard + 可疑 doubtful + 损失 loss ÷ balance.", up_is_bad=True,
            delta_as_points=True,
        ),
    ],
)
