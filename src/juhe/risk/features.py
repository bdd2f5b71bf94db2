"""The features of one payment, computed from its facts, its place and the store's history.

`FEATURES` is the catalogue: every name a rule may use and the model is trained on, its kind
and what it means. Kinds:

    number    int or float; rules compare with == != > >= < <=
    bool      True/False; rules compare with == !=
    text      a code or id (region, merchant_category, device_id …); rules use == != in not_in
    category  an integer code for the model only (rules use the text feature it codes)

Velocity features count *this payment too* (the 5th payment in a minute has payer_count_1m 5)
and are per currency, so sums never mix currencies. A payer without history has every
`new_*` flag set, `amount_to_usual_ratio` 1 and `hour_share` 0; `new_payer` tells the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from juhe.risk.facts import PaymentFacts
from juhe.risk.geo import Place, RegionDirectory, distance_km
from juhe.risk.store import (DAY_WINDOWS, EMPTY_DAYS, LABEL_DELAY_DAYS, SCOPES, VELOCITY_KEYS, WINDOWS, History,
                             is_round_amount)

TRAVEL_SPEED_MAX_KMH = 900.0  # an airliner's cruise: faster between two payments is impossible travel
TRAVEL_MIN_KM = 100.0  # below this, location jitter and neighbouring towns, not travel
HOURS_CAP = 720.0  # "never" or "more than 30 days ago" for the hours-since features
SPEED_CAP_KMH = 20_000.0
MINUTE_H = 1 / 60  # two payments a few seconds apart are a minute apart for speed
NIGHT_HOURS = range(0, 6)
MERCHANT_CATEGORIES = (
    "grocery", "restaurant", "coffee", "transport", "utilities", "clothing", "electronics", "digital_goods",
    "travel", "jewelry", "wholesale", "p2p_transfer", "healthcare", "entertainment",
)
CATEGORY_CODES = {name: code for code, name in enumerate(MERCHANT_CATEGORIES)}
PER_KEY_VELOCITY = ("payer", "card", "device", "ip", "payer_merchant", "terminal", "terminal_small")


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    kind: str  # number | bool | text | category
    description: str


def _catalogue() -> dict[str, FeatureSpec]:
    specs = {
        "currency": FeatureSpec("text", "ISO 4217 currency of the payment"),
        "merchant_id": FeatureSpec("text", "the merchant paid"),
        "merchant_category": FeatureSpec("text", f"one of {', '.join(MERCHANT_CATEGORIES)}"),
        "merchant_category_code": FeatureSpec("category", "merchant_category as the model's category code"),
        "region": FeatureSpec("text", "region of the payment (device location, else IP)"),
        "ip_region": FeatureSpec("text", "region the IP geolocates to ('unknown' when it does not)"),
        "device_id": FeatureSpec("text", "device fingerprint"),
        "card_id": FeatureSpec("text", "card / account fingerprint"),
        "amount_minor": FeatureSpec("number", "amount in minor units"),
        "amount_to_usual_ratio": FeatureSpec("number", "amount / the payer's median recent amount (1 without history)"),
        "amount_to_limit_ratio": FeatureSpec("number", "amount / the scene's per-payment limit"),
        "round_amount": FeatureSpec("bool", "whole hundreds of the major unit (100.00, 5000.00 …)"),
        "local_hour": FeatureSpec("number", "hour of day where the payment happened, 0-23"),
        "night": FeatureSpec("bool", "local hour 00:00-05:59"),
        "hour_share": FeatureSpec("number", "share of the payer's payments within ±1 h of this hour (0 without history)"),
        "new_payer": FeatureSpec("bool", "no successful payment of this payer on record"),
        "new_device": FeatureSpec("bool", "device never used in a successful payment of this payer"),
        "new_card": FeatureSpec("bool", "card never used in a successful payment of this payer"),
        "new_region": FeatureSpec("bool", "region where this payer never paid successfully"),
        "foreign_region": FeatureSpec("bool", "region outside the home market"),
        "ip_location_mismatch": FeatureSpec("bool", "the device's location and its IP's region differ"),
        "payer_payments": FeatureSpec("number", "successful payments of this payer on record"),
        "payer_tenure_days": FeatureSpec("number", "days since the payer's first successful payment"),
        "merchant_round_share_24h": FeatureSpec("number", "share of round amounts among the merchant's payments in 24 h"),
        "device_payers_24h": FeatureSpec("number", "distinct payers on this device in 24 h, this one included"),
        "km_from_last": FeatureSpec("number", "km from the payer's last successful payment (0 without one)"),
        "hours_since_last": FeatureSpec("number", f"hours since the payer's last successful payment (cap {HOURS_CAP:g})"),
        "speed_kmh": FeatureSpec("number", "km_from_last / hours_since_last (a minute at least)"),
        "impossible_travel": FeatureSpec(
            "bool", f"faster than {TRAVEL_SPEED_MAX_KMH:g} km/h over {TRAVEL_MIN_KM:g} km or more"),
        "hours_since_password_reset": FeatureSpec(
            "number", f"hours since the payer's last password reset (cap {HOURS_CAP:g})"),
        "password_reset_24h": FeatureSpec("bool", "password reset within the last 24 h"),
    }
    specs["under_compromise_review"] = FeatureSpec(
        "bool", "the terminal, store or merchant is under step-up for a jump in confirmed fraud, until reviewed")
    specs.update(_day_catalogue())
    for kind in PER_KEY_VELOCITY:
        per = kind.replace("_", "→")
        for window, _ in WINDOWS:
            specs[f"{kind}_count_{window}"] = FeatureSpec("number", f"payments per {per} in {window}")
            specs[f"{kind}_sum_{window}"] = FeatureSpec("number", f"amount per {per} in {window}, minor units")
    return specs


def _day_catalogue() -> dict[str, FeatureSpec]:
    specs = {}
    for n in DAY_WINDOWS:
        specs[f"payer_count_{n}d"] = FeatureSpec("number", f"payments of the payer in {n} day(s), this one included")
        specs[f"payer_mean_amount_{n}d"] = FeatureSpec("number", f"mean amount of the payer in {n} day(s), minor units")
        specs[f"amount_to_mean_{n}d"] = FeatureSpec(
            "number", f"amount / the payer's mean amount over the {n} day(s) before it (1 without any)")
    for scope in SCOPES:
        for n in DAY_WINDOWS:
            when = f"{n} day(s) ending {LABEL_DELAY_DAYS} days ago"
            specs[f"{scope}_payments_{n}d_delayed"] = FeatureSpec("number", f"payments at the {scope} in {when}")
            specs[f"{scope}_fraud_rate_{n}d_delayed"] = FeatureSpec(
                "number", f"confirmed fraud reported so far / payments at the {scope} in {when} (0 without payments)")
        specs[f"{scope}_frauds_known_30d"] = FeatureSpec(
            "number", f"payments of the last 30 days at the {scope} reported as fraud so far")
    return specs


FEATURES: dict[str, FeatureSpec] = _catalogue()
MODEL_FEATURES: tuple[str, ...] = tuple(name for name, spec in FEATURES.items() if spec.kind != "text")
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(name for name, spec in FEATURES.items() if spec.kind == "category")
assert set(VELOCITY_KEYS) >= set(PER_KEY_VELOCITY)


def local_hour(occurred_at: datetime, place: Place) -> int:
    """Hour of day at the place (whole-hour UTC offsets; occurred_at is timezone-aware)."""
    return int((occurred_at.timestamp() // 3600 + place.utc_offset_h) % 24)


def compute(payment: PaymentFacts, place: Place, hour: int, history: History, regions: RegionDirectory,
            scene_limit_minor: int) -> dict[str, float | int | bool | str]:
    """Every feature in FEATURES for this payment (pure: same inputs, same features)."""
    amount = payment.amount_minor
    round_amount = is_round_amount(amount, payment.currency)
    features: dict[str, float | int | bool | str] = {
        "currency": payment.currency,
        "merchant_id": payment.merchant_id,
        "merchant_category": payment.merchant_category,
        "merchant_category_code": CATEGORY_CODES.get(payment.merchant_category, -1),
        "region": place.region,
        "ip_region": place.ip_region,
        "device_id": payment.device_id,
        "card_id": payment.card_id,
        "amount_minor": amount,
        "amount_to_usual_ratio": amount / history.usual_amount_minor if history.usual_amount_minor else 1.0,
        "amount_to_limit_ratio": amount / scene_limit_minor,
        "round_amount": round_amount,
        "local_hour": hour,
        "night": hour in NIGHT_HOURS,
        "hour_share": history.hour_share or 0.0,
        "new_payer": history.payer_payments == 0,
        "new_device": not history.known_device,
        "new_card": not history.known_card,
        "new_region": not history.known_region,
        "foreign_region": place.region in regions.by_code and not regions.by_code[place.region].domestic,
        "ip_location_mismatch": place.ip_location_mismatch,
        "payer_payments": history.payer_payments,
        "payer_tenure_days": _days_between(history.payer_first_seen, payment.occurred_at),
        "merchant_round_share_24h": _round_share(history, round_amount),
        "device_payers_24h": history.device_payers_24h,
    }
    features.update(_travel(history, place, payment.occurred_at))
    features.update(_password_reset(history, payment.occurred_at))
    features.update(_velocity(history, amount))
    features.update(_days(history, amount))
    features["under_compromise_review"] = history.under_review
    return features


def _days_between(start: datetime | None, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 86_400) if start else 0.0


def _round_share(history: History, round_now: bool) -> float:
    merchant = history.velocity["merchant"].count[2] + 1
    return (history.velocity["merchant_round"].count[2] + int(round_now)) / merchant


def _travel(history: History, place: Place, at: datetime) -> dict[str, float | bool]:
    if history.last_at is None or history.last_latitude is None or place.latitude is None:
        hours = HOURS_CAP if history.last_at is None else _hours(history.last_at, at)
        return {"km_from_last": 0.0, "hours_since_last": hours, "speed_kmh": 0.0, "impossible_travel": False}
    km = distance_km(history.last_latitude, history.last_longitude, place.latitude, place.longitude)
    hours = _hours(history.last_at, at)
    speed = min(SPEED_CAP_KMH, km / max(hours, MINUTE_H))
    return {"km_from_last": km, "hours_since_last": hours, "speed_kmh": speed,
            "impossible_travel": km >= TRAVEL_MIN_KM and speed > TRAVEL_SPEED_MAX_KMH}


def _password_reset(history: History, at: datetime) -> dict[str, float | bool]:
    hours = _hours(history.password_reset_at, at) if history.password_reset_at else HOURS_CAP
    return {"hours_since_password_reset": hours, "password_reset_24h": hours < 24}


def _hours(start: datetime, end: datetime) -> float:
    return min(HOURS_CAP, max(0.0, (end - start).total_seconds() / 3600))


# (kind, window index, count feature, sum feature), named once rather than on every payment.
VELOCITY_NAMES = tuple((kind, i, f"{kind}_count_{window}", f"{kind}_sum_{window}")
                       for kind in PER_KEY_VELOCITY for i, (window, _) in enumerate(WINDOWS))


def _velocity(history: History, amount: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for kind, i, count_name, sum_name in VELOCITY_NAMES:
        totals = history.velocity[kind]
        out[count_name] = totals.count[i] + 1
        out[sum_name] = totals.sum_minor[i] + amount
    return out


def _days(history: History, amount: int) -> dict[str, float]:
    """Spending habits over days, and per scope the payments and confirmed fraud of windows that end
    LABEL_DELAY_DAYS ago (only the reports received so far are in the store: nothing from the future)."""
    days = history.days
    out: dict[str, float] = {}
    for n in DAY_WINDOWS:
        count, total = days["payer"].window(0, n) if days else (0, 0)
        out[f"payer_count_{n}d"] = count + 1
        out[f"payer_mean_amount_{n}d"] = (total + amount) / (count + 1)
        out[f"amount_to_mean_{n}d"] = amount * count / total if total else 1.0
    for scope in SCOPES:
        payments, frauds = days.get(scope, EMPTY_DAYS), days.get(f"{scope}_fraud", EMPTY_DAYS)
        for n in DAY_WINDOWS:
            count, _ = payments.window(LABEL_DELAY_DAYS, n)
            fraud, _ = frauds.window(LABEL_DELAY_DAYS, n)
            out[f"{scope}_payments_{n}d_delayed"] = count
            out[f"{scope}_fraud_rate_{n}d_delayed"] = min(1.0, fraud / count) if count else 0.0
        out[f"{scope}_frauds_known_30d"] = frauds.window(0, 30)[0]
    return out
