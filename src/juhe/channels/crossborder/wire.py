"""The FX desk's JSON messages, and the mapping of every cross-border message to base.py's types.

The desk speaks plain JSON (rates and amounts as decimal strings, never JSON numbers, so nothing
passes through a float); the payments speak ISO 20022 (pacs008, pacs002, returns, camt053) and
the wallet rail its own JSON (ecny). Nothing here leaks beyond this folder.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, Field, StrictInt

from juhe.channels.base import PaymentStatus, RefundStatus, StatementLine
from juhe.channels.crossborder import camt053, fx
from juhe.channels.crossborder.pacs002 import StatusReport
from juhe.channels.crossborder.returns import Return
from juhe.money import Money

CURRENCY_PATTERN = r"^[A-Z]{3}$"
DECIMAL_PATTERN = r"^\d{1,18}(\.\d{1,10})?$"
SETTLED = frozenset({"ACSC", "ACCC"})
STATE_OF_STATUS = {"RJCT": "failed", "CANC": "closed"}  # every other status is still on its way


class QuoteRequest(BaseModel):
    sell_currency: str = Field(pattern=CURRENCY_PATTERN)
    buy_currency: str = Field(pattern=CURRENCY_PATTERN)
    amount: str = Field(pattern=DECIMAL_PATTERN)  # the size to be dealt, in amount_currency
    amount_currency: str = Field(pattern=CURRENCY_PATTERN)


class QuoteAnswer(BaseModel):
    quote_id: str = Field(min_length=1, max_length=64)
    sell_currency: str = Field(pattern=CURRENCY_PATTERN)
    buy_currency: str = Field(pattern=CURRENCY_PATTERN)
    rate: str = Field(pattern=DECIMAL_PATTERN)
    spread_bps: StrictInt
    expires_at: AwareDatetime
    sending_fee: str = Field(pattern=DECIMAL_PATTERN)  # the correspondent's tariff for this pair,
    receiving_fee: str = Field(pattern=DECIMAL_PATTERN)  # in the buy (settlement) currency


class ErrorAnswer(BaseModel):
    code: str
    message: str = ""


def quote_of(answer: QuoteAnswer) -> fx.Quote:
    """The desk's quote; FxError or MoneyError when it is not one (a zero rate, fees with too many decimals)."""
    currency = answer.buy_currency
    tariff = fx.Tariff(Money.parse(answer.sending_fee, currency), Money.parse(answer.receiving_fee, currency))
    return fx.Quote(
        id=answer.quote_id, sell=answer.sell_currency, buy=answer.buy_currency, rate=Decimal(answer.rate),
        spread_bps=answer.spread_bps, expires_at=answer.expires_at, tariff=tariff,
    )  # fmt: skip


def payment_status(report: StatusReport) -> PaymentStatus:
    settled = report.status in SETTLED
    state = "succeeded" if settled else STATE_OF_STATUS.get(report.status, "pending")
    return PaymentStatus(
        payment_id=report.end_to_end_id, state=state, amount=report.settlement, channel_txn_id=report.uetr,
        paid_at=report.accepted_at if settled else None,
        failure_code=report.reason or report.status if state in ("failed", "closed") else None,
    )  # fmt: skip


def refund_status(returned: Return) -> RefundStatus:
    return RefundStatus(
        refund_id=returned.return_id, payment_id=returned.end_to_end_id, state="succeeded", amount=returned.returned,
        channel_refund_id=returned.msg_id,
    )  # fmt: skip


def statement_line(entry: camt053.Entry) -> StatementLine:
    return StatementLine(
        kind=entry.kind, payment_id=entry.end_to_end_id,
        refund_id=entry.instruction_id if entry.kind == "refund" else None, channel_txn_id=entry.reference,
        amount=entry.amount, fee=entry.fee, occurred_at=entry.booked_at, status=entry.status,
    )  # fmt: skip
