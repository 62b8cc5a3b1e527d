"""The clean-up route answer (GeoJSON) as the records its map draws, for tests that draw
an answer they have changed."""

from __future__ import annotations

from typing import Any

from maps.records import Route, RouteEnd, RouteStop, TeamPath


def route_record(route: dict[str, Any]) -> Route:
    """The clean-up route answer (GeoJSON) as the records its map draws."""
    kinds: dict[str, list[dict[str, Any]]] = {"start": [], "end": [], "path": [], "stop": []}
    for f in route["features"]:
        kinds[f["properties"]["kind"]].append(f)
    ends = [
        RouteEnd(
            f["properties"]["kind"],
            f["properties"]["name"],
            f["geometry"]["coordinates"][0],
            f["geometry"]["coordinates"][1],
        )
        for f in kinds["start"] + kinds["end"]
    ]
    paths = [
        TeamPath(p["team"], f["geometry"]["coordinates"], p["stops"], p["duration_min"],
                 p["distance_m"])
        for f in kinds["path"] if (p := f["properties"])
    ]  # fmt: skip
    # The answer's reason leads with the reports ("583 needles reported in 2025-Q2; ..."),
    # which the record carries as a number; the rest are the notes.
    stops = [
        RouteStop(p["team"], p["order"], p["stop"], f["geometry"]["coordinates"][0],
                  f["geometry"]["coordinates"][1], p["arrival_minute"], p["expected_needles"],
                  p["reason"].split("; ", 1)[1], p["needles_reported"])
        for f in kinds["stop"] if (p := f["properties"])
    ]  # fmt: skip
    s = route["summary"]
    return Route(ends, paths, stops, s["budget_min"], s["expected_needles"], s["stops_visited"],
                 s["stops_skipped"], s["routing"]["note"], s["window"])  # fmt: skip
