"""The replay benchmark still runs: on a tiny backlog, as a user runs it, with the real
broker and database. Its figures are not checked here (speed is measured by running the
benchmarks, never by tests); that it finishes and prints them is. Nothing ran
``bench.replay`` but people, so a change that broke it (or made it hang) went unseen
until the next person measured."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


async def test_the_replay_benchmark_finishes_and_prints_the_cost_per_boundary(
    kafka_bootstrap: str, pg_url: str
) -> None:
    url = make_url(pg_url).set(drivername="postgresql+asyncpg")
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        BENCH_DATABASE_URL=url.render_as_string(hide_password=False),
    )
    args = ["--events", "300", "--installations", "30", "--boundaries", "5"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.replay", *args, "--port", str(free_port()),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 180)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.decode()
    assert proc.returncode == 0, text
    assert re.search(r"received over 5 hourly boundaries\s+[\d.]+ s", text), text
    assert re.search(r"per boundary crossed\s+-?[\d.]+ ms", text), text
