"""The dashboard page: one scope's funnel, KPIs, plan and campaign ranking, as HTML.

This module turns scorecard records (docs/scorecard.md) and plan statuses
(docs/plan.md) into a view model of ready-formatted strings; the Jinja2
templates in ``baton/templates/web`` only lay them out. Every figure's element
carries ``data-figure="<name>"`` so tests find it whatever the layout. Scope
names, campaign and rep ids come from events, so the environment autoescapes
everything and no template marks anything safe.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from baton.funnel.fold import STAGE_LABELS, STAGES
from baton.plan.exact import exact
from baton.plan.wording import FIGURE_ORDER, describe, percent
from baton.rules.money import format_money, format_money_map

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "web"
ENV = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True)

NULL = "—"
REFRESH_SECONDS = 30
EXITS = ("lost", "churned")
FORWARD = tuple(s for s in STAGES if s not in EXITS)  # lead ... customer, in funnel order

Record = Mapping[str, Any]

# --- formatting: one function per unit; None (a ratio with a zero denominator) is "—" ---


def fmt_count(n: int | None) -> str:
    return NULL if n is None else f"{n:,}"


def fmt_percent(x: float | Fraction | None) -> str:
    # Through the decimal the float reads as, so 0.575 shows 57.5 %, as in notification text.
    return NULL if x is None else percent(exact(x))


def fmt_money(money: Mapping[str, int] | str | None) -> str:
    if money is None:
        return NULL
    if isinstance(money, str):  # "n/a": LTV with no churn
        return money
    return format_money_map(dict(money))


def fmt_per_day(money: Mapping[str, int] | None) -> str:
    return NULL if money is None else f"{fmt_money(money)} / day"


def fmt_days(days: float | None) -> str:
    if days is None:
        return NULL
    text = f"{days:,.1f}".removesuffix(".0")
    return f"{text} day" if text == "1" else f"{text} days"


def fmt_duration(seconds: float | None) -> str:
    """300 -> "5 min", 5400 -> "1 h 30 min", 90000 -> "1 d 1 h": the two largest units."""
    if seconds is None:
        return NULL
    total = round(seconds)
    for big, big_unit, small, small_unit in ((86_400, "d", 3_600, "h"), (3_600, "h", 60, "min"),
                                             (60, "min", 1, "s")):
        if total >= big:
            whole, rest = divmod(total, big)
            part = rest // small
            return f"{whole} {big_unit}" + (f" {part} {small_unit}" if part else "")
    return f"{total} s"


def fmt_spend(spend: Mapping[str, Mapping[str, int]] | None) -> str:
    if not spend:
        return NULL
    return " · ".join(f"{team.capitalize()} {fmt_money(money)}" for team, money in sorted(spend.items()))


def fmt_ltv_to_cac(value: Mapping[str, float | None] | str | None) -> str:
    if value is None or isinstance(value, str):
        return value or NULL
    parts = [f"{NULL if r is None else f'{r:.2f}×'} ({cur})" for cur, r in sorted(value.items())]
    return ", ".join(parts) or NULL


def fmt_instant(text: str | None) -> str:
    """An RFC 3339 instant as "2026-11-15 09:00:00 UTC"; anything unparsable is shown as it came."""
    if not text:
        return NULL
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if instant.tzinfo is None:
        return text
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_leads(n: int | None) -> str:
    return NULL if n is None else f"{n:,} lead" + ("" if n == 1 else "s")


def bar_width(part: int, whole: int) -> str:
    """A CSS width in percent; computed here, so no event text ever reaches a style attribute."""
    return f"{100 * part / whole:.1f}%" if whole > 0 else "0%"


# --- headline KPIs ---

# (record field, label, formatter, what it means: shown as the figure's tooltip)
HEADLINE: tuple[tuple[str, str, Callable[[Any], str], str], ...] = (
    ("leads", "Leads", fmt_count, "distinct lead_ids created"),
    ("opportunities", "Opportunities", fmt_count, "distinct deal_ids created"),
    ("lead_to_opportunity_rate", "Lead → opportunity", fmt_percent, "opportunities / leads"),
    ("win_rate", "Win rate", fmt_percent, "deals won / (won + lost)"),
    ("pipeline", "Pipeline", fmt_money, "amounts of deals created in the scope, neither won nor lost"),
    ("bookings", "Bookings", fmt_money, "deal.won amounts"),
    ("cash_collected", "Cash collected", fmt_money, "payment.succeeded amounts"),
    ("average_deal_size", "Average deal size", fmt_money, "bookings / deals won, per currency"),
    ("average_sales_cycle_days", "Sales cycle", fmt_days, "mean days from deal.created to deal.won"),
    ("new_customers", "New customers", fmt_count, "accounts whose first payment ever is in the scope"),
    ("cac", "CAC", fmt_money, "(marketing + sales spend) / new customers, per currency"),
    ("sla_compliance", "SLA compliance", fmt_percent,
     "leads first answered within their follow-up window / leads answered"),
    ("first_response_median_seconds", "First response, median", fmt_duration,
     "nearest-rank median of lead.contacted − lead.created"),
    ("first_response_p90_seconds", "First response, p90", fmt_duration,
     "nearest-rank 90th percentile of lead.contacted − lead.created"),
)
MORE: tuple[tuple[str, str, Callable[[Any], str], str], ...] = (
    ("deals_won", "Deals won", fmt_count, "deals whose deal.won is in the scope"),
    ("deals_lost", "Deals lost", fmt_count, "deals whose deal.lost is in the scope (and not won)"),
    ("refunds", "Refunds", fmt_money, "payment.refunded amounts"),
    ("churned_customers", "Churned customers", fmt_count, "accounts with a subscription.cancelled in the scope"),
    ("spend", "Spend", fmt_spend, "spend.recorded amounts by team"),
    ("sales_velocity", "Sales velocity", fmt_per_day,
     "opportunities × win rate × average deal size / sales cycle"),
    ("arpa", "ARPA", fmt_money, "(cash collected − refunds) / paying accounts, per currency"),
    ("ltv", "LTV", fmt_money, "ARPA / churn rate; n/a without churn"),
    ("ltv_to_cac", "LTV : CAC", fmt_ltv_to_cac, "LTV / CAC per currency"),
)


def kpis(record: Record, table=HEADLINE) -> list[dict[str, str]]:
    return [{"name": name, "label": label, "value": fmt(record.get(name)), "hint": hint}
            for name, label, fmt, hint in table]


# --- the funnel ---

FUNNEL_DEFINITION = (
    "Now = accounts whose current stage it is. Reached = accounts whose current stage is this one or a later "
    "one in the order Lead → MQL → SQL → Opportunity → Won → Paying customer; churned accounts count as having "
    "reached Paying customer, and lost accounts (which left from an unknown stage) count at Lead only. "
    "Conversion to the next stage = reached(next) ÷ reached(this): the share of the accounts that got this far "
    "and also got at least one stage further. Deal-level win rate is among the KPIs."
)


def funnel(by_stage: Mapping[str, int]) -> dict[str, Any]:
    now = {stage: int(by_stage.get(stage, 0)) for stage in STAGES}
    reached = {stage: sum(now[s] for s in FORWARD[i:]) + now["churned"] + (now["lost"] if i == 0 else 0)
               for i, stage in enumerate(FORWARD)}
    top = reached[FORWARD[0]]
    rows = []
    for stage, following in zip(FORWARD, FORWARD[1:] + (None,)):
        rate = None if following is None or reached[stage] == 0 else Fraction(reached[following], reached[stage])
        rows.append({
            "stage": stage, "label": STAGE_LABELS[stage], "now": fmt_count(now[stage]),
            "reached": fmt_count(reached[stage]), "bar": bar_width(reached[stage], top),
            "conversion": None if following is None else fmt_percent(rate),
            "next_label": STAGE_LABELS[following] if following else None,
        })
    exits = [{"stage": s, "label": STAGE_LABELS[s], "now": fmt_count(now[s])} for s in EXITS]
    return {"rows": rows, "exits": exits, "total": fmt_count(top)}


# --- scopes ---

_MONTH = re.compile(r"^\d{4}-\d{2}$")
_QUARTER = re.compile(r"^\d{4}-Q[1-4]$")
SCOPE_GROUPS = (("all", "Overall"), ("month", "Months"), ("quarter", "Quarters"), ("rep", "Reps"),
                ("campaign", "Campaigns"), ("source", "Sources"), ("period_rep", "Reps by period"),
                ("other", "Other"))
PERIOD_KINDS = ("month", "quarter", "period_rep")


def scope_kind(scope: str) -> str:
    if scope == "all":
        return "all"
    period, slash, rest = scope.partition("/")
    # Checked in full: a campaign or rep id may itself contain "/".
    if slash and (_MONTH.match(period) or _QUARTER.match(period)) and rest.startswith("rep:"):
        return "period_rep"
    if _MONTH.match(scope):
        return "month"
    if _QUARTER.match(scope):
        return "quarter"
    prefix = scope.split(":", 1)[0]
    return prefix if prefix in ("rep", "campaign", "source") and ":" in scope else "other"


def scope_href(scope: str) -> str:
    return "?" + urlencode({"scope": scope})


def scope_groups(scopes: list[str], current: str) -> list[dict[str, Any]]:
    groups = []
    for kind, label in SCOPE_GROUPS:
        members = sorted((s for s in scopes if scope_kind(s) == kind), reverse=kind in PERIOD_KINDS)
        if members:
            links = [{"scope": s, "href": scope_href(s), "current": s == current} for s in members]
            groups.append({"kind": kind, "label": label, "links": links, "open": current in members})
    return groups


# --- campaigns, ranked by revenue ---


def campaign_leads(scorecards: Mapping[str, Record], campaign_id: str) -> str:
    record = scorecards.get(f"campaign:{campaign_id}")
    return NULL if record is None else fmt_count(record.get("leads"))


def campaign_rankings(record: Record, scorecards: Mapping[str, Record]) -> list[dict[str, Any]]:
    """One table per currency (money is never summed across currencies), most revenue first."""
    revenue: Mapping[str, Mapping[str, int]] = record.get("campaign_revenue") or {}
    currencies = sorted({cur for money in revenue.values() for cur, amount in money.items() if amount})
    tables = []
    for cur in currencies:
        ranked = sorted(((cid, money[cur]) for cid, money in revenue.items() if money.get(cur)),
                        key=lambda item: (-item[1], item[0]))
        top = ranked[0][1]
        rows = [{"rank": rank, "campaign": cid, "revenue": format_money(amount, cur),
                 "leads": campaign_leads(scorecards, cid), "bar": bar_width(amount, top),
                 "href": scope_href(f"campaign:{cid}") if f"campaign:{cid}" in scorecards else None}
                for rank, (cid, amount) in enumerate(ranked, 1)]
        tables.append({"currency": cur, "rows": rows})
    return tables


def campaigns_without_bookings(record: Record, scorecards: Mapping[str, Record]) -> list[dict[str, str]]:
    booked = {cid for cid, money in (record.get("campaign_revenue") or {}).items() if any(money.values())}
    ids = sorted(s.split(":", 1)[1] for s in scorecards if scope_kind(s) == "campaign")
    return [{"campaign": cid, "leads": fmt_leads((scorecards[f"campaign:{cid}"]).get("leads")),
             "href": scope_href(f"campaign:{cid}")} for cid in ids if cid not in booked]


# --- plans ---

PLAN_LABELS = {
    "pace": "Pace: bookings vs pro-rated target",
    "leads": "Leads vs pro-rated plan",
    "lead_to_opportunity_rate": "Lead → opportunity",
    "win_rate": "Win rate",
    "average_deal_size": "Average deal size",
}
STATUS_LABELS = {"ok": "ok", "at_risk": "at risk", "not_judged": "not judged yet", "on_track": "on track",
                 "not_started": "not started", "starved": "starved", "not_converting": "not converting"}


def plan_value(name: str, value: float | None, currency: str) -> str:
    return NULL if value is None else describe(name, exact(value), currency)


def plan_figure(name: str, figure: Mapping[str, Any], currency: str) -> dict[str, str]:
    return {
        "name": name, "label": PLAN_LABELS.get(name, name), "status": figure["status"],
        "status_label": STATUS_LABELS.get(figure["status"], figure["status"]),
        "actual": plan_value(name, figure.get("actual"), currency),
        "expected": plan_value(name, figure.get("expected"), currency),
        "ratio": fmt_percent(figure.get("ratio")), "sample": figure.get("sample") or "",
        "reason": figure.get("reason") or "",
    }


def plan_outlook(outlook: Mapping[str, Any], currency: str) -> list[dict[str, str]]:
    def money(field: str) -> str:
        amount = outlook.get(field)
        return NULL if amount is None else format_money(amount, currency)

    needed = outlook.get("leads_still_needed")
    assumed = [f for f, b in (outlook.get("basis") or {}).items() if b.get("source") == "assumed"]
    return [
        {"name": "revenue_target", "label": "Revenue target", "value": money("revenue_target"), "hint": ""},
        {"name": "bookings", "label": "Bookings", "value": money("bookings"), "hint": ""},
        {"name": "revenue_gap", "label": "Revenue gap", "value": money("revenue_gap"), "hint": ""},
        {"name": "projected_bookings", "label": "Projected bookings", "value": money("projected_bookings"),
         "hint": "bookings / elapsed share of the period"},
        {"name": "leads_still_needed", "label": "Leads still needed",
         "value": "not reachable at current rates" if needed is None else fmt_count(needed),
         "hint": "gap / (lead → opportunity × win rate × deal size)"
                 + (f"; plan's assumed {', '.join(assumed)}" if assumed else "; all actual rates")},
    ]


def plan_reps(reps: Mapping[str, Mapping[str, Any]], currency: str) -> list[dict[str, Any]]:
    rows = []
    for rep_id, rep in sorted(reps.items()):
        figures = rep.get("figures") or {}
        rows.append({
            "rep": rep_id, "status": rep.get("status", ""),
            "status_label": STATUS_LABELS.get(rep.get("status", ""), rep.get("status", "")),
            "figures": [plan_figure(name, figures[name], currency) for name in figures],
            "bookings_short": NULL if rep.get("bookings_short") is None
            else format_money(rep["bookings_short"], currency),
        })
    return rows


def plan_views(plan_statuses: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    views = []
    for key, status in sorted(plan_statuses.items()):
        cur = status["currency"]
        figures = status.get("figures") or {}
        views.append({
            "key": key, "period": status.get("period", ""), "currency": cur,
            "period_href": scope_href(status.get("period", "")),
            "status": status.get("status", ""),
            "status_label": STATUS_LABELS.get(status.get("status", ""), status.get("status", "")),
            "elapsed": fmt_percent(status.get("elapsed_fraction")), "at": fmt_instant(status.get("at")),
            "figures": [plan_figure(name, figures[name], cur) for name in FIGURE_ORDER if name in figures],
            "outlook": plan_outlook(status.get("outlook") or {}, cur),
            "reps": plan_reps(status.get("reps") or {}, cur),
        })
    return views


# --- the page ---


def render_dashboard(scorecards: Mapping[str, Record], plan_statuses: Mapping[str, Mapping[str, Any]],
                     scope: str = "all", now: datetime | None = None) -> str:
    """The dashboard of ``scope`` as an HTML page (``scorecards``: scope -> record; plans: key -> status)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    record = scorecards.get(scope)
    kind = scope_kind(scope)
    context: dict[str, Any] = {
        "scope": scope, "found": record is not None, "empty": not scorecards,
        "generated_at": now.strftime("%Y-%m-%d %H:%M:%S UTC"), "refresh_seconds": REFRESH_SECONDS,
        "scope_groups": scope_groups(list(scorecards), scope), "plans": plan_views(plan_statuses),
        "funnel_definition": FUNNEL_DEFINITION, "as_of": NULL, "headline": [], "more": [], "funnel": None,
        "funnel_note": "", "campaign_tables": [], "unbooked": [],
    }
    if record is not None:
        by_stage = record.get("accounts_by_stage") or {}
        context.update({
            "as_of": fmt_instant(record.get("as_of")),
            "headline": kpis(record, HEADLINE), "more": kpis(record, MORE),
            "funnel": funnel(by_stage) if by_stage else None,
            "funnel_note": ("Funnel stages are current states and have no date: choose Overall, a rep, a campaign "
                            "or a source to see them." if kind in PERIOD_KINDS else "No accounts in this scope yet."),
            "campaign_tables": campaign_rankings(record, scorecards),
            # Only "all" sees every campaign; elsewhere "no bookings" would list unrelated campaigns.
            "unbooked": campaigns_without_bookings(record, scorecards) if scope == "all" else [],
        })
    return ENV.get_template("dashboard.html.j2").render(**context)
