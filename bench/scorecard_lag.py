"""How far the live scorecard trails the intake under load.

    python -m bench.scorecard_lag --events 200000

Produces N realistic events, starts ``baton worker`` on them and every
``--interval`` seconds reads ``/metrics.json`` (events processed) and
``/scorecard?scope=all`` (leads counted in the published scorecard). The
expected lead count comes from ``replay_inputs`` on the same topics. Prints
the samples and, as JSON, the share of leads the live scorecard showed when
the intake had processed every event, and how long after that it caught up.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, broker, delete_topics, emit, log, machine, parser, prepare


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--interval", type=float, default=5.0, help="seconds between samples (default %(default)s)")
    p.add_argument("--catch-up", type=float, default=600.0,
                   help="give up this many seconds after the intake finished (default %(default)s)")
    p.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    args = p.parse_args(argv)

    from baton.offline.replay import replay_inputs
    from baton.settings import Settings
    from tests.worker_process import WorkerProcess

    n = args.events
    result: dict[str, Any] = {"bench": "scorecard_lag", "machine": machine()}
    with broker(args.bootstrap) as bootstrap:
        prefix, _events, facts = prepare(args, bootstrap, "blag")
        result["input"] = facts
        replayed = asyncio.run(replay_inputs(Settings(bootstrap_servers=bootstrap, topic_prefix=prefix)))
        expected = replayed.records["all"]["leads"]
        workdir = Path(tempfile.mkdtemp(prefix="baton-bench-worker-"))
        worker = WorkerProcess(bootstrap, prefix, workdir, {"BATON_FLUSH_INTERVAL_SECONDS": "1.0",
                                                            "PYTHONPATH": str(REPO)})
        samples, done_at, shown_at_done, caught_up_at = [], None, None, None
        try:
            worker.start(timeout=180)
            started = time.perf_counter()
            while True:
                metrics = worker.http_json("/metrics.json")
                processed = metrics["events_valid"] + metrics["events_duplicate"] + metrics["dead_letters"]
                try:
                    leads = worker.http_json("/scorecard?scope=all").get("leads")
                except Exception:  # noqa: BLE001 - not published yet
                    leads = None
                now = round(time.perf_counter() - started, 1)
                samples.append({"t": now, "processed": processed, "live_all_leads": leads})
                log(f"{now:7.1f}s processed {processed} live all.leads {leads} (expected {expected})")
                if processed >= n and done_at is None:
                    done_at, shown_at_done = now, leads or 0
                if leads == expected and done_at is not None:
                    caught_up_at = now
                    break
                if done_at is not None and now - done_at > args.catch_up:
                    break
                time.sleep(args.interval)
        finally:
            worker.stop()
            shutil.rmtree(workdir, ignore_errors=True)
            if not args.keep_topics:
                delete_topics(bootstrap, prefix.rstrip("."))
    result.update({
        "expected_all_leads": expected,
        "intake_done_after_s": done_at,
        "live_share_of_leads_when_intake_done": round((shown_at_done or 0) / expected, 3) if expected else None,
        "caught_up_s_after_intake_done": round(caught_up_at - done_at, 1) if caught_up_at and done_at else None,
        "samples": samples,
    })
    emit(result, args.out)
    return 0 if caught_up_at else 1


if __name__ == "__main__":
    sys.exit(main())
