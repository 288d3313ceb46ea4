"""The roll summary: DPD-bucket transitions m-1 → m pre-aggregated per region, product, segment.

Creates ``roll_summary`` (data/schema.py ``RollSummary``) and builds it from the stored
performance rows (``data.summaries.refresh_roll_summary``), in the migration's transaction,
with its freshness marker in ``store_settings``. On a large store the build takes a while
(seconds at a million loans × 36 months): a line on stderr says so.

Revision ID: 0002
Revises: 0001
"""

import sys
import time

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the table and build it from the stored performance rows."""
    op.create_table('roll_summary',
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('region_code', sa.String(length=32), nullable=False),
    sa.Column('product', sa.String(length=32), nullable=False),
    sa.Column('segment', sa.String(length=16), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=False),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('loans', sa.Integer(), nullable=False),
    sa.Column('balance', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('as_of', 'region_code', 'product', 'segment', 'from_state', 'to_state', name=op.f('pk_roll_summary'))
    )
    from data.summaries import refresh_roll_summary

    conn = op.get_bind()
    stored = conn.execute(sa.text("SELECT 1 FROM performance LIMIT 1")).scalar_one_or_none() is not None
    if stored:
        print("daihou: building the roll-rate summary from the stored performance rows (once, for this upgrade)…",
              file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    refresh_roll_summary(conn)  # an empty store: an empty summary, marked current
    if stored:
        print(f"daihou: roll-rate summary built in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM store_settings WHERE key = 'roll_summary'"))
    op.drop_table('roll_summary')
