"""The worker's part of the log: ingest new rows every few seconds (a batch per source per
transaction, off the payment path) and publish a signed tree head every minute."""

from __future__ import annotations

import time
from pathlib import Path

from juhe.trace import heads, ingest

INGEST_INTERVAL_S = 5.0  # each round re-reads the sources' look-back: not on every worker tick
HEAD_INTERVAL_S = 60.0


def key_path(data_dir: Path) -> Path:
    return data_dir / "trace" / "log_key.pem"


def publish_head(db, key) -> heads.TreeHead:
    with db.session() as session, session.begin():
        return heads.sign(session, key, int(time.time() * 1000))


class TracePublisher:
    def __init__(self, db, key_file: Path, *, clock=time.monotonic):
        self.db = db
        self.key = heads.load_or_create_key(key_file)
        self.clock = clock
        self.next_ingest = 0.0
        self.next_head = 0.0

    def run_if_due(self) -> int:
        """Leaves appended this call (0 when not due)."""
        now = self.clock()
        appended = 0
        if now >= self.next_ingest:
            self.next_ingest = now + INGEST_INTERVAL_S
            appended = ingest.ingest(self.db)
        if now >= self.next_head:
            self.next_head = now + HEAD_INTERVAL_S
            publish_head(self.db, self.key)
        return appended
