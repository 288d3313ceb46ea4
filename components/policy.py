"""The store's provision policy in the app: read it for the pages, and the administrators' form.

``current_policy()`` is ``data.policy.get_policy`` read at most every 2 seconds per store
(like the data version), and at once after a change made in this process
(:func:`policy_changed`). Pages pass it to the data functions that take ``policy=``; the
policy is then part of their cache key, so a change shows on the next run.

``policy_settings(user)`` draws the Settings section of the Data page: the current
minimums for everyone, the editing form for administrators only (``data.policy`` checks
the role again when writing).
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from analytics.kpi import COVERAGE_RANGE, DEFAULT_POLICY, LOAN_PROVISION_RATIO_RANGE, ProvisionPolicy
from components.i18n import tr
from components.store import engine
from data.config import settings
from data.policy import can_edit_policy, get_policy, set_policy
from data.users import AppUser

__all__ = ["current_policy", "policy_changed", "policy_settings"]

_SAVED = "policy_saved"  # a message shown once after a save (the form reruns the page)


@st.cache_data(ttl=2, show_spinner=False)
def _stored_policy(url: str) -> ProvisionPolicy:
    with engine().connect() as conn:
        return get_policy(conn)


def current_policy() -> ProvisionPolicy:
    """The store's provision policy (metrics.md's defaults until an administrator sets one)."""
    return _stored_policy(settings().db_url)


def policy_changed() -> None:
    """Forget the remembered policy (after a change in this process)."""
    _stored_policy.clear()


def _pct(v: float, digits: int) -> str:
    return f"{v * 100:.{digits}f}%"


def _summary(policy: ProvisionPolicy) -> None:
    c1, c2, c3 = st.columns(3)
    c1.metric(tr("Coverage minimum 拨备覆盖率", "拨备覆盖率最低要求"), _pct(policy.min_coverage, 0), border=True,
              help=tr("Provisions ÷ NPL balance must reach it; configurable within 120%-150% (metrics.md: 150%).",
                      "贷款损失准备 ÷ 不良贷款余额须达到该值；可在120%-150%之间设置（默认150%）。"))
    c2.metric(tr("LPR minimum 拨贷比", "拨贷比最低要求"), _pct(policy.min_loan_provision_ratio, 1), border=True,
              help=tr("Provisions ÷ balance must reach it; configurable within 1.5%-2.5% (metrics.md: 2.5%).",
                      "贷款损失准备 ÷ 贷款余额须达到该值；可在1.5%-2.5%之间设置（默认2.5%）。"))
    c3.metric(tr("General reserve rate 一般准备", "一般准备计提比例"), _pct(policy.general_rate, 1), border=True,
              help=tr("Share of the whole balance provided for besides the specific rates per class (metrics.md: 1%).",
                      "按全部贷款余额计提的比例，另加各类贷款的专项准备（默认1%）。"))


def policy_settings(user: AppUser) -> None:
    """The provision policy: shown to everyone, editable by administrators."""
    policy = current_policy()
    saved = st.session_state.pop(_SAVED, None)
    if saved:
        st.success(saved)
    st.markdown("**" + tr("Provision policy 拨备政策", "拨备政策 Provision policy") + "**")
    st.caption(tr("Every page and the command-line report compare provisions against these minimums.",
                  "各页面与命令行报告均按以下要求比较拨备水平。"))
    _summary(policy)
    if not can_edit_policy(user):
        st.caption(tr("Only administrators can change the provision policy.", "只有管理员可以修改拨备政策。"))
        return
    lo_c, hi_c = COVERAGE_RANGE
    lo_l, hi_l = LOAN_PROVISION_RATIO_RANGE
    with st.form("policy_form", border=True):
        c1, c2, c3 = st.columns(3)
        coverage = c1.number_input(
            tr("Coverage minimum 拨备覆盖率 (%)", "拨备覆盖率最低要求（%）"), min_value=round(lo_c * 100, 4), max_value=round(hi_c * 100, 4),
            value=round(policy.min_coverage * 100, 4), step=1.0, format="%.1f", key="policy_min_coverage")
        lpr = c2.number_input(
            tr("LPR minimum 拨贷比 (%)", "拨贷比最低要求（%）"), min_value=round(lo_l * 100, 4), max_value=round(hi_l * 100, 4),
            value=round(policy.min_loan_provision_ratio * 100, 4), step=0.1, format="%.2f", key="policy_min_lpr")
        general = c3.number_input(
            tr("General reserve rate 一般准备 (%)", "一般准备计提比例（%）"), min_value=0.0, max_value=100.0,
            value=round(policy.general_rate * 100, 4), step=0.1, format="%.2f", key="policy_general_rate")
        b1, b2 = st.columns([1, 3])
        save = b1.form_submit_button(tr("Save", "保存"), type="primary")
        reset = b2.form_submit_button(tr("Restore metrics.md defaults", "恢复默认值"))
    if not (save or reset):
        return
    try:
        new = DEFAULT_POLICY if reset else dataclasses.replace(
            policy, min_coverage=round(coverage / 100, 6), min_loan_provision_ratio=round(lpr / 100, 6),
            general_rate=round(general / 100, 6))
        with engine().begin() as conn:
            stored = set_policy(conn, new, user)
    except (ValueError, PermissionError) as exc:
        st.error(str(exc))
        return
    policy_changed()
    st.session_state[_SAVED] = tr(
        f"Saved: coverage ≥ {_pct(stored.min_coverage, 0)}, LPR ≥ {_pct(stored.min_loan_provision_ratio, 1)}, "
        f"general reserve {_pct(stored.general_rate, 1)}. Every page now uses them.",
        f"已保存：拨备覆盖率 ≥ {_pct(stored.min_coverage, 0)}，拨贷比 ≥ {_pct(stored.min_loan_provision_ratio, 1)}，"
        f"一般准备 {_pct(stored.general_rate, 1)}。各页面已按新要求计算。")
    for key in ("policy_min_coverage", "policy_min_lpr", "policy_general_rate"):
        st.session_state.pop(key, None)  # the inputs start from the stored values
    st.rerun()
