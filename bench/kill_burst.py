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

from bench.common import (TopicNames, broker, create_topics, delete_topics, emit, env_pairs, fresh_prefix, log,
                          machine, parser, py_spy)
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
    seen: Counter = Counter()
    kept_log = None
    env = {"BATON_SLACK__BOT_TOKEN": token, "BATON_SLACK__API_URL": api_url,
           "BATON_DELIVERY__RATE_LIMITS__SLACK": "0", "BATON_DELIVERY__DIGEST_THRESHOLD": "100000",
           "BATON_SESSION_TIMEOUT_SECONDS": "10"}
    env.update(env_pairs(args.worker_env))
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
                stalled_since, last = time.monotonic(), -1
                while (now_seen := len(arrivals(slack))) < args.burst and time.monotonic() < deadline:
                    if now_seen != last:
                        stalled_since, last = time.monotonic(), now_seen
                    elif time.monotonic() - stalled_since > 30:
                        _dump_stacks(worker, f"no message for 30 s after the restart ({now_seen} arrived)")
                        _dump_offsets(worker, bootstrap, TopicNames(prefix).name("notifications"))
                        break
                    time.sleep(0.5)
                time.sleep(3)  # a late repeat must be counted too
                seen = arrivals(slack)
            finally:
                worker.stop()
                kept_log = _keep_log(worker.log_path, prefix) if len(seen) < args.burst else None
    finally:
        slack.stop()
        delete_topics(bootstrap, prefix.rstrip("."))
    repeats = {note_id: n - 1 for note_id, n in seen.items() if n > 1}
    result = {"round": round_no, "arrived_before_kill": before_kill, "distinct_arrived": len(seen),
              "lost": args.burst - len(seen), "repeated_messages": sum(repeats.values()),
              "within_guarantee": args.burst == len(seen) and sum(repeats.values()) <= 1}
    if kept_log:
        result["worker_log"] = str(kept_log)
    return result


def _dump_stacks(worker, why: str) -> None:
    """Append the stuck worker's Python stacks (py-spy dump, if installed) to its log."""
    import subprocess

    spy = py_spy() or "py-spy"  # not installed: the failure is written to the log
    with open(worker.log_path, "ab") as out:
        out.write(f"\n===== {why}: py-spy dump =====\n".encode())
        out.flush()
        try:
            subprocess.run([spy, "dump", "--pid", str(worker.proc.pid)], stdout=out, stderr=subprocess.STDOUT,
                           timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            out.write(f"py-spy failed: {exc}\n".encode())


def _dump_offsets(worker, bootstrap: str, topic: str) -> None:
    """Append the worker group's committed offsets on ``topic`` and the topic's end offsets to its log."""
    import urllib.request

    from kafka import KafkaConsumer, TopicPartition

    with open(worker.log_path, "a") as out:
        try:
            # An OffsetFetch in the worker's group, without joining it (nothing is subscribed).
            consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=worker.app_id, enable_auto_commit=False)
            parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            ends = consumer.end_offsets(parts)
            for tp in parts:
                out.write(f"{topic}[{tp.partition}]: committed {consumer.committed(tp)}, end {ends[tp]}\n")
            consumer.close()
        except Exception as exc:  # noqa: BLE001 - a diagnostic only
            out.write(f"offsets unavailable: {exc!r}\n")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics.json", timeout=10) as reply:
                out.write(f"/metrics.json: {reply.read().decode()}\n")
        except Exception as exc:  # noqa: BLE001 - a diagnostic only
            out.write(f"/metrics.json unavailable: {exc!r}\n")


def _keep_log(log_path: Path, prefix: str) -> Path | None:
    """A round that lost messages keeps its worker's log (both starts) for a look at why."""
    kept = Path.home() / ".cache" / "baton" / "bench" / f"kill_burst-{prefix.rstrip('.')}.log"
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(log_path.read_bytes())
    except OSError:
        return None
    return kept


def main() -> None:
    p = parser(__doc__.splitlines()[0], default_events=0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--burst", type=int, default=600)
    p.add_argument("--kill-after", type=int, default=200)
    p.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment for the worker, e.g. BATON_EAGER_DRAIN=false (repeatable)")
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
