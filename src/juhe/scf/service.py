"""Receivables confirmed by their buyer, the offers to pay them early, and the one financing each
can carry. Every function runs in the caller's transaction; a refusal raises ScfError before
anything is written. The claim is the unique `scf_financings.receivable_id`: two funders (or a
funder and the buyer) accepting at once insert the same key, and the database lets one win."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.config import get_settings
from juhe.einvoice.models import Invoice
from juhe.ledger import LedgerError, post
from juhe.orders.models import B2bOrder
from juhe.scf import postings
from juhe.scf.errors import ScfError
from juhe.scf.models import ScfBuyer, ScfFinancing, ScfFunder, ScfReceivable
from juhe.scf.pricing import DYNAMIC_DISCOUNTING, REVERSE_FACTORING, Offer, price, reverse_factoring_rate_bps
from juhe.settlement.calendar import business_date

MATURITY_DAYS_MAX = 366  # beyond a year it is a loan, not a receivable
BUYER = "buyer"  # the offer of the buyer itself (dynamic discounting); a funder's offer is its code


@dataclass(frozen=True, slots=True)
class Rates:
    base_rate_bps: int  # the benchmark funders price over (the 1-year LPR)
    market_apr_bps: int  # what a small supplier pays for working capital on its own credit


def local_date(now: datetime) -> date:
    """Days to maturity count in China's calendar, where buyers and suppliers are."""
    return business_date(now)


def configured_rates() -> Rates:
    settings = get_settings()
    return Rates(settings.scf_base_rate_bps, settings.scf_market_apr_bps)


def buyer_of(session: Session, merchant_id: uuid.UUID) -> ScfBuyer:
    buyer = session.get(ScfBuyer, merchant_id)
    if buyer is None:
        raise ScfError(403, "not_an_scf_buyer", "this merchant is not registered as an SCF buyer")
    return buyer


def funder_of(session: Session, merchant_id: uuid.UUID) -> ScfFunder:
    funder = session.get(ScfFunder, merchant_id)
    if funder is None:
        raise ScfError(403, "not_an_scf_funder", "this merchant is not registered as an SCF funder")
    return funder


def confirm(session: Session, buyer_merchant_id: uuid.UUID, order_id: uuid.UUID, maturity_on: date, today: date) -> ScfReceivable:
    """The buyer confirms an invoiced order raised against its credit code and says when it pays."""
    buyer = buyer_of(session, buyer_merchant_id)
    order = session.get(B2bOrder, order_id)
    if order is None or order.buyer_tax_id != buyer.tax_id:
        raise ScfError(404, "receivable_not_found", f"no order {order_id} addressed to {buyer.tax_id}")
    if order.invoice_id is None:
        raise ScfError(409, "order_not_invoiced", "a receivable is confirmed once its order is invoiced")
    if order.status == "paid":
        raise ScfError(409, "order_already_paid", f"order {order.order_no} is paid: nothing is owed")
    if not 0 < (maturity_on - today).days <= MATURITY_DAYS_MAX:
        raise ScfError(422, "invalid_maturity", f"maturity is 1 to {MATURITY_DAYS_MAX} days after today")
    invoice = session.get(Invoice, order.invoice_id)
    if invoice.leaf_index is None:  # what a funder relies on is the invoice's record in the log
        raise ScfError(409, "order_not_invoiced", "the order's invoice is not issued yet")
    receivable = ScfReceivable(id=uuid.uuid4(), merchant_id=order.merchant_id, order_id=order.id,
                               buyer_merchant_id=buyer.merchant_id, face_minor=order.total_minor, currency=order.currency,
                               maturity_on=maturity_on, order_leaf=order.leaf_index, invoice_leaf=invoice.leaf_index)
    try:
        with session.begin_nested():
            session.add(receivable)
    except IntegrityError:
        raise ScfError(409, "receivable_already_confirmed", f"order {order.order_no} is confirmed already") from None
    return receivable


def receivable_of(session: Session, supplier_id: uuid.UUID, order_id: uuid.UUID) -> ScfReceivable:
    order = session.get(B2bOrder, order_id)
    if order is None or order.merchant_id != supplier_id:
        raise ScfError(404, "receivable_not_found", f"no order {order_id}")
    receivable = session.scalar(select(ScfReceivable).where(ScfReceivable.order_id == order_id))
    if receivable is None:
        raise ScfError(409, "receivable_not_confirmed", "the buyer has not confirmed this receivable yet")
    return receivable


def receivable_for(session: Session, merchant_id: uuid.UUID, order_id: uuid.UUID) -> ScfReceivable:
    """A confirmed receivable as its supplier, its buyer or any funder (who decides on it) may see it."""
    receivable = session.scalar(select(ScfReceivable).where(ScfReceivable.order_id == order_id))
    if receivable is None or (merchant_id not in (receivable.merchant_id, receivable.buyer_merchant_id)
                              and session.get(ScfFunder, merchant_id) is None):
        raise ScfError(404, "receivable_not_found", f"no confirmed receivable of order {order_id}")
    return receivable


def offers(session: Session, supplier_id: uuid.UUID, order_id: uuid.UUID, amount_minor: int | None, today: date,
           rates: Rates) -> list[Offer]:
    """Every way to be paid now: one offer per funder on the buyer's credit, and the buyer's own."""
    receivable = receivable_of(session, supplier_id, order_id)
    amount, days = _financeable(session, receivable, amount_minor, today)
    buyer = session.get(ScfBuyer, receivable.buyer_merchant_id)
    found = [price(REVERSE_FACTORING, f.code, amount, days,
                   reverse_factoring_rate_bps(rates.base_rate_bps, buyer.credit_spread_bps, f.margin_bps), f.fee_bps,
                   rates.market_apr_bps) for f in session.scalars(select(ScfFunder).order_by(ScfFunder.code))]
    found.append(price(DYNAMIC_DISCOUNTING, None, amount, days, buyer.discount_apr_bps, 0, rates.market_apr_bps))
    return sorted(found, key=lambda o: (o.apr_bps, o.funder_code or ""))


def _financeable(session: Session, receivable: ScfReceivable, amount_minor: int | None, today: date) -> tuple[int, int]:
    if session.scalar(select(ScfFinancing.id).where(ScfFinancing.receivable_id == receivable.id)) is not None:
        raise ScfError(409, "receivable_already_financed", "this receivable carries a financing already")
    if session.get(B2bOrder, receivable.order_id).status == "paid":
        raise ScfError(409, "order_already_paid", "the buyer has paid this order: nothing is left to finance")
    days = (receivable.maturity_on - today).days
    if days <= 0:
        raise ScfError(422, "receivable_past_maturity", f"the receivable matured on {receivable.maturity_on.isoformat()}")
    amount = receivable.face_minor if amount_minor is None else amount_minor
    if not 0 < amount <= receivable.face_minor:
        raise ScfError(422, "amount_above_face", f"{amount} is not within the face of {receivable.face_minor}")
    return amount, days


def accept(session: Session, supplier_id: uuid.UUID, order_id: uuid.UUID, offer_of: str, amount_minor: int | None,
           now: datetime, rates: Rates) -> ScfFinancing:
    """Take one offer: the claim is written, then the money moves, in one transaction."""
    chosen = [o for o in offers(session, supplier_id, order_id, amount_minor, local_date(now), rates)
              if (o.funder_code or BUYER) == offer_of]
    if not chosen:
        raise ScfError(404, "offer_not_found", f"no offer from {offer_of!r}: a funder's code or {BUYER!r}")
    offer, receivable = chosen[0], receivable_of(session, supplier_id, order_id)
    funder = session.scalar(select(ScfFunder).where(ScfFunder.code == offer.funder_code)) if offer.funder_code else None
    financing = ScfFinancing(
        id=uuid.uuid4(), merchant_id=supplier_id, receivable_id=receivable.id, buyer_merchant_id=receivable.buyer_merchant_id,
        funder_merchant_id=funder.merchant_id if funder else None, kind=offer.kind,
        status="advanced" if funder else "settled", currency=receivable.currency, amount_minor=offer.amount_minor,
        discount_minor=offer.discount_minor, fee_minor=offer.fee_minor, net_minor=offer.net_minor, rate_bps=offer.rate_bps,
        apr_bps=offer.apr_bps, days=offer.days, maturity_on=receivable.maturity_on, market_cost_minor=offer.market_cost_minor,
        created_at=now, repaid_at=None if funder else now)
    try:
        with session.begin_nested():
            session.add(financing)
    except IntegrityError:
        raise ScfError(409, "receivable_already_financed", "this receivable was financed a moment ago") from None
    try:
        with session.begin_nested():
            post(session.connection(), postings.advance(session.connection(), financing), now)
    except LedgerError as e:
        payer = "funder" if funder else "buyer"
        raise ScfError(422, f"{payer}_funds_insufficient", f"the {payer} cannot pay {offer.net_minor} now: {e}") from None
    return financing


def repay(session: Session, buyer_merchant_id: uuid.UUID, financing_id: uuid.UUID, now: datetime) -> ScfFinancing:
    """The buyer pays what it confirmed, at maturity, to the funder that advanced it."""
    financing = session.get(ScfFinancing, financing_id, with_for_update=True)
    if financing is None or financing.buyer_merchant_id != buyer_merchant_id:
        raise ScfError(404, "financing_not_found", f"no financing {financing_id} of this buyer")
    if financing.status != "advanced":
        raise ScfError(409, "financing_not_outstanding", f"the financing is {financing.status}")
    if local_date(now) < financing.maturity_on:
        raise ScfError(409, "financing_not_due", f"due on {financing.maturity_on.isoformat()}")
    try:
        with session.begin_nested():
            post(session.connection(), postings.repayment(session.connection(), financing), now)
    except LedgerError as e:
        raise ScfError(422, "buyer_funds_insufficient", f"the buyer cannot pay {financing.amount_minor}: {e}") from None
    financing.status, financing.repaid_at = "repaid", now
    return financing


def financing_of(session: Session, merchant_id: uuid.UUID, financing_id: uuid.UUID) -> ScfFinancing:
    """A financing its supplier, buyer or funder may see; unknown to anyone else."""
    financing = session.get(ScfFinancing, financing_id)
    if financing is None or merchant_id not in (financing.merchant_id, financing.buyer_merchant_id,
                                                financing.funder_merchant_id):
        raise ScfError(404, "financing_not_found", f"no financing {financing_id}")
    return financing


def due(session: Session, today: date, limit: int) -> list[uuid.UUID]:
    return list(session.scalars(select(ScfFinancing.id).where(
        ScfFinancing.status == "advanced", ScfFinancing.maturity_on <= today).order_by(ScfFinancing.maturity_on).limit(limit)))
