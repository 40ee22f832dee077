"""Templates: every rule renders valid Slack JSON and multipart email, escaped, within Slack's limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import UndefinedError

from baton.notify import slack_limits
from baton.notify.render import (TEMPLATE_DIR, Renderer, RenderError, _slack_finalize, duration, number, percent, present,
                                 slack_escape)
from baton.settings import DEFAULT_RULE_TEAMS
from baton.streams.records import Cause, Notification

NASTY = '<!channel> <script>alert("x")</script> & Sons \\ "Ltd"\n\tÜñí 🚀'


def note(rule: str = "payment-to-sales", **facts: Any) -> Notification:
    return Notification(
        id=f"{rule}:evt_1", rule=rule, team="sales", severity="info", account_id="acct_1",
        title=f"{facts.get('company', 'Acme')} paid $12,000.00", text=f"Payment pay_1 from {facts.get('company', 'Acme')}.",
        channels=["slack:#sales"], cause=Cause(event_id="evt_1", type="payment.succeeded"),
        created_at="2026-11-22T10:04:00.120Z", facts=facts,
    )


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_slack_escape_touches_only_amp_lt_gt():
    assert slack_escape("""a & b < c > d " ' * _ ~ `""") == """a &amp; b &lt; c &gt; d " ' * _ ~ `"""
    assert slack_escape(slack_escape("&")) == "&amp;"  # marked as escaped: never twice


@pytest.mark.parametrize("rule", sorted(DEFAULT_RULE_TEAMS))
def test_every_rule_has_its_templates_and_renders_escaped(rule: str, renderer: Renderer):
    for path in (f"slack/{rule}.json.j2", f"email/{rule}.html.j2", f"email/{rule}.txt.j2"):
        assert (TEMPLATE_DIR / path).is_file(), path
    facts = {"company": NASTY, "money": "$1.00", "owner_id": "r-<7>", "deal_id": "d&1", "lead_id": "l-1",
             "deadline": "2026-11-22T10:09:00Z", "figure": "win rate", "actual": "10%", "assumed": "25%"}
    n = note(rule, **facts)
    payload = renderer.slack([n])
    texts = list(strings(payload))
    assert texts and all("<!channel>" not in t and "<script>" not in t for t in texts)
    assert any("&lt;!channel&gt; &lt;script&gt;" in t for t in texts)
    assert any("Sons \\ \"Ltd\"\n\tÜñí 🚀" in t for t in texts)  # JSON-encoded and back, intact
    # Each rule's templates, Slack and both email parts, agree on the rule's own wording.
    email = renderer.email([n])
    step = [t for t in texts if t.startswith(":point_right: ")]
    assert step, "every rule has a default next step"
    assert step[0].removeprefix(":point_right: ") in email.text
    assert "&lt;!channel&gt; &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Sons" in email.html
    assert "<script>" not in email.html
    assert NASTY in email.text  # the plain-text part is not HTML: nothing to escape


def test_mention_is_kept_as_markup(renderer: Renderer):
    payload = renderer.slack([note(company="Acme")], mention="<@U07ABC>")
    assert payload["blocks"][1]["text"]["text"].endswith("\n<@U07ABC>")


def test_rule_without_templates_uses_the_generic_fallback(renderer: Renderer):
    n = note("brand-new-rule", company="Acme & Co", churn_score=0.93)
    fields = renderer.slack([n])["blocks"][2]["fields"]
    assert {"type": "mrkdwn", "text": "*Churn score*\n0.93"} in fields
    assert {"type": "mrkdwn", "text": "*Company*\nAcme &amp; Co"} in fields
    email = renderer.email([n])
    assert "Churn score: 0.93" in email.text and "Acme &amp; Co" in email.html
    # A rule id is never a path.
    assert renderer._names("slack", "../../etc/passwd", "json") == ["slack/default.json.j2"]


def test_missing_facts_are_left_out_not_printed_as_none(renderer: Renderer):
    payload = renderer.slack([note(company="Acme", deal_id=None, invoice_id="")])
    labels = [f["text"].split("\n")[0] for f in payload["blocks"][2]["fields"]]
    assert labels == ["*Company*"]
    assert "None" not in json.dumps(payload)


def test_strict_undefined_fails_a_typo(tmp_path: Path):
    (tmp_path / "slack").mkdir()
    (tmp_path / "slack" / "default.json.j2").write_text('{"text": "{{ n.titel }}", "blocks": []}')
    with pytest.raises(RenderError) as failed:
        Renderer(tmp_path).slack([note()])
    assert isinstance(failed.value.__cause__, UndefinedError)


def test_a_broken_rule_template_falls_back_to_the_generic_one(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    (tmp_path / "slack").mkdir()
    (tmp_path / "slack" / "default.json.j2").write_text('{"text": "{{ n.title }}", "blocks": []}')
    (tmp_path / "slack" / "payment-to-sales.json.j2").write_text('{"text": "{{ facts.no_such_fact }}", "blocks": []}')
    assert Renderer(tmp_path).slack([note()]) == {"text": "Acme paid $12,000.00", "blocks": []}
    assert "slack/payment-to-sales.json.j2 failed" in caplog.text


def test_formats_for_durations_and_rates():
    assert (duration(42), duration(310), duration(7260), duration(90000)) == ("42s", "5m 10s", "2h 1m", "1d 1h")
    assert (percent(0.183), percent(0.25), number(3.0), number(2.5)) == ("18.3%", "25%", "3", "2.5")
    facts = {"late_by_seconds": 310, "win_rate_actual": 0.1, "odd": "n/a"}
    spec = [("Late", "late_by_seconds", "duration"), ("Win", "win_rate_actual", "percent"), ("Odd", "odd", "percent")]
    assert present(facts, spec) == [("Late", "5m 10s"), ("Win", "10%"), ("Odd", "n/a")]


def test_email_subject_is_one_line_and_flags_severity(renderer: Renderer):
    n = note(company="Acme").model_copy(update={"title": "Acme\r\nBcc: victim@example.com", "severity": "critical"})
    assert renderer.email([n]).subject == "[Baton] [critical] Acme Bcc: victim@example.com"


def test_digest_lists_every_notification(renderer: Renderer):
    notes = [note(company=f"Co {i} <x>").model_copy(update={"id": f"payment-to-sales:evt_{i}"}) for i in range(3)]
    payload = renderer.slack(notes)
    assert payload["text"] == "3 notifications from Baton"
    body = payload["blocks"][1]["text"]["text"]
    assert body.count("paid $12,000.00") == 3 and "Co 2 &lt;x&gt;" in body
    email = renderer.email(notes)
    assert email.subject == "[Baton] 3 notifications"
    assert all(f"payment-to-sales:evt_{i}" in email.text for i in range(3))


# --- Slack's limits -----------------------------------------------------------------------


def test_long_text_is_split_into_sections_with_markers(renderer: Renderer):
    long_text = " ".join(f"word{i} &" for i in range(2000))  # ~16k characters after escaping
    n = note(company="Acme").model_copy(update={"text": long_text})
    payload = renderer.slack([n])
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and "text" in b]
    body = [s for s in sections if "word" in s]
    assert len(body) >= 5
    assert all(len(s) <= 3000 for s in sections)
    assert all(s.endswith(slack_limits.CONTINUED) for s in body[:-1])
    assert all(s.startswith(slack_limits.RESUMED) for s in body[1:])
    # Nothing lost, no entity cut in half.
    joined = " ".join(s.removeprefix(slack_limits.RESUMED).removesuffix(slack_limits.CONTINUED) for s in body)
    assert joined.split() == long_text.replace("&", "&amp;").split()
    assert len(payload["text"]) <= 3000


def test_over_fifty_blocks_are_truncated_visibly():
    payload = {"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"b{i}"}} for i in range(70)]}
    out = slack_limits.fit(payload)
    assert len(out["blocks"]) == 50
    assert out["blocks"][-1]["type"] == "context"
    assert "21 more blocks" in out["blocks"][-1]["elements"][0]["text"]


def test_fields_are_chunked_and_truncated():
    fields = [{"type": "mrkdwn", "text": ("f%d " % i) * 700} for i in range(12)]
    out = slack_limits.fit({"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "t"}, "fields": fields}]})
    assert [len(b.get("fields", [])) for b in out["blocks"]] == [10, 2]
    assert all(len(f["text"]) <= 2000 and f["text"].endswith(slack_limits.TRUNCATED) for b in out["blocks"] for f in b["fields"])


def test_split_never_cuts_a_mention_or_an_entity():
    text = "a" * 2990 + " <@U07ABC> &amp; tail"
    pieces = slack_limits.split_text(text, 3000)
    assert all(len(p) <= 3000 for p in pieces)
    assert any("<@U07ABC>" in p for p in pieces) and any("&amp;" in p for p in pieces)


def test_huge_digest_stays_within_limits(renderer: Renderer):
    notes = [note(company="C" * 400).model_copy(update={"id": f"r:e{i}", "text": "y " * 1500}) for i in range(60)]
    payload = renderer.slack(notes)
    assert len(payload["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in payload["blocks"] if "text" in b)
    assert "more blocks did not fit" in payload["blocks"][-1]["elements"][0]["text"]


def test_issue_5_rules_show_their_facts_formatted(renderer: Renderer):
    # The fact keys baton/rules/timer_rules.py and baton/plan/rep_tracker.py produce.
    breach = note("lead-sla-breach", company="Acme", lead_id="l-1", temperature="hot", owner_id="r-7",
                  deadline="2026-11-22T10:09:00Z", late_by_seconds=310, window_seconds=300)
    fields = [f["text"] for f in renderer.slack([breach])["blocks"][2]["fields"]]
    assert "*Late by*\n5m 10s" in fields and "*Follow-up window*\n5m" in fields
    rep = note("rep-not-converting", rep_id="r-7", owner_id="r-7", plan="2026-Q4", period="2026-Q4", leads_actual=12.0,
               win_rate_actual=0.1, win_rate_expected=0.25, rule_state="on")
    text = renderer.email([rep]).text
    assert "Leads received: 12" in text and "Win rate: 10%" in text and "Win rate assumed: 25%" in text


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=())))  # surrogates (Cs) included
def test_slack_output_is_json_encoded_exactly_as_the_standard_library_would(text):
    # _slack_finalize uses orjson for speed; what it writes must equal json.dumps' output,
    # lone surrogates included (orjson refuses those; the fallback writes them as \udXXX).
    expected = json.dumps(slack_escape(text), ensure_ascii=False)[1:-1]
    assert _slack_finalize(text) == expected
    assert json.loads(f'"{_slack_finalize(text)}"') == str(slack_escape(text))
