"""The words a map says, in one place, so its legend, popups, title and selectors agree.

Peers and planners read plain words; managers also get the statistician's terms (Gi*, z,
p, confidence) in a "details" line. Period values stay as the API spells them (``2025-Q2``,
``2025-05``); only what a person reads changes.
"""

from __future__ import annotations

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
    """``2025-Q2`` -> "April–June 2025", ``2025-05`` -> "May 2025"; anything else as given."""
    if quarter := QUARTER.match(label):
        year, q = quarter.group(1), int(quarter.group(2))
        return f"{MONTHS[3 * q - 3]}–{MONTHS[3 * q - 1]} {year}"
    if month := MONTH.match(label):
        return f"{MONTHS[int(month.group(2)) - 1]} {month.group(1)}"
    return label


def reports_words(count: int) -> str:
    return f"{count} report" if count == 1 else f"{count} reports"


def month_total_words(label: str, total: int) -> str:
    """A trends slider step: "March 2026 — 41 reports" (for peers, released reports only)."""
    return f"{period_words(label)} — {reports_words(total)}"


def expected_here_words(expected: float, reported: int, window: str) -> str:
    """A clean-up stop's worth, with what it rests on: "about 16 needles expected here (583
    reported in April–June 2025)"; ``window`` is a period label or words ("the last 90 days")."""
    when = period_words(window)
    return f"about {expected:.0f} needles expected here ({reported} reported in {when})"


def expected_route_words(expected: float, stops: int, window: str) -> str:
    """The same, for a whole walk, as the route legend says it."""
    where = "1 stop" if stops == 1 else f"{stops} stops"
    return (
        f"About {expected:.0f} needles expected at {where} (from reports in {period_words(window)})"
    )


# Rolled-up squares: reports whose small squares were too few to show, counted in a larger one.
ROLLED_UP = "Reports somewhere in this larger square"
