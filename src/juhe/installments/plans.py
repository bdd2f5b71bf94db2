"""Installment plans: which period counts a merchant offers on a channel, at what fee rate per
period, and who bears the fee. A plan is checked against what the channel can do."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.channels.base import Channel
from juhe.installments.models import InstallmentPlan
from juhe.installments.schedule import BEARERS, Quote, quote
from juhe.money import Money
from juhe.payments.models import MerchantChannel
from juhe.payments.service import PaymentError

PERIOD_COUNTS = (3, 6, 12, 24)
FEE_RATE_PER_PERIOD_MAX = Decimal("0.05")  # 5 % a month is no installment plan anyone should offer
FEE_RATE_PLACES_MAX = 6
PLANS_LISTED_MAX = 100


class InstallmentError(PaymentError):
    """A refused plan or installment sale; answered as problem+json with its code."""


def offered_periods(adapter: Channel | None) -> frozenset[int]:
    return getattr(adapter, "installment_periods", frozenset())


def create_plan(session: Session, channels: dict[str, Channel], merchant_id: uuid.UUID, *, channel: str, name: str,
                fee_bearer: str, options: list[dict]) -> InstallmentPlan:
    _check_channel(session, channels, merchant_id, channel)
    if fee_bearer not in BEARERS:
        raise InstallmentError(422, "invalid_fee_bearer", f"fee_bearer must be one of {', '.join(BEARERS)}")
    checked = _checked_options(options, offered_periods(channels[channel]), channel)
    plan = InstallmentPlan(id=uuid.uuid4(), merchant_id=merchant_id, channel=channel, name=name or f"{channel} installments",
                           fee_bearer=fee_bearer, options=checked, enabled=True)
    session.add(plan)
    session.flush()
    return plan


def _check_channel(session: Session, channels: dict[str, Channel], merchant_id: uuid.UUID, channel: str) -> None:
    if channel not in channels:
        raise InstallmentError(422, "unknown_channel", f"no channel {channel!r} is configured")
    if not offered_periods(channels[channel]):
        raise InstallmentError(422, "channel_without_installments", f"{channel} offers no installments")
    contract = session.get(MerchantChannel, (merchant_id, channel))
    if contract is None or not contract.enabled:
        raise InstallmentError(422, "no_channel_contract", f"this merchant has no contract with {channel}")


def _checked_options(options: list[dict], offered: frozenset[int], channel: str) -> list[dict]:
    periods = [o.get("periods") for o in options]
    if not options or len(set(periods)) != len(periods) or any(p not in PERIOD_COUNTS for p in periods):
        raise InstallmentError(422, "invalid_periods", f"options need distinct periods, each one of {PERIOD_COUNTS}")
    missing = sorted(set(periods) - offered)
    if missing:
        raise InstallmentError(422, "periods_not_offered", f"{channel} offers {sorted(offered)} periods, not {missing}")
    return [{"periods": o["periods"], "fee_rate_per_period": str(_rate(o.get("fee_rate_per_period")))}
            for o in sorted(options, key=lambda o: o["periods"])]


def _rate(text) -> Decimal:
    try:
        rate = Decimal(text) if isinstance(text, str) else None
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite() or not 0 <= rate <= FEE_RATE_PER_PERIOD_MAX \
            or -rate.as_tuple().exponent > FEE_RATE_PLACES_MAX:
        raise InstallmentError(422, "invalid_fee_rate", f"fee_rate_per_period is a decimal string from 0 to "
                               f"{FEE_RATE_PER_PERIOD_MAX}, at most {FEE_RATE_PLACES_MAX} places, e.g. \"0.006\"")
    return rate


def own_plan(session: Session, merchant_id: uuid.UUID, plan_id: uuid.UUID) -> InstallmentPlan:
    plan = session.get(InstallmentPlan, plan_id)
    if plan is None or plan.merchant_id != merchant_id or not plan.enabled:
        raise InstallmentError(404, "plan_not_found", f"no installment plan {plan_id}")
    return plan


def merchant_plans(session: Session, merchant_id: uuid.UUID) -> list[InstallmentPlan]:
    query = (select(InstallmentPlan).where(InstallmentPlan.merchant_id == merchant_id)
             .order_by(InstallmentPlan.id.desc()).limit(PLANS_LISTED_MAX))
    return list(session.scalars(query))


def plan_quote(plan: InstallmentPlan, principal: Money, periods: int, today: date) -> Quote:
    option = next((o for o in plan.options if o["periods"] == periods), None)
    if option is None:
        offered = [o["periods"] for o in plan.options]
        raise InstallmentError(422, "periods_not_offered", f"this plan offers {offered} periods, not {periods}")
    if principal.amount_minor <= 0:
        raise InstallmentError(422, "invalid_amount", "the amount must be positive")
    return quote(principal, periods, Decimal(option["fee_rate_per_period"]), plan.fee_bearer, today)


def plan_view(plan: InstallmentPlan) -> dict:
    return {"id": str(plan.id), "channel": plan.channel, "name": plan.name, "fee_bearer": plan.fee_bearer,
            "options": plan.options, "enabled": plan.enabled, "created_at": plan.created_at.isoformat()}
