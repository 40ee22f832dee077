"""The worker's HTTP views: health, metrics, the scorecard, plan statuses and the dashboard page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from baton.streams.eager_drain import installed as eager_drain_installed
from baton.streams.seek_back import installed as seek_back_installed
from baton.web import render_dashboard

if TYPE_CHECKING:
    from baton.streams.app import BatonApp


def register(baton: "BatonApp") -> None:
    app = baton.faust

    @app.page("/healthz")
    async def healthz(web, request):
        return web.json({"ok": True, "app": baton.settings.app_id})

    @app.page("/metrics.json")
    async def metrics(web, request):
        delivery = baton.dispatcher.metrics if baton.dispatcher is not None else None
        return web.json({**baton.metrics.as_dict(), "due_checks": len(baton.due_queue),
                         "pending_funnel": len(baton.pending_funnel),
                         "intake_delay_ms": baton.intake_delay.summary_ms(),
                         "eager_drain": eager_drain_installed(),
                         "intake_feed": baton.intake_feed is not None,
                         "seek_back": seek_back_installed(),
                         "consumer": consumer_state(app),
                         "delivery": {k: v for k, v in vars(delivery).items()
                                      if isinstance(v, int) and not k.startswith("_")} if delivery else None})

    @app.page("/metrics")
    async def prometheus(web, request):
        """Prometheus text format: delivery queue depth (backpressure), outcomes, retries, digests."""
        from prometheus_client import generate_latest

        return web.bytes(generate_latest(baton.registry), content_type="text/plain; version=0.0.4")

    @app.page("/scorecard")
    async def scorecard(web, request):
        """``/scorecard?scope=all`` (default) -> the record; ``?scope=*`` -> every scope."""
        scope = request.query.get("scope", "all")
        if scope == "*":
            return web.json(baton.scorecards)
        record = baton.scorecards.get(scope)
        if record is None:
            return web.json({"error": f"no scorecard for scope {scope!r}", "scopes": sorted(baton.scorecards)},
                            status=404)
        return web.json(record)

    @app.page("/plans")
    async def plans(web, request):
        """Each configured plan's latest judgement (pace, broken assumptions, reps), by plan key."""
        return web.json(baton.plan_statuses)

    @app.page("/dashboard")
    async def dashboard(web, request):
        """``/dashboard?scope=<scope>`` (default ``all``): the HTML page of baton/web/dashboard.py."""
        scope = request.query.get("scope", "all")
        page = render_dashboard(baton.scorecards, baton.plan_statuses, scope)
        # 404 only for a scope that does not exist; before the first event "all" is an empty, valid page.
        return web.html(page, status=404 if baton.scorecards and scope not in baton.scorecards else 200)

    @app.page("/")
    async def index(web, request):
        return web.html("", status=302, headers={"Location": "/dashboard"})


def consumer_state(app) -> dict | None:
    """Why a worker may not be reading: Faust's consumer's partitions and flow (counts and flags).

    Partitions the consumer is assigned but does not fetch are paused (rebalance, recovery) or
    left out while their stream's buffer is full; a suspended flow stops all of them.
    """
    consumer = getattr(app, "_consumer", None)  # never create one just to look at it
    if consumer is None:
        return None
    try:
        assigned = consumer.assignment()
    except Exception:  # noqa: BLE001 - not started yet, or stopping
        assigned = set()
    active = getattr(consumer, "_active_partitions", None)
    changelogs = app.tables.changelog_topics  # the same set baton.streams.seek_back leaves to Faust
    return {
        "assigned": len(assigned),
        "active": None if active is None else len(active),
        "paused": len(getattr(consumer, "_paused_partitions", ()) or ()),
        "buffer_full": len(getattr(consumer, "_buffered_partitions", ()) or ()),
        "not_fetched": sorted(_label(tp) for tp in assigned - (active or set()))[:50],
        # The offset each partition was last read at (None: nothing read since the assignment).
        "read_offsets": {_label(tp): (getattr(consumer, "_read_offset", None) or {}).get(tp)
                         for tp in sorted(assigned) if _is_stream(tp, changelogs)},
        "positions": _fetch_positions(consumer, changelogs),
        "flow_active": bool(getattr(consumer, "flow_active", True)),
        "app_flow_active": app.flow_control.is_active(),
        "in_recovery": bool(getattr(app, "in_recovery", False)),
    }


def _fetch_positions(consumer, changelogs: set[str]) -> dict[str, object]:
    """The Kafka client's fetch position per input and output partition ("reset": waiting for one;
    "paused"), read off aiokafka's subscription state (a diagnostic: private, may change)."""
    try:
        client = consumer._thread._ensure_consumer()  # noqa: SLF001 - Faust's aiokafka consumer, in its thread
        assignment = client._subscription.subscription.assignment  # noqa: SLF001
    except Exception:  # noqa: BLE001 - not started, or another Faust/aiokafka
        return {}
    out: dict[str, object] = {}
    for tp in sorted(assignment.tps):
        state = assignment.state_value(tp) if _is_stream(tp, changelogs) else None
        if state is None:
            continue
        out[_label(tp)] = ("paused" if state.paused else state.position if state.has_valid_position
                                              else "reset" if state.awaiting_reset else None)
    return out


def _label(tp) -> str:
    return f"{tp.topic}[{tp.partition}]"


def _is_stream(tp, changelogs: set[str]) -> bool:
    """An input or output topic's partition, not a table changelog or Faust's assignor topic."""
    return tp.topic not in changelogs and "__assignor" not in tp.topic
