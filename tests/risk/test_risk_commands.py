"""`juhe risk …` and `juhe bench risk`, run small through Typer's test runner."""

from __future__ import annotations

import dataclasses
import json

import pytest
import typer
from typer.testing import CliRunner

from juhe.bench.risk_command import bench_risk
from juhe.risk.commands import risk_app
from juhe.risk.registry import RiskRegistry

SMALL = ["--payers", "400", "--days", "10", "--warmup-days", "4"]
RATES = {"interception_rate", "interception_amount_rate", "false_positive_rate", "auprc", "step_up_rate"}
EVALUATE_KEYS = RATES | {"by_typology", "at_1pct_fp", "baseline"}
runner = CliRunner()


def invoke(*args: str, app: typer.Typer = risk_app):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A registry with an active model trained from a generated CSV, and a held-out CSV of another seed."""
    folder = tmp_path_factory.mktemp("risk")
    train_csv, test_csv = folder / "train.csv", folder / "test.csv"
    for path, seed in ((train_csv, 5), (test_csv, 6)):
        result = invoke("generate", "--out", path, "--seed", seed, "--json", *SMALL)
        assert result.exit_code == 0, result.output
    result = invoke("train", "--data", train_csv, "--dir", folder / "registry", "--json", "--warmup-days", "4")
    assert result.exit_code == 0, result.output
    return folder / "registry", json.loads(result.stdout), test_csv


def test_generate_writes_a_labelled_csv(tmp_path):
    out = tmp_path / "history.csv"
    result = invoke("generate", "--out", out, "--seed", "8", "--json", *SMALL)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["payments"] > 3_000 and 0 < summary["fraud_payments"] < summary["payments"]
    assert out.read_text().splitlines()[0].startswith("kind,payment_id,occurred_at")


def test_train_saves_and_activates_a_model(trained):
    folder, summary, _ = trained
    assert summary["active"] and RiskRegistry(folder).active_model().version == summary["version"]
    assert 0 < summary["step_up_score"] <= summary["block_score"] <= 1


def test_evaluate_prints_the_five_figures(trained):
    folder, _, test_csv = trained
    result = invoke("evaluate", "--data", test_csv, "--dir", folder, "--json", "--warmup-days", "4")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures) == EVALUATE_KEYS and all(0 <= figures[k] <= 1 for k in RATES)
    assert figures["interception_rate"] > 0.75  # a model of 400 payers and 6 days, its step-up at 0.5 % validation FP
    assert figures["baseline"]["model"] == "HistGradientBoostingClassifier" and figures["baseline"]["train_rows"] > 0
    assert set(figures["at_1pct_fp"]["by_typology"]) == set(figures["by_typology"])
    table = invoke("evaluate", "--data", test_csv, "--dir", folder, "--warmup-days", "4")
    assert "interception (by count)" in table.stdout and "stolen_card" in table.stdout


def test_evaluate_refuses_the_training_seed_and_a_missing_model(trained, tmp_path):
    folder, _, _ = trained
    model = RiskRegistry(folder).active_model()
    training = {**model.metadata["training"], "source": {"generated": {"seed": 2}}}
    on_seed_2 = dataclasses.replace(model, version="seed-2", metadata={**model.metadata, "training": training})
    other = RiskRegistry(tmp_path / "seed-2")
    other.save_model(on_seed_2)
    other.activate_model("seed-2")
    result = invoke("evaluate", "--dir", tmp_path / "seed-2", "--seed", "2", *SMALL)
    assert result.exit_code == 2 and "evaluate on another --seed" in result.output
    empty = invoke("evaluate", "--dir", tmp_path / "none", *SMALL)
    assert empty.exit_code == 1 and "run `juhe risk train` first" in empty.output


def test_dry_run_and_activate_rules(trained, tmp_path):
    folder, _, test_csv = trained
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: night-1\nrules:\n  - id: N1\n    description: night on a new device\n"
                     "    if: {all: [{feature: night, op: '==', value: true}, {feature: new_device, op: '==', value: true}]}\n"
                     "    then: step_up\n", encoding="utf-8")
    result = invoke("dry-run", rules, "--data", test_csv, "--json", "--warmup-days", "4")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["version"] == "night-1" and report["rules"][0]["fired"] == report["fired"] > 0
    assert report["would_block"] == 0 and report["fraud_caught"] + report["legit_hit"] == report["fired"]
    activated = invoke("activate-rules", rules, "--dir", folder)
    assert activated.exit_code == 0 and RiskRegistry(folder).active_rules().version == "night-1"


def test_a_bad_rule_set_is_explained_and_not_activated(trained, tmp_path):
    folder, _, _ = trained
    before = RiskRegistry(folder).active_rules()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": "bad-1", "rules": [
        {"id": "X", "if": {"feature": "colour", "op": "==", "value": "red"}, "then": "block"},
        {"id": "Y", "if": {"feature": "amount_minor", "op": "~", "value": 1}, "then": "step_up"}]}), encoding="utf-8")
    result = invoke("activate-rules", bad, "--dir", folder)
    assert result.exit_code == 1
    assert "[unknown_feature]" in result.output and "[unknown_op]" in result.output and "nothing was changed" in result.output
    after = RiskRegistry(folder).active_rules()
    assert (after.version if after else None) == (before.version if before else None)


def test_activate_model_rolls_between_versions(trained):
    folder, summary, _ = trained
    assert invoke("activate-model", summary["version"], "--dir", folder).exit_code == 0
    missing = invoke("activate-model", "20990101T000000Z-none", "--dir", folder)
    assert missing.exit_code == 1 and "unknown_version" in missing.output


def test_bench_risk_prints_in_process_and_baseline(trained):
    folder, _, _ = trained
    app = typer.Typer()
    app.command("risk")(bench_risk)
    app.command("other")(lambda: None)  # two commands, so Typer keeps the "risk" name as in `juhe bench risk`
    result = invoke("risk", "--decisions", "300", "--payers", "200", "--dir", folder, "--no-http", "--json", app=app)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures) == {"in_process", "baseline", "ratio"}
    assert set(figures["in_process"]) == {"decisions_per_s", "p50_ms", "p99_ms"}
    assert set(figures["baseline"]) == {"lookups_per_s", "p50_ms", "p99_ms"}
    assert figures["ratio"] == pytest.approx(figures["in_process"]["decisions_per_s"] / figures["baseline"]["lookups_per_s"],
                                             rel=1e-3)


def test_cli_activations_reach_the_database_the_processes_follow(trained, tmp_path, sqlite_url):
    from juhe.db.engine import Database
    from juhe.risk.activation import published

    folder, summary, _ = trained
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"version": "cli-db-1", "rules": [
        {"id": "B1", "then": "block", "if": {"feature": "amount_minor", "op": ">=", "value": 900_000}}]}), encoding="utf-8")
    assert invoke("activate-rules", rules, "--dir", folder, "--database", sqlite_url).exit_code == 0
    assert invoke("activate-model", summary["version"], "--dir", folder, "--database", sqlite_url).exit_code == 0
    db = Database(sqlite_url)
    with db.reader() as session:
        active = published(session)
    db.dispose()
    assert active["rules"][0] == "cli-db-1" and active["rules"][1]["rules"][0]["id"] == "B1"
    assert active["model"] == (summary["version"], None)
    unreachable = invoke("activate-rules", rules, "--dir", folder, "--database", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    assert unreachable.exit_code == 1 and "could not be reached" in unreachable.output


def test_simulated_card_data_trains_on_early_days_and_evaluates_later_ones_beside_the_baseline(tmp_path):
    data = tmp_path / "cards.csv"
    made = invoke("simulate", "--out", data, "--customers", "300", "--terminals", "600", "--days", "56", "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["fraud_payments"] > 100
    trained = invoke("train", "--data", data, "--train-days", "38", "--warmup-days", "21", "--dir", tmp_path / "r", "--json")
    assert trained.exit_code == 0, trained.output
    result = invoke("evaluate", "--data", data, "--dir", tmp_path / "r", "--label-delay-days", "7", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures["by_typology"]) == {"compromised_card", "compromised_terminal", "large_amount"}
    for side in (figures["at_1pct_fp"], figures["baseline"]):
        assert side["false_positive_rate"] <= 0.01 and side["auprc"] > 0.3
    assert figures["at_1pct_fp"]["by_typology"]["compromised_terminal"] > 0.2
