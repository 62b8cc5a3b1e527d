"""Column rules for events: the first failing rule per row, and typed columns from text or
JSON values (:mod:`geo_service.ingest.events` applies them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
BoolArray = npt.NDArray[np.bool_]


class Verdicts:
    """The first failing rule of each row, kept as a small integer per row."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, -1, dtype=np.int32)
        self.reasons: list[tuple[str, str]] = []

    def flag(self, mask: BoolArray, code: str, detail: str) -> None:
        fresh = mask & (self.reason < 0)
        if fresh.any():
            self.reasons.append((code, detail))
            self.reason[fresh] = len(self.reasons) - 1

    def flag_rows(self, rows: dict[int, tuple[str, str]]) -> None:
        for i, reason in rows.items():
            if self.reason[i] < 0:
                self.reasons.append(reason)
                self.reason[i] = len(self.reasons) - 1

    @property
    def ok(self) -> BoolArray:
        return np.asarray(self.reason < 0)


def blank(values: Sequence[Any]) -> BoolArray:
    return np.fromiter((v is None or v == "" for v in values), dtype=bool, count=len(values))


def enum_column(values: Sequence[Any], allowed: Iterable[str]) -> tuple[BoolArray, BoolArray]:
    """Return ``(blank, invalid)`` masks for an optional enumerated string column."""
    empty = blank(values)
    allowed_set = set(allowed)
    invalid = np.fromiter(
        (
            not (v is None or v == "") and (type(v) is not str or v not in allowed_set)
            for v in values
        ),
        dtype=bool,
        count=len(values),
    )
    return empty, invalid


def int_column(
    values: Sequence[Any], text: bool
) -> tuple[npt.NDArray[np.int64], BoolArray, BoolArray]:
    """Return ``(value, blank, invalid)``; JSON needs real integers, CSV needs digits."""
    n = len(values)
    out = np.zeros(n, dtype=np.int64)
    empty = blank(values)
    invalid = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(~empty).tolist():
        v = values[i]
        if text:
            if not (v.isascii() and v.isdigit()) or len(v) > 9:
                invalid[i] = True
                continue
            out[i] = int(v)
        elif type(v) is int and abs(v) < 10**9:
            out[i] = v
        else:
            invalid[i] = True
    return out, empty, invalid


def bool_column(values: Sequence[Any], text: bool) -> tuple[list[bool | None], BoolArray]:
    out: list[bool | None] = [None] * len(values)
    invalid = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if v is None or v == "":
            continue
        if not text and type(v) is bool:
            out[i] = v
        elif text and v.lower() in _TRUE:
            out[i] = True
        elif text and v.lower() in _FALSE:
            out[i] = False
        else:
            invalid[i] = True
    return out, invalid
