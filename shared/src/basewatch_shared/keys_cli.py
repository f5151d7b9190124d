"""``basewatch keys new NAME SCOPES``: make a key and the entry for BASEWATCH_API_KEYS."""

from __future__ import annotations

import argparse
import secrets

from basewatch_shared.settings import hash_key, parse_api_keys


def new_key(args: argparse.Namespace) -> int:
    """Print a fresh random key and its configuration entry (which holds only the hash)."""
    secret = "bw_" + secrets.token_urlsafe(32)
    entry = f"{args.name}:{args.scopes}:{hash_key(secret)}"
    parse_api_keys(entry)  # the entry we print must be one the services accept
    print(f"key (give this to the client, it is shown once): {secret}")
    print(f"BASEWATCH_API_KEYS entry (safe to store): {entry}")
    return 0


def command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``basewatch keys``."""
    keys = sub.add_parser("keys", help="make API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    new = keys_sub.add_parser("new", help="make a new key for a source app")
    new.add_argument("name", help="the key's name; it becomes the events' source")
    new.add_argument("scopes", choices=["ingest", "read", "ingest+read"])
    new.set_defaults(handler=new_key)
