"""``basewatch simulate``: the population, the traffic model, simulated time, the ledger
of expectations, the sender's retries and the command line (no network but a fake ingest
answered in-process)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import httpx
import orjson
import pytest

from basewatch_shared.cli import build_parser
from basewatch_shared.contract.events import EVENT_ADAPTER, Purchase
from basewatch_shared.devtools.simulation.catalog import PRODUCTS, amount_text, price
from basewatch_shared.devtools.simulation.clock import SimClock
from basewatch_shared.devtools.simulation.command import run
from basewatch_shared.devtools.simulation.erasures import ErasureStats
from basewatch_shared.devtools.simulation.expected import Ledger, Thresholds
from basewatch_shared.devtools.simulation.population import Mix, draw_population
from basewatch_shared.devtools.simulation.report import document, summary_text
from basewatch_shared.devtools.simulation.sender import Sender, SimulationError, Stats, TokenBucket
from basewatch_shared.devtools.simulation.traffic import Event, Traffic
from tests.support.outcomes import ended

START = datetime(2026, 11, 1, tzinfo=UTC)
TICK = timedelta(minutes=5)


def _traffic(seed: int = 7, size: int = 150, prefix: str = "t-") -> Traffic:
    rng = random.Random(seed)
    people = draw_population(rng, size, prefix, Mix())
    return Traffic(people, rng, start=START, tick=TICK, arrival_window=TICK * 12, prefix=prefix)


def _run_for(traffic: Traffic, ticks: int, chunk: float | None = None) -> list[tuple[float, Event]]:
    end = ticks * TICK.total_seconds()
    if chunk is None:
        return traffic.due(end)
    events: list[tuple[float, Event]] = []
    at = 0.0
    while at < end:
        at = min(at + chunk, end)
        events.extend(traffic.due(at))
    return events


@pytest.fixture(scope="module")
def story() -> list[Event]:
    """Two hundred heartbeats' worth of a 150-customer population."""
    return [event for _, event in _run_for(_traffic(), 200)]


def test_every_event_is_valid_under_the_contract(story: list[Event]) -> None:
    assert len(story) > 10_000
    for event in story:
        EVENT_ADAPTER.validate_json(orjson.dumps(event))  # raises on any invalid event
    assert len({e["event_id"] for e in story}) == len(story)


def test_amounts_are_exact_decimal_strings_in_each_currencys_minor_units(
    story: list[Event],
) -> None:
    purchases = [e for e in story if e["type"] == "purchase"]
    currencies = {e["currency"] for e in purchases}
    assert {"USD", "EUR", "JPY"} <= currencies and len(currencies) >= 6
    for event in purchases:
        assert isinstance(event["amount"], str)
        parsed = EVENT_ADAPTER.validate_json(orjson.dumps(event))
        assert isinstance(parsed, Purchase)
        assert parsed.amount == Decimal(event["amount"])  # nothing rounded on the way
        digits = {"JPY": 0, "KWD": 3}.get(event["currency"], 2)
        assert len(event["amount"].partition(".")[2]) <= digits
    assert price(PRODUCTS[0], "JPY") == Decimal(7350)
    assert price(PRODUCTS[1], "KWD", seats=3) == Decimal("9.201")  # 3.067 a seat
    assert amount_text(Decimal("1E+2")) == "100"


def test_the_story_has_every_kind_of_customer_and_installation(story: list[Event]) -> None:
    by_customer: dict[str, Counter[str]] = defaultdict(Counter)
    beats: dict[str, list[datetime]] = defaultdict(list)
    owner: dict[str, tuple[str, str]] = {}
    for event in story:
        if "customer_id" in event:
            by_customer[event["customer_id"]][event["type"]] += 1
        if event["type"] == "install":
            owner[event["installation_id"]] = (event["customer_id"], event["product_id"])
        if event["type"] == "heartbeat":
            beats[event["installation_id"]].append(datetime.fromisoformat(event["occurred_at"]))
    kinds = Counter(
        "suspect"
        if set(c) == {"identify"}
        else "prospect"
        if not c["purchase"]
        else "loyal"
        if c["purchase"] >= 2
        else "one_time"
        for c in by_customer.values()
    )
    assert all(kinds[k] >= 5 for k in ("suspect", "prospect", "loyal", "one_time")), kinds
    assert sum(1 for c in by_customer.values() if c["purchase"] and not c["install"]) >= 3
    # Silences of every length: gaps of 2 to 30 heartbeats, and some that came back.
    gaps = [(b - a) / TICK for times in beats.values() for a, b in pairwise(times)]
    assert sum(1 for g in gaps if 2 <= g < 4) >= 5
    assert sum(1 for g in gaps if 4 <= g < 9) >= 5
    assert sum(1 for g in gaps if g >= 9) >= 5
    uninstalled = {e["installation_id"] for e in story if e["type"] == "uninstall"}
    assert len(uninstalled) >= 10
    # Some owners come back after an uninstall: a new installation of the same product.
    returned = [i for i in uninstalled if sum(1 for o in owner.values() if o == owner[i]) > 1]
    assert returned
    versions = {e["version"] for e in story if e["type"] in ("install", "heartbeat")}
    platforms = {e["platform"] for e in story if e["type"] in ("install", "heartbeat")}
    assert len(versions) >= 8 and {"ios", "android", "linux", "arm64"} <= platforms


def test_no_heartbeat_after_an_uninstall(story: list[Event]) -> None:
    gone: dict[str, str] = {}
    for event in story:
        if event["type"] == "uninstall":
            gone[event["installation_id"]] = event["occurred_at"]
        elif event["type"] == "heartbeat":
            assert event["installation_id"] not in gone


def test_the_same_seed_tells_the_same_story_however_it_is_chunked() -> None:
    whole = _run_for(_traffic(seed=3), 60)
    chunked = _run_for(_traffic(seed=3), 60, chunk=7.3)
    assert whole == chunked
    assert whole != _run_for(_traffic(seed=4), 60)


def test_events_are_never_ahead_of_the_time_they_are_asked_for() -> None:
    traffic = _traffic()
    until = 0.0
    for _ in range(300):
        until += 17.0
        for at, event in traffic.due(until):
            assert at <= until
            occurred = datetime.fromisoformat(event["occurred_at"])
            assert occurred <= START + timedelta(seconds=until)


def test_the_model_counts_installations_by_state() -> None:
    traffic = _traffic()
    events = [e for _, e in _run_for(traffic, 100)]
    installs = sum(1 for e in events if e["type"] == "install")
    uninstalls = sum(1 for e in events if e["type"] == "uninstall")
    assert sum(traffic.states.values()) == installs
    assert traffic.states["uninstalled"] == uninstalls
    assert traffic.states["silent"] > 0
    assert traffic.arrived == 150


# --- simulated time -----------------------------------------------------------------------


def test_simulated_time_ends_at_the_wall_clock_at_the_end_of_the_run() -> None:
    clock = SimClock(START, speed=3600, duration=timedelta(seconds=10))
    assert clock.start == START - timedelta(hours=10) + timedelta(seconds=10)
    assert clock.end == START + timedelta(seconds=10)
    assert clock.start + timedelta(seconds=clock.offset(10)) == clock.end
    # Halfway, simulated time is behind the wall clock, never ahead.
    assert clock.start + timedelta(seconds=clock.offset(5)) < START + timedelta(seconds=5)
    real_time = SimClock(START)
    assert real_time.start == START and real_time.end is None and real_time.offset(3) == 3


def test_simulated_time_refuses_what_would_put_events_in_the_future() -> None:
    with pytest.raises(ValueError, match="needs --duration"):
        SimClock(START, speed=60)
    with pytest.raises(ValueError, match="at least 1"):
        SimClock(START, speed=0.5, duration=timedelta(seconds=5))


def test_a_history_longer_than_the_at_risk_threshold_is_warned_about() -> None:
    short = SimClock(START, speed=3600, duration=timedelta(seconds=10))
    assert short.warning(timedelta(hours=1), timedelta(days=3)) is None
    long = SimClock(START, speed=86400, duration=timedelta(seconds=10))
    assert "at-risk threshold" in (long.warning(timedelta(hours=1), timedelta(days=3)) or "")


# --- the ledger ---------------------------------------------------------------------------


def _ev(kind: str, at: int, **fields: Any) -> Event:
    stamp = (START + timedelta(seconds=at)).isoformat().replace("+00:00", "Z")
    return {"type": kind, "event_id": f"{kind}{at}", "occurred_at": stamp, **fields}


def test_the_ledger_follows_the_contracts_rules() -> None:
    ledger = Ledger()
    for event in [
        _ev("identify", 0, customer_id="suspect"),
        _ev("identify", 0, customer_id="buyer"),
        _ev(
            "purchase",
            1,
            customer_id="buyer",
            order_id="o1",
            product_id="p",
            amount="0.10",
            currency="EUR",
        ),
        _ev(
            "purchase",
            2,
            customer_id="buyer",
            order_id="o2",
            product_id="p",
            amount="0.20",
            currency="EUR",
            quantity=2,
        ),
        _ev(
            "purchase",
            3,
            customer_id="buyer",
            order_id="o3",
            product_id="p",
            amount="500",
            currency="JPY",
        ),
        _ev("install", 5, customer_id="buyer", installation_id="i1", product_id="p", version="1"),
        _ev("heartbeat", 50, installation_id="i1"),
        _ev("install", 5, customer_id="trial", installation_id="i2", product_id="p", version="1"),
        _ev(
            "purchase",
            6,
            customer_id="gone",
            order_id="o4",
            product_id="q",
            amount="5",
            currency="USD",
        ),
        _ev("install", 7, customer_id="gone", installation_id="i3", product_id="q", version="1"),
        _ev("heartbeat", 8, installation_id="i3"),
        _ev("uninstall", 9, installation_id="i3"),
        _ev("heartbeat", 8, installation_id="i3"),  # before the uninstall: it stays gone
        _ev(
            "purchase",
            6,
            customer_id="never",
            order_id="o5",
            product_id="q",
            amount="5",
            currency="USD",
        ),
    ]:
        ledger.record(event)
    thresholds = Thresholds(timedelta(seconds=30), timedelta(seconds=60))
    at = START + timedelta(seconds=70)  # i1 silent 20 s, i2 silent 65 s
    summary = ledger.summary(at, thresholds)
    assert summary["customer_base"]["by_segment"] == {
        "loyal": 1,
        "one_time": 2,
        "prospect": 1,
        "suspect": 1,
    }
    assert summary["customer_base"]["by_status"] == {
        "active": 1,
        "lapsed": 1,
        "never_installed": 1,
        "none": 2,
    }
    assert summary["installed_base"]["by_status"] == {
        "active": 1,
        "at_risk": 0,
        "churned": 1,
        "uninstalled": 1,
    }
    assert summary["overlap"]["active_not_paying_installations"] == 0
    later = ledger.summary(START + timedelta(seconds=85), thresholds)
    assert later["installed_base"]["by_status"]["at_risk"] == 1  # i1 silent 35 s
    assert ledger.sales()["p"] == {
        "units_sold": 4,
        "orders": 3,
        "revenue": {"EUR": "0.3", "JPY": "500"},
    }
    # i1 crosses at-risk at 80 s; the last crossing before 70 s was i2's churn at 65 s.
    assert ledger.stable(at, thresholds) == (
        START + timedelta(seconds=65),
        START + timedelta(seconds=80),
    )


def test_the_summary_text_says_what_is_exact() -> None:
    traffic = _traffic(size=40)
    ledger, stats = Ledger(), Stats()
    for _, event in _run_for(traffic, 30):
        ledger.record(event)
        stats.sent += 1
        stats.accepted += 1
    outcome = ended(START, 30 * TICK, seed=7, speed=900.0, population=40)
    doc = document(outcome, stats, traffic, ledger, Thresholds(), ErasureStats())
    text = summary_text(doc)
    segments = doc["expected"]["summary"]["customer_base"]["by_segment"]
    assert f"loyal {segments['loyal']}, one_time {segments['one_time']}" in text
    assert "exact" in text and "at-risk 3d and churn 14d" in text
    assert doc["expected"]["exact"] is True
    stats.unconfirmed = 3
    assert "not exact: 3 events got no answer" in summary_text(
        document(outcome, stats, traffic, ledger, Thresholds(), ErasureStats())
    )


# --- the sender ---------------------------------------------------------------------------


def test_the_token_bucket_allows_the_rate_and_a_second_of_burst() -> None:
    now = [0.0]
    bucket = TokenBucket(100, now=lambda: now[0])
    assert bucket.available() == 100
    bucket.take(100)
    assert bucket.available() == 0
    now[0] = 0.25
    assert bucket.available() == 25
    now[0] = 10
    assert bucket.available() == 100


async def _send(
    answers: list[httpx.Response], batch: list[Event], stopping: bool = False
) -> tuple[Stats, list[Event], list[bytes]]:
    bodies: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return answers.pop(0)

    stats, accepted = Stats(), list[Event]()
    stop = asyncio.Event()
    if stopping:
        stop.set()
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url="http://ingest"
    ) as client:
        await Sender(client, stats, accepted.append, stop).send(batch)
    return stats, accepted, bodies


BATCH = [_ev("identify", n, customer_id=f"c{n}") for n in range(3)]


async def test_503_and_429_are_retried_with_the_same_event_ids() -> None:
    stats, accepted, bodies = await _send(
        [
            httpx.Response(503, headers={"Retry-After": "0"}),
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(202, json={"accepted": 3, "rejected": []}),
        ],
        BATCH,
    )
    assert len(bodies) == 3 and len(set(bodies)) == 1
    assert [e["event_id"] for e in orjson.loads(bodies[0])["events"]] == [
        e["event_id"] for e in BATCH
    ]
    assert (stats.sent, stats.accepted, stats.retried, stats.requests) == (3, 3, 2, 3)
    assert accepted == BATCH


async def test_rejected_events_are_counted_and_kept_out_of_the_ledger() -> None:
    answer = {"accepted": 2, "rejected": [{"index": 1, "event_id": "x", "errors": ["bad"]}]}
    stats, accepted, _ = await _send([httpx.Response(202, json=answer)], BATCH)
    assert (stats.accepted, stats.rejected) == (2, 1)
    assert accepted == [BATCH[0], BATCH[2]]
    assert "bad" in stats.errors[0]
    stats, accepted, _ = await _send(
        [httpx.Response(422, json={"title": "Unprocessable", "detail": "every event invalid"})],
        BATCH,
    )
    assert (stats.accepted, stats.rejected, accepted) == (0, 3, [])
    assert "every event invalid" in stats.errors[0]


async def test_a_refused_key_ends_the_run_with_a_clear_message() -> None:
    with pytest.raises(SimulationError, match=r"ingest refused the key \(401"):
        await _send([httpx.Response(401, json={"detail": "unknown key"})], BATCH)


async def test_while_stopping_a_failed_request_is_not_retried_and_counts_as_unconfirmed() -> None:
    stats, accepted, bodies = await _send(
        [httpx.Response(503, headers={"Retry-After": "0"})], BATCH, stopping=True
    )
    assert (stats.unconfirmed, stats.retried, len(bodies), accepted) == (3, 0, 1, [])


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--population", "0"],
        ["--rate", "-5"],
        ["--rate", "inf"],
        ["--duration", "soon"],
        ["--heartbeat-every", "0s"],
        ["--batch", "1001"],
        ["--speed", "fast"],
    ],
)
def test_bad_options_are_refused_by_the_parser(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["simulate", *args])
    assert exit_.value.code == 2
    assert "simulate: error: argument" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "3600"], "needs --duration"),
        (["--speed", "0.5", "--duration", "5s"], "at least 1"),
        (["--at-risk-after", "1h", "--churn-after", "30m"], "--churn-after must be longer"),
    ],
)
def test_bad_combinations_are_refused_before_anything_is_sent(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 9 (discard) on loopback: nothing listens, and nothing is contacted anyway.
    parsed = build_parser().parse_args(["simulate", "--url", "http://127.0.0.1:9", *args])
    handler: Callable[[Any], int] = parsed.handler
    assert handler is run
    assert run(parsed) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
