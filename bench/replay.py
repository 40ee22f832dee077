"""``baton replay``'s recomputation beside a raw aiokafka consumer of the same topics, in one run.

    python -m bench.replay --events 200000

On N pre-produced realistic events (4 partitions), alternating ``--repeat``
times (default 3) so both see the same machine:

- ``raw``: aiokafka ``getmany(10_000)`` + ``orjson.loads`` per value, no consumer group;
- ``raw_bytes``: the same without decoding (the client's own ceiling);
- ``replay``: ``baton.offline.replay.replay_inputs(settings)``, exactly what
  ``baton replay`` runs before comparing: read every input topic from the
  beginning, validate each record as the worker does, fold the histories and
  compute every scorecard scope. From 100,000 records on it shares the work
  among one process per core (at most 4), split by account;
- ``replay_1_process``: the same forced to one process (``workers=1``).

Each figure is events/s from the consumer's start to the last record (both
pay the same connection and metadata start-up). The JSON gives medians and
``ratio_replay/raw`` (target: >= 0.3, and >= 100,000 events/s).
``--profile FILE`` samples one more replay with py-spy and adds the hot spots.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import (REPO, TopicNames, broker, delete_topics, emit, log, machine, median, parser, prepare,
                          rate, ratio, raw_consume)


def settings_for(bootstrap: str, prefix: str):
    from baton.settings import Settings

    return Settings(bootstrap_servers=bootstrap, topic_prefix=prefix)


def run_replay(bootstrap: str, prefix: str, workers: int | None = None) -> dict[str, Any]:
    from baton.offline.replay import replay_inputs

    result = asyncio.run(replay_inputs(settings_for(bootstrap, prefix), workers=workers))
    records = result.events + result.rejected
    return {
        "workers": result.workers,
        "records": records,
        "events": result.events,
        "rejected": result.rejected,
        "scopes": len(result.records),
        "seconds": round(result.seconds, 3),
        "events_per_s": rate(records, result.seconds),
    }


def profile_replay(bootstrap: str, prefix: str, out: Path) -> dict[str, Any]:
    """One replay in a fresh process under py-spy; the hot spots as percentages of samples."""
    from bench.profile_summary import summarise
    from bench.common import py_spy

    spy = py_spy()
    if spy is None:
        return {"error": "py-spy is not installed (pip install py-spy)"}
    out.parent.mkdir(parents=True, exist_ok=True)
    # One process (workers=1): py-spy then sees all of the work in one stack.
    subprocess.run([spy, "record", "-r", "250", "-f", "raw", "-o", str(out), "--", sys.executable, "-m", "bench.replay",
                    "--only-replay", prefix, "--bootstrap", bootstrap, "--workers", "1"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"file": str(out), "baton": summarise(out, top=20, match="baton/"), "all": summarise(out, top=20)}


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="rounds of raw/replay (default %(default)s)")
    p.add_argument("--keep-topics", action="store_true", help="leave the run's topics on the broker")
    p.add_argument("--profile", type=Path, default=None, metavar="FILE",
                   help="also profile one replay with py-spy (raw profile written to FILE)")
    p.add_argument("--only-replay", metavar="PREFIX", help=argparse_hidden())
    p.add_argument("--workers", type=int, default=1, help=argparse_hidden())
    args = p.parse_args(argv)

    if args.only_replay:  # the process py-spy samples
        run_replay(args.bootstrap, args.only_replay, workers=args.workers)
        return 0

    n = args.events
    result: dict[str, Any] = {"bench": "replay", "machine": machine()}
    with broker(args.bootstrap) as bootstrap:
        log(f"broker {bootstrap}; producing {n} events")
        prefix, _events, facts = prepare(args, bootstrap, "brep")
        result["input"] = facts
        names = TopicNames(prefix)
        raws, raw_bytes, replays, singles = [], [], [], []
        for i in range(args.repeat):
            log(f"round {i + 1}/{args.repeat}")
            raws.append(asyncio.run(raw_consume(bootstrap, names.inputs, n, decode=True)))
            replays.append(run_replay(bootstrap, prefix))
            singles.append(run_replay(bootstrap, prefix, workers=1))
            raw_bytes.append(asyncio.run(raw_consume(bootstrap, names.inputs, n, decode=False)))
        if args.profile:
            log("profiling one replay with py-spy")
            result["profile"] = profile_replay(bootstrap, prefix, args.profile)

        if not args.keep_topics:
            result["topics_deleted"] = delete_topics(bootstrap, prefix.rstrip("."))

    bad = [r for r in replays + singles if r["records"] != n or r["rejected"]]
    raw_rate = median([r["events_per_s"] for r in raws])
    replay_rate = median([r["events_per_s"] for r in replays])
    single_rate = median([r["events_per_s"] for r in singles])
    result["raw_aiokafka"] = {"events_per_s": raw_rate, "runs": raws}
    result["raw_aiokafka_bytes_only"] = {"events_per_s": median([r["events_per_s"] for r in raw_bytes]),
                                         "runs": raw_bytes}
    result["replay"] = {"events_per_s": replay_rate, "workers": replays[0]["workers"], "runs": replays}
    result["replay_1_process"] = {"events_per_s": single_rate, "runs": singles}
    result["ratio_replay/raw"] = ratio(replay_rate, raw_rate)
    result["ratio_replay_1_process/raw"] = ratio(single_rate, raw_rate)
    result["ratio_replay/raw_bytes_only"] = ratio(replay_rate, result["raw_aiokafka_bytes_only"]["events_per_s"])
    result["ratio_per_round"] = [ratio(b["events_per_s"], a["events_per_s"]) for a, b in zip(raws, replays)]
    result["targets"] = {"events_per_s>=100000": replay_rate >= 100_000,
                         "ratio>=0.3": (result["ratio_replay/raw"] or 0) >= 0.3}
    if bad:
        result["error"] = f"{len(bad)} replay(s) did not read every record cleanly"
    emit(result, args.out)
    return 1 if bad else 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
