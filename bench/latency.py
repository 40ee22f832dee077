"""Latency of a payment notification: from producing ``payment.succeeded`` to Slack receiving the message.

    python -m bench.latency --seconds 30 --rate 1000     # the issue's figure
    python -m bench.latency --seconds 10 --rate 300      # a quick look

A ``baton worker`` (subprocess) delivers to the Slack-contract server
(``tests/slack_server.py``, in a process of its own) through the Web API. The
producer sends a realistic mix (``baton.demo.generator``, about 6 % payments)
at a steady rate for ``--warmup`` + ``--seconds`` seconds and notes
``time.monotonic()`` when it hands each ``payment.succeeded`` to the client;
the Slack server notes ``time.monotonic()`` (one clock for every process on
the machine) when each ``chat.postMessage`` arrives, matched by the
notification id in its metadata. Payments of the warm-up are not counted.

Same-run baseline: a plain kafka-python consumer (another process) reading the
payments topic, i.e. what Kafka alone costs from ``send()`` to a consumer.
The JSON gives p50/p90/p99/max of both and their ratio. The same consumer
reads ``m2c.notifications``, which splits Baton's figure in two
(``stages_ms``): the intake (payment produced -> its notification readable in
Kafka) and the delivery (-> Slack). ``worker_cpu_share`` is each worker's CPU
while producing (1.0: one core); ``--workers N`` starts N workers in the group.

Delivery runs as shipped except for the rate limit, which is off (0): Slack's
default of 1 message/s per channel would measure the rate limiter, not the
pipeline (``--slack-rate`` to try it). So a destination with more than
``digest_threshold`` (5 as shipped) messages waiting gets one digest of them, as in
production; the payment's id is in the digest's metadata and counts when the
digest arrives. ``--one-per-notification`` turns digests off (one message per
notification, whatever waits): the lanes' own capacity, a stress figure.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from baton.settings import DeliverySettings
from bench.common import (REPO, cpu_seconds, TopicNames, broker, create_topics, delete_topics, emit, env_pairs,
                          fresh_prefix, load_events, log, machine, py_spy, ratio)

TARGET_P99_MS = 100.0
DIGEST_THRESHOLD = DeliverySettings().digest_threshold  # Baton's shipped setting, which the bench keeps


# --- helpers in child processes ---------------------------------------------------------------------------------


def slack_server_child(conn) -> None:
    """The Slack-contract server; on "dump" answers [(notification ids, arrival monotonic)]."""
    import asyncio
    import sys

    sys.path.insert(0, str(REPO))
    from tests.slack_server import SlackServer

    async def main() -> None:
        server = await SlackServer(port=0).start()
        conn.send((server.token, server.api_url))
        while True:
            await asyncio.sleep(0.05)
            if not conn.poll():
                continue
            command = conn.recv()
            if command == "dump":
                out = []
                for r in server.received:
                    if r.ok and r.body:
                        ids = (r.body.get("metadata") or {}).get("event_payload", {}).get("ids", [])
                        out.append((ids, r.at, (r.body or {}).get("channel", "")))
                conn.send(out)
            elif command == "stop":
                break
        await server.stop()

    asyncio.run(main())


def _kafka_child(conn, bootstrap: str, payments: str, notifications: str) -> None:
    """Plain consumers from the topics' end. On "dump": ({payment id: arrival monotonic} on the payments
    topic, {payment id: arrival monotonic of its ``payment-to-sales`` record} on ``m2c.notifications``).

    The first is what Kafka alone costs; the second splits Baton's latency into the intake
    (payment produced -> its notification readable in Kafka) and the delivery (-> Slack).
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for topic in (payments, notifications)
           for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    for tp in tps:
        consumer.position(tp)
    conn.send("ready")
    seen: dict[str, float] = {}
    notified: dict[str, float] = {}
    while True:
        for tp, records in consumer.poll(timeout_ms=20).items():
            now = time.monotonic()
            for rec in records:
                doc = orjson.loads(rec.value)
                if tp.topic == payments:
                    if doc.get("type") == "payment.succeeded":
                        seen[doc["id"]] = now
                elif doc.get("rule") == "payment-to-sales":
                    notified.setdefault(doc["id"].split(":", 1)[1], now)
        if conn.poll():
            command = conn.recv()
            if command == "dump":
                conn.send((seen, notified))
            elif command == "stop":
                break
    consumer.close()


class Child:
    def __init__(self, target, *args) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child_conn, *args), daemon=True)
        self.proc.start()

    def ask(self, command: str, timeout: float = 30.0):
        self.conn.send(command)
        if not self.conn.poll(timeout):
            raise TimeoutError(f"no answer to {command!r}")
        return self.conn.recv()

    def first(self, timeout: float = 60.0):
        if not self.conn.poll(timeout):
            raise TimeoutError("child did not start")
        return self.conn.recv()

    def stop(self) -> None:
        try:
            self.conn.send("stop")
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()


# --- figures ----------------------------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    values = sorted(s * 1000 for s in seconds)
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(percentile(values, 0.50), 2), "p90": round(percentile(values, 0.90), 2),
            "p99": round(percentile(values, 0.99), 2), "max": round(values[-1], 2),
            "mean": round(sum(values) / len(values), 2), "min": round(values[0], 2)}


# --- the run -------------------------------------------------------------------------------------------------------------


def produce_steadily(bootstrap: str, prefix: str, events, rate: float, seconds: float,
                     warmup: float) -> tuple[dict[str, float], dict[str, Any]]:
    """Send ``events`` at ``rate``/s for ``warmup + seconds``; returns {payment id: send monotonic} after warm-up.

    aiokafka, not kafka-python: the load generator shares the machine with the worker, and
    kafka-python's pure-Python send cost ~300 µs a record (a third of a core at 1,000/s) that
    the worker then lacked. The JSON reports what this producer still costs (``cpu_share``).
    """
    return asyncio.run(_produce_steadily(bootstrap, prefix, events, rate, seconds, warmup))


async def _produce_steadily(bootstrap: str, prefix: str, events, rate: float, seconds: float,
                            warmup: float) -> tuple[dict[str, float], dict[str, Any]]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    sent_at: dict[str, float] = {}
    tick = 0.01
    per_tick = rate * tick
    owed = 0.0
    i = 0
    cpu = time.process_time()
    start = time.monotonic()
    measure_from = start + warmup
    end = measure_from + seconds
    next_at = start
    late_ticks = 0
    try:
        while True:
            now = time.monotonic()
            if now >= end or i >= len(events):
                break
            owed += per_tick
            while owed >= 1 and i < len(events):
                short, key, value = events[i]
                i += 1
                owed -= 1
                t = time.monotonic()
                await producer.send(prefix + short, value, key=key)  # queued; the acknowledgement is not awaited
                if short == "payments" and t >= measure_from and b'"payment.succeeded"' in value:
                    sent_at[orjson.loads(value)["id"]] = t
            next_at += tick
            pause = next_at - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            else:
                late_ticks += 1
        await producer.flush()
    finally:
        await producer.stop()
    elapsed = time.monotonic() - start
    return sent_at, {"events": i, "seconds": round(elapsed, 2), "events_per_s": round(i / elapsed, 1),
                     "late_ticks": late_ticks, "client": "aiokafka",
                     "cpu_share": round((time.process_time() - cpu) / elapsed, 3)}


def _start_profile(pid: int, path: Path | None):
    import subprocess

    if path is None:
        return None
    spy = py_spy()
    if spy is None:
        log("py-spy not found: no profile")
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "-r", "100", "-f", "raw", "-o", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop_profile(spy) -> None:
    import signal
    import subprocess

    if spy is None:
        return
    spy.send_signal(signal.SIGINT)
    try:
        spy.wait(60)
    except subprocess.TimeoutExpired:
        spy.kill()


def main() -> None:
    p = __import__("argparse").ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30.0, help="measured seconds (default %(default)s)")
    p.add_argument("--rate", type=float, default=1000.0, help="events per second (default %(default)s)")
    # 15 s: measured, a freshly started worker's latency settles ~10 s into a 1,000 events/s stream
    # (p50 of 200+ ms in its first seconds); with a 5 s warm-up that start, not the steady rate,
    # made the p99 (docs/benchmarks-latency-scale.md, round 5).
    p.add_argument("--warmup", type=float, default=15.0,
                   help="seconds produced before measuring (default %(default)s)")
    p.add_argument("--accounts", type=int, default=10_000, help="simulated accounts (default %(default)s)")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes in the consumer group (default %(default)s; at most --partitions do work)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--slack-rate", type=float, default=0.0,
                   help="Baton's Slack rate limit per channel, messages/s (default 0: unlimited)")
    p.add_argument("--one-per-notification", action="store_true",
                   help="no digests: every notification its own Slack message, however many wait "
                        "(default: Baton's shipped digest under pressure)")
    p.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment for the worker, e.g. PRODUCER_LINGER=0.005 (repeatable)")
    p.add_argument("--bootstrap", default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--keep-topics", action="store_true")
    p.add_argument("--profile", type=Path, default=None,
                   help="sample the worker with py-spy while producing (raw stacks to this file) and add its hot spots")
    p.add_argument("--samples", type=Path, default=None,
                   help="also write every payment's (seconds since the first, latency ms, intake ms) as JSON lines")
    args = p.parse_args()

    from bench.scale import balanced
    from tests.worker_process import WorkerProcess

    facts = machine()  # load average before this run adds its own
    needed = int(args.rate * (args.seconds + args.warmup)) + 1000
    log(f"loading {needed} events")
    events = load_events(needed, args.accounts, args.seed)
    with broker(args.bootstrap) as bootstrap:
        prefix = fresh_prefix("lat")
        names = TopicNames(prefix)
        create_topics(bootstrap, names.inputs, args.partitions)
        slack = Child(slack_server_child)
        token, api_url = slack.first()
        env = {"BATON_SLACK__BOT_TOKEN": token, "BATON_SLACK__API_URL": api_url,
               "BATON_DELIVERY__RATE_LIMITS__SLACK": str(args.slack_rate),
               **({"BATON_DELIVERY__DIGEST_THRESHOLD": "100000"} if args.one_per_notification else {}),
               "BATON_FLUSH_INTERVAL_SECONDS": "1.0", "BATON_LOG_LEVEL": "info",
               **env_pairs(args.worker_env)}
        with tempfile.TemporaryDirectory(prefix="baton-latency-") as tmp:
            workers = [WorkerProcess(bootstrap, prefix, Path(tmp) / f"w{i}", env) for i in range(args.workers)]
            kafka = None
            try:
                for worker in workers:
                    worker.start(timeout=180)
                if len(workers) > 1:
                    balanced(workers)
                kafka = Child(_kafka_child, bootstrap, names.payments, names.notifications)
                kafka.first()
                spy = _start_profile(workers[0].proc.pid, args.profile)
                log(f"producing {args.rate:g} events/s for {args.warmup:g} + {args.seconds:g} s")
                cpu_before, started = [cpu_seconds(w.proc.pid) for w in workers], time.monotonic()
                sent_at, produced = produce_steadily(bootstrap, prefix, events, args.rate, args.seconds, args.warmup)
                elapsed = time.monotonic() - started
                worker_cpu_share = [round((cpu_seconds(w.proc.pid) - before) / elapsed, 3)
                                    for w, before in zip(workers, cpu_before)]
                _stop_profile(spy)
                log(f"{len(sent_at)} payments measured; waiting for Slack")
                deadline = time.monotonic() + 90
                arrived: dict[str, float] = {}
                while time.monotonic() < deadline:
                    dump = slack.ask("dump")
                    for ids, at, _ in dump:
                        for note_id in ids:
                            if note_id.startswith("payment-to-sales:"):
                                arrived.setdefault(note_id.split(":", 1)[1], at)
                    if set(sent_at) <= set(arrived):
                        break
                    time.sleep(1.0)
                at_kafka, at_notifications = kafka.ask("dump")
                metrics = [w.http_json("/metrics.json") for w in workers]
            finally:
                if kafka is not None:
                    kafka.stop()
                slack.stop()
                for worker in workers:
                    worker.stop()
        if not args.keep_topics:
            delete_topics(bootstrap, prefix.rstrip("."))

    baton = summary_ms([arrived[i] - t for i, t in sent_at.items() if i in arrived])
    by_channel: dict[str, list[float]] = {}
    for _, at, channel in dump:
        by_channel.setdefault(channel, []).append(at)
    lanes = {channel: {"messages": len(ats), "per_s_average": round(len(ats) / max(1e-9, max(ats) - min(ats)), 1)
                       if len(ats) > 1 else None}
             for channel, ats in sorted(by_channel.items())}
    if args.samples is not None:
        t0 = min(sent_at.values(), default=0.0)
        args.samples.write_text("".join(
            orjson.dumps([round(t - t0, 4), round((arrived[i] - t) * 1000, 2),
                          round((at_notifications[i] - t) * 1000, 2) if i in at_notifications else None]).decode()
            + "\n" for i, t in sorted(sent_at.items(), key=lambda kv: kv[1]) if i in arrived))
    plain = summary_ms([at_kafka[i] - t for i, t in sent_at.items() if i in at_kafka])
    result = {
        "bench": "latency",
        "what": "payment.succeeded produced -> Slack-contract server received its chat.postMessage (ms)",
        "rate_events_per_s": args.rate,
        "measured_seconds": args.seconds,
        "warmup_seconds": args.warmup,
        # time.monotonic() of the first payment sent: the origin of --samples' first column
        # (CLOCK_MONOTONIC is system-wide, so a worker-side probe's stamps line up with it)
        "samples_origin_monotonic": round(min(sent_at.values(), default=0.0), 4),
        "produced": produced,
        "payments_measured": len(sent_at),
        "payments_missing_at_slack": len(set(sent_at) - set(arrived)),
        "baton_ms": baton,
        "kafka_only_ms": plain,
        # Where Baton's latency goes: the notification record readable in Kafka, then at Slack.
        "stages_ms": {
            "intake": summary_ms([at_notifications[i] - t for i, t in sent_at.items() if i in at_notifications]),
            "delivery": summary_ms([arrived[i] - at_notifications[i] for i in sent_at
                                    if i in arrived and i in at_notifications]),
        },
        "slack_messages_by_channel": lanes,
        "ratio_p50_baton_to_kafka": ratio(baton.get("p50", 0), plain.get("p50", 0)),
        "ratio_p99_baton_to_kafka": ratio(baton.get("p99", 0), plain.get("p99", 0)),
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": bool(baton.get("p99") is not None and baton["p99"] < TARGET_P99_MS),
        "workers": args.workers,
        "slack_delivery": ("one message per notification (digests off)" if args.one_per_notification
                           else f"as shipped, rate limit off: a digest when more than {DIGEST_THRESHOLD} wait "
                                "for a channel"),
        "worker_cpu_share": worker_cpu_share,  # per worker, of one core, while producing (1.0: a core's worth)
        "worker_env": env | {"BATON_SLACK__BOT_TOKEN": "(test token)"},
        "worker_metrics": [{k: v for k, v in m.items() if k != "by_type"} for m in metrics],
        "machine": facts,
    }
    if args.profile is not None and args.profile.exists():
        from bench.profile_summary import summarise

        result["worker_profile"] = {"file": str(args.profile), "all": summarise(args.profile, top=20),
                                    "baton": summarise(args.profile, top=20, match="baton/")}
    emit(result, args.out)


if __name__ == "__main__":
    main()
