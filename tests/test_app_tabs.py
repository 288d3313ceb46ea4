"""AppTest: a page's open tab survives a language switch (and a visit to another page).

Tab labels are translated, and Streamlit keeps the open tab as its label, so without
``components.i18n.lang_tabs`` a switch to English would open the first tab again. For
every page with tabs: open a tab other than the first, switch the language, and check the
same tab is open (the value Streamlit holds and the index the browser is told to show),
then switch back.
"""

import pytest

from app_helpers import signed_in_app, widget

# page, tabs key, the tab to open (中文, English), its position
CASES = {
    "delinquency": ("pages/delinquency.py", "dq_tab", ("迁徙率", "Roll rates"), 2),
    "drift": ("pages/drift.py", "drift_tab", ("评分段迁移", "Band migration"), 1),
    "customers": ("pages/customers.py", "cust_tab", ("CLV 分布", "CLV distribution"), 1),
    "alerts": ("pages/alerts.py", "alerts_tab", ("预警规则", "Rules"), 1),
    "data": ("pages/data.py", "data_tab", ("数据质量", "Data quality"), 1),  # a manager: history, quality
    "regional": ("pages/regional.py", "region_panel_tab", ("网点", "Branches"), 2),
}


def _tab_indexes(at) -> dict[str, int]:
    """{tabs key: index of the tab the browser is told to open}, from the page's tab containers."""
    found = {}

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and proto.__class__.__name__ == "Block" and proto.WhichOneof("type") == "tab_container":
            found[proto.tab_container.id.rsplit("-", 1)[-1]] = proto.tab_container.default_tab_index
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


def _run(at):
    at.run()
    assert not at.exception, at.exception
    return at


def _page(path: str):
    at = signed_in_app("manager")
    _run(at.switch_page(path))
    if path == "pages/regional.py":  # the tabs are in the panel of a picked province
        widget(at.selectbox, "region_pick").set_value("440000")
        _run(at)
    return at


def _is_open(at, key: str, label: str, index: int) -> None:
    assert at.session_state[key] == label
    assert [t.label for t in at.tabs].count(label) == 1
    assert _tab_indexes(at)[key] == index


@pytest.mark.parametrize("case", list(CASES))
def test_the_open_tab_survives_a_language_switch(app_env, case):
    path, key, (zh, en), index = CASES[case]
    at = _page(path)
    assert _tab_indexes(at)[key] == 0
    at.session_state[key] = zh
    _run(at)
    _is_open(at, key, zh, index)

    widget(at.button_group, "lang").set_value("en")
    _run(at)
    _is_open(at, key, en, index)

    widget(at.button_group, "lang").set_value("zh")
    _run(at)
    _is_open(at, key, zh, index)


def test_the_open_tab_is_kept_across_pages_and_in_a_shared_link(app_env):
    at = _page("pages/delinquency.py")
    at.session_state["dq_tab"] = "迁徙率"
    _run(at)
    assert len(at.get("plotly_chart")) == 3  # the roll tab's charts run, the others' do not
    _run(at.switch_page("pages/overview.py"))
    widget(at.button_group, "lang").set_value("en")
    _run(at)
    _run(at.switch_page("pages/delinquency.py"))
    _is_open(at, "dq_tab", "Roll rates", 2)
    assert len(at.get("plotly_chart")) == 3

    # a link made in Chinese opens the same tab for a reader in English
    fresh = signed_in_app("manager")
    widget(fresh.button_group, "lang").set_value("en")
    fresh.query_params["dq_tab"] = "迁徙率"
    _run(fresh.switch_page("pages/delinquency.py"))
    _is_open(fresh, "dq_tab", "Roll rates", 2)
