"""Getting money back: camt.056.001.08 FIToFIPaymentCancellationRequest (a recall) and
pacs.004.001.09 PaymentReturn (the money coming back), CBPR+ shape.

A sender cannot push a return: it asks, with camt.056, and the creditor's side answers with a
pacs.004 (reason FOCR, following cancellation request) once it gives the funds back. Before
settlement a camt.056 cancels the payment outright. The correspondent's API tells the two apart
by the Callback-URL: a recall names where its pacs.004 is to go, a cancellation names none and is
answered at once. The return is named after the cancellation it answers (RtrId = CxlId), which is
how a pacs.004 finds our refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from juhe.channels.crossborder import iso
from juhe.money import Money

RECALL = "camt.056.001.08"
RETURN = "pacs.004.001.09"
REASON_REQUESTED_BY_CUSTOMER = "CUST"
REASON_FOLLOWING_CANCELLATION = "FOCR"


@dataclass(frozen=True, slots=True)
class Recall:
    assignment_id: str
    created_at: datetime
    assigner_bic: str
    assignee_bic: str
    cancellation_id: str  # our refund id (or the payment id when cancelling before settlement)
    instruction_id: str
    end_to_end_id: str
    uetr: str
    original_amount: Money
    reason: str = REASON_REQUESTED_BY_CUSTOMER
    reason_info: str | None = None


@dataclass(frozen=True, slots=True)
class Return:
    msg_id: str
    created_at: datetime
    return_id: str
    instruction_id: str
    end_to_end_id: str
    uetr: str
    original_amount: Money
    returned: Money
    settled_on: date
    instructing_bic: str
    instructed_bic: str
    reason: str = REASON_FOLLOWING_CANCELLATION


def build_recall(recall: Recall) -> bytes:
    document, message = iso.new_document(RECALL, "FIToFIPmtCxlReq")
    assignment = iso.sub(message, "Assgnmt")
    iso.sub(assignment, "Id", recall.assignment_id)
    iso.add_agent(iso.sub(assignment, "Assgnr"), "Agt", recall.assigner_bic)
    iso.add_agent(iso.sub(assignment, "Assgne"), "Agt", recall.assignee_bic)
    iso.sub(assignment, "CreDtTm", iso.iso_datetime(recall.created_at))
    tx = iso.sub(iso.sub(message, "Undrlyg"), "TxInf")
    iso.sub(tx, "CxlId", recall.cancellation_id)
    case = iso.sub(tx, "Case")
    iso.sub(case, "Id", recall.cancellation_id)
    iso.add_agent(iso.sub(case, "Cretr"), "Agt", recall.assigner_bic)
    iso.sub(tx, "OrgnlInstrId", recall.instruction_id)
    iso.sub(tx, "OrgnlEndToEndId", recall.end_to_end_id)
    iso.sub(tx, "OrgnlUETR", recall.uetr)
    iso.add_amount(tx, "OrgnlIntrBkSttlmAmt", recall.original_amount)
    reason = iso.sub(tx, "CxlRsnInf")
    iso.sub(iso.sub(reason, "Rsn"), "Cd", recall.reason)
    if recall.reason_info:
        iso.sub(reason, "AddtlInf", recall.reason_info[:105])
    return iso.serialize(document)


def read_recall(raw: bytes) -> Recall:
    message = iso.parse(raw, RECALL, "FIToFIPmtCxlReq")
    tx = iso.find(message, "Undrlyg/TxInf")
    if tx is None:
        raise iso.MessageError("camt.056 without Undrlyg/TxInf")
    return Recall(
        assignment_id=iso.required(message, "Assgnmt/Id"), created_at=iso.read_datetime(message, "Assgnmt/CreDtTm"),
        assigner_bic=iso.required(message, "Assgnmt/Assgnr/Agt/FinInstnId/BICFI"),
        assignee_bic=iso.required(message, "Assgnmt/Assgne/Agt/FinInstnId/BICFI"),
        cancellation_id=iso.required(tx, "CxlId"), instruction_id=iso.required(tx, "OrgnlInstrId"),
        end_to_end_id=iso.required(tx, "OrgnlEndToEndId"), uetr=iso.required(tx, "OrgnlUETR"),
        original_amount=iso.read_amount(tx, "OrgnlIntrBkSttlmAmt"), reason=iso.required(tx, "CxlRsnInf/Rsn/Cd"),
        reason_info=iso.text(tx, "CxlRsnInf/AddtlInf"),
    )  # fmt: skip


def build_return(returned: Return) -> bytes:
    document, message = iso.new_document(RETURN, "PmtRtr")
    header = iso.sub(message, "GrpHdr")
    iso.sub(header, "MsgId", returned.msg_id)
    iso.sub(header, "CreDtTm", iso.iso_datetime(returned.created_at))
    iso.sub(header, "NbOfTxs", "1")
    iso.sub(iso.sub(header, "SttlmInf"), "SttlmMtd", "INDA")
    tx = iso.sub(message, "TxInf")
    iso.sub(tx, "RtrId", returned.return_id)
    iso.sub(tx, "OrgnlInstrId", returned.instruction_id)
    iso.sub(tx, "OrgnlEndToEndId", returned.end_to_end_id)
    iso.sub(tx, "OrgnlUETR", returned.uetr)
    iso.add_amount(tx, "OrgnlIntrBkSttlmAmt", returned.original_amount)
    iso.add_amount(tx, "RtrdIntrBkSttlmAmt", returned.returned)
    iso.sub(tx, "IntrBkSttlmDt", returned.settled_on.isoformat())
    iso.sub(tx, "ChrgBr", "CRED")  # whatever the return costs comes off the returned amount
    iso.add_agent(tx, "InstgAgt", returned.instructing_bic)
    iso.add_agent(tx, "InstdAgt", returned.instructed_bic)
    iso.sub(iso.sub(iso.sub(tx, "RtrRsnInf"), "Rsn"), "Cd", returned.reason)
    return iso.serialize(document)


def read_return(raw: bytes) -> Return:
    message = iso.parse(raw, RETURN, "PmtRtr")
    tx = iso.find(message, "TxInf")
    if tx is None:
        raise iso.MessageError("pacs.004 without TxInf")
    return Return(
        msg_id=iso.required(message, "GrpHdr/MsgId"), created_at=iso.read_datetime(message, "GrpHdr/CreDtTm"),
        return_id=iso.required(tx, "RtrId"), instruction_id=iso.required(tx, "OrgnlInstrId"),
        end_to_end_id=iso.required(tx, "OrgnlEndToEndId"), uetr=iso.required(tx, "OrgnlUETR"),
        original_amount=iso.read_amount(tx, "OrgnlIntrBkSttlmAmt"), returned=iso.read_amount(tx, "RtrdIntrBkSttlmAmt"),
        settled_on=iso.read_date(tx, "IntrBkSttlmDt"), instructing_bic=iso.required(tx, "InstgAgt/FinInstnId/BICFI"),
        instructed_bic=iso.required(tx, "InstdAgt/FinInstnId/BICFI"), reason=iso.required(tx, "RtrRsnInf/Rsn/Cd"),
    )  # fmt: skip
