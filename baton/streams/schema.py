"""JSON Schema of the contract's events, for `baton schema`."""

from __future__ import annotations

from typing import Any

from baton.streams.events import EVENT_ADAPTER, Event


def event_json_schema(event_type: str | None = None) -> dict[str, Any]:
    if event_type is None:
        return EVENT_ADAPTER.json_schema()
    for model in Event.__origin__.__args__:  # type: ignore[attr-defined]
        if model.model_fields["type"].annotation.__args__[0] == event_type:
            return model.model_json_schema()
    from baton.streams.events import EVENT_TYPES

    raise SystemExit(f"unknown event type {event_type!r}; known: {', '.join(EVENT_TYPES)}")
