"""The reports of a short window (an alert rule's last 24 hours or hour), one per row."""

from __future__ import annotations

from dataclasses import dataclass

from geo_service.storage.records import IntArray


@dataclass(frozen=True)
class WindowReports:
    """Reports of one kind whose bucket overlaps a window, one per stored row."""

    cell_m: IntArray
    ix: IntArray
    iy: IntArray
    bucket_start: IntArray
    bucket_hours: IntArray
    count: IntArray  # needles named (1 for an overdose)
    naloxone: IntArray  # naloxone doses named (0 when not given)
    reporter: IntArray  # the submitting key's id; a unique negative id for key-less imports

    def __len__(self) -> int:
        return len(self.cell_m)
