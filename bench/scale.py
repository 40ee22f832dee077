"""State for many accounts: worker memory, recovery from the changelog, and 2 workers against 1.

    python -m bench.scale --accounts 1000000     # the issue's figure (about half an hour on 2 cores)
    python -m bench.scale                        # 100,000 accounts, a few minutes

Three measurements, each printed in the JSON:

1. ``load``: one ``baton worker`` reads ``--accounts`` accounts of
   ``--events-per-account`` events each (``deal.created`` then
   ``deal.stage_changed``: state, scorecard and funnel work, but no notification
   and no timer, so only state is measured). Memory is the worker's RSS
   (``/proc/<pid>/status``) of a ready worker with no state (same settings,
   empty topics), and once every event is processed and the funnel output
   flushed; the JSON gives the difference per account.
2. ``recovery``: the worker is stopped (SIGTERM) and started again; with the
   default ``memory://`` store it rebuilds its tables from the changelog topics.
   ``start_to_ready_seconds`` is from ``exec`` to Faust's "Ready" (tables
   recovered and the in-memory state rebuilt: baton/agents/recovery.py logs
   "recovered N accounts ... in X s", reported as ``rebuild_seconds``).
3. ``scale_out``: ``--scale-accounts`` fresh accounts through 1 worker, then the
   same number (new topics) through 2 worker processes of one app id on
   ``--partitions`` partitions, workers started and balanced before the events
   are produced; events/s from the first processed to the last, and the ratio.

On a 2-core machine two workers share the cores with the broker and each
other: the ratio says what a second process buys here, not on a real cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.common import (TopicNames, WorkerDied, _produce, broker, create_topics, delete_topics, emit, fresh_prefix,
                          log, machine, processed, rate, ratio, wait_processed)

DAY_MS = 86_400_000
RECOVERED = re.compile(r"recovered (\d+) accounts in partitions \[[^\]]*\] in ([\d.]+)s")


# --- events --------------------------------------------------------------------------------------------------------


def account_events(first: int, count: int, per_account: int, tag: str) -> list[tuple[str, bytes, bytes]]:
    """Accounts ``first .. first+count-1``: a deal each, then stage changes; all in the past, no rule fires."""
    now_ms = int(time.time() * 1000)
    events = []
    for i in range(first, first + count):
        account = f"acct_{tag}_{i:07d}"
        key = account.encode()
        t0 = now_ms - 300 * DAY_MS + (i * 7919 % (290 * DAY_MS // 1000)) * 1000
        deal = f"deal_{tag}_{i}"
        events.append(("deals", key, orjson.dumps({
            "id": f"evt_{tag}_{i}_0", "type": "deal.created", "occurred_at": _iso(t0), "account_id": account,
            "source": "bench", "data": {"deal_id": deal, "amount": 100_000 + (i % 97) * 1_000, "currency": "USD",
                                        "owner_id": f"r-{i % 8 + 1}", "source": "marketing",
                                        "campaign_id": f"c-{i % 8 + 1}"}})))
        for k in range(1, per_account):
            events.append(("deals", key, orjson.dumps({
                "id": f"evt_{tag}_{i}_{k}", "type": "deal.stage_changed", "occurred_at": _iso(t0 + k * 3_600_000),
                "account_id": account, "source": "bench", "data": {"deal_id": deal, "stage": f"stage-{k}"}})))
    return events


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def produce_accounts(bootstrap: str, prefix: str, accounts: int, per_account: int, partitions: int,
                     chunk: int = 100_000, create: bool = True) -> dict[str, Any]:
    """Create the input topics (unless ``create`` is false) and produce every account's events, in chunks."""
    if create:
        create_topics(bootstrap, TopicNames(prefix).inputs, partitions)
    tag = prefix.rstrip(".")
    started = time.perf_counter()
    n = 0
    for first in range(0, accounts, chunk):
        events = account_events(first, min(chunk, accounts - first), per_account, tag)
        asyncio.run(_produce(bootstrap, prefix, events, partitions))
        n += len(events)
    seconds = time.perf_counter() - started
    return {"events": n, "seconds": round(seconds, 2), "events_per_s": rate(n, seconds)}


# --- processes ----------------------------------------------------------------------------------------------------


def rss_mb(pid: int) -> dict[str, float]:
    """Resident memory now and at peak (VmRSS, VmHWM) of one process, in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, value, _ = line.split()
            out[{"VmRSS:": "rss_mb", "VmHWM:": "peak_rss_mb"}[name]] = round(int(value) / 1024, 1)
    return out


def settle_funnel(worker, timeout: float = 600.0) -> None:
    """Wait until the coalesced funnel output has caught up (nothing pending)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.http_json("/metrics.json")["pending_funnel"] == 0:
            return
        time.sleep(1.0)


def crash_reason(worker) -> str | None:
    """The first "Crashed reason=..." line of the worker's log, if any."""
    for line in worker.log_path.read_text(errors="replace").splitlines():
        if "Crashed reason=" in line:
            return line.split("Crashed reason=", 1)[1][:400]
    return None


def changelog_facts(bootstrap: str, app_id: str) -> dict[str, Any]:
    """Records in the accounts changelog (what a memory:// store reads back at start)."""
    from kafka import KafkaConsumer, TopicPartition

    topic = f"{app_id}-accounts-changelog"
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        return {"topic": topic, "records": sum(end[tp] - begin[tp] for tp in tps)}
    finally:
        consumer.close()


def worker_env(store: str) -> dict[str, str]:
    # Production defaults (a 1 s flush), Faust's info log level; no channel configured: nothing fires anyway.
    return {"BATON_FLUSH_INTERVAL_SECONDS": "1.0", "BATON_LOG_LEVEL": "info", "BATON_STORE": store}


# --- the phases ------------------------------------------------------------------------------------------------------


def idle_rss(bootstrap: str, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    """RSS of a ready worker with no state (an empty prefix): the baseline for memory per account."""
    from tests.worker_process import WorkerProcess

    prefix = fresh_prefix("idle")
    create_topics(bootstrap, TopicNames(prefix).inputs, args.partitions)
    worker = WorkerProcess(bootstrap, prefix, tmp / "idle", worker_env(args.store))
    try:
        worker.start(timeout=300)
        time.sleep(3.0)
        return rss_mb(worker.proc.pid)
    finally:
        worker.stop()
        if not args.keep_topics:
            delete_topics(bootstrap, prefix.rstrip("."))


def load_and_recover(bootstrap: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from tests.worker_process import WorkerProcess

    prefix = fresh_prefix("scale")
    log(f"producing {args.accounts:,} accounts x {args.events_per_account} events under {prefix}")
    produced = produce_accounts(bootstrap, prefix, args.accounts, args.events_per_account, args.partitions)
    total = produced["events"]
    idle = idle_rss(bootstrap, args, tmp)
    worker = WorkerProcess(bootstrap, prefix, tmp / "load", worker_env(args.store))
    try:
        t = time.perf_counter()
        worker.start(timeout=600)
        ready_seconds = time.perf_counter() - t
        progress: list = []
        try:
            load = wait_processed([worker], total, "load", stall=args.stall, progress=progress)
        except WorkerDied as e:
            log(str(e))
            if not args.keep_topics:
                delete_topics(bootstrap, prefix.rstrip("."))
            return {"prefix": prefix, "accounts": args.accounts, "events_per_account": args.events_per_account,
                    "produce": produced, "load": {"crashed": str(e), "progress_seconds_events": progress,
                                                  "rss_idle_mb": idle["rss_mb"], "reason": crash_reason(worker)}}
        load["start_to_ready_seconds"] = round(ready_seconds, 2)
        load["progress_seconds_events"] = progress
        settle_funnel(worker)
        time.sleep(2.0)
        loaded = rss_mb(worker.proc.pid)
        metrics = worker.http_json("/metrics.json")
        worker.stop(timeout=120)

        changelog = changelog_facts(bootstrap, worker.app_id)
        log(f"restarting: {changelog['records']:,} changelog records to recover")
        t = time.perf_counter()
        worker.start(timeout=3600)
        start_to_ready = time.perf_counter() - t
        recovered_rss = rss_mb(worker.proc.pid)
        text = worker.log_path.read_text(errors="replace").split(f"===== start #{worker.starts} =====", 1)[-1]
        found = RECOVERED.findall(text)
        settle_funnel(worker)
        after_republish = rss_mb(worker.proc.pid)
    finally:
        worker.stop(timeout=120)
    if not args.keep_topics:
        delete_topics(bootstrap, prefix.rstrip("."))
    delta = loaded["rss_mb"] - idle["rss_mb"]
    return {
        "prefix": prefix,
        "accounts": args.accounts,
        "events_per_account": args.events_per_account,
        "produce": produced,
        "load": {
            **load,
            "rss_idle_mb": idle["rss_mb"],
            "rss_loaded_mb": loaded["rss_mb"],
            "peak_rss_mb": loaded["peak_rss_mb"],
            "rss_per_account_bytes": round(delta * 1024 * 1024 / args.accounts) if args.accounts else None,
            "worker_metrics": {k: v for k, v in metrics.items() if k not in ("by_type", "delivery")},
        },
        "recovery": {
            "store": args.store,
            "changelog": changelog,
            "start_to_ready_seconds": round(start_to_ready, 2),
            "recovered_accounts": sum(int(n) for n, _ in found) if found else None,
            "rebuild_seconds": round(sum(float(s) for _, s in found), 2) if found else None,
            "rss_after_recovery_mb": recovered_rss["rss_mb"],
            "rss_after_funnel_republish_mb": after_republish["rss_mb"],
            "peak_rss_mb": after_republish["peak_rss_mb"],
            "changelog_records_per_s": rate(changelog["records"], start_to_ready),
        },
    }


def balanced(workers: list, timeout: float = 120.0) -> None:
    """Wait until every worker joined the group's latest generation (the log says so)."""
    deadline = time.monotonic() + timeout
    pattern = re.compile(r"Joined group '[^']+' \(generation (\d+)\)")
    while time.monotonic() < deadline:
        generations = []
        for w in workers:
            found = pattern.findall(w.log_path.read_text(errors="replace"))
            generations.append(int(found[-1]) if found else -1)
        if min(generations) == max(generations) >= len(workers):
            return
        time.sleep(0.5)
    raise TimeoutError(f"workers did not settle on one generation: {generations}")


def scale_out(bootstrap: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from tests.worker_process import WorkerProcess

    out: dict[str, Any] = {"accounts": args.scale_accounts, "partitions": args.partitions}
    for count in (1, 2):
        prefix = fresh_prefix(f"so{count}")
        create_topics(bootstrap, TopicNames(prefix).inputs, args.partitions)
        workers = [WorkerProcess(bootstrap, prefix, tmp / f"so{count}-{i}", worker_env(args.store))
                   for i in range(count)]
        try:
            for w in workers:
                w.start(timeout=300)
            if count > 1:
                balanced(workers)
                time.sleep(2.0)
            log(f"{count} worker(s): producing {args.scale_accounts:,} accounts")
            produced = produce_accounts(bootstrap, prefix, args.scale_accounts, args.events_per_account,
                                        args.partitions, create=False)
            result = wait_processed(workers, produced["events"], f"{count} worker(s)", stall=args.stall)
            result["per_worker_events"] = [processed(w) for w in workers]
            result["rss_mb"] = [rss_mb(w.proc.pid)["rss_mb"] for w in workers]
            out[f"workers_{count}"] = result
        finally:
            for w in workers:
                w.stop(timeout=60)
        if not args.keep_topics:
            delete_topics(bootstrap, prefix.rstrip("."))
    out["ratio_2_to_1"] = ratio(out["workers_2"]["events_per_s"], out["workers_1"]["events_per_s"])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=100_000, help="accounts in the state (default %(default)s)")
    p.add_argument("--events-per-account", type=int, default=2, help="default %(default)s")
    p.add_argument("--scale-accounts", type=int, default=None,
                   help="accounts for the 1-vs-2 workers run (default: min(accounts, 100000))")
    p.add_argument("--partitions", type=int, default=4, help="partitions per input topic (default %(default)s)")
    p.add_argument("--store", default="memory://", help="Faust table store: memory:// (default) or rocksdb://")
    p.add_argument("--skip-scale-out", action="store_true")
    p.add_argument("--skip-load", action="store_true")
    p.add_argument("--stall", type=float, default=300.0, help="give up when nothing is processed this long")
    p.add_argument("--bootstrap", default=None)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--keep-topics", action="store_true")
    p.add_argument("--workdir", type=Path, default=None, help="keep the workers' data and logs here")
    args = p.parse_args()
    if args.scale_accounts is None:
        args.scale_accounts = min(args.accounts, 100_000)

    result: dict[str, Any] = {"bench": "scale", "machine": machine()}
    with broker(args.bootstrap) as bootstrap, tempfile.TemporaryDirectory(prefix="baton-scale-") as tmp:
        if args.workdir is not None:
            args.workdir.mkdir(parents=True, exist_ok=True)
            tmp = str(args.workdir)
        if not args.skip_load:
            result["state"] = load_and_recover(bootstrap, args, Path(tmp))
        if not args.skip_scale_out:
            result["scale_out"] = scale_out(bootstrap, args, Path(tmp))
    emit(result, args.out)


if __name__ == "__main__":
    main()
