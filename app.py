"""Daihou (贷后): the app's entry point: page setup, first run, login, navigation.

Run with ``streamlit run app.py``. Pages live in ``pages/``; each is thin (reads filters,
calls ``data``/``analytics``, draws with ``components``).
"""

import streamlit as st

from components.auth import logout_button, require_login
from components.first_run import ensure_portfolio

st.set_page_config(page_title="Daihou 贷后", page_icon=":material/account_balance:", layout="wide")

ensure_portfolio()
require_login()
logout_button()

pages = [
    st.Page("pages/overview.py", title="Overview 总览", icon=":material/dashboard:", default=True),
]
st.navigation(pages).run()
