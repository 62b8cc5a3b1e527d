"""Query parameters: a GET route refuses names it does not declare.

A misspelt option (``perod`` for ``period``) used to be ignored, and the route answered
with its default window as if nothing were wrong. One app-wide dependency compares the
request's names with the query parameters the matched route declares (its own and its
dependencies'), so every route, and every route added later, refuses them the same way.
Routes with several options take them as one query model (``extra="forbid"``, so a model
used elsewhere refuses foreign names too); its fields count as declared names here.
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from geo_service.errors import ServiceError

# Only a name that looks like a parameter is named back: the name is input too, and an
# arbitrary one could carry text a client never meant to see repeated.
_NAMEABLE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,39}")
_CHECKED_METHODS = frozenset({"GET", "HEAD"})


class Ask(BaseModel):
    """Base of the query models: unknown names are refused, values are never echoed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class UnknownParameter(ServiceError):
    status, code, title = 422, "unknown_parameter", "A query parameter is not recognised"


def declared_query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameter names (aliases) a route and its dependencies accept."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                names.update(f.alias or name for name, f in model.model_fields.items())
            else:
                names.add(field.alias)
        pending.extend(current.dependencies)
    return frozenset(names)


def refuse_unknown_query(request: Request) -> None:
    """Answer 422 naming an undeclared query parameter; its value is never repeated."""
    route = request.scope.get("route")
    if request.method not in _CHECKED_METHODS or not isinstance(route, APIRoute):
        return
    declared = declared_query_names(route.dependant)
    unknown = sorted(set(request.query_params.keys()) - declared)
    if not unknown:
        return
    named = [name for name in unknown if _NAMEABLE.fullmatch(name)]
    takes = ", ".join(sorted(declared)) if declared else "no query parameters"
    what = ", ".join(named) if len(named) == len(unknown) else "a query parameter"
    raise UnknownParameter(
        f"{what} is not recognised here; this route takes {takes}",
        errors=[{"location": ["query", name], "problem": "extra_forbidden"} for name in named],
    )
