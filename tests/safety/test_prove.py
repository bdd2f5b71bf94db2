"""`juhe prove`: one table and one JSON object of the figures; the parts it is asked for, nothing else."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from juhe.cli import app

KEYS = {"requests_tried", "errors_5xx", "errors_5xx_retryable", "kills_survived", "acknowledged_payments_lost",
        "deliveries_made", "card_numbers_found", "invariant_checks", "invariant_checks_passed", "ok", "quick",
        "duration_s", "parts"}


def test_prove_prints_one_json_object_of_the_parts_it_ran():
    result = CliRunner().invoke(app, ["prove", "--quick", "--parts", "signatures,receiver", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures) == KEYS
    assert set(figures["parts"]) == {"signatures", "receiver"}
    assert figures["ok"] is True and figures["quick"] is True
    assert figures["requests_tried"] == 31  # the signature cases
    assert figures["deliveries_made"] == 120  # every event of the receiver's hour, once
    assert figures["invariant_checks"] == figures["invariant_checks_passed"] == 4
    assert figures["errors_5xx"] == figures["card_numbers_found"] == figures["acknowledged_payments_lost"] == 0


def test_prove_prints_its_table_and_refuses_an_unknown_part():
    table = CliRunner().invoke(app, ["prove", "--parts", "signatures"])
    assert table.exit_code == 0, table.output
    assert "Proof of safety" in table.stdout and "checks" in table.stdout and "1/1 ✓" in table.stdout
    refused = CliRunner().invoke(app, ["prove", "--parts", "signatures,teleport"])
    assert refused.exit_code == 2 and "unknown teleport" in refused.output
