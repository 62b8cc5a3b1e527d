"""The browser pages: sign-in, maps for peers, planners and managers.

One module per page family; ``router`` holds them all, for the app to include once."""

from fastapi import APIRouter

from geo_service.web import (
    alert_poster,
    cleanup,
    emerging,
    hotspots,
    join,
    pages,
    planning,
    report,
    report_grid,
    session,
    streets,
    trends,
)
from geo_service.web.session import SignInNeeded, send_to_sign_in

router = APIRouter(include_in_schema=False)
_PAGES = (
    session, join, pages, alert_poster, hotspots, emerging, trends, cleanup, planning, streets,
    report, report_grid,
)  # fmt: skip
for _module in _PAGES:
    router.include_router(_module.router)

__all__ = ["SignInNeeded", "router", "send_to_sign_in"]
