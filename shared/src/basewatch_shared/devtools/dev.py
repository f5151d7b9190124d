"""``basewatch dev``: the whole system on one machine, with nothing configured.

Starts the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set), creates the
topics, migrates the database, starts ingest and the projector as child processes,
prints what it started, and on Ctrl-C or SIGTERM stops everything it started.

``--demo`` also runs ``basewatch simulate`` against it, with churn thresholds of
seconds instead of days (``DEMO_ENV``), so that churn signals appear within a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from basewatch_shared.devtools.broker import EmbeddedBroker
from basewatch_shared.devtools.devkeys import (
    DEV_ERASE_KEY,
    DEV_INGEST_KEY,
    DEV_READ_KEY,
    use_dev_keys_on_loopback_only,
)
from basewatch_shared.devtools.processes import die_with_parent
from basewatch_shared.keyring.master import new_master_key
from basewatch_shared.topics import Topics, create_topics

# The demo's projector: silence of seconds is churn, swept and recorded every few
# seconds. The simulation's silences (at 5 s heartbeats) last 10 s to forever; at most
# about 2 % of the installations fall silent per heartbeat, far below the share the
# mass-silence guard holds as an outage (so it keeps guarding a stalled simulator).
DEMO_AT_RISK_AFTER, DEMO_CHURN_AFTER = "20s", "45s"
DEMO_ENV = {
    "BASEWATCH_AT_RISK_AFTER": DEMO_AT_RISK_AFTER,
    "BASEWATCH_CHURN_AFTER": DEMO_CHURN_AFTER,
    "BASEWATCH_SWEEP_INTERVAL": "2s",
    "BASEWATCH_HISTORY_INTERVAL": "5s",
    "BASEWATCH_HOLD_CHURN_ABOVE": "0.8",
    "BASEWATCH_HOLD_MIN_TRANSITIONS": "20",
}
DEMO_POPULATION, DEMO_HEARTBEAT = 300, "5s"


def _wait_healthy(url: str, procs: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"a service exited during start-up (see above); {url} never answered")
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer within {timeout_s:.0f} s")
        time.sleep(0.2)


def _spawn(name: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return _child([name, "--port", str(port)], env)


def _simulate(ingest_port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The demo's traffic until stopped: 5 s heartbeats, the demo thresholds, a few erasures."""
    return _child(
        [
            "simulate",
            f"--url=http://127.0.0.1:{ingest_port}",
            f"--key={DEV_INGEST_KEY}",
            f"--erase-key={DEV_ERASE_KEY}",
            f"--population={DEMO_POPULATION}",
            f"--heartbeat-every={DEMO_HEARTBEAT}",
            f"--at-risk-after={DEMO_AT_RISK_AFTER}",
            f"--churn-after={DEMO_CHURN_AFTER}",
            "--progress-every=15",
            "--wait=60s",
        ],
        env,
    )


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "basewatch_shared.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent(os.getpid()),
    )


def _stop(procs: list[subprocess.Popen[bytes]], timeout_s: float = 15) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(args: argparse.Namespace) -> int:
    """Start everything, print where it is, wait for Ctrl-C or SIGTERM, stop everything."""
    data = Path(args.data_dir)
    env = dict(os.environ)
    refusal = use_dev_keys_on_loopback_only(env)
    if refusal:
        print(f"basewatch dev: {refusal}", file=sys.stderr)
        return 2
    data.mkdir(parents=True, exist_ok=True)
    env.setdefault("BASEWATCH_LOG_LEVEL", "WARNING")
    # The embedded broker starts empty, so a master key of this run alone loses nothing.
    env.setdefault("BASEWATCH_MASTER_KEY", new_master_key())
    if args.demo:
        env.update(DEMO_ENV)
    # SIGTERM is handled like Ctrl-C: unwind, stopping whatever has been started so far.
    # SIGINT explicitly too: Python leaves it ignored when it started ignored (a background
    # job), and the demo's simulation, which handles it itself, would then stop alone.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        _run(args, data, env, procs)
        code = 1
    except KeyboardInterrupt:
        code = 0
    print("stopped." if code == 0 else "a service exited unexpectedly; everything is stopped.")
    return code


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _run(
    args: argparse.Namespace,
    data: Path,
    env: dict[str, str],
    procs: list[subprocess.Popen[bytes]],
) -> None:
    with ExitStack() as stack:
        _broker_and_database(stack, data, env)
        bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
        topics = Topics(env.get("BASEWATCH_TOPIC_PREFIX", "basewatch."))
        asyncio.run(create_topics(bootstrap, topics, args.partitions, 1))
        subprocess.run(
            [sys.executable, "-m", "basewatch_shared.cli", "migrate"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        watched = _start(stack, args, env, procs)
        _wait_healthy(f"http://127.0.0.1:{args.ingest_port}/healthz", watched, 60)
        _wait_healthy(f"http://127.0.0.1:{args.projector_port}/healthz", watched, 60)
        _banner(args, bootstrap, env["DATABASE_URL"], topics, args.partitions)
        stack.callback(print, "\nstopping basewatch ...", flush=True)
        while all(p.poll() is None for p in watched):
            time.sleep(0.2)


def _broker_and_database(stack: ExitStack, data: Path, env: dict[str, str]) -> None:
    """The embedded broker unless one is configured, and the SQLite file unless a database is."""
    if "KAFKA_BOOTSTRAP_SERVERS" not in env:
        broker = stack.enter_context(EmbeddedBroker(log_path=data / "broker.log"))
        env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
        env["BASEWATCH_KAFKA_IDEMPOTENCE"] = "false"  # the embedded broker lacks it
        if "DATABASE_URL" not in env:
            # The embedded broker starts empty every time; so does the database
            # that mirrors it, or its stored offsets would point past the log's end.
            for leftover in data.glob("basewatch.db*"):
                leftover.unlink()
    env.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{data.resolve()}/basewatch.db")


def _start(
    stack: ExitStack,
    args: argparse.Namespace,
    env: dict[str, str],
    procs: list[subprocess.Popen[bytes]],
) -> list[subprocess.Popen[bytes]]:
    """Start the services (and the demo's simulation); the processes to watch."""
    stack.callback(_stop, procs)
    procs.append(_spawn("ingest", args.ingest_port, env))
    procs.append(_spawn("projector", args.projector_port, env))
    watched = list(procs)
    if args.demo:
        # Started alongside the services (it waits for ingest) and stopped before them
        # (callbacks run last in, first out): its last requests are answered and its
        # summary is complete.
        simulation = [_simulate(args.ingest_port, env)]
        stack.callback(_stop, simulation)
        watched += simulation
    return watched


def _banner(args: argparse.Namespace, bootstrap: str, db: str, topics: Topics, n: int) -> None:
    ingest, projector = (
        f"http://127.0.0.1:{args.ingest_port}",
        f"http://127.0.0.1:{args.projector_port}",
    )
    if args.demo and sys.stdout.isatty():
        print("\r\x1b[K", end="")  # clear the simulation's progress line, which started first
    print(
        f"""
basewatch is running. Ctrl-C stops everything.

  ingest      {ingest}      POST /v1/events    openapi: {ingest}/openapi.json
  projector   {projector}      GET /v1/...        openapi: {projector}/openapi.json
  broker      {bootstrap}   topics: {", ".join(topics.all)} ({n} partitions)
  database    {db}

  dev keys    ingest: {DEV_INGEST_KEY}    read: {DEV_READ_KEY}    erase: {DEV_ERASE_KEY}
""",
        flush=True,
    )
    if args.demo:
        print(
            f"""  page        {projector}/    (read key: {DEV_READ_KEY})
  demo        {DEMO_POPULATION} simulated customers, a heartbeat every {DEMO_HEARTBEAT} per \
installation; at risk after {DEMO_AT_RISK_AFTER} of silence, churned after {DEMO_CHURN_AFTER}
""",
            flush=True,
        )


def command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``basewatch dev``."""
    parser = sub.add_parser("dev", help="run the whole system locally (embedded broker, SQLite)")
    parser.add_argument(
        "--partitions", type=int, default=int(os.environ.get("BASEWATCH_PARTITIONS", "6"))
    )
    parser.add_argument("--ingest-port", type=int, default=8080)
    parser.add_argument("--projector-port", type=int, default=8081)
    parser.add_argument("--data-dir", default=".basewatch", help="where local files go")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="also run `basewatch simulate`, with churn after seconds instead of days",
    )
    parser.set_defaults(handler=run)
