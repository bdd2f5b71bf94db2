"""Payments that pay out: a B2B transfer to a supplier, a cross-border credit transfer.

Money leaves the merchant's balance, so it is held when the payment is accepted (in the same
commit, so a merchant cannot send more than it has), captured when the channel confirms, and
released when the payment fails or is canceled. A hold moves one amount between two accounts;
the rest of the posting is booked with the capture. Together, in one currency:

    Dr payable:{owner}            A + merchant fee
    Cr revenue:fees                   merchant fee
    Dr expense:channel_fees           channel fee
    Cr clearing:{channel}         A + channel fee       (due to the channel that pays it out;
                                                         reserve:bank when our own bank pays it)

A payment in another currency than the merchant funds it from converts at the FX quote it
names: Dr payable / Cr fx:{sell} in the funding
currency, Dr fx:{buy} / Cr clearing:{channel} in the payment currency, so that each currency
balances on its own. The hold is Dr payable / Cr fx:{sell}.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from juhe.channels.base import Scenario
from juhe.channels.crossborder import fx
from juhe.db.types import utcnow
from juhe.ledger.accounts import BANK_RESERVE
from juhe.ledger import Capture, Entry, LedgerError, Post, Void, ensure_account, post, post_many
from juhe.money import Money
from juhe.payments.models import Payment
from juhe.payments.postings import FeeSplit, fees_for, merge_legs, payment_accounts
from juhe.payments.routing import Contract
from juhe.treasury.models import FxQuote

OUTBOUND = frozenset({Scenario.B2B.value, Scenario.CROSSBORDER.value})
HOLD_DAYS = 30  # a bank or correspondent answers within days; older holds are voided by the expiry sweep


class FundsError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def is_outbound(payment: Payment) -> bool:
    return payment.scenario in OUTBOUND


def hold_funds(session: Session, payment: Payment, contract: Contract, funding_currency: str, quote: FxQuote | None) -> None:
    """Hold what the payment will take from the merchant; FundsError (nothing held) if it cannot."""
    conn = session.connection()
    amount = Money(payment.amount_minor, payment.currency)
    funding = payment_accounts(conn, payment.merchant_id, payment.store_id, payment.business_line_id, contract.channel,
                               funding_currency)
    if funding_currency == payment.currency:
        fees = fees_for(amount.amount_minor, contract.merchant_fee_bps, contract.channel_fee_bps)
        counter = paying_account(conn, contract.channel, payment.currency)
        held_minor, fx_meta = amount.amount_minor + fees.merchant_fee_minor, None
    else:
        sold = _sold(_quote(quote, funding_currency, amount), amount)
        fees = FeeSplit(fees_for(sold.amount_minor, contract.merchant_fee_bps, 0).merchant_fee_minor, 0)
        held_minor, counter = sold.amount_minor + fees.merchant_fee_minor, _fx_account(conn, funding_currency)
        fx_meta = {"quote_id": quote.id, "rate": quote.rate, "sold_minor": sold.amount_minor,
                   "sell_currency": funding_currency}
    hold = Post(f"payment:{payment.id}:hold", (Entry(funding.payable, held_minor), Entry(counter, -held_minor)),
                payment.merchant_id, f"payment out: {payment.subject}", {"payment_id": str(payment.id)},
                pending=True, expires_at=utcnow() + timedelta(days=HOLD_DAYS))
    try:
        payment.ledger_txn_id = post(conn, hold).id
    except LedgerError as e:
        raise FundsError(422, e.code, f"the {funding_currency} balance cannot pay this: {e}") from None
    payment.fee_minor, payment.channel_fee_minor = fees.merchant_fee_minor, fees.channel_fee_minor
    payment.meta = (payment.meta or {}) | {"funding_currency": funding_currency, "hold_channel": contract.channel} | (
        {"fx": fx_meta} if fx_meta else {})


def _quote(quote: FxQuote | None, funding_currency: str, amount: Money) -> fx.Quote:
    if quote is None:
        raise FundsError(422, "fx_quote_required",
                         f"paying {amount.currency} from {funding_currency} needs payer.quote_id (POST /v1/fx/quotes)")
    if (quote.sell_currency, quote.buy_currency) != (funding_currency, amount.currency):
        raise FundsError(422, "fx_quote_mismatch", f"quote {quote.id} sells {quote.sell_currency} for {quote.buy_currency}")
    return fx.Quote(quote.id, quote.sell_currency, quote.buy_currency, Decimal(quote.rate), quote.spread_bps, quote.expires_at)


def _sold(quote: fx.Quote, amount: Money) -> Money:
    """What buying `amount` costs in the funding currency, at the quote's all-in rate."""
    sold = fx.sell_amount(quote, amount)
    if sold.amount_minor <= 0:
        raise FundsError(422, "fx_amount_too_small", f"{amount} converts to nothing at {quote.rate}")
    return sold


def paying_account(conn, channel: str, currency: str) -> uuid.UUID:
    """The bank pays from our reserve account (as batch transfers do); other channels pay for us and are owed it."""
    code = BANK_RESERVE if channel == "bank" else f"clearing:{channel}"
    return ensure_account(conn, code, currency, owner_type="platform")


def _fx_account(conn, currency: str) -> uuid.UUID:
    return ensure_account(conn, f"fx:{currency}", currency, owner_type="platform")


def completion_legs(conn, payment: Payment) -> tuple[Entry, ...]:
    """What the capture books beside the hold, so that the whole matches the module's posting."""
    channel, funding_currency = payment.meta["hold_channel"], payment.meta["funding_currency"]
    funding = payment_accounts(conn, payment.merchant_id, payment.store_id, payment.business_line_id, channel, funding_currency)
    mf, cf = payment.fee_minor, payment.channel_fee_minor
    if "fx" not in payment.meta:
        return merge_legs([(paying_account(conn, channel, funding_currency), mf - cf), (funding.revenue, -mf),
                           (funding.channel_fees, cf)])
    return merge_legs([(_fx_account(conn, funding_currency), mf), (funding.revenue, -mf),
                       (_fx_account(conn, payment.currency), payment.amount_minor),
                       (paying_account(conn, channel, payment.currency), -payment.amount_minor)])


def capture(session: Session, payment: Payment) -> None:
    """The channel paid it: the hold becomes the posting, completed by the fee and FX legs."""
    conn = session.connection()
    commands = [Capture(f"payment:{payment.id}:captured", payment.ledger_txn_id)]
    legs = completion_legs(conn, payment)
    if legs:
        commands.append(Post(f"payment:{payment.id}:completed", legs, payment.merchant_id, "payment out: fees and FX",
                             {"payment_id": str(payment.id)}))
    post_many(conn, commands)


def release(session: Session, payment: Payment) -> None:
    """The payment ended without paying out: give the held funds back (no-op for other payments)."""
    if is_outbound(payment) and payment.ledger_txn_id is not None:
        post(session.connection(), Void(f"payment:{payment.id}:released", payment.ledger_txn_id))
