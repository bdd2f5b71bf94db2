"""The worker's part: every few seconds, receipts for what succeeded since the last round."""

from __future__ import annotations

import time

from juhe.receipts import service

INTERVAL_S = 5.0  # as the log's own ingestion: a receipt's payer is not waiting on the second


class ReceiptWorker:
    def __init__(self, db, *, clock=time.monotonic):
        self.db = db
        self.clock = clock
        self.next_round = 0.0

    def run_if_due(self) -> int:
        """Receipts issued this call (0 when not due)."""
        now = self.clock()
        if now < self.next_round:
            return 0
        self.next_round = now + INTERVAL_S
        return service.issue_due(self.db)
