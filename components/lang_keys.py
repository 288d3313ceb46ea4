"""Widget keys per language, for widgets whose options are shown translated (``format_func``).

Streamlit 1.67's browser side keeps a selectbox's or multiselect's choice as the *label* it
showed. After a language switch the labels change ("高" becomes "High"), so the old label
stays on screen and, at the next interaction anywhere on the page, is sent back, matches no
option and the choice is silently dropped (a level filter "高" turns into "all levels").
Keying such a widget per language (``lang_key("alerts_level")`` → ``alerts_level.en``) makes
the browser draw a fresh widget after a switch; the value chosen in the other language is
carried over, so nothing is lost.
"""

from __future__ import annotations

import streamlit as st

from components.i18n import LANGS, lang

__all__ = ["lang_key"]


def lang_key(name: str) -> str:
    """``<name>.<lang>``, given the value that ``<name>`` had in the other language (moved:
    the other language's entry is removed, so a later switch back cannot revive an old one).

    The widget's ``format_func`` should not read the language when called (bind it when the
    widget is drawn): Streamlit may call it again at the start of the next run, after the
    switch, to read the value the browser sent.
    """
    key = f"{name}.{lang()}"
    for other in LANGS:
        old = f"{name}.{other}"
        if old != key and old in st.session_state:
            if key not in st.session_state:
                st.session_state[key] = st.session_state[old]
            del st.session_state[old]
    return key
