"""cell months: per cell and local month aggregates kept at ingest

Issue 20: a city's million events are read as a few thousand rows per month. The table is
filled in each batch's own transaction; rows stored before this revision are summed into
it by the store when it opens, so the aggregates hold every event from the start.

On PostgreSQL with PostGIS, filling the ``cell`` geometry and its GiST index is the store's
job (it knows each program's grid); this revision only creates the table.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cell_months",
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("programs.id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cell_m", sa.Integer(), nullable=False),
        sa.Column("cell_ix", sa.BigInteger(), nullable=False),
        sa.Column("cell_iy", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("first_start", sa.BigInteger(), nullable=False),
        sa.Column("last_end", sa.BigInteger(), nullable=False),
        # Month before cell: a window's whole months are one range of the key.
        sa.PrimaryKeyConstraint("program_id", "kind", "month", "cell_m", "cell_ix", "cell_iy"),
    )


def downgrade() -> None:
    op.drop_table("cell_months")
