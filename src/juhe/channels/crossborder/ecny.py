"""The digital-currency rail: e-CNY style wallet-to-wallet transfers, CNY in integer fen only.

The e-CNY operators' merchant interfaces are not public, so this is a faithful shape rather than
a copied one: wallet ids of 16 digits whose first four name the operator; a transfer request the
paying wallet signs over its value-bearing fields (payer, payee, amount, currency, our number,
time), so the operator can prove the holder authorised it; and a confirmation with its own id and
state, signed by the operator over the same kind of field list, which is self-verifying whether it
arrives in the transfer's answer, by query, or as an asynchronous notification. Real e-CNY signs
with SM2/SM3; `cryptography` has no SM2, so RSA-SHA256 (PKCS#1 v1.5) stands in here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import AwareDatetime, BaseModel, Field, StrictInt

from juhe.channels.base import PaymentStatus
from juhe.channels.crossborder import signing
from juhe.money import Money

CURRENCY = "CNY"
WALLET_ID_PATTERN = r"^\d{16}$"
OPERATOR_DIGITS = 4
OUT_TRANSFER_NO_PATTERN = r"^[0-9A-Za-z_-]{1,32}$"
AMOUNT_FEN_MAX = 10**12  # ten billion yuan: no wallet transfer is larger


class TransferRequest(BaseModel):
    out_transfer_no: str = Field(pattern=OUT_TRANSFER_NO_PATTERN)
    payer_wallet_id: str = Field(pattern=WALLET_ID_PATTERN)
    payee_wallet_id: str = Field(pattern=WALLET_ID_PATTERN)
    payee_name: str = Field(min_length=1, max_length=64)
    amount_fen: StrictInt = Field(gt=0, le=AMOUNT_FEN_MAX)  # "12.34" or 12.34 is refused, as fen are whole
    currency: Literal["CNY"]
    remark: str = Field("", max_length=64)
    notify_url: str = Field(min_length=1, max_length=256)
    timestamp: AwareDatetime
    wallet_signature: str = ""


class Confirmation(BaseModel):
    confirmation_id: str
    transfer_id: str
    out_transfer_no: str
    payer_wallet_id: str
    payee_wallet_id: str
    amount_fen: StrictInt
    currency: Literal["CNY"]
    state: Literal["SUCCESS", "FAILED"]
    fail_code: str | None = None
    confirmed_at: AwareDatetime
    operator_signature: str = ""


class TransferAnswer(BaseModel):
    transfer_id: str
    out_transfer_no: str
    state: Literal["PROCESSING", "SUCCESS", "FAILED"]
    amount_fen: StrictInt
    fail_code: str | None = None
    confirmation: Confirmation | None = None  # present once the transfer is final


def operator_of(wallet_id: str) -> str:
    return wallet_id[:OPERATOR_DIGITS]


def _transfer_fields(t: TransferRequest) -> bytes:
    fields = (t.out_transfer_no, t.payer_wallet_id, t.payee_wallet_id, str(t.amount_fen), t.currency, _utc(t.timestamp))
    return "\n".join(fields).encode()


def _confirmation_fields(c: Confirmation) -> bytes:
    fields = (
        c.confirmation_id, c.transfer_id, c.out_transfer_no, c.payer_wallet_id, c.payee_wallet_id, str(c.amount_fen),
        c.currency, c.state, c.fail_code or "", _utc(c.confirmed_at),
    )  # fmt: skip
    return "\n".join(fields).encode()


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()  # to the microsecond: all of it is signed


def signed_transfer(wallet_key: rsa.RSAPrivateKey, request: TransferRequest) -> TransferRequest:
    return request.model_copy(update={"wallet_signature": signing.rsa_sign(wallet_key, _transfer_fields(request))})


def transfer_signature_ok(wallet_key: rsa.RSAPublicKey, request: TransferRequest) -> bool:
    return signing.rsa_verify(wallet_key, _transfer_fields(request), request.wallet_signature)


def signed_confirmation(operator_key: rsa.RSAPrivateKey, confirmation: Confirmation) -> Confirmation:
    signature = signing.rsa_sign(operator_key, _confirmation_fields(confirmation))
    return confirmation.model_copy(update={"operator_signature": signature})


def confirmation_signature_ok(operator_key: rsa.RSAPublicKey, confirmation: Confirmation) -> bool:
    return signing.rsa_verify(operator_key, _confirmation_fields(confirmation), confirmation.operator_signature)


def payment_status(confirmation: Confirmation) -> PaymentStatus:
    succeeded = confirmation.state == "SUCCESS"
    return PaymentStatus(
        payment_id=confirmation.out_transfer_no, state="succeeded" if succeeded else "failed",
        amount=Money(confirmation.amount_fen, CURRENCY), channel_txn_id=confirmation.transfer_id,
        paid_at=confirmation.confirmed_at if succeeded else None,
        failure_code=None if succeeded else confirmation.fail_code or "FAILED",
    )  # fmt: skip


def pending_status(answer: TransferAnswer) -> PaymentStatus:
    return PaymentStatus(
        payment_id=answer.out_transfer_no, state="pending", amount=Money(answer.amount_fen, CURRENCY),
        channel_txn_id=answer.transfer_id,
    )  # fmt: skip
