"""An installment sale: the quoted terms fixed first, then a payment through the payments core on
the plan's channel, carrying the terms to it (Alipay 花呗分期, card installments at the acquirer).

The fee the merchant bears (免息) is the channel's: it keeps it from what it settles for the trade.
It is booked in the collection itself — the channel's fee and the merchant's fee each grow by it:
    Dr clearing:{channel}     A − cf − F     Cr payable:{merchant…}   A − mf − F
    Dr expense:channel_fees   cf + F         Cr revenue:fees          mf + F
so the merchant is paid the amount less both fees, the clearing account matches the channel's
statement (whose fee column includes F), and refunds give the fees back in proportion as the channel
does: Huabei returns its share of F, a card acquirer keeps it (and the merchant keeps bearing it).
A fee the payer bears is theirs to the lender and never touches the merchant's books."""

from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.channels.base import PAYER_INSTALLMENT_FEE_BEARER, PAYER_INSTALLMENT_PERIODS
from juhe.db.types import utcnow
from juhe.installments.models import InstallmentSale
from juhe.installments.plans import InstallmentError, own_plan, plan_quote
from juhe.installments.schedule import Quote
from juhe.payments import service
from juhe.payments.context import PaymentsContext
from juhe.payments.models import Payment
from juhe.payments.postings import FeeSplit

PURPOSE_NAME = "installment_sale"


async def create_installment_payment(ctx: PaymentsContext, merchant_id: uuid.UUID, key: str, request_hash: str,
                                     new: service.NewPayment, plan_id: uuid.UUID, periods: int) -> tuple[Payment, bool]:
    if {PAYER_INSTALLMENT_PERIODS, PAYER_INSTALLMENT_FEE_BEARER} & set(new.payer):
        raise InstallmentError(422, "invalid_payer", "installment terms come from `installments`, not from payer")
    plan = await ctx.db.run(_fix_terms, ctx, merchant_id, key, new, plan_id, periods)
    terms = {PAYER_INSTALLMENT_PERIODS: str(periods), PAYER_INSTALLMENT_FEE_BEARER: plan.fee_bearer}
    on_plan = dataclasses.replace(new, purpose=PURPOSE_NAME, preferred_channel=plan.channel, only_channel=plan.channel,
                                  payer={**new.payer, **terms})
    return await service.create_payment(ctx, merchant_id, key, request_hash, on_plan)


def _fix_terms(ctx: PaymentsContext, merchant_id: uuid.UUID, key: str, new: service.NewPayment, plan_id: uuid.UUID,
               periods: int):
    try:
        with ctx.db.session() as session, session.begin():
            plan = own_plan(session, merchant_id, plan_id)
            if new.scenario not in ctx.channels[plan.channel].scenarios:
                raise InstallmentError(422, "scenario_not_offered", f"{plan.channel} takes no {new.scenario} payments")
            quoted = plan_quote(plan, new.amount, periods, utcnow().date())
            existing = session.scalar(select(InstallmentSale).where(
                InstallmentSale.merchant_id == merchant_id, InstallmentSale.idempotency_key == key))
            if existing is None:
                session.add(_sale(merchant_id, key, plan.id, plan.channel, quoted))
            elif (existing.plan_id, existing.periods, existing.principal_minor) != (plan.id, periods, new.amount.amount_minor):
                raise InstallmentError(409, "idempotency_key_reused", "this Idempotency-Key was used with other terms")
            return plan
    except IntegrityError:  # a concurrent twin fixed the same terms; the payment's key decides which one stands
        with ctx.db.reader() as session:
            return own_plan(session, merchant_id, plan_id)


def _sale(merchant_id: uuid.UUID, key: str, plan_id: uuid.UUID, channel: str, quoted: Quote) -> InstallmentSale:
    return InstallmentSale(
        id=uuid.uuid4(), merchant_id=merchant_id, idempotency_key=key, plan_id=plan_id, channel=channel,
        periods=quoted.periods, fee_bearer=quoted.bearer, fee_rate_per_period=str(quoted.fee_rate_per_period),
        principal_minor=quoted.principal.amount_minor, fee_minor=quoted.fee.amount_minor,
        payer_fee_minor=quoted.payer_fee.amount_minor, merchant_fee_minor=quoted.merchant_fee.amount_minor,
        currency=quoted.principal.currency, status="quoted", created_at=utcnow(),
    )


def sale_of(session: Session, payment: Payment) -> InstallmentSale:
    sale = session.scalar(select(InstallmentSale).where(
        InstallmentSale.merchant_id == payment.merchant_id, InstallmentSale.idempotency_key == payment.idempotency_key))
    assert sale is not None and sale.principal_minor == payment.amount_minor, payment.id  # fixed before the channel call
    return sale


class InstallmentSalePurpose:
    """A merchant's sale (its payable is credited), with the fee it bears added to both fees."""

    own_account = False

    def collection_fees(self, session: Session, payment: Payment, fees: FeeSplit) -> FeeSplit:
        borne = sale_of(session, payment).merchant_fee_minor
        return FeeSplit(fees.merchant_fee_minor + borne, fees.channel_fee_minor + borne)

    def fee_kept_on_refund(self, session: Session, payment: Payment) -> int:
        """A card acquirer keeps its fees on a refund, the installment fee too: the merchant keeps bearing it."""
        return sale_of(session, payment).merchant_fee_minor

    def succeeded(self, session: Session, payment: Payment) -> None:
        sale = sale_of(session, payment)
        sale.payment_id, sale.status = payment.id, "booked"


PURPOSE = InstallmentSalePurpose()


def sale_view(sale: InstallmentSale) -> dict:
    return {"id": str(sale.id), "plan_id": str(sale.plan_id), "payment_id": str(sale.payment_id) if sale.payment_id else None,
            "channel": sale.channel, "periods": sale.periods, "fee_bearer": sale.fee_bearer,
            "fee_rate_per_period": sale.fee_rate_per_period, "principal_minor": sale.principal_minor,
            "fee_minor": sale.fee_minor, "payer_fee_minor": sale.payer_fee_minor,
            "merchant_fee_minor": sale.merchant_fee_minor, "currency": sale.currency, "status": sale.status}
