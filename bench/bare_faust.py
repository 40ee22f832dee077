"""A bare faust-streaming agent that only counts records: the ceiling of any Faust agent.

Run by ``bench.throughput`` as a subprocess (one fresh process per variant)::

    python -m bench.bare_faust --bootstrap HOST:PORT --prefix P --events N [--uvloop] [--loglevel info]

It reads the five input topics under ``P`` from the beginning with raw
bytes (no value decoding, like Baton's intake), counts records and, at the
``N``-th, prints one JSON line (events/s from the first record) and exits.
Faust's own knobs come from the environment, which Faust reads itself:
``STREAM_BUFFER_MAXSIZE``, ``BROKER_MAX_POLL_RECORDS``, ...
The web server is off (and bound to 127.0.0.1 should anything turn it on).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--partitions", type=int, default=4, help="partitions of the input topics (for --table)")
    p.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop")
    p.add_argument("--eager-drain", action="store_true",
                   help="with Baton's eager drain in Faust's consumer (baton/streams/eager_drain.py)")
    p.add_argument("--loglevel", default="info",
                   help="Faust worker log level (at warn and above Faust's spinner costs CPU: see the docs)")
    p.add_argument("--take", type=int, default=0,
                   help="consume with stream.take(TAKE, 0.2) batches instead of one event at a time")
    p.add_argument("--table", action="store_true",
                   help="also write each record's value to a changelog-backed Table under its key "
                        "(with --take: once per distinct key per batch)")
    p.add_argument("--send", action="store_true",
                   help="also send each record to an output topic (with --take: one record per batch)")
    args = p.parse_args(argv)

    if args.uvloop:
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    import faust

    if args.eager_drain:
        from baton.streams.eager_drain import install

        if not install():
            raise SystemExit("the eager drain could not be installed over this Faust")

    from baton.streams.topics import TopicNames

    names = TopicNames(args.prefix)
    datadir = tempfile.mkdtemp(prefix="baton-bench-bare-")
    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    app = faust.App(
        # The input prefix in the id: the bench deletes the run's topics (changelogs too) by it.
        f"bench-bare-{args.prefix.rstrip('.')}-{secrets.token_hex(4)}",
        broker=[f"kafka://{hp}" for hp in args.bootstrap.split(",")],
        store="memory://",
        datadir=datadir,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        web_port=_free_port(),
        consumer_auto_offset_reset="earliest",
        topic_partitions=args.partitions,
        autodiscover=False,
        topic_allow_declare=True,
    )
    inputs = app.topic(*names.inputs, **raw)
    table = None
    if args.table:
        # Keyed by the raw key bytes with the partitioner: a write goes to the changelog partition of
        # the key's input partition, whichever event is current (also inside take_events batches).
        table = app.Table("bench-accounts", partitions=args.partitions, key_type=bytes, value_type=bytes,
                          use_partitioner=True)
        table.key_serializer = table.value_serializer = "raw"
    sink = app.topic(f"{args.prefix}bench-sink", **raw) if args.send else None
    target = args.events
    state = {"n": 0, "first": None}

    def finish() -> None:
        done = time.perf_counter()
        seconds = done - state["first"]
        import asyncio

        loop = asyncio.get_event_loop()
        print(json.dumps({
            "records": state["n"],
            "first_to_last_seconds": round(seconds, 3),
            "events_per_s_from_first": round(state["n"] / seconds, 1) if seconds > 0 else 0.0,
            "loop": f"{type(loop).__module__}.{type(loop).__name__}",
            "stream_buffer_maxsize": app.conf.stream_buffer_maxsize,
            "broker_max_poll_records": app.conf.broker_max_poll_records,
            "loglevel": args.loglevel,
            "take": args.take,
            "table": args.table,
            "send": args.send,
        }), flush=True)
        sys.stderr.flush()
        os._exit(0)  # the parent only needs the line; a graceful Faust shutdown takes seconds

    if args.take:
        @app.agent(inputs, name="bare-count")
        async def count_batches(stream):
            async for batch in stream.take_events(args.take, within=0.2):
                if state["first"] is None:
                    state["first"] = time.perf_counter()
                if table is not None:
                    latest = {event.message.key: event.message.value for event in batch}
                    for key, value in latest.items():
                        table[key] = value
                if sink is not None:
                    await sink.send(key=b"batch", value=b"%d" % len(batch))
                state["n"] += len(batch)
                if state["n"] >= target:
                    finish()
    else:
        @app.agent(inputs, name="bare-count")
        async def count(stream):
            async for event in stream.events():
                if state["first"] is None:
                    state["first"] = time.perf_counter()
                if table is not None:
                    table[event.message.key] = event.message.value
                if sink is not None:
                    await sink.send(key=event.message.key, value=event.message.value)
                state["n"] += 1
                if state["n"] >= target:
                    finish()

    worker = faust.Worker(app, loglevel=args.loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 1  # only reached if the worker stopped before the target


if __name__ == "__main__":
    sys.exit(main())
