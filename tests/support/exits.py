"""A service started as an operator starts it, to see how it ends when it cannot start."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from tests.support.keys import MASTER_KEY, TEST_KEYS
from tests.support.ports import free_port

BASEWATCH = str(Path(sys.executable).with_name("basewatch"))


async def run_service(service: str, env: dict[str, str], within: float = 60) -> tuple[int, str]:
    """``basewatch SERVICE`` with only ``env`` (and test keys); its exit code and stderr."""
    return await run_command([service, "--port", str(free_port())], env, within)


async def run_command(args: list[str], env: dict[str, str], within: float = 60) -> tuple[int, str]:
    """``basewatch ARGS...`` with only ``env`` (and test keys); its exit code and stderr."""
    proc = await asyncio.create_subprocess_exec(
        BASEWATCH,
        *args,
        env={
            "PATH": "/usr/bin:/bin",
            "BASEWATCH_API_KEYS": TEST_KEYS,
            "BASEWATCH_MASTER_KEY": MASTER_KEY,
            **env,
        },
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), within)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def one_line(stderr: str, service: str) -> dict[str, Any]:
    """The only line on stderr, which must be a log line saying why the start failed."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    line: dict[str, Any] = json.loads(lines[0])
    assert line["level"] == "critical"
    assert line["msg"].startswith(f"{service} cannot start: "), line
    assert "exc" not in line
    return line
