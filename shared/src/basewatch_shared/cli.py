"""The ``basewatch`` command.

Subcommands come from the ``basewatch.commands`` entry points that each installed
package declares (shared: ``dev``, ``topics``, ``keys``; ingest: ``ingest``; projector:
``projector``, ``migrate``), so the shared package never imports a service.
Each entry point is a function that registers its parser and sets ``handler``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def build_parser() -> argparse.ArgumentParser:
    """Build the parser from every installed ``basewatch.commands`` entry point."""
    parser = argparse.ArgumentParser(
        prog="basewatch",
        description="basewatch: live customer base and installed base, with churn signals.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for ep in sorted(entry_points(group="basewatch.commands"), key=lambda e: e.name):
        register: Register = ep.load()
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``basewatch`` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    sys.exit(code)


if __name__ == "__main__":
    main()
