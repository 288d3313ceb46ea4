"""Customers of one value segment, with their personal data masked (the Customer value page).

* :func:`top_customers` (pure): the first ``limit`` customers of one segment of a
  segmentation frame, in one of :data:`ORDERS`.
* :func:`masked_contacts` (SQL): name and phone of given customers, **masked**
  (``data.crypto``), only for customers with a loan in the caller's scope; names are
  decrypted only for the rows asked for and never leave this module in clear.
* :func:`segment_members`: both, on ``data.customers.customer_segments`` (cached on disk
  until the next import). The page, which already holds the segmentation, calls
  :func:`top_customers` and :func:`masked_contacts` itself (no second read of the cache).

The customers are those of the caller's scope and filters (the segmentation is read in
scope), so a regional head lists only customers with a loan in the book of their regions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from analytics.clv import DEFAULT_CLV_PARAMS, DEFAULT_SEGMENT_PARAMS, ClvParams, SegmentParams
from data.crypto import decrypt_value, fernet, mask_name, mask_phone
from data.customers import customer_segments
from data.read import Filters, Scope, scope_condition
from data.schema import Customer, Loan

__all__ = ["ORDERS", "MEMBER_COLUMNS", "SegmentMembers", "top_customers", "masked_contacts", "segment_members"]

C = Customer.__table__
L = Loan.__table__

ORDERS: dict[str, tuple[str, bool]] = {
    "clv_desc": ("clv", False),
    "clv_asc": ("clv", True),
    "balance_desc": ("balance", False),
    "worst_dpd_desc": ("worst_dpd_12m", False),
}
"""Orderings of the list: name → (column, ascending). Ties by customer_id."""

MEMBER_COLUMNS: tuple[str, ...] = (
    "customer_id", "name", "phone", "clv", "balance", "loans", "products_held", "tenure_months",
    "worst_dpd_12m", "score_trend_6m",
)
"""Columns of :attr:`SegmentMembers.customers`: ``name`` and ``phone`` masked; ``clv`` and
``balance`` in the store's currency; ``tenure_months`` in months; ``worst_dpd_12m`` in
days; ``score_trend_6m`` in score points (NaN without two scores)."""


@dataclass(frozen=True)
class SegmentMembers:
    """One page of a segment's customers: ``total`` in the segment, ``customers`` listed."""

    segment: int
    segment_name: str
    action: str
    total: int
    customers: pd.DataFrame


def _check(order: str, limit: int) -> None:
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; choose from {list(ORDERS)}")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")


def top_customers(customers: pd.DataFrame, segment: int, order: str = "clv_desc", limit: int = 500) -> pd.DataFrame:
    """The first ``limit`` rows of ``customers`` (a ``customer_segments`` frame) in ``segment``,
    ordered by ``order`` (:data:`ORDERS`; ties by customer_id, missing values last).

    Raises ``ValueError`` for an unknown order or a limit below 1.
    """
    _check(order, limit)
    column, ascending = ORDERS[order]
    # positions first (numpy on two columns), rows of the frame only for the few kept: taking
    # a segment's rows of every column (text among them) cost more than the rest together
    rows = np.flatnonzero(customers["segment"].to_numpy() == segment)
    values = customers[column].to_numpy(dtype=np.float64, na_value=np.nan)[rows]
    valued, missing = rows[~np.isnan(values)], rows[np.isnan(values)]
    if len(valued) > limit:  # a partial selection (O(n)), ties at the boundary kept, then a sort of the few
        v = values[~np.isnan(values)]
        kth = np.partition(v, limit - 1)[limit - 1] if ascending else -np.partition(-v, limit - 1)[limit - 1]
        valued = valued[v <= kth] if ascending else valued[v >= kth]
    top = customers.iloc[valued].sort_values([column, "customer_id"], ascending=[ascending, True])
    if len(top) < limit:
        top = pd.concat([top, customers.iloc[missing].sort_values("customer_id")])
    return top.head(limit).reset_index(drop=True)


def masked_contacts(conn: sa.Connection, scope: Scope, customer_ids: Sequence[str]) -> pd.DataFrame:
    """``customer_id``, ``name`` and ``phone`` (both masked) of the given customers, in the
    order given. A customer without a loan in ``scope``, unknown, or whose data is missing
    or unreadable (another key) gets "" for both."""
    ids = list(customer_ids)
    rows: dict[str, tuple[str, str]] = {}
    conds = []
    if scope.regions is not None:
        conds.append(C.c.customer_id.in_(sa.select(L.c.customer_id).where(scope_condition(scope, L.c.region_code))))
    cipher = fernet()  # once: fernet() reads the configuration
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        stmt = sa.select(C.c.customer_id, C.c.name_enc, C.c.phone_enc).where(C.c.customer_id.in_(chunk), *conds)
        for cid, name_enc, phone_enc in conn.execute(stmt):
            rows[cid] = (mask_name(decrypt_value(name_enc, cipher)), mask_phone(decrypt_value(phone_enc, cipher)))
    return pd.DataFrame({
        "customer_id": pd.Series(ids, dtype=object),
        "name": pd.Series([rows.get(c, ("", ""))[0] for c in ids], dtype=object),
        "phone": pd.Series([rows.get(c, ("", ""))[1] for c in ids], dtype=object),
    })


def segment_members(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    segment: int,
    order: str = "clv_desc",
    limit: int = 500,
    clv_params: ClvParams = DEFAULT_CLV_PARAMS,
    segment_params: SegmentParams = DEFAULT_SEGMENT_PARAMS,
) -> SegmentMembers:
    """The first ``limit`` customers of ``segment`` at ``filters.as_of`` (or the latest month)
    in scope, ordered by ``order`` (:data:`ORDERS`), with masked names and phones.

    Raises ``ValueError`` for an unknown order or a limit below 1. An unknown segment gives
    an empty list (``total`` 0).
    """
    _check(order, limit)
    seg = customer_segments(conn, scope, filters, clv_params, segment_params)
    prof = seg.profiles[seg.profiles["segment"] == segment]
    name = str(prof["segment_name"].iloc[0]) if len(prof) else ""
    action = str(prof["action"].iloc[0]) if len(prof) else ""
    top = top_customers(seg.customers, segment, order, limit)
    contacts = masked_contacts(conn, scope, top["customer_id"].tolist())
    out = top.merge(contacts, on="customer_id", how="left")
    total = int((seg.customers["segment"] == segment).sum())
    return SegmentMembers(int(segment), name, action, total, out[list(MEMBER_COLUMNS)])
