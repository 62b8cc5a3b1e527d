"""The map's words: the same plain words in legend, popup, title and selector."""

from __future__ import annotations

import datetime as dt

from maps.hotspots import gi_style
from maps.words import gi_details, gi_words, period_words, window_words


def test_periods_read_as_months() -> None:
    assert period_words("2025-Q2") == "April–June 2025"
    assert period_words("2026-Q4") == "October–December 2026"
    assert period_words("2025-05") == "May 2025"
    assert period_words("2025") == "2025"
    assert period_words("2025-H1") == "January–June 2025"
    assert period_words("2025-H2") == "July–December 2025"


def test_a_chosen_window_reads_as_days() -> None:
    march, april = dt.date(2026, 3, 4), dt.date(2026, 4, 9)
    assert window_words(march, april) == "4 March 2026 to 9 April 2026"
    assert window_words(march, march) == "4 March 2026"
    assert window_words(march, None) == "from 4 March 2026 on"
    assert window_words(None, april) == "up to 9 April 2026"
    assert window_words(None, None) == "every report"


def test_gi_classes_in_plain_words_and_details_for_managers() -> None:
    assert gi_words(3) == "Busier than the streets around it — very sure"
    assert gi_words(2) == "Busier than the streets around it — fairly sure"
    assert gi_words(1) == "Busier than the streets around it — a little sure"
    assert gi_words(-3) == "Quieter than around it — very sure"
    assert gi_details(3) == "Gi* hot spot, 99 % confidence (|z| ≥ 2.58, p ≤ 0.01)"
    assert gi_details(-2).startswith("Gi* cold spot, 95 % confidence")
    # The legend says what the popup says; no statistician's term reaches a peer's legend.
    for level, (_, label) in gi_style().items():
        assert label == gi_words(level)
        assert "Gi" not in label and "confidence" not in label and "spot" not in label
