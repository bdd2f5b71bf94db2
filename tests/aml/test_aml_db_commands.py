"""`juhe aml run`: monitoring the configured database from the command line."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from juhe.aml.commands import aml_app
from juhe.aml.models import AmlCase, AmlMonitoringRun
from juhe.config import get_settings

runner = CliRunner()


@pytest.fixture
def cli_world(aml_world, monkeypatch):
    monkeypatch.setenv("JUHE_DATABASE_URL", aml_world.db.url)
    get_settings.cache_clear()
    yield aml_world
    get_settings.cache_clear()


def test_run_json_reports_the_new_alerts_and_cases(cli_world):
    for day in (0, 2, 4):
        cli_world.payment(cli_world.a, 1_950_000_00, cli_world.t0 + timedelta(days=day))
    result = runner.invoke(aml_app, ["run", "--from", "2026-03-02", "--to", "2026-03-08", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert (figures["alert_count"], figures["cases_opened"], figures["movements"]) == (1, 1, 3)
    assert cli_world.count(AmlCase) == 1


@pytest.mark.parametrize("args, message", [
    (["run", "--from", "2026-02-30"], "day is out of range"),
    (["run", "--from", "2026-03-02", "--merchant", "not-a-uuid"], "badly formed"),
    (["run", "--from", "2026-03-08", "--to", "2026-03-02"], "start must be before end"),
])
def test_run_with_bad_options_fails_clearly_and_stores_nothing(cli_world, args, message):
    result = runner.invoke(aml_app, args)
    assert result.exit_code == 2 and message in result.output
    assert cli_world.count(AmlMonitoringRun) == 0
