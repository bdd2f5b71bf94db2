"""Channel statement files to the STATEMENT frame: every format as the channels and banks write
it, and every broken file refused whole, naming its line."""

from __future__ import annotations

import gzip
import io
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from juhe.channels.bank import camt053, swift_mt940
from juhe.channels.bank.statement import BankEntry, balance_mismatches
from juhe.channels.crossborder import camt053 as crossborder_camt053
from juhe.money import Money
from juhe.recon import frames
from juhe.recon.statements import StatementError, detect_format, parse_statement, statement_totals

DATA = Path(__file__).parent / "data"
UTC = timezone.utc
MT940_FILES = ("mt940_slash_fields.sta", "mt940_subfields.sta", "mt940_free_text.sta")
CAMT_FILES = ("camt053_v02.xml", "camt053_v04.xml", "camt053_v06.xml", "camt053_v08.xml")


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def alipay_detail(text: str | None = None) -> bytes:
    """The detail CSV as Alipay writes it: GBK, CRLF (the fixture is kept in UTF-8 to be readable)."""
    return (text if text is not None else data("alipay_trade_detail.csv").decode()).encode("gbk")


def alipay_zip(detail: bytes | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("20881000000000010156_20250630_业务明细.csv", detail if detail is not None else alipay_detail())
        summary = data("alipay_trade_summary.csv").decode().encode("gbk")
        archive.writestr("20881000000000010156_20250630_业务明细(汇总).csv", summary)
    return out.getvalue()


def refused(raw: bytes, fmt: str | None = None, channel: str | None = None) -> StatementError:
    with pytest.raises(StatementError) as error:
        parse_statement(raw, fmt, channel)
    return error.value


def rows(frame: pl.DataFrame, *columns: str) -> list[tuple]:
    return [tuple(row[c] for c in columns) for row in frame.iter_rows(named=True)]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- detection


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (alipay_zip(), "alipay"), (alipay_detail(), "alipay"), (data("wechatpay_trade_bill.csv"), "wechatpay"),
        (gzip.compress(data("wechatpay_trade_bill.csv")), "wechatpay"),
        *((data(name), "camt053") for name in CAMT_FILES), *((data(name), "mt940") for name in MT940_FILES),
    ],
)  # fmt: skip
def test_each_format_is_told_by_its_first_bytes(raw, expected):
    assert detect_format(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [b"hello", b"%PDF-1.7\n", b"", "商户订单号,金额\n1,2\n".encode(),
     b"<?xml version='1.0'?><Document xmlns='urn:iso:std:iso:20022:tech:xsd:pain.002.001.10'/>"],
)  # fmt: skip
def test_anything_else_is_an_unknown_format(raw):
    with pytest.raises(StatementError) as error:
        detect_format(raw)
    assert error.value.code == "unknown_format" and error.value.line == 1
    assert refused(raw).code == "unknown_format"


def test_a_format_the_channel_does_not_send_is_refused():
    assert refused(data("mt940_subfields.sta"), "mt940", "alipay").code == "unknown_format"
    assert refused(data("mt940_subfields.sta"), "pdf").code == "unknown_format"
    assert "channel 'bank' sends no alipay statements" in str(refused(alipay_zip(), "alipay", "bank"))


def test_an_empty_file_of_a_known_channel_is_a_day_without_movement():
    frame = parse_statement(b"", channel="wechatpay")
    assert frame.height == 0 and frame.schema == pl.Schema(frames.STATEMENT)


# --- Alipay


def test_alipay_bill_lines_become_payments_and_refunds_in_utc():
    frame = parse_statement(alipay_zip())
    assert frame.schema == pl.Schema(frames.STATEMENT) and set(frame["channel"]) == {"alipay"}
    assert rows(frame, "line_no", "kind", "amount_minor", "fee_minor", "direction", "status") == [
        (6, "payment", 1288, 8, "credit", "succeeded"), (7, "payment", 128800, 773, "credit", "succeeded"),
        (8, "refund", 644, 4, "debit", "succeeded"), (9, "payment", 20000, 120, "credit", "succeeded"),
    ]  # fmt: skip
    refund = frame.row(2, named=True)
    assert refund["order_no"] == "0197b2c4e1aa7d2c9f1e4b5a6c7d8e01"  # the tab Alipay pads ids with is gone
    assert refund["refund_no"] == "0197b2c4e1aa7d2c9f1e4b5a6c7d8e01R1"
    assert refund["channel_txn_id"] == "2025063022001456781400012345" and frame["refund_no"][0] is None
    # Completed at 00:00:03 Beijing time on 1 July: still 30 June in UTC.
    assert frame["occurred_at"][3] == utc(2025, 6, 30, 16, 0, 3)
    assert statement_totals(frame) == {"CNY": {"credit_minor": 150088, "debit_minor": 644}}


def test_alipay_detail_csv_alone_and_ascii_parentheses_read_the_same():
    ascii_header = data("alipay_trade_detail.csv").decode().replace("（", "(").replace("）", ")")
    zipped = parse_statement(alipay_zip())
    assert parse_statement(alipay_detail()).equals(zipped)
    assert parse_statement(alipay_detail(ascii_header), "alipay").equals(zipped)


def test_alipay_zip_cut_short_is_truncated():
    error = refused(alipay_zip()[:-60])
    assert (error.code, error.line) == ("truncated_statement", None) and "zip" in error.message


def test_alipay_detail_in_bad_gbk_names_its_line():
    detail = alipay_detail().replace("莲花超市 会员储值".encode("gbk"), b"\xff\xfe\xff")
    error = refused(alipay_zip(detail))
    assert (error.code, error.line) == ("malformed_statement", 9) and "GBK" in error.message


def test_alipay_row_with_a_column_missing_names_its_line():
    text = data("alipay_trade_detail.csv").decode().replace(",收银员02,T0001", ",收银员02")
    error = refused(alipay_zip(alipay_detail(text)))
    assert (error.code, error.line) == ("malformed_statement", 8)
    assert error.message == "24 columns, the header has 25" and str(error) == "line 8: 24 columns, the header has 25"


@pytest.mark.parametrize(("written", "reason"), [("12.8.8", "not a yuan amount"), ("12.888", "not a yuan amount"),
                                                 ("-12.88", "订单金额 -12.88 for a 交易")])  # fmt: skip
def test_alipay_bad_amount_names_its_line(written, reason):
    text = data("alipay_trade_detail.csv").decode().replace(",12.88,12.88,", f",{written},12.88,")
    error = refused(alipay_zip(alipay_detail(text)))
    assert (error.code, error.line) == ("malformed_statement", 6) and reason in error.message


def test_alipay_detail_without_its_end_mark_is_truncated():
    text = data("alipay_trade_detail.csv").decode()
    cut = text[: text.index("#-----------------------------------------业务明细列表结束")]
    error = refused(alipay_zip(alipay_detail(cut)))
    assert (error.code, error.line) == ("truncated_statement", 9)


def test_alipay_counts_that_disagree_with_the_rows_are_malformed():
    text = data("alipay_trade_detail.csv").decode().replace("交易合计：3笔", "交易合计：4笔")
    assert "counts 4 trades and 1 refunds, its rows 3 and 1" in refused(alipay_zip(alipay_detail(text))).message


# --- WeChat Pay


def test_wechatpay_bill_lines_with_states_in_the_statement_vocabulary():
    frame = parse_statement(data("wechatpay_trade_bill.csv"))
    assert set(frame["channel"]) == {"wechatpay"}
    assert rows(frame, "line_no", "kind", "amount_minor", "fee_minor", "direction", "status") == [
        (2, "payment", 8800, 53, "credit", "succeeded"), (3, "payment", 25640, 154, "credit", "succeeded"),
        (4, "refund", 2000, 12, "debit", "succeeded"), (5, "payment", 3500, 0, "credit", "reversed"),
    ]  # fmt: skip
    refund = frame.row(2, named=True)
    assert (refund["order_no"], refund["refund_no"], refund["channel_txn_id"]) == (
        "0197b2c4e1aa7d2c9f1e4b5a6c7d8ea1", "0197b2c4e1aa7d2c9f1e4b5a6c7d8ea1R1", "50300002345202506301234567801",
    )  # fmt: skip
    assert frame["occurred_at"][0] == utc(2025, 6, 30, 2, 2, 11)
    assert parse_statement(gzip.compress(data("wechatpay_trade_bill.csv"))).equals(frame)


def test_wechatpay_gzip_cut_short_is_truncated():
    assert refused(gzip.compress(data("wechatpay_trade_bill.csv"))[:-30]).code == "truncated_statement"


def test_wechatpay_bill_without_its_summary_is_truncated():
    text = data("wechatpay_trade_bill.csv").decode()
    error = refused(text[: text.index("总交易单数")].encode())
    assert error.code == "truncated_statement" and "summary" in error.message


@pytest.mark.parametrize(
    ("old", "new", "line", "reason"),
    [
        ("`SUCCESS,`CMB_CREDIT,", "`SUCCESS,`CMB_CREDIT,`extra,", 3, "28 columns, the header has 27"),
        ("`0.60%,`256.40,", "`0.60%,`256.4O,", 3, "'256.4O' is not a yuan amount"),
        ("`ORIGINAL,`SUCCESS", "`ORIGINAL,`LOST", 4, "unknown 退款状态 'LOST'"),
        ("`2025-06-30 18:45:00", "`2025-06-31 18:45:00", 5, "交易时间 '2025-06-31 18:45:00'"),
        ("\r\n`4,`379.40", "\r\n`5,`379.40", 7, "总交易单数 is '5', the bill has 4 rows"),
    ],
)  # fmt: skip
def test_wechatpay_bad_rows_name_their_line(old, new, line, reason):
    text = data("wechatpay_trade_bill.csv").decode()
    assert old in text
    error = refused(text.replace(old, new, 1).encode())
    assert (error.code, error.line) == ("malformed_statement", line) and reason in error.message


def test_wechatpay_bill_that_is_not_utf8_names_its_line():
    raw = data("wechatpay_trade_bill.csv").replace("莲花超市 付款码".encode(), "莲花超市 付款码".encode("gbk"))
    assert (refused(raw).code, refused(raw).line) == ("malformed_statement", 5)


# --- camt.053, versions .02 to .08


EXPECTED_CAMT = {
    "camt053_v02.xml": [  # batch-booked salaries: one entry, two transfers; Dbtr/Nm; Sts as text
        (1, "payment", "SAL-2025-06-001", 920000, "debit", "succeeded", utc(2025, 6, 29, 16), "张三", "六月工资"),
        (1, "payment", "SAL-2025-06-002", 850000, "debit", "succeeded", utc(2025, 6, 29, 16), "李四", "六月工资"),
        (2, "unknown", None, 2500000, "credit", "succeeded", utc(2025, 6, 29, 16), "杭州莲花贸易有限公司", "INV 2025-0142"),
    ],
    "camt053_v04.xml": [  # TxDtls/Amt; BookgDt/DtTm without offset (the bank's local time); a returned transfer
        (1, "payment", "SUP-2025-06-118", 1200000, "debit", "succeeded", utc(2025, 6, 30, 2, 15),
         "Shanghai Steel Co., Ltd", "PO 118"),
        (2, "refund", "SUP-2025-06-097", 33000, "credit", "reversed", utc(2025, 6, 30, 7, 40),
         "Closed Account Trading Co", "RETURN AC04 ACCOUNT CLOSED"),
    ],
    "camt053_v06.xml": [  # Sts/Cd; a payer's own EndToEndId is text to match on, not our order; a pending debit
        (1, "unknown", None, 450025, "credit", "succeeded", utc(2025, 6, 29, 16), "ACME Import LLC",
         "Order SR-88213 ACME-INV-5521"),
        (2, "payment", "XB-2025-06-0031", 120000, "debit", "pending", utc(2025, 6, 29, 16), "Pacific Freight Ltd",
         None),
    ],
    "camt053_v08.xml": [  # RltdPties/…/Pty/Nm; BookgDt/DtTm with offset; structured creditor reference
        (1, "unknown", None, 8888800, "credit", "succeeded", utc(2025, 6, 30, 1, 5, 31), "深圳丝路电子商务有限公司",
         "RF18539007547034"),
        (2, "payment", "0197b2c4e1aa7d2c9f1e4b5a6c7d8e9f", 102750, "debit", "succeeded", utc(2025, 6, 30, 6, 20), "王五",
         "退货退款 订单 LM-20250628-0931"),
    ],
}  # fmt: skip
LINE_COLUMNS = ("line_no", "kind", "order_no", "amount_minor", "direction", "status", "occurred_at", "counterparty",
                "reference")  # fmt: skip


@pytest.mark.parametrize("name", CAMT_FILES)
def test_camt053_of_every_version_reads_to_the_same_frame(name):
    frame = parse_statement(data(name))
    assert frame.schema == pl.Schema(frames.STATEMENT) and set(frame["channel"]) == {"bank"}
    assert rows(frame, *LINE_COLUMNS) == EXPECTED_CAMT[name]


def test_camt053_return_of_our_transfer_is_a_refund_of_its_order():
    refund = parse_statement(data("camt053_v04.xml")).row(1, named=True)
    assert (refund["refund_no"], refund["channel_txn_id"]) == ("BOC0630000137", "BOC0630000137")


@pytest.mark.parametrize("version", ["01", "09", "13"])
def test_camt053_version_is_read_from_the_namespace(version):
    raw = data("camt053_v08.xml").replace(b"camt.053.001.08", f"camt.053.001.{version}".encode())
    error = refused(raw)
    assert (error.code, error.line) == ("unsupported_version", 2) and f"camt.053.001.{version}" in error.message


def test_camt053_cut_in_half_is_truncated():
    raw = data("camt053_v08.xml")
    error = refused(raw[: len(raw) // 2])
    assert error.code == "truncated_statement" and error.line == raw[: len(raw) // 2].count(b"\n") + 1


def test_camt053_with_a_tag_that_does_not_close_is_malformed():
    reference = b"<AcctSvcrRef>HK25063011990</AcctSvcrRef>"
    raw = data("camt053_v06.xml").replace(reference, b"<AcctSvcrRef>HK25063011990</Ref>")
    assert (refused(raw).code, refused(raw).line) == ("malformed_statement", 34)


@pytest.mark.parametrize(("amount", "reason"), [(b"1027.5O", "not an amount"), (b"-1027.50", "negative amount"),
                                                (b"1027.505", "more decimals")])  # fmt: skip
def test_camt053_bad_amount_names_its_entry_line(amount, reason):
    entry_amount = b'<Amt Ccy="CNY">1027.50</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>'
    raw = data("camt053_v08.xml").replace(entry_amount, entry_amount.replace(b"1027.50", amount))
    error = refused(raw)
    assert (error.code, error.line) == ("malformed_statement", 35) and reason in error.message


def test_camt053_unknown_entry_status_is_malformed():
    raw = data("camt053_v06.xml").replace(b"<Sts><Cd>PDNG</Cd></Sts>", b"<Sts><Cd>MAYB</Cd></Sts>")
    assert "entry status 'MAYB'" in refused(raw).message


# --- MT940 as different banks write it


def test_mt940_slash_fields_reversals_and_two_statements_in_one_file():
    frame = parse_statement(data("mt940_slash_fields.sta"))
    assert rows(frame, "line_no", "kind", "order_no", "refund_no", "amount_minor", "direction", "status") == [
        (5, "payment", "SAL-2025-06-001", None, 850000, "debit", "succeeded"),
        (8, "refund", "SUP-88", "2506300000000002", 12050, "credit", "reversed"),  # RD: our debit came back
        (11, "unknown", None, None, 2500000, "credit", "succeeded"),
        (14, "unknown", None, None, 30000, "debit", "reversed"),  # RC: a credit taken back
        (16, "unknown", None, None, 1500, "debit", "succeeded"),
        (24, "payment", "SUP-2025-07-003-FULL-REFERENCE", None, 200000, "debit", "succeeded"),  # the second statement
    ]  # fmt: skip
    assert rows(frame[2:3], "counterparty", "reference") == [("Hangzhou Lotus Trading", "Invoice 2025-0142 payment")]
    assert frame["reference"][1] == "INV 88 returned by the creditor bank"  # :86: wrapped mid-word
    assert frame["occurred_at"][5] == utc(2025, 6, 30, 16)  # 1 July in Shanghai


def test_mt940_structured_subfields_and_a_line_without_entry_date():
    frame = parse_statement(data("mt940_subfields.sta"))
    assert rows(frame, "line_no", "kind", "order_no", "amount_minor", "direction", "counterparty", "reference") == [
        (5, "unknown", None, 125000, "credit", "Mueller Maschinenbau GmbH",
         "Rechnung 2025-0042 Kunde 4711 RE-2025-0042"),  # the payer's EREF kept as text
        (9, "unknown", None, 8990, "debit", "Telekom Deutschland GmbH", "Telefon Juni 2025"),
        (13, "payment", "JUHE-PAY-0001-2025-06-30", 320000, "debit", "Lotus Mart Europe B.V.", "Payout June store 3"),
    ]  # fmt: skip
    assert set(frame["currency"]) == {"EUR"}
    assert frame["occurred_at"].to_list() == [utc(2025, 6, 29, 16), utc(2025, 6, 29, 16), utc(2025, 6, 30, 16)]


def test_booking_dates_are_days_in_the_bank_s_zone():
    frame = parse_statement(data("mt940_subfields.sta"), zone=ZoneInfo("Europe/Berlin"))
    assert frame["occurred_at"][0] == utc(2025, 6, 29, 22)  # midnight in Frankfurt, summer time


def test_mt940_free_text_narrative_in_a_swift_envelope():
    frame = parse_statement(data("mt940_free_text.sta"))
    assert rows(frame, "line_no", "kind", "order_no", "channel_txn_id", "amount_minor", "currency") == [
        (6, "payment", "JH20250630001", None, 1234560, "HKD"), (9, "unknown", None, "HK250630-998", 8800000, "HKD"),
    ]  # fmt: skip
    assert frame["reference"][0] == "PAYMENT TO KOWLOON SUPPLIES LTD INV KS-7781 JUHE REF JH20250630001"


def test_mt940_with_a_final_line_break_or_lf_lines_reads_the_same():
    raw = data("mt940_slash_fields.sta")
    expected = parse_statement(raw)
    assert parse_statement(raw + b"\r\n").equals(expected)
    assert parse_statement(raw.replace(b"\r\n", b"\n")).equals(expected)


def test_mt940_entry_date_across_the_year_end():
    raw = (":20:YE\n:25:X/1\n:28C:1/1\n:60F:C251231CNY100,00\n:61:2512310102D10,00NTRFYE-1//B1\n"
           ":61:2601021231C5,00NTRFNONREF//B2\n:62F:C260102CNY95,00\n-").encode()  # fmt: skip
    assert parse_statement(raw)["occurred_at"].to_list() == [utc(2026, 1, 1, 16), utc(2025, 12, 30, 16)]


def test_mt940_missing_final_closing_balance_is_truncated():
    text = data("mt940_slash_fields.sta").decode()
    error = refused(text[: text.rindex(":62F:")].encode())
    assert (error.code, error.line) == ("truncated_statement", 26) and ":62F:" in error.message


def test_mt940_statement_without_closing_balance_in_the_middle_is_malformed():
    text = data("mt940_slash_fields.sta").decode().replace(":62F:C250630CNY116305,50\r\n", "")
    assert (refused(text.encode()).code, refused(text.encode()).line) == ("malformed_statement", 17)


def test_mt940_lines_that_do_not_add_up_to_the_closing_balance_are_read_with_a_finding():
    text = data("mt940_slash_fields.sta").decode().replace(":61:2506300630D15,00NMSCNONREF//2506300000000005\r\n", "")
    frame = parse_statement(text.encode())
    assert frame.height == 5 and 15_00 not in frame["amount_minor"].to_list()
    [mismatch] = balance_mismatches(swift_mt940.parse(text.encode()))
    assert (mismatch.line, mismatch.computed_closing, mismatch.closing) == (
        17, Money(116320_50, "CNY"), Money(116305_50, "CNY"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [("D8500,00NTRF", "D8500.00NTRF", "not a statement line"), ("D8500,00NTRF", "D8500,001NTRF", "more decimals"),
     ("2506300630D8500", "2506310630D8500", "day is out of range")],
)  # fmt: skip
def test_mt940_bad_statement_line_names_its_line(old, new, reason):
    error = refused(data("mt940_slash_fields.sta").replace(old.encode(), new.encode()), "mt940")
    assert (error.code, error.line) == ("malformed_statement", 5) and reason in error.message


# --- the same bank day in both formats, and the cross-border correspondent


def test_bank_camt053_and_mt940_of_one_day_give_the_same_lines():
    account = camt053.Account("31050161393600000123", "CNY", "聚合示范科技有限公司", "999290000018")
    day = date(2025, 6, 30)
    booked = [
        camt053.BookedTransfer(BankEntry(day, day, Money(850000, "CNY"), "debit", "BOOK", False, "SAL-2025-06-001",
                                         "2506300000000001", "Zhang San", "6222020200112233445", "June salary"),
                               "MSG-1", "PMT-1", "SALA"),
        camt053.BookedTransfer(BankEntry(day, day, Money(12050, "CNY"), "credit", "BOOK", True, "SUP-88",
                                         "2506300000000002", "Shanghai Steel", "6222020200112233446", "INV 88"),
                               "MSG-2", "PMT-2", "DMCT"),
    ]  # fmt: skip
    created_at = datetime(2025, 6, 30, 23, tzinfo=UTC)
    in_camt = parse_statement(camt053.write("MSG-S", created_at, account, day, 1, 10**7, booked))
    in_mt940 = parse_statement(swift_mt940.write("STMT20250630", account, day, 1, 10**7, booked))
    assert in_camt["line_no"].to_list() == [1, 2] and in_mt940["line_no"].to_list() == [5, 8]
    assert in_camt.drop("line_no").equals(in_mt940.drop("line_no"))


def test_crossborder_statement_reads_payments_with_charges_and_returns():
    booked_at = datetime(2025, 6, 30, 9, 30, tzinfo=UTC)
    entries = [
        crossborder_camt053.Entry("payment", "SWIFT", "XB-0001", None, "8f1e4b5a-6c7d-4e9f-a0b1-c2d3e4f5a6b7",
                                  Money(1_000_000, "USD"), Money(2_500, "USD"), booked_at),
        crossborder_camt053.Entry("refund", "ECNY", "XB-0002", "XB-0002R1", "ECNY-77881", Money(50_000, "USD"),
                                  Money(0, "USD"), booked_at),
    ]  # fmt: skip
    account = crossborder_camt053.Account("NOSTRO-USD-001", "USD", Money(5_000_000, "USD"))
    raw = crossborder_camt053.build("XB-STMT-1", booked_at, date(2025, 6, 30), [account], entries)
    frame = parse_statement(raw, channel="crossborder")
    assert rows(frame, "line_no", "kind", "order_no", "refund_no", "amount_minor", "fee_minor", "direction") == [
        (1, "payment", "XB-0001", None, 1_000_000, 2_500, "debit"),
        (2, "refund", "XB-0002", "XB-0002R1", 50_000, 0, "credit"),
    ]  # fmt: skip
    assert set(frame["channel"]) == {"crossborder"} and frame["occurred_at"][0] == booked_at
    assert refused(raw[:-200], channel="crossborder").code == "truncated_statement"
