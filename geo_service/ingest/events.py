"""Event validation: raw rows in, validated and blurred rows out, with per-row rejections.

Reading them is :mod:`geo_service.ingest.event_input`'s. Validation is column-wise
(numpy/pandas), so a 100,000-row batch costs one pass per rule, not one Python object per
row. Rejection details are written by us and never quote input.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_service.deployment import Deployment
from geo_service.ingest.event_columns import (
    Verdicts,
    blank,
    bool_column,
    enum_column,
    int_column,
)
from geo_service.ingest.event_input import RawEvents
from geo_service.ingest.privacy import blur_locations, coarsen_times
from geo_service.ingest.tabular import Rejection
from geo_service.settings import EventKind
from geo_service.storage import EventRows

KINDS = frozenset(k.value for k in EventKind)
SOURCES = ("peer", "outreach", "ems", "er", "city", "other")
# The last three are the phone's choices (POST /v1/reports) beside park and other.
PLACE_TYPES = (
    "street",
    "park",
    "playground",
    "school",
    "transit",
    "private",
    "other",
    "lane",
    "stairwell",
    "building",
)
MAX_COUNT = 10_000
MAX_NALOXONE_DOSES = 50
_DATE = r"^\d{4}-\d{2}-\d{2}$"  # a date only: the whole local day, time_precision 'day'
_RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
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
        digest.update(repr((r.naloxone_given, r.time_precision, r.details)).encode())
        digest.update(repr([(x.index, x.code) for x in self.rejected]).encode())
        return digest.hexdigest()


def _parse_times(
    raw: RawEvents, v: Verdicts, deployment: Deployment
) -> tuple[pd.DatetimeIndex, BoolArray]:
    """Each row's time in UTC, and whether it is a date only (then local midnight)."""
    if raw.observed_utc is not None:
        utc = raw.observed_utc
        v.flag(
            np.asarray(utc.isna()),
            "invalid_timestamp",
            "observed_at is missing or does not match the given time format",
        )
        day = raw.day_only if raw.day_only is not None else np.zeros(len(raw), dtype=bool)
        return utc, day
    series = pd.Series(raw.observed_at, dtype=object)
    is_text = np.fromiter((type(x) is str for x in raw.observed_at), dtype=bool, count=len(raw))
    v.flag(blank(raw.observed_at), "missing_field", "observed_at is required")
    v.flag(~is_text, "invalid_timestamp", "observed_at must be an RFC 3339 date-time string")
    text = series.where(is_text, "")
    day = text.str.match(_DATE).to_numpy(dtype=bool, na_value=False)
    well_formed = text.str.match(_RFC3339).to_numpy(dtype=bool, na_value=False)
    v.flag(
        ~(well_formed | day),
        "invalid_timestamp",
        "observed_at must be an RFC 3339 date-time with a time-zone offset, such as "
        "2024-05-01T14:30:00-05:00, or a date such as 2024-05-01 (then the whole day)",
    )
    parsed = pd.DatetimeIndex(
        pd.to_datetime(text.where(well_formed, None), format="ISO8601", utc=True, errors="coerce")
    )
    if day.any():
        dates = pd.to_datetime(text.where(day, None), format="%Y-%m-%d", errors="coerce")
        local = pd.DatetimeIndex(dates).tz_localize(
            deployment.tz, ambiguous="NaT", nonexistent="NaT"
        )
        values = parsed.to_numpy(copy=True)
        values[day] = local.tz_convert("UTC").to_numpy()[day]
        parsed = pd.DatetimeIndex(values, tz="UTC")
    v.flag(
        np.asarray(parsed.isna()), "invalid_timestamp", "observed_at is not a real date and time"
    )
    return parsed, day


@dataclass(frozen=True)
class _Parsed:
    """The columns the rules parsed, kept for the rows that pass."""

    kind: npt.NDArray[Any]
    observed: pd.DatetimeIndex
    count: npt.NDArray[np.int64]
    fatal: list[bool | None]
    doses: npt.NDArray[np.int64]
    doses_blank: BoolArray
    given: list[bool | None]
    day_only: BoolArray


def _check_kind(raw: RawEvents, v: Verdicts) -> npt.NDArray[Any]:
    kind_blank, kind_invalid = enum_column(raw.kind, KINDS)
    v.flag(kind_blank, "missing_field", "kind is required")
    v.flag(kind_invalid, "invalid_value", "kind must be needle_report, overdose or cleanup")
    kind = np.asarray(raw.kind, dtype=object)
    v.flag(
        (kind != EventKind.OVERDOSE.value) & (~blank(raw.fatal) | ~blank(raw.naloxone_doses)),
        "field_not_for_kind",
        "fatal and naloxone_doses are only recorded for overdoses",
    )
    v.flag(
        (kind != EventKind.OVERDOSE.value) & ~blank(_given(raw)),
        "field_not_for_kind",
        "naloxone_given is only recorded for overdoses",
    )
    v.flag(
        (kind != EventKind.NEEDLE_REPORT.value) & ~blank(raw.place_type),
        "field_not_for_kind",
        "place_type is only recorded for needle reports",
    )
    return kind


def _given(raw: RawEvents) -> list[Any]:
    return raw.naloxone_given if raw.naloxone_given is not None else [None] * len(raw)


def _check_naloxone(
    raw: RawEvents, v: Verdicts, doses: IntArray, doses_blank: BoolArray
) -> list[bool | None]:
    """naloxone_given: yes/no, true/false or 1/0; a 'no' cannot come with doses."""
    given, invalid = bool_column(_given(raw), raw.text_values)
    v.flag(invalid, "invalid_value", "naloxone_given must be yes or no (true/false, 1/0)")
    said_no = np.fromiter((g is False for g in given), dtype=bool, count=len(given))
    v.flag(
        said_no & ~doses_blank & (doses > 0),
        "invalid_value",
        "naloxone_given is no but naloxone_doses is more than 0; correct one of them",
    )
    return given


def _check_place(raw: RawEvents, v: Verdicts, deployment: Deployment) -> None:
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
    v: Verdicts,
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
    raw: RawEvents, v: Verdicts, kind: npt.NDArray[Any]
) -> tuple[IntArray, list[bool | None], IntArray, BoolArray]:
    """count, source, place_type, fatal and naloxone_doses; returns what they parsed to."""
    count, count_blank, count_invalid = int_column(raw.count, raw.text_values)
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
    _, source_invalid = enum_column(raw.source, SOURCES)
    v.flag(source_invalid, "invalid_value", f"source must be one of: {', '.join(SOURCES)}")
    _, place_invalid = enum_column(raw.place_type, PLACE_TYPES)
    v.flag(place_invalid, "invalid_value", f"place_type must be one of: {', '.join(PLACE_TYPES)}")
    fatal, fatal_invalid = bool_column(raw.fatal, raw.text_values)
    v.flag(fatal_invalid, "invalid_value", "fatal must be true or false")
    doses, doses_blank, doses_invalid = int_column(raw.naloxone_doses, raw.text_values)
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
    v = Verdicts(len(raw))
    v.flag_rows(raw.errors)
    kind = _check_kind(raw, v)
    _check_place(raw, v, deployment)
    observed, day_only = _parse_times(raw, v, deployment)
    now_ts = now if now is not None else pd.Timestamp.now(tz="UTC")
    _check_time(observed, v, deployment, now_ts, history_days)
    count, fatal, doses, doses_blank = _check_values(raw, v, kind)
    given = _check_naloxone(raw, v, doses, doses_blank)
    permitted = np.fromiter(
        (type(k) is str and k in allowed_kinds for k in raw.kind), dtype=bool, count=len(raw)
    )
    v.flag(~permitted, "kind_not_permitted", "this key's role may not submit this kind of event")

    ok = v.ok
    rejected = [
        _rejection(i, v.reasons[v.reason[i]], raw.lines) for i in np.flatnonzero(~ok).tolist()
    ]
    parsed = _Parsed(kind, observed, count, fatal, doses, doses_blank, given, day_only)
    rows, row_index = _blurred_rows(raw, ok, parsed, deployment)
    if raw.notes is not None and raw.drop_duplicates:
        raw.notes.duplicates += int(ok.sum()) - len(rows)
    if raw.notes is not None and rows.time_precision is not None:
        raw.notes.day_only += rows.time_precision.count("day")
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
    day = parsed.day_only[idx] & (bucket_hours < 24)
    # A date only is its whole local day (it was read as local midnight), never midnight.
    bucket_start[day] = parsed.observed[idx].as_unit("s").asi8[day]
    bucket_hours[day] = 24
    # Store in grid/time order, not submission order, so row order reveals nothing.
    order = np.lexsort((iy, ix, bucket_start, cell_m))
    if raw.drop_duplicates:
        seen = raw.notes.seen if raw.notes is not None else set()
        order = _first_of_each(order, (kinds, cell_m, ix, iy, bucket_start, bucket_hours), seen)
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
        naloxone_given=[parsed.given[i] for i in pick.tolist()],
        time_precision=["day" if parsed.day_only[i] else "hour" for i in pick.tolist()],
    )
    return rows, pick


def _first_of_each(
    order: IntArray, keys: tuple[npt.NDArray[Any], ...], seen: set[tuple[Any, ...]]
) -> IntArray:
    """``order`` keeping the first row of each same kind, cell and time bucket not ``seen``
    in an earlier chunk (the command line's --drop-duplicates: one event where a file repeats
    a report)."""
    keep = []
    for position in order.tolist():
        key = tuple(k[position] for k in keys)
        if key not in seen:
            seen.add(key)
            keep.append(position)
    return np.asarray(keep, dtype=np.int64)
