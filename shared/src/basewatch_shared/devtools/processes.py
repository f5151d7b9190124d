"""Child processes that never outlive their parent (Linux)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGKILL the child when the forking thread dies.

    Fork from the main thread (or one that lives as long as the process): the signal
    fires when the *thread* that forked the child ends.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork, not in the child

    def preexec() -> None:
        if prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


_spawner_lock = threading.Lock()
_spawner: tuple[int, ThreadPoolExecutor] | None = None


def on_lasting_thread(popen: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Run ``popen`` on the main thread or on a thread that lives as long as the process.

    PR_SET_PDEATHSIG (``die_with_parent``) fires when the *thread* that forked the child
    ends, so a child started from a short-lived thread (``asyncio.to_thread``) would die
    with it.
    """
    if threading.current_thread() is threading.main_thread():
        return popen()
    global _spawner
    with _spawner_lock:
        if _spawner is None or _spawner[0] != os.getpid():  # threads do not survive a fork
            _spawner = (
                os.getpid(),
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="basewatch-broker-spawner"),
            )
        executor = _spawner[1]
    return executor.submit(popen).result()
