"""Analyses run on a small pool with a deadline: a slow request queues and then answers 503."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from geo_service.errors import ServiceError
from geo_service.periods import Period
from geo_service.services.hotspots import HotspotQuery
from geo_service.services.program import ProgramContext

# Analyses run here, at most one per core: a flood of slow requests queues instead of
# taking every CPU, and each request stops waiting at its deadline.
_ANALYSIS_WORKERS = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="analysis")
T = TypeVar("T")


class AnalysisOverdue(ServiceError):
    status, code, title = 503, "analysis_overdue", "The analysis is taking too long"


def answer_within(seconds: float, compute: Callable[[], T]) -> T:
    """``compute()`` on an analysis worker, or :class:`AnalysisOverdue` after ``seconds``.

    The work is not interrupted: it finishes and fills the cache, so the same request asked
    again after ``Retry-After`` is answered at once.
    """
    future = _ANALYSIS_WORKERS.submit(compute)
    try:
        return future.result(timeout=seconds)
    except FutureTimeout:
        raise AnalysisOverdue(
            "the analysis did not finish in time; retry after the seconds in Retry-After, or "
            "narrow the request (fewer permutations, a smaller distance_m or window)",
            retry_after=math.ceil(seconds),
        ) from None


def timed_answer(
    ctx: ProgramContext, query: HotspotQuery, period: Period | None
) -> tuple[bytes, bool]:
    """The role's published body for ``query`` within the analysis deadline."""
    cache = ctx.services.hotspots
    return answer_within(ctx.settings.analysis_seconds, lambda: cache.answer(ctx, query, period))
