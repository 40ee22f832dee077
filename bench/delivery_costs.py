"""What one Slack delivery costs the worker's CPU, without Kafka or Faust.

    python -m bench.delivery_costs --messages 3000

Delivers N payment notifications over 3 Slack channels (Web API,
``chat.postMessage``) through Baton's ``Dispatcher`` and ``SlackChannel`` to
the Slack-contract server (``tests/slack_server.py``) running in a process
of its own, with an in-memory ledger and no rate limit or digest: the
delivery path of ``baton worker`` minus the Kafka parts. Same-run baseline:
the same number of plain aiohttp POSTs of a pre-rendered body to the same
server, 3 at a time. Prints CPU µs per message (``time.process_time``) of
both, their ratio, and the functions that cost most (cProfile, ``--profile``).

At 1,000 events/s the latency bench's mix makes ~160 Slack messages/s, so
every 100 µs per message is ~1.6 % of the worker's one core.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import sys
import time

from bench.common import emit, log, machine, parser, ratio
from bench.latency import Child, slack_server_child

CHANNELS = ["#sales", "#finance", "#sales-management"]


def notifications(n: int):
    from baton.streams.records import Cause, Notification

    return [Notification(
        id=f"payment-to-sales:evt_{i}", rule="payment-to-sales", team="sales", severity="info",
        account_id=f"acct_{i % 977}", title=f"Acme {i} paid $1,{i % 1000:03d}.00",
        text=f"Payment pay_{i} from Acme {i}.", channels=[f"slack:{CHANNELS[i % 3]}"],
        cause=Cause(event_id=f"evt_{i}", type="payment.succeeded"), created_at="2026-11-22T10:04:00.120Z",
        facts={"company": f"Acme {i}", "payment_id": f"pay_{i}", "amount": 1000 + i % 1000, "currency": "USD"},
    ) for i in range(n)]


async def through_baton(token: str, api_url: str, n: int, profile: cProfile.Profile | None) -> dict:
    from baton.notify import Dispatcher, InMemoryLedger, build_channels
    from baton.settings import Settings

    settings = Settings(slack={"bot_token": token, "api_url": api_url},
                        delivery={"rate_limits": {"slack": 0}, "digest_threshold": 100_000, "queue_size": 100_000})
    reports = 0

    async def on_delivery(_record) -> None:
        nonlocal reports
        reports += 1

    dispatcher = Dispatcher(build_channels(settings), ledger=InMemoryLedger(), on_delivery=on_delivery,
                            settings=settings.delivery)
    notes = notifications(n)
    await dispatcher.deliver(notes[0])  # warm up: the session, the templates
    cpu, wall = time.process_time(), time.perf_counter()
    if profile:
        profile.enable()
    futures = [await dispatcher.submit(note) for note in notes[1:]]
    results = await asyncio.gather(*futures)
    if profile:
        profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await dispatcher.stop()
    delivered = sum(1 for r in results if set(r.values()) == {"delivered"})
    return {"messages": len(notes) - 1, "delivered": delivered, "cpu_us_per_message": round(cpu / (n - 1) * 1e6, 1),
            "messages_per_s": round((n - 1) / wall, 1), "reports": reports}


async def raw_aiohttp(token: str, api_url: str, n: int) -> dict:
    import aiohttp
    import orjson

    body = orjson.dumps({"channel": "#sales", "text": "Acme paid $1,000.00", "blocks": []})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"}
    url = api_url.rstrip("/") + "/chat.postMessage"
    async with aiohttp.ClientSession() as session:
        async def post() -> bool:
            async with session.post(url, data=body, headers=headers) as resp:
                return (await resp.json())["ok"]

        await post()
        cpu, wall = time.process_time(), time.perf_counter()
        ok = 0
        for _ in range(n // 3):  # 3 lanes: 3 requests in flight at a time
            ok += sum(await asyncio.gather(post(), post(), post()))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    sent = n // 3 * 3
    return {"messages": sent, "ok": ok, "cpu_us_per_message": round(cpu / sent * 1e6, 1),
            "messages_per_s": round(sent / wall, 1)}


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0], default_events=3000)
    p.add_argument("--messages", type=int, default=3000, help="Slack messages to deliver (default %(default)s)")
    p.add_argument("--profile", action="store_true", help="add the functions that cost most (cProfile)")
    args = p.parse_args(argv)

    slack = Child(slack_server_child)  # the latency bench's Slack-contract server process
    token, api_url = slack.first()
    try:
        profile = cProfile.Profile() if args.profile else None
        log(f"delivering {args.messages} messages through Baton's dispatcher")
        baton = asyncio.run(through_baton(token, api_url, args.messages, profile))
        log(f"posting {args.messages} requests with plain aiohttp")
        raw = asyncio.run(raw_aiohttp(token, api_url, args.messages))
    finally:
        slack.stop()
    result = {
        "bench": "delivery_costs",
        "baton": baton,
        "raw_aiohttp": raw,
        "ratios": {"baton_cpu/raw_cpu": ratio(baton["cpu_us_per_message"], raw["cpu_us_per_message"])},
        "machine": machine(),
    }
    for self_sort in (("cumulative", "tottime") if profile else ()):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(self_sort).print_stats(40)
        result[f"profile_{self_sort}_top40"] = out.getvalue().splitlines()
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
