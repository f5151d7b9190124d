"""What the user sees: the progress line while it runs, the summary at the end."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from basewatch_shared.devtools.simulation.erasures import ErasureStats
from basewatch_shared.devtools.simulation.expected import Ledger, Thresholds
from basewatch_shared.devtools.simulation.sender import Stats
from basewatch_shared.devtools.simulation.traffic import Traffic


def _n(value: int) -> str:
    return f"{value:,}"


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.strftime("%Y-%m-%d %H:%M:%S")


def progress_line(
    elapsed: float,
    sim_now: datetime,
    stats: Stats,
    traffic: Traffic,
    population: int,
    rate: float,
    erasures: ErasureStats,
) -> str:
    """One line: time, events and their outcome, erasures, and the model's population."""
    states = traffic.states
    installations = sum(states.values())
    erased = f"erased {_n(erasures.accepted)}" + (" (key refused)" if erasures.key_refused else "")
    return (
        f"{elapsed:5.0f}s  sim {_when(sim_now)}  sent {_n(stats.sent)} ({rate:,.0f}/s)  "
        f"accepted {_n(stats.accepted)}  rejected {_n(stats.rejected)}  "
        f"retried {_n(stats.retried)}  {erased}  |  "
        f"customers {_n(traffic.arrived)}/{_n(population)}  "
        f"installations {_n(installations)}: {_n(states['running'])} beating, "
        f"{_n(states['silent'])} silent, {_n(states['uninstalled'])} uninstalled"
    )


@dataclass(frozen=True)
class Outcome:
    """How a run ended, for the summary."""

    reason: str
    elapsed: float
    run: str  # the id prefix of this run's customers, installations and events
    seed: int
    speed: float
    sim_start: datetime
    sim_end: datetime
    judged_at: datetime  # the wall clock at the end: when the projector judges silence
    unsent: int
    population: int


def document(
    outcome: Outcome,
    stats: Stats,
    traffic: Traffic,
    ledger: Ledger,
    thresholds: Thresholds,
    erasures: ErasureStats,
) -> dict[str, Any]:
    """The machine-readable summary (``--summary-json``)."""
    return {
        "run": {
            "reason": outcome.reason,
            "elapsed_s": round(outcome.elapsed, 3),
            "prefix": outcome.run,
            "seed": outcome.seed,
            "speed": outcome.speed,
            "simulated_from": outcome.sim_start.isoformat(),
            "simulated_until": outcome.sim_end.isoformat(),
        },
        "events": {**asdict(stats), "unsent": outcome.unsent},
        "erasures": {**asdict(erasures), "unsent": erasures.planned - erasures.sent},
        "model": {
            "customers": outcome.population,
            "arrived": traffic.arrived,
            "installations": dict(traffic.states),
        },
        "expected": _expected(outcome.judged_at, stats, ledger, thresholds),
    }


def _expected(
    judged_at: datetime, stats: Stats, ledger: Ledger, thresholds: Thresholds
) -> dict[str, Any]:
    """What the read API should show, with when and how exactly it holds."""
    stable_from, stable_until = ledger.stable(judged_at, thresholds)
    return {
        # Exact for the accepted events; unconfirmed ones may or may not be in.
        "exact": stats.unconfirmed == 0,
        "judged_at": judged_at.isoformat(),
        "thresholds": {
            "at_risk_after_s": thresholds.at_risk_after.total_seconds(),
            "churn_after_s": thresholds.churn_after.total_seconds(),
            "loyal_min_orders": thresholds.loyal_min_orders,
        },
        "statuses_stable_from": stable_from.isoformat() if stable_from else None,
        "statuses_stable_until": stable_until.isoformat() if stable_until else None,
        "summary": ledger.summary(judged_at, thresholds),
        "products": ledger.sales(),
        # GET /v1/erasures names each of these; GET /v1/customers/{id} says erased: true.
        "erased_customers": sorted(ledger.erased),
    }


def summary_text(doc: dict[str, Any]) -> str:
    """The human summary, from the document (so both always say the same)."""
    run, events, model = doc["run"], doc["events"], doc["model"]
    elapsed = max(run["elapsed_s"], 1e-9)
    states = model["installations"]
    return "\n".join(
        [
            f"basewatch simulate: {run['reason']} after {run['elapsed_s']:.1f} s "
            f"(run {run['prefix']}, seed {run['seed']}, speed {run['speed']:g})",
            f"  simulated   {run['simulated_from'][:19]} .. {run['simulated_until'][:19]} UTC",
            f"  events      sent {_n(events['sent'])} ({events['sent'] / elapsed:,.0f}/s): "
            f"accepted {_n(events['accepted'])}, rejected {_n(events['rejected'])}, "
            f"unconfirmed {_n(events['unconfirmed'])}, retried requests "
            f"{_n(events['retried'])}, due but not sent {_n(events['unsent'])}",
            *(f"  rejected    {error}" for error in events["errors"]),
            _erasures_line(doc["erasures"]),
            *(f"  refused     {error}" for error in doc["erasures"]["errors"]),
            f"  model       {_n(model['arrived'])} of {_n(model['customers'])} customers arrived; "
            f"installations {_n(states.get('running', 0))} beating, "
            f"{_n(states.get('silent', 0))} silent, "
            f"{_n(states.get('uninstalled', 0))} uninstalled",
            *_expected_lines(doc["expected"], events),
        ]
    )


def _erasures_line(erasures: dict[str, Any]) -> str:
    """What happened to the erasures, or that there were none to send."""
    if not erasures["planned"]:
        return f"  erasures    none (--erase-share {erasures['share']:g})"
    return (
        f"  erasures    planned {_n(erasures['planned'])} (share {erasures['share']:g}): "
        f"accepted {_n(erasures['accepted'])}, refused {_n(erasures['rejected'])}, "
        f"unconfirmed {_n(erasures['unconfirmed'])}, retried requests "
        f"{_n(erasures['retried'])}, not sent {_n(erasures['unsent'])}"
    )


def _expected_lines(expected: dict[str, Any], events: dict[str, Any]) -> list[str]:
    """What GET /v1/summary should show, and between which times its statuses hold."""
    summary = expected["summary"]
    base, installed = summary["customer_base"], summary["installed_base"]
    at_risk = timedelta(seconds=expected["thresholds"]["at_risk_after_s"])
    churn = timedelta(seconds=expected["thresholds"]["churn_after_s"])
    judged = expected["judged_at"]
    window = _window(
        *(
            _at(t, judged) if t else None
            for t in (expected["statuses_stable_from"], expected["statuses_stable_until"])
        )
    )
    exactness = (
        "exact"
        if expected["exact"]
        else f"not exact: {_n(events['unconfirmed'])} events got no answer"
    )
    return [
        "  expected in GET /v1/summary once the projector has caught up "
        f"(from the accepted events; {exactness}):",
        "    customers by segment     " + _pairs(base["by_segment"]),
        "    customers by status      " + _pairs(base["by_status"]),
        "    installations by status  " + _pairs(installed["by_status"]),
        f"    erased customers         {_n(len(expected['erased_customers']))} "
        "(in GET /v1/erasures, erased: true in GET /v1/customers/{id}; counted above too)",
        "    (segments are exact; statuses by silence at "
        f"{judged[11:19]} UTC with at-risk {_span(at_risk)} and churn {_span(churn)}: "
        f"{window})",
    ]


def _span(delta: timedelta) -> str:
    """A duration the way basewatch settings write them: 20s, 45s, 3d, 1h30m."""
    seconds, parts = int(delta.total_seconds()), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or f"{delta.total_seconds():g}s"


def _at(text: str, judged: str) -> str:
    """A time of the summary: the time of day, with the date when it is another day."""
    return text[11:19] if text[:10] == judged[:10] else f"{text[:10]} {text[11:19]}"


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {_n(value)}" for key, value in counts.items())


def _window(start: str | None, until: str | None) -> str:
    if until is None:
        return "they hold from then on" if start is None else f"a sweep after {start} shows them"
    if start is None:
        return f"they hold until {until} UTC, when the first installation crosses one"
    return f"a sweep between {start} and {until} UTC shows them; after that silence moves on"
