"""The POS acquirer link against its sandbox host: ISO 8583 over TCP on localhost.

Messages field by field, the adapter's Channel methods, the host's checks and faults, and
reversal on timeout proven at the host: the original reversed, the card's balance untouched.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from juhe.channels.base import (
    ChannelError,
    ChargeRequest,
    ChargeSucceeded,
    Declined,
    InvalidNotification,
    RefundRequest,
    Scenario,
)
from juhe.channels.pos import link, signing, wire
from juhe.channels.pos.adapter import PosChannel, PosConfig
from juhe.channels.pos.sandbox import LINK_TERMINAL, TEST_CARDS, PosSandbox
from juhe.channels.registry import start_sandbox
from juhe.channels.simkit import Faults, free_port
from juhe.money import Money

CALM = Faults()
TERMINAL = "POS00001"
NOW = datetime(2026, 3, 5, 6, 7, 8, tzinfo=timezone.utc)  # 14:07:08 in Beijing


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    running = start_sandbox("pos", tmp_path_factory.mktemp("pos"), CALM)
    yield running.sandbox
    running.stop()


@pytest.fixture(autouse=True)
def calm(sandbox):
    sandbox.injector.configure(CALM)
    yield
    sandbox.injector.configure(CALM)


@pytest.fixture(scope="module")
def runner():
    with asyncio.Runner() as runner:
        yield runner


@pytest.fixture
def channel(sandbox):
    return PosChannel(fast_config(sandbox))


def fast_config(sandbox: PosSandbox, **changes) -> PosConfig:
    return PosConfig.model_validate(sandbox.client_config() | {"timeout_s": 0.4, "repeat_attempts": 2, **changes})


def new_id() -> str:
    return uuid.uuid4().hex[:24]


def charge(sandbox: PosSandbox, payment_id: str, card: str = "approve", amount_minor: int = 1234) -> ChargeRequest:
    key = signing.load_key(sandbox.card_key_file, signing.CARD_KEY_BYTES)
    sealed = signing.seal_card(key, TEST_CARDS[card].track2, TERMINAL)
    return ChargeRequest(
        payment_id=payment_id, amount=Money(amount_minor, "CNY"), scenario=Scenario.POS, subject="门店消费",
        notify_url="", expires_at=datetime.now(timezone.utc) + timedelta(minutes=5),
        payer={"terminal_id": TERMINAL, "card_block": sealed},
    )  # fmt: skip


def refund_request(payment_id: str, refund_id: str, amount_minor: int) -> RefundRequest:
    return RefundRequest(payment_id, refund_id, Money(amount_minor, "CNY"), Money(1234, "CNY"), "退货", "")


def purchase_fields(order_no: str = "P1", card: str = "approve", amount_minor: int = 1234) -> wire.Fields:
    trace = wire.Trace.new(42, NOW)
    request = wire.card_request("0200", trace, TERMINAL, "898310058120001", amount_minor,
                                wire.card_of(TEST_CARDS[card].track2), "051", NOW)  # fmt: skip
    return request | {"48": wire.private_data(**{wire.ORDER_NO_TAG: order_no})}


def bitmap_fields(raw: bytes) -> set[int]:
    primary = int(raw[4:20], 16)
    found = {i + 1 for i in range(64) if primary & (1 << (63 - i))}
    if 1 in found:
        secondary = int(raw[20:36], 16)
        found |= {65 + i for i in range(64) if secondary & (1 << (63 - i))}
    return found - {1}


def host_client(sandbox: PosSandbox, mac_key: bytes | None = None) -> link.IsoClient:
    key = mac_key or signing.load_key(sandbox.mac_key_file, signing.MAC_KEY_BYTES)
    return link.IsoClient("127.0.0.1", sandbox.iso_port, key, 2.0)


def host_message(sandbox: PosSandbox, **fields: str) -> wire.Fields:
    trace = link.TraceNumbers().next(datetime.now(timezone.utc))
    base = wire.card_request("0200", trace, TERMINAL, sandbox.merchant_id, 500,
                             wire.card_of(TEST_CARDS["approve"].track2), "051", datetime.now(timezone.utc))  # fmt: skip
    message = base | {"48": wire.private_data(**{wire.ORDER_NO_TAG: new_id()})}
    return {k: v for k, v in (message | fields).items() if v != ""}


def sign_on(channel: PosChannel, runner: asyncio.Runner) -> None:
    """Any first exchange signs the link on; faults set afterwards meet the message under test."""
    runner.run(channel.query(new_id()))


async def until_booked(attempt: asyncio.Task, taken) -> None:
    while not taken() and not attempt.done():
        await asyncio.sleep(0.01)


def balances(sandbox: PosSandbox) -> dict[str, int]:
    return {name: sandbox.balance_minor(name) for name in TEST_CARDS if name != "bad_check_digit"}


# --- messages, field by field


def test_purchase_packs_field_by_field_with_its_mac_in_field_64():
    key = bytes(range(16))
    raw = wire.pack(purchase_fields(), key)
    assert raw[:4] == b"0200"
    assert bitmap_fields(raw) == {2, 3, 4, 7, 11, 12, 13, 22, 35, 41, 42, 48, 49, 64}
    fields = wire.unpack(raw)
    assert fields == purchase_fields() | {"t": "0200", "64": fields["64"]}
    assert fields["2"] == "6222020000000015" and fields["35"] == TEST_CARDS["approve"].track2
    assert fields["3"] == "000000" and fields["4"] == "000000001234" and fields["49"] == "156"
    assert fields["7"] == "0305060708"  # UTC, MMDDhhmmss
    assert (fields["12"], fields["13"]) == ("140708", "0305")  # Beijing local time and date
    assert fields["11"] == "000042" and fields["22"] == "051"
    assert (fields["41"], fields["42"]) == (TERMINAL, "898310058120001")
    assert fields["48"] == "0102P1" and wire.parse_private(fields["48"]) == {"01": "P1"}
    assert len(fields["64"]) == 16 and raw.endswith(fields["64"].encode())
    assert wire.mac_verifies(raw, fields, key)
    assert wire.problems(fields, wire.PURCHASE) == []


def test_a_changed_byte_or_another_key_breaks_the_mac():
    key = bytes(range(16))
    raw = wire.pack(purchase_fields(amount_minor=1234), key)
    tampered = raw.replace(b"000000001234", b"000000009234")
    assert not wire.mac_verifies(tampered, wire.unpack(tampered), key)
    assert not wire.mac_verifies(raw, wire.unpack(raw), bytes(16))


def test_reversal_names_its_original_in_field_90_and_carries_no_card_data():
    original = purchase_fields()
    reversal = wire.reversal_of(original, wire.Trace.new(43, NOW + timedelta(seconds=30)))
    raw = wire.pack(reversal, bytes(16))
    assert raw[:4] == b"0400"
    assert bitmap_fields(raw) == {3, 4, 7, 11, 41, 42, 48, 49, 90, 128}  # a secondary bitmap, so the MAC is 128
    fields = wire.unpack(raw)
    assert fields["90"] == "0200" + "000042" + "0305060708" + "0" * 22
    assert wire.original_trace(fields["90"]) == ("0200", "000042", "0305060708")
    assert (fields["11"], fields["4"], fields["3"]) == ("000043", "000000001234", "000000")
    assert wire.problems(fields, wire.REVERSAL) == []
    assert wire.repeat_of(reversal, NOW)["t"] == "0401"


def test_answers_echo_the_trace_and_never_the_card():
    answer = wire.answer_to(purchase_fields() | {"t": "0200"}, "00", {"37": "260305000001", "38": "123456"})
    assert answer["t"] == "0210" and answer["39"] == "00" and answer["11"] == "000042"
    assert "2" not in answer and "35" not in answer
    assert wire.answer_mti("0221") == "0230" and wire.answer_mti("0401") == "0410"


def test_field_rules_name_every_broken_rule_without_quoting_values():
    fields = purchase_fields() | {"t": "0200"}
    missing = {k: v for k, v in fields.items() if k not in ("11", "35")} | {"70": "301"}
    assert wire.problems(missing, wire.PURCHASE) == ["field 11 missing", "field 35 missing", "field 70 not allowed"]
    assert wire.problems(fields | {"4": "00000000012A"}, wire.PURCHASE) == ["field 4 malformed"]
    assert wire.problems(fields | {"4": "0" * 12}, wire.PURCHASE) == ["field 4 is zero"]
    assert wire.problems(fields | {"49": "840"}, wire.PURCHASE) == ["field 49 is not 156 (CNY)"]
    assert wire.problems(fields | {"2": "6222020000000023"}, wire.PURCHASE) == ["fields 2 and 35 differ"]
    assert wire.problems(fields | {"13": "0230"}, wire.PURCHASE) == ["field 13 is no valid time"]
    assert wire.problems(fields | {"48": "0199x"}, wire.PURCHASE) == ["field 48 not TLV"]
    for problem in wire.problems(fields | {"2": "6222020000000023", "4": "0" * 12}, wire.PURCHASE):
        assert "6222" not in problem


def test_garbage_and_unknown_fields_do_not_decode():
    with pytest.raises(wire.MessageError, match="cannot decode"):
        wire.unpack(b"\x00\xffgarbage")
    with pytest.raises(wire.MessageError, match="field 53 is not in our specification"):
        wire.unpack(b"0200" + b"0000000000000800" + b"1234567890123456")


def test_settlement_file_parses_to_statement_lines():
    raw = wire.write_settlement([
        {"settle_date": "20260305", "merchant_id": "898310058120001", "terminal_id": TERMINAL, "txn_type": "PURCHASE",
         "order_no": "P1", "original_order_no": "", "rrn": "260305000001", "auth_code": "123456",
         "txn_time": "2026-03-05T14:07:08+08:00", "card": "622202******0015", "amount_fen": "1234", "fee_fen": "7",
         "currency": "CNY", "status": "SETTLED"},
        {"settle_date": "20260305", "merchant_id": "898310058120001", "terminal_id": TERMINAL, "txn_type": "REFUND",
         "order_no": "R1", "original_order_no": "P1", "rrn": "260305000002", "auth_code": "",
         "txn_time": "2026-03-05T15:00:00+08:00", "card": "622202******0015", "amount_fen": "234", "fee_fen": "0",
         "currency": "CNY", "status": "SETTLED"},
    ])  # fmt: skip
    payment, refund = wire.parse_settlement(raw)
    assert (payment.kind, payment.payment_id, payment.refund_id, payment.amount, payment.fee) == (
        "payment", "P1", None, Money(1234, "CNY"), Money(7, "CNY"))  # fmt: skip
    assert (refund.kind, refund.payment_id, refund.refund_id, refund.channel_txn_id) == ("refund", "P1", "R1", "260305000002")


# --- the Channel interface against the host


def test_approved_purchase_moves_the_money_once(sandbox, channel, runner):
    before = sandbox.balance_minor("approve")
    payment_id = new_id()
    result = runner.run(channel.create(charge(sandbox, payment_id)))
    assert isinstance(result, ChargeSucceeded)
    status = result.status
    assert (status.payment_id, status.state, status.amount) == (payment_id, "succeeded", Money(1234, "CNY"))
    assert len(status.channel_txn_id) == 12  # the retrieval reference number
    order = sandbox.book.get(payment_id)
    assert (order.state, order.amount_minor, order.payer_id) == ("succeeded", 1234, "622202******0015")
    assert sandbox.balance_minor("approve") == before - 1234
    assert sandbox.merchant_id in sandbox.signed_on  # signed on before the first financial message


@pytest.mark.parametrize(("card", "code"), [("low_balance", "51"), ("do_not_honour", "05"), ("expired", "54"),
                                            ("bad_check_digit", "14")])  # fmt: skip
def test_card_declines_are_declined_and_charge_nothing(sandbox, channel, runner, card, code):
    before = balances(sandbox)
    result = runner.run(channel.create(charge(sandbox, new_id(), card, amount_minor=20_000)))
    assert isinstance(result, Declined) and result.code == code
    assert balances(sandbox) == before


def test_issuer_declines_at_the_fault_rate(sandbox, channel, runner):
    sandbox.injector.configure(Faults(decline_rate=1.0))
    result = runner.run(channel.create(charge(sandbox, new_id())))
    assert result == Declined("05", "do not honour")


def test_a_tampered_or_misaddressed_card_block_is_declined_before_any_message(sandbox, channel, runner):
    request = charge(sandbox, new_id())
    block = request.payer["card_block"]
    tampered = replace(request, payer={**request.payer, "card_block": block[:-4] + ("AAAA" if block[-4:] != "AAAA" else "BBBB")})
    misaddressed = replace(request, payer={**request.payer, "terminal_id": "POS00002"})  # sealed for POS00001
    for bad in (tampered, misaddressed):
        result = runner.run(channel.create(bad))
        assert isinstance(result, Declined) and result.code == "card_block_invalid"
        assert "6222" not in result.message
    assert sandbox.book.get(request.payment_id) is None


@pytest.mark.parametrize(("change", "code"), [
    ({"amount": Money(100, "USD")}, "currency_not_supported"),
    ({"scenario": Scenario.QR}, "scenario_not_supported"),
    ({"payer": {"terminal_id": TERMINAL}}, "card_not_present"),
    ({"payer": {"terminal_id": TERMINAL, "card_block": "x", "entry_mode": "999"}}, "entry_mode_unknown"),
    ({"payer": {"terminal_id": "POS-0001", "card_block": "x"}}, "terminal_id_invalid"),
])  # fmt: skip
def test_requests_the_acquirer_cannot_take_are_declined_locally(sandbox, channel, runner, change, code):
    request = replace(charge(sandbox, new_id()), **change)
    result = runner.run(channel.create(request))
    assert isinstance(result, Declined) and result.code == code


def test_query_reports_each_state(sandbox, channel, runner):
    paid, declined = new_id(), new_id()
    runner.run(channel.create(charge(sandbox, paid)))
    runner.run(channel.create(charge(sandbox, declined, "do_not_honour")))
    status = runner.run(channel.query(paid))
    assert (status.state, status.amount, status.channel_txn_id) == ("succeeded", Money(1234, "CNY"), sandbox.book.get(paid).channel_txn_id)
    assert abs(status.paid_at - datetime.now(timezone.utc)) < timedelta(seconds=5)
    failed = runner.run(channel.query(declined))
    assert (failed.state, failed.failure_code) == ("failed", "05")
    assert runner.run(channel.query(new_id())).state == "not_found"


def test_close_refuses_an_approved_payment_and_accepts_the_rest(sandbox, channel, runner):
    paid = new_id()
    runner.run(channel.create(charge(sandbox, paid)))
    with pytest.raises(ChannelError) as error:
        runner.run(channel.close(paid))
    assert error.value.code == "already_approved" and error.value.outcome_known
    runner.run(channel.close(new_id()))  # never sent: nothing to close


def test_full_and_partial_refunds_never_above_what_is_left(sandbox, channel, runner):
    paid = new_id()
    runner.run(channel.create(charge(sandbox, paid)))
    before = sandbox.balance_minor("approve")
    first = runner.run(channel.refund(refund_request(paid, "R" + new_id(), 1000)))
    assert (first.state, first.amount) == ("succeeded", Money(1000, "CNY")) and len(first.channel_refund_id) == 12
    too_much = runner.run(channel.refund(refund_request(paid, "R" + new_id(), 235)))
    assert (too_much.state, too_much.failure_code) == ("failed", "13")
    rest = runner.run(channel.refund(refund_request(paid, "R" + new_id(), 234)))
    assert rest.state == "succeeded"
    assert sandbox.balance_minor("approve") == before + 1234
    again = runner.run(channel.refund(refund_request(paid, first.refund_id, 1000)))  # the same refund number: once
    assert again.channel_refund_id == first.channel_refund_id and sandbox.balance_minor("approve") == before + 1234
    found = runner.run(channel.query_refund(paid, first.refund_id))
    assert (found.state, found.amount, found.channel_refund_id) == ("succeeded", Money(1000, "CNY"), first.channel_refund_id)
    assert runner.run(channel.query_refund(paid, "R" + new_id())).state == "not_found"
    with pytest.raises(ChannelError):
        runner.run(channel.query_refund(new_id(), first.refund_id))
    unknown = runner.run(channel.refund(refund_request(new_id(), "R" + new_id(), 100)))
    assert (unknown.state, unknown.failure_code) == ("failed", "25")


def test_settlement_file_lists_the_day_and_plants_discrepancies_on_request(sandbox, channel, runner):
    paid = new_id()
    runner.run(channel.create(charge(sandbox, paid, amount_minor=10_000)))
    runner.run(channel.refund(refund_request(paid, "R" + new_id(), 1_000)))
    today = wire.settlement_day(datetime.now(timezone.utc))
    lines = channel.parse_statement(runner.run(channel.download_statement(today)))
    payment = next(line for line in lines if line.payment_id == paid and line.kind == "payment")
    assert (payment.amount, payment.fee, payment.status) == (Money(10_000, "CNY"), Money(60, "CNY"), "SETTLED")
    assert any(line.kind == "refund" and line.payment_id == paid for line in lines)
    sandbox.injector.configure(Faults(bill_discrepancy_rate=1.0, seed=7))
    altered = channel.parse_statement(runner.run(channel.download_statement(today)))
    assert sandbox.planted[today] and altered != lines
    wrong = PosChannel(fast_config(sandbox, settlement_token="not-the-token"))
    with pytest.raises(ChannelError) as error:
        runner.run(wrong.download_statement(today))
    assert error.value.code == "HTTP_401"


def test_there_are_no_notifications_to_verify(channel):
    with pytest.raises(InvalidNotification):
        channel.verify_notification({}, b"{}")
    assert channel.ack(True).status_code == 204


# --- reversal on timeout, proven at the host


def test_no_answer_in_time_reverses_the_purchase_and_nothing_is_charged(sandbox, channel, runner):
    sign_on(channel, runner)
    before = sandbox.balance_minor("approve")
    payment_id = new_id()

    async def purchase_while_the_host_goes_quiet():
        sandbox.injector.configure(Faults(timeout_rate=1.0))
        attempt = asyncio.create_task(channel.create(charge(sandbox, payment_id)))
        await until_booked(attempt, lambda: sandbox.book.get(payment_id))  # taken, never answered
        sandbox.injector.configure(CALM)  # the reversal gets through
        return await attempt

    with pytest.raises(ChannelError) as error:
        runner.run(purchase_while_the_host_goes_quiet())
    assert error.value.code == "reversed_after_timeout" and error.value.outcome_known
    order = sandbox.book.get(payment_id)
    assert order.state == "closed" and order.channel_txn_id  # approved at the host, then reversed
    assert sandbox.balance_minor("approve") == before  # no net charge
    assert runner.run(channel.query(payment_id)).state == "closed"
    assert len(channel.link.outbox) == 0


def test_an_unacknowledged_reversal_waits_in_the_outbox_until_it_lands(sandbox, tmp_path, runner):
    channel = PosChannel(fast_config(sandbox, timeout_s=0.3, outbox_file=tmp_path / "outbox.json"))
    sign_on(channel, runner)
    before = sandbox.balance_minor("approve")
    payment_id = new_id()

    async def purchase_then_refuse_the_reversals():
        sandbox.injector.configure(Faults(timeout_rate=1.0))
        attempt = asyncio.create_task(channel.create(charge(sandbox, payment_id)))
        await until_booked(attempt, lambda: sandbox.book.get(payment_id))
        sandbox.injector.configure(Faults(error_5xx_rate=1.0))  # every reversal answered 96: not acknowledged
        return await attempt

    with pytest.raises(ChannelError):
        runner.run(purchase_then_refuse_the_reversals())
    assert payment_id in channel.link.outbox and sandbox.book.get(payment_id).state == "succeeded"
    assert runner.run(channel.query(payment_id)).state == "pending"  # still on its way, never succeeded
    with pytest.raises(ChannelError) as error:
        runner.run(channel.close(payment_id))
    assert error.value.code == "reversal_pending" and not error.value.outcome_known
    restarted = PosChannel(fast_config(sandbox, outbox_file=tmp_path / "outbox.json"))  # the file carries it over
    assert payment_id in restarted.link.outbox
    sandbox.injector.configure(CALM)
    assert runner.run(restarted.query(payment_id)).state == "closed"
    runner.run(restarted.close(payment_id))
    assert sandbox.balance_minor("approve") == before
    assert len(restarted.link.outbox) == 0
    assert "6222" not in (tmp_path / "outbox.json").read_text()


def test_a_refund_without_answer_is_reversed_and_reported_failed(sandbox, channel, runner):
    paid = new_id()
    runner.run(channel.create(charge(sandbox, paid)))
    refund_id = "R" + new_id()

    async def refund_while_the_host_goes_quiet():
        sandbox.injector.configure(Faults(timeout_rate=1.0))
        attempt = asyncio.create_task(channel.refund(refund_request(paid, refund_id, 500)))
        await until_booked(attempt, lambda: refund_id in sandbox.book.get(paid).refunds)
        sandbox.injector.configure(CALM)
        return await attempt

    status = runner.run(refund_while_the_host_goes_quiet())
    assert (status.state, status.failure_code) == ("failed", "reversed_after_timeout")
    assert sandbox.book.get(paid).refunds[refund_id].state == "failed"
    assert runner.run(channel.query_refund(paid, refund_id)).state == "failed"


def test_a_duplicated_answer_is_taken_once(sandbox, channel, runner):
    sandbox.injector.configure(Faults(duplicate_notify_rate=1.0))
    first, second = new_id(), new_id()
    assert isinstance(runner.run(channel.create(charge(sandbox, first))), ChargeSucceeded)
    assert isinstance(runner.run(channel.create(charge(sandbox, second, "low_balance", 20_000))), Declined)
    assert sandbox.book.get(first).state == "succeeded" and sandbox.book.get(second).state == "failed"


def test_latency_within_the_timeout_is_only_slow(sandbox, channel, runner):
    sandbox.injector.configure(Faults(latency_ms=100))
    assert isinstance(runner.run(channel.create(charge(sandbox, new_id()))), ChargeSucceeded)


def test_a_lost_answer_is_reversed_like_a_timeout(sandbox, channel, runner):
    sign_on(channel, runner)
    before = sandbox.balance_minor("approve")
    payment_id = new_id()

    async def purchase_with_lost_answer():
        sandbox.injector.configure(Faults(lost_notify_rate=1.0))
        attempt = asyncio.create_task(channel.create(charge(sandbox, payment_id)))
        await until_booked(attempt, lambda: sandbox.book.get(payment_id))
        sandbox.injector.configure(CALM)
        return await attempt

    with pytest.raises(ChannelError):
        runner.run(purchase_with_lost_answer())
    assert sandbox.book.get(payment_id).state == "closed" and sandbox.balance_minor("approve") == before


def test_host_malfunction_is_a_known_failure_and_books_nothing(sandbox, channel, runner):
    sign_on(channel, runner)
    sandbox.injector.configure(Faults(error_5xx_rate=1.0))
    payment_id = new_id()
    with pytest.raises(ChannelError) as error:
        runner.run(channel.create(charge(sandbox, payment_id)))
    assert error.value.code == "96" and error.value.outcome_known
    assert sandbox.book.get(payment_id) is None


def test_an_unreachable_host_is_a_known_failure(sandbox, runner):
    channel = PosChannel(fast_config(sandbox, port=free_port()))
    with pytest.raises(ChannelError) as error:
        runner.run(channel.create(charge(sandbox, new_id())))
    assert error.value.outcome_known and error.value.code == "not_sent"


def test_no_new_transaction_while_too_many_reversals_wait(sandbox, runner):
    channel = PosChannel(fast_config(sandbox, port=free_port()))  # the host is down
    for i in range(link.OUTBOX_MAX):
        channel.link.outbox.add(f"P{i}", {"t": "0400", "11": f"{i:06d}", "41": TERMINAL})
    with pytest.raises(ChannelError) as error:
        runner.run(channel.create(charge(sandbox, new_id())))
    assert "100 reversals and advices still undelivered" in str(error.value) and error.value.outcome_known


def test_a_wrong_mac_key_is_refused_at_sign_on(sandbox, tmp_path, runner):
    other_key = signing.write_key(tmp_path / "other.hex", signing.MAC_KEY_BYTES)
    channel = PosChannel(fast_config(sandbox, mac_key_file=other_key))
    payment_id = new_id()
    with pytest.raises(ChannelError) as error:
        runner.run(channel.create(charge(sandbox, payment_id)))
    assert error.value.code == "A0" and error.value.outcome_known
    assert sandbox.book.get(payment_id) is None


def test_a_host_that_restarted_is_signed_on_again(sandbox, channel, runner):
    runner.run(channel.create(charge(sandbox, new_id())))
    sandbox.signed_on.clear()  # the host forgot us: it answers 77 until we sign on
    assert isinstance(runner.run(channel.create(charge(sandbox, new_id()))), ChargeSucceeded)
    assert sandbox.merchant_id in sandbox.signed_on


# --- the host's own checks: clear errors, nothing changed


@pytest.mark.parametrize(("fields", "code", "reason"), [
    ({"49": "840"}, "30", "field 49 is not 156 (CNY)"),
    ({"35": ""}, "30", "field 35 missing"),
    ({"48": ""}, "30", "field 48 tag 01 missing"),
    ({"42": "898310058129999"}, "03", "invalid merchant"),
    ({"41": "POS09999"}, "97", "terminal not registered"),
    ({"3": "310000"}, "12", "message not supported"),
])  # fmt: skip
def test_the_host_refuses_bad_messages_and_changes_nothing(sandbox, channel, runner, fields, code, reason):
    sign_on(channel, runner)
    before, orders = balances(sandbox), len(sandbox.book.orders)
    message = host_message(sandbox, **fields)
    answer = runner.run(host_client(sandbox).exchange(message))
    assert (answer["t"], answer["39"], answer["44"]) == ("0210", code, reason)
    assert "2" not in answer and "35" not in answer
    assert balances(sandbox) == before and len(sandbox.book.orders) == orders


def test_the_host_answers_a_bad_mac_with_a0(sandbox, runner):
    answer_error = None
    try:
        runner.run(host_client(sandbox, mac_key=bytes(16)).exchange(host_message(sandbox)))
    except link.LinkError as e:
        answer_error = e
    assert answer_error is not None and answer_error.code == "A0"


@pytest.mark.parametrize("garbage", [b"\x00\x0bhello world", b"\x00\x04\x00\xff\xfe\x01", b"\xff\xffxx", b"\x00\x00"])
def test_garbage_bytes_close_the_connection_and_change_nothing(sandbox, runner, garbage):
    before, orders = balances(sandbox), len(sandbox.book.orders)

    async def send():
        reader, writer = await asyncio.open_connection("127.0.0.1", sandbox.iso_port)
        writer.write(garbage)
        await writer.drain()
        closed = await asyncio.wait_for(reader.read(), 2.0)
        writer.close()
        return closed

    assert runner.run(send()) == b""  # no answer: the host hung up
    assert balances(sandbox) == before and len(sandbox.book.orders) == orders


def test_a_reversal_is_idempotent_and_one_for_an_unknown_original_is_still_acknowledged(sandbox, channel, runner):
    sign_on(channel, runner)
    client = host_client(sandbox)
    message = host_message(sandbox)
    before = sandbox.balance_minor("approve")
    assert runner.run(client.exchange(message))["39"] == "00"
    reversal = wire.reversal_of(message, link.TraceNumbers().next(datetime.now(timezone.utc)))
    assert runner.run(client.exchange(reversal))["39"] == "00"
    assert runner.run(client.exchange(wire.repeat_of(reversal, datetime.now(timezone.utc))))["39"] == "00"
    assert sandbox.balance_minor("approve") == before
    early = host_message(sandbox)
    early_reversal = wire.reversal_of(early, link.TraceNumbers().next(datetime.now(timezone.utc)))
    assert runner.run(client.exchange(early_reversal))["39"] == "25"  # acknowledged: nothing to undo yet
    assert runner.run(client.exchange(early))["39"] == "12"  # the original, arriving late, is refused
    assert sandbox.balance_minor("approve") == before


def test_control_endpoints_serve_faults(sandbox):
    answer = httpx.get(f"{sandbox.base_url}/sandbox/faults")
    assert answer.status_code == 200 and answer.json()["timeout_rate"] == 0
    assert sandbox.client_config()["terminal_id"] == LINK_TERMINAL
