"""Baton: an always-on, event-driven market-to-cash notifier on Apache Kafka."""

__version__ = "0.1.0"
