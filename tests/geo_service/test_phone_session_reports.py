"""A phone signed in with an invite sends reports with its session cookie and the session's
form token: a page on another site, a request without the token, or a revoked phone cannot."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from geo_service.auth import SESSION_COOKIE, revoke_key
from geo_service.security import form_token
from geo_service.storage import Store
from tests.conftest import problem
from tests.geo_service.test_invites import ORIGIN, invite, tap_join
from tests.geo_service.test_reports_api import Keys, report, stored

TOKEN = "X-Form-Token"


def joined_phone(app: FastAPI, client: TestClient, keys: Keys) -> tuple[TestClient, str]:
    """A phone that joined with a steward's code, and its session's form token."""
    made = invite(client, keys["steward"])
    phone, joined = tap_join(app, made["code"])
    assert joined.status_code == 303
    session = phone.cookies.get(SESSION_COOKIE)
    assert session
    return phone, form_token(session)


def send(phone: TestClient, body: dict[str, Any], **headers: str) -> Any:
    headers.setdefault("Idempotency-Key", str(uuid.uuid4()))
    return phone.post("/v1/reports", json=body, headers={**ORIGIN, **headers})


def test_a_joined_phone_reports_with_its_session_and_form_token(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    phone, token = joined_phone(app, client, keys)
    once = str(uuid.uuid4())
    first = send(phone, report(app), **{TOKEN: token, "Idempotency-Key": once})
    assert first.status_code == 201, first.text
    again = send(phone, report(app), **{TOKEN: token, "Idempotency-Key": once})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    rows = stored(client, keys)
    assert len(rows) == 1 and rows[0]["kind"] == "needle_report"


def test_without_the_form_token_nothing_is_stored(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    phone, token = joined_phone(app, client, keys)
    for headers in ({}, {TOKEN: ""}, {TOKEN: token[:-1] + ("0" if token[-1] != "0" else "1")}):
        answer = send(phone, report(app), **headers)
        assert problem(answer, 403)["code"] == "form_token"
    assert stored(client, keys) == []


def test_a_page_on_another_site_cannot_send_as_the_phone(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    phone, token = joined_phone(app, client, keys)
    headers = {TOKEN: token, "Idempotency-Key": str(uuid.uuid4())}
    for origin in ("http://evil.example", "http://testserver:8080"):
        answer = phone.post("/v1/reports", json=report(app), headers={**headers, "Origin": origin})
        assert problem(answer, 403)["code"] == "cross_origin"
    assert stored(client, keys) == []


def test_a_revoked_phone_is_refused_and_told_to_ask_for_a_code(
    app: FastAPI, client: TestClient, keys: Keys, store: Store
) -> None:
    phone, token = joined_phone(app, client, keys)
    (key,) = [k for k in store.list_keys("town") if (k.label or "").startswith("phone (invite")]
    assert revoke_key(store, key.id)
    answer = send(phone, report(app), **{TOKEN: token})
    assert problem(answer, 401)["code"] == "unauthenticated"
    assert stored(client, keys) == []


def test_a_form_token_of_another_session_does_not_fit(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    phone, _ = joined_phone(app, client, keys)
    _, other_token = joined_phone(app, client, keys)
    answer = send(phone, report(app), **{TOKEN: other_token})
    assert problem(answer, 403)["code"] == "form_token"
