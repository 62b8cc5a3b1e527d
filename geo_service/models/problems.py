"""The error answer every route shares: ``application/problem+json`` (RFC 9457), documented
once as the ``Problem`` schema and referred to by each route's error statuses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from geo_service.errors import PROBLEM_JSON
from geo_service.ingest.batches import RejectedRow

PROBLEM_REF = "#/components/schemas/Problem"

# What each status means in this API; a route lists the ones it can answer.
WHEN = {
    400: "A parameter or the body is invalid (code invalid_parameter, malformed_body, ...)",
    401: "No API key, or an unknown or revoked one",
    403: "This key's role may not do that",
    404: "Not found (another program's data answers the same)",
    409: "The Idempotency-Key was used before for a different batch",
    413: "The request body or the batch is too large",
    415: "The body is neither GeoJSON, CSV nor a multipart upload of one",
    422: "The request is invalid (see 'errors'), or nothing in it could be accepted "
    "(see 'rejected')",
    429: "Too many requests from this key or address; retry later",
    503: "The database (or an analysis) is not answering in time; see Retry-After",
}


class ProblemLocation(BaseModel):
    location: list[str] = Field(description="where: 'query', 'body', then names or indexes")
    problem: str = Field(description="what kind of problem, e.g. missing, extra_forbidden")


class Problem(BaseModel):
    """An error answer. ``detail`` is written by the service and never quotes the input."""

    model_config = ConfigDict(extra="allow", title="Problem")
    type: str = Field(description="urn:geo-service:problem:<code>")
    title: str
    status: int
    detail: str
    code: str = Field(description="a stable, machine-readable name of the problem")
    errors: list[ProblemLocation] | None = Field(
        default=None, description="422: each invalid or unknown parameter"
    )
    rejected: list[RejectedRow] | None = Field(
        default=None, description="422: each rejected row of a batch that stored nothing"
    )
    retry_after: int | None = Field(default=None, description="503: seconds to wait")
    request_id: str | None = Field(default=None, description="for the operator's logs")


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries: each status answered with a ``Problem``."""
    content = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
    return {status: {"description": WHEN[status], "content": content} for status in statuses}


# What any route behind a key can answer: no or a bad key, a role it may not use, invalid or
# unknown parameters, the rate limit, and a database that does not answer.
KEYED = problems(401, 403, 422, 429, 503)
# And what a route that takes a batch upload can answer besides.
UPLOAD = problems(400, 409, 413, 415)
