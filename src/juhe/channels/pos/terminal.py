"""A store's POS terminal, simulated: it reads a test card, speaks ISO 8583 to Juhe's terminal
gateway under its own MAC key, and reverses whatever gets no valid answer in time.

    python -m juhe.channels.pos.terminal --gateway 127.0.0.1:9100 --terminal POS00001 \\
        --merchant 898310058120001 --mac-key-file pos00001.hex purchase 12.34 --card approve

Cards are the sandbox's test cards (sandbox.TEST_CARDS); a receipt shows BIN and last four only.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from juhe.channels.pos import signing, wire
from juhe.channels.pos.link import IsoClient, LinkError, Originator, Outbox
from juhe.channels.pos.sandbox import TEST_CARDS
from juhe.money import Money

TERMINAL_TIMEOUT_S = 30.0  # longer than the gateway's own wait for the acquirer plus its reversal


@dataclass(frozen=True)
class Receipt:
    code: str
    text: str
    stan: str
    transmitted: str  # field 7: with the STAN, what a completion or reversal names the original by
    card: str = ""
    rrn: str = ""
    auth_code: str = ""
    reversed: bool = False

    @property
    def approved(self) -> bool:
        return self.code == wire.APPROVED


class TerminalSimulator:
    def __init__(self, host: str, port: int, terminal_id: str, merchant_id: str, mac_key: bytes,
                 *, timeout_s: float = TERMINAL_TIMEOUT_S, repeat_attempts: int = 3):  # fmt: skip
        client = IsoClient(host, port, mac_key, timeout_s)
        self.link = Originator(client, terminal_id, merchant_id, repeat_attempts, Outbox())

    async def echo(self) -> str:
        return (await self.link.network(wire.ECHO))["39"]

    async def purchase(self, amount_minor: int, track2: str, entry_mode: str = "051") -> Receipt:
        return await self._card_request("0200", amount_minor, track2, entry_mode)

    async def authorise(self, amount_minor: int, track2: str, entry_mode: str = "051") -> Receipt:
        return await self._card_request("0100", amount_minor, track2, entry_mode)

    async def complete(self, authorisation: Receipt, amount_minor: int) -> Receipt:
        """Capture (part of) an authorisation: the advice names the 0100 and its approval code."""
        now = datetime.now(timezone.utc)
        original = {"t": "0100", "11": authorisation.stan, "7": authorisation.transmitted}
        request = wire.header("0220", self.link.trace.next(now), self.link.terminal_id, self.link.merchant_id)
        request |= wire.local_fields(now) | {
            "3": wire.GOODS_AND_SERVICES, "4": f"{amount_minor:012d}", "38": authorisation.auth_code,
            "49": wire.CURRENCY_NUMERIC, "90": wire.original_data(original),
        }  # fmt: skip
        return await self._send(request, authorisation.card)

    async def _card_request(self, mti: str, amount_minor: int, track2: str, entry_mode: str) -> Receipt:
        now = datetime.now(timezone.utc)
        card = wire.card_of(track2)
        trace = self.link.trace.next(now)
        request = wire.card_request(mti, trace, self.link.terminal_id, self.link.merchant_id, amount_minor, card,
                                    entry_mode, now)  # fmt: skip
        return await self._send(request, card.display)

    async def _send(self, request: wire.Fields, card_display: str) -> Receipt:
        trace = {"stan": request["11"], "transmitted": request["7"], "card": card_display}
        try:
            answer = await self.link.transact(request)
        except LinkError as e:  # not sent at all: nothing to undo
            return Receipt(code=e.code or wire.TIMED_OUT, text=str(e), **trace)
        return Receipt(answer.code, answer.text, rrn=answer.rrn, auth_code=answer.auth_code,
                       reversed=answer.reversed, **trace)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m juhe.channels.pos.terminal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", required=True, help="host:port of Juhe's terminal gateway")
    parser.add_argument("--terminal", required=True, help="terminal id (field 41), 8 characters")
    parser.add_argument("--merchant", required=True, help="card acceptor id (field 42), 15 characters")
    parser.add_argument("--mac-key-file", required=True, type=Path, help="the terminal's AES-128 MAC key, hex")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("echo", help="echo test (0800/301)")
    for name in ("purchase", "authorise"):
        command = commands.add_parser(name, help=f"{name} with a test card")
        command.add_argument("amount", help="yuan, e.g. 12.34")
        command.add_argument("--card", choices=sorted(TEST_CARDS), default="approve")
    args = parser.parse_args(argv)
    host, _, port = args.gateway.rpartition(":")
    terminal = TerminalSimulator(host, int(port), args.terminal, args.merchant,
                                 signing.load_key(args.mac_key_file, signing.MAC_KEY_BYTES))  # fmt: skip
    if args.command == "echo":
        code = asyncio.run(terminal.echo())
        print(f"echo: {code} {wire.RESPONSE_TEXT.get(code, '')}")
        return 0 if code == wire.APPROVED else 1
    amount = Money.parse(args.amount, wire.CURRENCY)
    action = terminal.purchase if args.command == "purchase" else terminal.authorise
    receipt = asyncio.run(action(amount.amount_minor, TEST_CARDS[args.card].track2))
    print(f"{args.command} {amount}  card {receipt.card}  STAN {receipt.stan}")
    print(f"{'APPROVED' if receipt.approved else 'DECLINED'} {receipt.code} {receipt.text}")
    if receipt.approved:
        print(f"RRN {receipt.rrn}  auth code {receipt.auth_code}")
    return 0 if receipt.approved else 1


if __name__ == "__main__":
    raise SystemExit(main())
