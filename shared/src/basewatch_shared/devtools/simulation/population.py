"""Who the simulated customers are: traits, country, and what kind of customer each is.

A customer is a *buyer* (purchases, then mostly installs), a *prospect* (installs a
trial without buying; some buy later) or a *suspect* (only identified, say from a
newsletter sign-up). The shares are in ``Mix``; everything is drawn from one seeded
``random.Random``, so a seed gives the same population every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final, Literal

from basewatch_shared.devtools.simulation.catalog import COUNTRIES, Country

Kind = Literal["buyer", "prospect", "suspect"]
TraitValue = str | int | bool

_FIRST: Final = (
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Dennis",
    "Radia",
    "Guido",
    "Hedy",
    "Linus",
    "Sophie",
    "Yukihiro",
)
_LAST: Final = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "Rossum",
    "Lamarr",
    "Wilson",
)
_COMPANY: Final = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Massive Dynamic",
)


@dataclass(frozen=True)
class Mix:
    """The shares of kinds of customers and of what they do."""

    suspect: float = 0.15
    prospect: float = 0.15
    established: float = 0.4  # of everyone: there at the start, the rest arrive over time
    never_installs: float = 0.08  # of buyers
    buys_again: float = 0.35  # of buyers
    converts: float = 0.25  # of prospects: buy after the trial


@dataclass(frozen=True)
class Customer:
    """One simulated customer; ``arrival`` is the share of the arrival window before it shows."""

    customer_id: str
    kind: Kind
    country: Country
    traits: dict[str, TraitValue]
    arrival: float


def draw_population(rng: random.Random, size: int, prefix: str, mix: Mix) -> list[Customer]:
    """``size`` customers with ids ``{prefix}c{n}``, in order of arrival."""
    weights = [country.weight for country in COUNTRIES]
    customers = []
    for n in range(size):
        draw = rng.random()
        kind: Kind = (
            "suspect"
            if draw < mix.suspect
            else "prospect"
            if draw < mix.suspect + mix.prospect
            else "buyer"
        )
        country = rng.choices(COUNTRIES, weights)[0]
        arrival = 0.0 if rng.random() < mix.established else rng.random()
        customers.append(
            Customer(f"{prefix}c{n:05d}", kind, country, _traits(rng, n, country), arrival)
        )
    customers.sort(key=lambda c: c.arrival)
    return customers


def _traits(rng: random.Random, n: int, country: Country) -> dict[str, TraitValue]:
    first, last, company = rng.choice(_FIRST), rng.choice(_LAST), rng.choice(_COMPANY)
    domain = company.lower().replace(" ", "") + ".example"
    return {
        "email": f"{first.lower()}.{last.lower()}{n}@{domain}",
        "name": f"{first} {last}",
        "company": company,
        "country": country.code,
        "employees": rng.choice((1, 5, 20, 80, 250, 1200)),
        "newsletter": rng.random() < 0.6,
    }
