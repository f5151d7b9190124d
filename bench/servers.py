"""The processes a benchmark measures: started on ports of their own, timed by /proc.

Each server is started as its own processes (as many as asked, how a service scales
behind a load balancer) that die with the benchmark, and is measured by the CPU time and
peak memory the kernel counts for them.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from basewatch_shared.devtools.processes import die_with_parent
from bench.usage import cpu_seconds, peak_rss_mib
from tests.support.ports import free_port

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
Address = tuple[str, int]


@dataclass(frozen=True)
class Server:
    """A service under test: its name, and its processes with their ports."""

    name: str
    procs: list[subprocess.Popen[bytes]]
    ports: list[int]

    @property
    def addresses(self) -> list[Address]:
        """Where its processes listen."""
        return [(HOST, port) for port in self.ports]

    def cpu_seconds(self) -> float:
        """CPU time its processes used so far."""
        return sum(cpu_seconds(proc.pid) for proc in self.procs)

    def peak_rss_mib(self) -> float:
        """The largest peak RSS of its processes."""
        return max(peak_rss_mib(proc.pid) for proc in self.procs)


def _spawn(argv: list[str], env: dict[str, str], ready: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [*argv, "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent(os.getpid()),
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}{ready}", timeout=1):
                return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{argv} did not start") from None
            time.sleep(0.1)


def start(
    name: str, argv: list[str], env: dict[str, str], processes: int, ready: str = "/healthz"
) -> Server:
    """Start ``processes`` processes of ``argv --port N`` and wait until each answers 200
    at ``ready``."""
    spawned = [_spawn(argv, env, ready) for _ in range(processes)]
    return Server(name, [proc for proc, _ in spawned], [port for _, port in spawned])


def stop(servers: Sequence[Server]) -> None:
    """SIGTERM every process, SIGKILL those still there after 15 s."""
    procs = [proc for server in servers for proc in server.procs]
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
