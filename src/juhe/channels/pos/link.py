"""ISO 8583 over TCP: every message preceded by its length in 2 bytes, big-endian.

A client opens a connection per exchange and reads until the answer to its own request
arrives: answer MTI, STAN and terminal id match and the MAC verifies. Anything else on the
line — a second copy of an answer, a stale one, one with a bad MAC — is dropped, so a
duplicated answer is never taken for the answer to a later request. A connection per
exchange also ties the client to no event loop.

Logs name messages by MTI, STAN, terminal id and order number; message bytes are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Awaitable, Callable

import structlog

from juhe.channels.pos import wire

log = structlog.get_logger()

LENGTH_BYTES = 2
MESSAGE_BYTES_MAX = 2048  # our longest message is under 400 bytes; a longer one is not ours
IDLE_TIMEOUT_S = 60.0  # a server drops a connection that sends nothing for this long
STAN_MAX = 999_999
REPEAT_BACKOFF_S = 0.2  # doubled after every unanswered repeat: the other side may be recovering
SIGN_ON_AGAIN = "77"
OUTBOX_MAX = 100  # this many undelivered reversals means the other side is down: take no new risk

Responder = Callable[[bytes], Awaitable[list[bytes] | None]]  # None: close the connection


class FrameError(Exception):
    """A length prefix no message of ours could have."""


class LinkError(Exception):
    """The exchange failed. `sent`: the request may have reached the other side. `code`: the
    response code of a refusal whose MAC did not verify, which is reported but never trusted."""

    def __init__(self, message: str, *, sent: bool, code: str | None = None):
        super().__init__(message)
        self.sent = sent
        self.code = code


async def read_message(reader: asyncio.StreamReader) -> bytes:
    size = int.from_bytes(await reader.readexactly(LENGTH_BYTES), "big")
    if not 0 < size <= MESSAGE_BYTES_MAX:
        raise FrameError(f"length prefix {size} outside 1..{MESSAGE_BYTES_MAX}")
    return await reader.readexactly(size)


def framed(raw: bytes) -> bytes:
    return len(raw).to_bytes(LENGTH_BYTES, "big") + raw


class IsoClient:
    def __init__(self, host: str, port: int, mac_key: bytes, timeout_s: float):
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._mac_key = mac_key

    async def exchange(self, request: wire.Fields) -> wire.Fields:
        raw = wire.pack(request, self._mac_key)
        try:
            opened = asyncio.open_connection(self.host, self.port)
            reader, writer = await asyncio.wait_for(opened, self.timeout_s)
        except (OSError, TimeoutError) as e:
            raise LinkError(f"{self.host}:{self.port} not reached ({type(e).__name__})", sent=False) from None
        try:
            writer.write(framed(raw))
            await writer.drain()
            return await asyncio.wait_for(self._answer(reader, request), self.timeout_s)
        except TimeoutError:
            raise LinkError(f"no answer to {request['t']} within {self.timeout_s} s", sent=True) from None
        except (OSError, asyncio.IncompleteReadError, FrameError) as e:
            raise LinkError(f"connection lost waiting for {request['t']} ({type(e).__name__})", sent=True) from None
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, request: wire.Fields) -> wire.Fields:
        while True:
            raw = await read_message(reader)
            try:
                answer = wire.unpack(raw)
            except wire.MessageError as e:
                log.warning("pos.answer_unreadable", error=str(e))
                continue
            if not wire.is_answer_to(answer, request):
                log.info("pos.answer_dropped", mti=answer.get("t"), stan=answer.get("11"), terminal=answer.get("41"))
                continue
            if not wire.mac_verifies(raw, answer, self._mac_key):
                log.warning("pos.answer_mac_failed", mti=answer["t"], stan=answer["11"], terminal=answer["41"])
                if answer["39"] in wire.UNAUTHENTICATED_REFUSALS:  # the other side has no key for us
                    text = wire.RESPONSE_TEXT[answer["39"]]
                    raise LinkError(f"refused: {answer['39']} {text} (unauthenticated)", sent=True, code=answer["39"])
                continue
            return answer


async def serve(responder: Responder, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One connection of a server: read messages, write what the responder answers."""
    try:
        while True:
            raw = await asyncio.wait_for(read_message(reader), IDLE_TIMEOUT_S)
            answers = await responder(raw)
            if answers is None:
                break
            for answer in answers:
                writer.write(framed(answer))
            await writer.drain()
    except FrameError as e:
        log.warning("pos.connection_dropped", reason=str(e))
    except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
        pass  # the peer left or went quiet
    except asyncio.CancelledError:
        pass  # the server is shutting down; ending quietly keeps asyncio from reporting every open connection
    except Exception as e:  # one bad connection must not take the server down; no message content logged
        log.error("pos.connection_failed", error=type(e).__name__)
    finally:
        writer.close()


class TraceNumbers:
    """STANs 000001–999999, from a random start: two processes sending for one terminal, or one
    process restarted, collide (the acquirer refuses a repeated trace) only by picking the same
    number in the same second."""

    def __init__(self):
        self._last = secrets.randbelow(STAN_MAX)

    def next(self, now: datetime) -> wire.Trace:
        self._last = self._last % STAN_MAX + 1
        return wire.Trace.new(self._last, now)


class Outbox:
    """Reversals and advices not acknowledged yet, by order number. Kept in a file when given
    one: these messages carry no card data."""

    def __init__(self, path: Path | None = None):
        self._path = path
        self._messages: dict[str, wire.Fields] = json.loads(path.read_text()) if path and path.exists() else {}

    def __contains__(self, order_no: str) -> bool:
        return order_no in self._messages

    def __len__(self) -> int:
        return len(self._messages)

    def items(self) -> list[tuple[str, wire.Fields]]:
        return list(self._messages.items())

    def add(self, order_no: str, message: wire.Fields) -> None:
        assert not {"2", "35"} & message.keys(), "card data must never be queued"
        self._messages[order_no] = message
        self._save()

    def remove(self, order_no: str) -> None:
        if self._messages.pop(order_no, None) is not None:
            self._save()

    def _save(self) -> None:
        if self._path is not None:
            spare = self._path.with_suffix(".tmp")
            spare.write_text(json.dumps(self._messages))
            os.replace(spare, self._path)


class Originator:
    """The side that originates financial messages — a terminal, or Juhe toward the acquirer.
    It signs on when it must, and undoes what gets no answer: an authorisation or purchase is
    reversed (0400, repeated as 0401 until acknowledged), a completion advice repeated (0221).
    What is still unacknowledged after `repeat_attempts` waits in the outbox and is tried again
    before every later message, so a reversal, once decided, lands."""

    def __init__(self, client: IsoClient, terminal_id: str, merchant_id: str, repeat_attempts: int, outbox: Outbox):
        self.terminal_id, self.merchant_id = terminal_id, merchant_id
        self.outbox = outbox
        self.trace = TraceNumbers()
        self._client = client
        self._repeat_attempts = repeat_attempts
        self._signed_on = False

    async def transact(self, request: wire.Fields) -> wire.Answer:
        """Raises LinkError only when the request cannot have been sent."""
        await self.flush()
        if len(self.outbox) >= OUTBOX_MAX:
            raise LinkError(f"{len(self.outbox)} reversals and advices still undelivered", sent=False)
        try:
            answer, refused = await self.exchange(request), None
        except LinkError as e:
            if not e.sent:
                raise
            log.warning("pos.no_answer", mti=request["t"], stan=request["11"], terminal=request["41"], error=str(e))
            answer, refused = None, e.code
        if request["t"] in wire.COMPLETION.mtis:
            if answer is None or answer["39"] in wire.NOT_ACKNOWLEDGED:
                answer = await self._deliver(wire.repeat_of(request, _now()))
            # An advice reports what the issuer approved already; queued, it will be delivered.
            return wire.Answer.of(answer) if answer else wire.Answer(wire.APPROVED)
        if answer is not None:
            return wire.Answer.of(answer)
        await self.reverse(wire.reversal_of(request, self.trace.next(_now())))
        return wire.Answer(refused or wire.TIMED_OUT, reversed=True)

    async def reverse(self, reversal: wire.Fields) -> bool:
        """True when acknowledged now; False when it waits in the outbox."""
        return await self._deliver(reversal) is not None

    async def flush(self) -> None:
        """One more try for each queued reversal and advice, oldest first, until one fails."""
        for order_no, message in self.outbox.items():
            if await self._try(wire.repeat_of(message, _now())) is None:
                return  # the other side is still not answering; the rest can wait too
            self.outbox.remove(order_no)
            log.info("pos.outbox_delivered", mti=message["t"], order_no=order_no)

    async def exchange(self, request: wire.Fields) -> wire.Fields:
        if not self._signed_on:
            await self._sign_on()
        answer = await self._client.exchange(request)
        if answer["39"] == SIGN_ON_AGAIN:  # refused unprocessed: the other side restarted or the day changed
            await self._sign_on()
            answer = await self._client.exchange(request)
        return answer

    async def network(self, code: str) -> wire.Fields:
        message = wire.network(code, self.trace.next(_now()), self.terminal_id, self.merchant_id)
        return await self._client.exchange(message)

    async def _sign_on(self) -> None:
        try:
            answer = await self.network(wire.SIGN_ON)
        except LinkError as e:  # whatever happened to the sign-on, the request itself was not sent
            raise LinkError(f"sign-on failed: {e}", sent=False, code=e.code) from None
        if answer["39"] != wire.APPROVED:
            text = wire.RESPONSE_TEXT.get(answer["39"], "")
            raise LinkError(f"sign-on refused: {answer['39']} {text}", sent=False, code=answer["39"])
        self._signed_on = True
        log.info("pos.signed_on", terminal=self.terminal_id, merchant=self.merchant_id)

    async def _deliver(self, message: wire.Fields) -> wire.Fields | None:
        for attempt in range(self._repeat_attempts):
            if attempt:
                await asyncio.sleep(REPEAT_BACKOFF_S * 2 ** (attempt - 1))
                message = wire.repeat_of(message, _now())
            answer = await self._try(message)
            if answer is not None:
                return answer
        self.outbox.add(wire.order_no_of(message) or f"{message['41']}:{message['11']}", message)
        log.warning("pos.outbox_queued", mti=message["t"], stan=message["11"], terminal=message["41"])
        return None

    async def _try(self, message: wire.Fields) -> wire.Fields | None:
        try:
            answer = await self.exchange(message)
        except LinkError:
            return None
        return answer if answer["39"] not in wire.NOT_ACKNOWLEDGED else None


def _now() -> datetime:
    return datetime.now(timezone.utc)
