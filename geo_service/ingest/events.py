"""Event validation: raw rows in, validated and blurred rows out, with per-row rejections.

Reading them is :mod:`geo_service.ingest.event_input`'s. Validation is column-wise
(numpy/pandas), so a 100,000-row batch costs one pass per rule, not one Python object per
row. Rejection details are written by us and never quote input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_service.deployment import Deployment
from geo_service.ingest.event_input import RawEvents
from geo_service.ingest.privacy import blur_locations, coarsen_times
from geo_service.ingest.tabular import Rejection
from geo_service.settings import EventKind
from geo_service.storage import EventRows

KINDS = frozenset(k.value for k in EventKind)
SOURCES = ("peer", "outreach", "ems", "er", "city", "other")
PLACE_TYPES = ("street", "park", "playground", "school", "transit", "private", "other")
MAX_COUNT = 10_000
MAX_NALOXONE_DOSES = 50
_RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ValidatedBatch:
    rows: EventRows
    rejected: list[Rejection]
    row_index: npt.NDArray[np.int64] | None = None  # each stored row's index in the input

    @property
    def accepted(self) -> int:
        return len(self.rows)

    def fingerprint(self) -> str:
        """A digest of what would be stored; identifies a retried batch without keeping input."""
        digest = hashlib.sha256()
        r = self.rows
        for arr in (r.cell_m, r.cell_ix, r.cell_iy, r.bucket_start, r.bucket_hours, r.count):
            digest.update(arr.tobytes())
        digest.update(repr((r.kind, r.source, r.fatal, r.naloxone_doses, r.place_type)).encode())
        digest.update(repr([(x.index, x.code) for x in self.rejected]).encode())
        return digest.hexdigest()


# -- column rules -------------------------------------------------------------------------


class _Verdicts:
    """The first failing rule of each row, kept as a small integer per row."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, -1, dtype=np.int32)
        self.reasons: list[tuple[str, str]] = []

    def flag(self, mask: BoolArray, code: str, detail: str) -> None:
        fresh = mask & (self.reason < 0)
        if fresh.any():
            self.reasons.append((code, detail))
            self.reason[fresh] = len(self.reasons) - 1

    def flag_rows(self, rows: dict[int, tuple[str, str]]) -> None:
        for i, reason in rows.items():
            if self.reason[i] < 0:
                self.reasons.append(reason)
                self.reason[i] = len(self.reasons) - 1

    @property
    def ok(self) -> BoolArray:
        return np.asarray(self.reason < 0)


def _blank(values: Sequence[Any]) -> BoolArray:
    return np.fromiter((v is None or v == "" for v in values), dtype=bool, count=len(values))


def _enum_column(values: Sequence[Any], allowed: Iterable[str]) -> tuple[BoolArray, BoolArray]:
    """Return ``(blank, invalid)`` masks for an optional enumerated string column."""
    blank = _blank(values)
    allowed_set = set(allowed)
    invalid = np.fromiter(
        (
            not (v is None or v == "") and (type(v) is not str or v not in allowed_set)
            for v in values
        ),
        dtype=bool,
        count=len(values),
    )
    return blank, invalid


def _int_column(
    values: Sequence[Any], text: bool
) -> tuple[npt.NDArray[np.int64], BoolArray, BoolArray]:
    """Return ``(value, blank, invalid)``; JSON needs real integers, CSV needs digits."""
    n = len(values)
    out = np.zeros(n, dtype=np.int64)
    blank = _blank(values)
    invalid = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(~blank).tolist():
        v = values[i]
        if text:
            if not (v.isascii() and v.isdigit()) or len(v) > 9:
                invalid[i] = True
                continue
            out[i] = int(v)
        elif type(v) is int and abs(v) < 10**9:
            out[i] = v
        else:
            invalid[i] = True
    return out, blank, invalid


def _bool_column(values: Sequence[Any], text: bool) -> tuple[list[bool | None], BoolArray]:
    out: list[bool | None] = [None] * len(values)
    invalid = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if v is None or v == "":
            continue
        if not text and type(v) is bool:
            out[i] = v
        elif text and v.lower() in _TRUE:
            out[i] = True
        elif text and v.lower() in _FALSE:
            out[i] = False
        else:
            invalid[i] = True
    return out, invalid


def _parse_times(raw: RawEvents, v: _Verdicts) -> pd.DatetimeIndex:
    if raw.observed_utc is not None:
        utc = raw.observed_utc
        v.flag(
            np.asarray(utc.isna()),
            "invalid_timestamp",
            "observed_at is missing or does not match the given time format",
        )
        return utc
    series = pd.Series(raw.observed_at, dtype=object)
    is_text = np.fromiter((type(x) is str for x in raw.observed_at), dtype=bool, count=len(raw))
    v.flag(_blank(raw.observed_at), "missing_field", "observed_at is required")
    v.flag(~is_text, "invalid_timestamp", "observed_at must be an RFC 3339 date-time string")
    text = series.where(is_text, "")
    well_formed = text.str.match(_RFC3339).to_numpy(dtype=bool, na_value=False)
    v.flag(
        ~well_formed,
        "invalid_timestamp",
        "observed_at must be an RFC 3339 date-time with a time-zone offset, such as "
        "2024-05-01T14:30:00-05:00",
    )
    parsed = pd.to_datetime(
        text.where(well_formed, None), format="ISO8601", utc=True, errors="coerce"
    )
    v.flag(parsed.isna().to_numpy(), "invalid_timestamp", "observed_at is not a real date and time")
    return pd.DatetimeIndex(parsed)


@dataclass(frozen=True)
class _Parsed:
    """The columns the rules parsed, kept for the rows that pass."""

    kind: npt.NDArray[Any]
    observed: pd.DatetimeIndex
    count: npt.NDArray[np.int64]
    fatal: list[bool | None]
    doses: npt.NDArray[np.int64]
    doses_blank: BoolArray


def _check_kind(raw: RawEvents, v: _Verdicts) -> npt.NDArray[Any]:
    kind_blank, kind_invalid = _enum_column(raw.kind, KINDS)
    v.flag(kind_blank, "missing_field", "kind is required")
    v.flag(kind_invalid, "invalid_value", "kind must be needle_report, overdose or cleanup")
    kind = np.asarray(raw.kind, dtype=object)
    v.flag(
        (kind != EventKind.OVERDOSE.value) & (~_blank(raw.fatal) | ~_blank(raw.naloxone_doses)),
        "field_not_for_kind",
        "fatal and naloxone_doses are only recorded for overdoses",
    )
    v.flag(
        (kind != EventKind.NEEDLE_REPORT.value) & ~_blank(raw.place_type),
        "field_not_for_kind",
        "place_type is only recorded for needle reports",
    )
    return kind


def _check_place(raw: RawEvents, v: _Verdicts, deployment: Deployment) -> None:
    lon, lat = raw.lon, raw.lat
    n = len(raw)
    finite = np.isfinite(lon) & np.isfinite(lat)
    v.flag(~finite, "non_finite_coordinates", "coordinates must be finite numbers")
    in_range = finite & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    inside = np.zeros(n, dtype=bool)
    inside[in_range] = deployment.contains(lon[in_range], lat[in_range])
    swappable = finite & ~inside & (np.abs(lon) <= 90)
    swapped = np.zeros(n, dtype=bool)
    swapped[swappable] = deployment.contains(lat[swappable], lon[swappable])
    v.flag(
        swapped,
        "coordinates_swapped",
        "latitude and longitude look swapped: GeoJSON points are [longitude, latitude]",
    )
    v.flag(
        ~in_range,
        "coordinates_out_of_range",
        "longitude must be within -180..180 and latitude within -90..90 degrees",
    )
    v.flag(~inside, "outside_service_area", "the point lies outside this service's area")


def _check_time(
    observed: pd.DatetimeIndex,
    v: _Verdicts,
    deployment: Deployment,
    now: pd.Timestamp,
    history_days: float | None,
) -> None:
    settings = deployment.settings
    horizon = now + pd.Timedelta(minutes=settings.future_tolerance_minutes)
    v.flag(
        np.asarray(observed > horizon, dtype=bool),
        "timestamp_in_future",
        f"observed_at lies more than {settings.future_tolerance_minutes:g} minutes in the "
        "future; check the device clock and time zone",
    )
    retained = now - pd.DateOffset(months=settings.retention_months)
    v.flag(
        np.asarray(observed < retained, dtype=bool),
        "older_than_retention",
        f"observed_at is older than the {settings.retention_months}-month retention period; "
        "such reports are not kept",
    )
    if history_days is not None:
        v.flag(
            np.asarray(observed < now - pd.Timedelta(days=history_days), dtype=bool),
            "too_old_for_this_key",
            f"this key sends reports from the last {history_days:g} days; older history is "
            "imported by a manager or steward",
        )


def _check_values(
    raw: RawEvents, v: _Verdicts, kind: npt.NDArray[Any]
) -> tuple[IntArray, list[bool | None], IntArray, BoolArray]:
    """count, source, place_type, fatal and naloxone_doses; returns what they parsed to."""
    count, count_blank, count_invalid = _int_column(raw.count, raw.text_values)
    count[count_blank] = 1
    v.flag(
        count_invalid | (count < 1) | (count > MAX_COUNT),
        "invalid_value",
        f"count must be a whole number from 1 to {MAX_COUNT}",
    )
    v.flag(
        (kind == EventKind.OVERDOSE.value) & (count != 1),
        "invalid_value",
        "an overdose row records one overdose; count must be 1 or left out",
    )
    _, source_invalid = _enum_column(raw.source, SOURCES)
    v.flag(source_invalid, "invalid_value", f"source must be one of: {', '.join(SOURCES)}")
    _, place_invalid = _enum_column(raw.place_type, PLACE_TYPES)
    v.flag(place_invalid, "invalid_value", f"place_type must be one of: {', '.join(PLACE_TYPES)}")
    fatal, fatal_invalid = _bool_column(raw.fatal, raw.text_values)
    v.flag(fatal_invalid, "invalid_value", "fatal must be true or false")
    doses, doses_blank, doses_invalid = _int_column(raw.naloxone_doses, raw.text_values)
    v.flag(
        doses_invalid | (doses < 0) | (doses > MAX_NALOXONE_DOSES),
        "invalid_value",
        f"naloxone_doses must be a whole number from 0 to {MAX_NALOXONE_DOSES}",
    )
    return count, fatal, doses, doses_blank


def validate_events(
    raw: RawEvents,
    deployment: Deployment,
    *,
    allowed_kinds: frozenset[str] = KINDS,
    now: pd.Timestamp | None = None,
    history_days: float | None = None,
) -> ValidatedBatch:
    """Apply every rule; blur the rows that pass. Returns stored-ready rows and rejections.

    ``history_days`` limits how far back a key may date its reports (peers and planners: the
    program's grace window, so no one can backdate into a published period); every key is
    limited to the retention period. A row is rejected for the first rule it fails, in the
    order below.
    """
    v = _Verdicts(len(raw))
    v.flag_rows(raw.errors)
    kind = _check_kind(raw, v)
    _check_place(raw, v, deployment)
    observed = _parse_times(raw, v)
    now_ts = now if now is not None else pd.Timestamp.now(tz="UTC")
    _check_time(observed, v, deployment, now_ts, history_days)
    count, fatal, doses, doses_blank = _check_values(raw, v, kind)
    permitted = np.fromiter(
        (type(k) is str and k in allowed_kinds for k in raw.kind), dtype=bool, count=len(raw)
    )
    v.flag(~permitted, "kind_not_permitted", "this key's role may not submit this kind of event")

    ok = v.ok
    rejected = [
        _rejection(i, v.reasons[v.reason[i]], raw.lines) for i in np.flatnonzero(~ok).tolist()
    ]
    parsed = _Parsed(kind, observed, count, fatal, doses, doses_blank)
    rows, row_index = _blurred_rows(raw, ok, parsed, deployment)
    return ValidatedBatch(rows=rows, rejected=rejected, row_index=row_index)


def _rejection(index: int, reason: tuple[str, str], lines: list[int] | None) -> Rejection:
    code, detail = reason
    if lines is not None:
        detail = f"CSV line {lines[index]}: {detail}"
    return Rejection(index=index, code=code, detail=detail)


def _blurred_rows(
    raw: RawEvents, ok: BoolArray, parsed: _Parsed, deployment: Deployment
) -> tuple[EventRows, npt.NDArray[np.int64]]:
    """The rows that pass, blurred and in grid order, and each one's index in the input."""
    idx = np.flatnonzero(ok)
    kinds = parsed.kind[idx]
    cell_m, ix, iy = blur_locations(raw.lon[idx], raw.lat[idx], kinds, deployment)
    bucket_start, bucket_hours = coarsen_times(parsed.observed[idx], kinds, deployment)
    # Store in grid/time order, not submission order, so row order reveals nothing.
    order = np.lexsort((iy, ix, bucket_start, cell_m))
    pick = idx[order]

    def text_or_none(values: list[Any]) -> list[str | None]:
        return [values[i] or None for i in pick.tolist()]

    rows = EventRows(
        kind=kinds[order].tolist(),
        cell_m=cell_m[order],
        cell_ix=ix[order],
        cell_iy=iy[order],
        bucket_start=bucket_start[order],
        bucket_hours=bucket_hours[order],
        count=parsed.count[pick],
        source=text_or_none(raw.source),
        fatal=[parsed.fatal[i] for i in pick.tolist()],
        naloxone_doses=[
            None if parsed.doses_blank[i] else int(parsed.doses[i]) for i in pick.tolist()
        ],
        place_type=text_or_none(raw.place_type),
    )
    return rows, pick
