"""Routing: rules -> teams -> channel strings, from settings (file, env, defaults)."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.notify.routing import Routing, SlackTarget, channels_for, parse_channel
from baton.rules.drafts import Draft, to_notification
from baton.settings import DEFAULT_RULE_TEAMS, Settings

CONTRACT_RULES = [
    "payment-to-sales", "signup-to-finance", "hot-lead-to-sales", "lead-sla-breach", "deal-won-to-finance",
    "deal-won-to-marketing", "payment-failed", "payment-refunded", "revenue-at-risk",
]


def settings(**kw) -> Settings:
    return Settings(**kw)


BOT = {"bot_token": "xoxb-1"}


def test_every_contract_rule_and_issue_5_rule_has_a_default_route():
    assert set(CONTRACT_RULES) | {"rep-starved", "rep-not-converting", "payment-missing"} == set(DEFAULT_RULE_TEAMS)
    routing = Routing(settings(slack=BOT))
    for rule in DEFAULT_RULE_TEAMS:
        assert routing.enabled(rule)
        assert routing.channels_for(rule, (), {}), rule


def test_contract_teams_by_default():
    r = Routing(settings(slack=BOT))
    assert r.channels_for("payment-to-sales", ("sales",), {}) == ["slack:#sales"]
    assert r.channels_for("signup-to-finance", ("finance",), {}) == ["slack:#finance"]
    assert r.channels_for("lead-sla-breach", (), {}) == ["slack:#sales-management"]
    assert r.channels_for("payment-failed", ("sales", "support"), {}) == ["slack:#sales", "slack:#support"]
    assert r.channels_for("payment-refunded", (), {}) == ["slack:#finance", "slack:#sales"]
    assert r.channels_for("revenue-at-risk", (), {}) == ["slack:#sales", "slack:#marketing", "slack:#leadership"]


def test_unconfigured_kinds_print_to_the_console_once():
    r = Routing(settings(routing={"teams": {"sales": {"email": ["sales@example.com"]}}}))
    # No Slack credentials and no SMTP host: both destinations of the team fall back to the console.
    assert r.channels_for("payment-to-sales", ("sales",), {}) == ["console"]
    r = Routing(settings(slack=BOT, routing={"teams": {"sales": {"email": ["sales@example.com"]}}}))
    assert r.channels_for("payment-to-sales", ("sales",), {}) == ["slack:#sales", "console"]
    r = Routing(settings(slack=BOT, smtp={"host": "127.0.0.1"}, routing={"teams": {"sales": {"email": ["sales@example.com"]}}}))
    assert r.channels_for("payment-to-sales", ("sales",), {}) == ["slack:#sales", "email:sales@example.com"]


def test_a_team_without_any_destination_still_prints():
    r = Routing(settings(slack=BOT, routing={"teams": {"support": {"slack_channel": ""}}}))
    assert r.channels_for("payment-failed", ("support",), {}) == ["console"]


def test_disabled_rule_routes_nowhere():
    r = Routing(settings(slack=BOT, routing={"rules": {"payment-failed": {"enabled": False}}}))
    assert not r.enabled("payment-failed")
    assert r.channels_for("payment-failed", ("sales", "support"), {}) == []
    assert r.enabled("payment-refunded")


def test_configured_teams_override_the_rule_code():
    r = Routing(settings(slack=BOT, routing={"rules": {"payment-refunded": {"teams": ["finance"]}}}))
    assert r.teams_for("payment-refunded", ("finance", "sales")) == ("finance",)
    assert r.channels_for("payment-refunded", ("finance", "sales"), {}) == ["slack:#finance"]
    # Unconfigured: the teams the rule code passes.
    assert r.teams_for("payment-failed", ("support",)) == ("support",)
    assert r.teams_for("some-new-rule", "leadership") == ("leadership",)


def test_owner_is_addressed_when_known():
    cfg = {
        "slack": BOT,
        "smtp": {"host": "127.0.0.1"},
        "routing": {"owners": {"r-7": {"slack_user": "U07ABC", "email": "r7@example.com"}}},
    }
    r = Routing(settings(**cfg))
    assert r.channels_for("payment-to-sales", ("sales",), {"owner_id": "r-7"}) == ["slack:#sales", "email:r7@example.com"]
    assert r.slack_mention({"owner_id": "r-7"}) == "<@U07ABC>"
    # Unknown owner: nothing extra, no mention.
    assert r.channels_for("payment-to-sales", ("sales",), {"owner_id": "r-8"}) == ["slack:#sales"]
    assert r.slack_mention({"owner_id": "r-8"}) is None
    # A DM only on request.
    cfg["routing"]["owner_dm"] = True
    assert "slack:@U07ABC" in Routing(settings(**cfg)).channels_for("payment-to-sales", ("sales",), {"owner_id": "r-7"})
    # notify_owner off for a rule.
    cfg["routing"]["rules"] = {"payment-to-sales": {"notify_owner": False}}
    assert Routing(settings(**cfg)).channels_for("payment-to-sales", ("sales",), {"owner_id": "r-7"}) == ["slack:#sales"]


def test_a_configured_owner_id_that_is_not_a_slack_user_id_is_never_injected():
    r = Routing(settings(slack=BOT, routing={"owners": {"r-1": {"slack_user": "<!channel>"}}}))
    assert r.slack_mention({"owner_id": "r-1"}) is None


def test_slack_targets():
    hook = "https://hooks.slack.com/services/T/B/sales-secret"
    r = Routing(settings(slack={"webhook_url": "https://hooks.slack.com/services/T/B/global"},
                         routing={"teams": {"sales": {"slack_webhook_url": hook}}}))
    assert r.slack_target("#sales") == SlackTarget(webhook_url=hook)
    assert r.slack_target("#finance") == SlackTarget(webhook_url="https://hooks.slack.com/services/T/B/global")
    assert r.slack_target("@U07") is None  # a webhook cannot DM
    r = Routing(settings(slack=BOT))
    assert r.slack_target("#finance") == SlackTarget(channel="#finance")
    assert r.slack_target("@U07") == SlackTarget(channel="U07")
    assert Routing(settings()).slack_target("#sales") is None


def test_parse_channel():
    assert parse_channel("slack:#sales") == ("slack", "#sales")
    assert parse_channel("email:a@b.example") == ("email", "a@b.example")
    assert parse_channel("console") == ("console", "")


def test_routing_is_a_drafts_router():
    r = Routing(settings(slack=BOT))
    draft = Draft("payment-failed", ("sales", "support"), "warning", "t", "x", "evt_1", "payment.failed", "acct_1", {})
    assert to_notification(draft, r).channels == ["slack:#sales", "slack:#support"]
    assert channels_for("payment-failed", ("sales",), {}, settings(slack=BOT)) == ["slack:#sales"]


def test_loaded_from_the_toml_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = tmp_path / "baton.toml"
    config.write_text(
        """
[slack]
bot_token = "xoxb-from-file"

[smtp]
host = "smtp.example.com"

[routing.rules.payment-failed]
enabled = false

[routing.rules.payment-refunded]
teams = ["finance"]

[routing.teams.sales]
email = ["sales@example.com"]

[routing.teams.finance]
slack_channel = "#billing"

[routing.owners.r-7]
email = "r7@example.com"

[delivery]
digest_threshold = 7

[delivery.retry]
max_attempts = 4
"""
    )
    monkeypatch.setenv("BATON_CONFIG", str(config))
    # Env wins over the file; '_' in env keys stands for '-' in rule and team ids.
    monkeypatch.setenv("BATON_ROUTING__RULES__DEAL_WON_TO_MARKETING__ENABLED", "false")
    monkeypatch.setenv("BATON_ROUTING__TEAMS__SALES__SLACK_CHANNEL", "#deals")
    monkeypatch.setenv("BATON_DELIVERY__RATE_LIMITS__SLACK", "0.5")
    s = Settings()
    r = Routing(s)
    assert not r.enabled("payment-failed") and not r.enabled("deal-won-to-marketing")
    assert r.channels_for("payment-refunded", ("finance", "sales"), {}) == ["slack:#billing"]
    assert r.channels_for("payment-to-sales", ("sales",), {"owner_id": "r-7"}) == [
        "slack:#deals", "email:sales@example.com", "email:r7@example.com",
    ]
    # Untouched defaults survive a partial section.
    assert r.channels_for("revenue-at-risk", (), {}) == [
        "slack:#deals", "email:sales@example.com", "slack:#marketing", "slack:#leadership",
    ]
    assert s.delivery.digest_threshold == 7 and s.delivery.retry.max_attempts == 4
    assert s.delivery.rate_limits.slack == 0.5 and s.delivery.rate_limits.email == 5.0
    assert "xoxb-from-file" not in str(s.public_view())
