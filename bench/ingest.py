"""Benchmark ingest over HTTP beside a naive baseline: ``python -m bench.ingest``.

Starts its own embedded broker, creates the topics, starts ingest (``basewatch
ingest``, as an operator does) and the naive baseline (``bench/naive.py``: one awaited
``send_and_wait`` per event), each as the same number of processes on ports of their
own (one per core by default: how a service scales behind a load balancer), drives
both from this process with ``bench/loadgen.py`` spreading connections over the
processes, and prints per phase the accepted events/s, requests/s, latency percentiles
and the CPU that server, broker and load generator used, then the peak RSS of each
server process. Every phase runs for a fixed time, so the whole run is bounded (about
45 s with the defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from basewatch_shared.devtools.broker import EmbeddedBroker
from basewatch_shared.devtools.processes import die_with_parent
from basewatch_shared.settings import hash_key
from basewatch_shared.topics import Topics, create_topics
from bench.loadgen import Address, Outcome, build_request, closed_loop, open_loop
from tests.support.ports import free_port

HOST = "127.0.0.1"
KEY = "bench-ingest-key"
ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
Requests = list[tuple[bytes, int]]


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
        return sum(_cpu_seconds(proc.pid) for proc in self.procs)

    def peak_rss_mib(self) -> float:
        """The largest peak RSS of its processes."""
        return max(_peak_rss_mib(proc.pid) for proc in self.procs)


def _event(n: int, now: datetime) -> dict[str, Any]:
    """One realistic event: mostly heartbeats, some installs, identifies and purchases."""
    occurred = (now - timedelta(seconds=n % 3600)).isoformat()
    common = {"event_id": uuid.uuid4().hex, "occurred_at": occurred, "sent_at": now.isoformat()}
    installation, customer = f"inst-{n % 10_000}", f"cus-{n % 5_000}"
    kind = n % 10
    if kind < 7:
        usage = {"sessions": n % 50, "active_minutes": n % 500}
        return common | {"type": "heartbeat", "installation_id": installation, "usage": usage}
    if kind == 7:
        install = {"customer_id": customer, "product_id": "editor", "version": "2.4.1"}
        return common | {"type": "install", "installation_id": installation} | install
    if kind == 8:
        traits = {"email": f"{customer}@example.com", "country": "DE", "plan": "pro"}
        return common | {"type": "identify", "customer_id": customer, "traits": traits}
    order = {"order_id": f"ord-{n}", "product_id": "editor", "amount": "49.90", "currency": "EUR"}
    return common | {"type": "purchase", "customer_id": customer} | order


def _requests(batch: int, count: int) -> Requests:
    """``count`` distinct request bodies of ``batch`` events each (one event: no wrapper)."""
    now = datetime.now(UTC)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    built: Requests = []
    for _ in range(count):
        events = [_event(random.randrange(1 << 30), now) for _ in range(batch)]
        body = orjson.dumps(events[0] if batch == 1 else {"events": events})
        built.append((build_request(HOST, "/v1/events", body, headers), batch))
    return built


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _busy_seconds() -> float:
    """CPU time all processes of the machine used so far (to see what else was running)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / TICK


def _peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _spawn(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
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
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=1):
                return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{argv} did not start") from None
            time.sleep(0.1)


def _start(name: str, argv: list[str], env: dict[str, str], processes: int) -> Server:
    spawned = [_spawn(argv, env) for _ in range(processes)]
    return Server(name, [proc for proc, _ in spawned], [port for _, port in spawned])


def _stop(servers: Sequence[Server]) -> None:
    procs = [proc for server in servers for proc in server.procs]
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def _servers(bootstrap: str, processes: int) -> Iterator[tuple[Server, Server]]:
    env = dict(os.environ)
    env |= {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "BASEWATCH_KAFKA_IDEMPOTENCE": "false",
        "BASEWATCH_API_KEYS": f"bench:ingest:{hash_key(KEY)}",
        "BASEWATCH_LOG_LEVEL": "WARNING",
        # The benchmark measures throughput, not the rate limiter.
        "BASEWATCH_RATE_LIMIT_EVENTS": "1e9",
        "BASEWATCH_RATE_LIMIT_BURST": "1000000000",
    }
    cli = [sys.executable, "-m", "basewatch_shared.cli", "ingest"]
    naive = [sys.executable, "-m", "uvicorn", "bench.naive:create_app", "--factory"]
    naive += ["--no-access-log", "--log-level", "warning", "--host", HOST]
    servers: list[Server] = []
    try:
        servers.append(_start("ingest", cli, env, processes))
        servers.append(_start("naive", naive, env, processes))
        yield servers[0], servers[1]
    finally:
        _stop(servers)


def _row(label: str, outcome: Outcome, cpu: Sequence[float]) -> str:
    codes = ",".join(f"{code}x{n}" for code, n in sorted(outcome.statuses.items()))
    if outcome.errors:
        codes += f" errors={outcome.errors}"
    percent = " ".join(f"{100 * c / outcome.seconds:>5.0f}" for c in cpu)
    return (
        f"{label:<31} {outcome.events_accepted / outcome.seconds:>9,.0f} "
        f"{outcome.requests / outcome.seconds:>7,.0f} "
        f"{outcome.percentile(50):>6.1f} {outcome.percentile(95):>6.1f} "
        f"{outcome.percentile(99):>6.1f} {percent}  {codes}"
    )


async def _phase(
    server: Server,
    broker_pid: int,
    label: str,
    batch: int,
    args: argparse.Namespace,
    rate: float | None,
) -> str:
    requests = _requests(batch, 200 if batch > 1 else 2000)
    warm = await closed_loop(server.addresses, requests[:20], args.clients, args.warmup)
    if set(warm.statuses) != {202}:
        raise SystemExit(f"{server.name} answered {warm.statuses} during warm-up")
    before = (
        server.cpu_seconds(),
        _cpu_seconds(broker_pid),
        time.process_time(),
        _busy_seconds(),
    )
    if rate is None:
        clients = args.clients if batch > 1 else args.single_clients
        outcome = await closed_loop(server.addresses, requests, clients, args.seconds)
    else:
        outcome = await open_loop(server.addresses, requests, rate, args.seconds)
    after = (
        server.cpu_seconds(),
        _cpu_seconds(broker_pid),
        time.process_time(),
        _busy_seconds(),
    )
    cpu = [b - a for a, b in zip(before, after, strict=True)]
    cpu[3] -= sum(cpu[:3])  # the rest of the machine: other processes, the kernel
    return _row(f"{server.name:<7} {label}", outcome, cpu)


async def _run(ingest: Server, naive: Server, broker_pid: int, args: argparse.Namespace) -> None:
    phases: Sequence[tuple[str, int, float | None]] = [
        (f"batch {args.batch}", args.batch, None),
        ("batch 100", 100, None),
        ("single event", 1, None),
        (f"single event @ {args.rate:.0f}/s", 1, args.rate),
    ]
    for label, batch, rate in phases:
        for server in (ingest, naive):
            print(await _phase(server, broker_pid, label, batch, args, rate), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print one line per phase and server."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured time per phase")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured time per phase")
    parser.add_argument("--batch", type=int, default=500, help="events per batch request")
    parser.add_argument("--clients", type=int, default=8, help="connections for batches")
    parser.add_argument("--single-clients", type=int, default=32, help="connections, single")
    parser.add_argument("--rate", type=float, default=1000, help="single events/s, paced phase")
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="processes per server"
    )
    parser.add_argument("--partitions", type=int, default=6)
    args = parser.parse_args(argv)
    print(
        f"{os.cpu_count()} CPUs, {args.processes} process(es) per server, {args.partitions} "
        f"partitions, load average before: {os.getloadavg()[0]:.2f}"
    )
    with ExitStack() as stack:
        broker = stack.enter_context(EmbeddedBroker())
        asyncio.run(create_topics(broker.bootstrap_servers, Topics(), args.partitions, 1))
        ingest, naive = stack.enter_context(_servers(broker.bootstrap_servers, args.processes))
        print(
            f"{'':<31} {'events/s':>9} {'req/s':>7} {'p50ms':>6} {'p95ms':>6} {'p99ms':>6} "
            f"{'srv%':>5} {'brk%':>5} {'gen%':>5} {'oth%':>5}"
        )
        asyncio.run(_run(ingest, naive, broker.pid, args))
        print(
            f"peak RSS per process: ingest {ingest.peak_rss_mib():.0f} MiB, "
            f"naive {naive.peak_rss_mib():.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
