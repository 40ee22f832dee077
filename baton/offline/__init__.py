"""Offline paths: recompute from the topics with a batch consumer, outside Faust."""
