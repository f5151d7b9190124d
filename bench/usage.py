"""What the kernel counts for the processes a benchmark measures (read from /proc).

CPU time as seconds used so far, so a measurement is the difference of two readings.
PostgreSQL's CPU is that of every process of the server: the live ones, and (through
the postmaster's count of its reaped children) the backends that ended meanwhile.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (field 3 onward)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) used so far by a process."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK


def busy_seconds() -> float:
    """CPU time all processes of the machine used so far (to see what else was running)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / TICK


def postgres_seconds() -> float | None:
    """CPU time the local PostgreSQL server used so far; None when it is not visible here
    (another machine, another container)."""
    total, found = 0.0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not _is_postgres(entry.name):
            continue
        try:
            fields = _stat(int(entry.name))
        except OSError:  # it ended while we looked
            continue
        found = True
        total += int(fields[11]) + int(fields[12])
        if not _is_postgres(fields[1]):  # the postmaster
            total += int(fields[13]) + int(fields[14])  # its reaped children's
    return total / TICK if found else None


def _is_postgres(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except OSError:
        return False


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True)
class Usage:
    """CPU seconds of the measured process, of PostgreSQL (None: not visible here) and of
    the whole machine; read as counters so far, or as what a stretch of time used."""

    process: float
    postgres: float | None
    machine: float

    @classmethod
    def now(cls, pid: int | None = None) -> Usage:
        """The counters so far; the process is ``pid``, or this one without it."""
        own = time.process_time() if pid is None else cpu_seconds(pid)
        return cls(own, postgres_seconds(), busy_seconds())

    def since(self, before: Usage, *, process: float | None = None) -> Usage:
        """What was used from ``before`` to these counters (``process``: the measured
        process's own figure, when it reported it itself)."""
        postgres = (
            None
            if self.postgres is None or before.postgres is None
            else self.postgres - before.postgres
        )
        own = self.process - before.process if process is None else process
        return Usage(own, postgres, self.machine - before.machine)

    def per_event_us(self, events: int) -> Usage:
        """These seconds as microseconds per event, over ``events``."""
        scale = 1e6 / max(1, events)
        postgres = None if self.postgres is None else self.postgres * scale
        return Usage(self.process * scale, postgres, self.machine * scale)
