"""Frozen releases: the only source of numbers below manager level (DESIGN.md §4.4, §4.5).

A release is (program, kind, period), made when the period ends plus the program's grace
window (in the background, ``ahead``; else at the first request), stored with its rule and a
content hash, and never recomputed.
Reports stored after their period's release are kept for managers (``late``) and enter no
release, so backdating cannot move a published number. A quarter is its months' frozen cells
plus a release, with roll-up, of what no month showed; a half-year nests the same way on its
quarters, a year on its half-years. Peers and planners share the release; the public layer is
its coarsening, and larger cells (``cell_m`` = stored × 2^j) are sums of its cells. Before a
release is stored, a differencing check runs over it and every release that shares reports
with it (the year, its half-years, quarters and months, and the public coarsening of each); a
release it finds solvable is withheld, not published.

``model`` is what a release is, ``choice`` which one a request reads (and whether its period
is published), ``making`` how one is made and checked, ``late`` what arrives after it,
``ahead`` who makes it before anyone asks.
"""

from geo_service.services.releases.choice import (
    View,
    check_period,
    get_release,
    grace_days,
    release_rule,
)
from geo_service.services.releases.late import hold_back_late, late_rows
from geo_service.services.releases.making import ReleaseWithheld
from geo_service.services.releases.model import (
    DEFAULT_DROP_TOP_KEYS,
    DEFAULT_GRACE_DAYS,
    MIN_GRACE_DAYS,
    PUBLIC_LEVELS,
    Release,
    ReleasedCell,
    ReleaseRule,
    larger_cell_sizes,
    levels_above_stored,
    release_features,
)

__all__ = [
    "DEFAULT_DROP_TOP_KEYS",
    "DEFAULT_GRACE_DAYS",
    "MIN_GRACE_DAYS",
    "PUBLIC_LEVELS",
    "Release",
    "ReleaseRule",
    "ReleaseWithheld",
    "ReleasedCell",
    "View",
    "check_period",
    "get_release",
    "grace_days",
    "hold_back_late",
    "larger_cell_sizes",
    "late_rows",
    "levels_above_stored",
    "release_features",
    "release_rule",
]
