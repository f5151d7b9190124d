"""`basewatch simulate` as a user runs it, against ingest and projector processes."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from basewatch_shared.topics import Topics
from tests.support.databases import TestDatabase
from tests.support.kafka import KafkaBackend
from tests.support.keys import ERASE_KEY, INGEST_KEY, KEYS, READ_AUTH, READ_KEY
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, service_env
from tests.support.services import NO_CHURN


@dataclass(frozen=True)
class Stack:
    """Ingest and projector processes on this test's topics and database."""

    ingest: str
    projector: str


@pytest.fixture
async def stack(
    postgres_db: TestDatabase, kafka_backend: KafkaBackend, topics: Topics, group_id: str
) -> AsyncIterator[Stack]:
    await postgres_db.migrate()
    # Nothing churns (NO_CHURN): every status the simulator expects is then exact.
    env = service_env(postgres_db, kafka_backend, topics, group_id, BASEWATCH_API_KEYS=KEYS)
    procs = [ServiceProcess("ingest", env), ServiceProcess("projector", env)]
    await asyncio.gather(*(p.start() for p in procs))
    try:
        async with httpx.AsyncClient() as client:
            for proc in procs:

                async def ready(port: int = proc.port) -> int:
                    try:
                        return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code
                    except httpx.TransportError:
                        return 0

                await eventually(ready, lambda status: status == 200, within=60, interval=0.2)
        yield Stack(f"http://127.0.0.1:{procs[0].port}", f"http://127.0.0.1:{procs[1].port}")
    finally:
        await asyncio.gather(*(p.stop() for p in procs))


async def _simulate(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "basewatch_shared.cli",
        "simulate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _erased_in_the_feed(client: httpx.AsyncClient) -> set[str]:
    """The customers GET /v1/erasures names, followed with its cursor to the end."""
    names: set[str] = set()
    after: dict[str, str] = {}
    while True:
        page = (await client.get("/v1/erasures", params={"limit": 2, **after})).json()
        names |= {item["customer_id"] for item in page["items"]}
        if not page["items"]:
            return names
        after = {"after": page["next_cursor"]}


def _money(revenue: dict[str, str]) -> dict[str, Decimal]:
    return {currency: Decimal(amount) for currency, amount in revenue.items()}


@pytest.mark.slow
async def test_simulated_traffic_is_valid_and_its_summary_is_what_the_projector_shows(
    stack: Stack, tmp_path: Path
) -> None:
    summary_path = tmp_path / "summary.json"
    # The command starts in about 5 s here (it imports every service): the runs that
    # must fail, sending nothing, go alongside the one that sends.
    (code, out, err), wrong_key, unreachable = await asyncio.gather(
        _simulate(
            f"--url={stack.ingest}",
            f"--key={INGEST_KEY}",
            "--population=60",
            "--duration=6s",
            "--speed=3600",  # six hours of history, ending now
            "--heartbeat-every=30m",
            "--seed=5",
            "--erase-share=0.1",  # six of the sixty customers
            f"--erase-key={ERASE_KEY}",
            "--progress-every=1",
            f"--at-risk-after={NO_CHURN['at_risk_after']}",
            f"--churn-after={NO_CHURN['churn_after']}",
            f"--summary-json={summary_path}",
        ),
        _simulate(f"--url={stack.ingest}", "--key=nope", "--duration=5s"),
        _simulate(f"--url=http://127.0.0.1:{free_port()}", "--duration=1s"),
    )
    assert code == 0, err
    assert "basewatch simulate: duration reached" in out
    assert "accepted" in err and "customers" in err  # progress lines, not on a terminal
    doc = json.loads(summary_path.read_text())
    events = doc["events"]
    assert events["rejected"] == 0 and events["unconfirmed"] == 0 and events["errors"] == []
    assert events["accepted"] == events["sent"] > 500
    expected = doc["expected"]
    assert expected["exact"] and expected["statuses_stable_from"] is None
    by_segment = expected["summary"]["customer_base"]["by_segment"]
    assert all(by_segment[s] > 0 for s in ("loyal", "one_time", "prospect", "suspect"))
    assert expected["summary"]["installed_base"]["by_status"]["uninstalled"] > 0
    erasures = doc["erasures"]
    assert (erasures["planned"], erasures["accepted"], erasures["unsent"]) == (6, 6, 0)
    assert erasures["rejected"] == erasures["unconfirmed"] == 0 and erasures["errors"] == []
    erased = set(expected["erased_customers"])
    assert len(erased) == 6 and "  erased " in err  # on the progress lines
    assert "  erasures    planned 6 (share 0.1): accepted 6, refused 0" in out
    assert "    erased customers         6 (in GET /v1/erasures" in out

    async with httpx.AsyncClient(base_url=stack.projector, headers=READ_AUTH) as client:

        async def state() -> tuple[int, dict[str, Any]]:
            lag = (await client.get("/v1/ops/lag")).json()
            return lag["lag_records"], (await client.get("/v1/summary")).json()

        await eventually(state, lambda s: s == (0, expected["summary"]), within=30, interval=0.25)
        for product_id, sales in expected["products"].items():
            product = (await client.get(f"/v1/products/{product_id}")).json()
            assert (product["units_sold"], product["orders"]) == (
                sales["units_sold"],
                sales["orders"],
            )
            assert _money(product["revenue"]) == _money(sales["revenue"])
        # Erased customers still count (the summary above), and the projector names them.
        assert await _erased_in_the_feed(client) == erased
        for customer_id in erased:
            customer = (await client.get(f"/v1/customers/{customer_id}")).json()
            assert (customer["erased"], customer["traits"]) == (True, {}), customer

    # A key without the erase scope ends the erasures, not the run: its events all count.
    code, out, _ = await _simulate(
        f"--url={stack.ingest}",
        f"--key={INGEST_KEY}",
        *("--population=5", "--duration=3s", "--speed=3600", "--heartbeat-every=30m"),
        *("--erase-share=1", f"--erase-key={READ_KEY}"),
    )
    assert code == 0, out
    assert "  erasures    planned 5 (share 1): accepted 0, refused 1," in out
    assert "not sent 4" in out and "ingest refused the erase key (403" in out

    # Clear errors, no tracebacks, and nothing sent.
    assert wrong_key[0] == 2
    assert "ingest refused the key (401" in wrong_key[2] and "Traceback" not in wrong_key[2]
    assert unreachable[0] == 2
    assert "cannot reach ingest at http://127.0.0.1:" in unreachable[2]
    assert "Traceback" not in unreachable[2]


# The production image installs only the services' dependencies: no httpx. The command
# must still start, and `simulate` must say what it lacks.
_WITHOUT_HTTPX = """
import sys

class NoHttpx:
    def find_spec(self, name, path=None, target=None):
        if name == "httpx" or name.startswith("httpx."):
            raise ModuleNotFoundError("No module named 'httpx'", name="httpx")
        return None

sys.meta_path.insert(0, NoHttpx())
from basewatch_shared.cli import main
main()
"""


async def test_the_command_works_without_httpx_and_simulate_says_what_it_needs() -> None:
    async def run(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WITHOUT_HTTPX,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return proc.returncode, out.decode()

    (keys_code, keys_out), (sim_code, sim_out) = await asyncio.gather(
        run("keys", "new", "app", "ingest"), run("simulate", "--duration=1s")
    )
    assert keys_code == 0, keys_out
    assert sim_code == 2
    assert "basewatch simulate: needs httpx" in sim_out and "Traceback" not in sim_out
