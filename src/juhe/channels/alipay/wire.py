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
from datetime import date, datetime, timedelta, timezone
from typing import Mapping

from pydantic import BaseModel, ConfigDict

from juhe.channels.base import ChargeRequest, PaymentStatus, RefundStatus, Scenario, StatementLine
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


def charge_biz(request: ChargeRequest, product_code: str) -> dict[str, str]:
    return {
        "out_trade_no": request.payment_id,
        "total_amount": yuan(request.amount),
        "subject": request.subject,
        "product_code": product_code,
        "time_expire": beijing_time(request.expires_at),
    }


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


def parse_bill(raw: bytes) -> list[StatementLine]:
    """Lines of a trade bill zip. Amounts come signed from the merchant's side (a refund's order
    amount is negative, a trade's fee negative); here `amount` is always positive and `fee` is what
    Alipay charged on the line, negative when a refund gives fee back."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        # Found by its title line, not its name: Alipay stores the names in GBK without
        # zip's UTF-8 flag, so they do not read back as written.
        texts = [archive.read(name).decode(BILL_ENCODING) for name in archive.namelist()]
    text = next((t for t in texts if t.startswith(BILL_DETAIL_TITLE)), None)
    if text is None:
        raise ValueError("no trade bill detail (业务明细) in the zip")
    rows = [row for row in csv.reader(io.StringIO(text)) if row and not row[0].startswith("#")]
    header = [_column_name(c) for c in rows[0]]
    return [_statement_line(dict(zip(header, (c.strip() for c in row)))) for row in rows[1:]]


def _column_name(text: str) -> str:
    # Some exports write the unit in ASCII parentheses; the columns are the same.
    return text.strip().replace("(", "（").replace(")", "）")


def _statement_line(row: dict[str, str]) -> StatementLine:
    kind = {BILL_TRADE: "payment", BILL_REFUND: "refund"}[row["业务类型"]]
    amount = Money.parse(row["订单金额（元）"], CURRENCY)
    fee = -Money.parse(row["服务费（元）"] or "0", CURRENCY)
    return StatementLine(
        kind=kind,
        payment_id=row["商户订单号"],
        refund_id=row["退款批次号/请求号"] or None,
        channel_txn_id=row["支付宝交易号"],
        amount=-amount if kind == "refund" else amount,
        fee=fee,
        occurred_at=parse_beijing_time(row["完成时间"]),
        status="succeeded",
    )
