"""Errors of the projector; the HTTP edge turns the ones clients see into problem+json."""

from __future__ import annotations

from basewatch_shared import startup


class ProjectorError(Exception):
    """Base of every error the projector raises on purpose."""


class FencedError(ProjectorError):
    """Another group member moved a partition's stored offset first: drop this batch."""


class NotFound(ProjectorError):
    """A customer, installation or product that the tables do not hold."""


class CannotStart(ProjectorError, startup.CannotStart):
    """A resource the projector needs is missing or down at start; str() says which and why."""


class Crashed(ProjectorError):
    """A task the projector cannot run without ended with an error (logged where it ended)."""
