"""The page shell's templates: every value they show is escaped, whatever it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from markupsafe import escape
from starlette.requests import Request

from geo_service.api.ogc.html import Table
from geo_service.auth import Role, create_key
from geo_service.i18n import SwitchLink
from geo_service.main import create_app
from geo_service.services.alerts.banner import IndexAlerts, PageAlert
from geo_service.services.alerts.poster import Poster
from geo_service.web.pages import HeaderForm, Link, Select
from geo_service.web.shell import TEMPLATES, page, render, token_field
from maps.base import CSRF_SLOT
from tests.conftest import bearer, make_settings

HOSTILE = (
    "</script><script>window.__pwned=1</script>",
    "${x}",
    "`",
    '"><img src=x onerror=window.__pwned=1>',
    "' onmouseover='x",
)
PLAIN = "zq-plain-7"


def every_field(text: str) -> dict[str, dict[str, Any]]:
    """Each template of the shell with ``text`` in every value it shows."""
    form = HeaderForm(text, [Select(text, text, [(text, text)], text)], [(text, text)], text)
    switch = [SwitchLink(text, text, text, current=False)]
    return {
        "header.html": {
            "title": text,
            "form": form,
            "links": [Link(text, text)],
            "role": text,
            "switch": switch,
        },
        "signin.html": {"title": text, "next": text, "token": text, "switch": switch},
        "signin_refused.html": {"title": text, "switch": switch},
        "join.html": {"title": text, "code": text, "token": text, "days": text, "switch": switch},
        "join_refused.html": {"title": text, "switch": switch},
        "index.html": {
            "switch": switch,
            "title": text,
            "program": text,
            "kinds": [(text, text)],
            "siting": True,
            "token": text,
            "alerts": IndexAlerts(
                sent=[PageAlert(text, text, text, text, text, text, (text, text), text)],
                drafts_waiting=2,
            ),
        },
        "alert_poster.html": {
            "title": text,
            "switch": switch,
            "poster": Poster(
                alert_words=text,
                program=text,
                date=text,
                area=text,
                headline=text,
                count_words=text,
                what_to_do_words=text,
                what_to_do=[text, text],
                call=text,
                draft=text,
            ),
        },
        "ogc.html": {
            "title": text,
            "heading": text,
            "lines": [text],
            "links": [(text, text)],
            "table": Table([text], [[(text, text), (text, None)]]),
            "pages": [(text, text)],
            "json_href": text,
            "switch": switch,
        },
        "message.html": {
            "title": text,
            "heading": text,
            "text": text,
            "back": (text, text),
            "switch": switch,
        },
    }


def test_every_template_is_checked() -> None:
    # report.html shows one title and JSON data: tests/geo_service/test_report_page.py.
    shown = set(TEMPLATES.list_templates()) - {"base.html", "macros.html", "report.html"}
    assert shown == set(every_field(PLAIN))


@pytest.mark.parametrize("payload", HOSTILE)
@pytest.mark.parametrize("template", list(every_field(PLAIN)))
def test_each_shown_value_comes_out_escaped(template: str, payload: str) -> None:
    plain = render(template, "en", **every_field(PLAIN)[template])
    hostile = render(template, "en", **every_field(payload)[template])
    # The page with the payload is the plain page with the payload, escaped, in its place:
    # no field anywhere was left as markup.
    assert hostile == plain.replace(PLAIN, str(escape(payload)))
    assert "<img" not in hostile and "<script>" not in hostile
    assert PLAIN in plain


def test_the_empty_token_field_is_the_slot_pages_are_filled_at() -> None:
    assert token_field("") == CSRF_SLOT
    assert token_field('"><x') == '<input type="hidden" name="csrf_token" value="&#34;&gt;&lt;x">'


def test_a_refusal_page_keeps_its_status() -> None:
    request = Request({"type": "http", "path": "/x", "query_string": b"", "headers": []})
    refused = page(request, "message.html", title="t", heading="h", text="x", back=None, status=404)
    assert refused.status_code == 404


def test_a_hostile_program_name_is_shown_as_text_on_the_maps_index(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, map_tiles="none"))
    with TestClient(app) as client:
        key = create_key(app.state.store, program="town", role=Role.PEER)[1]
        # Program names are checked when made; the page does not rely on it.
        name = " ".join(HOSTILE)
        with app.state.store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE programs SET name = :name"), {"name": name})
        index = client.get("/maps", headers=bearer(key))
        assert index.status_code == 200
        assert f"<h1>Maps for {escape(name)}</h1>" in index.text
        assert "<img" not in index.text and "<script>" not in index.text
