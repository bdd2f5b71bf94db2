"""Wallet disputes: WeChat Pay's complaints (消费者投诉 2.0) through its adapter, filed as fraud reports by
the worker's intake. The sandbox complains about a taken-over account's payment a week later; a
complaint asking for a refund of the goods is no fraud; a complaint of an order Juhe never sent is
counted as unknown; read twice, each case is filed once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from juhe.channels.base import ChannelError, ChargeRequest, Scenario
from juhe.channels.registry import start_sandbox
from juhe.channels.simkit import Faults
from juhe.channels.wechatpay import wire
from juhe.channels.wechatpay.adapter import WechatPayChannel
from juhe.channels.wechatpay.sandbox import COMPLAINT_DELAY_DAYS, STOLEN_PAYER
from juhe.money import Money


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    running = start_sandbox("wechatpay", tmp_path_factory.mktemp("wechatpay"), Faults())
    yield running.sandbox
    running.stop()


def paid_at_wechat(sandbox, channel: WechatPayChannel, runner, payer: str = "sandbox-payer") -> str:
    order_no = uuid.uuid4().hex[:24]
    runner.run(channel.create(ChargeRequest(
        payment_id=order_no, amount=Money(6_600, "CNY"), scenario=Scenario.QR, subject="扫码点餐", notify_url="http://127.0.0.1:9/wechatpay",
        expires_at=datetime.now(timezone.utc) + timedelta(minutes=5))))
    paid = httpx.post(f"{sandbox.base_url}/sandbox/pay/{order_no}", json={"payer_id": payer}, timeout=5)
    assert paid.json()["state"] == "succeeded"
    return order_no


def test_a_taken_over_accounts_payment_is_complained_about_a_week_later_and_filed_once_as_fraud(world, sandbox, runner):
    w = world
    channel = WechatPayChannel(sandbox.adapter_config())
    today = wire.beijing(datetime.now(timezone.utc)).date()
    stolen = paid_at_wechat(sandbox, channel, runner, STOLEN_PAYER)
    goods, stranger = paid_at_wechat(sandbox, channel, runner), paid_at_wechat(sandbox, channel, runner)
    later = channel.parse_disputes(runner.run(channel.download_disputes(today + timedelta(days=COMPLAINT_DELAY_DAYS))))
    assert [(d.payment_id, d.reason_code, d.fraud, d.kind) for d in later] == [(stolen, "OTHERS", True, "dispute")]
    assert later[0].amount == Money(6_600, "CNY") and later[0].dispute_id.endswith("-1")
    assert runner.run(channel.download_disputes(today)) and not channel.parse_disputes(
        runner.run(channel.download_disputes(today)))

    stolen_payment, goods_payment = w.paid_through("wechatpay", stolen), w.paid_through("wechatpay", goods)
    sandbox.complain(stolen, "OTHERS", "账户被盗，非本人支付", today)  # the owner noticed sooner
    sandbox.complain(goods, "REFUND", "商品未收到，申请退款", today)
    sandbox.complain(stranger, "OTHERS", "被盗刷", today)
    filed = w.file_disputes_twice(runner, "wechatpay", channel, today)
    mine = [(r.payment_id, r.verdict, r.source, r.reported_by, r.learned_on) for r in filed if r.payment_id == stolen_payment]
    assert mine == [(stolen_payment, "fraud", "dispute", "channel:wechatpay", today)]
    assert goods_payment not in {r.payment_id for r in filed}


def test_complaint_queries_are_signed_paged_and_checked(sandbox, runner):
    channel = WechatPayChannel(sandbox.adapter_config())
    day = (datetime.now(timezone.utc) + timedelta(days=40)).date()
    orders = [paid_at_wechat(sandbox, channel, runner) for _ in range(3)]
    for order_no in orders * 20:  # 60 complaints that day: two pages of at most 50
        sandbox.complain(order_no, "SERVICE_NOT_WORK", "会员权益没有生效", day)
    disputes = channel.parse_disputes(runner.run(channel.download_disputes(day)))
    assert len(disputes) == 60 and len({d.dispute_id for d in disputes}) == 60 and not any(d.fraud for d in disputes)
    forged = WechatPayChannel(sandbox.adapter_config().model_copy(update={"merchant_serial_no": "0" * 40}))
    with pytest.raises(ChannelError) as refused:
        runner.run(forged.download_disputes(day))
    assert refused.value.code == "SIGN_ERROR"
    with pytest.raises(ValueError):
        wire.parse_complaints(b'{"data": [{"complaint_id": "1"}]}')
    with pytest.raises(ValueError):
        sandbox.complain("no-such-order", "OTHERS", "非本人", day)
