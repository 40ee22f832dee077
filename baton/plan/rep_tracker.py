"""``RepTracker``: one ``rep-starved`` / ``rep-not-converting`` draft per change of a rep's state."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from baton.plan.reps import NOT_CONVERTING, STARVED, RepDiagnosis
from baton.plan.state_log import StateLog
from baton.plan.wording import LABELS, count, money, percent
from baton.rules.drafts import Draft

CAUSE_TYPE = "rep.state_changed"
ON, OFF = "on", "off"
# rule id -> (the diagnosis it reports, who can act on it)
RULES = {
    "rep-starved": (STARVED, ("marketing",)),
    "rep-not-converting": (NOT_CONVERTING, ("sales-management",)),
}


class RepTracker:
    """State: per plan, rep and rule, whether the rule is on. Each rule switching on or off notifies once.

    A rep going from starved to not converting switches one rule off (marketing
    hears the rep has leads now) and the other on (sales management hears why
    they do not close). Pure and JSON-serialisable: keep ``to_dict()`` in a table.
    """

    def __init__(self, log: StateLog | None = None) -> None:
        self.log = log or StateLog(OFF)

    def observe(self, diagnoses: dict[str, RepDiagnosis]) -> list[Draft]:
        drafts = []
        for rep_id in sorted(diagnoses):
            diagnosis = diagnoses[rep_id]
            for rule, (status, teams) in RULES.items():
                on = diagnosis.status == status
                change = self.log.record(f"{diagnosis.plan}:{rep_id}:{rule}", ON if on else OFF)
                if change is not None:
                    drafts.append(_draft(rule, teams, diagnosis, on, change))
        return drafts

    def to_dict(self) -> dict[str, Any]:
        return self.log.to_dict()

    @classmethod
    def from_dict(cls, doc: dict[str, Any] | None) -> "RepTracker":
        return cls(StateLog.from_dict(OFF, doc))


def _draft(rule: str, teams: tuple[str, ...], d: RepDiagnosis, on: bool, change: int) -> Draft:
    title, text = (_starved_words if rule == "rep-starved" else _not_converting_words)(d, on)
    state = rule.removeprefix("rep-") if on else "ok"
    return Draft(rule, teams, "warning" if on else "info", title, text, f"{d.plan}:{d.rep_id}:{state}#{change}",
                 CAUSE_TYPE, None, _facts(d, rule, on, change))


def _leads_clause(d: RepDiagnosis) -> str:
    leads = d.figures["leads"]
    received = f"{count(leads.actual or Fraction(0))} leads received"
    return received if leads.expected == 0 else f"{received} vs {count(leads.expected)} committed by now"


def _starved_words(d: RepDiagnosis, on: bool) -> tuple[str, str]:
    if not on:
        return f"Rep {d.rep_id} has leads again ({d.plan})", f"{d.rep_id}: {_leads_clause(d)}."
    short = money(Fraction(d.bookings_short), d.currency)
    return (f"Rep {d.rep_id} is starved of leads ({d.plan})",
            f"{d.rep_id}: {_leads_clause(d)}; {count(d.leads_short)} short, about {short} of bookings "
            f"at the plan's rates. Route more leads to {d.rep_id}.")


def _not_converting_words(d: RepDiagnosis, on: bool) -> tuple[str, str]:
    rates = [d.figures[name] for name in ("lead_to_opportunity_rate", "win_rate")]
    if not on:
        judged = [f"{LABELS[f.name].lower()} {f.reason}" for f in rates if f.actual is not None]
        return (f"Rep {d.rep_id} converts at plan again ({d.plan})",
                f"{d.rep_id}: " + ("; ".join(judged) or "conversion no longer below plan") + ".")
    below = "; ".join(f"{LABELS[f.name].lower()} {percent(f.actual)} vs {percent(f.expected)} assumed ({f.sample})"
                      for f in rates if f.at_risk and f.actual is not None)
    at_plan = money(Fraction(d.bookings_at_plan_rates), d.currency)
    booked = money(Fraction(d.bookings), d.currency)
    return (f"Rep {d.rep_id} is not converting ({d.plan})",
            f"{d.rep_id} has the leads ({_leads_clause(d)}) but converts below plan: {below}. "
            f"At the plan's rates those leads would book about {at_plan}; booked so far {booked}.")


def _facts(d: RepDiagnosis, rule: str, on: bool, change: int) -> dict[str, Any]:
    flat: dict[str, Any] = {
        "rep_id": d.rep_id, "owner_id": d.rep_id, "plan": d.plan, "period": d.period, "currency": d.currency,
        "rule_state": ON if on else OFF, "status": d.status, "change": change,
        "bookings": d.bookings, "leads_short": float(d.leads_short), "bookings_short": d.bookings_short,
        "bookings_at_plan_rates": d.bookings_at_plan_rates,
    }
    for name, figure in d.figures.items():
        view = figure.to_dict()
        for part in ("status", "actual", "expected"):
            flat[f"{name}_{part}"] = view[part]
    return flat
