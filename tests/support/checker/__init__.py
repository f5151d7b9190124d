"""The end-to-end checker: a history through ingest, compared with an independent model.

Run it against a running stack (``make run``)::

    .venv/bin/python -m tests.support.checker --ingest http://127.0.0.1:8080 \
        --projector http://127.0.0.1:8081 --ingest-key dev-ingest-key \
        --read-key dev-read-key --customers 1000
"""

from tests.support.checker.run import Checker, Config, Report

__all__ = ["Checker", "Config", "Report"]
