"""ISO 20022 pain.002 (CustomerPaymentStatusReport): the bank's word on each transfer of a file.

We read any version (pain.002.001.03 of 2009 up to the 2019 pain.002.001.10 and later): the
parts we need sit on the same paths in all of them. The sandbox writes pain.002.001.10, the
report that answers pain.001.001.09 in the EPC, CGI-MP and CBPR+ guidelines.

Status codes (ExternalPaymentTransactionStatus1Code) and what they mean for a held amount:
ACSC / ACCC settled (capture the hold); RJCT rejected and CANC cancelled (release it);
RCVD, ACTC, ACCP, ACSP, ACWC, ACWP, PDNG, PART still in progress (keep it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Sequence

from lxml import etree

from juhe.channels.bank.wire import MessageError, Reader, document, message_name, parse_xml, serialise, sub
from juhe.money import Money, MoneyError

WRITTEN = "pain.002.001.10"
WRITTEN_NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{WRITTEN}"
ORIGINAL_MESSAGE = "pain.001.001.09"
SETTLED = frozenset({"ACSC", "ACCC"})
REJECTED = frozenset({"RJCT"})
CANCELLED = frozenset({"CANC"})
FINAL = SETTLED | REJECTED | CANCELLED
REASON_TEXT_MAX = 105  # Max105Text

ItemState = Literal["pending", "settled", "rejected", "cancelled", "not_found"]  # not_found: the bank has no such file


@dataclass(frozen=True, slots=True)
class ItemStatus:
    end_to_end_id: str
    state: ItemState
    status_code: str  # the bank's ISO code; "" when the report has not mentioned the transfer yet
    reason_code: str | None = None  # ExternalStatusReason1Code: AC01, AC04, AM04 …
    reason_text: str | None = None
    bank_ref: str | None = None  # AcctSvcrRef: the bank's reference, also on the statement
    amount: Money | None = None
    accepted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    code: str | None
    text: str | None


@dataclass(frozen=True, slots=True)
class StatusReport:
    msg_id: str
    original_msg_id: str
    group_status: str | None
    group_reason: Reason | None
    payment_info_statuses: dict[str, tuple[str, Reason | None]] = field(default_factory=dict)
    transactions: dict[str, ItemStatus] = field(default_factory=dict)  # by EndToEndId

    def status_of(self, end_to_end_id: str, payment_info_id: str | None = None) -> ItemStatus:
        """The transfer's own status, else a final status of its payment block or of the whole file."""
        own = self.transactions.get(end_to_end_id)
        if own is not None:
            return own
        block = self.payment_info_statuses.get(payment_info_id or "", (None, None))
        for code, reason in (block, (self.group_status, self.group_reason)):
            if code in FINAL:
                return ItemStatus(
                    end_to_end_id, state_of(code), code, reason.code if reason else None, reason.text if reason else None
                )
        return ItemStatus(end_to_end_id, "pending", "")


def state_of(code: str) -> ItemState:
    if code in SETTLED:
        return "settled"
    if code in REJECTED:
        return "rejected"
    if code in CANCELLED:
        return "cancelled"
    return "pending"


def parse(raw: bytes) -> StatusReport:
    root = parse_xml(raw)
    if not message_name(root).startswith("pain.002."):
        raise MessageError("not a pain.002 status report")
    x = Reader(root)
    report = x.one(root, "CstmrPmtStsRpt")
    if report is None:
        raise MessageError("pain.002 lacks CstmrPmtStsRpt")
    group = x.one(report, "OrgnlGrpInfAndSts")
    if group is None:
        raise MessageError("pain.002 lacks OrgnlGrpInfAndSts")
    blocks: dict[str, tuple[str, Reason | None]] = {}
    transactions: dict[str, ItemStatus] = {}
    for block in x.all(report, "OrgnlPmtInfAndSts"):
        if x.text(block, "PmtInfSts"):
            blocks[x.required(block, "OrgnlPmtInfId")] = (x.required(block, "PmtInfSts"), _reason(x, block))
        for transaction in x.all(block, "TxInfAndSts"):
            status = _transaction(x, transaction)
            transactions[status.end_to_end_id] = status
    return StatusReport(
        msg_id=x.required(report, "GrpHdr/MsgId"), original_msg_id=x.required(group, "OrgnlMsgId"),
        group_status=x.text(group, "GrpSts"), group_reason=_reason(x, group),
        payment_info_statuses=blocks, transactions=transactions,
    )  # fmt: skip


def _transaction(x: Reader, transaction: etree._Element) -> ItemStatus:
    code = x.text(transaction, "TxSts") or ""
    reason = _reason(x, transaction)
    accepted = x.text(transaction, "AccptncDtTm")
    return ItemStatus(
        end_to_end_id=x.required(transaction, "OrgnlEndToEndId"), state=state_of(code), status_code=code,
        reason_code=reason.code if reason else None, reason_text=reason.text if reason else None,
        bank_ref=x.text(transaction, "AcctSvcrRef"), amount=_amount(x, transaction),
        accepted_at=datetime.fromisoformat(accepted) if accepted else None,
    )  # fmt: skip


def _reason(x: Reader, element: etree._Element) -> Reason | None:
    info = x.one(element, "StsRsnInf")
    if info is None:
        return None
    text = " ".join(e.text.strip() for e in x.all(info, "AddtlInf") if e.text)
    return Reason(x.text(info, "Rsn/Cd") or x.text(info, "Rsn/Prtry"), text or None)


def _amount(x: Reader, transaction: etree._Element) -> Money | None:
    amount = x.one(transaction, "OrgnlTxRef/Amt/InstdAmt")
    if amount is None:
        return None
    try:
        return Money.parse(amount.text or "", amount.get("Ccy", ""))
    except MoneyError as e:
        raise MessageError(f"line {amount.sourceline}: {e}") from None


# --- the bank's side


@dataclass(frozen=True, slots=True)
class ReportedTransfer:
    """One transfer as the bank reports it."""

    end_to_end_id: str
    amount: Money
    status_code: str
    reason_code: str | None = None
    reason_text: str | None = None
    bank_ref: str | None = None
    accepted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReportedFile:
    msg_id: str
    created_at: datetime
    number_of_transactions: int
    control_sum: str
    group_status: str
    group_reason: Reason | None
    blocks: dict[str, list[ReportedTransfer]]  # PmtInfId → its transfers; empty when the file was rejected whole


def write(report_id: str, created_at: datetime, original: ReportedFile) -> bytes:
    root, report = document(WRITTEN_NAMESPACE, "CstmrPmtStsRpt")
    header = sub(report, "GrpHdr")
    sub(header, "MsgId", report_id)
    sub(header, "CreDtTm", created_at.isoformat(timespec="seconds"))
    group = sub(report, "OrgnlGrpInfAndSts")
    sub(group, "OrgnlMsgId", original.msg_id)
    sub(group, "OrgnlMsgNmId", ORIGINAL_MESSAGE)
    sub(group, "OrgnlCreDtTm", original.created_at.isoformat(timespec="seconds"))
    sub(group, "OrgnlNbOfTxs", str(original.number_of_transactions))
    sub(group, "OrgnlCtrlSum", original.control_sum)
    sub(group, "GrpSts", original.group_status)
    _write_reason(group, original.group_reason)
    transfers = [t for block in original.blocks.values() for t in block]
    _write_counts(group, transfers)
    for block_id, block in original.blocks.items():
        _write_block(report, block_id, block)
    return serialise(root)


def group_status(codes: Sequence[str], received: str = "ACTC") -> str:
    """The status of a file or block from its transfers' statuses."""
    distinct = set(codes)
    if len(distinct) == 1:
        return codes[0]
    if distinct & (REJECTED | CANCELLED):  # some turned down, others not
        return "PART"
    return "ACSP" if distinct & SETTLED else received


def _write_block(report: etree._Element, block_id: str, transfers: list[ReportedTransfer]) -> None:
    block = sub(report, "OrgnlPmtInfAndSts")
    sub(block, "OrgnlPmtInfId", block_id)
    sub(block, "OrgnlNbOfTxs", str(len(transfers)))
    sub(block, "PmtInfSts", group_status([t.status_code for t in transfers]))
    _write_counts(block, transfers)
    for transfer in transfers:
        element = sub(block, "TxInfAndSts")
        sub(element, "OrgnlEndToEndId", transfer.end_to_end_id)
        sub(element, "TxSts", transfer.status_code)
        _write_reason(element, Reason(transfer.reason_code, transfer.reason_text) if transfer.reason_code else None)
        if transfer.accepted_at is not None:
            sub(element, "AccptncDtTm", transfer.accepted_at.isoformat(timespec="seconds"))
        if transfer.bank_ref:
            sub(element, "AcctSvcrRef", transfer.bank_ref)
        amount = sub(sub(sub(element, "OrgnlTxRef"), "Amt"), "InstdAmt", transfer.amount.decimal_text())
        amount.set("Ccy", transfer.amount.currency)


def _write_reason(parent: etree._Element, reason: Reason | None) -> None:
    if reason is None:
        return
    info = sub(parent, "StsRsnInf")
    sub(sub(info, "Rsn"), "Cd", reason.code)
    if reason.text:
        sub(info, "AddtlInf", reason.text[:REASON_TEXT_MAX])


def _write_counts(parent: etree._Element, transfers: list[ReportedTransfer]) -> None:
    codes = [t.status_code for t in transfers]
    for code in sorted(set(codes)):
        counted = sub(parent, "NbOfTxsPerSts")
        sub(counted, "DtldNbOfTxs", str(codes.count(code)))
        sub(counted, "DtldSts", code)
