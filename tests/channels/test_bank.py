"""The bank adapter against the bank sandbox over real HTTP on localhost: batches of transfers
(pain.001 → pain.002), single B2B payments, statements (camt.053 and MT940), and faults."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from juhe.channels import registry
from juhe.channels.bank import pain001, signing, wire
from juhe.channels.bank.adapter import BankChannel, BankConfig, read_statements
from juhe.channels.bank.sandbox import (
    CLOSED_ACCOUNTS,
    ITEM_LIMIT_MINOR,
    PROCESSING_DELAY_S,
    RANDOM_REJECTS,
    BankSandbox,
)
from juhe.channels.bank.transfers import TransferItem, parse_transfer_lines
from juhe.channels.base import (
    ChannelError,
    ChargeCreated,
    ChargeRequest,
    Declined,
    InvalidNotification,
    RefundRequest,
    Scenario,
)
from juhe.channels.registry import start_sandbox
from juhe.channels.simkit import Faults, free_port, write_rsa_keypair
from juhe.money import Money

CALM = Faults(seed=7)
CLOSED_DOMESTIC = sorted(a for a in CLOSED_ACCOUNTS if a.isdigit())[0]
HEADER = "end_to_end_id,amount,currency,creditor_name,creditor_account,creditor_bank,remittance_info\n"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    running = start_sandbox("bank", tmp_path_factory.mktemp("bank"), CALM)
    yield running.sandbox
    running.stop()


@pytest.fixture(autouse=True)
def calm(sandbox):
    sandbox.injector.configure(CALM)
    yield
    sandbox.injector.configure(CALM)


class Treasury:
    """Our side: one adapter on one event loop for the whole module."""

    def __init__(self, sandbox: BankSandbox, runner: asyncio.Runner):
        self.sandbox, self.runner = sandbox, runner
        self.http = httpx.AsyncClient()
        self.channel = BankChannel(sandbox.adapter_config(), self.http)

    def call(self, action, config: BankConfig | None = None):
        channel = self.channel if config is None else BankChannel(config, self.http)
        return self.runner.run(action(channel))

    def items(self, *lines: str) -> list[TransferItem]:
        items, errors = parse_transfer_lines(HEADER + "".join(lines), today=self.channel.today(), account_currency="CNY")
        assert errors == []
        return items

    def settled_status(self, batch_id: str, items: list[TransferItem]):
        time.sleep(PROCESSING_DELAY_S * 2)
        return self.call(lambda ch: ch.fetch_status(batch_id, items))


@pytest.fixture(scope="module")
def treasury(sandbox):
    with asyncio.Runner() as runner:
        treasury = Treasury(sandbox, runner)
        yield treasury
        runner.run(treasury.http.aclose())


def new_id(prefix: str = "B") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def line(ref: str, amount: str = "100.00", account: str = "6222020200112233445", name: str = "上海钢材") -> str:
    return f"{ref},{amount},CNY,{name},{account},102290024433,货款\n"


def signed_upload(sandbox: BankSandbox, body: bytes, headers: dict | None = None) -> httpx.Response:
    key = signing.load_private_key(sandbox.customer_private_key_file)
    signed = headers or signing.sign_request(
        key, key_id=sandbox.customer_key_id, method="POST", path=wire.UPLOAD_PATH, query="", body=body,
        created=int(time.time()), nonce=signing.new_nonce(),
    )  # fmt: skip
    headers = signed | {"Content-Type": "application/xml"}
    return httpx.post(sandbox.base_url + wire.UPLOAD_PATH, content=body, headers=headers)


def test_batch_settles_accepted_items_and_releases_rejected_ones(sandbox, treasury):
    batch_id = new_id()
    items = treasury.items(
        line("PAY-1", "1234.56"), line("PAY-2", "0.01", "DE89370400440532013000", "Müller GmbH"),
        line("PAY-3", "10.00", CLOSED_DOMESTIC), line("PAY-4", Money(ITEM_LIMIT_MINOR + 1, "CNY").decimal_text()),
    )  # fmt: skip
    balance_before = sandbox.balance_minor
    receipt = treasury.call(lambda ch: ch.submit_batch(batch_id, items, category_purpose="SUPP"))
    assert (receipt.status, receipt.duplicate) == ("received", False) and receipt.file_id
    assert pain001.read(receipt.document).msg_id == batch_id
    first = treasury.call(lambda ch: ch.fetch_status(batch_id, items))
    assert {s.state for s in first} == {"pending"}  # technically accepted, not executed yet

    statuses = treasury.settled_status(batch_id, items)
    assert [(s.end_to_end_id, s.state, s.status_code, s.reason_code) for s in statuses] == [
        ("PAY-1", "settled", "ACSC", None), ("PAY-2", "settled", "ACSC", None),
        ("PAY-3", "rejected", "RJCT", "AC04"), ("PAY-4", "rejected", "RJCT", "AM02"),
    ]  # fmt: skip
    assert statuses[0].amount == Money(123456, "CNY") and len(statuses[0].bank_ref) == 16
    assert statuses[0].accepted_at is not None and statuses[2].bank_ref is None
    assert sandbox.balance_minor == balance_before - 123457


def test_rejected_item_rate_rejects_items_with_reason_codes(sandbox, treasury):
    sandbox.injector.configure(Faults(decline_rate=1.0, seed=3))
    batch_id = new_id()
    items = treasury.items(*(line(f"R-{n}") for n in range(6)))
    treasury.call(lambda ch: ch.submit_batch(batch_id, items))
    statuses = treasury.settled_status(batch_id, items)
    assert {s.state for s in statuses} == {"rejected"}
    assert {s.reason_code for s in statuses} <= {code for code, _ in RANDOM_REJECTS}
    assert all(s.reason_text for s in statuses)
    report = treasury.call(lambda ch: ch.fetch_status_report(batch_id))
    assert report.group_status == "RJCT"


def test_resending_the_same_file_is_idempotent_and_another_under_its_msg_id_is_refused(sandbox, treasury):
    batch_id = new_id()
    items = treasury.items(line("D-1", "7.00"), line("D-2", "8.00"))
    first = treasury.call(lambda ch: ch.submit_batch(batch_id, items))
    again = treasury.call(lambda ch: ch.submit_file(first.document))
    rebuilt = treasury.call(lambda ch: ch.submit_batch(batch_id, items))  # new CreDtTm, same transfers
    assert (again.duplicate, rebuilt.duplicate) == (True, True)
    assert first.file_id == again.file_id == rebuilt.file_id
    other = treasury.items(line("D-1", "7.01"), line("D-2", "8.00"))
    with pytest.raises(ChannelError) as refused:
        treasury.call(lambda ch: ch.submit_batch(batch_id, other))
    assert (refused.value.code, refused.value.outcome_known) == ("DU01", True)
    statuses = treasury.settled_status(batch_id, items)
    assert [s.state for s in statuses] == ["settled", "settled"]  # executed once
    assert sum(1 for key in sandbox.book.orders if key.startswith(f"{batch_id}:")) == 2


def test_a_file_whose_control_sum_is_wrong_is_rejected_whole(sandbox, treasury):
    batch_id = new_id()
    items = treasury.items(line("C-1", "5.00"), line("C-2", "6.00"))
    raw = treasury.channel.build_file(batch_id, items)
    tampered = raw.replace(b"<CtrlSum>11.00</CtrlSum>", b"<CtrlSum>12.00</CtrlSum>", 1)
    assert tampered != raw and pain001.schema_errors(tampered) == []  # the XSD cannot see it; the bank does
    assert signed_upload(sandbox, tampered).status_code == 202
    statuses = treasury.settled_status(batch_id, items)
    assert [(s.state, s.reason_code) for s in statuses] == [("rejected", "AM10"), ("rejected", "AM10")]
    not_ours = sandbox.adapter_config().model_copy(update={"debtor_account": "31050161393600000999"})
    other_id = new_id()
    assert treasury.call(lambda ch: ch.submit_batch(other_id, items), not_ours).status == "received"
    statuses = treasury.settled_status(other_id, items)
    assert [(s.state, s.reason_code) for s in statuses] == [("rejected", "AC02"), ("rejected", "AC02")]


def test_a_malformed_file_is_refused_by_the_adapter_and_by_the_bank(sandbox, treasury):
    batch_id = new_id()
    items = treasury.items(line("M-1"))
    raw = treasury.channel.build_file(batch_id, items)
    broken = raw.replace(b"<PmtMtd>TRF</PmtMtd>", b"<PmtMtd>CHQ1</PmtMtd>")
    with pytest.raises(pain001.Pain001Invalid) as invalid:
        treasury.call(lambda ch: ch.submit_file(broken))
    assert "PmtMtd" in invalid.value.errors[0]
    answer = signed_upload(sandbox, broken)
    assert answer.status_code == 400 and answer.json()["code"] == "FF01" and "PmtMtd" in answer.json()["message"]
    assert batch_id not in sandbox.files
    assert signed_upload(sandbox, b"<not-xml").json()["code"] == "FF01"


def test_requests_with_a_bad_or_replayed_signature_are_refused(sandbox, treasury):
    raw = treasury.channel.build_file(new_id(), treasury.items(line("S-1")))
    unsigned = httpx.post(sandbox.base_url + wire.UPLOAD_PATH, content=raw)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "SIGNATURE_INVALID")
    other_key = signing.load_private_key(write_rsa_keypair(sandbox.customer_private_key_file.parent / "x", "x")[0])
    forged = signing.sign_request(other_key, key_id=sandbox.customer_key_id, method="POST", path=wire.UPLOAD_PATH,
                                  query="", body=raw, created=int(time.time()), nonce=signing.new_nonce())  # fmt: skip
    assert signed_upload(sandbox, raw, forged).status_code == 401
    key = signing.load_private_key(sandbox.customer_private_key_file)
    headers = signing.sign_request(key, key_id=sandbox.customer_key_id, method="POST", path=wire.UPLOAD_PATH,
                                   query="", body=raw, created=int(time.time()), nonce=signing.new_nonce())  # fmt: skip
    assert signed_upload(sandbox, raw, headers).status_code == 202
    replayed = signed_upload(sandbox, raw, headers)
    assert (replayed.status_code, replayed.json()["code"]) == (401, "SIGNATURE_REPLAYED")
    config = sandbox.adapter_config().model_copy(update={"key_id": "JUHE0001-UNKNOWN"})
    with pytest.raises(ChannelError) as refused:
        treasury.call(lambda ch: ch.fetch_status_report("ANY"), config)
    assert (refused.value.outcome_known, refused.value.code) == (True, "SIGNATURE_INVALID")


def charge(payment_id: str, amount_minor: int = 250_00, account: str = "6222020200112233445", **changes) -> ChargeRequest:
    fields = dict(
        payment_id=payment_id, amount=Money(amount_minor, "CNY"), scenario=Scenario.B2B, subject="采购订单 PO-77",
        notify_url="http://127.0.0.1:1/unused", expires_at=datetime.now(timezone.utc) + timedelta(hours=8),
        payer={"creditor_name": "上海钢材有限公司", "creditor_account": account, "creditor_bank": "102290024433"},
    )  # fmt: skip
    return ChargeRequest(**(fields | changes))


def test_a_b2b_payment_is_a_one_transfer_file_settled_by_its_status_report(sandbox, treasury):
    payment_id = uuid.uuid4().hex[:24]
    created = treasury.call(lambda ch: ch.create(charge(payment_id)))
    assert isinstance(created, ChargeCreated) and created.action.kind == "none" and created.channel_ref
    [order] = [o for k, o in sandbox.book.orders.items() if k.startswith(f"{payment_id}:")]
    assert order.extra["item"].remittance_info == "采购订单 PO-77"
    time.sleep(PROCESSING_DELAY_S * 2)
    status = treasury.call(lambda ch: ch.query(payment_id))
    assert (status.state, status.amount, status.failure_code) == ("succeeded", Money(250_00, "CNY"), None)
    assert status.channel_txn_id and status.paid_at is not None
    with pytest.raises(ChannelError) as settled:
        treasury.call(lambda ch: ch.close(payment_id))
    assert settled.value.code == "ACSC"
    refund = RefundRequest(payment_id, "R1", Money(100, "CNY"), Money(250_00, "CNY"), "退货", "http://x")
    assert treasury.call(lambda ch: ch.refund(refund)).state == "failed"
    with pytest.raises(InvalidNotification):
        treasury.channel.verify_notification({}, b"")


def test_a_b2b_payment_to_a_closed_account_fails_with_its_reason(treasury):
    payment_id = uuid.uuid4().hex[:24]
    assert isinstance(treasury.call(lambda ch: ch.create(charge(payment_id, account=CLOSED_DOMESTIC))), ChargeCreated)
    assert treasury.call(lambda ch: ch.query(payment_id)).state == "pending"
    with pytest.raises(ChannelError) as in_flight:
        treasury.call(lambda ch: ch.close(payment_id))
    assert (in_flight.value.code, in_flight.value.outcome_known) == ("in_flight", True)
    time.sleep(PROCESSING_DELAY_S * 2)
    status = treasury.call(lambda ch: ch.query(payment_id))
    assert (status.state, status.failure_code) == ("failed", "AC04")
    treasury.call(lambda ch: ch.close(payment_id))  # nothing left to pay: closes quietly


def test_b2b_requests_the_bank_cannot_take_are_declined_before_sending(sandbox, treasury):
    files = len(sandbox.files)
    declined = [
        treasury.call(lambda ch: ch.create(charge(uuid.uuid4().hex[:24], **changes)))
        for changes in ({"scenario": Scenario.QR}, {"amount": Money(100, "USD")}, {"payer": {"creditor_name": "X"}})
    ]
    assert [d.code for d in declined] == ["SCENARIO_NOT_SUPPORTED", "CURRENCY_NOT_SUPPORTED", "INVALID_CREDITOR"]
    assert all(isinstance(d, Declined) for d in declined) and len(sandbox.files) == files
    unknown = uuid.uuid4().hex[:24]
    assert treasury.call(lambda ch: ch.query(unknown)).state == "not_found"
    treasury.call(lambda ch: ch.close(unknown))


def test_statement_in_camt053_and_mt940_shows_the_day_s_transfers(sandbox, treasury):
    batch_id = new_id()
    items = treasury.items(line("ST-1", "300.00"), line("ST-2", "45.67"), line("ST-3", "1.00", CLOSED_DOMESTIC))
    treasury.call(lambda ch: ch.submit_batch(batch_id, items, category_purpose="SALA"))
    treasury.settled_status(batch_id, items)
    day = treasury.channel.today()
    camt = treasury.call(lambda ch: ch.download_statement(day))
    mt940_config = sandbox.adapter_config().model_copy(update={"statement_format": "mt940"})
    mt940 = treasury.call(lambda ch: ch.download_statement(day), mt940_config)
    assert camt.startswith(b"<?xml") and mt940.startswith(b":20:STMT")
    in_camt, in_mt940 = treasury.channel.parse_statement(camt), treasury.channel.parse_statement(mt940)
    summary = lambda lines: {(l.payment_id, l.amount.amount_minor, l.channel_txn_id) for l in lines}  # noqa: E731
    assert summary(in_camt) == summary(in_mt940)
    ours = {l.payment_id: l for l in in_camt if l.payment_id.startswith("ST-")}
    assert {k: v.amount.amount_minor for k, v in ours.items()} == {"ST-1": 300_00, "ST-2": 45_67}
    assert ours["ST-1"].occurred_at.date() == day and ours["ST-1"].status == "BOOK"
    for raw in (camt, mt940):
        [statement] = read_statements(raw)
        booked = sum(e.amount.amount_minor for e in statement.entries)
        assert statement.opening_balance - statement.closing_balance == Money(booked, "CNY")
        assert statement.closing_balance == Money(sandbox.balance_minor, "CNY")


def test_statement_discrepancies_are_planted_with_their_ground_truth(sandbox, treasury):
    batch_id = new_id()
    items = treasury.items(*(line(f"DS-{n}", f"{n + 1}.00") for n in range(12)))
    treasury.call(lambda ch: ch.submit_batch(batch_id, items))
    treasury.settled_status(batch_id, items)
    sandbox.injector.configure(Faults(bill_discrepancy_rate=1.0, seed=11))
    day = treasury.channel.today()
    lines = treasury.channel.parse_statement(treasury.call(lambda ch: ch.download_statement(day)))
    planted = {p.order_no: p.kind for p in sandbox.planted[day]}
    assert set(planted.values()) == {"amount", "missing", "status", "phantom"}
    shown = {(l.kind, l.payment_id) for l in lines}
    for order_no, kind in planted.items():
        reference = order_no.split(":")[1]
        if kind == "missing":
            assert ("payment", reference) not in shown
        elif kind == "status":
            assert ("refund", reference) in shown  # booked, then returned
        else:
            assert ("payment", reference) in shown


def test_5xx_and_timeouts_leave_the_outcome_unknown_and_a_resend_is_safe(sandbox, treasury):
    sandbox.injector.configure(Faults(error_5xx_rate=1.0))
    items = treasury.items(line("F-1"))
    with pytest.raises(ChannelError) as unavailable:
        treasury.call(lambda ch: ch.submit_batch(new_id(), items))
    assert (unavailable.value.outcome_known, unavailable.value.code) == (False, "SERVICE_UNAVAILABLE")

    sandbox.injector.configure(Faults(timeout_rate=1.0))
    batch_id = new_id()
    hasty = sandbox.adapter_config().model_copy(update={"timeout_s": 0.5})
    with pytest.raises(ChannelError) as lost:
        treasury.call(lambda ch: ch.submit_batch(batch_id, items), hasty)
    assert (lost.value.outcome_known, lost.value.code) == (False, "timeout")
    sandbox.injector.configure(CALM)
    assert batch_id in sandbox.files  # processed; only the answer was lost
    resent = treasury.call(lambda ch: ch.submit_batch(batch_id, items))
    assert resent.duplicate and resent.file_id == sandbox.files[batch_id].file_id


def test_a_b2b_payment_resends_its_file_until_the_bank_answers(sandbox, treasury):
    sandbox.injector.configure(Faults(error_5xx_rate=0.5, seed=1))  # the first upload fails, the second passes
    payment_id = uuid.uuid4().hex[:24]
    assert isinstance(treasury.call(lambda ch: ch.create(charge(payment_id))), ChargeCreated)

    sandbox.injector.configure(Faults(timeout_rate=1.0))  # every answer lost: the outcome stays unknown
    lost_id = uuid.uuid4().hex[:24]
    hasty = sandbox.adapter_config().model_copy(update={"timeout_s": 0.3})
    with pytest.raises(ChannelError) as lost:
        treasury.call(lambda ch: ch.create(charge(lost_id)), hasty)
    assert lost.value.outcome_known is False
    sandbox.injector.configure(CALM)
    assert sum(1 for key in sandbox.book.orders if key.startswith(f"{lost_id}:")) == 1  # three uploads, one transfer
    assert treasury.call(lambda ch: ch.query(lost_id)).state in ("pending", "succeeded")


def test_an_unreachable_bank_or_an_unsigned_answer_is_a_channel_error(sandbox, treasury):
    gone = sandbox.adapter_config().model_copy(update={"base_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(ChannelError) as unreachable:
        treasury.call(lambda ch: ch.query("X"), gone)
    assert unreachable.value.outcome_known is True
    stranger = write_rsa_keypair(sandbox.customer_private_key_file.parent / "stranger", "stranger")[1]
    distrustful = sandbox.adapter_config().model_copy(update={"bank_public_key_file": stranger})
    with pytest.raises(ChannelError) as untrusted:
        treasury.call(lambda ch: ch.query("X"), distrustful)
    assert (untrusted.value.outcome_known, untrusted.value.code) == (False, "answer_signature")


def test_the_registry_builds_the_bank_channel_and_its_sandbox(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.CHANNELS, "bank", ("juhe.channels.bank", "BankChannel", "BankConfig", "BankSandbox"))
    running = registry.start_sandbox("bank", tmp_path)
    try:
        client = running.sandbox.client_config()
        assert {"base_url", "app_id", "app_private_key_file", "channel_public_key_file"} <= client.keys()
        live = running.sandbox.adapter_config().model_dump(mode="json")
        channel = registry.build_channel("bank", {k: str(v) for k, v in live.items()})
        assert asyncio.run(channel.query("nothing-here")).state == "not_found"
    finally:
        running.stop()
