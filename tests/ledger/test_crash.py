"""Crash safety: a writer killed with SIGKILL at a random moment leaves every batch whole or
absent, and the ledger still verifies. The writer is crash_worker.py in a subprocess."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from juhe.db.engine import Database
from juhe.db.models import LedgerTransaction
from juhe.ledger import open_account, verify_ledger

TXNS = LedgerTransaction.__table__
WORKER = Path(__file__).with_name("crash_worker.py")
BIG_BATCH_SIZE = 5_000
READY_TIMEOUT_S = 60


def open_chart(url: str) -> None:
    db = Database(url)
    with db.engine.begin() as conn:
        open_account(conn, "bank:main", "CNY")
        open_account(conn, "revenue:fees", "CNY")
        for i in range(4):
            open_account(conn, f"payable:m{i}", "CNY", no_overdraft=True)
    db.dispose()  # the worker must be the only writer


def run_and_kill(url: str, tag: str, delay_s: float) -> list[str]:
    """Start the worker, SIGKILL it `delay_s` after its small batches committed; its output lines."""
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), url, tag, str(BIG_BATCH_SIZE)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
    )
    lines = []
    deadline = time.monotonic() + READY_TIMEOUT_S
    while "READY" not in lines:
        line = worker.stdout.readline()
        if not line or time.monotonic() > deadline:
            worker.kill()
            pytest.fail(f"worker did not get ready: {lines} {worker.stderr.read()}")
        lines.append(line.strip())
    time.sleep(delay_s)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL, worker.stderr.read()
    lines += [line.strip() for line in worker.stdout.read().splitlines()]
    worker.stdout.close()
    worker.stderr.close()
    return lines


def check_all_or_none(url: str, tag: str, lines: list[str]) -> bool:
    """Every batch is whole or absent; what was reported committed is whole. True if the kill
    landed inside a batch (started, not reported committed)."""
    started = {p: int(n) for kind, p, n in (line.split() for line in lines if " " in line) if kind == "START"}
    committed = {p: int(n) for kind, p, n in (line.split() for line in lines if " " in line) if kind == "COMMITTED"}
    db = Database(url, migrate=False)
    try:
        with db.engine.connect() as conn:
            keys = conn.scalars(select(TXNS.c.idempotency_key).where(TXNS.c.idempotency_key.like(f"{tag}:%"))).all()
            report = verify_ledger(conn)
    finally:
        db.dispose()
    assert report.ok, report.problems
    stored = Counter(key.rsplit(":", 1)[0] for key in keys)
    for prefix, count in stored.items():
        assert count == {**started, **committed}.get(prefix), f"batch {prefix} is partial: {count} rows"
    for prefix, size in committed.items():
        assert stored[prefix] == size, f"batch {prefix} was committed but has {stored[prefix]} of {size} rows"
    return any(p not in committed for p in started)


def crash_repeatedly(url: str, runs: int, seed: int) -> None:
    open_chart(url)
    rng = random.Random(seed)
    killed_mid_batch = 0
    for run in range(runs):
        tag = f"run{run}"
        lines = run_and_kill(url, tag, delay_s=rng.uniform(0.05, 1.2))
        killed_mid_batch += check_all_or_none(url, tag, lines)
    # The worker spends nearly all its time inside a batch; a run of kills that never hits one
    # would mean this test proves nothing.
    assert killed_mid_batch, "no kill landed inside a batch"


def test_sigkill_mid_batch_on_sqlite_leaves_each_batch_whole_or_absent(sqlite_url):
    crash_repeatedly(sqlite_url, runs=4, seed=1)


@pytest.mark.postgres
def test_sigkill_mid_batch_on_postgres_leaves_each_batch_whole_or_absent(pg_url):
    crash_repeatedly(pg_url, runs=3, seed=2)
