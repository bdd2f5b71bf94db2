"""Sending verification codes by SMS. Production plugs in its SMS provider's client behind
`SmsSender`; the sandbox keeps what it would have sent, so a demo payer (or a test) can read it."""

from __future__ import annotations

import re
from collections import deque
from typing import Protocol

SENT_KEPT = 1_000
CODE = re.compile(r"\b(\d{6})\b")


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


class SandboxSms:
    def __init__(self):
        self.sent: deque[tuple[str, str]] = deque(maxlen=SENT_KEPT)

    async def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))

    def last_code(self, phone: str) -> str | None:
        """The code in the newest message to `phone`, as the payer reads it off the phone."""
        for to, text in reversed(self.sent):
            if to == phone:
                found = CODE.search(text)
                return found.group(1) if found else None
        return None
