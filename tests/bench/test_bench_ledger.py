"""`juhe bench ledger`, run small: every figure is there and positive, ratios are rate / baseline,
and the ledgers the benchmark leaves behind verify and hold every transfer."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from juhe.bench.ledger import BenchError, run
from juhe.cli import app
from juhe.db.engine import Database
from juhe.ledger import verify_ledger

KEYS = {"single_tps", "baseline_single_tps", "single_ratio", "batch_tps", "baseline_batch_tps", "batch_ratio"}
TRANSFERS, SINGLE, ACCOUNTS = 2_000, 50, 100
FUNDING = ACCOUNTS // 2  # one funding transfer per no-overdraft payable


def _check_figures(figures: dict) -> None:
    assert set(figures) == KEYS
    for key in KEYS:
        assert isinstance(figures[key], float) and figures[key] > 0, key
    for run_ in ("single", "batch"):
        expected = figures[f"{run_}_tps"] / figures[f"baseline_{run_}_tps"]
        assert figures[f"{run_}_ratio"] == pytest.approx(expected, rel=1e-3)


def _assert_verifies(url: str, **engine_kwargs) -> None:
    db = Database(url, migrate=False, **engine_kwargs)
    try:
        with db.engine.connect().execution_options(sqlite_read_only=True) as conn, conn.begin():
            report = verify_ledger(conn)
    finally:
        db.dispose()
    assert report.ok, report.problems
    assert report.transactions == FUNDING + SINGLE + TRANSFERS
    assert report.entries == 2 * report.transactions
    assert report.accounts == ACCOUNTS + 1  # and the bank reserve that funds the payables


def test_bench_ledger_on_sqlite_and_postgresql(tmp_path, pg_url):
    sqlite_file = tmp_path / "bench.db"
    report = run(transfers=TRANSFERS, single=SINGLE, accounts=ACCOUNTS, postgres_url=pg_url,
                 sqlite_path=sqlite_file, keep=True)

    figures = json.loads(json.dumps(report.figures()))
    assert list(figures) == ["sqlite", "postgresql"]
    for backend_figures in figures.values():
        _check_figures(backend_figures)
    assert "transfers/s" in str([column.header for column in report.table().columns])

    _assert_verifies(f"sqlite:///{sqlite_file}")
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        schemas = conn.scalars(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'juhe_bench_%'")).all()
    engine.dispose()
    assert len(schemas) == 1  # the benchmark kept to its own schema of the given database
    _assert_verifies(pg_url, connect_args={"options": f"-c search_path={schemas[0]}"})


def test_cli_json_prints_one_object(tmp_path):
    result = CliRunner().invoke(app, [
        "bench", "ledger", "--only", "sqlite", "--transfers", "300", "--single", "5", "--accounts", "10",
        "--sqlite-path", str(tmp_path / "cli.db"), "--json",
    ])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert list(figures) == ["sqlite"]
    assert set(figures["sqlite"]) == KEYS


def test_refuses_a_database_that_is_not_new(tmp_path):
    existing = tmp_path / "juhe.db"
    existing.write_bytes(b"")
    with pytest.raises(BenchError, match="exists"):
        run(transfers=10, single=1, accounts=2, sqlite_path=existing, only="sqlite")
    with pytest.raises(BenchError, match="--only"):
        run(only="mysql")
