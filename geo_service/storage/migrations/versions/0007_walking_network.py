"""walking networks: one per program, imported from an OpenStreetMap extract

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "walking_networks",
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("programs.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("imported_on", sa.String(length=10), nullable=False),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("edges", sa.Integer(), nullable=False),
        sa.Column("length_km", sa.Float(), nullable=False),
        sa.Column("area_share", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("program_id"),
    )
    op.create_table(
        "network_nodes",
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("programs.id"), nullable=False),
        sa.Column("node", sa.Integer(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("program_id", "node"),
    )
    op.create_table(
        "network_edges",
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("programs.id"), nullable=False),
        sa.Column("u", sa.Integer(), nullable=False),
        sa.Column("v", sa.Integer(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
    )
    op.create_index("ix_network_edges_program", "network_edges", ["program_id"])


def downgrade() -> None:
    op.drop_index("ix_network_edges_program", table_name="network_edges")
    op.drop_table("network_edges")
    op.drop_table("network_nodes")
    op.drop_table("walking_networks")
