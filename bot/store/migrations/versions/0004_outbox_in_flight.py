"""outbox.in_flight: an attempt whose outcome is unknown may have reached the platform

Set when a row is leased for delivery (before the platform is called) and kept when the attempt
ends without a known outcome (a timeout, a 5xx, the sender dying): the next attempt then knows
that LINE may already have used the reply token (bot/sender.py). Existing rows: 0.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 14:10:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('in_flight', sa.Integer(), nullable=False, server_default=sa.text('0')))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('in_flight')
