"""The one interface the payment core sees of a channel.

Each channel folder (`channels/<code>/`) holds an `adapter.py` that implements `Channel` by
speaking the channel's real protocol, its wire types, and a `sandbox.py` simulator. Nothing
outside a channel's folder ever sees that channel's field names: only these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal, Mapping, Protocol

from juhe.money import Money


class Scenario(StrEnum):
    QR = "qr"  # payer scans a code we show (Alipay precreate, WeChat Native, UnionPay QR)
    APP = "app"  # our merchant's app hands parameters to the wallet app
    WEB = "web"  # desktop browser redirect / form
    WAP = "wap"  # mobile browser redirect (WeChat H5)
    JSAPI = "jsapi"  # inside the wallet's own browser / mini program, needs the payer's id
    POS = "pos"  # card present at a store terminal
    FACE = "face"  # face payment at a store device
    B2B = "b2b"  # corporate bank transfer
    CROSSBORDER = "crossborder"  # cross-border credit transfer or digital-currency rail
    MANDATE = "mandate"  # charged on the payer's stored agreement, without them (Alipay 周期扣款 / 商户代扣)


class ChannelError(Exception):
    """The channel could not be reached or failed.

    `outcome_known` is False when the request may have been processed (timeout, broken
    connection after sending, 5xx): the caller must query before any retry or failover.
    """

    def __init__(self, message: str, *, outcome_known: bool, code: str = "channel_error"):
        super().__init__(message)
        self.outcome_known = outcome_known
        self.code = code


class InvalidNotification(Exception):
    """A notification whose signature, decryption or shape does not verify. It changes nothing."""


# Installment terms the payer chose (juhe.installments), carried in ChargeRequest.payer. A channel
# that offers installments lists the period counts it takes in `installment_periods` and turns
# these into its own fields (Alipay's hb_fq_num / hb_fq_seller_percent, the acquirer's field 48).
PAYER_INSTALLMENT_PERIODS = "installment_periods"  # "3", "6", "12", "24"
PAYER_INSTALLMENT_FEE_BEARER = "installment_fee_bearer"  # "payer", or "merchant" (免息)


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    payment_id: str  # our id; sent as the channel's merchant order number (≤ 32 [0-9A-Za-z_])
    amount: Money
    scenario: Scenario
    subject: str
    notify_url: str
    expires_at: datetime
    return_url: str | None = None
    payer: Mapping[str, str] = field(default_factory=dict)  # e.g. openid for JSAPI, client_ip for H5


@dataclass(frozen=True, slots=True)
class PayerAction:
    """What the payer needs to complete the payment, in channel-neutral form."""

    kind: Literal["qr", "redirect", "app", "form", "none"]  # none: nothing left for the payer to do
    qr_content: str | None = None
    redirect_url: str | None = None
    app_params: Mapping[str, str] | None = None
    form_html: str | None = None


@dataclass(frozen=True, slots=True)
class ChargeCreated:
    action: PayerAction
    channel_ref: str | None = None  # prepay id / token, when the channel gives one


@dataclass(frozen=True, slots=True)
class Declined:
    code: str
    message: str


PaymentState = Literal["pending", "succeeded", "closed", "failed", "not_found"]
RefundState = Literal["pending", "succeeded", "failed", "not_found"]


@dataclass(frozen=True, slots=True)
class PaymentStatus:
    payment_id: str
    state: PaymentState
    amount: Money | None = None
    channel_txn_id: str | None = None
    paid_at: datetime | None = None
    failure_code: str | None = None


@dataclass(frozen=True, slots=True)
class ChargeSucceeded:
    """Channels that answer at once (card present, face pay, wallet transfer): the money moved."""

    status: PaymentStatus


@dataclass(frozen=True, slots=True)
class RefundRequest:
    payment_id: str
    refund_id: str  # our id, the channel's out_refund_no / out_request_no
    amount: Money
    payment_total: Money  # WeChat and UnionPay want the original total with every refund
    reason: str
    notify_url: str


@dataclass(frozen=True, slots=True)
class RefundStatus:
    refund_id: str
    payment_id: str
    state: RefundState
    amount: Money | None = None
    channel_refund_id: str | None = None
    failure_code: str | None = None


@dataclass(frozen=True, slots=True)
class NotificationAck:
    """The exact answer the channel expects, so that it stops (or keeps) retrying."""

    status_code: int
    body: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class StatementLine:
    kind: Literal["payment", "refund"]
    payment_id: str
    refund_id: str | None
    channel_txn_id: str
    amount: Money
    fee: Money
    occurred_at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class Dispute:
    """A payment the payer disputed at the channel, days or weeks later: an acquirer's chargeback or a
    wallet's complaint. `fraud`: the reason says the payer did not make it (stolen card, account taken
    over), not that the goods were wrong. Channels that send them offer `download_disputes(day)` (the
    day's file, bytes) and `parse_disputes(raw)`."""

    dispute_id: str  # the channel's case number
    payment_id: str  # our order number as the channel knows it
    kind: Literal["chargeback", "dispute"]
    reason_code: str
    reason: str
    fraud: bool
    amount: Money
    opened_on: date


class Channel(Protocol):
    code: str
    scenarios: frozenset[Scenario]
    currencies: frozenset[str]

    async def create(self, request: ChargeRequest) -> ChargeCreated | ChargeSucceeded | Declined: ...

    async def query(self, payment_id: str) -> PaymentStatus: ...

    async def close(self, payment_id: str) -> None: ...

    async def refund(self, request: RefundRequest) -> RefundStatus: ...

    async def query_refund(self, payment_id: str, refund_id: str) -> RefundStatus: ...

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentStatus | RefundStatus:
        """Verify and decode an async notification; raise InvalidNotification if it does not verify."""
        ...

    def ack(self, accepted: bool) -> NotificationAck: ...

    async def download_statement(self, business_date: date) -> bytes: ...

    def parse_statement(self, raw: bytes) -> list[StatementLine]: ...
