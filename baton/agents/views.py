"""The worker's HTTP views: health and metrics."""

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
        return web.json(baton.metrics.as_dict())
