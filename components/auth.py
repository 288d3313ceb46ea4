"""Sign-in: a login form, the signed-in user in session state, and sign-out.

Every page reads ``current_user().scope`` and passes it to the data layer, which
enforces it; the UI only mirrors it.
"""

from __future__ import annotations

import streamlit as st

from components.store import engine
from data.users import DEMO_USERS, AppUser, authenticate, seed_demo_users

__all__ = ["require_login", "current_user", "logout_button"]

_KEY = "daihou_user"


def current_user() -> AppUser:
    """The signed-in user (pages run only after :func:`require_login`)."""
    return st.session_state[_KEY]


def _login_form() -> None:
    with engine().begin() as conn:
        seed_demo_users(conn)  # a store without users gets the demo users
    st.title("Daihou 贷后")
    st.caption("Post-loan management · 贷后管理")
    with st.form("login", border=True, width=420):
        username = st.text_input("User 用户名")
        password = st.text_input("Password 密码", type="password")
        submitted = st.form_submit_button("Sign in 登录", type="primary")
    if submitted:
        with engine().begin() as conn:
            user = authenticate(conn, username.strip(), password)
        if user is None:
            st.error("Wrong user or password. 用户名或密码错误。")
        else:
            st.session_state[_KEY] = user
            st.rerun()
    with st.expander("Demo users 演示账户 (password 密码: daihou)"):
        st.table({"user": [u[0] for u in DEMO_USERS], "role": [u[1] for u in DEMO_USERS]})


def require_login() -> AppUser:
    """Return the signed-in user, or show the login form and stop the run."""
    user = st.session_state.get(_KEY)
    if user is None:
        _login_form()
        st.stop()
    return user


def logout_button() -> None:
    """Who is signed in, and a sign-out button, in the sidebar."""
    user = current_user()
    st.sidebar.caption(f"{user.display_name} · {user.role}")
    if st.sidebar.button("Sign out 退出", key="logout"):
        del st.session_state[_KEY]
        st.rerun()
