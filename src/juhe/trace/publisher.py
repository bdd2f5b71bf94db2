"""The worker's part of the log: ingest new rows every few seconds (a batch per source per
transaction, off the payment path)."""

from __future__ import annotations

import time

from juhe.trace import ingest

INGEST_INTERVAL_S = 5.0  # each round re-reads the sources' look-back: not on every worker tick


class TracePublisher:
    def __init__(self, db, *, clock=time.monotonic):
        self.db = db
        self.clock = clock
        self.next_ingest = 0.0

    def run_if_due(self) -> int:
        """Leaves appended this call (0 when not due)."""
        now = self.clock()
        if now < self.next_ingest:
            return 0
        self.next_ingest = now + INGEST_INTERVAL_S
        return ingest.ingest(self.db)
