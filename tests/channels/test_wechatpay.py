"""The WeChat Pay adapter against its sandbox, over real HTTP on localhost."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI, Request, Response

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
from juhe.channels.simkit import NOTIFY_ATTEMPTS_MAX, Faults, ServerThread, free_port, write_rsa_keypair
from juhe.channels.wechatpay import signing, wire
from juhe.channels.wechatpay.adapter import WechatPayChannel, WechatPayConfig
from juhe.channels.wechatpay.sandbox import WechatPaySandbox
from juhe.money import Money

FAST = Faults(retry_interval_scale=0.0001)


class Receiver:
    """Our notification endpoint: verifies with the adapter and answers with its ack."""

    def __init__(self, config: WechatPayConfig):
        self.channel = WechatPayChannel(config)
        self.received: list[tuple[str, dict[str, str], bytes, PaymentStatus | RefundStatus | None]] = []
        app = FastAPI()

        @app.post("/notify/{mode}/{tag}")
        async def notify(mode: str, tag: str, request: Request) -> Response:
            body = await request.body()
            try:
                status = self.channel.verify_notification(request.headers, body)
            except InvalidNotification:
                status = None
            self.received.append((tag, dict(request.headers), body, status))
            ack = self.channel.ack(status is not None and mode == "ok")
            return Response(ack.body, ack.status_code, media_type=ack.media_type)

        self.server = ServerThread(app)

    def url(self, tag: str, mode: str = "ok") -> str:
        return f"{self.server.base_url}/notify/{mode}/{tag}"

    def wait(self, tag: str, count: int = 1, timeout_s: float = 3.0) -> list:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [r for r in self.received if r[0] == tag]
            if len(found) >= count:
                return found
            time.sleep(0.01)
        return [r for r in self.received if r[0] == tag]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    port = free_port()
    sandbox = WechatPaySandbox(tmp_path_factory.mktemp("wechatpay"), f"http://127.0.0.1:{port}", FAST)
    server = ServerThread(sandbox.app, port=port).start()
    yield sandbox
    server.server.force_exit = True  # a request left hanging by the timeout fault must not hold up shutdown
    server.stop()


@pytest.fixture(autouse=True)
def calm(sandbox):
    sandbox.injector.configure(FAST)
    yield
    sandbox.injector.configure(FAST)


@pytest.fixture(scope="module")
def receiver(sandbox):
    receiver = Receiver(sandbox.adapter_config())
    receiver.server.start()
    yield receiver
    receiver.server.stop()


class Merchant:
    """Our side: one adapter on one event loop for the whole module, so its keys load once."""

    def __init__(self, sandbox: WechatPaySandbox, receiver: Receiver, runner: asyncio.Runner):
        self.sandbox, self.receiver, self.runner = sandbox, receiver, runner
        self.http = httpx.AsyncClient()
        self.channel = WechatPayChannel(sandbox.adapter_config(), self.http)

    def call(self, action, config: WechatPayConfig | None = None):
        channel = self.channel if config is None else WechatPayChannel(config, self.http)
        return self.runner.run(action(channel))

    def paid_order(self, amount_minor: int = 1000) -> str:
        payment_id = new_id()
        created = self.call(lambda ch: ch.create(charge(self.receiver, payment_id, amount_minor)))
        assert not isinstance(created, Declined)
        pay(self.sandbox, payment_id)
        return payment_id

    def refund(self, payment_id: str, refund_id: str, amount_minor: int) -> RefundStatus:
        request = RefundRequest(
            payment_id=payment_id, refund_id=refund_id, amount=Money(amount_minor, "CNY"),
            payment_total=Money(1000, "CNY"), reason="退货", notify_url=self.receiver.url(refund_id),
        )  # fmt: skip
        return self.call(lambda ch: ch.refund(request))


@pytest.fixture(scope="module")
def merchant(sandbox, receiver):
    with asyncio.Runner() as runner:
        merchant = Merchant(sandbox, receiver, runner)
        yield merchant
        runner.run(merchant.http.aclose())


def new_id() -> str:
    return uuid.uuid4().hex[:24]


def charge(receiver: Receiver, payment_id: str, amount_minor: int = 1234, scenario=Scenario.QR) -> ChargeRequest:
    payer = {Scenario.JSAPI: {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, Scenario.WAP: {"client_ip": "14.23.150.211"}}
    return ChargeRequest(
        payment_id=payment_id, amount=Money(amount_minor, "CNY"), scenario=scenario, subject="测试商品 test",
        notify_url=receiver.url(payment_id), expires_at=datetime.now(timezone.utc) + timedelta(minutes=15),
        payer=payer.get(scenario, {}),
    )  # fmt: skip


def pay(sandbox: WechatPaySandbox, order_no: str, outcome: str = "success") -> dict:
    answer = httpx.post(f"{sandbox.base_url}/sandbox/pay/{order_no}", json={"outcome": outcome})
    answer.raise_for_status()
    return answer.json()


def signed_request(sandbox, method: str, path: str, body: bytes, key=None, age_s: int = 0) -> httpx.Response:
    key = key or signing.load_private_key(sandbox.merchant_private_key_file)
    auth = signing.authorization(
        private_key=key, mchid=sandbox.mchid, serial_no=sandbox.serial_no, method=method, url_path=path,
        body=body, timestamp=int(time.time()) - age_s, nonce=signing.new_nonce(),
    )  # fmt: skip
    headers = {"Authorization": auth, "Content-Type": "application/json", "Accept": "application/json"}
    return httpx.request(method, sandbox.base_url + path, content=body, headers=headers)


@pytest.mark.parametrize("scenario", [Scenario.QR, Scenario.JSAPI, Scenario.APP, Scenario.WAP])
def test_each_scenario_pays_and_notifies_signed(sandbox, receiver, scenario, merchant):
    payment_id = new_id()
    created = merchant.call(lambda ch: ch.create(charge(receiver, payment_id, scenario=scenario)))
    assert not isinstance(created, Declined), created
    assert_payer_action(sandbox, scenario, created, payment_id)

    pay(sandbox, payment_id)
    [(_, _, _, status)] = receiver.wait(payment_id)
    assert status == PaymentStatus(
        payment_id=payment_id, state="succeeded", amount=Money(1234, "CNY"),
        channel_txn_id=status.channel_txn_id, paid_at=status.paid_at,
    )  # fmt: skip
    assert len(status.channel_txn_id) == 28 and status.paid_at.tzinfo is not None
    queried = merchant.call(lambda ch: ch.query(payment_id))
    assert queried == status


def assert_payer_action(sandbox, scenario, created, payment_id) -> None:
    action = created.action
    merchant_key = signing.load_private_key(sandbox.merchant_private_key_file).public_key()
    if scenario is Scenario.QR:
        page = httpx.get(action.qr_content)
        assert action.kind == "qr" and f'action="/sandbox/pay/{payment_id}"' in page.text
    elif scenario is Scenario.WAP:
        page = httpx.get(action.redirect_url)
        assert action.kind == "redirect" and f'action="/sandbox/pay/{payment_id}"' in page.text
    elif scenario is Scenario.JSAPI:
        p = action.app_params
        assert p["package"] == f"prepay_id={created.channel_ref}" and p["signType"] == "RSA"
        message = signing.lines(p["appId"], p["timeStamp"], p["nonceStr"], p["package"])
        assert signing.signature_ok(merchant_key, message, p["paySign"])
    else:
        p = action.app_params
        assert p["package"] == "Sign=WXPay" and p["prepayid"] == created.channel_ref
        message = signing.lines(p["appid"], p["timestamp"], p["noncestr"], p["prepayid"])
        assert signing.signature_ok(merchant_key, message, p["sign"])


def test_ack_stops_retries_and_a_refused_ack_is_retried_on_schedule(sandbox, receiver, merchant):
    payment_id = merchant.paid_order()
    receiver.wait(payment_id)
    time.sleep(0.2)
    assert [s for url, s in sandbox.notifier.delivered if url == receiver.url(payment_id)] == [204]

    failing = new_id()
    refusing = replace(charge(receiver, failing), notify_url=receiver.url(failing, mode="fail"))
    merchant.call(lambda ch: ch.create(refusing))
    pay(sandbox, failing)
    attempts = receiver.wait(failing, count=NOTIFY_ATTEMPTS_MAX)
    assert len(attempts) == NOTIFY_ATTEMPTS_MAX and all(status is not None for *_, status in attempts)
    assert {s for url, s in sandbox.notifier.delivered if url.endswith(failing)} == {500}


def test_declined_payer_and_unknown_order(sandbox, receiver, merchant):
    payment_id = new_id()
    merchant.call(lambda ch: ch.create(charge(receiver, payment_id)))
    pay(sandbox, payment_id, outcome="decline")
    status = merchant.call(lambda ch: ch.query(payment_id))
    assert (status.state, status.failure_code) == ("failed", "PAYERROR")
    assert merchant.call(lambda ch: ch.query("nosuchorder1")).state == "not_found"


def test_close_unpaid_order_then_payer_cannot_pay(sandbox, receiver, merchant):
    payment_id = new_id()
    merchant.call(lambda ch: ch.create(charge(receiver, payment_id)))
    assert merchant.call(lambda ch: ch.close(payment_id)) is None
    assert pay(sandbox, payment_id)["state"] == "closed"
    assert merchant.call(lambda ch: ch.query(payment_id)).state == "closed"
    again = merchant.call(lambda ch: ch.create(charge(receiver, payment_id)))
    assert again == Declined("ORDER_CLOSED", "订单已关闭")


def test_same_order_again_gets_the_same_code_until_paid_then_is_refused(sandbox, receiver, merchant):
    payment_id = new_id()
    first = merchant.call(lambda ch: ch.create(charge(receiver, payment_id, 1000)))
    assert merchant.call(lambda ch: ch.create(charge(receiver, payment_id, 1000))) == first
    pay(sandbox, payment_id)
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.close(payment_id))
    assert caught.value.code == "ORDERPAID" and caught.value.outcome_known
    with pytest.raises(ChannelError) as caught:  # never a decline: the payer has paid
        merchant.call(lambda ch: ch.create(charge(receiver, payment_id, 1000)))
    assert caught.value.code == "ORDERPAID" and not caught.value.outcome_known


def test_order_past_time_expire_is_closed(sandbox, receiver, merchant):
    payment_id = new_id()
    expired = replace(charge(receiver, payment_id), expires_at=datetime.now(timezone.utc) - timedelta(seconds=2))
    merchant.call(lambda ch: ch.create(expired))
    assert merchant.call(lambda ch: ch.query(payment_id)).state == "closed"


def test_partial_then_full_refund_and_refund_above_remaining_is_rejected(sandbox, receiver, merchant):
    payment_id = merchant.paid_order(1000)
    first = merchant.refund(payment_id, "R1" + payment_id, 300)
    assert (first.state, first.amount) == ("pending", Money(300, "CNY")) and first.channel_refund_id

    [(_, _, _, notified)] = receiver.wait("R1" + payment_id)
    assert notified == RefundStatus(
        refund_id="R1" + payment_id, payment_id=payment_id, state="succeeded", amount=Money(300, "CNY"),
        channel_refund_id=first.channel_refund_id,
    )  # fmt: skip
    assert merchant.call(lambda ch: ch.query_refund(payment_id, "R1" + payment_id)) == notified

    too_much = merchant.refund(payment_id, "R2" + payment_id, 701)
    assert (too_much.state, too_much.failure_code) == ("failed", "INVALID_REQUEST")
    rest = merchant.refund(payment_id, "R3" + payment_id, 700)
    assert rest.state in ("pending", "succeeded")
    again = merchant.refund(payment_id, "R3" + payment_id, 700)
    assert again.channel_refund_id == rest.channel_refund_id  # one out_refund_no refunds once
    assert sandbox.book.get(payment_id).refunded_minor == 1000
    assert merchant.call(lambda ch: ch.query(payment_id)).state == "succeeded"
    missing = merchant.call(lambda ch: ch.query_refund(payment_id, "R9" + payment_id))
    assert missing.state == "not_found"


def test_statement_lists_payments_refunds_and_fees(sandbox, receiver, merchant):
    payment_id = merchant.paid_order(1000)
    merchant.refund(payment_id, "RS" + payment_id, 250)
    receiver.wait("RS" + payment_id)
    today = datetime.now(wire.CST).date()
    raw = merchant.call(lambda ch: ch.download_statement(today))
    assert raw.decode().startswith("交易时间,公众账号ID,商户号") and "`" + payment_id in raw.decode()

    parsed = merchant.channel.parse_statement(raw)
    lines = {(line.kind, line.payment_id): line for line in parsed}
    paid, refunded = lines[("payment", payment_id)], lines[("refund", payment_id)]
    assert (paid.amount, paid.fee, paid.status) == (Money(1000, "CNY"), Money(6, "CNY"), "SUCCESS")
    assert (refunded.refund_id, refunded.amount) == ("RS" + payment_id, Money(250, "CNY"))
    assert refunded.fee == Money(-2, "CNY")  # 0.6 % of 2.50 given back, rounded half up
    assert paid.occurred_at.utcoffset() == timedelta(hours=8)
    empty_day = today - timedelta(days=400)
    assert merchant.call(lambda ch: ch.download_statement(empty_day)) == b""


def test_bill_discrepancies_are_planted_and_recorded(sandbox, receiver, merchant):
    for _ in range(6):
        merchant.paid_order(500)
    sandbox.injector.configure(Faults(bill_discrepancy_rate=1.0, seed=11, retry_interval_scale=0.0001))
    today = datetime.now(wire.CST).date()
    lines = merchant.channel.parse_statement(merchant.call(lambda ch: ch.download_statement(today)))
    payments = {line.payment_id: line for line in lines if line.kind == "payment"}
    planted = sandbox.planted[today]
    paid_today = [o for o in sandbox.book.orders.values() if o.state == "succeeded"]
    assert len(planted) == len(paid_today) >= 6  # at rate 1 every payment line is tampered with
    for p in planted:
        order = sandbox.book.get(p.order_no)
        if p.kind == "missing":
            assert p.order_no not in payments
        elif p.kind == "phantom":
            assert order is None and payments[p.order_no].status == "SUCCESS"
        elif p.kind == "amount":
            assert payments[p.order_no].amount.amount_minor != order.amount_minor
        else:
            assert payments[p.order_no].status == "REVOKED"


def test_5xx_means_outcome_unknown_and_refused_connection_means_known(sandbox, receiver, merchant):
    sandbox.injector.configure(Faults(error_5xx_rate=1.0, retry_interval_scale=0.0001))
    payment_id = new_id()
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.create(charge(receiver, payment_id)))
    assert (caught.value.outcome_known, caught.value.code) == (False, "SYSTEM_ERROR")
    assert sandbox.book.get(payment_id) is None  # rejected before processing, as the fault says

    nowhere = sandbox.adapter_config().model_copy(update={"base_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.query(payment_id), nowhere)
    assert caught.value.outcome_known


def test_timeout_means_outcome_unknown_though_processed(sandbox, receiver, merchant):
    sandbox.injector.configure(Faults(timeout_rate=1.0, retry_interval_scale=0.0001))
    payment_id = new_id()
    impatient = sandbox.adapter_config().model_copy(update={"timeout_s": 0.5})
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.create(charge(receiver, payment_id)), impatient)
    assert (caught.value.outcome_known, caught.value.code) == (False, "timeout")
    assert sandbox.book.get(payment_id) is not None  # so the caller must query before retrying


def test_lost_notification_leaves_query_as_the_truth(sandbox, receiver, merchant):
    sandbox.injector.configure(Faults(lost_notify_rate=1.0, retry_interval_scale=0.0001))
    payment_id = merchant.paid_order()
    assert receiver.wait(payment_id, timeout_s=0.3) == []
    assert merchant.call(lambda ch: ch.query(payment_id)).state == "succeeded"


def test_duplicated_notification_verifies_twice_to_the_same_status(sandbox, receiver, merchant):
    sandbox.injector.configure(Faults(duplicate_notify_rate=1.0, retry_interval_scale=0.0001))
    payment_id = merchant.paid_order()
    first, second = receiver.wait(payment_id, count=2)
    assert first[3] == second[3] and first[3].state == "succeeded"
    assert json.loads(first[2])["id"] == json.loads(second[2])["id"]  # same event, to deduplicate on


def test_tampered_stale_or_undecryptable_notifications_are_rejected(sandbox, receiver, merchant):
    payment_id = merchant.paid_order()
    [(_, headers, body, _)] = receiver.wait(payment_id)
    channel = merchant.channel
    platform_key_file = sandbox.wechatpay_public_key_file.parent / "wechatpay_platform_private_key.pem"
    platform_key = signing.load_private_key(platform_key_file)

    def resigned(body: bytes, at: int) -> dict[str, str]:
        return signing.wechatpay_headers(platform_key, sandbox.public_key_id, body, at, signing.new_nonce())

    envelope = json.loads(body)
    resource = envelope["resource"]
    resource["ciphertext"] = signing.encrypt_resource(b"0" * 32, resource["nonce"], resource["associated_data"], b"{}")
    forged = json.dumps(envelope).encode()
    rejected = [
        (headers, body.replace(b"TRANSACTION", b"TRANSACTIOM")),
        ({**headers, "wechatpay-signature": base64.b64encode(b"x" * 256).decode()}, body),
        ({k: v for k, v in headers.items() if not k.startswith("wechatpay-")}, body),
        (resigned(body, int(time.time()) - 301), body),
        (resigned(forged, int(time.time())), forged),
        (resigned(b"{not json", int(time.time())), b"{not json"),
    ]
    for bad_headers, bad_body in rejected:
        with pytest.raises(InvalidNotification):
            channel.verify_notification(bad_headers, bad_body)
    assert channel.verify_notification(resigned(body, int(time.time())), body).state == "succeeded"


def test_sandbox_rejects_a_request_signed_with_another_key(sandbox, receiver, tmp_path, merchant):
    other_private, other_public = write_rsa_keypair(tmp_path, "other")
    body = b'{"mchid":"1900000109"}'
    close_path = "/v3/pay/transactions/out-trade-no/abcdef1/close"
    answer = signed_request(sandbox, "POST", close_path, body, signing.load_private_key(other_private))
    assert answer.status_code == 401 and answer.json()["code"] == "SIGN_ERROR"
    stale = signed_request(sandbox, "POST", close_path, body, age_s=301)
    assert stale.status_code == 401 and stale.json()["code"] == "SIGN_ERROR"
    unsigned = httpx.get(f"{sandbox.base_url}/v3/pay/transactions/out-trade-no/abcdef1?mchid=1900000109")
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "SIGN_ERROR"

    wrong_key = sandbox.adapter_config().model_copy(update={"merchant_private_key_file": other_private})
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.create(charge(receiver, new_id())), wrong_key)
    assert (caught.value.code, caught.value.outcome_known) == ("SIGN_ERROR", True)

    # And the other way round: an answer not signed with the configured WeChat Pay key is not believed.
    wrong_platform = sandbox.adapter_config().model_copy(update={"wechatpay_public_key_file": other_public})
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.query("abcdef1"), wrong_platform)
    assert caught.value.code == "answer_signature" and not caught.value.outcome_known


@pytest.mark.parametrize("total", ['"12.34"', "12.34", "0", '"1234"'])
def test_sandbox_rejects_amounts_not_in_int_fen(sandbox, receiver, total):
    body = (
        '{"appid":"wxd678efh567hg6787","mchid":"1900000109","description":"x","out_trade_no":"'
        + new_id()
        + f'","notify_url":"{receiver.url("x")}","amount":{{"total":{total},"currency":"CNY"}}}}'
    ).encode()
    answer = signed_request(sandbox, "POST", "/v3/pay/transactions/native", body)
    assert answer.status_code == 400 and answer.json()["code"] == "PARAM_ERROR"
    assert answer.json()["detail"]["field"] == "/amount/total"


def test_adapter_declines_what_wechat_cannot_take(sandbox, receiver, merchant):
    usd = replace(charge(receiver, new_id()), amount=Money(100, "USD"))
    assert merchant.call(lambda ch: ch.create(usd)).code == "CURRENCY_NOT_SUPPORTED"
    no_openid = replace(charge(receiver, new_id(), scenario=Scenario.JSAPI), payer={})
    assert merchant.call(lambda ch: ch.create(no_openid)).code == "PARAM_ERROR"
