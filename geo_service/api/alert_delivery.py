"""Alert delivery (issue 19): the steward's webhook and email subscribers, and the Atom feed
of sent alerts a feed reader polls.

The feed is routed here, ahead of ``/v1/alerts/{id}``: include this router before that one."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Cookie, Depends, Header, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from geo_service.auth import SESSION_COOKIE, Action, Principal, authenticate, session_principal
from geo_service.context import SettingsDep, StoreDep, allowed
from geo_service.errors import NotFound, Unauthenticated
from geo_service.i18n import language_of
from geo_service.models import KEYED, problems
from geo_service.security import KEY_VERIFIED
from geo_service.services.alerts.feed import build_feed, etag_of
from geo_service.services.alerts.subscribers import (
    MAX_TARGET_CHARS,
    SubscriberAsk,
    create_subscriber,
    delete_subscriber,
    shown,
)
from geo_service.services.program import ProgramContext

router = APIRouter(prefix="/v1", tags=["alerts"], responses=KEYED)
ATOM_MEDIA = "application/atom+xml"
SubscriberReader = Annotated[ProgramContext, Depends(allowed(Action.READ_PUBLICATION))]
SubscriberWriter = Annotated[ProgramContext, Depends(allowed(Action.CHANGE_PUBLICATION))]


class AlertSubscriberRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["webhook", "email"]
    target: str = Field(
        max_length=MAX_TARGET_CHARS,
        description="a webhook's https:// URL (http:// only to 127.0.0.1 or localhost), or "
        "an email address",
    )
    audience: Literal["peer", "planner", "manager"] = Field(
        description="whose view of an alert is sent: peers and planners get a count only when "
        "it reaches their k; managers get the counts"
    )


class AlertSubscriberInfo(BaseModel):
    id: int
    channel: Literal["webhook", "email"]
    target: str = Field(description="masked: a webhook's scheme and host, an email's domain")
    audience: Literal["peer", "planner", "manager"]
    created_at: int = Field(description="UTC epoch seconds")


class NewAlertSubscriber(AlertSubscriberInfo):
    secret: str | None = Field(
        description="webhooks: the HMAC-SHA256 key that signs every delivery, shown only now"
    )


class AlertSubscriberList(BaseModel):
    subscribers: list[AlertSubscriberInfo]


class DeletedAlertSubscriber(BaseModel):
    deleted: int


@router.post(
    "/alert-subscribers",
    summary="Send sent alerts to a webhook or an email address (stewards)",
    status_code=201,
    response_model=NewAlertSubscriber,
    responses=problems(400, 413),
)
def post_subscriber(body: AlertSubscriberRequest, ctx: SubscriberWriter) -> Any:
    """A webhook's secret is in this answer only: keep it to verify each delivery's
    ``X-Geo-Service-Signature``. Audited (without the target)."""
    principal = ctx.principal
    ask = SubscriberAsk(principal.program_id, body.channel, body.target, body.audience)
    subscriber, secret = create_subscriber(
        ctx.store, ask, actor=principal.actor, key_id=principal.key_id, now=int(time.time())
    )
    return {**shown(subscriber), "secret": secret}


@router.get(
    "/alert-subscribers",
    summary="Where the program's alerts are sent (managers and stewards)",
    response_model=AlertSubscriberList,
)
def get_subscribers(ctx: SubscriberReader) -> Any:
    """Never a secret; targets masked."""
    return {"subscribers": [shown(s) for s in ctx.store.subscribers(ctx.principal.program_id)]}


@router.delete(
    "/alert-subscribers/{subscriber_id}",
    summary="Stop sending alerts to a subscriber (stewards)",
    response_model=DeletedAlertSubscriber,
    responses=problems(404),
)
def remove_subscriber(
    ctx: SubscriberWriter, subscriber_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> Any:
    principal = ctx.principal
    if not delete_subscriber(
        ctx.store,
        principal.program_id,
        subscriber_id,
        actor=principal.actor,
        key_id=principal.key_id,
        now=int(time.time()),
    ):
        raise NotFound("no subscriber of this program has that id")
    return {"deleted": subscriber_id}


def feed_reader(
    request: Request,
    store: StoreDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE, include_in_schema=False)] = None,
) -> Principal:
    """A Bearer key (a feed reader's header), or a signed-in browser's session."""
    if authorization or not session:
        principal = authenticate(store, authorization)
    else:
        found = session_principal(store, session)
        if found is None:
            raise Unauthenticated("the sign-in has ended; sign in again")
        principal = found
    request.scope[KEY_VERIFIED] = True
    return principal


@router.get(
    "/alerts/feed.atom",
    summary="The program's sent alerts as an Atom feed, in the reader's role view",
    response_class=Response,
    responses={200: {"content": {ATOM_MEDIA: {"schema": {"type": "string"}}}}},
)
def get_feed(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(feed_reader)],
    if_none_match: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """The newest 50 sent alerts (drafts are never in a feed, for any role), each linking to
    its printable poster; in the request's language (``?lang=fr`` or Accept-Language)."""
    body = build_feed(store, settings, principal, language_of(request))
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": "no-store", "Vary": "Accept-Language"}
    if if_none_match == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=ATOM_MEDIA, headers=headers)
