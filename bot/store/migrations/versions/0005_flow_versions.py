"""flow versions: drafts and published versions of the flow, resources and locales

On an empty table the running bot stores the repository's files as the first published version
(``bot.flowversions.ensure_seeded``), so nothing is copied here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 14:30:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'flow_versions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('flow_file', sa.String(length=120), nullable=False),
        sa.Column('flow_yaml', sa.Text(), nullable=False),
        sa.Column('resources_yaml', sa.Text(), nullable=False),
        sa.Column('locales_json', sa.Text(), nullable=False),
        sa.Column('author', sa.String(length=80), nullable=False),
        sa.Column('created_at', sa.Double(), nullable=False),
        sa.Column('published_at', sa.Double(), nullable=True),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['parent_id'], ['flow_versions.id'],
                                name=op.f('fk_flow_versions_parent_id_flow_versions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_flow_versions')),
    )
    with op.batch_alter_table('flow_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flow_versions_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_flow_versions_published_at'), ['published_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('flow_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flow_versions_published_at'))
        batch_op.drop_index(batch_op.f('ix_flow_versions_status'))
    op.drop_table('flow_versions')
