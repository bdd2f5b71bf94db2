"""`Juhe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with the
endpoint's whole secret (`whsec_…`) as UTF-8. While a rotated-out secret is still honoured
the header carries one `v1=` per secret; a receiver accepts if any of them matches."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Sequence

HEADER = "Juhe-Signature"
SCHEME = "v1"
TOLERANCE_S = 300
HEADER_LENGTH_MAX = 1_000  # a few signatures; anything longer is not ours
SIGNATURES_MAX = 4


def signature(secret: str, body: bytes, t: int) -> str:
    return hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str | Sequence[str], body: bytes, t: int) -> str:
    """The header value for `body` sent at unix time `t`, under one secret or several."""
    secrets = [secret] if isinstance(secret, str) else list(secret)
    assert 1 <= len(secrets) <= SIGNATURES_MAX, "sign with one secret, or a few during rotation"
    return ",".join([f"t={t}", *(f"{SCHEME}={signature(s, body, t)}" for s in secrets)])


def verify(secret: str, header: str, body: bytes, tolerance_s: int = TOLERANCE_S, now: float | None = None) -> bool:
    """True if `header` signs exactly `body` under `secret` and its time is within
    `tolerance_s` of `now` (either side: a replayed or a forged-future message fails)."""
    parsed = _parse(header)
    if parsed is None:
        return False
    t, candidates = parsed
    now = time.time() if now is None else now
    if abs(now - t) > tolerance_s:
        return False
    expected = signature(secret, body, t).encode()
    # Compare against every candidate so that timing reveals neither which nor how much matched;
    # as bytes, because compare_digest refuses non-ASCII text (which a forger may send).
    matches = [hmac.compare_digest(expected, c.encode()) for c in candidates]
    return any(matches)


def _parse(header: str) -> tuple[int, list[str]] | None:
    if not header or len(header) > HEADER_LENGTH_MAX:
        return None
    t: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            if t is not None or not (value.isascii() and value.isdigit()):
                return None
            t = int(value)
        elif key == SCHEME:
            candidates.append(value)
    if t is None or not candidates or len(candidates) > SIGNATURES_MAX:
        return None
    return t, candidates
