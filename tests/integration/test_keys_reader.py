"""The keys reader's start on a broker that stops answering half-way (real broker, behind
a proxy that answers each connection's first request only).

aiokafka leaks its bootstrap connection when its start is cancelled while it waits for
the metadata answer (aio-libs/aiokafka#715): the reader's start timed out by cancelling
it, and the leaked connection's ResourceWarning failed whichever test collected it
(seen in test_ingest_outage and test_ingest_refuse under load).
"""

from __future__ import annotations

import gc
import time
import warnings

import pytest

from basewatch_shared.keyring.master import Master, parse_master_key
from basewatch_shared.keyring.reader import KeysReader
from basewatch_shared.keyring.ring import KeyRing
from basewatch_shared.topics import Topics
from tests.support.keys import MASTER_KEY
from tests.support.proxy import FreezingProxy


async def test_a_start_that_times_out_leaves_no_connection_open(
    kafka_bootstrap: str, topics: Topics
) -> None:
    host, port = kafka_bootstrap.split(",")[0].rsplit(":", 1)
    async with FreezingProxy(host, int(port), requests=1) as proxy:  # ApiVersions only
        reader = KeysReader(
            f"127.0.0.1:{proxy.port}",
            topics.keys,
            KeyRing(Master(parse_master_key(MASTER_KEY))),
            request_timeout_s=2,
        )
        began = time.monotonic()
        with pytest.raises(TimeoutError):
            await reader.start(timeout_s=0.5)
        # The client's start ran to its own end (the metadata request timed out) first.
        assert time.monotonic() - began >= 2
        await reader.stop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(w.message) for w in caught if "Unclosed" in str(w.message)] == []
