"""Starting things: the worker process, and `baton dev` (Kafka + worker + demo feed)."""

from __future__ import annotations

import gc
import logging
import sys
import threading

from baton.settings import Settings

log = logging.getLogger("baton")


def _fail(message: str) -> None:
    print(f"baton: {message}", file=sys.stderr)
    raise SystemExit(2)


def prepare_topics(settings: Settings) -> int:
    """Create missing topics; return the input partition count the worker must use."""
    from kafka.errors import KafkaError, KafkaTimeoutError

    from baton.streams.admin import TopicLayoutError, ensure_topics, input_partition_count

    try:
        partitions = input_partition_count(settings)
        ensure_topics(settings)
    except KafkaTimeoutError:
        _fail(f"no Kafka broker answers at {settings.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS)")
    except TopicLayoutError as exc:
        _fail(str(exc))
    except KafkaError as exc:
        _fail(f"Kafka refused to set up Baton's topics at {settings.bootstrap_servers}: {exc!r}")
    return partitions


def build_worker(settings: Settings):
    """The Faust worker for these settings, topics created and checked."""
    import faust

    from baton.streams.app import BatonApp

    partitions = prepare_topics(settings)
    from baton.streams import seek_back

    seek_back.install()  # records dropped in a rebalance are read again, committed offset or not
    if settings.eager_drain:
        from baton.streams.eager_drain import install

        install()
    baton = BatonApp(settings, partitions=partitions)
    # Log level "info" on purpose: at "warn" Faust's spinner turns the root logger to
    # DEBUG and the send path pays for building debug records (faust-performance.md).
    level = settings.log_level if settings.log_level.lower() in ("debug", "info") else "info"
    # redirect_stdouts=False: console notifications print as themselves, not as log lines.
    return baton, faust.Worker(baton.faust, loglevel=level, quiet=True, redirect_stdouts=False)


def tune_gc() -> None:
    """Fewer, cheaper collections for a worker that allocates per record (+18 % measured, docs/benchmarks.md).

    What exists after start-up (modules, the app) is frozen out of every collection,
    and the youngest generation is collected every 50,000 allocations instead of 700:
    the worker's records die young and rarely form cycles.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def run_worker(settings: Settings) -> None:
    _, worker = build_worker(settings)
    tune_gc()
    worker.execute_from_commandline()


def run_dev(settings: Settings, rate: float, count: int) -> None:
    """Local Kafka (unless one is configured) + worker + a demo feed, stopped together."""
    broker = None
    if not settings.bootstrap_servers:
        from baton.kafka_local.broker import LocalKafka, free_port

        port = settings.local_kafka_port
        broker = LocalKafka(base_dir=settings.local_kafka_dir, port=port)
        if broker.port_in_use():
            port = free_port()
            print(f"baton: port {settings.local_kafka_port} is busy; local Kafka uses {port}", file=sys.stderr)
            broker = LocalKafka(base_dir=settings.local_kafka_dir, port=port)
        print(f"baton: starting local Apache Kafka on 127.0.0.1:{port} (first run downloads it) …", file=sys.stderr)
        broker.start()
        settings = settings.model_copy(update={"bootstrap_servers": broker.bootstrap})
    stop_feed = threading.Event()
    feed = threading.Thread(target=_feed, args=(settings, rate, count, stop_feed), name="demo-feed", daemon=True)
    try:
        _, worker = build_worker(settings)
        # The Kafka clients' connection chatter would drown the notifications on the console.
        for name in ("kafka", "aiokafka"):
            logging.getLogger(name).setLevel(logging.WARNING)
        tune_gc()
        feed.start()
        worker.execute_from_commandline()
    finally:
        # Stop the feed before the broker, so it does not wait on a broker that is gone.
        stop_feed.set()
        if feed.is_alive():
            feed.join(timeout=15)
        if broker is not None:
            broker.stop()


def _feed(settings: Settings, rate: float, count: int, stop: threading.Event) -> None:
    from baton.demo.producer import run_demo

    try:
        run_demo(settings, rate=rate, count=count, seed=None, accounts=100, stop=stop)
    except Exception:  # the feed is a convenience: never take the worker down with it
        log.exception("demo feed stopped")
