"""`juhe prove`: the security and fault proofs of juhe.safety, run at full size (or `quick`, as
`make test` runs them), summed into one table of figures anyone can reproduce.

Parts (each can be run alone with --parts):
  fuzz        schemathesis, every phase, each role's key and none, against a live API
  isolation   every operation on an object id, with the other merchant's keys and unlisted roles
  signatures  every signature scheme: genuine, ±299 s, ±301 s, tampered, foreign key
  cards       card numbers, track data, CVVs in the database, logs and files of a simulated day
  crashes     crash points, random SIGKILLs, a channel outage, recon and settlement crashed and rerun
  receiver    the merchant's webhook receiver down for an hour of simulated time
  sqlite      SQLite with a full disk, then read-only, under load
  postgres    PostgreSQL restarted under load
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

PARTS = ("fuzz", "isolation", "signatures", "cards", "crashes", "receiver", "sqlite", "postgres")
ROLES = ("admin", "finance", "it", "business", "risk")
# Sizes: (quick, full).
FUZZ_EXAMPLES = (1, 20)
FUZZ_TIME_S = (5, 600)
KILLS = (50, 200)
SIMULATED_PAYMENTS = (20, 200)
OUTAGE_S = (4.0, 20.0)


class ProveError(RuntimeError):
    """The proof could not run (bad --parts)."""


@dataclass
class Row:
    """One part's figures; None where the part does not measure that figure."""

    part: str
    requests_tried: int | None = None
    errors_5xx: int | None = None
    errors_5xx_retryable: int | None = None  # 503 problem+json with Retry-After, as an outage must answer
    kills_survived: int | None = None
    acknowledged_payments_lost: int | None = None
    deliveries_made: int | None = None
    card_numbers_found: int | None = None
    invariant_checks: int = 0
    invariant_checks_passed: int = 0
    failures: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def checked(self, results: dict[str, tuple[bool, str]]) -> None:
        self.invariant_checks += len(results)
        self.invariant_checks_passed += sum(held for held, _ in results.values())
        self.failures += [f"{name}: {detail}" for name, (held, detail) in results.items() if not held]


@dataclass
class Proof:
    rows: list[Row] = field(default_factory=list)
    quick: bool = False

    FIGURES = ("requests_tried", "errors_5xx", "errors_5xx_retryable", "kills_survived", "acknowledged_payments_lost",
               "deliveries_made", "card_numbers_found", "invariant_checks", "invariant_checks_passed")

    def total(self, figure: str) -> int:
        return sum(getattr(r, figure) or 0 for r in self.rows)

    @property
    def ok(self) -> bool:
        return all(r.invariant_checks == r.invariant_checks_passed for r in self.rows)

    def figures(self) -> dict:
        return {**{f: self.total(f) for f in self.FIGURES}, "ok": self.ok, "quick": self.quick,
                "duration_s": round(sum(r.duration_s for r in self.rows), 1),
                "parts": {r.part: {k: v for k, v in asdict(r).items() if k != "part"} for r in self.rows}}

    def print(self, *, as_json: bool = False, console: Console | None = None) -> None:
        if as_json:
            sys.stdout.write(json.dumps(self.figures()) + "\n")
            return
        console = console or Console()
        console.print(self.table())
        for row in self.rows:
            for failure in row.failures:
                console.print(f"[red]{row.part}: {failure}[/red]")

    def table(self) -> Table:
        size = "quick" if self.quick else "full"
        table = Table(title=f"Proof of safety ({size}, {sum(r.duration_s for r in self.rows):,.0f} s)", title_justify="left")
        headers = ("part", "requests\ntried", "5xx seen\n(503 retry)", "kills\nsurvived", "acknowledged\npayments lost",
                   "deliveries\nmade", "card numbers\nfound", "invariant\nchecks")
        for header in headers:
            table.add_column(header, justify="left" if header == "part" else "right", no_wrap=True)

        def cells(get, checks: tuple[int, int]) -> list[str]:
            shown = [get(f) for f in ("requests_tried", "errors_5xx", "kills_survived", "acknowledged_payments_lost",
                                      "deliveries_made", "card_numbers_found")]
            text = ["" if v is None else f"{v:,}" for v in shown]
            retryable = get("errors_5xx_retryable")
            if retryable:
                text[1] += f" ({retryable:,})"
            passed, total = checks
            text.append(f"[green]{passed}/{total} ✓[/green]" if passed == total else f"[red]{passed}/{total} ✗[/red]")
            return text

        for row in self.rows:
            table.add_row(row.part, *cells(lambda f, r=row: getattr(r, f), (row.invariant_checks_passed, row.invariant_checks)))
        table.add_row("[bold]all[/bold]", *cells(self.total, (self.total("invariant_checks_passed"), self.total("invariant_checks"))))
        return table


def parse_parts(text: str | None) -> tuple[str, ...]:
    if not text:
        return PARTS
    asked = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in asked if p not in PARTS]
    if unknown or not asked:
        raise ProveError(f"--parts: {'unknown ' + ', '.join(unknown) if unknown else 'names none'}; "
                         f"name some of {', '.join(PARTS)}")
    return tuple(p for p in PARTS if p in asked)


def run(parts: tuple[str, ...] = PARTS, *, quick: bool = False, on_row=None) -> Proof:
    """Each part in turn; `on_row(row)` after each (progress)."""
    size = 0 if quick else 1
    proof = Proof(quick=quick)
    day = None
    try:
        for part in parts:
            started = time.monotonic()
            if part in ("isolation", "cards") and day is None:
                day = SimulatedDay(SIMULATED_PAYMENTS[size])
            row = PROOFS[part](size, day) if part in ("isolation", "cards") else PROOFS[part](size)
            row.duration_s = round(time.monotonic() - started, 1)
            proof.rows.append(row)
            if on_row is not None:
                on_row(row)
    finally:
        if day is not None:
            day.cleanup()
    return proof


# -- security ------------------------------------------------------------------------------------


def prove_fuzz(size: int) -> Row:
    from juhe.bench.stack import Stack, StackOptions
    from juhe.safety.security_fuzz import fuzz

    with Stack(StackOptions(in_process=True, poll_initial_s=0.5)) as stack:
        keys = stack.merchants[0]["api_keys"]
        report = fuzz(stack.api_url, {role: keys[role] for role in ROLES} | {"no key": None},
                      max_examples=FUZZ_EXAMPLES[size], max_time_s=FUZZ_TIME_S[size])
    row = Row("fuzz", requests_tried=report.requests, errors_5xx=report.server_errors)
    row.checked({"no 5xx": (report.server_errors == 0, f"{report.server_errors} server errors"),
                 "every answer in the document": (not report.failed_operations, "; ".join(report.failed_operations[:3]))})
    return row


class SimulatedDay:
    """A day of `juhe simulate` in a temp dir, for the isolation walk and the card scan."""

    def __init__(self, payments: int):
        self.folder = Path(tempfile.mkdtemp(prefix="juhe-prove-day-"))
        env = {**os.environ, "JUHE_DATABASE_URL": self.url, "JUHE_DATA_DIR": str(self.folder / "data")}
        with (self.folder / "simulate.log").open("wb") as log:
            subprocess.run([sys.executable, "-c", "from juhe.cli import app; app()", "simulate", "--days", "1",
                            "--payments-per-day", str(payments), "--json"], env=env, stdout=log, stderr=subprocess.STDOUT,
                           check=True)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.folder / 'juhe.db'}"

    def cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def prove_isolation(size: int, day: SimulatedDay) -> Row:
    from fastapi.testclient import TestClient

    from juhe.api.app import create_app
    from juhe.config import get_settings
    from juhe.db.engine import Database
    from juhe.safety import security_isolation as isolation

    saved = {k: os.environ.get(k) for k in ("JUHE_CHANNEL_MODE", "JUHE_DATA_DIR")}
    os.environ.update({"JUHE_CHANNEL_MODE": "live", "JUHE_DATA_DIR": str(day.folder / "data")})
    get_settings.cache_clear()
    db = Database(day.url, migrate=False)
    try:
        merchants = json.loads((day.folder / "data" / "demo-keys.json").read_text())["merchants"]
        with TestClient(create_app(db), raise_server_exceptions=False) as client:
            document = client.get("/openapi.json").json()
            isolation.create_examples(client, document, merchants[0], isolation.CREATION_BODIES)
            report = isolation.walk(client, document, db.engine.connect, merchants[0], merchants[1])
    finally:
        db.dispose()
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        get_settings.cache_clear()
    row = Row("isolation", requests_tried=report.calls)
    row.checked({"no object reached": (not report.leaks, "; ".join(report.leaks[:3])),
                 "nothing changed": (not report.changed_tables, ", ".join(report.changed_tables))})
    return row


def prove_signatures(size: int) -> Row:
    from juhe.safety.security_signatures import trial

    result = trial()
    row = Row("signatures", requests_tried=result.cases)
    row.checked({"every verdict right": (not result.wrong_verdicts, "; ".join(result.wrong_verdicts[:3]))})
    return row


def prove_cards(size: int, day: SimulatedDay) -> Row:
    from sqlalchemy import create_engine

    from juhe.safety.security_cards import scan

    engine = create_engine(day.url)
    try:
        result = scan(engine, [day.folder / "data", day.folder / "simulate.log"])
    finally:
        engine.dispose()
    row = Row("cards", card_numbers_found=result.card_numbers)
    row.checked({"no card number": (result.card_numbers == 0, "; ".join(result.found[:3])),
                 "no track data": (result.track_data == 0, f"{result.track_data} found"),
                 "no CVV": (result.cvvs == 0, f"{result.cvvs} found")})
    return row


# -- faults ---------------------------------------------------------------------------------------


def prove_crashes(size: int) -> Row:
    from juhe.safety import faults

    result = faults.run(kills=KILLS[size], outage_s=OUTAGE_S[size])
    row = _tallied("crashes", result.tally, result.checks)
    row.kills_survived = result.kills
    row.checked({f"crash point {p} fired": (fired, "never reached") for p, fired in result.points.items()})
    return row


def prove_receiver(size: int) -> Row:
    from juhe.safety import outages

    result = outages.receiver_down()
    row = Row("receiver", deliveries_made=result.checks.deliveries)
    row.checked(result.checks.results)
    return row


def prove_sqlite(size: int) -> Row:
    from juhe.safety import outages

    return _summed("sqlite", [_tallied(r.name, r.tally, r.checks) for r in outages.sqlite_refusing()])


def prove_postgres(size: int) -> Row:
    from juhe.safety import outages

    result = outages.postgres_restart()
    return _tallied("postgres", result.tally, result.checks)


def _tallied(part: str, tally, checks) -> Row:
    retryable = sum(n for code, n in tally.codes_5xx.items() if code.startswith(("database_", "storage_")))
    row = Row(part, requests_tried=tally.requests, errors_5xx=tally.errors_5xx, errors_5xx_retryable=retryable,
              acknowledged_payments_lost=checks.acknowledged_lost, deliveries_made=checks.deliveries)
    row.checked(checks.results)
    return row


def _summed(part: str, rows: list[Row]) -> Row:
    def summed(figure: str) -> int | None:
        values = [getattr(r, figure) for r in rows if getattr(r, figure) is not None]
        return sum(values) if values else None

    total = Row(part, **{f: summed(f) for f in Proof.FIGURES})
    total.failures = [f"{r.part}: {f}" for r in rows for f in r.failures]
    return total


PROOFS = {"fuzz": prove_fuzz, "isolation": prove_isolation, "signatures": prove_signatures, "cards": prove_cards,
          "crashes": prove_crashes, "receiver": prove_receiver, "sqlite": prove_sqlite, "postgres": prove_postgres}
