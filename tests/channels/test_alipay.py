"""The Alipay adapter against the Alipay sandbox, both speaking the OpenAPI gateway protocol."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from juhe.channels.alipay import signing, wire
from juhe.channels.alipay.adapter import AlipayChannel
from juhe.channels.alipay.sandbox import AlipaySandbox, service_fee_minor
from juhe.channels.base import (
    ChannelError,
    ChargeRequest,
    Declined,
    InvalidNotification,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    Scenario,
)
from juhe.channels.simkit import Faults, ServerThread, free_port, write_rsa_keypair
from juhe.money import Money


class Receiver:
    """Our notify_url: verifies with the adapter and answers with its ack."""

    def __init__(self, channel: AlipayChannel):
        self.bodies: list[bytes] = []
        self.refuse: dict[str, int] = {}  # out_trade_no → how many more deliveries to refuse
        self.app = FastAPI()

        @self.app.post("/notify")
        async def notify(request: Request) -> Response:
            body = await request.body()
            self.bodies.append(body)
            order_no = dict(parse_qsl(body.decode())).get("out_trade_no", "")
            try:
                channel.verify_notification(request.headers, body)
                accepted = self.refuse.get(order_no, 0) == 0
            except InvalidNotification:
                accepted = False
            self.refuse[order_no] = max(self.refuse.get(order_no, 0) - 1, 0)
            ack = channel.ack(accepted)
            return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)

    def of(self, order_no: str) -> list[bytes]:
        return [b for b in self.bodies if dict(parse_qsl(b.decode())).get("out_trade_no") == order_no]

    def wait_for(self, order_no: str, count: int = 1, timeout_s: float = 3.0) -> list[bytes]:
        deadline = time.monotonic() + timeout_s
        while len(self.of(order_no)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.of(order_no)


@dataclass
class Env:
    sandbox: AlipaySandbox
    receiver: Receiver
    notify_url: str
    verifier: AlipayChannel


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    port = free_port()
    sandbox = AlipaySandbox(tmp_path_factory.mktemp("alipay"), f"http://127.0.0.1:{port}")
    verifier = AlipayChannel(sandbox.adapter_config())
    receiver = Receiver(verifier)
    with ServerThread(sandbox.app, port=port) as server, ServerThread(receiver.app) as notify_server:
        yield Env(sandbox, receiver, f"{notify_server.base_url}/notify", verifier)
        server.server.force_exit = True  # a timeout fault leaves a request hanging; don't wait for it


@pytest.fixture(autouse=True)
def calm(env):
    env.sandbox.injector.configure(Faults())
    yield
    env.sandbox.injector.configure(Faults())


WEB = httpx.Client()  # the payer's browser and the test's direct calls
_channels: dict[tuple, AlipayChannel] = {}


def run(env: Env, work, **config):
    """Run `work(channel)` on a channel configured for the sandbox, with `config` overrides."""
    key = tuple(sorted(config.items()))
    if key not in _channels:
        # No kept-alive connections: each test's asyncio.run has its own event loop.
        http = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))
        _channels[key] = AlipayChannel(env.sandbox.adapter_config().model_copy(update=config), http)
    return asyncio.run(work(_channels[key]))


def charge(env: Env, scenario=Scenario.QR, amount_minor=10_000, expires_in=timedelta(minutes=30)) -> ChargeRequest:
    return ChargeRequest(
        payment_id=f"P{uuid.uuid4().hex[:24]}",
        amount=Money(amount_minor, "CNY"),
        scenario=scenario,
        subject="沙箱测试商品",
        notify_url=env.notify_url,
        expires_at=datetime.now(timezone.utc) + expires_in,
    )


def refund_of(request: ChargeRequest, refund_id: str, amount_minor: int) -> RefundRequest:
    return RefundRequest(
        payment_id=request.payment_id,
        refund_id=refund_id,
        amount=Money(amount_minor, "CNY"),
        payment_total=request.amount,
        reason="customer returned goods",
        notify_url=request.notify_url,
    )


def pay(env: Env, payment_id: str, outcome: str = "success") -> dict:
    response = WEB.post(f"{env.sandbox.base_url}/sandbox/pay/{payment_id}", json={"outcome": outcome})
    return response.json()


def paid_qr(env: Env, amount_minor: int = 10_000) -> ChargeRequest:
    request = charge(env, amount_minor=amount_minor)
    run(env, lambda ch: ch.create(request))
    pay(env, request.payment_id)
    env.receiver.wait_for(request.payment_id)
    return request


def test_qr_payment_is_notified_signed_and_ack_stops_retries(env):
    request = charge(env)
    created = run(env, lambda ch: ch.create(request))
    assert created.action.kind == "qr" and created.action.qr_content.startswith(f"{env.sandbox.base_url}/qr/")
    page = WEB.get(created.action.qr_content)
    assert page.status_code == 200 and f"/sandbox/pay/{request.payment_id}" in page.text

    pay(env, request.payment_id)
    [body] = env.receiver.wait_for(request.payment_id)
    status = env.verifier.verify_notification({}, body)
    assert status == PaymentStatus(
        request.payment_id, "succeeded", Money(10_000, "CNY"), status.channel_txn_id, status.paid_at
    )
    time.sleep(0.3)  # past the first retry (240 s × 0.001)
    attempts = [s for url, s in env.sandbox.notifier.delivered if url == env.notify_url]
    assert len(env.receiver.of(request.payment_id)) == 1 and 200 in attempts

    queried = run(env, lambda ch: ch.query(request.payment_id))
    assert queried.state == "succeeded" and queried.amount == Money(10_000, "CNY")
    assert queried.channel_txn_id == status.channel_txn_id and queried.paid_at is not None


@pytest.mark.parametrize("scenario", [Scenario.WEB, Scenario.WAP, Scenario.APP])
def test_signed_order_opened_by_payer_books_the_trade(env, scenario):
    request = charge(env, scenario)
    created = run(env, lambda ch: ch.create(request))
    assert run(env, lambda ch: ch.query(request.payment_id)).state == "not_found"  # not opened yet
    if scenario == Scenario.APP:
        # the wallet app submits the order string to the gateway
        url = f"{env.sandbox.gateway_url}?{created.action.app_params['order_string']}"
    else:
        url = created.action.redirect_url
    page = WEB.get(url)
    assert page.status_code == 200 and f"/sandbox/pay/{request.payment_id}" in page.text
    assert run(env, lambda ch: ch.query(request.payment_id)).state == "pending"
    pay(env, request.payment_id)
    assert env.receiver.wait_for(request.payment_id)
    assert run(env, lambda ch: ch.query(request.payment_id)).state == "succeeded"


def test_close_pending_trade_then_payer_cannot_pay(env):
    request = charge(env)
    run(env, lambda ch: ch.create(request))
    run(env, lambda ch: ch.close(request.payment_id))
    assert run(env, lambda ch: ch.query(request.payment_id)).state == "closed"
    assert pay(env, request.payment_id)["state"] == "closed"


def test_close_of_paid_trade_is_refused(env):
    request = paid_qr(env)
    with pytest.raises(ChannelError) as error:
        run(env, lambda ch: ch.close(request.payment_id))
    assert error.value.code == "ACQ.TRADE_STATUS_ERROR" and error.value.outcome_known


def test_trade_past_time_expire_is_closed(env):
    request = charge(env, expires_in=timedelta(seconds=-1))
    run(env, lambda ch: ch.create(request))
    assert run(env, lambda ch: ch.query(request.payment_id)).state == "closed"


def test_declined_payer_closes_trade_without_notification(env):
    request = charge(env)
    run(env, lambda ch: ch.create(request))
    pay(env, request.payment_id, outcome="decline")
    assert run(env, lambda ch: ch.query(request.payment_id)).state == "closed"
    assert env.receiver.wait_for(request.payment_id, timeout_s=0.3) == []


def test_partial_then_full_refund_notified_and_queryable(env):
    request = paid_qr(env)
    first = run(env, lambda ch: ch.refund(refund_of(request, f"{request.payment_id}R1", 3_000)))
    assert (first.state, first.amount) == ("succeeded", Money(3_000, "CNY"))
    bodies = env.receiver.wait_for(request.payment_id, count=2)
    assert env.verifier.verify_notification({}, bodies[1]) == RefundStatus(
        f"{request.payment_id}R1", request.payment_id, "succeeded"
    )
    queried = run(env, lambda ch: ch.query_refund(request.payment_id, f"{request.payment_id}R1"))
    assert (queried.state, queried.amount) == ("succeeded", Money(3_000, "CNY"))

    rest = run(env, lambda ch: ch.refund(refund_of(request, f"{request.payment_id}R2", 7_000)))
    assert rest.state == "succeeded"
    closing = dict(parse_qsl(env.receiver.wait_for(request.payment_id, count=3)[2].decode()))
    assert (closing["trade_status"], closing["refund_fee"]) == ("TRADE_CLOSED", "100.00")
    # the trade is closed by the full refund, yet the payment did succeed
    assert run(env, lambda ch: ch.query(request.payment_id)).state == "succeeded"

    again = run(env, lambda ch: ch.refund(refund_of(request, f"{request.payment_id}R1", 3_000)))
    assert (again.state, again.amount) == ("succeeded", Money(3_000, "CNY"))
    unknown = run(env, lambda ch: ch.query_refund(request.payment_id, "NOSUCHREFUND"))
    assert unknown.state == "not_found"


def test_refund_above_remaining_amount_is_refused(env):
    request = paid_qr(env)
    run(env, lambda ch: ch.refund(refund_of(request, f"{request.payment_id}R1", 3_000)))
    over = run(env, lambda ch: ch.refund(refund_of(request, f"{request.payment_id}R2", 7_001)))
    assert (over.state, over.failure_code) == ("failed", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    assert run(env, lambda ch: ch.query_refund(request.payment_id, f"{request.payment_id}R2")).state == "not_found"


def test_trade_bill_lists_payments_and_refunds_with_fees(env):
    request = paid_qr(env, amount_minor=12_345)
    run(env, lambda ch: ch.refund(refund_of(request, f"{request.payment_id}R1", 2_345)))
    today = datetime.now(wire.BEIJING).date()
    raw = run(env, lambda ch: ch.download_statement(today))
    lines = [line for line in env.verifier.parse_statement(raw) if line.payment_id == request.payment_id]
    payment, refund = sorted(lines, key=lambda line: line.kind)
    assert (payment.kind, payment.amount, payment.fee) == ("payment", Money(12_345, "CNY"), Money(74, "CNY"))
    assert (refund.kind, refund.refund_id, refund.amount) == ("refund", f"{request.payment_id}R1", Money(2_345, "CNY"))
    assert refund.fee == Money(-service_fee_minor(2_345), "CNY") and payment.channel_txn_id == refund.channel_txn_id


def test_bill_discrepancies_are_planted_and_kept_as_ground_truth(env):
    for _ in range(4):
        paid_qr(env)
    env.sandbox.injector.configure(Faults(bill_discrepancy_rate=1.0, seed=7))
    today = datetime.now(wire.BEIJING).date()
    lines = env.verifier.parse_statement(run(env, lambda ch: ch.download_statement(today)))
    planted = env.sandbox.planted[today]
    billed = {line.payment_id: line for line in lines if line.kind == "payment"}
    assert planted and {p.kind for p in planted} <= {"missing", "status", "amount", "phantom"}
    for p in planted:
        if p.kind in ("missing", "status"):
            assert p.order_no not in billed or env.sandbox.book.get(p.order_no).state != "succeeded"
        if p.kind == "phantom":
            assert p.order_no in billed and env.sandbox.book.get(p.order_no) is None
        if p.kind == "amount":
            assert billed[p.order_no].amount.amount_minor != env.sandbox.book.get(p.order_no).amount_minor


def test_bill_for_a_future_date_does_not_exist(env):
    tomorrow = datetime.now(wire.BEIJING).date() + timedelta(days=1)
    with pytest.raises(ChannelError) as error:
        run(env, lambda ch: ch.download_statement(tomorrow))
    assert error.value.code == "isp.bill_not_exist" and error.value.outcome_known


def test_5xx_is_a_channel_error_with_unknown_outcome(env):
    env.sandbox.injector.configure(Faults(error_5xx_rate=1.0))
    with pytest.raises(ChannelError) as error:
        run(env, lambda ch: ch.query("ANY"))
    assert error.value.code == "http_503" and not error.value.outcome_known


def test_timeout_is_a_channel_error_with_unknown_outcome(env):
    env.sandbox.injector.configure(Faults(timeout_rate=1.0))
    request = charge(env)
    with pytest.raises(ChannelError) as error:
        run(env, lambda ch: ch.create(request), timeout_s=0.5)
    assert error.value.code == "timeout" and not error.value.outcome_known
    env.sandbox.injector.configure(Faults())
    assert run(env, lambda ch: ch.query(request.payment_id)).state == "pending"  # it was processed


def test_unreachable_gateway_is_a_channel_error_with_known_outcome(env):
    with pytest.raises(ChannelError) as error:
        run(env, lambda ch: ch.query("ANY"), base_url=f"http://127.0.0.1:{free_port()}/gateway.do")
    assert error.value.outcome_known


def test_lost_notification_leaves_query_as_the_way_to_learn(env):
    env.sandbox.injector.configure(Faults(lost_notify_rate=1.0))
    request = charge(env)
    run(env, lambda ch: ch.create(request))
    pay(env, request.payment_id)
    assert env.receiver.wait_for(request.payment_id, timeout_s=0.3) == []
    assert run(env, lambda ch: ch.query(request.payment_id)).state == "succeeded"


def test_duplicated_notification_arrives_twice_and_verifies(env):
    env.sandbox.injector.configure(Faults(duplicate_notify_rate=1.0))
    request = charge(env)
    run(env, lambda ch: ch.create(request))
    pay(env, request.payment_id)
    bodies = env.receiver.wait_for(request.payment_id, count=2)
    assert len(bodies) == 2 and {env.verifier.verify_notification({}, b).state for b in bodies} == {"succeeded"}


def test_notification_is_retried_until_answered_success(env):
    request = charge(env)
    env.receiver.refuse[request.payment_id] = 2
    run(env, lambda ch: ch.create(request))
    pay(env, request.payment_id)
    assert len(env.receiver.wait_for(request.payment_id, count=3)) == 3
    time.sleep(0.3)
    assert len(env.receiver.of(request.payment_id)) == 3
    assert env.verifier.ack(False).body != b"success" and env.verifier.ack(True).body == b"success"


def test_tampered_or_unsigned_notification_is_invalid(env):
    [body] = env.receiver.of(paid_qr(env).payment_id)
    params = dict(parse_qsl(body.decode()))
    tampered = urlencode({**params, "total_amount": "0.01"}).encode()
    unsigned = urlencode({k: v for k, v in params.items() if k != "sign"}).encode()
    for bad in (tampered, unsigned, b"\xff\xfe", b"not a form", b""):
        with pytest.raises(InvalidNotification):
            env.verifier.verify_notification({}, bad)


def test_request_signed_with_another_key_is_refused_by_gateway(env, tmp_path):
    other_key, _ = write_rsa_keypair(tmp_path, "other")
    with pytest.raises(ChannelError) as error:
        run(env, lambda ch: ch.query("ANY"), app_private_key_file=other_key)
    assert error.value.code == "isv.invalid-signature" and error.value.outcome_known


def test_unknown_app_id_is_refused_unsigned(env):
    with pytest.raises(ChannelError) as error:
        run(env, lambda ch: ch.query("ANY"), app_id="2021000000000000")
    assert error.value.code == "isv.invalid-app-id" and error.value.outcome_known


def test_answer_signed_by_someone_else_is_not_trusted(env, tmp_path):
    _, other_public = write_rsa_keypair(tmp_path, "other")
    with pytest.raises(ChannelError) as error:
        run(env, lambda ch: ch.query("ANY"), alipay_public_key_file=other_public)
    assert error.value.code == "invalid_signature" and not error.value.outcome_known


@pytest.mark.parametrize("amount", ["12.345", "-5.00", "1e3", "12.", "0.00", ""])
def test_wrong_amount_format_is_refused_by_gateway(env, amount):
    biz = {"out_trade_no": f"P{uuid.uuid4().hex[:20]}", "total_amount": amount, "subject": "x"}
    params = {
        "app_id": env.sandbox.app_id,
        "method": "alipay.trade.precreate",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": wire.beijing_time(datetime.now(timezone.utc)),
        "version": "1.0",
        "biz_content": json.dumps(biz),
    }
    app_key = signing.load_private_key(env.sandbox.app_private_key_file)
    params["sign"] = signing.sign(signing.signed_content(params), app_key)
    answer = WEB.post(env.sandbox.gateway_url, data=params).json()["alipay_trade_precreate_response"]
    assert (answer["code"], answer["sub_code"]) == ("40004", "ACQ.INVALID_PARAMETER")


def test_non_cny_charge_is_declined_without_a_call(env):
    request = dataclasses.replace(charge(env), amount=Money(100, "USD"))
    declined = run(env, lambda ch: ch.create(request))
    assert isinstance(declined, Declined) and declined.code == "currency_not_supported"


def test_signed_text_is_cut_from_the_raw_answer():
    raw = '{"alipay_trade_query_response":{"msg":"a}\\"{","url":"https:\\/\\/x"},"sign":"abc"}'
    assert signing.response_object_text(raw, "alipay_trade_query_response") == '{"msg":"a}\\"{","url":"https:\\/\\/x"}'
    assert signing.response_object_text(raw, "alipay_trade_close_response") is None


def test_yuan_amounts_never_lose_or_round_a_fen():
    assert wire.yuan(Money(1, "CNY")) == "0.01" and wire.parse_yuan("12.3") == Money(1230, "CNY")
    for bad in ("12.345", "-1.00", "1e2", " "):
        with pytest.raises(ValueError):
            wire.parse_yuan(bad)
