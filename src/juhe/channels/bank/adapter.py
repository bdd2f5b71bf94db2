"""Corporate banking adapter: credit transfers as ISO 20022 pain.001 files over the bank's
host-to-host HTTPS API, their fate from pain.002 status reports, statements as camt.053 or MT940.

Every request is signed by us and every answer by the bank (HTTP Message Signatures, RFC 9421;
see signing.py). In production the connection is also mutual TLS: pass an `httpx.AsyncClient`
built with the client certificate the bank issued.

The bank pushes nothing: a transfer's fate is pulled (`query`, `fetch_status`). A single B2B
payment is a one-transfer file whose MsgId, PmtInf and EndToEndId are all our payment id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal, Mapping, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import BaseModel, ValidationError, field_validator

from juhe.channels.base import (
    ChannelError,
    ChargeCreated,
    ChargeRequest,
    Declined,
    InvalidNotification,
    NotificationAck,
    PayerAction,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    Scenario,
    StatementLine,
)
from juhe.channels.bank import camt053, pain001, pain002, signing, swift_mt940, wire
from juhe.channels.bank.pain002 import ItemStatus, StatusReport
from juhe.channels.bank.statement import BankStatement, statement_lines
from juhe.channels.bank.transfers import BIC, CNAPS, TransferItem, check_transfer
from juhe.http import async_client
from juhe.money import check_currency

PAYMENT_STATES = {"settled": "succeeded", "rejected": "failed", "cancelled": "closed", "pending": "pending"}
REMITTANCE_MAX = 140
UPLOAD_ATTEMPTS_MAX = 3
CREDITOR_FIELDS = ("creditor_name", "creditor_account", "creditor_bank")  # ChargeRequest.payer keys for B2B


class BankConfig(BaseModel):
    base_url: str  # the bank's host-to-host gateway
    customer_id: str  # the bank's id for us; the pain.001 initiating party
    key_id: str  # the id under which the bank registered our signing key
    private_key_file: Path  # our RSA key; its public half was registered with the bank
    bank_key_id: str
    bank_public_key_file: Path  # the bank's RSA key, from its key letter
    debtor_name: str
    debtor_account: str  # our account: domestic number or IBAN
    debtor_bank: str  # BIC or CNAPS bank code of the account's branch
    currency: str = "CNY"  # the account's currency; transfers in others are refused
    timezone: str = "Asia/Shanghai"  # the bank's: it decides execution and booking dates
    statement_format: Literal["camt.053", "mt940"] = "camt.053"
    timeout_s: float = 5.0

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, currency: str) -> str:
        return check_currency(currency)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    @field_validator("debtor_bank")
    @classmethod
    def _bank_code(cls, bank: str) -> str:
        if not (BIC.fullmatch(bank) or CNAPS.fullmatch(bank)):
            raise ValueError("debtor_bank is a BIC or a 12-digit CNAPS bank code")
        return bank


@dataclass(frozen=True, slots=True)
class SubmissionReceipt:
    """What became of one upload. `document` is the pain.001 as sent: keep it, the bank holds it."""

    batch_id: str
    status: Literal["received", "rejected"]
    document: bytes
    file_id: str | None = None
    duplicate: bool = False  # the bank had this file already (a resend after a lost answer)
    reason_code: str | None = None
    reason: str | None = None


class BankChannel:
    code = "bank"
    scenarios = frozenset({Scenario.B2B})

    def __init__(self, config: BankConfig, http: httpx.AsyncClient | None = None):
        self.config = config
        self.currencies = frozenset({config.currency})
        self.zone = ZoneInfo(config.timezone)
        self.debtor = pain001.Debtor(
            config.debtor_name, config.debtor_account, config.debtor_bank, config.currency, config.customer_id
        )
        self._http = http or async_client()
        self._private_key = signing.load_private_key(config.private_key_file)
        self._bank_key = signing.load_public_key(config.bank_public_key_file)

    def today(self) -> date:
        return datetime.now(self.zone).date()

    # --- batches

    def build_file(self, batch_id: str, items: Sequence[TransferItem], *, category_purpose: str | None = None) -> bytes:
        """The pain.001 that `submit_batch` would send (for `juhe transfers export-pain001`)."""
        return pain001.build(
            batch_id, self.debtor, items, created_at=datetime.now(self.zone), category_purpose=category_purpose
        )

    async def submit_batch(
        self, batch_id: str, items: Sequence[TransferItem], *, category_purpose: str | None = None
    ) -> SubmissionReceipt:
        return await self.submit_file(self.build_file(batch_id, items, category_purpose=category_purpose))

    async def submit_file(self, document: bytes) -> SubmissionReceipt:
        """Upload a pain.001 (validated here first). Resending the same file is safe: the bank
        answers with its first receipt. ChannelError(outcome_known=False) means: fetch the status."""
        msg_id = pain001.read(document).msg_id
        response = await self._send("POST", wire.UPLOAD_PATH, body=document, content_type=wire.XML_MEDIA_TYPE)
        if response.status_code in (200, 202):
            receipt = self._receipt(response)
            if receipt.msg_id != msg_id:
                message = f"receipt for {receipt.msg_id}, not {msg_id}"
                raise ChannelError(message, outcome_known=False, code="receipt_mismatch")
            return SubmissionReceipt(msg_id, "received", document, receipt.file_id, receipt.duplicate)
        error = self._error(response)
        if response.status_code in (400, 413, 422):
            return SubmissionReceipt(msg_id, "rejected", document, reason_code=error.code, reason=error.message)
        # 409 DU01: the MsgId already names other transfers at the bank; this upload changed nothing.
        raise ChannelError(f"bank refused the file: {error.code} {error.message}", outcome_known=True, code=error.code)

    async def fetch_status_report(self, batch_id: str) -> StatusReport | None:
        """The bank's latest pain.002 for the file, or None when it has no file with this MsgId."""
        response = await self._send("GET", wire.STATUS_PATH, query={"msgId": batch_id})
        if response.status_code == 404:
            return None
        self._expect_success(response)
        try:
            report = pain002.parse(response.content)
        except wire.MessageError as e:
            raise ChannelError(f"malformed pain.002: {e}", outcome_known=False, code="malformed_answer") from e
        if report.original_msg_id != batch_id:
            raise ChannelError(f"pain.002 for {report.original_msg_id}, not {batch_id}", outcome_known=False)
        return report

    async def fetch_status(self, batch_id: str, items: Sequence[TransferItem]) -> list[ItemStatus]:
        """Each transfer's status, in the order given: its own, else its block's or the file's."""
        report = await self.fetch_status_report(batch_id)
        if report is None:
            return [ItemStatus(item.end_to_end_id, "not_found", "") for item in items]
        return [
            report.status_of(item.end_to_end_id, pain001.payment_info_id(batch_id, item.execution_date))
            for item in items
        ]

    # --- the Channel interface: a single B2B payment is a file of one transfer

    async def create(self, request: ChargeRequest) -> ChargeCreated | Declined:
        item_or_refusal = self._single_transfer(request)
        if isinstance(item_or_refusal, Declined):
            return item_or_refusal
        document = self.build_file(request.payment_id, [item_or_refusal])
        receipt = await self._submit_resending(document)
        if receipt.status == "rejected":
            return Declined(receipt.reason_code or "rejected", receipt.reason or "the bank rejected the file")
        # The transfer is with the bank now; its fate comes from the status report (query).
        return ChargeCreated(PayerAction(kind="none"), channel_ref=receipt.file_id)

    async def _submit_resending(self, document: bytes) -> SubmissionReceipt:
        """A transfer moves money without the payer doing anything, so an unanswered upload must
        not end in a failover to another channel: resend the very file (the bank keeps it once)."""
        for _ in range(UPLOAD_ATTEMPTS_MAX - 1):
            try:
                return await self.submit_file(document)
            except ChannelError as error:
                if error.outcome_known:
                    raise
        return await self.submit_file(document)

    async def query(self, payment_id: str) -> PaymentStatus:
        report = await self.fetch_status_report(payment_id)
        if report is None:
            return PaymentStatus(payment_id=payment_id, state="not_found")
        status = report.status_of(payment_id)
        return PaymentStatus(
            payment_id=payment_id, state=PAYMENT_STATES[status.state], amount=status.amount,
            channel_txn_id=status.bank_ref, paid_at=status.accepted_at if status.state == "settled" else None,
            failure_code=status.reason_code if status.state in ("rejected", "cancelled") else None,
        )  # fmt: skip

    async def close(self, payment_id: str) -> None:
        status = await self.query(payment_id)
        if status.state in ("not_found", "failed", "closed"):  # nothing the bank could still pay
            return
        if status.state == "succeeded":
            raise ChannelError("the transfer is settled", outcome_known=True, code="ACSC")
        # Recalling a file in flight takes a cancellation request (camt.055) the bank may refuse;
        # until it settles or is rejected, the caller keeps querying.
        raise ChannelError("the transfer is with the bank and cannot be recalled", outcome_known=True, code="in_flight")

    async def refund(self, request: RefundRequest) -> RefundStatus:
        # A credit transfer is not refundable by the payer: the creditor sends the money back.
        return RefundStatus(
            refund_id=request.refund_id, payment_id=request.payment_id, state="failed", amount=request.amount,
            failure_code="REFUND_NOT_SUPPORTED",
        )  # fmt: skip

    async def query_refund(self, payment_id: str, refund_id: str) -> RefundStatus:
        return RefundStatus(refund_id=refund_id, payment_id=payment_id, state="not_found")

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentStatus | RefundStatus:
        raise InvalidNotification("the bank sends no notifications; transfer status comes from pain.002 reports")

    def ack(self, accepted: bool) -> NotificationAck:
        return NotificationAck(status_code=404, body=b"", media_type="text/plain")

    # --- statements

    async def download_statement(self, business_date: date) -> bytes:
        query = {"account": self.config.debtor_account, "date": business_date.isoformat(),
                 "format": self.config.statement_format}  # fmt: skip
        response = await self._send("GET", wire.STATEMENT_PATH, query=query)
        self._expect_success(response)
        return response.content

    def parse_statement(self, raw: bytes) -> list[StatementLine]:
        return statement_lines(read_statements(raw), self.zone)

    # --- plumbing

    def _single_transfer(self, request: ChargeRequest) -> TransferItem | Declined:
        if request.scenario not in self.scenarios:
            return Declined("SCENARIO_NOT_SUPPORTED", f"corporate banking has no {request.scenario} payment")
        creditor = {key: request.payer.get(key) for key in CREDITOR_FIELDS}
        fields = creditor | {
            "end_to_end_id": request.payment_id, "amount": request.amount.decimal_text(),
            "currency": request.amount.currency,
            "remittance_info": request.payer.get("remittance_info") or request.subject[:REMITTANCE_MAX],
        }  # fmt: skip
        item, errors = check_transfer(fields, 1, today=self.today(), account_currency=self.config.currency)
        if errors or item is None:
            code = "CURRENCY_NOT_SUPPORTED" if any(e.field == "currency" for e in errors) else "INVALID_CREDITOR"
            return Declined(code, "; ".join(f"{e.field}: {e.message}" for e in errors))
        return item

    async def _send(
        self, method: str, path: str, *, query: Mapping[str, str] | None = None, body: bytes = b"",
        content_type: str | None = None,
    ) -> httpx.Response:
        """One signed request; an answer that says nothing or cannot be trusted becomes ChannelError."""
        url = httpx.URL(self.config.base_url + path, params=query)
        raw_path, _, raw_query = url.raw_path.decode().partition("?")
        headers = signing.sign_request(
            self._private_key, key_id=self.config.key_id, method=method, path=raw_path, query=raw_query, body=body,
            created=int(time.time()), nonce=signing.new_nonce(),
        )  # fmt: skip
        headers["Accept"] = f"{wire.XML_MEDIA_TYPE}, {wire.JSON_MEDIA_TYPE}, {wire.MT940_MEDIA_TYPE}"
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = await self._http.request(method, url, content=body, headers=headers, timeout=self.config.timeout_s)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            raise ChannelError(f"bank not reached: {e!r}", outcome_known=True, code="connect_error") from e
        except httpx.TimeoutException as e:
            raise ChannelError(f"bank did not answer: {e!r}", outcome_known=False, code="timeout") from e
        except httpx.TransportError as e:
            raise ChannelError(f"bank connection failed: {e!r}", outcome_known=False, code="transport_error") from e
        self._check_answer(response, headers["Signature"])
        return response

    def _check_answer(self, response: httpx.Response, request_signature: str) -> None:
        status = response.status_code
        if status >= 500:
            raise ChannelError(f"bank answered {status}", outcome_known=False, code=self._error(response).code)
        if status == 401:  # our signature refused: nothing was processed
            error = self._error(response)
            raise ChannelError(f"bank refused our signature: {error.message}", outcome_known=True, code=error.code)
        try:
            signing.verify_answer(
                response.headers, public_key=self._bank_key, key_id=self.config.bank_key_id, status=status,
                body=response.content, request_signature=request_signature, now_s=int(time.time()),
            )  # fmt: skip
        except signing.SignatureError as e:
            # Whatever it says may be forged, and the request may have been processed.
            raise ChannelError(f"untrusted answer: {e}", outcome_known=False, code="answer_signature") from e

    def _expect_success(self, response: httpx.Response) -> None:
        if not response.is_success:
            error = self._error(response)
            raise ChannelError(f"bank: {error.code} {error.message}", outcome_known=True, code=error.code)

    @staticmethod
    def _receipt(response: httpx.Response) -> wire.Receipt:
        try:
            return wire.Receipt.model_validate_json(response.content)
        except ValidationError as e:
            raise ChannelError(f"malformed bank answer: {e}", outcome_known=False, code="malformed_answer") from e

    @staticmethod
    def _error(response: httpx.Response) -> wire.ErrorAnswer:
        try:
            return wire.ErrorAnswer.model_validate_json(response.content)
        except ValidationError:
            return wire.ErrorAnswer(code=f"HTTP_{response.status_code}", message=response.text[:200])


def read_statements(raw: bytes) -> list[BankStatement]:
    """camt.053 (XML) or MT940 (SWIFT text), told apart by their first character."""
    try:
        if raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            return camt053.parse(raw)
        return swift_mt940.parse(raw)
    except wire.MessageError as e:
        raise ChannelError(f"unreadable statement: {e}", outcome_known=True, code="malformed_statement") from e
