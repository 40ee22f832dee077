"""Rules that fire on one event: each is ``f(event, account state) -> Draft | None``.

The text here is the default wording carried in the notification record
(``title``/``text``); channels render their own richer messages from
``facts`` with the templates in ``baton/templates``. ``facts`` values are raw:
escaping is the template's job, per channel.
"""

from __future__ import annotations

from typing import Any, Callable

from baton.funnel.fold import AccountState, iso
from baton.rules.drafts import Draft
from baton.rules.money import format_money

EventRule = Callable[[dict[str, Any], AccountState], "Draft | None"]


def _owner_of_deal(st: AccountState, deal_id: str | None) -> str | None:
    deal = st.deals.get(deal_id) if deal_id else None
    return (deal.owner_id if deal else None) or st.owner_id


def _base_facts(ev: dict[str, Any], st: AccountState) -> dict[str, Any]:
    return {"account_id": st.account_id, "company": st.name, "occurred_at": iso(ev["t"]), "event_id": ev["id"]}


def _draft(rule: str, teams: tuple[str, ...], severity: str, ev: dict[str, Any], st: AccountState,
           title: str, text: str, **facts: Any) -> Draft:
    return Draft(rule, teams, severity, title, text, ev["id"], ev["type"], st.account_id,
                 {**_base_facts(ev, st), **{k: v for k, v in facts.items() if v is not None}})


def payment_to_sales(ev: dict[str, Any], st: AccountState) -> Draft | None:
    d = ev["data"]
    money = format_money(d["amount"], d["currency"])
    deal_id = d.get("deal_id")
    owner = _owner_of_deal(st, deal_id)
    about = ", ".join(p for p in (f"deal {deal_id}" if deal_id else "", f"owner {owner}" if owner else "") if p)
    text = f"Payment {d['payment_id']} of {money} from {st.name}" + (f" ({about})." if about else ".")
    return _draft("payment-to-sales", ("sales",), "info", ev, st, f"{st.name} paid {money}", text,
                  payment_id=d["payment_id"], amount=d["amount"], currency=d["currency"], money=money,
                  deal_id=deal_id, owner_id=owner, invoice_id=d.get("invoice_id"))


def signup_to_finance(ev: dict[str, Any], st: AccountState) -> Draft | None:
    d = ev["data"]
    plan = d.get("plan")
    mrr = format_money(d["mrr"], d.get("currency") or "USD") if d.get("mrr") is not None else None
    detail = ", ".join(p for p in (f"plan {plan}" if plan else "", f"MRR {mrr}" if mrr else "") if p)
    text = f"New customer to bill: {d['company']} <{d['email']}>" + (f" ({detail})." if detail else ".")
    return _draft("signup-to-finance", ("finance",), "info", ev, st, f"New sign-up: {d['company']}", text,
                  email=d["email"], plan=plan, mrr=mrr, campaign_id=d.get("campaign_id"))


def hot_lead_to_sales(ev: dict[str, Any], st: AccountState, sla_seconds: int) -> Draft | None:
    d = ev["data"]
    if d["temperature"] != "hot":
        return None
    lead = st.leads.get(d["lead_id"])
    owner = (lead.owner_id if lead else None) or d.get("owner_id")
    deadline = iso(ev["t"] + sla_seconds * 1000)
    who = d.get("contact_name") or d["lead_id"]
    text = (f"Hot lead {who} at {st.name} ({d['source']}"
            + (f", campaign {d['campaign_id']}" if d.get("campaign_id") else "")
            + f"): contact by {deadline}" + (f", owner {owner}." if owner else ", no owner yet."))
    return _draft("hot-lead-to-sales", ("sales",), "warning", ev, st, f"Hot lead: {st.name}", text,
                  lead_id=d["lead_id"], contact_name=d.get("contact_name"), source=d["source"],
                  campaign_id=d.get("campaign_id"), owner_id=owner, deadline=deadline, sla_seconds=sla_seconds)


def deal_won_to_finance(ev: dict[str, Any], st: AccountState) -> Draft | None:
    d = ev["data"]
    money = format_money(d["amount"], d["currency"])
    owner = _owner_of_deal(st, d["deal_id"])
    text = f"Deal {d['deal_id']} with {st.name} won for {money}: invoice it" + (f" (owner {owner})." if owner else ".")
    return _draft("deal-won-to-finance", ("finance",), "info", ev, st, f"Deal won: {st.name}, {money}", text,
                  deal_id=d["deal_id"], amount=d["amount"], currency=d["currency"], money=money, owner_id=owner)


def deal_won_to_marketing(ev: dict[str, Any], st: AccountState) -> Draft | None:
    d = ev["data"]
    deal = st.deals.get(d["deal_id"])
    lead = st.leads.get(deal.lead_id) if deal and deal.lead_id else None
    campaign = (deal.campaign_id if deal else None) or (lead.campaign_id if lead else None)
    if not campaign:
        return None
    money = format_money(d["amount"], d["currency"])
    text = f"Campaign {campaign} sourced a won deal: {st.name}, {money} (deal {d['deal_id']})."
    return _draft("deal-won-to-marketing", ("marketing",), "info", ev, st, f"Campaign {campaign} won {money}", text,
                  deal_id=d["deal_id"], campaign_id=campaign, amount=d["amount"], currency=d["currency"], money=money)


def payment_failed(ev: dict[str, Any], st: AccountState) -> Draft | None:
    d = ev["data"]
    money = format_money(d["amount"], d["currency"])
    owner = st.owner_id
    text = f"Payment {d['payment_id']} of {money} from {st.name} failed: {d['reason']}."
    return _draft("payment-failed", ("sales", "support"), "warning", ev, st, f"Payment failed: {st.name}, {money}",
                  text, payment_id=d["payment_id"], amount=d["amount"], currency=d["currency"], money=money,
                  reason=d["reason"], owner_id=owner)


def payment_refunded(ev: dict[str, Any], st: AccountState) -> Draft | None:
    d = ev["data"]
    money = format_money(d["amount"], d["currency"])
    text = f"Payment {d['payment_id']} to {st.name} refunded: {money}."
    return _draft("payment-refunded", ("finance", "sales"), "warning", ev, st, f"Refund: {st.name}, {money}", text,
                  payment_id=d["payment_id"], amount=d["amount"], currency=d["currency"], money=money,
                  owner_id=st.owner_id)


def rules_for(event_type: str, sla_seconds: Callable[[str], int]) -> list[EventRule]:
    """The event rules that watch one event type, in a fixed order."""
    if event_type == "lead.created":
        return [lambda ev, st: hot_lead_to_sales(ev, st, sla_seconds("hot"))]
    return _BY_TYPE.get(event_type, [])


_BY_TYPE: dict[str, list[EventRule]] = {
    "payment.succeeded": [payment_to_sales],
    "signup.created": [signup_to_finance],
    "deal.won": [deal_won_to_finance, deal_won_to_marketing],
    "payment.failed": [payment_failed],
    "payment.refunded": [payment_refunded],
}
