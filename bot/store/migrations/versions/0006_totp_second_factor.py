"""second factor: a sealed TOTP secret per counsellor, the last step used, recovery codes

Existing accounts have no second factor until enrolled (``python -m bot counsellor totp NAME``
or the console's page); in production the console lets them in only to enrol.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:30:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('counsellors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret_enc', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))
    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('counsellor_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('used_at', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['counsellor_id'], ['counsellors.id'],
                            name=op.f('fk_recovery_codes_counsellor_id_counsellors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_counsellor_id'), ['counsellor_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_counsellor_id'))
    op.drop_table('recovery_codes')
    with op.batch_alter_table('counsellors', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_secret_enc')
