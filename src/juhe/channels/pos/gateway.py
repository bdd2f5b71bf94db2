"""Juhe's terminal gateway: the ISO 8583 server that store terminals connect to.

Every message is checked before anything happens: a registered terminal (else 97, answered
without a MAC: the gateway has no key for it), its MAC (A0), every field (30, with the rule
broken in field 44), our merchant id (03), a message terminals may send (58), sign-on (77).
Bytes that do not decode close the connection. None of these changes anything.

Then the card is tokenised at once — the PAN and track 2 go on only inside the message to the
acquirer — the message is forwarded through the acquirer link (PosChannel.transact), and what
the acquirer decided is reported to the payments core through `record`: a TerminalSale
(purchase, authorisation, completion) or a TerminalReversal, carrying only the card token and
BIN + last four. An approval the core cannot record is reversed at the acquirer and answered
96: a terminal never shows "approved" for money Juhe does not know about. A terminal's 0401
repeats its reversal, so `record` may hear of one reversal more than once.

A terminal's order number comes from its own trace (terminal id, field 7, STAN), so its
reversal, which names the original in field 90, finds the same order after any restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Awaitable, Callable, Literal

import structlog

from juhe.channels.base import ChannelError, ChargeSucceeded, Declined, PaymentStatus
from juhe.channels.pos import link, signing, wire
from juhe.channels.pos.adapter import PosChannel
from juhe.money import Money

log = structlog.get_logger()

HEARTBEAT_S = 60.0  # echo test and outbox retry toward the acquirer, as host links do
NO_KEY = bytes(signing.MAC_KEY_BYTES)  # "MACs" the answer to a terminal we have no key for
TERMINAL_KINDS = frozenset({wire.NETWORK, wire.PURCHASE, wire.AUTHORISATION, wire.COMPLETION, wire.REVERSAL})
LINK_CODES = frozenset({"03", "30", "58", "77", "97", "A0"})  # about our link, not the terminal's request: shown as 96


@dataclass(frozen=True)
class Terminal:
    terminal_id: str
    mac_key: bytes = field(repr=False)


@dataclass(frozen=True)
class TerminalSale:
    """A purchase, authorisation (a hold) or completion (capturing a hold) that the acquirer
    approved or the card's issuer declined."""

    order_no: str
    terminal_id: str
    kind: Literal["purchase", "authorisation", "completion"]
    amount: Money
    outcome: ChargeSucceeded | Declined
    card_token: str | None  # None for a completion: its card is its authorisation's
    card_display: str | None
    authorisation_no: str | None = None  # a completion's authorisation


@dataclass(frozen=True)
class TerminalReversal:
    """A terminal reversed a purchase or authorisation it got no answer for; the acquirer has
    the reversal, or will. The order may be one the core never heard of (declined, or lost)."""

    order_no: str
    terminal_id: str
    amount: Money


Recorder = Callable[[TerminalSale | TerminalReversal], Awaitable[None]]
TerminalLookup = Callable[[str], Awaitable[Terminal | None]]  # async: the core looks terminals up in its database


class TerminalGateway:
    def __init__(self, channel: PosChannel, terminals: TerminalLookup, token_key: bytes, record: Recorder,
                 *, heartbeat_s: float = HEARTBEAT_S):  # fmt: skip
        self.channel = channel
        self._terminals = terminals
        self._token_key = token_key
        self._record = record
        self._heartbeat_s = heartbeat_s
        self._trace = link.TraceNumbers()
        self._signed_on: set[str] = set()
        self._in_flight: set[str] = set()
        self._reversed_in_flight: set[str] = set()  # the terminal gave up before the acquirer answered
        self._server: asyncio.Server | None = None
        self._heartbeat: asyncio.Task | None = None
        self._stopping = False

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        # A fixed port is shared by every API process (`juhe serve --workers N`): the kernel spreads
        # terminals' connections over them; their state is in the database.
        self._server = await asyncio.start_server(lambda r, w: link.serve(self._respond, r, w), host, port,
                                                  reuse_port=port != 0)
        self._heartbeat = asyncio.create_task(self._beat())
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._stopping = True  # Python 3.11's wait_for can swallow a cancel; the loop checks this too
        self._heartbeat.cancel()
        self._server.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._heartbeat

    async def _beat(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._heartbeat_s)
            try:
                await self.channel.flush()
                await self.channel.echo()
            except ChannelError as e:
                log.warning("pos.acquirer_echo_failed", error=str(e))

    # --- checks

    async def _respond(self, raw: bytes) -> list[bytes] | None:
        try:
            request = wire.unpack(raw)
        except wire.MessageError as e:
            log.warning("pos.gateway_unreadable_message", error=str(e))
            return None
        kind = wire.kind_of(request)
        if kind is None and not wire.is_request(request):
            return None
        terminal = await self._terminals(request.get("41", ""))
        if terminal is None:
            log.warning("pos.gateway_unknown_terminal", mti=request["t"], terminal=request.get("41"))
            return [wire.pack(wire.refusal(request, "97", "terminal not registered"), NO_KEY)]
        answer = self._refuse(raw, request, kind, terminal) or await self._handle(request, kind)
        log.info("pos.gateway_answered", mti=answer["t"], stan=answer.get("11"), terminal=terminal.terminal_id,
                 code=answer["39"])  # fmt: skip
        return [wire.pack(answer, terminal.mac_key)]

    def _refuse(self, raw: bytes, request: wire.Fields, kind: wire.Kind | None, terminal: Terminal) -> wire.Fields | None:
        if not wire.mac_verifies(raw, request, terminal.mac_key):
            return wire.refusal(request, "A0", "MAC verification failed")
        if kind not in TERMINAL_KINDS:
            return wire.refusal(request, "58", "not allowed at terminals")
        found = wire.problems(request, kind)
        if found:
            return wire.refusal(request, wire.FORMAT_ERROR, found[0])
        if request["42"] != self.channel.merchant_id:
            return wire.refusal(request, "03", "invalid merchant")
        if kind is not wire.NETWORK and request["41"] not in self._signed_on:
            return wire.refusal(request, link.SIGN_ON_AGAIN, "sign on first")
        return None

    async def _handle(self, request: wire.Fields, kind: wire.Kind) -> wire.Fields:
        if kind is wire.NETWORK:
            if request["70"] == wire.SIGN_ON:
                self._signed_on.add(request["41"])
            elif request["70"] == wire.SIGN_OFF:
                self._signed_on.discard(request["41"])
            return wire.answer_to(request, wire.APPROVED)
        if kind is wire.REVERSAL:
            return await self._reversal(request)
        return await self._card_payment(request, kind)

    # --- forwarding

    async def _card_payment(self, request: wire.Fields, kind: wire.Kind) -> wire.Fields:
        now = datetime.now(timezone.utc)
        order_no = wire.terminal_order_no(request, now)
        authorisation_no = _original_order_no(request, now) if kind is wire.COMPLETION else None
        private = {wire.ORDER_NO_TAG: order_no} | ({wire.ORIGINAL_ORDER_NO_TAG: authorisation_no} if authorisation_no else {})
        forward = _forwarded(request, private)
        self._in_flight.add(order_no)
        try:
            answer = await self.channel.transact(forward)
        except ChannelError as e:
            log.warning("pos.acquirer_unreachable", order_no=order_no, error=str(e))
            return wire.refusal(request, wire.TIMED_OUT, "acquirer unreachable")
        finally:
            self._in_flight.discard(order_no)
        if order_no in self._reversed_in_flight:
            return await self._undo_late(request, forward, answer)
        if not await self._report(request, kind, order_no, answer, authorisation_no):
            await self.channel.reverse(wire.reversal_of(forward, self._trace.next(datetime.now(timezone.utc))))
            return wire.refusal(request, wire.MALFUNCTION, "not recorded; reversed")
        code = wire.MALFUNCTION if answer.code in LINK_CODES else answer.code
        extra = {"37": answer.rrn, "38": answer.auth_code} if answer.approved and answer.rrn else {}
        return wire.answer_to(request, code, extra)

    async def _report(self, request: wire.Fields, kind: wire.Kind, order_no: str, answer: wire.Answer,
                      authorisation_no: str | None) -> bool:  # fmt: skip
        """Tell the core what the acquirer decided; False when an approval could not be recorded."""
        amount = Money(int(request["4"]), wire.CURRENCY)
        if answer.approved:
            outcome: ChargeSucceeded | Declined = ChargeSucceeded(PaymentStatus(
                order_no, "succeeded", amount, answer.rrn or None, datetime.now(timezone.utc)))  # fmt: skip
        elif answer.code in wire.CARD_DECLINES:
            outcome = Declined(answer.code, answer.text)
        else:
            return True  # no decision about the card: nothing happened that the core must know
        pan = request.get("2")
        sale = TerminalSale(
            order_no=order_no, terminal_id=request["41"], kind=kind.name, amount=amount, outcome=outcome,
            card_token=signing.card_token(self._token_key, pan) if pan else None,
            card_display=signing.card_display(pan) if pan else None, authorisation_no=authorisation_no,
        )  # fmt: skip
        try:
            await self._record(sale)
        except Exception as e:  # whatever the core's failure, an approval it did not record must not stand
            log.error("pos.record_failed", order_no=order_no, error=type(e).__name__)
            return not answer.approved
        return True

    async def _undo_late(self, request: wire.Fields, forward: wire.Fields, answer: wire.Answer) -> wire.Fields:
        """The terminal reversed this while the acquirer was still deciding: reverse it there too."""
        self._reversed_in_flight.discard(wire.order_no_of(forward))
        if answer.approved:
            await self.channel.reverse(wire.reversal_of(forward, self._trace.next(datetime.now(timezone.utc))))
        return wire.refusal(request, wire.TIMED_OUT, "reversed by the terminal")

    async def _reversal(self, request: wire.Fields) -> wire.Fields:
        now = datetime.now(timezone.utc)
        order_no = _original_order_no(request, now)
        if order_no in self._in_flight:
            self._reversed_in_flight.add(order_no)
            return wire.answer_to(request, wire.APPROVED)
        await self.channel.reverse(_forwarded(request, {wire.ORDER_NO_TAG: order_no}))  # queued if not acknowledged: it lands
        try:
            await self._record(TerminalReversal(order_no, request["41"], Money(int(request["4"]), wire.CURRENCY)))
        except Exception as e:  # the terminal repeats the reversal, and with it this report
            log.error("pos.record_failed", order_no=order_no, error=type(e).__name__)
            return wire.refusal(request, wire.MALFUNCTION, "not recorded; repeat")
        return wire.answer_to(request, wire.APPROVED)


def _forwarded(request: wire.Fields, private: dict[str, str]) -> wire.Fields:
    """The terminal's message toward the acquirer: its own trace, our order number in field 48."""
    forward = {k: v for k, v in request.items() if k not in ("48", "64", "128")}
    return forward | {"48": wire.private_data(**private)}


def _original_order_no(request: wire.Fields, now: datetime) -> str:
    _, stan, sent = wire.original_trace(request["90"])
    return wire.terminal_order_no({"41": request["41"], "7": sent, "11": stan}, now)

