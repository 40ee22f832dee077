"""A seedable, endless stream of realistic contract events.

It is a small discrete-event simulation. Each account journey, each billing
schedule and each spend feed is a Python generator (a "process") that yields
either a delay in whole seconds or an event to emit. A heap resumes the
processes in simulated-time order, so the stream is globally ordered by
``occurred_at`` while many accounts progress interleaved.

Simulated time is realistic (sales cycles of days, monthly invoices), so it
runs much faster than the wall clock: a few hundred events cover days.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Generator, Iterator, NamedTuple

import orjson

# --- the cast ------------------------------------------------------------------

REPS: dict[str, str] = {
    "r-1": "Ana Pereira",
    "r-2": "Ben Okafor",
    "r-3": "Chloe Martin",
    "r-4": "Dev Patel",
    "r-5": "Elena Rossi",
    "r-6": "Farid Haddad",
    "r-7": "Grace Kim",
    "r-8": "Hugo Larsen",
}
# How often each rep contacts a lead after its follow-up window: r-3 and r-6
# are the slow ones, so rep scorecards and SLA alerts differ.
_REP_LATE = {"r-1": 0.08, "r-2": 0.10, "r-3": 0.35, "r-4": 0.07, "r-5": 0.12, "r-6": 0.25, "r-7": 0.05, "r-8": 0.10}


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    channel: str
    currency: str
    daily_budget: int  # major units


CAMPAIGNS: tuple[Campaign, ...] = (
    Campaign("c-1", "Google Ads - Brand", "paid-search", "USD", 400),
    Campaign("c-2", "LinkedIn ABM Q4", "paid-social", "USD", 650),
    Campaign("c-3", "Webinar: Cash Forecasting 101", "webinar", "USD", 150),
    Campaign("c-4", "SaaStr Booth", "events", "USD", 900),
    Campaign("c-5", "Partner Referral Program", "partner", "USD", 120),
    Campaign("c-6", "DACH Search", "paid-search", "EUR", 250),
    Campaign("c-7", "UK Newsletter Sponsorship", "email", "GBP", 180),
    Campaign("c-8", "SEO Content Hub", "content", "USD", 90),
)
_MARKETING_CAMPAIGNS = [c for c in CAMPAIGNS if c.channel != "partner"]

_NAME_HEADS = (
    "Northwind", "Blue Harbor", "Acme", "Globex", "Initech", "Vandelay", "Cobalt", "Juniper", "Redwood",
    "Silverline", "Bright Forge", "Kestrel", "Lumen", "Meridian", "Nimbus", "Orchid", "Pioneer", "Quartz",
    "Riverbend", "Summit", "Tidewater", "Umber", "Vertex", "Willow", "Yellowstone", "Zephyr", "Granite",
    "Harbor Point", "Ironclad", "Foxglove",
)
_NAME_TAILS = (
    "Logistics", "Analytics", "Foods", "Robotics", "Health", "Labs", "Systems", "Energy", "Studios",
    "Capital", "Outfitters", "Software", "Dental", "Freight", "Media", "Bio",
)
_LEGAL = ("", "", "", " Inc.", " Ltd", " LLC", " GmbH", " SAS", " Co.")
# Names that must survive HTML, Slack mrkdwn and e-mail escaping.
_AWKWARD_NAMES = (
    "Barnes & Whitley",
    "<Angle> Brackets Inc.",
    "Bits & Bolts <Labs>",
    "O'Brien Freight",
    "Müller Präzision GmbH",
    'The "Quoted" Company',
    "Smith & Sons <Bakery>",
)
_FIRST = ("Alex", "Sam", "Priya", "Jordan", "Mia", "Noah", "Lena", "Omar", "Sofia", "Tom", "Yuki", "Zoe", "Luis", "Ines")
_LAST = ("Nguyen", "Smith", "Garcia", "Schmidt", "Kowalski", "Dubois", "Tanaka", "Brown", "Silva", "Cohen", "Ward")

_PLANS = {  # monthly price in minor units, per currency
    "starter": {"USD": 4900, "EUR": 4500, "GBP": 3900},
    "team": {"USD": 19900, "EUR": 18900, "GBP": 15900},
    "business": {"USD": 49900, "EUR": 46900, "GBP": 39900},
}
_STAGES = ("discovery", "demo", "proposal", "negotiation")
_SLA = {"hot": 300, "warm": 3600, "cold": 86400}  # the contract's default follow-up windows
_DISQUALIFY = ("no budget", "not a fit", "competitor customer", "duplicate", "student / personal use")
_LOST = ("price", "went with a competitor", "no decision", "timing", "missing feature")
_PAY_FAIL = ("card_declined", "insufficient_funds", "expired_card", "do_not_honor")
_CHURN = ("too expensive", "switched to a competitor", "company shut down", "not using it", None)

MINUTE, HOUR, DAY = 60, 3600, 86400


# --- simulation state ----------------------------------------------------------

@dataclass
class _Account:
    id: str
    company: str
    domain: str
    currency: str
    started: bool = False
    in_journey: bool = False
    paying: bool = False
    epoch: int = 0  # bumped on churn: stops every billing process of the account
    manager: str | None = None  # the rep who won it, who runs upsells
    ready_at: int = 0  # earliest time of its next journey


class _Emit(NamedTuple):
    topic: str
    type: str
    account: _Account | None
    key: str
    data: dict[str, Any]
    source: str


_Process = Generator["int | _Emit", None, None]


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Sim:
    seed: int
    accounts: int
    start: datetime
    rng: random.Random = field(init=False)
    now: int = 0  # seconds since start

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._heap: list[tuple[int, int, _Process]] = []
        self._order = itertools.count()
        self._ids: dict[str, itertools.count] = {}
        self._pool = self._make_accounts()
        self._fresh = list(self._pool)  # never seen yet, in arrival order

    # -- helpers ------------------------------------------------------------

    def new_id(self, kind: str) -> str:
        counter = self._ids.setdefault(kind, itertools.count(1))
        return f"{kind}_{self.seed}_{next(counter)}"

    def spawn(self, proc: _Process, delay: int = 0) -> None:
        heapq.heappush(self._heap, (self.now + delay, next(self._order), proc))

    def secs(self, low: float, high: float) -> int:
        """A uniform delay, at least one second so each process moves forward in time."""
        return max(1, math.ceil(self.rng.uniform(low, high)))

    def pick(self, weights: dict[str, float]) -> str:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def money(self, currency: str, usd_major: float) -> int:
        rate = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79}[currency]
        return int(round(usd_major * rate / 100.0) * 100 * 100)  # whole hundreds, in minor units

    def _make_accounts(self) -> list[_Account]:
        names: list[str] = list(_AWKWARD_NAMES[: max(1, min(len(_AWKWARD_NAMES), self.accounts // 20))])
        combos = [f"{h} {t}" for h in _NAME_HEADS for t in _NAME_TAILS]
        self.rng.shuffle(combos)
        for i in range(self.accounts - len(names)):
            base = combos[i % len(combos)]
            names.append(base + self.rng.choice(_LEGAL) if i < len(combos) else f"{base} {i // len(combos) + 1}")
        names = names[: self.accounts]
        self.rng.shuffle(names)
        seen: set[str] = set()
        pool = []
        for name in names:
            slug = base = _slug(name) or "account"
            n = 1
            while slug in seen:
                n += 1
                slug = f"{base}-{n}"
            seen.add(slug)
            currency = self.pick({"USD": 0.75, "EUR": 0.15, "GBP": 0.10})
            pool.append(_Account(f"acct_{slug}", name, f"{slug}.example", currency))
        return pool

    # -- the run loop ---------------------------------------------------------

    def run(self) -> Iterator[tuple[str, str, bytes]]:
        self.spawn(self.arrivals())
        for campaign in CAMPAIGNS:
            self.spawn(self.campaign_spend(campaign), self.secs(HOUR, DAY))
        self.spawn(self.team_spend("sales", 15000), self.secs(HOUR, 7 * DAY))
        self.spawn(self.team_spend("marketing", 5000), self.secs(HOUR, 7 * DAY))
        n = itertools.count(1)
        while self._heap:
            self.now, _, proc = heapq.heappop(self._heap)
            for step in proc:
                if isinstance(step, int):
                    self.spawn(proc, step)
                    break
                yield self._encode(step, next(n))

    def _encode(self, e: _Emit, n: int) -> tuple[str, str, bytes]:
        body: dict[str, Any] = {
            "id": f"evt_{self.seed}_{n}",
            "type": e.type,
            "occurred_at": _rfc3339(self.start + timedelta(seconds=self.now)),
        }
        if e.account is not None:
            body["account_id"] = e.account.id
        body["source"] = e.source
        body["data"] = {k: v for k, v in e.data.items() if v is not None}
        return e.topic, e.key, orjson.dumps(body)

    def emit(self, topic: str, type_: str, acct: _Account, system: str, /, **data: Any) -> _Emit:
        """An account's event; ``system`` is the envelope's ``source`` (data may have its own)."""
        return _Emit(topic, type_, acct, acct.id, data, system)

    # -- processes ----------------------------------------------------------------

    def arrivals(self) -> _Process:
        """New journeys: every fresh account once, then returning ones (upsell, win-back)."""
        # Spread the fresh accounts over about ten days, so new leads keep coming.
        gap = min(6 * HOUR, max(2 * MINUTE, 10 * DAY // self.accounts))
        while True:
            yield self.secs(gap * 0.2, gap * 1.8)
            if self._fresh:
                acct = self._fresh.pop(0)
            else:
                ready = [a for a in self._pool if not a.in_journey and a.ready_at <= self.now]
                if not ready or self.rng.random() < 0.5:
                    continue
                acct = self.rng.choice(ready)
            acct.in_journey = True
            self.spawn(self.journey(acct))

    def journey(self, acct: _Account) -> _Process:
        first = not acct.started
        acct.started = True
        try:
            if first and self.rng.random() < 0.3:
                plan = self.pick({"starter": 0.45, "team": 0.4, "business": 0.15})
                campaign = self.rng.choice(_MARKETING_CAMPAIGNS).id if self.rng.random() < 0.6 else None
                first_name, last_name = self.rng.choice(_FIRST), self.rng.choice(_LAST)
                yield self.emit(
                    "signups", "signup.created", acct, "webapp",
                    company=acct.company, email=f"{first_name}.{last_name}@{acct.domain}".lower(), plan=plan,
                    mrr=_PLANS[plan][acct.currency], currency=acct.currency, campaign_id=campaign,
                )
                if plan != "business" and self.rng.random() < 0.65:
                    # Self-serve: the card pays monthly, no sales touch.
                    self.spawn(self.billing(acct, _PLANS[plan][acct.currency], 30, None, acct.epoch), self.secs(10, 5 * MINUTE))
                    acct.paying = True
                    return
                yield self.secs(5 * MINUTE, 2 * HOUR)
                lead = yield from self.lead(acct, "marketing", self.pick({"hot": 0.5, "warm": 0.5}), campaign, None)
            elif acct.paying and acct.manager:
                # Expansion: the account manager opens the upsell.
                lead = yield from self.lead(acct, "sales", self.pick({"hot": 0.3, "warm": 0.7}), None, acct.manager)
            else:
                source = self.pick({"marketing": 0.5, "sales": 0.3, "channel": 0.2})
                temperature = self.pick({"hot": 0.15, "warm": 0.35, "cold": 0.5})
                campaign = None
                if source == "marketing" and self.rng.random() < 0.85:
                    campaign = self.rng.choice(_MARKETING_CAMPAIGNS).id
                elif source == "channel" and self.rng.random() < 0.7:
                    campaign = "c-5"
                creator = self.rng.choice(list(REPS)) if source == "sales" else None
                lead = yield from self.lead(acct, source, temperature, campaign, creator)
            if lead is not None:
                yield from self.deal(acct, *lead)
        finally:
            acct.in_journey = False
            # No new journey right away; customers hear about upsells only now and then.
            acct.ready_at = self.now + (self.secs(120 * DAY, 365 * DAY) if acct.paying else self.secs(7 * DAY, 30 * DAY))

    def lead(self, acct: _Account, source: str, temperature: str, campaign: str | None,
             creator: str | None) -> Generator[int | _Emit, None, tuple | None]:
        """lead.created -> assigned -> contacted (maybe late, maybe never) -> (dis)qualified."""
        lead_id = self.new_id("lead")
        first_name, last_name = self.rng.choice(_FIRST), self.rng.choice(_LAST)
        yield self.emit(
            "leads", "lead.created", acct, "crm",
            lead_id=lead_id, source=source, temperature=temperature, campaign_id=campaign, owner_id=creator,
            contact_name=f"{first_name} {last_name}", contact_email=f"{first_name}.{last_name}@{acct.domain}".lower(),
            company=acct.company,  # an extra field: the contract keeps and ignores it
        )
        owner = creator or self.rng.choices(list(REPS), weights=[3, 3, 2, 2, 2, 1, 3, 2])[0]
        yield self.secs(5, 30) if creator else self.secs(10, 3 * MINUTE)
        yield self.emit("leads", "lead.assigned", acct, "crm", lead_id=lead_id, owner_id=owner)

        window = _SLA[temperature]
        roll = self.rng.random()
        contacted = roll >= 0.05  # 5% are never contacted: a sure SLA breach
        late = roll < 0.05 + _REP_LATE[owner]
        if contacted:
            yield self.secs(window * 1.2, window * 4) if late else self.secs(window * 0.05, window * 0.9)
            yield self.emit("leads", "lead.contacted", acct, "crm", lead_id=lead_id, owner_id=owner)
            yield self.secs(HOUR, 2 * DAY)
            qualify = {"hot": 0.7, "warm": 0.5, "cold": 0.3}[temperature] * (0.7 if late else 1.0)
            if self.rng.random() < qualify:
                yield self.emit("leads", "lead.qualified", acct, "crm", lead_id=lead_id)
                return lead_id, source, temperature, campaign, owner
            reason = self.rng.choice(_DISQUALIFY)
        elif self.rng.random() < 0.7:
            yield self.secs(2 * DAY, 10 * DAY)
            reason = "unresponsive"
        else:
            return None  # the lead just goes stale
        yield self.emit("leads", "lead.disqualified", acct, "crm", lead_id=lead_id, reason=reason)
        return None

    def deal(self, acct: _Account, lead_id: str, source: str, temperature: str, campaign: str | None,
             owner: str) -> _Process:
        """deal.created -> stage changes -> won (then billing) or lost."""
        yield self.secs(2 * HOUR, 3 * DAY)
        deal_id = self.new_id("deal")
        acv = min(250_000, max(3_000, self.rng.lognormvariate(math.log(18_000), 0.8)))
        amount = self.money(acct.currency, acv)
        yield self.emit(
            "deals", "deal.created", acct, "crm",
            deal_id=deal_id, amount=amount, currency=acct.currency, owner_id=owner, lead_id=lead_id,
            source=source, campaign_id=campaign,
        )
        win = self.rng.random() < ({"hot": 0.5, "warm": 0.35, "cold": 0.2}[temperature] + (0.2 if acct.paying else 0))
        reached = len(_STAGES) if win else self.rng.randint(0, len(_STAGES))
        for stage in _STAGES[:reached]:
            yield self.secs(HOUR, 6 * DAY)
            yield self.emit("deals", "deal.stage_changed", acct, "crm", deal_id=deal_id, stage=stage)
        yield self.secs(HOUR, 5 * DAY)
        if not win:
            yield self.emit("deals", "deal.lost", acct, "crm", deal_id=deal_id, reason=self.rng.choice(_LOST))
            return
        final = int(amount * self.rng.uniform(0.85, 1.0)) // 10_000 * 10_000  # the discount, in whole hundreds
        yield self.emit("deals", "deal.won", acct, "crm", deal_id=deal_id, amount=final, currency=acct.currency)
        acct.manager = acct.manager or owner
        acct.paying = True
        if self.rng.random() < 0.55:
            self.spawn(self.billing(acct, final, 365, deal_id, acct.epoch), self.secs(DAY, 5 * DAY))
        else:
            self.spawn(self.billing(acct, final // 12, 30, deal_id, acct.epoch), self.secs(DAY, 5 * DAY))

    def billing(self, acct: _Account, amount: int, period_days: int, deal_id: str | None, epoch: int) -> _Process:
        """Invoices every period until churn; card failures retry, three in a row cancel.

        ``epoch`` is taken when the subscription starts, not when this first runs,
        so a churn in between stops it too.
        """
        currency = acct.currency
        while acct.epoch == epoch:
            invoice_id = self.new_id("inv")
            for attempt in range(3):
                payment_id = self.new_id("pay")
                if self.rng.random() >= 0.08:
                    yield self.emit("payments", "payment.succeeded", acct, "stripe", payment_id=payment_id,
                                    amount=amount, currency=currency, deal_id=deal_id, invoice_id=invoice_id)
                    break
                yield self.emit("payments", "payment.failed", acct, "stripe", payment_id=payment_id, amount=amount,
                                currency=currency, reason=self.rng.choice(_PAY_FAIL), invoice_id=invoice_id)
                yield self.secs(2 * DAY, 4 * DAY)
                if acct.epoch != epoch:
                    return
            else:
                yield from self.churn(acct, "payment failed three times")
                return
            if self.rng.random() < 0.05:
                yield self.secs(DAY, 14 * DAY)
                if acct.epoch != epoch:
                    return
                refund = amount if self.rng.random() < 0.6 else amount // 2
                yield self.emit("payments", "payment.refunded", acct, "stripe",
                                payment_id=payment_id, amount=refund, currency=currency)
                if refund == amount and self.rng.random() < 0.5:
                    yield self.secs(MINUTE, HOUR)
                    yield from self.churn(acct, "refund requested")
                    return
            yield self.secs(period_days * DAY - HOUR, period_days * DAY + HOUR)
            if acct.epoch == epoch and self.rng.random() < (0.03 if period_days < 365 else 0.1):
                yield from self.churn(acct, self.rng.choice(_CHURN))
                return

    def churn(self, acct: _Account, reason: str | None) -> _Process:
        acct.epoch += 1
        acct.paying = False
        yield self.emit("payments", "subscription.cancelled", acct, "stripe", reason=reason)

    def spend_every(self, days: int) -> int:
        """Spend reports come less often for small pools, so they don't drown the funnel events."""
        return min(28, max(days, round(days * 100 / self.accounts)))

    def campaign_spend(self, campaign: Campaign) -> _Process:
        days = self.spend_every(1)
        while True:
            major = campaign.daily_budget * days * self.rng.uniform(0.7, 1.2)
            yield self._spend(campaign.id, "marketing", campaign.currency, major, campaign.id)
            yield self.secs(days * DAY - 2 * HOUR, days * DAY + 2 * HOUR)

    def team_spend(self, team: str, weekly_usd: int) -> _Process:
        days = self.spend_every(7)
        while True:
            yield self._spend(team, team, "USD", weekly_usd * days / 7 * self.rng.uniform(0.9, 1.1), None)
            yield self.secs(days * DAY - HOUR, days * DAY + HOUR)

    def _spend(self, key: str, team: str, currency: str, major: float, campaign: str | None) -> _Emit:
        period = (self.start + timedelta(seconds=self.now)).strftime("%Y-%m")
        data = {"spend_id": self.new_id("spend"), "amount": int(major * 100), "currency": currency,
                "team": team, "campaign_id": campaign, "period": period}
        return _Emit("spend", "spend.recorded", None, key, data, "ads" if campaign else "finance")


def generate(seed: int | None, accounts: int, start: datetime | None = None) -> Iterator[tuple[str, str, bytes]]:
    """Yield ``(short topic, key, JSON value)`` forever; the caller limits the count.

    ``seed`` None picks a random one (ids still carry it, so two runs never share ids).
    ``start`` is the simulated clock's origin (default: now, UTC; naive means UTC).
    """
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    if seed is None:
        seed = random.SystemRandom().randrange(1, 10**9)
    if start is None:
        start = datetime.now(timezone.utc).replace(microsecond=0)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    return _Sim(seed, accounts, start.astimezone(timezone.utc)).run()
