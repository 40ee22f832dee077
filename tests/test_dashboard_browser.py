"""The dashboard in headless Chromium: a real worker, a known event set, its figures on the rendered page.

Every expected figure is worked out by hand from EVENTS below. The screenshot
is saved as artifacts/dashboard.png (gitignored) for people to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from kafka_io import event, produce
from test_dashboard_render import Dom
from polling import wait_for
from worker_process import WorkerProcess


def find_chromium() -> str | None:
    candidates = (os.environ.get("BATON_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium",
                  shutil.which("chromium-browser"), shutil.which("google-chrome"))
    return next((c for c in candidates if c and os.path.isfile(c) and os.access(c, os.X_OK)), None)


CHROMIUM = find_chromium()
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.browser,
    pytest.mark.timeout(120),
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary found (apt-get install chromium, "
                                                "or set BATON_CHROMIUM to a Chrome/Chromium executable)"),
]

# A plan for a quarter that is over: every figure is judged on the final record, whatever today is.
PLAN = """
[[plans]]
period = "2025-Q4"
currency = "USD"
revenue_target = 2000000            # $20,000.00
leads_per_month = 2                 # 6 over the quarter
lead_to_opportunity_rate = 0.5
win_rate = 0.9                      # broken below 0.9 x 0.8 = 72 %
average_deal_size = 300000          # $3,000.00
min_leads_for_rate = 5
min_closed_deals_for_win_rate = 3
min_won_deals_for_deal_size = 2
"""

EVIL_CAMPAIGN = "<b>c-3</b>"


def lead(acct: str, lead_id: str, temperature: str, campaign: str, at: str, source: str = "marketing") -> dict:
    return event("lead.created", acct, {"lead_id": lead_id, "source": source, "temperature": temperature,
                                        "campaign_id": campaign, "owner_id": "r-1"}, at=at)


def contacted(acct: str, lead_id: str, at: str) -> dict:
    return event("lead.contacted", acct, {"lead_id": lead_id, "owner_id": "r-1"}, at=at)


def deal(acct: str, deal_id: str, amount: int, at: str) -> dict:
    return event("deal.created", acct, {"deal_id": deal_id, "amount": amount, "currency": "USD", "owner_id": "r-2"},
                 at=at)


def usd(kind: str, acct: str | None, data: dict, at: str) -> dict:
    return event(kind, acct, {**data, "currency": "USD"}, at=at)


# October 2025, all USD. Stage of each account at the end in brackets.
EVENTS = [
    # A [customer]: hot lead of c-big answered in 5 min; deal won after 10 days for 600,000; paid.
    lead("A", "LA", "hot", "c-big", "2025-10-01T09:00:00Z"),
    contacted("A", "LA", "2025-10-01T09:05:00Z"),
    event("lead.qualified", "A", {"lead_id": "LA"}, at="2025-10-01T10:00:00Z"),
    deal("A", "DA", 500_000, "2025-10-02T09:00:00Z"),
    usd("deal.won", "A", {"deal_id": "DA", "amount": 600_000}, "2025-10-12T09:00:00Z"),
    usd("payment.succeeded", "A", {"payment_id": "PA", "amount": 600_000, "deal_id": "DA"}, "2025-10-13T09:00:00Z"),
    # B [won]: warm lead of c-small answered in exactly 1 h; deal won after 20 days for 200,000; not paid yet.
    lead("B", "LB", "warm", "c-small", "2025-10-03T09:00:00Z"),
    contacted("B", "LB", "2025-10-03T10:00:00Z"),
    deal("B", "DB", 200_000, "2025-10-04T09:00:00Z"),
    usd("deal.won", "B", {"deal_id": "DB", "amount": 200_000}, "2025-10-24T09:00:00Z"),
    # C [mql]: cold lead of c-small answered in exactly 1 day; its deal lost.
    lead("C", "LC", "cold", "c-small", "2025-10-05T09:00:00Z"),
    contacted("C", "LC", "2025-10-06T09:00:00Z"),
    deal("C", "DC", 300_000, "2025-10-06T10:00:00Z"),
    event("deal.lost", "C", {"deal_id": "DC", "reason": "budget"}, at="2025-10-20T09:00:00Z"),
    # D [lead]: cold lead of c-small, never answered.
    lead("D", "LD", "cold", "c-small", "2025-10-07T09:00:00Z"),
    # E [opportunity]: hot lead of c-small answered after 2 h (late); qualified; deal of 400,000 still open.
    lead("E", "LE", "hot", "c-small", "2025-10-08T09:00:00Z", source="sales"),
    contacted("E", "LE", "2025-10-08T11:00:00Z"),
    event("lead.qualified", "E", {"lead_id": "LE"}, at="2025-10-08T12:00:00Z"),
    deal("E", "DE", 400_000, "2025-10-09T09:00:00Z"),
    # F [lost]: lead of c-small disqualified.
    lead("F", "LF", "warm", "c-small", "2025-10-09T09:00:00Z"),
    event("lead.disqualified", "F", {"lead_id": "LF", "reason": "student"}, at="2025-10-09T10:00:00Z"),
    # G [churned]: self-serve sign-up, paid 50,000 without a deal, cancelled.
    event("signup.created", "G", {"company": "Gadget", "email": "ops@gadget.test"}, at="2025-10-09T09:00:00Z"),
    usd("payment.succeeded", "G", {"payment_id": "PG", "amount": 50_000}, "2025-10-10T09:00:00Z"),
    event("subscription.cancelled", "G", {"reason": "price"}, at="2025-10-28T09:00:00Z"),
    # H [lead]: a lead from a campaign whose id is markup, never answered.
    lead("H", "LH", "warm", EVIL_CAMPAIGN, "2025-10-10T09:00:00Z", source="channel"),
    # Spend: 1,000.00 marketing on c-big, 2,000.00 sales team cost.
    usd("spend.recorded", None, {"spend_id": "S1", "amount": 100_000, "team": "marketing", "campaign_id": "c-big",
                                 "period": "2025-10"}, "2025-10-31T09:00:00Z"),
    usd("spend.recorded", None, {"spend_id": "S2", "amount": 200_000, "team": "sales", "period": "2025-10"},
        "2025-10-31T09:00:00Z"),
]

# By hand from EVENTS (formulas: docs/scorecard.md).
EXPECTED_KPIS = {
    "leads": "7",  # LA LB LC LD LE LF LH
    "opportunities": "4",  # DA DB DC DE
    "lead_to_opportunity_rate": "57.1%",  # 4 / 7
    "win_rate": "66.7%",  # DA, DB won; DC lost: 2 / 3
    "pipeline": "$4,000.00",  # DE open
    "bookings": "$8,000.00",  # 600,000 + 200,000
    "cash_collected": "$6,500.00",  # 600,000 + 50,000
    "average_deal_size": "$4,000.00",  # 800,000 / 2
    "average_sales_cycle_days": "15 days",  # (10 + 20) / 2
    "new_customers": "2",  # A, G
    "cac": "$1,500.00",  # (100,000 + 200,000) / 2
    "sla_compliance": "75%",  # LA 5 min <= 5 min hot, LB 1 h <= 1 h warm, LC 1 d <= 1 d cold; LE 2 h > 5 min
    "first_response_median_seconds": "1 h",  # nearest rank 2 of [5 min, 1 h, 2 h, 1 d]
    "first_response_p90_seconds": "1 d",  # nearest rank 4
    "deals_lost": "1",
    "churned_customers": "1",
}
# Now: lead D H, mql C, opportunity E, won B, customer A, lost F, churned G.
# Reached (stage or later; churned as customer; lost at lead only): 8, 5, 4, 4, 3, 2.
EXPECTED_REACHED = {"lead": "8", "mql": "5", "sql": "4", "opportunity": "4", "won": "3", "customer": "2"}
EXPECTED_CONVERSIONS = {"lead": "62.5%", "mql": "80%", "sql": "100%", "opportunity": "75%", "won": "66.7%"}
# Plan 2025-Q4, fully elapsed: (actual, plan, actual / plan, status).
EXPECTED_PLAN = {
    "pace": ("$8,000.00", "$20,000.00", "40%", "at_risk"),  # 40 % < 90 %
    "leads": ("7", "6", "116.7%", "ok"),  # 2 a month x 3
    "lead_to_opportunity_rate": ("57.1%", "50%", "114.3%", "ok"),  # (4/7) / (1/2) = 8/7
    "win_rate": ("66.7%", "90%", "74.1%", "at_risk"),  # (2/3) / (9/10) = 20/27 < 80 %
    "average_deal_size": ("$4,000.00", "$3,000.00", "133.3%", "ok"),
}
# Gap 2,000,000 - 800,000; projection = bookings (period over); leads: 1,200,000 / (4/7 x 2/3 x 400,000) = 7.875.
EXPECTED_OUTLOOK = {"revenue_gap": "$12,000.00", "projected_bookings": "$8,000.00", "leads_still_needed": "8"}




def http_text(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.read().decode()
    except (urllib.error.URLError, OSError):
        return None


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def worker(kafka_bootstrap, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("dashboard-worker")
    (workdir / "baton.toml").write_text(PLAN)
    proc = WorkerProcess(kafka_bootstrap, f"d{uuid.uuid4().hex[:8]}.", workdir,
                         extra_env={"BATON_CONFIG": str(workdir / "baton.toml"), "BATON_PLAN_CHECK_SECONDS": "0.5"})
    yield proc.start()
    proc.stop()


def test_dashboard_shows_the_figures_of_a_known_event_set_in_chromium(kafka_bootstrap, worker, tmp_path):
    produce(kafka_bootstrap, worker.prefix, EVENTS)
    base = f"http://127.0.0.1:{worker.web_port}"

    def complete():  # every event counted: the last one's time and every account's stage
        try:
            record = worker.http_json("/scorecard?scope=all")
        except Exception:
            return None
        done = record["as_of"] == "2025-10-31T09:00:00.000Z" and sum(record["accounts_by_stage"].values()) == 8
        return done and record["leads"] == 7 and record["deals_lost"] == 1

    wait_for(complete)

    def plan_judged_on_the_final_record():  # the plan is judged on a timer, maybe first on a partial record
        html = http_text(f"{base}/dashboard")
        figures = Dom(html).all("plan:2025-Q4:pace:actual") if html else []
        return figures and figures[0][1] == "$8,000.00"

    wait_for(plan_judged_on_the_final_record)

    # "/" redirects to the dashboard; Chromium follows it.
    dom_text = chromium("--dump-dom", f"{base}/", profile=tmp_path / "profile").stdout
    dom = Dom(dom_text)
    assert dom.text("scope") == "all"
    assert {name: dom.text(name) for name in EXPECTED_KPIS} == EXPECTED_KPIS
    assert {s: dom.text(f"stage-reached:{s}") for s in EXPECTED_REACHED} == EXPECTED_REACHED
    assert {s: dom.text(f"conversion:{s}") for s in EXPECTED_CONVERSIONS} == EXPECTED_CONVERSIONS

    # Campaigns by revenue, not leads: c-big (1 lead, $6,000.00) above c-small (5 leads, $2,000.00).
    ranked = [(a["data-campaign"], a["data-currency"]) for a, _ in dom.all("campaign")]
    assert ranked == [("c-big", "USD"), ("c-small", "USD")]
    assert [t for _, t in dom.all("campaign-revenue")] == ["$6,000.00", "$2,000.00"]
    assert [t for _, t in dom.all("campaign-leads")] == ["1", "5"]
    # The markup campaign is text on the page, never an element.
    assert dom.text("campaigns-unbooked") == f"No bookings yet: {EVIL_CAMPAIGN} (1 lead)"
    assert "&lt;b&gt;c-3&lt;/b&gt;" in dom_text and not [t for t, _ in dom.tags if t == "b"]

    for name, (actual, expected, ratio, status) in EXPECTED_PLAN.items():
        key = f"plan:2025-Q4:{name}"
        [(row, _)] = dom.all(key)
        got = (dom.text(f"{key}:actual"), dom.text(f"{key}:expected"), dom.text(f"{key}:ratio"), row["data-status"])
        assert got == (actual, expected, ratio, status), name
        assert ("at_risk" in row["class"].split()) == (status == "at_risk")  # highlighted
    assert dom.text("plan:2025-Q4:status") == "at risk"
    assert {name: dom.text(f"plan:2025-Q4:{name}") for name in EXPECTED_OUTLOOK} == EXPECTED_OUTLOOK

    # A campaign scope through the selector's own link.
    [link] = [a["href"] for t, a in dom.tags if t == "a" and a.get("data-scope") == "campaign:c-small"]
    small = Dom(chromium("--dump-dom", f"{base}/dashboard{link}", profile=tmp_path / "profile").stdout)
    assert (small.text("scope"), small.text("leads"), small.text("bookings")) == ("campaign:c-small", "5", "$2,000.00")

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)
    chromium(f"--screenshot={shot}", "--window-size=1280,1600", f"{base}/dashboard", profile=tmp_path / "profile")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 30_000, len(data)
