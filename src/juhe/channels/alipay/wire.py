"""Alipay OpenAPI messages and their mapping to and from the channel-neutral types.

Amounts travel as yuan strings ("12.34"), times as "yyyy-MM-dd HH:mm:ss" in Beijing time,
business parameters as the JSON string `biz_content`. Synchronous answers sit under
`<method with . replaced by _>_response` with `code` "10000" on success; business failures
are code "40004" with an `ACQ.*` sub_code. Alipay's field names stay in this folder.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from datetime import date, datetime, timedelta, timezone
from typing import Mapping

from pydantic import BaseModel, ConfigDict

from juhe.channels.base import PAYER_INSTALLMENT_FEE_BEARER, PAYER_INSTALLMENT_PERIODS, ChargeRequest, PaymentStatus, RefundStatus, Scenario, StatementLine
from juhe.money import Money

CURRENCY = "CNY"
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")  # China keeps no DST, so a fixed offset is exact
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

TRADE_QUERY = "alipay.trade.query"
TRADE_CLOSE = "alipay.trade.close"
TRADE_REFUND = "alipay.trade.refund"
REFUND_QUERY = "alipay.trade.fastpay.refund.query"
BILL_URL_QUERY = "alipay.data.dataservice.bill.downloadurl.query"
# scenario → (method, product_code) as signed with Alipay for each product
PAY_METHODS: dict[Scenario, tuple[str, str]] = {
    Scenario.QR: ("alipay.trade.precreate", "FACE_TO_FACE_PAYMENT"),
    Scenario.WEB: ("alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
    Scenario.WAP: ("alipay.trade.wap.pay", "QUICK_WAP_WAY"),
    Scenario.APP: ("alipay.trade.app.pay", "QUICK_MSECURITY_PAY"),
}

# Agreement pay (商户代扣, 周期扣款): alipay.trade.pay on the agreement the payer signed
# (alipay.user.agreement.page.sign), charged at once without them.
TRADE_PAY = "alipay.trade.pay"
WITHHOLDING = "GENERAL_WITHHOLDING"
PAYER_AGREEMENT_NO = "agreement_no"

HB_FQ_NUM, HB_FQ_SELLER_PERCENT = "hb_fq_num", "hb_fq_seller_percent"  # extend_params of 花呗分期
HB_FQ_PERIODS = frozenset({3, 6, 12})  # what Huabei installments offer
HB_FQ_SELLER_PERCENTS = ("0", "100")  # the payer bears the fee, or the seller all of it (商家贴息)

SUCCESS = "10000"
SERVICE_UNAVAILABLE = "20000"  # isp.unknow-error: Alipay may or may not have processed the request
BUSINESS_FAILED = "40004"
TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"
SYSTEM_ERROR = "ACQ.SYSTEM_ERROR"  # a business-level "try again later": outcome unknown
NOTIFY_ACK = b"success"  # any other answer and Alipay notifies again

TRADE_STATES = {
    "WAIT_BUYER_PAY": "pending",
    "TRADE_SUCCESS": "succeeded",
    "TRADE_FINISHED": "succeeded",  # past the refund window: paid and final
    "TRADE_CLOSED": "closed",
}
AMOUNT_TEXT = re.compile(r"\d{1,9}(\.\d{1,2})?")


def response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


def beijing_time(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def parse_beijing_time(text: str) -> datetime:
    return datetime.strptime(text.strip(), TIME_FORMAT).replace(tzinfo=BEIJING)


def yuan(amount: Money) -> str:
    if amount.currency != CURRENCY:
        raise ValueError(f"Alipay settles CNY only, not {amount.currency}")
    return amount.decimal_text()


def parse_yuan(text: str) -> Money:
    """A yuan amount as Alipay writes it; anything else (a third decimal, a sign) is refused."""
    if not isinstance(text, str) or not AMOUNT_TEXT.fullmatch(text.strip()):
        raise ValueError(f"not a yuan amount: {text!r}")
    return Money.parse(text, CURRENCY)


class Answer(BaseModel):
    """What every synchronous answer carries; each method adds its own fields."""

    model_config = ConfigDict(extra="ignore")
    code: str
    msg: str = ""
    sub_code: str | None = None
    sub_msg: str | None = None

    @property
    def ok(self) -> bool:
        return self.code == SUCCESS

    @property
    def reason(self) -> str:
        return self.sub_code or self.code


class PrecreateAnswer(Answer):
    out_trade_no: str | None = None
    qr_code: str | None = None


class TradePayAnswer(Answer):
    trade_no: str | None = None
    out_trade_no: str | None = None
    total_amount: str | None = None
    gmt_payment: str | None = None


class TradeQueryAnswer(Answer):
    trade_no: str | None = None
    out_trade_no: str | None = None
    trade_status: str | None = None
    total_amount: str | None = None
    send_pay_date: str | None = None


class RefundAnswer(Answer):
    trade_no: str | None = None
    fund_change: str | None = None  # "Y": money moved by this call; "N": query to learn the outcome


class RefundQueryAnswer(Answer):
    trade_no: str | None = None
    out_request_no: str | None = None
    refund_amount: str | None = None
    refund_status: str | None = None  # absent on older contracts: the refund's presence means success


class BillUrlAnswer(Answer):
    bill_download_url: str | None = None


class TradeNotification(BaseModel):
    """A `trade_status_sync` notification; a refund's carries out_biz_no (its out_request_no)."""

    model_config = ConfigDict(extra="ignore")
    notify_type: str
    app_id: str
    trade_no: str
    out_trade_no: str
    trade_status: str
    total_amount: str
    gmt_payment: str | None = None
    out_biz_no: str | None = None
    refund_fee: str | None = None  # total refunded on the trade so far, not this refund's amount


def charge_biz(request: ChargeRequest, product_code: str) -> dict:
    biz: dict = {
        "out_trade_no": request.payment_id,
        "total_amount": yuan(request.amount),
        "subject": request.subject,
        "product_code": product_code,
        "time_expire": beijing_time(request.expires_at),
    }
    periods = request.payer.get(PAYER_INSTALLMENT_PERIODS)
    if periods:  # 花呗分期: the number of periods, and the share of the fee the seller bears (0 or 100)
        seller = "100" if request.payer.get(PAYER_INSTALLMENT_FEE_BEARER) == "merchant" else "0"
        biz["extend_params"] = {HB_FQ_NUM: periods, HB_FQ_SELLER_PERCENT: seller}
    return biz


def withholding_biz(request: ChargeRequest) -> dict:
    return charge_biz(request, WITHHOLDING) | {"agreement_params": {"agreement_no": request.payer[PAYER_AGREEMENT_NO]}}


def payment_status(payment_id: str, answer: TradeQueryAnswer) -> PaymentStatus:
    state = TRADE_STATES.get(answer.trade_status or "")
    if state is None:
        raise ValueError(f"unknown trade_status {answer.trade_status!r}")
    paid_at = parse_beijing_time(answer.send_pay_date) if answer.send_pay_date else None
    # A full refund closes the trade, but the payment itself did happen: refunds are tracked apart.
    if state == "closed" and paid_at is not None:
        state = "succeeded"
    return PaymentStatus(
        payment_id=payment_id,
        state=state,
        amount=parse_yuan(answer.total_amount) if answer.total_amount else None,
        channel_txn_id=answer.trade_no,
        paid_at=paid_at,
    )


def refund_query_status(payment_id: str, refund_id: str, answer: RefundQueryAnswer) -> RefundStatus:
    # A refund query that succeeds but names no refund means Alipay never made that refund.
    if answer.refund_amount is None:
        return RefundStatus(refund_id=refund_id, payment_id=payment_id, state="not_found")
    done = answer.refund_status in (None, "REFUND_SUCCESS")
    return RefundStatus(
        refund_id=refund_id,
        payment_id=payment_id,
        state="succeeded" if done else "pending",
        amount=parse_yuan(answer.refund_amount),
    )


def notification_status(params: Mapping[str, str]) -> PaymentStatus | RefundStatus:
    note = TradeNotification.model_validate(params)
    if note.notify_type != "trade_status_sync":
        raise ValueError(f"unexpected notify_type {note.notify_type!r}")
    if note.out_biz_no:
        parse_yuan(note.refund_fee or "")
        return RefundStatus(refund_id=note.out_biz_no, payment_id=note.out_trade_no, state="succeeded")
    answer = TradeQueryAnswer(
        code=SUCCESS,
        trade_no=note.trade_no,
        trade_status=note.trade_status,
        total_amount=note.total_amount,
        send_pay_date=note.gmt_payment,
    )
    return payment_status(note.out_trade_no, answer)


# The trade bill (账单类型 trade): a zip of two GBK CSV files, the detail (业务明细) and its
# summary (业务明细(汇总)). Columns of the detail, in Alipay's order:
BILL_COLUMNS = (
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称",
    "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）",
    "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）",
    "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注",
)  # fmt: skip
BILL_ENCODING = "gbk"
BILL_DETAIL_TITLE = "#支付宝业务明细查询"
BILL_TRADE, BILL_REFUND = "交易", "退款"


def bill_file_names(account: str, business_date: date) -> tuple[str, str, str]:
    """(zip, detail csv, summary csv) names as Alipay gives them."""
    stem = f"{account}_{business_date:%Y%m%d}"
    return f"{stem}.csv.zip", f"{stem}_业务明细.csv", f"{stem}_业务明细(汇总).csv"


BILL_END_MARK = "业务明细列表结束"  # the line after the last row: a bill without it was cut off
BILL_COUNTS = re.compile(r"交易合计：(\d+)笔，退款合计：(\d+)笔")
BILL_AMOUNT = re.compile(r"-?\d{1,12}(\.\d{1,2})?")
BILL_KINDS = {BILL_TRADE: "payment", BILL_REFUND: "refund"}
BILL_READ_COLUMNS = ("支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）", "退款批次号/请求号", "服务费（元）")
BILL_MEMBERS_MAX = 8  # the detail and its summary; anything near this is not Alipay's zip
BILL_BYTES_MAX = 64 * 1024 * 1024  # uncompressed, so that a zip bomb stops before it is read
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NumberedLines = list[tuple[int, StatementLine]]  # each with its line in the detail file


class BillError(ValueError):
    """A trade bill that cannot be read whole. `line` is the line of the detail file (None when the
    zip itself is broken); `code` is malformed_statement or truncated_statement."""

    def __init__(self, message: str, *, line: int | None = None, code: str = "malformed_statement"):
        super().__init__(message)
        self.line, self.code = line, code


def is_bill(raw: bytes) -> bool:
    """A zip (as Alipay serves the bill) or its detail CSV on its own."""
    return raw.startswith(ZIP_MAGIC) or raw.startswith(BILL_DETAIL_TITLE.encode(BILL_ENCODING))


def parse_bill(raw: bytes) -> list[StatementLine]:
    """Lines of a trade bill zip. Amounts come signed from the merchant's side (a refund's order
    amount is negative, a trade's fee negative); here `amount` is always positive and `fee` is what
    Alipay charged on the line, negative when a refund gives fee back. Every line billed is done:
    the status is "succeeded"."""
    return [line for _, line in bill_lines(raw)]


def bill_lines(raw: bytes) -> NumberedLines:
    """Each detail row with its line in the detail file; BillError for anything not whole."""
    detail = _bill_detail(raw) if raw.startswith(ZIP_MAGIC) else raw
    try:
        text = detail.decode("gb18030")  # a superset of GBK: Alipay's GBK reads the same
    except UnicodeDecodeError as e:
        raise BillError(f"not GBK text: {detail[e.start : e.start + 4]!r}", line=detail.count(b"\n", 0, e.start) + 1)
    if not text.startswith(BILL_DETAIL_TITLE):
        raise BillError(f"not a trade bill detail: it does not start with {BILL_DETAIL_TITLE}", line=1)
    return _detail_rows(text)


def _bill_detail(raw: bytes) -> bytes:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as e:
        # The zip's directory is at its end: a zip without one was cut off on the way.
        raise BillError(f"zip without its directory ({e})", code="truncated_statement") from None
    with archive:
        members = archive.infolist()
        if len(members) > BILL_MEMBERS_MAX or sum(m.file_size for m in members) > BILL_BYTES_MAX:
            raise BillError(f"zip of {len(members)} files, {sum(m.file_size for m in members)} bytes: not a trade bill")
        try:
            # Found by its title line, not its name: Alipay stores the names in GBK without
            # zip's UTF-8 flag, so they do not read back as written.
            texts = [archive.read(member) for member in members]
        except (zipfile.BadZipFile, EOFError, zlib.error) as e:
            raise BillError(f"unreadable zip member: {e}") from None
    detail = next((t for t in texts if t.startswith(BILL_DETAIL_TITLE.encode(BILL_ENCODING))), None)
    if detail is None:
        raise BillError("no trade bill detail (业务明细) in the zip")
    return detail


def _detail_rows(text: str) -> NumberedLines:
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    lines: NumberedLines = []
    ended, counts, last = False, None, 0
    try:
        for row in reader:
            number, last = last + 1, reader.line_num
            first = row[0].strip() if row else ""
            if not "".join(row).strip() or first.startswith("#"):
                ended = ended or (header is not None and BILL_END_MARK in first)
                counts = counts or BILL_COUNTS.search(first)
            elif header is None:
                header = _bill_header(row, number)
            elif ended:
                raise BillError("a row after the end of the list", line=number)
            else:
                lines.append((number, _bill_row(header, row, number)))
    except csv.Error as e:
        raise BillError(f"not CSV: {e}", line=reader.line_num) from None
    _check_complete(lines, ended, counts, last)
    return lines


def _bill_header(row: list[str], number: int) -> list[str]:
    header = [_column_name(c) for c in row]
    missing = [name for name in BILL_READ_COLUMNS if name not in header]
    if missing:
        raise BillError(f"the header lacks {', '.join(missing)}", line=number)
    return header


def _bill_row(header: list[str], row: list[str], number: int) -> StatementLine:
    if len(row) != len(header):
        raise BillError(f"{len(row)} columns, the header has {len(header)}", line=number)
    try:
        return _statement_line(dict(zip(header, (c.strip() for c in row))))
    except ValueError as e:
        raise BillError(str(e), line=number) from None


def _check_complete(lines: NumberedLines, ended: bool, counts: re.Match | None, last: int) -> None:
    if not ended:
        raise BillError(f"the bill ends before its end mark ({BILL_END_MARK})", line=last, code="truncated_statement")
    if counts is not None:
        stated = (int(counts[1]), int(counts[2]))
        found = tuple(sum(1 for _, line in lines if line.kind == kind) for kind in ("payment", "refund"))
        if stated != found:
            raise BillError(f"the bill counts {stated[0]} trades and {stated[1]} refunds, its rows {found[0]} and "
                            f"{found[1]}", line=last)  # fmt: skip


def _column_name(text: str) -> str:
    # Some exports write the unit in ASCII parentheses; the columns are the same.
    return text.strip().replace("(", "（").replace(")", "）")


def _statement_line(row: dict[str, str]) -> StatementLine:
    kind = BILL_KINDS.get(row["业务类型"])
    if kind is None:
        raise ValueError(f"unknown 业务类型 {row['业务类型']!r}")
    amount = _bill_amount(row["订单金额（元）"], "订单金额")
    if (amount.amount_minor <= 0) if kind == "payment" else (amount.amount_minor == 0):
        raise ValueError(f"订单金额 {row['订单金额（元）']} for a {row['业务类型']}")
    return StatementLine(
        kind=kind,
        payment_id=_required(row, "商户订单号"),
        refund_id=row["退款批次号/请求号"] or None,
        channel_txn_id=_required(row, "支付宝交易号"),
        amount=Money(abs(amount.amount_minor), CURRENCY),  # a refund's is written negative
        fee=-_bill_amount(row["服务费（元）"] or "0", "服务费"),
        occurred_at=_bill_time(row["完成时间"]),
        status="succeeded",
    )


def _bill_amount(text: str, column: str) -> Money:
    if not BILL_AMOUNT.fullmatch(text):
        raise ValueError(f"{column} {text!r} is not a yuan amount")
    return Money.parse(text, CURRENCY)


def _bill_time(text: str) -> datetime:
    try:
        return parse_beijing_time(text)
    except ValueError:
        raise ValueError(f"完成时间 {text!r} is not yyyy-MM-dd HH:mm:ss") from None


def _required(row: dict[str, str], column: str) -> str:
    if not row[column]:
        raise ValueError(f"{column} is empty")
    return row[column]
