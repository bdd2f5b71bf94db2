"""Named crash points: where a process dies on purpose, so that tests can prove what survives.

    hit("payment.booked")   # in the code path, at a moment worth dying at

does nothing unless the process was started with `JUHE_CRASH_AT` naming that point
(comma-separated names; `name@N` dies at the N-th hit instead of the first). Then it sends
itself SIGKILL: no `finally`, no atexit, no flush — what a power cut or the OOM killer does.
The variable is read once, at the first hit, so an unarmed process pays one dict lookup."""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "JUHE_CRASH_AT"
# Every point placed in the code, with the moment it marks; `juhe prove` and the tests walk these.
POINTS = {
    "payment.answer": "the payment is created and committed, its answer not yet sent (API)",
    "outbox.inserted": "a webhook event is inserted, its transaction not yet committed",
    "payment.booked": "a channel's success is booked (ledger + outbox committed), the channel not yet answered",
    "webhook.sent": "webhooks were delivered, their delivery not yet recorded (worker)",
    "recon.proven": "reconciliation queried and fixed what it could prove, its run not yet stored",
    "settlement.batch": "a settlement batch is written and its funds held, the merchant's run not yet committed",
    "subscription.cycle": "a subscription rolled into its next period (invoice committed), not yet collected",
}

_armed: dict[str, int] | None = None
_hits: Counter[str] = Counter()


def armed_points(value: str | None) -> dict[str, int]:
    """'payment.booked,webhook.sent@3' → {'payment.booked': 1, 'webhook.sent': 3}; ValueError for a
    point no code has (a typo would otherwise make a test pass without crashing anything)."""
    points: dict[str, int] = {}
    for part in (value or "").split(","):
        name, _, nth = part.strip().partition("@")
        if not name:
            continue
        if name not in POINTS:
            raise ValueError(f"{ENV}: no crash point {name!r}; there are {', '.join(POINTS)}")
        points[name] = int(nth) if nth else 1
        if points[name] < 1:
            raise ValueError(f"{ENV}: {part!r} counts hits from 1")
    return points


def rearm() -> None:
    """Read `JUHE_CRASH_AT` again at the next hit: a forked process armed after its parent read it."""
    global _armed
    _armed = None
    _hits.clear()


def hit(name: str) -> None:
    global _armed
    assert name in POINTS, name
    if _armed is None:
        _armed = armed_points(os.environ.get(ENV))
    if name not in _armed:
        return
    _hits[name] += 1
    if _hits[name] >= _armed[name]:
        os.kill(os.getpid(), signal.SIGKILL)
