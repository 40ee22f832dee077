"""The stream agents of one worker; each module registers its own on the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from baton.streams.app import BatonApp


def register_agents(baton: "BatonApp") -> None:
    from baton.agents import (delivery, funnel_publisher, intake, loop_watch, plan_watch, recovery,
                              scorecard_publisher, scorecard_view, timer_checks, views)

    intake.register(baton)
    funnel_publisher.register(baton)
    timer_checks.register(baton)
    scorecard_publisher.register(baton)
    scorecard_view.register(baton)
    recovery.register(baton)
    plan_watch.register(baton)
    delivery.register(baton)
    views.register(baton)
    loop_watch.register(baton)
