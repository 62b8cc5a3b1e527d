"""page store: peers' pages by what they are made of

Issue 20: a peer's hot-spot page is a function of frozen releases and the page's own
settings, so it is kept once in the database (keyed by a digest of those parts) and every
worker on every host serves it; its key never holds the data version.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_pages",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("programs.id"), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("made_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_stored_pages_program_made", "stored_pages", ["program_id", "made_at"])


def downgrade() -> None:
    op.drop_index("ix_stored_pages_program_made", table_name="stored_pages")
    op.drop_table("stored_pages")
