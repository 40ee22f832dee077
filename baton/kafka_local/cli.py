"""``baton kafka fetch|start|stop|status``: the local broker from a shell."""

from __future__ import annotations

import typer

from baton.kafka_local.broker import KAFKA_VERSION, LocalKafka, LocalKafkaError
from baton.settings import Settings

ACTIONS = ("fetch", "start", "stop", "status")


def kafka_command(settings: Settings, action: str) -> None:
    if action not in ACTIONS:
        raise typer.BadParameter(f"unknown action {action!r}; use one of: {', '.join(ACTIONS)}", param_hint="ACTION")
    kafka = LocalKafka(base_dir=settings.local_kafka_dir, port=settings.local_kafka_port)
    try:
        {"fetch": _fetch, "start": _start, "stop": _stop, "status": _status}[action](kafka)
    except LocalKafkaError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None


def _say_if_fetching(kafka: LocalKafka) -> None:
    # The first fetch takes a while: say why nothing seems to happen.
    if not kafka.libs_dir.is_dir():
        typer.echo(f"Fetching Apache Kafka {KAFKA_VERSION} with Maven into {kafka.libs_dir} ...")


def _fetch(kafka: LocalKafka) -> None:
    _say_if_fetching(kafka)
    typer.echo(f"Apache Kafka {KAFKA_VERSION} jars: {kafka.ensure_jars()}")


def _start(kafka: LocalKafka) -> None:
    if kafka.is_running:
        typer.echo(f"already running: {kafka.bootstrap} (pid {kafka.pid})")
        return
    _say_if_fetching(kafka)
    kafka.start(detach=True)  # outlives this command; `baton kafka stop` ends it
    typer.echo(f"started: {kafka.bootstrap} (pid {kafka.pid})")
    typer.echo(f"  data: {kafka.data_dir}\n  log:  {kafka.server_log}")
    typer.echo(f"  use:  export KAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap}")


def _stop(kafka: LocalKafka) -> None:
    pid = kafka.pid
    if pid is None:
        typer.echo(f"not running (no broker for {kafka.data_dir})")
        return
    kafka.stop()
    typer.echo(f"stopped pid {pid}")


def _status(kafka: LocalKafka) -> None:
    if kafka.is_running:
        typer.echo(f"running: {kafka.bootstrap} (pid {kafka.pid})\n  data: {kafka.data_dir}\n  log:  {kafka.server_log}")
    else:
        typer.echo(f"not running (data dir {kafka.data_dir})")
        raise typer.Exit(3)  # like `systemctl status`: scripts can test it
