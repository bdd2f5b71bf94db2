"""What a plan charges for a period: fixed, per seat, tiered (graduated over the quantity) or
metered (the period's usage, billed in arrears). Pure; money as int minor units, exact
fractions for partial periods, rounded half up once per line."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

MODELS = ("fixed", "per_seat", "tiered", "metered")
TIERS_MAX = 20


class PricingError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Pricing:
    model: str
    unit_amount_minor: int = 0  # fixed: the fee; per_seat: per seat; metered without tiers: per unit
    tiers: tuple[tuple[int | None, int], ...] = ()  # (up_to, unit_amount_minor), the last up_to None

    @classmethod
    def from_json(cls, data: dict) -> "Pricing":
        model = data.get("model")
        if model not in MODELS:
            raise PricingError(f"model is one of {', '.join(MODELS)}")
        tiers = tuple((t.get("up_to"), int(t["unit_amount_minor"])) for t in data.get("tiers") or ())
        pricing = cls(model, int(data.get("unit_amount_minor") or 0), tiers)
        pricing.check()
        return pricing

    def as_json(self) -> dict:
        return {"model": self.model, "unit_amount_minor": self.unit_amount_minor,
                "tiers": [{"up_to": u, "unit_amount_minor": a} for u, a in self.tiers]}

    def check(self) -> None:
        if self.unit_amount_minor < 0 or any(a < 0 for _, a in self.tiers):
            raise PricingError("amounts are not negative")
        if self.model == "tiered" and not self.tiers:
            raise PricingError("a tiered price needs tiers")
        if self.tiers:
            bounds = [u for u, _ in self.tiers]
            if len(bounds) > TIERS_MAX or bounds[-1] is not None or None in bounds[:-1] or bounds[:-1] != sorted(set(bounds[:-1])):
                raise PricingError(f"tiers: up to {TIERS_MAX}, rising up_to, the last without one")

    @property
    def recurring(self) -> bool:
        return self.model != "metered"


def graduated(tiers: tuple[tuple[int | None, int], ...], quantity: int) -> int:
    """Each unit at its own tier's price (Stripe's `graduated`, Lago's graduated charge)."""
    total, below = 0, 0
    for up_to, unit in tiers:
        top = quantity if up_to is None else min(quantity, up_to)
        if top > below:
            total += (top - below) * unit
        below = top if up_to is None else up_to
        if quantity <= below:
            break
    return total


def period_fee_minor(pricing: Pricing, quantity: int) -> int:
    """The recurring fee of one full period, in advance (0 for metered prices)."""
    if pricing.model == "fixed":
        return pricing.unit_amount_minor
    if pricing.model == "per_seat":
        return pricing.unit_amount_minor * quantity
    if pricing.model == "tiered":
        return graduated(pricing.tiers, quantity)
    return 0


def usage_minor(pricing: Pricing, units: int) -> int:
    if pricing.model != "metered":
        return 0
    return graduated(pricing.tiers, units) if pricing.tiers else pricing.unit_amount_minor * units


def share_minor(amount_minor: int, fraction: Fraction) -> int:
    exact = amount_minor * fraction
    return (exact.numerator * 2 + exact.denominator) // (2 * exact.denominator)


def discount_minor(coupon, subtotal_minor: int) -> int:
    """A coupon's discount on an invoice's subtotal, never more than the subtotal."""
    if coupon is None or subtotal_minor <= 0:
        return 0
    off = share_minor(subtotal_minor, Fraction(coupon.percent_off, 100)) if coupon.percent_off else coupon.amount_off_minor
    return min(off, subtotal_minor)
