"""Fold an account's history into its funnel state (published on ``m2c.funnel``).

Pure: the same history always folds to the same state. Times are epoch
milliseconds internally and RFC 3339 UTC text in ``as_json()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from baton.funnel.history import AccountHistory

# Lifecycle stages, in funnel order. "lost" and "churned" are exits.
STAGES = ("lead", "mql", "sql", "opportunity", "won", "customer", "lost", "churned")
STAGE_LABELS = {
    "lead": "Lead",
    "mql": "MQL / contacted",
    "sql": "SQL / qualified",
    "opportunity": "Opportunity",
    "won": "Won",
    "customer": "Paying customer",
    "lost": "Lost",
    "churned": "Churned",
}


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return _iso(ms)


DAY_MS = 86_400_000


# Every m2c.funnel record spells out its account's instants again (~1 µs each through
# datetime): the same few per account, flush after flush. Past the cache (10,000
# accounts hold more instants than it does) only the date goes through datetime, once a day.
@lru_cache(maxsize=65_536)
def _iso(ms: int) -> str:
    day, in_day = divmod(ms, DAY_MS)
    seconds, milli = divmod(in_day, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{_date(day)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{milli:03d}Z"


@lru_cache(maxsize=4096)
def _date(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=timezone.utc).date().isoformat()


@dataclass(slots=True)
class Lead:
    lead_id: str
    created_at: int | None = None
    source: str | None = None
    temperature: str | None = None
    campaign_id: str | None = None
    owner_id: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    contacted_at: int | None = None  # first contact
    contacted_by: str | None = None
    qualified_at: int | None = None
    disqualified_at: int | None = None
    disqualified_reason: str | None = None


@dataclass(slots=True)
class Deal:
    deal_id: str
    created_at: int | None = None
    amount: int | None = None
    currency: str | None = None
    owner_id: str | None = None
    lead_id: str | None = None
    source: str | None = None
    campaign_id: str | None = None
    stage: str | None = None
    won_at: int | None = None
    won_amount: int | None = None
    won_currency: str | None = None
    lost_at: int | None = None
    lost_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.won_at is None and self.lost_at is None


@dataclass(slots=True)
class Payment:
    payment_id: str
    at: int
    amount: int
    currency: str
    status: str  # succeeded | failed | refunded
    deal_id: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class AccountState:
    account_id: str
    company: str | None = None
    email: str | None = None
    plan: str | None = None
    signed_up_at: int | None = None
    signup_campaign_id: str | None = None
    leads: dict[str, Lead] = field(default_factory=dict)
    deals: dict[str, Deal] = field(default_factory=dict)
    payments: list[Payment] = field(default_factory=list)
    owner_id: str | None = None
    first_touch_campaign_id: str | None = None
    first_payment_at: int | None = None
    last_payment_at: int | None = None
    cancelled_at: int | None = None  # the latest subscription.cancelled
    cancellations: list[int] = field(default_factory=list)  # every subscription.cancelled, in order (churn per period)
    as_of: int | None = None
    event_count: int = 0

    # --- derived -------------------------------------------------------------
    @property
    def name(self) -> str:
        """How people call the account: its company name, else its id."""
        return self.company or self.account_id

    @property
    def first_contact_at(self) -> int | None:
        times = [lead.contacted_at for lead in self.leads.values() if lead.contacted_at is not None]
        return min(times) if times else None

    @property
    def source(self) -> str | None:
        """The account's source: its first lead's, else its first deal's."""
        # The earliest with a source, by (created_at, id); min() instead of a sort: asked per event.
        lead = min((l for l in self.leads.values() if l.source), key=_created_then_lead_id, default=None)
        if lead is not None:
            return lead.source
        deal = min((d for d in self.deals.values() if d.source), key=_created_then_deal_id, default=None)
        return deal.source if deal is not None else None

    @property
    def stage(self) -> str:
        if self.cancelled_at is not None and (self.last_payment_at is None or self.cancelled_at >= self.last_payment_at):
            return "churned"
        if self.first_payment_at is not None:
            return "customer"
        deals = self.deals.values()
        if any(d.won_at is not None for d in deals):
            return "won"
        if any(d.is_open and d.created_at is not None for d in deals):
            return "opportunity"
        leads = [l for l in self.leads.values() if l.disqualified_at is None]
        if any(l.qualified_at is not None for l in leads):
            return "sql"
        if any(l.contacted_at is not None for l in leads):
            return "mql"
        if leads or (self.signed_up_at is not None and not self.leads and not self.deals):
            return "lead"
        return "lost"

    def deal_source(self, deal: Deal) -> str:
        """Contract: the deal's source, else its lead's source, else ``unknown``."""
        if deal.source:
            return deal.source
        lead = self.leads.get(deal.lead_id) if deal.lead_id else None
        if lead and lead.source:
            return lead.source
        return "unknown"

    def as_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "company": self.company,
            "email": self.email,
            "plan": self.plan,
            "stage": self.stage,
            "owner_id": self.owner_id,
            "source": self.source,
            "campaign_id": self.first_touch_campaign_id,
            "signed_up_at": iso(self.signed_up_at),
            "first_contact_at": iso(self.first_contact_at),
            "first_payment_at": iso(self.first_payment_at),
            "churned_at": iso(self.cancelled_at) if self.stage == "churned" else None,
            "leads": {
                k: {
                    "source": v.source,
                    "temperature": v.temperature,
                    "campaign_id": v.campaign_id,
                    "owner_id": v.owner_id,
                    "created_at": iso(v.created_at),
                    "contacted_at": iso(v.contacted_at),
                    "qualified_at": iso(v.qualified_at),
                    "disqualified_at": iso(v.disqualified_at),
                }
                for k, v in sorted(self.leads.items())
            },
            "deals": {
                k: {
                    "amount": v.won_amount if v.won_at is not None else v.amount,
                    "currency": v.won_currency if v.won_at is not None else v.currency,
                    "owner_id": v.owner_id,
                    "source": self.deal_source(v),
                    "campaign_id": v.campaign_id,
                    "stage": "won" if v.won_at is not None else "lost" if v.lost_at is not None else (v.stage or "open"),
                    "created_at": iso(v.created_at),
                    "closed_at": iso(v.won_at or v.lost_at),
                }
                for k, v in sorted(self.deals.items())
            },
            "payments": [
                {"payment_id": p.payment_id, "status": p.status, "amount": p.amount, "currency": p.currency, "at": iso(p.at)}
                for p in self.payments
            ],
            "as_of": iso(self.as_of),
            "events": self.event_count,
        }


def _created_then_lead_id(lead: Lead) -> tuple[int, str]:
    return (lead.created_at or 0, lead.lead_id)


def _created_then_deal_id(deal: Deal) -> tuple[int, str]:
    return (deal.created_at or 0, deal.deal_id)


def _lead(state: AccountState, lead_id: str) -> Lead:
    lead = state.leads.get(lead_id)
    if lead is None:
        lead = state.leads[lead_id] = Lead(lead_id)
    return lead


def _deal(state: AccountState, deal_id: str) -> Deal:
    deal = state.deals.get(deal_id)
    if deal is None:
        deal = state.deals[deal_id] = Deal(deal_id)
    return deal


def fold(history: AccountHistory) -> AccountState:
    """Replay the account's events in occurred_at order into its state."""
    st = AccountState(history.account_id)
    for ev in history.events:
        apply_event(st, ev)
    return st


def apply_event(st: AccountState, ev: dict[str, Any]) -> None:
    """Advance ``st`` by one event, in place (``fold`` is this over the history in order)."""
    kind, t, d = ev["type"], ev["t"], ev["data"]
    st.event_count += 1
    st.as_of = t if st.as_of is None else max(st.as_of, t)
    if st.first_touch_campaign_id is None and d.get("campaign_id"):
        st.first_touch_campaign_id = d["campaign_id"]

    if kind == "signup.created":
        if st.signed_up_at is None:
            st.signed_up_at = t
        st.company, st.email = d["company"], d["email"]
        st.plan = d.get("plan", st.plan)
        st.signup_campaign_id = st.signup_campaign_id or d.get("campaign_id")
    elif kind == "lead.created":
        lead = _lead(st, d["lead_id"])
        if lead.created_at is None:
            lead.created_at = t
        lead.source, lead.temperature = d["source"], d["temperature"]
        # The optional company of a lead names lead-only accounts; a sign-up's name wins.
        if st.company is None and d.get("company"):
            st.company = d["company"]
        lead.campaign_id = d.get("campaign_id", lead.campaign_id)
        lead.contact_name = d.get("contact_name", lead.contact_name)
        lead.contact_email = d.get("contact_email", lead.contact_email)
        if d.get("owner_id"):
            lead.owner_id = st.owner_id = d["owner_id"]
    elif kind == "lead.assigned":
        lead = _lead(st, d["lead_id"])
        lead.owner_id = st.owner_id = d["owner_id"]
    elif kind == "lead.contacted":
        lead = _lead(st, d["lead_id"])
        if lead.contacted_at is None:
            lead.contacted_at, lead.contacted_by = t, d["owner_id"]
    elif kind == "lead.qualified":
        lead = _lead(st, d["lead_id"])
        if lead.qualified_at is None:
            lead.qualified_at = t
    elif kind == "lead.disqualified":
        lead = _lead(st, d["lead_id"])
        lead.disqualified_at, lead.disqualified_reason = t, d["reason"]
    elif kind == "deal.created":
        deal = _deal(st, d["deal_id"])
        deal.created_at = t if deal.created_at is None else deal.created_at
        deal.amount, deal.currency, deal.owner_id = d["amount"], d["currency"], d["owner_id"]
        deal.lead_id = d.get("lead_id", deal.lead_id)
        deal.source = d.get("source", deal.source)
        deal.campaign_id = d.get("campaign_id", deal.campaign_id)
        st.owner_id = d["owner_id"]
    elif kind == "deal.stage_changed":
        _deal(st, d["deal_id"]).stage = d["stage"]
    elif kind == "deal.won":
        deal = _deal(st, d["deal_id"])
        if deal.won_at is None:
            deal.won_at, deal.won_amount, deal.won_currency = t, d["amount"], d["currency"]
        deal.lost_at = None  # a deal reopened and won is won
    elif kind == "deal.lost":
        deal = _deal(st, d["deal_id"])
        if deal.won_at is None:
            deal.lost_at, deal.lost_reason = t, d["reason"]
    elif kind == "payment.succeeded":
        st.payments.append(Payment(d["payment_id"], t, d["amount"], d["currency"], "succeeded", d.get("deal_id")))
        if st.first_payment_at is None:
            st.first_payment_at = t
        st.last_payment_at = t
    elif kind == "payment.failed":
        st.payments.append(Payment(d["payment_id"], t, d["amount"], d["currency"], "failed", reason=d["reason"]))
    elif kind == "payment.refunded":
        st.payments.append(Payment(d["payment_id"], t, d["amount"], d["currency"], "refunded"))
    elif kind == "subscription.cancelled":
        st.cancelled_at = t
        st.cancellations.append(t)
