"""What one send attempt on one channel came to.

Channels report, the dispatcher decides: a channel never sleeps or retries
itself, it says whether trying again could help (``Retryable``, with the
server's ``Retry-After`` when it gave one) or not (``Permanent``). Error text
is short, made by Baton, and never carries a webhook URL, token or password.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Delivered:
    detail: str = ""


@dataclass(frozen=True)
class Retryable:
    error: str
    retry_after: float | None = None


@dataclass(frozen=True)
class Permanent:
    error: str
    # True when trying again cannot help at all (the message itself is broken): no second attempt.
    final: bool = False


Outcome = Delivered | Retryable | Permanent
