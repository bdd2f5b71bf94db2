"""`juhe treasury scf …`: confirm, compare offers, accept, repay what is due, the cost report, and a
demo book on a database. Each command is one call of juhe.scf.service in its own transaction."""

from __future__ import annotations

import json
import uuid
from datetime import date

import typer
from rich.console import Console
from rich.table import Table

from juhe.db.types import utcnow

scf_app = typer.Typer(help="Supply-chain finance (供应链金融): receivables confirmed by buyers, financed early.",
                      no_args_is_help=True)
console = Console()
MERCHANT = typer.Option(..., "--merchant", help="The acting merchant's id (the buyer confirms, the supplier accepts).")
ORDER = typer.Option(..., "--order", help="The B2B order's id: it names its receivable.")
DATABASE_URL = typer.Option(None, "--database-url", help="Defaults to JUHE_DATABASE_URL.")
AS_JSON = typer.Option(False, "--json", help="Print one JSON object.")


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _uuid(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        _fail(f"{what} must be an id, not {text!r}")


def _run(database_url: str | None, work):
    """`work(session)` in one transaction; an SCF refusal is the command's error and exit 2."""
    from juhe.config import get_settings
    from juhe.db.engine import Database
    from juhe.scf.errors import ScfError

    db = Database(database_url or get_settings().database_url)
    try:
        with db.session() as session, session.begin():
            return work(session)
    except ScfError as e:
        _fail(f"{e.code}: {e}")
    finally:
        db.dispose()


def _print(answer: dict, as_json: bool, table: Table | None = None) -> None:
    if as_json or table is None:
        typer.echo(json.dumps(answer, ensure_ascii=False))
    else:
        console.print(table)


@scf_app.command("confirm")
def confirm(merchant: str = MERCHANT, order: str = ORDER, maturity: str = typer.Option(..., "--maturity", help="YYYY-MM-DD"),
            database_url: str = DATABASE_URL) -> None:
    """The buyer confirms an invoiced order it owes, payable on --maturity."""
    from juhe.scf import service, views

    try:
        maturity_on = date.fromisoformat(maturity)
    except ValueError:
        _fail(f"--maturity must be YYYY-MM-DD, not {maturity!r}")
    buyer, order_id = _uuid(merchant, "--merchant"), _uuid(order, "--order")
    _print(_run(database_url, lambda s: views.receivable_detail(
        s, service.confirm(s, buyer, order_id, maturity_on, service.local_date(utcnow())))), True)


@scf_app.command("offers")
def offers(merchant: str = MERCHANT, order: str = ORDER, amount_minor: int = typer.Option(None, "--amount-minor"),
           database_url: str = DATABASE_URL, as_json: bool = AS_JSON) -> None:
    """Every offer to the supplier for its receivable, lowest APR first, beside the market's cost."""
    from juhe.scf import service, views

    supplier, order_id = _uuid(merchant, "--merchant"), _uuid(order, "--order")
    found = _run(database_url, lambda s: [views.offer_view(o) for o in service.offers(
        s, supplier, order_id, amount_minor, service.local_date(utcnow()), service.configured_rates())])
    table = Table("offer of", "kind", "days", "rate bps", "discount", "fee", "net", "APR bps", "vs market",
                  title="offers, minor units")
    for o in found:
        table.add_row(o["offer_of"], o["kind"], str(o["days"]), str(o["rate_bps"]), f"{o['discount_minor']:,}",
                      f"{o['fee_minor']:,}", f"{o['net_minor']:,}", str(o["apr_bps"]), f"−{o['saving']:.1%}")
    _print({"offers": found}, as_json, table)


@scf_app.command("accept")
def accept(merchant: str = MERCHANT, order: str = ORDER,
           offer_of: str = typer.Option(..., "--offer-of", help="A funder's code, or 'buyer'."),
           amount_minor: int = typer.Option(None, "--amount-minor"), database_url: str = DATABASE_URL) -> None:
    """The supplier takes an offer: the claim and the advance in one transaction."""
    from juhe.scf import service, views

    supplier, order_id = _uuid(merchant, "--merchant"), _uuid(order, "--order")
    _print(_run(database_url, lambda s: views.financing_view(service.accept(
        s, supplier, order_id, offer_of, amount_minor, utcnow(), service.configured_rates()))), True)


@scf_app.command("repay-due")
def repay_due(database_url: str = DATABASE_URL, limit: int = typer.Option(100, "--limit", min=1, max=1000)) -> None:
    """Every financing due today: its buyer repays the funder (each in its own transaction), as the worker does."""
    from juhe.config import get_settings
    from juhe.db.engine import Database
    from juhe.scf.worker import repay_due as repay

    db = Database(database_url or get_settings().database_url)
    try:
        repaid, short = repay(db, utcnow(), limit)
    finally:
        db.dispose()
    typer.echo(json.dumps({"repaid": [str(f) for f in repaid], "not_repaid": [str(f) for f in short]}))


@scf_app.command("report")
def report(merchant: str = typer.Option(None, "--merchant", help="One supplier's financings; all when left out."),
           database_url: str = DATABASE_URL, as_json: bool = AS_JSON) -> None:
    """Financing cost against the configured market rate (JUHE_SCF_MARKET_APR_BPS), overall and per kind."""
    from sqlalchemy import select

    from juhe.scf import service, views
    from juhe.scf.models import ScfFinancing

    query = select(ScfFinancing)
    if merchant is not None:
        query = query.where(ScfFinancing.merchant_id == _uuid(merchant, "--merchant"))
    market = service.configured_rates().market_apr_bps
    answer = _run(database_url, lambda s: views.cost_report(list(s.scalars(query)), market))
    _print(answer, as_json, _report_table(answer))


def _report_table(answer: dict) -> Table:
    table = Table("kind", "financings", "financed", "cost", "at market rate", "saving",
                  title=f"supply-chain finance cost vs the market rate of {answer['market_apr_bps'] / 100:.2f} %, minor units")
    for kind, one in [*answer["by_kind"].items(), ("all", answer)]:
        table.add_row(kind, str(one["financings"]), f"{one['financed_minor']:,}", f"{one['cost_minor']:,}",
                      f"{one['market_cost_minor']:,}", f"{one['saving']:.1%}")
    return table


@scf_app.command("demo")
def demo(database_url: str = DATABASE_URL, suppliers: int = typer.Option(8, "--suppliers", min=1, max=50),
         orders_each: int = typer.Option(3, "--orders-each", min=1, max=20), as_json: bool = AS_JSON) -> None:
    """A buyer, two funders and small suppliers whose invoiced orders (through the tax platform)
    are confirmed and financed at the cheapest payable offer; prints the cost report."""
    from juhe.config import get_settings
    from juhe.db.engine import Database
    from juhe.einvoice.wiring import tax_platform
    from juhe.scf.demo import seed

    platform = tax_platform(get_settings().channel_mode)
    if platform is None:
        _fail("no tax platform: configure JUHE_TAX_PLATFORM_URL or run with channels in sandbox mode")
    db = Database(database_url or get_settings().database_url)
    try:
        answer = seed(db, platform, utcnow(), suppliers, orders_each)
    finally:
        db.dispose()
    _print(answer, as_json, _report_table(answer))
