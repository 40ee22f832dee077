"""``baton worker`` with process-level changes the throughput bench compares (not in Baton yet).

    BENCH_UVLOOP=1 BENCH_GC=freeze python -m bench.worker_variant worker

- ``BENCH_UVLOOP=1``: uvloop's event loop (Faust takes the loop from the policy);
- ``BENCH_GC=freeze``: ``gc.freeze()`` once the modules are imported and thresholds
  raised (50,000 / 50 / 100), so the cyclic GC runs rarely and skips start-up objects.

Everything else is ``baton``'s own command line (``baton.cli.main``).
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    if os.environ.get("BENCH_UVLOOP") == "1":
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from baton.cli import main as baton_main

    if os.environ.get("BENCH_GC") == "freeze":
        import gc

        import baton.streams.app  # noqa: F401 - import the worker's modules before freezing

        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
    sys.argv = ["baton", *sys.argv[1:]]
    baton_main()


if __name__ == "__main__":
    main()
