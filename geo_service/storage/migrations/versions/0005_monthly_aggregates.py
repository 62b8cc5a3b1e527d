"""monthly_aggregates: what retention keeps of events older than the retention period

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monthly_aggregates",
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("programs.id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("cell_m", sa.Integer(), nullable=False),
        sa.Column("cell_ix", sa.BigInteger(), nullable=False),
        sa.Column("cell_iy", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("program_id", "kind", "month", "cell_m", "cell_ix", "cell_iy"),
    )


def downgrade() -> None:
    op.drop_table("monthly_aggregates")
