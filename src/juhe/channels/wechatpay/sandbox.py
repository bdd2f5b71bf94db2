"""WeChat Pay API v3 simulator: the real endpoints, signatures and notifications, on localhost.

It checks every merchant request's WECHATPAY2-SHA256-RSA2048 authorization as WeChat Pay
does (401 SIGN_ERROR otherwise), signs every answer and notification with its "WeChat Pay
public key" (serial `PUB_KEY_ID_…`), encrypts notification resources with the APIv3 key,
retries unacknowledged notifications on WeChat's schedule, and serves the day's trade bill and the
payers' complaints (消费者投诉 2.0): a payment by the sandbox's taken-over account (payer
STOLEN_PAYER) is complained about as not the payer's COMPLAINT_DELAY_DAYS later, and `complain()`
files any other complaint.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import html
import itertools
import json
import secrets
import time
import uuid
from datetime import date, datetime, time as day_time, timedelta, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from juhe.channels.simkit import (
    Faults,
    PayRequest,
    PlantedDiscrepancy,
    SimOrder,
    SimRefund,
    Simulator,
    plant_discrepancies,
    write_rsa_keypair,
)
from juhe.channels.wechatpay import signing, wire
from juhe.channels.wechatpay.adapter import WechatPayConfig
from juhe.money import Money

MCHID = "1900000109"  # the example merchant of WeChat Pay's own documentation
APPID = "wxd678efh567hg6787"
FEE_PER_MILLE = 6  # 0.6 %, WeChat Pay's standard rate for most merchant categories
FEE_RATE_TEXT = "0.60%"
REFUND_SETTLE_S = 0.05  # refunds answer PROCESSING first, as the real ones do
BILLS_KEPT_MAX = 64
OAUTH_CODES_KEPT_MAX = 1024  # unused codes beyond this are forgotten, oldest first (WeChat's last 5 minutes)
TRADE_STATE_DESC = {
    "SUCCESS": "支付成功", "REFUND": "转入退款", "NOTPAY": "未支付", "CLOSED": "已关闭", "PAYERROR": "支付失败",
}  # fmt: skip
REFUND_STATUS = {"pending": "PROCESSING", "succeeded": "SUCCESS", "failed": "CLOSED"}
STOLEN_PAYER = "sandbox-account-taken-over"  # its payments are complained about as not the payer's
COMPLAINT_DELAY_DAYS = 7  # the account's owner notices a week later
COMPLAINT_SPAN_DAYS_MAX = 30  # begin_date .. end_date of one query

Answer = tuple[int, dict | None]


class Refusal(Exception):
    """A WeChat Pay error answer: HTTP status plus {"code", "message"}."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class WechatPaySandbox(Simulator):
    txn_prefix = "42000001"  # transaction_id: 28 digits, like the real ones
    retry_schedule_s = [15, 15, 30, 180, 600, 1200, 1800]  # WeChat Pay's first seven retry intervals

    def __init__(self, key_dir: Path, base_url: str, faults: Faults | None = None):
        super().__init__(faults)
        self.base_url = base_url.rstrip("/")
        self.mchid, self.appid = MCHID, APPID
        self.merchant_private_key_file, merchant_public_file = write_rsa_keypair(key_dir, "wechatpay_merchant")
        platform_private_file, self.wechatpay_public_key_file = write_rsa_keypair(key_dir, "wechatpay_platform")
        self._merchant_key = signing.load_public_key(merchant_public_file)
        self._platform_key = signing.load_private_key(platform_private_file)
        # The merchant certificate's serial and the public key id are fixed by the keys themselves.
        self.serial_no = hashlib.sha1(merchant_public_file.read_bytes()).hexdigest().upper()
        key_digits = int(hashlib.sha1(self.wechatpay_public_key_file.read_bytes()).hexdigest()[:12], 16)
        self.public_key_id = f"PUB_KEY_ID_01{self.mchid}{key_digits:016d}"
        self.apiv3_key = _apiv3_key(key_dir)
        self.planted: dict[date, list[PlantedDiscrepancy]] = {}
        self._pay_pages: dict[str, str] = {}  # QR token or H5 prepay_id → out_trade_no
        self._refund_orders: dict[str, str] = {}  # out_refund_no → out_trade_no
        self._refund_notify_urls: dict[str, str] = {}
        self._bills: dict[str, bytes] = {}
        self._refund_numbers = itertools.count(1)
        self.app_secret = hashlib.sha256(self.apiv3_key.encode()).hexdigest()[:32]
        self._oauth_codes: dict[str, str] = {}  # one-time code → openid
        self.complaints: dict[str, dict] = {}  # complaint_id → the complaint as the API shows it
        self.app = self._build_app()

    def client_config(self) -> dict:
        return {
            "base_url": self.base_url,
            "app_id": self.appid,
            "app_private_key_file": str(self.merchant_private_key_file),
            "channel_public_key_file": str(self.wechatpay_public_key_file),
            "mchid": self.mchid,
            "serial_no": self.serial_no,
            "apiv3_key": self.apiv3_key,
            "public_key_id": self.public_key_id,
        }

    def adapter_config(self) -> WechatPayConfig:
        return WechatPayConfig(
            base_url=self.base_url, mchid=self.mchid, appid=self.appid, merchant_serial_no=self.serial_no,
            merchant_private_key_file=self.merchant_private_key_file, wechatpay_public_key_id=self.public_key_id,
            wechatpay_public_key_file=self.wechatpay_public_key_file, apiv3_key=self.apiv3_key,
            oauth_authorize_url=f"{self.base_url}/connect/oauth2/authorize", oauth_api_url=self.base_url,
            app_secret=self.app_secret,
        )  # fmt: skip

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="WeChat Pay API v3 sandbox")
        app.middleware("http")(self.faults_on(
            lambda path: path.startswith("/v3/"),
            lambda: self._signed(500, {"code": "SYSTEM_ERROR", "message": "系统异常，请稍后重试"}),
        ))
        app.include_router(self.control_router())
        routes: list[tuple[str, Callable, str]] = [
            ("/v3/pay/transactions/out-trade-no/{out_trade_no}", self._query, "GET"),
            ("/v3/pay/transactions/out-trade-no/{out_trade_no}/close", self._close, "POST"),
            ("/v3/pay/transactions/{kind}", self._prepay, "POST"),
            ("/v3/refund/domestic/refunds", self._refund, "POST"),
            ("/v3/refund/domestic/refunds/{out_refund_no}", self._refund_query, "GET"),
            ("/v3/bill/tradebill", self._tradebill, "GET"),
            ("/v3/billdownload/file", self._bill_file, "GET"),
            ("/v3/merchant-service/complaints-v2", self._complaints, "GET"),
            ("/qr/{token}", self._qr_page, "GET"),
            ("/cgi-bin/mmpayweb-bin/checkmweb", self._h5_page, "GET"),
            ("/connect/oauth2/authorize", self._oauth_authorize, "GET"),
            ("/sns/oauth2/access_token", self._oauth_token, "GET"),
        ]
        for path, endpoint, method in routes:
            app.add_api_route(path, endpoint, methods=[method])
        return app

    # --- protocol plumbing: faults, authentication, signed answers


    async def _serve(self, request: Request, handle: Callable[[bytes], Answer]) -> Response:
        body = await request.body()
        try:
            self._authenticate(request, body)
            status, answer = handle(body)
        except Refusal as r:
            status, answer = r.status, {"code": r.code, "message": r.message}
        except ValidationError as e:
            status, answer = 400, _param_error(e)
        return self._signed(status, answer)

    def _authenticate(self, request: Request, body: bytes) -> None:
        url_path = request.scope.get("raw_path", request.url.path.encode()).decode()
        if request.scope["query_string"]:
            url_path += "?" + request.scope["query_string"].decode()
        try:
            fields = signing.verify_authorization(
                request.headers.get("authorization", ""), public_key=self._merchant_key, serial_no=self.serial_no,
                method=request.method, url_path=url_path, body=body, now_s=int(time.time()),
            )  # fmt: skip
        except signing.SignatureError as e:
            raise Refusal(401, "SIGN_ERROR", f"签名错误，请检查后再试 ({e})") from e
        if fields["mchid"] != self.mchid:
            raise Refusal(401, "SIGN_ERROR", "商户号与签名不匹配")

    def _signed(self, status: int, answer: dict | None) -> Response:
        body = b"" if answer is None else json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
        headers = signing.wechatpay_headers(
            self._platform_key, self.public_key_id, body, int(time.time()), signing.new_nonce()
        )
        headers["Request-ID"] = uuid.uuid4().hex
        media_type = None if answer is None else "application/json"
        return Response(content=body, status_code=status, headers=headers, media_type=media_type)

    def _check_merchant(self, mchid: str, appid: str | None = None) -> None:
        if mchid != self.mchid:
            raise Refusal(400, "MCH_NOT_EXISTS", "商户号不存在")
        if appid is not None and appid != self.appid:
            raise Refusal(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")

    def _order(self, out_trade_no: str) -> SimOrder:
        order = self.book.get(out_trade_no)
        if order is None:
            raise Refusal(404, "ORDER_NOT_EXIST", "订单不存在")
        _expire_if_due(order)
        return order

    # --- orders

    async def _prepay(self, kind: str, request: Request) -> Response:
        return await self._serve(request, lambda body: self._create_order(kind, body))

    def _create_order(self, kind: str, body: bytes) -> Answer:
        if kind not in wire.TRADE_TYPES:
            raise Refusal(404, "NOT_FOUND", "接口不存在")
        prepay = wire.PrepayRequest.model_validate_json(body)
        self._check_merchant(prepay.mchid, prepay.appid)
        if kind == "jsapi" and prepay.payer is None:
            raise Refusal(400, "PARAM_ERROR", "输入源“/body/payer/openid”映射到值字段“用户标识”必填性规则校验失败，此字段为必填项")
        if kind == "h5" and (prepay.scene_info is None or prepay.scene_info.h5_info is None):
            raise Refusal(400, "PARAM_ERROR", "输入源“/body/scene_info/h5_info”映射到值字段“H5场景信息”必填性规则校验失败，此字段为必填项")
        earlier = self.book.get(prepay.out_trade_no)
        if earlier is not None:
            return 200, self._reorder(earlier, kind, prepay)
        order = SimOrder(
            order_no=prepay.out_trade_no, amount_minor=prepay.amount.total, currency=prepay.amount.currency,
            subject=prepay.description, notify_url=prepay.notify_url,
            extra={
                "trade_type": wire.TRADE_TYPES[kind], "kind": kind, "time_expire": prepay.time_expire,
                "openid": prepay.payer.openid if prepay.payer else "", "prepay_id": _prepay_id(),
            },
        )  # fmt: skip
        self.order_created(order)
        return 200, self._prepay_answer(order)

    def _reorder(self, order: SimOrder, kind: str, prepay: wire.PrepayRequest) -> dict:
        """The same out_trade_no again: the same answer if nothing changed, else WeChat's refusal."""
        _expire_if_due(order)
        if order.state == "succeeded":
            raise Refusal(400, "ORDERPAID", "该订单已支付")
        if order.state == "closed":
            raise Refusal(400, "ORDER_CLOSED", "订单已关闭")
        if order.amount_minor != prepay.amount.total or order.extra["kind"] != kind:
            raise Refusal(403, "OUT_TRADE_NO_USED", "商户订单号重复")
        return self._prepay_answer(order)

    def _prepay_answer(self, order: SimOrder) -> dict:
        prepay_id = order.extra["prepay_id"]
        if order.extra["kind"] == "native":
            token = order.extra.setdefault("qr_token", secrets.token_urlsafe(9))
            self._pay_pages[token] = order.order_no
            return {"code_url": f"{self.base_url}/qr/{token}"}
        if order.extra["kind"] == "h5":
            self._pay_pages[prepay_id] = order.order_no
            package = int(prepay_id[-8:], 16)
            return {"h5_url": f"{self.base_url}/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={prepay_id}&package={package}"}
        return {"prepay_id": prepay_id}

    async def _query(self, out_trade_no: str, request: Request) -> Response:
        def answer(_: bytes) -> Answer:
            self._check_merchant(request.query_params.get("mchid", ""))
            return 200, self._transaction(self._order(out_trade_no))

        return await self._serve(request, answer)

    async def _close(self, out_trade_no: str, request: Request) -> Response:
        def answer(body: bytes) -> Answer:
            self._check_merchant(wire.CloseRequest.model_validate_json(body).mchid)
            order = self._order(out_trade_no)
            if order.state == "succeeded":
                raise Refusal(400, "ORDERPAID", "订单已支付")
            order.state = "closed"
            return 204, None

        return await self._serve(request, answer)

    def pay(self, order_no: str, request: PayRequest) -> SimOrder | None:
        order = self.book.get(order_no)
        if order is not None:
            _expire_if_due(order)  # a payer cannot pay after time_expire
        order = super().pay(order_no, request)
        if order is not None and order.state == "succeeded" and request.payer_id == STOLEN_PAYER and order.paid_at:
            filed_on = wire.beijing(order.paid_at).date() + timedelta(days=COMPLAINT_DELAY_DAYS)
            self.complain(order_no, "OTHERS", "非本人操作：微信账户被盗，这笔支付不是我付的", filed_on)
        return order

    def _transaction(self, order: SimOrder) -> dict:
        state = _trade_state(order)
        answer = {
            "appid": self.appid, "mchid": self.mchid, "out_trade_no": order.order_no,
            "trade_type": order.extra["trade_type"], "trade_state": state, "trade_state_desc": TRADE_STATE_DESC[state],
            "attach": "", "amount": {"total": order.amount_minor, "currency": order.currency},
        }  # fmt: skip
        if order.paid_at is not None:
            answer |= {
                "transaction_id": order.channel_txn_id, "bank_type": "OTHERS",
                "success_time": wire.beijing(order.paid_at).isoformat(), "payer": {"openid": _openid(order)},
                "amount": {
                    "total": order.amount_minor, "payer_total": order.amount_minor,
                    "currency": order.currency, "payer_currency": order.currency,
                },
            }  # fmt: skip
        return answer

    # --- refunds

    async def _refund(self, request: Request) -> Response:
        return await self._serve(request, self._create_refund)

    def _create_refund(self, body: bytes) -> Answer:
        asked = wire.CreateRefundRequest.model_validate_json(body)
        order = self.book.get(asked.out_trade_no)
        if order is None:
            raise Refusal(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        earlier = order.refunds.get(asked.out_refund_no)
        if earlier is not None:  # the same out_refund_no refunds once, however often it is sent
            if earlier.amount_minor != asked.amount.refund:
                raise Refusal(400, "INVALID_REQUEST", "同一退款单号的退款金额与之前请求不一致")
            return 200, self._refund_answer(order, earlier)
        _check_refundable(order, asked, self._refund_orders)
        refund = SimRefund(asked.out_refund_no, asked.amount.refund, channel_refund_id=self._refund_id())
        order.refunds[refund.refund_id] = refund
        self._refund_orders[refund.refund_id] = order.order_no
        self._refund_notify_urls[refund.refund_id] = asked.notify_url or order.notify_url
        asyncio.get_running_loop().call_later(REFUND_SETTLE_S, self.settle_refund, order, refund)
        return 200, self._refund_answer(order, refund)

    async def _refund_query(self, out_refund_no: str, request: Request) -> Response:
        def answer(_: bytes) -> Answer:
            order = self.book.get(self._refund_orders.get(out_refund_no, ""))
            if order is None:
                raise Refusal(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            return 200, self._refund_answer(order, order.refunds[out_refund_no])

        return await self._serve(request, answer)

    def _refund_id(self) -> str:
        return f"50300{datetime.now(wire.CST):%Y%m%d}{next(self._refund_numbers):016d}"

    def _refund_answer(self, order: SimOrder, refund: SimRefund) -> dict:
        answer = self._refund_resource(order, refund)
        answer["status"] = answer.pop("refund_status")
        created = wire.beijing(refund.created_at).isoformat()
        answer |= {"channel": "ORIGINAL", "create_time": created, "funds_account": "AVAILABLE"}
        del answer["mchid"]
        return answer

    def _refund_resource(self, order: SimOrder, refund: SimRefund) -> dict:
        """A refund as the REFUND.* notification's resource carries it."""
        resource = {
            "mchid": self.mchid, "out_trade_no": order.order_no, "transaction_id": order.channel_txn_id,
            "out_refund_no": refund.refund_id, "refund_id": refund.channel_refund_id,
            "refund_status": REFUND_STATUS[refund.state], "user_received_account": "支付用户零钱",
            "amount": {
                "total": order.amount_minor, "refund": refund.amount_minor, "payer_total": order.amount_minor,
                "payer_refund": refund.amount_minor, "currency": order.currency,
            },
        }  # fmt: skip
        if refund.settled_at is not None:
            resource["success_time"] = wire.beijing(refund.settled_at).isoformat()
        return resource

    # --- notifications

    def ack_ok(self, response) -> bool:
        return response.status_code in (200, 204)

    def notify_payment(self, order: SimOrder) -> None:
        self._notify(order.notify_url, "TRANSACTION.SUCCESS", "支付成功", "transaction", self._transaction(order))

    def notify_refund(self, order: SimOrder, refund: SimRefund) -> None:
        url = self._refund_notify_urls[refund.refund_id]
        resource = self._refund_resource(order, refund)
        self._notify(url, "REFUND.SUCCESS", "退款成功", "refund", resource)

    def _notify(self, url: str, event_type: str, summary: str, original_type: str, resource: dict) -> None:
        nonce = secrets.token_hex(6)  # AEAD nonce: 12 characters
        plaintext = json.dumps(resource, ensure_ascii=False).encode()
        ciphertext = signing.encrypt_resource(self.apiv3_key.encode(), nonce, original_type, plaintext)
        envelope = {
            "id": f"EV-{uuid.uuid4().hex[:21]}", "create_time": wire.beijing(datetime.now(timezone.utc)).isoformat(),
            "resource_type": "encrypt-resource", "event_type": event_type, "summary": summary,
            "resource": {
                "original_type": original_type, "algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext,
                "associated_data": original_type, "nonce": nonce,
            },
        }  # fmt: skip
        body = json.dumps(envelope, ensure_ascii=False).encode()

        def signed_attempt() -> tuple[dict[str, str], bytes]:
            headers = signing.wechatpay_headers(
                self._platform_key, self.public_key_id, body, int(time.time()), signing.new_nonce()
            )
            return headers | {"Content-Type": "application/json"}, body

        self.notifier.send(url, signed_attempt)

    # --- trade bill

    async def _tradebill(self, request: Request) -> Response:
        return await self._serve(request, lambda _: self._issue_bill(request.query_params))

    def _issue_bill(self, query) -> Answer:
        try:
            bill_date = date.fromisoformat(query.get("bill_date", ""))
        except ValueError:
            raise Refusal(400, "PARAM_ERROR", "bill_date 格式应为 yyyy-MM-DD") from None
        bill_type = query.get("bill_type", "ALL")
        if bill_type not in ("ALL", "SUCCESS", "REFUND") or query.get("tar_type", "GZIP") != "GZIP":
            raise Refusal(400, "PARAM_ERROR", "bill_type 或 tar_type 取值错误")
        rows = self._bill_rows(bill_date, bill_type)
        if not rows:
            raise Refusal(400, "NO_STATEMENT_EXIST", "账单文件不存在")
        raw = wire.write_bill(rows)
        token = secrets.token_urlsafe(24)
        self._bills[token] = gzip.compress(raw) if query.get("tar_type") else raw
        while len(self._bills) > BILLS_KEPT_MAX:
            del self._bills[next(iter(self._bills))]
        download_url = f"{self.base_url}/v3/billdownload/file?token={token}"
        return 200, {"hash_type": "SHA1", "hash_value": hashlib.sha1(raw).hexdigest(), "download_url": download_url}

    async def _bill_file(self, request: Request) -> Response:
        try:
            self._authenticate(request, await request.body())
        except Refusal as r:
            return self._signed(r.status, {"code": r.code, "message": r.message})
        content = self._bills.get(request.query_params.get("token", ""))
        if content is None:
            return self._signed(400, {"code": "INVALID_REQUEST", "message": "下载链接已失效"})
        return Response(content=content, media_type="application/octet-stream")  # unsigned, as the real one

    def _bill_rows(self, bill_date: date, bill_type: str) -> list[dict[str, str]]:
        """The day's rows (Beijing time), with discrepancies planted into the payment rows."""
        orders = list(self.book.orders.values())
        paid = [o for o in orders if o.state == "succeeded" and _on_day(o.paid_at, bill_date)]
        shown, self.planted[bill_date] = plant_discrepancies(paid, self.injector, self._phantom_order)
        rows = [self._payment_row(o) for o in shown] if bill_type != "REFUND" else []
        if bill_type != "SUCCESS":
            rows += [
                self._refund_row(o, r)
                for o in orders
                for r in o.refunds.values()
                if r.state == "succeeded" and _on_day(r.settled_at, bill_date)
            ]
        return rows

    def _phantom_order(self) -> SimOrder:
        return SimOrder(
            order_no=f"PH{secrets.token_hex(8)}", amount_minor=self.injector.rng.randint(100, 100_000),
            currency=wire.CURRENCY, subject="phantom", notify_url="", state="succeeded",
            channel_txn_id=self.book.next_id(), paid_at=datetime.now(timezone.utc),
            extra={"trade_type": "NATIVE"},
        )  # fmt: skip

    def _bill_row(self, order: SimOrder, at: datetime) -> dict[str, str]:
        return {
            "交易时间": wire.beijing(at).strftime(wire.BILL_TIME_FORMAT), "公众账号ID": self.appid,
            "商户号": self.mchid, "特约商户号": "0", "微信订单号": order.channel_txn_id,
            "商户订单号": order.order_no, "用户标识": _openid(order), "交易类型": order.extra["trade_type"],
            "付款银行": "OTHERS", "货币种类": order.currency, "代金券金额": "0.00", "充值券退款金额": "0.00",
            "商品名称": order.subject, "费率": FEE_RATE_TEXT,
        }  # fmt: skip

    def _payment_row(self, order: SimOrder) -> dict[str, str]:
        amount = _yuan(order.amount_minor)
        return self._bill_row(order, order.paid_at) | {
            "交易状态": "SUCCESS" if order.state == "succeeded" else "REVOKED",
            "应结订单金额": amount, "订单金额": amount, "微信退款单号": "0", "商户退款单号": "0",
            "退款金额": "0.00", "申请退款金额": "0.00", "手续费": _yuan(_fee(order.amount_minor)),
        }  # fmt: skip

    def _refund_row(self, order: SimOrder, refund: SimRefund) -> dict[str, str]:
        amount = _yuan(refund.amount_minor)
        return self._bill_row(order, refund.settled_at) | {
            "交易状态": "REFUND", "应结订单金额": "0.00", "订单金额": "0.00",
            "微信退款单号": refund.channel_refund_id, "商户退款单号": refund.refund_id, "退款金额": amount,
            "申请退款金额": amount, "退款类型": "ORIGINAL", "退款状态": "SUCCESS",
            "手续费": _yuan(-_fee(refund.amount_minor)),  # the fee on the refunded part is given back
        }  # fmt: skip

    # --- payers' complaints

    def complain(self, order_no: str, problem_type: str, description: str, filed_on: date) -> str:
        """A payer complains about a paid order; it shows in the complaint list of `filed_on`. Its id."""
        order = self.book.get(order_no)
        if order is None or order.paid_at is None or problem_type not in ("REFUND", "SERVICE_NOT_WORK", "OTHERS"):
            raise ValueError(f"no paid order {order_no!r}, or problem type {problem_type!r} unknown")
        complaint_id = f"2000{filed_on:%Y%m%d}{len(self.complaints) + 1:015d}"
        self.complaints[complaint_id] = {
            "complaint_id": complaint_id,
            "complaint_time": datetime.combine(filed_on, day_time(10), wire.CST).isoformat(),
            "complaint_detail": description, "complaint_state": "PENDING", "complainted_mchid": self.mchid,
            "complaint_order_info": [{"transaction_id": order.channel_txn_id, "out_trade_no": order.order_no,
                                      "amount": order.amount_minor}],
            "complaint_full_refunded": False, "incoming_user_response": False, "user_complaint_times": 1,
            "problem_description": description, "problem_type": problem_type,
        }  # fmt: skip
        return complaint_id

    async def _complaints(self, request: Request) -> Response:
        return await self._serve(request, lambda _: self._complaint_page(request.query_params))

    def _complaint_page(self, query) -> Answer:
        try:
            begin, end = date.fromisoformat(query["begin_date"]), date.fromisoformat(query["end_date"])
            limit, offset = int(query.get("limit", wire.COMPLAINTS_PAGE_MAX)), int(query.get("offset", 0))
        except (KeyError, ValueError):
            raise Refusal(400, "PARAM_ERROR", "begin_date、end_date 必填，格式为 YYYY-MM-DD；limit、offset 为整数") from None
        if not (1 <= limit <= wire.COMPLAINTS_PAGE_MAX and offset >= 0
                and timedelta(0) <= end - begin < timedelta(days=COMPLAINT_SPAN_DAYS_MAX)):
            raise Refusal(400, "PARAM_ERROR", "limit 取值 1-50，查询时间跨度不超过30天")
        if query.get("complainted_mchid", self.mchid) != self.mchid:
            raise Refusal(400, "PARAM_ERROR", "被诉商户号与请求商户号不匹配")
        found = [c for _, c in sorted(self.complaints.items())
                 if begin <= datetime.fromisoformat(c["complaint_time"]).date() <= end]
        return 200, {"data": found[offset:offset + limit], "limit": limit, "offset": offset, "total_count": len(found)}

    # --- the payer's side

    # --- web authorisation (snsapi_base): who the payer in the WeChat browser is

    async def _oauth_authorize(self, request: Request) -> Response:
        """WeChat knows its user; the sandbox's user is the `wx_user` cookie (or a new one)."""
        query = request.query_params
        if query.get("appid") != self.appid or query.get("scope") not in ("snsapi_base", "snsapi_userinfo"):
            return HTMLResponse("<!doctype html><p>appid 或 scope 参数错误 (10003)</p>", status_code=400)
        user = request.cookies.get("wx_user") or secrets.token_hex(8)
        code = secrets.token_urlsafe(16)
        self._oauth_codes[code] = "o" + hashlib.sha256(f"{self.appid}:{user}".encode()).hexdigest()[:27]
        while len(self._oauth_codes) > OAUTH_CODES_KEPT_MAX:
            self._oauth_codes.pop(next(iter(self._oauth_codes)))
        separator = "&" if "?" in query["redirect_uri"] else "?"
        target = f"{query['redirect_uri']}{separator}code={code}&state={quote(query.get('state', ''), safe='')}"
        response = Response(status_code=302, headers={"Location": target})
        response.set_cookie("wx_user", user)
        return response

    async def _oauth_token(self, request: Request) -> Response:
        query = request.query_params
        if query.get("appid") != self.appid or query.get("secret") != self.app_secret:
            return Response(json.dumps({"errcode": 40125, "errmsg": "invalid appsecret"}), media_type="application/json")
        openid = self._oauth_codes.pop(query.get("code", ""), None)  # a code works once, as at WeChat
        if openid is None or query.get("grant_type") != "authorization_code":
            return Response(json.dumps({"errcode": 40029, "errmsg": "invalid code"}), media_type="application/json")
        answer = {"access_token": secrets.token_urlsafe(24), "expires_in": 7200, "refresh_token": secrets.token_urlsafe(24),
                  "openid": openid, "scope": "snsapi_base", "is_snapshotuser": 0}
        return Response(json.dumps(answer), media_type="application/json")

    async def _qr_page(self, token: str) -> HTMLResponse:
        return self._pay_page(self._pay_pages.get(token))

    async def _h5_page(self, prepay_id: str) -> HTMLResponse:
        return self._pay_page(self._pay_pages.get(prepay_id))

    def _pay_page(self, order_no: str | None) -> HTMLResponse:
        order = self.book.get(order_no or "")
        if order is None:
            return HTMLResponse("<!doctype html><p>二维码已失效</p>", status_code=404)
        return HTMLResponse(
            f"""<!doctype html><meta charset="utf-8"><title>微信支付 sandbox</title>
<h1>{html.escape(order.subject)}</h1><p>¥{_yuan(order.amount_minor)}</p>
<form method="post" action="/sandbox/pay/{html.escape(order.order_no)}"><button>确认支付</button></form>"""
        )


def _apiv3_key(key_dir: Path) -> str:
    """The merchant's APIv3 key (32 ASCII bytes), created once beside the RSA keys."""
    path = key_dir / "wechatpay_apiv3_key.txt"
    if not path.exists():
        path.write_text(secrets.token_hex(16))
    return path.read_text().strip()


def _prepay_id() -> str:
    return f"wx{datetime.now(wire.CST):%Y%m%d%H%M%S}{secrets.token_hex(10)}"


def _openid(order: SimOrder) -> str:
    """A JSAPI payer is known by the openid of the order; a scanning payer only once paid."""
    return order.extra.get("openid") or order.payer_id


def _trade_state(order: SimOrder) -> str:
    if order.state == "succeeded":
        return "REFUND" if order.refunds else "SUCCESS"
    return {"pending": "NOTPAY", "closed": "CLOSED", "failed": "PAYERROR"}[order.state]


def _expire_if_due(order: SimOrder) -> None:
    expires_at = order.extra.get("time_expire")
    if order.state == "pending" and expires_at is not None and datetime.now(timezone.utc) > expires_at:
        order.state = "closed"


def _check_refundable(order: SimOrder, asked: wire.CreateRefundRequest, refund_orders: dict[str, str]) -> None:
    if asked.out_refund_no in refund_orders:
        raise Refusal(400, "INVALID_REQUEST", "商户退款单号已用于其他订单")
    if order.state != "succeeded":
        raise Refusal(400, "INVALID_REQUEST", "订单未支付，不能退款")
    if asked.amount.total != order.amount_minor:
        raise Refusal(400, "INVALID_REQUEST", "订单金额与原订单金额不一致")
    if asked.amount.refund > order.amount_minor - order.refunded_minor:
        raise Refusal(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")


def _fee(amount_minor: int) -> int:
    return (amount_minor * FEE_PER_MILLE + 500) // 1000  # rounded half up to the fen


def _yuan(amount_minor: int) -> str:
    return Money(amount_minor, wire.CURRENCY).decimal_text()


def _on_day(moment: datetime | None, day: date) -> bool:
    return moment is not None and moment.astimezone(wire.CST).date() == day


def _param_error(error: ValidationError) -> dict:
    first = error.errors()[0]
    field = "/".join(str(part) for part in first["loc"])
    return {
        "code": "PARAM_ERROR",
        "message": f"输入源“/body/{field}”映射到值字段校验失败: {first['msg']}",
        "detail": {"location": "body", "field": f"/{field}", "issue": first["msg"]},
    }
