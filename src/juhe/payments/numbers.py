"""Order and refund numbers we send to channels.

32 characters: the Beijing time of issue (yyyyMMddHHmmss) and 18 random hex digits. Unique,
sortable by time, within every channel's limits ([0-9a-zA-Z], ≤ 32), and carrying their own
time: UnionPay finds an order only by its number together with the txnTime it was sent with,
so any process, after any restart, can still query and refund it."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))


def channel_number(now: datetime | None = None) -> str:
    moment = (now or datetime.now(timezone.utc)).astimezone(BEIJING)
    return f"{moment:%Y%m%d%H%M%S}{secrets.token_hex(9)}"
