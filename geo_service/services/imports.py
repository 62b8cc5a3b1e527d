"""One import path for files and request bodies: the API's POST routes and the command
line's ``ingest`` read, check, blur and store rows through these functions, so a file is
judged exactly like a request.

It lives among the services, not in ingest, because storing events asks which periods are
already released (rows that fall in one are held back from every release).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import orjson

from geo_service.auth import FULL_VIEW, SUBMITTABLE_KINDS, Principal
from geo_service.deployment import Deployment
from geo_service.errors import Unprocessable
from geo_service.http import decode_text, parse_json
from geo_service.ingest.batches import Checked, Sender, run_batch
from geo_service.ingest.event_input import CSV_COLUMNS as EVENT_COLUMNS
from geo_service.ingest.event_input import read_events
from geo_service.ingest.events import KINDS, ValidatedBatch, validate_events
from geo_service.ingest.gis import GisUpload, feature_upload, is_gis_file, named_crs, point_upload
from geo_service.ingest.layers import (
    CANDIDATE_CSV_COLUMNS,
    EXCLUSION_CSV_COLUMNS,
    read_layer,
)
from geo_service.ingest.osm import osm_layers
from geo_service.ingest.sites import SITE_CSV_COLUMNS, read_sites
from geo_service.ingest.tabular import ColumnMap, Rejection, Upload
from geo_service.services.alerts.evaluate import after_batch
from geo_service.services.alerts.series import program_tally, whole_batch_tally
from geo_service.services.releases import grace_days, hold_back_late
from geo_service.storage import BatchRecord, EventRows, Store

Layer = Literal["candidate", "exclusion"]


@dataclass(frozen=True)
class EventRules:
    """What a sender may submit: which kinds, and how many days back (None: as far as the
    retention period)."""

    allowed_kinds: frozenset[str] = KINDS
    history_days: float | None = None


@dataclass(frozen=True)
class Imported:
    """A stored or replayed batch. ``answer`` is the JSON kept for a replay."""

    answer: dict[str, Any]
    replayed: bool

    @property
    def batch_id(self) -> str:
        return str(self.answer["batch_id"])

    @property
    def accepted(self) -> int:
        return int(self.answer["accepted"])

    @property
    def rejected(self) -> list[dict[str, Any]]:
        return list(self.answer["rejected"])

    @property
    def held_back(self) -> list[dict[str, Any]]:
        return list(self.answer.get("held_back", []))


def body_upload(media: str, body: bytes, max_rows: int) -> Upload:
    """A request body (``media`` 'json' or 'csv', from read_payload) of at most ``max_rows``."""
    if media == "json":
        return Upload("geojson", document=parse_json(body), max_rows=max_rows)
    text = decode_text(body).lstrip("\ufeff")
    return Upload("csv", lines=io.StringIO(text, newline=""), max_rows=max_rows)


# What each target reads from a file's columns (GIS files: the others are never read).
TARGET_COLUMNS = {
    "events": EVENT_COLUMNS,
    "sites": SITE_CSV_COLUMNS,
    "candidates": CANDIDATE_CSV_COLUMNS,
    "exclusions": EXCLUSION_CSV_COLUMNS,
}
_CSV_LINE = re.compile(r"^CSV line (\d+): ")


def gis_file_upload(path: Path, target: str, columns: ColumnMap) -> GisUpload | None:
    """A GeoPackage, Shapefile, zipped Shapefile, KML, or GeoJSON that names a CRS other
    than WGS 84, as an upload in WGS 84; None for CSV and plain (RFC 7946) GeoJSON, which
    are read as before. Exclusions keep their polygons; everything else is points."""
    if not is_gis_file(path):
        if path.suffix.lower() not in (".json", ".geojson"):
            return None
        with path.open("rb") as handle:
            head = handle.read(65536)
        if b'"crs"' not in head or named_crs(orjson.loads(path.read_bytes())) is None:
            return None
    if target == "exclusions":
        return feature_upload(path, TARGET_COLUMNS[target], columns)
    return point_upload(path, TARGET_COLUMNS[target], columns)


def _explained(upload: Upload, rejected: list[Rejection]) -> list[Rejection]:
    """A GIS file's rejections name features, not the CSV lines it was read through."""
    if not isinstance(upload, GisUpload):
        return rejected
    out = []
    for r in rejected:
        where = f"feature {r.index + 1} of {upload.source}"
        if r.index in upload.not_points:
            out.append(
                Rejection(r.index, "invalid_geometry", f"{where}: the geometry is not a point")
            )
        else:
            out.append(Rejection(r.index, r.code, _CSV_LINE.sub(f"{where}: ", r.detail)))
    return out


def _noting(upload: Upload, write: Callable[[BatchRecord], None]) -> Callable[[BatchRecord], None]:
    """Name the CRS a GIS file was reprojected from in the batch's answer (kept for replays)."""
    if not isinstance(upload, GisUpload):
        return write

    def noted(record: BatchRecord) -> None:
        record.response["source_crs"] = upload.source_crs
        write(record)

    return noted


def key_rules(store: Store, principal: Principal) -> EventRules:
    """A key's limits: its role's kinds, and for peers and planners the program's grace
    window, so no one backdates a report into a published period."""
    if principal.role in FULL_VIEW:
        return EventRules(SUBMITTABLE_KINDS[principal.role])
    days = grace_days(store.publication(principal.program_id))
    return EventRules(SUBMITTABLE_KINDS[principal.role], days)


def import_events(
    store: Store,
    deployment: Deployment,
    sender: Sender,
    upload: Upload,
    rules: EventRules | None = None,
) -> Imported:
    """Validate and blur every row, hold back those in released periods, store the rest as
    one batch. A file is read and checked a chunk at a time; all of it commits together."""
    rules = rules or EventRules()
    chunks: list[EventRows] = []
    batches: list[ValidatedBatch] = []
    rejected: list[Rejection] = []
    held_back: list[dict[str, Any]] = []
    for first, raw in read_events(upload, deployment):
        batch = validate_events(
            raw, deployment, allowed_kinds=rules.allowed_kinds, history_days=rules.history_days
        )
        batch, held = hold_back_late(store, deployment, sender.program_id, batch)
        batches.append(batch)
        chunks.append(batch.rows)
        rejected += [Rejection(r.index + first, r.code, r.detail) for r in batch.rejected]
        held_back += [{**note, "index": note["index"] + first} for note in held]
    rejected = _explained(upload, rejected)
    checked = Checked(
        "events", _events_fingerprint(batches), sum(len(c) for c in chunks), rejected, held_back
    )
    tally = whole_batch_tally(program_tally(store, deployment, sender.program_id), chunks)
    answer, replayed = run_batch(
        store,
        sender,
        checked,
        _noting(upload, lambda record: store.store_event_stream(record, chunks, tally)),
    )
    if not replayed:  # after the commit: an alert never holds up or undoes the batch
        after_batch(
            store, deployment, sender.program_id, set().union(*(set(c.kind) for c in chunks))
        )
    return Imported(answer, replayed)


def _events_fingerprint(batches: list[ValidatedBatch]) -> str:
    if len(batches) == 1:
        return batches[0].fingerprint()
    return _digest([b.fingerprint() for b in batches])


def _digest(value: object) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()


def import_sites(store: Store, deployment: Deployment, sender: Sender, upload: Upload) -> Imported:
    """Check service sites (public places, kept exact) and store them as one batch."""
    records, rejected = read_sites(upload, deployment)
    rejected = _explained(upload, rejected)
    fingerprint = _digest((records, [(r.index, r.code) for r in rejected]))
    checked = Checked("sites", fingerprint, len(records), rejected)
    answer, replayed = run_batch(
        store, sender, checked, _noting(upload, lambda record: store.store_sites(record, records))
    )
    return Imported(answer, replayed)


def import_layer(
    store: Store,
    deployment: Deployment,
    sender: Sender,
    upload: Upload,
    layer: Layer,
    *,
    replace_layer: bool = False,
) -> Imported:
    """Check candidate sites or exclusions and store them as one batch; ``replace_layer``
    swaps the whole layer, so then any bad row refuses the batch."""
    records, rejected = read_layer(upload, layer, deployment)
    rejected = _explained(upload, rejected)
    fingerprint = _digest((records, [(r.index, r.code) for r in rejected], replace_layer))
    checked = Checked(f"{layer}s", fingerprint, len(records), rejected)
    if replace_layer:
        sender = replace(sender, all_or_nothing=True)

    def write(record: BatchRecord) -> None:
        store.store_context(
            sender.program_id,
            records,
            batch=record,
            replace_layer=layer if replace_layer else None,
        )

    answer, replayed = run_batch(store, sender, checked, _noting(upload, write))
    return Imported(answer, replayed)


def import_osm_layers(
    store: Store,
    deployment: Deployment,
    sender: Sender,
    path: Path,
    *,
    replace_layers: bool = False,
) -> dict[str, Imported]:
    """An OpenStreetMap extract's schools, daycares and playgrounds as exclusions and its
    pharmacies, clinics and shelters as candidate sites: one batch per layer that has any."""
    exclusions, candidates = osm_layers(path)
    found = {"exclusions": exclusions, "candidates": candidates}
    if not exclusions and not candidates:
        raise Unprocessable(
            f"{path.name}: the extract holds no schools, daycares, playgrounds, pharmacies, "
            "clinics or shelters; check that it covers the program's area",
            code="empty_layer",
        )
    uploads: dict[str, tuple[Layer, Upload]] = {}
    for target, features in found.items():
        if not features:
            continue
        layer: Layer = "exclusion" if target == "exclusions" else "candidate"
        upload = Upload("geojson", document={"type": "FeatureCollection", "features": features})
        if not read_layer(upload, layer, deployment)[0]:  # checked first: both or neither
            raise Unprocessable(
                f"{path.name}: none of the extract's {len(features)} {target} lie in the "
                "program's area (or all are unusable); nothing was stored. Check that the "
                "extract covers the program's area",
                code="batch_rejected",
            )
        uploads[target] = (layer, upload)
    return {
        target: import_layer(store, deployment, sender, upload, layer, replace_layer=replace_layers)
        for target, (layer, upload) in uploads.items()
    }
