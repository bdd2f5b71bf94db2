"""MT940 as real banks write it: one file per bank style in data/mt940 (written from the banks'
published format guides), each read to the right lines and per-currency totals, summed here by
hand from the file's own amounts; and the files that cannot be read whole, refused with their
line and reason."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from juhe.channels.bank import swift_mt940
from juhe.channels.bank.statement import balance_mismatches
from juhe.money import Money
from juhe.recon.statements import StatementError, detect_format, parse_statement, statement_totals

DATA = Path(__file__).parent / "data" / "mt940"
UTC = timezone.utc

# file → (line of each :61:, {currency: (credits, debits)} in minor units, summed from the file)
CORPUS = {
    # ABNANL2A/940/ABNANL2A preamble per statement, :28:, fixed-column free text, '250,5' and '35,'
    "abnamro.sta": ([8, 12, 24], {"EUR": (250_50, 1200_00 + 35_00)}),
    # envelope with {3:{108:}}, IBAN+currency in :25:, /CNTP/, RD (a debit returned: money in), :64:, :65:
    "ing.sta": ([6, 10, 14], {"EUR": (1500_00 + 249_99, 249_99)}),
    # :940: header, zero-padded amounts, no separator between statements, /BENM//NAME/, no final line break
    "rabobank.sta": ([6, 10, 19], {"EUR": (1640_76, 127_50 + 12_10)}),
    # envelope, amounts '0,', '1000,' and '500' without a comma, REK:/NAAM: free text
    "knab.sta": ([6, 8, 11], {"EUR": (1000_00 + 10_00, 500_00)}),
    # {3:} and '-}{5:}' per day, a day without lines, :61: without a customer reference, lines of spaces
    "sns.sta": ([6, 25, 30], {"EUR": (12_45 + 15000_00, 46_48)}),
    # :28:, type code 'NET ' and no entry date, >20… sub-fields, no separator at the end
    "triodos.sta": ([5, 12, 17], {"EUR": (2500_00, 42_50 + 7_35)}),
    # two accounts in CHF and EUR, funds code letters (CF, DF, CR, DR), '500' without decimals
    "postfinance.sta": ([5, 9, 17, 19], {"CHF": (500_00, 1250_75), "EUR": (200_00, 15_00)}),
    # ~20… sub-fields, :NS: fields, funds code N (CN, DN), RCN: a credit taken back is money out
    "mbank.sta": ([7, 11, 14], {"PLN": (12300_00, 2460_00 + 300_00)}),
    # envelope, Cyrillic narrative, funds code B, valued 31 December and booked 2 January
    "sberbank.sta": ([6, 9], {"RUB": (350000_00, 125000_50)}),
    # a statement paged over two messages: :62M: then :60M:
    "raiffeisen.sta": ([5, 8, 16], {"EUR": (12000_00, 4800_00 + 95_40)}),
    # blank line first, Latin-1 umlauts, ?20 EREF+/SVWZ+, CR/DR, RDR (money in) and RCR (money out)
    "german_platform.sta": ([6, 10, 14, 17, 27], {"EUR": (1250_00 + 480_00, 480_00 + 200_00 + 3200_00)}),
    # an overdrawn opening balance (D), ?34, a DOS end-of-file mark after the last statement
    "deutsche_bank.sta": ([5, 8], {"EUR": (3000_00, 89_90)}),
    # ^20… sub-fields, :28C: as number/year/BPL, no final line break
    "bnp_paribas_pl.sta": ([5, 7], {"PLN": (25000_00, 5_81)}),
    # two SWIFT messages in USD and HKD, each with a {5:{CHK:}} trailer
    "hsbc_two_currencies.sta": ([6, 8, 17, 19], {"USD": (12500_00, 3400_25), "HKD": (50, 88000_00)}),
    # lines that do not add up to the closing balance: read, with a finding
    "boc_balance_mismatch.sta": ([5, 7], {"CNY": (2000_00, 8500_00)}),
    # the older fixtures: Bank of China /KEY/ fields, a German ?20 file, an HSBC free-text envelope
    "../mt940_slash_fields.sta": ([5, 8, 11, 14, 16, 24], {"CNY": (120_50 + 25000_00, 8500_00 + 300_00 + 15_00 + 2000_00)}),
    "../mt940_subfields.sta": ([5, 9, 13], {"EUR": (1250_00, 89_90 + 3200_00)}),
    "../mt940_free_text.sta": ([6, 9], {"HKD": (88000_00, 12345_60)}),
}  # fmt: skip


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def refused(raw: bytes) -> StatementError:
    with pytest.raises(StatementError) as error:
        parse_statement(raw, "mt940")
    return error.value


@pytest.mark.parametrize("name", CORPUS)
def test_every_bank_style_reads_to_its_lines_and_totals(name):
    lines, totals = CORPUS[name]
    raw = data(name)
    assert detect_format(raw) == "mt940"
    frame = parse_statement(raw)
    assert frame["line_no"].to_list() == lines
    assert statement_totals(frame) == {c: {"credit_minor": cr, "debit_minor": dr} for c, (cr, dr) in totals.items()}


def test_only_the_statement_that_does_not_add_up_is_a_finding():
    found = {name: balance_mismatches(swift_mt940.parse(data(name))) for name in CORPUS}
    assert [name for name, mismatches in found.items() if mismatches] == ["boc_balance_mismatch.sta"]
    [mismatch] = found["boc_balance_mismatch.sta"]
    assert (mismatch.statement_id, mismatch.line) == ("BOC20251124", 9)
    assert mismatch.computed_closing == Money((100000_00 - 8500_00 + 2000_00), "CNY")
    assert (mismatch.closing, mismatch.difference) == (Money(93800_00, "CNY"), Money(300_00, "CNY"))


def test_reversals_are_read_the_right_way_round():
    frame = parse_statement(data("german_platform.sta"))
    returned, taken_back = frame.row(2, named=True), frame.row(3, named=True)
    # RD: the direct debit of 480.00 came back (money in); RC: a credit of 200.00 taken back (money out)
    assert (returned["direction"], returned["amount_minor"], returned["status"]) == ("credit", 480_00, "reversed")
    assert (taken_back["direction"], taken_back["amount_minor"], taken_back["status"]) == ("debit", 200_00, "reversed")
    assert returned["kind"] == "refund" and returned["order_no"] == "STROM-2025-11"
    [statement, _] = swift_mt940.parse(data("german_platform.sta"))
    assert statement.closing_balance == Money(5000_00 + 1250_00 - 480_00 + 480_00 - 200_00, "EUR")


def test_entry_date_in_the_next_year_than_the_value_date():
    [_, booked_in_january] = swift_mt940.parse(data("sberbank.sta"))[0].entries
    assert (booked_in_january.value_date, booked_in_january.booking_date) == (date(2025, 12, 31), date(2026, 1, 2))
    assert parse_statement(data("sberbank.sta"))["occurred_at"][1] == datetime(2026, 1, 1, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "row", "order_no", "counterparty", "reference"),
    [
        ("abnamro.sta", 1, "JUHE-PAY-0101-2025-11", "KANTOORHUUR BV", "HUUR NOVEMBER"),
        ("ing.sta", 0, None, "SILK ROAD ONLINE BV", "INVOICE 2025-0511 SR-ORDER-88213"),  # /CNTP/ wrapped mid-word
        ("rabobank.sta", 0, "JUHE-PAY-0201-2025-11", "Koffie Groothandel Utrecht B.V.", "Factuur 5521"),
        ("rabobank.sta", 1, None, "DLN Consulting", "factuurnummer 2025-128 cursus certified PO"),
        ("raiffeisen.sta", 0, "JUHE-PAY-0401-2025-11-14", "WIENER LOGISTIK GMBH", "RE 2025-1140"),
        ("german_platform.sta", 0, None, "Müller Maschinenbau GmbH", "Rechnung 2025-1117 Kunde 4711 RE-2025-1117"),
        ("german_platform.sta", 4, "JUHE-PAY-0501-2025-11-18", "Lotus Mart Europe B.V.", "Auszahlung November Filiale 2"),
        ("mbank.sta", 0, None, "HURTOWNIA WISŁA SP. Z O.O.", "FV 2025/11/0412 ZAMÓWIENIE 8841"),
        ("bnp_paribas_pl.sta", 1, None, "SKLEP LOTOS SA", "ZAPLATA ZA FV 411/2025"),
        ("triodos.sta", 0, None, "NL12RABO0888888888",
         "LOTUS MART EUROPE BV POSTBUS 969 3500AA UTRECHTSTORTING AANDELENKAPITAAL ZAAK NR 40000"),
        ("sns.sta", 0, None, None, "creditrente 01-01-24 tot 01-01-25"),  # the column padding is not text
        ("abnamro.sta", 0, None, "LOTUS MART EUROPE BV", "FACTUUR 2025-311"),  # NAAM:, OMSCHRIJVING: labels
        ("knab.sta", 1, None, "STICHTING DERDENGELDEN PSP", "BETALING PROEFABONNEMENT KLANT 4711"),
        ("hsbc_two_currencies.sta", 2, "JH20251121HKD1", None, "PAYMENT TO KOWLOON SUPPLIES LTD"),
    ],
)  # fmt: skip
def test_the_narrative_gives_our_reference_the_counterparty_and_the_text(name, row, order_no, counterparty, reference):
    line = parse_statement(data(name)).row(row, named=True)
    assert (line["order_no"], line["counterparty"], line["reference"]) == (order_no, counterparty, reference)


def test_a_paged_statement_keeps_its_intermediate_balances():
    first, second = swift_mt940.parse(data("raiffeisen.sta"))
    assert first.closing_balance == second.opening_balance == Money(30500_00 - 4800_00 + 12000_00, "EUR")
    assert second.closing_balance == Money(37700_00 - 95_40, "EUR")


# --- files that cannot be read whole


def text(name: str) -> str:
    return data(name).decode("latin-1")


@pytest.mark.parametrize(
    ("raw", "code", "line", "reason"),
    [
        (text("ing.sta")[: text("ing.sta").index(":62F:")], "truncated_statement", 17, "no closing balance :62F:"),
        (text("knab.sta").replace(":20:KNAB251107A1\n", ""), "malformed_statement", 2, ":25: before the first :20:"),
        (text("sns.sta").replace(":20:0000000000\n:25:NL16SNSB1234567809\n:28C:20/1", ":25:NL16SNSB1234567809\n:28C:20/1"),
         "malformed_statement", 14, ":25: outside any statement (no :20: before it)"),
        ("ABNANL2A\n940\nABNANL2A\n", "malformed_statement", 1, "no :20: field"),
        (text("rabobank.sta").replace("D000000000012,10N093", "X000000000012,10N093"), "malformed_statement", 19,
         "not a statement line"),
        (text("postfinance.sta").replace("CF500NTRF", "CF5OONTRF"), "malformed_statement", 5, "not a statement line"),
        (text("triodos.sta").replace(":60F:C251007EUR120,00", ":60F:C251007EUR12O,00"), "malformed_statement", 4,
         "not a balance"),
        (text("sberbank.sta").replace("2512310102DB", "2512311302DB"), "malformed_statement", 9, "month must be in 1..12"),
        (text("mbank.sta").replace("CN12300,00", "CN12300,001"), "malformed_statement", 7, "more decimals"),
        (text("raiffeisen.sta").replace(":62M:C251114EUR37700,00\r\n", ""), "malformed_statement", 9,
         "the statement of line 1 has no closing balance"),
        (text("hsbc_two_currencies.sta").replace(":62F:C251121HKD", ":62F:C251121USD"), "malformed_statement", 21,
         "closing balance in USD, opening in HKD"),
    ],
)  # fmt: skip
def test_a_broken_file_is_refused_with_its_line_and_reason(raw, code, line, reason):
    error = refused(raw.encode("latin-1"))
    assert (error.code, error.line) == (code, line) and reason in error.message
    assert str(error).startswith(f"line {line}: ")
