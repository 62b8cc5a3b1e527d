"""What ``geo-service demo`` prints after loading the town: links with the last finished
quarter filled in, and the headline numbers the README points to, computed by the same
services the API answers with. The town is generated relative to today, so the README quotes
none of these numbers; it says the demo prints them."""

from __future__ import annotations

from dataclasses import dataclass

from geo_service.auth import Principal, Role
from geo_service.ingest.sites import Service
from geo_service.periods import Bucket, latest_published
from geo_service.services.coverage import CoverageQuestion, coverage_report
from geo_service.services.program import ProgramContext, Services
from geo_service.services.releases import DEFAULT_GRACE_DAYS
from geo_service.services.siting import LockerQuestion, site_lockers
from geo_service.settings import EventKind
from maps.records import WeekTable

NIGHT_HOURS = range(0, 6)  # midnight to 6 am, each day of the week
WALK_MINUTES = 10.0
LOCKERS = 3


@dataclass(frozen=True)
class DemoHeadlines:
    quarter: str  # the last finished, published quarter
    overdoses_open: float  # manager's view, last 365 days: within a walk of an open site
    overdoses_anytime: float  # the same if opening hours did not matter
    overdoses_open_at_night: float  # midnight to 6 am only
    lockers_before: float | None  # a planner's three 24/7 needle lockers, the quarter's release
    lockers_after: float | None
    lockers_status: str  # optimal | within gap | the reason nothing was chosen
    left_out: tuple[str, ...]  # candidates in an exclusion buffer, with the reason


def _context(services: Services, program_id: int, role: Role, now: float) -> ProgramContext:
    # Key id 0: no key is used; the numbers are what a key of this role would be answered.
    return ProgramContext(services, Principal(0, role, "demo", program_id), now=now)


def _night_share(events: WeekTable, shares: WeekTable) -> float:
    covered = total = 0.0
    for day_events, day_shares in zip(events, shares, strict=True):
        for hour in NIGHT_HOURS:
            total += day_events[hour] or 0.0
            covered += (day_events[hour] or 0.0) * (day_shares[hour] or 0.0)
    return covered / total if total else 0.0


def demo_headlines(services: Services, program_id: int, *, now: float) -> DemoHeadlines:
    manager = _context(services, program_id, Role.MANAGER, now)
    question = CoverageQuestion(Service.NALOXONE, [WALK_MINUTES], [EventKind.OVERDOSE], None, 1)
    (result,) = coverage_report(manager, question).results
    hours = result.by_hour
    assert hours.events is not None  # a manager's view has every hour's events
    planner = _context(services, program_id, Role.PLANNER, now)
    lockers = LockerQuestion(
        service=Service.NEEDLES,
        minutes=WALK_MINUTES,
        p=LOCKERS,
        target_share=None,
        opening_hours="24/7",
        kinds=[EventKind.NEEDLE_REPORT, EventKind.OVERDOSE],
        period=None,
        seconds=10.0,
    )
    plan = site_lockers(planner, lockers)
    choice = plan.choice
    tz = services.deployment_for(program_id).tz
    return DemoHeadlines(
        quarter=latest_published(Bucket.QUARTER, now=now, grace_days=DEFAULT_GRACE_DAYS, tz=tz),
        overdoses_open=result.share_open or 0.0,
        overdoses_anytime=result.share_anytime or 0.0,
        overdoses_open_at_night=_night_share(hours.events, hours.share_open),
        lockers_before=None if choice is None else choice.coverage_before,
        lockers_after=None if choice is None else choice.coverage_after,
        lockers_status=plan.reason or "" if choice is None else choice.plan.status,
        left_out=tuple(f"{e.place.name} ({e.reason})" for e in plan.candidates.left_out()),
    )


def _pct(share: float | None) -> str:
    return "not shown" if share is None else f"{share:.0%}"


def headline_lines(found: DemoHeadlines, base: str = "http://127.0.0.1:8000") -> list[str]:
    """The lines ``geo-service demo`` prints; the README names them instead of numbers."""
    q = found.quarter
    return [
        f"The last finished quarter is {q}. Try, with the keys below:",
        f"  {base}/maps/hotspots?kind=needle_report&period={q}",
        f"  {base}/v1/hotspots?kind=needle_report&period={q}",
        f"  {base}/v1/published?kind=overdose&period={q}",
        "Over the last 365 days (manager's view), overdoses within a "
        f"{WALK_MINUTES:g}-minute walk of a naloxone site: {_pct(found.overdoses_open)} "
        f"while it was open, {_pct(found.overdoses_anytime)} if hours did not matter, "
        f"{_pct(found.overdoses_open_at_night)} between midnight and 6 am.",
        f"A planner placing {LOCKERS} 24/7 needle lockers ({q}'s released cells): coverage "
        f"{_pct(found.lockers_before)} -> {_pct(found.lockers_after)} ({found.lockers_status}).",
        *[f"  left out: {why}" for why in found.left_out],
    ]
