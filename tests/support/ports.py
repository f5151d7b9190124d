"""Free loopback ports, for processes and servers a test starts."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def bound_socket() -> socket.socket:
    """A TCP socket bound to a free loopback port; the caller closes it (or serves on it)."""
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted connections only when
    # the listening socket says TCP, and without it every keep-alive request waits ~40 ms
    # (Nagle against delayed ACKs), unlike under `basewatch ingest`.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((HOST, 0))
    return sock


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with bound_socket() as sock:
        port: int = sock.getsockname()[1]
        return port
