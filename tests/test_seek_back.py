"""Partitions Faust's seek back to committed offsets would leave at their fetch position."""

from __future__ import annotations

from faust.types import TP

from baton.streams.seek_back import uncommitted_stream_partitions


def test_partitions_without_a_committed_offset_above_zero_are_sought_back():
    committed = {
        TP("m2c.notifications", 0): None,  # never committed: aiokafka keeps the fetch position
        TP("m2c.notifications", 1): 0,  # committed at 0: aiokafka does not seek either
        TP("m2c.notifications", 2): 41,  # aiokafka seeks this one itself
        TP("m2c.payments", 3): None,
        TP("baton-accounts-changelog", 0): None,  # Faust's recovery places changelogs itself
    }
    assert uncommitted_stream_partitions(committed, {"baton-accounts-changelog"}) == [
        TP("m2c.notifications", 0), TP("m2c.notifications", 1), TP("m2c.payments", 3)]


def test_install_wraps_faust_seek_to_committed_once():
    from faust.transport.consumer import ThreadDelegateConsumer

    from baton.streams import seek_back

    assert seek_back.install() is True and seek_back.installed()
    wrapped = ThreadDelegateConsumer.seek_to_committed
    assert seek_back.install() is True
    assert ThreadDelegateConsumer.seek_to_committed is wrapped  # not wrapped twice
