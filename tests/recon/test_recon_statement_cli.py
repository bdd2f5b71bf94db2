"""`juhe statement parse FILE`: the table, the one JSON object, and a bad file's exit."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from juhe.recon.commands import statement_app

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def test_table_shows_every_line_and_the_totals():
    result = runner.invoke(statement_app, ["parse", str(DATA / "mt940_slash_fields.sta")])
    assert result.exit_code == 0, result.output
    assert "mt940: 6 lines" in result.output
    assert "SUP-2025-07-003-FULL-REFERENCE" in result.output and "-8500.00 CNY" in result.output
    assert "CNY: credits 25120.50, debits 10815.00" in result.output


def test_json_is_one_object_with_lines_count_and_totals_per_currency():
    result = runner.invoke(statement_app, ["parse", str(DATA / "wechatpay_trade_bill.csv"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == {"format", "lines", "count", "totals", "warnings"} and summary["warnings"] == []
    assert (summary["format"], summary["count"]) == ("wechatpay", 4)
    assert summary["totals"] == {"CNY": {"credit_minor": 37940, "debit_minor": 2000}}
    refund = summary["lines"][2]
    assert refund["kind"] == "refund" and refund["refund_no"] == "0197b2c4e1aa7d2c9f1e4b5a6c7d8ea1R1"
    assert refund["occurred_at"] == "2025-06-30T08:18:09+00:00" and refund["line_no"] == 4


def test_format_option_reads_the_file_as_that_format(tmp_path):
    path = tmp_path / "statement.txt"
    path.write_bytes((DATA / "camt053_v04.xml").read_bytes())
    result = runner.invoke(statement_app, ["parse", str(path), "--format", "camt053", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["count"] == 2
    wrong = runner.invoke(statement_app, ["parse", str(path), "--format", "mt940"])
    assert wrong.exit_code == 1 and "line 1: not an MT940 statement (no :20: field)" in wrong.stderr


def test_bad_file_exits_1_with_its_line_and_reason_on_stderr(tmp_path):
    text = (DATA / "mt940_subfields.sta").read_text()
    path = tmp_path / "cut.sta"
    path.write_text(text[: text.index(":62F:")])
    result = runner.invoke(statement_app, ["parse", str(path), "--json"])
    assert result.exit_code == 1 and result.stdout == ""
    assert "line 16: the statement of line 1 has no closing balance :62F: (truncated_statement)" in result.stderr


def test_unknown_file_and_missing_file_are_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    unknown = runner.invoke(statement_app, ["parse", str(path)])
    assert unknown.exit_code == 1 and "(unknown_format)" in unknown.stderr
    assert runner.invoke(statement_app, ["parse", str(tmp_path / "nowhere.csv")]).exit_code == 2


def test_a_statement_that_does_not_add_up_is_shown_with_its_warning():
    path = str(DATA / "mt940" / "boc_balance_mismatch.sta")
    result = runner.invoke(statement_app, ["parse", path, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["count"] == 2 and summary["totals"] == {"CNY": {"credit_minor": 2000_00, "debit_minor": 8500_00}}
    [warning] = summary["warnings"]
    assert {k: warning[k] for k in ("code", "line", "statement_id", "closing_minor", "computed_closing_minor")} == {
        "code": "balance_mismatch", "line": 9, "statement_id": "BOC20251124",
        "closing_minor": 93800_00, "computed_closing_minor": 100000_00 - 8500_00 + 2000_00,
    }  # fmt: skip
    table = runner.invoke(statement_app, ["parse", path])
    assert table.exit_code == 0
    assert ("warning: line 9: statement BOC20251124: opening balance and lines make 93500.00, the closing balance "
            "says 93800.00 CNY (balance_mismatch)") in " ".join(table.output.split())


def test_a_camt053_without_any_statement_exits_1_with_its_line(tmp_path):
    raw = (DATA / "camt053_v04.xml").read_bytes()
    path = tmp_path / "empty.xml"
    path.write_bytes(raw[: raw.index(b"<Stmt>")] + raw[raw.index(b"</Stmt>") + len(b"</Stmt>") :])
    result = runner.invoke(statement_app, ["parse", str(path), "--json"])
    assert result.exit_code == 1 and result.stdout == ""
    assert "error: line 3: camt.053 BkToCstmrStmt holds no Stmt (malformed_statement)" in result.stderr


def test_an_mt940_cut_inside_a_statement_line_exits_1_with_its_line(tmp_path):
    text = (DATA / "mt940" / "knab.sta").read_text()
    path = tmp_path / "knab.sta"
    path.write_text(text.replace(":61:2511071107D500NTRF", ":61:2511071107D"))
    result = runner.invoke(statement_app, ["parse", str(path)])
    assert result.exit_code == 1 and "error: line 11: :61: not a statement line" in result.stderr
