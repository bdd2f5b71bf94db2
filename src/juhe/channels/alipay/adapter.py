"""Alipay through its OpenAPI gateway (`gateway.do`), RSA2-signed both ways.

QR payments are created server to server (alipay.trade.precreate). Web, WAP and app payments
are not calls at all: we sign the request and hand it to the payer's browser (a gateway URL)
or to our merchant's app (the order string), and Alipay books the trade when it arrives.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Mapping, TypeVar
from urllib.parse import parse_qsl, urlencode

import httpx
from pydantic import AliasChoices, BaseModel, Field, ValidationError

from juhe.channels.alipay import signing, wire
from juhe.channels.base import (
    ChannelError,
    ChargeCreated,
    ChargeRequest,
    ChargeSucceeded,
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
from juhe.http import async_client
from juhe.money import Money, MoneyError

A = TypeVar("A", bound=wire.Answer)


class AlipayConfig(BaseModel):
    base_url: str = "https://openapi.alipay.com/gateway.do"  # the gateway itself, not a host
    app_id: str
    app_private_key_file: Path
    # Alipay's key for this app, not the app's own public key. The sandbox's client_config()
    # names it channel_public_key_file, like every channel's; both names are accepted.
    alipay_public_key_file: Path = Field(
        validation_alias=AliasChoices("alipay_public_key_file", "channel_public_key_file")
    )
    timeout_s: float = 5.0


class AlipayChannel:
    code = "alipay"
    scenarios = frozenset(wire.PAY_METHODS) | {Scenario.MANDATE}
    currencies = frozenset({wire.CURRENCY})
    installment_periods = wire.HB_FQ_PERIODS  # 花呗分期

    def __init__(self, config: AlipayConfig, http: httpx.AsyncClient | None = None):
        self.config = config
        self._app_key = signing.load_private_key(config.app_private_key_file)
        self._alipay_key = signing.load_public_key(config.alipay_public_key_file)
        self._http = http or async_client(timeout=config.timeout_s)

    async def create(self, request: ChargeRequest) -> ChargeCreated | ChargeSucceeded | Declined:
        if request.amount.currency != wire.CURRENCY:
            return Declined("currency_not_supported", f"Alipay takes CNY only, not {request.amount.currency}")
        if request.scenario == Scenario.MANDATE:
            return await self._withhold(request)
        if request.scenario not in wire.PAY_METHODS:
            return Declined("scenario_not_supported", f"Alipay has no {request.scenario} payment here")
        method, product_code = wire.PAY_METHODS[request.scenario]
        biz = wire.charge_biz(request, product_code)
        if request.scenario == Scenario.QR:
            answer = await self._call(wire.PrecreateAnswer, method, biz, notify_url=request.notify_url)
            if not answer.ok:
                return self._declined(answer)
            return ChargeCreated(PayerAction(kind="qr", qr_content=answer.qr_code))
        order = urlencode(self._signed(method, biz, notify_url=request.notify_url, return_url=request.return_url))
        if request.scenario == Scenario.APP:
            return ChargeCreated(PayerAction(kind="app", app_params={"order_string": order}))
        return ChargeCreated(PayerAction(kind="redirect", redirect_url=f"{self.config.base_url}?{order}"))

    async def _withhold(self, request: ChargeRequest) -> ChargeSucceeded | Declined:
        """Agreement pay: Alipay charges the payer's signed agreement at once and answers the result."""
        if not request.payer.get(wire.PAYER_AGREEMENT_NO):
            return Declined("agreement_required", "a mandate payment names the payer's agreement_no")
        answer = await self._call(wire.TradePayAnswer, wire.TRADE_PAY, wire.withholding_biz(request), notify_url=request.notify_url)
        if not answer.ok:
            return self._declined(answer)
        try:
            paid = PaymentStatus(request.payment_id, "succeeded", Money.parse(answer.total_amount or "", wire.CURRENCY),
                                 answer.trade_no, wire.parse_beijing_time(answer.gmt_payment) if answer.gmt_payment else None)
        except (ValueError, MoneyError) as exc:
            raise ChannelError(f"alipay trade pay answer: {exc}", outcome_known=False, code="bad_answer") from exc
        return ChargeSucceeded(paid)

    async def query(self, payment_id: str) -> PaymentStatus:
        answer = await self._call(wire.TradeQueryAnswer, wire.TRADE_QUERY, {"out_trade_no": payment_id})
        if answer.sub_code == wire.TRADE_NOT_EXIST:
            return PaymentStatus(payment_id=payment_id, state="not_found")
        self._raise_unless_ok(answer)
        try:
            return wire.payment_status(payment_id, answer)
        except (ValueError, MoneyError) as exc:
            raise ChannelError(f"alipay trade query answer: {exc}", outcome_known=True, code="bad_answer") from exc

    async def close(self, payment_id: str) -> None:
        # Alipay knows no trade until the payer opened it, so ACQ.TRADE_NOT_EXIST is no proof
        # that nothing will be paid: it stays an error, and time_expire bounds the payment.
        answer = await self._call(wire.Answer, wire.TRADE_CLOSE, {"out_trade_no": payment_id})
        self._raise_unless_ok(answer)

    async def refund(self, request: RefundRequest) -> RefundStatus:
        biz = {
            "out_trade_no": request.payment_id,
            "refund_amount": wire.yuan(request.amount),
            "out_request_no": request.refund_id,
            "refund_reason": request.reason,
        }
        answer = await self._call(wire.RefundAnswer, wire.TRADE_REFUND, biz)
        if answer.ok and answer.fund_change == "Y":
            return RefundStatus(request.refund_id, request.payment_id, "succeeded", amount=request.amount)
        if answer.ok:
            # "N": a repeat of a refund already made, or one not settled yet; only the query tells.
            return await self.query_refund(request.payment_id, request.refund_id)
        if answer.sub_code == wire.SYSTEM_ERROR:
            raise ChannelError(f"alipay refund: {answer.sub_msg}", outcome_known=False, code=answer.reason)
        return RefundStatus(request.refund_id, request.payment_id, "failed", failure_code=answer.reason)

    async def query_refund(self, payment_id: str, refund_id: str) -> RefundStatus:
        biz = {"out_trade_no": payment_id, "out_request_no": refund_id}
        answer = await self._call(wire.RefundQueryAnswer, wire.REFUND_QUERY, biz)
        if answer.sub_code == wire.TRADE_NOT_EXIST:
            return RefundStatus(refund_id, payment_id, "not_found")
        self._raise_unless_ok(answer)
        try:
            return wire.refund_query_status(payment_id, refund_id, answer)
        except (ValueError, MoneyError) as exc:
            raise ChannelError(f"alipay refund query answer: {exc}", outcome_known=True, code="bad_answer") from exc

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentStatus | RefundStatus:
        try:
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidNotification(f"alipay notification is not a form: {exc}") from exc
        if params.get("sign_type") != "RSA2" or not params.get("sign"):
            raise InvalidNotification("alipay notification is not RSA2-signed")
        content = signing.signed_content(params, signing.NOTIFY_UNSIGNED)
        if not signing.verify(content, params["sign"], self._alipay_key):
            raise InvalidNotification("alipay notification signature does not verify")
        if params.get("app_id") != self.config.app_id:
            raise InvalidNotification(f"alipay notification for another app: {params.get('app_id')!r}")
        try:
            return wire.notification_status(params)
        except (ValidationError, ValueError, MoneyError) as exc:
            raise InvalidNotification(f"alipay notification malformed: {exc}") from exc

    def ack(self, accepted: bool) -> NotificationAck:
        return NotificationAck(200, wire.NOTIFY_ACK if accepted else b"failure", "text/plain")

    async def download_statement(self, business_date: date) -> bytes:
        biz = {"bill_type": "trade", "bill_date": business_date.isoformat()}
        answer = await self._call(wire.BillUrlAnswer, wire.BILL_URL_QUERY, biz)
        self._raise_unless_ok(answer)
        # The link is valid for 30 s: fetch it at once.
        link = self._http.build_request("GET", answer.bill_download_url, timeout=self.config.timeout_s)
        response = await self._send(link)
        return response.content

    def parse_statement(self, raw: bytes) -> list[StatementLine]:
        return wire.parse_bill(raw)

    def _signed(self, method: str, biz: Mapping, **optional: str | None) -> dict[str, str]:
        params = {
            "app_id": self.config.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": wire.beijing_time(datetime.now(wire.BEIJING)),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
            **{k: v for k, v in optional.items() if v},
        }
        params["sign"] = signing.sign(signing.signed_content(params), self._app_key)
        return params

    async def _call(self, model: type[A], method: str, biz: Mapping, **optional: str | None) -> A:
        """POST one method; the verified answer, business failures included."""
        params = self._signed(method, biz, **optional)
        # As Alipay's own SDKs do: common parameters in the query string (the gateway reads
        # `charset` there to decode the body), business content in the form body.
        body = {"biz_content": params.pop("biz_content")}
        request = self._http.build_request(
            "POST", self.config.base_url, params=params, data=body, timeout=self.config.timeout_s
        )
        response = await self._send(request)
        answer = self._verified_answer(response.text, wire.response_key(method))
        try:
            return model.model_validate(answer)
        except ValidationError as exc:
            raise ChannelError(f"alipay {method} answer malformed: {exc}", outcome_known=False) from exc

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._http.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ChannelError(f"alipay unreachable: {exc!r}", outcome_known=True, code="connect_error") from exc
        except httpx.TimeoutException as exc:
            raise ChannelError(f"alipay timed out: {exc!r}", outcome_known=False, code="timeout") from exc
        except httpx.TransportError as exc:
            raise ChannelError(f"alipay connection failed: {exc!r}", outcome_known=False) from exc
        if response.status_code != 200:
            raise ChannelError(
                f"alipay answered HTTP {response.status_code}",
                outcome_known=response.status_code < 500,
                code=f"http_{response.status_code}",
            )
        return response

    def _verified_answer(self, raw: str, key: str) -> dict:
        # Gateway-level rejections (unknown method …) come under error_response instead.
        text = signing.response_object_text(raw, key) or signing.response_object_text(raw, "error_response")
        try:
            answer = json.loads(text or "")
            signature = json.loads(raw).get("sign")
        except ValueError as exc:
            raise ChannelError(f"alipay answer is not JSON: {raw[:200]!r}", outcome_known=False) from exc
        code = answer.get("code") if isinstance(answer, dict) else None
        if not isinstance(code, str):
            raise ChannelError(f"alipay answer has no code: {raw[:200]!r}", outcome_known=False)
        reason = answer.get("sub_code") or code
        if code == wire.SERVICE_UNAVAILABLE:
            raise ChannelError(f"alipay unavailable: {text}", outcome_known=False, code=reason)
        if code not in (wire.SUCCESS, wire.BUSINESS_FAILED):
            # The gateway refused the call before any business processing; such answers
            # (isv.invalid-app-id, for one) may come unsigned.
            raise ChannelError(f"alipay refused the call: {text}", outcome_known=True, code=reason)
        if not isinstance(signature, str) or not signing.verify(text, signature, self._alipay_key):
            raise ChannelError("alipay answer signature does not verify", outcome_known=False, code="invalid_signature")
        return answer

    @staticmethod
    def _raise_unless_ok(answer: wire.Answer) -> None:
        if not answer.ok:
            known = answer.sub_code != wire.SYSTEM_ERROR
            raise ChannelError(f"alipay: {answer.sub_code} {answer.sub_msg}", outcome_known=known, code=answer.reason)

    @staticmethod
    def _declined(answer: wire.Answer) -> Declined:
        if answer.sub_code == wire.SYSTEM_ERROR:
            raise ChannelError(f"alipay: {answer.sub_msg}", outcome_known=False, code=answer.reason)
        return Declined(answer.reason, answer.sub_msg or answer.msg)
