"""`juhe treasury …`: the treasury's commands (registered on the CLI by juhe.cli).

Cash-flow forecasts and advice live here; supply-chain finance and FX cost add theirs to the same group.
"""

from __future__ import annotations

import typer

treasury_app = typer.Typer(help="Treasury (资金): cash-flow forecasts and advice, supply-chain finance, FX cost.",
                           no_args_is_help=True)

from juhe.scf.commands import scf_app  # noqa: E402 -- supply-chain finance's commands, under `juhe treasury scf`

treasury_app.add_typer(scf_app, name="scf")
