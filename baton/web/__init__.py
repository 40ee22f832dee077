"""Baton's HTML pages, served by the worker (see baton/agents/views.py)."""

from baton.web.dashboard import render_dashboard

__all__ = ["render_dashboard"]
