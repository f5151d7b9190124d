"""The read API's problems: how each is documented, and the errors it translates.

One builder for the OpenAPI entry of a problem+json response, and the translations
from the projector's own errors (and a database outage) to the problem a client sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from basewatch_projector.api.documents import Problem
from basewatch_projector.api.pagination import InvalidCursor
from basewatch_projector.errors import NotFound
from basewatch_projector.storage.transient import DATABASE_ERRORS, transient
from basewatch_shared.problems import PROBLEM_JSON, ProblemError, Translation

Responses = dict[int | str, dict[str, Any]]
RETRY_AFTER_S: Final = 1


def problem_doc(description: str) -> dict[str, Any]:
    """The OpenAPI entry of a problem+json response."""
    # Inline rather than a $ref: FastAPI would file a response model under application/json.
    # A fresh schema each time: the OpenAPI generator edits the dicts it is given.
    schema = Problem.model_json_schema()
    return {"description": description, "content": {PROBLEM_JSON: {"schema": schema}}}


def database_unavailable(exc: Exception) -> ProblemError | None:
    """503 with Retry-After for a database outage; None (a 500) for anything else."""
    if not transient(exc):
        return None
    return ProblemError(
        503,
        "Database unavailable",
        "the database did not answer; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


LIST: Final[Responses] = {
    400: problem_doc("the cursor is malformed, or was made for other filters"),
}
ONE: Final[Responses] = {404: problem_doc("no such id")}
TRANSLATIONS: Final[Mapping[type[Exception], Translation]] = {
    NotFound: lambda e: ProblemError(404, "Not found", str(e)),
    InvalidCursor: lambda e: ProblemError(400, "Invalid cursor", str(e)),
    **dict.fromkeys(DATABASE_ERRORS, database_unavailable),
}
