"""Creating and canceling payments: validate → risk → route → channel, with failover.

Channel calls happen between database transactions, never inside one: a slow channel must
not hold locks. Every step that matters is committed before the next channel call, so a
crash anywhere leaves a state the poller can finish from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.channels.base import ChannelError, ChargeCreated, ChargeRequest, ChargeSucceeded, Declined, PayerAction, Scenario
from juhe.db.models import BusinessLine, Store
from juhe.db.types import utcnow
from juhe.money import Money
from juhe.payments import gates, outbound, states
from juhe.payments.context import PaymentsContext
from juhe.payments.models import MerchantChannel, Payment, PaymentAttempt
from juhe.payments.numbers import channel_number
from juhe.payments.outcomes import apply_payment_status, close_attempt, emit
from juhe.payments.routing import Contract, route
from juhe.treasury.models import FxQuote

PAYMENT_TTL_MAX = timedelta(days=1)
REQUEST_ERROR_CODES = ("fx_", "creditor_", "charge_bearer_")  # declines about the request, not the channel
REQUEST_DECLINE = "request declined"
MOVES_WITHOUT_PAYER = frozenset({Scenario.POS, Scenario.FACE, Scenario.B2B, Scenario.CROSSBORDER})


class PaymentError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class NewPayment:
    amount: Money
    scenario: Scenario
    subject: str
    customer_id: str | None = None
    store_id: uuid.UUID | None = None
    business_line_id: uuid.UUID | None = None
    preferred_channel: str | None = None
    return_url: str | None = None
    expires_in_s: int | None = None
    payer: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


async def create_payment(ctx: PaymentsContext, merchant_id: uuid.UUID, key: str, request_hash: str, new: NewPayment) -> tuple[Payment, bool]:
    """Returns the payment and whether it was created now (False: an idempotent replay)."""
    payment, created = _insert(ctx, merchant_id, key, request_hash, new)
    if not created:
        return payment, False
    stopped = await gates.before_channels(ctx, payment.id, channel_request(new))
    if stopped is not None:
        return stopped, True
    with ctx.db.reader() as session:
        contracts = _contracts(session, merchant_id)
    return await submit_to_channels(ctx, payment.id, contracts, new), True


def channel_request(new: NewPayment) -> dict:
    """What the channels are asked with, kept while a payment waits at a gate."""
    return {"scenario": new.scenario.value, "preferred_channel": new.preferred_channel, "return_url": new.return_url,
            "payer": dict(new.payer)}


def resumed(payment: Payment, request: dict) -> NewPayment:
    return NewPayment(Money(payment.amount_minor, payment.currency), Scenario(request["scenario"]), payment.subject,
                      preferred_channel=request["preferred_channel"], return_url=request["return_url"], payer=request["payer"])


def _insert(ctx: PaymentsContext, merchant_id: uuid.UUID, key: str, request_hash: str, new: NewPayment) -> tuple[Payment, bool]:
    ttl = timedelta(seconds=new.expires_in_s) if new.expires_in_s else ctx.payment_ttl
    if not timedelta(seconds=60) <= ttl <= PAYMENT_TTL_MAX and new.expires_in_s:
        raise PaymentError(422, "invalid_expiry", "expires_in_s must be between 60 and 86,400")
    if new.amount.amount_minor <= 0:
        raise PaymentError(422, "invalid_amount", "amount must be positive")
    try:
        with ctx.db.session() as session, session.begin():
            existing = _by_key(session, merchant_id, key)
            if existing is not None:
                return _replay(existing, request_hash), False
            _check_units(session, merchant_id, new)
            _check_fx_quote(session, merchant_id, new)
            now = utcnow()
            payment = Payment(
                merchant_id=merchant_id, store_id=new.store_id, business_line_id=new.business_line_id,
                idempotency_key=key, request_hash=request_hash, amount_minor=new.amount.amount_minor,
                currency=new.amount.currency, scenario=new.scenario.value, subject=new.subject,
                customer_id=new.customer_id, status=states.REQUIRES_PAYMENT_METHOD, meta=new.metadata or None,
                expires_at=now + ttl, created_at=now, updated_at=now, refunded_minor=0, fee_minor=0,
                channel_fee_minor=0, poll_count=0,
            )
            session.add(payment)
            session.flush()
            states.record_created(session, payment)
            if outbound.is_outbound(payment):
                _hold_funds(ctx, session, payment, new)
            return payment, True
    except IntegrityError:
        # A concurrent request with the same key won the insert; answer as its replay.
        with ctx.db.reader() as session:
            return _replay(_by_key(session, merchant_id, key), request_hash), False


def _by_key(session: Session, merchant_id: uuid.UUID, key: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.merchant_id == merchant_id, Payment.idempotency_key == key))


def _replay(existing: Payment, request_hash: str) -> Payment:
    if existing.request_hash != request_hash:
        raise PaymentError(409, "idempotency_key_reused", "this Idempotency-Key was used with a different request")
    return existing


def _check_units(session: Session, merchant_id: uuid.UUID, new: NewPayment) -> None:
    for unit_id, model, label in ((new.store_id, Store, "store"), (new.business_line_id, BusinessLine, "business line")):
        if unit_id is not None:
            unit = session.get(model, unit_id)
            if unit is None or unit.merchant_id != merchant_id:
                raise PaymentError(404, f"{label.replace(' ', '_')}_not_found", f"no {label} {unit_id}")
    if new.store_id and new.business_line_id:
        raise PaymentError(422, "invalid_owner", "a payment belongs to a store or a business line, not both")


def _check_fx_quote(session: Session, merchant_id: uuid.UUID, new: NewPayment) -> None:
    """A payment that names an FX quote may only use a live quote of its own merchant."""
    quote_id = new.payer.get("quote_id")
    if quote_id is None:
        return
    quote = session.get(FxQuote, quote_id)
    if quote is None or quote.merchant_id != merchant_id:
        raise PaymentError(404, "fx_quote_not_found", f"no FX quote {quote_id}")
    if quote.expires_at <= utcnow():
        raise PaymentError(422, "fx_quote_expired", f"FX quote {quote_id} expired at {quote.expires_at.isoformat()}; ask for a new one")


def _hold_funds(ctx: PaymentsContext, session: Session, payment: Payment, new: NewPayment) -> None:
    """A payment out holds the merchant's funds before any channel is asked to pay."""
    eligible = [c for c in sorted(_contracts(session, payment.merchant_id), key=lambda c: c.priority)
                if c.channel in ctx.channels and new.scenario in ctx.channels[c.channel].scenarios]
    if not eligible:
        raise PaymentError(422, "no_eligible_channel", f"no contract of this merchant pays out by {new.scenario}")
    quote_id = new.payer.get("quote_id")
    try:
        outbound.hold_funds(session, payment, eligible[0], new.payer.get("sell_currency") or payment.currency,
                            session.get(FxQuote, quote_id) if quote_id else None)
    except outbound.FundsError as e:
        raise PaymentError(e.status, e.code, str(e)) from None


def _contracts(session: Session, merchant_id: uuid.UUID) -> list[Contract]:
    rows = session.scalars(select(MerchantChannel).where(MerchantChannel.merchant_id == merchant_id, MerchantChannel.enabled))
    return [Contract(r.channel, r.merchant_fee_bps, r.channel_fee_bps, r.priority, r.max_amount_minor) for r in rows]


async def submit_to_channels(ctx: PaymentsContext, payment_id: uuid.UUID, contracts: list[Contract], new: NewPayment) -> Payment:
    with ctx.db.reader() as session:
        payment = session.get(Payment, payment_id)
    choice = route(ctx.channels, contracts, ctx.health, scenario=new.scenario, currency=payment.currency,
                   amount_minor=payment.amount_minor, preferred=new.preferred_channel)
    tried: list[str] = []
    for channel in choice.channels:
        outcome = await _try_channel(ctx, payment, channel, new)
        tried.append(f"{channel}: {outcome}")
        if outcome in ("created", "paid"):
            return _finish(ctx, payment.id, choice.as_json() | {"attempts": tried}, None)
        if outcome.startswith(REQUEST_DECLINE):
            break  # the request itself is wrong (quote, creditor, charges): another channel won't help
    failure = ("no_eligible_channel", choice.reason) if not choice.channels else ("all_channels_failed", "; ".join(tried))
    return _finish(ctx, payment.id, choice.as_json() | {"attempts": tried}, failure)


def _finish(ctx: PaymentsContext, payment_id: uuid.UUID, routing: dict, failure: tuple[str, str] | None) -> Payment:
    with ctx.db.session() as session, session.begin():
        payment = session.get(Payment, payment_id)
        payment.routing = routing
        if failure and payment.status == states.REQUIRES_PAYMENT_METHOD:
            payment.failure_code, payment.failure_message = failure
            states.move_payment(session, payment, states.FAILED, failure[0], {"attempts": routing["attempts"]})
            outbound.release(session, payment)
        return payment


async def _try_channel(ctx: PaymentsContext, payment: Payment, channel: str, new: NewPayment) -> str:
    adapter = ctx.channels[channel]
    attempt = _new_attempt(ctx, payment, channel)
    request = ChargeRequest(
        payment_id=attempt.order_no, amount=Money(payment.amount_minor, payment.currency), scenario=new.scenario,
        subject=payment.subject, notify_url=ctx.notify_url(channel), expires_at=payment.expires_at,
        return_url=new.return_url, payer=new.payer,
    )
    try:
        result = await adapter.create(request)
    except ChannelError as error:
        ctx.health.record(channel, False)
        return await _after_error(ctx, attempt, error, new.scenario)
    ctx.health.record(channel, True)
    if isinstance(result, Declined):
        _set_attempt(ctx, attempt.id, "failed", f"{result.code}: {result.message}")
        if result.code.startswith(REQUEST_ERROR_CODES):
            return f"{REQUEST_DECLINE} {result.code}"
        return f"declined {result.code}"
    if isinstance(result, ChargeSucceeded):
        _activate(ctx, payment.id, attempt, channel, ChargeCreated(PayerAction(kind="none")))
        apply_payment_status(ctx, attempt.order_no, result.status, "answer")
        return "created"
    assert isinstance(result, ChargeCreated)
    _activate(ctx, payment.id, attempt, channel, result)
    return "created"


async def _after_error(ctx: PaymentsContext, attempt: PaymentAttempt, error: ChannelError, scenario: Scenario) -> str:
    """A failed create: fail over only once we know the channel holds no live order of ours."""
    if error.outcome_known:
        _set_attempt(ctx, attempt.id, "failed", str(error))
        return f"error {error.code}"
    if scenario in MOVES_WITHOUT_PAYER:
        return await _settle_unknown_transfer(ctx, attempt, error)
    # The order may exist at the channel. The payer still has to act and never saw it, so
    # closing it is safe; if even that cannot be confirmed, the poller keeps watching it.
    closed = await close_attempt(ctx, attempt)
    if _set_attempt(ctx, attempt.id, "closed" if closed else "abandoned", str(error)) == "succeeded":
        return "paid"  # the query before failover found it paid and booked it as this payment's
    return f"unknown outcome ({error.code}), order {'closed' if closed else 'abandoned'}"


async def _settle_unknown_transfer(ctx: PaymentsContext, attempt: PaymentAttempt, error: ChannelError) -> str:
    """A transfer or card charge goes through without the payer: another channel could pay
    twice. Fail over only if the channel says it has no such order; otherwise keep this
    attempt and let polling learn how it ends."""
    try:
        status = await ctx.channels[attempt.channel].query(attempt.order_no)
    except ChannelError:
        status = None
    if status is not None and status.state in ("not_found", "failed", "closed"):
        _set_attempt(ctx, attempt.id, "failed", str(error))
        return f"unknown outcome ({error.code}), channel has no live order"
    _activate(ctx, attempt.payment_id, attempt, attempt.channel, ChargeCreated(PayerAction(kind="none")))
    if status is not None and status.state == "succeeded":
        apply_payment_status(ctx, attempt.order_no, status, "query")
    return "created"


def _new_attempt(ctx: PaymentsContext, payment: Payment, channel: str) -> PaymentAttempt:
    with ctx.db.session() as session, session.begin():
        attempt = PaymentAttempt(
            id=uuid.uuid4(), merchant_id=payment.merchant_id, payment_id=payment.id, channel=channel,
            order_no=channel_number(), status="creating",
        )
        session.add(attempt)
        return attempt


def _set_attempt(ctx: PaymentsContext, attempt_id: uuid.UUID, status: str, error: str | None) -> str:
    """Record how a create ended, unless the channel's news (notification, query) came first;
    returns the attempt's status."""
    with ctx.db.session() as session, session.begin():
        attempt = session.get(PaymentAttempt, attempt_id, with_for_update=True)
        if attempt.status == "creating":
            attempt.status, attempt.error = status, error
        return attempt.status


def _activate(ctx: PaymentsContext, payment_id: uuid.UUID, attempt: PaymentAttempt, channel: str, created: ChargeCreated) -> None:
    with ctx.db.session() as session, session.begin():
        # Locked in apply_payment_status's order (attempt, then payment), then checked: a
        # notification that overtook the create answer may have booked this order already.
        row = session.get(PaymentAttempt, attempt.id, with_for_update=True)
        payment = session.get(Payment, payment_id, with_for_update=True)
        if row.status != "creating":
            return
        row.status = "pending"
        payment.channel, payment.active_attempt_id, payment.channel_order_no = channel, attempt.id, attempt.order_no
        action = created.action
        payment.next_action = {
            "type": action.kind, "qr_content": action.qr_content, "redirect_url": action.redirect_url,
            "app_params": dict(action.app_params) if action.app_params else None, "form_html": action.form_html,
        }
        payment.next_poll_at = utcnow() + ctx.poll_initial
        states.move_payment(session, payment, states.PROCESSING, "channel_order_created", {"channel": channel})


async def cancel_payment(ctx: PaymentsContext, merchant_id: uuid.UUID, payment_id: uuid.UUID) -> Payment:
    """Cancel before success. The channel is asked first: a payment it reports paid is
    recorded as succeeded instead, and the cancel is refused."""
    with ctx.db.reader() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.merchant_id != merchant_id:
            raise PaymentError(404, "payment_not_found", f"no payment {payment_id}")
        if payment.status in states.TERMINAL:
            raise states.IllegalTransition("payment", payment.status, states.CANCELED)
        attempt = session.get(PaymentAttempt, payment.active_attempt_id) if payment.active_attempt_id else None
    if attempt is not None:
        status = await ctx.channels[attempt.channel].query(attempt.order_no)
        if status.state == "succeeded":
            apply_payment_status(ctx, attempt.order_no, status, "query_on_cancel")
            raise states.IllegalTransition("payment", states.SUCCEEDED, states.CANCELED)
        if not await close_attempt(ctx, attempt):
            raise PaymentError(502, "channel_unavailable", "the channel did not confirm the close; try again")
    with ctx.db.session() as session, session.begin():
        payment = session.get(Payment, payment_id)
        states.move_payment(session, payment, states.CANCELED, "canceled_by_merchant")
        outbound.release(session, payment)
        emit(session, payment, "payment.canceled")
        return payment
