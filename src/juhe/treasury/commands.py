"""`juhe treasury …`: the treasury's commands (registered on the CLI by juhe.cli).

Cash-flow forecasts and advice live here; supply-chain finance and FX cost add theirs to the same group.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table

treasury_app = typer.Typer(help="Treasury (资金): cash-flow forecasts and advice, supply-chain finance, FX cost.",
                           no_args_is_help=True)
console = Console()
MERCHANT = typer.Option(..., "--merchant", help="The merchant's id.")
DATABASE_URL = typer.Option(None, "--database-url", help="Defaults to JUHE_DATABASE_URL.")


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _for_merchant(merchant: str, database_url: str | None, compute) -> tuple[uuid.UUID, list[dict]]:
    """`compute(db, merchant_id, today)` on the merchant's ledger; a refusal is the CLI's message and exit 2."""
    from juhe.config import get_settings
    from juhe.db.engine import Database
    from juhe.treasury.forecast import ForecastError

    try:
        merchant_id = uuid.UUID(merchant)
    except ValueError:
        _fail(f"--merchant must be a merchant id, not {merchant!r}")
    db = Database(database_url or get_settings().database_url)
    try:
        return merchant_id, compute(db, merchant_id, _today())
    except ForecastError as error:
        _fail(f"{error.code}: {error}")
    finally:
        db.dispose()


def _today():
    from juhe.settlement.calendar import DEFAULT_TIMEZONE, zone_of

    return datetime.now(zone_of(DEFAULT_TIMEZONE)).date()


@treasury_app.command("forecast")
def forecast(merchant: str = MERCHANT, database_url: str = DATABASE_URL,
             as_json: bool = typer.Option(False, "--json", help='Print {"merchant_id", "currencies": [{currency, '
                                          'balance_minor, inflow: {model, weeks, days}, outflow: {...}, balance: {...}}]}.')) -> None:
    """13 weeks of daily inflows and outflows per currency from the ledger's history, with 80 %/95 % intervals;
    each series' model (AutoETS, AutoARIMA, MSTL) chosen by a rolling-origin backtest."""
    from juhe.treasury.forecast_ledger import merchant_forecast_views

    merchant_id, views = _for_merchant(merchant, database_url, merchant_forecast_views)
    if as_json:
        typer.echo(json.dumps({"merchant_id": str(merchant_id), "currencies": views}))
        return
    for view in views:
        table = Table("week", "from", "inflow", "inflow 95 %", "outflow", "outflow 95 %", "low balance", "low 95 %",
                      title=f"{view['currency']} forecast ({view['inflow']['model']} in, {view['outflow']['model']} out, "
                            f"{view['balance']['model']} balance; {view['history_days']} days of history), minor units")
        for weeks in zip(*(view[d]["weeks"] for d in ("inflow", "outflow", "balance"))):
            table.add_row(str(weeks[0]["week"]), weeks[0]["first_day"],
                          *(cell for w in weeks for cell in (f"{w['mean_minor']:,}", f"{w['lo95_minor']:,}–{w['hi95_minor']:,}")))
        console.print(table)


@treasury_app.command("advice")
def advice(merchant: str = MERCHANT, database_url: str = DATABASE_URL,
           as_json: bool = typer.Option(False, "--json", help='Print {"merchant_id", "currencies": [advice]} '
                                        '(keys in the README).')) -> None:
    """The reserve the 95 % worst case needs, what can go to deposits or money funds for how long and
    what it yields at the configured rates (JUHE_TREASURY_RATES), or an early warning."""
    from juhe.config import get_settings
    from juhe.treasury.advice import merchant_advice

    merchant_id, advices = _for_merchant(merchant, database_url, lambda db, merchant_id, today: merchant_advice(
        db, merchant_id, today, get_settings().treasury_rates))
    if as_json:
        typer.echo(json.dumps({"merchant_id": str(merchant_id), "currencies": advices}))
        return
    for one in advices:
        table = Table("figure", "minor units", title=f"{one['currency']} advice as of {one['as_of']}")
        for key in ("balance_minor", "reserve_needed_minor", "cash_kept_minor", "expected_yield_minor",
                    "idle_before_minor", "idle_after_minor"):
            table.add_row(key.removesuffix("_minor").replace("_", " "), f"{one[key]:,}")
        for placement in one["placements"]:
            table.add_row(f"→ {placement['name']} ({placement['term_days']} d at {placement['annual_rate']})",
                          f"{placement['amount_minor']:,} (yield {placement['expected_yield_minor']:,})")
        console.print(table)
        if one["warning"]:
            Console(stderr=True).print(f"[yellow]warning:[/yellow] {one['warning']['message']} ({one['warning']['date']})")


from juhe.scf.commands import scf_app  # noqa: E402 -- supply-chain finance's commands, under `juhe treasury scf`
from juhe.treasury.fx_commands import fx_cost  # noqa: E402

treasury_app.add_typer(scf_app, name="scf")
treasury_app.command("fx-cost")(fx_cost)  # FX cost before and after netting
