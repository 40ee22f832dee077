"""Rules that fire when something did *not* happen in time.

A timer check names an account, what to check and a reference (a lead or a
deal). It fires at most once per reference: the caller records the check id
(``check_id``) in the account's history before sending.
"""

from __future__ import annotations

from dataclasses import dataclass

from baton.funnel.fold import AccountState, iso
from baton.rules.drafts import Draft
from baton.rules.money import format_money

LEAD_SLA = "lead-sla"
PAYMENT_MISSING = "payment-missing"


@dataclass(frozen=True, order=True)
class Due:
    """A check that falls due at ``due_ms`` (epoch ms, wall clock)."""

    due_ms: int
    account_id: str
    check: str
    ref: str

    @property
    def check_id(self) -> str:
        return f"{self.check}:{self.ref}"


def _late(ms: int) -> str:
    seconds = max(0, ms // 1000)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def lead_deadline(state: AccountState, lead_id: str, sla_seconds) -> int | None:
    lead = state.leads.get(lead_id)
    if lead is None or lead.created_at is None or lead.temperature is None:
        return None
    return lead.created_at + sla_seconds(lead.temperature) * 1000


def lead_sla_breach(state: AccountState, lead_id: str, sla_seconds, now_ms: int) -> Draft | None:
    """Fires if the lead had no contact inside its window (and was not disqualified in it)."""
    lead = state.leads.get(lead_id)
    deadline = lead_deadline(state, lead_id, sla_seconds)
    if lead is None or deadline is None:
        return None
    if lead.contacted_at is not None and lead.contacted_at <= deadline:
        return None
    if lead.disqualified_at is not None and lead.disqualified_at <= deadline:
        return None
    contacted_late = lead.contacted_at is not None
    late_by = (lead.contacted_at if contacted_late else max(now_ms, deadline)) - deadline
    window = sla_seconds(lead.temperature)
    who = lead.contact_name or lead_id
    owner = lead.owner_id or state.owner_id
    text = (f"{lead.temperature.capitalize()} lead {who} at {state.name} "
            + (f"was contacted {_late(late_by)} past" if contacted_late else f"has had no contact, {_late(late_by)} past")
            + f" its {_late(window * 1000)} follow-up window"
            + (f" (owner {owner})." if owner else " (no owner assigned).")
            )
    facts = {"account_id": state.account_id, "company": state.name, "lead_id": lead_id, "contact_name": lead.contact_name,
             "temperature": lead.temperature, "owner_id": owner, "deadline": iso(deadline), "late_by_seconds": late_by // 1000,
             "window_seconds": window, "created_at": iso(lead.created_at)}
    return Draft("lead-sla-breach", ("sales-management",), "warning" if lead.temperature != "hot" else "critical",
                 f"Lead not followed up: {state.name}", text, f"{state.account_id}:{lead_id}", "lead.created",
                 state.account_id, {k: v for k, v in facts.items() if v is not None})


def payment_deadline(state: AccountState, deal_id: str, missing_days: float) -> int | None:
    deal = state.deals.get(deal_id)
    if deal is None or deal.won_at is None:
        return None
    return deal.won_at + int(missing_days * 86400 * 1000)


def payment_missing(state: AccountState, deal_id: str, missing_days: float) -> Draft | None:
    """Fires if a won deal's account has no successful payment since the win."""
    deal = state.deals.get(deal_id)
    deadline = payment_deadline(state, deal_id, missing_days)
    if deal is None or deadline is None:
        return None
    paid = any(p.status == "succeeded" and p.at >= deal.won_at and (p.deal_id in (None, deal_id))
               for p in state.payments)
    if paid:
        return None
    money = format_money(deal.won_amount or 0, deal.won_currency or "USD")
    owner = deal.owner_id
    text = (f"Deal {deal_id} with {state.name} was won for {money} on {iso(deal.won_at)}, "
            f"and no payment has arrived in {missing_days:g} days" + (f" (owner {owner})." if owner else "."))
    facts = {"account_id": state.account_id, "company": state.name, "deal_id": deal_id, "money": money,
             "amount": deal.won_amount, "currency": deal.won_currency, "owner_id": owner, "won_at": iso(deal.won_at),
             "deadline": iso(deadline)}
    return Draft("payment-missing", ("finance",), "warning", f"No payment yet: {state.name}, {money}", text,
                 f"{state.account_id}:{deal_id}", "deal.won", state.account_id,
                 {k: v for k, v in facts.items() if v is not None})
