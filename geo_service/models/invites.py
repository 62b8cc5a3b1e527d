"""The steward's invites: what is asked, and what is answered (never a stored code)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from geo_service.services.invites import CODE_BITS, MAX_SESSION_DAYS


class InviteRequest(BaseModel):
    """Who the phone will be: peers and planners only (a manager gets a key, deliberately)."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["peer", "planner"]
    session_days: int = Field(
        default=MAX_SESSION_DAYS,
        ge=1,
        le=MAX_SESSION_DAYS,
        description="how long the phone stays signed in after joining",
    )
    label: str | None = Field(default=None, max_length=100, description="a note, not a name")


class InviteInfo(BaseModel):
    id: int
    role: Literal["peer", "planner"]
    session_days: int
    created_at: int = Field(description="UTC epoch seconds")
    expires_at: int = Field(description="UTC epoch seconds; the code works until then, once")
    label: str | None


class NewInviteAnswer(InviteInfo):
    code: str = Field(
        description=f"8 characters ({CODE_BITS:.1f} bits), shown only now; never stored"
    )
    url: str = Field(description="the /join link the QR code carries")


class InviteList(BaseModel):
    invites: list[InviteInfo] = Field(description="open invites: not used, revoked or expired")


class RevokedInvite(BaseModel):
    revoked: int = Field(description="the invite's id; a phone that joined with it is signed out")
