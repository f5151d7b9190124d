"""A service that cannot start says why in one line, and exits 1.

Both services read their settings, refuse to start without keys, then open what they
run on. A failure there is the operator's to fix: one critical log line that names
what is wrong (a setting by its variable's name, never its value, which may be a
secret), not a traceback.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from pydantic import ValidationError

from basewatch_shared.settings import CommonSettings, MissingKeys

S = TypeVar("S", bound=CommonSettings)


class CannotStart(Exception):
    """What a service needs is missing or wrong at start; str() says which and why."""


def read_settings(settings: type[S], *, keys: bool = True) -> S:
    """The settings (with keys, unless ``keys`` is false); CannotStart naming what is wrong."""
    try:
        read = settings()
    except ValidationError as exc:
        raise CannotStart(_describe(settings, exc)) from None
    try:
        if keys:
            read.require_keys()
    except MissingKeys as exc:
        raise CannotStart(str(exc)) from None
    return read


def refuse(service: str, why: BaseException) -> int:
    """Log why ``service`` cannot start, in one critical line; the exit code, 1."""
    logging.getLogger(f"basewatch.{service}").critical(f"{service} cannot start: {why}")
    return 1


def _describe(settings: type[CommonSettings], exc: ValidationError) -> str:
    """Every bad setting by its environment variable, with pydantic's message (no input)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    return "; ".join(
        f"{_variable(settings, e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in errors
    )


def _variable(settings: type[CommonSettings], loc: tuple[int | str, ...]) -> str:
    """The environment variable of the setting at ``loc``, and where inside it if nested."""
    if not loc:  # a rule across settings: its message names them
        return "settings"
    name, *inside = (str(part) for part in loc)
    aliases = {
        key: field.validation_alias
        for field_name, field in settings.model_fields.items()
        if isinstance(field.validation_alias, str)
        for key in (field_name, field.validation_alias)
    }
    prefix = settings.model_config.get("env_prefix", "")
    return ".".join([aliases.get(name, f"{prefix}{name}".upper()), *inside])
