"""`juhe trace order ORDER_ID`: a B2B order's three flows as the log holds them, reconciled."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from juhe.config import get_settings


def trace_order(order_id: str = typer.Argument(..., help="The order's id (POST /v1/orders answers it)."),
                as_json: bool = typer.Option(False, "--json", help="Print {ok, order_id, flows, problems}.")) -> None:
    """Show a B2B order's chain in the log (order → invoice → payment → settlement) and reconcile
    it; exit 1 when the flows disagree."""
    from juhe.db.engine import Database
    from juhe.orders import reconcile

    db = Database(get_settings().database_url)
    with db.reader() as session:
        chain = reconcile.load(session, order_id)
    problems = reconcile.problems(chain, order_id)
    flows = [{"leaf_index": f.leaf_index, "kind": f.kind, "event": f.event,
              "amount_minor": f.record.get("total_minor", f.record.get("amount_minor")), "number": f.record.get("number")}
             for f in chain.flows()]
    if as_json:
        print(json.dumps({"ok": not problems, "order_id": order_id, "flows": flows, "problems": problems}, ensure_ascii=False))
    else:
        table = Table("leaf", "record", "event", "amount (minor)", "invoice number")
        for f in flows:
            table.add_row(str(f["leaf_index"]), f["kind"], f["event"], str(f["amount_minor"]), f["number"] or "")
        Console().print(table)
        for problem in problems:
            Console(stderr=True).print(f"[red]✗[/red] {problem}", highlight=False)
        if not problems:
            Console().print("[green]ok[/green] the order, its invoice and its payment agree")
    if problems:
        raise typer.Exit(1)
