"""The store's provision policy: the regulatory minimums and the general reserve rate.

metrics.md fixes the defaults (拨备覆盖率 minimum 150 %, 拨贷比 minimum 2.5 %, general
reserve 1 % of the balance) and lets the minimums be configured within 120-150 % and
1.5-2.5 %. They are store settings (``store_settings`` rows ``policy.<field>``), so every
page, every user and ``python -m cli report`` compare against the same figures:

* :func:`get_policy` reads them (``analytics.kpi.DEFAULT_POLICY``'s value for a field
  never set);
* :func:`set_policy` validates a new policy (``analytics.kpi.ProvisionPolicy``'s ranges),
  writes the rows and an audit line (``policy_change`` with the old and new values). Only
  administrators may (``PermissionError`` otherwise, before anything is written).

Rates are fractions (1.5 = 150 %). The specific rates per class stay metrics.md's; they
are not a setting.
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from analytics.kpi import DEFAULT_POLICY, ProvisionPolicy
from data.schema import StoreSetting
from data.store import set_setting
from data.users import AppUser, audit

__all__ = ["POLICY_FIELDS", "SETTING_PREFIX", "can_edit_policy", "get_policy", "set_policy", "policy_values"]

POLICY_FIELDS: tuple[str, ...] = ("min_coverage", "min_loan_provision_ratio", "general_rate")
"""The fields of :class:`~analytics.kpi.ProvisionPolicy` kept as store settings."""

SETTING_PREFIX = "policy."
"""``store_settings`` key of a field: ``policy.min_coverage`` …"""

EDITOR_ROLE = "admin"


def can_edit_policy(user: AppUser) -> bool:
    """True when ``user`` may change the provision policy (administrators)."""
    return user.role == EDITOR_ROLE


def policy_values(policy: ProvisionPolicy) -> dict[str, float]:
    """The stored fields of ``policy`` as ``{field: fraction}``."""
    return {f: float(getattr(policy, f)) for f in POLICY_FIELDS}


def get_policy(conn: sa.Connection) -> ProvisionPolicy:
    """The store's provision policy; fields never set keep metrics.md's defaults.

    A stored value outside its range (the store edited by hand) raises ``ValueError``
    rather than being used.
    """
    keys = [SETTING_PREFIX + f for f in POLICY_FIELDS]
    rows = conn.execute(sa.select(StoreSetting.key, StoreSetting.value).where(StoreSetting.key.in_(keys)))
    stored = {key.removeprefix(SETTING_PREFIX): float(value) for key, value in rows}
    return dataclasses.replace(DEFAULT_POLICY, **stored) if stored else DEFAULT_POLICY


def set_policy(conn: sa.Connection, policy: ProvisionPolicy, user: AppUser) -> ProvisionPolicy:
    """Store ``policy``'s minimums and general rate as ``user`` (an administrator), audited.

    Runs on the caller's connection and transaction. Raises ``PermissionError`` for a user
    who is not an administrator and ``ValueError`` for a value outside its range (1.20-1.50
    coverage, 0.015-0.025 loan provision ratio, 0-1 general rate) or specific rates other
    than metrics.md's; nothing is written then. Returns the policy as stored.
    """
    if not can_edit_policy(user):
        raise PermissionError(f"only an administrator may change the provision policy "
                              f"(user {user.username!r} is {user.role})")
    checked = dataclasses.replace(policy)  # runs ProvisionPolicy's range checks again
    if checked.specific_rates != DEFAULT_POLICY.specific_rates:
        raise ValueError("the specific provision rates per class are metrics.md's and not a store setting")
    before = policy_values(get_policy(conn))
    after = policy_values(checked)
    for field, value in after.items():
        set_setting(conn, SETTING_PREFIX + field, repr(value))
    audit(conn, user.username, "policy_change", {"before": before, "after": after})
    return get_policy(conn)
