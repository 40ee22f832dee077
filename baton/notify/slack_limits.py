"""Keep a Block Kit message inside Slack's limits, visibly.

Slack rejects a message with more than 50 blocks, a section text over 3,000
characters or more than 10 fields (2,000 characters each). Long section text
is split into several sections ("…" marks the cut); what still does not fit
in 50 blocks is dropped behind a context block that says so. Text arrives
here already escaped, so a cut never falls inside an ``&amp;`` entity or a
``<@U123>`` mention.
"""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_TEXT = 3000
MAX_FALLBACK_TEXT = 3000  # the notification text; Slack allows more, nobody reads more
CONTINUED = " …"
RESUMED = "… "
TRUNCATED = " …(truncated)"


def _safe_cut(text: str, limit: int) -> int:
    """An index <= limit to cut at: a line break or space if one is near, never inside an entity or <...>."""
    cut = limit
    window = text[:cut]
    amp, semi = window.rfind("&"), window.rfind(";")
    if amp > semi and cut - amp <= 8:  # "&amp;" "&lt;" "&gt;" are short
        cut = amp
    lt, gt = window.rfind("<"), window.rfind(">")
    if lt > gt and cut - lt <= 120:
        cut = min(cut, lt)
    for sep in ("\n", " "):
        at = text.rfind(sep, 0, cut)
        if at >= cut // 2:
            return at + 1
    return max(cut, 1)


def truncate(text: str, limit: int, marker: str = TRUNCATED) -> str:
    if len(text) <= limit:
        return text
    return text[: _safe_cut(text, limit - len(marker))].rstrip() + marker


def split_text(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Pieces of at most ``limit`` characters; all but the last end with a marker, all but the first start with one."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit - (len(RESUMED) if pieces else 0):
        head = RESUMED if pieces else ""
        room = limit - len(head) - len(CONTINUED)
        cut = _safe_cut(rest, room)
        pieces.append(head + rest[:cut].rstrip() + CONTINUED)
        rest = rest[cut:].lstrip()
    pieces.append((RESUMED if pieces else "") + rest)
    return pieces


def _fit_block(block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block.get("type")
    if kind == "context":
        for el in block.get("elements", []):
            if isinstance(el.get("text"), str):
                el["text"] = truncate(el["text"], MAX_CONTEXT_TEXT)
        return [block]
    if kind != "section":
        return [block]
    out: list[dict[str, Any]] = []
    text = block.get("text")
    if text is not None:
        for piece in split_text(text["text"]):
            out.append({"type": "section", "text": {**text, "text": piece}})
    fields = [{**f, "text": truncate(f["text"], MAX_FIELD_TEXT)} for f in block.get("fields", [])]
    for i in range(0, len(fields), MAX_FIELDS):
        chunk = fields[i : i + MAX_FIELDS]
        if i == 0 and out and len(out[-1]) == 2:
            out[-1]["fields"] = chunk  # the first fields stay with the block's own text
        else:
            out.append({"type": "section", "fields": chunk})
    return out or [block]


def fit(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``{"text", "blocks"}`` that Slack accepts."""
    blocks: list[dict[str, Any]] = []
    for block in payload.get("blocks", []):
        blocks.extend(_fit_block(block))
    if len(blocks) > MAX_BLOCKS:
        dropped = len(blocks) - (MAX_BLOCKS - 1)
        blocks = blocks[: MAX_BLOCKS - 1] + [
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"…(truncated: {dropped} more blocks did not fit in one Slack message)"}],
            }
        ]
    out = dict(payload, blocks=blocks)
    if isinstance(payload.get("text"), str):
        out["text"] = truncate(payload["text"], MAX_FALLBACK_TEXT)
    return out
