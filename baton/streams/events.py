"""The contract's input events as pydantic v2 models.

One model per event type, joined in the ``Event`` union discriminated by
``type``. Validation is strict (a string is not a number, a number is not a
string) because the contract sends wrong types to the dead letter topic rather
than guessing. Unknown extra fields are kept and ignored (``extra="allow"``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

# --- field types -----------------------------------------------------------

Id = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Text = Annotated[str, StringConstraints(max_length=2000)]
Amount = Annotated[int, Field(ge=0, le=10**15, description="Money in minor units (cents); never negative.")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), Field(description="ISO 4217 code, e.g. USD")]
LeadSource = Literal["marketing", "sales", "channel"]
Temperature = Literal["hot", "warm", "cold"]
Team = Literal["marketing", "sales"]
Period = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    id: Id
    occurred_at: AwareDatetime = Field(description="RFC 3339 with an offset, e.g. 2026-11-22T10:04:00Z")
    account_id: Id
    source: Text | None = None


# --- data of each type -------------------------------------------------------

class SignupData(_Data):
    company: Text
    email: Text
    plan: Text | None = None
    mrr: Amount | None = None
    currency: Currency | None = None
    campaign_id: Id | None = None


class LeadCreatedData(_Data):
    lead_id: Id
    source: LeadSource
    temperature: Temperature
    campaign_id: Id | None = None
    owner_id: Id | None = None
    contact_name: Text | None = None
    contact_email: Text | None = None
    # Baton's optional addition (the contract allows them): names a lead-only account.
    company: Text | None = None


class LeadOwnerData(_Data):
    lead_id: Id
    owner_id: Id


class LeadRefData(_Data):
    lead_id: Id


class LeadDisqualifiedData(_Data):
    lead_id: Id
    reason: Text


class DealCreatedData(_Data):
    deal_id: Id
    amount: Amount
    currency: Currency
    owner_id: Id
    lead_id: Id | None = None
    source: LeadSource | None = None
    campaign_id: Id | None = None


class DealStageData(_Data):
    deal_id: Id
    stage: Text


class DealWonData(_Data):
    deal_id: Id
    amount: Amount
    currency: Currency


class DealLostData(_Data):
    deal_id: Id
    reason: Text


class PaymentSucceededData(_Data):
    payment_id: Id
    amount: Amount
    currency: Currency
    deal_id: Id | None = None
    invoice_id: Id | None = None


class PaymentFailedData(_Data):
    payment_id: Id
    amount: Amount
    currency: Currency
    reason: Text


class PaymentRefundedData(_Data):
    payment_id: Id
    amount: Amount
    currency: Currency


class SubscriptionCancelledData(_Data):
    reason: Text | None = None


class SpendData(_Data):
    spend_id: Id
    amount: Amount
    currency: Currency
    team: Team
    campaign_id: Id | None = None
    period: Period | None = None


# --- events --------------------------------------------------------------------

class SignupCreated(_Envelope):
    type: Literal["signup.created"]
    data: SignupData


class LeadCreated(_Envelope):
    type: Literal["lead.created"]
    data: LeadCreatedData


class LeadAssigned(_Envelope):
    type: Literal["lead.assigned"]
    data: LeadOwnerData


class LeadContacted(_Envelope):
    type: Literal["lead.contacted"]
    data: LeadOwnerData


class LeadQualified(_Envelope):
    type: Literal["lead.qualified"]
    data: LeadRefData


class LeadDisqualified(_Envelope):
    type: Literal["lead.disqualified"]
    data: LeadDisqualifiedData


class DealCreated(_Envelope):
    type: Literal["deal.created"]
    data: DealCreatedData


class DealStageChanged(_Envelope):
    type: Literal["deal.stage_changed"]
    data: DealStageData


class DealWon(_Envelope):
    type: Literal["deal.won"]
    data: DealWonData


class DealLost(_Envelope):
    type: Literal["deal.lost"]
    data: DealLostData


class PaymentSucceeded(_Envelope):
    type: Literal["payment.succeeded"]
    data: PaymentSucceededData


class PaymentFailed(_Envelope):
    type: Literal["payment.failed"]
    data: PaymentFailedData


class PaymentRefunded(_Envelope):
    type: Literal["payment.refunded"]
    data: PaymentRefundedData


class SubscriptionCancelled(_Envelope):
    type: Literal["subscription.cancelled"]
    data: SubscriptionCancelledData


class SpendRecorded(_Envelope):
    """Spend belongs to no account: ``account_id`` is optional here only."""

    type: Literal["spend.recorded"]
    account_id: Id | None = None  # type: ignore[assignment]
    data: SpendData


Event = Annotated[
    Union[
        SignupCreated,
        LeadCreated,
        LeadAssigned,
        LeadContacted,
        LeadQualified,
        LeadDisqualified,
        DealCreated,
        DealStageChanged,
        DealWon,
        DealLost,
        PaymentSucceeded,
        PaymentFailed,
        PaymentRefunded,
        SubscriptionCancelled,
        SpendRecorded,
    ],
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_TYPES: tuple[str, ...] = tuple(
    m.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
    for m in Event.__origin__.__args__  # type: ignore[attr-defined]
)


def occurred_at_iso(moment: datetime) -> str:
    """The canonical UTC text of a time, as Baton writes it everywhere."""
    from datetime import timezone

    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
