"""``basewatch dev``: the whole system on one machine, with nothing configured.

Starts the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS is set), creates the
topics, migrates the database, starts ingest and the projector as child processes,
prints what it started, and on Ctrl-C or SIGTERM stops everything it started.
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

from basewatch_shared.broker import EmbeddedBroker
from basewatch_shared.processes import die_with_parent
from basewatch_shared.settings import hash_key
from basewatch_shared.topics import Topics, create_topics

# Well-known keys for the local run only; production refuses to start without its own.
DEV_INGEST_KEY = "dev-ingest-key"
DEV_READ_KEY = "dev-read-key"
DEV_KEYS = f"dev-app:ingest:{hash_key(DEV_INGEST_KEY)},dev-reader:read:{hash_key(DEV_READ_KEY)}"


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
    return subprocess.Popen(
        [sys.executable, "-m", "basewatch_shared.cli", name, "--port", str(port)],
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
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("BASEWATCH_API_KEYS", DEV_KEYS)
    env.setdefault("BASEWATCH_LOG_LEVEL", "WARNING")
    # SIGTERM is handled like Ctrl-C: unwind, stopping whatever has been started so far.
    signal.signal(signal.SIGTERM, _interrupt)
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
        bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
        topics = Topics(env.get("BASEWATCH_TOPIC_PREFIX", "basewatch."))
        asyncio.run(create_topics(bootstrap, topics, args.partitions, 1))
        subprocess.run(
            [sys.executable, "-m", "basewatch_shared.cli", "migrate"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        stack.callback(_stop, procs)
        procs.append(_spawn("ingest", args.ingest_port, env))
        procs.append(_spawn("projector", args.projector_port, env))
        _wait_healthy(f"http://127.0.0.1:{args.ingest_port}/healthz", procs, 60)
        _wait_healthy(f"http://127.0.0.1:{args.projector_port}/healthz", procs, 60)
        _banner(args, bootstrap, env["DATABASE_URL"], topics, args.partitions)
        stack.callback(print, "\nstopping basewatch ...", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(0.2)


def _banner(args: argparse.Namespace, bootstrap: str, db: str, topics: Topics, n: int) -> None:
    ingest, projector = (
        f"http://127.0.0.1:{args.ingest_port}",
        f"http://127.0.0.1:{args.projector_port}",
    )
    print(
        f"""
basewatch is running. Ctrl-C stops everything.

  ingest      {ingest}      POST /v1/events    docs: {ingest}/docs
  projector   {projector}      GET /v1/...        docs: {projector}/docs
  broker      {bootstrap}   topics: {", ".join(topics.all)} ({n} partitions)
  database    {db}

  dev keys    ingest: {DEV_INGEST_KEY}    read: {DEV_READ_KEY}
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
    parser.set_defaults(handler=run)
