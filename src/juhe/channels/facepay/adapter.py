"""Face payment at a store device, through the face-pay service's HTTPS/JSON API.

The flow follows WeChat Pay's and Alipay's face payment: the store device's face SDK captures
the payer's face and hands back an opaque, single-use face token; our server submits token and
amount, signed, and the answer is the result at once (`ChargeSucceeded` or `Declined`). When
the answer is lost, query; a payment that must not stand is reversed (`close`), which refunds
it in full. Refunds settle asynchronously and are notified. The same service answers 1:1 face
checks for step-up verification (`verify_face`).

Every request is signed with the merchant's key; every answer, error or statement, and every
notification must carry a fresh Facepay-Signature from the service's key, else nothing in it
is believed. The biometric data never passes through us: only tokens do.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Mapping, TypeVar
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, BaseModel, Field, ValidationError

from juhe.channels.base import (
    ChannelError,
    ChargeRequest,
    ChargeSucceeded,
    Declined,
    InvalidNotification,
    NotificationAck,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    Scenario,
    StatementLine,
)
from juhe.channels.facepay import signing, wire
from juhe.channels.facepay.wire import FaceCheck
from juhe.http import async_client

Answer = TypeVar("Answer", bound=BaseModel)
PAYER_FIELDS = ("device_id", "face_token")  # ChargeRequest.payer of a face payment
FACE_CHECK_REFUSALS = frozenset({"FACE_TOKEN_INVALID", "USER_NOT_ENROLLED"})
SUCCESS_ACK = b'{"code":"SUCCESS"}'
FAIL_ACK = b'{"code":"FAIL","message":"notification not accepted"}'


class FacePayConfig(BaseModel):
    """The sandbox's client_config() names fields as every channel's does (app_id,
    app_private_key_file, channel_public_key_file); both spellings are accepted."""

    base_url: str  # the face-pay service's API host
    appid: str = Field(validation_alias=AliasChoices("appid", "app_id"))  # the face-pay app bound to the merchant
    mchid: str  # merchant number
    merchant_key_id: str  # id of the merchant API key registered with the service
    merchant_private_key_file: Path = Field(
        validation_alias=AliasChoices("merchant_private_key_file", "app_private_key_file")
    )
    facepay_key_id: str  # id of the service key that signs answers and notifications
    facepay_public_key_file: Path = Field(
        validation_alias=AliasChoices("facepay_public_key_file", "channel_public_key_file")
    )
    timeout_s: float = 5.0


class FacePayChannel:
    code = "facepay"
    scenarios = frozenset({Scenario.FACE})
    currencies = frozenset({wire.CURRENCY})

    def __init__(self, config: FacePayConfig, http: httpx.AsyncClient | None = None):
        self.config = config
        self._http = http or async_client()
        self._private_key = signing.load_private_key(config.merchant_private_key_file)
        self._facepay_key = signing.load_public_key(config.facepay_public_key_file)

    async def create(self, request: ChargeRequest) -> ChargeSucceeded | Declined:
        refusal = self._unsupported(request)
        if refusal:
            return refusal
        try:
            body = wire.pay_request(request, self.config.appid, self.config.mchid)
        except ValidationError as e:  # the device's id or token, or our order number, malformed
            first = e.errors()[0]
            return Declined("PARAM_ERROR", f"{'.'.join(map(str, first['loc']))}: {first['msg']}")
        response = await self._send("POST", "/v1/facepay/transactions", body)
        if response.status_code != 200:
            error = self._error(response)
            if error.code == "OUT_TRADE_NO_USED":  # an earlier attempt may have charged: query, never decline
                raise ChannelError(f"face pay: {error.message}", outcome_known=False, code=error.code)
            return Declined(error.code, error.message)  # refused before any authorisation: nothing changed
        txn = self._parse(wire.Transaction, response)
        if txn.out_trade_no != request.payment_id or txn.amount.total != request.amount.amount_minor:
            raise ChannelError("face pay answered for another order", outcome_known=False, code="answer_mismatch")
        status = wire.payment_status(txn)
        if status.state == "succeeded":
            return ChargeSucceeded(status)
        return Declined(status.failure_code or txn.trade_state, txn.trade_state_desc)

    async def query(self, payment_id: str) -> PaymentStatus:
        response = await self._send("GET", f"{self._order_path(payment_id)}?mchid={self.config.mchid}")
        if response.status_code == 404:
            return PaymentStatus(payment_id=payment_id, state="not_found")
        self._expect_success(response)
        return wire.payment_status(self._parse(wire.Transaction, response))

    async def close(self, payment_id: str) -> None:
        """Reverse: a declined order is closed, a paid one is closed and its money given back."""
        reverse = wire.ReverseRequest(mchid=self.config.mchid)
        response = await self._send("POST", f"{self._order_path(payment_id)}/reverse", reverse)
        if response.status_code == 404:  # never booked: nothing was charged
            return
        self._expect_success(response)  # REVERSE_NOT_ALLOWED (refunded already) lands here

    async def refund(self, request: RefundRequest) -> RefundStatus:
        response = await self._send("POST", "/v1/facepay/refunds", wire.refund_request(request))
        if response.status_code != 200:
            error = self._error(response)
            return RefundStatus(
                refund_id=request.refund_id, payment_id=request.payment_id, state="failed",
                amount=request.amount, failure_code=error.code,
            )  # fmt: skip
        return wire.refund_status(self._parse(wire.Refund, response))

    async def query_refund(self, payment_id: str, refund_id: str) -> RefundStatus:
        response = await self._send("GET", f"/v1/facepay/refunds/out-refund-no/{quote(refund_id, safe='')}")
        if response.status_code == 404:
            return RefundStatus(refund_id=refund_id, payment_id=payment_id, state="not_found")
        self._expect_success(response)
        status = wire.refund_status(self._parse(wire.Refund, response))
        if status.payment_id != payment_id:  # out_refund_no is unique per merchant, not per order
            raise ChannelError(f"refund {refund_id} belongs to {status.payment_id}", outcome_known=True)
        return status

    async def verify_face(self, user_id: str, face_token: str) -> FaceCheck:
        """Step-up verification: does the captured face belong to this enrolled user? Uses up the token."""
        body = wire.FaceVerificationRequest(
            appid=self.config.appid, mchid=self.config.mchid, user_id=user_id, face_token=face_token
        )
        response = await self._send("POST", "/v1/face/verifications", body)
        if response.status_code != 200:
            error = self._error(response)
            if error.code in FACE_CHECK_REFUSALS:  # no check was possible: the step-up fails, it is not an outage
                return FaceCheck(matched=False, score=0.0, failure_code=error.code)
            self._expect_success(response)
        return wire.face_check(self._parse(wire.FaceVerdict, response))

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentStatus | RefundStatus:
        try:
            signing.verify_service_headers(
                headers, body, public_key=self._facepay_key, key_id=self.config.facepay_key_id, now_s=int(time.time())
            )
            notice = wire.Notification.model_validate_json(body)
            if notice.event_type == "REFUND.SUCCESS":
                return wire.refund_status(wire.Refund.model_validate(notice.resource))
            txn = wire.Transaction.model_validate(notice.resource)
        except (signing.SignatureError, ValidationError) as e:
            raise InvalidNotification(f"face-pay notification rejected: {e}") from e
        if txn.mchid != self.config.mchid:
            raise InvalidNotification(f"notification for merchant {txn.mchid}, not ours")
        return wire.payment_status(txn)

    def ack(self, accepted: bool) -> NotificationAck:
        # The service stops on any 2xx; anything else is retried on its schedule.
        if accepted:
            return NotificationAck(status_code=200, body=SUCCESS_ACK, media_type="application/json")
        return NotificationAck(status_code=500, body=FAIL_ACK, media_type="application/json")

    async def download_statement(self, business_date: date) -> bytes:
        response = await self._send("GET", f"/v1/facepay/statements?bill_date={business_date.isoformat()}")
        self._expect_success(response)
        return response.content

    def parse_statement(self, raw: bytes) -> list[StatementLine]:
        return wire.parse_statement(raw)

    def _unsupported(self, request: ChargeRequest) -> Declined | None:
        if request.amount.currency not in self.currencies:
            return Declined("CURRENCY_NOT_SUPPORTED", f"face pay takes CNY, not {request.amount.currency}")
        if request.scenario not in self.scenarios:
            return Declined("SCENARIO_NOT_SUPPORTED", f"face pay has no {request.scenario} payment")
        missing = [name for name in PAYER_FIELDS if not request.payer.get(name)]
        if missing:
            return Declined("PARAM_ERROR", f"a face payment needs the payer's {' and '.join(missing)} from the device")
        return None

    @staticmethod
    def _order_path(payment_id: str) -> str:
        return f"/v1/facepay/transactions/out-trade-no/{quote(payment_id, safe='')}"

    async def _send(self, method: str, path: str, body: BaseModel | None = None) -> httpx.Response:
        """One signed request. Answers that cannot be trusted or say nothing become ChannelError;
        4xx business answers are returned for the caller to map."""
        url = httpx.URL(self.config.base_url.rstrip("/") + path)
        content = body.model_dump_json(exclude_none=True).encode() if body is not None else b""
        headers = {
            "Authorization": signing.authorization(
                private_key=self._private_key, mchid=self.config.mchid, key_id=self.config.merchant_key_id,
                method=method, url_path=url.raw_path.decode(), body=content, timestamp=int(time.time()),
                nonce=signing.new_nonce(),
            ),  # fmt: skip
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        try:
            response = await self._http.request(
                method, url, content=content, headers=headers, timeout=self.config.timeout_s
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            raise ChannelError(f"face pay not reached: {e!r}", outcome_known=True, code="connect_error") from e
        except httpx.TimeoutException as e:
            raise ChannelError(f"face pay did not answer: {e!r}", outcome_known=False, code="timeout") from e
        except httpx.TransportError as e:
            raise ChannelError(f"face pay connection failed: {e!r}", outcome_known=False, code="transport_error") from e
        self._check_answer(response)
        return response

    def _check_answer(self, response: httpx.Response) -> None:
        status = response.status_code
        if status >= 500:
            raise ChannelError(f"face pay answered {status}", outcome_known=False, code=self._error(response).code)
        if status in (401, 429):  # our signature or our rate: refused before any processing
            error = self._error(response)
            raise ChannelError(f"face pay refused: {error.message}", outcome_known=True, code=error.code)
        try:  # declines are signed too: a forged "no match" must not be believed any more than a forged success
            signing.verify_service_headers(
                response.headers, response.content, public_key=self._facepay_key,
                key_id=self.config.facepay_key_id, now_s=int(time.time()),
            )  # fmt: skip
        except signing.SignatureError as e:
            # Whatever it says may be forged, and the request may have been processed.
            raise ChannelError(f"untrusted answer: {e}", outcome_known=False, code="answer_signature") from e

    def _expect_success(self, response: httpx.Response) -> None:
        if not response.is_success:
            error = self._error(response)
            raise ChannelError(f"face pay: {error.code} {error.message}", outcome_known=True, code=error.code)

    @staticmethod
    def _parse(model: type[Answer], response: httpx.Response) -> Answer:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as e:
            raise ChannelError(f"malformed face-pay answer: {e}", outcome_known=False, code="malformed_answer") from e

    @staticmethod
    def _error(response: httpx.Response) -> wire.ErrorAnswer:
        try:
            return wire.ErrorAnswer.model_validate_json(response.content)
        except ValidationError:
            return wire.ErrorAnswer(code=f"HTTP_{response.status_code}", message=response.text[:200])
