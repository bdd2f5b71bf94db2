"""Live channel health: a sliding window of outcomes and a circuit breaker, per process."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

WINDOW_SIZE = 200
PRIOR_SUCCESSES = 19  # a channel with no history counts as 95 % successful (19 of 20)
PRIOR_TOTAL = 20
BREAKER_FAILURES = 5  # consecutive failures that open the circuit
BREAKER_COOLDOWN_S = 10.0


@dataclass(frozen=True, slots=True)
class HealthView:
    success_rate: float  # share of recent channel calls that worked, smoothed by the prior
    samples: int
    circuit_open: bool


class ChannelHealth:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._outcomes: dict[str, deque[bool]] = {}
        self._consecutive_failures: dict[str, int] = {}
        self._open_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def record(self, channel: str, ok: bool) -> None:
        with self._lock:
            self._outcomes.setdefault(channel, deque(maxlen=WINDOW_SIZE)).append(ok)
            failures = 0 if ok else self._consecutive_failures.get(channel, 0) + 1
            self._consecutive_failures[channel] = failures
            if failures >= BREAKER_FAILURES:
                self._open_until[channel] = self._clock() + BREAKER_COOLDOWN_S
            elif ok:
                self._open_until.pop(channel, None)

    def view(self, channel: str) -> HealthView:
        with self._lock:
            outcomes = self._outcomes.get(channel, ())
            ok = sum(outcomes)
            # After the cooldown the breaker is half-open: the channel is tried again.
            circuit_open = self._open_until.get(channel, 0.0) > self._clock()
            rate = (ok + PRIOR_SUCCESSES) / (len(outcomes) + PRIOR_TOTAL)
            return HealthView(rate, len(outcomes), circuit_open)
