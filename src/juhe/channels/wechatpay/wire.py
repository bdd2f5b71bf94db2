"""WeChat Pay API v3 messages and their mapping to the channel-neutral types.

WeChat Pay's field names stop here: the adapter and the sandbox build and read these models,
everything else sees `juhe.channels.base` types. Amounts on the wire are int fen
(`amount.total`); the trade bill is the one place with yuan text, parsed with Money.parse.
"""

from __future__ import annotations

import csv
import io
import re
import zlib
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, Field, StrictInt, ValidationError

from juhe.channels.base import (
    ChargeRequest,
    Dispute,
    PaymentState,
    PaymentStatus,
    RefundRequest,
    RefundState,
    RefundStatus,
    Scenario,
    StatementLine,
)
from juhe.money import Money

CST = timezone(timedelta(hours=8))  # WeChat Pay's times and bill days are Beijing time
CURRENCY = "CNY"
TRADE_TYPE_PATHS = {Scenario.QR: "native", Scenario.JSAPI: "jsapi", Scenario.APP: "app", Scenario.WAP: "h5"}
TRADE_TYPES = {"native": "NATIVE", "jsapi": "JSAPI", "app": "APP", "h5": "MWEB"}
ORDER_NO_PATTERN = r"^[0-9A-Za-z_\-*]{6,32}$"
REFUND_NO_PATTERN = r"^[0-9A-Za-z_\-|*@]{1,64}$"

TradeState = Literal["SUCCESS", "REFUND", "NOTPAY", "CLOSED", "REVOKED", "USERPAYING", "PAYERROR"]
RefundStatusCode = Literal["SUCCESS", "CLOSED", "PROCESSING", "ABNORMAL"]

TRADE_STATES: dict[str, PaymentState] = {
    "SUCCESS": "succeeded",
    "REFUND": "succeeded",  # paid, then (partly) refunded: the payment itself succeeded
    "NOTPAY": "pending",
    "USERPAYING": "pending",
    "CLOSED": "closed",
    "REVOKED": "closed",
    "PAYERROR": "failed",
}
REFUND_STATES: dict[str, RefundState] = {
    "SUCCESS": "succeeded",
    "PROCESSING": "pending",
    "CLOSED": "failed",
    "ABNORMAL": "failed",  # the payer's card or balance refused it; needs an abnormal-refund request
}


class Amount(BaseModel):
    total: StrictInt = Field(gt=0)
    currency: Literal["CNY"] = CURRENCY


class Payer(BaseModel):
    openid: str = Field(min_length=1, max_length=128)


class H5Info(BaseModel):
    type: Literal["iOS", "Android", "Wap"]


class SceneInfo(BaseModel):
    payer_client_ip: str = Field(min_length=1, max_length=45)
    h5_info: H5Info | None = None


class PrepayRequest(BaseModel):
    appid: str
    mchid: str
    description: str = Field(min_length=1, max_length=127)
    out_trade_no: str = Field(pattern=ORDER_NO_PATTERN)
    time_expire: datetime | None = None
    notify_url: str = Field(min_length=1, max_length=255)
    amount: Amount
    payer: Payer | None = None
    scene_info: SceneInfo | None = None


class CodeUrl(BaseModel):
    code_url: str


class PrepayId(BaseModel):
    prepay_id: str


class H5Url(BaseModel):
    h5_url: str


class CloseRequest(BaseModel):
    mchid: str


class TransactionAmount(BaseModel):
    total: StrictInt
    payer_total: StrictInt | None = None
    currency: str = CURRENCY
    payer_currency: str | None = None


class Transaction(BaseModel):
    appid: str | None = None
    mchid: str
    out_trade_no: str
    transaction_id: str | None = None
    trade_type: str | None = None
    trade_state: TradeState
    trade_state_desc: str = ""
    bank_type: str | None = None
    success_time: datetime | None = None
    payer: Payer | None = None
    amount: TransactionAmount | None = None


class RefundRequestAmount(BaseModel):
    refund: StrictInt = Field(gt=0)
    total: StrictInt = Field(gt=0)
    currency: Literal["CNY"] = CURRENCY


class CreateRefundRequest(BaseModel):
    out_trade_no: str = Field(pattern=ORDER_NO_PATTERN)
    out_refund_no: str = Field(pattern=REFUND_NO_PATTERN)
    reason: str | None = Field(None, max_length=80)
    notify_url: str | None = Field(None, max_length=256)
    amount: RefundRequestAmount


class RefundAmount(BaseModel):
    total: StrictInt
    refund: StrictInt
    payer_total: StrictInt
    payer_refund: StrictInt
    settlement_total: StrictInt | None = None
    settlement_refund: StrictInt | None = None
    discount_refund: StrictInt | None = None
    currency: str = CURRENCY


class Refund(BaseModel):
    """A refund as the refund and refund-query answers give it."""

    refund_id: str
    out_refund_no: str
    transaction_id: str
    out_trade_no: str
    channel: str = "ORIGINAL"
    user_received_account: str = ""
    success_time: datetime | None = None
    create_time: datetime
    status: RefundStatusCode
    amount: RefundAmount


class RefundNotice(BaseModel):
    """The decrypted resource of a REFUND.* notification (note `refund_status`, not `status`)."""

    mchid: str
    out_trade_no: str
    transaction_id: str
    out_refund_no: str
    refund_id: str
    refund_status: RefundStatusCode
    success_time: datetime | None = None
    user_received_account: str = ""
    amount: RefundAmount


class EncryptedResource(BaseModel):
    algorithm: Literal["AEAD_AES_256_GCM"]
    ciphertext: str
    associated_data: str = ""
    nonce: str
    original_type: str


class Notification(BaseModel):
    id: str
    create_time: datetime
    resource_type: Literal["encrypt-resource"]
    event_type: str
    summary: str = ""
    resource: EncryptedResource


class ErrorAnswer(BaseModel):
    code: str
    message: str = ""
    detail: dict | None = None


class TradeBill(BaseModel):
    hash_type: Literal["SHA1"]
    hash_value: str
    download_url: str


def beijing(moment: datetime) -> datetime:
    """Beijing time to the second, which serialises as WeChat's RFC 3339: 2018-06-08T10:34:56+08:00."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(CST).replace(microsecond=0)


def prepay_request(request: ChargeRequest, appid: str, mchid: str) -> PrepayRequest:
    scene = None
    if request.scenario is Scenario.WAP:
        scene = SceneInfo(payer_client_ip=request.payer.get("client_ip", ""), h5_info=H5Info(type="Wap"))
    payer = Payer(openid=request.payer.get("openid", "")) if request.scenario is Scenario.JSAPI else None
    return PrepayRequest(
        appid=appid,
        mchid=mchid,
        description=request.subject[:127],
        out_trade_no=request.payment_id,
        time_expire=beijing(request.expires_at),
        notify_url=request.notify_url,
        amount=Amount(total=request.amount.amount_minor, currency=request.amount.currency),
        payer=payer,
        scene_info=scene,
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
    amount = Money(txn.amount.total, txn.amount.currency) if txn.amount else None
    state = TRADE_STATES[txn.trade_state]
    return PaymentStatus(
        payment_id=txn.out_trade_no,
        state=state,
        amount=amount,
        channel_txn_id=txn.transaction_id,
        paid_at=txn.success_time,
        failure_code=txn.trade_state if state == "failed" else None,
    )


def refund_status(refund: Refund | RefundNotice) -> RefundStatus:
    code = refund.status if isinstance(refund, Refund) else refund.refund_status
    state = REFUND_STATES[code]
    return RefundStatus(
        refund_id=refund.out_refund_no,
        payment_id=refund.out_trade_no,
        state=state,
        amount=Money(refund.amount.refund, refund.amount.currency),
        channel_refund_id=refund.refund_id,
        failure_code=code if state == "failed" else None,
    )


# The trade bill (交易账单, bill_type=ALL): a header row, detail rows whose every field starts with
# a backtick (so spreadsheets keep long numbers as text), then a summary header and summary row.
BILL_COLUMNS = (
    "交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识",
    "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号",
    "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包",
    "手续费", "费率", "订单金额", "申请退款金额", "费率备注",
)  # fmt: skip
BILL_SUMMARY_COLUMNS = (
    "总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额",
)  # fmt: skip
BILL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def write_bill(rows: list[dict[str, str]]) -> bytes:
    """A bill file from detail rows keyed by BILL_COLUMNS (missing columns are empty)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(BILL_COLUMNS)
    writer.writerows([["`" + row.get(name, "") for name in BILL_COLUMNS] for row in rows])
    writer.writerow(BILL_SUMMARY_COLUMNS)
    writer.writerow(["`" + value for value in _bill_summary(rows)])
    return out.getvalue().encode()


def _bill_summary(rows: list[dict[str, str]]) -> list[str]:
    def total(column: str) -> str:
        minor = sum(Money.parse(row.get(column) or "0", CURRENCY).amount_minor for row in rows)
        return Money(minor, CURRENCY).decimal_text()

    return [
        str(len(rows)), total("应结订单金额"), total("退款金额"), total("充值券退款金额"),
        total("手续费"), total("订单金额"), total("申请退款金额"),
    ]  # fmt: skip


BILL_READ_COLUMNS = (
    "交易时间", "微信订单号", "商户订单号", "交易状态", "货币种类", "微信退款单号", "商户退款单号", "退款状态",
    "手续费", "订单金额", "申请退款金额",
)  # fmt: skip
BILL_AMOUNT = re.compile(r"-?\d{1,12}(\.\d{1,2})?")
BILL_BYTES_MAX = 64 * 1024 * 1024  # unzipped, so that a gzip bomb stops before it is read
GZIP_MAGIC = b"\x1f\x8b"
NumberedLines = list[tuple[int, StatementLine]]  # each with its line in the file
# The bill's states in the statement's vocabulary: what happened to the line's own movement.
BILL_PAYMENT_STATES = {"SUCCESS": "succeeded", "REVOKED": "reversed", "PAYERROR": "failed", "CLOSED": "failed",
                       "NOTPAY": "pending", "USERPAYING": "pending"}  # fmt: skip
BILL_REFUND_STATES = {"SUCCESS": "succeeded", "PROCESSING": "pending", "CLOSED": "failed", "REFUNDCLOSE": "failed",
                      "ABNORMAL": "failed", "CHANGE": "failed"}  # fmt: skip


class BillError(ValueError):
    """A trade bill that cannot be read whole. `line` is the line in the (unzipped) file;
    `code` is malformed_statement or truncated_statement."""

    def __init__(self, message: str, *, line: int | None = None, code: str = "malformed_statement"):
        super().__init__(message)
        self.line, self.code = line, code


def is_bill(raw: bytes) -> bool:
    """The bill as text, or gzipped (tar_type=GZIP): its first line is the column header."""
    if raw.startswith(GZIP_MAGIC):
        try:
            raw = zlib.decompressobj(wbits=31).decompress(raw[:4096], 1024)
        except zlib.error:
            return False
    return raw.removeprefix(b"\xef\xbb\xbf").startswith(BILL_COLUMNS[0].encode() + b",")


def parse_bill(raw: bytes) -> list[StatementLine]:
    """Detail rows of a trade bill as statement lines; amounts as the bill states them
    (refund lines carry the refunded amount, and the fee given back as a negative fee),
    statuses as WeChat writes them."""
    return [line for _, line in _bill_rows(raw)]


def bill_lines(raw: bytes) -> NumberedLines:
    """Each detail row with its line in the file, its status in the statement's vocabulary
    (succeeded, pending, failed, reversed); BillError for anything not whole."""
    return [(number, _neutral(line, number)) for number, line in _bill_rows(raw)]


def _neutral(line: StatementLine, number: int) -> StatementLine:
    states = BILL_REFUND_STATES if line.kind == "refund" else BILL_PAYMENT_STATES
    if line.status not in states:
        raise BillError(f"unknown {'退款状态' if line.kind == 'refund' else '交易状态'} {line.status!r}", line=number)
    return replace(line, status=states[line.status])


def _bill_rows(raw: bytes) -> NumberedLines:
    text = _bill_text(raw)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None:
            return []
        columns = _bill_header(header)
        rows, summary = _detail_and_summary(reader, columns)
    except csv.Error as e:
        raise BillError(f"not CSV: {e}", line=reader.line_num) from None
    _check_summary(rows, summary, len(text.splitlines()))
    return rows


def _bill_text(raw: bytes) -> str:
    if raw.startswith(GZIP_MAGIC):
        raw = _gunzip(raw)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BillError(f"not UTF-8 text: {raw[e.start : e.start + 4]!r}", line=raw.count(b"\n", 0, e.start) + 1)


def _gunzip(raw: bytes) -> bytes:
    unzip = zlib.decompressobj(wbits=31)  # gzip framing
    try:
        text = unzip.decompress(raw, BILL_BYTES_MAX)
    except zlib.error as e:
        raise BillError(f"broken gzip: {e}") from None
    if unzip.unconsumed_tail:
        raise BillError(f"more than {BILL_BYTES_MAX} bytes unzipped: not a trade bill")
    if not unzip.eof:
        raise BillError("the gzip stream stops before its end", code="truncated_statement")
    return text


def _bill_header(header: list[str]) -> list[str]:
    columns = [c.strip() for c in header]
    missing = [name for name in BILL_READ_COLUMNS if name not in columns]
    if missing:
        raise BillError(f"not a WeChat Pay trade bill (ALL): the header lacks {', '.join(missing)}", line=1)
    return columns


def _detail_and_summary(reader, columns: list[str]) -> tuple[NumberedLines, tuple[int, list[str]] | None]:
    """The detail rows, and the summary row (with its line) when the bill has its end."""
    rows: NumberedLines = []
    last = reader.line_num
    for fields in reader:
        number, last = last + 1, reader.line_num
        if not fields:
            continue
        if fields[0] == BILL_SUMMARY_COLUMNS[0]:
            summary = next(reader, None)
            return rows, (reader.line_num, summary) if summary else None
        if len(fields) != len(columns):
            raise BillError(f"{len(fields)} columns, the header has {len(columns)}", line=number)
        row = dict(zip(columns, (f.strip().removeprefix("`") for f in fields), strict=True))
        try:
            rows.append((number, _statement_line(row)))
        except ValueError as e:
            raise BillError(str(e), line=number) from None
    return rows, None


def _check_summary(rows: NumberedLines, summary: tuple[int, list[str]] | None, last: int) -> None:
    """The summary closes the bill: without it the file was cut off; its count must be the rows'."""
    if summary is None:
        raise BillError(f"the bill ends before its summary ({BILL_SUMMARY_COLUMNS[0]})", line=last,
                        code="truncated_statement")  # fmt: skip
    number, values = summary
    stated = values[0].strip().removeprefix("`") if values else ""
    if stated != str(len(rows)):
        raise BillError(f"{BILL_SUMMARY_COLUMNS[0]} is {stated!r}, the bill has {len(rows)} rows", line=number)


def _statement_line(row: dict[str, str]) -> StatementLine:
    currency = row["货币种类"] or CURRENCY
    is_refund = row["交易状态"] == "REFUND"  # payment rows carry "0" in the refund columns
    amount = _bill_amount(row["申请退款金额"] if is_refund else row["订单金额"], currency)
    if amount.amount_minor <= 0:
        raise ValueError(f"{'申请退款金额' if is_refund else '订单金额'} {amount.decimal_text()} is not above zero")
    return StatementLine(
        kind="refund" if is_refund else "payment",
        payment_id=row["商户订单号"],
        refund_id=row["商户退款单号"] if is_refund else None,
        channel_txn_id=row["微信退款单号"] if is_refund else row["微信订单号"],
        amount=amount,
        fee=_bill_amount(row["手续费"] or "0", currency),
        occurred_at=_bill_time(row["交易时间"]),
        status=row["退款状态"] if is_refund else row["交易状态"],
    )


def _bill_amount(text: str, currency: str) -> Money:
    if not BILL_AMOUNT.fullmatch(text):
        raise ValueError(f"{text!r} is not a yuan amount")
    return Money.parse(text, currency)


def _bill_time(text: str) -> datetime:
    try:
        return datetime.strptime(text, BILL_TIME_FORMAT).replace(tzinfo=CST)
    except ValueError:
        raise ValueError(f"交易时间 {text!r} is not yyyy-MM-dd HH:mm:ss") from None


# --- payers' complaints (消费者投诉 2.0, GET /v3/merchant-service/complaints-v2)

COMPLAINTS_PAGE_MAX = 50  # the API's largest `limit`
# A complaint carries no reason code for "I did not make this payment": WeChat's problem_type says only
# whether the payer asks for a refund (REFUND), a service that did not work (SERVICE_NOT_WORK) or
# something else (OTHERS). A complaint of OTHERS whose text says the payment was not the payer's (an
# account taken over, a stolen phone) is read as fraud; everything else is about the goods.
NOT_THE_PAYER_WORDS = ("非本人", "盗刷", "被盗", "盗用", "not made by me", "account stolen")


class ComplaintOrder(BaseModel):
    transaction_id: str
    out_trade_no: str
    amount: StrictInt


class Complaint(BaseModel):
    complaint_id: str
    complaint_time: datetime
    complaint_detail: str = ""
    complaint_state: Literal["PENDING", "PROCESSING", "PROCESSED"]
    complainted_mchid: str = ""
    complaint_order_info: list[ComplaintOrder] = Field(default_factory=list)
    problem_description: str = ""
    problem_type: str = "OTHERS"


class ComplaintList(BaseModel):
    data: list[Complaint] = Field(default_factory=list)
    limit: int = COMPLAINTS_PAGE_MAX
    offset: int = 0
    total_count: int = 0


def not_the_payers(complaint: Complaint) -> bool:
    text = f"{complaint.problem_description} {complaint.complaint_detail}".lower()
    return complaint.problem_type == "OTHERS" and any(word in text for word in NOT_THE_PAYER_WORDS)


def parse_complaints(raw: bytes) -> list[Dispute]:
    """One dispute per order a complaint names (case number `<complaint_id>-<n>`: a complaint may name
    several orders, and each is filed once). Raises ValueError on a malformed list."""
    try:
        complaints = ComplaintList.model_validate_json(raw or b"{}").data
    except ValidationError as e:
        raise ValueError(f"malformed complaint list: {e}") from e
    disputes = []
    for complaint in complaints:
        fraud = not_the_payers(complaint)
        reason = (complaint.problem_description or complaint.complaint_detail)[:200]
        for n, order in enumerate(complaint.complaint_order_info, 1):
            disputes.append(Dispute(f"{complaint.complaint_id}-{n}", order.out_trade_no, "dispute",
                                    complaint.problem_type, reason, fraud, Money(order.amount, CURRENCY),
                                    complaint.complaint_time.astimezone(CST).date()))
    return disputes
