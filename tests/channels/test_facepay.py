"""The face-pay adapter against its sandbox, over real HTTP on localhost, with a simulated device."""

from __future__ import annotations

import asyncio
import base64
import json
import random
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
    ChargeSucceeded,
    Declined,
    InvalidNotification,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    Scenario,
)
from juhe.channels.facepay import FaceCheck, FacePayChannel, FacePayConfig, faces, signing, wire
from juhe.channels.facepay.device import FaceDevice, FaceDeviceError
from juhe.channels.facepay.sandbox import DEVICE_ID, FacePaySandbox
from juhe.channels.simkit import NOTIFY_ATTEMPTS_MAX, Faults, ServerThread, free_port, write_rsa_keypair
from juhe.money import Money

FAST = Faults(retry_interval_scale=0.0001)
ORDERS_PATH = "/v1/facepay/transactions"


class Receiver:
    """Our notification endpoint: verifies with the adapter and answers with its ack."""

    def __init__(self, config: FacePayConfig):
        self.channel = FacePayChannel(config)
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
    sandbox = FacePaySandbox(tmp_path_factory.mktemp("facepay"), f"http://127.0.0.1:{port}", FAST)
    server = ServerThread(sandbox.app, port=port).start()
    yield sandbox
    server.stop()  # force_exit: a request held open by the timeout fault must not hold up shutdown


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


@pytest.fixture(scope="module")
def device(sandbox):
    return FaceDevice(sandbox.base_url, DEVICE_ID, seed=3)


class Merchant:
    """Our side: one adapter on one event loop for the whole module, so its keys load once."""

    def __init__(self, sandbox: FacePaySandbox, receiver: Receiver, device: FaceDevice, runner: asyncio.Runner):
        self.sandbox, self.receiver, self.device, self.runner = sandbox, receiver, device, runner
        self.http = httpx.AsyncClient()
        self.channel = FacePayChannel(sandbox.adapter_config(), self.http)
        self.rng = random.Random(5)

    def call(self, action, config: FacePayConfig | None = None):
        channel = self.channel if config is None else FacePayChannel(config, self.http)
        return self.runner.run(action(channel))

    def enrol(self, daily_limit_minor: int = 200_000, template=None) -> tuple[str, tuple[float, ...]]:
        user_id = "u" + new_id()
        template = template or faces.synthetic_template(self.rng)
        body = {"user_id": user_id, "template": list(template), "daily_limit_minor": daily_limit_minor}
        httpx.post(f"{self.sandbox.base_url}/sandbox/enroll", json=body).raise_for_status()
        return user_id, template

    def pay(self, template, amount_minor: int = 1000, **capture) -> tuple[str, ChargeSucceeded | Declined]:
        payment_id = new_id()
        request = face_charge(self.receiver, payment_id, self.device.capture(template, **capture), amount_minor)
        return payment_id, self.call(lambda ch: ch.create(request))

    def paid_order(self, amount_minor: int = 1000) -> str:
        payment_id, result = self.pay(self.enrol()[1], amount_minor)
        assert isinstance(result, ChargeSucceeded), result
        return payment_id

    def refund(self, payment_id: str, refund_id: str, amount_minor: int, total_minor: int = 1000) -> RefundStatus:
        request = RefundRequest(
            payment_id=payment_id, refund_id=refund_id, amount=Money(amount_minor, "CNY"),
            payment_total=Money(total_minor, "CNY"), reason="returned", notify_url=self.receiver.url(refund_id),
        )  # fmt: skip
        return self.call(lambda ch: ch.refund(request))


@pytest.fixture(scope="module")
def merchant(sandbox, receiver, device):
    with asyncio.Runner() as runner:
        merchant = Merchant(sandbox, receiver, device, runner)
        yield merchant
        runner.run(merchant.http.aclose())


def new_id() -> str:
    return uuid.uuid4().hex[:24]


def face_charge(receiver: Receiver, payment_id: str, face_token: str, amount_minor: int = 1000, device_id: str = DEVICE_ID) -> ChargeRequest:
    return ChargeRequest(
        payment_id=payment_id, amount=Money(amount_minor, "CNY"), scenario=Scenario.FACE, subject="Oolong tea",
        notify_url=receiver.url(payment_id), expires_at=datetime.now(timezone.utc) + timedelta(minutes=1),
        payer={"device_id": device_id, "face_token": face_token},
    )  # fmt: skip


def signed_request(sandbox, method: str, path: str, body: bytes, key=None, age_s: int = 0, nonce: str | None = None) -> httpx.Response:
    key = key or signing.load_private_key(sandbox.merchant_private_key_file)
    auth = signing.authorization(
        private_key=key, mchid=sandbox.mchid, key_id=sandbox.merchant_key_id, method=method, url_path=path,
        body=body, timestamp=int(time.time()) - age_s, nonce=nonce or signing.new_nonce(),
    )  # fmt: skip
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    return httpx.request(method, sandbox.base_url + path, content=body, headers=headers)


def test_matching_face_pays_at_once_and_the_notification_verifies(sandbox, receiver, merchant):
    user_id, template = merchant.enrol()
    payment_id, result = merchant.pay(template, 1234)
    assert isinstance(result, ChargeSucceeded)
    status = result.status
    assert (status.payment_id, status.state, status.amount) == (payment_id, "succeeded", Money(1234, "CNY"))
    assert status.channel_txn_id.startswith("FP") and status.paid_at.utcoffset() == timedelta(hours=8)
    assert sandbox.book.get(payment_id).payer_id == user_id
    assert merchant.call(lambda ch: ch.query(payment_id)) == status

    [(_, _, _, notified)] = receiver.wait(payment_id)
    assert notified == status
    time.sleep(0.1)
    assert [s for url, s in sandbox.notifier.delivered if url == receiver.url(payment_id)] == [200]


def test_a_refused_ack_is_retried_on_schedule(sandbox, receiver, merchant):
    payment_id = new_id()
    token = merchant.device.capture(merchant.enrol()[1])
    request = replace(face_charge(receiver, payment_id, token), notify_url=receiver.url(payment_id, mode="fail"))
    assert isinstance(merchant.call(lambda ch: ch.create(request)), ChargeSucceeded)
    attempts = receiver.wait(payment_id, count=NOTIFY_ATTEMPTS_MAX)
    assert len(attempts) == NOTIFY_ATTEMPTS_MAX and all(status is not None for *_, status in attempts)
    assert {s for url, s in sandbox.notifier.delivered if url.endswith(payment_id)} == {500}


@pytest.mark.parametrize(
    ("case", "code"),
    [("stranger", "FACE_NOT_MATCHED"), ("blurred", "FACE_NOT_MATCHED"), ("photo", "LIVENESS_FAILED"),
     ("over_limit", "EXCEED_LIMIT"), ("balance", "NOTENOUGH"), ("look_alikes", "FACE_AMBIGUOUS")],
)  # fmt: skip
def test_declined_face_payment_is_booked_failed_and_charges_nothing(sandbox, merchant, case, code):
    _, template = merchant.enrol(daily_limit_minor=999)
    capture = {"blurred": {"noise": 1.0}, "photo": {"liveness": 0.5}}.get(case, {})
    if case == "stranger":
        template = faces.synthetic_template(merchant.rng)
    if case == "balance":
        sandbox.injector.configure(Faults(decline_rate=1.0, retry_interval_scale=0.0001))
    if case == "look_alikes":
        merchant.enrol(template=template)
    payment_id, result = merchant.pay(template, 1000 if case == "over_limit" else 500, **capture)
    assert isinstance(result, Declined) and result.code == code and result.message
    status = merchant.call(lambda ch: ch.query(payment_id))
    assert (status.state, status.failure_code, status.paid_at) == ("failed", code, None)


def test_daily_limit_counts_the_days_payments_and_a_reversal_frees_it(sandbox, merchant):
    _, template = merchant.enrol(daily_limit_minor=1000)
    first, result = merchant.pay(template, 600)
    assert isinstance(result, ChargeSucceeded)
    assert merchant.pay(template, 500)[1].code == "EXCEED_LIMIT"
    assert merchant.call(lambda ch: ch.close(first)) is None
    assert merchant.call(lambda ch: ch.query(first)).state == "closed"  # reversed: the 6.00 went back
    assert isinstance(merchant.pay(template, 1000)[1], ChargeSucceeded)


def test_face_token_is_good_once_and_only_on_its_own_device(sandbox, receiver, merchant):
    _, template = merchant.enrol()
    token = merchant.device.capture(template)
    assert isinstance(merchant.call(lambda ch: ch.create(face_charge(receiver, new_id(), token))), ChargeSucceeded)
    again = new_id()
    assert merchant.call(lambda ch: ch.create(face_charge(receiver, again, token))).code == "FACE_TOKEN_INVALID"
    assert sandbox.book.get(again) is None

    httpx.post(f"{sandbox.base_url}/sandbox/devices", json={"device_id": "FPD-0002", "store_id": "STORE-002"}).raise_for_status()
    elsewhere = face_charge(receiver, new_id(), merchant.device.capture(template), device_id="FPD-0002")
    declined = merchant.call(lambda ch: ch.create(elsewhere))
    assert declined.code == "FACE_TOKEN_INVALID" and "another device" in declined.message


def test_unknown_device_is_refused_clearly_and_changes_nothing(sandbox, receiver, merchant):
    _, template = merchant.enrol()
    with pytest.raises(FaceDeviceError, match="not registered"):
        FaceDevice(sandbox.base_url, "FPD-ROGUE").capture(template)

    token = merchant.device.capture(template)
    orders_before = dict(sandbox.book.orders)
    payment_id = new_id()
    declined = merchant.call(lambda ch: ch.create(face_charge(receiver, payment_id, token, device_id="FPD-ROGUE")))
    assert declined == Declined("DEVICE_NOT_REGISTERED", "device 'FPD-ROGUE' is not registered with merchant 1600000101")
    assert sandbox.book.orders == orders_before
    # The token was not used up by the refused request: the registered device still pays with it.
    assert isinstance(merchant.call(lambda ch: ch.create(face_charge(receiver, payment_id, token))), ChargeSucceeded)


@pytest.mark.parametrize(
    "change",
    [{"template": [0.1] * 127}, {"template": [0.0] * 128}, {"image": "iVBORw0KGgo="}, {"daily_limit_minor": -1},
     {"daily_limit_minor": "10.00"}, {"user_id": "no spaces"}],
)  # fmt: skip
def test_bad_enrolment_is_refused_and_stores_nothing(sandbox, change):
    body = {"user_id": "u" + new_id(), "template": [0.1] * 128, **change}
    enrolled_before = dict(sandbox.enrolled)
    answer = httpx.post(f"{sandbox.base_url}/sandbox/enroll", json=body)
    assert answer.status_code == 422 and answer.json()["detail"]
    assert sandbox.enrolled == enrolled_before


def test_nan_face_vectors_are_refused(sandbox):
    probe = "[" + ",".join(["NaN"] + ["0.1"] * 127) + "]"
    answer = httpx.post(
        f"{sandbox.base_url}/sandbox/face/tokens", content=f'{{"device_id":"{DEVICE_ID}","probe":{probe},"liveness":1}}',
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert answer.status_code == 422


def test_the_same_order_again_answers_the_same_and_charges_once(sandbox, receiver, merchant):
    user_id, template = merchant.enrol(daily_limit_minor=1500)
    payment_id = new_id()
    request = face_charge(receiver, payment_id, merchant.device.capture(template))
    first = merchant.call(lambda ch: ch.create(request))
    assert merchant.call(lambda ch: ch.create(request)) == first  # a retry after a lost answer
    assert [o.order_no for o in sandbox.book.orders.values() if o.payer_id == user_id] == [payment_id]
    assert isinstance(merchant.pay(template, 500)[1], ChargeSucceeded)  # only 10.00 of the 15.00 limit was used

    with pytest.raises(ChannelError) as caught:  # the number is taken: query before anything else
        merchant.call(lambda ch: ch.create(replace(request, amount=Money(999, "CNY"))))
    assert (caught.value.code, caught.value.outcome_known) == ("OUT_TRADE_NO_USED", False)


def test_a_replayed_request_is_refused(sandbox):
    body = json.dumps({"mchid": sandbox.mchid}).encode()
    path = f"{ORDERS_PATH}/out-trade-no/replayed1/reverse"
    first = signed_request(sandbox, "POST", path, body, nonce="N" * 32)
    assert first.json()["code"] == "ORDER_NOT_EXIST"
    again = signed_request(sandbox, "POST", path, body, nonce="N" * 32)
    assert again.status_code == 401 and "replayed" in again.json()["message"]


def test_timeout_means_outcome_unknown_then_query_and_reverse(sandbox, receiver, merchant):
    token = merchant.device.capture(merchant.enrol()[1])
    sandbox.injector.configure(Faults(timeout_rate=1.0, retry_interval_scale=0.0001))
    payment_id = new_id()
    impatient = sandbox.adapter_config().model_copy(update={"timeout_s": 0.5})
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.create(face_charge(receiver, payment_id, token)), impatient)
    assert (caught.value.outcome_known, caught.value.code) == (False, "timeout")
    sandbox.injector.configure(FAST)
    assert merchant.call(lambda ch: ch.query(payment_id)).state == "succeeded"  # processed, answer lost
    merchant.call(lambda ch: ch.close(payment_id))
    assert merchant.call(lambda ch: ch.query(payment_id)).state == "closed"
    assert merchant.call(lambda ch: ch.close("neverbooked1")) is None
    assert merchant.call(lambda ch: ch.query("neverbooked1")).state == "not_found"


def test_5xx_means_outcome_unknown_and_refused_connection_means_known(sandbox, receiver, merchant):
    token = merchant.device.capture(merchant.enrol()[1])
    sandbox.injector.configure(Faults(error_5xx_rate=1.0, retry_interval_scale=0.0001))
    payment_id = new_id()
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.create(face_charge(receiver, payment_id, token)))
    assert (caught.value.outcome_known, caught.value.code) == (False, "SYSTEM_ERROR")
    assert sandbox.book.get(payment_id) is None  # rejected before processing, as the fault says

    nowhere = sandbox.adapter_config().model_copy(update={"base_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.query(payment_id), nowhere)
    assert caught.value.outcome_known


def test_partial_then_full_refund_notified_and_refund_above_remaining_rejected(sandbox, receiver, merchant):
    payment_id = merchant.paid_order(1000)
    first = merchant.refund(payment_id, "R1" + payment_id, 300)
    assert (first.state, first.amount) == ("pending", Money(300, "CNY")) and first.channel_refund_id.startswith("FR")
    [(_, _, _, notified)] = receiver.wait("R1" + payment_id)
    assert notified == RefundStatus(
        refund_id="R1" + payment_id, payment_id=payment_id, state="succeeded", amount=Money(300, "CNY"),
        channel_refund_id=first.channel_refund_id,
    )  # fmt: skip
    assert merchant.call(lambda ch: ch.query_refund(payment_id, "R1" + payment_id)) == notified

    too_much = merchant.refund(payment_id, "R2" + payment_id, 701)
    assert (too_much.state, too_much.failure_code) == ("failed", "REFUND_AMOUNT_EXCEEDED")
    rest = merchant.refund(payment_id, "R3" + payment_id, 700)
    assert merchant.refund(payment_id, "R3" + payment_id, 700).channel_refund_id == rest.channel_refund_id
    assert sandbox.book.get(payment_id).refunded_minor == 1000
    assert merchant.call(lambda ch: ch.query_refund(payment_id, "R9" + payment_id)).state == "not_found"
    with pytest.raises(ChannelError) as caught:  # a refunded payment is not reversed as well
        merchant.call(lambda ch: ch.close(payment_id))
    assert (caught.value.code, caught.value.outcome_known) == ("REVERSE_NOT_ALLOWED", True)


def test_declined_or_reversed_payments_cannot_be_refunded(sandbox, merchant):
    payment_id, _ = merchant.pay(faces.synthetic_template(merchant.rng))
    refused = merchant.refund(payment_id, "RX" + payment_id, 100)
    assert (refused.state, refused.failure_code) == ("failed", "TRADE_STATE_INVALID")


def test_statement_lists_payments_refunds_fees_and_reversals(sandbox, receiver, merchant):
    payment_id = merchant.paid_order(1000)
    merchant.refund(payment_id, "RS" + payment_id, 250)
    receiver.wait("RS" + payment_id)
    reversed_id = merchant.paid_order(800)
    merchant.call(lambda ch: ch.close(reversed_id))
    today = datetime.now(wire.CST).date()
    raw = merchant.call(lambda ch: ch.download_statement(today))
    assert raw.decode().startswith(",".join(wire.STATEMENT_COLUMNS))

    lines = {(line.kind, line.payment_id): line for line in merchant.channel.parse_statement(raw)}
    paid, refunded, reversed_ = lines[("payment", payment_id)], lines[("refund", payment_id)], lines[("payment", reversed_id)]
    assert (paid.amount, paid.fee, paid.status) == (Money(1000, "CNY"), Money(4, "CNY"), "SUCCESS")  # 0.38 %, half up
    assert (refunded.refund_id, refunded.amount, refunded.fee) == ("RS" + payment_id, Money(250, "CNY"), Money(-1, "CNY"))
    assert (reversed_.status, reversed_.fee) == ("REVOKED", Money(0, "CNY"))
    assert paid.occurred_at.utcoffset() == timedelta(hours=8)
    assert merchant.channel.parse_statement(merchant.call(lambda ch: ch.download_statement(today - timedelta(days=400)))) == []


def test_statement_discrepancies_are_planted_and_recorded(sandbox, merchant):
    for _ in range(4):
        merchant.paid_order(500)
    sandbox.injector.configure(Faults(bill_discrepancy_rate=1.0, seed=11, retry_interval_scale=0.0001))
    today = datetime.now(wire.CST).date()
    lines = merchant.channel.parse_statement(merchant.call(lambda ch: ch.download_statement(today)))
    payments = {line.payment_id: line for line in lines if line.kind == "payment"}
    planted = sandbox.planted[today]
    assert len(planted) == len([o for o in sandbox.book.orders.values() if o.paid_at is not None]) >= 4
    for p in planted:
        order = sandbox.book.get(p.order_no)
        if p.kind == "missing":
            assert p.order_no not in payments
        elif p.kind == "phantom":
            assert order is None and payments[p.order_no].status == "SUCCESS"
        elif p.kind == "amount":
            assert payments[p.order_no].amount.amount_minor != order.amount_minor
        else:
            assert payments[p.order_no].status != {"succeeded": "SUCCESS", "closed": "REVOKED"}[order.state]


def test_face_check_for_step_up(sandbox, merchant):
    user_id, template = merchant.enrol()
    check = merchant.call(lambda ch: ch.verify_face(user_id, merchant.device.capture(template)))
    assert check.matched and check.score >= faces.MATCH_THRESHOLD and check.failure_code is None

    stranger = merchant.call(lambda ch: ch.verify_face(user_id, merchant.device.capture(faces.synthetic_template(merchant.rng))))
    assert (stranger.matched, stranger.failure_code) == (False, "FACE_NOT_MATCHED") and stranger.score < 0.5
    photo = merchant.call(lambda ch: ch.verify_face(user_id, merchant.device.capture(template, liveness=0.3)))
    assert (photo.matched, photo.failure_code) == (False, "LIVENESS_FAILED") and photo.score > 0.9

    token = merchant.device.capture(template)
    assert merchant.call(lambda ch: ch.verify_face("nobody", token)) == FaceCheck(False, 0.0, "USER_NOT_ENROLLED")
    assert merchant.call(lambda ch: ch.verify_face(user_id, token)).matched  # the token was not used up
    assert merchant.call(lambda ch: ch.verify_face(user_id, token)) == FaceCheck(False, 0.0, "FACE_TOKEN_INVALID")


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
    assert json.loads(first[2])["id"] == json.loads(second[2])["id"]  # the same event, to deduplicate on


def test_tampered_stale_or_foreign_notifications_are_rejected(sandbox, receiver, merchant):
    payment_id = merchant.paid_order()
    [(_, headers, body, _)] = receiver.wait(payment_id)
    service_key = signing.load_private_key(sandbox.facepay_public_key_file.parent / "facepay_service_private_key.pem")

    def resigned(body: bytes, at: int) -> dict[str, str]:
        return signing.service_headers(service_key, sandbox.facepay_key_id, body, at, signing.new_nonce())

    foreign = body.replace(sandbox.mchid.encode(), b"1600000999")
    rejected = [
        (headers, body.replace(b'"total": 1000', b'"total": 1')),
        ({**headers, "facepay-signature": base64.b64encode(b"x" * 256).decode()}, body),
        ({k: v for k, v in headers.items() if not k.startswith("facepay-")}, body),
        (resigned(body, int(time.time()) - 301), body),
        (resigned(foreign, int(time.time())), foreign),
        (resigned(b"{not json", int(time.time())), b"{not json"),
    ]
    for bad_headers, bad_body in rejected:
        with pytest.raises(InvalidNotification):
            merchant.channel.verify_notification(bad_headers, bad_body)
    assert merchant.channel.verify_notification(resigned(body, int(time.time())), body).state == "succeeded"


def test_sandbox_rejects_bad_signatures_and_the_adapter_distrusts_unsigned_answers(sandbox, receiver, merchant, tmp_path):
    other_private, other_public = write_rsa_keypair(tmp_path, "other")
    body = json.dumps({"mchid": sandbox.mchid}).encode()
    path = f"{ORDERS_PATH}/out-trade-no/abcdef1/reverse"
    for answer in [
        signed_request(sandbox, "POST", path, body, signing.load_private_key(other_private)),
        signed_request(sandbox, "POST", path, body, age_s=301),
        httpx.post(sandbox.base_url + path, content=body),
    ]:
        assert answer.status_code == 401 and answer.json()["code"] == "SIGN_ERROR"

    wrong_key = sandbox.adapter_config().model_copy(update={"merchant_private_key_file": other_private})
    token = merchant.device.capture(merchant.enrol()[1])
    payment_id = new_id()
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.create(face_charge(receiver, payment_id, token)), wrong_key)
    assert (caught.value.code, caught.value.outcome_known) == ("SIGN_ERROR", True)
    assert sandbox.book.get(payment_id) is None

    wrong_service = sandbox.adapter_config().model_copy(update={"facepay_public_key_file": other_public})
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.query("abcdef1"), wrong_service)
    assert caught.value.code == "answer_signature" and not caught.value.outcome_known


@pytest.mark.parametrize("total", ['"12.34"', "12.34", "0", '"1234"', "-5"])
def test_sandbox_rejects_amounts_not_in_int_fen_and_changes_nothing(sandbox, device, merchant, total):
    token = device.capture(merchant.enrol()[1])
    payment_id = new_id()
    body = (
        f'{{"appid":"{sandbox.appid}","mchid":"{sandbox.mchid}","device_id":"{DEVICE_ID}","out_trade_no":"{payment_id}",'
        f'"description":"x","face_token":"{token}","amount":{{"total":{total},"currency":"CNY"}}}}'
    ).encode()
    answer = signed_request(sandbox, "POST", ORDERS_PATH, body)
    assert answer.status_code == 400 and answer.json()["detail"]["field"] == "/amount/total"
    assert sandbox.book.get(payment_id) is None
    malformed = signed_request(sandbox, "POST", ORDERS_PATH, b'{"appid": ')
    assert malformed.status_code == 400 and malformed.json()["code"] == "PARAM_ERROR"


def test_adapter_declines_what_face_pay_cannot_take(receiver, merchant):
    usd = replace(face_charge(receiver, new_id(), "FTx"), amount=Money(100, "USD"))
    assert merchant.call(lambda ch: ch.create(usd)).code == "CURRENCY_NOT_SUPPORTED"
    qr = replace(face_charge(receiver, new_id(), "FTx"), scenario=Scenario.QR)
    assert merchant.call(lambda ch: ch.create(qr)).code == "SCENARIO_NOT_SUPPORTED"
    no_token = replace(face_charge(receiver, new_id(), ""), payer={"device_id": DEVICE_ID})
    assert merchant.call(lambda ch: ch.create(no_token)) == Declined(
        "PARAM_ERROR", "a face payment needs the payer's face_token from the device"
    )
    bad_device = face_charge(receiver, new_id(), "FTx", device_id="no such/device")
    declined = merchant.call(lambda ch: ch.create(bad_device))
    assert declined.code == "PARAM_ERROR" and "device_id" in declined.message
