"""camt.053 of every version banks send (.02 to .08): each file read to its lines and per-currency
totals, summed here by hand from the file's amounts; a statement that does not add up is read
with a finding; a document without any statement is refused with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from juhe.recon.statements import StatementError, read_statement, statement_totals

DATA = Path(__file__).parent / "data"

# file → (entry ordinal of each line, {currency: (credits, debits)} in minor units, summed from the file)
CORPUS = {
    # 2009: Sts as text, a batch-booked entry of two salaries (TxDtls/AmtDtls/TxAmt), Dbtr/Nm
    "camt053_v02.xml": ([1, 1, 2], {"CNY": (25000_00, 9200_00 + 8500_00)}),
    # two accounts in one document; the USD statement's lines do not reach its closing balance
    "camt053_v02_two_accounts.xml": ([1, 2, 3], {"CNY": (0, 100_00), "USD": (300_00, 50_00)}),
    # a namespace prefix and a byte order mark, PRCD as the opening, a returned transfer (RvslInd), a charge
    "camt053_v03.xml": ([1, 2, 3, 4], {"EUR": (2500_00 + 740_25, 740_25 + 12_50)}),
    # TxDtls/Amt, BookgDt/DtTm in the bank's local time, a return
    "camt053_v04.xml": ([1, 2], {"CNY": (330_00, 12000_00)}),
    # pagination, an intermediate balance ITBD, a batch of three credits (Btch), a structured reference
    "camt053_v05.xml": ([1, 1, 1, 2], {"USD": (200_00 + 550_00 + 750_00, 320_40)}),
    # Sts/Cd, a pending debit (counted in the file's totals, not in its balance)
    "camt053_v06.xml": ([1, 2], {"USD": (4500_25, 1200_00)}),
    # RltdPties/…/Pty/Nm, BookgDt/DtTm with offset, a pending debit and a charge without details
    "camt053_v07.xml": ([1, 2, 3], {"CNY": (12888_00, 3000_00 + 25_00)}),
    # the version the sandbox writes; a structured creditor reference
    "camt053_v08.xml": ([1, 2], {"CNY": (88888_00, 1027_50)}),
}  # fmt: skip


@pytest.mark.parametrize("name", CORPUS)
def test_every_version_reads_to_its_lines_and_totals(name):
    ordinals, totals = CORPUS[name]
    read = read_statement((DATA / name).read_bytes())
    assert read.frame["line_no"].to_list() == ordinals
    assert statement_totals(read.frame) == {c: {"credit_minor": cr, "debit_minor": dr} for c, (cr, dr) in totals.items()}
    assert [w["statement_id"] for w in read.warnings] == (["USD-20251204"] if name == "camt053_v02_two_accounts.xml" else [])


def test_a_camt053_statement_that_does_not_add_up_is_a_finding_with_both_figures():
    [warning] = read_statement((DATA / "camt053_v02_two_accounts.xml").read_bytes()).warnings
    assert (warning["code"], warning["line"], warning["currency"]) == ("balance_mismatch", 18, "USD")
    assert (warning["computed_closing_minor"], warning["closing_minor"]) == (2000_00 + 300_00 - 50_00, 2300_00)
    assert warning["difference_minor"] == 50_00


@pytest.mark.parametrize("channel", ["bank", "crossborder"])
def test_a_document_without_any_statement_is_refused(channel):
    raw = (DATA / "camt053_v08.xml").read_bytes()
    empty = raw[: raw.index(b"<Stmt>")] + raw[raw.index(b"</Stmt>") + len(b"</Stmt>") :]
    with pytest.raises(StatementError) as error:
        read_statement(empty, channel=channel)
    assert (error.value.code, error.value.line) == ("malformed_statement", 3)
    assert error.value.message == "camt.053 BkToCstmrStmt holds no Stmt"


def test_an_entry_without_details_keeps_the_bank_s_own_text():
    charges = read_statement((DATA / "camt053_v03.xml").read_bytes()).frame.row(3, named=True)
    assert (charges["direction"], charges["amount_minor"], charges["reference"]) == (
        "debit", 12_50, "Kosten betalingsverkeer november",
    )  # fmt: skip
    assert read_statement((DATA / "camt053_v07.xml").read_bytes()).frame["reference"][2] == "手续费"
