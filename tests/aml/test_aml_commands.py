"""`juhe aml screen | monitor | generate` through Typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from juhe.aml.commands import SCENARIO_NAMES, THRESHOLD_DEFAULT, aml_app
from juhe.aml.scenarios import SCENARIOS
from juhe.aml.screening import DEFAULT_THRESHOLD

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def test_screen_json_holds_a_listed_name():
    result = runner.invoke(aml_app, ["screen", "Wei Zhang", "--list", str(DATA / "ofac" / "sdn.csv"),
                                     "--list", str(DATA / "internal_watchlist.csv"), "--dob", "1975", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["hold_for_review"] is True
    assert {(hit["list"], hit["entry"]["entry_id"]) for hit in data["hits"]} == {("OFAC SDN", "1003"), ("Internal watch list", "2")}


def test_screen_table_for_an_ordinary_name():
    result = runner.invoke(aml_app, ["screen", "Lotus Mart Co., Ltd.", "--list", str(DATA / "eu_consolidated.csv")])
    assert result.exit_code == 0 and "no hit" in result.output


def test_screen_table_lists_hits():
    result = runner.invoke(aml_app, ["screen", "Ivan Petroff", "--list", str(DATA / "ofac" / "sdn.csv")])
    assert result.exit_code == 0 and "HOLD FOR REVIEW" in result.output and "PETROFF" in result.output


def test_screen_without_a_list_or_with_a_broken_one_fails_clearly(tmp_path):
    result = runner.invoke(aml_app, ["screen", "Zhang Wei"])
    assert result.exit_code == 2 and "--list" in result.output
    broken = tmp_path / "sdn.csv"
    broken.write_text('x,"A","individual","P","-0-","-0-","-0-","-0-","-0-","-0-","-0-","-0-"\n', encoding="utf-8")
    result = runner.invoke(aml_app, ["screen", "Zhang Wei", "--list", str(broken)])
    assert result.exit_code == 2 and "line 1" in result.output


def test_generate_then_monitor_finds_the_planted_accounts(tmp_path):
    out = tmp_path / "movements.csv"
    result = runner.invoke(aml_app, ["generate", "--out", str(out), "--scenario", "fan_out", "--scenario", "rapid_in_out",
                                     "--seed", "3", "--accounts", "8"])
    assert result.exit_code == 0, result.output
    planted = {line.split(":")[0].strip(): set(line.split(":")[1].strip().split(", "))
               for line in result.output.splitlines()[1:]}
    large_value = tmp_path / "large_value.csv"
    result = runner.invoke(aml_app, ["monitor", str(out), "--json", "--large-value-out", str(large_value)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["by_scenario"]["fan_out"] == 2 and data["by_scenario"]["rapid_in_out"] == 2
    assert data["alert_count"] == 4 and data["movements"] > 1000
    assert {a["account_id"] for a in data["alerts"] if a["scenario"] == "fan_out"} == planted["fan_out"]
    assert large_value.read_text(encoding="utf-8").startswith("report_date,")
    assert data["large_value_rows"] == len(large_value.read_text(encoding="utf-8").splitlines()) - 1


def test_generate_all_and_monitor_table(tmp_path):
    out = tmp_path / "movements.csv"
    assert runner.invoke(aml_app, ["generate", "--out", str(out), "--scenario", "all", "--accounts", "4"]).exit_code == 0
    result = runner.invoke(aml_app, ["monitor", str(out)])
    assert result.exit_code == 0 and "12 alerts" in result.output and "scenario" in result.output


def test_monitor_and_generate_report_bad_input(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("movement_id,account_id\nm1,A\n", encoding="utf-8")
    result = runner.invoke(aml_app, ["monitor", str(bad), "--json"])
    assert result.exit_code == 2 and "missing columns" in result.output
    result = runner.invoke(aml_app, ["generate", "--out", str(tmp_path / "x.csv"), "--scenario", "smurfing"])
    assert result.exit_code == 2 and "unknown scenario" in result.output and not (tmp_path / "x.csv").exists()


def test_cli_names_and_defaults_are_those_of_the_package():
    assert SCENARIO_NAMES == tuple(SCENARIOS) and THRESHOLD_DEFAULT == DEFAULT_THRESHOLD
