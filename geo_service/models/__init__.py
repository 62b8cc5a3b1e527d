"""The schemas of the OpenAPI document: request bodies the routes parse themselves, every
answer's shape, and the ``Problem`` every error is answered with."""

from geo_service.ingest.batches import BatchResult, RejectedRow
from geo_service.models.alerts import (
    AlertAnswer,
    AlertAreaCollection,
    AlertDeleted,
    AlertList,
    AlertRuleAnswer,
    AlertRuleList,
    AlertRuleRequest,
    AlertSettingsAnswer,
    AlertSettingsRequest,
    PosterChoice,
)
from geo_service.models.answers import (
    AuditPage,
    CleanupRoute,
    CoverageAnswer,
    DeleteAnswer,
    LockerPlanAnswer,
    PublicationSettings,
    RankingAnswer,
    ReportAnswer,
)
from geo_service.models.bodies import (
    EVENTS_REQUEST_BODY,
    REPORTS_REQUEST_BODY,
    SITES_REQUEST_BODY,
    EventFeatureCollection,
    PhoneReport,
    SiteFeatureCollection,
)
from geo_service.models.geojson import (
    ContextCollection,
    EventCellCollection,
    ExportCollection,
    HotspotCollection,
    ReleaseCollection,
    ServiceSite,
    ServiceSiteCollection,
)
from geo_service.models.invites import (
    InviteInfo,
    InviteList,
    InviteRequest,
    NewInviteAnswer,
    RevokedInvite,
)
from geo_service.models.media import GeoJSONAnswer
from geo_service.models.problems import KEYED, UPLOAD, Problem, problems

__all__ = [
    "EVENTS_REQUEST_BODY",
    "KEYED",
    "REPORTS_REQUEST_BODY",
    "SITES_REQUEST_BODY",
    "UPLOAD",
    "AlertAnswer",
    "AlertAreaCollection",
    "AlertDeleted",
    "AlertList",
    "AlertRuleAnswer",
    "AlertRuleList",
    "AlertRuleRequest",
    "AlertSettingsAnswer",
    "AlertSettingsRequest",
    "AuditPage",
    "BatchResult",
    "CleanupRoute",
    "ContextCollection",
    "CoverageAnswer",
    "DeleteAnswer",
    "EventCellCollection",
    "EventFeatureCollection",
    "ExportCollection",
    "GeoJSONAnswer",
    "HotspotCollection",
    "InviteInfo",
    "InviteList",
    "InviteRequest",
    "LockerPlanAnswer",
    "NewInviteAnswer",
    "PhoneReport",
    "PosterChoice",
    "Problem",
    "PublicationSettings",
    "RankingAnswer",
    "RejectedRow",
    "ReleaseCollection",
    "ReportAnswer",
    "RevokedInvite",
    "ServiceSite",
    "ServiceSiteCollection",
    "SiteFeatureCollection",
    "problems",
]
