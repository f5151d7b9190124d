"""Validation errors as clients see them: a dotted field and a message that echoes no input."""

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from basewatch_shared.contract.events import EVENT_TYPES
from basewatch_shared.contract.limits import MAX_FIELD_CHARS, MAX_MESSAGE_CHARS
from basewatch_shared.contract.scalars import PATTERN_MESSAGES


def error_list(exc: ValidationError) -> list[dict[str, str]]:
    """Turn a ValidationError into [{"field": "traits.country", "message": "..."}] for clients."""
    return [_describe(error) for error in exc.errors(include_url=False, include_input=False)]


def _describe(error: ErrorDetails) -> dict[str, str]:
    """One client-facing error: the dotted field path and a message that echoes no input."""
    loc = [str(part) for part in error["loc"]]
    if loc and loc[0] in EVENT_TYPES:
        del loc[0]  # the union's tag, not a field the client wrote
    ctx = error.get("ctx", {})
    message = error["msg"]
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc, message = ["type"], "must be one of " + ", ".join(EVENT_TYPES)
    elif error["type"] == "string_pattern_mismatch":
        message = PATTERN_MESSAGES.get(ctx.get("pattern", ""), message)
    elif "path" in ctx and "reason" in ctx:
        loc.append(ctx["path"])
        message = ctx["reason"]
    field = ".".join(loc)
    if len(field) > MAX_FIELD_CHARS:  # keys in the path are client input
        field = field[:MAX_FIELD_CHARS] + "…"
    return {"field": field, "message": message[:MAX_MESSAGE_CHARS]}
