"""Sign-in: a login form, the signed-in user in session state, and sign-out.

Every page reads ``current_user().scope`` and passes it to the data layer, which
enforces it; the UI only mirrors it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

from components.store import engine
from data.users import DEMO_USERS, AppUser, authenticate, seed_demo_users

__all__ = ["require_login", "current_user", "logout_button", "signed_in", "return_to_requested_page"]

_KEY = "daihou_user"
_RETURN_KEY = "daihou_return_to"


def signed_in() -> bool:
    """True once someone has signed in in this session."""
    return _KEY in st.session_state


def current_user() -> AppUser:
    """The signed-in user; pages call this first.

    A page normally runs inside ``app.py``, after sign-in. Right after a server restart,
    a first request for a page's address can reach the page file alone (Streamlit's
    legacy mode for a ``pages/`` folder, active until the entry script first runs). Then
    nobody is signed in: remember the page and go through ``app.py``, which signs in and
    comes back here (:func:`return_to_requested_page`).
    """
    user = st.session_state.get(_KEY)
    if user is None:
        path = urlsplit(st.context.url or "").path.strip("/")
        st.session_state[_RETURN_KEY] = path.rsplit("/", 1)[-1]
        st.switch_page("app.py")
    return user


def return_to_requested_page(pages: list) -> None:
    """After sign-in, open the page a first request asked for (see :func:`current_user`)."""
    wanted = st.session_state.pop(_RETURN_KEY, None)
    for page in pages:
        if wanted and page.url_path == wanted:
            st.switch_page(page)


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
