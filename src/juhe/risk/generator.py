"""Labelled synthetic payments for training and evaluating the fraud model.

`generate(payers, days, seed)` returns a history frame (`dataset.HISTORY`) of `warmup_days`
of ordinary life (to give every payer a history) followed by `days` in which fraud happens
too. Legit behaviour is meant to be hard to tell from fraud at a glance:

- habits: each payer's rhythm of the day, usual amount, favourite categories and shops;
- travel (10 % of payers, some abroad): new regions, roaming IPs that still geolocate home,
  hotel Wi-Fi, and payments without location that seem to jump back home;
- new phones (6 %, a third of them resetting the password the same day), new cards (4 %),
  new payers signing up during the period, households sharing a tablet;
- occasional big purchases (12 %), monthly rent as a round transfer near the scene limit,
  quick follow-up payments (a second coffee, a transit top-up).

Fraud (see `typologies`): stolen cards, cash-out (套现) through colluding merchants, and
account takeover. Labels: `is_fraud` on payment rows, `fraud_type` naming the typology.
Everything is drawn from `random.Random(seed)`: a held-out set is the same call with another seed.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

import polars as pl

from juhe.risk.dataset import HISTORY, payment_row, reset_row
from juhe.risk.geo import Region
from juhe.risk.population import ABROAD, CATEGORY_PRICE, DOMESTIC, Payer, World, build_world, local_at, pick_merchant
from juhe.risk.typologies import FraudRing, fraud_rows

START = datetime(2026, 3, 2, tzinfo=timezone.utc)
WARMUP_DAYS = 7
BIG_PURCHASE_MAX_MINOR = 3_000_000
P2P_ROUND_MINOR = (5_000, 10_000, 20_000, 50_000, 100_000, 200_000)
GAME_PRICES_MINOR = (600, 3_000, 6_800, 12_800, 32_800, 64_800)
FRESH_FINGERPRINT_SHARE = 0.015  # web checkouts from a new browser or a cleared app: a "new device" that is not


def generate(payers: int = 5_000, days: int = 28, seed: int = 1, *, warmup_days: int = WARMUP_DAYS,
             start: datetime = START, fraud_episodes_per_payer: float = 0.08) -> pl.DataFrame:
    if payers < 1 or days < 1 or warmup_days < 0:
        raise ValueError("payers and days must be at least 1, warmup_days at least 0")
    rng = random.Random(seed)
    world = build_world(rng, payers, warmup_days + days, seed)
    _share_tablets(rng, world.payers)
    rows: list[dict] = []
    for payer in world.payers:
        rows += _payer_life(rng, world, payer, start, warmup_days + days, warmup_days)
    ring = FraudRing(rng, seed, payers)
    episodes = round(payers * fraud_episodes_per_payer)
    for _ in range(episodes):
        day = warmup_days + rng.randrange(days)
        rows += fraud_rows(rng, world, ring, rng.choice(world.payers), start + timedelta(days=day))
    return _frame(rows, seed)


def _frame(rows: list[dict], seed: int) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=HISTORY).sort("occurred_at", maintain_order=True)
    ids = pl.Series("payment_id", [f"T{seed}-{n:08d}" for n in range(frame.height)])
    return frame.with_columns(ids).with_columns(
        pl.when(pl.col("kind") == "payment").then(pl.col("payment_id")).otherwise(None).alias("payment_id"))


def _share_tablets(rng: random.Random, payers: list[Payer]) -> None:
    """Households: a second device also used by another payer (honest device sharing)."""
    owners = [p for p in payers if len(p.devices) > 1]
    for owner in rng.sample(owners, k=len(owners) // 3):
        partner = rng.choice(payers)
        if partner is not owner and len(partner.devices) == 1:
            partner.devices.append(owner.devices[1])


def _payer_life(rng: random.Random, world: World, payer: Payer, start: datetime, total_days: int,
                warmup_days: int) -> list[dict]:
    first_day = 0 if payer.joined_day == 0 else warmup_days + min(payer.joined_day, total_days - warmup_days - 1)
    events = _life_events(rng, first_day, total_days)
    rows: list[dict] = []
    for day in range(first_day, total_days):
        if day == events.get("new_phone"):
            payer.devices[0] = payer.devices[0] + "-new"
            if events.get("reset_with_phone"):
                rows.append(reset_row(payer.id, local_at(start, day, 9 + rng.random() * 10, payer.home)))
        if day == events.get("reset"):
            rows.append(reset_row(payer.id, local_at(start, day, 8 + rng.random() * 14, payer.home)))
        if day == events.get("new_card"):
            payer.cards.append(payer.cards[0] + "-n")
        region = _trip_region(events, day) or payer.home
        weekend = (start + timedelta(days=day)).weekday() >= 5
        for _ in range(_poisson(rng, payer.payments_per_day * (1.2 if weekend else 1.0))):
            rows += _ordinary(rng, world, payer, start, day, region)
        if day in events.get("big", ()):
            rows.append(_big_purchase(rng, world, payer, start, day, region))
        if day == events.get("spree"):
            rows += _spree(rng, world, payer, start, day, region)
        if events.get("gamer") and rng.random() < 0.25:
            rows += _game_session(rng, world, payer, start, day, region)
        if day == events.get("rent"):
            rows.append(_payment(rng, payer, world.online["p2p_transfer"][0], rng.choice((300_000, 400_000, 500_000)),
                                 local_at(start, day, 19 + rng.random() * 3, payer.home), payer.home, mobile=False))
    return rows


def _life_events(rng: random.Random, first_day: int, total_days: int) -> dict:
    span = range(first_day, total_days)
    events: dict = {}
    if rng.random() < 0.06:
        events["new_phone"] = rng.choice(span)
        events["reset_with_phone"] = rng.random() < 0.33
    if rng.random() < 0.02:
        events["reset"] = rng.choice(span)
    if rng.random() < 0.04:
        events["new_card"] = rng.choice(span)
    if rng.random() < 0.12:
        events["big"] = {rng.choice(span) for _ in range(rng.choice((1, 1, 2)))}
    if rng.random() < 0.08:
        events["rent"] = rng.choice(span)
    if rng.random() < 0.08:
        events["spree"] = rng.choice(span)
    events["gamer"] = rng.random() < 0.05
    if rng.random() < 0.10:
        destination = rng.choice(ABROAD) if rng.random() < 0.12 else rng.choice(DOMESTIC)
        first = rng.choice(span)
        events["trip"] = (first, first + rng.randint(1, 6), destination)
    return events


def _trip_region(events: dict, day: int) -> Region | None:
    trip = events.get("trip")
    return trip[2] if trip and trip[0] <= day <= trip[1] else None


def _ordinary(rng: random.Random, world: World, payer: Payer, start: datetime, day: int, region: Region) -> list[dict]:
    category = rng.choices(list(payer.category_weights), weights=list(payer.category_weights.values()))[0]
    merchant = pick_merchant(rng, world, category, region.code, payer)
    hour = rng.choices(range(24), weights=payer.rhythm)[0] + rng.random()
    at = local_at(start, day, hour, region)
    rows = [_payment(rng, payer, merchant, _amount(rng, payer, category), at, region)]
    if rng.random() < 0.03:  # a second coffee, a transit top-up: minutes later, same shop
        later = at + timedelta(seconds=rng.uniform(30, 300))
        rows.append(_payment(rng, payer, merchant, _amount(rng, payer, category), later, region))
    return rows


def _big_purchase(rng: random.Random, world: World, payer: Payer, start: datetime, day: int, region: Region) -> dict:
    category = rng.choice(("electronics", "electronics", "travel", "jewelry", "clothing"))
    merchant = pick_merchant(rng, world, category, region.code, payer)
    amount = min(BIG_PURCHASE_MAX_MINOR, int(payer.usual_minor * rng.uniform(15, 80)) // 100 * 100)
    at = local_at(start, day, rng.choices(range(24), weights=payer.rhythm)[0] + rng.random(), region)
    return _payment(rng, payer, merchant, max(amount, 10_000), at, region)


def _spree(rng: random.Random, world: World, payer: Payer, start: datetime, day: int, region: Region) -> list[dict]:
    """A day at the mall: several sizeable payments within two hours."""
    at = local_at(start, day, rng.uniform(11, 20), region)
    rows = []
    for _ in range(rng.randint(3, 6)):
        category = rng.choice(("clothing", "clothing", "electronics", "jewelry", "restaurant"))
        amount = int(payer.usual_minor * rng.uniform(3, 20)) // 100 * 100
        rows.append(_payment(rng, payer, pick_merchant(rng, world, category, region.code, payer), amount, at, region))
        at += timedelta(minutes=rng.uniform(5, 30))
    return rows


def _game_session(rng: random.Random, world: World, payer: Payer, start: datetime, day: int, region: Region) -> list[dict]:
    """Mobile-game top-ups at the game's price points (648.00 the biggest), in bursts, often late."""
    at = local_at(start, day, rng.choice((20, 21, 22, 23, 24, 25)) + rng.random(), region)
    merchant = world.online["digital_goods"][rng.randrange(3)]
    rows = []
    for _ in range(rng.choice((1, 1, 2, 3, 5))):
        rows.append(_payment(rng, payer, merchant, rng.choice(GAME_PRICES_MINOR), at, region))
        at += timedelta(minutes=rng.uniform(1, 20))
    return rows


def _amount(rng: random.Random, payer: Payer, category: str) -> int:
    if category == "p2p_transfer" and rng.random() < 0.6:  # red packets and transfers are round
        return rng.choice(P2P_ROUND_MINOR)
    amount = rng.lognormvariate(math.log(payer.usual_minor * CATEGORY_PRICE[category]), payer.amount_sigma)
    return max(100, int(amount) // 10 * 10)


def _payment(rng: random.Random, payer: Payer, merchant, amount_minor: int, at: datetime, region: Region,
             mobile: bool | None = None) -> dict:
    at_home = region is payer.home
    device = payer.devices[1] if at_home and len(payer.devices) > 1 and rng.random() < 0.15 else payer.devices[0]
    if merchant.region is None and rng.random() < FRESH_FINGERPRINT_SHARE:
        device = f"{payer.id}-web-{rng.randrange(10**6)}"
    card = payer.cards[0] if rng.random() < 0.7 else rng.choice(payer.cards)
    use_mobile = mobile if mobile is not None else rng.random() < (0.6 if at_home else 0.7)
    if use_mobile:  # roaming mobile data still geolocates to the home carrier's gateway
        ip = f"{payer.mobile_prefix}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    else:
        ip = payer.home_ip if at_home else f"{region.ip_prefixes[0]}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    lat = lon = None
    if rng.random() < payer.shares_location:
        base_lat, base_lon = (payer.home_lat, payer.home_lon) if at_home else (region.latitude, region.longitude)
        lat, lon = round(base_lat + rng.gauss(0, 0.04), 4), round(base_lon + rng.gauss(0, 0.04), 4)
    return payment_row(payer.id, merchant.id, merchant.category, amount_minor, at, card, device, ip, lat, lon)


def _poisson(rng: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
