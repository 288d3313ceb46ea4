"""performance.cohort: the loan's disbursement month (its last day), copied onto every row.

Adds ``performance.cohort`` (data/schema.py ``Performance.cohort``), NOT NULL, and fills it
for the stored rows from ``loans.disbursement_date`` in the migration's transaction, so the
vintage curves group the performance rows by cohort without joining the loans.

How, on both back ends: the column is added NOT NULL with a placeholder default
(0001-01-01; DuckDB cannot add a NOT NULL column without a default, nor set NOT NULL in a
transaction that has updated the table), every row is set from its loan (one
``UPDATE … FROM loans``), and the default is dropped, so a write that leaves the column out
fails. A row whose loan is not stored (the importer never writes one) would keep the
placeholder: the upgrade stops instead and says how many. On a large store the backfill
takes a few seconds (1–3 s at a million loans × 36 months): a line on stderr says so.

Revision ID: 0003
Revises: 0002
"""

import sys
import time

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

PLACEHOLDER = "0001-01-01"


def _month_end_sql(conn: sa.Connection, col: str) -> str:
    """SQL for the last day of the month of the DATE ``col``."""
    if conn.dialect.name == "duckdb":
        return f"last_day({col})"
    return f"CAST(date_trunc('month', {col}) + INTERVAL '1 month - 1 day' AS DATE)"


def upgrade() -> None:
    """Add the column and fill it from the loans."""
    conn = op.get_bind()
    op.add_column('performance', sa.Column(
        'cohort', sa.Date(), nullable=False, server_default=sa.text(f"DATE '{PLACEHOLDER}'")))
    stored = conn.execute(sa.text("SELECT 1 FROM performance LIMIT 1")).scalar_one_or_none() is not None
    if stored:
        print("daihou: copying each loan's cohort onto its performance rows (once, for this upgrade)…",
              file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        conn.execute(sa.text(
            f"UPDATE performance SET cohort = {_month_end_sql(conn, 'l.disbursement_date')} "
            "FROM loans l WHERE l.loan_id = performance.loan_id"
        ))
        orphans = conn.execute(
            sa.text(f"SELECT COUNT(*) FROM performance WHERE cohort = DATE '{PLACEHOLDER}'")
        ).scalar_one()
        if orphans:
            raise RuntimeError(
                f"{orphans:,} performance rows have no loan in the loans table, so their cohort is unknown; "
                "the store was left as it was. Load those loans (or delete the rows) and start again."
            )
        print(f"daihou: cohorts copied in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    op.alter_column('performance', 'cohort', server_default=None)


def downgrade() -> None:
    op.drop_column('performance', 'cohort')
