"""Daihou (贷后): the app's entry point: page setup, first run, login, filters, navigation.

Run with ``streamlit run app.py``. Pages live in ``pages/``; each is thin (reads filters,
calls ``data``/``analytics``, draws with ``components``). The sidebar (language, global
filters, sign-out) is drawn here on every run, so its state carries across pages and into
the URL.
"""

import streamlit as st

from components.auth import logout_button, require_login, return_to_requested_page, signed_in
from components.filters import filter_bar
from components.first_run import ensure_portfolio
from components.i18n import language_switch, t

# The favicon is an emoji (drawn locally as an SVG data URL): a ":material/...:" page icon makes the
# browser fetch it from fonts.gstatic.com, which fails offline (a console error in every tab).
st.set_page_config(page_title="Daihou 贷后", page_icon="🏦", layout="wide")

ensure_portfolio()

# One line per page, in menu order. url_path is the stable address of the page.
pages = [
    st.Page("pages/overview.py", title=t("overview"), icon=":material/dashboard:", default=True, url_path="overview"),
    st.Page("pages/delinquency.py", title="逾期分析 Delinquency", icon=":material/schedule:", url_path="delinquency"),
    st.Page("pages/drift.py", title="评分迁移 Score drift", icon=":material/query_stats:", url_path="drift"),
    st.Page("pages/regional.py", title="区域风险 Regional risk", icon=":material/map:", url_path="regional"),
    st.Page("pages/customers.py", title="客户价值 Customer value", icon=":material/groups:", url_path="customers"),
    st.Page("pages/stress.py", title="压力测试 Stress test", icon=":material/thunderstorm:", url_path="stress"),
    st.Page("pages/alerts.py", title="预警 Early warning", icon=":material/notifications_active:", url_path="alerts"),
    st.Page("pages/data.py", title="数据管理 Data", icon=":material/database:", url_path="data"),
    # pages: add new pages above this line
]
# Navigation before sign-in, so the sign-in run already resolves the requested page (a shared
# link survives the sign-in); the menu stays hidden until someone is signed in.
nav = st.navigation(pages, position="sidebar" if signed_in() else "hidden")
user = require_login()
return_to_requested_page(pages)
language_switch()
filter_bar(user.scope)
logout_button()
nav.run()
