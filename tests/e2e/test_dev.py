"""`basewatch dev` as a user starts it: everything comes up, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import IO

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from basewatch_shared.devtools.dev import DEV_INGEST_KEY, DEV_READ_KEY
from basewatch_shared.topics import Topics
from tests.polling import eventually
from tests.support.processes import cmdline, descendants, free_port

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


async def _start_dev(
    tmp_path: Path, out: IO[str], ingest_port: int, projector_port: int, *extra: str
) -> asyncio.subprocess.Process:
    """``basewatch dev`` on free ports, in its own session (a terminal's process group)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "BASEWATCH_API_KEYS")
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "basewatch_shared.cli",
        "dev",
        "--partitions",
        "3",
        "--ingest-port",
        str(ingest_port),
        "--projector-port",
        str(projector_port),
        "--data-dir",
        str(tmp_path / "data"),
        *extra,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
async def test_dev_runs_the_whole_system_and_stops_cleanly(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    ingest_port, projector_port = free_port(), free_port()
    out = (tmp_path / "dev.out").open("w+")
    proc = await _start_dev(tmp_path, out, ingest_port, projector_port)
    try:

        async def banner() -> str:
            return (tmp_path / "dev.out").read_text()

        text = await eventually(
            banner, lambda t: "dev keys" in t or proc.returncode is not None, within=90
        )
        assert proc.returncode is None, text
        bootstrap = re.search(r"broker\s+(\S+)", text)
        assert bootstrap, text
        spawned = descendants(proc.pid)
        assert len(spawned) >= 3  # broker, ingest, projector

        # The topics exist with the partitions asked for.
        topics = Topics()
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.group(1))
        await admin.start()
        try:
            described = await admin.describe_topics(list(topics.all))
        finally:
            await admin.close()
        assert {t["topic"]: len(t["partitions"]) for t in described} == dict.fromkeys(topics.all, 3)
        # The migrations ran.
        db = sqlite3.connect(tmp_path / "data" / "basewatch.db")
        assert db.execute("select version_num from alembic_version").fetchone() == ("0003",)
        db.close()

        async with httpx.AsyncClient() as client:
            for port in (ingest_port, projector_port):
                health = await client.get(f"http://127.0.0.1:{port}/healthz")
                assert health.status_code == 200
            sent = await client.post(
                f"http://127.0.0.1:{ingest_port}/v1/events",
                headers={"Authorization": f"Bearer {DEV_INGEST_KEY}"},
                json={
                    "event_id": "e1",
                    "type": "identify",
                    "customer_id": "c1",
                    "occurred_at": "2026-11-22T10:00:00Z",
                    "traits": {"name": "Ada"},
                },
            )
            assert sent.status_code == 202, sent.text

            async def read_back() -> httpx.Response:
                return await client.get(
                    f"http://127.0.0.1:{projector_port}/v1/customers/c1",
                    headers={"Authorization": f"Bearer {DEV_READ_KEY}"},
                )

            found = await eventually(read_back, lambda r: r.status_code == 200, within=30)
            assert found.json()["traits"] == {"name": "Ada"}
    finally:
        proc.send_signal(stop_signal)
        try:
            code = await asyncio.wait_for(proc.wait(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
        out.close()
    assert code == 0, (tmp_path / "dev.out").read_text()
    assert "stopped." in (tmp_path / "dev.out").read_text()

    async def survivors() -> list[int]:
        return [p for p in spawned if _alive(p)]

    await eventually(survivors, lambda alive: alive == [], within=10)


async def test_demo_shows_churn_within_a_minute_and_ctrl_c_stops_everything(
    tmp_path: Path,
) -> None:
    ingest_port, projector_port = free_port(), free_port()
    out = (tmp_path / "dev.out").open("w+")
    proc = await _start_dev(tmp_path, out, ingest_port, projector_port, "--demo")
    try:

        async def output() -> str:
            return (tmp_path / "dev.out").read_text()

        text = await eventually(
            output, lambda t: "demo " in t or proc.returncode is not None, within=90
        )
        assert proc.returncode is None, text
        assert f"page        http://127.0.0.1:{projector_port}/" in text
        assert f"read key: {DEV_READ_KEY}" in text
        spawned = descendants(proc.pid)
        commands = {pid: cmdline(pid) for pid in spawned}
        assert any(b"simulate" in command for command in commands.values()), commands

        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{projector_port}",
            headers={"Authorization": f"Bearer {DEV_READ_KEY}"},
        ) as client:

            async def at_risk() -> list[dict[str, object]]:
                response = await client.get("/v1/signals?kind=installation.at_risk")
                items: list[dict[str, object]] = response.json()["items"]
                return items

            # 20 s of silence makes an installation at risk; the first silences start
            # within seconds of the first heartbeats.
            signals = await eventually(at_risk, bool, within=60, interval=1)
            assert signals[0]["status"] == "at_risk"
            summary = (await client.get("/v1/summary")).json()
            assert summary["customer_base"]["total"] > 0
            assert summary["installed_base"]["total"] > 0
    finally:
        # Ctrl-C in a terminal: SIGINT to every process of the foreground group.
        os.killpg(proc.pid, signal.SIGINT)
        try:
            code = await asyncio.wait_for(proc.wait(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
        out.close()
    text = (tmp_path / "dev.out").read_text()
    assert code == 0, text
    assert "basewatch simulate: stopped after" in text and "stopped." in text
    assert "Traceback" not in text

    async def survivors() -> list[int]:
        return [p for p in spawned if _alive(p)]

    await eventually(survivors, lambda alive: alive == [], within=10)
