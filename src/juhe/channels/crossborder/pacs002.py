"""pacs.002.001.10 FIToFIPaymentStatusReport (the status of a pacs.008) and pacs.028.001.05
FIToFIPaymentStatusRequest (asking for it), in the CBPR+ shape: one transaction, found by UETR.

Statuses (ExternalPaymentTransactionStatus1Code): ACTC technical validation passed, ACCP
customer profile accepted, ACSP settlement in process, PDNG pending, ACSC settlement completed
(our side), ACCC creditor credited, RJCT rejected with a reason (AC01 wrong account, AC04 closed
account, AM04 insufficient funds, FF01 invalid message, DUPL duplicate …), CANC cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from juhe.channels.crossborder import iso
from juhe.money import Money

REPORT = "pacs.002.001.10"
REQUEST = "pacs.028.001.05"
STATUSES = frozenset({"ACTC", "ACCP", "ACSP", "PDNG", "ACWC", "ACSC", "ACCC", "RJCT", "CANC"})


@dataclass(frozen=True, slots=True)
class StatusReport:
    msg_id: str
    created_at: datetime
    original_msg_id: str | None
    original_msg_name: str | None
    instruction_id: str | None
    end_to_end_id: str
    uetr: str
    status: str
    reason: str | None = None  # StsRsnInf/Rsn: the ISO code, or the bank's proprietary one
    reason_info: str | None = None
    accepted_at: datetime | None = None
    settled_on: date | None = None
    bank_reference: str | None = None  # AcctSvcrRef: the correspondent's own id for the payment
    settlement: Money | None = None  # OrgnlTxRef/IntrBkSttlmAmt


@dataclass(frozen=True, slots=True)
class StatusRequest:
    msg_id: str
    created_at: datetime
    request_id: str
    instruction_id: str
    end_to_end_id: str
    uetr: str
    instructing_bic: str
    instructed_bic: str


def build_report(report: StatusReport, instructing_bic: str, instructed_bic: str) -> bytes:
    document, message = iso.new_document(REPORT, "FIToFIPmtStsRpt")
    header = iso.sub(message, "GrpHdr")
    iso.sub(header, "MsgId", report.msg_id)
    iso.sub(header, "CreDtTm", iso.iso_datetime(report.created_at))
    tx = iso.sub(message, "TxInfAndSts")
    if report.original_msg_id and report.original_msg_name:
        original = iso.sub(tx, "OrgnlGrpInf")
        iso.sub(original, "OrgnlMsgId", report.original_msg_id)
        iso.sub(original, "OrgnlMsgNmId", report.original_msg_name)
    if report.instruction_id:
        iso.sub(tx, "OrgnlInstrId", report.instruction_id)
    iso.sub(tx, "OrgnlEndToEndId", report.end_to_end_id)
    iso.sub(tx, "OrgnlUETR", report.uetr)
    iso.sub(tx, "TxSts", report.status)
    if report.reason:
        _add_reason(tx, report.reason, report.reason_info)
    if report.accepted_at:
        iso.sub(tx, "AccptncDtTm", iso.iso_datetime(report.accepted_at))
    if report.settled_on:
        iso.sub(iso.sub(tx, "FctvIntrBkSttlmDt"), "Dt", report.settled_on.isoformat())
    if report.bank_reference:
        iso.sub(tx, "AcctSvcrRef", report.bank_reference)
    iso.add_agent(tx, "InstgAgt", instructing_bic)
    iso.add_agent(tx, "InstdAgt", instructed_bic)
    if report.settlement:
        iso.add_amount(iso.sub(tx, "OrgnlTxRef"), "IntrBkSttlmAmt", report.settlement)
    return iso.serialize(document)


def _add_reason(tx, reason: str, info: str | None) -> None:
    # Four capital letters are an ExternalStatusReason1Code; anything else is the bank's own.
    detail = iso.sub(tx, "StsRsnInf")
    is_code = len(reason) == 4 and reason.isalnum() and reason.isupper()
    iso.sub(iso.sub(detail, "Rsn"), "Cd" if is_code else "Prtry", reason)
    if info:
        iso.sub(detail, "AddtlInf", info[:105])


def read_report(raw: bytes) -> StatusReport:
    message = iso.parse(raw, REPORT, "FIToFIPmtStsRpt")
    tx = iso.find(message, "TxInfAndSts")
    if tx is None:
        raise iso.MessageError("pacs.002 without TxInfAndSts")
    status = iso.required(tx, "TxSts")
    if status not in STATUSES:
        raise iso.MessageError(f"unknown TxSts {status}")
    has = {path: iso.find(tx, path) is not None for path in ("AccptncDtTm", "FctvIntrBkSttlmDt/Dt")}
    return StatusReport(
        msg_id=iso.required(message, "GrpHdr/MsgId"), created_at=iso.read_datetime(message, "GrpHdr/CreDtTm"),
        original_msg_id=iso.text(tx, "OrgnlGrpInf/OrgnlMsgId"),
        original_msg_name=iso.text(tx, "OrgnlGrpInf/OrgnlMsgNmId"),
        instruction_id=iso.text(tx, "OrgnlInstrId"), end_to_end_id=iso.required(tx, "OrgnlEndToEndId"),
        uetr=iso.required(tx, "OrgnlUETR"), status=status,
        reason=iso.text(tx, "StsRsnInf/Rsn/Cd") or iso.text(tx, "StsRsnInf/Rsn/Prtry"),
        reason_info=iso.text(tx, "StsRsnInf/AddtlInf"),
        accepted_at=iso.read_datetime(tx, "AccptncDtTm") if has["AccptncDtTm"] else None,
        settled_on=iso.read_date(tx, "FctvIntrBkSttlmDt/Dt") if has["FctvIntrBkSttlmDt/Dt"] else None,
        bank_reference=iso.text(tx, "AcctSvcrRef"), settlement=iso.optional_amount(tx, "OrgnlTxRef/IntrBkSttlmAmt"),
    )  # fmt: skip


def build_request(request: StatusRequest) -> bytes:
    document, message = iso.new_document(REQUEST, "FIToFIPmtStsReq")
    header = iso.sub(message, "GrpHdr")
    iso.sub(header, "MsgId", request.msg_id)
    iso.sub(header, "CreDtTm", iso.iso_datetime(request.created_at))
    tx = iso.sub(message, "TxInf")
    iso.sub(tx, "StsReqId", request.request_id)
    iso.sub(tx, "OrgnlInstrId", request.instruction_id)
    iso.sub(tx, "OrgnlEndToEndId", request.end_to_end_id)
    iso.sub(tx, "OrgnlUETR", request.uetr)
    iso.add_agent(tx, "InstgAgt", request.instructing_bic)
    iso.add_agent(tx, "InstdAgt", request.instructed_bic)
    return iso.serialize(document)


def read_request(raw: bytes) -> StatusRequest:
    message = iso.parse(raw, REQUEST, "FIToFIPmtStsReq")
    tx = iso.find(message, "TxInf")
    if tx is None:
        raise iso.MessageError("pacs.028 without TxInf")
    return StatusRequest(
        msg_id=iso.required(message, "GrpHdr/MsgId"), created_at=iso.read_datetime(message, "GrpHdr/CreDtTm"),
        request_id=iso.required(tx, "StsReqId"), instruction_id=iso.required(tx, "OrgnlInstrId"),
        end_to_end_id=iso.required(tx, "OrgnlEndToEndId"), uetr=iso.required(tx, "OrgnlUETR"),
        instructing_bic=iso.required(tx, "InstgAgt/FinInstnId/BICFI"),
        instructed_bic=iso.required(tx, "InstdAgt/FinInstnId/BICFI"),
    )  # fmt: skip
