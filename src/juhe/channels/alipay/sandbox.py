"""Alipay's side of the OpenAPI on localhost: the gateway, the cashier pages, notifications, bills.

The gateway (`/gateway.do`, GET or POST, parameters in the query string and/or the form body)
checks the common parameters and the app's RSA2 signature the way Alipay does, answers signed
JSON, and books trades in `self.book`. Departures from Alipay, for testability: a precreated
trade exists at once (Alipay books it when the payer scans), and today's bill can be fetched
(Alipay serves T+1). Payment-line discrepancies planted in a bill are kept in `planted[date]`.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import secrets
import time
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from string import Template
from typing import Callable
from urllib.parse import parse_qsl, urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from juhe.channels.alipay import signing, wire
from juhe.channels.alipay.adapter import AlipayConfig
from juhe.channels.base import Scenario
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
from juhe.money import Money

SERVICE_FEE_BPS = 60  # 0.6 %, Alipay's standard rate for face-to-face and web payments
# 花呗分期 rates a seller pays per period when it bears the fee: 1.8 %, 4.5 %, 7.5 % of the term
HB_FQ_SELLER_RATE_PER_PERIOD = {3: Decimal("0.006"), 6: Decimal("0.0075"), 12: Decimal("0.00625")}
MAX_TOTAL_MINOR = 100_000_000_00  # total_amount ≤ 100,000,000.00 yuan
BILL_LINK_TTL_S = 30  # Alipay's bill links expire 30 s after they are issued
OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_]{1,64}")
PAGE_METHODS = {method for scenario, (method, _) in wire.PAY_METHODS.items() if scenario != Scenario.QR}
GATEWAY_MSG = {"40001": "Missing Required Arguments", "40002": "Invalid Arguments", "40004": "Business Failed"}
BUYER_ID = "2088102177846880"

CASHIER_PAGE = Template("""<!doctype html>
<html><head><meta charset="utf-8"><title>支付宝沙箱收银台</title></head>
<body><h1>$subject</h1><p>¥$amount · $order_no</p>
<button onclick="pay('success')">确认付款</button> <button onclick="pay('decline')">拒绝</button>
<p id="result"></p>
<script>
function pay(outcome) {
  fetch('/sandbox/pay/$order_no', {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({outcome: outcome})})
    .then(r => r.json()).then(j => { document.getElementById('result').textContent = j.state; });
}
</script></body></html>""")


@dataclass(frozen=True)
class GatewayError:
    code: str
    sub_code: str
    sub_msg: str
    signed: bool = True  # Alipay cannot sign for an app it does not know

    def answer(self) -> dict:
        return {"code": self.code, "msg": GATEWAY_MSG[self.code], "sub_code": self.sub_code, "sub_msg": self.sub_msg}


def _ok(**fields: str) -> dict:
    return {"code": wire.SUCCESS, "msg": "Success", **fields}


def _failed(sub_code: str, sub_msg: str) -> dict:
    return GatewayError(wire.BUSINESS_FAILED, sub_code, sub_msg).answer()


def _yuan(amount_minor: int) -> str:
    return Money(amount_minor, wire.CURRENCY).decimal_text()


def _amount_minor(value: object) -> int | None:
    """A positive yuan amount with at most two decimals, as text or JSON number; else None."""
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    if not wire.AMOUNT_TEXT.fullmatch(text):
        return None
    minor = Money.parse(text, wire.CURRENCY).amount_minor
    return minor if minor > 0 else None


def service_fee_minor(amount_minor: int) -> int:
    return (amount_minor * SERVICE_FEE_BPS + 5_000) // 10_000  # rounded half up to the fen


def installment_fee_minor(order: SimOrder, amount_minor: int) -> int:
    """The 花呗分期 fee the seller bears on `amount_minor` of the order (0 when the payer bears it)."""
    periods, seller_percent = order.extra.get("hb_fq", (0, "0"))
    if seller_percent != "100":
        return 0
    exact = Fraction(amount_minor) * Fraction(HB_FQ_SELLER_RATE_PER_PERIOD[periods]) * periods
    return (exact.numerator * 2 + exact.denominator) // (2 * exact.denominator)  # half up to the fen


def _installments(biz: dict) -> tuple[int, str] | dict | None:
    """extend_params' 花呗分期 terms, None without them, or a failed answer."""
    extend = biz.get("extend_params") or {}
    if not isinstance(extend, dict) or not ({wire.HB_FQ_NUM, wire.HB_FQ_SELLER_PERCENT} & set(extend)):
        return None
    periods, seller = str(extend.get(wire.HB_FQ_NUM, "")), str(extend.get(wire.HB_FQ_SELLER_PERCENT, ""))
    if not periods.isdigit() or int(periods) not in wire.HB_FQ_PERIODS:
        return _failed("ACQ.INVALID_PARAMETER", f"参数无效：hb_fq_num 只支持 {sorted(wire.HB_FQ_PERIODS)}")
    if seller not in wire.HB_FQ_SELLER_PERCENTS:
        return _failed("ACQ.INVALID_PARAMETER", "参数无效：hb_fq_seller_percent 只支持 0 或 100")
    return int(periods), seller


def trade_status(order: SimOrder) -> str:
    if order.state == "pending":
        return "WAIT_BUYER_PAY"
    if order.state == "succeeded" and order.refunded_minor < order.amount_minor:
        return "TRADE_SUCCESS"
    return "TRADE_CLOSED"  # closed, declined by risk control, or refunded in full


def _beijing_date(moment: datetime) -> date:
    return moment.astimezone(wire.BEIJING).date()


def _business_date(order: SimOrder) -> date:
    return _beijing_date(order.paid_at or order.created_at)


class AlipaySandbox(Simulator):
    txn_prefix = ""  # Alipay trade numbers are all digits, date first
    retry_schedule_s = [240, 600, 600, 3600, 7200, 21600, 54000]  # 4m 10m 10m 1h 2h 6h 15h

    def __init__(self, key_dir: Path, base_url: str, faults: Faults | None = None):
        super().__init__(faults)
        self.base_url = base_url.rstrip("/")
        self.gateway_url = f"{self.base_url}/gateway.do"
        self.app_id = "9021000100000001"
        self.seller_id = "2088100000000001"  # the merchant's PID: its account in bills
        self.alipay_private_key_file, self.alipay_public_key_file = write_rsa_keypair(key_dir, "alipay")
        self.app_private_key_file, self.app_public_key_file = write_rsa_keypair(key_dir, "app")
        self._alipay_key = signing.load_private_key(self.alipay_private_key_file)
        self._app_public_key = signing.load_public_key(self.app_public_key_file)
        self.planted: dict[date, list[PlantedDiscrepancy]] = {}
        self._qr_tokens: dict[str, str] = {}
        self._bill_links: dict[str, tuple[date, float]] = {}
        self._handlers: dict[str, Callable[[dict, dict], dict]] = {
            "alipay.trade.precreate": self._precreate,
            wire.TRADE_QUERY: self._query,
            wire.TRADE_CLOSE: self._close,
            wire.TRADE_REFUND: self._refund,
            wire.REFUND_QUERY: self._refund_query,
            wire.BILL_URL_QUERY: self._bill_url,
            wire.TRADE_PAY: self._withhold,
        }
        self.agreements: dict[str, str] = {}  # agreement_no → NORMAL | STOP (the payer's 代扣 agreements)
        self.app = self._build_app()

    def client_config(self) -> dict:
        return {
            "base_url": self.gateway_url,
            "app_id": self.app_id,
            "seller_id": self.seller_id,
            "app_private_key_file": str(self.app_private_key_file),
            "channel_public_key_file": str(self.alipay_public_key_file),
        }

    def adapter_config(self) -> AlipayConfig:
        return AlipayConfig(
            base_url=self.gateway_url,
            app_id=self.app_id,
            app_private_key_file=self.app_private_key_file,
            alipay_public_key_file=self.alipay_public_key_file,
        )

    def ack_ok(self, response: httpx.Response) -> bool:
        return response.status_code == 200 and response.text.strip() == wire.NOTIFY_ACK.decode()

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Alipay sandbox")

        @app.api_route("/gateway.do", methods=["GET", "POST"])
        async def gateway(request: Request) -> Response:
            params = _merged_params(request.query_params, await request.body())
            return await self._faulty(lambda: self._gateway(params))

        @app.get("/downloadBillFile.resource")
        async def download_bill(fileId: str = "") -> Response:
            return await self._faulty(lambda: self._bill_file(fileId))

        @app.get("/qr/{token}")
        async def scan(token: str) -> Response:
            order = self.book.get(self._qr_tokens.get(token, ""))
            if order is None:
                return PlainTextResponse("二维码已失效", status_code=404)
            return self._cashier(order)

        @app.post("/sandbox/agreements")
        async def sign_agreement() -> dict:
            """What alipay.user.agreement.page.sign ends with once the payer signed on their phone."""
            agreement_no = f"2026{secrets.randbelow(10**16):016d}"
            self.agreements[agreement_no] = "NORMAL"
            return {"agreement_no": agreement_no, "status": "NORMAL"}

        @app.post("/sandbox/agreements/{agreement_no}/unsign")
        async def unsign_agreement(agreement_no: str) -> dict:
            """The payer ends the agreement in their wallet (我的 → 设置 → 支付设置 → 免密支付/自动扣款)."""
            if agreement_no not in self.agreements:
                return PlainTextResponse("no such agreement", status_code=404)
            self.agreements[agreement_no] = "STOP"
            return {"agreement_no": agreement_no, "status": "STOP"}

        app.include_router(self.control_router())
        return app

    async def _faulty(self, handle: Callable[[], Response]) -> Response:
        await self.injector.delay()
        if self.injector.should_fail_5xx():
            return PlainTextResponse("Service Unavailable", status_code=503)
        response = handle()
        if self.injector.should_time_out():
            await self.injector.hang()
        return response

    def _gateway(self, params: dict[str, str] | None) -> Response:
        if params is None:
            return self._answer("error_response", GatewayError("40002", "isv.invalid-charset", "字符集错误").answer())
        method = params.get("method", "")
        key = wire.response_key(method) if method in self._handlers or method in PAGE_METHODS else "error_response"
        error = self._check_common(params)
        biz = None if error else _biz_content(params)
        if biz is None and error is None:
            error = GatewayError("40002", "isv.invalid-parameter", "biz_content 不是 JSON 对象")
        if method in PAGE_METHODS:
            return self._error_page(error) if error else self._open_page_order(params, biz)
        if error:
            return self._answer(key, error.answer(), signed=error.signed)
        return self._answer(key, self._handlers[method](params, biz))

    def _check_common(self, params: dict[str, str]) -> GatewayError | None:
        if not params.get("app_id"):
            return GatewayError("40001", "isv.missing-app-id", "缺少AppID参数", signed=False)
        if params["app_id"] != self.app_id:
            return GatewayError("40002", "isv.invalid-app-id", "无效的AppID参数", signed=False)
        method = params.get("method")
        if not method:
            return GatewayError("40001", "isv.missing-method", "缺少方法名参数")
        if method not in self._handlers and method not in PAGE_METHODS:
            return GatewayError("40002", "isv.invalid-method", "不存在的方法名")
        if not params.get("sign"):
            return GatewayError("40001", "isv.missing-signature", "缺少签名参数")
        if params.get("sign_type") != "RSA2":
            return GatewayError("40002", "isv.invalid-signature-type", "无效的签名类型")
        if not _is_timestamp(params.get("timestamp", "")):
            return GatewayError("40002", "isv.invalid-timestamp", "非法的时间戳参数")
        content = signing.signed_content(params)
        if not signing.verify(content, params["sign"], self._app_public_key):
            return GatewayError(
                "40002",
                "isv.invalid-signature",
                f"验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}",
            )
        return None

    def _answer(self, key: str, content: dict, signed: bool = True) -> Response:
        # Alipay escapes "/" as "\/" and signs the object exactly as sent, escapes included.
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")
        body = f'{{"{key}":{text}'
        if signed:
            body += ',"sign":' + json.dumps(signing.sign(text, self._alipay_key)).replace("/", "\\/")
        return Response(body + "}", media_type="application/json;charset=utf-8")

    def _book_trade(self, params: dict, biz: dict) -> SimOrder | dict:
        """The trade for biz's out_trade_no, new or already open; or a failed answer."""
        out_trade_no, subject = biz.get("out_trade_no"), biz.get("subject")
        if not isinstance(out_trade_no, str) or not OUT_TRADE_NO.fullmatch(out_trade_no) or not subject:
            return _failed("ACQ.INVALID_PARAMETER", "参数无效：out_trade_no 或 subject")
        amount_minor = _amount_minor(biz.get("total_amount"))
        if amount_minor is None:
            return _failed("ACQ.INVALID_PARAMETER", "参数无效：订单总金额格式错误")
        if amount_minor > MAX_TOTAL_MINOR:
            return _failed("ACQ.TOTAL_FEE_EXCEED", "订单金额超过限额")
        try:
            expires = wire.parse_beijing_time(biz["time_expire"]) if biz.get("time_expire") else None
        except ValueError:
            return _failed("ACQ.INVALID_PARAMETER", "参数无效：time_expire")
        installments = _installments(biz)
        if isinstance(installments, dict):
            return installments
        existing = self.book.get(out_trade_no)
        if existing is not None:
            return self._reopened(existing, amount_minor)
        order = SimOrder(out_trade_no, amount_minor, wire.CURRENCY, str(subject), params.get("notify_url", ""))
        order.extra.update(method=params["method"], time_expire=expires)
        if installments is not None:
            order.extra["hb_fq"] = installments
        return self.order_created(order)

    def _reopened(self, order: SimOrder, amount_minor: int) -> SimOrder | dict:
        self._expire_if_due(order)
        if order.amount_minor != amount_minor:
            return _failed("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
        if order.state == "succeeded":
            return _failed("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
        if order.state != "pending":
            return _failed("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        return order

    def _expire_if_due(self, order: SimOrder) -> None:
        expires = order.extra.get("time_expire")
        if order.state == "pending" and expires is not None and datetime.now(timezone.utc) >= expires:
            order.state = "closed"

    def pay(self, order_no: str, request: PayRequest) -> SimOrder | None:
        order = self.book.get(order_no)
        if order is not None:
            self._expire_if_due(order)
        return super().pay(order_no, request)

    def _withhold(self, params: dict, biz: dict) -> dict:
        """alipay.trade.pay with product GENERAL_WITHHOLDING: charged on the agreement at once."""
        if biz.get("product_code") != wire.WITHHOLDING:
            return _failed("ACQ.INVALID_PARAMETER", "参数无效：product_code")
        agreement_no = (biz.get("agreement_params") or {}).get("agreement_no")
        status = self.agreements.get(agreement_no or "")
        if status is None:
            return _failed("ACQ.AGREEMENT_NOT_EXIST", "用户协议不存在")
        if status != "NORMAL":
            return _failed("ACQ.AGREEMENT_STATUS_NOT_NORMAL", "用户协议状态非NORMAL")
        order = self._book_trade(params, biz)
        if isinstance(order, dict):
            return order
        self.pay(order.order_no, PayRequest(payer_id=f"agreement:{agreement_no}"))
        if order.state != "succeeded":
            return _failed("ACQ.PAYMENT_FAIL", "支付失败")
        return _ok(trade_no=order.channel_txn_id, out_trade_no=order.order_no, total_amount=_yuan(order.amount_minor),
                   gmt_payment=wire.beijing_time(order.paid_at))

    def _precreate(self, params: dict, biz: dict) -> dict:
        order = self._book_trade(params, biz)
        if isinstance(order, dict):
            return order
        token = secrets.token_urlsafe(12)
        self._qr_tokens[token] = order.order_no
        return _ok(out_trade_no=order.order_no, qr_code=f"{self.base_url}/qr/{token}")

    def _open_page_order(self, params: dict, biz: dict) -> Response:
        """The payer's browser (page, wap) or wallet app (app) brings the signed order to us."""
        order = self._book_trade(params, biz)
        if isinstance(order, dict):
            return self._error_page(GatewayError(order["code"], order["sub_code"], order["sub_msg"]))
        return self._cashier(order)

    def _cashier(self, order: SimOrder) -> HTMLResponse:
        page = CASHIER_PAGE.substitute(
            subject=html.escape(order.subject), amount=_yuan(order.amount_minor), order_no=order.order_no
        )
        return HTMLResponse(page)

    def _error_page(self, error: GatewayError) -> HTMLResponse:
        text = f"错误代码 {error.sub_code} 错误原因: {error.sub_msg}"
        return HTMLResponse(f"<!doctype html><meta charset='utf-8'><p>{html.escape(text)}</p>")

    def _find(self, biz: dict) -> SimOrder | None:
        order = self.book.get(str(biz.get("out_trade_no", "")))
        if order is None and biz.get("trade_no"):
            order = next((o for o in self.book.orders.values() if o.channel_txn_id == biz["trade_no"]), None)
        if order is not None:
            self._expire_if_due(order)
        return order

    def _query(self, params: dict, biz: dict) -> dict:
        order = self._find(biz)
        if order is None:
            return _failed(wire.TRADE_NOT_EXIST, "交易不存在")
        answer = _ok(
            trade_no=order.channel_txn_id,
            out_trade_no=order.order_no,
            trade_status=trade_status(order),
            total_amount=_yuan(order.amount_minor),
        )
        if order.state == "succeeded":
            paid = _yuan(order.amount_minor)
            answer |= {"buyer_logon_id": order.payer_id, "buyer_user_id": BUYER_ID, "buyer_pay_amount": paid}
            answer |= {"receipt_amount": paid, "send_pay_date": wire.beijing_time(order.paid_at)}
        return answer

    def _close(self, params: dict, biz: dict) -> dict:
        order = self._find(biz)
        if order is None:
            return _failed(wire.TRADE_NOT_EXIST, "交易不存在")
        if order.state == "succeeded":
            return _failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        order.state = "closed" if order.state == "pending" else order.state
        return _ok(trade_no=order.channel_txn_id, out_trade_no=order.order_no)

    def _refund(self, params: dict, biz: dict) -> dict:
        order = self._find(biz)
        if order is None:
            return _failed(wire.TRADE_NOT_EXIST, "交易不存在")
        amount_minor = _amount_minor(biz.get("refund_amount"))
        if amount_minor is None:
            return _failed("ACQ.INVALID_PARAMETER", "参数无效：退款金额格式错误")
        # Without out_request_no Alipay keys the (then necessarily full) refund by out_trade_no.
        request_no = str(biz.get("out_request_no") or order.order_no)
        if request_no in order.refunds:
            return self._refund_answer(order, fund_change="N")
        if trade_status(order) != "TRADE_SUCCESS":
            return _failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if amount_minor > order.amount_minor - order.refunded_minor:
            return _failed("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        refund = SimRefund(request_no, amount_minor, channel_refund_id=order.channel_txn_id)
        order.refunds[request_no] = refund
        self.settle_refund(order, refund)  # Alipay refunds synchronously: the money moves in this call
        return self._refund_answer(order, fund_change="Y")

    def _refund_answer(self, order: SimOrder, fund_change: str) -> dict:
        return _ok(
            trade_no=order.channel_txn_id,
            out_trade_no=order.order_no,
            buyer_logon_id=order.payer_id,
            buyer_user_id=BUYER_ID,
            fund_change=fund_change,
            refund_fee=_yuan(order.refunded_minor),
            gmt_refund_pay=wire.beijing_time(datetime.now(timezone.utc)),
        )

    def _refund_query(self, params: dict, biz: dict) -> dict:
        order = self._find(biz)
        if order is None:
            return _failed(wire.TRADE_NOT_EXIST, "交易不存在")
        refund = order.refunds.get(str(biz.get("out_request_no") or order.order_no))
        if refund is None or refund.state != "succeeded":
            return _ok()  # Alipay's way of saying "no such refund was made"
        return _ok(
            trade_no=order.channel_txn_id,
            out_trade_no=order.order_no,
            out_request_no=refund.refund_id,
            total_amount=_yuan(order.amount_minor),
            refund_amount=_yuan(refund.amount_minor),
            refund_status="REFUND_SUCCESS",
            gmt_refund_pay=wire.beijing_time(refund.settled_at),
        )

    def notify_payment(self, order: SimOrder) -> None:
        self._notify(order, self._notification_fields(order))

    def notify_refund(self, order: SimOrder, refund: SimRefund) -> None:
        fields = self._notification_fields(order)
        fields |= {
            "out_biz_no": refund.refund_id,
            "refund_fee": _yuan(order.refunded_minor),  # the trade's refunded total, as Alipay sends it
            "gmt_refund": refund.settled_at.astimezone(wire.BEIJING).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        }
        if fields["trade_status"] == "TRADE_CLOSED":
            fields["gmt_close"] = wire.beijing_time(refund.settled_at)
        self._notify(order, fields)

    def _notification_fields(self, order: SimOrder) -> dict[str, str]:
        # Taken when the event happens: retries repeat this state even if the trade moves on.
        amount = _yuan(order.amount_minor)
        return {
            "notify_type": "trade_status_sync",
            "app_id": self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "trade_no": order.channel_txn_id,
            "out_trade_no": order.order_no,
            "buyer_id": BUYER_ID,
            "buyer_logon_id": order.payer_id,
            "seller_id": self.seller_id,
            "trade_status": trade_status(order),
            "total_amount": amount,
            "receipt_amount": amount,
            "invoice_amount": amount,
            "buyer_pay_amount": amount,
            "subject": order.subject,
            "gmt_create": wire.beijing_time(order.created_at),
            "gmt_payment": wire.beijing_time(order.paid_at),
            "fund_bill_list": json.dumps([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")),
        }

    def _notify(self, order: SimOrder, fields: dict[str, str]) -> None:
        if not order.notify_url:
            return

        def build() -> tuple[dict[str, str], bytes]:
            params = {**fields, "notify_time": wire.beijing_time(datetime.now(timezone.utc))}
            params["notify_id"] = secrets.token_hex(16)
            params["sign"] = signing.sign(signing.signed_content(params, signing.NOTIFY_UNSIGNED), self._alipay_key)
            return {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}, urlencode(params).encode()

        self.notifier.send(order.notify_url, build)

    def _bill_url(self, params: dict, biz: dict) -> dict:
        if biz.get("bill_type") != "trade":
            return _failed("isp.bill_type_not_support", "不支持的账单类型")
        try:
            bill_date = date.fromisoformat(str(biz.get("bill_date")))
        except ValueError:
            return _failed("isv.invalid-bill-date", "账单日期格式不正确")
        if bill_date > datetime.now(wire.BEIJING).date():
            return _failed("isp.bill_not_exist", "账单不存在")
        now = time.monotonic()
        self._bill_links = {t: link for t, link in self._bill_links.items() if link[1] > now}  # drop expired
        token = secrets.token_hex(16)
        self._bill_links[token] = (bill_date, now + BILL_LINK_TTL_S)
        zip_name = wire.bill_file_names(self.seller_id, bill_date)[0]
        query = urlencode(
            {"bizType": "trade", "userId": self.seller_id, "fileType": "csv.zip", "bizDates": f"{bill_date:%Y%m%d}",
             "downloadFileName": zip_name, "fileId": token}
        )  # fmt: skip
        return _ok(bill_download_url=f"{self.base_url}/downloadBillFile.resource?{query}")

    def _bill_file(self, token: str) -> Response:
        bill_date, expires = self._bill_links.get(token, (None, 0.0))
        if bill_date is None or time.monotonic() > expires:
            return PlainTextResponse("文件不存在或已过期", status_code=404)
        zip_name = wire.bill_file_names(self.seller_id, bill_date)[0]
        headers = {"content-disposition": f"attachment; filename={zip_name}"}
        return Response(self.bill_zip(bill_date), media_type="application/zip", headers=headers)

    def bill_zip(self, bill_date: date) -> bytes:
        """The day's trade bill as Alipay zips it; plants discrepancies when the faults ask for them."""
        day = {o.order_no: o for o in self.book.orders.values() if _business_date(o) == bill_date}
        orders, planted = plant_discrepancies(list(day.values()), self.injector, lambda: self._phantom(bill_date))
        # Only paid trades are billed: a pending trade flipped to paid is the lost-notification
        # case, but an altered amount of an unpaid one shows nowhere and is no discrepancy.
        self.planted[bill_date] = [
            p for p in planted if p.kind in ("status", "phantom") or day[p.order_no].state == "succeeded"
        ]
        rows = [_trade_row(o) for o in orders if o.state == "succeeded"]
        rows += [
            _refund_row(o, r)
            for o in self.book.orders.values()
            for r in o.refunds.values()
            if r.state == "succeeded" and _beijing_date(r.settled_at) == bill_date
        ]
        _, detail_name, summary_name = wire.bill_file_names(self.seller_id, bill_date)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(detail_name, _bill_detail(self.seller_id, bill_date, rows))
            archive.writestr(summary_name, _bill_summary(self.seller_id, bill_date, rows))
        return buffer.getvalue()

    def _phantom(self, bill_date: date) -> SimOrder:
        at = datetime.combine(bill_date, datetime.min.time(), wire.BEIJING).replace(hour=12)
        amount_minor = self.injector.rng.randint(100, 100_000)
        order = SimOrder(f"PHANTOM{secrets.token_hex(6)}", amount_minor, wire.CURRENCY, "沙箱幽灵交易", "")
        order.state, order.created_at, order.paid_at = "succeeded", at, at
        order.channel_txn_id, order.payer_id = self.book.next_id(), "pha***@sandbox.com"
        return order


def _merged_params(query: object, body: bytes) -> dict[str, str] | None:
    """Query string and form body together, as the gateway reads them; None if not UTF-8."""
    try:
        form = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None
    return {**dict(query.items()), **dict(form)}


def _biz_content(params: dict[str, str]) -> dict | None:
    try:
        # Amounts stay text: a JSON number must not pass through float on its way to fen.
        biz = json.loads(params.get("biz_content") or "{}", parse_float=str)
    except ValueError:
        return None
    return biz if isinstance(biz, dict) else None


def _is_timestamp(text: str) -> bool:
    # Alipay also rejects clocks far off; the sandbox checks the form only, so callers in any
    # host time zone (the Python SDK stamps local time) get through.
    try:
        datetime.strptime(text, wire.TIME_FORMAT)
    except ValueError:
        return False
    return True


def _trade_row(order: SimOrder) -> list[str]:
    amount = _yuan(order.amount_minor)
    created, paid = wire.beijing_time(order.created_at), wire.beijing_time(order.paid_at or order.created_at)
    fee = _yuan(-service_fee_minor(order.amount_minor) - installment_fee_minor(order, order.amount_minor))
    return _bill_row(order, wire.BILL_TRADE, created, paid, amount, "", fee)


def _refund_row(order: SimOrder, refund: SimRefund) -> list[str]:
    created, settled = wire.beijing_time(refund.created_at), wire.beijing_time(refund.settled_at)
    amount = _yuan(-refund.amount_minor)
    fee_back = _yuan(service_fee_minor(refund.amount_minor) + installment_fee_minor(order, refund.amount_minor))
    return _bill_row(order, wire.BILL_REFUND, created, settled, amount, refund.refund_id, fee_back)


def _bill_row(order: SimOrder, kind: str, created: str, done: str, amount: str, request_no: str, fee: str) -> list[str]:
    # Alipay pads ids with a tab so that spreadsheets keep them as text.
    zero = "0.00"
    return [
        f"{order.channel_txn_id}\t", f"{order.order_no}\t", kind, order.subject, created, done, "", "", "", "",
        order.payer_id, amount, amount, zero, zero, zero, zero, zero, "", zero, zero, request_no, fee, zero, "",
    ]  # fmt: skip


def _bill_detail(account: str, bill_date: date, rows: list[list[str]]) -> bytes:
    trades = sum(1 for r in rows if r[2] == wire.BILL_TRADE)
    # An Alipay account number is the PID followed by 0156.
    head = [
        wire.BILL_DETAIL_TITLE,
        f"#账号：[{account}0156]",
        f"#起始日期：[{bill_date:%Y年%m月%d日} 00:00:00]   终止日期：[{bill_date:%Y年%m月%d日} 23:59:59]",
        "#-----------------------------------------业务明细列表----------------------------------------",
    ]
    tail = [
        "#-----------------------------------------业务明细列表结束------------------------------------",
        f"#交易合计：{trades}笔，退款合计：{len(rows) - trades}笔",
        f"#导出时间：[{datetime.now(wire.BEIJING):%Y年%m月%d日 %H:%M:%S}]",
    ]
    return _gbk_csv(head, [list(wire.BILL_COLUMNS), *rows], tail)


def _bill_summary(account: str, bill_date: date, rows: list[list[str]]) -> bytes:
    trades = sum(1 for r in rows if r[2] == wire.BILL_TRADE)
    total, fees = sum(_minor(r[11]) for r in rows), sum(_minor(r[22]) for r in rows)
    head = ["#支付宝业务汇总查询", f"#账号：[{account}0156]", f"#起始日期：[{bill_date:%Y年%m月%d日} 00:00:00]"]
    columns = ["门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）", "商家实收（元）", "服务费（元）", "实收净额（元）"]
    counts = [str(trades), str(len(rows) - trades)]
    totals = ["合计", "", *counts, _yuan(total), _yuan(total), _yuan(fees), _yuan(total + fees)]
    return _gbk_csv(head, [columns, totals], [f"#导出时间：[{datetime.now(wire.BEIJING):%Y年%m月%d日 %H:%M:%S}]"])


def _minor(yuan_text: str) -> int:
    return Money.parse(yuan_text, wire.CURRENCY).amount_minor


def _gbk_csv(head: list[str], table: list[list[str]], tail: list[str]) -> bytes:
    out = io.StringIO()
    out.write("\r\n".join(head) + "\r\n")
    csv.writer(out, lineterminator="\r\n").writerows(table)
    out.write("\r\n".join(tail) + "\r\n")
    return out.getvalue().encode(wire.BILL_ENCODING, errors="replace")
