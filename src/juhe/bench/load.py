"""`juhe bench load`: many concurrent clients doing a realistic mix (create, query, list, refund)
against the production layout — PostgreSQL (durable), N API processes and a `juhe worker`, the
channels' sandboxes — for a set time, driven by Locust (headless, loopback only); then the
ledger is proven. Baseline, same run: the same clients at the same pacing against a bare
INSERT + commit endpoint of the same servers, for a tenth of the time (at least 10 s).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, select

from juhe.bench.report import printed_json
from juhe.bench.stack import THROWAWAY_POSTGRES, Stack, StackError, StackOptions, channels_for
from juhe.channels.simkit import Faults

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
AIM_P95_MS = 300
AIM_ERROR_RATE = 0.001
BASELINE_MIN_S = 10


class LoadError(RuntimeError):
    """The load test could not run."""


@dataclass
class Phase:
    requests: int
    failures: int
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    by_name: dict[str, dict] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass
class LoadResult:
    clients: int
    duration_s: int
    api_processes: int
    mix: Phase
    baseline: Phase
    ledger_ok: bool
    ledger_problems: list[str]
    payments_by_status: dict[str, int]
    refunds: int

    def figures(self) -> dict:
        return {"clients": self.clients, "duration_s": self.duration_s, "api_processes": self.api_processes,
                "requests": self.mix.requests, "requests_per_s": round(self.mix.requests_per_s, 1),
                "p50_ms": self.mix.p50_ms, "p95_ms": self.mix.p95_ms, "p99_ms": self.mix.p99_ms,
                "error_rate": round(self.mix.error_rate, 6), "baseline_per_s": round(self.baseline.requests_per_s, 1),
                "ratio": round(self.mix.requests_per_s / self.baseline.requests_per_s, 4) if self.baseline.requests_per_s else 0.0,
                "ledger_ok": self.ledger_ok, "payments": sum(self.payments_by_status.values()), "refunds": self.refunds}

    def print(self, *, as_json: bool = False, console: Console | None = None) -> None:
        if printed_json(self.figures(), as_json):
            return
        console = console or Console()
        f = self.figures()
        table = Table(title=f"Load: {self.clients} clients for {self.duration_s} s, PostgreSQL, "
                            f"{self.api_processes} API process(es) + worker", title_justify="left")
        for heading in ("requests", "count", "per s", "p50 ms", "p95 ms", "p99 ms", "errors"):
            table.add_column(heading, justify="left" if heading == "requests" else "right", no_wrap=True)
        for name, row in sorted(self.mix.by_name.items()):
            table.add_row(name, f"{row['requests']:,}", f"{row['per_s']:,.1f}", f"{row['p50_ms']:g}", f"{row['p95_ms']:g}",
                          f"{row['p99_ms']:g}", f"{row['failures']:,}")
        mark = lambda ok: "✓" if ok else "✗"  # noqa: E731
        table.add_row("[b]all[/b]", f"{f['requests']:,}", f"{f['requests_per_s']:,.1f}", f"{f['p50_ms']:g}",
                      f"{f['p95_ms']:g} {mark(f['p95_ms'] < AIM_P95_MS)}", f"{f['p99_ms']:g}",
                      f"{self.mix.failures:,} ({f['error_rate']:.3%}) {mark(f['error_rate'] < AIM_ERROR_RATE)}")
        table.add_row("baseline insert", f"{self.baseline.requests:,}", f"{f['baseline_per_s']:,.1f}",
                      f"{self.baseline.p50_ms:g}", f"{self.baseline.p95_ms:g}", f"{self.baseline.p99_ms:g}",
                      f"{self.baseline.failures:,}")
        console.print(table)
        console.print(f"[dim]Ratio to the baseline (same clients, same pacing): {f['ratio']:.2f}. Aims: p95 < {AIM_P95_MS} ms, "
                      f"errors < {AIM_ERROR_RATE:.1%}, ledger verified.[/dim]")
        console.print(f"[dim]After the run: ledger {'verifies ✓' if self.ledger_ok else 'FAILS ✗ ' + '; '.join(self.ledger_problems[:3])}; "
                      f"payments by status: {', '.join(f'{s} {n:,}' for s, n in sorted(self.payments_by_status.items()))}; "
                      f"refunds {self.refunds:,}.[/dim]")


def run(*, clients: int = 50, duration_s: int = 600, api_processes: int = 2, database_url: str | None = None,
        spawn_rate: float | None = None, progress: Progress | None = None) -> LoadResult:
    if clients < 1 or duration_s < 1 or api_processes < 1:
        raise LoadError("--clients, --duration-s and --api-processes must be at least 1")
    options = StackOptions(database_url=database_url or THROWAWAY_POSTGRES, api_processes=api_processes,
                           worker_interval_s=0.05, poll_initial_s=5.0, channels=channels_for("qr"))
    try:
        stack = Stack(options).start()
    except StackError as e:
        raise LoadError(str(e)) from e
    try:
        if stack.db.dialect != "postgresql":
            raise LoadError("the load test runs on PostgreSQL (the production layout)")
        stack.set_faults(Faults(auto_pay_after_ms=0))
        env = {"JUHE_LOAD_KEYS": json.dumps([m["api_keys"]["business"] for m in stack.merchants]),
               "JUHE_LOAD_CHANNELS": ",".join(options.channels)}
        rate = spawn_rate or float(clients)  # all clients within a second: the rates are not diluted by a ramp
        baseline = _locust(stack, "BaselineUser", clients, max(BASELINE_MIN_S, duration_s // 10), rate, env, "baseline")
        mix = _locust(stack, "MerchantApp", clients, duration_s, rate, env, "mix")
        return _after(stack, clients, duration_s, api_processes, mix, baseline)
    finally:
        stack.stop()


def _locust(stack: Stack, user_class: str, clients: int, duration_s: int, rate: float, env: dict, name: str) -> Phase:
    prefix = stack.dir / name
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), user_class, "--headless", "--only-summary",
               "-u", str(clients), "-r", f"{rate:g}", "-t", f"{duration_s}s", "--host", stack.api_url,
               "--csv", str(prefix), "--exit-code-on-error", "0", "--loglevel", "WARNING"]
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=duration_s + 120)
    if done.returncode != 0 or not Path(f"{prefix}_stats.csv").exists():
        raise LoadError(f"locust failed ({done.returncode}): {(done.stderr or done.stdout)[-800:]}")
    return _read_stats(Path(f"{prefix}_stats.csv"))


def _read_stats(path: Path) -> Phase:
    """Locust's stats CSV: one row per request name and an "Aggregated" row."""
    rows = list(csv.DictReader(path.open()))
    by_name = {row["Name"]: {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                             "per_s": float(row["Requests/s"]), "p50_ms": float(row["50%"]),
                             "p95_ms": float(row["95%"]), "p99_ms": float(row["99%"])}
               for row in rows if row["Name"] != "Aggregated"}
    total = next((row for row in rows if row["Name"] == "Aggregated"), None)
    if total is None or int(total["Request Count"]) == 0:
        raise LoadError(f"locust made no requests (see {path})")
    return Phase(int(total["Request Count"]), int(total["Failure Count"]), float(total["Requests/s"]),
                 float(total["50%"]), float(total["95%"]), float(total["99%"]), by_name)


def _after(stack: Stack, clients: int, duration_s: int, api_processes: int, mix: Phase, baseline: Phase) -> LoadResult:
    from juhe.ledger import verify_database
    from juhe.payments.models import Payment, Refund

    ledger = verify_database(stack.db.engine)  # the worker is still finishing the last payments
    with stack.db.engine.connect() as conn, conn.begin():
        statuses = dict(conn.execute(select(Payment.status, func.count()).group_by(Payment.status)).all())
        refunds = conn.scalar(select(func.count()).select_from(Refund))
    return LoadResult(clients, duration_s, api_processes, mix, baseline, ledger.ok, list(ledger.problems), statuses, refunds)
