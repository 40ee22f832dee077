"""Waiting for something that happens asynchronously, without fixed sleeps."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 60.0, every: float = 0.3) -> T:
    """Call ``predicate`` until it returns something truthy; return that, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def eventually(predicate: Callable[[], object], timeout: float, every: float = 0.5) -> bool:
    """Wait for ``predicate``; False (not an error) if it never holds: the assertions after it say what is missing."""
    try:
        return bool(wait_for(predicate, timeout, every))
    except AssertionError:
        return False
