"""Chargebacks from the POS acquirer's daily file, filed as fraud reports by the worker's intake:
the sandbox charges a stolen card's payment back a week later, a case about the goods is no fraud,
a case of an order Juhe never sent is counted as unknown, and a file read twice files each case once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from juhe.channels.base import ChargeRequest, Scenario
from juhe.channels.pos import signing, wire
from juhe.channels.pos.adapter import PosChannel, PosConfig
from juhe.channels.pos.sandbox import CHARGEBACK_DELAY_DAYS, TEST_CARDS
from juhe.channels.registry import start_sandbox
from juhe.channels.simkit import Faults
from juhe.money import Money

TERMINAL = "POS00001"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    running = start_sandbox("pos", tmp_path_factory.mktemp("pos"), Faults())
    yield running.sandbox
    running.stop()


def paid_at_the_acquirer(sandbox, channel: PosChannel, runner, card: str) -> str:
    order_no = uuid.uuid4().hex[:24]
    sealed = signing.seal_card(signing.load_key(sandbox.card_key_file, signing.CARD_KEY_BYTES), TEST_CARDS[card].track2,
                               TERMINAL)
    runner.run(channel.create(ChargeRequest(
        payment_id=order_no, amount=Money(8_800, "CNY"), scenario=Scenario.POS, subject="门店消费", notify_url="",
        expires_at=datetime.now(timezone.utc) + timedelta(minutes=5),
        payer={"terminal_id": TERMINAL, "card_block": sealed})))
    return order_no


def test_a_stolen_cards_payment_is_charged_back_a_week_later_and_filed_once_as_fraud(world, sandbox, runner):
    w = world
    channel = PosChannel(PosConfig.model_validate(sandbox.client_config() | {"timeout_s": 2.0}))
    today = wire.settlement_day(datetime.now(timezone.utc))
    stolen, goods, stranger = (paid_at_the_acquirer(sandbox, channel, runner, card) for card in ("stolen", "approve",
                                                                                                  "approve"))
    later = channel.parse_disputes(runner.run(channel.download_disputes(today + timedelta(days=CHARGEBACK_DELAY_DAYS))))
    assert [(d.payment_id, d.reason_code, d.fraud) for d in later] == [(stolen, "4515", True)]
    assert stolen not in {d.payment_id for d in channel.parse_disputes(runner.run(channel.download_disputes(today)))}
    stolen_payment, goods_payment = w.paid_through("pos", stolen), w.paid_through("pos", goods)
    sandbox.charge_back(stolen, "4515", today)  # the cardholder called sooner: the file of today
    sandbox.charge_back(goods, "4517", today)
    sandbox.charge_back(stranger, "4515", today)
    filed = w.file_disputes_twice(runner, "pos", channel, today)
    assert [(r.payment_id, r.verdict, r.source, r.reported_by, r.learned_on) for r in filed] == [
        (stolen_payment, "fraud", "chargeback", "channel:pos", today)]
    assert filed[0].external_id.startswith("pos:CB") and goods_payment not in {r.payment_id for r in filed}


def test_the_chargeback_file_is_the_merchants_own_and_names_known_reasons(sandbox, runner):
    wrong = PosChannel(PosConfig.model_validate(sandbox.client_config() | {"settlement_token": "not-the-token"}))
    with pytest.raises(Exception) as refused:
        runner.run(wrong.download_disputes(datetime.now(timezone.utc).date()))
    assert getattr(refused.value, "code", None) == "HTTP_401"
    with pytest.raises(ValueError):
        wire.parse_chargebacks(b"case_no,received_date,merchant_id,terminal_id,order_no,rrn,txn_time,amount_fen,"
                               b"currency,reason_code\nCB1,20260301,M,T,O,R,2026-03-01T10:00:00+08:00,100,CNY,9999\n")
    with pytest.raises(ValueError):
        sandbox.charge_back("no-such-order", "4515", datetime.now(timezone.utc).date())
