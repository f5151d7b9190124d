"""Reading the projector from outside: lag, the read API's lists, the signal feed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Observed:
    """Everything the read API showed, keyed by id."""

    customers: dict[str, dict[str, Any]]
    installations: dict[str, dict[str, Any]]
    signals: list[dict[str, Any]]
    summary: dict[str, Any]


class Projectors:
    """One or more projector replicas (the same database; each owns some partitions)."""

    def __init__(self, urls: list[str], key: str, partitions: int) -> None:
        self.urls = urls
        self.partitions = partitions
        self._headers = {"Authorization": f"Bearer {key}"}

    async def _get(self, client: httpx.AsyncClient, path: str, **params: Any) -> Any:
        """GET from the first replica that answers (a replica may be down for a while)."""
        last: Exception | None = None
        for _ in range(200):
            for url in self.urls:
                try:
                    response = await client.get(url + path, params=params, headers=self._headers)
                except httpx.TransportError as exc:
                    last = exc
                    continue
                if response.status_code == 200:
                    return response.json()
                last = RuntimeError(f"GET {path}: {response.status_code} {response.text[:200]}")
            await asyncio.sleep(0.25)
        raise RuntimeError(f"no projector answered {path}: {last!r}")

    async def caught_up(self, client: httpx.AsyncClient) -> bool:
        """Every partition of both input topics is reported, by some replica, with lag 0."""
        seen: dict[tuple[str, int], bool] = {}
        for url in self.urls:
            try:
                response = await client.get(url + "/v1/ops/lag", headers=self._headers)
            except httpx.TransportError:
                continue
            if response.status_code != 200:
                continue
            for p in response.json()["partitions"]:
                done = p["lag_records"] == 0 or (
                    p["lag_records"] is None and p["committed_offset"] is None
                )
                seen[(p["topic"], p["partition"])] = done
        return len(seen) >= 2 * self.partitions and all(seen.values())

    async def wait_caught_up(self, within: float, settle: float = 1.0) -> float:
        """Wait until the lag is zero three times in a row, ``settle`` / 3 apart (the
        first after ``settle``: a fetch reports what was just acknowledged); returns the
        seconds waited."""
        start = time.monotonic()
        await asyncio.sleep(settle)
        streak = 0
        async with httpx.AsyncClient(timeout=5) as client:
            while streak < 3:
                streak = streak + 1 if await self.caught_up(client) else 0
                if time.monotonic() - start > within:
                    raise TimeoutError(f"projector lag not zero after {within:.0f} s")
                if streak < 3:
                    await asyncio.sleep(settle / 3)
        return time.monotonic() - start

    async def signal_count(self, prefix: str) -> int:
        """Signals of this run (ids starting with ``prefix``) in the feed."""
        async with httpx.AsyncClient(timeout=10) as client:
            return len(await self._signals(client, prefix))

    async def _signals(self, client: httpx.AsyncClient, prefix: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["after"] = cursor
            page = await self._get(client, "/v1/signals", **params)
            out.extend(
                s
                for s in page["items"]
                if (s["installation_id"] or s["customer_id"] or "").startswith(prefix)
            )
            if not page["items"]:
                return out
            cursor = page["next_cursor"]

    async def _list(self, client: httpx.AsyncClient, path: str, key: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = await self._get(client, path, **params)
            for item in page["items"]:
                out[item[key]] = item
            cursor = page["next_cursor"]
            if not cursor:
                return out

    async def observe(self, prefix: str) -> tuple[Observed, bool]:
        """Read everything; the flag says whether the database holds only this run."""
        async with httpx.AsyncClient(timeout=30) as client:
            customers = await self._list(client, "/v1/customers", "customer_id")
            installations = await self._list(client, "/v1/installations", "installation_id")
            signals = await self._signals(client, prefix)
            summary = await self._get(client, "/v1/summary")
        alone = all(k.startswith(prefix) for k in (*customers, *installations))
        mine = Observed(
            {k: v for k, v in customers.items() if k.startswith(prefix)},
            {k: v for k, v in installations.items() if k.startswith(prefix)},
            signals,
            summary,
        )
        return mine, alone
