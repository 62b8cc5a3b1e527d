"""shared limits: request counts and failed invite codes in the database

Issue 20: N workers on M hosts give the same answers, so the rate limits and the sign-in
limiter live in the database every worker shares, not in each worker's memory.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_counts",
        sa.Column("identity", sa.String(length=40), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("identity", "window"),
    )
    op.create_table(
        "join_failures",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
        ),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("address", sa.String(length=40), nullable=False),
    )
    op.create_index("ix_join_failures_at", "join_failures", ["at"])


def downgrade() -> None:
    op.drop_index("ix_join_failures_at", table_name="join_failures")
    op.drop_table("join_failures")
    op.drop_table("rate_counts")
