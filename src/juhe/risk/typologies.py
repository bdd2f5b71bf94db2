"""Fraud as it happens to a payment platform, three typologies, each with easy and hard cases.

stolen_card       card details bought or phished, used from the fraudster's phone (often one
                  of a farm shared across victims) in the victim's account or one just opened:
                  another region or behind a VPN, often at night, card-testing with tiny
                  amounts, then a burst of digital goods and electronics. One in five is
                  careful: one payment, the victim's city, daytime, a modest amount.
cash_out          套现: a card holder (or a mule account) pays colluding "merchants" round
                  amounts just under the scene limit, again and again over a few days, from
                  their own phone at ordinary hours: only the amounts and the merchant give it away.
account_takeover  the password is reset (mostly), then a new device, sometimes in the
                  victim's own city (SIM swap), moves money out: large, often round transfers.
                  One in five is a screen-sharing scam: the victim's own phone, at home.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from juhe.risk.dataset import payment_row, reset_row
from juhe.risk.geo import Region
from juhe.risk.population import ABROAD, DOMESTIC, Payer, World

TYPOLOGY_SHARE = {"stolen_card": 0.5, "cash_out": 0.25, "account_takeover": 0.25}
NEAR_LIMIT_MINOR = (500_000, 499_900, 498_000, 490_000, 480_000, 450_000, 300_000, 200_000)
NEAR_LIMIT_WEIGHT = (5, 3, 2, 2, 2, 1, 1, 1)


class FraudRing:
    """The fraudsters' shared means: a device farm and a supply of freshly opened accounts."""

    def __init__(self, rng: random.Random, seed: int, payers: int):
        self.rng = rng
        self.seed = seed
        self.farm = [f"FD{seed}-farm-{k:03d}" for k in range(max(4, payers // 250))]
        self.opened = 0

    def device(self) -> str:
        if self.rng.random() < 0.5:
            return self.rng.choice(self.farm)
        self.opened += 1
        return f"FD{self.seed}-{self.opened:05d}"

    def new_account(self) -> str:
        self.opened += 1
        return f"F{self.seed}-{self.opened:05d}"


def fraud_rows(rng: random.Random, world: World, ring: FraudRing, victim: Payer, day_start: datetime) -> list[dict]:
    typology = rng.choices(list(TYPOLOGY_SHARE), weights=list(TYPOLOGY_SHARE.values()))[0]
    if typology == "stolen_card":
        return _stolen_card(rng, world, ring, victim, day_start)
    if typology == "cash_out":
        return _cash_out(rng, world, ring, victim, day_start)
    return _account_takeover(rng, world, ring, victim, day_start)


def _stolen_card(rng: random.Random, world: World, ring: FraudRing, victim: Payer, day_start: datetime) -> list[dict]:
    careful = rng.random() < 0.2
    payer_id = victim.id if careful or rng.random() < 0.4 else ring.new_account()
    region = victim.home if careful else _elsewhere(rng, victim, stay=0.25, abroad=0.1)
    hour = rng.uniform(10, 21) if careful else (rng.uniform(0, 6) if rng.random() < 0.55 else rng.uniform(8, 24))
    at = day_start + timedelta(hours=hour - region.utc_offset_h)
    device, card = ring.device(), rng.choice(victim.cards)
    payments = 1 if careful else min(12, 1 + _geometric(rng, 0.35))
    rows = []
    if not careful and rng.random() < 0.3:  # card testing: does the card work?
        for _ in range(rng.randint(1, 2)):
            tiny = rng.randint(1, 10) * 100
            rows.append(_row(rng, "stolen_card", payer_id, world, "digital_goods", tiny, at, card, device, region))
            at += timedelta(seconds=rng.uniform(20, 120))
    for _ in range(payments):
        category = rng.choice(("clothing", "electronics") if careful else ("digital_goods", "electronics", "digital_goods"))
        amount = rng.randint(300, 800) * 100 if careful else _burst_amount(rng)
        rows.append(_row(rng, "stolen_card", payer_id, world, category, amount, at, card, device, region, careful))
        at += timedelta(seconds=rng.expovariate(1 / 150))
    return rows


def _cash_out(rng: random.Random, world: World, ring: FraudRing, holder: Payer, day_start: datetime) -> list[dict]:
    mule = rng.random() < 0.3
    payer_id = ring.new_account() if mule else holder.id
    device = ring.device() if mule else holder.devices[0]
    card = f"FC{ring.seed}-{ring.opened:05d}" if mule else holder.cards[0]
    shells = rng.sample(world.shells, k=min(len(world.shells), rng.choice((1, 1, 2))))
    rows = []
    for _ in range(rng.randint(2, 8)):
        day = rng.choice((0, 0, 1, 2))
        hour = rng.choices(range(24), weights=holder.rhythm)[0] + rng.random()  # their usual hours
        at = day_start + timedelta(days=day, hours=hour - holder.home.utc_offset_h)
        amount = rng.choices(NEAR_LIMIT_MINOR, weights=NEAR_LIMIT_WEIGHT)[0]
        if rng.random() < 0.15:  # not every run is round: 4,9xx.xx slips under rules that look for zeros
            amount = rng.randint(480_000, 499_999)
        shell = rng.choice(shells)
        ip = holder.home_ip if not mule else f"{holder.home.ip_prefixes[1]}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        lat, lon = _location(rng, holder.home, holder.shares_location if not mule else 0.5)
        rows.append(payment_row(payer_id, shell.id, shell.category, amount, at, card, device, ip, lat, lon, "cash_out"))
    return rows


def _account_takeover(rng: random.Random, world: World, ring: FraudRing, victim: Payer, day_start: datetime) -> list[dict]:
    if rng.random() < 0.2:
        return _screen_sharing(rng, world, victim, day_start)
    region = _elsewhere(rng, victim, stay=0.35, abroad=0.1)
    hour = rng.uniform(0, 6) if rng.random() < 0.4 else rng.uniform(7, 24)
    at = day_start + timedelta(hours=hour - region.utc_offset_h)
    rows = []
    if rng.random() < 0.85:
        rows.append(reset_row(victim.id, at, "account_takeover"))
        at += timedelta(minutes=rng.uniform(5, 720))
    device, card = ring.device(), victim.cards[0]
    for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
        if rng.random() < 0.7:
            category, amount = "p2p_transfer", rng.choice((200_000, 300_000, 500_000, 800_000, 1_000_000, 2_000_000))
        else:
            category, amount = rng.choice(("digital_goods", "electronics")), _burst_amount(rng)
        rows.append(_row(rng, "account_takeover", victim.id, world, category, amount, at, card, device, region))
        at += timedelta(minutes=rng.uniform(1, 40))
    return rows


def _screen_sharing(rng: random.Random, world: World, victim: Payer, day_start: datetime) -> list[dict]:
    """屏幕共享: a "customer service" caller walks the victim through sharing their screen, then moves
    money from the victim's own phone, at home: only the transfers themselves look wrong."""
    at = day_start + timedelta(hours=rng.uniform(9, 22) - victim.home.utc_offset_h)
    rows = []
    for _ in range(rng.choice((1, 2, 2, 3))):
        amount = rng.choice((100_000, 200_000, 300_000, 500_000, 1_000_000))
        merchant = rng.choice(world.online["p2p_transfer"][4:])  # the mule's receiving account
        rows.append(payment_row(victim.id, merchant.id, "p2p_transfer", amount, at, victim.cards[0], victim.devices[0],
                                victim.home_ip, *_location(rng, victim.home, victim.shares_location), "account_takeover"))
        at += timedelta(minutes=rng.uniform(2, 25))
    return rows


def _elsewhere(rng: random.Random, victim: Payer, stay: float, abroad: float) -> Region:
    draw = rng.random()
    if draw < stay:
        return victim.home
    if draw < stay + abroad:
        return rng.choice(ABROAD)
    return rng.choice([r for r in DOMESTIC if r is not victim.home])


def _row(rng: random.Random, typology: str, payer_id: str, world: World, category: str, amount: int, at: datetime,
         card: str, device: str, region: Region, careful: bool = False) -> dict:
    merchant = rng.choices(world.online[category], weights=[m.popularity for m in world.online[category]])[0] \
        if category in world.online else rng.choice(world.by_region_category[(region.code, category)])
    behind_vpn = not careful and rng.random() < 0.35
    ip_region = rng.choice(DOMESTIC + ABROAD) if behind_vpn else region
    ip = f"{ip_region.ip_prefixes[-1]}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    lat, lon = _location(rng, region, 0.8 if careful else 0.45)
    return payment_row(payer_id, merchant.id, category, amount, at, card, device, ip, lat, lon, typology)


def _location(rng: random.Random, region: Region, share: float) -> tuple[float | None, float | None]:
    if rng.random() >= share:
        return None, None
    return round(region.latitude + rng.gauss(0, 0.05), 4), round(region.longitude + rng.gauss(0, 0.05), 4)


def _burst_amount(rng: random.Random) -> int:
    if rng.random() < 0.25:
        return rng.choice((64_800, 100_000, 200_000, 499_900, 500_000))
    return int(min(2_000_000, max(2_000, rng.lognormvariate(math.log(80_000), 0.9)))) // 100 * 100


def _geometric(rng: random.Random, p: float) -> int:
    return int(math.log(1 - rng.random()) / math.log(1 - p))
