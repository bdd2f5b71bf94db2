"""Cross-border building blocks without a network: FX arithmetic and ledger entries, the ISO 20022
messages, RFC 9421 signatures and the e-CNY signatures."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from juhe.channels.crossborder import camt053, ecny, fx, iso, pacs002, pacs008, returns, signing
from juhe.channels.simkit import write_rsa_keypair
from juhe.money import Money, MoneyError, exponent

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=timezone.utc)
CNY_USD = fx.Quote("Q1", "CNY", "USD", Decimal("0.138761"), 30, NOW + timedelta(seconds=60))
USD_JPY = fx.Quote("Q2", "USD", "JPY", Decimal("148.928"), 30, NOW + timedelta(seconds=60))
CURRENCIES = ["CNY", "USD", "JPY", "KWD", "EUR"]


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


# --- FX


@given(
    minor=st.integers(min_value=0, max_value=10**15),
    rate=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("100000"), places=6),
    pair=st.sampled_from([(a, b) for a in CURRENCIES for b in CURRENCIES if a != b]),
)
def test_conversion_is_the_exact_value_rounded_once_half_to_even(minor, rate, pair):
    sell, buy = pair
    quote = fx.Quote("Q", sell, buy, rate, 0, NOW)
    exact = minor * Fraction(rate) * Fraction(10) ** (exponent(buy) - exponent(sell))
    bought = fx.buy_amount(quote, Money(minor, sell))
    assert bought.currency == buy and abs(bought.amount_minor - exact) <= Fraction(1, 2)
    if abs(bought.amount_minor - exact) == Fraction(1, 2):
        assert bought.amount_minor % 2 == 0
    cost = fx.sell_amount(quote, Money(minor, buy))
    assert abs(
        cost.amount_minor - minor / Fraction(rate) * Fraction(10) ** (exponent(sell) - exponent(buy))
    ) <= Fraction(1, 2)


def test_conversion_respects_each_currencys_minor_unit():
    assert fx.buy_amount(USD_JPY, usd("100.00")) == Money(14893, "JPY")  # 14 892.8 yen, to the yen
    assert fx.sell_amount(USD_JPY, Money(14893, "JPY")) == usd("100.00")
    assert fx.sell_amount(CNY_USD, usd("100.00")) == Money.parse("720.66", "CNY")  # 720.664 …


def test_conversion_refuses_float_rates_and_other_currencies():
    with pytest.raises(fx.FxError) as caught:
        fx.Quote("Q", "CNY", "USD", 0.1387, 30, NOW)
    assert caught.value.code == "fx_invalid_rate"
    for bad in (Decimal(0), Decimal("-1"), Decimal("NaN")):
        with pytest.raises(fx.FxError):
            fx.Quote("Q", "CNY", "USD", bad, 30, NOW)
    with pytest.raises(fx.FxError):
        fx.Quote("Q", "USD", "USD", Decimal(1), 0, NOW)
    with pytest.raises(fx.FxError):
        fx.Quote("Q", "CNY", "USD", Decimal(1), 30, NOW.replace(tzinfo=None))
    with pytest.raises(MoneyError):
        fx.Quote("Q", "CNY", "XXQ", Decimal(1), 30, NOW)
    with pytest.raises(fx.FxError) as caught:
        fx.buy_amount(CNY_USD, usd("1.00"))
    assert caught.value.code == "fx_currency_mismatch"


def test_expired_quote_is_a_clear_error_and_live_one_passes():
    fx.require_live(CNY_USD, NOW)
    for moment in (CNY_USD.expires_at, CNY_USD.expires_at + timedelta(seconds=1)):
        with pytest.raises(fx.FxError) as caught:
            fx.require_live(CNY_USD, moment)
        assert caught.value.code == "fx_quote_expired" and "Q1" in str(caught.value)


TARIFF = fx.Tariff(usd("15.00"), usd("20.00"))


@pytest.mark.parametrize(
    ("bearer", "debtor_pays", "creditor_receives"),
    [
        (fx.ChargeBearer.OUR, "135.00", "100.00"),
        (fx.ChargeBearer.SHA, "115.00", "80.00"),
        (fx.ChargeBearer.BEN, "100.00", "65.00"),
    ],
)
def test_charge_bearer_decides_who_pays_which_fee(bearer, debtor_pays, creditor_receives):
    found = fx.charges(bearer, usd("100.00"), TARIFF)
    assert (found.debtor_pays, found.creditor_receives) == (usd(debtor_pays), usd(creditor_receives))
    assert found.debtor_pays - found.creditor_receives == TARIFF.sending_fee + TARIFF.receiving_fee


def test_charges_that_eat_the_whole_amount_are_refused():
    with pytest.raises(fx.FxError) as caught:
        fx.charges(fx.ChargeBearer.BEN, usd("35.00"), TARIFF)
    assert caught.value.code == "fx_amount_below_fees"
    with pytest.raises(fx.FxError) as caught:  # a tariff in another currency is a bug, not a number
        fx.charges(fx.ChargeBearer.OUR, Money(100, "EUR"), TARIFF)
    assert caught.value.code == "fx_currency_mismatch"


@given(
    minor=st.integers(min_value=1, max_value=10**12),
    rate=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1000"), places=4),
)
def test_conversion_entries_balance_in_each_currency(minor, rate):
    accounts = fx.ConversionAccounts(*(uuid.uuid4() for _ in range(4)))
    currency_of = {accounts.source: "CNY", accounts.fx_sell: "CNY", accounts.fx_buy: "USD", accounts.destination: "USD"}
    quote = fx.Quote("Q", "CNY", "USD", rate, 30, NOW)
    try:
        conversion = fx.conversion_entries(accounts, quote, Money(minor, "USD"))
    except fx.FxError as e:
        assert e.code == "fx_amount_too_small" and fx.sell_amount(quote, Money(minor, "USD")).amount_minor == 0
        return
    totals: dict[str, int] = {}
    for entry in conversion.entries:
        totals[currency_of[entry.account_id]] = totals.get(currency_of[entry.account_id], 0) + entry.amount_minor
    assert totals == {"CNY": 0, "USD": 0}
    assert conversion.sold == fx.sell_amount(quote, conversion.bought)


def test_paying_usd_from_a_cny_payable_posts_through_fx_accounts():
    accounts = fx.ConversionAccounts(*(uuid.uuid4() for _ in range(4)))
    conversion = fx.conversion_entries(accounts, CNY_USD, usd("100.00"))
    assert [(e.account_id, e.amount_minor) for e in conversion.entries] == [
        (accounts.source, 72066),
        (accounts.fx_sell, -72066),
        (accounts.fx_buy, 10000),
        (accounts.destination, -10000),
    ]


def test_a_returned_usd_amount_converts_back_by_what_is_sold():
    usd_cny = fx.Quote("Q3", "USD", "CNY", Decimal("7.16345"), 30, NOW)
    accounts = fx.ConversionAccounts(*(uuid.uuid4() for _ in range(4)))  # clearing USD → payable CNY
    conversion = fx.conversion_entries(accounts, usd_cny, usd("100.00"))
    assert (conversion.sold, conversion.bought) == (usd("100.00"), Money.parse("716.34", "CNY"))  # 716.345, to even
    assert [e.amount_minor for e in conversion.entries] == [10000, -10000, 71634, -71634]


# --- pacs.008


def transfer(**changes) -> pacs008.CreditTransfer:
    base = pacs008.CreditTransfer(
        msg_id="JH20250314093000abcdef", created_at=NOW, instruction_id="pay123", end_to_end_id="pay123",
        uetr=iso.uetr_for("pay123"), settlement=usd("100.00"), settlement_date=NOW.date(),
        instructed=Money.parse("720.66", "CNY"), rate=Decimal("0.138761"), bearer=fx.ChargeBearer.SHA, charges=(),
        instructing_bic="JUHECNS1XXX", instructed_bic="SNDBCNSHXXX", debtor_name="Shanghai Widgets Co., Ltd.",
        debtor_account="SNDB00001234567", debtor_agent_bic="JUHECNS1XXX", creditor_name="Acme Corp",
        creditor_account="123456789", creditor_agent_bic="CHASUS33", remittance="Invoice 42", fx_deal="FXQ1",
    )  # fmt: skip
    return replace(base, **changes)


def test_pacs008_carries_every_field_and_passes_the_iso_xsd():
    raw = pacs008.build(transfer())
    assert pacs008.problems(raw) == []
    tx = etree.fromstring(raw)[0][1]
    ns = {"d": iso.namespace(pacs008.MESSAGE)}

    def at(path: str) -> etree._Element:
        return tx.find("/".join(f"d:{step}" for step in path.split("/")), ns)

    assert at("PmtId/UETR").text == iso.uetr_for("pay123")
    assert (at("IntrBkSttlmAmt").text, at("IntrBkSttlmAmt").get("Ccy")) == ("100.00", "USD")
    assert (at("InstdAmt").text, at("InstdAmt").get("Ccy")) == ("720.66", "CNY")
    assert (at("XchgRate").text, at("ChrgBr").text) == ("0.138761", "SHAR")
    assert at("CdtrAgt/FinInstnId/BICFI").text == "CHASUS33" and at("Cdtr/Nm").text == "Acme Corp"
    assert at("InstrForNxtAgt/InstrInf").text == "/FXDEAL/FXQ1" and at("RmtInf/Ustrd").text == "Invoice 42"
    assert tx.getparent().find("d:GrpHdr/d:SttlmInf/d:SttlmMtd", ns).text == "INDA"
    assert pacs008.read(raw) == transfer()


@pytest.mark.parametrize(("bearer", "code"), [(fx.ChargeBearer.OUR, "DEBT"), (fx.ChargeBearer.BEN, "CRED")])
def test_charge_bearer_codes(bearer, code):
    charges = ((usd("0.00"), "JUHECNS1XXX"),) if bearer is fx.ChargeBearer.BEN else ()
    raw = pacs008.build(transfer(bearer=bearer, charges=charges))
    assert f"<ChrgBr>{code}</ChrgBr>".encode() in raw and pacs008.problems(raw) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"creditor_agent_bic": "chase"}, "BICFI"),
        ({"uetr": "not-a-uuid"}, "UETR"),
        ({"creditor_name": "x" * 141}, "Nm"),
        ({"rate": None}, "XchgRate is required"),
        ({"rate": Decimal("0.15")}, "does not give IntrBkSttlmAmt"),
        ({"bearer": fx.ChargeBearer.BEN}, "ChrgsInf is required when ChrgBr is CRED"),
    ],
)
def test_pacs008_problems_are_all_reported(changes, problem):
    found = pacs008.problems(pacs008.build(transfer(**changes)))
    assert any(problem in p for p in found), found
    with pytest.raises(iso.MessageError):
        pacs008.read(pacs008.build(transfer(**changes)))


def test_pacs008_reading_refuses_hostile_or_foreign_xml():
    bomb = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><Document>&a;</Document>'
    assert "DTD" in pacs008.problems(bomb)[0]
    assert pacs008.problems(b"<Document") and pacs008.problems(b"x" * (iso.MESSAGE_BYTES_MAX + 1))
    other = pacs008.build(transfer()).replace(b"pacs.008.001.08", b"pacs.008.001.02")
    assert "expected a pacs.008.001.08 Document" in pacs008.problems(other)[0]
    too_precise = pacs008.build(transfer()).replace(b">100.00<", b">100.001<")
    assert any("more decimals" in p for p in pacs008.problems(too_precise))


def test_uetr_is_a_stable_uuid4_per_payment():
    first = iso.uetr_for("pay123")
    assert first == iso.uetr_for("pay123") != iso.uetr_for("pay124")
    assert uuid.UUID(first).version == 4 and uuid.UUID(first).variant == uuid.RFC_4122


# --- pacs.002 / pacs.028 / camt.056 / pacs.004 / camt.053


@pytest.mark.parametrize(
    ("status", "reason", "element"),
    [("ACSC", None, None), ("ACCP", None, None), ("RJCT", "AC04", "Cd"), ("RJCT", "FX_QUOTE_EXPIRED", "Prtry")],
)
def test_pacs002_round_trip_with_reason_code_or_proprietary(status, reason, element):
    report = pacs002.StatusReport(
        msg_id="SNDB1", created_at=NOW, original_msg_id="JH1", original_msg_name=pacs008.MESSAGE,
        instruction_id="pay123", end_to_end_id="pay123", uetr=iso.uetr_for("pay123"), status=status, reason=reason,
        reason_info="closed account" if reason else None, accepted_at=NOW if status == "ACSC" else None,
        settled_on=NOW.date() if status == "ACSC" else None, bank_reference="SNDB1", settlement=usd("100.00"),
    )  # fmt: skip
    raw = pacs002.build_report(report, "SNDBCNSHXXX", "JUHECNS1XXX")
    assert pacs002.read_report(raw) == report
    if element:
        assert f"<{element}>{reason}</{element}>".encode() in raw


def test_pacs002_with_unknown_status_or_missing_uetr_is_refused():
    report = pacs002.StatusReport("M", NOW, None, None, None, "pay1", iso.uetr_for("pay1"), "ACSC")
    raw = pacs002.build_report(report, "SNDBCNSHXXX", "JUHECNS1XXX")
    with pytest.raises(iso.MessageError):
        pacs002.read_report(raw.replace(b"ACSC", b"WHAT"))
    with pytest.raises(iso.MessageError):
        pacs002.read_report(raw.replace(b"OrgnlUETR", b"OrgnlXXXX"))


def test_status_request_recall_and_return_round_trip():
    request = pacs002.StatusRequest(
        "JQ1", NOW, "SR1", "pay1", "pay1", iso.uetr_for("pay1"), "JUHECNS1XXX", "SNDBCNSHXXX"
    )
    assert pacs002.read_request(pacs002.build_request(request)) == request
    recall = returns.Recall(
        "JC1", NOW, "JUHECNS1XXX", "SNDBCNSHXXX", "R1", "pay1", "pay1", iso.uetr_for("pay1"), usd("100.00")
    )
    assert returns.read_recall(returns.build_recall(recall)) == recall
    returned = returns.Return(
        "SNDBR1", NOW, "R1", "pay1", "pay1", iso.uetr_for("pay1"), usd("100.00"), usd("100.00"), NOW.date(),
        "SNDBCNSHXXX", "JUHECNS1XXX",
    )  # fmt: skip
    assert returns.read_return(returns.build_return(returned)) == returned


def test_statement_round_trip_with_charges_and_balances():
    entries = [
        camt053.Entry("payment", "SWIFT", "pay1", None, iso.uetr_for("pay1"), usd("100.00"), usd("15.00"), NOW),
        camt053.Entry("refund", "SWIFT", "pay1", "R1", iso.uetr_for("pay1"), usd("100.00"), usd("0.00"), NOW),
        camt053.Entry("payment", "ECNY", "pay2", None, "EC1", Money(1234, "CNY"), Money(0, "CNY"), NOW),
    ]
    accounts = [camt053.Account("A-USD", "USD", usd("1000.00")), camt053.Account("A-CNY", "CNY", Money(0, "CNY"))]
    raw = camt053.build("STMT1", NOW, date(2025, 3, 14), accounts, entries)
    assert camt053.read(raw) == entries
    assert b'<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="USD">985.00</Amt>' in raw
    with pytest.raises(iso.MessageError):  # an entry whose parts do not add up is not believed
        camt053.read(raw.replace(b">115.00<", b">114.00<"))


# --- signatures


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keys")
    private, public = write_rsa_keypair(directory, "a")
    other, _ = write_rsa_keypair(directory, "b")
    return signing.load_private_key(private), signing.load_public_key(public), signing.load_private_key(other)


def test_rfc9421_signature_verifies_and_catches_every_change(keys):
    private, public, other = keys
    values = signing.request_values("POST", "/iso20022/v1/pacs.008", "")
    body = b"<Document/>"
    headers = signing.sign(private, "k1", signing.REQUEST_COMPONENTS, values, body, 1_700_000_000)
    assert headers["Signature-Input"].startswith(
        'sig1=("@method" "@path" "@query" "content-digest");created=1700000000'
    )
    signing.verify(public, "k1", signing.REQUEST_COMPONENTS, values, headers, body, 1_700_000_010)
    wrong = [
        (values, headers, b"<Document />", 1_700_000_010),  # body
        ({**values, "@path": "/iso20022/v1/camt.056"}, headers, body, 1_700_000_010),  # another endpoint
        (values, headers, body, 1_700_000_000 + signing.SIGNATURE_AGE_MAX_S + 1),  # stale
        (values, {k: v for k, v in headers.items() if k != "Signature"}, body, 1_700_000_010),
        (
            values,
            signing.sign(other, "k1", signing.REQUEST_COMPONENTS, values, body, 1_700_000_000),
            body,
            1_700_000_010,
        ),
        (
            values,
            signing.sign(private, "k2", signing.REQUEST_COMPONENTS, values, body, 1_700_000_000),
            body,
            1_700_000_010,
        ),
    ]
    for bad_values, bad_headers, bad_body, now in wrong:
        with pytest.raises(signing.SignatureError):
            signing.verify(public, "k1", signing.REQUEST_COMPONENTS, bad_values, bad_headers, bad_body, now)
    fewer = signing.sign(private, "k1", ("@method", "content-digest"), values, body, 1_700_000_000)
    with pytest.raises(signing.SignatureError):  # a signature that leaves the path uncovered is not enough
        signing.verify(public, "k1", signing.REQUEST_COMPONENTS, values, fewer, body, 1_700_000_010)


def test_ecny_transfer_and_confirmation_signatures(keys):
    private, public, other = keys
    request = ecny.TransferRequest(
        out_transfer_no="pay9", payer_wallet_id="0031000000000001", payee_wallet_id="0031000000000002",
        payee_name="张三", amount_fen=1234, currency="CNY", notify_url="http://127.0.0.1/n", timestamp=NOW,
    )  # fmt: skip
    signed = ecny.signed_transfer(private, request)
    assert ecny.transfer_signature_ok(public, signed)
    assert not ecny.transfer_signature_ok(public, signed.model_copy(update={"amount_fen": 1235}))
    assert not ecny.transfer_signature_ok(public, ecny.signed_transfer(other, request))
    confirmation = ecny.Confirmation(
        confirmation_id="CF1", transfer_id="EC1", out_transfer_no="pay9", payer_wallet_id="0031000000000001",
        payee_wallet_id="0031000000000002", amount_fen=1234, currency="CNY", state="SUCCESS", confirmed_at=NOW,
    )  # fmt: skip
    stamped = ecny.signed_confirmation(private, confirmation)
    assert ecny.confirmation_signature_ok(public, stamped)
    assert not ecny.confirmation_signature_ok(public, stamped.model_copy(update={"state": "FAILED"}))
    status = ecny.payment_status(stamped)
    assert (status.state, status.amount, status.channel_txn_id) == ("succeeded", Money(1234, "CNY"), "EC1")


@pytest.mark.parametrize("amount", ["12.34", 12.34, "1234", 0, -5])
def test_ecny_amounts_are_positive_whole_fen(amount):
    with pytest.raises(ValueError):
        ecny.TransferRequest(
            out_transfer_no="pay9", payer_wallet_id="0031000000000001", payee_wallet_id="0031000000000002",
            payee_name="x", amount_fen=amount, currency="CNY", notify_url="http://x", timestamp=NOW,
        )  # fmt: skip
