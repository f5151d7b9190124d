"""Each connection limit, on both services as operators start them (``basewatch ingest``,
``basewatch projector``), spoken to over bare sockets.

Before, uvicorn ran with its defaults: a 50 MB header was buffered whole, 200
connections trickling header lines were held for as long as they trickled, slow bodies
were waited for without end, and a connection that never sent a byte stayed open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
import pytest_asyncio

from basewatch_projector.storage.migrate import migrate
from basewatch_shared.topics import create_topics
from tests.support.databases import sqlite_database
from tests.support.kafka import TEST_PARTITIONS, KafkaBackend, fresh_group, fresh_topics
from tests.support.keys import INGEST_KEY, READ_KEY
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess, service_env
from tests.support.rawhttp import Answer, Connection, connect, request
from tests.support.stack import wait_healthy

LIMITS = {
    "BASEWATCH_MAX_HEADER_BYTES": "4096",
    "BASEWATCH_MAX_HEADERS": "20",
    "BASEWATCH_HEADER_TIMEOUT": "1s",
    "BASEWATCH_BODY_TIMEOUT": "1s",
    "BASEWATCH_MAX_CONNECTIONS": "3",
}
PATIENCE = 5.0  # well past the 1 s deadlines: what has not happened by then never will
PROBLEM = "application/problem+json"


# One service process per module and kind, not per test: each start costs seconds, and
# no test leaves anything behind that the next one reads (a connection still closing on
# the server's side is waited out where it counts: _served_connection).
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["ingest", "projector"])
async def service(
    request: pytest.FixtureRequest,
    kafka_backend: KafkaBackend,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ServiceProcess]:
    """The service, as a process, with small limits."""
    topics = fresh_topics()
    await create_topics(kafka_backend.bootstrap_servers, topics, TEST_PARTITIONS, 1)
    database = sqlite_database(tmp_path_factory.mktemp("limits") / "basewatch.db")
    engine = database.engine()
    await migrate(engine)
    await engine.dispose()
    env = service_env(database, kafka_backend, topics, fresh_group(), **LIMITS)
    proc = await ServiceProcess(request.param, env).start()
    try:
        await wait_healthy(proc)
        yield proc
    finally:
        await proc.stop()


def assert_refused(answer: Answer, status: int, says: str) -> None:
    """A problem+json refusal that closes the connection and says why."""
    assert answer.status == status, answer
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["connection"] == "close"
    assert says in answer.body.decode(), answer.body


async def still_serves(service: ServiceProcess) -> None:
    """A plain request on a new connection is answered as ever."""
    async with connect(service.port) as conn:
        await conn.send(request("GET", "/healthz"))
        assert (await conn.answer(PATIENCE)).status == 200


async def test_header_fields_beyond_the_size_limit_get_431(service: ServiceProcess) -> None:
    big = request("GET", "/healthz", {"X-Big": "x" * 8000})
    async with connect(service.port) as conn:
        await conn.send(big)
        assert_refused(await conn.answer(PATIENCE), 431, "limited to 4096 bytes")
    # A field still arriving is refused as soon as it passes the limit, not buffered whole.
    async with connect(service.port) as conn:
        await conn.send(big[:-200])
        assert_refused(await conn.answer(PATIENCE), 431, "limited to 4096 bytes")
    await still_serves(service)


async def test_more_header_fields_than_allowed_get_431(service: ServiceProcess) -> None:
    async with connect(service.port) as conn:
        await conn.send(request("GET", "/healthz", {f"X-{n}": "1" for n in range(30)}))
        assert_refused(await conn.answer(PATIENCE), 431, "at most 20 header fields")
    async with connect(service.port) as conn:  # 19 and Host: within the limit
        await conn.send(request("GET", "/healthz", {f"X-{n}": "1" for n in range(19)}))
        assert (await conn.answer(PATIENCE)).status == 200


async def test_header_lines_trickling_in_get_408(service: ServiceProcess) -> None:
    async with connect(service.port) as conn:
        await conn.send(b"GET /healthz HTTP/1.1\r\nHost: basewatch.test\r\n")
        trickle = conn.trickle(b"X-Slow: 1\r\n", every=0.2)
        try:
            assert_refused(await conn.answer(PATIENCE), 408, "did not arrive within 1 s")
        finally:
            trickle.cancel()


async def test_a_connection_that_sends_nothing_is_closed(service: ServiceProcess) -> None:
    async with connect(service.port) as conn:
        assert await conn.closed(within=PATIENCE)


async def test_a_body_trickling_in_is_not_waited_for(service: ServiceProcess) -> None:
    # Ingest reads the body: 408. The projector reads none: it answers, then closes.
    method, path, key = {
        "ingest": ("POST", "/v1/events", INGEST_KEY),
        "projector": ("GET", "/v1/summary", READ_KEY),
    }[service.command]
    head = request(
        method,
        path,
        {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Content-Length": "100",
        },
    )
    async with connect(service.port) as conn:
        await conn.send(head + b'{"events"')
        trickle = conn.trickle(b" ", every=0.2)
        try:
            answer = await conn.answer(PATIENCE)
            if service.command == "ingest":
                assert_refused(answer, 408, "body did not arrive within 1 s")
            else:
                assert answer.status == 200, answer
                assert await conn.closed(within=PATIENCE)
        finally:
            trickle.cancel()


async def test_connections_beyond_the_limit_get_503_until_one_closes(
    service: ServiceProcess,
) -> None:
    async with AsyncExitStack() as stack:
        for _ in range(3):
            await _served_connection(stack, service.port)
        async with connect(service.port) as fourth:
            await fourth.send(request("GET", "/healthz"))
            answer = await fourth.answer(PATIENCE)
        assert_refused(answer, 503, "too many connections")
        assert answer.headers["retry-after"] == "1"
    # The three closed: a new connection is served again.
    await eventually(lambda: _status(service.port), lambda s: s == 200, within=PATIENCE)


async def _served_connection(stack: AsyncExitStack, port: int) -> Connection:
    """A connection the server answered 200, held open until ``stack`` closes.

    A health probe's connection may still be closing on the server's side and count
    for a moment: a refused attempt is retried until its slot is free.
    """

    async def attempt() -> Connection | None:
        conn = await stack.enter_async_context(connect(port))
        await conn.send(request("GET", "/healthz"))
        return conn if (await conn.answer(PATIENCE)).status == 200 else None

    served = await eventually(attempt, lambda conn: conn is not None, within=PATIENCE)
    assert served is not None
    return served


async def _status(port: int) -> int:
    async with connect(port) as conn:
        await conn.send(request("GET", "/healthz"))
        return (await conn.answer(PATIENCE)).status


async def test_a_request_that_is_not_http_gets_a_problem_400(service: ServiceProcess) -> None:
    # Found by schemathesis: an empty Transfer-Encoding field was answered by the HTTP
    # parser's own plain-text 400, which no operation documented.
    async with connect(service.port) as conn:
        await conn.send(request("GET", "/healthz", {"Transfer-Encoding": ""}))
        assert_refused(await conn.answer(PATIENCE), 400, "not valid HTTP/1.1")
    await still_serves(service)
