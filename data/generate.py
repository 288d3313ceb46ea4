"""A realistic, deterministic demo loan book: a Chinese retail + SME lender's loan tape.

The output is a valid loan tape (``/work/shared/spec/loan-tape.md``): five DataFrames with
exactly the spec's column names -- ``loans``, ``performance``, ``customers``, ``collections``
and ``inspections`` -- and every metric of ``metrics.md`` gets something true to show.

Public API
==========
``generate_tape(n_loans, n_months, seed, *, end_month=None, chunk_loans=50_000)``
    yields :class:`TapeChunk` s: disjoint sets of loans with their customers, cases and
    inspections, so memory stays bounded whatever the book's size.
``write_tape(out_dir, n_loans, n_months, seed, fmt='csv')``
    writes ``loans.csv``, ``performance.csv``, ... (or ``.parquet``), chunk by chunk.
``generate_into(engine, n_loans, n_months, seed, *, progress=None, ...)``
    loads the book into a store through :func:`data.importer.load_tables`, one transaction
    per chunk, and returns a :class:`GenerateResult` (counts and timings).

Determinism
===========
Loans are numbered 0..n_loans-1 and cut into fixed internal blocks of :data:`BLOCK_LOANS`
(1,000) loans. Block ``b`` draws all its random numbers -- customers, loan terms and every
monthly uniform of the simulation -- from its own generator
``np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(b,)))``, in a fixed order.
The monthly simulation is then a pure, per-loan function of those draws and of a fixed
configuration (provinces, branches, agencies, macro cycle), vectorised over a whole chunk.
A chunk is a whole number of blocks (``chunk_loans`` is rounded up to a multiple of 1,000),
and rows within a chunk are ordered by loan (then month / date), so the concatenated tape
is identical, row for row, whatever ``chunk_loans`` is. Same seed and arguments give
identical frames; another seed gives another book. Personal data comes from Faker's zh_CN
word lists (surnames weighted as Faker weights them, given names, mobile prefixes, GB/T 2260
area codes) sampled with the block's generator: deterministic, and ~100x faster than one
Faker call per field.

The observation window is the ``n_months`` month ends ending at ``end_month`` (default
2026-10-31, fixed so that the output never depends on today's date). Month index ``t`` runs
0..n_months-1 over the window; negative indices are the months before it.

The model
=========
* **Provinces**: all 31 mainland provinces, loans weighted by GDP (a floor of 0.6 % each);
  risk multipliers: :data:`BAD_PROVINCES` (the northeast and Gansu, 2.2-2.8x base),
  :data:`IMPROVING_PROVINCES` (Sichuan, Guizhou, Guangxi: 2.2-2.4x at the window's start
  falling linearly to 0.6x at three quarters of it), :data:`GOOD_PROVINCES` (Beijing, Shanghai and the
  rich coast, 0.7-0.85x), the rest 0.9-1.15x. 2-8 branches per province
  (``BR440000-03``), a few of them lax (late inspections, hidden NPLs).
* **Products** (:data:`PRODUCT_SPECS`): mortgage, consumer, business (sme / corporate),
  credit_card (revolving; a 12-36 month proxy term), auto -- each with its own terms,
  rates, sizes and collateral; annuity amortisation, partial and full prepayments,
  closure at maturity.
* **Scores**: ``origination_score`` on a 300-850 scale (higher is better); the monthly
  ``credit_score`` is the origination score plus a slow drift, AR(1) noise, a macro shift
  (down to -25 at the trough), a distress penalty that grows ~12 points a month from the
  onset of a borrower's distress -- i.e. *before* the first missed payment -- and a
  delinquency penalty.
* **Delinquency**: a state machine over missed instalments ``c`` (dpd = 30(c-1) + the
  loan's due-day offset, so dpd grows 30 days a month while payments are missed; buckets
  current, 1-30, 31-60, 61-90, 91-180, 181-360, 361+). A current loan enters *distress*
  with a monthly hazard = product base x province(t) x macro(t) x industry x score x debt
  ratio x segment x vintage x seasoning x a hidden frailty; distressed borrowers miss
  payments with a probability rising with the distress's age (3 % -> 42 % a month), and
  non-distressed ones have rare technical misses that mostly cure. A delinquent loan cures
  (pays all arrears), stays (pays one instalment) or rolls (misses again), with
  bucket-specific probabilities shifted by province and macro risk and by the collection
  agency; from 181+ it is written off with a product-specific monthly probability
  (mortgages slowly: the 361+ bucket and the loss class are populated); recoveries follow
  over six months (collateral-driven for secured loans), rows of written-off loans continue
  for those months with ``status = written_off`` and the unrecovered balance.
* **Macro cycle** (:func:`macro_shape`): a downturn in the middle of the window (rising from
  28 % of the window, trough at 47 %, over at 68 %, then a mild recovery phase better than
  normal) raises distress hazards (x2.3 at the trough, more for construction and real
  estate), lowers cure rates and prepayments, lowers new lending and scores (-25 points),
  and takes a province-specific house-price index down (8 % in Beijing / Shanghai, 22 % in
  the bad provinces), 40 % of the fall recovered by the end. Real-estate collateral is
  revalued with that index; vehicles and equipment depreciate. Delinquency lags distress by
  a few months, so the 30+ DPD rate is high in :func:`downturn_window` (months 14-24 of 36)
  and falls back after. Loans originated in the year before the downturn are 25 % riskier
  (a weak vintage); those originated during it, 15 % safer (tighter underwriting).
* **Classification**: the reported class is the DPD floor, except for "hider" loans (about
  0.8 % of loans, 4 % in lax branches: ~1.5 % of delinquent rows) reported one class better while delinquent -- the
  exceptions -- and loans recently cured from 61+ DPD kept in special_mention for six
  months (reported worse than the floor). Written-off rows are reported as loss.
* **Collections**: a case opens when a loan reaches 31+ DPD (one per delinquency episode),
  retail unsecured and auto cases mostly go to one of five agencies (:data:`AGENCIES`) of
  clearly different quality (which changes cure rates and post-write-off recoveries) and
  complaint rates, the rest -- and every mortgage and business case -- stay in-house (blank
  agency). The stage is the worst reached (early 31-60, mid 61-90, late 91-180, legal 181+);
  ``amount_due`` is the arrears at the worst point (the whole balance once legal),
  ``amount_recovered`` what was paid while the case was open, recoveries after write-off
  included (a written-off loan's case stays open through its six recovery months).
* **Inspections**: a ``first`` inspection due 30 days after each disbursement in the window,
  ``routine`` ones (quarterly for business loans, yearly for mortgages) and a ``special``
  one when a loan turns 61+ DPD; most on time, some late, some not done (``done_on`` null).

The simulation starts up to :data:`BURN_IN` (36) months before the window for seasoned
loans, so the window opens on a settled delinquency mix; during burn-in nothing leaves the
book (no prepayment; a write-off becomes a restructuring back to current: the survivors of
an unseen history).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from data.regions import get_region_set, mainland_codes

__all__ = [
    "TapeChunk",
    "GenerateResult",
    "generate_tape",
    "write_tape",
    "generate_into",
    "macro_shape",
    "downturn_window",
    "DEFAULT_END_MONTH",
    "BLOCK_LOANS",
    "BURN_IN",
    "PRODUCTS",
    "PRODUCT_SPECS",
    "BAD_PROVINCES",
    "IMPROVING_PROVINCES",
    "GOOD_PROVINCES",
    "AGENCIES",
    "SCORE_RANGE",
    "TABLE_COLUMNS",
]

DEFAULT_END_MONTH = date(2026, 10, 31)
"""Last month end of the observation window unless ``end_month`` is given."""

BLOCK_LOANS = 1_000
"""Loans per internal random block; chunks are whole numbers of blocks."""

BURN_IN = 36
"""Months simulated before the window for seasoned loans (not written out)."""

SCORE_RANGE = (300, 850)
"""Scale of ``origination_score`` and ``credit_score`` (higher is better)."""

# ---------------------------------------------------------------------------------------
# Configuration (fixed; does not depend on the seed)
# ---------------------------------------------------------------------------------------

PRODUCTS: tuple[str, ...] = ("mortgage", "consumer", "business", "credit_card", "auto")
_MORT, _CONS, _BUS, _CC, _AUTO = range(5)


@dataclass(frozen=True)
class ProductSpec:
    """What a product looks like at origination and how it behaves (monthly rates)."""

    name: str
    terms: tuple[int, ...]  # term choices, months
    term_weights: tuple[float, ...]
    rate_range: tuple[float, float]  # annual, fractions
    principal_range: tuple[float, float]  # CNY
    principal_median: float
    collateral: str  # 'none', 'real_estate', 'vehicle' or 'mixed' (business)
    score_mean: float
    onset_hazard: float  # monthly distress onset, base
    technical_miss: float  # monthly miss probability when not distressed
    prepay: float  # monthly full prepayment probability
    writeoff: float  # monthly write-off probability from 181+ DPD
    life: float  # typical life (months): sets the share disbursed before the window and their age
    routine_every: int  # months between routine inspections (0: none)


PRODUCT_SPECS: dict[str, ProductSpec] = {
    "mortgage": ProductSpec(
        "mortgage", tuple(range(240, 361, 12)),
        (6, 1, 1, 1, 1, 5, 1, 1, 1, 1, 6), (0.035, 0.049), (500_000, 3_000_000), 1_000_000,
        "real_estate", 725, 0.0016, 0.002, 0.004, 0.06, 110, 12,
    ),
    "consumer": ProductSpec(
        "consumer", (12, 24, 36), (3, 3, 4), (0.06, 0.18), (10_000, 200_000), 50_000,
        "none", 668, 0.0055, 0.006, 0.012, 0.25, 16, 0,
    ),
    "business": ProductSpec(
        "business", (12, 24, 36, 48, 60), (3, 3, 2, 1, 1), (0.04, 0.08), (200_000, 5_000_000),
        900_000, "mixed", 690, 0.0040, 0.003, 0.008, 0.12, 22, 3,
    ),
    "credit_card": ProductSpec(
        "credit_card", (12, 24, 36), (4, 3, 3), (0.15, 0.24), (5_000, 100_000), 25_000,
        "none", 680, 0.0065, 0.010, 0.015, 0.30, 20, 0,
    ),
    "auto": ProductSpec(
        "auto", (36, 48, 60), (4, 3, 3), (0.05, 0.09), (80_000, 400_000), 160_000,
        "vehicle", 700, 0.0030, 0.004, 0.009, 0.15, 30, 0,
    ),
}
_SPECS = [PRODUCT_SPECS[p] for p in PRODUCTS]
_A_ONSET = np.array([s.onset_hazard for s in _SPECS])
_A_TECH = np.array([s.technical_miss for s in _SPECS])
_A_PREPAY = np.array([s.prepay for s in _SPECS])
_A_WRITEOFF = np.array([s.writeoff for s in _SPECS])
_A_ROUTINE = np.array([s.routine_every for s in _SPECS])

_RETAIL_MIX = np.array([0.25, 0.32, 0.0, 0.30, 0.13])  # by loan count, retail customers

COLLATERAL_TYPES: tuple[str, ...] = (
    "none", "real_estate", "vehicle", "equipment", "inventory", "receivables", "deposit", "guarantee",
)
_C_NONE, _C_RE, _C_VEH, _C_EQ, _C_INV, _C_REC, _C_DEP, _C_GUA = range(8)
# Business collateral: type, share, loan-to-value range
_BUS_COLLATERAL = (
    (_C_RE, 0.40, (0.40, 0.70)),
    (_C_EQ, 0.14, (0.50, 0.80)),
    (_C_INV, 0.10, (0.50, 0.70)),
    (_C_REC, 0.11, (0.60, 0.90)),
    (_C_GUA, 0.15, (0.85, 1.00)),
    (_C_DEP, 0.04, (0.80, 0.95)),
    (_C_NONE, 0.06, (1.0, 1.0)),
)

SEGMENTS: tuple[str, ...] = ("retail", "sme", "corporate")

# name, static risk, macro sensitivity, weight among retail, weight among business, zh word
_INDUSTRIES = (
    ("manufacturing", 1.00, 1.0, 0.18, 0.30, "制造"),
    ("wholesale_retail", 1.15, 1.1, 0.16, 0.22, "商贸"),
    ("construction", 1.40, 1.8, 0.07, 0.10, "建设工程"),
    ("real_estate", 1.50, 2.2, 0.04, 0.06, "置业"),
    ("transport_logistics", 1.10, 1.1, 0.06, 0.08, "物流"),
    ("hospitality_catering", 1.30, 1.5, 0.07, 0.07, "餐饮管理"),
    ("it_services", 0.85, 0.9, 0.10, 0.07, "科技"),
    ("finance", 0.70, 0.8, 0.05, 0.02, "投资咨询"),
    ("education", 0.80, 0.7, 0.07, 0.02, "教育科技"),
    ("healthcare", 0.80, 0.6, 0.06, 0.02, "医疗器械"),
    ("public_sector", 0.50, 0.4, 0.10, 0.00, "公共服务"),
    ("agriculture", 1.15, 0.9, 0.04, 0.04, "农业发展"),
)
_IND_NAMES = np.array([i[0] for i in _INDUSTRIES], dtype=object)
_IND_RISK = np.array([i[1] for i in _INDUSTRIES])
_IND_MACRO = np.array([i[2] for i in _INDUSTRIES])
_IND_W_RETAIL = np.array([i[3] for i in _INDUSTRIES]) / sum(i[3] for i in _INDUSTRIES)
_IND_W_BUS = np.array([i[4] for i in _INDUSTRIES]) / sum(i[4] for i in _INDUSTRIES)
_IND_ZH = [i[5] for i in _INDUSTRIES]

_PURPOSES = {
    _MORT: ("home_purchase",),
    _CONS: ("renovation", "education", "travel", "consumption", "medical", "wedding"),
    _BUS: ("working_capital", "equipment_purchase", "trade_finance", "expansion"),
    _CC: ("consumption",),
    _AUTO: ("car_purchase",),
}

# 2023 GDP, trillion CNY (rounded) -- the lender's footprint follows economic size.
_PROVINCE_GDP = {
    "110000": 4.4, "120000": 1.7, "130000": 4.4, "140000": 2.6, "150000": 2.5, "210000": 3.0,
    "220000": 1.35, "230000": 1.6, "310000": 4.7, "320000": 12.8, "330000": 8.3, "340000": 4.7,
    "350000": 5.4, "360000": 3.2, "370000": 9.2, "410000": 5.9, "420000": 5.6, "430000": 5.0,
    "440000": 13.6, "450000": 2.7, "460000": 0.75, "500000": 3.0, "510000": 6.0, "520000": 2.1,
    "530000": 3.0, "540000": 0.24, "610000": 3.4, "620000": 1.2, "630000": 0.38, "640000": 0.53,
    "650000": 1.9,
}
BAD_PROVINCES: dict[str, float] = {"230000": 2.8, "220000": 2.4, "210000": 2.2, "620000": 2.3}
"""Visibly worse provinces: Heilongjiang, Jilin, Liaoning, Gansu (risk multiplier)."""
IMPROVING_PROVINCES: dict[str, tuple[float, float]] = {
    "510000": (2.2, 0.6), "520000": (2.4, 0.6), "450000": (2.2, 0.6),
}
"""Sichuan, Guizhou, Guangxi: risk multiplier falling linearly from the first value (window
start and before) to the second, reached at 75 % of the window and kept after."""
GOOD_PROVINCES: dict[str, float] = {
    "110000": 0.75, "310000": 0.70, "330000": 0.80, "320000": 0.85, "440000": 0.85,
}
"""Beijing, Shanghai, Zhejiang, Jiangsu, Guangdong: better than average."""
_BAD_FOOTPRINT = 1.6  # the lender has a historic franchise in the bad provinces
_HPI_DROP = {"110000": 0.08, "310000": 0.08, "440000": 0.10, "330000": 0.10, "320000": 0.10}
_HPI_DROP_BAD = 0.22
_HPI_DROP_DEFAULT = 0.13
_PRICE_LEVEL = {  # relative mortgage size
    "110000": 1.9, "310000": 1.9, "440000": 1.5, "330000": 1.5, "320000": 1.3, "350000": 1.2,
    "120000": 1.2, "460000": 1.2, "500000": 1.0, "510000": 1.0, "420000": 1.0,
}

AGENCIES: tuple[tuple[str, float, float], ...] = (
    ("恒信催收服务有限公司", 1.45, 0.004),
    ("安诚信用管理有限公司", 1.20, 0.010),
    ("速达资产服务有限公司", 1.30, 0.090),
    ("百川信用咨询有限公司", 0.95, 0.020),
    ("联合清收服务有限公司", 0.60, 0.060),
)
"""Collection agencies: (name, quality -- a multiplier on cure and recovery -- and the
monthly complaint probability of a case). In-house cases (blank agency): 1.0 and 0.003."""
# Assignment shares, in-house first: retail unsecured and auto loans are mostly outsourced
# (委外催收); mortgages and business loans stay in-house (and go to court).
_AGENCY_SHARES_RETAIL = np.array([0.16, 0.24, 0.20, 0.14, 0.14, 0.12])
_AGENCY_SHARES_SECURED = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
_AGENCY_QUALITY = np.array([1.0] + [a[1] for a in AGENCIES])
_AGENCY_COMPLAINT = np.array([0.003] + [a[2] for a in AGENCIES])
_AGENCY_NAMES = np.array([None] + [a[0] for a in AGENCIES], dtype=object)

# Delinquency transitions by bucket of missed instalments: index 1..6 = 1-30, 31-60, 61-90,
# 91-180, 181-360, 361+ (index 0 unused). Distressed borrowers vs technical misses.
_CURE_D = np.array([0, 0.30, 0.22, 0.12, 0.05, 0.015, 0.005])
_ROLL_D = np.array([0, 0.50, 0.55, 0.70, 0.85, 0.93, 0.97])
_CURE_T = np.array([0, 0.80, 0.45, 0.25, 0.10, 0.03, 0.01])
_ROLL_T = np.array([0, 0.10, 0.30, 0.50, 0.80, 0.90, 0.97])
_MISS_BY_DISTRESS_AGE = np.array([0.03, 0.08, 0.18, 0.28, 0.36, 0.42])
_DISTRESS_EXIT = 0.10
_C_TO_BUCKET = np.array([0, 1, 2, 3, 4, 4, 4] + [5] * 6 + [6] * 200)
_C_PENALTY = np.minimum(np.r_[0, 30 + 15 * np.arange(1, 220)], 160)

STAGES = ("early", "mid", "late", "legal")
_CLASSES = np.array(["normal", "special_mention", "substandard", "doubtful", "loss"], dtype=object)
_STATUSES = np.array(["active", "closed", "written_off"], dtype=object)

# Output columns and their pandas dtypes (also the Parquet schema).
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "loans": {
        "loan_id": "str", "customer_id": "str", "region_code": "str", "branch_id": "str",
        "product": "str", "segment": "str", "disbursement_date": "datetime64[s]",
        "maturity_date": "datetime64[s]", "principal": "float64", "interest_rate": "float64",
        "origination_score": "int64", "collateral_type": "str", "collateral_value": "float64",
        "purpose": "str", "industry": "str",
    },
    "performance": {
        "loan_id": "str", "as_of": "datetime64[s]", "outstanding_principal": "float64",
        "dpd": "int64", "credit_score": "int64", "collateral_value": "float64", "status": "str",
        "classification": "str", "principal_paid": "float64", "interest_paid": "float64",
        "recovered_amount": "float64",
    },
    "customers": {
        "customer_id": "str", "name": "str", "id_number": "str", "phone": "str",
        "segment": "str", "industry": "str", "annual_income": "float64", "debt_ratio": "float64",
    },
    "collections": {
        "case_id": "str", "loan_id": "str", "opened_on": "datetime64[s]",
        "closed_on": "datetime64[s]", "stage": "str", "agency": "str", "amount_due": "float64",
        "amount_recovered": "float64", "complaints": "int64",
    },
    "inspections": {
        "inspection_id": "str", "loan_id": "str", "kind": "str", "due_on": "datetime64[s]",
        "done_on": "datetime64[s]", "result": "str",
    },
}
TABLES: tuple[str, ...] = tuple(TABLE_COLUMNS)


# ---------------------------------------------------------------------------------------
# Macro cycle, provinces, branches
# ---------------------------------------------------------------------------------------


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def macro_shape(t: np.ndarray | int, n_months: int) -> np.ndarray:
    """Intensity of the downturn at window month(s) ``t``: 0 (normal) .. 1 (trough).

    Rises from 28 % of the window to the trough at 47 %, back to 0 at 68 %, then a mild
    recovery (down to -0.25, i.e. better than normal) by the window's end; 0 before it.
    Delinquency follows with a lag of a few months (distress comes before missed payments).
    """
    t = np.asarray(t, dtype=float)
    n = max(n_months, 1)
    s0, p, e = 0.28 * n, 0.47 * n, 0.68 * n
    up = _smoothstep((t - s0) / max(p - s0, 1e-9))
    down = 1 - _smoothstep((t - p) / max(e - p, 1e-9))
    rec = -0.25 * np.clip((t - e) / max(n - 1 - e, 1e-9), 0, 1)
    out = np.where(t <= p, up, np.where(t <= e, down, rec))
    return np.where(t < 0, 0.0, out)


def downturn_window(n_months: int) -> tuple[int, int]:
    """First and last window month index (inclusive) of the downturn: 14, 24 for 36 months."""
    return int(round(0.39 * n_months)), int(round(0.67 * n_months))


def _hpi_shape(t: np.ndarray, n_months: int) -> np.ndarray:
    """House-price drop intensity 0..1: falls from 39 % to 70 % of the window, 40 % back after."""
    t = np.asarray(t, dtype=float)
    n = max(n_months, 1)
    s, e = 0.33 * n, 0.62 * n
    down = _smoothstep((t - s) / max(e - s, 1e-9))
    rec = np.where(t > e, 0.4 * np.clip((t - e) / max(n - 1 - e, 1e-9), 0, 1), 0.0)
    return np.where(t < 0, 0.0, down - rec)


@dataclass(frozen=True)
class _Config:
    codes: tuple[str, ...]  # 31 mainland province codes
    weights: np.ndarray  # loan weight per province
    short_zh: tuple[str, ...]
    price_level: np.ndarray
    hpi_drop: np.ndarray
    risk_static: np.ndarray  # for non-improving provinces
    improving: np.ndarray  # bool
    improve_from: np.ndarray
    improve_to: np.ndarray
    n_branches: np.ndarray
    branch_lax: tuple[np.ndarray, ...]  # per province, bool per branch
    area_codes: tuple[np.ndarray, ...]  # per province: GB/T 2260 county codes (int)
    surnames: np.ndarray
    surname_p: np.ndarray
    given_male: np.ndarray
    given_female: np.ndarray
    phone_prefixes: np.ndarray
    company_words: np.ndarray


_CONFIG: _Config | None = None


def _config() -> _Config:
    global _CONFIG
    if _CONFIG is not None:
        return _CONFIG
    codes = tuple(mainland_codes())
    rs = get_region_set("cn_provinces")
    w = np.array([_PROVINCE_GDP.get(c, 1.0) for c in codes], dtype=float)
    w *= np.array([_BAD_FOOTPRINT if c in BAD_PROVINCES else 1.0 for c in codes])
    w /= w.sum()
    w = np.maximum(w, 0.006)
    w /= w.sum()
    fixed = np.random.default_rng(20261031)  # configuration only, seed-independent
    risk = fixed.uniform(0.9, 1.15, len(codes))
    for i, c in enumerate(codes):
        risk[i] = BAD_PROVINCES.get(c, GOOD_PROVINCES.get(c, risk[i]))
    improving = np.array([c in IMPROVING_PROVINCES for c in codes])
    imp_from = np.array([IMPROVING_PROVINCES.get(c, (1.0, 1.0))[0] for c in codes])
    imp_to = np.array([IMPROVING_PROVINCES.get(c, (1.0, 1.0))[1] for c in codes])
    hpi_drop = np.array(
        [_HPI_DROP_BAD if c in BAD_PROVINCES else _HPI_DROP.get(c, _HPI_DROP_DEFAULT) for c in codes]
    )
    price = np.array([_PRICE_LEVEL.get(c, 0.85 if c in BAD_PROVINCES else 0.9) for c in codes])
    nb = np.clip(np.round(2 + 6 * np.sqrt(w / w.max())), 2, 8).astype(int)
    lax = []
    for i in range(len(codes)):
        flags = fixed.random(nb[i]) < (0.35 if codes[i] in BAD_PROVINCES else 0.12)
        lax.append(flags)

    from faker.providers.company.zh_CN import Provider as _Company
    from faker.providers.person.zh_CN import Provider as _Person
    from faker.providers.phone_number.zh_CN import Provider as _Phone
    from faker.providers.ssn.zh_CN import Provider as _Ssn

    all_area = np.array([int(a) for a in _Ssn.area_codes if a.isdigit()])
    areas = []
    for c in codes:
        pre = int(c) // 10000
        sel = all_area[(all_area // 10000 == pre) & (all_area % 100 != 0)]
        areas.append(sel if sel.size else np.array([int(c)]))
    sur = np.array(list(_Person.last_names.keys()), dtype=object)
    sp = np.array(list(_Person.last_names.values()), dtype=float)
    _CONFIG = _Config(
        codes=codes,
        weights=w,
        short_zh=tuple(rs.get(c).short_zh for c in codes),
        price_level=price,
        hpi_drop=hpi_drop,
        risk_static=risk,
        improving=improving,
        improve_from=imp_from,
        improve_to=imp_to,
        n_branches=nb,
        branch_lax=tuple(lax),
        area_codes=tuple(areas),
        surnames=sur,
        surname_p=sp / sp.sum(),
        given_male=np.array(list(dict.fromkeys(_Person.first_names_male)), dtype=object),
        given_female=np.array(list(dict.fromkeys(_Person.first_names_female)), dtype=object),
        phone_prefixes=np.array(_Phone.phonenumber_prefixes, dtype=np.int64),
        company_words=np.array(list(dict.fromkeys(_Company.company_prefixes)), dtype=object),
    )
    return _CONFIG


def _province_risk(cfg: _Config, t: np.ndarray, n_months: int) -> np.ndarray:
    """Risk multiplier per (month, province): shape (len(t), 31)."""
    t = np.asarray(t, dtype=float)[:, None]
    frac = np.clip(t / max(0.75 * (n_months - 1), 1), 0.0, 1.0)
    imp = cfg.improve_from + (cfg.improve_to - cfg.improve_from) * frac
    return np.where(cfg.improving[None, :], imp, cfg.risk_static[None, :])


def _hpi(cfg: _Config, prov: np.ndarray, t: np.ndarray, n_months: int) -> np.ndarray:
    """House-price index (1.0 at the window's start) of province ``prov`` at month ``t``."""
    t = np.asarray(t, dtype=float)
    before = np.exp(0.05 * t / 12.0)
    within = (1 + 0.01 * t / 12.0) * (1 - cfg.hpi_drop[prov] * _hpi_shape(t, n_months))
    return np.where(t < 0, before, within)


# ---------------------------------------------------------------------------------------
# Per-block draws: customers and loans at origination, plus every monthly uniform
# ---------------------------------------------------------------------------------------

_K_UNIFORMS = 9
# Monthly uniform channels:
_U_DISTRESS, _U_TRANS, _U_PREPAY, _U_PARTIAL, _U_WRITEOFF, _U_AGENCY, _U_COMPLAINT, _U_RECOVERY, _U_SPECIAL = range(9)


def _block_rng(seed: int, block: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))


def _quota_sample(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """n category indices, counts by largest remainder (every category with w*n >= ~1 shows)."""
    raw = weights * n
    counts = np.floor(raw).astype(int)
    short = n - counts.sum()
    if short > 0:
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:short]] += 1
    return rng.permutation(np.repeat(np.arange(len(weights)), counts))


def _choice(rng_u: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Categorical draws from uniforms ``rng_u`` with probabilities ``p``."""
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng_u, side="right"), len(p) - 1)


def _draw_block(seed: int, block: int, n: int, n_months: int, w0: np.datetime64) -> dict:
    """Everything random about loans ``block*BLOCK_LOANS .. +n``; see the module docstring."""
    cfg = _config()
    rng = _block_rng(seed, block)
    T = n_months + BURN_IN

    # --- customers -------------------------------------------------------------------
    u_type = rng.random(n)
    is_bus = u_type < 0.10
    cust_seg = np.where(is_bus, np.where(u_type < 0.02, 2, 1), 0)  # 0 retail, 1 sme, 2 corp
    k = 1 + np.where(is_bus, rng.poisson(0.9, n), rng.poisson(0.5, n))
    cum = np.cumsum(k)
    J = int(np.searchsorted(cum, n) + 1)
    k = k[:J].copy()
    k[-1] -= int(cum[J - 1] - n)
    cust_seg = cust_seg[:J]
    cust_prov = _quota_sample(rng, cfg.weights, J)
    u_branch = rng.random(J)
    cust_branch = np.floor(u_branch**1.6 * cfg.n_branches[cust_prov]).astype(int)
    cust_ind = np.where(
        cust_seg == 0,
        _choice(rng.random(J), _IND_W_RETAIL),
        _choice(rng.random(J), _IND_W_BUS),
    )
    cust_score = rng.normal(0.0, 45.0, J)
    cust_dr = np.clip(rng.beta(3.0, 5.0, J) * 0.9 + 0.05, 0.05, 0.85)
    male = rng.random(J) < 0.55
    sur = _choice(rng.random(J), cfg.surname_p)
    gm = rng.integers(0, len(cfg.given_male), J)
    gf = rng.integers(0, len(cfg.given_female), J)
    age_days = rng.integers(22 * 365, 65 * 365, J)
    area_u = rng.random(J)
    seq = rng.integers(0, 100, J) * 10 + np.where(male, 1, 0) + 2 * rng.integers(0, 5, J)
    phone_pre = cfg.phone_prefixes[rng.integers(0, len(cfg.phone_prefixes), J)]
    phone_num = rng.integers(0, 100_000_000, J)
    comp_word = rng.integers(0, len(cfg.company_words), J)
    uscc = rng.integers(0, 10**9, J)
    inc_noise = rng.lognormal(0.0, 0.25, J)

    # --- loans -------------------------------------------------------------------------
    cust_of = np.repeat(np.arange(J), k)
    seg = cust_seg[cust_of]
    prov = cust_prov[cust_of]
    branch = cust_branch[cust_of]
    ind = cust_ind[cust_of]
    product = np.where(seg > 0, _BUS, _choice(rng.random(n), _RETAIL_MIX))
    term = np.empty(n, dtype=np.int64)
    u_term = rng.random(n)
    for p, spec in enumerate(_SPECS):
        m = product == p
        term[m] = np.asarray(spec.terms)[_choice(u_term[m], np.asarray(spec.term_weights, float))]
    # disbursement month index d (window month; negative = before the window)
    life = np.array([s.life for s in _SPECS])[product]
    seasoned_mean = 0.6 * life
    p_in = n_months / (n_months + life)
    u_in = rng.random(n)
    u_age = rng.random(n)
    tt = np.arange(n_months)
    vol = np.exp(0.06 * tt / 12.0) * (1 - 0.35 * macro_shape(tt, n_months))
    d_in = _choice(u_age, vol / vol.sum())
    amax = np.maximum(term - 1, 1).astype(float)
    age = -seasoned_mean * np.log1p(-u_age * (1 - np.exp(-amax / seasoned_mean)))
    age = np.clip(np.floor(age).astype(np.int64) + 1, 1, np.maximum(term - 1, 1))
    d = np.where(u_in < p_in, d_in, -age)
    day = rng.integers(1, 29, n)
    orig_score = np.clip(
        np.round(np.array([s.score_mean for s in _SPECS])[product] + cust_score[cust_of] + rng.normal(0, 25, n)),
        350, 850,
    ).astype(np.int64)
    # interest rates
    u_rate = rng.random(n)
    rate_noise = rng.normal(0, 1, n)
    score01 = np.clip((orig_score - 550) / 300.0, 0, 1)
    rate = np.empty(n)
    m = product == _MORT  # LPR-linked: older loans carry higher rates
    tcal = d[m].astype(float)
    rate[m] = np.clip(0.0465 - 0.0110 * np.clip((tcal + 36) / (n_months + 36), 0, 1) + 0.0012 * rate_noise[m], 0.035, 0.049)
    m = product == _CONS
    rate[m] = np.clip(0.18 - 0.12 * score01[m] + 0.012 * rate_noise[m], 0.06, 0.18)
    m = product == _BUS
    rate[m] = np.clip(np.where(seg[m] == 2, 0.042, 0.05) + 0.02 * (1 - score01[m]) + 0.004 * rate_noise[m], 0.04, 0.08)
    m = product == _CC
    rate[m] = np.where(u_rate[m] < 0.6, 0.1825, 0.15 + 0.09 * (u_rate[m] - 0.6) / 0.4)
    rate[m] = np.clip(rate[m], 0.15, 0.24)
    m = product == _AUTO
    rate[m] = np.clip(0.09 - 0.04 * score01[m] + 0.004 * rate_noise[m], 0.05, 0.09)
    rate = np.round(rate, 4)
    # principal
    z = rng.normal(0, 1, n)
    principal = np.empty(n)
    for p, spec in enumerate(_SPECS):
        mm = product == p
        med = spec.principal_median
        if p == _MORT:
            med = med * cfg.price_level[prov[mm]]
        elif p == _BUS:
            med = np.where(seg[mm] == 2, 2_500_000, 700_000)
        sig = 0.45 if p in (_MORT, _AUTO) else 0.7
        lo, hi = spec.principal_range
        principal[mm] = np.clip(med * np.exp(sig * z[mm]), lo, hi)
    step = np.where(principal >= 1_000_000, 10_000, np.where(principal >= 100_000, 1_000, 100))
    principal = np.clip(np.round(principal / step) * step, 5_000, 5_000_000)
    # collateral at origination
    ctype = np.full(n, _C_NONE, dtype=np.int64)
    u_c = rng.random(n)
    u_ltv = rng.random(n)
    ltv = np.ones(n)
    m = product == _MORT
    ctype[m] = _C_RE
    ltv[m] = 0.5 + 0.3 * u_ltv[m]
    m = product == _AUTO
    ctype[m] = _C_VEH
    ltv[m] = 0.6 + 0.25 * u_ltv[m]
    m = product == _BUS
    kinds = np.array([c[0] for c in _BUS_COLLATERAL])
    shares = np.array([c[1] for c in _BUS_COLLATERAL])
    pick = _choice(u_c[m], shares)
    ctype[m] = kinds[pick]
    lo = np.array([c[2][0] for c in _BUS_COLLATERAL])[pick]
    hi = np.array([c[2][1] for c in _BUS_COLLATERAL])[pick]
    ltv[m] = lo + (hi - lo) * u_ltv[m]
    cval = np.where(ctype == _C_NONE, np.nan, np.round(principal / ltv, -2))
    cval_idio = np.where(ctype == _C_RE, rng.normal(0, 0.04, n), 0.0)
    purpose_u = rng.random(n)
    frailty = np.exp(0.55 * rng.normal(0, 1, n) - 0.15)
    drift = rng.normal(4.0, 6.0, n)
    hider_u = rng.random(n)
    watch_u = rng.random(n)
    insp_u = rng.random((n, 4))  # first inspection: outcome, delay, result, spare
    J_r = n_months // 3 + 3
    routine_u = rng.random((n, J_r, 3))
    # The monthly uniforms (T, K, n) and score noise (T, n) are drawn next from ``rng``, by
    # _fill_monthly, straight into the chunk's arrays.

    return dict(
        J=J, k=k, cust_seg=cust_seg, cust_prov=cust_prov, cust_branch=cust_branch, cust_ind=cust_ind,
        cust_dr=cust_dr, male=male, sur=sur, gm=gm, gf=gf, age_days=age_days, area_u=area_u,
        seq=seq, phone_pre=phone_pre, phone_num=phone_num, comp_word=comp_word, uscc=uscc,
        inc_noise=inc_noise, cust_of=cust_of, seg=seg, prov=prov, branch=branch, ind=ind,
        product=product, term=term, d=d, day=day, orig_score=orig_score, rate=rate,
        principal=principal, ctype=ctype, cval=cval, cval_idio=cval_idio, purpose_u=purpose_u,
        frailty=frailty, drift=drift, hider_u=hider_u, watch_u=watch_u, insp_u=insp_u,
        routine_u=routine_u, rng=rng, T=T,
    )


def _fill_monthly(block: dict, U: np.ndarray, Z: np.ndarray, lo: int, hi: int) -> None:
    """Draw a block's monthly uniforms and score noise into ``U[:, :, lo:hi]``, ``Z[:, lo:hi]``."""
    rng, T, n = block.pop("rng"), block["T"], hi - lo
    U[:, :, lo:hi] = rng.random((T, _K_UNIFORMS, n), dtype=np.float32)
    Z[:, lo:hi] = rng.standard_normal((T, n), dtype=np.float32)


# ---------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------


def _month_end(w0: np.datetime64, t: np.ndarray | int) -> np.ndarray:
    """Last day (datetime64[D]) of window month ``t`` (0 = first month of the window)."""
    return (w0 + np.asarray(t) + 1).astype("datetime64[D]") - np.timedelta64(1, "D")


def _month_day(w0: np.datetime64, t: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Day ``day`` (1..28) of window month ``t``."""
    return (w0 + np.asarray(t)).astype("datetime64[D]") + (np.asarray(day) - 1).astype("timedelta64[D]")


def _annuity(balance: np.ndarray, r: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Level instalment repaying ``balance`` over ``n`` months at monthly rate ``r`` (> 0)."""
    return balance * r / (1.0 - (1.0 + r) ** (-n.astype(float)))


def _sched_balance(principal: np.ndarray, r: np.ndarray, term: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Annuity balance after ``k`` scheduled payments."""
    g = (1.0 + r) ** k.astype(float)
    a = _annuity(principal, r, term)
    return np.maximum(principal * g - a * (g - 1.0) / r, 0.0)


# ---------------------------------------------------------------------------------------
# A chunk: concatenate its blocks' draws, simulate month by month, build the frames
# ---------------------------------------------------------------------------------------


@dataclass
class TapeChunk:
    """One chunk of the tape: the loans ``loan_range`` with their rows in every table."""

    loans: pd.DataFrame
    performance: pd.DataFrame
    customers: pd.DataFrame
    collections: pd.DataFrame
    inspections: pd.DataFrame
    loan_range: tuple[int, int] = (0, 0)
    """First and one-past-last global loan number of the chunk."""

    def tables(self) -> dict[str, pd.DataFrame]:
        """The five frames by table name (as ``data.importer.load_tables`` takes them)."""
        return {name: getattr(self, name) for name in TABLES}

    def rows(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in TABLES}


def _frame(table: str, cols: dict) -> pd.DataFrame:
    out = {}
    for name, dtype in TABLE_COLUMNS[table].items():
        v = cols[name]
        if dtype == "str":
            out[name] = pd.array(np.asarray(v, dtype=object), dtype="str")
        elif dtype.startswith("datetime64"):
            out[name] = np.asarray(v, dtype="datetime64[D]").astype(dtype)
        else:
            out[name] = np.asarray(v).astype(dtype)
    return pd.DataFrame(out)


def _ids(prefix: str, idx: np.ndarray, width: int = 9) -> np.ndarray:
    fmt = f"{prefix}{{:0{width}d}}"
    return np.array([fmt.format(i) for i in idx.tolist()], dtype=object)


def _customers_frame(blocks: list[dict], starts: list[int], end_day: np.datetime64) -> pd.DataFrame:
    cfg = _config()
    parts = []
    for b, start in zip(blocks, starts):
        J = b["J"]
        cid = _ids("CU", start + np.arange(J))
        seg = b["cust_seg"]
        prov = b["cust_prov"]
        given = np.where(b["male"], cfg.given_male[b["gm"] % len(cfg.given_male)], cfg.given_female[b["gf"] % len(cfg.given_female)])
        person = cfg.surnames[b["sur"]] + given
        short = np.array(cfg.short_zh, dtype=object)[prov]
        company = short + cfg.company_words[b["comp_word"]] + np.array(_IND_ZH, dtype=object)[b["cust_ind"]] + "有限公司"
        name = np.where(seg == 0, person, company)
        # personal id: county code + birth date + sequence (odd = male) + ISO 7064 check digit
        area = np.empty(J, dtype=np.int64)
        for p in np.unique(prov):
            m = prov == p
            codes = cfg.area_codes[p]
            area[m] = codes[np.minimum((b["area_u"][m] * len(codes)).astype(int), len(codes) - 1)]
        birth = end_day - b["age_days"].astype("timedelta64[D]")
        ymd = pd.DatetimeIndex(birth.astype("datetime64[s]"))
        y, mo, dd = ymd.year.to_numpy(), ymd.month.to_numpy(), ymd.day.to_numpy()
        seq = b["seq"] % 1000
        digits = np.empty((J, 17), dtype=np.int64)
        for i in range(6):
            digits[:, i] = area // 10 ** (5 - i) % 10
        birth_num = y * 10000 + mo * 100 + dd
        for i in range(8):
            digits[:, 6 + i] = birth_num // 10 ** (7 - i) % 10
        for i in range(3):
            digits[:, 14 + i] = seq // 10 ** (2 - i) % 10
        weights = np.array([2 ** (17 - i) % 11 for i in range(17)])
        check = np.array(list("10X98765432"), dtype=object)[(digits * weights).sum(axis=1) % 11]
        pid = [f"{a:06d}{bn:08d}{s:03d}{c}" for a, bn, s, c in zip(area.tolist(), birth_num.tolist(), seq.tolist(), check.tolist())]
        uscc = [f"91{a:06d}{u:09d}{u % 10}" for a, u in zip(area.tolist(), b["uscc"].tolist())]
        id_number = np.where(seg == 0, np.array(pid, dtype=object), np.array(uscc, dtype=object))
        phone = [f"{p}{n:08d}" for p, n in zip(b["phone_pre"].tolist(), b["phone_num"].tolist())]
        # income: from the customer's own instalments and debt ratio (consistent with the book)
        r = b["rate"] / 12.0
        inst = _annuity(b["principal"], r, b["term"])
        annual = np.bincount(b["cust_of"], weights=inst * 12.0, minlength=J)
        dr = b["cust_dr"]
        floor = np.where(seg == 0, 36_000.0, np.where(seg == 1, 1_000_000.0, 10_000_000.0))
        income = np.maximum(annual / dr, floor * b["inc_noise"])
        debt_ratio = np.clip(annual / income, 0.01, 0.95)
        parts.append(
            _frame(
                "customers",
                dict(
                    customer_id=cid, name=name, id_number=id_number, phone=np.array(phone, dtype=object),
                    segment=np.array(SEGMENTS, dtype=object)[seg], industry=_IND_NAMES[b["cust_ind"]],
                    annual_income=np.round(income, -2), debt_ratio=np.round(debt_ratio, 4),
                ),
            )
        )
    return pd.concat(parts, ignore_index=True)


def _concat_blocks(blocks: list[dict], key: str, axis: int = 0) -> np.ndarray:
    return np.concatenate([b[key] for b in blocks], axis=axis)


def _chunk(seed: int, n_loans: int, n_months: int, w0: np.datetime64, first_block: int, n_blocks: int) -> TapeChunk:
    cfg = _config()
    N = n_months
    T = N + BURN_IN
    starts, sizes = [], []
    for b in range(first_block, first_block + n_blocks):
        s = b * BLOCK_LOANS
        starts.append(s)
        sizes.append(min(BLOCK_LOANS, n_loans - s))
    blocks = [_draw_block(seed, first_block + i, sizes[i], N, w0) for i in range(n_blocks)]
    lo = starts[0]
    n = int(sum(sizes))
    gidx = lo + np.arange(n)
    end_day = _month_end(w0, N - 1)

    # ---------- loan attributes ----------
    g = {k: _concat_blocks(blocks, k) for k in (
        "seg", "prov", "branch", "ind", "product", "term", "d", "day", "orig_score", "rate",
        "principal", "ctype", "cval", "cval_idio", "purpose_u", "frailty", "drift", "hider_u",
        "watch_u", "insp_u", "routine_u")}
    cust_global = np.concatenate([s + b["cust_of"] for b, s in zip(blocks, starts)])
    cust_dr = np.concatenate([b["cust_dr"][b["cust_of"]] for b in blocks])
    U = np.empty((T, _K_UNIFORMS, n), dtype=np.float32)  # month, channel, loan
    Z = np.empty((T, n), dtype=np.float32)
    pos = 0
    for b, size in zip(blocks, sizes):
        _fill_monthly(b, U, Z, pos, pos + size)
        pos += size
    customers = _customers_frame(blocks, starts, end_day)
    del blocks

    seg, prov, product, term, d = g["seg"], g["prov"], g["product"], g["term"], g["d"]
    principal, rate, ctype = g["principal"], g["rate"], g["ctype"]
    orig_score = g["orig_score"]
    r = rate / 12.0
    mat = d + term  # month of the last instalment
    branch_lax = np.zeros(n, dtype=bool)
    for p in np.unique(prov):
        m = prov == p
        branch_lax[m] = cfg.branch_lax[p][g["branch"][m]]
    offset = np.clip(30 - g["day"], 2, 29)  # dpd at a month end after the first missed due day

    # static hazard multiplier
    vint = np.where((d >= downturn_window(N)[0] - 12) & (d < downturn_window(N)[0]), 1.25, 1.0)
    vint = np.where((d >= downturn_window(N)[0]) & (d <= downturn_window(N)[1]), 0.85, vint)
    seg_mult = np.array([1.0, 1.15, 0.6])[seg]
    static = (
        _A_ONSET[product] * _IND_RISK[g["ind"]] ** np.where(product == _BUS, 1.0, 0.4)
        * np.exp(-(orig_score - 700) / 55.0) * np.exp(2.0 * (cust_dr - 0.35)) * seg_mult * vint * g["frailty"]
    )
    ind_macro = np.where(product == _BUS, _IND_MACRO[g["ind"]], 1.0 + 0.3 * (_IND_MACRO[g["ind"]] - 1.0))
    hider = g["hider_u"] < np.where(branch_lax, 0.04, 0.008)
    watcher = g["watch_u"] < 0.5

    tt = np.arange(-BURN_IN, N)
    shape_t = macro_shape(tt, N)
    prisk_t = _province_risk(cfg, tt, N)  # (T, 31)
    hpi_orig = _hpi(cfg, prov, d, N)

    # ---------- state ----------
    t0 = np.maximum(d, -BURN_IN)
    k0 = np.clip(t0 - 1 - d, 0, None)  # scheduled payments made before t0
    B = np.where(d < t0, _sched_balance(principal, r, term, k0), principal)
    B = B * np.where(d < t0, 1.0 - 0.15 * U[0, _U_PARTIAL] * np.minimum(k0 / term, 1.0), 1.0)
    c = np.zeros(n, dtype=np.int64)
    D = np.zeros(n, dtype=bool)
    dage = np.zeros(n, dtype=np.int64)
    status = np.zeros(n, dtype=np.int8)  # 0 active, 1 closed, 2 written off
    wo_age = np.zeros(n, dtype=np.int64)
    W = np.zeros(n)
    R_total = np.zeros(n)
    rec_cum = np.zeros(n)
    last_t = np.full(n, N - 1, dtype=np.int64)  # last month with a live row (for routine)
    noise = np.zeros(n, dtype=np.float32)
    dpen = np.zeros(n, dtype=np.float32)
    watch_until = np.full(n, -10**6, dtype=np.int64)
    special_done = np.zeros(n, dtype=bool)
    # collections
    case_open = np.zeros(n, dtype=bool)
    case_n = np.zeros(n, dtype=np.int64)
    case_opened = np.zeros(n, dtype="datetime64[D]")
    case_agency = np.zeros(n, dtype=np.int64)
    case_maxc = np.zeros(n, dtype=np.int64)
    case_due = np.zeros(n)
    case_rec = np.zeros(n)
    case_compl = np.zeros(n, dtype=np.int64)
    case_hold = np.zeros(n, dtype=bool)  # case kept open through post-write-off recoveries
    closed_cases: list[tuple] = []
    specials: list[tuple[np.ndarray, np.ndarray]] = []

    # ---------- output matrices (month, loan) ----------
    M_emit = np.zeros((N, n), dtype=bool)
    M_bal = np.zeros((N, n))
    M_dpd = np.zeros((N, n), dtype=np.int64)
    M_score = np.zeros((N, n), dtype=np.int64)
    M_cval = np.full((N, n), np.nan)
    M_stat = np.zeros((N, n), dtype=np.int8)
    M_cls = np.zeros((N, n), dtype=np.int8)
    M_pp = np.zeros((N, n))
    M_ip = np.zeros((N, n))
    M_rec = np.zeros((N, n))

    first_t = int(max(-BURN_IN, t0.min()))
    rec_w = np.array([0.30, 0.25, 0.20, 0.12, 0.08, 0.05])
    for t in range(first_t, N):
        ti = t + BURN_IN
        u = U[ti]
        sh = shape_t[ti]
        burn = t < 0
        act = (status == 0) & (t >= t0)
        paym = act & (t > d)
        mob = t - d
        # -- distress --------------------------------------------------------------------
        season = (0.35 + 0.65 * np.minimum(np.maximum(mob, 0) / 6.0, 1.0)) * np.where(mob > 60, 0.75, 1.0)
        prisk = prisk_t[ti][prov]
        haz = static * prisk * (1.0 + 1.3 * sh * ind_macro) * season
        ud = u[_U_DISTRESS]
        exit_ = D & (c == 0) & (ud < _DISTRESS_EXIT * (1 - 0.4 * sh))
        onset = paym & ~D & (c == 0) & (ud < haz)
        dage = np.where(D & ~exit_, dage + 1, 0)
        D = (D & ~exit_) | onset
        # -- delinquency transitions -------------------------------------------------------
        ut = u[_U_TRANS]
        c_prev = c
        miss_p = np.where(D, _MISS_BY_DISTRESS_AGE[np.minimum(dage, 5)], _A_TECH[product] * np.sqrt(prisk))
        cur = paym & (c_prev == 0)
        miss = cur & (ut < miss_p)
        bk = _C_TO_BUCKET[np.minimum(c_prev, 200)]
        rf = prisk * (1.0 + 1.3 * sh)
        agq = np.where(case_open, _AGENCY_QUALITY[case_agency], 1.0)
        cure_p = np.where(D, _CURE_D[bk], _CURE_T[bk]) * rf**-0.4 * (1 - 0.3 * sh) * agq
        roll_p = 1.0 - (1.0 - np.where(D, _ROLL_D[bk], _ROLL_T[bk])) * rf**-0.4 * np.sqrt(agq)
        tot = cure_p + roll_p
        scale = np.where(tot > 0.99, 0.99 / np.maximum(tot, 1e-9), 1.0)
        cure_p, roll_p = cure_p * scale, roll_p * scale
        dq = paym & (c_prev > 0)
        cure = dq & (ut < cure_p)
        roll = dq & ~cure & (ut < cure_p + roll_p)
        stay = dq & ~cure & ~roll
        past_mat = t > mat
        at_mat = t >= mat  # from the last instalment on, one instalment would be the whole balance
        roll = roll | (stay & at_mat)
        stay = stay & ~at_mat
        c = np.where(miss | roll, c_prev + 1, np.where(cure, 0, c_prev))
        D = D | (roll & (c >= 2))
        # -- payments ----------------------------------------------------------------------
        nrem = np.maximum(mat - t + 1, 1)
        inst = _annuity(B, r, nrem)
        int_due = B * r
        sp = np.clip(inst - int_due, 0.0, B)
        pays_one = (cur & ~miss) | stay
        ppaid = np.where(pays_one, sp, 0.0)
        ipaid = np.where(pays_one, int_due, 0.0)
        ncure = c_prev + 1
        cure_pp = np.where(past_mat, B, np.minimum(ncure * sp, B))
        ppaid = np.where(cure, cure_pp, ppaid)
        ipaid = np.where(cure, ncure * int_due, ipaid)
        B = B - ppaid
        # prepayments (not during burn-in)
        if not burn:
            full = cur & ~miss & (u[_U_PREPAY] < _A_PREPAY[product] * (1 - 0.3 * sh)) & (B > 0)
            up = u[_U_PARTIAL]
            part = cur & ~miss & ~full & (up < 0.008)
            extra = np.where(part, B * (0.1 + 0.3 * up / 0.008), 0.0)
            extra = np.where(full, B, extra)
            ppaid = ppaid + extra
            B = B - extra
        B = np.where(B < 0.005, 0.0, B)
        closing = act & (B <= 0.0) & (t > d)
        c = np.where(closing, 0, c)  # a loan paid off owes no arrears
        # -- write-off (from 181+ DPD) -----------------------------------------------------
        wo_p = _A_WRITEOFF[product] * np.where(c >= 13, 2.0, 1.0)
        wo = act & ~closing & (c >= 7) & (u[_U_WRITEOFF] < wo_p)
        if burn:  # seasoned history: the survivors restructure instead of leaving the book
            c = np.where(wo, 0, c)
            D = D & ~wo
            dpen = np.where(wo, 0.0, dpen)
            wo = np.zeros(n, dtype=bool)
            closing = closing & False
            B = np.where(act & (B <= 0), np.maximum(principal * 0.01, 1.0), B)
        # -- credit score ------------------------------------------------------------------
        noise = 0.7 * noise + 7.0 * Z[ti]
        dpen = np.where(D, np.minimum(dpen + 12.0, 140.0), dpen * 0.85)
        score = np.clip(
            np.round(orig_score + g["drift"] * np.maximum(mob, 0) / 12.0 + noise - 25.0 * sh - dpen
                     - _C_PENALTY[np.minimum(c, 219)]),
            SCORE_RANGE[0], SCORE_RANGE[1],
        )
        # -- collateral value ---------------------------------------------------------------
        mob_f = np.maximum(mob, 0).astype(float)
        f = np.ones(n)
        f = np.where(ctype == _C_RE, _hpi(cfg, prov, np.full(n, t), N) / hpi_orig * (1 + g["cval_idio"]), f)
        f = np.where(ctype == _C_VEH, 0.985**mob_f, f)
        f = np.where(ctype == _C_EQ, 0.992**mob_f, f)
        f = np.where(ctype == _C_INV, 1 - 0.10 * sh, f)
        f = np.where(ctype == _C_REC, 1 - 0.15 * sh, f)
        f = np.where(ctype == _C_GUA, 1 - 0.10 * sh, f)
        cval_now = g["cval"] * f
        # -- write-off bookkeeping and recoveries ---------------------------------------------
        post = (status == 2) & (wo_age < 6)
        wo_age = np.where(post, wo_age + 1, wo_age)
        got = post & (u[_U_RECOVERY] < 0.75)
        rec = np.where(got, R_total * rec_w[np.clip(wo_age - 1, 0, 5)], 0.0)
        rec = np.minimum(rec, np.maximum(W - rec_cum, 0.0))
        rec_cum = rec_cum + rec
        if wo.any():
            W = np.where(wo, B, W)
            ww = np.maximum(B, 1.0)
            rr = np.select(
                [ctype == _C_RE, ctype == _C_VEH, ctype == _C_DEP, ctype == _C_GUA,
                 np.isin(ctype, (_C_EQ, _C_INV, _C_REC))],
                [0.9 * cval_now * 0.75 / ww, 0.6 * cval_now / ww, 0.95 * cval_now / ww,
                 np.full(n, 0.45), 0.35 * cval_now / ww],
                default=0.06 + 0.12 * u[_U_RECOVERY],
            )
            rr = np.nan_to_num(rr, nan=0.1) * np.where(case_open, _AGENCY_QUALITY[case_agency], 1.0)
            R_total = np.where(wo, B * np.clip(rr, 0.0, 0.98), R_total)
        # -- collections ------------------------------------------------------------------------
        if not burn:
            dpd_now = np.where(c > 0, 30 * (c - 1) + offset, 0)
            me = _month_end(w0, t)
            opening = act & (c >= 2) & ~case_open
            if opening.any():
                ua = u[_U_AGENCY]
                case_open = case_open | opening
                case_n = case_n + opening
                case_opened = np.where(opening, me - (dpd_now - 31).astype("timedelta64[D]"), case_opened)
                ag = np.where(
                    (product == _MORT) | (product == _BUS),
                    _choice(ua, _AGENCY_SHARES_SECURED),
                    _choice(ua, _AGENCY_SHARES_RETAIL),
                )
                case_agency = np.where(opening, ag, case_agency)
                case_maxc = np.where(opening, c, case_maxc)
                case_due = np.where(opening, 0.0, case_due)
                case_rec = np.where(opening, 0.0, case_rec)
                case_compl = np.where(opening, 0, case_compl)
                case_hold = np.where(opening, False, case_hold)
            live_case = case_open & (act | (status == 2))
            in_coll = case_open & act
            case_maxc = np.where(in_coll, np.maximum(case_maxc, c), case_maxc)
            arrears = c * (sp + int_due)
            case_due = np.where(in_coll, np.maximum(case_due, arrears), case_due)
            case_due = np.where(in_coll & (case_maxc >= 7), np.maximum(case_due, B + ppaid), case_due)
            case_rec = np.where(in_coll & (c_prev >= 2), case_rec + ppaid + ipaid, case_rec)
            case_rec = np.where(case_open & (status == 2), case_rec + rec, case_rec)
            case_compl = case_compl + (live_case & (u[_U_COMPLAINT] < _AGENCY_COMPLAINT[case_agency]))
            # a written-off loan's case stays open through the recovery months (核销后清收)
            hold_now = wo & case_open
            case_hold = case_hold | hold_now
            closing_case = case_open & (
                (act & ((c == 0) | closing)) | (wo & ~hold_now) | (case_hold & (status == 2) & (wo_age >= 6))
            )
            if closing_case.any():
                idx = np.nonzero(closing_case)[0]
                back = (u[_U_COMPLAINT, idx] * 20).astype(np.int64)
                closed_on = np.maximum(me - back.astype("timedelta64[D]"), case_opened[idx])
                closed_on = np.where(wo[idx] | (status[idx] == 2), me, closed_on)
                closed_cases.append(
                    (idx, case_n[idx].copy(), case_opened[idx].copy(), closed_on, case_maxc[idx].copy(),
                     case_agency[idx].copy(), case_due[idx].copy(), case_rec[idx].copy(), case_compl[idx].copy())
                )
                case_open = case_open & ~closing_case
                case_hold = case_hold & ~closing_case
            # special inspection when a loan turns 61+ DPD
            turning = act & (c >= 3) & ~special_done
            if turning.any():
                ti_s = np.nonzero(turning)[0]
                specials.append((ti_s, np.full(ti_s.size, t), u[_U_SPECIAL, ti_s].astype(float)))
            special_done = np.where(c == 0, False, special_done | turning)
        # -- watch list (reported worse than the floor) ------------------------------------
        watch_until = np.where(cure & (c_prev >= 3) & watcher, t + 6, watch_until)

        # -- record the month -------------------------------------------------------------------
        new_status = np.where(wo, 2, np.where(closing, 1, status)).astype(np.int8)
        if not burn:
            emit = act | ((status == 2) & post)
            dpd = np.where(c > 0, 30 * (c - 1) + offset, 0)
            # written-off loans keep accruing days past due
            dpd = np.where(post, dpd + 30 * wo_age, dpd)
            bal = np.where(closing, 0.0, np.where(new_status == 2, np.maximum(np.where(wo, B, W - rec_cum), 0.0), B))
            floor = np.searchsorted(np.array([0, 90, 270, 360]), dpd, side="left")
            rep = np.where(hider & (floor >= 1) & (new_status == 0), floor - 1, floor)
            rep = np.where((dpd == 0) & (t <= watch_until) & (new_status == 0), np.maximum(rep, 1), rep)
            rep = np.where(new_status == 2, 4, rep)
            M_emit[t] = emit
            M_bal[t] = bal
            M_dpd[t] = dpd
            M_score[t] = score
            M_cval[t] = cval_now
            M_stat[t] = new_status
            M_cls[t] = rep
            M_pp[t] = ppaid
            M_ip[t] = ipaid
            M_rec[t] = rec
            last_t = np.where(act & (new_status != 0), t, last_t)
        status = new_status
        B = np.where(status == 1, 0.0, B)

    # open cases at the window's end
    idx = np.nonzero(case_open)[0]
    if idx.size:
        closed_cases.append(
            (idx, case_n[idx], case_opened[idx], np.full(idx.size, np.datetime64("NaT"), dtype="datetime64[D]"),
             case_maxc[idx], case_agency[idx], case_due[idx], case_rec[idx], case_compl[idx])
        )
    del U, Z

    # ---------- loans frame ----------
    loan_ids = _ids("LN", gidx)
    cust_ids = _ids("CU", cust_global)
    codes = np.array(cfg.codes, dtype=object)
    branch_ids = np.array([f"BR{codes[p]}-{b + 1:02d}" for p, b in zip(prov.tolist(), g["branch"].tolist())], dtype=object)
    purpose = np.empty(n, dtype=object)
    for p, opts in _PURPOSES.items():
        m = product == p
        purpose[m] = np.array(opts, dtype=object)[np.minimum((g["purpose_u"][m] * len(opts)).astype(int), len(opts) - 1)]
    disb = _month_day(w0, d, g["day"])
    matd = _month_day(w0, mat, g["day"])
    loans = _frame(
        "loans",
        dict(
            loan_id=loan_ids, customer_id=cust_ids, region_code=codes[prov], branch_id=branch_ids,
            product=np.array(PRODUCTS, dtype=object)[product], segment=np.array(SEGMENTS, dtype=object)[seg],
            disbursement_date=disb, maturity_date=matd, principal=np.round(principal, 2), interest_rate=rate,
            origination_score=orig_score, collateral_type=np.array(COLLATERAL_TYPES, dtype=object)[ctype],
            collateral_value=np.round(g["cval"], 2), purpose=purpose, industry=_IND_NAMES[g["ind"]],
        ),
    )

    # ---------- performance frame (month-major: rows ordered by month, then loan) ----------
    # Stored in this order, each DuckDB row group holds few months, so its min/max of as_of
    # lets a one-month read skip most of the table (the usual read: one month's book).
    ti_, li = np.nonzero(M_emit)
    me_all = _month_end(w0, np.arange(N))
    performance = _frame(
        "performance",
        dict(
            loan_id=loan_ids[li], as_of=me_all[ti_], outstanding_principal=np.round(M_bal[ti_, li], 2),
            dpd=M_dpd[ti_, li], credit_score=M_score[ti_, li], collateral_value=np.round(M_cval[ti_, li], 2),
            status=_STATUSES[M_stat[ti_, li]], classification=_CLASSES[M_cls[ti_, li]],
            principal_paid=np.round(M_pp[ti_, li], 2), interest_paid=np.round(M_ip[ti_, li], 2),
            recovered_amount=np.round(M_rec[ti_, li], 2),
        ),
    )
    del M_bal, M_cval, M_pp, M_ip, M_rec, M_stat, M_cls

    # ---------- collections frame ----------
    if closed_cases:
        cc = [np.concatenate([x[i] for x in closed_cases]) for i in range(9)]
    else:
        cc = [np.zeros(0, dtype=np.int64)] * 2 + [np.zeros(0, dtype="datetime64[D]")] * 2 + [np.zeros(0, dtype=np.int64)] * 5
    c_idx, c_n, c_open, c_close, c_maxc, c_ag, c_due, c_rec, c_compl = cc
    order = np.lexsort((c_n, c_idx))
    c_idx, c_n, c_open, c_close, c_maxc, c_ag = (a[order] for a in (c_idx, c_n, c_open, c_close, c_maxc, c_ag))
    c_due, c_rec, c_compl = c_due[order], c_rec[order], c_compl[order]
    stage = np.array(STAGES, dtype=object)[np.select([c_maxc >= 7, c_maxc >= 4, c_maxc >= 3], [3, 2, 1], 0)]
    c_due = np.maximum(c_due, 1.0)
    collections = _frame(
        "collections",
        dict(
            case_id=np.array([f"CS{i:09d}-{k}" for i, k in zip((lo + c_idx).tolist(), c_n.tolist())], dtype=object),
            loan_id=loan_ids[c_idx], opened_on=c_open, closed_on=c_close, stage=stage,
            agency=_AGENCY_NAMES[c_ag.astype(np.int64)], amount_due=np.round(c_due, 2),
            amount_recovered=np.round(np.minimum(c_rec, c_due), 2), complaints=c_compl,
        ),
    )

    # ---------- inspections frame ----------
    iu = g["insp_u"]
    parts = []
    # first: due 30 days after disbursement, for loans disbursed in the window
    fi = np.nonzero(d >= 0)[0]
    if fi.size:
        lax = branch_lax[fi]
        u0 = iu[fi, 0]
        on_time = u0 < np.where(lax, 0.70, 0.90)
        late = ~on_time & (u0 < np.where(lax, 0.90, 0.97))
        delay = np.where(on_time, 3 + (iu[fi, 1] * 28).astype(int), 31 + (iu[fi, 1] * 45).astype(int))
        done = np.where(on_time | late, disb[fi] + delay.astype("timedelta64[D]"), np.datetime64("NaT"))
        p_issue = np.clip(0.03 * static[fi] / _A_ONSET[product[fi]], 0.01, 0.35)  # per loan, not per chunk
        parts.append((fi, np.zeros(fi.size, dtype=np.int64), np.zeros(fi.size, dtype=np.int64),
                      disb[fi] + np.timedelta64(30, "D"), done, iu[fi, 2] < p_issue))
    # routine: every 3 (business) or 12 (mortgage) months after disbursement, while live
    every = _A_ROUTINE[product]
    has = np.nonzero(every > 0)[0]
    if has.size:
        ev = every[has]
        dd = d[has]
        k0r = np.maximum(1, -(dd // ev))  # first k with d + ev*k >= 0
        ru = g["routine_u"][has]
        for j in range(ru.shape[1]):
            tk = dd + ev * (k0r + j)
            ok = (tk >= 0) & (tk <= last_t[has]) & (tk < N)
            if not ok.any():
                continue
            ii = has[ok]
            tkk = tk[ok]
            lax = branch_lax[ii]
            uu = ru[ok, j]
            due = _month_day(w0, tkk, g["day"][ii])
            on_time = uu[:, 0] < np.where(lax, 0.65, 0.88)
            late = ~on_time & (uu[:, 0] < np.where(lax, 0.85, 0.96))
            delay = np.where(on_time, -20 + (uu[:, 1] * 26).astype(int), 6 + (uu[:, 1] * 55).astype(int))
            done = np.where(on_time | late, due + delay.astype("timedelta64[D]"), np.datetime64("NaT"))
            troubled = (M_dpd[tkk, ii] > 0) | (M_score[tkk, ii] < orig_score[ii] - 40)
            issue = uu[:, 2] < np.where(troubled, 0.35, 0.04)
            parts.append((ii, np.ones(ii.size, dtype=np.int64), np.full(ii.size, j + 1), due, done, issue))
    if specials:
        si = np.concatenate([s[0] for s in specials])
        st = np.concatenate([s[1] for s in specials])
        us = np.concatenate([s[2] for s in specials])
        base = _month_end(w0, st)
        on_time = us < 0.80
        late = ~on_time & (us < 0.93)
        frac = np.where(on_time, us / 0.80, np.where(late, (us - 0.80) / 0.13, 0.0))
        delay = np.where(on_time, 1 + (frac * 14).astype(int), 16 + (frac * 44).astype(int))
        done = np.where(on_time | late, base + delay.astype("timedelta64[D]"), np.datetime64("NaT"))
        # number the specials of a loan in time order
        o = np.lexsort((st, si))
        si, st, base, done = si[o], st[o], base[o], done[o]
        us = us[o]
        first_of = np.r_[True, si[1:] != si[:-1]]
        grp_start = np.maximum.accumulate(np.where(first_of, np.arange(si.size), 0))
        seqn = np.arange(si.size) - grp_start + 1
        issue = ((us * 1000.0) % 1.0) < 0.85  # independent of the timing digits of us
        parts.append((si, np.full(si.size, 2), seqn, base + np.timedelta64(15, "D"), done, issue))
    if parts:
        p_idx = np.concatenate([p[0] for p in parts])
        p_kind = np.concatenate([p[1] for p in parts])
        p_seq = np.concatenate([p[2] for p in parts])
        p_due = np.concatenate([np.asarray(p[3], dtype="datetime64[D]") for p in parts])
        p_done = np.concatenate([np.asarray(p[4], dtype="datetime64[D]") for p in parts])
        p_issue = np.concatenate([p[5] for p in parts])
    else:
        p_idx = p_kind = p_seq = np.zeros(0, dtype=np.int64)
        p_due = p_done = np.zeros(0, dtype="datetime64[D]")
        p_issue = np.zeros(0, dtype=bool)
    p_done = np.where(p_done > end_day, np.datetime64("NaT"), p_done)
    order = np.lexsort((p_seq, p_kind, p_due, p_idx))
    p_idx, p_kind, p_seq, p_due, p_done, p_issue = (a[order] for a in (p_idx, p_kind, p_seq, p_due, p_done, p_issue))
    kinds = np.array(["first", "routine", "special"], dtype=object)
    letters = np.array(["F", "R", "S"])
    result = np.where(np.isnat(p_done), None, np.where(p_issue, "issue", "ok")).astype(object)
    inspections = _frame(
        "inspections",
        dict(
            inspection_id=np.array(
                [f"IN{i:09d}-{k}{s:02d}" for i, k, s in zip((lo + p_idx).tolist(), letters[p_kind].tolist(), p_seq.tolist())],
                dtype=object,
            ),
            loan_id=loan_ids[p_idx], kind=kinds[p_kind], due_on=p_due, done_on=p_done, result=result,
        ),
    )
    return TapeChunk(loans, performance, customers, collections, inspections, (lo, lo + n))


# ---------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------


def _window_start(n_months: int, end_month: date | None) -> np.datetime64:
    end = end_month or DEFAULT_END_MONTH
    return np.datetime64(f"{end.year:04d}-{end.month:02d}", "M") - (n_months - 1)


def generate_tape(
    n_loans: int,
    n_months: int,
    seed: int,
    *,
    end_month: date | None = None,
    chunk_loans: int = 50_000,
) -> Iterator[TapeChunk]:
    """Yield the tape of a book of ``n_loans`` loans over ``n_months`` month ends, in chunks.

    ``end_month`` is any day of the window's last month (default :data:`DEFAULT_END_MONTH`).
    ``chunk_loans`` is rounded up to a whole number of :data:`BLOCK_LOANS`; the concatenated
    chunks are the same whatever it is (see the module docstring).
    """
    if n_loans < 1 or n_months < 1:
        raise ValueError("n_loans and n_months must be >= 1")
    w0 = _window_start(n_months, end_month)
    n_blocks = math.ceil(n_loans / BLOCK_LOANS)
    per_chunk = max(1, math.ceil(chunk_loans / BLOCK_LOANS))
    for first in range(0, n_blocks, per_chunk):
        yield _chunk(int(seed), n_loans, n_months, w0, first, min(per_chunk, n_blocks - first))


def write_tape(
    out_dir: str | Path,
    n_loans: int,
    n_months: int,
    seed: int,
    fmt: str = "csv",
    *,
    end_month: date | None = None,
    chunk_loans: int = 50_000,
) -> dict[str, Path]:
    """Write the five tables to ``out_dir`` as ``<table>.csv`` or ``<table>.parquet``.

    Chunks are appended one by one (bounded memory). Returns ``{table: path}``.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError("fmt must be 'csv' or 'parquet'")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {t: out / f"{t}.{fmt}" for t in TABLES}
    writers = {}
    try:
        for i, chunk in enumerate(generate_tape(n_loans, n_months, seed, end_month=end_month, chunk_loans=chunk_loans)):
            for t in TABLES:
                df = getattr(chunk, t)
                if fmt == "csv":
                    df.to_csv(paths[t], mode="w" if i == 0 else "a", header=i == 0, index=False, date_format="%Y-%m-%d")
                else:
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    if t not in writers:
                        writers[t] = pq.ParquetWriter(paths[t], _arrow_schema(t))
                    writers[t].write_table(pa.Table.from_pandas(df, schema=writers[t].schema, preserve_index=False))
            del chunk
    finally:
        for w in writers.values():
            w.close()
    return paths


def _arrow_schema(table: str):
    import pyarrow as pa

    types = {"str": pa.string(), "float64": pa.float64(), "int64": pa.int64()}
    return pa.schema(
        [(c, pa.date32() if dt.startswith("datetime64") else types[dt]) for c, dt in TABLE_COLUMNS[table].items()]
    )


@dataclass
class GenerateResult:
    """What :func:`generate_into` loaded, and how long it took (seconds)."""

    loans: int = 0
    performance: int = 0
    customers: int = 0
    collections: int = 0
    inspections: int = 0
    chunks: int = 0
    generate_seconds: float = 0.0
    load_seconds: float = 0.0
    total_seconds: float = 0.0
    reports: list = field(default_factory=list, repr=False)

    def rows(self) -> dict[str, int]:
        return {t: getattr(self, t) for t in TABLES}


def generate_into(
    engine,
    n_loans: int,
    n_months: int,
    seed: int,
    *,
    progress: Callable[[float, str], None] | None = None,
    region_set: str = "cn_provinces",
    currency: str = "CNY",
    end_month: date | None = None,
    chunk_loans: int = 50_000,
    username: str | None = None,
) -> GenerateResult:
    """Generate a book and load it into the store behind ``engine``, one transaction per chunk.

    Each chunk goes through :func:`data.importer.load_tables`; a rejected chunk would be a
    generator bug and raises ``RuntimeError`` with the report's summary (that chunk's
    transaction is rolled back; earlier chunks stay loaded). ``progress(fraction, message)``
    is called after each chunk. The chunks only mark their months stale in the roll summary;
    it is refreshed once at the end, for the months loaded (``data.summaries``; until then
    roll-rate reads use the live join).
    """
    from data.importer import load_tables
    from data.summaries import sync_roll_summary

    res = GenerateResult()
    t_start = time.perf_counter()
    total = max(n_loans, 1)
    if progress:
        progress(0.0, f"Generating {n_loans:,} loans x {n_months} months")
    gen = generate_tape(n_loans, n_months, seed, end_month=end_month, chunk_loans=chunk_loans)
    while True:
        t0 = time.perf_counter()
        chunk = next(gen, None)
        res.generate_seconds += time.perf_counter() - t0
        if chunk is None:
            break
        t1 = time.perf_counter()
        with engine.begin() as conn:
            report = load_tables(
                conn, chunk.tables(), region_set=region_set, currency=currency, username=username,
                refresh_summaries=False,
            )
            if not report.ok:
                raise RuntimeError(f"generated chunk {chunk.loan_range} rejected: {report.summary()}")
        res.load_seconds += time.perf_counter() - t1
        res.reports.append(report)
        res.chunks += 1
        for t, k in chunk.rows().items():
            setattr(res, t, getattr(res, t) + k)
        done = chunk.loan_range[1]
        del chunk
        if progress:
            progress(done / total, f"Loaded {done:,} of {n_loans:,} loans ({res.performance:,} performance rows)")
    t2 = time.perf_counter()
    with engine.begin() as conn:
        sync_roll_summary(conn)
    res.load_seconds += time.perf_counter() - t2
    res.total_seconds = time.perf_counter() - t_start
    return res
