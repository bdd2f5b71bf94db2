"""UnionPay online gateway (银联全渠道, acpsdk 5.1.0) adapter for a directly connected merchant.

Every request is signed with our signing certificate (a PKCS#12 file from UnionPay); every
answer and notification must carry a signPubKeyCert chaining to UnionPay's root and a
signature made with it, else nothing in it is believed.

UnionPay finds an earlier transaction only by orderId together with the txnTime it was sent
with. Juhe's order numbers begin with their own Beijing issue time (payments/numbers.py), and
that is the txnTime sent, so any process can query and refund after a restart. The adapter
also remembers what it sent (in memory, bounded), for numbers made elsewhere.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import asynccontextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import AsyncIterator, Mapping
from urllib.parse import parse_qsl

import httpx
from pydantic import BaseModel, SecretStr, ValidationError, field_validator

from juhe.channels.base import (
    ChannelError,
    ChargeCreated,
    ChargeRequest,
    Declined,
    InvalidNotification,
    NotificationAck,
    PayerAction,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    Scenario,
    StatementLine,
)
from juhe.channels.unionpay import signing, wire
from juhe.http import async_client

SENT_MAX = 100_000  # orders and refunds remembered for queries and refunds
STAMP_AGE_MAX_S = 366 * 24 * 3600  # refunds are accepted for up to a year


class UnionPayConfig(BaseModel):
    base_url: str = "https://gateway.95516.com"
    file_url: str = "https://filedownload.95516.com/"  # settlement files have their own host
    mer_id: str  # 商户代码, 15 characters
    sign_cert_file: Path  # acp_prod_sign.pfx, our signing certificate with its key
    sign_cert_password: SecretStr
    root_cert_file: Path  # acp_prod_root.cer
    middle_cert_file: Path  # acp_prod_middle.cer
    signer_org: str = signing.UNIONPAY_ORG
    timeout_s: float = 5.0

    @field_validator("mer_id")
    @classmethod
    def _mer_id_is_15(cls, mer_id: str) -> str:
        if len(mer_id) != 15 or not mer_id.isalnum():
            raise ValueError("merId is 15 letters or digits")
        return mer_id


class SentLog:
    """What we sent per orderId: UnionPay finds a transaction again only by orderId + txnTime,
    and a refund names the bizType of its payment. A resend reuses the first txnTime, so
    UnionPay sees one order, not two."""

    def __init__(self, limit: int = SENT_MAX):
        self._sent: OrderedDict[str, wire.Sent] = OrderedDict()
        self._limit = limit

    def first(self, order_id: str, biz_type: str) -> wire.Sent:
        if order_id not in self._sent:
            self._sent[order_id] = wire.Sent(txn_time=_stamped_time(order_id) or wire.txn_time(_now()), biz_type=biz_type)
            if len(self._sent) > self._limit:
                self._sent.popitem(last=False)
        return self._sent[order_id]

    def of(self, order_id: str) -> wire.Sent:
        stamped = _stamped_time(order_id)
        if order_id not in self._sent and stamped:
            # Not sent from this process: the number carries its txnTime; the product is the
            # online one (000201), the bizType UnionPay expects on refunds of web/app payments.
            return wire.Sent(txn_time=stamped, biz_type=wire.PRODUCTS[Scenario.WEB].biz_type)
        if order_id not in self._sent:
            raise ChannelError(f"txnTime of {order_id} unknown here", outcome_known=True, code="txn_time_unknown")
        return self._sent[order_id]


def _stamped_time(order_id: str) -> str | None:
    """The txnTime a Juhe number starts with (yyyyMMddHHmmss Beijing), if it is one."""
    head = order_id[:14]
    try:
        issued = wire.parse_txn_time(head)
    except ValueError:
        return None
    return head if abs((_now() - issued).total_seconds()) < STAMP_AGE_MAX_S else None


class UnionPayChannel:
    code = "unionpay"
    scenarios = frozenset(wire.PRODUCTS)
    currencies = frozenset({wire.CURRENCY})

    def __init__(self, config: UnionPayConfig, http: httpx.AsyncClient | None = None):
        self.config = config
        self._http = http
        self._tls = httpx.create_ssl_context()  # built once: it is the costly part of a client
        self._cert = signing.load_signing_cert(config.sign_cert_file, config.sign_cert_password.get_secret_value())
        self._anchors = signing.load_trust_anchors(config.root_cert_file, config.middle_cert_file, config.signer_org)
        self._sent = SentLog()

    async def create(self, request: ChargeRequest) -> ChargeCreated | Declined:
        if request.amount.currency != wire.CURRENCY or request.amount.amount_minor <= 0:
            return Declined("amount_not_supported", f"UnionPay takes positive CNY amounts, not {request.amount}")
        if not wire.ORDER_ID.fullmatch(request.payment_id):
            return Declined("order_id_invalid", "UnionPay orderId is 8-32 letters or digits")
        product = wire.PRODUCTS[request.scenario]
        sent = self._sent.first(request.payment_id, product.biz_type)
        message = wire.consume_request(request, self.config.mer_id, sent.txn_time).fields()
        if request.scenario in (Scenario.WEB, Scenario.WAP):
            form = wire.auto_submit_form(self._url(wire.FRONT_PATH), signing.sign(message, self._cert))
            return ChargeCreated(action=PayerAction(kind="form", form_html=form))
        answer = await self._call(self._url(product.path), message)
        if answer.respCode in wire.RESP_IN_DOUBT:
            raise ChannelError(f"order {request.payment_id} in doubt: {answer.respMsg}", outcome_known=False)
        if answer.respCode == wire.RESP_DUPLICATE:  # made before, its QR code or tn is not given twice
            raise ChannelError(f"order {request.payment_id} exists", outcome_known=True, code="duplicate_order")
        if answer.respCode != wire.RESP_SUCCESS:
            return Declined(answer.respCode, answer.respMsg)
        if request.scenario is Scenario.APP:
            return ChargeCreated(action=PayerAction(kind="app", app_params={"tn": answer.tn}), channel_ref=answer.tn)
        return ChargeCreated(action=PayerAction(kind="qr", qr_content=answer.qrCode))

    async def query(self, payment_id: str) -> PaymentStatus:
        return wire.payment_status(payment_id, await self._query(payment_id))

    async def close(self, payment_id: str) -> None:
        """UnionPay cannot cancel an unpaid order: it lapses at payTimeout, which create sets from
        expires_at. A paid one is reversed only by a refund, so that is the caller's decision."""
        status = await self.query(payment_id)
        if status.state in ("succeeded", "pending"):
            code = f"order_{status.state}"
            raise ChannelError(f"order {payment_id} is {status.state}", outcome_known=True, code=code)

    async def refund(self, request: RefundRequest) -> RefundStatus:
        if request.amount > request.payment_total:
            raise ValueError(f"refund {request.refund_id} exceeds its payment")
        paid = await self._query(request.payment_id)
        if wire.payment_status(request.payment_id, paid).state != "succeeded":
            return RefundStatus(
                refund_id=request.refund_id, payment_id=request.payment_id, state="failed",
                amount=request.amount, failure_code="payment_not_succeeded",
            )  # fmt: skip
        payment = self._sent.of(request.payment_id)
        sent = self._sent.first(request.refund_id, payment.biz_type)
        message = wire.refund_order(request, self.config.mer_id, sent, paid.queryId).fields()
        answer = await self._call(self._url(wire.BACK_PATH), message)
        if answer.respCode == wire.RESP_DUPLICATE:  # sent before: its own status is the answer
            return await self.query_refund(request.payment_id, request.refund_id)
        if answer.respCode == wire.RESP_SUCCESS:  # accepted; the outcome comes by notification
            return RefundStatus(
                refund_id=request.refund_id, payment_id=request.payment_id, state="pending",
                amount=request.amount, channel_refund_id=answer.queryId or None,
            )  # fmt: skip
        return wire.refund_status(request.payment_id, request.refund_id, answer)

    async def query_refund(self, payment_id: str, refund_id: str) -> RefundStatus:
        return wire.refund_status(payment_id, refund_id, await self._query(refund_id))

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentStatus | RefundStatus:
        try:
            fields = _form_fields(body)
            signing.verify(fields, self._anchors)
            answer = wire.Answer.model_validate(fields)
            if answer.merId != self.config.mer_id:  # signed by UnionPay, but for another merchant
                raise ValueError(f"merId {answer.merId!r} is not ours")
            if answer.txnType == wire.TXN_CONSUME:
                return wire.payment_status(answer.orderId, answer)
            if answer.txnType == wire.TXN_REFUND and answer.reqReserved:
                return wire.refund_status(answer.reqReserved, answer.orderId, answer)
        except (ValueError, UnicodeDecodeError, ValidationError, signing.SignatureError) as e:
            raise InvalidNotification(f"UnionPay notification rejected: {e}") from e
        raise InvalidNotification(f"UnionPay notification of txnType {answer.txnType!r} is not ours")

    def ack(self, accepted: bool) -> NotificationAck:
        # UnionPay stops retrying on HTTP 200 and reads nothing else; anything else is retried.
        if accepted:
            return NotificationAck(status_code=200, body=b"ok", media_type="text/plain")
        return NotificationAck(status_code=500, body=b"fail", media_type="text/plain")

    async def download_statement(self, business_date: date) -> bytes:
        message = wire.file_request(business_date, self.config.mer_id, wire.txn_time(_now())).fields()
        answer = await self._call(self.config.file_url, message)
        if answer.respCode != wire.RESP_SUCCESS:
            raise ChannelError(f"no settlement file for {business_date}: {answer.respMsg}", outcome_known=True,
                               code=answer.respCode)  # fmt: skip
        return wire.unpack_file(answer.fileContent)

    def parse_statement(self, raw: bytes) -> list[StatementLine]:
        return wire.parse_bill(raw)

    async def _query(self, order_id: str) -> wire.Answer:
        message = wire.query_request(order_id, self.config.mer_id, self._sent.of(order_id).txn_time).fields()
        answer = await self._call(self._url(wire.QUERY_PATH), message)
        if answer.respCode not in (wire.RESP_SUCCESS, wire.RESP_NOT_FOUND):
            raise ChannelError(f"query of {order_id} failed: {answer.respCode} {answer.respMsg}",
                               outcome_known=True, code=answer.respCode)  # fmt: skip
        return answer

    def _url(self, path: str) -> str:
        return self.config.base_url.rstrip("/") + path

    async def _call(self, url: str, message: dict[str, str]) -> wire.Answer:
        response = await self._post(url, signing.sign(message, self._cert))
        if response.status_code >= 500:
            raise ChannelError(f"UnionPay answered {response.status_code}", outcome_known=False)
        if response.status_code != 200:
            raise ChannelError(f"UnionPay answered {response.status_code}", outcome_known=True)
        try:
            fields = wire.parse_qstring(response.content.decode("utf-8"))
            signing.verify(fields, self._anchors)
            return wire.Answer.model_validate(fields)
        except (ValueError, UnicodeDecodeError, ValidationError, signing.SignatureError) as e:
            # Without a trusted answer we cannot tell whether the request took effect.
            raise ChannelError(f"untrusted UnionPay answer: {e}", outcome_known=False, code="bad_answer") from e

    async def _post(self, url: str, form: dict[str, str]) -> httpx.Response:
        try:
            async with self._client() as client:
                return await client.post(url, data=form, timeout=self.config.timeout_s)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise ChannelError(f"UnionPay unreachable: {e!r}", outcome_known=True, code="unreachable") from e
        except httpx.TimeoutException as e:
            raise ChannelError(f"UnionPay timed out: {e!r}", outcome_known=False, code="timeout") from e
        except httpx.HTTPError as e:
            raise ChannelError(f"UnionPay transport failed: {e!r}", outcome_known=False) from e

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        """The shared client when given one; else one per call, so any event loop may call us."""
        if self._http is not None:
            yield self._http
            return
        async with async_client(verify=self._tls) as client:
            yield client


def _form_fields(body: bytes) -> dict[str, str]:
    pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise ValueError("a field appears twice")
    return fields


def _now() -> datetime:
    return datetime.now(timezone.utc)
