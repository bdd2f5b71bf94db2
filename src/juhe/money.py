"""Money: integer minor units with an ISO 4217 currency. No float ever touches an amount."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache

import iso4217


TEXT_EXPONENT_MAX = 40  # decimal exponents beyond this are no amount anyone means


class MoneyError(ValueError):
    """An amount or currency that cannot be money, or arithmetic across currencies."""


@lru_cache(maxsize=None)
def exponent(currency: str) -> int:
    """Minor-unit exponent of an ISO 4217 code: CNY 2, JPY 0, KWD 3."""
    try:
        found = iso4217.Currency(currency)
    except ValueError:
        raise MoneyError(f"unknown currency {currency!r}") from None
    # Funds codes such as XAU have no minor unit in ISO 4217; they are not money we move.
    if found.exponent is None:
        raise MoneyError(f"currency {currency!r} has no minor unit")
    return found.exponent


def check_currency(currency: str) -> str:
    exponent(currency)
    return currency


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount_minor) is not int:
            raise MoneyError("amount_minor must be an int (minor units), not " + type(self.amount_minor).__name__)
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """'12.34' CNY → 1234 fen. More decimals than the currency has is an error, not a rounding."""
        try:
            value = Decimal(text.strip())
        except (InvalidOperation, AttributeError):
            raise MoneyError(f"not an amount: {text!r}") from None
        # Bound the exponent before exact arithmetic: '1e999999999' is not an amount.
        if not value.is_finite() or abs(value.as_tuple().exponent) > TEXT_EXPONENT_MAX:
            raise MoneyError(f"not an amount: {text!r}")
        minor = Fraction(value) * 10 ** exponent(currency)  # exact; Decimal would round at 28 digits
        if minor.denominator != 1:
            raise MoneyError(f"{text!r} has more decimals than {currency} allows ({exponent(currency)})")
        return cls(int(minor), currency)

    @classmethod
    def from_json(cls, data: dict) -> Money:
        """Accepts {"amount_minor": 1234, "currency": "CNY"} or {"amount": "12.34", "currency": "CNY"}."""
        if not isinstance(data, dict) or "currency" not in data:
            raise MoneyError("money needs a currency and amount_minor or amount")
        currency = data["currency"]
        if "amount_minor" in data:
            return cls(data["amount_minor"], currency)
        if isinstance(data.get("amount"), str):
            return cls.parse(data["amount"], currency)
        raise MoneyError("money needs amount_minor (int) or amount (decimal string)")

    def to_json(self) -> dict:
        return {"amount_minor": self.amount_minor, "currency": self.currency, "amount": self.decimal_text()}

    def decimal_text(self) -> str:
        exp = exponent(self.currency)
        digits = str(abs(self.amount_minor)).rjust(exp + 1, "0")
        whole, fraction = (digits[:-exp], digits[-exp:]) if exp else (digits, "")
        sign = "-" if self.amount_minor < 0 else ""
        return f"{sign}{whole}.{fraction}" if exp else f"{sign}{whole}"

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise MoneyError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor <= other.amount_minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor > other.amount_minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor >= other.amount_minor

    def multiply(self, rate: Decimal | int) -> Money:
        """Scale by an exact rate (e.g. a fee rate), rounding half-even to the minor unit."""
        if isinstance(rate, float):
            raise MoneyError("rates are Decimal, never float")
        # round() of a Fraction is exact and rounds half to even, at any size.
        return Money(round(self.amount_minor * Fraction(rate)), self.currency)

    def allocate(self, ratios: list[int | Decimal]) -> list[Money]:
        """Split by ratios so the parts sum exactly to the whole (largest-remainder method).

        Leftover minor units go to the parts with the largest remainders, earliest first on ties,
        so the split is deterministic and never loses or invents a fen.
        """
        if not ratios or any(isinstance(r, float) for r in ratios):
            raise MoneyError("allocate needs one or more int or Decimal ratios")
        # Fractions keep the split exact at any size; Decimal's 28 digits would not.
        weights = [Fraction(r) for r in ratios]
        if any(w < 0 for w in weights) or sum(weights) == 0:
            raise MoneyError("ratios must be non-negative and not all zero")
        total = sum(weights)
        sign = -1 if self.amount_minor < 0 else 1
        whole = abs(self.amount_minor)
        exact = [whole * w / total for w in weights]
        parts = [int(e) for e in exact]
        leftover = whole - sum(parts)
        by_remainder = sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))
        for i in by_remainder[:leftover]:
            parts[i] += 1
        return [Money(sign * p, self.currency) for p in parts]

    def __str__(self) -> str:
        return f"{self.decimal_text()} {self.currency}"
