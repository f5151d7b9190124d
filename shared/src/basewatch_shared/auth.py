"""Bearer API keys with scopes, checked against their SHA-256 digests in constant time."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from basewatch_shared.problems import ProblemError
from basewatch_shared.settings import ApiKey, Scope

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="basewatch"'}
# Declares the scheme in the OpenAPI document (clients and fuzzers see that a key is
# needed); auto_error=False leaves every refusal to authenticate(), as problem+json.
BEARER = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer <key>`")
Documented = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


def authenticate(keys: Sequence[ApiKey], authorization: str | None) -> ApiKey:
    """Return the key that the ``Authorization`` header carries, or raise a 401 problem."""
    # The scheme is case-insensitive (RFC 9110, 11.1): "bearer" and "BEARER" are Bearer.
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise ProblemError(
            401, "Unauthorized", "send Authorization: Bearer <key>", headers=_CHALLENGE
        )
    digest = hashlib.sha256(credentials.strip().encode()).digest()
    found: ApiKey | None = None
    for key in keys:  # no early exit: every key is compared, whichever matches
        if key.matches(digest):
            found = key
    if found is None:
        raise ProblemError(401, "Unauthorized", "unknown API key", headers=_CHALLENGE)
    return found


def authorize(keys: Sequence[ApiKey], authorization: str | None, scope: Scope) -> ApiKey:
    """The key the ``Authorization`` header carries, which must have ``scope`` (else 403)."""
    key = authenticate(keys, authorization)
    if scope not in key.scopes:
        raise ProblemError(403, "Forbidden", f"this key lacks the {scope.value!r} scope")
    return key


def require(scope: Scope) -> Callable[[Request], Awaitable[ApiKey]]:
    """A FastAPI dependency: the caller's key, which must have ``scope`` (else 403)."""

    async def dependency(request: Request, _scheme: Documented = None) -> ApiKey:
        keys = request.app.state.api_keys
        return authorize(keys, request.headers.get("authorization"), scope)

    return dependency
