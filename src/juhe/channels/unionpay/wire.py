"""UnionPay online gateway (全渠道, version 5.1.0) messages and their mapping to the neutral types.

Requests are form posts of flat key=value fields. Back-end answers come back as a raw
`k=v&k=v` string (not URL-encoded; a value may hold `{…}` or `[…]` with `&` inside);
notifications are ordinary URL-encoded form posts. Amounts are fen as a digit string.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import zipfile
import zlib
from datetime import date, datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict

from juhe.channels.base import (
    ChargeRequest,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    Scenario,
    StatementLine,
)
from juhe.money import Money

VERSION = "5.1.0"
ENCODING = "UTF-8"
SIGN_METHOD_RSA = "01"
ACCESS_MERCHANT = "0"  # 商户直连接入
CURRENCY = "CNY"
CURRENCY_CODE = "156"
CHANNEL_WEB = "07"
CHANNEL_MOBILE = "08"
BIZ_GATEWAY = "000201"  # B2C 网关支付, also the app control (控件支付)
BIZ_DEFAULT = "000000"  # QR code payments, file transfer

FRONT_PATH = "/gateway/api/frontTransReq.do"
BACK_PATH = "/gateway/api/backTransReq.do"
APP_PATH = "/gateway/api/appTransReq.do"
QUERY_PATH = "/gateway/api/queryTrans.do"

TXN_QUERY = "00"
TXN_CONSUME = "01"
TXN_REFUND = "04"  # 退货
TXN_FILE = "76"
SUB_CONSUME = "01"
SUB_APPLY_QR = "07"
SUB_NONE = "00"
SUB_SETTLE_FILE = "01"
FILE_TYPE_DEFAULT = "00"

RESP_SUCCESS = "00"
RESP_IN_DOUBT = frozenset({"03", "04", "05"})  # timed out / unknown / accepted: the outcome comes later
RESP_DUPLICATE = "12"
RESP_NOT_FOUND = "34"  # 查无此交易: nobody has paid the order (yet)

ORDER_ID = re.compile(r"[0-9A-Za-z]{8,32}")
TXN_AMT = re.compile(r"[1-9][0-9]{0,11}")
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")  # China keeps no daylight saving time


class Product(BaseModel):
    txn_sub_type: str
    biz_type: str
    channel_type: str
    path: str


PRODUCTS = {
    Scenario.QR: Product(txn_sub_type=SUB_APPLY_QR, biz_type=BIZ_DEFAULT, channel_type=CHANNEL_MOBILE, path=BACK_PATH),
    Scenario.WEB: Product(txn_sub_type=SUB_CONSUME, biz_type=BIZ_GATEWAY, channel_type=CHANNEL_WEB, path=FRONT_PATH),
    Scenario.WAP: Product(txn_sub_type=SUB_CONSUME, biz_type=BIZ_GATEWAY, channel_type=CHANNEL_MOBILE, path=FRONT_PATH),
    Scenario.APP: Product(txn_sub_type=SUB_CONSUME, biz_type=BIZ_GATEWAY, channel_type=CHANNEL_MOBILE, path=APP_PATH),
}


class Sent(BaseModel):
    txn_time: str
    biz_type: str


class Envelope(BaseModel):
    """Fields every request carries; `certId` and `signature` are added by signing."""

    version: str = VERSION
    encoding: str = ENCODING
    signMethod: str = SIGN_METHOD_RSA
    txnType: str
    txnSubType: str
    bizType: str
    accessType: str = ACCESS_MERCHANT
    merId: str
    txnTime: str

    def fields(self) -> dict[str, str]:
        return {key: value for key, value in self.model_dump().items() if value is not None}


class ConsumeRequest(Envelope):  # 消费 / 申请二维码
    channelType: str
    orderId: str
    txnAmt: str
    currencyCode: str = CURRENCY_CODE
    backUrl: str
    frontUrl: str | None = None
    payTimeout: str


class RefundOrder(Envelope):  # 退货: its own orderId, pointing at the consumption by origQryId
    channelType: str = CHANNEL_WEB
    orderId: str
    origQryId: str
    txnAmt: str
    backUrl: str
    reqReserved: str  # our payment id, echoed back so the refund's notification names its payment


class QueryRequest(Envelope):  # 交易状态查询: by orderId + txnTime of the original request
    orderId: str


class FileRequest(Envelope):  # 文件传输: the settlement file of one settleDate
    fileType: str = FILE_TYPE_DEFAULT
    settleDate: str


class Answer(BaseModel):
    """An answer or a notification; UnionPay adds fields over time, the signature covers them all."""

    model_config = ConfigDict(extra="ignore")

    respCode: str
    respMsg: str = ""
    txnType: str = ""
    merId: str = ""
    orderId: str = ""
    txnTime: str = ""
    txnAmt: str = ""
    queryId: str = ""
    traceTime: str = ""
    origRespCode: str = ""
    reqReserved: str = ""
    qrCode: str = ""
    tn: str = ""
    fileContent: str = ""


def txn_time(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


def parse_txn_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)


def trace_moment(trace_time: str, sent_txn_time: str) -> datetime | None:
    """traceTime is MMDDhhmmss; its year is the order's, or the next one across New Year."""
    if not (len(trace_time) == 10 and trace_time.isdigit() and len(sent_txn_time) == 14):
        return None
    sent = parse_txn_time(sent_txn_time)
    moment = datetime.strptime(f"{sent.year}{trace_time}", "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
    return moment if moment >= sent - timedelta(days=1) else moment.replace(year=sent.year + 1)


def fen(amount: Money) -> str:
    if amount.currency != CURRENCY or amount.amount_minor <= 0:
        raise ValueError(f"UnionPay takes positive CNY amounts, not {amount}")
    return str(amount.amount_minor)


def parse_fen(text: str) -> Money:
    if not TXN_AMT.fullmatch(text):
        raise ValueError(f"txnAmt {text!r} is not fen")
    return Money(int(text), CURRENCY)


def consume_request(request: ChargeRequest, mer_id: str, sent_at: str) -> ConsumeRequest:
    product = PRODUCTS[request.scenario]
    return ConsumeRequest(
        txnType=TXN_CONSUME, txnSubType=product.txn_sub_type, bizType=product.biz_type, merId=mer_id,
        txnTime=sent_at, channelType=product.channel_type, orderId=request.payment_id,
        txnAmt=fen(request.amount), backUrl=request.notify_url, frontUrl=request.return_url,
        payTimeout=txn_time(request.expires_at),
    )  # fmt: skip


def refund_order(request: RefundRequest, mer_id: str, sent: Sent, orig_qry_id: str) -> RefundOrder:
    return RefundOrder(
        txnType=TXN_REFUND, txnSubType=SUB_NONE, bizType=sent.biz_type, merId=mer_id,
        txnTime=sent.txn_time, orderId=request.refund_id, origQryId=orig_qry_id, txnAmt=fen(request.amount),
        backUrl=request.notify_url, reqReserved=request.payment_id,
    )  # fmt: skip


def query_request(order_id: str, mer_id: str, original_txn_time: str) -> QueryRequest:
    return QueryRequest(
        txnType=TXN_QUERY, txnSubType=SUB_NONE, bizType=BIZ_DEFAULT, merId=mer_id,
        txnTime=original_txn_time, orderId=order_id,
    )  # fmt: skip


def file_request(business_date: date, mer_id: str, sent_at: str) -> FileRequest:
    return FileRequest(
        txnType=TXN_FILE, txnSubType=SUB_SETTLE_FILE, bizType=BIZ_DEFAULT, merId=mer_id,
        txnTime=sent_at, settleDate=business_date.strftime("%m%d"),
    )  # fmt: skip


def _state(code: str) -> Literal["pending", "succeeded", "failed"]:
    if code == RESP_SUCCESS:
        return "succeeded"
    return "pending" if code in RESP_IN_DOUBT else "failed"


def outcome_code(answer: Answer) -> str:
    """A query answer's verdict on the original transaction, else the message's own respCode."""
    return answer.origRespCode or answer.respCode


def payment_status(payment_id: str, answer: Answer) -> PaymentStatus:
    if answer.respCode == RESP_NOT_FOUND:
        return PaymentStatus(payment_id=payment_id, state="not_found")
    code = outcome_code(answer)
    state = _state(code)
    return PaymentStatus(
        payment_id=payment_id, state=state, amount=parse_fen(answer.txnAmt) if answer.txnAmt else None,
        channel_txn_id=answer.queryId or None,
        paid_at=trace_moment(answer.traceTime, answer.txnTime) if state == "succeeded" else None,
        failure_code=code if state == "failed" else None,
    )  # fmt: skip


def refund_status(payment_id: str, refund_id: str, answer: Answer) -> RefundStatus:
    if answer.respCode == RESP_NOT_FOUND:
        return RefundStatus(refund_id=refund_id, payment_id=payment_id, state="not_found")
    code = outcome_code(answer)
    state = _state(code)
    return RefundStatus(
        refund_id=refund_id, payment_id=payment_id, state=state,
        amount=parse_fen(answer.txnAmt) if answer.txnAmt else None, channel_refund_id=answer.queryId or None,
        failure_code=code if state == "failed" else None,
    )  # fmt: skip


def parse_qstring(text: str) -> dict[str, str]:
    """A back-end answer `k=v&k=v` into fields; `&` inside `{…}` or `[…]` belongs to the value."""
    fields: dict[str, str] = {}
    for pair in _split_pairs(text.strip()):
        key, sep, value = pair.partition("=")
        if not key or not sep:
            raise ValueError(f"malformed answer field {pair[:40]!r}")
        fields[key] = value
    return fields


def _split_pairs(text: str) -> list[str]:
    pairs, start, closer = [], 0, ""
    for i, char in enumerate(text):
        if closer:
            closer = "" if char == closer else closer
        elif char in "{[" and "=" in text[start:i]:
            closer = "}" if char == "{" else "]"
        elif char == "&":
            pairs.append(text[start:i])
            start = i + 1
    pairs.append(text[start:])
    return [pair for pair in pairs if pair]


def encode_qstring(fields: dict[str, str]) -> str:
    return "&".join(f"{key}={value}" for key, value in fields.items())


def auto_submit_form(action: str, fields: dict[str, str]) -> str:
    """The page that posts a front-end request from the payer's browser, as acpsdk builds it."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}"/>' for k, v in fields.items()
    )
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"/></head>'
        f'<body><form id="pay_form" action="{html.escape(action)}" method="post">{inputs}</form>'
        '<script>document.getElementById("pay_form").submit();</script></body></html>'
    )


# The settlement file. UnionPay's real INN…ZM file is fixed-width; the sandbox serves this
# simplified layout in the real envelope (fileContent = base64 of a deflated zip).
BILL_COLUMNS = ["txnType", "orderId", "origOrderId", "queryId", "txnTime", "txnAmt", "fee", "respCode"]


def pack_file(zip_bytes: bytes) -> str:
    return base64.b64encode(zlib.compress(zip_bytes)).decode("ascii")


def unpack_file(file_content: str) -> bytes:
    return zlib.decompress(base64.b64decode(file_content, validate=True))


def bill_zip(member_name: str, rows: list[dict[str, str]]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=BILL_COLUMNS, delimiter="|", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member_name, text.getvalue())
    return out.getvalue()


def parse_bill(zip_bytes: bytes) -> list[StatementLine]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        names = archive.namelist()
        if len(names) != 1:
            raise ValueError(f"settlement zip holds {len(names)} files, expected one")
        text = archive.read(names[0]).decode("utf-8")
    return [_bill_line(row) for row in csv.DictReader(io.StringIO(text), delimiter="|")]


def _bill_line(row: dict[str, str]) -> StatementLine:
    refund = row["txnType"] == TXN_REFUND
    return StatementLine(
        kind="refund" if refund else "payment",
        payment_id=row["origOrderId"] if refund else row["orderId"],
        refund_id=row["orderId"] if refund else None,
        channel_txn_id=row["queryId"],
        amount=Money(int(row["txnAmt"]), CURRENCY),
        fee=Money(int(row["fee"]), CURRENCY),
        occurred_at=parse_txn_time(row["txnTime"]),
        status="succeeded" if row["respCode"] == RESP_SUCCESS else "failed",
    )
