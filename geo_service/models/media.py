"""Response classes that only name an answer's media type in the OpenAPI document."""

from __future__ import annotations

from starlette.responses import JSONResponse

from geo_service.geojson import GEOJSON


class GeoJSONAnswer(JSONResponse):
    """``response_class=`` of the routes answering GeoJSON: the document then lists the
    answer's schema under application/geo+json. The routes still build their own bytes."""

    media_type = GEOJSON
