"""The ``basis`` every analysis answer carries: what share of the window's reports it rests
on (``geo_service.services.basis`` computes it)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AnswerBasis(BaseModel):
    """Managers and stewards: the share of every event of the window. Peers, planners and
    the public: the share of the reports the period's release shows at any square size;
    reports too few to show anywhere are never counted, nor said to exist or not."""

    reports_used: int = Field(description="reports the answer is computed on")
    reports_in_window: int | None = Field(
        description="managers and stewards: every report of the window"
    )
    reports_released: int | None = Field(
        description="peers, planners, public: reports the release shows at any square size"
    )
    share: float | None = Field(
        description="reports_used over reports_in_window or reports_released (null: none)"
    )
    words: str = Field(description="the same in plain words")
