"""python-alipay-sdk, unchanged, against the Alipay sandbox: proof the sandbox speaks Alipay's
protocol and not merely our adapter's reading of it."""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from alipay import AliPay
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from juhe.channels.alipay.adapter import AlipayChannel
from juhe.channels.alipay.sandbox import AlipaySandbox
from juhe.channels.simkit import ServerThread, free_port


class SandboxAliPay(AliPay):
    """The SDK offers only the production and Alipay-sandbox gateways; it calls `self._gateway`."""

    def __init__(self, gateway: str, **kwargs):
        super().__init__(**kwargs)
        self._gateway = gateway


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    port = free_port()
    sandbox = AlipaySandbox(tmp_path_factory.mktemp("alipay-sdk"), f"http://127.0.0.1:{port}")
    bodies: list[bytes] = []
    receiver = FastAPI()

    @receiver.post("/notify")
    async def notify(request: Request) -> PlainTextResponse:
        bodies.append(await request.body())
        return PlainTextResponse("success")

    with ServerThread(sandbox.app, port=port), ServerThread(receiver) as notify_server:
        config = sandbox.client_config()
        sdk = SandboxAliPay(
            config["base_url"],
            appid=config["app_id"],
            app_notify_url=f"{notify_server.base_url}/notify",
            app_private_key_string=open(config["app_private_key_file"]).read(),
            alipay_public_key_string=open(config["channel_public_key_file"]).read(),
            sign_type="RSA2",
        )
        yield sandbox, sdk, bodies


def notifications(bodies: list[bytes], order_no: str, count: int) -> list[dict[str, str]]:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        found = [dict(parse_qsl(b.decode())) for b in bodies]
        found = [n for n in found if n["out_trade_no"] == order_no]
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"{count} notifications for {order_no} did not arrive")


def sdk_verifies(sdk: AliPay, notification: dict[str, str]) -> bool:
    data = dict(notification)
    return sdk.verify(data, data.pop("sign"))


def test_sdk_precreate_query_refund_and_notifications(world):
    sandbox, sdk, bodies = world
    order_no = f"SDK{uuid.uuid4().hex[:20]}"

    created = sdk.api_alipay_trade_precreate(subject="SDK 测试", out_trade_no=order_no, total_amount="88.88")
    assert created["code"] == "10000" and created["qr_code"].startswith(f"{sandbox.base_url}/qr/")
    assert sdk.api_alipay_trade_query(out_trade_no=order_no)["trade_status"] == "WAIT_BUYER_PAY"

    httpx.post(f"{sandbox.base_url}/sandbox/pay/{order_no}")
    [paid] = notifications(bodies, order_no, 1)
    assert paid["trade_status"] == "TRADE_SUCCESS" and sdk_verifies(sdk, paid)
    queried = sdk.api_alipay_trade_query(out_trade_no=order_no)
    assert (queried["trade_status"], queried["total_amount"]) == ("TRADE_SUCCESS", "88.88")

    refunded = sdk.api_alipay_trade_refund(refund_amount="8.88", out_trade_no=order_no, out_request_no="R1")
    assert (refunded["code"], refunded["fund_change"], refunded["refund_fee"]) == ("10000", "Y", "8.88")
    refund_note = notifications(bodies, order_no, 2)[1]
    assert refund_note["out_biz_no"] == "R1" and sdk_verifies(sdk, refund_note)

    tampered = {**refund_note, "refund_fee": "88.88"}
    assert not sdk_verifies(sdk, tampered)


def test_sdk_order_is_seen_by_our_adapter(world):
    sandbox, sdk, bodies = world
    order_no = f"SDK{uuid.uuid4().hex[:20]}"
    sdk.api_alipay_trade_precreate(subject="SDK 测试", out_trade_no=order_no, total_amount="1.01")
    httpx.post(f"{sandbox.base_url}/sandbox/pay/{order_no}")
    [paid] = notifications(bodies, order_no, 1)

    async def query():
        async with httpx.AsyncClient() as http:
            channel = AlipayChannel(sandbox.adapter_config(), http)
            return channel, await channel.query(order_no)

    channel, status = asyncio.run(query())
    assert (status.state, status.amount.amount_minor, status.channel_txn_id) == ("succeeded", 101, paid["trade_no"])
    assert channel.verify_notification({}, urlencode(paid).encode()).state == "succeeded"


def test_sdk_signed_page_pay_opens_the_sandbox_cashier(world):
    sandbox, sdk, _ = world
    order_no = f"SDK{uuid.uuid4().hex[:20]}"
    order_string = sdk.api_alipay_trade_page_pay(subject="SDK 网页", out_trade_no=order_no, total_amount="12.30")
    page = httpx.get(f"{sdk._gateway}?{order_string}")
    assert page.status_code == 200 and f"/sandbox/pay/{order_no}" in page.text
    assert sdk.api_alipay_trade_query(out_trade_no=order_no)["total_amount"] == "12.30"
