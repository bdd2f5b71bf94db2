"""UnionPay adapter against the UnionPay sandbox, both speaking the 全渠道 5.1.0 protocol on localhost."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request, Response

from juhe.channels.base import (
    ChannelError,
    ChargeCreated,
    ChargeRequest,
    Declined,
    InvalidNotification,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    Scenario,
)
from juhe.channels.simkit import Faults, ServerThread, free_port
from juhe.channels.unionpay import UnionPayChannel, signing, wire
from juhe.channels.unionpay.sandbox import PFX_PASSWORD, UnionPaySandbox
from juhe.money import Money

FAST_RETRIES = Faults(retry_interval_scale=0.0005)


class Inbox:
    """Our notification endpoint: verifies with the adapter, answers with its ack, and can
    refuse the first few deliveries of a url to prove UnionPay retries."""

    def __init__(self, channel: UnionPayChannel):
        self.accepted: dict[str, list[PaymentStatus | RefundStatus]] = {}
        self.bodies: dict[str, list[bytes]] = {}
        self.refuse_first: dict[str, int] = {}
        self.app = FastAPI()

        @self.app.post("/notify/{name}")
        async def notify(name: str, request: Request) -> Response:
            body = await request.body()
            try:
                status = channel.verify_notification(request.headers, body)
            except InvalidNotification:
                status = None
            accepted = status is not None and self.refuse_first.get(name, 0) == 0
            if status is not None and not accepted:
                self.refuse_first[name] -= 1
            if accepted:
                self.accepted.setdefault(name, []).append(status)
                self.bodies.setdefault(name, []).append(body)
            ack = channel.ack(accepted)
            return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)


@dataclass
class Env:
    sandbox: UnionPaySandbox
    channel: UnionPayChannel
    inbox: Inbox
    inbox_url: str
    key_dir: Path
    names: list[str] = field(default_factory=list)

    def notify_url(self, name: str) -> str:
        return f"{self.inbox_url}/notify/{name}"

    def charge(self, scenario: Scenario = Scenario.QR, amount_minor: int = 1234, expires_in_s: float = 600,
               currency: str = "CNY") -> ChargeRequest:  # fmt: skip
        payment_id = "P" + uuid.uuid4().hex[:20]
        return ChargeRequest(
            payment_id=payment_id, amount=Money(amount_minor, currency), scenario=scenario, subject="套餐",
            notify_url=self.notify_url(payment_id), return_url="https://shop.example/return",
            expires_at=datetime.now(timezone.utc) + timedelta(seconds=expires_in_s),
        )  # fmt: skip

    def pay(self, order_no: str, outcome: str = "success") -> dict:
        response = httpx.post(f"{self.sandbox.base_url}/sandbox/pay/{order_no}", json={"outcome": outcome})
        response.raise_for_status()
        return response.json()

    def paid_order(self, amount_minor: int = 1000) -> ChargeRequest:
        request = self.charge(amount_minor=amount_minor)
        assert isinstance(run(self.channel.create(request)), ChargeCreated)
        self.pay(request.payment_id)
        return request


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    key_dir = tmp_path_factory.mktemp("unionpay-keys")
    port = free_port()
    sandbox = UnionPaySandbox(key_dir, f"http://127.0.0.1:{port}", FAST_RETRIES)
    channel = UnionPayChannel(sandbox.adapter_config())
    inbox = Inbox(channel)
    gateway = ServerThread(sandbox.app, port=port).start()
    receiver = ServerThread(inbox.app).start()
    try:
        yield Env(sandbox, channel, inbox, receiver.base_url, key_dir)
    finally:
        gateway.server.force_exit = True  # a request held by the timeout fault must not delay the end
        gateway.stop()
        receiver.stop()


@pytest.fixture(autouse=True)
def calm_faults(env: Env):
    env.sandbox.injector.configure(FAST_RETRIES)
    yield
    env.sandbox.injector.configure(FAST_RETRIES)


def run(coro):
    return asyncio.run(coro)


def wait_for(predicate, timeout_s: float = 5.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def hand_sign(fields: dict[str, str], key: rsa.RSAPrivateKey, cert_id: str) -> dict[str, str]:
    """The documented 5.1.0 algorithm, written out here apart from signing.py."""
    fields = {**fields, "certId": cert_id}
    text = "&".join(f"{k}={fields[k]}" for k in sorted(fields))
    digest_hex = hashlib.sha256(text.encode("utf-8")).hexdigest()
    signed = key.sign(digest_hex.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return {**fields, "signature": base64.b64encode(signed).decode("ascii")}


def merchant_key(env: Env) -> tuple[rsa.RSAPrivateKey, str]:
    key, cert, _ = pkcs12.load_key_and_certificates(
        env.sandbox.adapter_config().sign_cert_file.read_bytes(), PFX_PASSWORD.encode()
    )
    return key, str(cert.serial_number)


def hand_parse(text: str) -> dict[str, str]:
    return dict(pair.partition("=")[::2] for pair in text.split("&"))


def apply_qr_fields(env: Env, txn_amt: str) -> dict[str, str]:
    now = datetime.now(wire.BEIJING)
    return {
        "version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "txnType": "01", "txnSubType": "07",
        "bizType": "000000", "accessType": "0", "channelType": "08", "merId": env.sandbox.mer_id,
        "orderId": "H" + uuid.uuid4().hex[:20], "txnTime": now.strftime("%Y%m%d%H%M%S"), "txnAmt": txn_amt,
        "currencyCode": "156", "backUrl": env.notify_url("hand"),
        "payTimeout": (now + timedelta(minutes=10)).strftime("%Y%m%d%H%M%S"),
    }  # fmt: skip


def post_back(env: Env, fields: dict[str, str]) -> dict[str, str]:
    response = httpx.post(env.sandbox.base_url + wire.BACK_PATH, data=fields)
    assert response.status_code == 200
    return hand_parse(response.text)


def test_qr_payment_is_notified_signed_and_the_ack_stops_retries(env: Env):
    request = env.charge()
    created = run(env.channel.create(request))
    assert isinstance(created, ChargeCreated) and created.action.kind == "qr"
    page = httpx.get(created.action.qr_content)
    assert f"/sandbox/pay/{request.payment_id}" in page.text and "12.34" in page.text

    env.pay(request.payment_id)

    [status] = wait_for(lambda: env.inbox.accepted.get(request.payment_id))
    assert status == PaymentStatus(
        payment_id=request.payment_id, state="succeeded", amount=Money(1234, "CNY"),
        channel_txn_id=status.channel_txn_id, paid_at=status.paid_at,
    )  # fmt: skip
    assert len(status.channel_txn_id) == 21 and status.paid_at is not None
    time.sleep(0.2)  # the first retry would come after 60 s × scale
    assert [code for url, code in env.sandbox.notifier.delivered if url == request.notify_url] == [200]


def test_a_refused_notification_is_retried_until_acknowledged(env: Env):
    request = env.charge()
    env.inbox.refuse_first[request.payment_id] = 2
    run(env.channel.create(request))
    env.pay(request.payment_id)
    codes = lambda: [code for url, code in env.sandbox.notifier.delivered if url == request.notify_url]  # noqa: E731
    wait_for(lambda: env.inbox.accepted.get(request.payment_id))
    wait_for(lambda: len(codes()) == 3)  # the sandbox notes the answer after our endpoint has accepted it
    assert codes() == [500, 500, 200]


@pytest.mark.parametrize("scenario", [Scenario.WEB, Scenario.WAP])
def test_web_and_wap_pay_through_a_form_posted_to_the_front_gateway(env: Env, scenario: Scenario):
    request = env.charge(scenario)
    created = run(env.channel.create(request))
    assert isinstance(created, ChargeCreated) and created.action.kind == "form"
    action = re.search(r'action="([^"]+)"', created.action.form_html).group(1)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', created.action.form_html))
    assert action == env.sandbox.base_url + wire.FRONT_PATH
    assert fields["channelType"] == ("07" if scenario is Scenario.WEB else "08") and fields["txnAmt"] == "1234"

    cashier = httpx.post(action, data=fields)
    assert f"/sandbox/pay/{request.payment_id}" in cashier.text

    env.pay(request.payment_id)
    assert run(env.channel.query(request.payment_id)).state == "succeeded"


def test_app_payment_hands_the_tn_to_the_app(env: Env):
    request = env.charge(Scenario.APP)
    created = run(env.channel.create(request))
    tn = created.action.app_params["tn"]
    assert created.action.kind == "app" and re.fullmatch(r"\d{21}", tn)
    env.pay(request.payment_id)
    assert run(env.channel.query(request.payment_id)).channel_txn_id == tn


def test_query_knows_no_payment_until_the_payer_pays(env: Env):
    request = env.charge(amount_minor=5000)
    run(env.channel.create(request))
    assert run(env.channel.query(request.payment_id)).state == "not_found"

    env.pay(request.payment_id)

    status = run(env.channel.query(request.payment_id))
    assert (status.state, status.amount) == ("succeeded", Money(5000, "CNY"))
    assert status.paid_at and abs(status.paid_at - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_a_declined_payment_queries_as_failed(env: Env):
    request = env.charge()
    run(env.channel.create(request))
    env.pay(request.payment_id, outcome="decline")
    status = run(env.channel.query(request.payment_id))
    assert (status.state, status.failure_code) == ("failed", "01")


def test_closed_unpaid_order_cannot_be_paid_after_its_pay_timeout(env: Env):
    request = env.charge(expires_in_s=1)
    run(env.channel.create(request))
    assert run(env.channel.close(request.payment_id)) is None
    time.sleep(1.1)
    assert env.pay(request.payment_id)["state"] == "closed"
    assert run(env.channel.query(request.payment_id)).state == "not_found"
    assert request.payment_id not in env.inbox.accepted


def test_close_of_a_paid_order_is_refused(env: Env):
    request = env.paid_order()
    with pytest.raises(ChannelError) as refused:
        run(env.channel.close(request.payment_id))
    assert refused.value.outcome_known and refused.value.code == "order_succeeded"


def refund(env: Env, paid: ChargeRequest, amount_minor: int, refund_id: str | None = None) -> RefundRequest:
    refund_id = refund_id or "R" + uuid.uuid4().hex[:20]
    return RefundRequest(
        payment_id=paid.payment_id, refund_id=refund_id, amount=Money(amount_minor, "CNY"),
        payment_total=paid.amount, reason="退货", notify_url=env.notify_url(refund_id),
    )  # fmt: skip


def test_partial_then_full_refund_settle_notify_and_query(env: Env):
    paid = env.paid_order(1000)
    partial, rest = refund(env, paid, 300), refund(env, paid, 700)

    accepted = run(env.channel.refund(partial))
    assert (accepted.state, accepted.amount) == ("pending", Money(300, "CNY"))
    [notified] = wait_for(lambda: env.inbox.accepted.get(partial.refund_id))
    assert notified == RefundStatus(
        refund_id=partial.refund_id, payment_id=paid.payment_id, state="succeeded", amount=Money(300, "CNY"),
        channel_refund_id=accepted.channel_refund_id,
    )  # fmt: skip
    assert run(env.channel.refund(rest)).state == "pending"

    for sent, amount in ((partial, 300), (rest, 700)):
        status = run(env.channel.query_refund(paid.payment_id, sent.refund_id))
        assert (status.state, status.amount) == ("succeeded", Money(amount, "CNY"))


def test_refund_above_what_is_left_is_rejected(env: Env):
    paid = env.paid_order(1000)
    assert run(env.channel.refund(refund(env, paid, 600))).state == "pending"
    over = run(env.channel.refund(refund(env, paid, 500)))
    assert (over.state, over.failure_code) == ("failed", "33")
    assert env.sandbox.book.get(paid.payment_id).refunded_minor == 600


def test_a_resent_refund_is_one_refund(env: Env):
    paid = env.paid_order(1000)
    once = refund(env, paid, 400)
    first, again = run(env.channel.refund(once)), run(env.channel.refund(once))
    assert again.state == "succeeded" and again.channel_refund_id == first.channel_refund_id
    assert env.sandbox.book.get(paid.payment_id).refunded_minor == 400


def test_refund_of_an_unpaid_order_fails_without_reaching_unionpay(env: Env):
    request = env.charge()
    run(env.channel.create(request))
    status = run(env.channel.refund(refund(env, request, 100)))
    assert (status.state, status.failure_code) == ("failed", "payment_not_succeeded")


def test_statement_lists_the_days_payments_and_refunds(env: Env):
    paid = env.paid_order(2000)
    returned = refund(env, paid, 500)
    run(env.channel.refund(returned))

    raw = run(env.channel.download_statement(datetime.now(wire.BEIJING).date()))
    lines = env.channel.parse_statement(raw)

    [payment] = [line for line in lines if line.kind == "payment" and line.payment_id == paid.payment_id]
    [refunded] = [line for line in lines if line.refund_id == returned.refund_id]
    assert (payment.amount, payment.fee, payment.status) == (Money(2000, "CNY"), Money(12, "CNY"), "succeeded")
    assert (refunded.kind, refunded.payment_id, refunded.amount) == ("refund", paid.payment_id, Money(500, "CNY"))
    assert payment.channel_txn_id == env.sandbox.book.get(paid.payment_id).channel_txn_id


def test_statement_discrepancies_are_planted_with_their_ground_truth(env: Env):
    env.paid_order(3000)
    env.sandbox.injector.configure(Faults(bill_discrepancy_rate=1.0, seed=7, retry_interval_scale=0.0005))
    today = datetime.now(wire.BEIJING).date()

    lines = env.channel.parse_statement(run(env.channel.download_statement(today)))

    planted = env.sandbox.planted[today]
    assert planted
    payments = {line.payment_id: line for line in lines if line.kind == "payment"}
    for discrepancy in planted:
        order = env.sandbox.book.get(discrepancy.order_no)
        if discrepancy.kind == "missing":
            assert discrepancy.order_no not in payments
        elif discrepancy.kind == "phantom":
            assert discrepancy.order_no in payments and order is None
        elif discrepancy.kind == "amount":
            assert payments[discrepancy.order_no].amount.amount_minor != order.amount_minor
        else:
            assert payments[discrepancy.order_no].status == "failed"


def test_5xx_leaves_the_outcome_unknown(env: Env):
    env.sandbox.injector.configure(Faults(error_5xx_rate=1.0))
    with pytest.raises(ChannelError) as failed:
        run(env.channel.create(env.charge()))
    assert failed.value.outcome_known is False


def test_unreachable_gateway_is_a_known_outcome(env: Env):
    config = env.sandbox.adapter_config().model_copy(update={"base_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(ChannelError) as failed:
        run(UnionPayChannel(config).create(env.charge()))
    assert failed.value.outcome_known is True


def test_timeout_leaves_the_outcome_unknown_though_the_order_was_made(env: Env):
    channel = UnionPayChannel(env.sandbox.adapter_config().model_copy(update={"timeout_s": 0.5}))
    request = env.charge()
    env.sandbox.injector.configure(Faults(timeout_rate=1.0))
    with pytest.raises(ChannelError) as failed:
        run(channel.create(request))
    assert (failed.value.outcome_known, failed.value.code) == (False, "timeout")

    env.sandbox.injector.configure(FAST_RETRIES)
    env.pay(request.payment_id)
    assert run(channel.query(request.payment_id)).state == "succeeded"


def test_a_lost_notification_is_made_up_by_a_query(env: Env):
    env.sandbox.injector.configure(Faults(lost_notify_rate=1.0))
    request = env.paid_order()
    time.sleep(0.2)
    assert request.payment_id not in env.inbox.accepted
    assert run(env.channel.query(request.payment_id)).state == "succeeded"


def test_duplicated_notifications_each_verify(env: Env):
    env.sandbox.injector.configure(Faults(duplicate_notify_rate=1.0, retry_interval_scale=0.0005))
    request = env.paid_order()
    statuses = wait_for(lambda: len(env.inbox.accepted.get(request.payment_id, [])) == 2 and
                        env.inbox.accepted[request.payment_id])  # fmt: skip
    assert statuses[0] == statuses[1]


def test_tampered_or_untrusted_notifications_are_rejected(env: Env):
    request = env.paid_order(1000)
    [body] = wait_for(lambda: env.inbox.bodies.get(request.payment_id))
    fields = dict(parse_qsl(body.decode()))
    assert isinstance(env.channel.verify_notification({}, body), PaymentStatus)

    tampered = urlencode({**fields, "txnAmt": "100000"}).encode()
    unsigned = urlencode({k: v for k, v in fields.items() if k != "signature"}).encode()
    rogue = urlencode(rogue_signed(fields)).encode()
    other_merchant = {**fields, "merId": "898000000000001"}
    other_merchant["signature"] = signing.sign_with_key(other_merchant, env.sandbox.pki.signer_key)
    for bad in (tampered, unsigned, rogue, urlencode(other_merchant).encode(), b"respCode=00&%zz", b"\xff\xfe"):
        with pytest.raises(InvalidNotification):
            env.channel.verify_notification({}, bad)


def rogue_signed(fields: dict[str, str]) -> dict[str, str]:
    """Signed by a self-made certificate that claims to be UnionPay's but chains to nothing we trust."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"041@Z1@{signing.UNIONPAY_ORG}@00000001")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    fields = {**fields, "signPubKeyCert": cert.public_bytes(Encoding.PEM).decode()}
    return {**fields, "signature": signing.sign_with_key(fields, key)}


def test_a_request_with_a_bad_signature_is_refused(env: Env):
    key, cert_id = merchant_key(env)
    signed = hand_sign(apply_qr_fields(env, "1000"), key, cert_id)

    answer = post_back(env, {**signed, "txnAmt": "1"})
    assert (answer["respCode"], answer["respMsg"]) == ("11", "验证签名失败")
    page = httpx.post(env.sandbox.base_url + wire.FRONT_PATH, data={**signed, "signature": signed["signature"][4:]})
    assert "respCode=11" in page.text
    assert env.sandbox.book.get(signed["orderId"]) is None


def test_an_amount_in_yuan_is_refused(env: Env):
    key, cert_id = merchant_key(env)
    answer = post_back(env, hand_sign(apply_qr_fields(env, "12.34"), key, cert_id))
    assert answer["respCode"] == "10" and "txnAmt" in answer["respMsg"]


def test_creating_an_order_twice_is_not_a_decline(env: Env):
    request = env.charge()
    run(env.channel.create(request))
    with pytest.raises(ChannelError) as twice:
        run(env.channel.create(request))
    assert (twice.value.code, twice.value.outcome_known) == ("duplicate_order", True)


def test_a_foreign_currency_is_declined_before_sending(env: Env):
    created = run(env.channel.create(env.charge(currency="USD")))
    assert isinstance(created, Declined) and created.code == "amount_not_supported"


def test_querying_an_order_sent_elsewhere_says_its_txn_time_is_unknown(env: Env):
    with pytest.raises(ChannelError) as unknown:
        run(env.channel.query("P" + uuid.uuid4().hex[:20]))
    assert (unknown.value.code, unknown.value.outcome_known) == ("txn_time_unknown", True)


def test_hand_built_request_by_the_documented_algorithm_interoperates(env: Env):
    key, cert_id = merchant_key(env)
    fields = apply_qr_fields(env, "8800")

    answer = post_back(env, hand_sign(fields, key, cert_id))

    assert answer["respCode"] == "00" and answer["qrCode"].startswith(env.sandbox.base_url + "/qr/")
    assert answer["orderId"] == fields["orderId"]
    unionpay_cert = x509.load_pem_x509_certificate(answer["signPubKeyCert"].encode())
    text = "&".join(f"{k}={answer[k]}" for k in sorted(answer) if k != "signature")
    unionpay_cert.public_key().verify(
        base64.b64decode(answer["signature"]), hashlib.sha256(text.encode()).hexdigest().encode(),
        padding.PKCS1v15(), hashes.SHA256(),
    )  # fmt: skip
    signing.verify(answer, signing.load_trust_anchors(env.sandbox.pki.root_file, env.sandbox.pki.middle_file))
