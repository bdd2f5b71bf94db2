"""An acquiring bank's ISO 8583 host on localhost: sign-on and echo, authorisation, purchase,
completion, refund, reversal and status inquiry, with test cards, faults and a daily
settlement file.

The host speaks ISO 8583 over TCP on `iso_port`; its HTTP app (`.app`) serves the settlement
files and the shared `/sandbox/*` control endpoints, and starts the TCP server in its lifespan,
so that `ServerThread(sandbox.app)` and `juhe sandbox pos` run both. `/sandbox/pay` does nothing
here: the cardholder pays at the terminal, and orders are never left waiting for a payer.

Faults, per message: `latency_ms`; `error_5xx_rate` answers 96 (system malfunction) without
processing; `timeout_rate` processes and never answers; `lost_notify_rate` processes and drops
the answer; `duplicate_notify_rate` sends the answer twice; `decline_rate` makes the issuer
decline (05); `bill_discrepancy_rate` alters the settlement file.

Like a real host it keeps no clear card data: cards are known by a keyed token and shown as
BIN and last four.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlparse

import structlog
from fastapi import FastAPI, Header, Response

from juhe.channels.pos import link, signing, wire
from juhe.channels.pos.adapter import PosConfig
from juhe.channels.simkit import (
    Faults,
    PlantedDiscrepancy,
    SimOrder,
    SimRefund,
    Simulator,
    free_port,
    plant_discrepancies,
)

log = structlog.get_logger()

MERCHANT_ID = "898310058120001"  # UnionPay style: 898, area 3100 (Shanghai), MCC 5812, sequence
LINK_TERMINAL = "JUHE0001"  # Juhe's own link: sign-on, inquiries, refunds
STORE_TERMINALS = ("POS00001", "POS00002", "POS00003")
DEFAULT_BALANCE_MINOR = 10_000_00  # for a valid card that is not one of the test cards
FEE_BPS = 60  # merchant discount rate; not given back on refunds
BPS = 10_000
INSTALLMENT_MERCHANT_RATE_PER_PERIOD = Fraction(6, 1000)  # 0.6 % a period when the merchant bears it (商户贴息)


@dataclass(frozen=True)
class SandboxCard:
    track2: str
    balance_minor: int = 1_000_000_00
    honoured: bool = True
    stolen: bool = False  # approved, and charged back by its cardholder CHARGEBACK_DELAY_DAYS later


TEST_CARDS = {
    "approve": SandboxCard("6222020000000015=30122010000000000"),
    "low_balance": SandboxCard("6222020000000023=30122010000000000", balance_minor=100_00),  # 51 above ¥100
    "do_not_honour": SandboxCard("6222020000000031=30122010000000000", honoured=False),  # 05
    "expired": SandboxCard("6222020000000049=20011010000000000"),  # 54
    "bad_check_digit": SandboxCard("6222020000000016=30122010000000000"),  # 14
    "stolen": SandboxCard("6222020000000056=30122010000000000", stolen=True),  # 00, then chargeback 4515
}
CHARGEBACK_DELAY_DAYS = 7  # a cardholder disputes a week after the statement, as they often do


class PosSandbox(Simulator):
    txn_prefix = ""  # retrieval reference numbers are made here, 12 digits

    def __init__(self, key_dir: Path, base_url: str, faults: Faults | None = None):
        super().__init__(faults)
        key_dir.mkdir(parents=True, exist_ok=True)
        self.base_url = base_url.rstrip("/")
        self.host = urlparse(self.base_url).hostname or "127.0.0.1"
        self.key_dir, self.iso_port = key_dir, _iso_port(key_dir)
        self.merchant_id = MERCHANT_ID
        self.terminals = frozenset({LINK_TERMINAL, *STORE_TERMINALS})
        self.mac_key_file = signing.write_key(key_dir / "pos_mac_key.hex", signing.MAC_KEY_BYTES)
        self.card_key_file = signing.write_key(key_dir / "pos_card_key.hex", signing.CARD_KEY_BYTES)
        self.settlement_token = signing.write_key(key_dir / "pos_settlement_token.hex", 16).read_text().strip()
        self._mac_key = signing.load_key(self.mac_key_file, signing.MAC_KEY_BYTES)
        self._token_key = secrets.token_bytes(signing.TOKEN_KEY_BYTES)
        self._balances = {self._token(card.track2.split("=")[0]): card.balance_minor for card in TEST_CARDS.values()}
        self._traces: dict[tuple[str, str, str], tuple[str, str | None]] = {}  # (tid, stan, field 7) → order, refund
        self._reversed_early: set[tuple[str, str, str]] = set()
        self._refund_owner: dict[str, str] = {}  # refund number → order number
        self._rrn_counter = 0
        self.signed_on: set[str] = set()
        self.planted: dict[date, list[PlantedDiscrepancy]] = {}
        self.chargebacks: dict[str, tuple[date, str]] = {}  # order number → (received date, reason code)
        self.app = self._build_app()

    def client_config(self) -> dict:
        return {
            "base_url": self.base_url, "host": self.host, "port": self.iso_port, "merchant_id": self.merchant_id,
            "terminal_id": LINK_TERMINAL, "mac_key_file": str(self.mac_key_file),
            "card_key_file": str(self.card_key_file), "settlement_token": self.settlement_token,
        }  # fmt: skip

    def adapter_config(self) -> PosConfig:
        return PosConfig.model_validate(self.client_config())

    def balance_minor(self, card_name: str) -> int:
        return self._balances[self._token(TEST_CARDS[card_name].track2.split("=")[0])]

    def notify_payment(self, order: SimOrder) -> None:
        """The host answers on the link; there are no notifications."""

    def notify_refund(self, order: SimOrder, refund: SimRefund) -> None:
        """The host answers on the link; there are no notifications."""

    def _build_app(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_: FastAPI):
            self.iso_port = _serving_port(self.key_dir, self.iso_port)
            server = await asyncio.start_server(self._connection, self.host, self.iso_port)
            try:
                yield
            except asyncio.CancelledError:
                pass  # ServerThread.stop force-exits, skipping the lifespan shutdown: the loop is ending anyway
            finally:
                server.close()

        app = FastAPI(title="POS acquirer sandbox (ISO 8583)", lifespan=lifespan)
        app.include_router(self.control_router())
        app.add_api_route("/settlement/{merchant_id}/{day}.csv", self._settlement, methods=["GET"])
        app.add_api_route("/chargebacks/{merchant_id}/{day}.csv", self._chargeback_file, methods=["GET"])
        return app

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await link.serve(self._respond, reader, writer)

    # --- one message in, zero, one or two answers out

    async def _respond(self, raw: bytes) -> list[bytes] | None:
        try:
            request = wire.unpack(raw)
        except wire.MessageError as e:
            log.warning("acquirer.unreadable_message", error=str(e))
            return None
        kind = wire.kind_of(request)
        if kind is None and not wire.is_request(request):
            log.warning("acquirer.not_a_request", mti=request.get("t"))
            return None
        answer = self._refuse(raw, request, kind)
        if answer is None:
            await self.injector.delay()
            if self.injector.should_fail_5xx():
                answer = wire.refusal(request, wire.MALFUNCTION, "system malfunction")
            else:
                answer = self._process(request, kind)
                if self.injector.should_time_out():
                    await self.injector.hang()
                    return []
                if self.injector.happens(self.injector.faults.lost_notify_rate):
                    return []
        log.info("acquirer.answered", mti=answer["t"], stan=answer.get("11"), terminal=answer.get("41"), code=answer["39"])
        copies = 2 if self.injector.happens(self.injector.faults.duplicate_notify_rate) else 1
        return [wire.pack(answer, self._mac_key)] * copies

    def _refuse(self, raw: bytes, request: wire.Fields, kind: wire.Kind | None) -> wire.Fields | None:
        """The answer to a request the host will not process, or None."""
        if kind is None:
            return wire.refusal(request, "12", "message not supported")
        if request.get("41") not in self.terminals:
            return wire.refusal(request, "97", "terminal not registered")
        if not wire.mac_verifies(raw, request, self._mac_key):
            return wire.refusal(request, "A0", "MAC verification failed")
        found = wire.problems(request, kind)
        if found:
            return wire.refusal(request, wire.FORMAT_ERROR, found[0])
        if request["42"] != self.merchant_id:
            return wire.refusal(request, "03", "invalid merchant")
        if kind not in (wire.NETWORK, wire.REVERSAL) and wire.order_no_of(request) is None:
            return wire.refusal(request, wire.FORMAT_ERROR, "field 48 tag 01 missing")
        if kind is not wire.NETWORK and request["42"] not in self.signed_on:
            return wire.refusal(request, "77", "sign on first")
        return None

    def _process(self, request: wire.Fields, kind: wire.Kind) -> wire.Fields:
        handlers = {
            "network": self._network, "purchase": self._card_payment, "authorisation": self._card_payment,
            "completion": self._completion, "refund": self._refund, "reversal": self._reversal,
            "inquiry": self._inquiry,
        }  # fmt: skip
        return handlers[kind.name](request)

    # --- handlers

    def _network(self, request: wire.Fields) -> wire.Fields:
        if request["70"] == wire.SIGN_ON:
            self.signed_on.add(request["42"])
        elif request["70"] == wire.SIGN_OFF:
            self.signed_on.discard(request["42"])
        return wire.answer_to(request, wire.APPROVED)

    def _card_payment(self, request: wire.Fields) -> wire.Fields:
        order_no, trace = wire.order_no_of(request), _trace(request)
        if order_no in self.book.orders or order_no in self._refund_owner or trace in self._traces:
            return wire.refusal(request, "94", "duplicate transmission")
        card, amount = wire.card_of(request["35"]), int(request["4"])
        token = self._token(card.pan)
        installments = _installments(request)
        code = "12" if trace in self._reversed_early or installments is False else self._issuer_decision(card, token, amount)
        order = self._book(request, order_no, code, card.display, token)
        if code == wire.APPROVED and any(c.stolen for c in TEST_CARDS.values() if c.track2.startswith(card.pan + "=")):
            self.charge_back(order_no, "4515", wire.settlement_day(order.paid_at) + timedelta(days=CHARGEBACK_DELAY_DAYS))
        if installments:
            order.extra["installments"] = installments
        if code == wire.APPROVED:
            self._balances[token] -= amount  # an authorisation holds it, a purchase takes it
        return self._payment_answer(request, order)

    def _issuer_decision(self, card: wire.Card, token: str, amount_minor: int) -> str:
        if not wire.luhn_valid(card.pan):
            return "14"
        if card.expired(datetime.now(timezone.utc)):
            return "54"
        honoured = next((c.honoured for c in TEST_CARDS.values() if c.track2.startswith(card.pan + "=")), True)
        if not honoured or self.injector.happens(self.injector.faults.decline_rate):
            return "05"
        if self._balances.setdefault(token, DEFAULT_BALANCE_MINOR) < amount_minor:
            return "51"
        return wire.APPROVED

    def _completion(self, request: wire.Fields) -> wire.Fields:
        order_no, auth_no = wire.order_no_of(request), wire.order_no_of(request, wire.ORIGINAL_ORDER_NO_TAG)
        earlier = self.book.get(order_no)
        if earlier is not None:  # a repeated advice gets the first answer again
            if earlier.extra.get("authorisation_no") != auth_no:
                return wire.refusal(request, "94", "duplicate transmission")
            return self._payment_answer(request, earlier)
        auth = self.book.get(auth_no or "")
        if auth is None or auth.extra["kind"] != "authorisation":
            return wire.refusal(request, wire.NOT_FOUND, "authorisation not found")
        amount = int(request["4"])
        if auth.state != "succeeded" or auth.extra.get("completed_by") or request["38"] != auth.extra["auth_code"]:
            return wire.refusal(request, "12", "authorisation not open")
        if amount > auth.amount_minor:
            return wire.refusal(request, "64", "above the authorised amount")
        self._balances[auth.extra["card"]] += auth.amount_minor - amount  # release the rest of the hold
        auth.extra["completed_by"] = order_no
        order = self._book(request, order_no, wire.APPROVED, auth.payer_id, auth.extra["card"])
        order.extra |= {"authorisation_no": auth_no, "auth_code": auth.extra["auth_code"]}
        return self._payment_answer(request, order)

    def _refund(self, request: wire.Fields) -> wire.Fields:
        refund_no, order_no = wire.order_no_of(request), wire.order_no_of(request, wire.ORIGINAL_ORDER_NO_TAG)
        order, amount = self.book.get(order_no or ""), int(request["4"])
        if order is None:
            return wire.refusal(request, wire.NOT_FOUND, "original not found")
        earlier = order.refunds.get(refund_no)
        if earlier is not None and earlier.amount_minor == amount and earlier.state == "succeeded":
            return wire.answer_to(request, wire.APPROVED, {"37": earlier.channel_refund_id})
        if earlier is not None or refund_no in self._refund_owner or refund_no in self.book.orders:
            return wire.refusal(request, "94", "refund number used")
        if order.state != "succeeded" or order.extra["kind"] == "authorisation":
            return wire.refusal(request, "12", "original not refundable")
        if amount > order.amount_minor - order.refunded_minor:
            return wire.refusal(request, "13", "above the refundable")
        rrn, now = self._rrn(), datetime.now(timezone.utc)
        order.refunds[refund_no] = SimRefund(refund_no, amount, "succeeded", rrn, now, now)
        self._refund_owner[refund_no] = order.order_no
        self._traces[_trace(request)] = (order.order_no, refund_no)
        self._balances[order.extra["card"]] += amount
        return wire.answer_to(request, wire.APPROVED, {"37": rrn})

    def _reversal(self, request: wire.Fields) -> wire.Fields:
        """Idempotent; an unknown original is acknowledged too, and refused if it arrives later."""
        _, stan, sent = wire.original_trace(request["90"])
        original = (request["41"], stan, sent)
        found = self._traces.get(original)
        if found is None:
            self._reversed_early.add(original)
            return wire.refusal(request, wire.NOT_FOUND, "original not found")
        order = self.book.orders[found[0]]
        target = order.refunds[found[1]] if found[1] else order
        if int(request["4"]) != target.amount_minor:
            return wire.refusal(request, "64", "amount differs")
        if order.extra.get("completed_by"):
            return wire.refusal(request, "12", "authorisation completed")
        if found[1] and target.state == "succeeded":
            target.state = "failed"
            self._balances[order.extra["card"]] -= target.amount_minor
        elif not found[1] and target.state == "succeeded":
            target.state = "closed"
            self._balances[order.extra["card"]] += target.amount_minor
        return wire.answer_to(request, wire.APPROVED)

    def _inquiry(self, request: wire.Fields) -> wire.Fields:
        asked = wire.order_no_of(request)
        order = self.book.get(asked)
        if order is not None:
            letter = {"succeeded": "A", "failed": "D", "closed": "R"}[order.state]
            return self._status(request, order, order.amount_minor, order.channel_txn_id, letter + order.extra["code"])
        owner = self._refund_owner.get(asked)
        if owner is None:
            return wire.refusal(request, wire.NOT_FOUND, "no such order")
        order = self.book.orders[owner]
        refund = order.refunds[asked]
        letter = "A" if refund.state == "succeeded" else "R"
        answer = self._status(request, order, refund.amount_minor, refund.channel_refund_id, letter + wire.APPROVED)
        return answer | {"48": wire.private_data(**{wire.ORDER_NO_TAG: asked, wire.ORIGINAL_ORDER_NO_TAG: owner})}

    # --- records

    def _book(self, request: wire.Fields, order_no: str, code: str, card_display: str, token: str) -> SimOrder:
        now = datetime.now(timezone.utc)
        kind = wire.kind_of(request).name
        approved = code == wire.APPROVED
        state = "succeeded" if approved else ("closed" if _trace(request) in self._reversed_early else "failed")
        order = SimOrder(
            order_no=order_no, amount_minor=int(request["4"]), currency=wire.CURRENCY, subject=kind, notify_url="",
            state=state, channel_txn_id=self._rrn(), paid_at=now if approved else None, payer_id=card_display,
            extra={
                "kind": kind, "code": code, "card": token, "terminal_id": request["41"], "local": request["13"] + request["12"],
                "auth_code": f"{secrets.randbelow(1_000_000):06d}" if approved else "",
            },
        )  # fmt: skip
        self.book.add(order)
        self._traces[_trace(request)] = (order_no, None)
        return order

    def _payment_answer(self, request: wire.Fields, order: SimOrder) -> wire.Fields:
        extra = {"37": order.channel_txn_id}
        if order.extra["code"] == wire.APPROVED:
            extra["38"] = order.extra["auth_code"]
        return wire.answer_to(request, order.extra["code"], extra)

    def _status(self, request: wire.Fields, order: SimOrder, amount: int, rrn: str, result: str) -> wire.Fields:
        local = order.extra["local"]
        extra = {"4": f"{amount:012d}", "37": rrn, "44": result, "13": local[:4], "12": local[4:]}
        if order.extra["auth_code"]:
            extra["38"] = order.extra["auth_code"]
        return wire.answer_to(request, wire.APPROVED, extra)

    def _rrn(self) -> str:
        self._rrn_counter += 1
        return f"{datetime.now(wire.BEIJING):%y%m%d}{self._rrn_counter:06d}"

    def _token(self, pan: str) -> str:
        return signing.card_token(self._token_key, pan)

    # --- chargebacks

    def charge_back(self, order_no: str, reason_code: str, received: date) -> None:
        """The cardholder's bank claims the payment back; it shows in the chargeback file of `received`."""
        if reason_code not in wire.CHARGEBACK_REASONS or order_no not in self.book.orders:
            raise ValueError(f"no such order {order_no!r} or reason code {reason_code!r}")
        self.chargebacks[order_no] = (received, reason_code)

    async def _chargeback_file(self, merchant_id: str, day: str, authorization: str = Header("")) -> Response:
        asked = self._file_day(merchant_id, day, authorization)
        if isinstance(asked, Response):
            return asked
        rows = [self._chargeback_row(self.book.orders[order_no], reason) for order_no, (received, reason)
                in sorted(self.chargebacks.items()) if received == asked]
        return Response(wire.write_chargebacks(rows), media_type="text/csv")

    def _chargeback_row(self, order: SimOrder, reason_code: str) -> dict[str, str]:
        received, _ = self.chargebacks[order.order_no]
        return {"case_no": f"CB{order.channel_txn_id}", "received_date": f"{received:%Y%m%d}",
                "merchant_id": self.merchant_id, "terminal_id": order.extra["terminal_id"], "order_no": order.order_no,
                "rrn": order.channel_txn_id, "txn_time": order.paid_at.astimezone(wire.BEIJING).isoformat(timespec="seconds"),
                "amount_fen": str(order.amount_minor), "currency": order.currency, "reason_code": reason_code}

    def _file_day(self, merchant_id: str, day: str, authorization: str) -> Response | date:
        """The business date a file request asks for, or the answer refusing it."""
        if not secrets.compare_digest(authorization, f"Bearer {self.settlement_token}"):
            return Response("unauthorised", status_code=401)
        try:
            business_date = datetime.strptime(day, "%Y%m%d").date()
        except ValueError:
            return Response("the file name is <merchant>/<yyyymmdd>.csv", status_code=404)
        if merchant_id != self.merchant_id:
            return Response("no such merchant", status_code=404)
        return business_date

    # --- the settlement file

    async def _settlement(self, merchant_id: str, day: str, authorization: str = Header("")) -> Response:
        asked = self._file_day(merchant_id, day, authorization)
        if isinstance(asked, Response):
            return asked
        return Response(wire.write_settlement(self._settlement_rows(asked)), media_type="text/csv")

    def _settlement_rows(self, business_date: date) -> list[dict[str, str]]:
        settled = [
            o for o in self.book.orders.values()
            if o.extra["kind"] != "authorisation" and o.paid_at and wire.settlement_day(o.paid_at) == business_date
        ]  # fmt: skip
        shown, self.planted[business_date] = plant_discrepancies(settled, self.injector, self._phantom)
        rows = [self._payment_row(o) for o in shown]
        for order in self.book.orders.values():
            for refund in order.refunds.values():
                if refund.state == "succeeded" and wire.settlement_day(refund.settled_at) == business_date:
                    rows.append(self._refund_row(order, refund))
        return rows

    def _payment_row(self, order: SimOrder) -> dict[str, str]:
        settled = order.state == "succeeded"
        return self._row(order, order.paid_at) | {
            "txn_type": order.extra["kind"].upper(), "order_no": order.order_no, "original_order_no": "",
            "rrn": order.channel_txn_id, "auth_code": order.extra["auth_code"], "amount_fen": str(order.amount_minor),
            "fee_fen": str(_fee(order.amount_minor) + _installment_fee(order) if settled else 0),
            "status": "SETTLED" if settled else "REVERSED",
        }  # fmt: skip

    def _refund_row(self, order: SimOrder, refund: SimRefund) -> dict[str, str]:
        return self._row(order, refund.settled_at) | {
            "txn_type": "REFUND", "order_no": refund.refund_id, "original_order_no": order.order_no,
            "rrn": refund.channel_refund_id, "auth_code": "", "amount_fen": str(refund.amount_minor), "fee_fen": "0",
            "status": "SETTLED",
        }  # fmt: skip

    def _row(self, order: SimOrder, at: datetime) -> dict[str, str]:
        return {
            "settle_date": f"{wire.settlement_day(at):%Y%m%d}", "merchant_id": self.merchant_id,
            "terminal_id": order.extra["terminal_id"], "txn_time": at.astimezone(wire.BEIJING).isoformat(timespec="seconds"),
            "card": order.payer_id, "currency": order.currency,
        }  # fmt: skip

    def _phantom(self) -> SimOrder:
        now = datetime.now(timezone.utc)
        return SimOrder(
            order_no=f"PH{secrets.token_hex(8)}", amount_minor=self.injector.rng.randint(100, 100_000),
            currency=wire.CURRENCY, subject="purchase", notify_url="", state="succeeded", channel_txn_id=self._rrn(),
            paid_at=now, payer_id=signing.card_display("6222020000000000"),
            extra={"kind": "purchase", "code": wire.APPROVED, "terminal_id": STORE_TERMINALS[0], "auth_code": "000000"},
        )  # fmt: skip


def _trace(request: wire.Fields) -> tuple[str, str, str]:
    return request["41"], request["11"], request["7"]



def _installments(request: wire.Fields) -> tuple[int, str] | None | bool:
    """Field 48's installment terms, None for a plain sale, False for terms this host does not offer (12)."""
    tags = wire.parse_private(request.get("48", ""))
    periods, bearer = tags.get(wire.INSTALLMENT_PERIODS_TAG), tags.get(wire.INSTALLMENT_BEARER_TAG)
    if periods is None and bearer is None:
        return None
    if not (periods or "").isdigit() or int(periods) not in wire.INSTALLMENT_PERIODS \
            or bearer not in wire.INSTALLMENT_BEARERS.values():
        return False
    return int(periods), bearer


def _installment_fee(order: SimOrder) -> int:
    """What the merchant pays for a subsidised installment sale, kept from the settlement."""
    periods, bearer = order.extra.get("installments", (0, "P"))
    if bearer != "M":
        return 0
    exact = order.amount_minor * INSTALLMENT_MERCHANT_RATE_PER_PERIOD * periods
    return (exact.numerator * 2 + exact.denominator) // (2 * exact.denominator)


def _fee(amount_minor: int) -> int:
    return (amount_minor * FEE_BPS + BPS // 2) // BPS  # half up to the fen


def _iso_port(key_dir: Path) -> int:
    """The host's TCP port, chosen once and kept beside the keys, so that every process built
    from the same directory (API, worker, `juhe sandbox pos`) reaches the same host."""
    path = key_dir / "pos_iso_port.txt"
    if not path.exists():
        path.write_text(str(free_port()))
    return int(path.read_text())


def _serving_port(key_dir: Path, port: int) -> int:
    """The host's port when it starts serving: the kept one, or a new one (kept for the others)
    when something else holds it (a host that did not shut down cleanly)."""
    if _bindable(port):
        return port
    fresh = free_port()
    (key_dir / "pos_iso_port.txt").write_text(str(fresh))
    return fresh


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's listener will
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
