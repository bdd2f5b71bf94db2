"""The `juhe` command."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import structlog
import typer
from rich.console import Console

from juhe.aml.commands import aml_app
from juhe.audit.commands import audit_app
from juhe.bnpl.commands import bnpl_app
from juhe.config import get_settings
from juhe.console.commands import console_app
from juhe.recon.commands import recon_app, statement_app
from juhe.bench.forecast_command import bench_forecast
from juhe.bench.risk_command import bench_risk
from juhe.bench.trace import bench_trace
from juhe.risk.commands import risk_app
from juhe.settlement.commands import settle_app
from juhe.simulation.commands import simulate
from juhe.orders.commands import trace_order
from juhe.trace.commands import trace_app
from juhe.treasury.commands import treasury_app
from juhe.pii.commands import keys_app
from juhe.reports.commands import report_app

app = typer.Typer(help="Juhe (聚合): self-hosted payment and treasury platform.", no_args_is_help=True)
ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks, each beside a baseline measured in the same run.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(bench_app, name="bench")
console = Console()


class _Stderr:
    """Whatever sys.stderr is when a line is logged (a test runner swaps it, and closes its own)."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@app.callback()
def main() -> None:
    """Juhe (聚合): self-hosted payment and treasury platform."""
    # Logs go to stderr: stdout carries what a command prints (its table, or one --json object).
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(_Stderr()))


def fail(message: str, code: int = 2) -> None:
    """A CLI error: one clear line on stderr and a non-zero exit."""
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@app.command()
def serve(
    host: str = typer.Option(None, help="Defaults to JUHE_API_HOST (127.0.0.1)."),
    port: int = typer.Option(None, help="Defaults to JUHE_API_PORT (8000)."),
    workers: int = typer.Option(1, "--workers", help="API processes on one port (PostgreSQL only; run `juhe worker` "
                                "beside them, and in sandbox mode `juhe sandbox <code>` for each channel)."),
) -> None:
    """Serve the API (migrates the database first)."""
    from juhe import serve as serving

    settings = get_settings()
    try:
        serving.serve(settings, host or settings.api_host, port or settings.api_port, workers)
    except serving.ServeError as e:
        fail(str(e))


@app.command()
def worker() -> None:
    """Poll payments and refunds, deliver webhooks, expire holds (run beside `juhe serve`)."""
    import asyncio

    from juhe.db.engine import Database
    from juhe.runtime import Runtime, run_worker

    settings = get_settings()

    async def main() -> None:
        from juhe import loop_lag

        runtime = Runtime(settings, Database(settings.database_url), host_sandboxes=False)
        stop = asyncio.Event()
        lag_probe = loop_lag.start(stop)
        try:
            await run_worker(runtime, stop)
        finally:
            stop.set()
            await lag_probe
            await runtime.close()

    asyncio.run(main())


@app.command()
def sandbox(
    code: str = typer.Argument(..., help="alipay, wechatpay, unionpay, facepay, pos, bank or crossborder"),
    port: int = typer.Option(None, help="Defaults to JUHE_SANDBOX_BASE_PORT + the channel's index."),
    as_json: bool = typer.Option(False, "--json", help="First print the client settings as one JSON line."),
) -> None:
    """Serve one channel simulator on its own, like the channel's developer sandbox."""
    import uvicorn

    from juhe.channels.registry import CHANNELS, sandbox_class
    from juhe.runtime import sandbox_port

    if code not in CHANNELS:
        fail(f"unknown channel {code!r}; choose one of {', '.join(CHANNELS)}")
    settings = get_settings()
    port = port or sandbox_port(settings, code)
    simulator = sandbox_class(code)(settings.data_dir / "sandbox" / code, f"http://127.0.0.1:{port}", None)
    client = simulator.client_config()
    if as_json:
        print(json.dumps(client), flush=True)
    else:
        console.print(f"[bold]{code} sandbox[/bold] on http://127.0.0.1:{port}; point a client at it with:")
        for key, value in client.items():
            console.print(f"  {key:24} {value}")
        console.print("pay an order as the payer: POST /sandbox/pay/<order_no>; faults: PUT /sandbox/faults")
    uvicorn.run(simulator.app, host="127.0.0.1", port=port, log_level="warning")


@app.command()
def demo(
    port: int = typer.Option(None, help="Defaults to JUHE_API_PORT (8000)."),
    day: bool = typer.Option(True, "--day/--no-day", help="Play a business day once the API is up: QR, card at a "
                             "store terminal, face pay, a B2B supplier batch."),
    stream: bool = typer.Option(False, "--stream/--no-stream", help="Then keep the retailer's sales coming through the API."),
    stream_interval_s: float = typer.Option(1.0, "--stream-interval-s", min=0.05, help="Seconds between two live sales."),
) -> None:
    """Seed the demo enterprise on the embedded database, serve the API, and play a business day."""
    import uvicorn

    from juhe.api.app import create_app
    from juhe.db.engine import Database
    from juhe.demo import seed_console_logins, seed_demo

    settings = get_settings()
    settings.webhook_allow_private_urls = True  # the demo's receivers run on this machine
    settings.risk_train_when_untrained = True
    db = Database(settings.database_url)
    seeded = seed_demo(db, settings.data_dir / "demo-keys.json")
    settings.platform_token = settings.platform_token or seeded["platform_token"]
    if port and port != settings.api_port and "JUHE_PUBLIC_BASE_URL" not in os.environ:
        settings.public_base_url = f"http://{settings.api_host}:{port}"  # notifications follow the port
    port = port or settings.api_port
    base = f"http://{settings.api_host}:{port}"
    console.rule("[bold]Juhe demo")
    console.print(f"database: {settings.database_url}   API: {base}/v1   docs: {base}/docs")
    for merchant in seeded["merchants"]:
        console.print(f"\n[bold]{merchant['name']}[/bold] ({merchant['industry']}) id={merchant['id']}")
        for role, secret in merchant["api_keys"].items():
            console.print(f"  {role:9} {secret}")
    console.print(f"\nplatform operator token (reconciliation, settlement runs, reserve proofs): {settings.platform_token}")
    console.print(f"\n[bold]Console[/bold] {base}/console — demo logins (Lotus Mart; operator: the platform):")
    for login in seed_console_logins(db, settings.data_dir / "demo-console-logins.json", seeded["merchants"][0]):
        console.print(f"  {login['role']:9} {login['login']:16} {login['password']}")
    console.print(f"\n[bold]Cash plan[/bold] (资金规划, from the simulated month): juhe treasury advice --merchant "
                  f"{seeded['merchants'][0]['id']}  (or the console's Treasury page as finance)")
    business = seeded["merchants"][0]["api_keys"]["business"]
    console.print(
        f"\nPay a demo QR:\n"
        f"  curl -s -X POST {base}/v1/payments -H 'Authorization: Bearer {business}' -H 'Idempotency-Key: demo-1' \\\n"
        f"       -H 'Content-Type: application/json' -d '{{\"amount_minor\": 1288, \"currency\": \"CNY\", \"scenario\": \"qr\", \"subject\": \"Green tea\"}}'\n"
        f"  open next_action.qr_content in a browser (the sandbox's payer page) and press Pay,\n"
        f"  or scan {base}/v1/payments/<id>/qr.png; then GET {base}/v1/payments/<id> shows it succeeded.\n"
    )
    if day or stream:
        threading.Thread(target=_play_demo_day, args=(settings, base, seeded["merchants"][0], day, stream and stream_interval_s),
                         daemon=True).start()
    uvicorn.run(create_app(db, with_worker=True), host=settings.api_host, port=port, log_level=settings.log_level)


def _play_demo_day(settings, base_url: str, merchant: dict, day: bool, stream_interval_s: float | None) -> None:
    from juhe.simulation.stream import for_settings

    try:
        if day:
            _print_demo_day(settings, base_url, merchant)
        if stream_interval_s:
            for_settings(settings, base_url, merchant, stream_interval_s, console.print).run()
    except Exception as e:  # the server keeps serving; say what went wrong
        console.print(f"[red]demo stopped: {type(e).__name__}: {e}[/red]")


def _print_demo_day(settings, base_url: str, merchant: dict) -> None:
    from rich.table import Table

    from juhe.demo_day import DemoDay

    story = DemoDay.for_settings(settings, base_url, merchant).run()
    table = Table(title="Demo business day at Lotus Mart", title_justify="left")
    table.add_column("what")
    table.add_column("outcome")
    for what, outcome in story:
        table.add_row(what, outcome)
    console.print(table)


transfers_app = typer.Typer(help="Batch transfers through the corporate bank.", no_args_is_help=True)
app.add_typer(transfers_app, name="transfers")
app.add_typer(statement_app, name="statement")
app.add_typer(recon_app, name="recon")
app.add_typer(aml_app, name="aml")
app.add_typer(settle_app, name="settle")
app.add_typer(risk_app, name="risk")
trace_app.command("order")(trace_order)  # a B2B order's three flows in the log, reconciled
app.add_typer(trace_app, name="trace")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(console_app, name="console")
app.add_typer(bnpl_app, name="bnpl")
app.add_typer(treasury_app, name="treasury")
app.add_typer(report_app, name="report")
app.command()(simulate)
bench_app.command("risk")(bench_risk)
bench_app.command("forecast")(bench_forecast)
bench_app.command("trace")(bench_trace)


@transfers_app.command("export-pain001")
def export_pain001(
    batch_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or JSON list of transfers"),
    out: Path = typer.Option(..., "--out", help="Where to write the pain.001 XML"),
    category_purpose: str = typer.Option(None, help="SALA (payroll), SUPP (suppliers), TRAD, INTC"),
) -> None:
    """Write the pain.001 that would be sent for a batch, to check with the bank's validator."""
    from juhe.runtime import configured_channel
    from juhe.transfers.service import TransferError, check_lines

    bank = configured_channel(get_settings(), "bank")
    try:
        items = check_lines(bank, batch_file.read_bytes())
        document = bank.build_file(f"EXPORT{batch_file.stem[:20]}".replace("_", "-"), items, category_purpose=category_purpose)
    except TransferError as error:
        for problem in error.errors:
            Console(stderr=True).print(f"line {problem['line']}: {problem['field']}: {problem['message']}")
        fail(str(error))
    except ValueError as error:
        fail(str(error))
    out.write_bytes(document)
    console.print(f"wrote {out}: {len(items)} transfers, valid against the pain.001.001.09 XSD")


@ledger_app.command("verify")
def ledger_verify(
    database_url: str = typer.Option(None, "--database-url", help="Defaults to JUHE_DATABASE_URL."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Prove the ledger: transactions balance, balances equal entries, totals are zero."""
    from juhe.db.engine import Database
    from juhe.ledger import verify_database

    db = Database(database_url or get_settings().database_url)
    report = verify_database(db.engine)  # one snapshot: the database may be serving meanwhile
    if as_json:
        print(json.dumps({"ok": report.ok, "transactions": report.transactions, "entries": report.entries,
                          "accounts": report.accounts, "totals_by_currency": report.totals_by_currency,
                          "problems": report.problems}))
    else:
        console.print(f"{report.transactions} transactions, {report.entries} entries, {report.accounts} accounts")
        for currency, total in sorted(report.totals_by_currency.items()):
            console.print(f"  posted total {currency}: {total}")
        for problem in report.problems:
            console.print(f"[red]✗[/red] {problem}")
        console.print("[green]ledger OK[/green]" if report.ok else f"[red]{len(report.problems)} problem(s)[/red]")
    if not report.ok:
        raise typer.Exit(1)


@bench_app.command("ledger")
def bench_ledger(
    transfers: int = typer.Option(100_000, "--transfers", help="Transfers in the batched runs (1,000 per commit)."),
    single: int = typer.Option(2_000, "--single", help="Transfers in the one-per-commit runs."),
    accounts: int = typer.Option(1_000, "--accounts", help="Accounts the transfers spread over (half forbid overdraft)."),
    postgres_url: str = typer.Option(None, "--postgres-url", help="Use this server (in a fresh schema, dropped after); "
                                     "default: start a throwaway one."),
    sqlite_path: str = typer.Option(None, "--sqlite-path", help="A new SQLite file to use and keep; default: a temp file."),
    only: str = typer.Option(None, "--only", help="sqlite or postgresql."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object: {sqlite: {...}, postgresql: {...}}."),
) -> None:
    """Balanced two-entry transfers per second on SQLite and PostgreSQL, beside plain INSERTs."""
    from juhe.bench import ledger, report

    with report.progress_bars() as progress:
        try:
            result = ledger.run(transfers=transfers, single=single, accounts=accounts, postgres_url=postgres_url,
                                sqlite_path=sqlite_path, only=only, progress=progress)
        except ledger.BenchError as e:
            fail(str(e), 1)
    result.print(as_json=as_json, console=console)


@bench_app.command("recon")
def bench_recon(
    lines: int = typer.Option(1_000_000, "--lines", help="Statement lines (and about as many items of ours)."),
    rate: float = typer.Option(0.005, "--rate", help="Share of lines with an injected discrepancy (0–1)."),
    seed: int = typer.Option(20_250_601, "--seed", help="Seeds the generated day."),
    as_json: bool = typer.Option(False, "--json", help="Print {lines, seconds, baseline_seconds, ratio, injected, found, missed, invented}."),
) -> None:
    """Reconciliation matching of a generated day (with injected discrepancies) vs. a plain Polars full join."""
    from juhe.bench import recon

    recon.command(lines=lines, rate=rate, seed=seed, as_json=as_json)


@bench_app.command("payments")
def bench_payments(
    payments: int = typer.Option(2_000, "--payments", help="Complete payments to measure per run."),
    concurrency: int = typer.Option(16, "--concurrency", help="Payers at once."),
    only: str = typer.Option(None, "--only", help="sqlite or postgresql (default: both)."),
    postgres_url: str = typer.Option(None, "--postgres-url", help="Use this (empty) server; default: a throwaway one per run."),
    api_processes: str = typer.Option("1,2", "--api-processes", help="PostgreSQL runs: API processes of each, "
                                      "comma-separated (1: API + worker in one process; more: that many beside a `juhe worker`)."),
    as_json: bool = typer.Option(False, "--json", help="Print {sqlite: {...}, postgresql: {...}}, each with payments_per_s, "
                                 "p50_ms, p95_ms, p99_ms, baseline_per_s, ratio, commits_per_payment, api_processes, loop_stalls."),
) -> None:
    """Complete payments per second over HTTP (create → sandbox → notification → ledger → webhook) on SQLite and
    PostgreSQL vs. a bare INSERT + commit endpoint on the same server."""
    from juhe.bench import payments as bench, report

    try:
        processes = tuple(int(n) for n in api_processes.split(","))
    except ValueError:
        fail(f"--api-processes takes numbers separated by commas, e.g. 1,2; not {api_processes!r}")
    with report.progress_bars() as progress:
        try:
            result = bench.run(only=only, postgres_url=postgres_url, api_processes=processes, payments=payments,
                               concurrency=concurrency, progress=progress)
        except bench.BenchError as e:
            fail(str(e), 1)
    result.print(as_json=as_json, console=console)


@bench_app.command("load")
def bench_load(
    clients: int = typer.Option(50, "--clients", help="Concurrent clients."),
    duration_s: int = typer.Option(600, "--duration-s", help="How long the mix runs, in seconds."),
    api_processes: int = typer.Option(2, "--api-processes", help="API processes (beside one `juhe worker`)."),
    postgres_url: str = typer.Option(None, "--postgres-url", help="Use this (empty) server; default: a throwaway one."),
    as_json: bool = typer.Option(False, "--json", help="Print {requests, requests_per_s, p50_ms, p95_ms, p99_ms, "
                                 "error_rate, baseline_per_s, ratio, ledger_ok, payments, refunds, ...}."),
) -> None:
    """Concurrent clients (create, query, list, refund) against PostgreSQL and several API processes, with Locust;
    then the ledger is proven. Exits 1 if the ledger does not verify."""
    from juhe.bench import load

    try:
        result = load.run(clients=clients, duration_s=duration_s, api_processes=api_processes, database_url=postgres_url)
    except load.LoadError as e:
        fail(str(e), 1)
    result.print(as_json=as_json, console=console)
    if not result.ledger_ok:
        raise typer.Exit(1)


chaos_app = typer.Typer(help="Chaos runs: faults injected everywhere, then the invariants checked.", no_args_is_help=True)
app.add_typer(chaos_app, name="chaos")


@chaos_app.command("payments")
def chaos_payments(
    n: int = typer.Option(10_000, "--n", help="Payments to create, their kinds mixed by the seed."),
    concurrency: int = typer.Option(32, "--concurrency", help="Payers at once."),
    seed: int = typer.Option(20_250_601, "--seed", help="Seeds the plan and every sandbox's faults."),
    scenarios: str = typer.Option("qr,pos,face,b2b,crossborder", "--scenarios",
                                  help="Kinds to mix, comma-separated: qr (over every QR channel), pos, face, b2b, "
                                       "crossborder (= ecny and swift), ecny, swift."),
    database_url: str = typer.Option(None, "--database-url", help="Default: SQLite in a temp dir; "
                                     "'postgresql': a throwaway server."),
    pay_at_once: bool = typer.Option(False, "--pay-at-once", help="The payer pays each order as it is booked "
                                     "(paid-at-create channels), before Juhe has the channel's answer."),
    api_processes: int = typer.Option(None, "--api-processes", help="API processes (default: 2 on PostgreSQL, "
                                      "beside a `juhe worker`; 1 on SQLite)."),
    as_json: bool = typer.Option(False, "--json", help="Print {payments, success_rate, double_charges, stuck, ledger_ok}."),
) -> None:
    """Payments of every kind (QR, POS, face, B2B, cross-border) under timeouts, 5xx, lost/duplicated/reordered
    notifications and bank rejections; exits 1 if an invariant broke."""
    from juhe.bench import chaos, report

    try:
        kinds = chaos.parse_kinds(scenarios)
    except chaos.ChaosError as e:
        fail(str(e))
    with report.progress_bars() as progress:
        try:
            result = chaos.run(n=n, concurrency=concurrency, seed=seed, database_url=database_url,
                               pay_at_once=pay_at_once, kinds=kinds, api_processes=api_processes, progress=progress)
        except chaos.ChaosError as e:
            fail(str(e), 1)
    result.print(as_json=as_json, console=console)
    if not result.ok:
        raise typer.Exit(1)


@app.command("prove")
def prove(
    quick: bool = typer.Option(False, "--quick", help="The sizes `make test` runs (50 kills, one example per fuzzed "
                               "operation) instead of the full ones (200 kills, 20 examples)."),
    parts: str = typer.Option(None, "--parts", help="Comma-separated: fuzz, isolation, signatures, cards, crashes, "
                              "receiver, sqlite, postgres (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print {requests_tried, errors_5xx, errors_5xx_retryable, "
                                 "kills_survived, acknowledged_payments_lost, deliveries_made, card_numbers_found, "
                                 "invariant_checks, invariant_checks_passed, ok, duration_s, parts}."),
) -> None:
    """Proof of safety: the security checks (fuzzing, tenant isolation, signatures, card data) and the faults
    (crash points, random kills, outages of a channel, the webhook receiver and the database) in one table;
    exits 1 if an invariant broke."""
    from juhe.safety import prove as proof

    try:
        chosen = proof.parse_parts(parts)
    except proof.ProveError as e:
        fail(str(e))
    err = Console(stderr=True)
    result = proof.run(chosen, quick=quick, on_row=lambda row: err.print(
        f"[dim]{row.part}: {row.invariant_checks_passed}/{row.invariant_checks} checks held ({row.duration_s:,.0f} s)[/dim]"))
    result.print(as_json=as_json, console=console)
    if not result.ok:
        raise typer.Exit(1)
