"""A UnionPay online gateway (全渠道 5.1.0) on localhost: the gateway's endpoints, its certificate
chain, signed answers and notifications, settlement files, and faults.

The sandbox is its own small CA: root → middle → UnionPay signing certificate (CN names
中国银联股份有限公司 as the real one does), and a merchant signing certificate in a PKCS#12
file, whose serial number is the certId it accepts.

Orders: an unpaid order is unknown to queries (34) and lapses at its payTimeout; refunds
settle at once and notify their own backUrl; the settlement file lists the day's successful
consumptions and refunds (Beijing dates) in a simplified pipe-separated layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl, urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

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
from juhe.channels.unionpay import signing, wire
from juhe.channels.unionpay.adapter import UnionPayConfig
from juhe.money import Money

PFX_PASSWORD = "000000"  # what UnionPay's test certificates use
SANDBOX_MER_ID = "777290058110048"  # UnionPay's public test merchant
SIGNER_CN = f"041@Z00000000000@{signing.UNIONPAY_ORG}@00000001"
CERT_VALID_DAYS = 3650
CERT_BACKDATED_DAYS = 400  # valid from over a year ago: `juhe simulate` plays past days against this chain
FEE_RATE = Decimal("0.006")
OK_MSG = "成功[0000000]"
ECHOED = ("version", "encoding", "signMethod", "txnType", "txnSubType", "bizType", "accessType", "merId", "orderId",
          "txnTime", "reqReserved")  # fmt: skip
HEADER_FIELDS = ("txnType", "txnSubType", "bizType", "accessType", "txnTime")
FORM_HEADERS = {"content-type": "application/x-www-form-urlencoded; charset=UTF-8"}

Reply = dict[str, str]
Handler = Callable[[dict[str, str]], "Reply | Response"]


@dataclass(frozen=True)
class SandboxPki:
    root_file: Path
    middle_file: Path
    signer_pem: str  # sent in every answer as signPubKeyCert
    signer_key: rsa.RSAPrivateKey
    signer_public_key_file: Path
    merchant_pfx_file: Path
    merchant_private_key_file: Path
    merchant_cert_id: str
    merchant_public_key: rsa.RSAPublicKey


@dataclass(frozen=True)
class RefundEntry:
    order_no: str
    txn_time: str
    back_url: str
    req_reserved: str
    biz_type: str


def issue_pki(key_dir: Path) -> SandboxPki:
    """Create (once) the sandbox's certificate chain and the merchant's signing certificate."""
    root_key, _, _ = _keypair(key_dir, "unionpay_root")
    middle_key, _, _ = _keypair(key_dir, "unionpay_middle")
    signer_key, _, signer_public = _keypair(key_dir, "unionpay_sign")
    merchant_key, merchant_private, _ = _keypair(key_dir, "merchant_sign")
    root = _cert_file(key_dir / "unionpay_root.cer", lambda: _issue("CFCA TEST ROOT", root_key, None, root_key, True))
    middle = _cert_file(
        key_dir / "unionpay_middle.cer", lambda: _issue("CFCA TEST OCA1", middle_key, root, root_key, True)
    )
    signer = _cert_file(key_dir / "unionpay_sign.cer", lambda: _issue(SIGNER_CN, signer_key, middle, middle_key, False))
    pfx_file = key_dir / "merchant_sign.pfx"
    if not pfx_file.exists():
        cert = _issue(f"041@Z{SANDBOX_MER_ID}@sandbox merchant@00000001", merchant_key, middle, middle_key, False)
        encryption = serialization.BestAvailableEncryption(PFX_PASSWORD.encode())
        pfx_file.write_bytes(pkcs12.serialize_key_and_certificates(b"sign", merchant_key, cert, None, encryption))
    merchant = signing.load_signing_cert(pfx_file, PFX_PASSWORD)
    return SandboxPki(
        root_file=key_dir / "unionpay_root.cer", middle_file=key_dir / "unionpay_middle.cer",
        signer_pem=signer.public_bytes(serialization.Encoding.PEM).decode("ascii"), signer_key=signer_key,
        signer_public_key_file=signer_public, merchant_pfx_file=pfx_file, merchant_private_key_file=merchant_private,
        merchant_cert_id=merchant.cert_id, merchant_public_key=merchant.private_key.public_key(),
    )  # fmt: skip


def _keypair(key_dir: Path, name: str) -> tuple[rsa.RSAPrivateKey, Path, Path]:
    private_file, public_file = write_rsa_keypair(key_dir, name)
    key = serialization.load_pem_private_key(private_file.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key, private_file, public_file


def _cert_file(path: Path, issue: Callable[[], x509.Certificate]) -> x509.Certificate:
    if not path.exists():
        path.write_bytes(issue().public_bytes(serialization.Encoding.PEM))
    return x509.load_pem_x509_certificate(path.read_bytes())


def _issue(
    common_name: str, key: rsa.RSAPrivateKey, issuer: x509.Certificate | None, issuer_key: rsa.RSAPrivateKey, ca: bool
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=CERT_BACKDATED_DAYS))
        .not_valid_after(now + timedelta(days=CERT_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _fail(code: str, message: str) -> Reply:
    return {"respCode": code, "respMsg": message}


def _missing(fields: dict[str, str], names: tuple[str, ...]) -> Reply | None:
    absent = [name for name in names if not fields.get(name)]
    return _fail("13", f"报文交易要素缺失[{','.join(absent)}]") if absent else None


def _ok(**fields: str) -> Reply:
    return {"respCode": wire.RESP_SUCCESS, "respMsg": OK_MSG, **fields}


def _form_fields(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return {}


def _beijing_date(moment: datetime) -> date:
    return moment.astimezone(wire.BEIJING).date()


def _settle_date(mmdd: str, today: date) -> date:
    """settleDate is MMDD: the latest such day not after today."""
    for year in (today.year, today.year - 1):
        try:
            day = date(year, int(mmdd[:2]), int(mmdd[2:]))
        except ValueError:
            continue
        if day <= today:
            return day
    raise ValueError(f"no settle date {mmdd}")


class UnionPaySandbox(Simulator):
    txn_prefix = "1"  # queryId / tn: 21 digits
    retry_schedule_s = [60, 120, 240, 480, 960]

    def __init__(self, key_dir: Path, base_url: str, faults: Faults | None = None):
        super().__init__(faults)
        self.base_url = base_url.rstrip("/")
        self.mer_id = SANDBOX_MER_ID
        self.pki = issue_pki(key_dir)
        self.planted: dict[date, list[PlantedDiscrepancy]] = {}
        self.refund_log: dict[str, RefundEntry] = {}
        self.app = self._build_app()

    def adapter_config(self) -> UnionPayConfig:
        return UnionPayConfig(
            base_url=self.base_url, file_url=f"{self.base_url}/", mer_id=self.mer_id,
            sign_cert_file=self.pki.merchant_pfx_file, sign_cert_password=PFX_PASSWORD,
            root_cert_file=self.pki.root_file, middle_cert_file=self.pki.middle_file,
        )  # fmt: skip

    def client_config(self) -> dict:
        return {
            "base_url": self.base_url, "file_url": f"{self.base_url}/", "app_id": self.mer_id, "mer_id": self.mer_id,
            "cert_id": self.pki.merchant_cert_id, "app_private_key_file": str(self.pki.merchant_private_key_file),
            "sign_cert_file": str(self.pki.merchant_pfx_file), "sign_cert_password": PFX_PASSWORD,
            "channel_public_key_file": str(self.pki.signer_public_key_file),
            "root_cert_file": str(self.pki.root_file), "middle_cert_file": str(self.pki.middle_file),
        }  # fmt: skip

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="UnionPay sandbox")
        app.include_router(self.control_router())

        @app.post(wire.FRONT_PATH)
        async def front(request: Request) -> Response:
            return await self._serve(request, self._front, page=True)

        @app.post(wire.BACK_PATH)
        async def back(request: Request) -> Response:
            return await self._serve(request, self._back)

        @app.post(wire.APP_PATH)
        async def app_consume(request: Request) -> Response:
            return await self._serve(request, self._app_consume)

        @app.post(wire.QUERY_PATH)
        async def query(request: Request) -> Response:
            return await self._serve(request, self._query)

        @app.post("/")  # the file transfer host, filedownload.95516.com
        async def file_transfer(request: Request) -> Response:
            return await self._serve(request, self._file)

        @app.get("/qr/{token}")
        async def scanned(token: str) -> HTMLResponse:
            order = next((o for o in self.book.orders.values() if o.channel_txn_id == token), None)
            if order is None:
                raise HTTPException(404, "no such QR code")
            return self._cashier(order)

        return app

    async def _serve(self, request: Request, handler: Handler, page: bool = False) -> Response:
        await self.injector.delay()
        if self.injector.should_fail_5xx():
            return PlainTextResponse("Service Unavailable", status_code=503)
        fields = _form_fields(await request.body())
        refusal = self._refusal(fields)
        reply = refusal or handler(fields)
        if isinstance(reply, dict):
            reply = self._error_page(reply) if page else self._answer(fields, reply)
        if self.injector.should_time_out():
            await self.injector.hang()
        return reply

    def _refusal(self, fields: dict[str, str]) -> Reply | None:
        """What the gateway checks of every request before it looks at the transaction."""
        if fields.get("version") != wire.VERSION or fields.get("signMethod") != wire.SIGN_METHOD_RSA:
            return _fail("10", "报文格式错误[version/signMethod]")
        if fields.get("certId") != self.pki.merchant_cert_id:
            return _fail("11", "验证签名失败[certId]")
        try:
            signing.verify_with_key(fields, self.pki.merchant_public_key)
        except signing.SignatureError:
            return _fail("11", "验证签名失败")
        if fields.get("merId") != self.mer_id:
            return _fail("31", "商户状态不正确")
        missing = _missing(fields, HEADER_FIELDS)
        if missing:
            return missing
        if not re.fullmatch(r"\d{14}", fields["txnTime"]):
            return _fail("10", "报文格式错误[txnTime]")
        return None

    def _answer(self, fields: dict[str, str], reply: Reply) -> PlainTextResponse:
        echoed = {name: fields[name] for name in ECHOED if name in fields}
        return PlainTextResponse(wire.encode_qstring(self._signed({**echoed, **reply})))

    def _signed(self, fields: Reply) -> Reply:
        fields = {**fields, "signPubKeyCert": self.pki.signer_pem}
        return {**fields, "signature": signing.sign_with_key(fields, self.pki.signer_key)}

    def _front(self, fields: dict[str, str]) -> Reply | Response:
        if (fields["txnType"], fields["txnSubType"]) != (wire.TXN_CONSUME, wire.SUB_CONSUME):
            return _fail("10", "报文格式错误[txnType]")
        booked = self._book(fields)
        return self._cashier(booked) if isinstance(booked, SimOrder) else booked

    def _app_consume(self, fields: dict[str, str]) -> Reply:
        if (fields["txnType"], fields["txnSubType"]) != (wire.TXN_CONSUME, wire.SUB_CONSUME):
            return _fail("10", "报文格式错误[txnType]")
        booked = self._book(fields)
        return _ok(tn=booked.channel_txn_id) if isinstance(booked, SimOrder) else booked

    def _back(self, fields: dict[str, str]) -> Reply:
        kind = (fields["txnType"], fields["txnSubType"])
        if kind == (wire.TXN_CONSUME, wire.SUB_APPLY_QR):
            booked = self._book(fields)
            if not isinstance(booked, SimOrder):
                return booked
            return _ok(qrCode=f"{self.base_url}/qr/{booked.channel_txn_id}")
        if kind == (wire.TXN_REFUND, wire.SUB_NONE):
            return self._refund(fields)
        return _fail("10", "报文格式错误[txnType]")

    def _book(self, fields: dict[str, str]) -> SimOrder | Reply:
        missing = _missing(fields, ("orderId", "txnAmt", "currencyCode", "backUrl", "channelType"))
        if missing:
            return missing
        invalid = self._invalid_consume_field(fields)
        if invalid:
            return _fail("10", f"报文格式错误[{invalid}]")
        if self._known_order_id(fields["orderId"]):
            return _fail("12", "重复交易")
        order = SimOrder(
            order_no=fields["orderId"], amount_minor=int(fields["txnAmt"]), currency=wire.CURRENCY, subject="",
            notify_url=fields["backUrl"],
            extra={name: fields.get(name, "") for name in ("txnTime", "txnSubType", "bizType", "payTimeout")},
        )  # fmt: skip
        return self.order_created(order)

    @staticmethod
    def _invalid_consume_field(fields: dict[str, str]) -> str | None:
        checks = {
            "orderId": wire.ORDER_ID.fullmatch(fields["orderId"]),
            "txnAmt": wire.TXN_AMT.fullmatch(fields["txnAmt"]),
            "currencyCode": fields["currencyCode"] == wire.CURRENCY_CODE,
            "channelType": fields["channelType"] in (wire.CHANNEL_WEB, wire.CHANNEL_MOBILE),
            "payTimeout": re.fullmatch(r"\d{14}", fields.get("payTimeout", "0" * 14)),
        }
        return next((name for name, ok in checks.items() if not ok), None)

    def _known_order_id(self, order_id: str) -> bool:
        return self.book.get(order_id) is not None or order_id in self.refund_log

    def _refund(self, fields: dict[str, str]) -> Reply:
        missing = _missing(fields, ("orderId", "origQryId", "txnAmt", "backUrl"))
        if missing:
            return missing
        if not wire.ORDER_ID.fullmatch(fields["orderId"]) or not wire.TXN_AMT.fullmatch(fields["txnAmt"]):
            return _fail("10", "报文格式错误[orderId/txnAmt]")
        order = next((o for o in self.book.orders.values() if o.channel_txn_id == fields["origQryId"]), None)
        if order is None or order.state != "succeeded":
            return _fail("35", "原交易不存在或状态不正确")
        if self._known_order_id(fields["orderId"]):
            return _fail("12", "重复交易")
        if int(fields["txnAmt"]) > order.amount_minor - order.refunded_minor:
            return _fail("33", "交易金额超限[退货金额超过原交易剩余可退金额]")
        refund = SimRefund(refund_id=fields["orderId"], amount_minor=int(fields["txnAmt"]))
        refund.channel_refund_id = self.book.next_id()
        order.refunds[refund.refund_id] = refund
        self.refund_log[refund.refund_id] = RefundEntry(
            order_no=order.order_no, txn_time=fields["txnTime"], back_url=fields["backUrl"],
            req_reserved=fields.get("reqReserved", ""), biz_type=fields["bizType"],
        )  # fmt: skip
        self.settle_refund(order, refund)
        return _ok(queryId=refund.channel_refund_id, origQryId=order.channel_txn_id, txnAmt=fields["txnAmt"])

    def _query(self, fields: dict[str, str]) -> Reply:
        if (fields["txnType"], fields["txnSubType"]) != (wire.TXN_QUERY, wire.SUB_NONE):
            return _fail("10", "报文格式错误[txnType]")
        order_id, sent_at = fields.get("orderId", ""), fields["txnTime"]
        order = self.book.get(order_id)
        if order is not None and order.extra.get("txnTime") == sent_at:
            return self._payment_result(order)
        entry = self.refund_log.get(order_id)
        if entry is not None and entry.txn_time == sent_at:
            order = self.book.orders[entry.order_no]
            return self._refund_result(order, order.refunds[order_id])
        return _fail(wire.RESP_NOT_FOUND, "查无此交易")

    def _payment_result(self, order: SimOrder) -> Reply:
        self._lapse_if_expired(order)
        if order.state in ("pending", "closed"):  # UnionPay has no consumption until the payer pays
            return _fail(wire.RESP_NOT_FOUND, "查无此交易")
        outcome = ("00", OK_MSG) if order.state == "succeeded" else ("01", "交易失败")
        return _ok(
            origRespCode=outcome[0], origRespMsg=outcome[1], queryId=order.channel_txn_id,
            txnAmt=str(order.amount_minor), currencyCode=wire.CURRENCY_CODE,
            **self._settlement(order.paid_at, order.channel_txn_id, order.amount_minor),
        )  # fmt: skip

    def _refund_result(self, order: SimOrder, refund: SimRefund) -> Reply:
        outcome = {"succeeded": ("00", OK_MSG), "pending": ("05", "交易已受理"), "failed": ("01", "交易失败")}
        code, message = outcome[refund.state]
        return _ok(
            origRespCode=code, origRespMsg=message, queryId=refund.channel_refund_id,
            origQryId=order.channel_txn_id, txnAmt=str(refund.amount_minor),
        )  # fmt: skip

    @staticmethod
    def _settlement(moment: datetime | None, query_id: str, amount_minor: int) -> Reply:
        beijing = (moment or datetime.now(timezone.utc)).astimezone(wire.BEIJING)
        return {
            "traceNo": query_id[-6:], "traceTime": beijing.strftime("%m%d%H%M%S"),
            "settleDate": beijing.strftime("%m%d"), "settleAmt": str(amount_minor),
            "settleCurrencyCode": wire.CURRENCY_CODE,
        }  # fmt: skip

    def _lapse_if_expired(self, order: SimOrder) -> None:
        pay_timeout = order.extra.get("payTimeout")
        if order.state == "pending" and pay_timeout and wire.parse_txn_time(pay_timeout) < datetime.now(timezone.utc):
            order.state = "closed"

    def pay(self, order_no: str, request: PayRequest) -> SimOrder | None:
        order = self.book.get(order_no)
        if order is not None:
            self._lapse_if_expired(order)
        return super().pay(order_no, request)

    def notify_payment(self, order: SimOrder) -> None:
        fields = {
            "version": wire.VERSION, "encoding": wire.ENCODING, "signMethod": wire.SIGN_METHOD_RSA,
            "txnType": wire.TXN_CONSUME, "txnSubType": order.extra["txnSubType"], "bizType": order.extra["bizType"],
            "accessType": wire.ACCESS_MERCHANT, "merId": self.mer_id, "orderId": order.order_no,
            "txnTime": order.extra["txnTime"], "txnAmt": str(order.amount_minor), "currencyCode": wire.CURRENCY_CODE,
            "queryId": order.channel_txn_id, "respCode": wire.RESP_SUCCESS, "respMsg": OK_MSG,
            **self._settlement(order.paid_at, order.channel_txn_id, order.amount_minor),
        }  # fmt: skip
        self._notify(order.notify_url, fields)

    def notify_refund(self, order: SimOrder, refund: SimRefund) -> None:
        entry = self.refund_log[refund.refund_id]
        fields = {
            "version": wire.VERSION, "encoding": wire.ENCODING, "signMethod": wire.SIGN_METHOD_RSA,
            "txnType": wire.TXN_REFUND, "txnSubType": wire.SUB_NONE, "bizType": entry.biz_type,
            "accessType": wire.ACCESS_MERCHANT, "merId": self.mer_id, "orderId": refund.refund_id,
            "txnTime": entry.txn_time, "txnAmt": str(refund.amount_minor), "queryId": refund.channel_refund_id,
            "origQryId": order.channel_txn_id, "reqReserved": entry.req_reserved,
            "respCode": wire.RESP_SUCCESS, "respMsg": OK_MSG,
            **self._settlement(refund.settled_at, refund.channel_refund_id, refund.amount_minor),
        }  # fmt: skip
        self._notify(entry.back_url, fields)

    def _notify(self, url: str, fields: Reply) -> None:
        body = urlencode(self._signed(fields)).encode("utf-8")
        self.notifier.send(url, lambda: (FORM_HEADERS, body))

    def _file(self, fields: dict[str, str]) -> Reply:
        if (fields["txnType"], fields["txnSubType"]) != (wire.TXN_FILE, wire.SUB_SETTLE_FILE):
            return _fail("10", "报文格式错误[txnType]")
        settle = fields.get("settleDate", "")
        try:
            business_date = _settle_date(settle, _beijing_date(datetime.now(timezone.utc)))
        except ValueError:
            return _fail("10", "报文格式错误[settleDate]")
        archive = wire.bill_zip(f"INN{business_date:%y%m%d}88ZM_{self.mer_id}", self._bill_rows(business_date))
        return _ok(
            fileType=fields.get("fileType", wire.FILE_TYPE_DEFAULT), settleDate=settle,
            fileName=f"{self.mer_id}_{business_date:%Y%m%d}.zip", fileContent=wire.pack_file(archive),
        )  # fmt: skip

    def _bill_rows(self, business_date: date) -> list[dict[str, str]]:
        paid = [
            o for o in self.book.orders.values()
            if o.state == "succeeded" and o.paid_at and _beijing_date(o.paid_at) == business_date
        ]  # fmt: skip
        billed, planted = plant_discrepancies(paid, self.injector, self._phantom)
        self.planted[business_date] = planted
        rows = [self._consume_row(order) for order in billed]
        for order in self.book.orders.values():
            settled = [r for r in order.refunds.values() if r.state == "succeeded" and r.settled_at]
            rows += [self._refund_row(order, r) for r in settled if _beijing_date(r.settled_at) == business_date]
        return rows

    def _consume_row(self, order: SimOrder) -> dict[str, str]:
        fee = Money(order.amount_minor, wire.CURRENCY).multiply(FEE_RATE)
        return {
            "txnType": wire.TXN_CONSUME, "orderId": order.order_no, "origOrderId": "", "queryId": order.channel_txn_id,
            "txnTime": order.extra.get("txnTime") or wire.txn_time(order.created_at),
            "txnAmt": str(order.amount_minor), "fee": str(fee.amount_minor),
            "respCode": wire.RESP_SUCCESS if order.state == "succeeded" else "01",
        }  # fmt: skip

    def _refund_row(self, order: SimOrder, refund: SimRefund) -> dict[str, str]:
        return {
            "txnType": wire.TXN_REFUND, "orderId": refund.refund_id, "origOrderId": order.order_no,
            "queryId": refund.channel_refund_id, "txnTime": self.refund_log[refund.refund_id].txn_time,
            "txnAmt": str(refund.amount_minor), "fee": "0", "respCode": wire.RESP_SUCCESS,
        }  # fmt: skip

    def _phantom(self) -> SimOrder:
        now = datetime.now(timezone.utc)
        return SimOrder(
            order_no=f"PH{self.book.next_id()}", amount_minor=self.injector.rng.randint(100, 100_000),
            currency=wire.CURRENCY, subject="", notify_url="", state="succeeded",
            channel_txn_id=self.book.next_id(), paid_at=now,
        )  # fmt: skip

    def _cashier(self, order: SimOrder) -> HTMLResponse:
        amount = Money(order.amount_minor, order.currency).decimal_text()
        return HTMLResponse(
            "<!doctype html><html><head><meta charset='utf-8'><title>银联在线支付 (sandbox)</title></head><body>"
            f"<h1>银联在线支付 sandbox</h1><p>商户订单号 {order.order_no}</p><p>金额 ¥{amount}</p>"
            f"<form method='post' action='/sandbox/pay/{order.order_no}'><button type='submit'>确认付款</button></form>"
            "</body></html>"
        )

    def _error_page(self, reply: Reply) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html><head><meta charset='utf-8'><title>银联在线支付</title></head><body>"
            f"<p>respCode={reply['respCode']}</p><p>respMsg={reply['respMsg']}</p></body></html>"
        )
