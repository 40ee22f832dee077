"""Throughput of the full worker beside a bare Faust agent and a raw aiokafka consumer, in one run.

    python -m bench.throughput --events 200000            # the issue's figure (several minutes)
    python -m bench.throughput --events 20000 --no-knobs  # a quick look

On the same pre-produced topics (N realistic events, 4 partitions), one after
another on the same broker:

1. ``raw``: aiokafka ``getmany(10_000)`` + ``orjson.loads`` per value (twice: before and after);
2. ``bare_faust``: a faust-streaming agent counting raw records (``bench/bare_faust.py``), as
   Faust ships and with Baton's eager drain (``bare_faust_eager_drain``: what the worker runs on);
3. ``worker``: ``baton worker`` as a subprocess (``tests/worker_process.py``), from the
   first record processed to all N processed, polled on ``/metrics.json``;
4. ``knobs`` (unless ``--no-knobs``): the bare agent again under Faust's own knobs
   (stream buffer, max poll records, uvloop, ``take()`` batches, log level ``warn``,
   Baton's eager drain),
   and with one Faust operation added per record or per batch (a Table write, a send):
   what those cost per record.

Every figure is events/s from the first record to the N-th; the JSON gives
the ratios ``worker/bare_faust``, ``worker/bare_faust_eager_drain`` and ``worker/raw``. ``--profile DIR`` also
samples the worker (and the bare agent) with py-spy and adds the hot spots.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (REPO, TopicNames, broker, delete_topics, emit, env_pairs, fresh_prefix, log, machine, median,
                          parser, prepare, produce, py_spy, rate, ratio, raw_consume, wait_processed)

# Faust reads these settings from the environment itself (faust/types/settings: env_name).
KNOBS: list[tuple[str, dict[str, str], list[str]]] = [
    ("default", {}, []),
    ("stream_buffer_maxsize=65536", {"STREAM_BUFFER_MAXSIZE": "65536"}, []),
    ("broker_max_poll_records=10000", {"BROKER_MAX_POLL_RECORDS": "10000"}, []),
    ("uvloop", {}, ["--uvloop"]),
    ("all three", {"STREAM_BUFFER_MAXSIZE": "65536", "BROKER_MAX_POLL_RECORDS": "10000"}, ["--uvloop"]),
    ("take(2000, 0.2)", {}, ["--take", "2000"]),
    ("loglevel=warn (the trap)", {}, ["--loglevel", "warn"]),
    ("Baton's eager drain (on in baton worker)", {}, ["--eager-drain"]),
]
# The full worker under changes Baton does not make yet (bench/worker_variant.py; Faust reads the knobs' env).
WORKER_VARIANTS: list[tuple[str, dict[str, str]]] = [
    ("as shipped", {}),
    ("uvloop", {"BENCH_UVLOOP": "1"}),
    ("uvloop + stream buffer 65536 + max poll records 10000",
     {"BENCH_UVLOOP": "1", "STREAM_BUFFER_MAXSIZE": "65536", "BROKER_MAX_POLL_RECORDS": "10000"}),
    ("gc.freeze + high GC thresholds", {"BENCH_GC": "freeze"}),
]

# What Faust's own operations cost per record, on the same bare agent: evidence for the worker's design.
COSTS: list[tuple[str, list[str]]] = [
    ("count only", []),
    ("+ Table write per record", ["--table"]),
    ("+ topic send per record", ["--send"]),
    ("take(2000): Table write per distinct key per batch", ["--take", "2000", "--table"]),
    ("take(2000): one send per batch", ["--take", "2000", "--send"]),
]


def run_bare(bootstrap: str, prefix: str, events: int, env: dict[str, str], flags: list[str],
             profile: Path | None = None, timeout: float | None = None) -> dict[str, Any]:
    """One bare Faust agent in a fresh process; returns its JSON line."""
    cmd = [sys.executable, "-m", "bench.bare_faust", "--bootstrap", bootstrap, "--prefix", prefix,
           "--events", str(events), *flags]
    spy = py_spy() if profile is not None else None
    if spy:
        cmd = [spy, "record", "-r", "100", "-f", "raw", "-o", str(profile), "--", *cmd]
    full_env = {**{k: v for k, v in os.environ.items() if k not in ("STREAM_BUFFER_MAXSIZE", "BROKER_MAX_POLL_RECORDS")},
                **env, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True,
                          timeout=timeout or max(300.0, events / 500))
    for line in reversed(proc.stdout.splitlines()):
        start = line.find("{")
        if start >= 0:
            return json.loads(line[start:])
    raise RuntimeError(f"bare Faust agent failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def run_worker(bootstrap: str, prefix: str, events: int, workdir: Path, env: dict[str, str],
               profile: Path | None = None, poll: float = 0.1, variant: bool = False) -> dict[str, Any]:
    """``baton worker`` on the topics; events/s from the first record processed to the N-th.

    ``variant``: run it through ``bench.worker_variant`` (uvloop / GC settings from ``env``).
    """
    from tests import worker_process
    from tests.worker_process import WorkerProcess

    worker_process.BATON = [sys.executable, "-m", "bench.worker_variant" if variant else "baton"]

    # Production defaults: a 1 s flush (the test launcher's 0.3 s would flush more often), log level info.
    worker = WorkerProcess(bootstrap, prefix, workdir,
                           {"BATON_FLUSH_INTERVAL_SECONDS": "1.0", "BATON_LOG_LEVEL": "info", "PYTHONPATH": str(REPO),
                            **env},
                           app_id=f"baton-{prefix.rstrip('.')}-{os.urandom(3).hex()}")
    spy = None
    started = time.perf_counter()
    worker.start(timeout=180)
    ready = time.perf_counter()
    try:
        spy_path = py_spy() if profile is not None else None
        if spy_path:
            spy = subprocess.Popen([spy_path, "record", "--pid", str(worker.proc.pid), "-r", "100",
                                    "-f", "raw", "-o", str(profile)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        waited = wait_processed([worker], events, "worker", stall=120.0, poll=poll)
        done, seconds = waited["events"], waited["first_to_last_seconds"]
        metrics = worker.http_json("/metrics.json")
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(60)
            except subprocess.TimeoutExpired:
                spy.kill()
        worker.stop()
    return {
        "records": done,
        "first_to_last_seconds": round(seconds, 3),
        "events_per_s_from_first": rate(done, seconds),
        "start_to_ready_seconds": round(ready - started, 2),
        "poll_interval_seconds": poll,
        "profiled": spy is not None,
        "env": {"BATON_FLUSH_INTERVAL_SECONDS": "1.0", **env},
        "metrics": {k: v for k, v in metrics.items() if k != "by_type"},
    }


def _hot_spots(path: Path, match: str | None, top: int = 20) -> dict[str, Any]:
    from bench.profile_summary import summarise

    return summarise(path, top=top, match=match) if path.exists() else {"error": "no profile written"}


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--no-knobs", action="store_true", help="skip the Faust knob variants of the bare agent")
    p.add_argument("--knob-events", type=int, default=100_000,
                   help="events each knob variant reads (default %(default)s, at most --events)")
    p.add_argument("--knob-repeat", type=int, default=2,
                   help="rounds over the knob variants; each variant's median is reported (default %(default)s)")
    p.add_argument("--no-worker", action="store_true", help="skip the full worker")
    p.add_argument("--worker-variants", action="store_true",
                   help="also run the worker with uvloop / Faust knobs / GC changes (bench/worker_variant.py)")
    p.add_argument("--variant-events", type=int, default=50_000,
                   help="events each worker variant reads (default %(default)s, at most --events)")
    p.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment for the worker, e.g. STREAM_BUFFER_MAXSIZE=65536 (repeatable)")
    p.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="sample the worker and the bare agent with py-spy; raw profiles go to DIR")
    args = p.parse_args(argv)
    n = args.events
    worker_env = env_pairs(args.worker_env)
    result: dict[str, Any] = {"bench": "throughput", "machine": machine()}

    with broker(args.bootstrap) as bootstrap:
        log(f"broker {bootstrap}; producing {n} events")
        prefix, events, facts = prepare(args, bootstrap, "bthr")
        extra_prefixes: list[str] = []
        result["input"] = facts
        names = TopicNames(prefix)

        log("raw aiokafka consumer")
        raws = [asyncio.run(raw_consume(bootstrap, names.inputs, n, decode=True))]

        log("bare Faust agent")
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        bare = run_bare(bootstrap, prefix, n, {}, [])
        log("bare Faust agent with Baton's eager drain")
        bare_eager = run_bare(bootstrap, prefix, n, {}, ["--eager-drain"])

        worker = None
        if not args.no_worker:
            log("full baton worker")
            workdir = Path(tempfile.mkdtemp(prefix="baton-bench-worker-"))
            try:
                worker = run_worker(bootstrap, prefix, n, workdir, worker_env,
                                    profile=args.profile / "worker.pyspy.txt" if args.profile else None)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)

        raws.append(asyncio.run(raw_consume(bootstrap, names.inputs, n, decode=True)))

        variants = []
        if args.worker_variants and not args.no_worker:
            v_events = min(n, args.variant_events)
            runs: dict[str, list[float]] = {}
            for round_ in range(args.knob_repeat):
                for name, env in WORKER_VARIANTS:
                    log(f"worker variant {name} (round {round_ + 1}/{args.knob_repeat})")
                    # A fresh copy of the input: a worker's outputs (timers, notifications) must not
                    # feed the next one.
                    v_prefix = fresh_prefix("bthrv")
                    extra_prefixes.append(v_prefix)
                    produce(bootstrap, v_prefix, events[:v_events], args.partitions)
                    workdir = Path(tempfile.mkdtemp(prefix="baton-bench-worker-"))
                    try:
                        out = run_worker(bootstrap, v_prefix, v_events, workdir, env, variant=True)
                    finally:
                        shutil.rmtree(workdir, ignore_errors=True)
                    runs.setdefault(name, []).append(out["events_per_s_from_first"])
            for name, env in WORKER_VARIANTS:
                variants.append({"variant": name, "env": env, "events_per_s": median(runs[name]), "runs": runs[name]})

        knobs, costs = [], []
        if not args.no_knobs:
            # Alternate the variants round by round: a noisy machine then hurts them alike.
            k_events = min(n, args.knob_events)
            runs: dict[str, list[dict[str, Any]]] = {}
            plan = [("knob", name, env, flags) for name, env, flags in KNOBS]
            plan += [("cost", name, {}, flags) for name, flags in COSTS]
            for round_ in range(args.knob_repeat):
                for kind, name, env, flags in plan:
                    log(f"bare Faust agent, {kind} {name} (round {round_ + 1}/{args.knob_repeat})")
                    runs.setdefault(name, []).append(run_bare(bootstrap, prefix, k_events, env, flags))
            for kind, name, env, flags in plan:
                rates = [r["events_per_s_from_first"] for r in runs[name]]
                row = {"env": env, "flags": flags, "events_per_s": median(rates), "runs": rates,
                       "loop": runs[name][0]["loop"]}
                (knobs if kind == "knob" else costs).append({"knob" if kind == "knob" else "variant": name, **row})

        bare_profile = None
        if args.profile:
            log("bare Faust agent under py-spy")
            path = args.profile / "bare_faust.pyspy.txt"
            run_bare(bootstrap, prefix, min(n, args.knob_events), {}, [], profile=path)
            bare_profile = _hot_spots(path, None)

        if not args.keep_topics:
            result["topics_deleted"] = sum(delete_topics(bootstrap, p.rstrip(".")) for p in [prefix, *extra_prefixes])

    raw_rate = median([r["events_per_s_from_first"] for r in raws])
    bare_rate = bare["events_per_s_from_first"]
    result["raw_aiokafka"] = {"events_per_s": raw_rate, "runs": raws}
    result["bare_faust"] = {"events_per_s": bare_rate, **bare}
    # The worker runs Faust's consumer with Baton's eager drain: this baseline has it too, so
    # what the drain saves is not counted as the cost of Baton's own work being small.
    bare_eager_rate = bare_eager["events_per_s_from_first"]
    result["bare_faust_eager_drain"] = {"events_per_s": bare_eager_rate, **bare_eager}
    if worker is not None:
        result["worker"] = {"events_per_s": worker["events_per_s_from_first"], **worker}
        result["ratios"] = {
            "worker/bare_faust": ratio(worker["events_per_s_from_first"], bare_rate),
            "worker/bare_faust_eager_drain": ratio(worker["events_per_s_from_first"], bare_eager_rate),
            "worker/raw": ratio(worker["events_per_s_from_first"], raw_rate),
            "bare_faust/raw": ratio(bare_rate, raw_rate),
        }
    else:
        result["ratios"] = {"bare_faust/raw": ratio(bare_rate, raw_rate)}
    if variants:
        for v in variants:
            v["vs_as_shipped"] = ratio(v["events_per_s"], variants[0]["events_per_s"])
        result["worker_variants"] = {"events_each": min(n, args.variant_events), "rounds": args.knob_repeat,
                                     "variants": variants}
    if knobs:
        base = knobs[0]["events_per_s"]
        for k in knobs:
            k["vs_default"] = ratio(k["events_per_s"], base)
        result["faust_knobs"] = {"events_each": min(n, args.knob_events), "rounds": args.knob_repeat,
                                 "variants": knobs}
    if costs:
        base_us = 1e6 / costs[0]["events_per_s"]
        for c in costs:
            us = 1e6 / c["events_per_s"]
            c["us_per_record"] = round(us, 1)
            c["extra_us_per_record"] = round(us - base_us, 1)
        result["faust_costs"] = {"events_each": min(n, args.knob_events), "rounds": args.knob_repeat,
                                 "variants": costs}
    if args.profile:
        result["profile"] = {
            "dir": str(args.profile),
            "worker_baton": _hot_spots(args.profile / "worker.pyspy.txt", "baton/") if worker else None,
            "worker_all": _hot_spots(args.profile / "worker.pyspy.txt", None) if worker else None,
            "bare_faust": bare_profile,
        }
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
