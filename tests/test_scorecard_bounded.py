"""A scope's published part stays bounded however many accounts count in it.

Regression: the all-time scopes kept one ``latest`` key per account and one
``response_ms`` key per distinct millisecond, so past ~50,000 accounts a part
outgrew a Kafka record and the worker could not publish (nor restart).
"""

from __future__ import annotations

import random

import orjson
import pytest

from baton.funnel.fold import fold
from baton.funnel.history import AccountHistory
from baton.scorecard import Partial, Scorecard
from baton.scorecard.contribution import response_bucket

START_MS = 1_774_000_000_000
KAFKA_RECORD_BYTES = 1_000_000


def _lead_history(n: int, rng: random.Random) -> AccountHistory:
    created = START_MS + n * 1_000 + rng.randrange(1_000)
    events = [
        {"id": f"c{n}", "type": "lead.created", "t": created,
         "data": {"lead_id": f"L{n}", "source": "marketing", "temperature": "hot", "owner_id": f"r-{n % 50}"}},
        {"id": f"k{n}", "type": "lead.contacted", "t": created + rng.randrange(1, 3 * 86_400_000),
         "data": {"lead_id": f"L{n}", "owner_id": f"r-{n % 50}"}},
    ]
    return AccountHistory(f"acct-{n}", events)


def test_an_all_time_part_of_60k_accounts_fits_in_a_kafka_record():
    rng = random.Random(7)
    card = Scorecard()
    for n in range(60_000):
        card.apply_account(None, fold(_lead_history(n, rng)))
    part = card.partials["all"]
    whole = len(orjson.dumps(part.to_json()))
    wire = len(orjson.dumps(part.to_wire()))
    assert whole > KAFKA_RECORD_BYTES  # what used to be published: the test can fail
    assert wire < 100_000
    # What the combiner reads back finalizes to the same record.
    assert Partial.from_json(orjson.loads(orjson.dumps(part.to_wire()))).finalize("all") == part.finalize("all")


def test_latest_maximum_follows_additions_and_removals():
    rng = random.Random(3)
    part = Partial()
    present: dict[int, int] = {}
    for _ in range(5_000):
        instant = rng.randrange(100)
        amount = rng.choice([1, -1]) if present.get(instant) else 1
        part.add(("latest", instant), amount)
        present[instant] = present.get(instant, 0) + amount
        expected = max((t for t, n in present.items() if n), default=None)
        assert part.latest() == expected
        assert part.copy().latest() == expected


@pytest.mark.parametrize("ms, bucket", [
    (0, 0), (999, 999), (1_000, 1_000), (1_004, 1_000), (1_005, 1_010), (99_949, 99_900),
    (99_950, 100_000), (1_234_567, 1_230_000), (86_400_000, 86_400_000),
])
def test_response_times_keep_three_significant_figures(ms, bucket):
    assert response_bucket(ms) == bucket


def test_response_bucket_is_at_most_half_a_percent_off():
    for ms in range(1_000, 2_000_000, 997):
        assert abs(response_bucket(ms) - ms) <= ms * 0.005


def test_add_to_a_live_total_keeps_its_latest_instant_right():
    # Contributor.add_to is the replay's hot loop; a total whose maximum was already
    # asked for must not keep showing an instant that was taken away.
    from baton.scorecard.contribution import account_facts

    rng = random.Random(3)
    states = sorted((fold(_lead_history(n, rng)) for n in (1, 2)), key=lambda state: state.as_of)
    older, newer = (account_facts(state) for state in states)
    into: dict[str, Partial] = {}
    older.add_to(into)
    newer.add_to(into)
    newest = into["all"].latest()
    assert newest == states[1].as_of
    newer.add_to(into, -1)
    assert into["all"].latest() is not None and into["all"].latest() < newest
    assert into["all"].latest() == max(into["all"].latest_counts)
    assert not any(key[0] == "latest" for key in into["all"].counts)  # kept apart, out of to_wire's way
