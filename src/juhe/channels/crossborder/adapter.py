"""Cross-border payments through a correspondent bank: ISO 20022 over its host-to-host API, with
its FX desk for quotes, and the e-CNY wallet rail it operates.

We are the debtor agent: a payment is a pacs.008 to the correspondent (the instructed agent),
converted at a quote of its FX desk; its status comes as pacs.002, by query (pacs.028) or pushed;
money comes back by recall (camt.056) answered with a return (pacs.004); the day closes with a
camt.053. `ChargeRequest.payer` picks the rail and names the creditor:

    {"rail": "swift", "quote_id" | "sell_currency", "creditor_bic", "creditor_account",
     "creditor_name", "charge_bearer": "SHA"|"OUR"|"BEN", "debtor_name"?}
    {"rail": "ecny", "payee_wallet_id", "payee_name"}

Every request, answer and notification is signed with RFC 9421 HTTP Message Signatures.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Mapping
from urllib.parse import quote as quote_path

import httpx
from pydantic import BaseModel, Field, ValidationError

from juhe.channels.base import (
    ChannelError,
    ChargeCreated,
    ChargeRequest,
    ChargeSucceeded,
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
from juhe.channels.crossborder import camt053, ecny, fx, iso, pacs002, pacs008, returns, signing, wire
from juhe.http import async_client
from juhe.money import Money, MoneyError

XML = "application/xml"
JSON = "application/json"
SETTLEMENT_CURRENCIES = frozenset({"USD", "EUR", "GBP", "HKD", "JPY", "SGD", "CNY"})
FX_QUOTE_EXPIRED = "FX_QUOTE_EXPIRED"  # the desk's proprietary pacs.002 reason for a deal past its time
CREDITOR_FIELDS = ("creditor_bic", "creditor_account", "creditor_name")


class CrossBorderConfig(BaseModel):
    base_url: str
    instructing_bic: str = Field(pattern=r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")  # ours, as debtor agent
    correspondent_bic: str = Field(pattern=r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
    debtor_name: str  # the ordering customer when the payment names none
    debtor_account: str  # our account with the correspondent
    key_id: str  # our signing key as registered with the bank
    private_key_file: Path
    bank_key_id: str
    bank_public_key_file: Path
    wallet_id: str = Field(pattern=ecny.WALLET_ID_PATTERN)  # our e-CNY wallet
    wallet_private_key_file: Path  # signs transfers out of that wallet
    timeout_s: float = 5.0


class CrossBorderChannel:
    code = "crossborder"
    scenarios = frozenset({Scenario.CROSSBORDER})
    currencies = SETTLEMENT_CURRENCIES

    def __init__(self, config: CrossBorderConfig, http: httpx.AsyncClient | None = None):
        self.config = config
        self._http = http or async_client()
        self._key = signing.load_private_key(config.private_key_file)
        self._bank_key = signing.load_public_key(config.bank_public_key_file)
        self._wallet_key = signing.load_private_key(config.wallet_private_key_file)

    # --- FX desk

    async def quote(self, sell: str, buy: str, amount: Money) -> fx.Quote:
        """A dealing quote for `amount` (in either currency); FxError when the desk will not deal."""
        request = wire.QuoteRequest(
            sell_currency=sell, buy_currency=buy, amount=amount.decimal_text(), amount_currency=amount.currency
        )
        response = await self._send("POST", "/fx/v1/quotes", request.model_dump_json().encode(), JSON)
        return self._quote_answer(response)

    async def find_quote(self, quote_id: str) -> fx.Quote:
        response = await self._send("GET", f"/fx/v1/quotes/{quote_path(quote_id, safe='')}")
        return self._quote_answer(response)

    def _quote_answer(self, response: httpx.Response) -> fx.Quote:
        if response.status_code != 200:
            error = _error(response)
            raise fx.FxError(error.code.lower(), error.message)
        try:
            return wire.quote_of(wire.QuoteAnswer.model_validate_json(response.content))
        except (ValidationError, fx.FxError, MoneyError) as e:
            raise ChannelError(f"malformed quote: {e}", outcome_known=True, code="malformed_answer") from e

    # --- payments

    async def create(self, request: ChargeRequest) -> ChargeCreated | ChargeSucceeded | Declined:
        if request.scenario not in self.scenarios:
            return Declined("scenario_not_supported", f"cross-border has no {request.scenario} payment")
        rail = request.payer.get("rail", "swift")
        if rail == "ecny":
            return await self._create_ecny(request)
        if rail != "swift":
            return Declined("rail_not_supported", f"rail {rail!r}: swift or ecny")
        return await self._create_swift(request)

    async def _create_swift(self, request: ChargeRequest) -> ChargeCreated | ChargeSucceeded | Declined:
        refusal = _swift_refusal(request)
        if refusal:
            return refusal
        quote = await self._deal(request)
        if isinstance(quote, Declined):
            return quote
        now = datetime.now(timezone.utc)
        if quote.is_expired(now):  # checked again by the bank; never send what it must refuse
            return Declined("fx_quote_expired", f"FX quote {quote.id} expired at {quote.expires_at.isoformat()}")
        try:
            transfer = self._credit_transfer(request, quote, now)
        except fx.FxError as e:
            return Declined(e.code, str(e))
        raw = pacs008.build(transfer)
        found = pacs008.problems(raw)
        if found:
            return Declined("invalid_message", "; ".join(found)[:500])
        response = await self._send("POST", "/iso20022/v1/pacs.008", raw, XML, callback=request.notify_url)
        if response.status_code == 400:  # NAK: refused unread, nothing booked
            error = _error(response)
            return Declined(error.code, error.message)
        return _created(_report(response))

    async def _deal(self, request: ChargeRequest) -> fx.Quote | Declined:
        payer = request.payer
        try:
            if payer.get("quote_id"):
                quote = await self.find_quote(payer["quote_id"])
            else:
                quote = await self.quote(payer["sell_currency"], request.amount.currency, request.amount)
        except fx.FxError as e:
            return Declined(e.code, str(e))
        if quote.buy != request.amount.currency or payer.get("sell_currency", quote.sell) != quote.sell:
            return Declined("fx_quote_mismatch", f"quote {quote.id} sells {quote.sell} for {quote.buy}")
        return quote

    def _credit_transfer(self, request: ChargeRequest, quote: fx.Quote, now: datetime) -> pacs008.CreditTransfer:
        payer, bic = request.payer, self.config.instructing_bic
        bearer = fx.ChargeBearer(payer.get("charge_bearer", "SHA"))
        if quote.tariff is not None:
            fx.charges(bearer, request.amount, quote.tariff)  # refuses an amount the fees would swallow
        instructed = fx.sell_amount(quote, request.amount)
        if instructed.amount_minor <= 0:
            raise fx.FxError("fx_amount_too_small", f"{request.amount} is worth nothing in {quote.sell}")
        # Under CRED the usage rules want ChrgsInf: as first agent we state what we deducted, nothing.
        deducted = ((Money.zero(request.amount.currency), bic),) if bearer is fx.ChargeBearer.BEN else ()
        return pacs008.CreditTransfer(
            msg_id=iso.new_message_id("JH"), created_at=now, instruction_id=request.payment_id,
            end_to_end_id=request.payment_id, uetr=iso.uetr_for(request.payment_id), settlement=request.amount,
            settlement_date=now.date(), instructed=instructed, rate=quote.rate, bearer=bearer, charges=deducted,
            instructing_bic=bic, instructed_bic=self.config.correspondent_bic,
            debtor_name=payer.get("debtor_name") or self.config.debtor_name, debtor_account=self.config.debtor_account,
            debtor_agent_bic=bic, creditor_name=payer["creditor_name"], creditor_account=payer["creditor_account"],
            creditor_agent_bic=payer["creditor_bic"], remittance=request.subject[: iso.MAX140] or None,
            fx_deal=quote.id,
        )  # fmt: skip

    async def _create_ecny(self, request: ChargeRequest) -> ChargeCreated | ChargeSucceeded | Declined:
        if request.amount.currency != ecny.CURRENCY:
            return Declined("currency_not_supported", f"e-CNY moves CNY only, not {request.amount.currency}")
        try:
            transfer = ecny.TransferRequest(
                out_transfer_no=request.payment_id, payer_wallet_id=self.config.wallet_id,
                payee_wallet_id=request.payer.get("payee_wallet_id", ""),
                payee_name=request.payer.get("payee_name", ""),
                amount_fen=request.amount.amount_minor, currency=ecny.CURRENCY, remark=request.subject[:64],
                notify_url=request.notify_url, timestamp=datetime.now(timezone.utc),
            )  # fmt: skip
        except ValidationError as e:
            return Declined("invalid_request", f"e-CNY transfer: {e.errors()[0]['loc']} {e.errors()[0]['msg']}")
        body = ecny.signed_transfer(self._wallet_key, transfer).model_dump_json().encode()
        response = await self._send("POST", "/ecny/v1/transfers", body, JSON)
        if response.status_code == 409:  # the number is taken: maybe by our own earlier attempt, so query
            error = _error(response)
            raise ChannelError(f"e-CNY: {error.message}", outcome_known=False, code=error.code)
        if response.status_code != 200:
            error = _error(response)
            return Declined(error.code, error.message)
        answer = self._transfer_answer(response)
        if answer.state == "FAILED":
            return Declined(answer.fail_code or "FAILED", "e-CNY transfer failed")
        if answer.state == "SUCCESS":
            return ChargeSucceeded(ecny.payment_status(answer.confirmation))
        return ChargeCreated(PayerAction(kind="none"), channel_ref=answer.transfer_id)

    async def query(self, payment_id: str) -> PaymentStatus:
        return (await self._find(payment_id))[1]

    async def _find(self, payment_id: str) -> tuple[str, PaymentStatus]:
        """The rail a payment went by and its status there: the bank knows a UETR, or the operator the number."""
        response = await self._send("POST", "/iso20022/v1/pacs.028", self._status_request(payment_id), XML)
        if response.status_code == 404:
            return "ecny", await self._query_ecny(payment_id)
        return "swift", wire.payment_status(_report(response))

    async def _query_ecny(self, payment_id: str) -> PaymentStatus:
        response = await self._send("GET", f"/ecny/v1/transfers/{quote_path(payment_id, safe='')}")
        if response.status_code == 404:
            return PaymentStatus(payment_id=payment_id, state="not_found")
        _expect(response, 200)
        answer = self._transfer_answer(response)
        return ecny.pending_status(answer) if answer.confirmation is None else ecny.payment_status(answer.confirmation)

    async def close(self, payment_id: str) -> None:
        """Cancel a payment the bank has not settled; ALREADY_SETTLED (outcome known) once it has."""
        rail, status = await self._find(payment_id)
        if status.state in ("not_found", "failed", "closed"):
            return
        if status.state == "succeeded":
            raise ChannelError(
                f"{payment_id} is settled; refund it instead", outcome_known=True, code="ALREADY_SETTLED"
            )
        if rail == "ecny":  # a wallet transfer in flight cannot be stopped; the operator confirms it either way
            raise ChannelError(
                f"e-CNY transfer {payment_id} is in flight", outcome_known=True, code="TRANSFER_IN_PROGRESS"
            )
        if status.amount is None:
            raise ChannelError(
                f"status of {payment_id} without its amount", outcome_known=True, code="malformed_answer"
            )
        recall = self._recall(payment_id, payment_id, status.amount)
        response = await self._send("POST", "/iso20022/v1/camt.056", recall, XML)
        if response.status_code == 200:
            return
        error = _error(response)
        raise ChannelError(f"cancellation refused: {error.message}", outcome_known=True, code=error.code)

    # --- refunds: recall (camt.056) answered by a return (pacs.004)

    async def refund(self, request: RefundRequest) -> RefundStatus:
        def failed(code: str) -> RefundStatus:
            return RefundStatus(
                refund_id=request.refund_id, payment_id=request.payment_id, state="failed", amount=request.amount,
                failure_code=code,
            )  # fmt: skip

        if request.amount != request.payment_total:
            return failed("partial_return_unsupported")  # a recall brings back the whole payment or nothing
        recall = self._recall(request.payment_id, request.refund_id, request.amount, request.reason)
        response = await self._send("POST", "/iso20022/v1/camt.056", recall, XML, callback=request.notify_url)
        if response.status_code == 202:
            return RefundStatus(
                refund_id=request.refund_id, payment_id=request.payment_id, state="pending", amount=request.amount
            )
        if response.status_code == 200:
            return self._returned(response, request.payment_id)
        if response.status_code == 404 and (await self._query_ecny(request.payment_id)).state != "not_found":
            return failed("ecny_return_unsupported")  # only the payee can send e-CNY back
        return failed(_error(response).code)

    async def query_refund(self, payment_id: str, refund_id: str) -> RefundStatus:
        response = await self._send("GET", f"/iso20022/v1/returns/{quote_path(refund_id, safe='')}")
        if response.status_code == 404:
            return RefundStatus(refund_id=refund_id, payment_id=payment_id, state="not_found")
        if response.status_code == 202:
            return RefundStatus(refund_id=refund_id, payment_id=payment_id, state="pending")
        return self._returned(response, payment_id)

    def _returned(self, response: httpx.Response, payment_id: str) -> RefundStatus:
        _expect(response, 200)
        try:
            status = wire.refund_status(returns.read_return(response.content))
        except iso.MessageError as e:
            raise ChannelError(f"malformed pacs.004: {e}", outcome_known=False, code="malformed_answer") from e
        if status.payment_id != payment_id:
            raise ChannelError(f"return {status.refund_id} belongs to {status.payment_id}", outcome_known=True)
        return status

    # --- notifications

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentStatus | RefundStatus:
        try:
            signing.verify(
                self._bank_key, self.config.bank_key_id, signing.NOTIFICATION_COMPONENTS, {"@method": "POST"},
                headers, body, int(time.time()),
            )  # fmt: skip
            if body.lstrip().startswith(b"{"):
                return self._confirmed(ecny.Confirmation.model_validate_json(body))
            name = iso.message_name(body)
            if name == pacs002.REPORT:
                return wire.payment_status(pacs002.read_report(body))
            if name == returns.RETURN:
                return wire.refund_status(returns.read_return(body))
        except (signing.SignatureError, iso.MessageError, ValidationError) as e:
            raise InvalidNotification(f"cross-border notification rejected: {e}") from e
        raise InvalidNotification(f"no notification is a {name}")

    def _confirmed(self, confirmation: ecny.Confirmation) -> PaymentStatus:
        if not ecny.confirmation_signature_ok(self._bank_key, confirmation):
            raise InvalidNotification("e-CNY confirmation not signed by the operator")
        if confirmation.payer_wallet_id != self.config.wallet_id:
            raise InvalidNotification(f"confirmation for wallet {confirmation.payer_wallet_id}, not ours")
        return ecny.payment_status(confirmation)

    def ack(self, accepted: bool) -> NotificationAck:
        # The bank stops on any 2xx and retries anything else on its schedule.
        if accepted:
            return NotificationAck(status_code=200, body=b"", media_type="text/plain")
        return NotificationAck(status_code=500, body=b"not accepted", media_type="text/plain")

    # --- statement

    async def download_statement(self, business_date: date) -> bytes:
        response = await self._send("GET", "/iso20022/v1/camt.053", query=f"date={business_date.isoformat()}")
        if response.status_code == 404:
            return b""  # no movement that day
        _expect(response, 200)
        return response.content

    def parse_statement(self, raw: bytes) -> list[StatementLine]:
        return [wire.statement_line(entry) for entry in camt053.read(raw)] if raw else []

    # --- messages and transport

    def _status_request(self, payment_id: str) -> bytes:
        return pacs002.build_request(
            pacs002.StatusRequest(
                msg_id=iso.new_message_id("JQ"), created_at=datetime.now(timezone.utc),
                request_id=iso.new_message_id("SR"), instruction_id=payment_id, end_to_end_id=payment_id,
                uetr=iso.uetr_for(payment_id), instructing_bic=self.config.instructing_bic,
                instructed_bic=self.config.correspondent_bic,
            )
        )  # fmt: skip

    def _recall(self, payment_id: str, cancellation_id: str, amount: Money, reason: str = "") -> bytes:
        return returns.build_recall(
            returns.Recall(
                assignment_id=iso.new_message_id("JC"), created_at=datetime.now(timezone.utc),
                assigner_bic=self.config.instructing_bic, assignee_bic=self.config.correspondent_bic,
                cancellation_id=cancellation_id, instruction_id=payment_id, end_to_end_id=payment_id,
                uetr=iso.uetr_for(payment_id), original_amount=amount, reason_info=reason or None,
            )
        )  # fmt: skip

    def _transfer_answer(self, response: httpx.Response) -> ecny.TransferAnswer:
        try:
            answer = ecny.TransferAnswer.model_validate_json(response.content)
        except ValidationError as e:
            raise ChannelError(f"malformed e-CNY answer: {e}", outcome_known=False, code="malformed_answer") from e
        final = answer.state != "PROCESSING"
        if final != (answer.confirmation is not None) or (
            final and not ecny.confirmation_signature_ok(self._bank_key, answer.confirmation)
        ):
            raise ChannelError(
                "e-CNY answer without a valid confirmation", outcome_known=False, code="answer_signature"
            )
        return answer

    async def _send(
        self, method: str, path: str, body: bytes = b"", content_type: str | None = None, query: str = "",
        callback: str | None = None,
    ) -> httpx.Response:  # fmt: skip
        """One signed request; untrusted or server-failed answers become ChannelError, business
        answers (2xx, 4xx) are returned for the caller to map. `callback` is where the bank is to
        push what follows (pacs.002, pacs.004); it is signed with the rest."""
        values = signing.request_values(method, path, query)
        components = signing.REQUEST_COMPONENTS
        if callback:
            values[signing.CALLBACK] = callback
            components += (signing.CALLBACK,)
        headers = signing.sign(self._key, self.config.key_id, components, values, body, int(time.time()))
        if callback:
            headers["Callback-URL"] = callback
        if content_type:
            headers["Content-Type"] = content_type
        url = self.config.base_url.rstrip("/") + path + (f"?{query}" if query else "")
        try:
            response = await self._http.request(
                method, url, content=body, headers=headers, timeout=self.config.timeout_s
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            raise ChannelError(f"bank not reached: {e!r}", outcome_known=True, code="connect_error") from e
        except httpx.TimeoutException as e:
            raise ChannelError(f"bank did not answer: {e!r}", outcome_known=False, code="timeout") from e
        except httpx.TransportError as e:
            raise ChannelError(f"bank connection failed: {e!r}", outcome_known=False, code="transport_error") from e
        self._check_answer(response)
        return response

    def _check_answer(self, response: httpx.Response) -> None:
        status = response.status_code
        if status >= 500:
            raise ChannelError(f"bank answered {status}", outcome_known=False, code=_error(response).code)
        if status == 401:  # our signature refused: nothing was processed
            raise ChannelError(
                f"bank refused: {_error(response).message}", outcome_known=True, code=_error(response).code
            )
        try:
            signing.verify(
                self._bank_key, self.config.bank_key_id, signing.ANSWER_COMPONENTS, {"@status": str(status)},
                response.headers, response.content, int(time.time()),
            )  # fmt: skip
        except signing.SignatureError as e:
            # Whatever it says may be forged, and the request may have been processed.
            raise ChannelError(f"untrusted answer: {e}", outcome_known=False, code="answer_signature") from e


def _swift_refusal(request: ChargeRequest) -> Declined | None:
    payer = request.payer
    if request.amount.currency not in SETTLEMENT_CURRENCIES:
        return Declined("currency_not_supported", f"the correspondent does not settle {request.amount.currency}")
    missing = [name for name in CREDITOR_FIELDS if not payer.get(name)]
    if missing:
        return Declined("creditor_missing", f"a cross-border payment needs {', '.join(missing)}")
    if not payer.get("quote_id") and not payer.get("sell_currency"):
        return Declined("fx_quote_required", "name a quote_id, or the sell_currency to quote now")
    if payer.get("charge_bearer", "SHA") not in fx.ChargeBearer.__members__:
        return Declined("charge_bearer_invalid", "charge_bearer is SHA, OUR or BEN")
    return None


def _created(report: pacs002.StatusReport) -> ChargeCreated | ChargeSucceeded | Declined:
    if report.status == "RJCT":
        if report.reason == "DUPL":  # the UETR is known with other details: what happened is for a query to say
            raise ChannelError("bank holds this payment with other details", outcome_known=False, code="DUPL")
        if report.reason == FX_QUOTE_EXPIRED:
            return Declined("fx_quote_expired", report.reason_info or "FX quote expired")
        return Declined(report.reason or "RJCT", report.reason_info or "rejected by the correspondent")
    status = wire.payment_status(report)
    if status.state == "succeeded":
        return ChargeSucceeded(status)
    if status.state == "closed":
        return Declined("payment_cancelled", f"{report.end_to_end_id} was cancelled")
    return ChargeCreated(PayerAction(kind="none"), channel_ref=report.uetr)


def _report(response: httpx.Response) -> pacs002.StatusReport:
    _expect(response, 200)
    try:
        return pacs002.read_report(response.content)
    except iso.MessageError as e:
        raise ChannelError(f"malformed pacs.002: {e}", outcome_known=False, code="malformed_answer") from e


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        error = _error(response)
        raise ChannelError(f"bank: {error.code} {error.message}", outcome_known=True, code=error.code)


def _error(response: httpx.Response) -> wire.ErrorAnswer:
    try:
        return wire.ErrorAnswer.model_validate_json(response.content)
    except ValidationError:
        return wire.ErrorAnswer(code=f"HTTP_{response.status_code}", message=response.text[:200])
