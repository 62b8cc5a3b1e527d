"""One error hierarchy, rendered as ``application/problem+json`` (RFC 9457).

Titles and details are written by us and never contain the request's input; the raw
exception goes to the log (without its message, which may quote input), not to the client.
"""

from __future__ import annotations

import logging
import sqlite3
import traceback
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"
# Seconds a client should wait before retrying when the database is away.
RETRY_AFTER_S = 5
# SQLite result codes that say "not now" (busy, missing or unreadable file, disk) not "wrong".
_SQLITE_TRANSIENT = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_READONLY",
)
logger = logging.getLogger("geo_service")


class ConfigurationError(RuntimeError):
    """Settings or database state that the service cannot start with; says how to fix it."""


class ServiceError(Exception):
    """An error the client can act on. ``detail`` must never include request input."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra
        self.headers: dict[str, str] = {}


class MalformedBody(ServiceError):
    status, code, title = 400, "malformed_body", "The request body could not be read"


class InvalidParameter(ServiceError):
    status, code, title = 400, "invalid_parameter", "A query parameter is invalid"


class Unauthenticated(ServiceError):
    status, code, title = 401, "unauthenticated", "An API key is required"


class Forbidden(ServiceError):
    status, code, title = 403, "forbidden", "This key's role may not do that"


class NotFound(ServiceError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(ServiceError):
    status, code, title = 409, "conflict", "Conflict"


class StoreBusy(ServiceError):
    """SQLite's one writer stayed busy (a long CLI import, say) past the request's wait;
    nothing was written, so the same request may simply be sent again."""

    status, code, title = 503, "store_busy", "The database is busy"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.headers["Retry-After"] = str(retry_after_s)


class PayloadTooLarge(ServiceError):
    status, code, title = 413, "payload_too_large", "The request body is too large"


class UnsupportedMediaType(ServiceError):
    status, code, title = 415, "unsupported_media_type", "Unsupported content type"


class Unprocessable(ServiceError):
    status, code, title = 422, "unprocessable", "Nothing in the request could be accepted"


@dataclass(frozen=True)
class Problem:
    """How one analysis error type is answered when it escapes a route."""

    status: int
    code: str
    title: str
    # None: show the error's own message (each is written by us and quotes no input);
    # otherwise show this fixed text instead.
    detail: str | None = None


@cache
def analysis_problems() -> dict[type[ValueError], Problem]:
    """Every analysis error type and the problem it becomes: the one table of them."""
    # Imported here, not at the top: the CLI and storage import this module and should not
    # load scikit-learn and OR-Tools on the way.
    from analysis.clusters import ClusterError
    from analysis.coverage import CoverageError
    from analysis.density import DensityError
    from analysis.ears import EarsError
    from analysis.emerging import EmergingError
    from analysis.grid import GridError
    from analysis.hotspots import HotspotError
    from analysis.network import NetworkError
    from analysis.projection import CrsError
    from analysis.publication import PublicationError
    from analysis.routing import RoutingError
    from analysis.siting import SitingError
    from analysis.stscan import ScanError

    # The status and code these had when each call site re-raised them as InvalidParameter.
    invalid = Problem(InvalidParameter.status, InvalidParameter.code, InvalidParameter.title)
    return {
        ClusterError: invalid,
        CoverageError: invalid,
        DensityError: invalid,
        HotspotError: invalid,
        RoutingError: invalid,
        SitingError: invalid,
        # The change-over-time methods (issue 19): their messages name our limits, not input.
        EarsError: invalid,
        EmergingError: invalid,
        ScanError: invalid,
        # Its cell-size message quotes the size it was given, which may be the request's.
        GridError: replace(
            invalid,
            detail="the cells asked for do not fit the grid: a cell size is the stored size "
            "times a power of two",
        ),
        NetworkError: Problem(
            422, "network_unusable", "The walking network cannot be used for this"
        ),
        CrsError: Problem(422, "crs_unusable", "The places cannot be projected to metres"),
        # One message carries the solver's own words: show a fixed text instead.
        PublicationError: Problem(
            422,
            "publication_failed",
            "The layer could not be prepared for publication",
            detail="the privacy checks could not be completed for these data; nothing "
            "was published",
        ),
    }


def as_service_error(exc: Exception) -> ServiceError | None:
    """The answer for an analysis error from the table; None for any other exception."""
    problems = analysis_problems()
    for kind in type(exc).__mro__:
        if kind in problems:
            problem = problems[kind]
            error = ServiceError(problem.detail or str(exc), code=problem.code)
            error.status, error.title = problem.status, problem.title
            return error
    return None


def problem_response(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": f"urn:geo-service:problem:{code}", "title": title, "status": status}
    body["detail"] = detail
    body["code"] = code
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _where(exc: BaseException, *, ours: bool = False) -> str:
    frames = list(traceback.extract_tb(exc.__traceback__))
    if ours:  # the driver's frames say nothing about which of our queries failed
        frames = [f for f in frames if "/geo_service/" in f.filename] or frames
    return " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(frames[-6:]))


async def _service_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    response = problem_response(exc.status, exc.code, exc.title, exc.detail, **exc.extra)
    response.headers.update(exc.headers)
    return response


async def _analysis_error(request: Request, exc: Exception) -> Response:
    error = as_service_error(exc)
    assert error is not None
    # The type, not the message, as in the other handlers: it says which check fired.
    logger.info("analysis refused %s request=%s", type(exc).__name__, request_id(request))
    return await _service_error(request, error)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # FastAPI's own messages carry the offending input; keep only where and what kind.
    errors = [
        {"location": [str(p) for p in err.get("loc", ())], "problem": err.get("type", "invalid")}
        for err in exc.errors()
    ]
    return problem_response(
        422,
        "invalid_request",
        "The request is invalid",
        "one or more parameters are missing or have the wrong type; see 'errors'",
        errors=errors,
    )


_HTTP_CODES = {
    401: ("unauthenticated", "An API key is required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "The request body is too large"),
}


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "Request failed"))
    return problem_response(exc.status_code, code, title, title)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The message may quote input (e.g. a float() failure), so log type and place only.
    rid = request_id(request)
    if not isinstance(exc, sa.exc.SQLAlchemyError | psycopg.Error):
        logger.error("unhandled %s request=%s at %s", type(exc).__name__, rid, _where(exc))
    return problem_response(
        500,
        "internal_error",
        "Internal error",
        "the service failed; nothing from this request was stored. Try again, and tell the "
        "operator if it keeps happening",
        request_id=rid,
    )


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def is_transient(exc: BaseException) -> bool:
    """Lost connection, timeout, server restarting: the same request may work shortly."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.exc.OperationalError) and isinstance(exc.orig, sqlite3.Error):
        # SQLite files "no such table" and syntax errors as operational too: go by the code.
        return str(getattr(exc.orig, "sqlite_errorname", "")).startswith(_SQLITE_TRANSIENT)
    return isinstance(exc, sa.exc.OperationalError | sa.exc.TimeoutError | psycopg.OperationalError)


async def _database_error(request: Request, exc: Exception) -> Response:
    # SQLAlchemy's message quotes the statement's parameters (cells, keys): log the class only.
    cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    state = getattr(cause, "sqlstate", None) or "-"
    rid = request_id(request)
    if not is_transient(exc):
        logger.error(
            "database error %s sqlstate=%s request=%s at %s",
            type(cause).__name__,
            state,
            rid,
            _where(exc, ours=True),
        )
        return await _unexpected(request, exc)
    logger.warning(
        "database unavailable: %s sqlstate=%s request=%s", type(cause).__name__, state, rid
    )
    response = problem_response(
        503,
        "database_unavailable",
        "The database is not answering",
        f"the database did not answer; retry after {RETRY_AFTER_S} seconds (a batch sent "
        "with an Idempotency-Key is stored at most once)",
        request_id=rid,
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    for analysis_error in analysis_problems():
        app.add_exception_handler(analysis_error, _analysis_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Database errors are handled here, not as Exception: Starlette re-raises those to the
    # server, which would log a traceback quoting the statement's parameters.
    app.add_exception_handler(sa.exc.SQLAlchemyError, _database_error)
    app.add_exception_handler(psycopg.Error, _database_error)
    app.add_exception_handler(Exception, _unexpected)
