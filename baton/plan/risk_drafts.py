"""The words and facts of a ``revenue-at-risk`` notification."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from baton.plan.evaluate import PlanStatus
from baton.plan.exact import json_number
from baton.plan.outlook import Outlook
from baton.plan.wording import FIGURE_ORDER, LABELS, count, describe, money, names, percent
from baton.rules.drafts import Draft

RULE = "revenue-at-risk"
TEAMS = ("sales", "marketing", "leadership")
CAUSE_TYPE = "plan.state_changed"


def severity(broken: tuple[str, ...]) -> str:
    """Bookings behind pace is revenue already lost: critical; a broken assumption is a leading sign: warning."""
    if not broken:
        return "info"
    return "critical" if "pace" in broken else "warning"


def figure_line(status: PlanStatus, name: str) -> str:
    figure, cur = status.figures[name], status.currency
    assert figure.actual is not None  # only judged figures are at risk
    if name == "pace":
        projected = status.outlook.projected_bookings
        return (f"Pace {percent(figure.ratio or Fraction(0))} of the pro-rated target: "
                f"{money(figure.actual, cur)} booked vs {money(figure.expected, cur)} expected by now "
                f"({percent(status.elapsed_fraction)} of {status.period} elapsed)"
                + (f"; at this pace {money(Fraction(projected), cur)} of {money(Fraction(status.outlook.revenue_target), cur)}."
                   if projected is not None else "."))
    if name == "leads":
        return f"Leads {count(figure.actual)} vs {count(figure.expected)} expected by now."
    return (f"{LABELS[name]} {describe(name, figure.actual, cur)} vs {describe(name, figure.expected, cur)} assumed "
            f"({figure.sample}).")


def money_line(outlook: Outlook, currency: str) -> str:
    target = money(Fraction(outlook.revenue_target), currency)
    if outlook.revenue_gap == 0:
        return f"Bookings {money(Fraction(outlook.bookings), currency)} have reached the {target} target."
    gap = money(Fraction(outlook.revenue_gap), currency)
    if outlook.leads_still_needed is None:
        zero = [b.figure for b in outlook.basis if b.value == 0]
        return f"{gap} to go: not reachable at current rates ({names(zero)} at zero)."
    line = f"{gap} to go: at current rates {outlook.leads_still_needed:,} more leads are needed to reach {target}"
    assumed = outlook.assumed
    if assumed:
        why = "; ".join(f"{LABELS[b.figure].lower()} as assumed: {b.why_assumed}" for b in assumed)
        line += f" ({why})"
    return line + "."


def build(status: PlanStatus, previous: tuple[str, ...], change: int) -> Draft:
    broken = status.broken
    recovered = tuple(name for name in previous if name not in broken)
    state = ",".join(broken) or "on-track"
    if broken:
        title = f"Revenue at risk in {status.plan}: {names(broken)}"
        lines = [figure_line(status, name) for name in broken]
    else:
        title = f"Back on track: {status.plan} plan"
        lines = [f"Every figure of the {status.plan} plan is back within its threshold."]
    if recovered and broken:
        lines.append(f"Recovered: {names(recovered)}.")
    lines.append(money_line(status.outlook, status.currency))
    return Draft(RULE, TEAMS, severity(broken), title, "\n".join(lines), f"{status.plan}:{state}#{change}",
                 CAUSE_TYPE, None, facts(status, state, recovered, change))


def facts(status: PlanStatus, state: str, recovered: tuple[str, ...], change: int) -> dict[str, Any]:
    """A flat view for templates: scalars only, money both raw (minor units) and as text."""
    o, cur = status.outlook, status.currency
    flat: dict[str, Any] = {
        "plan": status.plan, "period": status.period, "currency": cur, "status": status.status,
        "state": state, "broken": ",".join(status.broken), "recovered": ",".join(recovered), "change": change,
        "at": status.to_dict()["at"], "elapsed_percent": percent(status.elapsed_fraction),
        "revenue_target": o.revenue_target, "revenue_target_text": money(Fraction(o.revenue_target), cur),
        "bookings": o.bookings, "bookings_text": money(Fraction(o.bookings), cur),
        "revenue_gap": o.revenue_gap, "revenue_gap_text": money(Fraction(o.revenue_gap), cur),
        "projected_bookings": o.projected_bookings,
        "leads_still_needed": o.leads_still_needed, "reachable": o.reachable,
        "leads_still_needed_assumes": ",".join(b.figure for b in o.assumed),
    }
    for name in FIGURE_ORDER:
        figure = status.figures[name]
        flat[f"{name}_status"] = figure.status
        flat[f"{name}_actual"] = json_number(figure.actual)
        flat[f"{name}_expected"] = json_number(figure.expected)
    return flat
