"""basewatch services as separate processes, started the way production starts them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from typing import Self

from tests.fixtures.services import TEST_KEYS


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServiceProcess:
    """``basewatch <command>`` in a child process, with an environment of its own."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.command = command
        self.port = free_port()
        self.env = {
            **os.environ,
            "BASEWATCH_API_KEYS": TEST_KEYS,
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
