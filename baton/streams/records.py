"""The records Baton writes: notifications and delivery outcomes (contract)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["info", "warning", "critical"]


class Cause(BaseModel):
    model_config = ConfigDict(extra="allow")

    event_id: str
    type: str


class Notification(BaseModel):
    """One record on ``m2c.notifications``: a notification Baton decided to send.

    ``id`` is ``<rule>:<cause id>`` so the same cause always yields the same id.
    ``facts`` (optional, Baton's addition) is the flat view model the
    templates render: every user-supplied string in it is raw, and escaped by
    the template of each channel.
    """

    model_config = ConfigDict(extra="allow")

    id: str
    rule: str
    team: str
    severity: Severity
    account_id: str | None
    title: str
    text: str
    channels: list[str]
    cause: Cause
    created_at: str
    facts: dict[str, Any] = Field(default_factory=dict)


class Delivery(BaseModel):
    """One attempt to deliver one notification on one channel (``m2c.deliveries``)."""

    notification_id: str
    channel: str
    attempt: int
    status: Literal["delivered", "retrying", "failed", "skipped-duplicate", "printed"]
    detail: str = ""
    at: str
    # Baton's additions: how many notifications the message carried when it was a digest,
    # and, on "retrying", the wait before the next attempt.
    digest_size: int | None = None
    next_attempt_in_seconds: float | None = None
