"""What share of the window's reports an answer rests on, computed in one place.

Peers and planners are answered from a release, and mostly from its stored-size cells; the
share they are told is taken against the reports the release shows at any size, never
against ``Release.events`` or ``Release.hidden``. Both would leak: a release's ``hidden``
passes the rule on its own, yet a quarter and its months, or two cell sizes of one period,
hold the same reports, so one release's total plus hidden, less another's total, is the
other's withheld hidden count. Every number below a manager's is thus a sum of released
cells. Managers and stewards are answered from every event, and told the share of them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from geo_service.periods import Bucket
from geo_service.services.releases import Release
from maps.records import BasisNote
from maps.words import (
    FEW_REPORTS,
    LOW_SHARE,
    MONTH_LEAVES_OUT,
    MONTH_WARNING,
    NOT_COUNTED,
    basis_words,
    few_reports_warning,
    low_share_warning,
    reports_words,
)


@dataclass(frozen=True)
class Basis:
    """``used`` reports of ``of``: of the window's events (managers, ``released`` False) or
    of the reports the period's release shows at any square size (``released`` True)."""

    used: int
    of: int
    released: bool
    window: str  # as a person reads it: "April–June 2025", "the last 365 days"
    busiest_only: bool = False  # a month's release: squares that pass on their own, no roll-up

    @property
    def share(self) -> float | None:
        return None if self.of <= 0 else round(min(self.used, self.of) / self.of, 4)

    @property
    def words(self) -> str:
        words = basis_words(self.used, self.of, window=self.window, released=self.released)
        return f"{words} {MONTH_LEAVES_OUT}" if self.busiest_only else words

    @property
    def warnings(self) -> list[str]:
        """Below half of the reports, or on a handful of them, the answer says so."""
        out = [MONTH_WARNING] if self.busiest_only else []
        share = self.share
        if share is not None and share < LOW_SHARE:
            out.append(low_share_warning(share, released=self.released))
        if 0 < self.used < FEW_REPORTS:
            out.append(few_reports_warning(self.used, released=self.released))
        return out

    def why_nothing(self, what: str) -> str:
        """Why an answer resting on no report refuses, in its real reason."""
        if not self.released:
            if self.of:
                return f"none of the {self.of} events in {self.window} has a time of day"
            return f"no events of these kinds in {self.window}; nothing to {what}"
        if self.of:
            return (
                f"the {reports_words(self.of)} shown for {self.window} are all in larger "
                f"squares, too coarse to {what}; try a longer period"
            )
        return (
            f"no reports of these kinds are shown for {self.window} ({NOT_COUNTED}); "
            "try a longer period"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "reports_used": self.used,
            "reports_in_window": None if self.released else self.of,
            "reports_released": self.of if self.released else None,
            "share": self.share,
            "words": self.words,
        }

    def note(self) -> BasisNote:
        """What a map says of it: the words in its legend, the warnings above it."""
        return BasisNote(self.words, " ".join(self.warnings))


def release_basis(release: Release, *, used: int, window: str) -> Basis:
    """``used`` of the reports a peer's or planner's release shows (all square sizes).

    A month's release rolls nothing up: how much it leaves out is its hidden count, which no
    share may give away (see above), so a month always says it may leave out most reports,
    whatever the data (a warning that never varies tells nothing)."""
    month = release.period.bucket is Bucket.MONTH
    return Basis(used, release.total, True, window, busiest_only=month)


def base_basis(release: Release, window: str) -> Basis:
    """An answer resting on the release's stored-size cells only."""
    return release_basis(release, used=sum(release.base_cells().values()), window=window)


def full_basis(used: float, events: float, window: str) -> Basis:
    """A manager's answer: ``used`` of every event of the window."""
    return Basis(round(used), round(events), False, window)


def combined(parts: Iterable[Basis]) -> Basis:
    """Several kinds together (coverage and siting of needle reports and overdoses)."""
    bases = list(parts)
    assert bases
    first = bases[0]
    return Basis(
        sum(b.used for b in bases),
        sum(b.of for b in bases),
        first.released,
        first.window,
        any(b.busiest_only for b in bases),
    )


def note_from_json(basis: Mapping[str, object]) -> BasisNote:
    """A map's note from an answer's ``basis`` (maps built from the answer's own bytes)."""
    used, released, in_window = (
        basis["reports_used"],
        basis["reports_released"],
        basis["reports_in_window"],
    )
    of = released if released is not None else in_window
    assert isinstance(used, int) and isinstance(of, int | None)
    words = str(basis["words"])
    again = Basis(used, of or 0, released is not None, "", MONTH_LEAVES_OUT in words)
    return BasisNote(words, " ".join(again.warnings))
