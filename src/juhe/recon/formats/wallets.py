"""Wallet trade bills: Alipay's (a zip of GBK CSV) and WeChat Pay's (UTF-8 CSV, maybe gzipped).

Every line names our order. A payment collected is money in (credit), a refund money out
(debit). The channels' parsers already put statuses in the statement's vocabulary.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from juhe.channels.alipay import wire as alipay
from juhe.channels.base import StatementLine
from juhe.channels.wechatpay import wire as wechatpay
from juhe.recon.formats.rows import Row, StatementWarning, line_row


def alipay_rows(raw: bytes, channel: str, zone: ZoneInfo) -> tuple[list[Row], list[StatementWarning]]:
    return _rows(alipay.bill_lines(raw), channel, zone), []


def wechatpay_rows(raw: bytes, channel: str, zone: ZoneInfo) -> tuple[list[Row], list[StatementWarning]]:
    return _rows(wechatpay.bill_lines(raw), channel, zone), []


def _rows(numbered: list[tuple[int, StatementLine]], channel: str, zone: ZoneInfo) -> list[Row]:
    return [
        line_row(number, line, channel, direction="credit" if line.kind == "payment" else "debit",
                 status=line.status, zone=zone)  # fmt: skip
        for number, line in numbered
    ]
