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
    web_enabled: bool = True
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    log_level: str = "info"

    # --- Lead follow-up windows (contract) ----------------------------------
    sla_hot_seconds: int = Field(300, gt=0)
    sla_warm_seconds: int = Field(3600, gt=0)
    sla_cold_seconds: int = Field(86400, gt=0)
    # A won deal with no payment.succeeded after this many days tells finance and the owner.
    payment_missing_days: float = Field(14.0, gt=0)
    # How often due timers (SLA windows, missing payments) are checked.
    timer_tick_seconds: float = Field(1.0, gt=0)

    # --- Notification channels ---------------------------------------------
    slack: SlackSettings = SlackSettings()
    smtp: SmtpSettings = SmtpSettings()

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

    def sla_seconds(self, temperature: str) -> int:
        return {"hot": self.sla_hot_seconds, "warm": self.sla_warm_seconds, "cold": self.sla_cold_seconds}[temperature]

    def public_view(self) -> dict[str, Any]:
        """Settings as JSON for `baton config`: secrets masked by SecretStr."""
        return self.model_dump(mode="json")
