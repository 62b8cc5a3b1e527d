"""Table definitions. Events hold grid cells and time buckets only, never coordinates."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

programs = Table(
    "programs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("created_on", String(10), nullable=False),
    # Bumped in the same transaction as every change to the program's events, so any worker
    # can tell whether an analysis it cached is still current.
    Column("data_version", Integer, nullable=False, server_default="0"),
    # Publication settings the steward may raise (NULL: the deployment default, the floor).
    Column("k_peer", Integer, nullable=True),
    Column("k_planner", Integer, nullable=True),
    Column("k_public", Integer, nullable=True),
    Column("public_enabled", Boolean, nullable=False, server_default=false()),
    Column("bucket", String(8), nullable=False, server_default="month"),
    # Days after a period ends before it is released (NULL: 7); may be lengthened only.
    Column("grace_days", Integer, nullable=True),
    # Reporting keys removed before a cell is checked against k (NULL: 1; a steward may ask 2).
    Column("drop_top_keys", Integer, nullable=True),
    # The program's geography (DESIGN: one deployment, many communities). NULL everywhere:
    # a program from before revision 0011, placed with the deployment's defaults, which the
    # frozen grid record in ``meta`` keeps from changing under its events.
    Column("area", Text, nullable=True),  # GeoJSON polygon or multipolygon, WGS 84
    Column("projected_crs", String(32), nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("grid_origin_x_m", Float, nullable=True),
    Column("grid_origin_y_m", Float, nullable=True),
    Column("grid_base_cell_m", Integer, nullable=True),
    Column("cell_m", Text, nullable=True),  # JSON: event kind -> cell size in metres
    Column("bucket_hours", Text, nullable=True),  # JSON: event kind -> hours per bucket
    # Bumped with every change of the geography, so workers rebuild their cached deployment.
    Column("geography_version", Integer, nullable=False, server_default="0"),
    # The phone number a drug-alert poster gives; the steward's to set (NULL: none).
    Column("alert_phone", String(32), nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("label", String(100), nullable=True),
    Column("created_on", String(10), nullable=False),
    Column("revoked_on", String(10), nullable=True),
)

batches = Table(
    "ingest_batches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("key_id", ForeignKey("api_keys.id"), nullable=True),
    Column("target", String(16), nullable=False),
    # HMAC of the sending key's id, the target and the client's Idempotency-Key: a guessed
    # or time-based key of another peer can be neither confirmed nor replayed.
    Column("idempotency_key", String(200), nullable=True),
    Column("fingerprint", String(64), nullable=False),
    # A day, not a moment: the arrival time of a live overdose report would undo the 6-hour blur.
    Column("received_on", String(10), nullable=False),
    Column("response", Text, nullable=False),
    UniqueConstraint(
        "program_id", "key_id", "idempotency_key", name="uq_batches_idempotency_per_key"
    ),
)

events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("batch_id", ForeignKey("ingest_batches.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("cell_m", Integer, nullable=False),
    Column("cell_ix", BigInteger, nullable=False),
    Column("cell_iy", BigInteger, nullable=False),
    Column("bucket_start", BigInteger, nullable=False),  # UTC epoch seconds
    Column("bucket_hours", SmallInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("source", String(16), nullable=True),
    Column("fatal", Boolean, nullable=True),
    Column("naloxone_doses", SmallInteger, nullable=True),
    Column("place_type", String(16), nullable=True),
    # Stored after its period was released: managers see it, no release ever will.
    Column("late", Boolean, nullable=False, server_default=false()),
    Column("naloxone_given", Boolean, nullable=True),  # overdoses only
    # 'hour': the bucket holds the time of day; 'day': a date only, the whole local day
    Column("time_precision", String(4), nullable=False, server_default="hour"),
    # Phone reports (POST /v1/reports) only; NULL: not recorded.
    Column("picked_up", Boolean, nullable=True),  # needles: picked up by the reporter
    Column("minutes", SmallInteger, nullable=True),  # clean-ups: how long it took
    Column("outcome", String(8), nullable=True),  # overdoses: ok, hospital, died
    Column("supplies", String(48), nullable=True),  # supplies_needed: kinds, comma-separated
    Index("ix_events_program_kind_time", "program_id", "kind", "bucket_start"),
)

sites = Table(
    "sites",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("batch_id", ForeignKey("ingest_batches.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("site_type", String(32), nullable=False),
    Column("services", String(200), nullable=False),  # space-separated service names
    Column("opening_hours", String(500), nullable=True),
    Column("address", String(200), nullable=True),
    # Service sites are public places, stored exactly (DESIGN.md §3).
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
)

context_features = Table(
    "context_features",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("layer", String(16), nullable=False),  # candidate | exclusion
    Column("feature_type", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("notes", String(500), nullable=True),
    Column("buffer_m", Float, nullable=True),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("geometry", Text, nullable=True),  # GeoJSON of a polygon exclusion
    Column("batch_id", String(64), nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", String(20), nullable=False),  # UTC, seconds: YYYY-MM-DDTHH:MM:SSZ
    Column("program_id", ForeignKey("programs.id"), nullable=True),
    Column("key_id", Integer, nullable=True),  # no foreign key: rows outlive deleted keys
    Column("actor", String(32), nullable=False),  # "key 12 (steward)" or "cli"
    Column("action", String(32), nullable=False),
    Column("detail", Text, nullable=False),  # JSON: counts and names, never coordinates
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_program", "program_id", "id"),
)

# A period's published cells, made once after the period ends plus a grace window and never
# recomputed: every number below manager level comes from one of these (DESIGN §4.4).
releases = Table(
    "releases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("period", String(7), nullable=False),  # 2025-05 or 2025-Q2
    Column("made_on", String(10), nullable=False),
    Column("rule", Text, nullable=False),  # JSON: k, keys removed, grace, cell size
    Column("body", Text, nullable=False),  # JSON: the released cells and totals
    Column("content_hash", String(64), nullable=False),  # sha256 of rule + body
    UniqueConstraint("program_id", "kind", "period", name="uq_releases_period"),
)

monthly_aggregates = Table(
    "monthly_aggregates",
    metadata,
    Column("program_id", ForeignKey("programs.id"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("month", String(7), primary_key=True),  # local calendar month, YYYY-MM
    Column("cell_m", Integer, primary_key=True),
    Column("cell_ix", BigInteger, primary_key=True),
    Column("cell_iy", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # the cookie's token is never stored
    Column("key_id", ForeignKey("api_keys.id"), nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # UTC epoch seconds
)

# One-time invites: a keyed hash of the 8-character code, never the code itself.
invites = Table(
    "invites",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("session_days", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),  # UTC epoch seconds
    Column("expires_at", BigInteger, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("label", String(100), nullable=True),
    Column("used_at", BigInteger, nullable=True),
    Column("used_key_id", ForeignKey("api_keys.id"), nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)

# The walking network is public OpenStreetMap data, so its nodes are stored exactly.
walking_networks = Table(
    "walking_networks",
    metadata,
    Column("program_id", ForeignKey("programs.id"), primary_key=True),
    Column("version", Integer, nullable=False),  # bumped by every import
    Column("source", String(200), nullable=False),  # the file's name, no directories
    Column("imported_on", String(10), nullable=False),
    Column("nodes", Integer, nullable=False),
    Column("edges", Integer, nullable=False),
    Column("length_km", Float, nullable=False),
    Column("area_share", Float, nullable=False),  # share of the service area it reaches
)

network_nodes = Table(
    "network_nodes",
    metadata,
    Column("program_id", ForeignKey("programs.id"), primary_key=True),
    Column("node", Integer, primary_key=True),  # 0..n-1 within the program's network
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
)

network_edges = Table(
    "network_edges",
    metadata,
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("u", Integer, nullable=False),
    Column("v", Integer, nullable=False),
    Column("length_m", Float, nullable=False),
    Index("ix_network_edges_program", "program_id"),
)


# Issue 19. Counts per program, kind, area and local day, kept in the same transaction as the
# events they count. ``area``: "all" (the program), "cell:<m>:<ix>:<iy>" (a coarse cell of at
# least 1 km²) or "area:<id>" (a named area).
daily_counts = Table(
    "daily_counts",
    metadata,
    Column("program_id", ForeignKey("programs.id"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("area", String(48), primary_key=True),
    Column("day", String(10), primary_key=True),  # local date, YYYY-MM-DD
    Column("events", Integer, nullable=False),  # reports (rows)
    Column("amount", Integer, nullable=False),  # their counts (needles; 1 per overdose)
    Column("naloxone", Integer, nullable=False),  # naloxone doses named
)

# Areas a steward draws or imports for alerts, so a warning can name a place in words.
alert_areas = Table(
    "alert_areas",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("geometry", Text, nullable=False),  # GeoJSON polygon or multipolygon, WGS 84
    Column("created_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
)

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("method", String(16), nullable=False),  # count | naloxone | ears_c1..c3 | ewma
    Column("window_hours", SmallInteger, nullable=False),
    Column("threshold", Integer, nullable=False),  # N (fixed rules); the minimum count (others)
    Column("areas", String(16), nullable=False),  # program | cells | named | all
    Column("auto_send", Boolean, nullable=False),
    Column("options", Text, nullable=False),  # JSON: the method's own settings
    Column("created_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger, nullable=True),  # kept: sent alerts still name it
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("rule_id", ForeignKey("alert_rules.id"), nullable=False),
    # What every answer, link and poster calls the alert: random, so its ids cannot be
    # counted (a gap between two would show a draft nobody sent, or another program's alert).
    Column("ref", String(24), nullable=False, unique=True),
    Column("area", String(48), nullable=False),
    Column("area_name", String(200), nullable=False),  # the area in words
    Column("day", String(10), nullable=False),  # the local day the window ends on
    Column("window_start", BigInteger, nullable=False),  # UTC epoch seconds
    Column("window_end", BigInteger, nullable=False),
    Column("observed", Integer, nullable=False),
    Column("expected", Float, nullable=True),
    Column("statistic", Float, nullable=True),
    Column("level", SmallInteger, nullable=False),  # 1 yellow, 2 red (EWMA); 2 otherwise
    # Reports left after removing the largest reporting key(s): shown below manager level
    # only if at least k (the release rule); NULL: never shown.
    Column("releasable", Integer, nullable=True),
    Column("status", String(12), nullable=False),  # drafted | sent | dismissed
    Column("drafted_at", BigInteger, nullable=False),
    Column("decided_at", BigInteger, nullable=True),
    Column("decided_by", Integer, nullable=True),  # key id; NULL: automatic or the CLI
    Column("poster_public", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("program_id", "rule_id", "area", "day", name="uq_alerts_rule_day"),
    Index("ix_alerts_program_status", "program_id", "status", "id"),
)

# Where sent alerts go: a webhook (signed with its secret) or an email address, each with the
# audience whose view it receives.
alert_subscribers = Table(
    "alert_subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("channel", String(8), nullable=False),  # webhook | email
    Column("target", String(500), nullable=False),
    Column("audience", String(16), nullable=False),  # a role: peer, planner, manager
    Column("secret", String(128), nullable=True),  # the webhook's HMAC key
    Column("created_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", ForeignKey("alerts.id"), nullable=False),
    Column("subscriber_id", ForeignKey("alert_subscribers.id"), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("detail", String(200), nullable=False),  # a status, never the target or body
)

# Several workers on several hosts share one set of limits (issue 20): requests counted per
# client (a digest of the key, or of the address) in fixed one-minute windows.
rate_counts = Table(
    "rate_counts",
    metadata,
    # "k:<digest>" or "a:<digest>"; "v:<digest>" (hits 0) marks a key that proved valid
    Column("identity", String(40), primary_key=True),
    Column("window", BigInteger, primary_key=True),  # epoch minute
    Column("hits", Integer, nullable=False),
)

# Failed invite codes, per address digest, for the sign-in limiter every worker shares.
join_failures = Table(
    "join_failures",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", Float, nullable=False),  # epoch seconds
    Column("address", String(40), nullable=False),  # a digest, never the address
    Index("ix_join_failures_at", "at"),
)

# Per cell and local month, kept in the batch's own transaction (issue 20), so hot spots,
# trends and coverage over whole months read these rows instead of every event. On
# PostgreSQL with PostGIS the table also carries each cell's square (column ``cell``, in the
# program's projected CRS, with a GiST index), added by migration 0017 outside this schema.
cell_months = Table(
    "cell_months",
    metadata,
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("cell_m", Integer, nullable=False),
    Column("cell_ix", BigInteger, nullable=False),
    Column("cell_iy", BigInteger, nullable=False),
    Column("month", Integer, nullable=False),  # local month: year * 12 + month - 1
    Column("events", Integer, nullable=False),  # rows
    Column("amount", BigInteger, nullable=False),  # their counts (needles; 1 per overdose)
    Column("first_start", BigInteger, nullable=False),  # earliest bucket start, epoch s
    Column("last_end", BigInteger, nullable=False),  # latest bucket end, epoch s
    # Month before cell: a window's whole months are one range of the key.
    PrimaryKeyConstraint("program_id", "kind", "month", "cell_m", "cell_ix", "cell_iy"),
)

# A peer's page by what it is made of (frozen releases, settings, language), shared by every
# worker and host; its key is a digest of those parts and never of the data version.
stored_pages = Table(
    "stored_pages",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 hex of the page's key parts
    Column("program_id", ForeignKey("programs.id"), nullable=False),
    Column("body", LargeBinary, nullable=False),  # the page as built, before its form token
    Column("made_at", BigInteger, nullable=False),  # epoch s
    Index("ix_stored_pages_program_made", "program_id", "made_at"),
)
