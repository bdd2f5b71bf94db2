"""A corporate bank's host-to-host gateway on localhost: takes pain.001 files, executes their
transfers from one customer account, reports on them in pain.002, and serves the day's
statement as camt.053 or MT940.

What it checks, as a bank does: our RFC 9421 signature and its nonce (401 otherwise); the file
against the official pain.001.001.09 XSD (400 FF01, the file is not taken); a MsgId used before
(the first receipt again for the same transfers, 409 DU01 for others); NbOfTxs, CtrlSum, the
debtor account and repeated EndToEndIds (the file is taken and rejected whole in pain.002:
AM18, AM10, AC02, AM05). Each transfer is then executed, PROCESSING_DELAY_S after arrival and
not before its requested execution date, or rejected: AC04 for a closed creditor account
(CLOSED_ACCOUNTS), AM02 above ITEM_LIMIT_MINOR, AM03 in another currency, AM04 beyond the
balance, and at `decline_rate` a random one of RANDOM_REJECTS. `POST /sandbox/pay/{MsgId}:{EndToEndId}`
executes one at once (or rejects it, with outcome "decline").

Faults: latency; 5xx before processing; timeout = processed, then no answer in time (a lost
answer); statement discrepancies (`bill_discrepancy_rate`, ground truth in `planted[date]`; a
"status" discrepancy shows as a transfer booked and returned the same day).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request, Response

from juhe.channels.bank import camt053, pain001, pain002, signing, swift_mt940, wire
from juhe.channels.bank.adapter import BankConfig
from juhe.channels.bank.camt053 import Account, BookedTransfer
from juhe.channels.bank.pain002 import Reason, ReportedFile, ReportedTransfer
from juhe.channels.bank.statement import BankEntry
from juhe.channels.bank.transfers import TransferItem
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
from juhe.money import Money

ZONE = ZoneInfo("Asia/Shanghai")
CUSTOMER_ID = "JUHE0001"
DEBTOR_NAME = "聚合示范科技有限公司"
DEBTOR_ACCOUNT = "31050161393600000123"  # fictitious, like every account here
DEBTOR_BANK = "999290000018"  # a CNAPS-shaped code of no real branch
CURRENCY = "CNY"
OPENING_BALANCE_MINOR = 100_000_000_00
ITEM_LIMIT_MINOR = 5_000_000_00
CLOSED_ACCOUNTS = frozenset({"6222000000000000404", "GB82WEST12345698765432"})
RANDOM_REJECTS = [
    ("AC01", "Incorrect account number"), ("AC06", "Account blocked"),
    ("AG01", "Transaction forbidden on this type of account"), ("BE01", "Creditor name does not match the account"),
    ("RC01", "Bank identifier incorrect"),
]  # fmt: skip
PROCESSING_DELAY_S = 0.05
NONCES_KEPT_MAX = 100_000
FAMILY = {"SALA": "SALA"}  # bank transaction sub-family by category purpose; others DMCT
STATEMENT_MEDIA = {"camt.053": wire.XML_MEDIA_TYPE, "mt940": wire.MT940_MEDIA_TYPE}


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class SimFile:
    original: pain001.CreditTransferFile
    file_id: str
    fingerprint: str
    received_at: datetime
    order_nos: dict[str, list[str]]  # PmtInfId → the book's keys of its transfers
    rejection: Reason | None = None  # the whole file turned down
    reports: int = 0
    done: bool = False  # every transfer executed or rejected


class BankSandbox(Simulator):

    def __init__(self, key_dir: Path, base_url: str, faults: Faults | None = None):
        super().__init__(faults)
        self.base_url = base_url.rstrip("/")
        self.customer_private_key_file, customer_public_file = write_rsa_keypair(key_dir, "bank_customer")
        bank_private_file, self.bank_public_key_file = write_rsa_keypair(key_dir, "bank_gateway")
        self._customer_key = signing.load_public_key(customer_public_file)
        self._bank_key = signing.load_private_key(bank_private_file)
        self.customer_key_id = f"{CUSTOMER_ID}-{_fingerprint(customer_public_file)}"
        self.bank_key_id = f"SIMBANK-{_fingerprint(self.bank_public_key_file)}"
        self.account = Account(DEBTOR_ACCOUNT, CURRENCY, DEBTOR_NAME, DEBTOR_BANK)
        self.balance_minor = OPENING_BALANCE_MINOR
        self.closed_accounts = set(CLOSED_ACCOUNTS)
        self.files: dict[str, SimFile] = {}
        self.planted: dict[date, list[PlantedDiscrepancy]] = {}
        self._nonces: OrderedDict[str, None] = OrderedDict()
        self._numbers = itertools.count(1)
        self.app = self._build_app()

    def client_config(self) -> dict:
        return {
            "base_url": self.base_url,
            "app_id": CUSTOMER_ID,
            "app_private_key_file": str(self.customer_private_key_file),
            "channel_public_key_file": str(self.bank_public_key_file),
            "customer_id": CUSTOMER_ID,
            "key_id": self.customer_key_id,
            "bank_key_id": self.bank_key_id,
            "debtor_account": DEBTOR_ACCOUNT,
            "debtor_bank": DEBTOR_BANK,
        }

    def adapter_config(self) -> BankConfig:
        return BankConfig(
            base_url=self.base_url, customer_id=CUSTOMER_ID, key_id=self.customer_key_id,
            private_key_file=self.customer_private_key_file, bank_key_id=self.bank_key_id,
            bank_public_key_file=self.bank_public_key_file, debtor_name=DEBTOR_NAME, debtor_account=DEBTOR_ACCOUNT,
            debtor_bank=DEBTOR_BANK, currency=CURRENCY, timezone=ZONE.key,
        )  # fmt: skip

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Corporate bank host-to-host sandbox")
        app.middleware("http")(self.faults_on(
            lambda path: path.startswith("/h2h/"),
            lambda: Response(_json({"code": "SERVICE_UNAVAILABLE", "message": "try again later"}), 503, media_type=wire.JSON_MEDIA_TYPE),
        ))
        app.include_router(self.control_router())
        app.add_api_route(wire.UPLOAD_PATH, self._upload, methods=["POST"])
        app.add_api_route(wire.STATUS_PATH, self._status_report, methods=["GET"])
        app.add_api_route(wire.STATEMENT_PATH, self._statement, methods=["GET"])
        return app

    # --- protocol plumbing


    async def _serve(self, request: Request, handle: Callable[[bytes], tuple[int, bytes, str]]) -> Response:
        body = await request.body()
        try:
            self._authenticate(request, body)
        except Refusal as r:  # unsigned: there is no trusted request to bind an answer to
            return Response(_json({"code": r.code, "message": r.message}), r.status, media_type=wire.JSON_MEDIA_TYPE)
        self._process_due()
        try:
            status, content, media_type = handle(body)
        except Refusal as r:
            status, content, media_type = r.status, _json({"code": r.code, "message": r.message}), wire.JSON_MEDIA_TYPE
        headers = signing.sign_answer(
            self._bank_key, key_id=self.bank_key_id, status=status, content_type=media_type, body=content,
            request_signature=request.headers["signature"], created=int(time.time()), nonce=signing.new_nonce(),
        )  # fmt: skip
        return Response(content, status, headers=headers, media_type=media_type)

    def _authenticate(self, request: Request, body: bytes) -> None:
        try:
            params = signing.verify_request(
                request.headers, public_key=self._customer_key, key_id=self.customer_key_id, method=request.method,
                path=request.scope["raw_path"].decode(), query=request.scope["query_string"].decode(), body=body,
                now_s=int(time.time()),
            )  # fmt: skip
        except signing.SignatureError as e:
            raise Refusal(401, "SIGNATURE_INVALID", str(e)) from e
        if params["nonce"] in self._nonces:
            raise Refusal(401, "SIGNATURE_REPLAYED", "nonce already used")
        self._nonces[params["nonce"]] = None
        while len(self._nonces) > NONCES_KEPT_MAX:
            self._nonces.popitem(last=False)

    # --- uploads

    async def _upload(self, request: Request) -> Response:
        return await self._serve(request, self._take_file)

    def _take_file(self, body: bytes) -> tuple[int, bytes, str]:
        if len(body) > wire.FILE_BYTES_MAX:
            raise Refusal(413, "FF01", f"file larger than {wire.FILE_BYTES_MAX} bytes")
        try:
            original = pain001.read(body)
        except pain001.Pain001Invalid as e:
            raise Refusal(400, "FF01", "invalid file format: " + "; ".join(e.errors[:5])) from e
        except (wire.MessageError, ValueError) as e:
            raise Refusal(400, "FF01", f"invalid file format: {e}") from e
        fingerprint = _fingerprint_of(original)
        earlier = self.files.get(original.msg_id)
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                raise Refusal(409, "DU01", f"MsgId {original.msg_id} was used for other transfers")
            return 200, _json(self._receipt(earlier) | {"duplicate": True}), wire.JSON_MEDIA_TYPE
        sim_file = self._register(original, fingerprint)
        return 202, _json(self._receipt(sim_file)), wire.JSON_MEDIA_TYPE

    def _register(self, original: pain001.CreditTransferFile, fingerprint: str) -> SimFile:
        now = datetime.now(ZONE)
        rejection = self._file_rejection(original)
        sim_file = SimFile(original, f"F{now:%Y%m%d}{next(self._numbers):08d}", fingerprint, now, {}, rejection)
        self.files[original.msg_id] = sim_file
        if rejection is not None:  # its transfers never come into being
            sim_file.done = True
            return sim_file
        for info in original.payment_infos:
            keys = sim_file.order_nos.setdefault(info.payment_info_id, [])
            for item in info.items:
                order = SimOrder(
                    order_no=f"{original.msg_id}:{item.end_to_end_id}", amount_minor=item.amount.amount_minor,
                    currency=item.amount.currency, subject=item.remittance_info, notify_url="",
                    channel_txn_id=self._bank_ref(now),
                    extra={"msg_id": original.msg_id, "item": item, "info": info, "status": "ACTC", "reason": None},
                )  # fmt: skip
                self.book.add(order)
                keys.append(order.order_no)
        return sim_file

    def _file_rejection(self, original: pain001.CreditTransferFile) -> Reason | None:
        items = original.transfers
        if original.number_of_transactions != len(items) or any(
            info.number_of_transactions not in (None, len(info.items)) for info in original.payment_infos
        ):
            return Reason("AM18", "NbOfTxs does not match the transfers")
        if any(
            given is not None and given != pain001.control_sum(counted)
            for given, counted in [(original.control_sum, items)]
            + [(info.control_sum, info.items) for info in original.payment_infos]
        ):
            return Reason("AM10", "CtrlSum does not match the amounts")
        if any(info.debtor_account != self.account.number for info in original.payment_infos):
            return Reason("AC02", "debtor account is not an account of this customer")
        if len({item.end_to_end_id for item in items}) != len(items):
            return Reason("AM05", "EndToEndId repeated in the file")
        return None

    def _bank_ref(self, now: datetime) -> str:
        """AcctSvcrRef, 16 characters: MT940 carries no more of it."""
        return f"{now:%y%m%d}{next(self._numbers):010d}"

    def _receipt(self, sim_file: SimFile) -> dict:
        return {
            "fileId": sim_file.file_id, "msgId": sim_file.original.msg_id,
            "status": "RCVD", "receivedAt": sim_file.received_at.isoformat(),  # checks are reported in pain.002
        }  # fmt: skip

    def _orders(self, sim_file: SimFile) -> list[SimOrder]:
        return [self.book.orders[key] for keys in sim_file.order_nos.values() for key in keys]

    # --- execution

    def _process_due(self) -> None:
        """Execute what is due: transfers past the processing delay whose execution date has come."""
        now = datetime.now(ZONE)
        for sim_file in self.files.values():
            if sim_file.done or now < sim_file.received_at + timedelta(seconds=PROCESSING_DELAY_S):
                continue
            for order in self._orders(sim_file):
                if order.state != "pending":
                    continue
                if order.extra["item"].execution_date > now.date():
                    order.extra["status"] = "ACCP"  # checked, waiting for its execution date
                    continue
                self._execute(order)
            sim_file.done = all(order.state != "pending" for order in self._orders(sim_file))

    def _execute(self, order: SimOrder, forced_reject: bool = False) -> None:
        item = order.extra["item"]
        if forced_reject:
            self._reject(order, "AM04", "Insufficient funds")
        elif item.creditor_account in self.closed_accounts:
            self._reject(order, "AC04", "Account closed")
        elif item.amount.currency != self.account.currency:
            self._reject(order, "AM03", f"the account holds {self.account.currency}")
        elif item.amount.amount_minor > ITEM_LIMIT_MINOR:
            self._reject(order, "AM02", "above the single transfer limit")
        elif self.injector.happens(self.injector.faults.decline_rate):
            self._reject(order, *self.injector.rng.choice(RANDOM_REJECTS))
        elif item.amount.amount_minor > self.balance_minor:
            self._reject(order, "AM04", "Insufficient funds")
        else:
            self.balance_minor -= item.amount.amount_minor
            order.state, order.paid_at, order.extra["status"] = "succeeded", datetime.now(ZONE), "ACSC"

    def _reject(self, order: SimOrder, code: str, text: str) -> None:
        order.state, order.paid_at = "failed", datetime.now(ZONE)
        order.extra["status"], order.extra["reason"] = "RJCT", Reason(code, text)

    def pay(self, order_no: str, request: PayRequest) -> SimOrder | None:
        """Execute one transfer now (control endpoint), or reject it with outcome "decline"."""
        order = self.book.get(order_no)
        if order is not None and order.state == "pending":
            self._execute(order, forced_reject=request.outcome == "decline")
        return order

    def notify_payment(self, order: SimOrder) -> None:
        """The bank pushes nothing: its customer pulls status reports."""

    def notify_refund(self, order: SimOrder, refund: SimRefund) -> None:
        """Credit transfers have no refunds."""

    # --- status reports

    async def _status_report(self, request: Request) -> Response:
        return await self._serve(request, lambda _: self._report(request.query_params.get("msgId", "")))

    def _report(self, msg_id: str) -> tuple[int, bytes, str]:
        sim_file = self.files.get(msg_id)
        if sim_file is None:
            raise Refusal(404, "NOT_FOUND", f"no file with MsgId {msg_id}")
        sim_file.reports += 1
        blocks = {block_id: [self._reported(self.book.orders[key]) for key in keys]
                  for block_id, keys in sim_file.order_nos.items()}  # fmt: skip
        codes = [t.status_code for block in blocks.values() for t in block]
        original = sim_file.original
        reported = ReportedFile(
            msg_id=original.msg_id, created_at=original.created_at,
            number_of_transactions=original.number_of_transactions,
            control_sum=str(pain001.control_sum(original.transfers) if original.control_sum is None
                            else original.control_sum),  # fmt: skip
            group_status="RJCT" if sim_file.rejection else pain002.group_status(codes),
            group_reason=sim_file.rejection, blocks=blocks,
        )  # fmt: skip
        report_id = f"{sim_file.file_id}-{sim_file.reports:04d}"
        return 200, pain002.write(report_id, datetime.now(ZONE), reported), wire.XML_MEDIA_TYPE

    @staticmethod
    def _reported(order: SimOrder) -> ReportedTransfer:
        reason = order.extra["reason"]
        settled = order.extra["status"] == "ACSC"
        return ReportedTransfer(
            end_to_end_id=order.extra["item"].end_to_end_id, amount=order.extra["item"].amount,
            status_code=order.extra["status"], reason_code=reason.code if reason else None,
            reason_text=reason.text if reason else None, bank_ref=order.channel_txn_id if settled else None,
            accepted_at=order.paid_at if settled else None,
        )  # fmt: skip

    # --- statements

    async def _statement(self, request: Request) -> Response:
        return await self._serve(request, lambda _: self._statement_file(request.query_params))

    def _statement_file(self, query) -> tuple[int, bytes, str]:
        if query.get("account") != self.account.number:
            raise Refusal(404, "AC01", "no such account of this customer")
        try:
            day = date.fromisoformat(query.get("date", ""))
        except ValueError:
            raise Refusal(400, "DT01", "date must be YYYY-MM-DD") from None
        kind = query.get("format", "camt.053")
        if kind not in STATEMENT_MEDIA:
            raise Refusal(400, "FF01", f"format is one of {', '.join(STATEMENT_MEDIA)}")
        booked = self._booked(day)
        opening = OPENING_BALANCE_MINOR - sum(
            o.amount_minor for o in self.book.orders.values()
            if o.state == "succeeded" and o.paid_at is not None and o.paid_at.astimezone(ZONE).date() < day
        )  # fmt: skip
        sequence = day.timetuple().tm_yday
        if kind == "mt940":
            raw = swift_mt940.write(f"STMT{day:%Y%m%d}", self.account, day, sequence, opening, booked)
        else:
            msg_id = f"STMT{day:%Y%m%d}{next(self._numbers):06d}"
            raw = camt053.write(msg_id, datetime.now(ZONE), self.account, day, sequence, opening, booked)
        return 200, raw, STATEMENT_MEDIA[kind]

    def _booked(self, day: date) -> list[BookedTransfer]:
        """The day's booked transfers in booking order, with discrepancies planted."""
        paid = sorted(
            (o for o in self.book.orders.values()
             if o.state == "succeeded" and o.paid_at is not None and o.paid_at.astimezone(ZONE).date() == day),
            key=lambda o: o.paid_at,
        )  # fmt: skip
        shown, self.planted[day] = plant_discrepancies(paid, self.injector, lambda: self._phantom(day))
        booked = []
        for order in shown:
            booked.append(self._booked_transfer(order, day, reversal=False))
            if order.state != "succeeded":  # booked, then returned by the creditor's bank
                booked.append(self._booked_transfer(order, day, reversal=True))
        return booked

    def _booked_transfer(self, order: SimOrder, day: date, *, reversal: bool) -> BookedTransfer:
        item, info = order.extra["item"], order.extra["info"]
        entry = BankEntry(
            booking_date=day, value_date=day, amount=Money(order.amount_minor, order.currency),
            direction="credit" if reversal else "debit", status="BOOK", reversal=reversal,
            end_to_end_id=item.end_to_end_id, bank_ref=order.channel_txn_id, counterparty_name=item.creditor_name,
            counterparty_account=item.creditor_account, remittance_info=item.remittance_info,
        )  # fmt: skip
        family = FAMILY.get(info.category_purpose or "", "DMCT")
        return BookedTransfer(entry, order.extra["msg_id"], info.payment_info_id, family)

    def _phantom(self, day: date) -> SimOrder:
        """A transfer on the statement that nobody sent."""
        now, reference = datetime.now(ZONE), f"PH{next(self._numbers):010d}"
        amount = Money(self.injector.rng.randint(100, 100_000), CURRENCY)
        item = TransferItem(reference, amount, "Unknown Payee", "6222000000000000999", DEBTOR_BANK, "", day, 0)
        info = pain001.PaymentInfo(f"PHANTOM-{day:%Y%m%d}", day, DEBTOR_ACCOUNT, None, 1, None, [item])
        return SimOrder(
            order_no=f"PHANTOM:{reference}", amount_minor=amount.amount_minor, currency=CURRENCY, subject="",
            notify_url="", state="succeeded", channel_txn_id=self._bank_ref(now), paid_at=now,
            extra={"msg_id": info.payment_info_id, "item": item, "info": info},
        )  # fmt: skip


def _fingerprint(public_key_file: Path) -> str:
    return hashlib.sha256(public_key_file.read_bytes()).hexdigest()[:12].upper()


def _fingerprint_of(original: pain001.CreditTransferFile) -> str:
    """Two uploads are the same file when they carry the same transfers (CreDtTm may differ)."""
    transfers = sorted(
        (i.end_to_end_id, i.amount.amount_minor, i.amount.currency, i.creditor_account, str(i.execution_date))
        for i in original.transfers
    )
    return hashlib.sha256(repr(transfers).encode()).hexdigest()


def _json(answer: dict) -> bytes:
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
