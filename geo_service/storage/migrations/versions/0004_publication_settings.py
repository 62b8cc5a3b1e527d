"""programs: the steward's publication thresholds and bucket (raised, never below defaults)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        # NULL: the deployment's default (which is also the floor).
        batch.add_column(sa.Column("k_peer", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("k_planner", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("k_public", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("public_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("bucket", sa.String(length=8), nullable=False, server_default="month")
        )


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch:
        for name in ("bucket", "public_enabled", "k_public", "k_planner", "k_peer"):
            batch.drop_column(name)
