"""The worker's HTTP views: health, metrics and the scorecard."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
