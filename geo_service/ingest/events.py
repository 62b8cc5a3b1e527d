"""Event ingest: GeoJSON or CSV in, validated and blurred rows out, with per-row rejections.

Validation is column-wise (numpy/pandas), so a 100,000-row batch costs one pass per rule,
not one Python object per row. Rejection details are written by us and never quote input.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_service.deployment import Deployment
from geo_service.errors import PayloadTooLarge, Unprocessable
from geo_service.ingest.privacy import blur_locations, coarsen_times
from geo_service.settings import EventKind
from geo_service.storage import EventRows

KINDS = frozenset(k.value for k in EventKind)
SOURCES = ("peer", "outreach", "ems", "er", "city", "other")
PLACE_TYPES = ("street", "park", "playground", "school", "transit", "private", "other")
PROPERTIES = frozenset(
    {"kind", "observed_at", "count", "source", "fatal", "naloxone_doses", "place_type"}
)
CSV_COLUMNS = (
    "kind",
    "observed_at",
    "latitude",
    "longitude",
    "count",
    "source",
    "fatal",
    "naloxone_doses",
    "place_type",
)
CSV_REQUIRED = ("kind", "observed_at", "latitude", "longitude")
MAX_COUNT = 10_000
MAX_NALOXONE_DOSES = 50
FEATURE_MEMBERS = frozenset({"type", "geometry", "properties", "bbox"})
FORMULA_START = frozenset("=+-@\t\r")
_RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
_NON_FINITE = frozenset(
    {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Rejection:
    """One rejected row: its 0-based position in the batch, a code and a reason."""

    index: int
    code: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "detail": self.detail}


@dataclass
class RawEvents:
    """Submitted rows as columns, before validation. ``errors`` holds structural problems."""

    lon: FloatArray
    lat: FloatArray
    kind: list[Any]
    observed_at: list[Any]
    count: list[Any]
    source: list[Any]
    fatal: list[Any]
    naloxone_doses: list[Any]
    place_type: list[Any]
    text_values: bool  # True for CSV: every value is a string still to be parsed
    errors: dict[int, tuple[str, str]] = field(default_factory=dict)
    lines: list[int] | None = None  # CSV line of each row, for messages
    observed_utc: pd.DatetimeIndex | None = None  # already parsed (CLI --time-format)

    def __len__(self) -> int:
        return len(self.kind)


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


# -- front-ends ---------------------------------------------------------------------------


def _none_list(n: int) -> list[Any]:
    return [None] * n


def events_from_geojson(doc: Any, *, max_rows: int) -> RawEvents:
    """Read a GeoJSON FeatureCollection of Points. Raises for a body that is not one."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise Unprocessable(
            "the body must be a GeoJSON FeatureCollection (RFC 7946) whose features are Points",
            code="not_a_feature_collection",
        )
    features = doc.get("features")
    if not isinstance(features, list):
        raise Unprocessable(
            "'features' must be a list of GeoJSON Features", code="not_a_feature_collection"
        )
    if len(features) > max_rows:
        raise PayloadTooLarge(
            f"a batch may hold at most {max_rows} features; split it into smaller batches"
        )
    n = len(features)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    cols: dict[str, list[Any]] = {name: _none_list(n) for name in PROPERTIES}
    errors: dict[int, tuple[str, str]] = {}
    for i, feature in enumerate(features):
        if type(feature) is not dict or feature.get("type") != "Feature":
            errors[i] = ("invalid_feature", "each item of 'features' must be a GeoJSON Feature")
            continue
        if feature.keys() - FEATURE_MEMBERS:
            errors[i] = (
                "unknown_field",
                "a Feature may only have type, geometry and properties "
                "members; nothing that could identify a person is accepted",
            )
            continue
        geometry = feature.get("geometry")
        coords = geometry.get("coordinates") if type(geometry) is dict else None
        if (
            type(geometry) is not dict
            or geometry.get("type") != "Point"
            or type(coords) is not list
            or len(coords) not in (2, 3)
            or type(coords[0]) not in (int, float)
            or type(coords[1]) not in (int, float)
        ):
            errors[i] = (
                "invalid_geometry",
                "geometry must be a GeoJSON Point with [longitude, latitude] numbers",
            )
            continue
        lon[i] = coords[0]
        lat[i] = coords[1]
        props = feature.get("properties")
        if props is None:
            props = {}
        if type(props) is not dict:
            errors[i] = ("invalid_feature", "properties must be a JSON object")
            continue
        if props.keys() - PROPERTIES:
            errors[i] = (
                "unknown_field",
                "properties may only be kind, observed_at, count, source, fatal, "
                "naloxone_doses and place_type; names, contact details, notes, photos "
                "and device ids are never accepted",
            )
            continue
        for name, value in props.items():
            cols[name][i] = value
    return RawEvents(
        lon=lon,
        lat=lat,
        kind=cols["kind"],
        observed_at=cols["observed_at"],
        count=cols["count"],
        source=cols["source"],
        fatal=cols["fatal"],
        naloxone_doses=cols["naloxone_doses"],
        place_type=cols["place_type"],
        text_values=False,
        errors=errors,
    )


def is_formula(cell: str) -> bool:
    if not cell or cell[0] not in FORMULA_START:
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


def _parse_coordinate_text(values: Sequence[str]) -> tuple[FloatArray, dict[int, tuple[str, str]]]:
    parsed = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    errors: dict[int, tuple[str, str]] = {}
    for i in np.flatnonzero(~np.isfinite(parsed)).tolist():
        text = values[i].strip().lower()
        if not text:
            errors[i] = ("missing_coordinates", "latitude and longitude are required")
        elif text in _NON_FINITE:
            errors[i] = (
                "non_finite_coordinates",
                "coordinates must be finite numbers, not NaN or Infinity",
            )
        else:
            errors[i] = ("invalid_coordinates", "latitude and longitude must be decimal degrees")
    return parsed, errors


def check_csv_header(
    header: Sequence[str],
    *,
    allowed: Sequence[str],
    required: Sequence[str],
    rename: dict[str, str] | None = None,
    ignore_unknown: bool = False,
) -> list[str | None]:
    """Map a header to accepted column names (None = ignored column).

    Unknown columns are refused (named by position, not by their text) unless
    ``ignore_unknown``; ``rename`` maps accepted names to the file's own names.
    """
    source_to_target = {src.strip().lower(): dst for dst, src in (rename or {}).items()}
    names: list[str | None] = []
    for raw_name in header:
        name = raw_name.strip().lower().lstrip("\ufeff")
        name = source_to_target.get(name, name if name not in source_to_target.values() else "")
        names.append(name if name in allowed else None)
    unknown = [i + 1 for i, name in enumerate(names) if name is None]
    if unknown and not ignore_unknown:
        raise Unprocessable(
            f"column(s) at position {', '.join(map(str, unknown))} are not accepted; the accepted "
            f"columns are: {', '.join(allowed)}. Remove other columns before uploading: "
            "anything that could identify a person is never stored",
            code="unknown_column",
        )
    missing = [name for name in required if name not in names]
    if missing:
        raise Unprocessable(
            f"the CSV header lacks the required column(s): {', '.join(missing)}",
            code="missing_column",
        )
    present = [name for name in names if name is not None]
    if len(set(present)) != len(present):
        raise Unprocessable(
            "a column appears more than once in the CSV header", code="duplicate_column"
        )
    return names


@dataclass
class CsvChunk:
    """Up to ``chunk_rows`` data rows as string columns, with row problems and line numbers."""

    columns: dict[str, list[str]]
    errors: dict[int, tuple[str, str]]
    lines: list[int]
    first_index: int


def iter_csv_chunks(
    lines: Iterable[str],
    *,
    allowed: Sequence[str],
    required: Sequence[str],
    chunk_rows: int,
    rename: dict[str, str] | None = None,
    ignore_unknown: bool = False,
    constants: dict[str, str] | None = None,
) -> Iterable[CsvChunk]:
    """Read CSV text lazily into column chunks; bad rows are recorded, never raised."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise Unprocessable("the CSV is empty; it needs a header row", code="empty_csv") from None
    except csv.Error:
        raise Unprocessable("the CSV header could not be read", code="malformed_csv") from None
    constants = constants or {}
    names = check_csv_header(
        header,
        allowed=allowed,
        required=[r for r in required if r not in constants],
        rename=rename,
        ignore_unknown=ignore_unknown,
    )
    width = len(names)
    keep = [(pos, name) for pos, name in enumerate(names) if name is not None]
    absent = [name for name in allowed if name not in names]
    index = 0

    def fresh() -> CsvChunk:
        return CsvChunk({name: [] for name in allowed}, {}, [], index)

    chunk = fresh()
    while True:
        try:
            row: list[str] | None = next(reader)
        except StopIteration:
            break
        except csv.Error:
            row = None
        if row is not None and not row:
            continue  # blank line
        local = index - chunk.first_index
        chunk.lines.append(reader.line_num)
        if row is None or len(row) != width:
            chunk.errors[local] = (
                "malformed_row",
                f"the row does not have {width} fields like the header",
            )
            row = [""] * width
        elif any(is_formula(row[pos]) for pos, _ in keep):
            chunk.errors[local] = (
                "formula_not_allowed",
                "a cell starts like a spreadsheet "
                "formula (=, +, -, @); such cells are refused to protect "
                "whoever opens an export",
            )
            row = [""] * width
        for pos, name in keep:
            chunk.columns[name].append(row[pos].strip())
        for name in absent:
            chunk.columns[name].append(constants.get(name, ""))
        index += 1
        if index - chunk.first_index >= chunk_rows:
            yield chunk
            chunk = fresh()
    if chunk.lines or index == 0:
        yield chunk


def read_csv_rows(
    text: str, *, allowed: Sequence[str], required: Sequence[str], max_rows: int
) -> tuple[dict[str, list[str]], dict[int, tuple[str, str]], list[int]]:
    """Read a whole CSV upload; more than ``max_rows`` rows is refused."""
    chunks = iter_csv_chunks(
        io.StringIO(text.lstrip("\ufeff"), newline=""),
        allowed=allowed,
        required=required,
        chunk_rows=max_rows,
    )
    first = next(iter(chunks))
    if next(iter(chunks), None) is not None:
        raise PayloadTooLarge(
            f"a batch may hold at most {max_rows} rows; split the file into smaller batches"
        )
    return first.columns, first.errors, first.lines


def events_from_columns(
    columns: dict[str, list[str]],
    errors: dict[int, tuple[str, str]],
    lines: list[int] | None,
    observed_utc: pd.DatetimeIndex | None = None,
) -> RawEvents:
    """Build raw events from CSV-like string columns (API upload or CLI import)."""
    lat, lat_errors = _parse_coordinate_text(columns["latitude"])
    lon, lon_errors = _parse_coordinate_text(columns["longitude"])
    for i, err in {**lon_errors, **lat_errors}.items():
        errors.setdefault(i, err)
    n = len(lat)

    def get(name: str) -> list[str]:
        return columns.get(name) or [""] * n

    return RawEvents(
        lon=lon,
        lat=lat,
        kind=get("kind"),
        observed_at=get("observed_at"),
        count=get("count"),
        source=get("source"),
        fatal=get("fatal"),
        naloxone_doses=get("naloxone_doses"),
        place_type=get("place_type"),
        text_values=True,
        errors=errors,
        lines=lines,
        observed_utc=observed_utc,
    )


def events_from_csv(text: str, *, max_rows: int) -> RawEvents:
    columns, errors, lines = read_csv_rows(
        text, allowed=CSV_COLUMNS, required=CSV_REQUIRED, max_rows=max_rows
    )
    return events_from_columns(columns, errors, lines)


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
    limited to the retention period.
    """
    n = len(raw)
    v = _Verdicts(n)
    v.flag_rows(raw.errors)

    kind_blank, kind_invalid = _enum_column(raw.kind, KINDS)
    v.flag(kind_blank, "missing_field", "kind is required")
    v.flag(kind_invalid, "invalid_value", "kind must be needle_report, overdose or cleanup")
    kind = np.asarray(raw.kind, dtype=object)
    is_overdose = kind == EventKind.OVERDOSE.value
    is_needle = kind == EventKind.NEEDLE_REPORT.value
    v.flag(
        ~is_overdose & (~_blank(raw.fatal) | ~_blank(raw.naloxone_doses)),
        "field_not_for_kind",
        "fatal and naloxone_doses are only recorded for overdoses",
    )
    v.flag(
        ~is_needle & ~_blank(raw.place_type),
        "field_not_for_kind",
        "place_type is only recorded for needle reports",
    )

    lon, lat = raw.lon, raw.lat
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

    observed = _parse_times(raw, v)
    now_ts = now if now is not None else pd.Timestamp.now(tz="UTC")
    settings = deployment.settings
    horizon = now_ts + pd.Timedelta(minutes=settings.future_tolerance_minutes)
    v.flag(
        np.asarray(observed > horizon, dtype=bool),
        "timestamp_in_future",
        f"observed_at lies more than {settings.future_tolerance_minutes:g} minutes in the "
        "future; check the device clock and time zone",
    )
    retained = now_ts - pd.DateOffset(months=settings.retention_months)
    v.flag(
        np.asarray(observed < retained, dtype=bool),
        "older_than_retention",
        f"observed_at is older than the {settings.retention_months}-month retention period; "
        "such reports are not kept",
    )
    if history_days is not None:
        v.flag(
            np.asarray(observed < now_ts - pd.Timedelta(days=history_days), dtype=bool),
            "too_old_for_this_key",
            f"this key sends reports from the last {history_days:g} days; older history is "
            "imported by a manager or steward",
        )

    count, count_blank, count_invalid = _int_column(raw.count, raw.text_values)
    count[count_blank] = 1
    v.flag(
        count_invalid | (count < 1) | (count > MAX_COUNT),
        "invalid_value",
        f"count must be a whole number from 1 to {MAX_COUNT}",
    )
    v.flag(
        is_overdose & (count != 1),
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

    permitted = np.fromiter(
        (type(k) is str and k in allowed_kinds for k in raw.kind), dtype=bool, count=n
    )
    v.flag(~permitted, "kind_not_permitted", "this key's role may not submit this kind of event")

    ok = v.ok
    rejected = [
        _rejection(i, v.reasons[v.reason[i]], raw.lines) for i in np.flatnonzero(~ok).tolist()
    ]
    rows, row_index = _blurred_rows(
        raw, ok, kind, observed, count, fatal, doses, doses_blank, deployment
    )
    return ValidatedBatch(rows=rows, rejected=rejected, row_index=row_index)


def _rejection(index: int, reason: tuple[str, str], lines: list[int] | None) -> Rejection:
    code, detail = reason
    if lines is not None:
        detail = f"CSV line {lines[index]}: {detail}"
    return Rejection(index=index, code=code, detail=detail)


def _blurred_rows(
    raw: RawEvents,
    ok: BoolArray,
    kind: npt.NDArray[Any],
    observed: pd.DatetimeIndex,
    count: npt.NDArray[np.int64],
    fatal: list[bool | None],
    doses: npt.NDArray[np.int64],
    doses_blank: BoolArray,
    deployment: Deployment,
) -> tuple[EventRows, npt.NDArray[np.int64]]:
    """The rows that pass, blurred and in grid order, and each one's index in the input."""
    idx = np.flatnonzero(ok)
    kinds = kind[idx]
    cell_m, ix, iy = blur_locations(raw.lon[idx], raw.lat[idx], kinds, deployment)
    bucket_start, bucket_hours = coarsen_times(observed[idx], kinds, deployment)
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
        count=count[pick],
        source=text_or_none(raw.source),
        fatal=[fatal[i] for i in pick.tolist()],
        naloxone_doses=[None if doses_blank[i] else int(doses[i]) for i in pick.tolist()],
        place_type=text_or_none(raw.place_type),
    )
    return rows, pick
