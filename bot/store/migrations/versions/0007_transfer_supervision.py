"""transfer and supervision: who a conversation was handed from, how and when; a joined supervisor

A transfer to a colleague or back to the queue, and a supervisor's take-over, write the
``transferred_*`` columns; ``queued_at`` and ``taken_at`` keep the first wait. The note written
with a transfer is a transcript line (author ``handover``), encrypted and erased with it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:20:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transferred_at', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('transferred_from', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('transfer_kind', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('transfer_seen', sa.Boolean(), server_default=sa.text('false'), nullable=False))
        batch_op.add_column(sa.Column('supervisor_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('handoffs', schema=None) as batch_op:
        batch_op.drop_column('supervisor_id')
        batch_op.drop_column('transfer_seen')
        batch_op.drop_column('transfer_kind')
        batch_op.drop_column('transferred_from')
        batch_op.drop_column('transferred_at')
