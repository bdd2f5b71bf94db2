"""A scan becomes a payment of the code's store on the scanning wallet's channel, through the
payments core (risk, routing within that one channel, ledger, webhooks) like any other.

A static code starts a new payment per confirmed amount (the landing form's nonce makes a double
submit one payment). A dynamic code pays one order: a new scan first cancels the code's unpaid
payment at its channel (which refuses if it was paid meanwhile: then the code is used), and
claims the code's next generation, so two wallets scanning at once cannot both start one."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update

from juhe.db.models import Store
from juhe.money import Money
from juhe.payments import service, states
from juhe.payments.context import PaymentsContext
from juhe.payments.models import Payment
from juhe.qrcodes import codes
from juhe.qrcodes.models import QrCode
from juhe.qrcodes.wallets import Wallet

NONCE_LENGTH_MAX = 64


@dataclass(frozen=True, slots=True)
class Scan:
    token: str
    wallet: Wallet
    entered_amount: str | None  # yuan text from the payer, for open-amount codes
    nonce: str  # from the landing form: one per page shown
    return_url: str  # where the wallet's cashier sends the payer back (the code's status page)
    openid: str | None = None  # WeChat's payer id (JSAPI)
    client_ip: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    code: QrCode
    amount: Money
    key: str  # the payment's idempotency key


async def start_payment(ctx: PaymentsContext, scan: Scan) -> Payment:
    if not scan.nonce or len(scan.nonce) > NONCE_LENGTH_MAX:
        raise codes.QrCodeError(422, "invalid_nonce", "reload the page and confirm again")
    claim = await _claim(ctx, scan)
    new = service.NewPayment(
        amount=claim.amount, scenario=scan.wallet.scenario, subject=claim.code.subject, store_id=claim.code.store_id,
        preferred_channel=scan.wallet.channel, only_channel=scan.wallet.channel, return_url=scan.return_url,
        payer={k: v for k, v in (("openid", scan.openid), ("client_ip", scan.client_ip)) if v},
        metadata={"qr_code_id": str(claim.code.id), "wallet": scan.wallet.code},
    )
    fingerprint = hashlib.sha256(f"{claim.code.id}|{claim.amount}|{scan.wallet.code}|{scan.openid}".encode()).hexdigest()
    payment, _ = await service.create_payment(ctx, claim.code.merchant_id, claim.key, fingerprint, new)
    if claim.code.kind == "dynamic":
        await ctx.db.run(_attach, ctx, claim.code.id, claim.code.generation, payment.id)
    return payment


async def _claim(ctx: PaymentsContext, scan: Scan) -> Claim:
    code, previous = await ctx.db.run(_read, ctx, scan.token)
    codes.check_live(code, previous.status if previous else None)
    amount = codes.amount_to_pay(code, scan.entered_amount)
    if code.kind == "static":
        return Claim(code, amount, f"qr:{code.id}:{scan.nonce}")
    if previous is not None and previous.status not in states.TERMINAL:
        await _cancel_unpaid(ctx, previous)
    claimed = await ctx.db.run(_next_generation, ctx, code)
    return Claim(claimed, amount, f"qr:{code.id}:{claimed.generation}")


def _read(ctx: PaymentsContext, token: str) -> tuple[QrCode, Payment | None]:
    with ctx.db.reader() as session:
        code = codes.scanned(session, token)
        return code, session.get(Payment, code.payment_id) if code.payment_id else None


async def _cancel_unpaid(ctx: PaymentsContext, payment: Payment) -> None:
    try:
        await service.cancel_payment(ctx, payment.merchant_id, payment.id)
    except states.IllegalTransition as exc:
        if exc.current == states.SUCCEEDED:  # the channel says it was paid: this order is done
            raise codes.QrCodeError(409, "qr_code_used", "this order is paid already") from None
        # canceled or failed meanwhile: nothing is left that could be paid
    except service.PaymentError as exc:
        raise codes.QrCodeError(409, "qr_code_busy", f"the earlier payment of this order could not be closed yet ({exc.code}); "
                                "try again in a moment") from None


def _next_generation(ctx: PaymentsContext, code: QrCode) -> QrCode:
    """Compare and set: only one scan moves the code from the generation it read."""
    with ctx.db.session() as session, session.begin():
        moved = session.execute(
            update(QrCode).where(QrCode.id == code.id, QrCode.generation == code.generation)
            .values(generation=code.generation + 1, payment_id=None)
        ).rowcount
        if moved != 1:
            raise codes.QrCodeError(409, "qr_code_busy", "another wallet is paying this order now")
        claimed = session.get(QrCode, code.id)
        session.refresh(claimed)
        codes.check_live(claimed, None)
        return claimed


def _attach(ctx: PaymentsContext, code_id: uuid.UUID, generation: int, payment_id: uuid.UUID) -> None:
    with ctx.db.session() as session, session.begin():
        session.execute(update(QrCode).where(QrCode.id == code_id, QrCode.generation == generation)
                        .values(payment_id=payment_id))


def returned_payment(ctx: PaymentsContext, token: str, nonce: str) -> tuple[str, Payment]:
    """The store's name and the payment a confirmation started (for a dynamic code: its current one)."""
    with ctx.db.reader() as session:
        code = codes.scanned(session, token)
        if code.kind == "dynamic":
            payment = session.get(Payment, code.payment_id) if code.payment_id else None
        else:
            payment = session.scalar(select(Payment).where(Payment.merchant_id == code.merchant_id,
                                                           Payment.idempotency_key == f"qr:{code.id}:{nonce}"))
        if payment is None:
            raise codes.QrCodeError(404, "payment_not_found", "no payment was started from this page")
        return session.get(Store, code.store_id).name, payment
