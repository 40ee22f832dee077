"""When to try again, and when to stop: exponential backoff with jitter.

The n-th retry waits ``initial * multiplier**(n-1)``, capped at
``max_backoff``, of which a random share (``jitter``) is taken off so that
many destinations failing together do not retry in lockstep. A server's
``Retry-After`` wins: the wait is at least what it asked for (capped at
``max_retry_after``, with a little jitter on top, never below). Retryable
errors get ``max_attempts`` in all; permanent ones ``permanent_max_attempts``
(a 404 from a just-renamed channel, or a typo fixed in config, gets one more
chance but never a flood).
"""

from __future__ import annotations

import random

from baton.notify.outcome import Outcome, Permanent, Retryable
from baton.settings import RetrySettings


class RetryPolicy:
    def __init__(self, settings: RetrySettings | None = None, rng: random.Random | None = None) -> None:
        self.settings = settings or RetrySettings()
        self.rng = rng or random.Random()

    def give_up(self, outcome: Outcome, attempt: int) -> bool:
        """After ``attempt`` attempts ending in ``outcome``: stop and record the message failed?"""
        s = self.settings
        if isinstance(outcome, Permanent):
            return outcome.final or attempt >= min(s.permanent_max_attempts, s.max_attempts)
        return attempt >= s.max_attempts

    def delay(self, outcome: Outcome, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        s = self.settings
        backoff = min(s.max_backoff_seconds, s.initial_backoff_seconds * s.multiplier ** (attempt - 1))
        backoff *= 1 - s.jitter * self.rng.random()
        if isinstance(outcome, Retryable) and outcome.retry_after is not None:
            asked = min(outcome.retry_after, s.max_retry_after_seconds)
            return asked + asked * 0.1 * s.jitter * self.rng.random()
        return backoff
