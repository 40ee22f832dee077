"""Settings: the contract's environment variables, the TOML file, secrets masked."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from baton.settings import Settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in list(__import__("os").environ):
        if name.startswith("BATON_") or name == "KAFKA_BOOTSTRAP_SERVERS":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_contract_environment_variables(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("BATON_TOPIC_PREFIX", "acme.")
    monkeypatch.setenv("BATON_SLA_HOT_SECONDS", "60")
    monkeypatch.setenv("BATON_SLA_WARM_SECONDS", "600")
    monkeypatch.setenv("BATON_SLA_COLD_SECONDS", "6000")
    s = Settings()
    assert s.bootstrap_servers == "k1:9092,k2:9092" and s.topic_prefix == "acme."
    assert s.sla_windows == {"hot": 60, "warm": 600, "cold": 6000}


def test_defaults_follow_the_contract():
    s = Settings()
    assert s.topic_prefix == "m2c." and s.sla_windows == {"hot": 300, "warm": 3600, "cold": 86400}


def test_config_file_is_read_and_env_wins(monkeypatch, tmp_path):
    (tmp_path / "baton.toml").write_text('topic_prefix = "file."\nsla_hot_seconds = 120\n[smtp]\nhost = "mail"\n')
    monkeypatch.setenv("BATON_SLA_HOT_SECONDS", "30")
    s = Settings()
    assert s.topic_prefix == "file." and s.smtp.host == "mail" and s.sla_hot_seconds == 30


def test_the_example_config_is_valid(monkeypatch):
    monkeypatch.setenv("BATON_CONFIG", str(REPO / "baton.example.toml"))
    s = Settings()
    assert s.plans[0].period == "2026-Q4" and s.routing.teams["sales"].slack_channel == "#sales"


def test_missing_named_config_file_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("BATON_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        Settings()


def test_bad_prefix_is_refused():
    with pytest.raises(ValueError, match="topic prefix"):
        Settings(topic_prefix="m2c/")


def test_baton_config_masks_secrets(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "BATON_SLACK__BOT_TOKEN": "xoxb-very-secret", "BATON_SMTP__PASSWORD": "hunter2"}
    out = subprocess.run([sys.executable, "-m", "baton", "config"], env=env, cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    assert "xoxb-very-secret" not in out and "hunter2" not in out
    shown = json.loads(out)
    assert shown["slack"]["bot_token"] == "**********"


def test_the_session_timeout_reaches_faust(monkeypatch):
    # A crashed worker's partitions come back after the session timeout: Baton's 10 s, not Faust's 60 s.
    from baton.streams.app import BatonApp

    assert BatonApp(Settings(bootstrap_servers="127.0.0.1:1")).faust.conf.broker_session_timeout == 10.0
    monkeypatch.setenv("BATON_SESSION_TIMEOUT_SECONDS", "30")
    conf = BatonApp(Settings(bootstrap_servers="127.0.0.1:1")).faust.conf
    assert conf.broker_session_timeout == 30.0 and conf.broker_heartbeat_interval == 3.0


def test_the_producer_builds_batches_of_producer_batch_bytes(monkeypatch):
    # One produce request in flight per broker, one batch per partition in each: the batch
    # size bounds how fast output to one partition moves (16 kB, Faust's default, was a bottleneck).
    from baton.streams.app import BatonApp

    async def capacity(settings: Settings) -> int:
        producer = BatonApp(settings).faust.producer._new_producer()  # the client Faust would start
        batch, size, value = producer.create_batch(), 0, b"x" * 2_000
        while batch.append(key=None, value=value, timestamp=None) is not None:
            size += len(value)
        return size

    def batch_capacity(settings: Settings) -> int:
        return asyncio.run(capacity(settings))  # aiokafka builds its client inside a running loop

    assert 250_000 <= batch_capacity(Settings(bootstrap_servers="127.0.0.1:1")) <= 262_144
    monkeypatch.setenv("BATON_PRODUCER_BATCH_BYTES", "16384")
    assert batch_capacity(Settings(bootstrap_servers="127.0.0.1:1")) <= 16_384
