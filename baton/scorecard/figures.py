"""Finalize a Partial's facts into the scorecard record of the contract.

Each figure's formula is written in docs/scorecard.md; this module is that page
in code. Money stays per currency in integer minor units; a ratio whose
denominator is zero is ``None`` (JSON null).
"""

from __future__ import annotations

from typing import Any

from baton.funnel.fold import DAY_MS, STAGES, iso
from baton.scorecard.arithmetic import nearest_ranks, ratio, round_half_away

TEAMS = ("marketing", "sales")
SPEND_KINDS = ("paid", "team")

Money = dict[str, int]


class _Facts:
    """The facts of one Partial, grouped by how many key parts they have."""

    def __init__(self, counts: dict[tuple[Any, ...], int], latest: int | None) -> None:
        self.scalar: dict[str, int] = {}
        self.by_one: dict[str, dict[Any, int]] = {}
        self.by_two: dict[str, dict[str, dict[str, int]]] = {}
        scalar, by_one = self.scalar, self.by_one
        # Of the "latest" multiset (kept apart by Partial) a record only shows the maximum.
        self.latest = latest
        # Most keys have two parts (the response_ms multiset): that case first.
        for key, value in counts.items():
            n = len(key)
            if n == 2:
                group = by_one.get(key[0])
                if group is None:
                    group = by_one[key[0]] = {}
                group[key[1]] = value
            elif n == 1:
                scalar[key[0]] = value
            else:
                self.by_two.setdefault(key[0], {}).setdefault(key[1], {})[key[2]] = value

    def n(self, fact: str) -> int:
        return self.scalar.get(fact, 0)

    def money(self, fact: str) -> Money:
        return _sorted(self.by_one.get(fact, {}))

    def money_by(self, fact: str) -> dict[str, Money]:
        return {k: _sorted(v) for k, v in sorted(self.by_two.get(fact, {}).items())}


def _sorted(money: dict[Any, int]) -> dict[Any, int]:
    return dict(sorted(money.items()))


def _per_unit(money: Money, units: int) -> Money | None:
    """Money divided by a count, per currency, rounded to the minor unit; None when the count is 0."""
    if units == 0:
        return None
    return {cur: round_half_away(amount, units) for cur, amount in money.items()}


def scorecard_record(counts: dict[tuple[Any, ...], int], scope: str, latest: int | None = None,
                     responses: dict[int, int] | None = None, response_values: list[int] | None = None,
                     ) -> dict[str, Any]:
    """The record of ``scope`` from a Partial's ``counts``; ``latest``: its latest counted instant (``as_of``).

    ``responses``: the response_ms multiset when a caller keeps it apart from ``counts``
    (``baton.scorecard.part_store``), so that it is not walked key by key here, and
    ``response_values`` its keys sorted, if the caller keeps them so.
    """
    f = _Facts(counts, latest)
    if responses is not None:
        f.by_one["response_ms"] = responses
    leads, opportunities = f.n("leads"), f.n("opportunities")
    won, lost = f.n("deals_won"), f.n("deals_lost")
    bookings = f.money("bookings")
    cycle_ms, cycle_deals = f.n("cycle_ms"), f.n("cycle_deals")
    cash, refunds = f.money("cash_collected"), f.money("refunds")
    new_customers, churned, active = f.n("new_customers"), f.n("churned_customers"), f.n("active_customers")
    spend_by_team = f.money_by("spend")
    spend = {team: spend_by_team.get(team, {}) for team in TEAMS}
    spend_total: Money = {}
    for money in spend.values():
        for cur, amount in money.items():
            spend_total[cur] = spend_total.get(cur, 0) + amount
    spend_split = f.money_by("spend_split")
    responses = f.by_one.get("response_ms", {})
    median_ms, p90_ms = nearest_ranks(responses, (50, 90), response_values)
    paying = f.money("paying_customers")  # {currency: accounts}
    net = {cur: cash.get(cur, 0) - refunds.get(cur, 0) for cur in paying}

    return {
        "scope": scope,
        "leads": leads,
        "opportunities": opportunities,
        "lead_to_opportunity_rate": ratio(opportunities, leads),
        "deals_won": won,
        "deals_lost": lost,
        "win_rate": ratio(won, won + lost),
        "pipeline": f.money("pipeline"),
        "bookings": bookings,
        "average_deal_size": _per_unit(bookings, won),
        "average_sales_cycle_days": ratio(cycle_ms, cycle_deals * DAY_MS),
        "cash_collected": cash,
        "refunds": refunds,
        "new_customers": new_customers,
        "churned_customers": churned,
        "spend": spend,
        "cac": _per_unit(dict(sorted(spend_total.items())), new_customers),
        "sourced_pipeline": f.money_by("sourced_pipeline"),
        "sourced_revenue": f.money_by("sourced_revenue"),
        "campaign_revenue": f.money_by("campaign_revenue"),
        "as_of": iso(f.latest) if f.latest is not None else None,
        # --- beyond the contract's minimum (issue 3) ---
        "sales_velocity": _sales_velocity(opportunities, won, lost, bookings, cycle_ms, cycle_deals),
        "spend_split": {kind: spend_split.get(kind, {}) for kind in SPEND_KINDS},
        "paying_customers": paying,
        "active_customers": active,
        "churn_rate": ratio(churned, active),
        "arpa": _per_account(net, paying),
        "ltv": _ltv(net, paying, churned, active),
        "ltv_to_cac": _ltv_to_cac(net, paying, churned, active, spend_total, new_customers),
        "leads_responded": sum(responses.values()),
        "first_response_median_seconds": _seconds(median_ms),
        "first_response_p90_seconds": _seconds(p90_ms),
        "leads_responded_within_sla": f.n("responses_within_sla"),
        "sla_compliance": ratio(f.n("responses_within_sla"), sum(responses.values())),
        "accounts_by_stage": {stage: n for stage in STAGES if (n := f.by_one.get("stage", {}).get(stage, 0))},
    }


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _sales_velocity(
    opportunities: int, won: int, lost: int, bookings: Money, cycle_ms: int, cycle_deals: int
) -> Money | None:
    """opportunities x win rate x average deal size / average sales cycle (days), per currency, per day.

    Expanded to one exact fraction so only the result is rounded:
    opportunities * bookings * cycle_deals * DAY_MS / ((won + lost) * cycle_ms).
    """
    if won == 0 or cycle_deals == 0 or cycle_ms == 0:
        return None
    return {
        cur: round_half_away(opportunities * amount * cycle_deals * DAY_MS, (won + lost) * cycle_ms)
        for cur, amount in bookings.items()
    }


def _per_account(net: Money, paying: dict[str, int]) -> Money | None:
    """ARPA: (cash collected - refunds) / paying accounts, per currency."""
    if not paying:
        return None
    return {cur: round_half_away(net[cur], accounts) for cur, accounts in paying.items()}


def _ltv(net: Money, paying: dict[str, int], churned: int, active: int) -> Money | str | None:
    """LTV: ARPA / churn rate = (net / paying) / (churned / active), per currency; "n/a" when churn is 0."""
    if not paying or active == 0:
        return None
    if churned == 0:
        return "n/a"
    return {cur: round_half_away(net[cur] * active, accounts * churned) for cur, accounts in paying.items()}


def _ltv_to_cac(
    net: Money, paying: dict[str, int], churned: int, active: int, spend_total: Money, new_customers: int
) -> dict[str, float | None] | str | None:
    """LTV / CAC per currency from the exact (unrounded) LTV and CAC."""
    ltv = _ltv(net, paying, churned, active)
    if ltv is None or new_customers == 0:
        return None
    if ltv == "n/a":
        return "n/a"
    # (net * active / (paying * churned)) / (spend / new_customers)
    return {
        cur: ratio(net[cur] * active * new_customers, accounts * churned * spend_total.get(cur, 0))
        for cur, accounts in paying.items()
    }
