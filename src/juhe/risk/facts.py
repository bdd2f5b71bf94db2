"""What the risk engine is told about a payment, and what it answers.

`PaymentFacts` is everything known when the payer presses pay: who (payer, card, device, IP,
location), to whom (merchant and its category), how much and when. `Decision` is the answer:
allow, step up (with the verification to ask for) or block, with the score, the reasons a
risk analyst can read, and the features it was computed from (kept for the audit trail).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from juhe.money import MoneyError, check_currency

Action = Literal["allow", "step_up", "block"]
Verification = Literal["none", "otp", "otp_face"]
ACTIONS: tuple[Action, ...] = ("allow", "step_up", "block")  # in rising severity
ID_LENGTH_MAX = 128  # ids are fingerprints and tokens; anything longer is not one


class RiskError(ValueError):
    """Bad input to the risk engine; `code` is stable for APIs and tests."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    payment_id: str
    payer_id: str
    merchant_id: str
    merchant_category: str  # e.g. grocery, electronics, p2p_transfer (see features.MERCHANT_CATEGORIES)
    amount_minor: int
    currency: str
    occurred_at: datetime  # timezone-aware; the payer's local hour comes from the region's offset
    card_id: str  # fingerprint of the card or account paid from, never the card number
    device_id: str  # device fingerprint
    ip: str
    latitude: float | None = None  # from the device, when the payer allowed it
    longitude: float | None = None
    terminal_id: str | None = None  # the card terminal or store QR code paid at: compromise is per terminal
    store_id: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    score: float  # model probability of fraud, 0-1 (0.0 when no model is active)
    reasons: list[str]
    verification: Verification
    features: dict[str, float | int | bool | str] = field(repr=False)
    model_version: str | None = None
    rules_version: str | None = None


def check_payment(payment: PaymentFacts) -> None:
    """Raise RiskError(code="bad_payment") for facts no decision can be made on."""
    problems = []
    if type(payment.amount_minor) is not int or payment.amount_minor <= 0:
        problems.append("amount_minor must be a positive int (minor units)")
    try:
        check_currency(payment.currency)
    except MoneyError as error:
        problems.append(str(error))
    if not isinstance(payment.occurred_at, datetime) or payment.occurred_at.utcoffset() is None:
        problems.append("occurred_at must be a timezone-aware datetime")
    for name in ("payment_id", "payer_id", "merchant_id", "merchant_category", "card_id", "device_id", "ip"):
        value = getattr(payment, name)
        if not isinstance(value, str) or not value or len(value) > ID_LENGTH_MAX:
            problems.append(f"{name} must be a non-empty string of at most {ID_LENGTH_MAX} characters")
    for name in ("terminal_id", "store_id"):
        value = getattr(payment, name)
        if value is not None and (not isinstance(value, str) or not value or len(value) > ID_LENGTH_MAX):
            problems.append(f"{name} must be absent or a non-empty string of at most {ID_LENGTH_MAX} characters")
    if (payment.latitude is None) != (payment.longitude is None):
        problems.append("latitude and longitude come together or not at all")
    elif payment.latitude is not None and not (-90 <= payment.latitude <= 90 and -180 <= payment.longitude <= 180):
        problems.append("latitude/longitude out of range")
    if problems:
        raise RiskError("bad_payment", "; ".join(problems))
