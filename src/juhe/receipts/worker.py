"""The worker's part: every few seconds, receipts for what succeeded since the last round, then
the invoices they call for (einvoice.auto)."""

from __future__ import annotations

import functools
import time

from juhe.einvoice import auto
from juhe.einvoice.wiring import tax_platform
from juhe.receipts import service

INTERVAL_S = 5.0  # as the log's own ingestion: a receipt's payer is not waiting on the second


class ReceiptWorker:
    def __init__(self, db, channel_mode: str, *, platform=None, clock=time.monotonic):
        self.db = db
        # The tax platform is reached (a sandbox started) only once an invoice is due.
        self.platform = (lambda: platform) if platform is not None else functools.cache(lambda: tax_platform(channel_mode))
        self.clock = clock
        self.next_round = 0.0

    def run_if_due(self) -> int:
        """Receipts and invoices issued this call (0 when not due)."""
        now = self.clock()
        if now < self.next_round:
            return 0
        self.next_round = now + INTERVAL_S
        return service.issue_due(self.db) + auto.issue_due(self.db, self.platform)
