"""The program's sent alerts as an Atom feed (RFC 4287), cut to the reader's role.

Sent alerts only, for every role, managers too: the feed is a delivery channel, and a draft
has not been delivered (managers review drafts through ``/v1/alerts``). Built with
ElementTree, so a name holding ``</script>`` or ``]]>`` is escaped text in the XML."""

from __future__ import annotations

import datetime as dt
import hashlib
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from geo_service.auth import Principal
from geo_service.services.alerts.messages import (
    audience_k,
    poster_url,
    rules_by_id,
    text_of,
    title_of,
)
from geo_service.services.alerts.views import alert_view
from geo_service.settings import Settings
from geo_service.storage import Store
from maps.language import N_, translations

ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FEED_PATH = "/v1/alerts/feed.atom"
FEED_SIZE = 50
TAG_DATE = "2026"  # the tag URIs' date (RFC 4151): fixed, so entry ids never change
FEED_TITLE = N_("Drug alerts: {program}")
AUTHOR = "geo-service"
ET.register_namespace("", ATOM)


def _atom(tag: str) -> str:
    return f"{{{ATOM}}}{tag}"


def _time(epoch_s: int) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _authority(settings: Settings) -> str:
    """The tag URIs' authority: the public host name, else the service's own name."""
    host = urlsplit(settings.public_url).hostname if settings.public_url else None
    return host or "geo-service"


def entry_id(settings: Settings, program: str, ref: str) -> str:
    """Stable per alert (and the same for every role and language)."""
    return f"tag:{_authority(settings)},{TAG_DATE}:{program}/alerts/{ref}"


def _text(parent: ET.Element, tag: str, text: str, **attrib: str) -> ET.Element:
    child = ET.SubElement(parent, _atom(tag), attrib)
    child.text = text
    return child


def build_feed(store: Store, settings: Settings, principal: Principal, language: str) -> bytes:
    """The newest :data:`FEED_SIZE` sent alerts in ``principal``'s role view."""
    words = translations(language).gettext
    program = principal.program
    sent = store.list_alerts(principal.program_id, statuses=["sent"], limit=FEED_SIZE)
    feed = ET.Element(_atom("feed"), {XML_LANG: language})
    _text(feed, "id", f"tag:{_authority(settings)},{TAG_DATE}:{program}/alerts/{principal.role}")
    _text(feed, "title", words(FEED_TITLE).format(program=program))
    updated = max((alert.decided_at or alert.drafted_at for alert in sent), default=0)
    _text(feed, "updated", _time(updated))
    author = ET.SubElement(feed, _atom("author"))
    _text(author, "name", AUTHOR)
    ET.SubElement(
        feed, _atom("link"), {"rel": "self", "href": (settings.public_url or "") + FEED_PATH}
    )
    rules = rules_by_id(store, principal.program_id)
    k = audience_k(store, settings, principal.program_id, principal.role)
    for alert in sent:
        rule = rules.get(alert.rule_id)
        if rule is None:
            continue
        view = alert_view(alert, rule, role=principal.role, k=k, language=language)
        entry = ET.SubElement(feed, _atom("entry"))
        _text(entry, "id", entry_id(settings, program, alert.ref))
        _text(entry, "title", title_of(view))
        _text(entry, "updated", _time(alert.decided_at or alert.drafted_at))
        ET.SubElement(
            entry,
            _atom("link"),
            {"rel": "alternate", "type": "text/html", "href": poster_url(settings, alert.ref)},
        )
        _text(entry, "content", text_of(view, language, role=principal.role), type="text")
    built: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return built


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
