"""events: time_precision ('hour' or 'day') and naloxone_given

A date without a time of day is stored as the whole local day with precision 'day', so
hour-of-week tables can leave it out instead of counting it at midnight. Existing rows keep
'hour' (every earlier import required a time of day). ``naloxone_given`` is the yes/no many
EMS files hold beside (or instead of) a number of doses; NULL: not recorded.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("naloxone_given", sa.Boolean(), nullable=True))
        batch.add_column(
            sa.Column(
                "time_precision", sa.String(length=4), nullable=False, server_default="hour"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("time_precision")
        batch.drop_column("naloxone_given")
