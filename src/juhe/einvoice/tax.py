"""Tax on a tax-included price: the amount before tax and the VAT in it, in fen.

A payment's amount includes VAT; an invoice line states the amount without it and the tax.
amount = round(total / (1 + rate)) half up, tax = total − amount, so the two always add up to
what was paid."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

RATES_BPS = (0, 100, 300, 500, 600, 900, 1300)  # the VAT rates and levy rates an invoice line may carry
CATEGORY_CODE_LENGTH = 19  # 税收分类编码


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    tax_category_code: str
    tax_rate_bps: int
    amount_minor: int  # without tax
    tax_minor: int

    @property
    def total_minor(self) -> int:
        return self.amount_minor + self.tax_minor

    def to_json(self) -> dict:
        return {"name": self.name, "tax_category_code": self.tax_category_code, "tax_rate_bps": self.tax_rate_bps,
                "amount_minor": self.amount_minor, "tax_minor": self.tax_minor}

    @classmethod
    def from_json(cls, data: dict) -> Line:
        return cls(data["name"], data["tax_category_code"], data["tax_rate_bps"], data["amount_minor"], data["tax_minor"])


def split(total_minor: int, rate_bps: int) -> tuple[int, int]:
    """(amount without tax, tax) of a tax-included total."""
    rate = Decimal(rate_bps) / Decimal(10_000)
    amount = int((Decimal(total_minor) / (1 + rate)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return amount, total_minor - amount


def line(name: str, tax_category_code: str, rate_bps: int, total_minor: int) -> Line:
    amount, tax = split(total_minor, rate_bps)
    return Line(name, tax_category_code, rate_bps, amount, tax)


def negated(lines: list[Line]) -> list[Line]:
    """A red-letter invoice's lines: the same goods, negative amounts."""
    return [Line(x.name, x.tax_category_code, x.tax_rate_bps, -x.amount_minor, -x.tax_minor) for x in lines]


def line_problem(tax_category_code: str, rate_bps: int) -> str | None:
    if len(tax_category_code) != CATEGORY_CODE_LENGTH or not tax_category_code.isdigit():
        return f"a tax category code (税收分类编码) has {CATEGORY_CODE_LENGTH} digits"
    if rate_bps not in RATES_BPS:
        return f"tax rate {rate_bps} bps is not one of {', '.join(map(str, RATES_BPS))}"
    return None
