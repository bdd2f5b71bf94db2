"""The worker's part of the log: ingest new rows every few seconds (a batch per source per
transaction, off the payment path) and publish a signed tree head every minute."""

from __future__ import annotations

import time
from pathlib import Path

import structlog

from juhe.trace import heads, ingest, witness

INGEST_INTERVAL_S = 5.0  # each round re-reads the sources' look-back: not on every worker tick
HEAD_INTERVAL_S = 60.0
log = structlog.get_logger()


def key_path(data_dir: Path) -> Path:
    return data_dir / "trace" / "log_key.pem"


def key_file(settings) -> Path:
    return settings.trace_key_file or key_path(settings.data_dir)


def publish_head(db, key) -> heads.TreeHead:
    with db.session() as session, session.begin():
        return heads.sign(session, key, int(time.time() * 1000))


class TracePublisher:
    def __init__(self, db, key_file: Path, *, witness_to: str | None = None, clock=time.monotonic):
        self.db = db
        self.key = heads.load_or_create_key(key_file)
        self.witness_to = witness_to
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
            signed = publish_head(self.db, self.key)
            self._anchor(heads.note(signed))
        return appended

    def _anchor(self, note: str) -> None:
        if self.witness_to is None:
            return
        try:
            witness.anchor(note, self.witness_to)
        except witness.WitnessError as error:  # the head stays signed here; the next minute's goes out again
            log.warning("trace.witness_unreachable", witness=self.witness_to, error=str(error))
