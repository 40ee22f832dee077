"""A realistic synthetic feed of contract events (``baton demo``)."""

from baton.demo.generator import CAMPAIGNS, REPS, generate

__all__ = ["CAMPAIGNS", "REPS", "generate"]
