"""events: the phone report's details (picked_up, minutes, outcome, supplies)

``POST /v1/reports`` takes a few answers the CSV and GeoJSON inputs never had: whether the
needles were picked up, how long a clean-up took, how an overdose ended (ok, hospital, died)
and which supplies a place needs (a new kind, ``supplies_needed``; the kind column is free
text, so no change there). Each is NULL where not recorded, so existing rows are unchanged.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("picked_up", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("minutes", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("supplies", sa.String(length=48), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("supplies")
        batch.drop_column("outcome")
        batch.drop_column("minutes")
        batch.drop_column("picked_up")
