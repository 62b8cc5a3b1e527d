"""idempotency keys scoped to the sending key and stored as a keyed hash

Revision ID: 0010
Revises: 0009
"""

import hashlib
import hmac
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Must match geo_service.storage.sql.SECRET_META_KEY and geo_service.ingest.batches.idempotency_digest.
SECRET_META_KEY = "server_secret"


def _secret(conn: sa.Connection) -> str:
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    found = conn.execute(sa.select(meta.c.value).where(meta.c.key == SECRET_META_KEY)).scalar()
    if found is None:
        found = secrets.token_hex(32)
        conn.execute(sa.insert(meta).values(key=SECRET_META_KEY, value=found))
    return str(found)


def _hash_stored_keys(conn: sa.Connection) -> None:
    """Rows written before this revision held the client's key verbatim."""
    table = sa.table(
        "ingest_batches",
        sa.column("id", sa.String),
        sa.column("key_id", sa.Integer),
        sa.column("target", sa.String),
        sa.column("idempotency_key", sa.String),
    )
    rows = conn.execute(
        sa.select(table.c.id, table.c.key_id, table.c.target, table.c.idempotency_key).where(
            table.c.idempotency_key.is_not(None)
        )
    ).all()
    if not rows:
        return
    secret = _secret(conn).encode()
    for batch_id, key_id, target, value in rows:
        message = f"{key_id}\x00{target}\x00{value}".encode()
        digest = hmac.new(secret, message, hashlib.sha256).hexdigest()
        conn.execute(
            sa.update(table).where(table.c.id == batch_id).values(idempotency_key=digest)
        )


def upgrade() -> None:
    with op.batch_alter_table("ingest_batches") as table:
        table.drop_constraint("uq_batches_idempotency", type_="unique")
        table.create_unique_constraint(
            "uq_batches_idempotency_per_key", ["program_id", "key_id", "idempotency_key"]
        )
    _hash_stored_keys(op.get_bind())


def downgrade() -> None:
    # The digests cannot be turned back into keys; old batches just stop replaying.
    with op.batch_alter_table("ingest_batches") as table:
        table.drop_constraint("uq_batches_idempotency_per_key", type_="unique")
        table.create_unique_constraint("uq_batches_idempotency", ["program_id", "idempotency_key"])
