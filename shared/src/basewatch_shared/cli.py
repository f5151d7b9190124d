"""The ``basewatch`` command.

Subcommands come from the ``basewatch.commands`` entry points that each installed
package declares (shared: ``dev``, ``simulate``, ``topics``, ``keys``; ingest:
``ingest``; projector: ``projector``, ``migrate``, ``churn``), so the shared package never
imports a service. Each entry point is a function that registers its parser and sets
``handler``. Only the command being run is loaded: a service process (``basewatch
ingest``) imports no other command's module, the dev tools least of all.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import TypeAlias

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Register = Callable[[Subparsers], None]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the parser from the installed commands: every one, or only the one named."""
    parser = argparse.ArgumentParser(
        prog="basewatch",
        description="basewatch: live customer base and installed base, with churn signals.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, entry in sorted(_commands().items()):
        if only is None or name == only:
            register: Register = entry.load()
            register(sub)
    return parser


def add_action(
    sub: Subparsers, command: str, command_help: str, action: str, action_help: str
) -> argparse.ArgumentParser:
    """Register ``basewatch COMMAND ACTION`` and return the action's parser."""
    parser = sub.add_parser(command, help=command_help)
    actions = parser.add_subparsers(dest=f"{command}_command", metavar="ACTION", required=True)
    return actions.add_parser(action, help=action_help)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a command line, loading only the command it names."""
    named = argv[0] if argv and argv[0] in _commands() else None
    # An unknown command or none (``basewatch --help``) loads every one, to list them.
    return build_parser(named).parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``basewatch`` console script."""
    args = parse(sys.argv[1:] if argv is None else argv)
    code: int = args.handler(args)
    sys.exit(code)


def _commands() -> dict[str, EntryPoint]:
    return {entry.name: entry for entry in entry_points(group="basewatch.commands")}


if __name__ == "__main__":
    main()
