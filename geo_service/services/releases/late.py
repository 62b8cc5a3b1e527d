"""Reports that arrive after their period was released: kept for managers, in no release."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt

from geo_service.deployment import Deployment
from geo_service.ingest.events import ValidatedBatch
from geo_service.periods import Bucket, month_of_buckets, period_holding
from geo_service.storage import EventRows, Store


def late_rows(
    store: Store, deployment: Deployment, program_id: int, rows: EventRows
) -> npt.NDArray[np.bool_]:
    """Which rows fall in a month (or a quarter, half-year or year holding it) already
    released for their kind."""
    released = store.released_periods(program_id) if len(rows) else set()
    if not released:
        return np.zeros(len(rows), dtype=bool)
    months = month_of_buckets(rows.bucket_start, deployment.tz)

    def holders(label: str) -> list[str]:
        year, month = label.split("-")
        index = int(year) * 12 + int(month) - 1
        return [period_holding(bucket, index) for bucket in Bucket]

    return np.array(
        [
            any((kind, held) in released for held in holders(month))
            for kind, month in zip(rows.kind, months, strict=True)
        ],
        dtype=bool,
    )


def hold_back_late(
    store: Store, deployment: Deployment, program_id: int, batch: ValidatedBatch
) -> tuple[ValidatedBatch, list[dict[str, Any]]]:
    """Mark rows whose month (or a longer period holding it) is already released: stored for
    managers, in no release ever. Returns the marked batch and a note per such row (by input
    index)."""
    rows = batch.rows
    late = late_rows(store, deployment, program_id, rows)
    if not late.any():
        return batch, []
    index = batch.row_index if batch.row_index is not None else np.arange(len(rows))
    notes = [
        {
            "index": int(i),
            "code": "period_already_published",
            "detail": "stored for managers; its month was already published, so it will not "
            "appear in what peers, planners or the public see",
        }
        for i in sorted(index[late].tolist())
    ]
    return dataclasses.replace(batch, rows=dataclasses.replace(rows, late=late)), notes
