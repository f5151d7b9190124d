"""How ingest starts when it cannot, or cannot yet: one line, never a traceback.

A bad setting, a broker address that can never work or no keys: ``basewatch ingest``
exits 1 with one critical line that names the setting, never its value (it may be a
secret). Before, each was a traceback (pydantic's, aiokafka's or a ValueError). A broker
that is down is no such case: ingest starts, says so once, and keeps trying quietly
(before, aiokafka's error and ours were logged at every attempt).
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import httpx
import pytest

from tests.support.exits import BASEWATCH, one_line, run_service
from tests.support.keys import MASTER_KEY, TEST_KEYS
from tests.support.polling import eventually
from tests.support.ports import free_port

SECRET = "s3cr3t-value-0f-the-operator"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"BASEWATCH_PORT": SECRET}, "BASEWATCH_PORT: Input should be a valid integer"),
        (
            {"BASEWATCH_API_KEYS": f"shop:ingest:{SECRET}"},
            "BASEWATCH_API_KEYS: API key 'shop': the third part must be a hex SHA-256",
        ),
        ({"BASEWATCH_PRODUCE_TIMEOUT": SECRET}, "BASEWATCH_PRODUCE_TIMEOUT: not a duration"),
        ({"KAFKA_BOOTSTRAP_SERVERS": f"{SECRET}:port"}, "KAFKA_BOOTSTRAP_SERVERS: must be"),
        ({"BASEWATCH_LOG_LEVEL": SECRET}, "BASEWATCH_LOG_LEVEL: must be one of"),
        ({"BASEWATCH_RATE_LIMIT_BURST": "10"}, "rate_limit_burst must be at least 1000"),
        ({"BASEWATCH_API_KEYS": ""}, "no API keys configured"),
    ],
)
async def test_a_bad_setting_is_one_line_naming_it_not_its_value(
    env: dict[str, str], named: str
) -> None:
    code, err = await run_service("ingest", env)
    assert code == 1
    assert named in one_line(err, "ingest")["msg"]
    assert SECRET not in err


async def test_a_broker_that_is_down_is_said_once_while_ingest_serves() -> None:
    down, port = f"127.0.0.1:{free_port()}", free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "BASEWATCH_API_KEYS": TEST_KEYS,
        "BASEWATCH_MASTER_KEY": MASTER_KEY,
        "KAFKA_BOOTSTRAP_SERVERS": down,
        "BASEWATCH_LOG_LEVEL": "DEBUG",  # to see the attempts that go on quietly
    }
    proc = await asyncio.create_subprocess_exec(
        BASEWATCH, "ingest", "--port", str(port), env=env, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    lines: list[dict[str, Any]] = []

    async def attempts() -> int:
        while len(lines) < 200:
            raw = await asyncio.wait_for(proc.stderr.readline(), 20)  # type: ignore[union-attr]
            lines.append(json.loads(raw))
            if sum("retrying" in line["msg"] for line in lines) >= 3:
                break
        return sum("retrying" in line["msg"] for line in lines)

    try:
        assert await attempts() >= 3  # the first attempt and two more in the background
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            ready = await eventually(lambda: client.get("/readyz"), lambda r: True)
            assert ready.status_code == 503
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(proc.stderr.read(), 30)
    assert await proc.wait() == 0
    lines += [json.loads(line) for line in rest.decode().splitlines()]
    shown = [line for line in lines if line["level"] not in ("debug",)]
    about_the_broker = [line for line in shown if "broker" in line["msg"]]
    assert [line["level"] for line in about_the_broker] == ["warning"], shown
    assert about_the_broker[0]["msg"].startswith(f"cannot connect to the broker at {down} yet")
    assert not [line for line in lines if line["logger"].startswith("aiokafka")], lines
    assert not [line for line in lines if "exc" in line], lines
