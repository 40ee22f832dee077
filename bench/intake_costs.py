"""What each step of the intake agent costs per event, without Kafka or Faust.

    python -m bench.intake_costs --events 200000

Runs the pure steps of ``baton/agents/intake.py``'s ``handle_record`` over N
realistic events in their produced order, one account state kept as bytes
in a dict (what the memory table holds), and times each step:

- ``decode``: ``decode(RecordRef, value)`` (pydantic ``validate_json`` + checks);
- ``check_partitioning``: ``expected_partition`` (pure-Python murmur2) per record;
- ``load``: the account from the cache, else ``AccountHistory.from_bytes`` of its stored history
  and a fold;
- ``compact``: the event's compact form;
- ``step``: ``processor.step`` (with the cached state: the event applied to it in place; without:
  the history folded before and after the event), rules;
- ``to_bytes``: ``history.to_bytes()`` (what is written to the table);
- ``scorecard``: what ``count_in_scorecard`` does (``Scorecard.recount`` of the cached facts;
  without the cache ``apply_account(previous, state)``);
- ``open_checks``: the account's timer checks, pushed to a ``DueQueue``.

Every step's mean µs/event is printed as JSON, with the history length it
grew to: the per-event cost of ``to_bytes`` and ``scorecard`` grows with the
account's history (each event re-serialises and re-counts the whole account),
and with ``--path stored`` so do ``load`` and ``step``. Faust's own costs (the per-record
delivery, a Table write, a send) are measured by ``bench.throughput``'s
bare agent variants, not here.
"""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

from bench.common import emit, load_events, log, machine, parser


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--gc", choices=("on", "off"), default="on", help="cyclic GC during the run (default on, like the worker)")
    p.add_argument("--path", choices=("cached", "stored"), default="cached",
                   help="cached: as the worker runs, with its account cache (each account's history, state and "
                        "scorecard facts kept decoded; the default cache holds the 10,000 accounts); stored: every "
                        "event reads the history from bytes, folds it before and after, and recounts both "
                        "states' facts (a cache miss each time)")
    args = p.parse_args(argv)

    from baton.funnel.fold import fold
    from baton.funnel.history import AccountHistory, compact
    from baton.scorecard import Scorecard
    from baton.settings import Settings
    from baton.streams.decode import DeadLetter, RecordRef, decode
    from baton.streams.partitioning import expected_partition
    from baton.streams.processor import source_of, step
    from baton.streams.timers import DueQueue, open_checks

    settings = Settings(bootstrap_servers="unused:9092")
    events = load_events(args.events, args.accounts, args.seed)
    log(f"{len(events)} events loaded")
    store: dict[bytes, bytes] = {}
    cached = args.path == "cached"
    cache: dict[bytes, list] = {}
    cards = {p: Scorecard(settings.sla_windows) for p in range(args.partitions)}
    dues = DueQueue()
    steps = ("decode", "check_partitioning", "load", "compact", "step", "to_bytes", "scorecard", "open_checks")
    spent = dict.fromkeys(steps, 0)
    counted = 0
    longest = 0
    now_ms = int(time.time() * 1000)
    clock = time.perf_counter_ns
    if args.gc == "off":
        gc.disable()
    started = clock()
    for offset, (short, key, value) in enumerate(events):
        partition = expected_partition(key, args.partitions)
        t0 = clock()
        decoded = decode(RecordRef(short, partition, offset, key, now_ms), value)
        t1 = clock()
        spent["decode"] += t1 - t0
        if isinstance(decoded, DeadLetter) or decoded.account_id is None:
            continue  # spend: a dict update, not the account path measured here
        counted += 1
        expected_partition(key, args.partitions)
        t2 = clock()
        spent["check_partitioning"] += t2 - t1
        entry = cache.get(key) if cached else None
        if entry is None:
            raw = store.get(key)
            history = AccountHistory.from_bytes(raw) if raw else AccountHistory(decoded.account_id)
            entry = [history, fold(history) if raw else None, None]  # history, state, facts (intake's CachedAccount)
            if cached:
                cache[key] = entry
        history, current, facts = entry
        t3 = clock()
        spent["load"] += t3 - t2
        ev = compact(decoded)
        ev["src"] = source_of(short, partition, offset)
        t4 = clock()
        spent["compact"] += t4 - t3
        card = cards[partition]
        if cached and facts is None and current is not None:
            facts = card.facts(current)  # the intake takes them before step() may advance the state in place
        result = step(history, ev, settings.sla_seconds, current=current if cached else None)
        t5 = clock()
        spent["step"] += t5 - t4
        if not result.changed:
            continue
        store[key] = history.to_bytes()
        t6 = clock()
        spent["to_bytes"] += t6 - t5
        if cached:
            if facts is None and result.previous is not None:
                facts = card.facts(result.previous)
            entry[2] = card.recount(facts, result.state)  # as the intake: reuses what did not change
            entry[1] = result.state
        else:
            card.apply_account(result.previous, result.state)
        t7 = clock()
        spent["scorecard"] += t7 - t6
        for due in open_checks(result.state, history, settings.sla_seconds, settings.payment_missing_days):
            dues.push(due)
        spent["open_checks"] += clock() - t7
        longest = max(longest, len(history))
    total = clock() - started
    gc.enable()

    sizes = sorted(len(AccountHistory.from_bytes(raw)) for raw in store.values())
    per_event = {name: round(ns / 1000 / max(counted, 1), 2) for name, ns in spent.items()}
    result: dict[str, Any] = {
        "bench": "intake_costs",
        "machine": machine(),
        "events": len(events),
        "account_events": counted,
        "accounts": len(store),
        "gc": args.gc,
        "path": args.path,
        "history_length": {"mean": round(sum(sizes) / max(len(sizes), 1), 1), "p50": sizes[len(sizes) // 2],
                           "p99": sizes[int(len(sizes) * 0.99)], "max": longest},
        "us_per_account_event": per_event,
        "us_per_account_event_total": round(sum(per_event.values()), 2),
        "wall_us_per_event": round(total / 1000 / len(events), 2),
        "share": {name: round(ns / max(sum(spent.values()), 1), 3) for name, ns in spent.items()},
    }
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
