"""Delivery of ``m2c.notifications`` to people (console until channels are configured)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from baton.streams.app import BatonApp

log = logging.getLogger(__name__)
_console = Console(stderr=False, highlight=False)


def register(baton: "BatonApp") -> None:
    app = baton.faust

    @app.agent(baton.notifications, name="delivery")
    async def deliver(stream):
        async for value in stream:
            note = orjson.loads(value)
            _console.print(
                f"[bold]\\[{escape(note['severity'])}][/bold] [cyan]{escape(note['rule'])}[/cyan] → "
                f"{escape(note['team'])}: {escape(note['title'])} — {escape(note['text'])}"
            )
