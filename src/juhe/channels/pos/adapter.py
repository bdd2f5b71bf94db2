"""The acquirer link: Juhe's ISO 8583 connection to the acquiring bank's host, for card-present
payments made at store terminals.

Terminals reach it through the terminal gateway (gateway.py), which forwards their messages
with `transact` and `reverse`. `create` serves an integrated till that hands Juhe's API the
card data sealed at the edge (signing.seal_card) instead; the clear card data exists only in
memory while the message to the acquirer is built.

A financial request that gets no answer in time is undone (link.Originator): reversed, or
for a completion advice repeated, until the acquirer acknowledges it; what is still
unacknowledged waits in the outbox and goes again before every later call and on `flush`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Mapping

import httpx
from pydantic import BaseModel, Field, SecretStr

from juhe.channels.base import (
    PAYER_INSTALLMENT_FEE_BEARER,
    PAYER_INSTALLMENT_PERIODS,
    ChannelError,
    ChargeRequest,
    ChargeSucceeded,
    Declined,
    Dispute,
    InvalidNotification,
    NotificationAck,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    Scenario,
    StatementLine,
)
from juhe.channels.pos import signing, wire
from juhe.channels.pos.link import IsoClient, LinkError, Originator, Outbox
from juhe.http import async_client


class PosConfig(BaseModel):
    base_url: str  # the acquirer's settlement file server
    host: str = "127.0.0.1"  # the acquirer's ISO 8583 host
    port: int = Field(ge=1, le=65535)
    merchant_id: str = Field(pattern=r"^[0-9A-Za-z]{15}$")  # card acceptor id (field 42)
    terminal_id: str = Field(pattern=r"^[0-9A-Za-z]{8}$")  # this link's own id: sign-on, inquiries, refunds
    mac_key_file: Path  # AES-128 MAC key (hex) agreed with the acquirer
    card_key_file: Path  # AES-256 key (hex) that seals card data between the edge and this adapter
    settlement_token: SecretStr  # bearer token of the settlement file server
    outbox_file: Path | None = None  # keeps unacknowledged reversals across restarts
    timeout_s: float = 5.0
    repeat_attempts: int = Field(3, ge=1, le=10)


class PosChannel:
    code = "pos"
    scenarios = frozenset({Scenario.POS})
    currencies = frozenset({wire.CURRENCY})
    installment_periods = wire.INSTALLMENT_PERIODS  # card installments at the acquirer

    def __init__(self, config: PosConfig, http: httpx.AsyncClient | None = None):
        self.config = config
        self._http = http or async_client()
        mac_key = signing.load_key(config.mac_key_file, signing.MAC_KEY_BYTES)
        client = IsoClient(config.host, config.port, mac_key, config.timeout_s)
        self.link = Originator(
            client, config.terminal_id, config.merchant_id, config.repeat_attempts, Outbox(config.outbox_file)
        )
        self._card_key = signing.load_key(config.card_key_file, signing.CARD_KEY_BYTES)

    # --- the Channel interface

    async def create(self, request: ChargeRequest) -> ChargeSucceeded | Declined:
        refusal = self._unsupported(request)
        if refusal:
            return refusal
        terminal_id = request.payer["terminal_id"]
        try:
            card = wire.card_of(signing.open_card(self._card_key, request.payer["card_block"], terminal_id))
        except (signing.SealError, wire.MessageError) as e:
            return Declined("card_block_invalid", str(e))
        now = _now()
        message = wire.card_request(
            "0200", self.link.trace.next(now), terminal_id, self.config.merchant_id, request.amount.amount_minor, card,
            request.payer.get("entry_mode", "051"), now,
        ) | {"48": wire.private_data(**{wire.ORDER_NO_TAG: request.payment_id, **_installment_tags(request.payer)})}  # fmt: skip
        answer = await self.transact(message)
        return wire.charge_result(request.payment_id, request.amount, answer, _now())

    async def query(self, payment_id: str) -> PaymentStatus:
        await self.link.flush()
        if payment_id in self.link.outbox:  # its reversal or advice is on its way: not final yet
            return PaymentStatus(payment_id, "pending")
        return wire.payment_status(payment_id, await self._inquire(payment_id), _now())

    async def close(self, payment_id: str) -> None:
        """Nothing stays open at an acquirer except a reversal still on its way."""
        status = await self.query(payment_id)
        if status.state == "pending":
            raise ChannelError("its reversal is not acknowledged yet", outcome_known=False, code="reversal_pending")
        if status.state == "succeeded":
            raise ChannelError("approved at the acquirer: refund it", outcome_known=True, code="already_approved")

    async def refund(self, request: RefundRequest) -> RefundStatus:
        now = _now()
        message = wire.refund(
            request.refund_id, request.payment_id, self.link.trace.next(now), self.config.terminal_id,
            self.config.merchant_id, request.amount.amount_minor, now,
        )  # fmt: skip
        answer = await self.transact(message)
        state = "succeeded" if answer.approved else "failed"
        failure = None if answer.approved else ("reversed_after_timeout" if answer.reversed else answer.code)
        return RefundStatus(request.refund_id, request.payment_id, state, request.amount, answer.rrn or None, failure)

    async def query_refund(self, payment_id: str, refund_id: str) -> RefundStatus:
        await self.link.flush()
        if refund_id in self.link.outbox:
            return RefundStatus(refund_id, payment_id, "pending")
        answer = await self._inquire(refund_id)
        found_for = wire.order_no_of(answer, wire.ORIGINAL_ORDER_NO_TAG)
        if found_for is not None and found_for != payment_id:  # refund numbers are unique per merchant, not per order
            raise ChannelError(f"refund {refund_id} belongs to another payment", outcome_known=True)
        return wire.refund_status(payment_id, refund_id, answer)

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentStatus | RefundStatus:
        raise InvalidNotification("the acquirer answers on the ISO 8583 link; it sends no notifications")

    def ack(self, accepted: bool) -> NotificationAck:
        return NotificationAck(status_code=204 if accepted else 400, body=b"", media_type="text/plain")

    async def download_statement(self, business_date: date) -> bytes:
        return await self._settlement_file("settlement", business_date)

    async def _settlement_file(self, kind: str, business_date: date) -> bytes:
        url = f"{self.config.base_url}/{kind}/{self.config.merchant_id}/{business_date:%Y%m%d}.csv"
        headers = {"Authorization": f"Bearer {self.config.settlement_token.get_secret_value()}"}
        try:
            response = await self._http.get(url, headers=headers, timeout=self.config.timeout_s)
        except httpx.TransportError as e:
            raise ChannelError(f"{kind} file not fetched: {e!r}", outcome_known=True, code="transport_error") from e
        if response.status_code != 200:
            raise ChannelError(f"{kind} file: HTTP {response.status_code}", outcome_known=True,
                               code=f"HTTP_{response.status_code}")  # fmt: skip
        return response.content

    def parse_statement(self, raw: bytes) -> list[StatementLine]:
        return wire.parse_settlement(raw)

    async def download_disputes(self, business_date: date) -> bytes:
        """The chargebacks the acquirer received that day (its chargeback file, beside the settlement file)."""
        return await self._settlement_file("chargebacks", business_date)

    def parse_disputes(self, raw: bytes) -> list[Dispute]:
        return wire.parse_chargebacks(raw)

    # --- the link, for the terminal gateway

    @property
    def merchant_id(self) -> str:
        return self.config.merchant_id

    async def transact(self, request: wire.Fields) -> wire.Answer:
        """Send an authorisation, purchase, refund or completion advice; undo it when no answer comes."""
        try:
            return await self.link.transact(request)
        except LinkError as e:
            raise ChannelError(f"acquirer: {e}", outcome_known=True, code=e.code or "not_sent") from None

    async def reverse(self, reversal: wire.Fields) -> bool:
        """True when acknowledged now; False when it waits in the outbox, to be delivered later."""
        return await self.link.reverse(reversal)

    async def flush(self) -> None:
        await self.link.flush()

    async def echo(self) -> None:
        try:
            answer = await self.link.network(wire.ECHO)
        except LinkError as e:
            raise ChannelError(f"echo test: {e}", outcome_known=True, code="echo_failed") from None
        if answer["39"] != wire.APPROVED:
            raise ChannelError(f"echo test answered {answer['39']}", outcome_known=True, code=answer["39"])

    # --- plumbing

    async def _inquire(self, order_no: str) -> wire.Fields:
        message = wire.inquiry(order_no, self.link.trace.next(_now()), self.config.terminal_id, self.config.merchant_id)
        try:
            return await self.link.exchange(message)
        except LinkError as e:
            raise ChannelError(f"acquirer inquiry: {e}", outcome_known=True, code="inquiry_failed") from None

    def _unsupported(self, request: ChargeRequest) -> Declined | None:
        if request.amount.currency not in self.currencies:
            return Declined("currency_not_supported", f"the acquirer settles CNY, not {request.amount.currency}")
        if request.scenario not in self.scenarios:
            return Declined("scenario_not_supported", f"card-present only, not {request.scenario}")
        if not request.payer.get("terminal_id") or not request.payer.get("card_block"):
            return Declined("card_not_present", "a POS payment needs the terminal_id and the sealed card_block")
        if not re.fullmatch(wire.FORMATS["41"], request.payer["terminal_id"]):
            return Declined("terminal_id_invalid", "a terminal id is 8 letters or digits")
        if request.payer.get("entry_mode", "051") not in wire.ENTRY_MODES:
            return Declined("entry_mode_unknown", f"entry_mode is one of {', '.join(wire.ENTRY_MODES)}")
        return None


def _installment_tags(payer: Mapping[str, str]) -> dict[str, str]:
    periods = payer.get(PAYER_INSTALLMENT_PERIODS)
    if not periods:
        return {}
    bearer = wire.INSTALLMENT_BEARERS[payer.get(PAYER_INSTALLMENT_FEE_BEARER, "payer")]
    return {wire.INSTALLMENT_PERIODS_TAG: f"{int(periods):02d}", wire.INSTALLMENT_BEARER_TAG: bearer}


def _now() -> datetime:
    return datetime.now(timezone.utc)
