"""context layers: polygon exclusions and the batch each feature came in

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("context_features") as table:
        # GeoJSON of a polygon exclusion (lon/lat keep a point inside it); NULL for points.
        table.add_column(sa.Column("geometry", sa.Text(), nullable=True))
        table.add_column(sa.Column("batch_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("context_features") as table:
        table.drop_column("batch_id")
        table.drop_column("geometry")
