"""The initial store: every table of data/schema.py.

Revision ID: 0001
Revises: 
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


SEQUENCES = ("alert_id_seq", "audit_id_seq", "batch_id_seq", "scenario_id_seq")


def upgrade() -> None:
    """Create the whole store."""
    for name in SEQUENCES:
        op.execute(sa.schema.CreateSequence(sa.Sequence(name)))
    op.create_table('alerts',
    sa.Column('alert_id', sa.Integer(), server_default=sa.text("nextval('alert_id_seq')"), nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('region_code', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('alert_id', name=op.f('pk_alerts'))
    )
    op.create_index(op.f('ix_alerts_as_of'), 'alerts', ['as_of'], unique=False)
    op.create_index(op.f('ix_alerts_loan_id'), 'alerts', ['loan_id'], unique=False)
    op.create_table('audit_log',
    sa.Column('audit_id', sa.Integer(), server_default=sa.text("nextval('audit_id_seq')"), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('audit_id', name=op.f('pk_audit_log'))
    )
    op.create_table('collections',
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=True),
    sa.Column('agency', sa.String(length=128), nullable=True),
    sa.Column('amount_due', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('amount_recovered', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('complaints', sa.Integer(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('case_id', name=op.f('pk_collections'))
    )
    op.create_index(op.f('ix_collections_loan_id'), 'collections', ['loan_id'], unique=False)
    op.create_table('customers',
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('name_enc', sa.Text(), nullable=True),
    sa.Column('id_number_enc', sa.Text(), nullable=True),
    sa.Column('phone_enc', sa.Text(), nullable=True),
    sa.Column('segment', sa.String(length=16), nullable=True),
    sa.Column('industry', sa.String(length=64), nullable=True),
    sa.Column('annual_income', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('debt_ratio', sa.Double(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customers'))
    )
    op.create_table('import_batches',
    sa.Column('batch_id', sa.Integer(), server_default=sa.text("nextval('batch_id_seq')"), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('region_set', sa.String(length=64), nullable=True),
    sa.Column('loans_new', sa.Integer(), nullable=False),
    sa.Column('loans_unchanged', sa.Integer(), nullable=False),
    sa.Column('performance_rows', sa.Integer(), nullable=False),
    sa.Column('performance_replaced', sa.Integer(), nullable=False),
    sa.Column('customers_rows', sa.Integer(), nullable=False),
    sa.Column('collections_rows', sa.Integer(), nullable=False),
    sa.Column('inspections_rows', sa.Integer(), nullable=False),
    sa.Column('months', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('batch_id', name=op.f('pk_import_batches'))
    )
    op.create_table('inspections',
    sa.Column('inspection_id', sa.String(length=64), nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('done_on', sa.Date(), nullable=True),
    sa.Column('result', sa.String(length=16), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('inspection_id', name=op.f('pk_inspections'))
    )
    op.create_index(op.f('ix_inspections_loan_id'), 'inspections', ['loan_id'], unique=False)
    op.create_table('loans',
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('region_code', sa.String(length=32), nullable=False),
    sa.Column('branch_id', sa.String(length=64), nullable=True),
    sa.Column('product', sa.String(length=32), nullable=False),
    sa.Column('segment', sa.String(length=16), nullable=False),
    sa.Column('disbursement_date', sa.Date(), nullable=False),
    sa.Column('maturity_date', sa.Date(), nullable=False),
    sa.Column('principal', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('interest_rate', sa.Double(), nullable=False),
    sa.Column('origination_score', sa.Integer(), nullable=True),
    sa.Column('collateral_type', sa.String(length=32), nullable=True),
    sa.Column('collateral_value', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('purpose', sa.String(length=128), nullable=True),
    sa.Column('industry', sa.String(length=64), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('loan_id', name=op.f('pk_loans'))
    )
    op.create_index(op.f('ix_loans_customer_id'), 'loans', ['customer_id'], unique=False)
    op.create_index(op.f('ix_loans_disbursement_date'), 'loans', ['disbursement_date'], unique=False)
    op.create_index(op.f('ix_loans_region_code'), 'loans', ['region_code'], unique=False)
    op.create_table('performance',
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('region_code', sa.String(length=32), nullable=False),
    sa.Column('branch_id', sa.String(length=64), nullable=True),
    sa.Column('product', sa.String(length=32), nullable=False),
    sa.Column('segment', sa.String(length=16), nullable=False),
    sa.Column('outstanding_principal', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('credit_score', sa.Integer(), nullable=True),
    sa.Column('collateral_value', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('classification_reported', sa.String(length=16), nullable=True),
    sa.Column('classification', sa.String(length=16), nullable=False),
    sa.Column('principal_paid', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('interest_paid', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('recovered_amount', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('loan_id', 'as_of', name=op.f('pk_performance'))
    )
    if op.get_bind().dialect.name != "duckdb":
        # DuckDB aggregates by scanning with zone maps; a secondary ART index would only slow
        # the loading of tens of millions of rows. PostgreSQL needs them for monthly reads.
        op.create_index('ix_performance_as_of_product', 'performance', ['as_of', 'product'], unique=False)
        op.create_index('ix_performance_as_of_region', 'performance', ['as_of', 'region_code'], unique=False)
    op.create_table('regions',
    sa.Column('region_code', sa.String(length=32), nullable=False),
    sa.Column('region_set', sa.String(length=64), nullable=False),
    sa.Column('name_zh', sa.String(length=128), nullable=False),
    sa.Column('short_zh', sa.String(length=64), nullable=False),
    sa.Column('name_en', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('region_code', name=op.f('pk_regions'))
    )
    op.create_table('store_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_store_settings'))
    )
    op.create_table('stress_scenarios',
    sa.Column('scenario_id', sa.Integer(), server_default=sa.text("nextval('scenario_id_seq')"), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('parameters', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('scenario_id', name=op.f('pk_stress_scenarios')),
    sa.UniqueConstraint('name', name=op.f('uq_stress_scenarios_name'))
    )
    op.create_table('users',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('all_regions', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_users'))
    )
    op.create_table('branches',
    sa.Column('branch_id', sa.String(length=64), nullable=False),
    sa.Column('region_code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['region_code'], ['regions.region_code'], name=op.f('fk_branches_region_code_regions')),
    sa.PrimaryKeyConstraint('branch_id', name=op.f('pk_branches'))
    )
    op.create_table('user_regions',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('region_code', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['username'], ['users.username'], name=op.f('fk_user_regions_username_users')),
    sa.PrimaryKeyConstraint('username', 'region_code', name=op.f('pk_user_regions'))
    )


def downgrade() -> None:
    op.drop_table('user_regions')
    op.drop_table('branches')
    op.drop_table('users')
    op.drop_table('stress_scenarios')
    op.drop_table('store_settings')
    op.drop_table('regions')
    if op.get_bind().dialect.name != "duckdb":
        op.drop_index('ix_performance_as_of_region', table_name='performance')
        op.drop_index('ix_performance_as_of_product', table_name='performance')
    op.drop_table('performance')
    op.drop_index(op.f('ix_loans_region_code'), table_name='loans')
    op.drop_index(op.f('ix_loans_disbursement_date'), table_name='loans')
    op.drop_index(op.f('ix_loans_customer_id'), table_name='loans')
    op.drop_table('loans')
    op.drop_index(op.f('ix_inspections_loan_id'), table_name='inspections')
    op.drop_table('inspections')
    op.drop_table('import_batches')
    op.drop_table('customers')
    op.drop_index(op.f('ix_collections_loan_id'), table_name='collections')
    op.drop_table('collections')
    op.drop_table('audit_log')
    op.drop_index(op.f('ix_alerts_loan_id'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_as_of'), table_name='alerts')
    op.drop_table('alerts')
    for name in SEQUENCES:
        op.execute(sa.schema.DropSequence(sa.Sequence(name)))
