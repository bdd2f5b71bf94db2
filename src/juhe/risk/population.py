"""The synthetic world the training data lives in: merchants, and payers with habits.

Merchants: physical ones in every region (grocery, restaurants …, a few per category),
online ones everywhere (electronics, digital goods, travel, transfers), with Zipf-like
popularity. Payers: a home region and home location, one phone (some a second device, some
shared with a household member), one to three cards, a daily rhythm (office worker, evening
person, night owl, early riser), a usual amount and favourite categories and merchants, and
whether their app shares its location. Everything is drawn from one `random.Random`, so a
seed is a world.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from juhe.risk.features import MERCHANT_CATEGORIES
from juhe.risk.geo import REGIONS, Region

DOMESTIC = tuple(r for r in REGIONS if r.domestic)
ABROAD = tuple(r for r in REGIONS if not r.domestic)
PHYSICAL = ("grocery", "restaurant", "coffee", "transport", "utilities", "clothing", "healthcare", "entertainment",
            "jewelry")
ONLINE = ("electronics", "digital_goods", "travel", "p2p_transfer", "wholesale")
MERCHANTS_PER_CATEGORY = {"grocery": 6, "restaurant": 8, "coffee": 4, "transport": 2, "utilities": 2, "clothing": 4,
                          "healthcare": 3, "entertainment": 3, "jewelry": 2}
ONLINE_MERCHANTS = 12
# How often a category comes up in a typical payer's month, and its price level against the payer's usual amount.
CATEGORY_WEIGHT = {"grocery": 3.0, "restaurant": 3.0, "coffee": 2.0, "transport": 2.0, "utilities": 0.4, "clothing": 0.8,
                   "electronics": 0.25, "digital_goods": 0.8, "travel": 0.15, "jewelry": 0.04, "wholesale": 0.05,
                   "p2p_transfer": 1.0, "healthcare": 0.3, "entertainment": 0.7}
CATEGORY_PRICE = {"grocery": 1.0, "restaurant": 1.3, "coffee": 0.45, "transport": 0.3, "utilities": 2.5, "clothing": 3.0,
                  "electronics": 6.0, "digital_goods": 0.7, "travel": 10.0, "jewelry": 12.0, "wholesale": 8.0,
                  "p2p_transfer": 2.0, "healthcare": 3.0, "entertainment": 1.5}
# Hour-of-day weights (local time) of four daily rhythms.
RHYTHMS = {
    "office": [1, 0.3, 0.1, 0.1, 0.1, 0.3, 1, 4, 6, 3, 2, 4, 8, 5, 2, 2, 2, 3, 6, 8, 6, 4, 3, 2],
    "evening": [2, 1, 0.4, 0.2, 0.1, 0.1, 0.3, 1, 2, 2, 2, 3, 5, 4, 3, 3, 3, 4, 6, 8, 9, 9, 7, 4],
    "night_owl": [6, 5, 4, 2, 1, 0.3, 0.2, 0.2, 0.5, 1, 2, 3, 4, 3, 3, 3, 3, 4, 5, 6, 7, 8, 8, 7],
    "early": [0.2, 0.1, 0.1, 0.1, 0.5, 3, 7, 8, 6, 4, 3, 4, 6, 4, 3, 3, 4, 6, 5, 3, 2, 1, 0.5, 0.3],
}
RHYTHM_SHARE = {"office": 0.45, "evening": 0.3, "night_owl": 0.1, "early": 0.15}
assert set(CATEGORY_WEIGHT) == set(MERCHANT_CATEGORIES) == set(PHYSICAL) | set(ONLINE)


@dataclass(frozen=True, slots=True)
class Merchant:
    id: str
    category: str
    region: str | None  # None: online, payable from anywhere
    popularity: float


@dataclass(slots=True)
class Payer:
    id: str
    home: Region
    home_lat: float
    home_lon: float
    devices: list[str]  # [phone, optional second device]; a new phone replaces [0]
    cards: list[str]
    home_ip: str
    mobile_prefix: str  # where this carrier's mobile IPs geolocate (usually home, sometimes a hub)
    rhythm: list[float]
    payments_per_day: float
    usual_minor: int
    amount_sigma: float
    category_weights: dict[str, float]
    favourites: dict[str, list[Merchant]]
    shares_location: float  # probability a payment carries the device's location
    joined_day: int  # 0: known before the data starts; >0: signs up that day
    extra: dict = field(default_factory=dict)


@dataclass(slots=True)
class World:
    merchants: list[Merchant]
    by_region_category: dict[tuple[str, str], list[Merchant]]
    online: dict[str, list[Merchant]]
    shells: list[Merchant]  # colluding merchants that cash-out runs through
    payers: list[Payer]


def build_world(rng: random.Random, payers: int, days: int, seed: int) -> World:
    merchants, by_region_category, online = _merchants(rng)
    # Shells are new every seed, so a held-out set's colluding merchants were never seen in training.
    # They trade a little for real too (popularity 0.15), which dilutes their share of round amounts.
    shells = [Merchant(f"S{seed}-{k:02d}", rng.choice(("wholesale", "jewelry", "electronics")), None, 0.15)
              for k in range(max(3, payers // 800))]
    merchants += shells
    for shell in shells:
        online.setdefault(shell.category, []).append(shell)
    people = [_payer(rng, i, seed, days, by_region_category) for i in range(payers)]
    return World(merchants, by_region_category, online, shells, people)


def _merchants(rng: random.Random) -> tuple[list[Merchant], dict, dict]:
    merchants, by_region_category, online = [], {}, {}
    for region in REGIONS:
        for category, count in MERCHANTS_PER_CATEGORY.items():
            found = [Merchant(f"M-{region.code}-{category}-{k}", category, region.code, 1 / (k + 1)) for k in range(count)]
            by_region_category[(region.code, category)] = found
            merchants += found
    for category in ONLINE:
        found = [Merchant(f"M-online-{category}-{k}", category, None, 1 / (k + 1)) for k in range(ONLINE_MERCHANTS)]
        online[category] = found
        merchants += found
    return merchants, by_region_category, online


def _payer(rng: random.Random, i: int, seed: int, days: int, by_region_category: dict) -> Payer:
    payer_id = f"P{seed}-{i:06d}"
    home = rng.choices(DOMESTIC, weights=[r.weight for r in DOMESTIC])[0]
    devices = [f"D{seed}-{i:06d}-a"] + ([f"D{seed}-{i:06d}-b"] if rng.random() < 0.15 else [])
    cards = [f"C{seed}-{i:06d}-{k}" for k in range(rng.choices((1, 2, 3), weights=(5, 3, 1))[0])]
    # A few carriers route mobile data through another province's gateway: honest IP/location mismatches.
    mobile_region = home if rng.random() > 0.04 else rng.choice(DOMESTIC)
    rhythm_name = rng.choices(list(RHYTHM_SHARE), weights=list(RHYTHM_SHARE.values()))[0]
    rhythm = [w * rng.uniform(0.6, 1.4) for w in RHYTHMS[rhythm_name]]
    weights = {c: w * rng.gammavariate(1.5, 1 / 1.5) for c, w in CATEGORY_WEIGHT.items()}
    favourites = {c: rng.sample(by_region_category[(home.code, c)], k=min(2, len(by_region_category[(home.code, c)])))
                  for c in PHYSICAL}
    joined = 0 if rng.random() > 0.1 else rng.randint(1, max(1, days - 1))
    return Payer(
        id=payer_id, home=home,
        home_lat=home.latitude + rng.gauss(0, 0.08), home_lon=home.longitude + rng.gauss(0, 0.08),
        devices=devices, cards=cards,
        home_ip=f"{home.ip_prefixes[0]}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        mobile_prefix=mobile_region.ip_prefixes[1],
        rhythm=rhythm,
        payments_per_day=min(12.0, max(0.1, rng.lognormvariate(0.25, 0.7))),
        usual_minor=int(min(200_000, max(500, rng.lognormvariate(8.7, 0.7)))),  # median ≈ 60 CNY
        amount_sigma=rng.uniform(0.5, 0.9),
        category_weights=weights, favourites=favourites,
        shares_location=rng.choices((0.95, 0.0, 0.5), weights=(60, 25, 15))[0],
        joined_day=joined,
    )


def pick_merchant(rng: random.Random, world: World, category: str, region: str, payer: Payer) -> Merchant:
    """A favourite nearby shop most of the time, otherwise any shop there by popularity; online by popularity."""
    if category in PHYSICAL:
        if region == payer.home.code and rng.random() < 0.7:
            return rng.choice(payer.favourites[category])
        choices = world.by_region_category[(region, category)]
    else:
        choices = world.online[category]
    return rng.choices(choices, weights=[m.popularity for m in choices])[0]


def local_at(start: datetime, day: int, local_hour: float, region: Region) -> datetime:
    """The UTC time of a local hour of day `day` (counted from `start`) in a region."""
    return start + timedelta(days=day, hours=local_hour - region.utc_offset_h)
