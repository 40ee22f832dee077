"""The partition a contract producer puts a key in (murmur2, as Java and kafka-python)."""

from __future__ import annotations

from functools import lru_cache

from kafka.partitioner.default import murmur2


@lru_cache(maxsize=200_000)
def _positive_murmur2(key: bytes) -> int:
    # Pure-Python murmur2 costs ~5 µs; the worker asks for the same account keys again and again.
    return murmur2(key) & 0x7FFFFFFF


def expected_partition(key: bytes, partitions: int) -> int:
    return _positive_murmur2(key) % partitions
