"""The release path as it was before issue 20 made it faster: the oracle the new path must
match byte for byte (tests/geo_service/test_release_oracle.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa

from analysis.publication import Atoms, Feature
from geo_service.deployment import Deployment
from geo_service.services.releases import making
from geo_service.storage.records import EventAtoms
from geo_service.storage.schema import batches, events
from geo_service.storage.sql.engine import compiled


def old_event_atoms(
    store: Any, program_id: int, kind: str, *, start: int | None, end: int | None
) -> list[EventAtoms]:
    """A period's reports with their reporting key, late rows left out; rows imported
    without a key each count as their own reporter (they come from many reports)."""
    c = events.c
    where = [c.program_id == program_id, c.kind == kind, c.late == sa.false()]
    if start is not None:
        where.append(c.bucket_start >= start)
    if end is not None:
        where.append(c.bucket_start < end)
    # Plain rows (the caller groups them in numpy, faster than SQLite's GROUP BY), with the
    # submitting key looked up per batch rather than joined per event.
    select = sa.select(
        c.cell_m,
        c.cell_ix,
        c.cell_iy,
        c.bucket_start,
        c.id,
        c.count,
        c.bucket_hours,
        c.batch_id,
        sa.case((c.time_precision == "day", 1), else_=0),
    ).where(*where)
    with store.engine.connect() as conn:
        keys = dict(
            conn.execute(
                sa.select(batches.c.id, batches.c.key_id).where(batches.c.program_id == program_id)
            ).all()
        )
        result = conn.exec_driver_sql(*compiled(select, conn))
        rows = result.fetchall()
    if not rows:
        return []
    batch_ids = [row[7] for row in rows]
    key_of_batch = np.array([keys.get(b) or 0 for b in batch_ids], dtype=np.int64)
    table = np.array([row[:7] for row in rows], dtype=np.int64)
    day_only = np.array([row[8] == 1 for row in rows], dtype=bool)
    row_id = table[:, 4].copy()
    # A key-less (imported) row counts as its own reporter: a unique negative id.
    table[:, 4] = np.where(key_of_batch > 0, key_of_batch, -table[:, 4])
    out = []
    for size in np.unique(table[:, 0]):
        pick = table[:, 0] == size
        p = table[pick]
        out.append(
            EventAtoms(
                int(size),
                p[:, 1],
                p[:, 2],
                p[:, 3],
                p[:, 4],
                p[:, 5],
                p[:, 6],
                row_id[pick],
                day_only[pick],
            )
        )
    return out


def old_rebuild(deployment: Deployment, atoms: Atoms, part: Any) -> Any:
    """A frozen part's cells with the atoms each one sums, and its family's layers. A month's
    cells pass on their own, so a cell holds every report of that month there; a longer
    part is rebuilt by its own rule on the same reports and must match its frozen cells."""
    frozen = part.release
    if not part.parts:
        in_month = atoms.period == frozen.period.months[0]
        layer = [
            Feature(0, c.ix, c.iy, c.count, 2, np.flatnonzero(
                in_month & (atoms.ix == c.ix) & (atoms.iy == c.iy)), c.needles)
            for c in frozen.features
        ]  # fmt: skip
        return layer, [layer]
    rebuilt = [old_rebuild(deployment, atoms, p) for p in part.parts]
    features, family = making._nested(deployment, atoms, frozen.period, frozen.rule, rebuilt)
    shown = sorted((f.level, f.ix, f.iy, f.count) for f in features)
    if shown != sorted((c.level, c.ix, c.iy, c.count) for c in frozen.features):
        # Its reports can no longer be matched to its cells (a changed area, say): publish
        # nothing new on top of it rather than numbers the check cannot vouch for.
        raise making.ReleaseWithheld(
            f"the release of {frozen.period.label} cannot be matched to its reports, so "
            "longer periods holding it are withheld"
        )
    return features, family


def old_within(rows: making.PeriodRows, period: Any) -> list[EventAtoms]:
    """Each period's rows read on their own, as each release read them before."""
    return old_event_atoms(
        rows.store, rows.program_id, rows.kind.value, start=period.start, end=period.end
    )
