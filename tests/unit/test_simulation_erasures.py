"""``basewatch simulate`` erases customers: the options, who is chosen, the requests and
their retries, and what the summary says (no network but a fake ingest in-process)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from basewatch_shared.cli import build_parser
from basewatch_shared.devtools.devkeys import DEV_ERASE_KEY, DEV_KEYS
from basewatch_shared.devtools.simulation.erasures import Eraser, ErasureStats, choose
from basewatch_shared.devtools.simulation.expected import Ledger, Thresholds
from basewatch_shared.devtools.simulation.report import document, summary_text
from basewatch_shared.devtools.simulation.sender import Stats
from basewatch_shared.devtools.simulation.traffic import Event, Traffic
from basewatch_shared.settings import hash_key
from tests.support.outcomes import ended
from tests.support.polling import eventually

START = datetime(2026, 11, 1, tzinfo=UTC)


# --- the options --------------------------------------------------------------------------


def test_the_defaults_erase_a_few_customers_with_the_dev_erase_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BASEWATCH_ERASE_KEY", raising=False)
    parsed = build_parser().parse_args(["simulate"])
    assert (parsed.erase_share, parsed.erase_key) == (0.02, DEV_ERASE_KEY)
    # The key `basewatch dev` configures, with the erase scope.
    assert f"dev-dpo:erase:{hash_key(DEV_ERASE_KEY)}" in DEV_KEYS.split(",")
    monkeypatch.setenv("BASEWATCH_ERASE_KEY", "mine")
    parsed = build_parser().parse_args(["simulate", "--erase-share", "0"])
    assert (parsed.erase_share, parsed.erase_key) == (0.0, "mine")
    assert build_parser().parse_args(["simulate", "--erase-share", "1"]).erase_share == 1.0


@pytest.mark.parametrize(
    ("share", "message"),
    [
        ("-0.1", "must be a share from 0 to 1, like 0.02, got '-0.1'"),
        ("1.5", "must be a share from 0 to 1, like 0.02, got '1.5'"),
        ("nan", "must be a share from 0 to 1"),
        ("2%", "not a number: '2%'"),
    ],
)
def test_a_bad_erase_share_is_refused_by_the_parser(
    share: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["simulate", "--erase-share", share])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "simulate: error: argument --erase-share: " + message in err
    assert "Traceback" not in err


# --- who is erased ------------------------------------------------------------------------


def test_the_share_chooses_the_same_customers_for_the_same_seed() -> None:
    ids = [f"c{n:03d}" for n in range(300)]
    chosen = choose(ids, 0.02, seed=1)
    assert len(chosen) == 6 and chosen <= set(ids)
    assert choose(list(reversed(ids)), 0.02, seed=1) == chosen  # not the order of arrival
    assert choose(ids, 0.02, seed=2) != chosen
    assert len(choose(ids[:20], 0.02, seed=1)) == 1  # above 0: at least one
    assert choose(ids, 0, seed=1) == set() and choose([], 0.5, seed=1) == set()
    assert choose(ids, 1, seed=1) == set(ids)


# --- the requests -------------------------------------------------------------------------


def _identify(customer_id: str) -> Event:
    return {"type": "identify", "event_id": f"e-{customer_id}", "customer_id": customer_id}


async def _erase(
    answers: list[httpx.Response],
    chosen: set[str],
    seen: list[Event],
    *,
    deadline_s: float | None = None,
    then: float = 100.0,
) -> tuple[ErasureStats, list[str], list[httpx.Request]]:
    """Run an eraser on a fake clock, moved from 0 to ``then``, until nothing is left to
    send (or the key is refused)."""
    requests: list[httpx.Request] = []
    now = [0.0]

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return answers.pop(0)

    stats, erased = ErasureStats(), list[str]()
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url="http://ingest"
    ) as client:
        eraser = Eraser(
            client,
            "erase-key",
            chosen,
            stats,
            erased.append,
            delay_s=(10, 20),
            deadline_s=deadline_s,
            seed=1,
            now=lambda: now[0],
        )
        for event in seen:
            eraser.saw(event)
        stopping = asyncio.Event()
        task = asyncio.create_task(eraser.run(stopping))
        await asyncio.sleep(0.1)
        assert requests == []  # nothing is due before its delay
        now[0] = then

        async def settled() -> bool:
            return not answers or stats.key_refused

        await eventually(settled, bool, within=5, interval=0.01)
        stopping.set()
        await task
    return stats, erased, requests


async def test_chosen_customers_are_erased_with_the_erase_key_after_their_identify() -> None:
    seen = [
        _identify("c1"),
        _identify("c1"),  # seen twice: erased once
        _identify("c2"),  # not chosen
        {"type": "purchase", "event_id": "p", "customer_id": "c3"},  # no identify yet
    ]
    stats, erased, requests = await _erase(
        [httpx.Response(202, json={"erasure_id": "er_1", "customer_id": "c1"})],
        {"c1", "c3"},
        seen,
    )
    assert erased == ["c1"]
    assert [r.url.path for r in requests] == ["/v1/customers/c1/erase"]
    assert requests[0].headers["Authorization"] == "Bearer erase-key"
    assert requests[0].content == b""  # the erase request takes no body
    assert (stats.planned, stats.sent, stats.accepted, stats.rejected) == (2, 1, 1, 0)


async def test_503_is_retried_and_a_refused_key_ends_the_erasures_not_the_run() -> None:
    stats, erased, requests = await _erase(
        [
            httpx.Response(503, headers={"Retry-After": "0"}),
            httpx.Response(202, json={}),
            httpx.Response(403, json={"detail": "this key lacks the 'erase' scope"}),
            httpx.Response(202, json={}),  # never asked: the key was refused
        ],
        {"a", "b", "c"},
        [_identify("a"), _identify("b"), _identify("c")],
    )
    assert len(erased) == 1 and len(requests) == 3
    assert (stats.accepted, stats.rejected, stats.retried, stats.key_refused) == (1, 1, 1, True)
    assert (stats.planned - stats.sent) == 1
    assert "ingest refused the erase key (403: this key lacks the 'erase' scope)" in stats.errors[0]
    assert "--erase-key" in stats.errors[0] and "--erase-share 0" in stats.errors[0]


async def test_an_erasure_is_due_before_the_end_of_a_run_with_a_duration() -> None:
    # Delays of 10..20 s, but the run's erasures end 5 s after the start: due at 5 s.
    stats, erased, _ = await _erase(
        [httpx.Response(202, json={})], {"a"}, [_identify("a")], deadline_s=5, then=6
    )
    assert erased == ["a"] and stats.accepted == 1


# --- what the summary says ----------------------------------------------------------------


def _doc(erasures: ErasureStats, erased: set[str]) -> dict[str, Any]:
    ledger = Ledger()
    ledger.erased |= erased
    outcome = ended(START, timedelta(seconds=10), seed=1, speed=1.0, population=300)
    traffic = Traffic(
        [],
        random.Random(1),
        start=START,
        tick=timedelta(seconds=5),
        arrival_window=timedelta(0),
        prefix="t-",
    )
    return document(outcome, Stats(), traffic, ledger, Thresholds(), erasures)


def test_the_summary_says_how_many_were_erased_and_what_the_projector_should_show() -> None:
    stats = ErasureStats(share=0.02, planned=6, sent=5, accepted=4, rejected=1, retried=2)
    stats.note("erase c9: 422: malformed")
    doc = _doc(stats, {"c1", "c2", "c3", "c4"})
    assert doc["erasures"]["unsent"] == 1
    assert doc["expected"]["erased_customers"] == ["c1", "c2", "c3", "c4"]
    text = summary_text(doc)
    assert (
        "  erasures    planned 6 (share 0.02): accepted 4, refused 1, unconfirmed 0, "
        "retried requests 2, not sent 1"
    ) in text
    assert "  refused     erase c9: 422: malformed" in text
    assert "    erased customers         4 (in GET /v1/erasures" in text
    none = summary_text(_doc(ErasureStats(share=0.0), set()))
    assert "  erasures    none (--erase-share 0)" in none
    assert "    erased customers         0 " in none
