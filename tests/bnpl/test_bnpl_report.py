"""`juhe bnpl report`: the figures come from a population run through the real service and
ledger, add up, and the ledger it leaves verifies."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from juhe.cli import app


def test_report_json_figures_add_up_and_the_books_verify():
    result = CliRunner().invoke(app, ["bnpl", "report", "--payers", "150", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["ledger_ok"] and figures["books_agree"] and figures["receivable_minor"] == 0
    assert figures["conversion_with_bnpl"] >= figures["conversion_without_bnpl"]
    assert figures["beyond_means"] == figures["bought_on_line"] + figures["line_declined"] + figures["over_limit"]
    assert figures["bnpl_orders"] == figures["bought_on_line"] == figures["bnpl_repaid"] + figures["bnpl_defaulted"]
    assert 0 <= figures["late_rate"] <= 1 and 0 <= figures["default_rate"] <= 1
    assert figures["written_off_minor"] <= figures["principal_minor"] + figures["late_fees_minor"]


def test_report_refuses_a_population_out_of_bounds():
    result = CliRunner().invoke(app, ["bnpl", "report", "--payers", "0"])
    assert result.exit_code == 2 and "--payers" in result.output
