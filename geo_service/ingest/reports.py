"""Phone reports (``POST /v1/reports``): one report that names a grid square, never a position.

The phone snaps the place to the program's grid and coarsens the time before sending, so a
report is a square (``"125:2524:48577"``: cell size in metres, column, row), a time bucket
and a few answers. This module reads and checks one; :mod:`geo_service.services.reports`
stores it through the same rules as ``POST /v1/events``.

Every refusal's words come from ``REPORT_MESSAGES`` (one table, so another language's
catalogue can follow: the ``N_`` markers put them in it, and the language
handler in :mod:`geo_service.i18n` tells them in the request's language); none quotes the
request's values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis.projection import to_lonlat
from geo_service.deployment import Deployment
from geo_service.errors import ServiceError
from geo_service.ingest.event_input import RawEvents
from geo_service.settings import EventKind
from maps.language import N_

SUPPLIES_NEEDED = "supplies_needed"  # a kind of its own: a request, never a count of use
POSITION_FIELDS = frozenset(
    {"lon", "lat", "lng", "longitude", "latitude", "x", "y", "geometry", "coordinates"}
    | {"position", "location", "point", "accuracy", "altitude"}
)
COMMON_FIELDS = ("type", "cell", "bucket")
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "needles_here": ("count", "picked_up", "place"),
    "cleanup_done": ("count", "minutes"),
    "overdose_helped": ("naloxone_doses", "outcome"),
    SUPPLIES_NEEDED: ("supplies",),
}
TYPE_KIND = {
    "needles_here": EventKind.NEEDLE_REPORT,
    "cleanup_done": EventKind.CLEANUP,
    "overdose_helped": EventKind.OVERDOSE,
    # On the needle grid and hour: it is about a place where needles are used.
    SUPPLIES_NEEDED: EventKind.NEEDLE_REPORT,
}
# The phone's stepper, and the number stored for each step: the middle of the range rounded
# down, and for "more" the least it can be.
STEPPER = {"1": 1, "2-5": 3, "6-20": 13, "more": 21}
PLACES = ("park", "lane", "stairwell", "building", "other")
OUTCOMES = ("ok", "hospital", "died")
SUPPLIES = ("needles", "naloxone", "pipes", "sharps_bin")
MAX_DOSES = 5  # the phone's "5+"
MAX_MINUTES = 480
BUCKET_BACK_H = 48
_CELL = re.compile(r"^(\d{1,6}):(-?\d{1,9}):(-?\d{1,9})$")
_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:00(?::00)?(?:Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,39}$")

# The one table of what a refused report is told: (status, words). Words may hold {field},
# {cell_m}, {hours} or {values}, filled from our own names and settings, never from input.
A_FIELD = N_("a field")  # in place of a field name that is not one of ours
REPORT_MESSAGES: dict[str, tuple[int, str]] = {
    "idempotency_key_required": (
        400,
        N_("send an Idempotency-Key header (one new UUID per report) so a report is stored once"),
    ),
    "not_an_object": (422, N_("the report must be one JSON object")),
    "position_refused": (
        422,
        N_("'{field}' is a position; send only the square (cell) the phone snapped it to"),
    ),
    "unknown_field": (422, N_("'{field}' is not part of this kind of report")),
    "missing_field": (422, N_("'{field}' is required for this kind of report")),
    "unknown_type": (422, N_("type must be one of: {values}")),
    "cell_invalid": (422, N_("cell must look like 125:2524:48577 (size in metres:column:row)")),
    "cell_wrong_size": (422, N_("this kind of report uses squares of {cell_m} m")),
    "cell_outside_area": (422, N_("that square is outside the program's area")),
    "bucket_invalid": (
        422,
        N_(
            "bucket must be the start of an hour with its offset (2026-05-01T14:00-05:00) or "
            "a date for earlier today or yesterday (2026-05-01)"
        ),
    ),
    "bucket_in_future": (422, N_("that time is in the future; check the phone's clock")),
    "bucket_too_old": (422, N_("reports are taken for the last {hours} hours only")),
    "count_not_on_stepper": (422, N_("count must be one of: {values}")),
    "picked_up_invalid": (422, N_("picked_up must be true or false")),
    "place_invalid": (422, N_("place must be one of: {values}")),
    "minutes_invalid": (422, N_("minutes must be a whole number from 1 to {values}")),
    "doses_invalid": (
        422,
        N_("naloxone_doses must be a whole number from 0 to 5 (5: five or more)"),
    ),
    "outcome_invalid": (422, N_("outcome must be one of: {values}")),
    "supplies_invalid": (422, N_("supplies must be a list of one or more of: {values}")),
    "report_refused": (422, N_("this report cannot be taken by this key")),
}


class ReportRefused(ServiceError):
    """A report refused whole, with words from REPORT_MESSAGES; nothing is stored."""

    title = N_("The report was not taken")

    def __init__(self, code: str, field: str | None = None, **words: object) -> None:
        status, text = REPORT_MESSAGES[code]
        named = field if field is not None and _NAME.match(field) else A_FIELD
        extra = {"field": named} if field is not None else {}
        self.words = {"field": named, **words}
        super().__init__(text.format(**self.words), code=code, **extra)
        self.status = status

    def told(self, gettext: Callable[[str], str]) -> str:
        """The detail in another language: the table's words through ``gettext``, filled
        with the same values (our own names and settings)."""
        words = dict(self.words)
        if words["field"] == A_FIELD:
            words["field"] = gettext(A_FIELD)
        return gettext(REPORT_MESSAGES[self.code][1]).format(**words)


@dataclass(frozen=True)
class Report:
    """One checked report, before its time is judged against the clock."""

    type: str
    cell_m: int
    cell_ix: int
    cell_iy: int
    bucket: str  # an RFC 3339 hour start, or a local date (the whole day)
    count: int = 1
    place: str | None = None
    picked_up: bool | None = None
    minutes: int | None = None
    naloxone_doses: int | None = None
    outcome: str | None = None
    supplies: str | None = None  # sorted, comma-separated

    @property
    def kind(self) -> EventKind:
        return TYPE_KIND[self.type]

    @property
    def stored_kind(self) -> str:
        return SUPPLIES_NEEDED if self.type == SUPPLIES_NEEDED else self.kind.value

    def fingerprint(self) -> str:
        """Tells a retry of this report from another report under the same key."""
        return hashlib.sha256(repr(sorted(asdict(self).items())).encode()).hexdigest()


def read_report(doc: Any, deployment: Deployment) -> Report:
    """Check a report's shape, fields and square; raise ReportRefused for the first fault."""
    if not isinstance(doc, dict):
        raise ReportRefused("not_an_object")
    for name in doc:
        if str(name).lower() in POSITION_FIELDS:
            raise ReportRefused("position_refused", field=str(name))
    kind = doc.get("type")
    if kind is None:
        raise ReportRefused("missing_field", field="type")
    if not isinstance(kind, str) or kind not in TYPE_FIELDS:
        raise ReportRefused("unknown_type", values=", ".join(TYPE_FIELDS))
    allowed = set(COMMON_FIELDS) | set(TYPE_FIELDS[kind])
    for name in doc:
        if name not in allowed:
            raise ReportRefused("unknown_field", field=str(name))
    for name in ("cell", "bucket", *REQUIRED[kind]):
        if doc.get(name) is None:
            raise ReportRefused("missing_field", field=name)
    cell_m, ix, iy = _cell(doc["cell"], TYPE_KIND[kind], deployment)
    bucket = _bucket_text(doc["bucket"])
    return Report(kind, cell_m, ix, iy, bucket, **_answers(kind, doc))


REQUIRED: dict[str, tuple[str, ...]] = {
    "needles_here": ("count",),
    "cleanup_done": ("count",),
    "overdose_helped": ("naloxone_doses", "outcome"),
    SUPPLIES_NEEDED: ("supplies",),
}


def _cell(value: Any, kind: EventKind, deployment: Deployment) -> tuple[int, int, int]:
    match = _CELL.match(value) if isinstance(value, str) else None
    if match is None:
        raise ReportRefused("cell_invalid")
    cell_m, ix, iy = (int(g) for g in match.groups())
    size = deployment.cell_m(kind)
    if cell_m != size:
        raise ReportRefused("cell_wrong_size", cell_m=size)
    lon, lat = cell_centre(deployment, cell_m, ix, iy)
    if not (np.isfinite(lon) and np.isfinite(lat)) or not deployment.contains([lon], [lat])[0]:
        raise ReportRefused("cell_outside_area")
    return cell_m, ix, iy


def cell_centre(deployment: Deployment, cell_m: int, ix: int, iy: int) -> tuple[float, float]:
    """The lon/lat of a square's centre: the square again when snapped (blur is idempotent)."""
    grid = deployment.grid
    x = grid.origin_x_m + (ix + 0.5) * cell_m
    y = grid.origin_y_m + (iy + 0.5) * cell_m
    lon, lat = to_lonlat([x], [y], crs=deployment.crs)
    return float(lon[0]), float(lat[0])


def _bucket_text(value: Any) -> str:
    if isinstance(value, str) and _DATE.match(value):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise ReportRefused("bucket_invalid") from None
    if not (isinstance(value, str) and _HOUR.match(value)):
        raise ReportRefused("bucket_invalid")
    try:
        return dt.datetime.fromisoformat(value).isoformat()
    except ValueError:
        raise ReportRefused("bucket_invalid") from None


def check_bucket(report: Report, deployment: Deployment, now: dt.datetime) -> None:
    """A bucket in the future or more than 48 hours back is refused. A date is the whole
    local day: today (earlier today) or yesterday."""
    tolerance = dt.timedelta(minutes=deployment.settings.future_tolerance_minutes)
    if _DATE.match(report.bucket):
        day = dt.date.fromisoformat(report.bucket)
        today = now.astimezone(deployment.tz).date()
        if day > today:
            raise ReportRefused("bucket_in_future")
        if day < today - dt.timedelta(days=1):
            raise ReportRefused("bucket_too_old", hours=BUCKET_BACK_H)
        return
    start = dt.datetime.fromisoformat(report.bucket)
    if start > now + tolerance:
        raise ReportRefused("bucket_in_future")
    if start < now - dt.timedelta(hours=BUCKET_BACK_H):
        raise ReportRefused("bucket_too_old", hours=BUCKET_BACK_H)


def _whole(value: Any, low: int, high: int) -> int | None:
    if type(value) is int and low <= value <= high:
        return value
    return None


def _answers(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The type's answers, checked, as Report fields."""
    out: dict[str, Any] = {}
    if "count" in doc:
        if not isinstance(doc["count"], str) or doc["count"] not in STEPPER:
            raise ReportRefused("count_not_on_stepper", values=", ".join(STEPPER))
        out["count"] = STEPPER[doc["count"]]
    if doc.get("picked_up") is not None:
        if type(doc["picked_up"]) is not bool:
            raise ReportRefused("picked_up_invalid")
        out["picked_up"] = doc["picked_up"]
    if doc.get("place") is not None:
        out["place"] = _choice(doc["place"], PLACES, "place_invalid")
    if doc.get("minutes") is not None:
        out["minutes"] = _whole(doc["minutes"], 1, MAX_MINUTES)
        if out["minutes"] is None:
            raise ReportRefused("minutes_invalid", values=MAX_MINUTES)
    if kind == "overdose_helped":
        out["naloxone_doses"] = _whole(doc["naloxone_doses"], 0, MAX_DOSES)
        if out["naloxone_doses"] is None:
            raise ReportRefused("doses_invalid")
        out["outcome"] = _choice(doc["outcome"], OUTCOMES, "outcome_invalid")
    if kind == SUPPLIES_NEEDED:
        kinds = doc["supplies"]
        if (
            not isinstance(kinds, list)
            or not kinds
            or not all(isinstance(k, str) and k in SUPPLIES for k in kinds)
            or len(set(kinds)) != len(kinds)
        ):
            raise ReportRefused("supplies_invalid", values=", ".join(SUPPLIES))
        out["supplies"] = ",".join(sorted(kinds))
    return out


def _choice(value: Any, choices: tuple[str, ...], code: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ReportRefused(code, values=", ".join(choices))
    return value


def raw_events(report: Report, deployment: Deployment) -> RawEvents:
    """The report as one input row for the events' rules: its square's centre (snapping it
    gives the square back), its bucket as the time, and its answers."""
    lon, lat = cell_centre(deployment, report.cell_m, report.cell_ix, report.cell_iy)
    overdose = report.kind == EventKind.OVERDOSE
    doses = report.naloxone_doses
    return RawEvents(
        lon=np.array([lon]),
        lat=np.array([lat]),
        kind=[report.kind.value],
        observed_at=[report.bucket],
        count=[report.count],
        source=["peer"],
        fatal=[report.outcome == "died" if overdose else None],
        naloxone_doses=[doses],
        place_type=[report.place],
        text_values=False,
        naloxone_given=[doses > 0 if doses is not None else None],
    )
