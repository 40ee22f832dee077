"""Turn notifications into Slack Block Kit payloads and multipart emails (Jinja2).

Templates live in ``baton/templates``: ``slack/<rule>.json.j2``,
``email/<rule>.html.j2`` and ``email/<rule>.txt.j2``, each extending its
channel's ``base`` layout; ``default.*`` serves a rule without its own
templates and ``digest.*`` a batch merged under pressure. Templates see a flat
view model (``n``, ``facts``, ``emoji``, ``mention``), never pydantic objects.

Escaping cannot be forgotten, because no template does it:

* Slack: the Slack environment's ``finalize`` runs on every ``{{ ... }}``
  output. It escapes ``&``, ``<``, ``>`` (Slack's three control characters,
  nothing else) and JSON-encodes the result, so a company called
  ``<!channel>`` cannot ping a channel nor break the JSON. Text Baton itself
  builds as markup (an ``<@U123>`` mention) is wrapped in ``SlackText`` and
  only JSON-encoded.
* Email: HTML templates are autoescaped (``select_autoescape``), plain text
  templates are not.

Both environments use ``StrictUndefined`` and are built once, by ``Renderer()``
at start-up: a template typo fails the render instead of sending a blank.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from baton.notify import slack_limits
from baton.streams.records import Notification

log = logging.getLogger(__name__)
T = TypeVar("T")

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")

SEVERITY_EMOJI = {"info": ":large_blue_circle:", "warning": ":warning:", "critical": ":rotating_light:"}
SEVERITY_COLOR = {"info": "#1d9bd1", "warning": "#e8a317", "critical": "#d40e0d"}


class RenderError(Exception):
    """Neither the rule's template nor the generic fallback could render the message."""


class SlackText(str):
    """Slack markup Baton built itself: JSON-encoded on output but not escaped again."""


def slack_escape(value: Any) -> SlackText:
    """Escape Slack's control characters ``&``, ``<``, ``>`` (and only those)."""
    if isinstance(value, SlackText):
        return value
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return SlackText(text)


def _slack_finalize(value: Any) -> str:
    # Every {{ }} in a Slack template sits inside a JSON string: escape for Slack, then for JSON.
    if value is None:
        return ""
    text = str(slack_escape(value))
    try:
        return orjson.dumps(text).decode()[1:-1]  # ~4x faster than json.dumps; runs on every {{ }}
    except orjson.JSONEncodeError:  # a lone surrogate, which orjson refuses and json writes as \udXXX
        return json.dumps(text, ensure_ascii=False)[1:-1]


def duration(seconds: Any) -> str:
    """310 -> "5m 10s"; 7260 -> "2h 1m"; 90000 -> "1d 1h"."""
    s = int(float(seconds))
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if s >= size:
            rest = (s % size) // sub_size
            return f"{s // size}{unit}" + (f" {rest}{sub}" if rest else "")
    return f"{s}s"


def percent(ratio: Any) -> str:
    """0.183 -> "18.3%"; 0.25 -> "25%"."""
    return f"{float(ratio) * 100:.1f}".removesuffix(".0") + "%"


def number(value: Any) -> str:
    """3.0 -> "3"; 2.5 -> "2.5"."""
    return f"{float(value):,.2f}".rstrip("0").rstrip(".")


FORMATS = {"duration": duration, "percent": percent, "number": number}


def _formatted(fmt: str, value: Any) -> Any:
    try:
        return FORMATS[fmt](value)
    except (TypeError, ValueError):
        return value  # a fact of an unexpected type is shown as it is rather than failing the message


def present(facts: dict[str, Any], spec: Sequence[Sequence[str]]) -> list[tuple[str, Any]]:
    """``(label, value)`` for each ``(label, key[, format])`` whose fact is known (not missing, None or "")."""
    rows = []
    for label, key, *fmt in spec:
        value = facts.get(key)
        if value in (None, ""):
            continue
        rows.append((label, _formatted(fmt[0], value) if fmt else value))
    return rows


def all_fields(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """A ``(label, key)`` spec showing every fact: what the generic fallback template lists."""
    return [(key.replace("_", " ").capitalize(), key) for key in facts]


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def view(n: Notification) -> dict[str, Any]:
    """The flat view model of one notification."""
    return {
        "id": n.id,
        "rule": n.rule,
        "team": n.team,
        "severity": n.severity,
        "account_id": n.account_id,
        "title": n.title,
        "text": n.text,
        "created_at": n.created_at,
        "cause_type": n.cause.type,
        "emoji": SlackText(SEVERITY_EMOJI.get(n.severity, "")),
        "color": SEVERITY_COLOR.get(n.severity, "#888888"),
    }


class Renderer:
    """The template environments, built once; render calls are cheap and thread-safe."""

    def __init__(self, template_dir: Path | None = None) -> None:
        loader = FileSystemLoader(str(template_dir or TEMPLATE_DIR))
        # auto_reload=False: templates are read once; Jinja would otherwise stat the file on every render.
        common: dict[str, Any] = dict(loader=loader, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                      auto_reload=False)
        self.slack_env = Environment(autoescape=False, finalize=_slack_finalize, **common)
        self.email_env = Environment(
            autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False), **common
        )
        for env in (self.slack_env, self.email_env):
            env.globals.update(present=present, all_fields=all_fields)
        # Explicit escaping stays available (e.g. for a macro); it returns SlackText, so it never double-escapes.
        self.slack_env.filters["slack_escape"] = slack_escape

    # --- Slack ---------------------------------------------------------------------

    def slack(self, notes: Sequence[Notification], *, mention: str | None = None) -> dict[str, Any]:
        """``{"text": ..., "blocks": [...]}`` for one notification, or a digest of several."""
        if len(notes) == 1:
            n = notes[0]
            names = self._names("slack", n.rule, "json")
            ctx = {"n": view(n), "facts": dict(n.facts), "mention": SlackText(mention) if mention else None}
        else:
            names = ["slack/digest.json.j2"]
            ctx = self._digest_context(notes)
        # strict=False: a template may hold a literal line break inside a JSON string.
        payload = self._render(self.slack_env, names, ctx, lambda text: json.loads(text, strict=False))
        return slack_limits.fit(payload)

    # --- Email ---------------------------------------------------------------------

    def email(self, notes: Sequence[Notification]) -> RenderedEmail:
        if len(notes) == 1:
            n = notes[0]
            ctx: dict[str, Any] = {"n": view(n), "facts": dict(n.facts)}
            html = self._names("email", n.rule, "html")
            text = self._names("email", n.rule, "txt")
            subject = f"[Baton] {n.title}" if n.severity == "info" else f"[Baton] [{n.severity}] {n.title}"
        else:
            ctx = self._digest_context(notes)
            html, text = ["email/digest.html.j2"], ["email/digest.txt.j2"]
            subject = f"[Baton] {len(notes)} notifications"
        # A header value must be one line: a title with a line break would otherwise be refused (or worse).
        subject = " ".join(subject.split())
        return RenderedEmail(
            subject=subject,
            text=self._render(self.email_env, text, ctx, str),
            html=self._render(self.email_env, html, ctx, str),
        )

    # --- shared --------------------------------------------------------------------

    @staticmethod
    def _render(env: Environment, names: list[str], ctx: dict[str, Any], parse: Callable[[str], T]) -> T:
        """Render the first template of ``names`` that exists; if it fails, the last one (the fallback)."""
        template = env.select_template(names)
        try:
            return parse(template.render(ctx))
        except Exception as e:
            if template.name == names[-1]:
                raise RenderError(f"{template.name}: {type(e).__name__}") from e
            # A broken rule template must not cost the message: say so loudly, send the generic one.
            log.exception("template %s failed; rendering %s instead", template.name, names[-1])
        try:
            return parse(env.get_template(names[-1]).render(ctx))
        except Exception as e:
            raise RenderError(f"{names[-1]}: {type(e).__name__}") from e

    @staticmethod
    def _names(channel: str, rule: str, ext: str) -> list[str]:
        own = [f"{channel}/{rule}.{ext}.j2"] if _RULE_ID.match(rule) else []
        return own + [f"{channel}/default.{ext}.j2"]

    @staticmethod
    def _digest_context(notes: Sequence[Notification]) -> dict[str, Any]:
        return {"items": [view(n) for n in notes], "count": len(notes)}
