"""basewatch services as separate processes, started the way production starts them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Self

from basewatch_shared.topics import Topics
from tests.support.databases import TestDatabase
from tests.support.kafka import KafkaBackend
from tests.support.keys import MASTER_KEY, TEST_KEYS
from tests.support.ports import free_port
from tests.support.services import NO_CHURN, session_timeout


def service_env(
    database: TestDatabase, kafka: KafkaBackend, topics: Topics, group: str, **extra: str
) -> dict[str, str]:
    """The environment of a service process on these topics, group and database; no churn."""
    return {
        **database.env(),
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "BASEWATCH_KAFKA_IDEMPOTENCE": str(kafka.idempotence).lower(),
        "BASEWATCH_TOPIC_PREFIX": topics.prefix,
        "BASEWATCH_CONSUMER_GROUP": group,
        "BASEWATCH_CONSUMER_SESSION_TIMEOUT": session_timeout(kafka),
        "BASEWATCH_AT_RISK_AFTER": NO_CHURN["at_risk_after"],
        "BASEWATCH_CHURN_AFTER": NO_CHURN["churn_after"],
        **extra,
    }


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> bytes:
    """A process's command line (NUL-separated), empty once it has gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class ServiceProcess:
    """``basewatch <command>`` in a child process, with an environment of its own."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.command = command
        self.port = free_port()
        self.env = {
            **os.environ,
            "BASEWATCH_API_KEYS": TEST_KEYS,
            "BASEWATCH_MASTER_KEY": MASTER_KEY,
            "BASEWATCH_LOG_LEVEL": "WARNING",
            **env,
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Self:
        """Start the process (it keeps running until killed or stopped)."""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "basewatch_shared.cli",
            self.command,
            "--port",
            str(self.port),
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
        )
        return self

    async def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    def hold(self) -> None:
        """SIGSTOP: the process stands still, mid-work, until ``release``."""
        assert self.proc is not None and self.proc.returncode is None
        self.proc.send_signal(signal.SIGSTOP)

    def release(self) -> None:
        """SIGCONT: a held process goes on where it stood."""
        assert self.proc is not None and self.proc.returncode is None
        self.proc.send_signal(signal.SIGCONT)

    async def stop(self, grace: float = 30) -> int:
        """SIGTERM and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        assert self.proc.returncode is not None
        return self.proc.returncode
