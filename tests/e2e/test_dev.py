"""`basewatch dev` as a user starts it: everything comes up, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from basewatch_shared.devtools.devkeys import DEV_ERASE_KEY, DEV_INGEST_KEY, DEV_READ_KEY
from basewatch_shared.topics import Topics
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.processes import cmdline, descendants

pytestmark = pytest.mark.slow


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


@dataclass
class Dev:
    """A running ``basewatch dev``: its process, its ports, and its exit code once stopped."""

    proc: asyncio.subprocess.Process
    ingest_port: int
    projector_port: int
    log: Path
    code: int | None = None

    def output(self) -> str:
        """Everything it printed so far."""
        return self.log.read_text()


@asynccontextmanager
async def _dev(
    tmp_path: Path, banner: str, stop: Callable[[asyncio.subprocess.Process], None], *extra: str
) -> AsyncIterator[Dev]:
    """``basewatch dev`` once it printed ``banner``; ``stop`` ends it after the block."""
    ingest_port, projector_port = free_port(), free_port()
    log = tmp_path / "dev.out"
    with log.open("w+") as out:
        proc = await _start_dev(tmp_path, out, ingest_port, projector_port, *extra)
        dev = Dev(proc, ingest_port, projector_port, log)
        try:

            async def output() -> str:
                return dev.output()

            text = await eventually(
                output, lambda t: banner in t or proc.returncode is not None, within=90
            )
            assert proc.returncode is None, text
            yield dev
        finally:
            stop(proc)
            try:
                dev.code = await asyncio.wait_for(proc.wait(), 30)
            finally:
                if proc.returncode is None:
                    proc.kill()


async def _all_gone(pids: set[int]) -> None:
    """Every process of ``pids`` has exited (within 10 s)."""

    async def survivors() -> list[int]:
        return [p for p in pids if _alive(p)]

    await eventually(survivors, lambda alive: alive == [], within=10)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
async def test_dev_runs_the_whole_system_and_stops_cleanly(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    async with _dev(tmp_path, "dev keys", lambda proc: proc.send_signal(stop_signal)) as dev:
        ingest_port, projector_port, text = dev.ingest_port, dev.projector_port, dev.output()
        bootstrap = re.search(r"broker\s+(\S+)", text)
        assert bootstrap, text
        spawned = descendants(dev.proc.pid)
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
        assert db.execute("select version_num from alembic_version").fetchone() == ("0008",)
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
            # The dev erase key erases (what `basewatch simulate` uses by default).
            assert f"erase: {DEV_ERASE_KEY}" in text
            erased = await client.post(
                f"http://127.0.0.1:{ingest_port}/v1/customers/c1/erase",
                headers={"Authorization": f"Bearer {DEV_ERASE_KEY}"},
            )
            assert erased.status_code == 202, erased.text
            gone = await eventually(read_back, lambda r: r.json()["erased"], within=30)
            assert gone.json()["traits"] == {}
    assert dev.code == 0, dev.output()
    assert "stopped." in dev.output()
    await _all_gone(spawned)


async def test_demo_shows_churn_within_a_minute_and_ctrl_c_stops_everything(
    tmp_path: Path,
) -> None:
    # Ctrl-C in a terminal: SIGINT to every process of the foreground group.
    async with _dev(
        tmp_path, "demo ", lambda proc: os.killpg(proc.pid, signal.SIGINT), "--demo"
    ) as dev:
        projector_port, text = dev.projector_port, dev.output()
        assert f"page        http://127.0.0.1:{projector_port}/" in text
        assert f"read key: {DEV_READ_KEY}" in text
        spawned = descendants(dev.proc.pid)
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
    text = dev.output()
    assert dev.code == 0, text
    assert "basewatch simulate: stopped after" in text and "stopped." in text
    assert "Traceback" not in text
    await _all_gone(spawned)


async def test_dev_refuses_to_serve_the_dev_keys_beyond_loopback(tmp_path: Path) -> None:
    # Found by attacking a running stack: a .env with BASEWATCH_HOST=0.0.0.0 (and no keys)
    # served the public dev keys to the network.
    (tmp_path / ".env").write_text("BASEWATCH_HOST=0.0.0.0\n")
    with (tmp_path / "dev.out").open("w") as out:
        proc = await _start_dev(tmp_path, out, free_port(), free_port())
        try:
            code = await asyncio.wait_for(proc.wait(), 30)
        finally:
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGINT)
                await proc.wait()
    printed = (tmp_path / "dev.out").read_text()
    assert code == 2, printed
    assert printed.strip().splitlines() == [
        "basewatch dev: BASEWATCH_HOST=0.0.0.0 would serve the public dev keys to the network; "
        "listen on 127.0.0.1, or set BASEWATCH_API_KEYS to keys of your own"
    ]
    assert not (tmp_path / "data").exists()  # refused before anything started
