"""The ``baton`` command line.

Each command is a thin shell over one module, imported lazily so that
``baton --help`` and ``baton schema`` start fast.
"""

from __future__ import annotations

import json
from typing import Optional

import typer

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    help="Baton: the market-to-cash notifier. Reads contract events from Kafka, keeps one funnel, tells the right team.",
)


def _settings(**overrides):
    from baton.settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


@app.command()
def schema(
    event_type: Optional[str] = typer.Argument(None, help="One event type, e.g. payment.succeeded; default: all."),
) -> None:
    """Print the JSON Schema of the contract's input events."""
    from baton.streams.schema import event_json_schema

    typer.echo(json.dumps(event_json_schema(event_type), indent=2))


@app.command()
def worker(
    bootstrap_servers: Optional[str] = typer.Option(None, "--bootstrap-servers", "-b", envvar="KAFKA_BOOTSTRAP_SERVERS"),
    web_port: Optional[int] = typer.Option(None, help="Port of the worker's HTTP view."),
) -> None:
    """Run the always-on stream processor against KAFKA_BOOTSTRAP_SERVERS."""
    from baton.runtime import run_worker

    settings = _settings(bootstrap_servers=bootstrap_servers, web_port=web_port)
    if not settings.bootstrap_servers:
        raise typer.BadParameter(
            "no broker: set KAFKA_BOOTSTRAP_SERVERS (or use `baton dev`, which starts a local Kafka)",
            param_hint="--bootstrap-servers",
        )
    run_worker(settings)


@app.command()
def dev(
    rate: float = typer.Option(5.0, help="Demo events per second."),
    count: int = typer.Option(0, help="Demo events to send; 0 means forever."),
) -> None:
    """Everything on one machine: a Kafka (unless KAFKA_BOOTSTRAP_SERVERS is set), the worker and a demo feed."""
    from baton.runtime import run_dev

    run_dev(_settings(), rate=rate, count=count)


@app.command()
def demo(
    rate: float = typer.Option(50.0, help="Events per second (0 = as fast as possible)."),
    count: int = typer.Option(1000, help="Events to send (0 = forever)."),
    seed: Optional[int] = typer.Option(None, help="Random seed for a reproducible stream."),
    accounts: int = typer.Option(200, help="Distinct accounts to spread events over."),
) -> None:
    """Produce a realistic synthetic stream of contract events into the input topics."""
    from baton.demo.producer import BrokerUnreachable, run_demo

    settings = _settings()
    if not settings.bootstrap_servers:
        raise typer.BadParameter("set KAFKA_BOOTSTRAP_SERVERS to the broker to feed")
    try:
        run_demo(settings, rate=rate, count=count, seed=seed, accounts=accounts)
    except BrokerUnreachable as exc:
        typer.echo(f"baton demo: {exc}", err=True)
        raise typer.Exit(1)


@app.command()
def kafka(
    action: str = typer.Argument(..., help="start | stop | status | fetch"),
    port: Optional[int] = typer.Option(None, help="Broker port (default 9092)."),
) -> None:
    """Manage the local Apache Kafka (KRaft, single node) Baton runs when no broker is configured."""
    from baton.kafka_local.cli import kafka_command

    kafka_command(_settings(local_kafka_port=port), action)


@app.command()
def topics() -> None:
    """Create every contract topic Baton needs (idempotent) and list them."""
    from baton.streams.admin import ensure_topics

    settings = _settings()
    if not settings.bootstrap_servers:
        raise typer.BadParameter("set KAFKA_BOOTSTRAP_SERVERS")
    for line in ensure_topics(settings):
        typer.echo(line)


@app.command()
def replay(
    wait: float = typer.Option(0.0, help="Seconds to wait for the live scorecard to catch up before reporting."),
    show: bool = typer.Option(False, help="Also print the replayed scorecard as JSON."),
) -> None:
    """Recompute the scorecard from the input topics and compare it with live m2c.scorecard (exit 1 on any difference)."""
    import asyncio

    from baton.offline.replay import compare

    settings = _settings()
    if not settings.bootstrap_servers:
        raise typer.BadParameter("set KAFKA_BOOTSTRAP_SERVERS")
    result, diff = asyncio.run(compare(settings, wait_seconds=wait))
    typer.echo(f"replayed {result.events} events ({result.rejected} rejected) into {len(result.records)} scopes "
               f"in {result.seconds:.2f}s ({result.events / max(result.seconds, 1e-9):,.0f} events/s)", err=True)
    if show:
        typer.echo(json.dumps(result.records, indent=2, sort_keys=True))
    for line in diff:
        typer.echo(line)
    if diff:
        typer.echo(f"{len(diff)} difference(s) between live m2c.scorecard and the replay", err=True)
        raise typer.Exit(1)
    typer.echo("live m2c.scorecard equals the replay", err=True)


@app.command()
def config() -> None:
    """Print the effective settings (secrets masked)."""
    typer.echo(json.dumps(_settings().public_view(), indent=2, default=str))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
