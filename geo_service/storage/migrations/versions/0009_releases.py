"""frozen releases, late events, and the steward's grace window and cell rule

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("programs.id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("made_on", sa.String(length=10), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.UniqueConstraint("program_id", "kind", "period", name="uq_releases_period"),
    )
    with op.batch_alter_table("events") as table:
        # Stored after its period was released: managers see it, no release ever will.
        table.add_column(sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("programs") as table:
        table.add_column(sa.Column("grace_days", sa.Integer(), nullable=True))
        table.add_column(sa.Column("drop_top_keys", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("programs") as table:
        table.drop_column("drop_top_keys")
        table.drop_column("grace_days")
    with op.batch_alter_table("events") as table:
        table.drop_column("late")
    op.drop_table("releases")
