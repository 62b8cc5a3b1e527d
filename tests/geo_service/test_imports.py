"""The one import service: a file read in chunks is judged like one request body."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi import FastAPI

import geo_service.ingest.tabular as tabular
from geo_service.ingest.batches import Sender
from geo_service.ingest.tabular import ColumnMap, Upload
from geo_service.services.imports import Imported, body_upload, import_events
from geo_service.storage.sql import SqlStore
from tests.conftest import TOWN


def _csv(observed: str) -> str:
    lon, lat = TOWN
    rows = [
        f"needle_report,{observed},{lat},{lon}",
        f"banana,{observed},{lat},{lon}",
        f"needle_report,{observed},{lat + 0.001},{lon}",
        f"needle_report,{observed},north,{lon}",
        f"cleanup,{observed},{lat},{lon + 0.001}",
    ]
    return "kind,observed_at,latitude,longitude\n" + "\n".join(rows) + "\n"


def _import(app: FastAPI, store: SqlStore, program: str, upload: Upload) -> Imported:
    sender = Sender(store.get_or_create_program(program))
    return import_events(store, app.state.deployment, sender, upload)


def test_a_file_in_chunks_gets_the_answer_of_one_body(
    app: FastAPI, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    observed = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=40)).floor("s")
    month = observed.tz_convert(app.state.deployment.tz).strftime("%Y-%m")
    released = {("needle_report", month), ("cleanup", month)}
    monkeypatch.setattr(store, "released_periods", lambda _program_id: released)
    text = _csv(observed.isoformat())

    whole = _import(app, store, "whole", body_upload("csv", text.encode(), max_rows=100))
    monkeypatch.setattr(tabular, "CHUNK_ROWS", 2)  # three chunks: rows 0-1, 2-3 and 4
    lines = io.StringIO(text, newline="")
    chunked = _import(app, store, "chunked", Upload("csv", lines=lines, columns=ColumnMap()))

    assert chunked.accepted == whole.accepted == 3
    assert chunked.rejected == whole.rejected
    assert [(r["index"], r["code"]) for r in chunked.rejected] == [
        (1, "invalid_value"),
        (3, "invalid_coordinates"),
    ]
    assert "CSV line 5" in chunked.rejected[1]["detail"]
    assert [n["index"] for n in chunked.held_back] == [0, 2, 4]
    assert chunked.held_back == whole.held_back
    for program in ("whole", "chunked"):
        assert store.count_rows(store.program_id(program) or 0)["events"] == 3


def test_a_body_over_the_row_limit_is_refused_whole(app: FastAPI, store: SqlStore) -> None:
    from geo_service.errors import PayloadTooLarge

    text = _csv(pd.Timestamp.now(tz="UTC").floor("s").isoformat())
    with pytest.raises(PayloadTooLarge):
        _import(app, store, "town", body_upload("csv", text.encode(), max_rows=4))
    assert store.count_rows(store.program_id("town") or 0)["events"] == 0
