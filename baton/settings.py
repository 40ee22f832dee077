"""Every setting Baton reads, in one pydantic-settings object.

Sources, highest priority first: keyword arguments, environment variables
(``BATON_*``; ``KAFKA_BOOTSTRAP_SERVERS`` for the broker), the TOML file named
by ``BATON_CONFIG`` (default ``baton.toml`` in the working directory, if it
exists), then the defaults below. Nested sections use ``__`` in env names,
e.g. ``BATON_SLACK__WEBHOOK_URL``. ``docs/configuration.md`` lists them all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from baton.plan.config import Plans

DEFAULT_CONFIG_FILE = "baton.toml"


def config_file_path() -> Path:
    return Path(os.environ.get("BATON_CONFIG", DEFAULT_CONFIG_FILE))


class SlackSettings(BaseModel):
    """Slack destination. A webhook URL, or a bot token for chat.postMessage."""

    webhook_url: SecretStr | None = None
    bot_token: SecretStr | None = None
    # Where chat.postMessage is sent; tests point it at a local Slack-contract server.
    api_url: str = "https://slack.com/api/"


class SmtpSettings(BaseModel):
    host: str | None = None
    port: int = 587
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    use_tls: bool = False
    sender: str = "baton@localhost"
    timeout_seconds: float = 10.0
    # A private CA to trust (self-signed relays, tests); certificates are always checked unless validate_certs=false.
    ca_file: Path | None = None
    validate_certs: bool = True


# --- Notification routing and delivery (docs/notifications.md) -------------

# The contract's rules (and issue 5's) with the teams they tell by default.
DEFAULT_RULE_TEAMS: dict[str, tuple[str, ...]] = {
    "payment-to-sales": ("sales",),
    "signup-to-finance": ("finance",),
    "hot-lead-to-sales": ("sales",),
    "lead-sla-breach": ("sales-management",),
    "deal-won-to-finance": ("finance",),
    "deal-won-to-marketing": ("marketing",),
    "payment-failed": ("sales", "support"),
    "payment-refunded": ("finance", "sales"),
    "revenue-at-risk": ("sales", "marketing", "leadership"),
    "rep-starved": ("marketing",),
    "rep-not-converting": ("sales-management",),
    "payment-missing": ("finance",),
}
DEFAULT_TEAMS: tuple[str, ...] = ("sales", "finance", "marketing", "support", "sales-management", "leadership")


def _route_id(key: str) -> str:
    # Env names cannot hold '-' and arrive lower-cased: BATON_ROUTING__RULES__PAYMENT_FAILED__ENABLED.
    return key.strip().lower().replace("_", "-")


def _merge_by_field(defaults: dict[str, dict[str, Any]], given: Any) -> dict[str, Any]:
    """Overlay configured entries on the defaults field by field, so a partial entry keeps the rest."""
    merged: dict[str, Any] = {k: dict(v) for k, v in defaults.items()}
    for key, value in (given or {}).items():
        if isinstance(value, BaseModel):
            value = value.model_dump(exclude_unset=True)
        rid = _route_id(key)
        merged[rid] = {**merged.get(rid, {}), **dict(value)}
    return merged


class RuleRoute(BaseModel):
    enabled: bool = True
    teams: list[str] | None = Field(None, description="Teams told; unset means the rule's default teams.")
    notify_owner: bool = Field(True, description="Also address the deal/lead owner (facts.owner_id) when known.")

    @field_validator("teams")
    @classmethod
    def _team_ids(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [_route_id(t) for t in v]


class TeamRoute(BaseModel):
    slack_channel: str | None = Field(None, description='"#sales" or a channel id; empty turns Slack off for the team.')
    slack_webhook_url: SecretStr | None = Field(None, description="This team's own incoming webhook.")
    email: list[str] = Field(default_factory=list)


class OwnerContact(BaseModel):
    slack_user: str | None = Field(None, description="Slack user id (U0123ABC), mentioned in the team's message.")
    email: str | None = None


class RoutingSettings(BaseModel):
    rules: dict[str, RuleRoute] = Field(default_factory=dict, validate_default=True)
    teams: dict[str, TeamRoute] = Field(default_factory=dict, validate_default=True)
    owners: dict[str, OwnerContact] = Field(default_factory=dict, description="owner_id -> how to reach them")
    owner_dm: bool = Field(False, description="Also DM the owner on Slack (needs slack.bot_token).")

    @field_validator("rules", mode="before")
    @classmethod
    def _rules_over_defaults(cls, v: Any) -> dict[str, Any]:
        # A rep's diagnosis is for marketing and managers to act on, not a message to the rep.
        quiet = {"rep-starved", "rep-not-converting"}
        return _merge_by_field({r: {"notify_owner": False} if r in quiet else {} for r in DEFAULT_RULE_TEAMS}, v)

    @field_validator("teams", mode="before")
    @classmethod
    def _teams_over_defaults(cls, v: Any) -> dict[str, Any]:
        return _merge_by_field({t: {"slack_channel": f"#{t}"} for t in DEFAULT_TEAMS}, v)


class RetrySettings(BaseModel):
    max_attempts: int = Field(10, ge=1, description="Attempts per message before it is recorded failed.")
    permanent_max_attempts: int = Field(2, ge=1, description="Attempts when the error is permanent (404, 410, SMTP 5xx).")
    initial_backoff_seconds: float = Field(1.0, gt=0)
    max_backoff_seconds: float = Field(300.0, gt=0)
    multiplier: float = Field(2.0, ge=1)
    jitter: float = Field(0.5, ge=0, le=1, description="Share of each backoff drawn at random.")
    max_retry_after_seconds: float = Field(900.0, gt=0, description="Cap on a server's Retry-After.")


class RateLimits(BaseModel):
    """Messages per second per destination (one Slack channel, one email address); 0 = unlimited."""

    slack: float = Field(1.0, ge=0)
    email: float = Field(5.0, ge=0)
    console: float = Field(0.0, ge=0)


class DeliverySettings(BaseModel):
    queue_size: int = Field(1000, ge=1, description="Notifications in flight before submit() waits (backpressure).")
    retry: RetrySettings = RetrySettings()
    rate_limits: RateLimits = RateLimits()
    digest_threshold: int = Field(5, ge=1, description="More messages than this waiting for one destination: send one digest.")
    digest_max: int = Field(50, ge=2, description="Most notifications merged into one digest.")
    request_timeout_seconds: float = Field(10.0, gt=0)
    drain_timeout_seconds: float = Field(30.0, ge=0, description="How long stop() waits for queued messages.")
    hand_over: bool = Field(
        True,
        description="A worker starts delivering the notifications it writes as it sends them to Kafka, "
                    "instead of after reading them back from m2c.notifications (baton/notify/handover.py): the same "
                    "guarantees, a shorter way to Slack and email. Only for its own partitions, and only while the queue has room.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BATON_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    # --- Kafka -------------------------------------------------------------
    bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "BATON_BOOTSTRAP_SERVERS", "bootstrap_servers"),
        description="host:port[,host:port]; unset means: start the local Apache Kafka.",
    )
    topic_prefix: str = "m2c."
    partitions: int = Field(4, ge=1, description="Partition count of the topics Baton creates.")
    replication_factor: int = Field(1, ge=1)
    app_id: str = Field("baton", description="Faust application id = consumer group.")

    # --- Worker ------------------------------------------------------------
    data_dir: Path = Path(".baton")
    store: str = Field("memory://", description="Faust table store: memory:// or rocksdb://")
    flush_interval_seconds: float = Field(1.0, gt=0, description="Coalescing window of m2c.funnel/m2c.scorecard output.")
    eager_drain: bool = Field(
        True,
        description="Faust's consumer hands each fetched record to the streams with its first step run at once "
                    "instead of in four tasks (baton/streams/eager_drain.py): records reach the intake sooner and "
                    "the worker handles ~1.5x the events per second (bench.throughput, 200,000 events). Only installed "
                    "over faust-streaming 0.15.3's own code. Off, Faust's own drain runs.")
    intake_feed: bool = Field(
        True,
        description="The intake takes its records from Faust's conductor a fetch at a time "
                    "(baton/streams/intake_feed.py) instead of as a Faust agent's stream: Faust's consumer, "
                    "tables, offsets and rebalances as before, without the stream's per-record machinery. "
                    "false: a Faust agent with stream.take_events.")
    intake_batch_seconds: float = Field(
        0.025, ge=0, le=1.0,
        description="How long an idle intake waits, after a record arrives, for more to handle in the same batch "
                    "(up to 500; 0: at once). Under load a batch is what arrived while the previous one was "
                    "handled. Each batch has a fixed cost (its output records, a produce request), so a longer "
                    "window spends less CPU per event at a low rate, at the price of up to this much added "
                    "latency (docs/benchmarks-latency-scale.md).")
    web_enabled: bool = True
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    log_level: str = "info"
    account_cache_size: int = Field(
        20_000, ge=0,
        description="Accounts kept decoded in memory in front of the accounts table (0: none). "
                    "Each costs a few kB; a hit saves parsing and folding the whole history.")
    producer_batch_bytes: int = Field(
        262_144, ge=16_384, le=1_000_000,
        description="Largest record batch the producer builds per topic partition (Faust's default: 16384). "
                    "The Kafka client has one produce request in flight per broker and takes one batch per "
                    "partition into each, so a worker's output to one partition moves at one batch per round "
                    "trip: at 16 kB an intake batch's account changelog took dozens of round trips, and the "
                    "delivery ledger's marks waited behind them (docs/benchmarks.md). Keep it under the "
                    "broker's message.max.bytes (1 MB by default).")
    session_timeout_seconds: float = Field(
        10.0, ge=6, le=300,
        description="Consumer group session timeout. A worker that crashed is replaced (its partitions "
                    "handed on, or back to it when it restarts) after this long; Faust's own default is 60 s. "
                    "Raise it if the log shows heartbeats failing while a large state recovers.")

    # --- Lead follow-up windows (contract) ----------------------------------
    sla_hot_seconds: int = Field(300, gt=0)
    sla_warm_seconds: int = Field(3600, gt=0)
    sla_cold_seconds: int = Field(86400, gt=0)
    # A won deal with no payment.succeeded after this many days tells finance and the owner.
    payment_missing_days: float = Field(14.0, gt=0)
    # How often due timers (SLA windows, missing payments) are checked.
    timer_tick_seconds: float = Field(1.0, gt=0)
    # How often configured plans are judged (pace falls with time, not only with events).
    plan_check_seconds: float = Field(30.0, gt=0)

    # --- Revenue plans: pacing, revenue-at-risk, rep diagnosis (docs/plan.md) ---
    plans: Plans = Field(default_factory=list, description="One [[plans]] table per period.")

    # --- Notification channels ---------------------------------------------
    slack: SlackSettings = SlackSettings()
    smtp: SmtpSettings = SmtpSettings()
    routing: RoutingSettings = RoutingSettings()
    delivery: DeliverySettings = DeliverySettings()

    # --- Local broker (used only when bootstrap_servers is unset) -----------
    local_kafka_port: int = 9092
    local_kafka_dir: Path | None = Field(
        default=None, description="Cache of the broker's jars and data; default ~/.cache/baton/kafka"
    )

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z0-9._-]*", v):
            raise ValueError("topic prefix may contain only letters, digits, '.', '_' and '-'")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file_path()
        if path.exists():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        elif "BATON_CONFIG" in os.environ:
            raise FileNotFoundError(f"BATON_CONFIG names {path}, which does not exist")
        return tuple(sources)

    @property
    def sla_windows(self) -> dict[str, int]:
        """Follow-up window per lead temperature, in seconds."""
        return {"hot": self.sla_hot_seconds, "warm": self.sla_warm_seconds, "cold": self.sla_cold_seconds}

    def sla_seconds(self, temperature: str) -> int:
        return self.sla_windows[temperature]

    def public_view(self) -> dict[str, Any]:
        """Settings as JSON for `baton config`: secrets masked by SecretStr."""
        return self.model_dump(mode="json")
