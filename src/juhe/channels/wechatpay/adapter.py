"""WeChat Pay API v3 adapter for a direct merchant (直连商户) in WeChat Pay public key mode.

Every request is signed with the merchant's API certificate key; every 2xx answer and every
notification must carry a fresh Wechatpay-Signature made with the WeChat Pay public key
named by `wechatpay_public_key_id`, else nothing in it is believed.
"""

from __future__ import annotations

import hashlib
import time
from datetime import date
from pathlib import Path
from typing import Mapping, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, ValidationError, field_validator

from juhe.channels.base import (
    ChannelError,
    ChargeCreated,
    ChargeRequest,
    Declined,
    Dispute,
    InvalidNotification,
    NotificationAck,
    PayerAction,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    Scenario,
    StatementLine,
)
from juhe.channels.wechatpay import oauth, signing, wire
from juhe.http import async_client

Answer = TypeVar("Answer", bound=BaseModel)
ORDER_EXISTS_CODES = frozenset({"ORDERPAID", "OUT_TRADE_NO_USED"})
FAIL_ACK = b'{"code":"FAIL","message":"\xe5\xa4\xb1\xe8\xb4\xa5"}'  # {"code":"FAIL","message":"失败"}


class WechatPayConfig(BaseModel):
    base_url: str = "https://api.mch.weixin.qq.com"
    mchid: str  # 商户号
    appid: str  # the official account, mini program or mobile app bound to the merchant
    merchant_serial_no: str  # serial number of the merchant API certificate (商户API证书序列号)
    merchant_private_key_file: Path  # apiclient_key.pem
    wechatpay_public_key_id: str  # PUB_KEY_ID_…, from the merchant platform
    wechatpay_public_key_file: Path  # pub_key.pem, the WeChat Pay public key
    apiv3_key: SecretStr  # decrypts notification resources
    timeout_s: float = 5.0
    # Web authorisation of the official account (the payer's openid for JSAPI pages)
    oauth_authorize_url: str = "https://open.weixin.qq.com/connect/oauth2/authorize"
    oauth_api_url: str = "https://api.weixin.qq.com"
    app_secret: SecretStr | None = None  # the official account's AppSecret

    @field_validator("apiv3_key")
    @classmethod
    def _apiv3_key_is_32_bytes(cls, key: SecretStr) -> SecretStr:
        if len(key.get_secret_value().encode()) != signing.APIV3_KEY_BYTES:
            raise ValueError("the APIv3 key is 32 bytes")
        return key


class WechatPayChannel:
    code = "wechatpay"
    scenarios = frozenset({Scenario.QR, Scenario.JSAPI, Scenario.APP, Scenario.WAP})
    currencies = frozenset({wire.CURRENCY})

    def __init__(self, config: WechatPayConfig, http: httpx.AsyncClient | None = None):
        self.config = config
        self._http = http or async_client()
        self._private_key = signing.load_private_key(config.merchant_private_key_file)
        self._wechatpay_key = signing.load_public_key(config.wechatpay_public_key_file)
        self._apiv3_key = config.apiv3_key.get_secret_value().encode()

    async def create(self, request: ChargeRequest) -> ChargeCreated | Declined:
        refusal = self._unsupported(request)
        if refusal:
            return refusal
        kind = wire.TRADE_TYPE_PATHS[request.scenario]
        body = wire.prepay_request(request, self.config.appid, self.config.mchid)
        response = await self._send("POST", f"/v3/pay/transactions/{kind}", body)
        if response.status_code != 200:
            error = self._error(response)
            if error.code in ORDER_EXISTS_CODES:  # an earlier attempt created it, maybe paid: query, never decline
                raise ChannelError(f"WeChat Pay: {error.message}", outcome_known=False, code=error.code)
            return Declined(error.code, error.message)
        return self._charge_created(request, kind, response)

    def payer_identity_url(self, redirect_uri: str, state: str) -> str:
        """Where a page inside WeChat sends the payer to learn their openid (snsapi_base)."""
        return oauth.authorize_url(self.config.oauth_authorize_url, self.config.appid, redirect_uri, state)

    async def payer_identity(self, code: str) -> str:
        """The openid behind an authorisation code (each code works once)."""
        if self.config.app_secret is None:
            raise ChannelError("WeChat web authorisation needs the official account's app_secret", outcome_known=True,
                               code="oauth_not_configured")
        return await oauth.openid_for_code(self._http, self.config.oauth_api_url, self.config.appid,
                                           self.config.app_secret.get_secret_value(), code, self.config.timeout_s)

    async def query(self, payment_id: str) -> PaymentStatus:
        path = f"/v3/pay/transactions/out-trade-no/{quote(payment_id, safe='')}?mchid={self.config.mchid}"
        response = await self._send("GET", path)
        if response.status_code == 404:
            return PaymentStatus(payment_id=payment_id, state="not_found")
        self._expect_success(response)
        return wire.payment_status(self._parse(wire.Transaction, response))

    async def close(self, payment_id: str) -> None:
        path = f"/v3/pay/transactions/out-trade-no/{quote(payment_id, safe='')}/close"
        response = await self._send("POST", path, wire.CloseRequest(mchid=self.config.mchid))
        if response.status_code == 404:  # never created: there is nothing the payer could pay
            return
        self._expect_success(response)  # ORDERPAID lands here: the caller must query, not assume closed

    async def refund(self, request: RefundRequest) -> RefundStatus:
        response = await self._send("POST", "/v3/refund/domestic/refunds", wire.refund_request(request))
        if response.status_code != 200:
            error = self._error(response)
            return RefundStatus(
                refund_id=request.refund_id, payment_id=request.payment_id, state="failed",
                amount=request.amount, failure_code=error.code,
            )  # fmt: skip
        return wire.refund_status(self._parse(wire.Refund, response))

    async def query_refund(self, payment_id: str, refund_id: str) -> RefundStatus:
        response = await self._send("GET", f"/v3/refund/domestic/refunds/{quote(refund_id, safe='')}")
        if response.status_code == 404:
            return RefundStatus(refund_id=refund_id, payment_id=payment_id, state="not_found")
        self._expect_success(response)
        status = wire.refund_status(self._parse(wire.Refund, response))
        if status.payment_id != payment_id:  # out_refund_no is unique per merchant, not per order
            raise ChannelError(f"refund {refund_id} belongs to {status.payment_id}", outcome_known=True)
        return status

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentStatus | RefundStatus:
        try:
            signing.verify_wechatpay_headers(
                headers, body, public_key=self._wechatpay_key, key_id=self.config.wechatpay_public_key_id,
                now_s=int(time.time()),
            )  # fmt: skip
            notice = wire.Notification.model_validate_json(body)
            resource = notice.resource
            plaintext = signing.decrypt_resource(
                self._apiv3_key, resource.nonce, resource.associated_data, resource.ciphertext
            )
            return self._notified_status(notice.event_type, plaintext)
        except (signing.SignatureError, ValidationError) as e:
            raise InvalidNotification(f"WeChat Pay notification rejected: {e}") from e

    def ack(self, accepted: bool) -> NotificationAck:
        # WeChat Pay stops on 200/204 without a body; anything else is retried for up to a day.
        if accepted:
            return NotificationAck(status_code=204, body=b"", media_type="text/plain")
        return NotificationAck(status_code=500, body=FAIL_ACK, media_type="application/json")

    async def download_statement(self, business_date: date) -> bytes:
        response = await self._send("GET", f"/v3/bill/tradebill?bill_date={business_date.isoformat()}&bill_type=ALL")
        if response.status_code == 400 and self._error(response).code == "NO_STATEMENT_EXIST":
            return b""  # no transaction that day
        self._expect_success(response)
        bill = self._parse(wire.TradeBill, response)
        download = await self._send("GET", bill.download_url, signed_answer=False)
        self._expect_success(download)
        if hashlib.sha1(download.content).hexdigest() != bill.hash_value.lower():
            raise ChannelError("trade bill does not match its SHA1", outcome_known=True, code="bill_hash_mismatch")
        return download.content

    def parse_statement(self, raw: bytes) -> list[StatementLine]:
        return wire.parse_bill(raw)

    async def download_disputes(self, business_date: date) -> bytes:
        """The payers' complaints filed that day (Beijing time), every page of them, as one list."""
        day, complaints = business_date.isoformat(), []
        while True:
            path = (f"/v3/merchant-service/complaints-v2?limit={wire.COMPLAINTS_PAGE_MAX}&offset={len(complaints)}"
                    f"&begin_date={day}&end_date={day}")
            response = await self._send("GET", path)
            self._expect_success(response)
            page = self._parse(wire.ComplaintList, response)
            complaints += page.data
            if not page.data or len(complaints) >= page.total_count:
                return wire.ComplaintList(data=complaints, offset=0, total_count=len(complaints)).model_dump_json().encode()

    def parse_disputes(self, raw: bytes) -> list[Dispute]:
        return wire.parse_complaints(raw)

    def _unsupported(self, request: ChargeRequest) -> Declined | None:
        if request.amount.currency not in self.currencies:
            return Declined("CURRENCY_NOT_SUPPORTED", f"WeChat Pay domestic takes CNY, not {request.amount.currency}")
        if request.scenario not in self.scenarios:
            return Declined("SCENARIO_NOT_SUPPORTED", f"WeChat Pay has no {request.scenario} payment")
        needed = {Scenario.JSAPI: "openid", Scenario.WAP: "client_ip"}.get(request.scenario)
        if needed and not request.payer.get(needed):
            return Declined("PARAM_ERROR", f"{request.scenario} payments need the payer's {needed}")
        return None

    def _charge_created(self, request: ChargeRequest, kind: str, response: httpx.Response) -> ChargeCreated:
        if kind == "native":
            return ChargeCreated(PayerAction(kind="qr", qr_content=self._parse(wire.CodeUrl, response).code_url))
        if kind == "h5":
            url = self._parse(wire.H5Url, response).h5_url
            if request.return_url:  # WeChat sends the payer back here once the H5 cashier is done
                url += "&redirect_url=" + quote(request.return_url, safe="")
            return ChargeCreated(PayerAction(kind="redirect", redirect_url=url))
        prepay_id = self._parse(wire.PrepayId, response).prepay_id
        params = self._jsapi_params(prepay_id) if kind == "jsapi" else self._app_params(prepay_id)
        return ChargeCreated(PayerAction(kind="app", app_params=params), channel_ref=prepay_id)

    def _jsapi_params(self, prepay_id: str) -> dict[str, str]:
        timestamp, nonce, package = str(int(time.time())), signing.new_nonce(), f"prepay_id={prepay_id}"
        pay_sign = signing.jsapi_pay_sign(self._private_key, self.config.appid, timestamp, nonce, package)
        return {
            "appId": self.config.appid, "timeStamp": timestamp, "nonceStr": nonce, "package": package,
            "signType": "RSA", "paySign": pay_sign,
        }  # fmt: skip

    def _app_params(self, prepay_id: str) -> dict[str, str]:
        timestamp, nonce = str(int(time.time())), signing.new_nonce()
        sign = signing.app_pay_sign(self._private_key, self.config.appid, timestamp, nonce, prepay_id)
        return {
            "appid": self.config.appid, "partnerid": self.config.mchid, "prepayid": prepay_id,
            "package": "Sign=WXPay", "noncestr": nonce, "timestamp": timestamp, "sign": sign,
        }  # fmt: skip

    def _notified_status(self, event_type: str, plaintext: bytes) -> PaymentStatus | RefundStatus:
        if event_type.startswith("TRANSACTION."):
            found: wire.Transaction | wire.RefundNotice = wire.Transaction.model_validate_json(plaintext)
        elif event_type.startswith("REFUND."):
            found = wire.RefundNotice.model_validate_json(plaintext)
        else:
            raise InvalidNotification(f"unexpected event_type {event_type!r}")
        if found.mchid != self.config.mchid:
            raise InvalidNotification(f"notification for merchant {found.mchid}, not ours")
        if isinstance(found, wire.Transaction):
            return wire.payment_status(found)
        return wire.refund_status(found)

    async def _send(
        self, method: str, path_or_url: str, body: BaseModel | None = None, *, signed_answer: bool = True
    ) -> httpx.Response:
        """One signed request. Answers that cannot be trusted or say nothing become ChannelError;
        4xx business answers are returned for the caller to map."""
        url = httpx.URL(path_or_url if "://" in path_or_url else self.config.base_url + path_or_url)
        content = body.model_dump_json(exclude_none=True).encode() if body is not None else b""
        headers = {
            "Authorization": signing.authorization(
                private_key=self._private_key, mchid=self.config.mchid, serial_no=self.config.merchant_serial_no,
                method=method, url_path=url.raw_path.decode(), body=content, timestamp=int(time.time()),
                nonce=signing.new_nonce(),
            ),  # fmt: skip
            "Accept": "application/json",
            "Content-Type": "application/json",
            "Wechatpay-Serial": self.config.wechatpay_public_key_id,
        }
        try:
            response = await self._http.request(
                method, url, content=content, headers=headers, timeout=self.config.timeout_s
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            raise ChannelError(f"WeChat Pay not reached: {e!r}", outcome_known=True, code="connect_error") from e
        except httpx.TimeoutException as e:
            raise ChannelError(f"WeChat Pay did not answer: {e!r}", outcome_known=False, code="timeout") from e
        except httpx.TransportError as e:
            message = f"WeChat Pay connection failed: {e!r}"
            raise ChannelError(message, outcome_known=False, code="transport_error") from e
        self._check_answer(response, signed_answer)
        return response

    def _check_answer(self, response: httpx.Response, signed_answer: bool) -> None:
        status = response.status_code
        if status >= 500:
            raise ChannelError(f"WeChat Pay answered {status}", outcome_known=False, code=self._error(response).code)
        if status in (401, 429):  # our signature or our rate: refused before any processing
            error = self._error(response)
            raise ChannelError(f"WeChat Pay refused: {error.message}", outcome_known=True, code=error.code)
        if signed_answer:  # business errors are signed too: a forged ORDER_NOT_EXIST must not be believed
            try:
                signing.verify_wechatpay_headers(
                    response.headers, response.content, public_key=self._wechatpay_key,
                    key_id=self.config.wechatpay_public_key_id, now_s=int(time.time()),
                )  # fmt: skip
            except signing.SignatureError as e:
                # Whatever it says may be forged, and the request may have been processed.
                raise ChannelError(f"untrusted answer: {e}", outcome_known=False, code="answer_signature") from e

    def _expect_success(self, response: httpx.Response) -> None:
        if not response.is_success:
            error = self._error(response)
            raise ChannelError(f"WeChat Pay: {error.code} {error.message}", outcome_known=True, code=error.code)

    @staticmethod
    def _parse(model: type[Answer], response: httpx.Response) -> Answer:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as e:
            raise ChannelError(f"malformed WeChat Pay answer: {e}", outcome_known=False, code="malformed_answer") from e

    @staticmethod
    def _error(response: httpx.Response) -> wire.ErrorAnswer:
        try:
            return wire.ErrorAnswer.model_validate_json(response.content)
        except ValidationError:
            return wire.ErrorAnswer(code=f"HTTP_{response.status_code}", message=response.text[:200])
