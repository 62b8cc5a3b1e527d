"""The words a map says, in one place, so its legend, popups, title and selectors agree.

Peers and planners read plain words; managers also get the statistician's terms (Gi*, z,
p, confidence) in a "details" line. Period values stay as the API spells them (``2025-Q2``,
``2025-05``); only what a person reads changes.
"""

from __future__ import annotations

import datetime as dt
import re

BUSIER = "Busier than the streets around it"
QUIETER = "Quieter than around it"
SURE = {3: "very sure", 2: "fairly sure", 1: "a little sure"}
CONFIDENCE = {3: ("99 %", "2.58", "0.01"), 2: ("95 %", "1.96", "0.05"), 1: ("90 %", "1.65", "0.10")}
NO_CLEAR = "Reports, but not clearly busier or quieter than around it"
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
HALF = re.compile(r"^(\d{4})-H([12])$")
PERIOD_GROUPS = {"quarter": "Quarters", "half": "Half-years", "year": "Years", "month": "Months"}
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def gi_words(gi_class: int) -> str:
    """A Gi* class (-3..3) in plain words: which way, and how sure."""
    if gi_class == 0:
        return NO_CLEAR
    side = BUSIER if gi_class > 0 else QUIETER
    return f"{side} — {SURE[abs(gi_class)]}"


def gi_details(gi_class: int) -> str:
    """The same class in a statistician's terms, for managers' details lines."""
    if gi_class == 0:
        return "Gi*: not significant (|z| < 1.65, p > 0.10)"
    spot = "hot spot" if gi_class > 0 else "cold spot"
    level, z, p = CONFIDENCE[abs(gi_class)]
    return f"Gi* {spot}, {level} confidence (|z| ≥ {z}, p ≤ {p})"


GI_LEGEND_DETAILS = (
    "Getis-Ord Gi* z-scores; very sure = 99 % confidence (|z| ≥ 2.58), fairly sure = 95 % "
    "(|z| ≥ 1.96), a little sure = 90 % (|z| ≥ 1.65)."
)


def period_words(label: str) -> str:
    """``2025-Q2`` -> "April–June 2025", ``2025-H2`` -> "July–December 2025", ``2025-05``
    -> "May 2025"; anything else (a year) as given."""
    if quarter := QUARTER.match(label):
        year, q = quarter.group(1), int(quarter.group(2))
        return f"{MONTHS[3 * q - 3]}–{MONTHS[3 * q - 1]} {year}"
    if half := HALF.match(label):
        year, h = half.group(1), int(half.group(2))
        return f"{MONTHS[6 * h - 6]}–{MONTHS[6 * h - 1]} {year}"
    if month := MONTH.match(label):
        return f"{MONTHS[int(month.group(2)) - 1]} {month.group(1)}"
    return label


def day_words(day: dt.date) -> str:
    """``2026-03-04`` -> "4 March 2026"."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def window_words(first: dt.date | None, last: dt.date | None) -> str:
    """A chosen window in words: its first and last days, either end open."""
    if first is None and last is None:
        return "every report"
    if first is None:
        assert last is not None
        return f"up to {day_words(last)}"
    if last is None:
        return f"from {day_words(first)} on"
    if first == last:
        return day_words(first)
    return f"{day_words(first)} to {day_words(last)}"


def reports_words(count: int) -> str:
    return f"{count} report" if count == 1 else f"{count} reports"
