"""FX quotes, conversion, charges and the conversion's ledger entries: pure functions.

A quote's `rate` is the all-in dealing rate: units of the buy currency per unit of the sell
currency (how SWIFT's XchgRate converts the instructed amount into the settlement amount),
spread included; `spread_bps` is the desk's margin over the mid rate, disclosed with it.
Amounts stay integer minor units; a conversion is computed exactly and rounded once, half to
even, to the target currency's minor unit — the rule `Money.multiply` applies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from juhe.ledger.rules import Entry
from juhe.money import Money, check_currency, exponent

BPS = 10_000


class FxError(ValueError):
    """An FX operation refused, with a stable code for the API (`fx_quote_expired` …)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Tariff:
    """The correspondent's fees for one transfer, in the settlement currency."""

    sending_fee: Money  # the correspondent's own fee
    receiving_fee: Money  # intermediary and beneficiary bank fees, collected up front under OUR


@dataclass(frozen=True, slots=True)
class Quote:
    id: str
    sell: str  # currency the payer gives
    buy: str  # currency the creditor is paid in
    rate: Decimal  # buy units per sell unit, spread included
    spread_bps: int
    expires_at: datetime
    tariff: Tariff | None = None  # the correspondent's fees for a transfer under this deal

    def __post_init__(self) -> None:
        check_currency(self.sell)
        check_currency(self.buy)
        if self.sell == self.buy:
            raise FxError("fx_same_currency", f"a quote converts between two currencies, not {self.sell} to itself")
        if not isinstance(self.rate, Decimal) or not self.rate.is_finite() or self.rate <= 0:
            raise FxError("fx_invalid_rate", f"rate must be a positive Decimal, not {self.rate!r}")
        if type(self.spread_bps) is not int or not 0 <= self.spread_bps < BPS:
            raise FxError("fx_invalid_spread", f"spread_bps must be an int in [0, {BPS}), not {self.spread_bps!r}")
        if self.expires_at.tzinfo is None:
            raise FxError("fx_invalid_expiry", "expires_at must carry a time zone")
        if self.tariff is not None and {self.tariff.sending_fee.currency, self.tariff.receiving_fee.currency} != {
            self.buy
        }:
            raise FxError("fx_currency_mismatch", f"fees are charged in the settlement currency {self.buy}")

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def require_live(quote: Quote, now: datetime) -> None:
    if quote.is_expired(now):
        raise FxError(
            "fx_quote_expired", f"FX quote {quote.id} expired at {quote.expires_at.isoformat()}; ask for a new one"
        )


def buy_amount(quote: Quote, sell: Money) -> Money:
    """What `sell` buys at the quote's rate."""
    _expect(sell, quote.sell)
    return Money(_rounded(sell.amount_minor * Fraction(quote.rate), quote.sell, quote.buy), quote.buy)


def sell_amount(quote: Quote, buy: Money) -> Money:
    """What it costs in the sell currency to buy `buy` at the quote's rate."""
    _expect(buy, quote.buy)
    return Money(_rounded(buy.amount_minor / Fraction(quote.rate), quote.buy, quote.sell), quote.sell)


def _rounded(value_in_source_minor: Fraction, source: str, target: str) -> int:
    # Minor units differ per currency (JPY 0, CNY 2, KWD 3): scale exactly, then round once.
    return round(value_in_source_minor * Fraction(10) ** (exponent(target) - exponent(source)))


def _expect(amount: Money, currency: str) -> None:
    if amount.currency != currency:
        raise FxError("fx_currency_mismatch", f"amount is in {amount.currency}, the quote needs {currency}")


class ChargeBearer(StrEnum):
    """Who pays the banks' fees (SWIFT MT103 field 71A; ISO 20022 ChrgBr in brackets)."""

    OUR = "OUR"  # debtor pays all fees; the creditor receives the full amount (DEBT)
    SHA = "SHA"  # debtor pays the sending side, creditor the receiving side (SHAR)
    BEN = "BEN"  # creditor pays all fees, taken from the amount (CRED)


ISO_CHARGE_BEARER = {ChargeBearer.OUR: "DEBT", ChargeBearer.SHA: "SHAR", ChargeBearer.BEN: "CRED"}


@dataclass(frozen=True, slots=True)
class Charges:
    bearer: ChargeBearer
    amount: Money  # the interbank settlement amount the payment is for
    debtor_fee: Money  # billed to us on top of the amount
    creditor_fee: Money  # taken from the amount before the creditor is credited

    @property
    def debtor_pays(self) -> Money:
        return self.amount + self.debtor_fee

    @property
    def creditor_receives(self) -> Money:
        return self.amount - self.creditor_fee


def charges(bearer: ChargeBearer, amount: Money, tariff: Tariff) -> Charges:
    _expect(tariff.sending_fee, amount.currency)
    _expect(tariff.receiving_fee, amount.currency)
    fees = {
        ChargeBearer.OUR: (tariff.sending_fee + tariff.receiving_fee, Money.zero(amount.currency)),
        ChargeBearer.SHA: (tariff.sending_fee, tariff.receiving_fee),
        ChargeBearer.BEN: (Money.zero(amount.currency), tariff.sending_fee + tariff.receiving_fee),
    }
    debtor_fee, creditor_fee = fees[bearer]
    found = Charges(bearer, amount, debtor_fee, creditor_fee)
    if found.creditor_receives.amount_minor <= 0:
        raise FxError("fx_amount_below_fees", f"{amount} does not cover the fees of {creditor_fee} under {bearer}")
    return found


@dataclass(frozen=True, slots=True)
class ConversionAccounts:
    """Ledger accounts of one conversion; the caller resolves them by code and currency."""

    source: uuid.UUID  # in the sell currency, e.g. payable:{merchant}, or clearing:crossborder for a return
    fx_sell: uuid.UUID  # fx:{sell}
    fx_buy: uuid.UUID  # fx:{buy}
    destination: uuid.UUID  # in the buy currency, e.g. clearing:crossborder, or payable:{merchant} for a return


@dataclass(frozen=True, slots=True)
class Conversion:
    sold: Money
    bought: Money
    entries: tuple[Entry, ...]


def conversion_entries(accounts: ConversionAccounts, quote: Quote, amount: Money) -> Conversion:
    """Entries moving value from source to destination at the quote's rate; each currency nets to zero.
    `amount` is either side: what is bought (a payment of USD 100.00) or what is sold (a return).

        Dr source       (sell) x      Cr fx:{sell}        (sell) x
        Dr fx:{buy}     (buy)  y      Cr destination      (buy)  y

    The fx:{ccy} accounts carry the position the desk's deal leaves behind, so no entry ever
    mixes two currencies. Expiry is checked when the payment is accepted, not here: a payment
    the bank accepted under a live quote is booked at that quote's rate whenever it settles.
    """
    if amount.currency == quote.buy:
        sold, bought = sell_amount(quote, amount), amount
    else:
        sold, bought = amount, buy_amount(quote, amount)
    if sold.amount_minor <= 0 or bought.amount_minor <= 0:
        raise FxError("fx_amount_too_small", f"{amount} converts to nothing at {quote.rate}")
    entries = (
        Entry(accounts.source, sold.amount_minor),
        Entry(accounts.fx_sell, -sold.amount_minor),
        Entry(accounts.fx_buy, bought.amount_minor),
        Entry(accounts.destination, -bought.amount_minor),
    )
    return Conversion(sold, bought, entries)
