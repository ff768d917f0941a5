"""counsellor roles: counsellor, supervisor, editor, admin

Every account existing before this revision keeps the role it had in effect: counsellor.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 13:15:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('counsellors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=20), nullable=False, server_default='counsellor'))


def downgrade() -> None:
    with op.batch_alter_table('counsellors', schema=None) as batch_op:
        batch_op.drop_column('role')
