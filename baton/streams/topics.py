"""The contract's topic names, with the configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass

INPUT_TOPICS = ("signups", "leads", "deals", "payments", "spend")
OUTPUT_TOPICS = ("notifications", "deliveries", "funnel", "scorecard", "deadletter")
COMPACTED = frozenset({"funnel", "scorecard"})

# Which event types belong on which input topic (contract table).
TYPES_BY_TOPIC: dict[str, frozenset[str]] = {
    "signups": frozenset({"signup.created"}),
    "leads": frozenset({"lead.created", "lead.assigned", "lead.contacted", "lead.qualified", "lead.disqualified"}),
    "deals": frozenset({"deal.created", "deal.stage_changed", "deal.won", "deal.lost"}),
    "payments": frozenset({"payment.succeeded", "payment.failed", "payment.refunded", "subscription.cancelled"}),
    "spend": frozenset({"spend.recorded"}),
}


@dataclass(frozen=True)
class TopicNames:
    prefix: str = "m2c."

    def name(self, short: str) -> str:
        return f"{self.prefix}{short}"

    @property
    def inputs(self) -> list[str]:
        return [self.name(t) for t in INPUT_TOPICS]

    @property
    def outputs(self) -> list[str]:
        return [self.name(t) for t in OUTPUT_TOPICS]

    def short(self, full: str) -> str:
        return full[len(self.prefix):] if full.startswith(self.prefix) else full

    @property
    def signups(self) -> str:
        return self.name("signups")

    @property
    def leads(self) -> str:
        return self.name("leads")

    @property
    def deals(self) -> str:
        return self.name("deals")

    @property
    def payments(self) -> str:
        return self.name("payments")

    @property
    def spend(self) -> str:
        return self.name("spend")

    @property
    def notifications(self) -> str:
        return self.name("notifications")

    @property
    def deliveries(self) -> str:
        return self.name("deliveries")

    @property
    def funnel(self) -> str:
        return self.name("funnel")

    @property
    def scorecard(self) -> str:
        return self.name("scorecard")

    @property
    def deadletter(self) -> str:
        return self.name("deadletter")
