"""Fee schedules: what Juhe charges a merchant per payment on one channel. Pure: a schedule is
parsed from its JSON definition (every problem reported at once) and priced with integers only.

Definitions (amounts in minor units of the payment's currency, rates in basis points):

    {"kind": "percentage", "rate_bps": 60, "min_minor": 10, "max_minor": 2500}
    {"kind": "fixed", "amount_minor": 30}
    {"kind": "tiered", "basis": "month_volume" | "amount",
     "tiers": [{"up_to_minor": 10000000, "rate_bps": 60},
               {"up_to_minor": null, "rate_bps": 45, "fixed_minor": 0, "min_minor": 1}]}

A tier's price is `rate_bps` of the amount plus `fixed_minor`, kept within `min_minor` and
`max_minor`. Tiers are bands with inclusive upper bounds in ascending order, the last one open
(`up_to_minor: null`). Basis `amount`: the band the payment's amount falls in prices the whole
payment. Basis `month_volume`: the band the merchant's volume this month *before* this payment
falls in prices the whole payment (a volume discount starts with the payment after the threshold).

Rounding: the percentage part is rounded half up to the minor unit, exactly:
(amount × rate_bps + 5,000) // 10,000 — 0.5 fen is charged as 1 fen, 0.49 fen as nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

BPS = 10_000
RATE_BPS_MAX = BPS  # a fee above 100 % of the payment is a typo
TIERS_MAX = 20
KINDS = ("percentage", "fixed", "tiered")
BASES = ("month_volume", "amount")


class FeeScheduleError(ValueError):
    """A definition that is not a schedule; `problems` lists every one found."""

    code = "invalid_fee_schedule"

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Price:
    rate_bps: int = 0
    fixed_minor: int = 0
    min_minor: int | None = None
    max_minor: int | None = None


@dataclass(frozen=True, slots=True)
class Tier:
    up_to_minor: int | None  # inclusive upper bound of the band; None: no bound (the last tier)
    price: Price


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    kind: str
    price: Price | None = None  # percentage and fixed
    basis: str | None = None  # tiered
    tiers: tuple[Tier, ...] = ()


def fee_minor(schedule: FeeSchedule, amount_minor: int, month_volume_minor: int = 0) -> int:
    """The merchant fee on a payment of `amount_minor`, given the month's volume before it."""
    if type(amount_minor) is not int or amount_minor < 0:
        raise ValueError("amount_minor must be a non-negative int of minor units")
    if type(month_volume_minor) is not int or month_volume_minor < 0:
        raise ValueError("month_volume_minor must be a non-negative int of minor units")
    if schedule.kind != "tiered":
        return price_minor(schedule.price, amount_minor)
    measured = amount_minor if schedule.basis == "amount" else month_volume_minor
    tier = next(t for t in schedule.tiers if t.up_to_minor is None or measured <= t.up_to_minor)
    return price_minor(tier.price, amount_minor)


def price_minor(price: Price, amount_minor: int) -> int:
    fee = (amount_minor * price.rate_bps + BPS // 2) // BPS + price.fixed_minor
    if price.min_minor is not None:
        fee = max(fee, price.min_minor)
    if price.max_minor is not None:
        fee = min(fee, price.max_minor)
    return fee


def parse_schedule(definition: object) -> FeeSchedule:
    """The schedule a JSON definition describes, or FeeScheduleError with every problem."""
    problems: list[str] = []
    if not isinstance(definition, dict):
        raise FeeScheduleError(["the definition must be a JSON object"])
    kind = definition.get("kind")
    if kind not in KINDS:
        raise FeeScheduleError([f"kind must be one of {', '.join(KINDS)}, not {kind!r}"])
    if kind == "tiered":
        schedule = _tiered(definition, problems)
    elif kind == "fixed":
        _unknown(definition, {"kind", "amount_minor"}, "", problems)
        amount = definition.get("amount_minor")
        if not _is_amount(amount):
            problems.append("amount_minor is required: a non-negative integer of minor units")
        schedule = FeeSchedule("fixed", price=Price(fixed_minor=amount if _is_amount(amount) else 0))
    else:
        _unknown(definition, {"kind", "rate_bps", "min_minor", "max_minor"}, "", problems)
        if "rate_bps" not in definition:
            problems.append("rate_bps is required")
        schedule = FeeSchedule("percentage", price=_price(definition, "", problems))
    if problems:
        raise FeeScheduleError(problems)
    return schedule


def schedule_definition(schedule: FeeSchedule) -> dict:
    """The canonical JSON definition of a schedule (what is stored)."""
    if schedule.kind == "fixed":
        return {"kind": "fixed", "amount_minor": schedule.price.fixed_minor}
    if schedule.kind == "percentage":
        return {"kind": "percentage", **_price_fields(schedule.price, with_fixed=False)}
    tiers = [{"up_to_minor": t.up_to_minor, **_price_fields(t.price, with_fixed=True)} for t in schedule.tiers]
    return {"kind": "tiered", "basis": schedule.basis, "tiers": tiers}


def _price_fields(price: Price, *, with_fixed: bool) -> dict:
    fields = {"rate_bps": price.rate_bps}
    if with_fixed and price.fixed_minor:
        fields["fixed_minor"] = price.fixed_minor
    if price.min_minor is not None:
        fields["min_minor"] = price.min_minor
    if price.max_minor is not None:
        fields["max_minor"] = price.max_minor
    return fields


def _tiered(definition: dict, problems: list[str]) -> FeeSchedule:
    _unknown(definition, {"kind", "basis", "tiers"}, "", problems)
    basis = definition.get("basis")
    if basis not in BASES:
        problems.append(f"basis must be one of {', '.join(BASES)}, not {basis!r}")
    raw = definition.get("tiers")
    if not isinstance(raw, list) or not 1 <= len(raw) <= TIERS_MAX:
        problems.append(f"tiers must be a list of 1–{TIERS_MAX} tiers")
        return FeeSchedule("tiered", basis=basis)
    tiers = []
    for number, entry in enumerate(raw, start=1):
        where = f"tiers[{number}]."
        if not isinstance(entry, dict):
            problems.append(f"tiers[{number}] must be an object")
            continue
        _unknown(entry, {"up_to_minor", "rate_bps", "fixed_minor", "min_minor", "max_minor"}, where, problems)
        bound = entry.get("up_to_minor")
        if bound is not None and not _is_amount(bound):
            problems.append(f"{where}up_to_minor must be a non-negative integer or null")
            bound = None
        tiers.append(Tier(bound, _price(entry, where, problems)))
    _check_bands(tiers, problems)
    return FeeSchedule("tiered", basis=basis, tiers=tuple(tiers))


def _check_bands(tiers: list[Tier], problems: list[str]) -> None:
    bounds = [t.up_to_minor for t in tiers]
    if bounds and bounds[-1] is not None:
        problems.append("the last tier must be open: up_to_minor null")
    if any(b is None for b in bounds[:-1]):
        problems.append("only the last tier may have up_to_minor null")
    closed = [b for b in bounds if b is not None]
    if any(later <= earlier for earlier, later in zip(closed, closed[1:])):
        problems.append("tiers must be in ascending order of up_to_minor")


def _price(fields: dict, where: str, problems: list[str]) -> Price:
    rate = fields.get("rate_bps", 0)
    if type(rate) is not int or not 0 <= rate <= RATE_BPS_MAX:
        problems.append(f"{where}rate_bps must be an integer 0–{RATE_BPS_MAX}")
        rate = 0
    values = {}
    for name in ("fixed_minor", "min_minor", "max_minor"):
        value = fields.get(name)
        if value is not None and not _is_amount(value):
            problems.append(f"{where}{name} must be a non-negative integer of minor units")
            value = None
        values[name] = value
    low, high = values["min_minor"], values["max_minor"]
    if low is not None and high is not None and low > high:
        problems.append(f"{where}min_minor is above max_minor")
    return Price(rate, values["fixed_minor"] or 0, low, high)


def _is_amount(value: object) -> bool:
    # A JSON number with a fraction, or a bool, is not minor units.
    return type(value) is int and value >= 0


def _unknown(fields: dict, allowed: set[str], where: str, problems: list[str]) -> None:
    problems.extend(f"{where}{name} is not a field of this schedule" for name in sorted(set(fields) - allowed))
