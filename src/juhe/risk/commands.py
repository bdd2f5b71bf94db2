"""`juhe risk …`: generate labelled history, train and evaluate the model, try and activate rules.

    juhe risk generate --out FILE.csv        labelled synthetic payments (columns: see risk.dataset)
    juhe risk simulate --out FILE.csv        card payments from the ULB/Worldline handbook's simulator (risk.cardsim)
    juhe risk train [--data FILE.csv]        train on history (default: generated, seed 1), save, activate
    juhe risk evaluate [--data FILE.csv]     the active model + rules on a held-out set (default: generated, seed 2)
    juhe risk retrain --database URL        champion/challenger on the platform's payments and fraud reports
    juhe risk dry-run RULES [--data …]       what a rule set would fire on and block, before activating it
    juhe risk activate-rules RULES           validate, save and activate a rule set (JSON or YAML)
    juhe risk activate-model VERSION         make a saved model the active one (roll forward or back)

Models and rules live under --dir (default: JUHE_DATA_DIR/risk). `juhe bench risk` is in
juhe.bench.risk_command: the domain package does not import the benchmarks.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from juhe.config import get_settings
from juhe.risk.facts import RiskError

# Domain modules are imported inside the commands: they pull in polars and lightgbm (about a
# second), which every other `juhe` command should not pay for.

risk_app = typer.Typer(help="Fraud risk: rules, model, decisions.", no_args_is_help=True)
console = Console()
TRAIN_SEED, TEST_SEED = 1, 2
TRAIN_PAYERS, TEST_PAYERS, DAYS = 5_000, 2_500, 28
WARMUP_DAYS = 7

DATA = typer.Option(None, "--data", exists=True, dir_okay=False, help="A labelled CSV (columns: see juhe.risk.dataset).")
DIR = typer.Option(None, "--dir", help="Models and rules; default JUHE_DATA_DIR/risk.")
DATABASE = typer.Option(None, "--database", envvar="JUHE_DATABASE_URL",
                        help="Also activate in this database, which every running process follows within seconds.")
DAYS_OPTION = typer.Option(DAYS, "--days", help="Generated days after the warm-up.")
WARMUP = typer.Option(WARMUP_DAYS, "--warmup-days", help="Leading days that only build history (not scored).")
JSON = typer.Option(False, "--json", help="Print one JSON object.")
LABEL_DELAY = typer.Option(7.0, "--label-delay-days", help="Days after a fraud payment before its report arrives.")


def fail(message: str, code: int = 2) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def registry_at(folder: Path | None):
    from juhe.risk.registry import RiskRegistry

    return RiskRegistry(folder or get_settings().data_dir / "risk")


def _history(data: Path | None, payers: int, days: int, seed: int, warmup_days: int):
    """(history frame, where it came from) -- the CSV given, or generated."""
    from juhe.risk.dataset import read_history
    from juhe.risk.generator import generate

    if data is not None:
        return read_history(data), {"data": str(data)}
    history = generate(payers, days, seed, warmup_days=warmup_days)
    return history, {"generated": {"payers": payers, "days": days, "seed": seed}}


def _active_rules(registry):
    from juhe.risk.default_rules import default_rules

    return registry.active_rules() or default_rules()


@risk_app.command("generate")
def generate_command(
    out: Path = typer.Option(..., "--out", dir_okay=False, help="Where to write the CSV."),
    payers: int = typer.Option(TRAIN_PAYERS, "--payers"),
    days: int = DAYS_OPTION,
    seed: int = typer.Option(TRAIN_SEED, "--seed", help="A world per seed: use another for a held-out set."),
    warmup_days: int = WARMUP,
    as_json: bool = JSON,
) -> None:
    """Write labelled synthetic payments (legit habits and three fraud typologies) as CSV."""
    import polars as pl

    from juhe.risk.dataset import write_history
    from juhe.risk.generator import generate

    try:
        history = generate(payers, days, seed, warmup_days=warmup_days)
    except ValueError as error:
        fail(str(error))
    write_history(history, out)
    payments = history.filter(pl.col("kind") == "payment")
    summary = {"rows": history.height, "payments": payments.height, "fraud_payments": int(payments["is_fraud"].sum()),
               "out": str(out)}
    if as_json:
        print(json.dumps(summary))
    else:
        console.print(f"wrote {out}: {summary['payments']:,} payments ({summary['fraud_payments']:,} fraud), "
                      f"{summary['rows'] - summary['payments']:,} password resets")


@risk_app.command("simulate")
def simulate_command(
    out: Path = typer.Option(..., "--out", dir_okay=False, help="Where to write the CSV."),
    customers: int = typer.Option(2_000, "--customers"),
    terminals: int = typer.Option(4_000, "--terminals"),
    days: int = typer.Option(120, "--days"),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = JSON,
) -> None:
    """Write labelled card payments of an independent simulator (large amounts, compromised cards and terminals)."""
    from juhe.risk.cardsim import Simulation, simulate
    from juhe.risk.dataset import write_history

    try:
        history = simulate(Simulation(customers=customers, terminals=terminals, days=days, seed=seed))
    except RiskError as error:
        fail(str(error))
    write_history(history, out)
    summary = {"payments": history.height, "fraud_payments": int(history["is_fraud"].sum()), "out": str(out)}
    if as_json:
        print(json.dumps(summary))
    else:
        console.print(f"wrote {out}: {summary['payments']:,} payments ({summary['fraud_payments']:,} fraud)")


def _until(history, train_days: int | None):
    """The end of the training range: `train_days` after the first row (None: all of it)."""
    from datetime import timedelta

    if train_days is None or history.is_empty():
        return None
    return history["occurred_at"].min() + timedelta(days=train_days)


@risk_app.command("train")
def train_command(
    data: Path = DATA,
    payers: int = typer.Option(TRAIN_PAYERS, "--payers", help="Generated payers (without --data)."),
    days: int = DAYS_OPTION,
    seed: int = typer.Option(TRAIN_SEED, "--seed", help="Seed of the generated training history."),
    warmup_days: int = WARMUP,
    folder: Path = DIR,
    activate: bool = typer.Option(True, "--activate/--no-activate", help="Make the new model the active one."),
    train_days: int = typer.Option(None, "--train-days", help="Train on the first N days of the file only "
                                   "(evaluate later days of the same file)."),
    label_delay_days: float = LABEL_DELAY,
    as_json: bool = JSON,
) -> None:
    """Train a LightGBM model on labelled history; thresholds from a validation split of it."""
    import polars as pl

    from juhe.progress import progress_bars, track
    from juhe.risk.replay import feature_frame
    from juhe.risk.train import train_model

    started = time.perf_counter()
    registry = registry_at(folder)
    try:
        history, source = _history(data, payers, days, seed, warmup_days)
        until = _until(history, train_days)
        if until is not None:
            history = history.filter(pl.col("occurred_at") < until)
        source |= {"train_days": train_days, "warmup_days": warmup_days, "label_delay_days": label_delay_days}
        with progress_bars() as progress:
            frame = feature_frame(history, warmup_days=warmup_days, advance=track(progress, "features", history.height),
                                  label_delay_days=label_delay_days)
        model = train_model(frame, source=source)
        registry.save_model(model)
        if activate:
            registry.activate_model(model.version)
    except (RiskError, ValueError) as error:
        fail(str(error), 1)
    summary = {"version": model.version, "active": activate, **model.metadata["thresholds"],
               **model.metadata["validation"], "seconds": round(time.perf_counter() - started, 1)}
    if as_json:
        print(json.dumps(summary))
        return
    console.print(f"model [bold]{model.version}[/bold] saved under {registry.models}" + (" and active" if activate else ""))
    for key, value in summary.items():
        if key not in ("version", "active"):
            console.print(f"  {key:28} {value}")


@risk_app.command("evaluate")
def evaluate_command(
    data: Path = DATA,
    payers: int = typer.Option(TEST_PAYERS, "--payers", help="Generated payers (without --data)."),
    days: int = DAYS_OPTION,
    seed: int = typer.Option(TEST_SEED, "--seed", help="Seed of the held-out set; must differ from training's."),
    warmup_days: int = WARMUP,
    folder: Path = DIR,
    label_delay_days: float = LABEL_DELAY,
    baseline: bool = typer.Option(True, "--baseline/--no-baseline",
                                  help="Also train the handbook's baseline model on the active model's training rows."),
    as_json: bool = typer.Option(False, "--json", help="Print {interception_rate, interception_amount_rate, "
                                 "false_positive_rate, auprc, step_up_rate, by_typology, at_1pct_fp, baseline}."),
) -> None:
    """Decide every payment of a held-out history with the active model and rules, labels revealed only after
    their delay; interception and false positives beside a baseline model trained on the same rows."""
    from juhe.progress import progress_bars, track
    from juhe.risk.evaluate import evaluate

    registry = registry_at(folder)
    try:
        model = registry.active_model()
        if model is None:
            fail(f"no active model under {registry.models}: run `juhe risk train` first", 1)
        trained_on = model.metadata.get("training", {}).get("source", {}).get("generated", {}).get("seed")
        if data is None and trained_on == seed:
            fail(f"the model was trained on seed {seed}: evaluate on another --seed (a held-out set)")
        history, _ = _history(data, payers, days, seed, warmup_days)
        scored_from_days = _scored_from(model, data, warmup_days, label_delay_days)
        with progress_bars() as progress:
            result = evaluate(history, model=model, rules=_active_rules(registry), warmup_days=scored_from_days,
                              label_delay_days=label_delay_days, advance=track(progress, "decisions", history.height))
        if baseline:
            result.baseline = _baseline(model, history, data, scored_from_days, label_delay_days)
    except (RiskError, ValueError) as error:
        fail(str(error), 1)
    result.print(as_json=as_json, console=console)


def _trained_on_this_file(model, data: Path | None) -> dict | None:
    source = model.metadata.get("training", {}).get("source", {})
    if data is not None and isinstance(source, dict) and source.get("data") == str(data) and source.get("train_days"):
        return source
    return None


def _scored_from(model, data: Path | None, warmup_days: int, label_delay_days: float) -> float:
    """Days from the history's start at which scoring begins: after the model's training range and
    one label delay more (its last labels were not known sooner), when it was trained on this file."""
    source = _trained_on_this_file(model, data)
    return source["train_days"] + label_delay_days if source else warmup_days


def _baseline(model, history, data: Path | None, scored_from_days: float, label_delay_days: float) -> dict:
    """The handbook's baseline, trained on the rows the active model was trained on, scored on the same rows."""
    from datetime import timedelta

    from juhe.risk.baseline import train_and_score
    from juhe.risk.comparison import at_operating_point

    source = model.metadata.get("training", {}).get("source", {})
    source = source if isinstance(source, dict) else {}
    start = history["occurred_at"].min()
    if _trained_on_this_file(model, data):
        train_history, train_from = history, start + timedelta(days=source.get("warmup_days", WARMUP_DAYS))
        train_until = start + timedelta(days=source["train_days"])
    else:
        train_history, _ = _history(Path(source["data"]) if source.get("data") else None, TRAIN_PAYERS,
                                    DAYS, TRAIN_SEED, WARMUP_DAYS)
        train_start = train_history["occurred_at"].min()
        train_from = train_start + timedelta(days=source.get("warmup_days", WARMUP_DAYS))
        train_until = train_history["occurred_at"].max() + timedelta(seconds=1)
    test_from = start + timedelta(days=scored_from_days)
    scores = train_and_score(train_history, history, train_from=train_from, train_until=train_until,
                             test_from=test_from, label_delay_days=label_delay_days)
    return {"model": "HistGradientBoostingClassifier", "train_rows": scores.train_rows,
            **at_operating_point(scores.scores, scores.labels, scores.fraud_types)}


@risk_app.command("retrain")
def retrain_command(
    database: str = typer.Option(..., "--database", envvar="JUHE_DATABASE_URL",
                                 help="The platform's database: its payments and fraud reports."),
    folder: Path = DIR,
    history_days: int = typer.Option(90, "--history-days", help="Days of payments to learn from."),
    latest_days: int = typer.Option(14, "--latest-days", help="The latest days both models are judged on."),
    label_delay_days: float = LABEL_DELAY,
    as_json: bool = typer.Option(False, "--json", help="Print {champion, challenger, promoted, tested_from, "
                                 "trained_until}; champion and challenger hold version, auprc, interception_rate, "
                                 "false_positive_rate, by_typology."),
) -> None:
    """Champion/challenger: train on the platform's own payments labelled by their fraud reports, judge the
    new model beside the active one on the latest weeks, and activate it only if it scores better."""
    from datetime import datetime, timezone

    from juhe.db.engine import Database
    from juhe.risk.retrain import run_contest

    registry = registry_at(folder)

    def activate(version: str) -> None:
        registry.activate_model(version)
        _publish(database, "model", version)

    db = Database(database)
    try:
        contest = run_contest(db, registry, activate, datetime.now(timezone.utc), history_days, latest_days,
                              label_delay_days)
    except RiskError as error:
        fail(str(error), 1)
    finally:
        db.dispose()
    report = contest.report()
    if as_json:
        print(json.dumps(report))
        return
    for role in ("champion", "challenger"):
        figures = report[role]
        console.print(f"{role:10} " + (f"{figures['version']}: AUPRC {figures['auprc']:.4f}, "
                                       f"{figures['interception_rate']:.2%} intercepted at "
                                       f"{figures['false_positive_rate']:.2%} false positives"
                                       if figures and "auprc" in figures else "none that can score"))
    console.print("challenger [bold]promoted[/bold]" if contest.promoted else "the champion stays")


@risk_app.command("dry-run")
def dry_run_command(
    rules_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Rule set, JSON or YAML."),
    data: Path = DATA,
    payers: int = typer.Option(TEST_PAYERS, "--payers", help="Generated payers (without --data)."),
    days: int = DAYS_OPTION,
    seed: int = typer.Option(TEST_SEED, "--seed"),
    warmup_days: int = WARMUP,
    as_json: bool = JSON,
) -> None:
    """How many payments a rule set would fire on, step up and block -- before activating it."""
    from juhe.progress import progress_bars, track
    from juhe.risk.dryrun import dry_run
    from juhe.risk.replay import feature_frame
    from juhe.risk.rules import RuleSetError, load_rules

    try:
        rules = load_rules(rules_file)
        history, _ = _history(data, payers, days, seed, warmup_days)
        with progress_bars() as progress:
            frame = feature_frame(history, warmup_days=warmup_days, advance=track(progress, "features", history.height))
    except RuleSetError as error:
        _print_rule_problems(error)
    except (RiskError, ValueError) as error:
        fail(str(error), 1)
    dry_run(rules, frame).print(as_json=as_json, console=console)


@risk_app.command("activate-rules")
def activate_rules_command(
    rules_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Rule set, JSON or YAML."),
    folder: Path = DIR,
    database: str | None = DATABASE,
) -> None:
    """Validate a rule set, save it under its version and make it the active one."""
    from juhe.risk.rules import RuleSetError, load_rules

    try:
        rules = load_rules(rules_file)
        path = registry_at(folder).activate_rules(rules)
    except RuleSetError as error:
        _print_rule_problems(error)
    except RiskError as error:
        fail(f"{error} [{error.code}]", 1)
    _publish(database, "rules", rules.version, rules.to_json())
    console.print(f"rule set [bold]{rules.version}[/bold] ({len(rules.rules)} rules) saved as {path} and active"
                  + (" in the database too" if database else ""))


@risk_app.command("activate-model")
def activate_model_command(version: str = typer.Argument(...), folder: Path = DIR,
                           database: str | None = DATABASE) -> None:
    """Make a saved model the active one."""
    registry = registry_at(folder)
    try:
        registry.activate_model(version)
    except RiskError as error:
        fail(f"{error} [{error.code}]; saved: {', '.join(registry.model_versions()) or 'none'}", 1)
    _publish(database, "model", version)
    console.print(f"model [bold]{version}[/bold] is active" + (" in the database too" if database else ""))


def _publish(url: str | None, kind: str, version: str, rules: dict | None = None) -> None:
    """Running processes follow the database, not the folder: without this an activation here
    would only take effect where no activation was ever made through the API."""
    if not url:
        return
    from sqlalchemy.exc import SQLAlchemyError

    from juhe.db.engine import Database
    from juhe.risk.activation import publish

    try:
        db = Database(url)
    except SQLAlchemyError as error:
        fail(f"saved in the folder, but the database could not be reached: {error}", 1)
    try:
        with db.session() as session, session.begin():
            publish(session, kind, version, rules)
    finally:
        db.dispose()


def _print_rule_problems(error) -> None:
    for problem in error.errors:
        Console(stderr=True, soft_wrap=True).print(f"{problem.rule_id or 'rule set'}: {problem.message} [{problem.code}]",
                                                   markup=False)
    fail(f"{len(error.errors)} problem(s) in the rule set; nothing was changed", 1)
