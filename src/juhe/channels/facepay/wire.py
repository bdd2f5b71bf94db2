"""Face-pay API messages and their mapping to the channel-neutral types.

The field names stop here: the adapter, the sandbox and the device simulator build and read
these models, everything else sees `juhe.channels.base` types (and `FaceCheck`). Amounts on
the wire are int fen, in the JSON and in the statement alike.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from juhe.channels.base import (
    ChargeRequest,
    PaymentState,
    PaymentStatus,
    RefundRequest,
    RefundState,
    RefundStatus,
    StatementLine,
)
from juhe.channels.facepay import faces
from juhe.money import Money

CST = timezone(timedelta(hours=8))  # the service's times and statement days are Beijing time
CURRENCY = "CNY"
ORDER_NO_PATTERN = r"^[0-9A-Za-z_\-]{6,32}$"
REFUND_NO_PATTERN = r"^[0-9A-Za-z_\-]{1,64}$"
DEVICE_ID_PATTERN = r"^[0-9A-Za-z_\-]{1,32}$"
USER_ID_PATTERN = r"^[0-9A-Za-z_\-]{1,64}$"

TradeState = Literal["SUCCESS", "PAYERROR", "REVOKED"]
RefundStatusCode = Literal["PROCESSING", "SUCCESS", "CLOSED"]

TRADE_STATES: dict[str, PaymentState] = {"SUCCESS": "succeeded", "PAYERROR": "failed", "REVOKED": "closed"}
REFUND_STATES: dict[str, RefundState] = {"PROCESSING": "pending", "SUCCESS": "succeeded", "CLOSED": "failed"}


@dataclass(frozen=True, slots=True)
class FaceCheck:
    """A step-up face verification: is the face in front of the device this user's?"""

    matched: bool
    score: float  # cosine similarity of the capture to the user's enrolled template, 0–1
    failure_code: str | None = None  # FACE_NOT_MATCHED, LIVENESS_FAILED, FACE_TOKEN_INVALID, USER_NOT_ENROLLED


class Amount(BaseModel):
    total: StrictInt = Field(gt=0)
    currency: Literal["CNY"] = CURRENCY


class FacePayRequest(BaseModel):
    """POST /v1/facepay/transactions: pay with the face token a registered device captured."""

    appid: str
    mchid: str
    device_id: str = Field(pattern=DEVICE_ID_PATTERN)
    out_trade_no: str = Field(pattern=ORDER_NO_PATTERN)
    description: str = Field(min_length=1, max_length=127)
    amount: Amount
    face_token: str = Field(min_length=1, max_length=128)
    notify_url: str | None = Field(None, max_length=255)


class Payer(BaseModel):
    user_id: str


class TransactionAmount(BaseModel):
    total: StrictInt
    currency: str = CURRENCY


class Transaction(BaseModel):
    appid: str
    mchid: str
    device_id: str
    out_trade_no: str
    transaction_id: str
    trade_state: TradeState
    trade_state_desc: str = ""
    fail_code: str | None = None
    success_time: datetime | None = None
    payer: Payer | None = None
    amount: TransactionAmount


class ReverseRequest(BaseModel):
    mchid: str


class RefundRequestAmount(BaseModel):
    refund: StrictInt = Field(gt=0)
    total: StrictInt = Field(gt=0)
    currency: Literal["CNY"] = CURRENCY


class CreateRefundRequest(BaseModel):
    out_trade_no: str = Field(pattern=ORDER_NO_PATTERN)
    out_refund_no: str = Field(pattern=REFUND_NO_PATTERN)
    reason: str | None = Field(None, max_length=80)
    notify_url: str | None = Field(None, max_length=255)
    amount: RefundRequestAmount


class RefundAmount(BaseModel):
    total: StrictInt
    refund: StrictInt
    currency: str = CURRENCY


class Refund(BaseModel):
    """A refund as the refund and refund-query answers, and REFUND.* notifications, carry it."""

    refund_id: str
    out_refund_no: str
    transaction_id: str
    out_trade_no: str
    status: RefundStatusCode
    create_time: datetime
    success_time: datetime | None = None
    amount: RefundAmount


class FaceVerificationRequest(BaseModel):
    """POST /v1/face/verifications: a 1:1 check of a capture against one enrolled user."""

    appid: str
    mchid: str
    user_id: str = Field(pattern=USER_ID_PATTERN)
    face_token: str = Field(min_length=1, max_length=128)


class FaceVerdict(BaseModel):
    user_id: str
    matched: StrictBool
    score: float = Field(ge=0, le=1)
    fail_code: str | None = None


class Notification(BaseModel):
    id: str
    create_time: datetime
    event_type: Literal["TRANSACTION.SUCCESS", "REFUND.SUCCESS"]
    resource: dict


class ErrorAnswer(BaseModel):
    code: str
    message: str = ""
    detail: dict | None = None


# --- the sandbox's own legs, which stand in for the wallet's merchant platform and face SDK


class _Strict(BaseModel):
    # extra="forbid": an image (or anything else) sent along is refused, not quietly dropped.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _usable(vector: list[float]) -> list[float]:
    faces.unit(vector)  # raises on an all-zero vector, which no face has
    return vector


FaceVector = Annotated[
    list[float], Field(min_length=faces.TEMPLATE_DIM, max_length=faces.TEMPLATE_DIM), AfterValidator(_usable)
]


class DeviceRegistration(_Strict):
    device_id: str = Field(pattern=DEVICE_ID_PATTERN)
    store_id: str = Field(pattern=DEVICE_ID_PATTERN)


class Enrolment(_Strict):
    user_id: str = Field(pattern=USER_ID_PATTERN)
    template: FaceVector
    daily_limit_minor: StrictInt = Field(200_000, ge=0)  # password-free face payments per Beijing day


class Capture(_Strict):
    """What the device's face SDK sends once it has a live face in front of the camera."""

    device_id: str = Field(pattern=DEVICE_ID_PATTERN)
    probe: FaceVector
    liveness: float = Field(ge=0, le=1)


class FaceToken(BaseModel):
    face_token: str
    expires_in_s: int


# --- mapping to and from the neutral types


def beijing(moment: datetime) -> datetime:
    """Beijing time to the second: 2024-06-08T10:34:56+08:00."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(CST).replace(microsecond=0)


def pay_request(request: ChargeRequest, appid: str, mchid: str) -> FacePayRequest:
    return FacePayRequest(
        appid=appid,
        mchid=mchid,
        device_id=request.payer["device_id"],
        out_trade_no=request.payment_id,
        description=request.subject[:127],
        amount=Amount(total=request.amount.amount_minor, currency=request.amount.currency),
        face_token=request.payer["face_token"],
        notify_url=request.notify_url,
    )


def refund_request(request: RefundRequest) -> CreateRefundRequest:
    return CreateRefundRequest(
        out_trade_no=request.payment_id,
        out_refund_no=request.refund_id,
        reason=request.reason[:80] or None,
        notify_url=request.notify_url,
        amount=RefundRequestAmount(
            refund=request.amount.amount_minor,
            total=request.payment_total.amount_minor,
            currency=request.amount.currency,
        ),
    )


def payment_status(txn: Transaction) -> PaymentStatus:
    state = TRADE_STATES[txn.trade_state]
    return PaymentStatus(
        payment_id=txn.out_trade_no,
        state=state,
        amount=Money(txn.amount.total, txn.amount.currency),
        channel_txn_id=txn.transaction_id,
        paid_at=txn.success_time,
        failure_code=(txn.fail_code or txn.trade_state) if state == "failed" else None,
    )


def refund_status(refund: Refund) -> RefundStatus:
    state = REFUND_STATES[refund.status]
    return RefundStatus(
        refund_id=refund.out_refund_no,
        payment_id=refund.out_trade_no,
        state=state,
        amount=Money(refund.amount.refund, refund.amount.currency),
        channel_refund_id=refund.refund_id,
        failure_code=refund.status if state == "failed" else None,
    )


def face_check(verdict: FaceVerdict) -> FaceCheck:
    return FaceCheck(matched=verdict.matched, score=verdict.score, failure_code=verdict.fail_code)


# --- the daily statement: plain CSV, one row per payment or refund settled that Beijing day,
# amounts and fees in int fen (a refund row gives back the fee on the refunded part: negative).

STATEMENT_COLUMNS = (
    "trade_time", "transaction_id", "out_trade_no", "refund_id", "out_refund_no", "device_id",
    "trade_type", "trade_state", "currency", "amount", "fee",
)  # fmt: skip
_FEN = re.compile(r"-?[0-9]{1,15}")


def write_statement(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, STATEMENT_COLUMNS, restval="", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def parse_statement(raw: bytes) -> list[StatementLine]:
    reader = csv.reader(io.StringIO(raw.decode("utf-8")))
    header = next(reader, None)
    if header is None or tuple(header) != STATEMENT_COLUMNS:
        raise ValueError("not a face-pay statement: unexpected header")
    return [_statement_line(dict(zip(STATEMENT_COLUMNS, fields, strict=True))) for fields in reader if fields]


def _statement_line(row: dict[str, str]) -> StatementLine:
    is_refund = row["trade_type"] == "REFUND"
    return StatementLine(
        kind="refund" if is_refund else "payment",
        payment_id=row["out_trade_no"],
        refund_id=row["out_refund_no"] if is_refund else None,
        channel_txn_id=row["refund_id"] if is_refund else row["transaction_id"],
        amount=Money(_fen(row["amount"]), row["currency"]),
        fee=Money(_fen(row["fee"]), row["currency"]),
        occurred_at=datetime.fromisoformat(row["trade_time"]),
        status=row["trade_state"],
    )


def _fen(text: str) -> int:
    if not _FEN.fullmatch(text):
        raise ValueError(f"statement amount {text!r} is not int fen")
    return int(text)
