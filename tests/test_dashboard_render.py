"""render_dashboard on hand-written scorecard records: every expected string below is worked out by hand.

The page is read back through ``html.parser`` by its ``data-figure`` attributes,
as the browser test does with Chromium's DOM (it imports the parser from here).
"""

from __future__ import annotations

from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest

from baton.plan import PlanSettings, evaluate
from baton.web import render_dashboard
from baton.web.dashboard import fmt_days, fmt_duration, fmt_percent

NOW = datetime(2026, 11, 16, tzinfo=timezone.utc)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Dom(HTMLParser):
    """Every element carrying data-figure: its attributes and its whitespace-normalized text, in page order."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []  # every start tag, to look for injected markup
        self.figures: list[tuple[str, dict[str, str], str]] = []  # (data-figure, attrs, text)
        self._open: list[tuple[str, int | None, list[str]]] = []  # (tag, index in figures, text so far)
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag in VOID:
            return
        index = None
        if "data-figure" in attributes:
            index = len(self.figures)
            self.figures.append((attributes["data-figure"], attributes, ""))
        self._open.append((tag, index, []))

    def handle_endtag(self, tag: str) -> None:
        while self._open:  # also closes elements whose end tag was implied
            open_tag, index, text = self._open.pop()
            if index is not None:
                name, attributes, _ = self.figures[index]
                self.figures[index] = (name, attributes, " ".join("".join(text).split()))
            if open_tag == tag:
                return

    def handle_data(self, data: str) -> None:
        for _, _, text in self._open:
            text.append(data)

    def all(self, name: str) -> list[tuple[dict[str, str], str]]:
        return [(attrs, text) for fig, attrs, text in self.figures if fig == name]

    def text(self, name: str) -> str:
        found = self.all(name)
        assert len(found) == 1, f"{name!r}: {len(found)} elements"
        return found[0][1]


def page(scorecards, plans=None, scope="all") -> Dom:
    return Dom(render_dashboard(scorecards, plans or {}, scope, now=NOW))


RECORD = {
    "scope": "all",
    "leads": 1234,
    "opportunities": 7,
    "lead_to_opportunity_rate": 7 / 1234,  # 0.567 % -> "0.6%"
    "deals_won": 2,
    "deals_lost": 1,
    "win_rate": 2 / 3,  # 66.666 % -> "66.7%"
    "pipeline": {},  # nothing open: a zero, not a null
    "bookings": {"USD": 1_200_000, "EUR": 5_000},
    "average_deal_size": {"USD": 600_000},
    "average_sales_cycle_days": 10.5,
    "cash_collected": {"USD": 650_000},
    "refunds": {},
    "new_customers": 2,
    "churned_customers": 0,
    "spend": {"marketing": {"USD": 100_000}, "sales": {}},
    "cac": None,
    "campaign_revenue": {},
    "as_of": "2026-11-15T09:00:00.000Z",
    "sales_velocity": None,
    "arpa": {"USD": 325_000},
    "ltv": "n/a",
    "ltv_to_cac": "n/a",
    "sla_compliance": 0.75,
    "first_response_median_seconds": 5400.0,
    "first_response_p90_seconds": 90_061.0,
    "accounts_by_stage": {},
}


def test_headline_figures_are_formatted() -> None:
    dom = page({"all": RECORD})
    expected = {
        "scope": "all",
        "as_of": "2026-11-15 09:00:00 UTC",
        "generated_at": "2026-11-16 00:00:00 UTC",
        "leads": "1,234",
        "opportunities": "7",
        "lead_to_opportunity_rate": "0.6%",  # 7 / 1234 = 0.5673 %
        "win_rate": "66.7%",  # 2 / 3
        "pipeline": "0",  # an empty money object is zero
        "bookings": "€50.00 + $12,000.00",  # per currency, by code: EUR then USD, never summed
        "average_deal_size": "$6,000.00",
        "average_sales_cycle_days": "10.5 days",
        "cash_collected": "$6,500.00",
        "new_customers": "2",
        "cac": "—",  # null: no new customer to divide by
        "sla_compliance": "75%",
        "first_response_median_seconds": "1 h 30 min",  # 5400 s
        "first_response_p90_seconds": "1 d 1 h",  # 90061 s = 1 d 1 h 1 min 1 s: the two largest units
        "deals_won": "2",
        "deals_lost": "1",
        "refunds": "0",
        "spend": "Marketing $1,000.00 · Sales 0",
        "sales_velocity": "—",
        "arpa": "$3,250.00",
        "ltv": "n/a",
    }
    assert {name: dom.text(name) for name in expected} == expected


def test_missing_figures_read_as_null_not_as_an_error() -> None:
    dom = page({"all": {"scope": "all", "leads": 3}})  # e.g. a record from an older worker
    assert dom.text("leads") == "3"
    assert dom.text("win_rate") == "—" and dom.text("bookings") == "—" and dom.text("as_of") == "—"


@pytest.mark.parametrize("fmt,value,text", [
    (fmt_percent, 0.5, "50%"), (fmt_percent, 1.0, "100%"), (fmt_percent, 4 / 7, "57.1%"), (fmt_percent, None, "—"),
    (fmt_days, 1.0, "1 day"), (fmt_days, 15.0, "15 days"), (fmt_days, 10.25, "10.2 days"),
    (fmt_duration, 0.4, "0 s"), (fmt_duration, 59, "59 s"), (fmt_duration, 300, "5 min"),
    (fmt_duration, 3600, "1 h"), (fmt_duration, 86_400, "1 d"), (fmt_duration, 93_600, "1 d 2 h"),
])
def test_formatters(fmt, value, text) -> None:
    assert fmt(value) == text


def test_funnel_counts_and_conversions_by_hand() -> None:
    by_stage = {"lead": 2, "mql": 1, "opportunity": 1, "won": 1, "customer": 1, "lost": 1, "churned": 1}
    dom = page({"all": {**RECORD, "accounts_by_stage": by_stage}})
    # Reached = current stage here or later, churned as customers, lost at lead only:
    # lead 2+1+0+1+1+1 +1 churned +1 lost = 8; mql 1+0+1+1+1 +1 = 5; sql 0+1+1+1 +1 = 4;
    # opportunity 1+1+1 +1 = 4; won 1+1 +1 = 3; customer 1 +1 = 2.
    reached = {s: dom.text(f"stage-reached:{s}") for s in ("lead", "mql", "sql", "opportunity", "won", "customer")}
    assert reached == {"lead": "8", "mql": "5", "sql": "4", "opportunity": "4", "won": "3", "customer": "2"}
    # Conversion = reached(next) / reached(this): 5/8, 4/5, 4/4, 3/4, 2/3; the last stage has none.
    conversions = {attrs["data-figure"].split(":")[1]: text for attrs, text in
                   ((a, t) for f, a, t in dom.figures if f.startswith("conversion:"))}
    assert conversions == {"lead": "62.5%", "mql": "80%", "sql": "100%", "opportunity": "75%", "won": "66.7%"}
    assert dom.text("stage-now:sql") == "0" and dom.text("stage-now:lost") == "1"
    assert dom.text("stage-now:churned") == "1"
    assert "reached(next) ÷ reached(this)" in dom.text("funnel-definition")


def test_a_stage_nobody_reached_has_no_conversion_rate() -> None:
    dom = page({"all": {**RECORD, "accounts_by_stage": {"lead": 3}}})
    assert dom.text("conversion:lead") == "0%"  # 0 of 3 went further
    assert dom.text("conversion:mql") == "—"  # 0 / 0


def test_periods_have_no_funnel_and_say_why() -> None:
    dom = page({"2026-11": {**RECORD, "scope": "2026-11"}}, scope="2026-11")
    assert "current states and have no date" in dom.text("funnel-empty")


def test_campaigns_are_ranked_by_revenue_per_currency_not_by_leads() -> None:
    record = {**RECORD, "campaign_revenue": {
        "c-leads": {"USD": 100},  # most leads, least revenue
        "c-big": {"USD": 900_000},
        "c-mid": {"USD": 5_000, "EUR": 7_000},
        "c-tie": {"USD": 5_000},  # equal to c-mid: by id
    }}
    scorecards = {"all": record, "campaign:c-leads": {"leads": 50}, "campaign:c-big": {"leads": 1},
                  "campaign:c-mid": {"leads": 3}, "campaign:c-none": {"leads": 80}}
    dom = page(scorecards)
    rows = [(a["data-currency"], a["data-campaign"]) for a, _ in dom.all("campaign")]
    assert rows == [("EUR", "c-mid"),
                    ("USD", "c-big"), ("USD", "c-mid"), ("USD", "c-tie"), ("USD", "c-leads")]
    revenue = [t for _, t in dom.all("campaign-revenue")]
    assert revenue == ["€70.00", "$9,000.00", "$50.00", "$50.00", "$1.00"]
    # Leads come from each campaign's own scope; c-tie has none.
    assert [t for _, t in dom.all("campaign-leads")] == ["3", "1", "3", "—", "50"]
    assert [t for _, t in dom.all("campaign-rank")] == ["1", "1", "2", "3", "4"]
    assert dom.text("campaigns-unbooked") == "No bookings yet: c-none (80 leads)"


def test_user_supplied_strings_are_escaped() -> None:
    evil = "<script>alert(1)</script>"
    quote = 'x" onmouseover="alert(2)'
    record = {**RECORD, "campaign_revenue": {evil: {"USD": 100}, quote: {"USD": 50}}}
    scorecards = {"all": record, f"campaign:{evil}": {"leads": 1}, f"rep:<img src=x onerror=alert(3)>": {},
                  f"campaign:{quote}": {"leads": 2}}
    for scope in ("all", f"campaign:{evil}", "<script>alert(4)</script>"):
        html = render_dashboard(scorecards, {}, scope, now=NOW)
        dom = Dom(html)
        assert not [t for t, _ in dom.tags if t in ("script", "img")], scope
        assert not [a for _, a in dom.tags if "onmouseover" in a or "onerror" in a], scope
        assert "<script>alert" not in html
    html = render_dashboard(scorecards, {}, "all", now=NOW)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    dom = Dom(html)
    assert [a["data-campaign"] for a, _ in dom.all("campaign")] == [evil, quote]  # the text survives intact
    # The scope travels in links URL-encoded.
    assert 'href="?scope=campaign%3A%3Cscript%3Ealert%281%29%3C%2Fscript%3E"' in html


def test_plan_figures_against_actuals_with_at_risk_highlighted() -> None:
    plan = PlanSettings(period="2026-Q4", currency="USD", revenue_target=120_000_000, leads_per_month=400,
                        lead_to_opportunity_rate=0.25, win_rate=0.30, average_deal_size=1_000_000)
    q4 = {"scope": "2026-Q4", "leads": 700, "opportunities": 175, "deals_won": 0, "deals_lost": 0,
          "bookings": {"USD": 45_000_000}, "average_deal_size": None}
    status = evaluate(plan, q4, NOW).to_dict()  # NOW = 16 Nov: half of Q4, 1.5 calendar months
    dom = page({"all": RECORD, "2026-Q4": q4}, {"2026-Q4": status})
    def row(name: str) -> tuple[str, str, str]:
        return tuple(dom.text(f"plan:2026-Q4:{name}:{part}") for part in ("actual", "expected", "ratio"))

    # Pace: 45,000,000 against 120,000,000 x 1/2 = 60,000,000: 75 % < 90 % -> at risk.
    assert row("pace") == ("$450,000.00", "$600,000.00", "75%")
    # Leads: 700 against 400 x 1.5 = 600: 116.7 % -> ok. Rate: 175 / 700 = 25 % of 25 % assumed -> ok.
    assert row("leads") == ("700", "600", "116.7%")
    assert row("lead_to_opportunity_rate") == ("25%", "25%", "100%")
    # No closed deal and no won deal: no actual, not judged.
    assert row("win_rate") == ("—", "30%", "—")
    assert row("average_deal_size") == ("—", "$10,000.00", "—")
    statuses = {a["data-figure"].split(":")[2]: a["data-status"] for f, a, _ in dom.figures
                if f.startswith("plan:2026-Q4:") and "data-status" in a}
    assert statuses == {"pace": "at_risk", "leads": "ok", "lead_to_opportunity_rate": "ok",
                        "win_rate": "not_judged", "average_deal_size": "not_judged"}
    [(pace_row, _)] = dom.all("plan:2026-Q4:pace")
    assert "at_risk" in pace_row["class"].split()  # the CSS highlight
    assert dom.text("plan:2026-Q4:status") == "at risk"
    # Gap 120,000,000 - 45,000,000; projection 45,000,000 / (1/2); leads: 75,000,000 / (1/4 x 0.3 x 1,000,000).
    assert dom.text("plan:2026-Q4:revenue_gap") == "$750,000.00"
    assert dom.text("plan:2026-Q4:projected_bookings") == "$900,000.00"
    assert dom.text("plan:2026-Q4:leads_still_needed") == "1,000"


def test_without_a_plan_the_page_says_so() -> None:
    dom = page({"all": RECORD})
    assert dom.text("plan-none").startswith("No plan configured")


def test_empty_and_unknown_scope_states() -> None:
    empty = page({})
    assert empty.text("empty-state").startswith("No events yet")
    assert not empty.all("leads")
    unknown = page({"all": RECORD}, scope="rep:nobody")
    assert "rep:nobody" in unknown.text("unknown-scope")
    assert not unknown.all("leads")


def test_scope_selector_lists_scopes_and_marks_the_current_one() -> None:
    scorecards = {s: {**RECORD, "scope": s} for s in ("all", "2026-10", "2026-11", "2026-Q4", "rep:r-1",
                                                       "2026-11/rep:r-1", "campaign:c-1", "source:sales")}
    dom = page(scorecards, scope="2026-11")
    links = [(a.get("href"), a["data-scope"]) for t, a in dom.tags if "data-scope" in a]
    # Groups in a fixed order, periods newest first; the current scope is not a link.
    assert links == [("?scope=all", "all"), (None, "2026-11"), ("?scope=2026-10", "2026-10"),
                     ("?scope=2026-Q4", "2026-Q4"), ("?scope=rep%3Ar-1", "rep:r-1"),
                     ("?scope=campaign%3Ac-1", "campaign:c-1"), ("?scope=source%3Asales", "source:sales"),
                     ("?scope=2026-11%2Frep%3Ar-1", "2026-11/rep:r-1")]
