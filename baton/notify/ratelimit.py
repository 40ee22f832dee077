"""Pace one destination: at most ``per_second`` messages, and hold off when the server says so.

One limiter per destination (a Slack channel, an email address), owned by
that destination's worker alone, so it needs no lock: it only remembers when
the next send may start.
"""

from __future__ import annotations

import asyncio


class RateLimiter:
    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def ready_in(self) -> float:
        return max(0.0, self._next - self._now())

    async def wait(self) -> None:
        delay = self.ready_in()
        if delay > 0:
            await asyncio.sleep(delay)

    def sent(self) -> None:
        """A message just went out: the next may start one interval later."""
        self._next = max(self._next, self._now() + self.interval)

    def hold(self, seconds: float) -> None:
        """Nothing before ``seconds`` from now (a backoff or a server's Retry-After)."""
        self._next = max(self._next, self._now() + seconds)
