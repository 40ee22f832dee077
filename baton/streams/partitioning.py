"""The partition a contract producer puts a key in (murmur2, as Java and kafka-python)."""

from __future__ import annotations

from kafka.partitioner.default import murmur2


def expected_partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions
