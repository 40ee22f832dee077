"""The console channel: where notifications go when no real destination is configured."""

from __future__ import annotations

import sys
from typing import Sequence, TextIO

from rich.console import Console
from rich.markup import escape

from baton.notify.outcome import Delivered, Outcome
from baton.streams.records import Notification

_STYLE = {"info": "blue", "warning": "yellow", "critical": "bold red"}


class ConsoleChannel:
    kind = "console"

    def __init__(self, console: Console | None = None, stream: TextIO | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)  # one line per notification
        # Colours only for a person at a terminal: to a pipe or a log file, plain lines are
        # what a reader (or grep) wants, and rich costs ~60 µs a line the worker needs elsewhere.
        self.plain = stream if stream is not None else (None if console or sys.stdout.isatty() else sys.stdout)

    def configured(self, destination: str) -> bool:
        return True

    async def send(self, destination: str, notes: Sequence[Notification], *, note: str = "") -> Outcome:
        if self.plain is not None:
            suffix = f" ({note})" if note else ""
            self.plain.write("".join(f"[{n.severity}] {n.rule} → {n.team}: {n.title} — {n.text}{suffix}\n"
                                     for n in notes))
            self.plain.flush()
            return Delivered("printed")
        for n in notes:
            # rich markup in user text would restyle (or break) the line: escape it.
            style = _STYLE.get(n.severity, "white")
            self.console.print(
                f"[{style}]\\[{escape(n.severity)}][/{style}] [cyan]{escape(n.rule)}[/cyan] → {escape(n.team)}: "
                f"[bold]{escape(n.title)}[/bold] — {escape(n.text)}"
                + (f" [dim]({escape(note)})[/dim]" if note else "")
            )
        return Delivered("printed")

    async def aclose(self) -> None:
        return None
