"""Creating and canceling payments: validate → risk → route → channel, with failover.

Channel calls happen between database transactions, never inside one: a slow channel must
not hold locks. Every step that matters is committed before the next channel call, so a
crash anywhere leaves a state the poller can finish from. The commits are as few as that
allows: one from the request to the first channel call (payment, gates, route, attempt), one
per channel answer (its outcome with the next attempt, or the order made live). Database work
runs on the database's threads (`Database.run`), never on the event loop."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.channels.base import ChannelError, ChargeCreated, ChargeRequest, ChargeSucceeded, Declined, PayerAction, PaymentStatus, Scenario
from juhe.db.models import BusinessLine, Store
from juhe.db.types import utcnow
from juhe.money import Money
from juhe.payments import gates, outbound, states
from juhe.payments.context import PaymentsContext
from juhe.payments.models import MerchantChannel, Payment, PaymentAttempt
from juhe.payments.numbers import channel_number
from juhe.payments.outcomes import apply_payment_status, apply_status, close_at_channel, close_attempt, emit
from juhe.payments.routing import Contract, RouteChoice, route
from juhe.treasury.models import FxQuote

PAYMENT_TTL_MAX = timedelta(days=1)
REQUEST_ERROR_CODES = ("fx_", "creditor_", "charge_bearer_")  # declines about the request, not the channel
REQUEST_DECLINE = "request declined"
MOVES_WITHOUT_PAYER = frozenset({Scenario.POS, Scenario.FACE, Scenario.B2B, Scenario.CROSSBORDER, Scenario.MANDATE})


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
    only_channel: str | None = None  # the payer's wallet decides (aggregated QR): no failover to another channel
    return_url: str | None = None
    expires_in_s: int | None = None
    payer: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    purpose: str | None = None  # set by domains (BNPL, subscriptions), never by an API client


async def create_payment(ctx: PaymentsContext, merchant_id: uuid.UUID, key: str, request_hash: str, new: NewPayment) -> tuple[Payment, bool]:
    """Returns the payment and whether it was created now (False: an idempotent replay)."""
    admitted = await ctx.db.run(_admit, ctx, merchant_id, key, request_hash, new)
    if admitted.sms is not None:  # after the commit: the code must not arrive for a challenge that was never kept
        await ctx.sms.send(*admitted.sms)
    if admitted.attempt is None:
        return admitted.payment, admitted.created
    return await _submit(ctx, admitted.payment, admitted.choice, admitted.attempt, new), True


def channel_request(new: NewPayment) -> dict:
    """What the channels are asked with, kept while a payment waits at a gate."""
    return {"scenario": new.scenario.value, "preferred_channel": new.preferred_channel, "return_url": new.return_url,
            "payer": dict(new.payer), "only_channel": new.only_channel}


def resumed(payment: Payment, request: dict) -> NewPayment:
    return NewPayment(Money(payment.amount_minor, payment.currency), Scenario(request["scenario"]), payment.subject,
                      preferred_channel=request["preferred_channel"], return_url=request["return_url"], payer=request["payer"],
                      only_channel=request.get("only_channel"))


@dataclass(frozen=True)
class Admitted:
    payment: Payment
    created: bool
    choice: RouteChoice | None = None
    attempt: PaymentAttempt | None = None  # the first channel's attempt, when the payment goes on to the channels
    sms: tuple[str, str] | None = None


def _admit(ctx: PaymentsContext, merchant_id: uuid.UUID, key: str, request_hash: str, new: NewPayment) -> Admitted:
    """One commit from request to the first channel call: the payment, its gates (risk, limits,
    screening), the route and the first attempt. A crash before it leaves nothing; after it, the
    poller finishes an attempt that never got its answer."""
    ttl = timedelta(seconds=new.expires_in_s) if new.expires_in_s else ctx.payment_ttl
    if not timedelta(seconds=60) <= ttl <= PAYMENT_TTL_MAX and new.expires_in_s:
        raise PaymentError(422, "invalid_expiry", "expires_in_s must be between 60 and 86,400")
    if new.amount.amount_minor <= 0:
        raise PaymentError(422, "invalid_amount", "amount must be positive")
    try:
        with ctx.db.session() as session, session.begin():
            existing = _by_key(session, merchant_id, key)
            if existing is not None:
                return Admitted(_replay(existing, request_hash), False)
            payment = _insert(ctx, session, merchant_id, key, request_hash, new, ttl)
            gate = gates.before_channels(ctx, session, payment, channel_request(new))
            if gate.stopped is not None:
                return Admitted(gate.stopped, True, sms=gate.sms)
            choice = _route(ctx, session, payment, new)
            if not choice.channels:
                return Admitted(_fail(session, payment, choice.as_json() | {"attempts": []}, ("no_eligible_channel", choice.reason)), True)
            return Admitted(payment, True, choice, _new_attempt(session, payment, choice.channels[0]))
    except IntegrityError:
        # A concurrent request with the same key won the insert; answer as its replay.
        with ctx.db.reader() as session:
            return Admitted(_replay(_by_key(session, merchant_id, key), request_hash), False)


def _insert(ctx: PaymentsContext, session: Session, merchant_id: uuid.UUID, key: str, request_hash: str, new: NewPayment,
            ttl: timedelta) -> Payment:
    _check_units(session, merchant_id, new)
    _check_fx_quote(session, merchant_id, new)
    now = utcnow()
    payment = Payment(
        id=uuid.uuid4(), merchant_id=merchant_id, store_id=new.store_id, business_line_id=new.business_line_id,
        idempotency_key=key, request_hash=request_hash, amount_minor=new.amount.amount_minor,
        currency=new.amount.currency, scenario=new.scenario.value, purpose=new.purpose, subject=new.subject,
        customer_id=new.customer_id, status=states.REQUIRES_PAYMENT_METHOD, meta=new.metadata or None,
        expires_at=now + ttl, created_at=now, updated_at=now, refunded_minor=0, fee_minor=0,
        channel_fee_minor=0, poll_count=0,
    )
    session.add(payment)
    session.flush()
    states.record_created(session, payment)
    if outbound.is_outbound(payment):
        _hold_funds(ctx, session, payment, new)
    return payment


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


def _route(ctx: PaymentsContext, session: Session, payment: Payment, new: NewPayment) -> RouteChoice:
    contracts = [c for c in _contracts(session, payment.merchant_id) if new.only_channel in (None, c.channel)]
    return route(ctx.channels, contracts, ctx.health, scenario=new.scenario,
                 currency=payment.currency, amount_minor=payment.amount_minor, preferred=new.preferred_channel)


async def submit_to_channels(ctx: PaymentsContext, payment_id: uuid.UUID, new: NewPayment) -> Payment:
    """A payment released from a gate (verified, or cleared by review) goes on to its channels."""
    payment, choice, attempt = await ctx.db.run(_prepare, ctx, payment_id, new)
    if attempt is None:
        return payment
    return await _submit(ctx, payment, choice, attempt, new)


def _prepare(ctx: PaymentsContext, payment_id: uuid.UUID, new: NewPayment):
    with ctx.db.session() as session, session.begin():
        payment = session.get(Payment, payment_id, with_for_update=True)
        choice = _route(ctx, session, payment, new)
        if not choice.channels:
            return _fail(session, payment, choice.as_json() | {"attempts": []}, ("no_eligible_channel", choice.reason)), choice, None
        return payment, choice, _new_attempt(session, payment, choice.channels[0])


@dataclass(frozen=True)
class Tried:
    """How one channel's create ended, as far as the channel calls could tell."""

    summary: str
    attempt_status: str | None = None  # failed, closed, abandoned; None: the order is live (activate it)
    action: ChargeCreated | None = None
    paid: PaymentStatus | None = None  # the channel already reports the order paid
    paid_by: str = "answer"  # how we learned it: the create's answer, or a query
    stop: bool = False  # the request itself is wrong: another channel won't help
    error: str | None = None  # kept on the attempt


async def _submit(ctx: PaymentsContext, payment: Payment, choice: RouteChoice, attempt: PaymentAttempt, new: NewPayment) -> Payment:
    """Channel by channel in the route's order; each outcome and the next attempt in one commit."""
    tried: list[str] = []
    while True:
        outcome = await _try_channel(ctx, payment, attempt, new)
        tried.append(f"{attempt.channel}: {outcome.summary}")
        later = choice.channels[choice.channels.index(attempt.channel) + 1:]
        following = later[0] if later and not outcome.stop else None
        payment, attempt = await ctx.db.run(_record, ctx, payment.id, attempt, outcome, choice.as_json() | {"attempts": tried},
                                            following)
        if attempt is None:
            return payment


def _record(ctx: PaymentsContext, payment_id: uuid.UUID, attempt: PaymentAttempt, outcome: Tried, routing: dict,
            following: str | None) -> tuple[Payment, PaymentAttempt | None]:
    """Returns the payment and the next attempt to try (None: done)."""
    with ctx.db.session() as session, session.begin():
        # Locked in apply_payment_status's order (attempt, then payment), then checked: a
        # notification that overtook the create answer may have booked this order already.
        row = session.get(PaymentAttempt, attempt.id, with_for_update=True)
        payment = session.get(Payment, payment_id, with_for_update=True)
        payment.routing = routing
        if outcome.attempt_status is None:
            _activate(ctx, session, payment, row, outcome.action)
        if outcome.paid is not None:  # booked before the attempt is closed: the order is this payment's own
            apply_status(session, row.order_no, outcome.paid, outcome.paid_by)
        if outcome.attempt_status is not None and row.status == "creating":
            row.status, row.error = outcome.attempt_status, outcome.error
        if outcome.attempt_status is None or row.status == "succeeded" or payment.status != states.REQUIRES_PAYMENT_METHOD:
            return payment, None
        if following is not None:
            return payment, _new_attempt(session, payment, following)
        failure = ("all_channels_failed", "; ".join(routing["attempts"]))
        return _fail(session, payment, routing, failure), None


def _fail(session: Session, payment: Payment, routing: dict, failure: tuple[str, str]) -> Payment:
    payment.routing = routing
    payment.failure_code, payment.failure_message = failure
    states.move_payment(session, payment, states.FAILED, failure[0], {"attempts": routing["attempts"]})
    outbound.release(session, payment)
    return payment


async def _try_channel(ctx: PaymentsContext, payment: Payment, attempt: PaymentAttempt, new: NewPayment) -> Tried:
    adapter = ctx.channels[attempt.channel]
    request = ChargeRequest(
        payment_id=attempt.order_no, amount=Money(payment.amount_minor, payment.currency), scenario=new.scenario,
        subject=payment.subject, notify_url=ctx.notify_url(attempt.channel), expires_at=payment.expires_at,
        return_url=new.return_url, payer=new.payer,
    )
    try:
        result = await adapter.create(request)
    except ChannelError as error:
        ctx.health.record(attempt.channel, False)
        return await _after_error(ctx, attempt, error, new.scenario)
    ctx.health.record(attempt.channel, True)
    if isinstance(result, Declined):
        if result.code.startswith(REQUEST_ERROR_CODES):
            return Tried(f"{REQUEST_DECLINE} {result.code}", "failed", stop=True, error=f"{result.code}: {result.message}")
        return Tried(f"declined {result.code}", "failed", error=f"{result.code}: {result.message}")
    if isinstance(result, ChargeSucceeded):
        return Tried("created", action=ChargeCreated(PayerAction(kind="none")), paid=result.status)
    assert isinstance(result, ChargeCreated)
    return Tried("created", action=result)


async def _after_error(ctx: PaymentsContext, attempt: PaymentAttempt, error: ChannelError, scenario: Scenario) -> Tried:
    """A failed create: fail over only once we know the channel holds no live order of ours."""
    if error.outcome_known:
        return Tried(f"error {error.code}", "failed", error=str(error))
    if scenario in MOVES_WITHOUT_PAYER:
        return await _settle_unknown_transfer(ctx, attempt, error)
    # The order may exist at the channel. The payer still has to act and never saw it, so
    # closing it is safe; if even that cannot be confirmed, the poller keeps watching it.
    closing = await close_at_channel(ctx.channels[attempt.channel], attempt.order_no)
    if closing.paid is not None:  # the query before failover found it paid: it is this payment's
        return Tried("paid", "abandoned", paid=closing.paid, paid_by="query", error=str(error))
    status = "closed" if closing.closed else "abandoned"
    return Tried(f"unknown outcome ({error.code}), order {status}", status, error=str(error))


async def _settle_unknown_transfer(ctx: PaymentsContext, attempt: PaymentAttempt, error: ChannelError) -> Tried:
    """A transfer or card charge goes through without the payer: another channel could pay
    twice. Fail over only if the channel says it has no such order; otherwise keep this
    attempt and let polling learn how it ends."""
    try:
        status = await ctx.channels[attempt.channel].query(attempt.order_no)
    except ChannelError:
        status = None
    if status is not None and status.state in ("not_found", "failed", "closed"):
        return Tried(f"unknown outcome ({error.code}), channel has no live order", "failed", error=str(error))
    paid = status if status is not None and status.state == "succeeded" else None
    return Tried("created", action=ChargeCreated(PayerAction(kind="none")), paid=paid, paid_by="query")


def _new_attempt(session: Session, payment: Payment, channel: str) -> PaymentAttempt:
    attempt = PaymentAttempt(
        id=uuid.uuid4(), merchant_id=payment.merchant_id, payment_id=payment.id, channel=channel,
        order_no=channel_number(), status="creating",
    )
    session.add(attempt)
    return attempt


def _activate(ctx: PaymentsContext, session: Session, payment: Payment, row: PaymentAttempt, created: ChargeCreated) -> None:
    if row.status != "creating":
        return
    row.status = "pending"
    payment.channel, payment.active_attempt_id, payment.channel_order_no = row.channel, row.id, row.order_no
    action = created.action
    payment.next_action = {
        "type": action.kind, "qr_content": action.qr_content, "redirect_url": action.redirect_url,
        "app_params": dict(action.app_params) if action.app_params else None, "form_html": action.form_html,
    }
    payment.next_poll_at = utcnow() + ctx.poll_initial
    states.move_payment(session, payment, states.PROCESSING, "channel_order_created", {"channel": row.channel})


async def cancel_payment(ctx: PaymentsContext, merchant_id: uuid.UUID, payment_id: uuid.UUID) -> Payment:
    """Cancel before success. The channel is asked first: a payment it reports paid is
    recorded as succeeded instead, and the cancel is refused."""
    attempt = await ctx.db.run(_cancelable, ctx, merchant_id, payment_id)
    if attempt is not None:
        status = await ctx.channels[attempt.channel].query(attempt.order_no)
        if status.state == "succeeded":
            await ctx.db.run(apply_payment_status, ctx, attempt.order_no, status, "query_on_cancel")
            raise states.IllegalTransition("payment", states.SUCCEEDED, states.CANCELED)
        if not await close_attempt(ctx, attempt):
            raise PaymentError(502, "channel_unavailable", "the channel did not confirm the close; try again")
    return await ctx.db.run(_cancel, ctx, payment_id)


def _cancelable(ctx: PaymentsContext, merchant_id: uuid.UUID, payment_id: uuid.UUID) -> PaymentAttempt | None:
    with ctx.db.reader() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.merchant_id != merchant_id:
            raise PaymentError(404, "payment_not_found", f"no payment {payment_id}")
        if payment.status in states.TERMINAL:
            raise states.IllegalTransition("payment", payment.status, states.CANCELED)
        return session.get(PaymentAttempt, payment.active_attempt_id) if payment.active_attempt_id else None


def _cancel(ctx: PaymentsContext, payment_id: uuid.UUID) -> Payment:
    with ctx.db.session() as session, session.begin():
        payment = session.get(Payment, payment_id)
        states.move_payment(session, payment, states.CANCELED, "canceled_by_merchant")
        outbound.release(session, payment)
        emit(session, payment, "payment.canceled")
        return payment
