"""programs: each program's own geography (area, projected CRS, time zone, grid)

Existing programs keep NULL: the migration cannot read the deployment's settings, so NULL
means "the deployment's defaults", resolved when the program is read. The grid record in
``meta`` (checked at every start) keeps those defaults from changing under stored events.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = (
    ("area", sa.Text()),
    ("projected_crs", sa.String(length=32)),
    ("timezone", sa.String(length=64)),
    ("grid_origin_x_m", sa.Float()),
    ("grid_origin_y_m", sa.Float()),
    ("grid_base_cell_m", sa.Integer()),
    ("cell_m", sa.Text()),
    ("bucket_hours", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
        batch.add_column(
            sa.Column("geography_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        batch.drop_column("geography_version")
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
