"""audit_log: one hash-chained row per event-level read, export, key and threshold change

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.String(length=20), nullable=False),
        sa.Column("program_id", sa.Integer(), sa.ForeignKey("programs.id"), nullable=True),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_program", "audit_log", ["program_id", "id"])
    # The head of the hash chain; appending locks this row first, so writers queue.
    op.execute("INSERT INTO meta (key, value) VALUES ('audit_head', '" + "0" * 64 + "')")


def downgrade() -> None:
    op.execute("DELETE FROM meta WHERE key = 'audit_head'")
    op.drop_index("ix_audit_program", table_name="audit_log")
    op.drop_table("audit_log")
