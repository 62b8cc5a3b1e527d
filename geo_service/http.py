"""Request plumbing shared by routes: size limits, body reading and parsing, request log."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from fastapi import Request
from starlette.datastructures import MutableHeaders, UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo_service.errors import (
    MalformedBody,
    PayloadTooLarge,
    UnsupportedMediaType,
    problem_response,
)

logger = logging.getLogger("geo_service.http")

JSON_TYPES = ("application/geo+json", "application/json")
CSV_TYPES = ("text/csv", "application/csv")


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body is larger than this service's limit of {limit} bytes; split the batch "
        "(the operator sets the limit with GEO_SERVICE_MAX_BODY_BYTES)"
    )


class BodyLimitMiddleware:
    """Refuse bodies over the limit before any route reads them (413, problem+json)."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            err = _too_large(self.limit)
            response = problem_response(err.status, err.code, err.title, err.detail)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _too_large(self.limit)
            return message

        await self.app(scope, limited_receive, send)


class RequestLogMiddleware:
    """One log line per request: method, path, status, milliseconds, request id. Never the
    query or body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        # Ties a client's report (X-Request-ID) to this line and any error logged for it.
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            logger.info(
                "%s %s %d %.0fms request=%s",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
                request_id,
            )


class StartUpErrorMiddleware:
    """A failed start reports the lifespan's one-line reason, not Starlette's traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_reason(message: Message) -> None:
            reason = getattr(scope["app"].state, "start_up_error", None)
            if message["type"] == "lifespan.startup.failed" and reason:
                message = {**message, "message": reason}
            await send(message)

        await self.app(scope, receive, send_reason)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def parse_json(body: bytes) -> Any:
    """Parse JSON; errors say where and why, never what was there."""
    if not body.strip():
        raise MalformedBody("the body is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        head = body[exc.pos : exc.pos + 9].lstrip(b"-+")
        if head.startswith((b"NaN", b"Infinity", b"nan", b"inf")):
            raise MalformedBody(
                "NaN and Infinity are not valid JSON numbers; coordinates and "
                "counts must be finite numbers"
            ) from None
        if "depth" in str(exc) or "recursion" in str(exc):
            raise MalformedBody("the JSON is nested too deeply") from None
        raise MalformedBody(
            f"the body is not valid JSON (RFC 8259): problem at line {exc.lineno}, "
            f"column {exc.colno}"
        ) from None


def decode_text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedBody("CSV must be UTF-8 text") from None


async def read_payload(request: Request) -> tuple[str, bytes]:
    """Return ``(kind, body)`` with kind 'json' or 'csv', from a raw or multipart body.

    The size limit is enforced once, by ``BodyLimitMiddleware`` wrapping ``receive``.
    """
    kind = media_type(request)
    if kind in JSON_TYPES or kind in CSV_TYPES:
        return ("json" if kind in JSON_TYPES else "csv"), await request.body()
    if kind == "multipart/form-data":
        async with request.form(max_files=1, max_fields=5) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise MalformedBody("a multipart upload needs one file in a field named 'file'")
            content = await upload.read()
        name = (upload.filename or "").lower()
        part_type = (upload.content_type or "").split(";")[0].strip().lower()
        if name.endswith((".json", ".geojson")) or part_type in JSON_TYPES:
            return "json", content
        if name.endswith(".csv") or part_type in CSV_TYPES:
            return "csv", content
        raise UnsupportedMediaType("the uploaded file must be .csv, .geojson or .json")
    raise UnsupportedMediaType(
        "send application/geo+json (or application/json), text/csv, or multipart/form-data "
        "with a 'file' field"
    )
