"""Routing: which destinations hear about a notification.

Routing is data (``settings.routing``): each rule tells teams, each team has
destinations, owners have contacts. ``Routing.channels_for`` turns a rule,
its teams and its facts into the channel strings carried in
``Notification.channels``::

    slack:#sales            a Slack channel (bot token, the team's webhook, or the global webhook)
    slack:@U0123ABC         a Slack DM to an owner (bot token and routing.owner_dm only)
    email:sales@example.com one email recipient
    console                 printed by the worker: a destination kind that is not configured

The same object answers the channels' questions later (which webhook serves
``#sales``? how do I mention owner r-7?) so routing lives in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from baton.settings import DEFAULT_RULE_TEAMS, OwnerContact, RuleRoute, Settings, TeamRoute

CONSOLE = "console"
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class SlackTarget:
    """How to post to one Slack destination: a webhook URL, or chat.postMessage to a channel."""

    webhook_url: str | None = None
    channel: str | None = None  # for chat.postMessage with the bot token


def parse_channel(channel: str) -> tuple[str, str]:
    """``"slack:#sales"`` -> ``("slack", "#sales")``; ``"console"`` -> ``("console", "")``."""
    kind, _, destination = channel.partition(":")
    return kind, destination


class Routing:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = settings.routing

    # --- rules -> teams ----------------------------------------------------------

    def rule(self, rule: str) -> RuleRoute:
        return self.config.rules.get(rule) or RuleRoute()

    def enabled(self, rule: str) -> bool:
        return self.rule(rule).enabled

    def teams_for(self, rule: str, default: str | Sequence[str] = ()) -> tuple[str, ...]:
        """The configured teams of a rule, else ``default`` (the rule code's), else the contract's."""
        configured = self.rule(rule).teams
        if configured is not None:
            return tuple(configured)
        given = (default,) if isinstance(default, str) else tuple(default)
        return given or DEFAULT_RULE_TEAMS.get(rule, ())

    # --- teams -> channels -------------------------------------------------------

    def team(self, team: str) -> TeamRoute:
        return self.config.teams.get(team) or TeamRoute(slack_channel=f"#{team}")

    def slack_configured(self, team: TeamRoute | None = None) -> bool:
        slack = self.settings.slack
        return bool(slack.bot_token or slack.webhook_url or (team is not None and team.slack_webhook_url))

    def email_configured(self) -> bool:
        return bool(self.settings.smtp.host)

    def owner(self, facts: dict[str, Any]) -> OwnerContact | None:
        owner_id = facts.get("owner_id")
        return self.config.owners.get(str(owner_id)) if owner_id is not None else None

    def channels_for(self, rule: str, teams: str | Sequence[str], facts: dict[str, Any]) -> list[str]:
        """Channel strings for one notification; ``[]`` when the rule is switched off.

        A destination whose kind is not configured (no Slack credentials, no SMTP
        host) becomes ``console``, so nothing is silently dropped.
        """
        route = self.rule(rule)
        if not route.enabled:
            return []
        out: list[str] = []
        for name in self.teams_for(rule, teams):
            team = self.team(name)
            if team.slack_channel:
                out.append(f"slack:{team.slack_channel}" if self.slack_configured(team) else CONSOLE)
            for address in team.email:
                out.append(f"email:{address}" if self.email_configured() else CONSOLE)
        owner = self.owner(facts) if route.notify_owner else None
        if owner is not None:
            # In Slack the owner is @-mentioned in the team's message; a DM only on request.
            if owner.slack_user and self.config.owner_dm and self.settings.slack.bot_token:
                out.append(f"slack:@{owner.slack_user}")
            if owner.email:
                out.append(f"email:{owner.email}" if self.email_configured() else CONSOLE)
        return _unique(out) or [CONSOLE]

    __call__ = channels_for  # a Routing is a baton.rules.drafts.Router

    # --- what the channels ask ----------------------------------------------------

    def slack_mention(self, facts: dict[str, Any]) -> str | None:
        """``<@U0123ABC>`` for the owner in the facts, when routing knows their Slack id."""
        owner = self.owner(facts)
        if owner is None or not owner.slack_user or not _SLACK_USER.match(owner.slack_user):
            return None  # an id that is not a Slack user id would be injected markup: skip it
        return f"<@{owner.slack_user}>"

    def slack_target(self, destination: str) -> SlackTarget | None:
        """Where ``slack:<destination>`` posts, or None when Slack cannot reach it."""
        slack = self.settings.slack
        if not destination.startswith("@"):
            for team in self.config.teams.values():
                if team.slack_channel == destination and team.slack_webhook_url:
                    return SlackTarget(webhook_url=team.slack_webhook_url.get_secret_value())
        if slack.bot_token:
            return SlackTarget(channel=destination.lstrip("@") if destination.startswith("@") else destination)
        if slack.webhook_url and not destination.startswith("@"):
            # A webhook posts to the channel it was made for, whatever the team's channel name.
            return SlackTarget(webhook_url=slack.webhook_url.get_secret_value())
        return None


def channels_for(
    rule: str, teams: str | Sequence[str], facts: dict[str, Any], settings: Settings | None = None
) -> list[str]:
    """One-off form of ``Routing(settings).channels_for``; build a ``Routing`` once in a worker."""
    return Routing(settings or Settings()).channels_for(rule, teams, facts)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
