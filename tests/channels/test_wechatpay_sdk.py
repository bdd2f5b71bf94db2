"""The community `wechatpayv3` SDK, unchanged, against our WeChat Pay sandbox.

If a third-party client that speaks the real API v3 works against the sandbox, the sandbox
speaks the real protocol: request signatures, signed answers in WeChat Pay public key mode,
AEAD_AES_256_GCM notifications and the bill download.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from wechatpayv3 import WeChatPay, WeChatPayType

from juhe.channels.simkit import Faults, ServerThread, free_port
from juhe.channels.wechatpay.sandbox import WechatPaySandbox
from juhe.channels.wechatpay.wire import CST


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    port = free_port()
    sandbox = WechatPaySandbox(
        tmp_path_factory.mktemp("wechatpay_sdk"), f"http://127.0.0.1:{port}", Faults(retry_interval_scale=0.0001)
    )
    with ServerThread(sandbox.app, port=port):
        yield sandbox


@pytest.fixture(scope="module")
def sdk_and_callbacks(sandbox):
    """The SDK configured from client_config(), and a notify endpoint that hands bodies to its callback()."""
    config = sandbox.client_config()
    callbacks: list[dict | None] = []
    app = FastAPI()
    with ServerThread(app) as receiver:
        wxpay = WeChatPay(
            wechatpay_type=WeChatPayType.NATIVE,
            mchid=config["mchid"],
            private_key=Path(config["app_private_key_file"]).read_text(),
            cert_serial_no=config["serial_no"],
            appid=config["app_id"],
            apiv3_key=config["apiv3_key"],
            notify_url=f"{receiver.base_url}/notify",
            public_key=Path(config["channel_public_key_file"]).read_text(),
            public_key_id=config["public_key_id"],
        )
        wxpay._core._gate_way = config["base_url"]  # the SDK's host setting; its code stays as published

        @app.post("/notify")
        async def notify(request: Request) -> Response:
            callbacks.append(wxpay.callback(request.headers, await request.body()))
            return Response(status_code=204)

        yield wxpay, callbacks


def wait_for(callbacks: list, event_type: str, timeout_s: float = 3.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for found in callbacks:
            if found and found["event_type"] == event_type:
                return found
        time.sleep(0.01)
    raise AssertionError(f"no {event_type} callback in {callbacks}")


def test_sdk_pays_queries_refunds_and_decrypts_notifications(sandbox, sdk_and_callbacks):
    wxpay, callbacks = sdk_and_callbacks
    out_trade_no = uuid.uuid4().hex[:24]

    amount = {"total": 100, "currency": "CNY"}
    code, message = wxpay.pay(description="SDK 测试", out_trade_no=out_trade_no, amount=amount)
    assert code == 200 and json.loads(message)["code_url"].startswith(sandbox.base_url)

    httpx.post(f"{sandbox.base_url}/sandbox/pay/{out_trade_no}").raise_for_status()
    paid = wait_for(callbacks, "TRANSACTION.SUCCESS")
    assert paid["resource"]["out_trade_no"] == out_trade_no and paid["resource"]["trade_state"] == "SUCCESS"
    assert paid["resource"]["amount"]["total"] == 100

    code, message = wxpay.query(out_trade_no=out_trade_no)
    assert code == 200 and json.loads(message)["trade_state"] == "SUCCESS"

    refund = {"refund": 40, "total": 100, "currency": "CNY"}
    code, message = wxpay.refund(out_refund_no="R" + out_trade_no, amount=refund, out_trade_no=out_trade_no)
    assert code == 200 and json.loads(message)["status"] == "PROCESSING"
    refunded = wait_for(callbacks, "REFUND.SUCCESS")
    assert refunded["resource"]["refund_status"] == "SUCCESS" and refunded["resource"]["amount"]["refund"] == 40

    code, message = wxpay.query_refund(out_refund_no="R" + out_trade_no)
    assert code == 200 and json.loads(message)["status"] == "SUCCESS"


def test_sdk_closes_an_order_and_downloads_the_gzip_bill(sandbox, sdk_and_callbacks):
    wxpay, _ = sdk_and_callbacks
    unpaid, paid = uuid.uuid4().hex[:24], uuid.uuid4().hex[:24]
    for out_trade_no in (unpaid, paid):
        code, _ = wxpay.pay(description="bill", out_trade_no=out_trade_no, amount={"total": 250, "currency": "CNY"})
        assert code == 200
    httpx.post(f"{sandbox.base_url}/sandbox/pay/{paid}").raise_for_status()
    assert wxpay.close(out_trade_no=unpaid)[0] == 204

    code, message = wxpay.trade_bill(bill_date=datetime.now(CST).date().isoformat())
    assert code == 200
    bill = json.loads(message)
    code, content = wxpay.download_bill(bill["download_url"])
    raw = gzip.decompress(content)
    assert code == 200 and hashlib.sha1(raw).hexdigest() == bill["hash_value"]
    assert f"`{paid}," in raw.decode() and f"`{unpaid}," not in raw.decode()
