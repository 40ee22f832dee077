"""Raw Kafka records -> validated events, or a dead letter with a reason.

Decoding is the only place bad input is recognised. It never raises: every
record becomes either an ``Event`` or a ``DeadLetter`` that a person can act
on (which field, what was wrong, what was received).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import orjson
from pydantic import BaseModel, ValidationError

from baton.streams.events import EVENT_ADAPTER, Event

# How far an event's occurred_at may lie after the record's own Kafka
# timestamp. Further means a broken clock or a unit mistake (ms vs s) and would
# freeze periods and SLA timers in the future, so it is rejected.
MAX_FUTURE_SKEW = timedelta(days=1)
_MAX_REASON = 1000
_MAX_SHOWN_INPUT = 80


class DeadLetter(BaseModel):
    """A rejected input record (contract: ``m2c.deadletter``)."""

    reason: str
    topic: str
    partition: int
    offset: int
    key: str | None
    raw: str
    # Present only when the value was not UTF-8, so the exact bytes are never lost.
    raw_base64: str | None = None


@dataclass(frozen=True, slots=True)
class RecordRef:
    """Where a record came from (for dead letters and diagnostics)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    timestamp_ms: int | None = None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN_INPUT else text[:_MAX_SHOWN_INPUT] + "…"


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, e.g. ``data.amount: Input should be ... (got '5')``."""
    parts = []
    for err in exc.errors(include_url=False):
        kind = err["type"]
        loc = list(err["loc"])
        if loc and isinstance(loc[0], str) and "." in loc[0]:
            loc = loc[1:]  # drop the union tag ("payment.succeeded") from the path
        where = ".".join(str(p) for p in loc) or "record"
        if kind == "json_invalid":
            parts.append(f"not valid JSON: {err['ctx']['error']}")
        elif kind == "union_tag_invalid":
            parts.append(f"unknown type {err['ctx']['tag']!r}; expected one of {err['ctx']['expected_tags']}")
        elif kind == "union_tag_not_found":
            parts.append("missing required field 'type'")
        elif kind == "missing":
            parts.append(f"missing required field '{where}'")
        elif kind == "dict_type" and where == "record":
            parts.append(f"value must be a JSON object, got {type(err['input']).__name__}")
        elif kind == "greater_than_equal" and where.endswith("amount"):
            parts.append(f"{where}: amount must not be negative (got {_shown(err['input'])})")
        elif kind == "string_pattern_mismatch" and where.endswith("currency"):
            parts.append(f"{where}: currency must be a 3-letter ISO 4217 code like 'USD' (got {_shown(err['input'])})")
        elif kind in ("timezone_aware", "datetime_parsing", "datetime_type", "datetime_from_date_parsing"):
            parts.append(f"{where}: must be an RFC 3339 time with an offset like '2026-11-22T10:04:00Z' (got {_shown(err['input'])})")
        else:
            parts.append(f"{where}: {err['msg']} (got {_shown(err.get('input'))})")
    text = "; ".join(parts) or str(exc)
    return text if len(text) <= _MAX_REASON else text[:_MAX_REASON] + "…"


def _key_text(key: bytes | None) -> str | None:
    return None if key is None else key.decode("utf-8", errors="replace")


def dead_letter(ref: RecordRef, value: bytes | None, reason: str) -> DeadLetter:
    raw_bytes = value or b""
    try:
        raw, raw_b64 = raw_bytes.decode("utf-8"), None
    except UnicodeDecodeError:
        raw, raw_b64 = raw_bytes.decode("utf-8", errors="replace"), base64.b64encode(raw_bytes).decode()
    return DeadLetter(
        reason=reason,
        topic=ref.topic,
        partition=ref.partition,
        offset=ref.offset,
        key=_key_text(ref.key),
        raw=raw,
        raw_base64=raw_b64,
    )


def decode(ref: RecordRef, value: bytes | None) -> Event | DeadLetter:
    """Validate one record; return the event or the reason it was rejected."""
    out = validate(value, ref.key, ref.timestamp_ms)
    return dead_letter(ref, value, out) if isinstance(out, str) else out


# Cheap, conservative first tests of the future-skew rule; anything they do not clear is
# decided exactly, as it always was. (1) The calendar date occurred_at shows, in its own
# offset, is at least a day before the UTC day of the record: any offset is under 24 h,
# so occurred_at lies less than a day after the record. (2) occurred_at as float epoch
# ms lies more than a second inside the limit.
_DAY_MS = 86_400_000
_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()
_SKEW_FAST_MS = MAX_FUTURE_SKEW.total_seconds() * 1000 - 1000


def validate(value: bytes | None, key: bytes | None, timestamp_ms: int | None) -> Event | str:
    """``decode`` without the dead letter: the event, or the reason text it would carry.

    The batch paths (``baton replay``) call this per record and build a
    ``RecordRef``/``DeadLetter`` only for the rare rejected one.
    """
    if value is None:
        return "empty value (a tombstone): input topics carry events, not deletions"
    try:
        # The adapter's own validator: TypeAdapter.validate_json only forwards to it.
        event = EVENT_ADAPTER.validator.validate_json(value)
    except ValidationError as exc:
        return describe_validation_error(exc)
    except (ValueError, RecursionError) as exc:  # pragma: no cover - pydantic wraps these
        return f"not valid JSON: {exc}"

    if event.type != "spend.recorded":
        key_text = _key_text(key)
        if key_text != event.account_id:
            return (f"record key {key_text!r} differs from account_id {event.account_id!r}: "
                    "produce account events keyed by account_id so each account stays in one partition")
    if timestamp_ms is not None and timestamp_ms > 0:
        occurred = event.occurred_at
        if (occurred.toordinal() >= timestamp_ms // _DAY_MS + _EPOCH_ORDINAL
                and occurred.timestamp() * 1000 - timestamp_ms > _SKEW_FAST_MS):
            produced = datetime.fromtimestamp(timestamp_ms / 1000, tz=timezone.utc)
            if occurred - produced > MAX_FUTURE_SKEW:
                return (f"occurred_at {occurred.isoformat()} is more than {MAX_FUTURE_SKEW.days} day(s) after "
                        f"the record was produced ({produced.isoformat()}): check the producer's clock and time unit")
    return event


def dumps(model: BaseModel) -> bytes:
    """Serialise an output record compactly (no None fields dropped: the contract shows them)."""
    return orjson.dumps(model.model_dump(mode="json", exclude_none=True))
