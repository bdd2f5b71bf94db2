"""The correspondent bank on localhost: its FX desk, its ISO 20022 host-to-host API and the
e-CNY wallets it operates, with fault injection.

It checks every request's RFC 9421 signature (401 otherwise), NAKs a pacs.008 that fails the
pacs.008.001.08 XSD or the CBPR+ rules (400 FF01), rejects at once, booking nothing, what it can
judge itself (unknown, expired, reused or mismatched FX deal; duplicate UETR; wrong agent; an
amount the fees would swallow, AM02), acknowledges the rest with pacs.002 ACTC, settles it shortly
after and pushes a signed pacs.002 (ACSC, or RJCT: AC04 for a creditor account ending 0000, AM04
when the decline fault strikes). Recalls cancel an unsettled payment (CANC) or are answered by a
pacs.004 return; the day's camt.053 lists it all.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Callable

from fastapi import FastAPI, Request, Response
from pydantic import ValidationError

from juhe.channels.crossborder import camt053, ecny, fx, iso, pacs002, pacs008, returns, signing, wire
from juhe.channels.crossborder.adapter import FX_QUOTE_EXPIRED, CrossBorderConfig
from juhe.channels.simkit import (
    Faults,
    PayRequest,
    PlantedDiscrepancy,
    SimOrder,
    SimRefund,
    Simulator,
    plant_discrepancies,
    write_rsa_keypair,
)
from juhe.money import Money, MoneyError, exponent

BANK_BIC = "SNDBCNSHXXX"  # a sandbox bank in Shanghai: the correspondent and e-CNY operator
MEMBER_BIC = "JUHECNS1XXX"  # Juhe, as the bank knows its client
DEBTOR_ACCOUNT = "SNDB00001234567"
DEBTOR_NAME = "Juhe Payments Ltd"
WALLET_ID = "0031000000000001"  # operator 0031 is this bank
KEY_ID, BANK_KEY_ID = "juhe-h2h-1", "sndb-h2h-1"
MID_CNY = {  # CNY per unit: the desk's mid rates
    "CNY": Decimal(1), "USD": Decimal("7.1850"), "EUR": Decimal("7.8120"), "GBP": Decimal("9.1240"),
    "HKD": Decimal("0.9210"), "JPY": Decimal("0.04810"), "SGD": Decimal("5.3370"),
}  # fmt: skip
TARIFF = {  # (sending fee, receiving fee) in the settlement currency
    "USD": ("15.00", "20.00"), "EUR": ("12.00", "18.00"), "GBP": ("10.00", "15.00"), "HKD": ("100.00", "150.00"),
    "JPY": ("2000", "3000"), "SGD": ("20.00", "25.00"), "CNY": ("100.00", "150.00"),
}  # fmt: skip
SPREAD_BPS = 30
RATE_DIGITS = 6  # significant digits the desk deals in
QUOTE_TTL_S = 60.0
QUOTES_KEPT_MAX = 10_000
DEAL_MAX_MAJOR = 5_000_000  # per quote, in units of the amount's currency
SETTLE_AFTER_MS = 100  # the bank's own processing time, unless faults say otherwise
RETURN_SETTLE_S = 0.05
OPENING_MAJOR = 10_000_000  # each account opens the day with this much

Answer = tuple[int, bytes, str]  # status, body, media type


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class CrossBorderSandbox(Simulator):
    txn_prefix = "SNDB"
    retry_schedule_s = [5, 30, 60, 300, 900, 1800, 3600]

    def __init__(self, key_dir: Path, base_url: str, faults: Faults | None = None):
        super().__init__(faults)
        self.base_url = base_url.rstrip("/")
        self.bic, self.member_bic, self.wallet_id = BANK_BIC, MEMBER_BIC, WALLET_ID
        self.private_key_file, client_public_file = write_rsa_keypair(key_dir, "crossborder_client")
        bank_private_file, self.bank_public_key_file = write_rsa_keypair(key_dir, "crossborder_bank")
        self.wallet_private_key_file, wallet_public_file = write_rsa_keypair(key_dir, "crossborder_wallet")
        self._client_key = signing.load_public_key(client_public_file)
        self._wallet_key = signing.load_public_key(wallet_public_file)
        self._bank_key = signing.load_private_key(bank_private_file)
        self.quote_ttl_s = QUOTE_TTL_S
        self.quotes: dict[str, tuple[fx.Quote, str | None]] = {}  # id → (quote, UETR that used it)
        self.planted: dict[date, list[PlantedDiscrepancy]] = {}
        self._uetrs: dict[str, str] = {}  # UETR → order number
        self._recalls: dict[str, str] = {}  # CxlId → order number
        self._callbacks: dict[str, str] = {}  # refund id → where its pacs.004 goes
        self._timers: set[asyncio.Task] = set()
        self.app = self._build_app()

    def client_config(self) -> dict:
        return {
            "base_url": self.base_url, "app_id": KEY_ID, "app_private_key_file": str(self.private_key_file),
            "channel_public_key_file": str(self.bank_public_key_file), "key_id": KEY_ID, "bank_key_id": BANK_KEY_ID,
            "instructing_bic": self.member_bic, "correspondent_bic": self.bic, "debtor_account": DEBTOR_ACCOUNT,
            "debtor_name": DEBTOR_NAME, "wallet_id": self.wallet_id,
            "wallet_private_key_file": str(self.wallet_private_key_file),
        }  # fmt: skip

    def adapter_config(self) -> CrossBorderConfig:
        return CrossBorderConfig(
            base_url=self.base_url, instructing_bic=self.member_bic, correspondent_bic=self.bic,
            debtor_name=DEBTOR_NAME, debtor_account=DEBTOR_ACCOUNT, key_id=KEY_ID,
            private_key_file=self.private_key_file, bank_key_id=BANK_KEY_ID,
            bank_public_key_file=self.bank_public_key_file, wallet_id=self.wallet_id,
            wallet_private_key_file=self.wallet_private_key_file,
        )  # fmt: skip

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Correspondent bank sandbox (ISO 20022, FX desk, e-CNY)")
        app.middleware("http")(self.faults_on(
            lambda path: True,
            lambda: self._json(503, {"code": "SYSTEM_ERROR", "message": "service temporarily unavailable"}),
        ))
        app.include_router(self.control_router())
        routes: list[tuple[str, Callable, str]] = [
            ("/fx/v1/quotes", self._new_quote, "POST"),
            ("/fx/v1/quotes/{quote_id}", self._get_quote, "GET"),
            ("/iso20022/v1/pacs.008", self._pacs008, "POST"),
            ("/iso20022/v1/pacs.028", self._pacs028, "POST"),
            ("/iso20022/v1/camt.056", self._camt056, "POST"),
            ("/iso20022/v1/returns/{cancellation_id}", self._get_return, "GET"),
            ("/iso20022/v1/camt.053", self._camt053, "GET"),
            ("/ecny/v1/transfers", self._ecny_transfer, "POST"),
            ("/ecny/v1/transfers/{out_transfer_no}", self._ecny_query, "GET"),
        ]
        for path, endpoint, method in routes:
            app.add_api_route(path, endpoint, methods=[method])
        return app

    # --- protocol plumbing


    async def _serve(self, request: Request, handle: Callable[[bytes, Request], Answer]) -> Response:
        body = await request.body()
        try:
            self._authenticate(request, body)
            status, content, media_type = handle(body, request)
        except Refusal as r:
            return self._json(r.status, {"code": r.code, "message": r.message})
        except ValidationError as e:
            first = e.errors()[0]
            return self._json(
                400, {"code": "PARAM_ERROR", "message": f"{'/'.join(map(str, first['loc']))}: {first['msg']}"}
            )
        return self._signed(status, content, media_type)

    def _authenticate(self, request: Request, body: bytes) -> None:
        path = request.scope.get("raw_path", request.url.path.encode()).decode()
        values = signing.request_values(request.method, path, request.scope["query_string"].decode())
        components = signing.REQUEST_COMPONENTS
        callback = request.headers.get("callback-url")
        if callback:
            values[signing.CALLBACK] = callback
            components += (signing.CALLBACK,)
        try:
            signing.verify(self._client_key, KEY_ID, components, values, request.headers, body, _now_s())
        except signing.SignatureError as e:
            raise Refusal(401, "SIGNATURE_INVALID", f"request signature rejected: {e}") from e

    def _signed(self, status: int, content: bytes, media_type: str) -> Response:
        headers = signing.sign(
            self._bank_key, BANK_KEY_ID, signing.ANSWER_COMPONENTS, {"@status": str(status)}, content, _now_s()
        )
        return Response(content=content, status_code=status, headers=headers, media_type=media_type)

    def _json(self, status: int, answer: dict) -> Response:
        return self._signed(status, _json_bytes(answer), "application/json")

    def _later(self, delay_s: float, action: Callable[[], None]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay_s)
            action()

        task = asyncio.get_running_loop().create_task(run())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    # --- FX desk

    async def _new_quote(self, request: Request) -> Response:
        return await self._serve(request, lambda body, _: self._deal(wire.QuoteRequest.model_validate_json(body)))

    def _deal(self, asked: wire.QuoteRequest) -> Answer:
        sell, buy = asked.sell_currency, asked.buy_currency
        if sell not in MID_CNY or buy not in MID_CNY or sell == buy:
            raise Refusal(422, "FX_PAIR_NOT_SUPPORTED", f"the desk does not deal {sell}/{buy}")
        if asked.amount_currency not in (sell, buy):
            raise Refusal(422, "FX_AMOUNT_CURRENCY", f"amount must be in {sell} or {buy}")
        try:
            size = Money.parse(asked.amount, asked.amount_currency)
        except MoneyError as e:
            raise Refusal(400, "PARAM_ERROR", str(e)) from None
        if not 0 < size.amount_minor <= DEAL_MAX_MAJOR * 10 ** exponent(size.currency):
            raise Refusal(422, "FX_AMOUNT_LIMIT", f"the desk deals up to {DEAL_MAX_MAJOR} {size.currency} per quote")
        quote = fx.Quote(
            id=f"FXQ{secrets.token_hex(8).upper()}", sell=sell, buy=buy, rate=_dealing_rate(sell, buy),
            spread_bps=SPREAD_BPS, expires_at=datetime.now(timezone.utc) + timedelta(seconds=self.quote_ttl_s),
            tariff=_tariff(buy),
        )  # fmt: skip
        self.quotes[quote.id] = (quote, None)
        while len(self.quotes) > QUOTES_KEPT_MAX:
            del self.quotes[next(iter(self.quotes))]
        return 200, _json_bytes(_quote_answer(quote)), "application/json"

    async def _get_quote(self, quote_id: str, request: Request) -> Response:
        def answer(_: bytes, __: Request) -> Answer:
            if quote_id not in self.quotes:
                raise Refusal(404, "FX_QUOTE_NOT_FOUND", f"no quote {quote_id}")
            return 200, _json_bytes(_quote_answer(self.quotes[quote_id][0])), "application/json"

        return await self._serve(request, answer)

    # --- pacs.008 in, pacs.002 out

    async def _pacs008(self, request: Request) -> Response:
        return await self._serve(request, self._accept_transfer)

    def _accept_transfer(self, body: bytes, request: Request) -> Answer:
        try:
            transfer = pacs008.read(body)
        except iso.MessageError as e:
            raise Refusal(400, "FF01", f"invalid pacs.008: {str(e)[:300]}") from None
        callback = request.headers.get("callback-url")
        if not callback:
            raise Refusal(400, "CALLBACK_URL_MISSING", "name where pacs.002 reports go in Callback-URL")
        earlier = self.book.get(transfer.instruction_id) or self.book.get(self._uetrs.get(transfer.uetr, ""))
        if earlier is not None:
            return self._report_answer(self._resent(earlier, transfer))
        rejection = self._rejection(transfer)
        if rejection is not None:  # refused before booking: nothing changes, the deal stays unused
            return self._report_answer(_rejected(self._transfer_report(transfer), *rejection))
        return self._report_answer(self._report(self._book_transfer(transfer, callback), "ACTC"))

    def _resent(self, order: SimOrder, transfer: pacs008.CreditTransfer) -> pacs002.StatusReport:
        """The same payment again is answered with its status; other details under its ids are a duplicate."""
        booked = (order.order_no, order.channel_txn_id, Money(order.amount_minor, order.currency))
        sent = (transfer.instruction_id, transfer.uetr, transfer.settlement)
        if booked == sent and order.extra.get("creditor_account") == transfer.creditor_account:
            return self._report(order)
        return _rejected(self._transfer_report(transfer), "DUPL", "UETR or InstrId already used for another payment")

    def _rejection(self, transfer: pacs008.CreditTransfer) -> tuple[str, str] | None:
        """What the bank refuses at once, from its own books: (reason, detail) or None."""
        if transfer.instructed_bic != self.bic or transfer.instructing_bic != self.member_bic:
            return "AGNT", "instructing or instructed agent is not this relationship"
        if transfer.debtor_agent_bic != self.member_bic:
            return "AGNT", "debtor agent is not our client"
        try:
            fx.charges(transfer.bearer, transfer.settlement, _tariff(transfer.settlement.currency))
        except fx.FxError as e:
            return "AM02", str(e)  # not allowed amount: nothing would reach the creditor
        if transfer.instructed is None or transfer.instructed.currency == transfer.settlement.currency:
            return None
        found = self.quotes.get(transfer.fx_deal or "")
        if found is None:
            return "FX_QUOTE_UNKNOWN", f"no FX deal {transfer.fx_deal}"
        quote, used_by = found
        if quote.is_expired(datetime.now(timezone.utc)):
            return FX_QUOTE_EXPIRED, f"FX deal {quote.id} expired at {iso.iso_datetime(quote.expires_at)}"
        if used_by not in (None, transfer.uetr):
            return "FX_QUOTE_USED", f"FX deal {quote.id} was used by another payment"
        if (quote.sell, quote.buy, quote.rate) != (
            transfer.instructed.currency,
            transfer.settlement.currency,
            transfer.rate,
        ):
            return "FX_RATE_MISMATCH", f"FX deal {quote.id} is {quote.sell}/{quote.buy} at {quote.rate}"
        return None

    def _book_transfer(self, t: pacs008.CreditTransfer, callback: str) -> SimOrder:
        tariff = _tariff(t.settlement.currency)
        order = SimOrder(
            order_no=t.instruction_id, amount_minor=t.settlement.amount_minor, currency=t.settlement.currency,
            subject=t.remittance or "", notify_url=callback, channel_txn_id=t.uetr,
            fee_minor=fx.charges(t.bearer, t.settlement, tariff).debtor_fee.amount_minor,
            extra={
                "rail": "swift", "msg_id": t.msg_id, "end_to_end_id": t.end_to_end_id, "bank_ref": self.book.next_id(),
                "creditor_account": t.creditor_account,
            },
        )  # fmt: skip
        self.book.add(order)
        self._uetrs[t.uetr] = order.order_no
        if t.fx_deal in self.quotes:
            self.quotes[t.fx_deal] = (self.quotes[t.fx_deal][0], t.uetr)
        self._settle_later(order)
        return order

    def _settle_later(self, order: SimOrder) -> None:
        after_ms = self.injector.faults.auto_pay_after_ms
        self._later(
            (SETTLE_AFTER_MS if after_ms is None else after_ms) / 1000, lambda: self.pay(order.order_no, PayRequest())
        )

    def pay(self, order_no: str, request: PayRequest) -> SimOrder | None:
        """Settlement: the creditor's bank credits the account, or rejects the payment."""
        order = self.book.get(order_no)
        if order is None or order.state != "pending":
            return order
        closed_account = order.extra.get("creditor_account", "").endswith("0000")
        if closed_account:
            request = PayRequest(outcome="decline", payer_id=request.payer_id)
        super().pay(order_no, request)
        if order.state == "failed":
            order.paid_at = None
            order.extra["reason"] = _decline_reason(order, closed_account)
            self._notify_status(order)
        return order

    async def _pacs028(self, request: Request) -> Response:
        def answer(body: bytes, _: Request) -> Answer:
            try:
                asked = pacs002.read_request(body)
            except iso.MessageError as e:
                raise Refusal(400, "FF01", f"invalid pacs.028: {e}") from None
            return self._report_answer(self._report(self._transfer_order(asked.instruction_id, asked.uetr)))

        return await self._serve(request, answer)

    def _transfer_order(self, instruction_id: str, uetr: str) -> SimOrder:
        order = self.book.get(instruction_id)
        if order is None or order.extra.get("rail") != "swift" or order.channel_txn_id != uetr:
            raise Refusal(404, "NOT_FOUND", f"no payment {instruction_id} with UETR {uetr}")
        return order

    def _report(self, order: SimOrder, status: str | None = None) -> pacs002.StatusReport:
        settled = order.state == "succeeded"
        found = status or {"pending": "ACSP", "succeeded": "ACSC", "failed": "RJCT", "closed": "CANC"}[order.state]
        return pacs002.StatusReport(
            msg_id=iso.new_message_id("SNDB"), created_at=datetime.now(timezone.utc),
            original_msg_id=order.extra["msg_id"], original_msg_name=pacs008.MESSAGE, instruction_id=order.order_no,
            end_to_end_id=order.extra["end_to_end_id"],
            uetr=order.channel_txn_id, status=found, reason=order.extra.get("reason"),
            reason_info=order.extra.get("reason_info"), accepted_at=order.paid_at if settled else None,
            settled_on=order.paid_at.date() if settled else None, bank_reference=order.extra["bank_ref"],
            settlement=Money(order.amount_minor, order.currency),
        )  # fmt: skip

    def _transfer_report(self, t: pacs008.CreditTransfer) -> pacs002.StatusReport:
        return pacs002.StatusReport(
            msg_id=iso.new_message_id("SNDB"), created_at=datetime.now(timezone.utc), original_msg_id=t.msg_id,
            original_msg_name=pacs008.MESSAGE, instruction_id=t.instruction_id, end_to_end_id=t.end_to_end_id,
            uetr=t.uetr, status="ACTC", settlement=t.settlement,
        )  # fmt: skip

    def _report_answer(self, report: pacs002.StatusReport) -> Answer:
        return 200, pacs002.build_report(report, self.bic, self.member_bic), "application/xml"

    # --- recalls (camt.056) and returns (pacs.004)

    async def _camt056(self, request: Request) -> Response:
        return await self._serve(request, self._recall)

    def _recall(self, body: bytes, request: Request) -> Answer:
        """A camt.056 naming a Callback-URL asks for the money back (answered by a pacs.004 there);
        one naming none asks to stop an unsettled payment, and is answered at once."""
        try:
            recall = returns.read_recall(body)
        except iso.MessageError as e:
            raise Refusal(400, "FF01", f"invalid camt.056: {e}") from None
        order = self._transfer_order(recall.instruction_id, recall.uetr)
        if recall.original_amount != Money(order.amount_minor, order.currency):
            raise Refusal(409, "AMOUNT_MISMATCH", f"the payment was {order.amount_minor} minor {order.currency}")
        callback = request.headers.get("callback-url")
        if callback is None:
            return self._cancel(order)
        if order.state != "succeeded":
            raise Refusal(409, "NOT_SETTLED", f"payment is {order.state}: there is nothing to return")
        refund = order.refunds.get(recall.cancellation_id) or self._open_return(order, recall, callback)
        if refund.state == "succeeded":
            return 200, returns.build_return(self._return_of(order, refund)), "application/xml"
        return 202, b"", "text/plain"

    def _cancel(self, order: SimOrder) -> Answer:
        if order.state == "pending":
            order.state = "closed"
        if order.state == "succeeded":
            raise Refusal(409, "ALREADY_SETTLED", "settled before the cancellation arrived: recall it instead")
        if order.state == "failed":
            raise Refusal(409, "PAYMENT_REJECTED", "the payment was rejected: there is nothing to cancel")
        return self._report_answer(self._report(order))

    def _open_return(self, order: SimOrder, recall: returns.Recall, callback: str) -> SimRefund:
        if order.refunds:  # a payment comes back once, whole
            raise Refusal(409, "ALREADY_RECALLED", "this payment is already being returned")
        if recall.cancellation_id in self._recalls:
            raise Refusal(409, "DUPLICATE_CXL_ID", "CxlId already used for another payment")
        refund = SimRefund(recall.cancellation_id, order.amount_minor, channel_refund_id=iso.new_message_id("SNDBR"))
        order.refunds[refund.refund_id] = refund
        self._recalls[refund.refund_id] = order.order_no
        self._callbacks[refund.refund_id] = callback
        self._later(RETURN_SETTLE_S, lambda: self.settle_refund(order, refund))
        return refund

    async def _get_return(self, cancellation_id: str, request: Request) -> Response:
        def answer(_: bytes, __: Request) -> Answer:
            order = self.book.get(self._recalls.get(cancellation_id, ""))
            if order is None:
                raise Refusal(404, "NOT_FOUND", f"no recall {cancellation_id}")
            refund = order.refunds[cancellation_id]
            if refund.state != "succeeded":
                return 202, b"", "text/plain"
            return 200, returns.build_return(self._return_of(order, refund)), "application/xml"

        return await self._serve(request, answer)

    def _return_of(self, order: SimOrder, refund: SimRefund) -> returns.Return:
        amount = Money(refund.amount_minor, order.currency)
        return returns.Return(
            msg_id=refund.channel_refund_id, created_at=refund.settled_at, return_id=refund.refund_id,
            instruction_id=order.order_no, end_to_end_id=order.extra["end_to_end_id"], uetr=order.channel_txn_id,
            original_amount=Money(order.amount_minor, order.currency), returned=amount,
            settled_on=refund.settled_at.date(), instructing_bic=self.bic, instructed_bic=self.member_bic,
        )  # fmt: skip

    # --- e-CNY

    async def _ecny_transfer(self, request: Request) -> Response:
        return await self._serve(
            request, lambda body, _: self._transfer(ecny.TransferRequest.model_validate_json(body))
        )

    def _transfer(self, asked: ecny.TransferRequest) -> Answer:
        if asked.payer_wallet_id != self.wallet_id:
            raise Refusal(403, "WALLET_NOT_OWNED", "the paying wallet is not yours")
        if not ecny.transfer_signature_ok(self._wallet_key, asked):
            raise Refusal(403, "WALLET_SIGNATURE_INVALID", "the transfer is not signed by the paying wallet")
        earlier = self.book.get(asked.out_transfer_no)
        if earlier is not None:
            if (earlier.extra.get("payee_wallet_id"), earlier.amount_minor) != (
                asked.payee_wallet_id,
                asked.amount_fen,
            ):
                raise Refusal(409, "DUPLICATE_OUT_TRANSFER_NO", "out_transfer_no already used for another transfer")
            return 200, _json_bytes(self._transfer_answer(earlier)), "application/json"
        order = SimOrder(
            order_no=asked.out_transfer_no, amount_minor=asked.amount_fen, currency=ecny.CURRENCY, subject=asked.remark,
            notify_url=asked.notify_url, channel_txn_id=f"EC{self.book.next_id()}",
            extra={
                "rail": "ecny", "payee_wallet_id": asked.payee_wallet_id,
                "confirmation_id": f"CF{uuid.uuid4().hex[:20]}",
            },
        )  # fmt: skip
        self.book.add(order)
        if ecny.operator_of(asked.payee_wallet_id) == ecny.operator_of(self.wallet_id):
            self.pay(order.order_no, PayRequest())  # both wallets on our books: final at once
        else:  # another operator's wallet: confirmed through the interconnection platform, later
            self._settle_later(order)
        return 200, _json_bytes(self._transfer_answer(order)), "application/json"

    async def _ecny_query(self, out_transfer_no: str, request: Request) -> Response:
        def answer(_: bytes, __: Request) -> Answer:
            order = self.book.get(out_transfer_no)
            if order is None or order.extra.get("rail") != "ecny":
                raise Refusal(404, "TRANSFER_NOT_FOUND", f"no transfer {out_transfer_no}")
            return 200, _json_bytes(self._transfer_answer(order)), "application/json"

        return await self._serve(request, answer)

    def _transfer_answer(self, order: SimOrder) -> dict:
        state = {"pending": "PROCESSING", "succeeded": "SUCCESS"}.get(order.state, "FAILED")
        confirmation = None if state == "PROCESSING" else self._confirmation(order).model_dump(mode="json")
        return {
            "transfer_id": order.channel_txn_id, "out_transfer_no": order.order_no, "state": state,
            "amount_fen": order.amount_minor, "fail_code": order.extra.get("reason"), "confirmation": confirmation,
        }  # fmt: skip

    def _confirmation(self, order: SimOrder) -> ecny.Confirmation:
        confirmation = ecny.Confirmation(
            confirmation_id=order.extra["confirmation_id"], transfer_id=order.channel_txn_id,
            out_transfer_no=order.order_no, payer_wallet_id=self.wallet_id,
            payee_wallet_id=order.extra["payee_wallet_id"], amount_fen=order.amount_minor, currency=ecny.CURRENCY,
            state="SUCCESS" if order.state == "succeeded" else "FAILED", fail_code=order.extra.get("reason"),
            confirmed_at=order.extra.setdefault("confirmed_at", datetime.now(timezone.utc)),
        )  # fmt: skip
        return ecny.signed_confirmation(self._bank_key, confirmation)

    # --- notifications

    def notify_payment(self, order: SimOrder) -> None:
        self._notify_status(order)

    def _notify_status(self, order: SimOrder) -> None:
        if order.extra["rail"] == "ecny":
            self._push(
                order.notify_url, lambda: (self._confirmation(order).model_dump_json().encode(), "application/json")
            )
        else:
            self._push(order.notify_url, lambda: (self._report_answer(self._report(order))[1], "application/xml"))

    def notify_refund(self, order: SimOrder, refund: SimRefund) -> None:
        url = self._callbacks[refund.refund_id]
        self._push(url, lambda: (returns.build_return(self._return_of(order, refund)), "application/xml"))

    def _push(self, url: str, build: Callable[[], tuple[bytes, str]]) -> None:
        body, media_type = build()  # one message, however often it is delivered: the same MsgId

        def signed_attempt() -> tuple[dict[str, str], bytes]:
            headers = signing.sign(
                self._bank_key, BANK_KEY_ID, signing.NOTIFICATION_COMPONENTS, {"@method": "POST"}, body, _now_s()
            )
            return headers | {"Content-Type": media_type}, body

        self.notifier.send(url, signed_attempt)

    def ack_ok(self, response) -> bool:
        return 200 <= response.status_code < 300

    # --- statement

    async def _camt053(self, request: Request) -> Response:
        def answer(_: bytes, __: Request) -> Answer:
            try:
                day = date.fromisoformat(request.query_params.get("date", ""))
            except ValueError:
                raise Refusal(400, "PARAM_ERROR", "date must be YYYY-MM-DD") from None
            entries = self._entries(day)
            if not entries:
                raise Refusal(404, "NO_STATEMENT", f"no movement on {day}")
            currencies = sorted({e.amount.currency for e in entries})
            accounts = [
                camt053.Account(f"{DEBTOR_ACCOUNT}{c}", c, Money(OPENING_MAJOR * 10 ** exponent(c), c))
                for c in currencies
            ]
            raw = camt053.build(iso.new_message_id("STMT"), datetime.now(timezone.utc), day, accounts, entries)
            return 200, raw, "application/xml"

        return await self._serve(request, answer)

    def _entries(self, day: date) -> list[camt053.Entry]:
        orders = list(self.book.orders.values())
        paid = [o for o in orders if o.state == "succeeded" and o.paid_at and o.paid_at.date() == day]
        shown, self.planted[day] = plant_discrepancies(paid, self.injector, self._phantom_order)
        entries = [self._payment_entry(o) for o in shown]
        for order in orders:
            for refund in order.refunds.values():
                if refund.state == "succeeded" and refund.settled_at.date() == day:
                    entries.append(self._return_entry(order, refund))
        return entries

    def _payment_entry(self, order: SimOrder) -> camt053.Entry:
        return camt053.Entry(
            kind="payment", rail="ECNY" if order.extra.get("rail") == "ecny" else "SWIFT",
            end_to_end_id=order.extra.get("end_to_end_id", order.order_no), instruction_id=None,
            reference=order.channel_txn_id, amount=Money(order.amount_minor, order.currency),
            fee=Money(order.fee_minor, order.currency), booked_at=order.paid_at,
            status="BOOK" if order.state == "succeeded" else "PDNG",
        )  # fmt: skip

    def _return_entry(self, order: SimOrder, refund: SimRefund) -> camt053.Entry:
        return camt053.Entry(
            kind="refund", rail="SWIFT", end_to_end_id=order.extra["end_to_end_id"], instruction_id=refund.refund_id,
            reference=order.channel_txn_id, amount=Money(refund.amount_minor, order.currency),
            fee=Money.zero(order.currency), booked_at=refund.settled_at,
        )  # fmt: skip

    def _phantom_order(self) -> SimOrder:
        return SimOrder(
            order_no=f"PH{secrets.token_hex(8)}", amount_minor=self.injector.rng.randint(1_000, 1_000_000),
            currency="USD", subject="phantom", notify_url="", state="succeeded", channel_txn_id=str(uuid.uuid4()),
            paid_at=datetime.now(timezone.utc), extra={"rail": "swift"},
        )  # fmt: skip


def _rejected(report: pacs002.StatusReport, reason: str, info: str) -> pacs002.StatusReport:
    return replace(report, status="RJCT", reason=reason, reason_info=info)


def _tariff(currency: str) -> fx.Tariff:
    sending, receiving = TARIFF[currency]
    return fx.Tariff(Money.parse(sending, currency), Money.parse(receiving, currency))


def _decline_reason(order: SimOrder, closed_account: bool) -> str:
    if order.extra["rail"] == "ecny":
        return "INSUFFICIENT_BALANCE"
    return "AC04" if closed_account else "AM04"


def _dealing_rate(sell: str, buy: str) -> Decimal:
    """Mid rate less the spread, cut (never rounded up) to the digits the desk deals in."""
    rate = MID_CNY[sell] / MID_CNY[buy] * (fx.BPS - SPREAD_BPS) / fx.BPS
    return rate.quantize(Decimal(1).scaleb(rate.adjusted() - RATE_DIGITS + 1), rounding=ROUND_DOWN)


def _quote_answer(quote: fx.Quote) -> dict:
    return {
        "quote_id": quote.id, "sell_currency": quote.sell, "buy_currency": quote.buy, "rate": format(quote.rate, "f"),
        "spread_bps": quote.spread_bps, "expires_at": quote.expires_at.isoformat(),
        "sending_fee": quote.tariff.sending_fee.decimal_text(),
        "receiving_fee": quote.tariff.receiving_fee.decimal_text(),
    }  # fmt: skip


def _json_bytes(answer: dict) -> bytes:
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()


def _now_s() -> int:
    return int(time.time())
