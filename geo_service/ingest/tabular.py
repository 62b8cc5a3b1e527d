"""Reading rows from GeoJSON and CSV: headers, column mapping, formula cells, local times.

Nothing here judges an event or a site; it turns a table into string columns and records
rows it cannot read (by position and line, never by content).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_service.errors import PayloadTooLarge, Unprocessable

FEATURE_MEMBERS = frozenset({"type", "geometry", "properties", "bbox"})
FORMULA_START = frozenset("=+-@\t\r")
CHUNK_ROWS = 100_000  # a file with no row limit is read and checked this many rows at a time
_NON_FINITE = frozenset(
    {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
)
RowErrors = dict[int, tuple[str, str]]


@dataclass(frozen=True)
class Rejection:
    """One rejected row: its 0-based position in the batch, a code and a reason."""

    index: int
    code: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "detail": self.detail}


@dataclass
class ImportNotes:
    """What an import left out on purpose, counted as it reads (the command line prints it)."""

    filtered: int = 0  # rows a --where condition left out, before any check
    duplicates: int = 0  # rows dropped by --drop-duplicates (same cell, time bucket and kind)
    day_only: int = 0  # stored events whose time is a date without a time of day
    # --drop-duplicates: the (kind, cell, bucket) of every event kept so far, across chunks
    seen: set[tuple[Any, ...]] = field(default_factory=set)


@dataclass(frozen=True)
class RowFilter:
    """``--where 'COLUMN != VALUE'`` (or ``==``): a condition on the file's own column."""

    column: str
    equal: bool
    value: str

    @classmethod
    def parse(cls, text: str) -> RowFilter:
        for op in ("!=", "=="):
            column, sep, value = text.partition(op)
            if sep and column.strip():
                return cls(column.strip(), op == "==", value.strip().strip("'\""))
        raise Unprocessable(
            "--where takes 'COLUMN != VALUE' or 'COLUMN == VALUE', for example "
            "--where 'neighborhood != Centre of City'",
            code="invalid_filter",
        )

    def keeps(self, cell: str) -> bool:
        return (cell.strip() == self.value) == self.equal


@dataclass(frozen=True)
class ColumnMap:
    """How someone else's CSV maps onto ours (the command line's --column, --set, --ignore).

    ``rename`` maps our column to the file's; ``constants`` fill a column the file lacks;
    ``time_format`` (strftime, local time) reads observed_at; ``ignore_unknown`` leaves other
    columns unread instead of refusing the file. ``where`` keeps only the rows every condition
    keeps; ``drop_duplicates`` drops repeated events after the blur; ``notes`` counts both.
    A ``time_of_day`` column (the command line's --time-column time=COL) completes a date in
    observed_at.
    """

    rename: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)
    time_format: str | None = None
    ignore_unknown: bool = False
    where: tuple[RowFilter, ...] = ()
    drop_duplicates: bool = False
    notes: ImportNotes = field(default_factory=ImportNotes)


@dataclass(frozen=True)
class Upload:
    """A request body or a file to import: a parsed GeoJSON document, or CSV lines read
    lazily (a large file is never whole in memory)."""

    media: Literal["geojson", "csv"]
    document: Any = None
    lines: Iterable[str] = ()
    columns: ColumnMap = field(default_factory=ColumnMap)
    max_rows: int | None = None  # the API's limit per batch; None: any number, in chunks

    @property
    def row_limit(self) -> int:
        return self.max_rows if self.max_rows is not None else sys.maxsize


def is_formula(cell: str) -> bool:
    if not cell or cell[0] not in FORMULA_START:
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


def parse_coordinate_text(values: Sequence[str]) -> tuple[npt.NDArray[np.float64], RowErrors]:
    """Decimal degrees from text; rows that are not finite numbers are named, not raised."""
    parsed = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    errors: RowErrors = {}
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


def local_times(values: Sequence[str], time_format: str, tz: Any) -> pd.DatetimeIndex:
    """Times in ``time_format`` as UTC; unreadable or non-existent ones NaT. Without ``%z``
    they are local wall-clock times; with it each row's own offset holds (offsets may differ
    from row to row, as they do across a daylight-saving change)."""
    if "%z" in time_format or "%Z" in time_format:
        aware = pd.to_datetime(pd.Series(values), format=time_format, errors="coerce", utc=True)
        return pd.DatetimeIndex(aware)
    local = pd.to_datetime(pd.Series(values), format=time_format, errors="coerce")
    return (
        pd.DatetimeIndex(local)
        .tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        .tz_convert("UTC")
    )


def _filter_positions(header: Sequence[str], where: Sequence[RowFilter]) -> list[int]:
    """Each condition's column position in the header; a column the file lacks is refused."""
    names = [name.strip().lower().lstrip("\ufeff") for name in header]
    positions = []
    for condition in where:
        wanted = condition.column.lower()
        if wanted not in names:
            raise Unprocessable(
                f"--where names the column '{condition.column}', which the file does not have "
                f"(its header has {len(names)} columns); use a column name from its first row",
                code="unknown_filter_column",
            )
        positions.append(names.index(wanted))
    return positions


def check_csv_header(
    header: Sequence[str],
    *,
    allowed: Sequence[str],
    required: Sequence[str],
    rename: Mapping[str, str] | None = None,
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
    errors: RowErrors
    lines: list[int]
    first_index: int


def _row_problem(row: list[str] | None, width: int, keep: list[int]) -> tuple[str, str] | None:
    if row is None or len(row) != width:
        return "malformed_row", f"the row does not have {width} fields like the header"
    if any(is_formula(row[pos]) for pos in keep):
        return (
            "formula_not_allowed",
            "a cell starts like a spreadsheet formula (=, +, -, @); such cells are refused to "
            "protect whoever opens an export",
        )
    return None


def _rows(reader: Any) -> Iterator[list[str] | None]:
    """Each data row, None for one the csv module cannot read; blank lines are skipped."""
    while True:
        try:
            row: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error:
            row = None
        if row is None or row:
            yield row


def _header(reader: Any) -> list[str]:
    try:
        return list(next(reader))
    except StopIteration:
        raise Unprocessable("the CSV is empty; it needs a header row", code="empty_csv") from None
    except csv.Error:
        raise Unprocessable("the CSV header could not be read", code="malformed_csv") from None


def _kept(row: list[str] | None, width: int, filters: list[tuple[int, RowFilter]]) -> bool:
    """Whether every --where condition keeps the row (a malformed row is kept, to be named)."""
    if row is None or len(row) != width:
        return True
    return all(condition.keeps(row[pos]) for pos, condition in filters)


def iter_csv_chunks(
    lines: Iterable[str],
    *,
    allowed: Sequence[str],
    required: Sequence[str],
    chunk_rows: int,
    columns: ColumnMap | None = None,
) -> Iterator[CsvChunk]:
    """Read CSV text lazily into column chunks; bad rows are recorded, never raised."""
    mapping = columns or ColumnMap()
    reader = csv.reader(lines)
    header = _header(reader)
    filters = list(zip(_filter_positions(header, mapping.where), mapping.where, strict=True))
    names = check_csv_header(
        header,
        allowed=allowed,
        required=[r for r in required if r not in mapping.constants],
        rename=mapping.rename,
        ignore_unknown=mapping.ignore_unknown,
    )
    width = len(names)
    keep = [(pos, name) for pos, name in enumerate(names) if name is not None]
    absent = [name for name in allowed if name not in names]
    index = 0

    def fresh() -> CsvChunk:
        return CsvChunk({name: [] for name in allowed}, {}, [], index)

    chunk = fresh()
    for row in _rows(reader):
        if filters and not _kept(row, width, filters):
            mapping.notes.filtered += 1
            continue
        chunk.lines.append(reader.line_num)
        problem = _row_problem(row, width, [pos for pos, _ in keep])
        if problem is not None:
            chunk.errors[index - chunk.first_index] = problem
        cells = row if row is not None and problem is None else [""] * width
        for pos, name in keep:
            chunk.columns[name].append(cells[pos].strip())
        for name in absent:
            chunk.columns[name].append(mapping.constants.get(name, ""))
        index += 1
        if index - chunk.first_index >= chunk_rows:
            yield chunk
            chunk = fresh()
    if chunk.lines or index == 0:
        yield chunk


def csv_chunks(
    upload: Upload, *, allowed: Sequence[str], required: Sequence[str]
) -> Iterator[CsvChunk]:
    """An upload's CSV in chunks: with ``max_rows``, one chunk, and more rows are refused."""
    chunks = iter_csv_chunks(
        upload.lines,
        allowed=allowed,
        required=required,
        chunk_rows=CHUNK_ROWS if upload.max_rows is None else upload.max_rows,
        columns=upload.columns,
    )
    if upload.max_rows is None:
        yield from chunks
        return
    first = next(chunks)
    if next(chunks, None) is not None:
        raise PayloadTooLarge(
            f"a batch may hold at most {upload.max_rows} rows; split the file into smaller batches"
        )
    yield first


def feature_list(doc: Any, max_rows: int, what: str) -> list[Any]:
    """The features of a FeatureCollection; anything else, or too many, is refused."""
    if (
        not isinstance(doc, dict)
        or doc.get("type") != "FeatureCollection"
        or not isinstance(doc.get("features"), list)
    ):
        raise Unprocessable(what, code="not_a_feature_collection")
    if len(doc["features"]) > max_rows:
        raise PayloadTooLarge(f"a batch may hold at most {max_rows} features")
    return list(doc["features"])
