"""A realistic history in phases, whose outcome does not depend on when the projector sweeps.

Churn transitions happen in the projector's sweep, at moments the checker does not
control. The history is shaped so that the tables and the signal feed come out the same
whatever those moments are:

- every event time is either recent (well inside ``at_risk_after``) or far in the past
  (a quiet installation: between the two thresholds; a dead one: past twice
  ``churn_after``), so a sweep at any moment of the run decides the same way;
- the checker sends the phases in order and waits between them until the projector has
  applied everything (customers' purchases before their installations, the installed
  base before the silent installations, those before uninstalls and reinstalls), so a
  customer's status never depends on the order of two partitions;
- within a phase, the events of each installation that carry its latest activity (its
  anchor, naming the customer and product) are acknowledged before the rest, which are
  older and shuffled: a late old heartbeat then never reactivates an installation a
  sweep already churned;
- a customer's silent installations either sit beside a live one, or are its only one.

Inside those rules everything is disorderly: batches are shuffled, heartbeats arrive out
of order, ~8 % of the events are sent twice with the same event_id, some purchases are
sent again a phase later, and a few invalid events ride along to be refused.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

Event = dict[str, Any]

PRODUCTS = ("editor", "desktop", "cloud-agent")
VERSIONS = ("1.0", "1.1", "2.0", "2.1")
PLATFORMS = ("macos", "windows", "linux")
COUNTRIES = ("DE", "US", "FR", "JP", "GB", "BR")
CURRENCIES = ("EUR", "USD", "GBP", "JPY")
DUPLICATE_SHARE = 0.08

PROFILES = {
    "suspect": 8,  # identify only
    "buyer_never_installed": 10,
    "buyer_live": 30,
    "prospect_live": 10,
    "buyer_mixed": 10,  # live beside at_risk (and dead) installations: stays active
    "buyer_lapsing": 12,  # one dead installation: lapses; some come back
    "prospect_dead": 3,
    "buyer_uninstalls": 10,  # uninstalls everything; some reinstall
}


@dataclass
class Phase:
    """Events sent together; each step is acknowledged in full before the next starts."""

    name: str
    steps: list[list[Event]] = field(default_factory=list)


@dataclass
class History:
    """The phases in sending order, and which event ids are meant to be refused."""

    tag: str
    now: datetime
    phases: list[Phase]
    invalid_ids: set[str]

    def events(self) -> int:
        """Distinct events (valid and invalid)."""
        return len({e["event_id"] for p in self.phases for s in p.steps for e in s})


OFFSETS = (timedelta(hours=5, minutes=30), timedelta(hours=-3), timedelta(hours=9))


def iso(moment: datetime, offset: timedelta | None = None) -> str:
    """RFC 3339: in UTC with a Z, or in the local time of ``offset`` (the same instant)."""
    if offset is None:
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return moment.astimezone(timezone(offset)).isoformat()


class _Generator:
    def __init__(
        self, customers: int, seed: int, tag: str, at_risk: timedelta, churn: timedelta
    ) -> None:
        self.rng = random.Random(seed)
        self.customers = customers
        self.tag = tag
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.at_risk, self.churn = at_risk, churn
        self.seq = 0
        self.installations = 0
        names = ("customers", "live_anchors", "live", "silent_anchors", "silent", "changes")
        self.buckets: dict[str, list[Event]] = {n: [] for n in (*names, "late", "invalid")}

    def eid(self, kind: str) -> str:
        self.seq += 1
        return f"{self.tag}-{kind}{self.seq}"

    def ago(self, delta: timedelta) -> str:
        """A time ``delta`` before now; some with milliseconds, some in a local offset
        (apps send what they have: the projector must compare instants, not text)."""
        moment = self.now - delta
        if self.rng.random() < 0.3:
            moment -= timedelta(milliseconds=self.rng.randint(1, 999))
        offset = self.rng.choice(OFFSETS) if self.rng.random() < 0.25 else None
        return iso(moment, offset)

    def seconds(self, low: float, high: float) -> timedelta:
        return timedelta(seconds=int(self.rng.uniform(low, high)))

    # -- customers --------------------------------------------------------------------

    def identifies(self, cid: str) -> None:
        for k in range(self.rng.randint(1, 3)):
            traits: dict[str, Any] = {}
            if self.rng.random() < 0.8:
                traits["email"] = f"user{self.rng.randrange(10**6)}@example.com"
            if self.rng.random() < 0.7:
                traits["country"] = self.rng.choice(COUNTRIES)
            if self.rng.random() < 0.5:
                traits["company"] = f"Company {self.rng.randrange(1000)}"
            if self.rng.random() < 0.3:
                traits["seats"] = self.rng.randint(1, 500)
            if self.rng.random() < 0.2:
                traits["beta"] = self.rng.random() < 0.5
            self.buckets["customers"].append(
                {
                    "event_id": self.eid("id"),
                    "type": "identify",
                    "occurred_at": self.ago(timedelta(days=400 - k * 30) + self.seconds(0, 3600)),
                    "customer_id": cid,
                    "traits": traits,
                }
            )

    def amount(self, currency: str) -> str | float:
        roll = self.rng.random()
        if currency == "JPY":
            return str(self.rng.randint(100, 90000))
        if roll < 0.03:
            return "0"
        if roll < 0.08:
            return f"{self.rng.randint(1, 10**7) / 10**6:.6f}"  # micro precision
        cents = self.rng.randint(1, 500000)
        if roll < 0.18:
            return cents / 100  # a JSON number: exact as written (at most 15 digits)
        return f"{cents // 100}.{cents % 100:02d}"

    def purchases(self, cid: str, bucket: str = "customers") -> None:
        orders = self.rng.choice((1, 1, 2, 3))
        for k in range(orders):
            order_id = f"{cid}-o{k}"
            currency = self.rng.choice(CURRENCIES)
            lines = 2 if self.rng.random() < 0.2 else 1
            when = timedelta(days=300 - k * 60) + self.seconds(0, 86400)
            for line in range(lines):
                event = {
                    "event_id": self.eid("buy"),
                    "type": "purchase",
                    "occurred_at": self.ago(when - timedelta(seconds=line)),
                    "customer_id": cid,
                    "order_id": order_id,
                    "product_id": PRODUCTS[(k + line) % len(PRODUCTS)],
                    "amount": self.amount(currency),
                    "currency": currency,
                    "quantity": self.rng.randint(1, 3),
                }
                self.buckets[bucket].append(event)
                if bucket == "customers" and self.rng.random() < 0.05:
                    self.buckets["late"].append(event)  # the same event_id, a phase later

    def invalid(self, n: int) -> None:
        bad: dict[str, Any] = {
            "event_id": self.eid("bad"),
            "type": "purchase",
            "occurred_at": self.ago(timedelta(days=1)),
            "customer_id": f"{self.tag}-bad{n}",
            "order_id": "o1",
            "product_id": "editor",
            "amount": "10",
            "currency": "EUR",
        }
        flaw = n % 3
        if flaw == 0:
            bad["currency"] = "EURO"
        elif flaw == 1:
            bad["amount"] = "-1"
        else:
            bad["amount"] = "1.1234567"  # more than micro precision
        self.buckets["invalid"].append(bad)

    # -- installations ----------------------------------------------------------------

    def installation(self, cid: str | None, kind: str) -> str:
        """One installation's install and heartbeats; returns its id."""
        self.installations += 1
        iid = f"{self.tag}-i{self.installations}"
        product = self.rng.choice(PRODUCTS)
        if kind in ("live", "orphan"):
            last = self.seconds(60, 900)
            installed = last + timedelta(days=self.rng.uniform(0.01, 60))
            anchors, rest = "live_anchors", "live"
        elif kind == "at_risk":
            last = (self.at_risk + self.churn) / 2 + self.seconds(-3600, 3600)
            installed = last + timedelta(days=self.rng.uniform(1, 30))
            anchors, rest = "silent_anchors", "silent"
        else:  # dead
            last = 2 * self.churn + self.seconds(0, 5 * 86400)
            installed = last + timedelta(days=self.rng.uniform(0.5, 30))
            anchors, rest = "silent_anchors", "silent"
        beats = 0 if kind == "dead" and self.rng.random() < 0.3 else self.rng.randint(1, 5)
        if kind == "orphan":
            beats = max(beats, 1)
        version = self.rng.randrange(len(VERSIONS) - 1)
        events: list[Event] = []
        if kind != "orphan":
            install: Event = {
                "event_id": self.eid("ins"),
                "type": "install",
                "occurred_at": self.ago(installed),
                "customer_id": cid,
                "installation_id": iid,
                "product_id": product,
                "version": VERSIONS[version],
            }
            if self.rng.random() < 0.7:
                install["platform"] = self.rng.choice(PLATFORMS)
            events.append(install)
        span = (installed - last).total_seconds()
        for b in range(beats):  # b == beats - 1 is the latest
            at = last if b == beats - 1 else installed - timedelta(seconds=span * (b + 1) / beats)
            at -= timedelta(seconds=0 if b == beats - 1 else 1)  # distinct from the last one
            beat: Event = {
                "event_id": self.eid("hb"),
                "type": "heartbeat",
                "occurred_at": self.ago(at),
                "installation_id": iid,
                "version": VERSIONS[min(version + b // 2, len(VERSIONS) - 1)],
                "usage": {"sessions": 3 * (b + 1), "active_minutes": 40 * (b + 1)},
            }
            if b == beats - 1:  # the anchor names everything a row needs
                beat["product_id"] = product
                if cid is not None:
                    beat["customer_id"] = cid
            events.append(beat)
        # The anchor carries the latest activity; everything else is older.
        self.buckets[anchors].append(events[-1])
        self.buckets[rest].extend(events[:-1])
        return iid

    def later(self, iid: str, kind: str, seconds: tuple[float, float]) -> Event:
        event: Event = {
            "event_id": self.eid(kind[:2]),
            "type": kind,
            "occurred_at": self.ago(self.seconds(*seconds)),
            "installation_id": iid,
        }
        return event

    # -- profiles ---------------------------------------------------------------------

    def customer(self, n: int, profile: str) -> None:
        cid = f"{self.tag}-c{n}"
        buys = profile.startswith("buyer")
        if profile == "suspect" or self.rng.random() < 0.75:
            self.identifies(cid)
        if buys:
            self.purchases(cid)
        changes = self.buckets["changes"]
        if profile == "buyer_live":
            live = [self.installation(cid, "live") for _ in range(self.rng.randint(1, 3))]
            if len(live) >= 2 and self.rng.random() < 0.25:  # one of several goes away
                changes.append(self.later(live[0], "uninstall", (5, 50)))
        elif profile == "prospect_live":
            for _ in range(self.rng.randint(1, 2)):
                self.installation(cid, "live")
            if self.rng.random() < 0.4:  # the prospect buys: one_time, still active
                self.purchases(cid, bucket="late")
        elif profile == "buyer_mixed":
            self.installation(cid, "live")
            self.installation(cid, "at_risk")
            if self.rng.random() < 0.5:
                self.installation(cid, "dead")
        elif profile == "buyer_lapsing":
            iid = self.installation(cid, "dead")
            if self.rng.random() < 0.35:  # comes back: reactivated, customer reactivated
                beat = self.later(iid, "heartbeat", (10, 50))
                changes.append(beat | {"usage": {"sessions": 99, "active_minutes": 999}})
        elif profile == "prospect_dead":
            self.installation(cid, "dead")
        elif profile == "buyer_uninstalls":
            owned = [self.installation(cid, "live") for _ in range(self.rng.randint(1, 2))]
            for iid in owned:
                changes.append(self.later(iid, "uninstall", (20, 50)))
            if self.rng.random() < 0.4:  # reinstalled after the uninstall: reactivated
                again = self.later(owned[0], "install", (1, 4))
                again |= {"customer_id": cid, "product_id": "editor", "version": "3.0"}
                self.buckets["late"].append(again)
            else:  # a heartbeat from before the uninstall, arriving late: stays uninstalled
                self.buckets["late"].append(self.later(owned[0], "heartbeat", (55, 58)))


def _shuffled(rng: random.Random, events: list[Event]) -> list[Event]:
    """Shuffle, and send ~8 % of the events a second time later in the same step."""
    out = list(events)
    rng.shuffle(out)
    for event in [e for e in events if rng.random() < DUPLICATE_SHARE]:
        out.insert(rng.randint(out.index(event) + 1, len(out)), event)
    return out


def generate(
    customers: int,
    *,
    seed: int = 1,
    tag: str = "bw",
    at_risk_after: timedelta = timedelta(days=3),
    churn_after: timedelta = timedelta(days=14),
) -> History:
    """A history of ``customers`` customers (and about 1.3 installations each)."""
    gen = _Generator(customers, seed, tag, at_risk_after, churn_after)
    names, weights = list(PROFILES), list(PROFILES.values())
    for n in range(customers):
        gen.customer(n, gen.rng.choices(names, weights)[0])
    for _ in range(max(1, customers // 25)):  # installed, never bought, owner unknown
        gen.installation(None, "orphan")
    for n in range(max(3, customers // 50)):
        gen.invalid(n)
    b, rng = gen.buckets, gen.rng
    customers_step = _shuffled(rng, b["customers"] + b["invalid"])
    phases = [
        Phase("customers", [customers_step]),
        Phase("installed base", [_shuffled(rng, b["live_anchors"]), _shuffled(rng, b["live"])]),
        Phase("silence", [_shuffled(rng, b["silent_anchors"]), _shuffled(rng, b["silent"])]),
        Phase("uninstalls and returns", [_shuffled(rng, b["changes"])]),
        Phase("reinstalls, late events, new buyers", [_shuffled(rng, b["late"])]),
    ]
    return History(tag, gen.now, phases, {e["event_id"] for e in b["invalid"]})
