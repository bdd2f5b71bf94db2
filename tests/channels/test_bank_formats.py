"""The bank channel's files, without a bank: transfer lines, pain.001 against the official XSD,
pain.002 and camt.053 of other versions than the sandbox writes, MT940, and the signatures."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from juhe.channels.bank import pain001, pain002, signing
from juhe.channels.bank.adapter import read_statements
from juhe.channels.bank.statement import statement_lines
from juhe.channels.bank.transfers import TRANSFERS_PER_BATCH_MAX, LineError, batch_total, parse_transfer_lines
from juhe.channels.base import ChannelError
from juhe.channels.simkit import write_rsa_keypair
from juhe.money import Money

TODAY = date(2025, 6, 30)
CST = timezone(timedelta(hours=8))
ZONE = ZoneInfo("Asia/Shanghai")
DEBTOR = pain001.Debtor("聚合示范科技有限公司", "31050161393600000123", "999290000018", "CNY", "JUHE0001")
HEADER = "end_to_end_id,amount,currency,creditor_name,creditor_account,creditor_bank,remittance_info,execution_date\n"
GOOD_LINES = (
    HEADER
    + "SAL-2025-06-001,8500.00,CNY,张三,6222020200112233445,102290024433,六月工资,\n"
    + 'SUP-88,\"120000.50\",CNY,\"Shanghai Steel Co., Ltd\",6222 0202 0011 2233 446,102290024433,INV 88,2025-07-02\n'
    + "SUP-89,99.99,CNY,Müller GmbH,DE89 3704 0044 0532 0130 00,COBADEFFXXX,,\n"
)


def test_good_lines_become_items_with_their_totals():
    items, errors = parse_transfer_lines(GOOD_LINES.encode("utf-8-sig"), today=TODAY, account_currency="CNY")
    assert errors == []
    assert [(i.line, i.end_to_end_id, i.amount.amount_minor) for i in items] == [
        (2, "SAL-2025-06-001", 850000), (3, "SUP-88", 12000050), (4, "SUP-89", 9999),
    ]  # fmt: skip
    assert items[1].creditor_account == "6222020200112233446" and items[1].execution_date == date(2025, 7, 2)
    assert items[2].creditor_account == "DE89370400440532013000"
    assert items[0].execution_date == TODAY
    assert batch_total(items) == {"CNY": Money(850000 + 12000050 + 9999, "CNY")}


def test_every_bad_line_is_reported_with_its_line_number():
    lines = (
        HEADER
        + "A-1,10.00,CNY,Good Co,6222020200112233445,102290024433,,\n"
        + "A-2,10.001,CNY,,6222020200112233445,,,\n"  # too many decimals, no name, no bank for a domestic account
        + "A 3,abc,CNY,X,DE00370400440532013000,,,2025-06-01\n"  # reference, amount, IBAN digits, past date
        + "A-1,5.00,USD,Y,6222020200112233445,102290024433,,\n"  # repeated id, another currency
        + "A-5,-1,CNY,Z,12,102290024433,,tomorrow\n"  # negative, account, date
        + "A-6,1.00,CNY,Q,6222020200112233445\n"  # too few fields
    )
    items, errors = parse_transfer_lines(lines, today=TODAY, account_currency="CNY")
    assert [i.end_to_end_id for i in items] == ["A-1"]
    assert [(e.line, e.field) for e in errors] == [
        (3, "amount"), (3, "creditor_name"), (3, "creditor_bank"),
        (4, "end_to_end_id"), (4, "amount"), (4, "creditor_account"), (4, "execution_date"),
        (5, "currency"), (5, "end_to_end_id"),
        (6, "amount"), (6, "creditor_account"), (6, "execution_date"),
        (7, "line"),
    ]  # fmt: skip
    assert str(errors[8]) == "line 5: end_to_end_id: repeats line 2"


def test_header_problems_and_undecodable_files_are_line_errors():
    _, errors = parse_transfer_lines("id,amount,currency\n1,2,CNY\n", today=TODAY)
    assert {e.message for e in errors} >= {"lacks column end_to_end_id", "unknown column 'id'"}
    assert all(e.line == 1 for e in errors)
    excel_export = HEADER.encode() + "A-1,1.00,CNY,张三,6222020200112233445,102290024433,,\n".encode("gbk")
    _, errors = parse_transfer_lines(excel_export, today=TODAY)
    assert errors == [LineError(2, "file", "is not UTF-8 text (save the file as UTF-8)")]
    assert parse_transfer_lines(HEADER, today=TODAY)[1] == [LineError(1, "file", "no transfers")]


def test_a_batch_has_a_limit():
    lines = HEADER + "".join(f"L-{n},1.00,CNY,A,DE89370400440532013000,,,\n" for n in range(TRANSFERS_PER_BATCH_MAX + 1))
    items, errors = parse_transfer_lines(lines, today=TODAY)
    assert items == [] and errors == [LineError(TRANSFERS_PER_BATCH_MAX + 2, "file", "more than 10000 transfers")]


def test_json_lines_are_numbered_by_their_place_in_the_list():
    data = """[
      {"end_to_end_id": "J-1", "amount": "1.00", "currency": "CNY", "creditor_name": "A", "creditor_account": "DE89370400440532013000"},
      {"end_to_end_id": "J-2", "amount": 1.1, "currency": "CNY", "creditor_name": "B", "creditor_account": "DE89370400440532013000"},
      {"end_to_end_id": "J-3", "amount_minor": 250, "currency": "JPY", "creditor_name": "C", "creditor_account": "DE89370400440532013000", "iban": "x"},
      "not an object"
    ]"""
    items, errors = parse_transfer_lines(data, today=TODAY)
    assert [(e.line, e.field) for e in errors] == [(2, "amount"), (3, "iban"), (4, "line")]
    assert [i.amount for i in items] == [Money(100, "CNY")]
    assert parse_transfer_lines("[{", today=TODAY)[1][0].field == "file"


def test_pain001_validates_against_the_official_xsd_and_reads_back():
    items, _ = parse_transfer_lines(GOOD_LINES, today=TODAY)
    created = datetime(2025, 6, 30, 9, 30, tzinfo=CST)
    raw = pain001.build("PAYROLL-2025-06", DEBTOR, items, created_at=created, category_purpose="SALA")
    assert pain001.schema_errors(raw) == []
    assert b'xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"' in raw
    found = pain001.read(raw)
    assert (found.msg_id, found.number_of_transactions, found.control_sum) == ("PAYROLL-2025-06", 3, Decimal("128600.49"))
    by_date = {info.execution_date: info for info in found.payment_infos}
    assert sorted(by_date) == [TODAY, date(2025, 7, 2)]
    assert by_date[TODAY].payment_info_id == "PAYROLL-2025-06-20250630"
    assert by_date[TODAY].category_purpose == "SALA" and by_date[TODAY].debtor_account == DEBTOR.account
    read_back = {i.end_to_end_id: i for info in found.payment_infos for i in info.items}
    assert read_back["SAL-2025-06-001"].creditor_name == "张三"
    assert read_back["SUP-89"].creditor_bank == "COBADEFFXXX" and read_back["SUP-88"].amount == Money(12000050, "CNY")


@pytest.mark.parametrize(
    "change, complaint",
    [
        (("<MsgId>M-1</MsgId>", ""), "MsgId"),
        (('Ccy="CNY">1.00', 'Ccy="cny">1.00'), "Ccy"),
        (("<InstdAmt Ccy=\"CNY\">1.00", "<InstdAmt Ccy=\"CNY\">1.000001"), "InstdAmt"),
        (("<PmtMtd>TRF</PmtMtd>", "<PmtMtd>XYZ</PmtMtd>"), "PmtMtd"),
        (("Cdtr>", "Creditor>"), "Creditor"),
    ],
)
def test_pain001_that_breaks_the_schema_is_refused_with_line_numbers(change, complaint):
    items, _ = parse_transfer_lines(HEADER + "E-1,1.00,CNY,A,DE89370400440532013000,,,\n", today=TODAY)
    raw = pain001.build("M-1", DEBTOR, items, created_at=datetime(2025, 6, 30, tzinfo=CST))
    broken = raw.replace(change[0].encode(), change[1].encode())
    errors = pain001.schema_errors(broken)
    assert errors and errors[0].startswith("line ") and complaint in " ".join(errors)
    with pytest.raises(pain001.Pain001Invalid):
        pain001.read(broken)


def test_pain001_refuses_what_it_cannot_send():
    items, _ = parse_transfer_lines(HEADER + "E-1,1.00,CNY,A,DE89370400440532013000,,,\n", today=TODAY)
    for msg_id in ("", "x" * 36, "has space"):
        with pytest.raises(ValueError):
            pain001.build(msg_id, DEBTOR, items, created_at=datetime(2025, 6, 30, tzinfo=CST))
    with pytest.raises(ValueError):
        pain001.build("M-2", DEBTOR, items, created_at=datetime(2025, 6, 30, tzinfo=CST), category_purpose="GIFT")
    with pytest.raises(ValueError, match="AM05"):
        pain001.build("M-3", DEBTOR, items * 2, created_at=datetime(2025, 6, 30, tzinfo=CST))
    assert pain001.schema_errors(b"<Document")[0].startswith("not well-formed XML")


PAIN002_V03 = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
 <CstmrPmtStsRpt>
  <GrpHdr><MsgId>STS-1</MsgId><CreDtTm>2025-06-30T10:00:00</CreDtTm></GrpHdr>
  <OrgnlGrpInfAndSts><OrgnlMsgId>PAYROLL-2025-06</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId><GrpSts>PART</GrpSts></OrgnlGrpInfAndSts>
  <OrgnlPmtInfAndSts>
   <OrgnlPmtInfId>PAYROLL-2025-06-20250630</OrgnlPmtInfId>
   <TxInfAndSts>
    <OrgnlEndToEndId>SAL-1</OrgnlEndToEndId><TxSts>RJCT</TxSts>
    <StsRsnInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>Account closed</AddtlInf><AddtlInf>on 2025-05-01</AddtlInf></StsRsnInf>
    <OrgnlTxRef><Amt><InstdAmt Ccy="CNY">8500.00</InstdAmt></Amt></OrgnlTxRef>
   </TxInfAndSts>
   <TxInfAndSts>
    <OrgnlEndToEndId>SAL-2</OrgnlEndToEndId><TxSts>ACSC</TxSts><AccptncDtTm>2025-06-30T09:59:00+08:00</AccptncDtTm>
    <AcctSvcrRef>2506300000000042</AcctSvcrRef>
   </TxInfAndSts>
  </OrgnlPmtInfAndSts>
  <OrgnlPmtInfAndSts><OrgnlPmtInfId>PAYROLL-2025-06-20250702</OrgnlPmtInfId><PmtInfSts>RJCT</PmtInfSts>
   <StsRsnInf><Rsn><Cd>AM04</Cd></Rsn></StsRsnInf></OrgnlPmtInfAndSts>
 </CstmrPmtStsRpt>
</Document>"""


def test_pain002_item_statuses_with_reasons_from_an_older_version():
    report = pain002.parse(PAIN002_V03)
    assert (report.original_msg_id, report.group_status) == ("PAYROLL-2025-06", "PART")
    rejected = report.status_of("SAL-1", "PAYROLL-2025-06-20250630")
    assert (rejected.state, rejected.reason_code) == ("rejected", "AC04")
    assert rejected.reason_text == "Account closed on 2025-05-01"
    assert rejected.amount == Money(850000, "CNY")
    settled = report.status_of("SAL-2", "PAYROLL-2025-06-20250630")
    assert (settled.state, settled.bank_ref) == ("settled", "2506300000000042")
    assert settled.accepted_at.utcoffset() == timedelta(hours=8)
    inherited = report.status_of("SAL-3", "PAYROLL-2025-06-20250702")  # its block was rejected whole
    assert (inherited.state, inherited.status_code, inherited.reason_code) == ("rejected", "RJCT", "AM04")
    unknown = report.status_of("SAL-4", "PAYROLL-2025-06-20250630")  # PART says nothing of it: wait
    assert (unknown.state, unknown.status_code) == ("pending", "")


def test_pain002_group_rejection_applies_to_every_transfer():
    rejection = b"<GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>DU01</Cd></Rsn></StsRsnInf>"
    raw = PAIN002_V03.replace(b"<GrpSts>PART</GrpSts>", rejection)
    status = pain002.parse(raw).status_of("ANY")
    assert (status.state, status.reason_code) == ("rejected", "DU01")
    cases = {("ACSC", "ACSC"): "ACSC", ("ACSC", "RJCT"): "PART", ("ACSC", "ACCP"): "ACSP", ("ACTC", "ACCP"): "ACTC",
             (): "ACTC"}  # fmt: skip
    assert {codes: pain002.group_status(codes) for codes in cases} == cases
    with pytest.raises(ValueError):
        pain002.parse(b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08'/>")


CAMT053_V02 = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
 <BkToCstmrStmt>
  <GrpHdr><MsgId>S-1</MsgId><CreDtTm>2025-06-30T23:00:00</CreDtTm></GrpHdr>
  <Stmt>
   <Id>STMT-20250630</Id><CreDtTm>2025-06-30T23:00:00</CreDtTm>
   <Acct><Id><Othr><Id>31050161393600000123</Id></Othr></Id><Ccy>CNY</Ccy></Acct>
   <Bal><Tp><CdOrPrtry><Cd>PRCD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2025-06-30</Dt></Dt></Bal>
   <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">50.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Dt><Dt>2025-06-30</Dt></Dt></Bal>
   <Ntry>
    <Amt Ccy="CNY">1100.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>
    <BookgDt><Dt>2025-06-30</Dt></BookgDt><ValDt><Dt>2025-06-30</Dt></ValDt><AcctSvcrRef>BATCH-REF</AcctSvcrRef>
    <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>SALA</SubFmlyCd></Fmly></Domn></BkTxCd>
    <NtryDtls>
     <TxDtls><Refs><AcctSvcrRef>R-1</AcctSvcrRef><EndToEndId>SAL-1</EndToEndId></Refs>
      <AmtDtls><TxAmt><Amt Ccy="CNY">600.00</Amt></TxAmt></AmtDtls>
      <RltdPties><Cdtr><Nm>张三</Nm></Cdtr><CdtrAcct><Id><Othr><Id>6222020200112233445</Id></Othr></Id></CdtrAcct></RltdPties>
      <RmtInf><Ustrd>六月工资</Ustrd></RmtInf></TxDtls>
     <TxDtls><Refs><AcctSvcrRef>R-2</AcctSvcrRef><EndToEndId>SAL-2</EndToEndId></Refs>
      <AmtDtls><TxAmt><Amt Ccy="CNY">500.00</Amt></TxAmt></AmtDtls></TxDtls>
    </NtryDtls>
   </Ntry>
   <Ntry>
    <Amt Ccy="CNY">50.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2025-06-30</Dt></BookgDt>
    <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn></BkTxCd>
    <NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
     <RltdPties><Dbtr><Nm>Customer Ltd</Nm></Dbtr></RltdPties></TxDtls></NtryDtls>
   </Ntry>
  </Stmt>
 </BkToCstmrStmt>
</Document>""".encode()


def test_camt053_of_2009_with_a_batch_booked_entry_reads_per_transfer():
    [statement] = read_statements(CAMT053_V02)
    assert (statement.account, statement.currency) == ("31050161393600000123", "CNY")
    assert (statement.opening_balance, statement.closing_balance) == (Money(100000, "CNY"), Money(-5000, "CNY"))
    first, second, credit = statement.entries
    assert (first.end_to_end_id, first.amount, first.bank_ref) == ("SAL-1", Money(60000, "CNY"), "R-1")
    assert first.counterparty_name == "张三"
    assert first.counterparty_account == "6222020200112233445" and first.remittance_info == "六月工资"
    assert (second.end_to_end_id, second.amount, second.direction) == ("SAL-2", Money(50000, "CNY"), "debit")
    assert (credit.direction, credit.end_to_end_id, credit.counterparty_name) == ("credit", None, "Customer Ltd")
    lines = statement_lines([statement], ZONE)
    assert [(l.kind, l.payment_id, l.amount.amount_minor, l.occurred_at.date()) for l in lines] == [
        ("payment", "SAL-1", 60000, date(2025, 6, 30)), ("payment", "SAL-2", 50000, date(2025, 6, 30)),
    ]  # fmt: skip


MT940 = (
    ":20:STMT20250630\r\n:25:999290000018/31050161393600000123\r\n:28C:181/1\r\n"
    ":60F:C250630CNY100000,00\r\n"
    ":61:2506300630D8500,00NTRFSAL-2025-06-001//2506300000000001\r\n"
    ":86:/EREF/SAL-2025-06-001-LONGER-THAN-16/NAME/Zhang San/ACCT/62220202001\r\n12233445/REMI/June salary\r\n"
    ":61:2506300630RD100,00NTRFSUP-88//2506300000000002\r\n:86:/EREF/SUP-88\r\n"
    ":61:2506300630C1,50NMSCNONREF//2506300000000003\r\n"
    ":62F:C250630CNY91601,50\r\n-\r\n"
)


def test_mt940_reads_full_references_from_the_narrative():
    [statement] = read_statements(MT940.encode())
    assert (statement.opening_balance, statement.closing_balance) == (Money(10000000, "CNY"), Money(9160150, "CNY"))
    paid, returned, interest = statement.entries
    assert (paid.end_to_end_id, paid.amount, paid.direction, paid.bank_ref) == (
        "SAL-2025-06-001-LONGER-THAN-16", Money(850000, "CNY"), "debit", "2506300000000001",
    )  # fmt: skip
    assert (paid.counterparty_name, paid.counterparty_account) == ("Zhang San", "6222020200112233445")
    assert paid.remittance_info == "June salary"
    assert (returned.direction, returned.reversal, returned.end_to_end_id) == ("credit", True, "SUP-88")
    assert (interest.direction, interest.end_to_end_id) == ("credit", None)
    lines = statement_lines([statement], ZONE)
    assert [(l.kind, l.payment_id, l.refund_id) for l in lines] == [
        ("payment", "SAL-2025-06-001-LONGER-THAN-16", None), ("refund", "SUP-88", "2506300000000002"),
    ]  # fmt: skip
    with pytest.raises(ChannelError):
        read_statements(b"hello")


def test_signatures_cover_method_path_query_and_body(tmp_path):
    private_file, public_file = write_rsa_keypair(tmp_path, "customer")
    private, public = signing.load_private_key(private_file), signing.load_public_key(public_file)
    now = int(time.time())
    request = {"method": "POST", "path": "/h2h/v1/payment-files", "query": "", "body": b"<Document/>"}
    headers = signing.sign_request(private, key_id="K1", created=now, nonce="n1", **request)
    assert signing.verify_request(headers, public_key=public, key_id="K1", now_s=now, **request)["nonce"] == "n1"
    other = b"<Document>x</Document>"
    for name, changed in [("body", other), ("path", "/h2h/v1/other"), ("query", "a=1"), ("method", "PUT")]:
        with pytest.raises(signing.SignatureError):
            signing.verify_request(headers, public_key=public, key_id="K1", now_s=now, **(request | {name: changed}))
    forged = headers | {"Content-Digest": signing.content_digest(other)}
    with pytest.raises(signing.SignatureError, match="signature does not match"):
        signing.verify_request(forged, public_key=public, key_id="K1", now_s=now, **(request | {"body": other}))
    narrower = headers | {"Signature-Input": headers["Signature-Input"].replace(' "content-digest"', "")}
    with pytest.raises(signing.SignatureError, match="must cover"):
        signing.verify_request(narrower, public_key=public, key_id="K1", now_s=now, **request)
    with pytest.raises(signing.SignatureError, match="s away"):
        signing.verify_request(headers, public_key=public, key_id="K1", now_s=now + 301, **request)
    with pytest.raises(signing.SignatureError, match="unknown key"):
        signing.verify_request(headers, public_key=public, key_id="K2", now_s=now, **request)


def test_an_answer_is_bound_to_the_request_it_answers(tmp_path):
    private_file, public_file = write_rsa_keypair(tmp_path, "bank")
    private, public = signing.load_private_key(private_file), signing.load_public_key(public_file)
    now, body = int(time.time()), b'{"fileId":"F1"}'
    first, second = "sig1=:" + "A" * 344 + ":", "sig1=:" + "B" * 344 + ":"
    headers = signing.sign_answer(private, key_id="B1", status=202, content_type="application/json", body=body,
                                  request_signature=first, created=now, nonce="n")  # fmt: skip
    answer = headers | {"Content-Type": "application/json"}
    signing.verify_answer(answer, public_key=public, key_id="B1", status=202, body=body, request_signature=first, now_s=now)
    for changes in ({"request_signature": second}, {"status": 200}, {"body": b"{}"}):
        arguments = {"status": 202, "body": body, "request_signature": first} | changes
        with pytest.raises(signing.SignatureError):
            signing.verify_answer(answer, public_key=public, key_id="B1", now_s=now, **arguments)
