"""The cross-border adapter against its sandbox bank, over real HTTP on localhost."""

from __future__ import annotations

import asyncio
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
    ChargeCreated,
    ChargeRequest,
    ChargeSucceeded,
    Declined,
    InvalidNotification,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    Scenario,
)
from juhe.channels.crossborder import ecny, fx, iso, pacs008, signing
from juhe.channels.crossborder.adapter import CrossBorderChannel, CrossBorderConfig
from juhe.channels.crossborder.sandbox import BANK_KEY_ID, KEY_ID, CrossBorderSandbox
from juhe.channels.registry import start_sandbox
from juhe.channels.simkit import NOTIFY_ATTEMPTS_MAX, Faults, ServerThread, free_port, write_rsa_keypair
from juhe.money import Money

FAST = Faults(retry_interval_scale=0.0001)
HELD = Faults(retry_interval_scale=0.0001, auto_pay_after_ms=60_000)  # the bank sits on payments until told
OTHER_OPERATOR_WALLET = "0047000000000009"
SAME_OPERATOR_WALLET = "0031000000000042"


class Receiver:
    """Our notification endpoint: verifies with the adapter and answers with its ack."""

    def __init__(self, config: CrossBorderConfig):
        self.channel = CrossBorderChannel(config)
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
    running = start_sandbox("crossborder", tmp_path_factory.mktemp("crossborder"), FAST)
    yield running.sandbox
    running.stop()


@pytest.fixture(autouse=True)
def calm(sandbox):
    sandbox.injector.configure(FAST)
    yield
    sandbox.injector.configure(FAST)
    sandbox.quote_ttl_s = 60


@pytest.fixture(scope="module")
def receiver(sandbox):
    receiver = Receiver(sandbox.adapter_config())
    receiver.server.start()
    yield receiver
    receiver.server.stop()


class Merchant:
    """Our side: one adapter on one event loop for the whole module."""

    def __init__(self, sandbox: CrossBorderSandbox, receiver: Receiver, runner: asyncio.Runner):
        self.sandbox, self.receiver, self.runner = sandbox, receiver, runner
        self.http = httpx.AsyncClient()
        self.channel = CrossBorderChannel(sandbox.adapter_config(), self.http)

    def call(self, action, config: CrossBorderConfig | None = None):
        channel = self.channel if config is None else CrossBorderChannel(config, self.http)
        return self.runner.run(action(channel))

    def pay(self, amount: str = "100.00", **payer) -> tuple[str, ChargeCreated | ChargeSucceeded | Declined]:
        payment_id = new_id()
        request = swift(self.receiver, payment_id, amount, **payer)
        if "quote_id" not in payer and "sell_currency" not in payer:
            quote = self.call(lambda ch: ch.quote("CNY", "USD", request.amount))
            request = replace(request, payer={**request.payer, "quote_id": quote.id})
        return payment_id, self.call(lambda ch: ch.create(request))

    def settled(self, amount: str = "100.00") -> str:
        payment_id, created = self.pay(amount)
        assert isinstance(created, ChargeCreated), created
        [(*_, status)] = self.receiver.wait(payment_id)
        assert status.state == "succeeded"
        return payment_id


@pytest.fixture(scope="module")
def merchant(sandbox, receiver):
    with asyncio.Runner() as runner:
        merchant = Merchant(sandbox, receiver, runner)
        yield merchant
        runner.run(merchant.http.aclose())


def new_id() -> str:
    return uuid.uuid4().hex[:24]


def swift(receiver: Receiver, payment_id: str, amount: str = "100.00", currency: str = "USD", **payer) -> ChargeRequest:
    return ChargeRequest(
        payment_id=payment_id, amount=Money.parse(amount, currency), scenario=Scenario.CROSSBORDER,
        subject="Invoice 2025-042", notify_url=receiver.url(payment_id),
        expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
        payer={
            "rail": "swift", "creditor_bic": "CHASUS33", "creditor_account": "987654321",
            "creditor_name": "Acme Corp", "debtor_name": "Shanghai Widgets Co., Ltd.", **payer,
        },
    )  # fmt: skip


def wallet_transfer(
    receiver: Receiver, payment_id: str, fen: int = 1234, wallet: str = SAME_OPERATOR_WALLET
) -> ChargeRequest:
    return ChargeRequest(
        payment_id=payment_id, amount=Money(fen, "CNY"), scenario=Scenario.CROSSBORDER, subject="货款",
        notify_url=receiver.url(payment_id), expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
        payer={"rail": "ecny", "payee_wallet_id": wallet, "payee_name": "李四"},
    )  # fmt: skip


def control(sandbox: CrossBorderSandbox, order_no: str, outcome: str = "success") -> dict:
    answer = httpx.post(f"{sandbox.base_url}/sandbox/pay/{order_no}", json={"outcome": outcome})
    answer.raise_for_status()
    return answer.json()


def signed_post(
    sandbox: CrossBorderSandbox, path: str, body: bytes, key_file=None, callback: str = ""
) -> httpx.Response:
    key = signing.load_private_key(key_file or sandbox.private_key_file)
    values, components = signing.request_values("POST", path, ""), signing.REQUEST_COMPONENTS
    headers = {"Content-Type": "application/xml"}
    if callback:
        values[signing.CALLBACK], components = callback, components + (signing.CALLBACK,)
        headers["Callback-URL"] = callback
    headers |= signing.sign(key, KEY_ID, components, values, body, int(time.time()))
    return httpx.post(sandbox.base_url + path, content=body, headers=headers)


# --- SWIFT: quote, pacs.008, pacs.002


def test_quote_from_the_desk_has_rate_spread_expiry_and_tariff(merchant):
    quote = merchant.call(lambda ch: ch.quote("CNY", "USD", Money.parse("100.00", "USD")))
    assert (quote.sell, quote.buy, quote.spread_bps) == ("CNY", "USD", 30) and quote.id.startswith("FXQ")
    assert quote.rate == merchant.call(lambda ch: ch.find_quote(quote.id)).rate
    assert timedelta(seconds=50) < quote.expires_at - datetime.now(timezone.utc) <= timedelta(seconds=60)
    assert quote.tariff.sending_fee == Money.parse("15.00", "USD")


def test_swift_payment_is_acknowledged_then_settled_with_a_signed_pacs002(sandbox, receiver, merchant):
    payment_id, created = merchant.pay("100.00")
    assert created == ChargeCreated(created.action, channel_ref=iso.uetr_for(payment_id))
    assert created.action.kind == "none"
    [(_, headers, body, status)] = receiver.wait(payment_id)
    assert b"<TxSts>ACSC</TxSts>" in body and headers["signature-input"].startswith("sig1=")
    assert status == PaymentStatus(
        payment_id=payment_id, state="succeeded", amount=Money(10000, "USD"), channel_txn_id=iso.uetr_for(payment_id),
        paid_at=status.paid_at,
    )  # fmt: skip
    assert merchant.call(lambda ch: ch.query(payment_id)) == status
    time.sleep(0.1)
    assert [s for url, s in sandbox.notifier.delivered if url == receiver.url(payment_id)] == [200]  # ack stops retries


def test_currency_pair_without_quote_is_quoted_on_the_spot(sandbox, merchant):
    payment_id, created = merchant.pay("250.00", sell_currency="CNY", charge_bearer="BEN")
    assert isinstance(created, ChargeCreated)
    assert sandbox.book.get(payment_id).fee_minor == 0  # BEN: every fee is taken from the creditor's side


def test_expired_quote_is_declined_and_changes_nothing(sandbox, receiver, merchant):
    sandbox.quote_ttl_s = 0.05
    quote = merchant.call(lambda ch: ch.quote("CNY", "USD", Money(10000, "USD")))
    time.sleep(0.1)
    payment_id = new_id()
    declined = merchant.call(lambda ch: ch.create(swift(receiver, payment_id, quote_id=quote.id)))
    assert isinstance(declined, Declined) and declined.code == "fx_quote_expired" and quote.id in declined.message
    assert sandbox.book.get(payment_id) is None and sandbox.quotes[quote.id][1] is None

    sandbox.quote_ttl_s = 60  # the same payment goes through with a fresh quote
    fresh = merchant.call(lambda ch: ch.quote("CNY", "USD", Money(10000, "USD")))
    assert isinstance(
        merchant.call(lambda ch: ch.create(swift(receiver, payment_id, quote_id=fresh.id))), ChargeCreated
    )


def test_bank_refuses_a_deal_expired_by_its_clock_and_books_nothing(sandbox, receiver, merchant):
    sandbox.quote_ttl_s = 0.05
    quote = merchant.call(lambda ch: ch.quote("CNY", "USD", Money(10000, "USD")))
    time.sleep(0.1)
    skewed = CrossBorderChannel(sandbox.adapter_config(), merchant.http)

    async def behind_the_bank(quote_id: str):  # our clock runs behind: the quote still looks live to us
        return replace(quote, expires_at=datetime.now(timezone.utc) + timedelta(seconds=30))

    skewed.find_quote = behind_the_bank
    payment_id = new_id()
    declined = merchant.runner.run(skewed.create(swift(receiver, payment_id, quote_id=quote.id)))
    assert declined.code == "fx_quote_expired" and "expired at" in declined.message
    assert sandbox.book.get(payment_id) is None and sandbox.quotes[quote.id][1] is None


def test_a_deal_pays_one_payment_only(receiver, merchant):
    quote = merchant.call(lambda ch: ch.quote("CNY", "USD", Money(10000, "USD")))
    assert isinstance(merchant.pay(quote_id=quote.id)[1], ChargeCreated)
    assert merchant.pay(quote_id=quote.id)[1].code == "FX_QUOTE_USED"
    eur = merchant.call(lambda ch: ch.quote("CNY", "EUR", Money(10000, "EUR")))
    assert merchant.pay(quote_id=eur.id)[1].code == "fx_quote_mismatch"  # a EUR deal cannot settle USD
    assert merchant.pay(quote_id="FXQNOSUCHDEAL")[1].code == "fx_quote_not_found"


def test_closed_creditor_account_is_rejected_later_with_ac04(receiver, merchant):
    payment_id, created = merchant.pay(creditor_account="000120000")
    assert isinstance(created, ChargeCreated)
    [(_, _, body, status)] = receiver.wait(payment_id)
    assert b"<TxSts>RJCT</TxSts>" in body and (status.state, status.failure_code) == ("failed", "AC04")
    assert merchant.call(lambda ch: ch.query(payment_id)) == status


def test_decline_fault_rejects_with_am04(sandbox, receiver, merchant):
    sandbox.injector.configure(Faults(decline_rate=1.0, retry_interval_scale=0.0001))
    payment_id, _ = merchant.pay()
    [(*_, status)] = receiver.wait(payment_id)
    assert (status.state, status.failure_code) == ("failed", "AM04")


def test_resent_payment_gets_its_status_and_changed_details_are_a_duplicate(sandbox, receiver, merchant):
    payment_id = merchant.settled()
    quote = merchant.call(lambda ch: ch.quote("CNY", "USD", Money(10000, "USD")))
    again = merchant.call(lambda ch: ch.create(swift(receiver, payment_id, quote_id=quote.id)))
    assert isinstance(again, ChargeSucceeded) and again.status.state == "succeeded"
    with pytest.raises(ChannelError) as caught:  # never a decline: the first one may be paying
        merchant.call(lambda ch: ch.create(swift(receiver, payment_id, "101.00", quote_id=quote.id)))
    assert (caught.value.code, caught.value.outcome_known) == ("DUPL", False)


def test_invalid_pacs008_is_nakked_and_our_adapter_never_sends_one(sandbox, receiver, merchant):
    for body in (b"not xml", b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08'/>"):
        answer = signed_post(sandbox, "/iso20022/v1/pacs.008", body, callback=receiver.url("x"))
        assert answer.status_code == 400 and answer.json()["code"] == "FF01"
    payment_id, declined = merchant.pay(creditor_bic="chase-ny")
    assert declined.code == "invalid_message" and "BICFI" in declined.message
    assert sandbox.book.get(payment_id) is None
    assert merchant.pay(creditor_name="")[1].code == "creditor_missing"
    assert merchant.pay("20.00")[1].code == "fx_amount_below_fees"  # SHA: the 20.00 receiving fee takes it all
    assert merchant.pay(charge_bearer="ALL")[1].code == "charge_bearer_invalid"
    stranger = sandbox.adapter_config().model_copy(update={"instructing_bic": "OTHRCNS1XXX"})
    request = swift(receiver, new_id(), sell_currency="CNY")
    assert merchant.call(lambda ch: ch.create(request), stranger).code == "AGNT"  # not the bank's client


def test_close_cancels_an_unsettled_payment_and_refuses_a_settled_one(sandbox, receiver, merchant):
    sandbox.injector.configure(HELD)
    payment_id, _ = merchant.pay()
    assert merchant.call(lambda ch: ch.query(payment_id)).state == "pending"
    assert refund(merchant, payment_id, "RN" + payment_id, 10000).failure_code == "NOT_SETTLED"
    assert merchant.call(lambda ch: ch.close(payment_id)) is None
    assert control(sandbox, payment_id)["state"] == "closed"
    status = merchant.call(lambda ch: ch.query(payment_id))
    assert (status.state, status.failure_code) == ("closed", "CANC")

    sandbox.injector.configure(FAST)
    settled = merchant.settled()
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.close(settled))
    assert (caught.value.code, caught.value.outcome_known) == ("ALREADY_SETTLED", True)
    assert merchant.call(lambda ch: ch.query("nosuchpayment")).state == "not_found"


# --- returns: camt.056 → pacs.004


def refund(
    merchant: Merchant, payment_id: str, refund_id: str, amount_minor: int, total_minor: int = 10000
) -> RefundStatus:
    request = RefundRequest(
        payment_id=payment_id, refund_id=refund_id, amount=Money(amount_minor, "USD"),
        payment_total=Money(total_minor, "USD"), reason="goods returned", notify_url=merchant.receiver.url(refund_id),
    )  # fmt: skip
    return merchant.call(lambda ch: ch.refund(request))


def test_full_return_by_recall_and_partial_or_second_return_refused(sandbox, receiver, merchant):
    payment_id = merchant.settled()
    partial = refund(merchant, payment_id, "RP" + payment_id, 3000)
    assert (partial.state, partial.failure_code) == ("failed", "partial_return_unsupported")

    first = refund(merchant, payment_id, "R1" + payment_id, 10000)
    assert (first.state, first.amount) == ("pending", Money(10000, "USD"))
    [(_, _, body, notified)] = receiver.wait("R1" + payment_id)
    assert b"<Cd>FOCR</Cd>" in body
    assert notified == RefundStatus(
        refund_id="R1" + payment_id, payment_id=payment_id, state="succeeded", amount=Money(10000, "USD"),
        channel_refund_id=notified.channel_refund_id,
    )  # fmt: skip
    assert merchant.call(lambda ch: ch.query_refund(payment_id, "R1" + payment_id)) == notified
    assert refund(merchant, payment_id, "R1" + payment_id, 10000) == notified  # the same recall is answered again

    second = refund(merchant, payment_id, "R2" + payment_id, 10000)
    assert (second.state, second.failure_code) == ("failed", "ALREADY_RECALLED")
    assert refund(merchant, payment_id, "R3" + payment_id, 10001, 10001).failure_code == "AMOUNT_MISMATCH"
    assert merchant.call(lambda ch: ch.query_refund(payment_id, "R9" + payment_id)).state == "not_found"


# --- e-CNY


def test_ecny_transfer_between_wallets_of_one_operator_is_final_at_once(sandbox, receiver, merchant):
    payment_id = new_id()
    done = merchant.call(lambda ch: ch.create(wallet_transfer(receiver, payment_id)))
    assert isinstance(done, ChargeSucceeded)
    assert (done.status.state, done.status.amount) == ("succeeded", Money(1234, "CNY"))
    assert done.status.channel_txn_id.startswith("EC")
    assert merchant.call(lambda ch: ch.query(payment_id)) == done.status
    [(*_, notified)] = receiver.wait(payment_id)
    assert notified == done.status


def test_ecny_transfer_to_another_operator_is_confirmed_later(sandbox, receiver, merchant):
    sandbox.injector.configure(HELD)
    payment_id = new_id()
    created = merchant.call(lambda ch: ch.create(wallet_transfer(receiver, payment_id, wallet=OTHER_OPERATOR_WALLET)))
    assert isinstance(created, ChargeCreated) and created.action.kind == "none"
    pending = merchant.call(lambda ch: ch.query(payment_id))
    assert (pending.state, pending.channel_txn_id) == ("pending", created.channel_ref)
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.close(payment_id))
    assert caught.value.code == "TRANSFER_IN_PROGRESS"

    control(sandbox, payment_id)
    [(_, _, body, confirmed)] = receiver.wait(payment_id)
    assert json.loads(body)["confirmation_id"].startswith("CF") and confirmed.state == "succeeded"
    assert merchant.call(lambda ch: ch.query(payment_id)) == confirmed
    gone = refund(merchant, payment_id, "RE" + payment_id, 1234, 1234)
    assert (gone.state, gone.failure_code) == ("failed", "ecny_return_unsupported")


def test_ecny_refuses_other_currencies_bad_wallets_and_reused_numbers(sandbox, receiver, merchant):
    usd = replace(wallet_transfer(receiver, new_id()), amount=Money(100, "USD"))
    assert merchant.call(lambda ch: ch.create(usd)).code == "currency_not_supported"
    bad_wallet = wallet_transfer(receiver, new_id(), wallet="31-42")
    assert merchant.call(lambda ch: ch.create(bad_wallet)).code == "invalid_request"
    sandbox.injector.configure(Faults(decline_rate=1.0, retry_interval_scale=0.0001))
    assert merchant.call(lambda ch: ch.create(wallet_transfer(receiver, new_id()))).code == "INSUFFICIENT_BALANCE"

    sandbox.injector.configure(FAST)
    payment_id = new_id()
    merchant.call(lambda ch: ch.create(wallet_transfer(receiver, payment_id)))
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.create(wallet_transfer(receiver, payment_id, fen=999)))
    assert (caught.value.code, caught.value.outcome_known) == ("DUPLICATE_OUT_TRANSFER_NO", False)


@pytest.mark.parametrize("amount", ['"12.34"', "12.34", "0"])
def test_ecny_operator_refuses_amounts_not_in_whole_fen(sandbox, receiver, amount):
    body = (
        '{"out_transfer_no":"' + new_id() + '","payer_wallet_id":"0031000000000001",'
        f'"payee_wallet_id":"{SAME_OPERATOR_WALLET}","payee_name":"x","amount_fen":{amount},"currency":"CNY",'
        f'"notify_url":"{receiver.url("x")}","timestamp":"2025-03-14T09:30:00Z"}}'
    ).encode()
    answer = signed_post(sandbox, "/ecny/v1/transfers", body)
    assert (
        answer.status_code == 400
        and answer.json()["code"] == "PARAM_ERROR"
        and "amount_fen" in answer.json()["message"]
    )


def test_ecny_transfer_not_signed_by_the_wallet_is_refused(sandbox, receiver, tmp_path):
    other, _ = write_rsa_keypair(tmp_path, "thief")
    request = ecny.TransferRequest(
        out_transfer_no=new_id(), payer_wallet_id=sandbox.wallet_id, payee_wallet_id=SAME_OPERATOR_WALLET,
        payee_name="x", amount_fen=100, currency="CNY", notify_url=receiver.url("x"),
        timestamp=datetime.now(timezone.utc),
    )  # fmt: skip
    forged = ecny.signed_transfer(signing.load_private_key(other), request)
    answer = signed_post(sandbox, "/ecny/v1/transfers", forged.model_dump_json().encode())
    assert answer.status_code == 403 and answer.json()["code"] == "WALLET_SIGNATURE_INVALID"


# --- statement


def test_statement_lists_payments_returns_wallet_transfers_and_fees(sandbox, receiver, merchant):
    payment_id = merchant.settled("100.00")
    refund(merchant, payment_id, "RS" + payment_id, 10000)
    receiver.wait("RS" + payment_id)
    wallet_id = new_id()
    merchant.call(lambda ch: ch.create(wallet_transfer(receiver, wallet_id, fen=5000)))
    raw = merchant.call(lambda ch: ch.download_statement(datetime.now(timezone.utc).date()))
    assert raw.startswith(b"<?xml") and b"camt.053.001.08" in raw
    lines = {(line.kind, line.payment_id): line for line in merchant.channel.parse_statement(raw)}
    paid, returned = lines[("payment", payment_id)], lines[("refund", payment_id)]
    assert (paid.amount, paid.fee, paid.status) == (Money(10000, "USD"), Money(1500, "USD"), "BOOK")  # SHA: sending fee
    assert (returned.refund_id, returned.amount, returned.channel_txn_id) == (
        "RS" + payment_id,
        Money(10000, "USD"),
        iso.uetr_for(payment_id),
    )
    assert lines[("payment", wallet_id)].amount == Money(5000, "CNY")
    empty_day = datetime.now(timezone.utc).date() - timedelta(days=400)
    assert merchant.call(lambda ch: ch.download_statement(empty_day)) == b""


def test_statement_discrepancies_are_planted_and_recorded(sandbox, merchant):
    for _ in range(4):
        merchant.settled("50.00")
    sandbox.injector.configure(Faults(bill_discrepancy_rate=1.0, seed=5, retry_interval_scale=0.0001))
    today = datetime.now(timezone.utc).date()
    lines = merchant.channel.parse_statement(merchant.call(lambda ch: ch.download_statement(today)))
    payments = {line.payment_id: line for line in lines if line.kind == "payment"}
    planted = sandbox.planted[today]
    assert len(planted) == len([o for o in sandbox.book.orders.values() if o.state == "succeeded"]) >= 4
    for p in planted:
        order = sandbox.book.get(p.order_no)
        if p.kind == "missing":
            assert p.order_no not in payments
        elif p.kind == "phantom":
            assert order is None and payments[p.order_no].status == "BOOK"
        elif p.kind == "amount":
            assert payments[p.order_no].amount.amount_minor != order.amount_minor
        else:
            assert payments[p.order_no].status == "PDNG"


# --- faults


def test_5xx_means_outcome_unknown_and_refused_connection_means_known(sandbox, receiver, merchant):
    quote = merchant.call(lambda ch: ch.quote("CNY", "USD", Money(10000, "USD")))
    sandbox.injector.configure(Faults(error_5xx_rate=1.0, retry_interval_scale=0.0001))
    payment_id = new_id()
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.create(swift(receiver, payment_id, quote_id=quote.id)))
    assert (caught.value.outcome_known, caught.value.code) == (False, "SYSTEM_ERROR")
    assert sandbox.book.get(payment_id) is None

    nowhere = sandbox.adapter_config().model_copy(update={"base_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.query(payment_id), nowhere)
    assert caught.value.outcome_known


def test_timeout_means_outcome_unknown_though_processed(sandbox, receiver, merchant):
    quote = merchant.call(lambda ch: ch.quote("CNY", "USD", Money(10000, "USD")))
    impatient = CrossBorderChannel(sandbox.adapter_config().model_copy(update={"timeout_s": 0.5}), merchant.http)

    async def deal_in_hand(quote_id: str):  # fetched before the bank started hanging
        return quote

    impatient.find_quote = deal_in_hand
    sandbox.injector.configure(Faults(timeout_rate=1.0, retry_interval_scale=0.0001))
    payment_id = new_id()
    with pytest.raises(ChannelError) as caught:
        merchant.runner.run(impatient.create(swift(receiver, payment_id, quote_id=quote.id)))
    assert (caught.value.outcome_known, caught.value.code) == (False, "timeout")
    assert sandbox.book.get(payment_id) is not None  # so the caller must query before retrying


def test_lost_notification_leaves_query_as_the_truth(sandbox, receiver, merchant):
    sandbox.injector.configure(Faults(lost_notify_rate=1.0, retry_interval_scale=0.0001))
    payment_id, _ = merchant.pay()
    assert receiver.wait(payment_id, timeout_s=0.4) == []
    assert merchant.call(lambda ch: ch.query(payment_id)).state == "succeeded"


def test_duplicated_notification_verifies_twice_to_the_same_message(sandbox, receiver, merchant):
    sandbox.injector.configure(Faults(duplicate_notify_rate=1.0, retry_interval_scale=0.0001))
    payment_id, _ = merchant.pay()
    first, second = receiver.wait(payment_id, count=2)
    assert first[3] == second[3] and first[3].state == "succeeded"
    assert first[2] == second[2]  # the same pacs.002, MsgId and all: deduplicate on it


def test_refused_ack_is_retried_on_schedule(sandbox, receiver, merchant):
    payment_id = new_id()
    request = replace(
        swift(receiver, payment_id, sell_currency="CNY"), notify_url=receiver.url(payment_id, mode="fail")
    )
    merchant.call(lambda ch: ch.create(request))
    attempts = receiver.wait(payment_id, count=NOTIFY_ATTEMPTS_MAX)
    assert len(attempts) == NOTIFY_ATTEMPTS_MAX and all(status is not None for *_, status in attempts)


def test_tampered_stale_or_forged_notifications_are_rejected(sandbox, receiver, merchant):
    payment_id, _ = merchant.pay()
    [(_, headers, body, _)] = receiver.wait(payment_id)
    wallet_payment = new_id()
    merchant.call(lambda ch: ch.create(wallet_transfer(receiver, wallet_payment)))
    [(_, _, confirmation, _)] = receiver.wait(wallet_payment)
    bank_key = signing.load_private_key(sandbox.bank_public_key_file.parent / "crossborder_bank_private_key.pem")

    def resigned(content: bytes, age_s: int = 0) -> dict[str, str]:
        created = int(time.time()) - age_s
        return signing.sign(
            bank_key, BANK_KEY_ID, signing.NOTIFICATION_COMPONENTS, {"@method": "POST"}, content, created
        )

    forged_confirmation = json.dumps({**json.loads(confirmation), "amount_fen": 1}).encode()
    foreign = pacs008.build(pacs008.read(pacs008.build(_any_transfer())))
    rejected = [
        (headers, body.replace(b"ACSC", b"RJCT")),
        ({k: v for k, v in headers.items() if not k.startswith("signature")}, body),
        (resigned(body, age_s=signing.SIGNATURE_AGE_MAX_S + 5), body),
        (resigned(forged_confirmation), forged_confirmation),  # HTTP-signed by the bank, but not the operator's word
        (resigned(b"{not json"), b"{not json"),
        (resigned(foreign), foreign),  # signed, well-formed, but no notification
    ]
    for bad_headers, bad_body in rejected:
        with pytest.raises(InvalidNotification):
            merchant.channel.verify_notification(bad_headers, bad_body)
    assert merchant.channel.verify_notification(resigned(body), body).state == "succeeded"


def _any_transfer() -> pacs008.CreditTransfer:
    now = datetime.now(timezone.utc)
    return pacs008.CreditTransfer(
        msg_id="JH1", created_at=now, instruction_id="p1", end_to_end_id="p1", uetr=iso.uetr_for("p1"),
        settlement=Money(100, "USD"), settlement_date=now.date(), instructed=None, rate=None,
        bearer=fx.ChargeBearer.SHA, charges=(), instructing_bic="JUHECNS1XXX", instructed_bic="SNDBCNSHXXX",
        debtor_name="d", debtor_account="1", debtor_agent_bic="JUHECNS1XXX", creditor_name="c", creditor_account="2",
        creditor_agent_bic="CHASUS33", remittance=None, fx_deal=None,
    )  # fmt: skip


def test_requests_and_answers_signed_with_other_keys_are_refused(sandbox, receiver, merchant, tmp_path):
    other_private, other_public = write_rsa_keypair(tmp_path, "other")
    answer = signed_post(sandbox, "/iso20022/v1/pacs.028", b"<x/>", key_file=other_private)
    assert answer.status_code == 401 and answer.json()["code"] == "SIGNATURE_INVALID"
    unsigned = httpx.post(f"{sandbox.base_url}/fx/v1/quotes", json={})
    assert unsigned.status_code == 401

    wrong_key = sandbox.adapter_config().model_copy(update={"private_key_file": other_private})
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.query(new_id()), wrong_key)
    assert (caught.value.code, caught.value.outcome_known) == ("SIGNATURE_INVALID", True)
    wrong_bank = sandbox.adapter_config().model_copy(update={"bank_public_key_file": other_public})
    with pytest.raises(ChannelError) as caught:
        merchant.call(lambda ch: ch.query(new_id()), wrong_bank)
    assert (caught.value.code, caught.value.outcome_known) == ("answer_signature", False)


def test_adapter_declines_what_the_channel_cannot_take(receiver, merchant):
    qr = replace(swift(receiver, new_id(), sell_currency="CNY"), scenario=Scenario.QR)
    assert merchant.call(lambda ch: ch.create(qr)).code == "scenario_not_supported"
    chf = swift(receiver, new_id(), currency="CHF", sell_currency="CNY")
    assert merchant.call(lambda ch: ch.create(chf)).code == "currency_not_supported"
    assert merchant.call(lambda ch: ch.create(swift(receiver, new_id()))).code == "fx_quote_required"
    other_rail = replace(swift(receiver, new_id(), sell_currency="CNY", rail="cips"))
    assert merchant.call(lambda ch: ch.create(other_rail)).code == "rail_not_supported"
    with pytest.raises(Exception) as caught:
        merchant.call(lambda ch: ch.quote("CNY", "CHF", Money(100, "CHF")))
    assert getattr(caught.value, "code", "") == "fx_pair_not_supported"
