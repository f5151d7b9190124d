"""Errors of the ingest service; the HTTP edge turns them into problem+json."""

from __future__ import annotations


class IngestError(Exception):
    """Base of every error ingest raises on purpose."""


class BrokerUnavailable(IngestError):
    """The broker did not acknowledge in time: nothing may be answered 202."""
