"""Benchmarks: each ``python -m bench.<name>`` prints one JSON document (docs/benchmarks.md)."""
