"""Faust's "seek back to the committed offsets" must also seek back partitions with none.

Faust drops records it fetched while a rebalance or a recovery was changing the
assignment (the consumer generation changed, or the flow was stopped) and then
relies on ``seek_to_committed`` to read them again. aiokafka's
``seek_to_committed`` only seeks partitions whose committed offset is above 0:
a partition with no committed offset (or 0) keeps its fetch position, now past
the dropped records. A worker restarted after a crash, before its group ever
committed there, then skipped every record already in those partitions: in
``bench.kill_burst`` the restarted worker's positions on the input topics and
``m2c.notifications`` were their end offsets, nothing committed, and 400 queued
notifications never delivered (docs/benchmarks-latency-scale.md, round 7). Its
next commit would have made the skip permanent.

``install()`` wraps Faust's ``seek_to_committed`` (the thread-delegating consumer
of its aiokafka driver): afterwards, every stream partition without a committed
offset above 0 is sought to its beginning, which is what the consumer's
``auto_offset_reset=earliest`` means for a partition the group never committed.
Table changelogs are left alone: Faust's recovery places those itself.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

log = logging.getLogger(__name__)

_ORIGINAL: Any = None


def uncommitted_stream_partitions(committed: Mapping[Any, int | None], changelog_topics: set[str]) -> list[Any]:
    """The partitions ``seek_to_committed`` left where they were: no committed offset above 0,
    and not a table's changelog."""
    return sorted(tp for tp, offset in committed.items() if not offset and tp.topic not in changelog_topics)


async def _seek_to_committed(self) -> Mapping[Any, int]:
    committed = await _ORIGINAL(self)
    missed = uncommitted_stream_partitions(committed, self.app.tables.changelog_topics)
    if missed:
        log.info("seeking %d partition(s) with no committed offset to their beginning (Faust's seek back "
                 "to committed offsets leaves them at their fetch position)", len(missed))
        await self._thread.seek_to_beginning(*missed)
    return committed


def install() -> bool:
    """Wrap Faust's ``seek_to_committed``; False (and a warning) if this Faust has no such method."""
    global _ORIGINAL
    from faust.transport.consumer import ThreadDelegateConsumer

    current = getattr(ThreadDelegateConsumer, "seek_to_committed", None)
    if current is _seek_to_committed:
        return True
    if current is None:
        log.warning("Faust's consumer has no seek_to_committed: partitions without a committed offset are not "
                    "sought back after a rebalance")
        return False
    _ORIGINAL = current
    ThreadDelegateConsumer.seek_to_committed = _seek_to_committed
    return True


def installed() -> bool:
    from faust.transport.consumer import ThreadDelegateConsumer

    return getattr(ThreadDelegateConsumer, "seek_to_committed", None) is _seek_to_committed
