"""The words a map says, in one place, so its legend, popups, title and selectors agree.

Peers and planners read plain words; managers also get the statistician's terms (Gi*, z,
p, confidence) in a "details" line. Period values stay as the API spells them (``2025-Q2``,
``2025-05``); only what a person reads changes.

Every phrase is an English message (``N_`` marks a constant) told in the language being
spoken (:func:`maps.language._`); the service's answers are built in English, its pages in
the viewer's language.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from maps.language import N_, _, ngettext

BUSIER = N_("Busier than the streets around it")
QUIETER = N_("Quieter than around it")
SURE = {3: N_("very sure"), 2: N_("fairly sure"), 1: N_("a little sure")}
CONFIDENCE = {3: ("99 %", "2.58", "0.01"), 2: ("95 %", "1.96", "0.05"), 1: ("90 %", "1.65", "0.10")}
NO_CLEAR = N_("Reports, but not clearly busier or quieter than around it")
MONTHS = (
    N_("January"), N_("February"), N_("March"), N_("April"), N_("May"), N_("June"),
    N_("July"), N_("August"), N_("September"), N_("October"), N_("November"), N_("December"),
)  # fmt: skip
QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
HALF = re.compile(r"^(\d{4})-H([12])$")
PERIOD_GROUPS = {
    "quarter": N_("Quarters"),
    "half": N_("Half-years"),
    "year": N_("Years"),
    "month": N_("Months"),
}
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def gi_words(gi_class: int) -> str:
    """A Gi* class (-3..3) in plain words: which way, and how sure."""
    if gi_class == 0:
        return _(NO_CLEAR)
    side = _(BUSIER if gi_class > 0 else QUIETER)
    return f"{side} — {_(SURE[abs(gi_class)])}"


def gi_details(gi_class: int) -> str:
    """The same class in a statistician's terms, for managers' details lines."""
    if gi_class == 0:
        return _("Gi*: not significant (|z| < 1.65, p > 0.10)")
    spot = _("hot spot") if gi_class > 0 else _("cold spot")
    level, z, p = CONFIDENCE[abs(gi_class)]
    return _("Gi* {spot}, {level} confidence (|z| ≥ {z}, p ≤ {p})").format(
        spot=spot, level=level, z=z, p=p
    )


GI_LEGEND_DETAILS = N_(
    "Getis-Ord Gi* z-scores; very sure = 99 % confidence (|z| ≥ 2.58), fairly sure = 95 % "
    "(|z| ≥ 1.96), a little sure = 90 % (|z| ≥ 1.65)."
)


def period_words(label: str) -> str:
    """``2025-Q2`` -> "April–June 2025", ``2025-H2`` -> "July–December 2025", ``2025-05``
    -> "May 2025"; anything else (a year) as given."""
    if quarter := QUARTER.match(label):
        year, q = quarter.group(1), int(quarter.group(2))
        return f"{_(MONTHS[3 * q - 3])}–{_(MONTHS[3 * q - 1])} {year}"
    if half := HALF.match(label):
        year, h = half.group(1), int(half.group(2))
        return f"{_(MONTHS[6 * h - 6])}–{_(MONTHS[6 * h - 1])} {year}"
    if month := MONTH.match(label):
        return f"{_(MONTHS[int(month.group(2)) - 1])} {month.group(1)}"
    return label


def day_words(day: dt.date) -> str:
    """``2026-03-04`` -> "4 March 2026"."""
    return f"{day.day} {_(MONTHS[day.month - 1])} {day.year}"


def window_words(first: dt.date | None, last: dt.date | None) -> str:
    """A chosen window in words: its first and last days, either end open."""
    if first is None and last is None:
        return _("every report")
    if first is None:
        assert last is not None
        return _("up to {day}").format(day=day_words(last))
    if last is None:
        return _("from {day} on").format(day=day_words(first))
    if first == last:
        return day_words(first)
    return _("{first} to {last}").format(first=day_words(first), last=day_words(last))


def reports_words(count: int) -> str:
    return ngettext("{count} report", "{count} reports", count).format(count=count)


def month_total_words(label: str, total: int) -> str:
    """A trends slider step: "March 2026 — 41 reports" (for peers, released reports only)."""
    return f"{period_words(label)} — {reports_words(total)}"


def expected_here_words(expected: float, reported: int, window: str) -> str:
    """A clean-up stop's worth, with what it rests on: "about 16 needles expected here (583
    reported in April–June 2025)"; ``window`` is a period label or words ("the last 90 days")."""
    when = period_words(window)
    return _("about {expected} needles expected here ({reported} reported in {when})").format(
        expected=f"{expected:.0f}", reported=reported, when=when
    )


def expected_route_words(expected: float, stops: int, window: str) -> str:
    """The same, for a whole walk, as the route legend says it."""
    where = ngettext("{stops} stop", "{stops} stops", stops).format(stops=stops)
    return _("About {expected} needles expected at {where} (from reports in {when})").format(
        expected=f"{expected:.0f}", where=where, when=period_words(window)
    )


# Rolled-up squares: reports whose small squares were too few to show, counted in a larger one.
ROLLED_UP = N_("Reports somewhere in this larger square")
# -- what share of the reports an answer rests on --------------------------------------------

LOW_SHARE = 0.5  # below this share an answer and its map carry a warning
FEW_REPORTS = 30  # an answer resting on fewer reports says so: one more moves it a lot
NOT_COUNTED = N_("reports too few to show anywhere are not counted")
MONTH_LEAVES_OUT = N_(
    "A month shows only squares with enough reports on their own; its other reports are "
    "not counted here."
)
MONTH_WARNING = N_(
    "A month shows only its busiest squares and may leave out most reports. Try a quarter "
    "for the whole picture."
)


def percent_words(share: float) -> str:
    """A share as a person reads it, never rounded up: 0.0225 -> "2 %", 0.002 -> "0.2 %",
    0.9999 -> "99 %" (only all of them is "100 %")."""
    if share <= 0:
        return "0 %"
    if share >= 1:
        return "100 %"
    if share < 0.001:
        return _("less than 0.1 %")
    if share < 0.01:
        return f"{math.floor(share * 1000) / 10:g} %"
    return f"{math.floor(share * 100)} %"


def counted_words(count: int, *, released: bool) -> str:
    """Peers count released reports; managers the events as stored (needles seen, for
    needle reports), so their words say events."""
    if released:
        return reports_words(count)
    return ngettext("{count} event", "{count} events", count).format(count=count)


def basis_words(used: int, of: int | None, *, window: str, released: bool) -> str:
    """What an answer rests on: ``used`` of ``of`` reports of ``window``. ``released``: the
    count is of the reports shown for the period (peers, planners, the public), where the
    reports too few to show anywhere are never counted, whether there were any or not."""
    tail = f"; {_(NOT_COUNTED)}." if released else "."
    counted = counted_words(of or 0, released=released)
    if not of:
        said = _("No reports shown for {window}") if released else _("No events in {window}")
        return said.format(window=window) + tail
    if used >= of:
        said = (
            _("Rests on all {counted} shown for {window}")
            if released
            else _("Rests on all {counted} in {window}")
        )
        return said.format(counted=counted, window=window) + tail
    said = (
        _(
            "Rests on {used} of the {counted} shown for {window} ({share}): the other {rest} are "
            "shown only in larger squares"
        )
        if released
        else _(
            "Rests on {used} of the {counted} in {window} ({share}): the other {rest} are "
            "left out of this answer"
        )
    )
    words = said.format(
        used=used, counted=counted, window=window, share=percent_words(used / of), rest=of - used
    )
    return words + tail


def low_share_warning(share: float, *, released: bool) -> str:
    """The plain-language warning of an answer resting on less than half of the reports."""
    if released:
        return _(
            "This shows {share} of reports; the rest were too few to show safely. Try a "
            "longer period or larger squares."
        ).format(share=percent_words(share))
    return _("This rests on {share} of the events in this window.").format(
        share=percent_words(share)
    )


def few_reports_warning(used: int, *, released: bool = True) -> str:
    return _("This rests on only {counted}: one more or less could change it a lot.").format(
        counted=counted_words(used, released=released)
    )
