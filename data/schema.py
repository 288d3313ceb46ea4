"""The Daihou store: SQLAlchemy 2 typed models.

Units, everywhere in the store:

* money is in the store's currency (``store_settings.currency``, default CNY), as
  ``NUMERIC(18, 2)``;
* rates are fractions (``0.0435`` is 4.35 %), never percents;
* days past due (``dpd``) are whole days, ``>= 0``;
* a performance month is stored as the month's last day (``as_of``).

Keys are natural where the tape has one (``loan_id``, ``customer_id``, ...). Tables the
app writes itself use an integer key from a ``Sequence`` with a server default, because
duckdb-engine turns a plain autoincrement integer key into ``SERIAL``, which DuckDB lacks.

``performance`` repeats four of the loan's fixed columns (``region_code``, ``branch_id``,
``product``, ``segment``) and its ``cohort`` (the last day of the disbursement month). They
never change after origination (an import rejects a loan row whose fixed columns differ from
the stored one), and having them on the 36-million-row table lets every monthly aggregate —
and the vintage curves, grouped by cohort — filter and group without a join.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    Sequence,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "Money",
    "StoreSetting",
    "Region",
    "Branch",
    "Customer",
    "Loan",
    "Performance",
    "CollectionCase",
    "Inspection",
    "Alert",
    "User",
    "UserRegion",
    "AuditLog",
    "StressScenario",
    "ImportBatch",
    "RollSummary",
    "CLASSES",
    "STATUSES",
]

Money = Numeric(18, 2)
"""Money in the store's currency, two decimals."""

CLASSES: tuple[str, ...] = ("normal", "special_mention", "substandard", "doubtful", "loss")
"""Five-level classification (五级分类), best to worst: 正常, 关注, 次级, 可疑, 损失."""

STATUSES: tuple[str, ...] = ("active", "closed", "written_off")
"""Loan status at a month end."""

_naming = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a fixed constraint naming convention (stable migrations)."""

    metadata = MetaData(naming_convention=_naming)


alert_id_seq = Sequence("alert_id_seq")
audit_id_seq = Sequence("audit_id_seq")
scenario_id_seq = Sequence("scenario_id_seq")
batch_id_seq = Sequence("batch_id_seq")


class StoreSetting(Base):
    """Store-wide settings fixed by the first load (``region_set``, ``currency``)."""

    __tablename__ = "store_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Region(Base):
    """One region of the store's region set (a province, a state, or a custom area)."""

    __tablename__ = "regions"
    region_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    """Code in the region set: a 6-digit division code (``440000``) or a USPS code."""
    region_set: Mapped[str] = mapped_column(String(64))
    name_zh: Mapped[str] = mapped_column(String(128))
    short_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))


class Branch(Base):
    """A lending branch; belongs to one region."""

    __tablename__ = "branches"
    branch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.region_code"))
    name: Mapped[str | None] = mapped_column(String(128))


class Customer(Base):
    """A borrower. Personal data (name, id number, phone) is stored Fernet-encrypted."""

    __tablename__ = "customers"
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_enc: Mapped[str | None] = mapped_column(Text)
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    segment: Mapped[str | None] = mapped_column(String(16))
    industry: Mapped[str | None] = mapped_column(String(64))
    annual_income: Mapped[Decimal | None] = mapped_column(Money)
    """Annual income, store currency."""
    debt_ratio: Mapped[float | None] = mapped_column(Double)
    """Debt service to income, a fraction."""
    batch_id: Mapped[int | None] = mapped_column(Integer)


class Loan(Base):
    """One loan, fixed at origination."""

    __tablename__ = "loans"
    loan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    region_code: Mapped[str] = mapped_column(String(32), index=True)
    branch_id: Mapped[str | None] = mapped_column(String(64))
    product: Mapped[str] = mapped_column(String(32))
    segment: Mapped[str] = mapped_column(String(16))
    """retail, sme or corporate."""
    disbursement_date: Mapped[dt.date] = mapped_column(Date, index=True)
    maturity_date: Mapped[dt.date] = mapped_column(Date)
    principal: Mapped[Decimal] = mapped_column(Money)
    """Principal at disbursement, store currency, > 0."""
    interest_rate: Mapped[float] = mapped_column(Double)
    """Annual contract rate, a fraction in [0, 1)."""
    origination_score: Mapped[int | None] = mapped_column(Integer)
    collateral_type: Mapped[str | None] = mapped_column(String(32))
    collateral_value: Mapped[Decimal | None] = mapped_column(Money)
    """Collateral value at origination, store currency."""
    purpose: Mapped[str | None] = mapped_column(String(128))
    industry: Mapped[str | None] = mapped_column(String(64))
    batch_id: Mapped[int | None] = mapped_column(Integer)


class Performance(Base):
    """A loan's state at one month end."""

    __tablename__ = "performance"
    loan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    """Last day of the month."""
    region_code: Mapped[str] = mapped_column(String(32))
    branch_id: Mapped[str | None] = mapped_column(String(64))
    product: Mapped[str] = mapped_column(String(32))
    segment: Mapped[str] = mapped_column(String(16))
    cohort: Mapped[dt.date] = mapped_column(Date)
    """The loan's cohort: the last day of its disbursement month (``loans.disbursement_date``
    2024-02-15 → 2024-02-29), copied on like the columns above. Written by the importer;
    ``data.bulk.insert_frame`` fills it from the stored loans when a frame leaves it out."""
    outstanding_principal: Mapped[Decimal] = mapped_column(Money)
    """Balance at month end, store currency, >= 0."""
    dpd: Mapped[int] = mapped_column(Integer)
    """Days past due at month end."""
    credit_score: Mapped[int | None] = mapped_column(Integer)
    collateral_value: Mapped[Decimal | None] = mapped_column(Money)
    """Latest collateral valuation, store currency."""
    status: Mapped[str] = mapped_column(String(16))
    """active, closed or written_off."""
    classification_reported: Mapped[str | None] = mapped_column(String(16))
    """The lender's own five-level class, as reported (English key)."""
    classification: Mapped[str] = mapped_column(String(16))
    """Stored class: the worse of the reported class and the DPD floor."""
    principal_paid: Mapped[Decimal | None] = mapped_column(Money)
    interest_paid: Mapped[Decimal | None] = mapped_column(Money)
    recovered_amount: Mapped[Decimal | None] = mapped_column(Money)
    batch_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_performance_as_of_region", "as_of", "region_code"),
        Index("ix_performance_as_of_product", "as_of", "product"),
    )


class CollectionCase(Base):
    """A collection (催收) case on a delinquent loan."""

    __tablename__ = "collections"
    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    opened_on: Mapped[dt.date] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    stage: Mapped[str | None] = mapped_column(String(16))
    """early, mid, late or legal."""
    agency: Mapped[str | None] = mapped_column(String(128))
    """Collection agency; null is in-house."""
    amount_due: Mapped[Decimal | None] = mapped_column(Money)
    amount_recovered: Mapped[Decimal | None] = mapped_column(Money)
    complaints: Mapped[int | None] = mapped_column(Integer)
    batch_id: Mapped[int | None] = mapped_column(Integer)


class Inspection(Base):
    """A post-loan inspection (贷后检查): first, routine or special."""

    __tablename__ = "inspections"
    inspection_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    due_on: Mapped[dt.date] = mapped_column(Date)
    done_on: Mapped[dt.date | None] = mapped_column(Date)
    result: Mapped[str | None] = mapped_column(String(16))
    """ok or issue."""
    batch_id: Mapped[int | None] = mapped_column(Integer)


class Alert(Base):
    """An early-warning alert raised for a loan at a month."""

    __tablename__ = "alerts"
    alert_id: Mapped[int] = mapped_column(
        Integer, alert_id_seq, server_default=alert_id_seq.next_value(), primary_key=True
    )
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    as_of: Mapped[dt.date] = mapped_column(Date, index=True)
    rule: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))
    """low, medium or high."""
    region_code: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    """The figures that fired the rule, as JSON."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class User(Base):
    """An app user. ``role`` is manager, risk_committee, regional_head or admin."""

    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    all_regions: Mapped[bool] = mapped_column(default=False)
    """True when the user may see every region; else only the rows of ``user_regions``."""


class UserRegion(Base):
    """A region a (regional) user may see."""

    __tablename__ = "user_regions"
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(32), primary_key=True)


class AuditLog(Base):
    """Who did what, when: logins, imports, scenario saves."""

    __tablename__ = "audit_log"
    audit_id: Mapped[int] = mapped_column(
        Integer, audit_id_seq, server_default=audit_id_seq.next_value(), primary_key=True
    )
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime)
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


class StressScenario(Base):
    """A saved stress-test scenario; ``parameters`` holds the shocks as JSON."""

    __tablename__ = "stress_scenarios"
    scenario_id: Mapped[int] = mapped_column(
        Integer, scenario_id_seq, server_default=scenario_id_seq.next_value(), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), unique=True)
    author: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    parameters: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ImportBatch(Base):
    """One import (a load of one or more tables), with its counts."""

    __tablename__ = "import_batches"
    batch_id: Mapped[int] = mapped_column(
        Integer, batch_id_seq, server_default=batch_id_seq.next_value(), primary_key=True
    )
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    username: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(Text)
    """The files loaded, as JSON {table: file name}."""
    region_set: Mapped[str | None] = mapped_column(String(64))
    loans_new: Mapped[int] = mapped_column(Integer, default=0)
    loans_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    performance_rows: Mapped[int] = mapped_column(Integer, default=0)
    performance_replaced: Mapped[int] = mapped_column(Integer, default=0)
    """Rows of months already stored that this import replaced."""
    customers_rows: Mapped[int] = mapped_column(Integer, default=0)
    collections_rows: Mapped[int] = mapped_column(Integer, default=0)
    inspections_rows: Mapped[int] = mapped_column(Integer, default=0)
    months: Mapped[str | None] = mapped_column(Text)
    """Months loaded, as JSON list of YYYY-MM-DD month ends."""
    note: Mapped[str | None] = mapped_column(Text)


class RollSummary(Base):
    """DPD-bucket transitions m-1 → m, pre-aggregated per region, product and segment.

    Kept equal to what ``data.delinquency.transition_sums`` computes from ``performance``
    (one group of its self-join per row) by ``data.summaries``, in the transaction of every
    write of ``performance``; a ``store_settings`` marker says whether it is current.
    """

    __tablename__ = "roll_summary"
    as_of: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    """The to month m (last day); the from month is the month before."""
    region_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    product: Mapped[str] = mapped_column(String(32), primary_key=True)
    segment: Mapped[str] = mapped_column(String(16), primary_key=True)
    from_state: Mapped[str] = mapped_column(String(16), primary_key=True)
    """DPD bucket at m-1 of a loan active at m-1."""
    to_state: Mapped[str] = mapped_column(String(16), primary_key=True)
    """DPD bucket at m if active, else closed / written_off (its status) or missing (no row)."""
    loans: Mapped[int] = mapped_column(Integer)
    """Loans making the move (count)."""
    balance: Mapped[float] = mapped_column(Double)
    """Σ balance at m-1 of those loans, store currency."""
