"""Requests per API key: a token bucket per key (JUHE_API_KEY_RATE_PER_S refilled, JUHE_API_KEY_BURST
deep). A key that spends it is answered 429 `rate_limited` with Retry-After before anything runs.

The buckets live in each API process: with `juhe serve --workers N` a key may send N times the rate
in all. That bounds what one leaked or looping key costs a process without a database write per
request (the hot path counts its commits: tests/payments/test_hot_path.py)."""

from __future__ import annotations

import math
import threading
import time
import uuid

from juhe.config import get_settings

KEYS_TRACKED_MAX = 100_000  # past this the buckets start afresh: full buckets are the safe side


class KeyBuckets:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # handlers run on FastAPI's thread pool
        self._buckets: dict[uuid.UUID, tuple[float, float]] = {}  # key → (tokens, at monotonic s)

    def take(self, key_id: uuid.UUID, rate_per_s: float, burst: int, now: float | None = None) -> float:
        """0 when a request may go; otherwise the seconds until one token is back."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._buckets) >= KEYS_TRACKED_MAX:
                self._buckets.clear()
            tokens, at = self._buckets.get(key_id, (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate_per_s)
            if tokens < 1:
                self._buckets[key_id] = (tokens, now)
                return (1 - tokens) / rate_per_s
            self._buckets[key_id] = (tokens - 1, now)
            return 0.0


BUCKETS = KeyBuckets()


def retry_after_s(key_id: uuid.UUID) -> int:
    """0: go on; otherwise the whole seconds a client should wait (Retry-After)."""
    settings = get_settings()
    if settings.api_key_rate_per_s <= 0:
        return 0
    wait_s = BUCKETS.take(key_id, settings.api_key_rate_per_s, settings.api_key_burst)
    return math.ceil(wait_s) if wait_s else 0
