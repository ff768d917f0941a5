"""person messages: what the person typed to the bot before asking for a person, sealed, bounded

``person_messages`` holds at most 30 sealed messages per conversation (a ring: ``slot``), erased
with the session's expiry, a handoff's close and "forget me"; ``conversations.said_count``
numbers them.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01 17:40:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('said_count', sa.Integer(), server_default=sa.text('0'), nullable=False))
    op.create_table('person_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.String(length=32), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('body_enc', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_messages')),
    sa.UniqueConstraint('conversation_id', 'slot', name=op.f('uq_person_messages_conversation_id_slot'))
    )


def downgrade() -> None:
    op.drop_table('person_messages')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('said_count')
