"""Repeats after a SIGKILL in the middle of a burst of deliveries.

    python -m bench.kill_burst --rounds 3 --burst 600 --kill-after 200

Each round: a fresh worker (Slack at its contract server, no rate limit, no
digest) gets ``--burst`` ``payment.succeeded`` events at once, one per new
account, so ``--burst`` messages go to one destination (``#sales``) as fast as
the lane sends them. After ``--kill-after`` have arrived the worker is killed
with SIGKILL and started again; then every message must arrive. Printed per
round: messages lost (must be 0) and repeated. docs/notifications.md promises
at most one repeat per crash per destination (the send in flight when the
process died).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from bench.common import (TopicNames, broker, create_topics, delete_topics, emit, fresh_prefix, log, machine,
                          parser)
from bench.common import _produce as produce_batches
from bench.latency import Child, slack_server_child


def payments(n: int, tag: str) -> list[tuple[str, bytes, bytes]]:
    out = []
    for i in range(n):
        account = f"acct-{tag}-{i}"
        ev = {"id": f"pay-{tag}-{i}", "type": "payment.succeeded", "account_id": account,
              "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "data": {"payment_id": f"p-{tag}-{i}", "amount": 1000 + i, "currency": "USD"}}
        out.append(("payments", account.encode(), orjson.dumps(ev)))
    return out


def arrivals(slack: Child) -> Counter:
    """How many times Slack accepted each payment-to-sales notification id."""
    seen: Counter = Counter()
    for ids, _, _ in slack.ask("dump"):
        for note_id in ids:
            if note_id.startswith("payment-to-sales:"):
                seen[note_id] += 1
    return seen


def one_round(bootstrap: str, args, round_no: int) -> dict[str, Any]:
    import asyncio

    from tests.worker_process import WorkerProcess

    prefix = fresh_prefix("kb")
    create_topics(bootstrap, TopicNames(prefix).inputs, args.partitions)
    slack = Child(slack_server_child)
    token, api_url = slack.first()
    env = {"BATON_SLACK__BOT_TOKEN": token, "BATON_SLACK__API_URL": api_url,
           "BATON_DELIVERY__RATE_LIMITS__SLACK": "0", "BATON_DELIVERY__DIGEST_THRESHOLD": "100000",
           "BATON_SESSION_TIMEOUT_SECONDS": "10"}
    try:
        with tempfile.TemporaryDirectory(prefix="baton-kill-burst-") as tmp:
            worker = WorkerProcess(bootstrap, prefix, Path(tmp), env).start(timeout=180)
            try:
                asyncio.run(produce_batches(bootstrap, prefix, payments(args.burst, uuid.uuid4().hex[:6]),
                                            args.partitions))
                deadline = time.monotonic() + 120
                while sum(arrivals(slack).values()) < args.kill_after and time.monotonic() < deadline:
                    time.sleep(0.02)
                worker.kill()
                before_kill = sum(arrivals(slack).values())
                log(f"round {round_no}: SIGKILL after {before_kill} of {args.burst} arrived")
                worker.start(timeout=180)
                deadline = time.monotonic() + 180
                while len(arrivals(slack)) < args.burst and time.monotonic() < deadline:
                    time.sleep(0.5)
                time.sleep(3)  # a late repeat must be counted too
                seen = arrivals(slack)
            finally:
                worker.stop()
    finally:
        slack.stop()
        delete_topics(bootstrap, prefix.rstrip("."))
    repeats = {note_id: n - 1 for note_id, n in seen.items() if n > 1}
    return {"round": round_no, "arrived_before_kill": before_kill, "distinct_arrived": len(seen),
            "lost": args.burst - len(seen), "repeated_messages": sum(repeats.values()),
            "within_guarantee": args.burst == len(seen) and sum(repeats.values()) <= 1}


def main() -> None:
    p = parser(__doc__.splitlines()[0], default_events=0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--burst", type=int, default=600)
    p.add_argument("--kill-after", type=int, default=200)
    args = p.parse_args()
    facts = machine()
    with broker(args.bootstrap) as bootstrap:
        rounds = [one_round(bootstrap, args, n) for n in range(1, args.rounds + 1)]
    emit({"bench": "kill_burst", "machine": facts, "burst": args.burst, "kill_after": args.kill_after,
          "destinations": 1, "promise": "nothing lost; at most 1 repeat per crash per destination",
          "rounds": rounds, "lost_total": sum(r["lost"] for r in rounds),
          "repeats_total": sum(r["repeated_messages"] for r in rounds),
          "all_within_guarantee": all(r["within_guarantee"] for r in rounds)}, args.out)


if __name__ == "__main__":
    main()
