"""Reads for the Regional risk page (区域风险): the region table with optional expected loss,
the map's shapes for the store's region set, and a province's worst loans.

Every function takes ``conn, scope`` first (the page calls them through
``components.query.query``) and reads only inside the scope: a regional head gets only
the regions of the scope, whatever the filters ask. The risk maths is
``data.regional`` / ``analytics.regional``'s; this module only wires and selects.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import pandas as pd
import sqlalchemy as sa

from analytics.classification import CLASSES
from analytics.regional import DEFAULT_RANK_BY, rank_rows
from analytics.kpi import DEFAULT_POLICY, ProvisionPolicy
from data import read, regional
from data.config import settings
from data.read import Filters, Scope, book_conditions, month_end, read_frame
from data.schema import Branch, Loan, Performance

__all__ = [
    "MAP_TOLERANCE", "MapShapes", "store_facts", "region_set_name", "map_shapes", "region_table", "table_filters",
    "in_regions", "worst_loans", "WORST_ORDER",
]

P = Performance.__table__
L = Loan.__table__
B = Branch.__table__

WORST_ORDER = "dpd descending, then class (损失 first), then balance descending, then loan_id"
"""How :func:`worst_loans` orders the loans (for the page's caption)."""


@dataclass(frozen=True)
class MapShapes:
    """The map's shapes: the region set's name, its GeoJSON (properties ``code``,
    ``name_zh``, ``name_en``) and, for ``cn_provinces``, the national boundary lines."""

    region_set: str
    regions: dict
    boundary_lines: dict | None


def region_set_name(conn: sa.Connection, scope: Scope) -> str:
    """The store's region set (``store_settings``), else the configured default."""
    return read.store_facts(conn).get("region_set") or settings().region_set


MAP_TOLERANCE = 0.03
"""Further simplification of the shapes for the map, in degrees (about 3 km: under a pixel at
country zoom). Shared borders stay shared (``shapely.coverage_simplify``); the GeoJSON the
browser gets each run shrinks from about 0.9 MB to 0.3 MB for the provinces of China."""


def _for_map(geojson: dict, tolerance: float) -> dict:
    """``geojson`` with coverage-simplified shapes on a 0.001° grid, and its ``bbox`` (of the
    regions' largest parts when the shapes straddle the antimeridian, so the map fits the
    country rather than the whole globe)."""
    import shapely
    from shapely.geometry import mapping, shape

    feats = geojson["features"]
    if not feats:
        return geojson
    geoms = [shape(f["geometry"]) for f in feats]
    simple = shapely.set_precision(shapely.coverage_simplify(geoms, tolerance), 0.001)
    ok = shapely.is_valid(simple) & ~shapely.is_empty(simple)
    out = [
        {**f, "geometry": mapping(g if good else orig)}
        for f, g, orig, good in zip(feats, simple, geoms, ok)
    ]
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    if maxx - minx > 180:  # parts across the antimeridian (the Aleutians): fit the main parts
        mains = [max(shapely.get_parts(g), key=lambda p: p.area) for g in geoms]
        minx, miny, maxx, maxy = shapely.total_bounds(mains)
    return {**geojson, "features": out, "bbox": [float(minx), float(miny), float(maxx), float(maxy)]}


def map_shapes(
    conn: sa.Connection, scope: Scope, region_set: str | None = None, tolerance: float = MAP_TOLERANCE
) -> MapShapes:
    """The shapes of every region of the store's region set (all regions are drawn; the
    page colours only those the scope may see), simplified for the map
    (:data:`MAP_TOLERANCE`) and with a GeoJSON ``bbox``. With ``region_set`` given nothing
    is read from the store (the shapes are public geometry, the same for every scope)."""
    from data.geometry import boundary_lines_geojson, store_geojson

    name = region_set or region_set_name(conn, scope)
    lines = boundary_lines_geojson() if name == "cn_provinces" else None
    return MapShapes(name, _for_map(store_geojson(name), tolerance), lines)


def region_table(
    conn: sa.Connection, scope: Scope, filters: Filters, *, expected_loss: bool = False,
    policy: ProvisionPolicy = DEFAULT_POLICY,
) -> pd.DataFrame:
    """``data.regional.regional_risk`` at the filters' month (else the latest), without its
    expensive three-month expected loss, under the provision ``policy`` (the store's, from
    the page); with ``expected_loss=True`` the ``expected_loss``
    column is filled for the shown month only (``data.regional.expected_loss_by``: the
    loan-level ECL of ``data.credit``), and its changes stay NaN.

    Returns
    -------
    DataFrame
        One row per region in scope with a book at the month, as ``regional_risk``;
        ``attrs``: ``as_of``, ``previous``, ``year_ago``, ``rank_by``, ``expected_loss``
        (whether the column was filled).
    """
    table = regional.regional_risk(conn, scope, filters, policy=policy, expected_loss=False)
    attrs = dict(table.attrs)
    if expected_loss and not table.empty and attrs.get("as_of") is not None:
        el = regional.expected_loss_by(conn, scope, filters, "region_code", attrs["as_of"])
        if el is not None:
            table = table.drop(columns=["expected_loss"]).merge(el, on="region_code", how="left")
            lead = [c for c in table.columns if c != "expected_loss"]
            at = lead.index("collateral_coverage") + 1 if "collateral_coverage" in lead else len(lead)
            table = table[lead[:at] + ["expected_loss"] + lead[at:]]
    table.attrs.update(attrs, expected_loss=bool(expected_loss))
    return table


def table_filters(filters: Filters) -> Filters:
    """The filters to read :func:`region_table` with for ``filters`` so that a change of the
    regions reuses it: without the regions when the month is given (each region's row does
    not depend on the others; :func:`in_regions` picks and re-ranks them), else unchanged
    (the latest month with a book depends on the regions)."""
    return replace(filters, regions=()) if filters.as_of is not None else filters


def in_regions(table: pd.DataFrame, regions: tuple[str, ...]) -> pd.DataFrame:
    """The rows of a :func:`region_table` in ``regions`` (all when empty), ranked among
    themselves: the table ``region_table`` gives when read with those regions."""
    if not regions:
        return table
    rows = table[table["region_code"].isin(list(regions))]
    return rank_rows(rows, "region_code", table.attrs.get("rank_by", DEFAULT_RANK_BY))


def worst_loans(
    conn: sa.Connection,
    scope: Scope,
    filters: Filters,
    region_code: str,
    as_of: dt.date | None = None,
    *,
    n: int = 20,
) -> pd.DataFrame:
    """The ``n`` worst loans of one region's book at a month (:data:`WORST_ORDER`).

    Parameters
    ----------
    region_code : str
        The region; nothing is returned outside the scope or the filters' regions.
    as_of : date, optional
        Any day of the month; default ``filters.as_of``, else the latest month with a book.

    Returns
    -------
    DataFrame
        ``loan_id``, ``customer_id``, ``branch_id``, ``branch_name``, ``product``,
        ``segment``, ``balance``, ``dpd``, ``classification``, ``credit_score``,
        ``collateral_value`` (the month's value, else at origination; missing without
        collateral), ``disbursement_date``; money as float in the store's currency.
        ``attrs["as_of"]`` the month. Top-n in the database.
    """
    cols = [
        "loan_id", "customer_id", "branch_id", "branch_name", "product", "segment", "balance", "dpd",
        "classification", "credit_score", "collateral_value", "disbursement_date",
    ]
    if not scope.allows(region_code) or (filters.regions and region_code not in filters.regions):
        return pd.DataFrame(columns=cols)
    f = replace(filters, regions=(region_code,), start=None, end=None, as_of=None)
    if as_of is None and filters.as_of is None:
        months = read.stored_months(conn, scope, f)
        if not months:
            return pd.DataFrame(columns=cols)
        as_of = months[-1]
    month = month_end(as_of if as_of is not None else filters.as_of)
    severity = sa.case(*[(P.c.classification == c, i) for i, c in enumerate(CLASSES)], else_=-1)
    balance = sa.cast(P.c.outstanding_principal, sa.Double)
    stmt = (
        sa.select(
            P.c.loan_id,
            L.c.customer_id,
            P.c.branch_id,
            B.c.name.label("branch_name"),
            P.c.product,
            P.c.segment,
            balance.label("balance"),
            P.c.dpd,
            P.c.classification,
            P.c.credit_score,
            sa.cast(sa.func.coalesce(P.c.collateral_value, L.c.collateral_value), sa.Double).label("collateral_value"),
            L.c.disbursement_date,
        )
        .select_from(P.join(L, L.c.loan_id == P.c.loan_id).outerjoin(B, B.c.branch_id == P.c.branch_id))
        .where(*book_conditions(scope, replace(f, as_of=month)))
        .order_by(P.c.dpd.desc(), severity.desc(), balance.desc(), P.c.loan_id)
        .limit(max(int(n), 0))
    )
    out = read_frame(conn, stmt)
    out.attrs["as_of"] = month
    return out


def store_facts(conn: sa.Connection, scope: Scope) -> dict[str, str]:
    """The store's ``region_set`` and ``currency`` (``store_settings``), else the configured
    defaults."""
    facts = read.store_facts(conn)
    cfg = settings()
    return {"region_set": facts.get("region_set") or cfg.region_set, "currency": facts.get("currency") or cfg.currency}
