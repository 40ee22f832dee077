"""Per-account funnel state as pure functions: history in, state out."""
