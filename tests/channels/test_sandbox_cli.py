"""`juhe sandbox <code> --json` serves a channel simulator and first prints how to reach it."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from juhe.channels.simkit import free_port

EXPECTED = {
    "alipay": {"base_url", "app_id", "app_private_key_file", "channel_public_key_file"},
    "wechatpay": {"base_url", "app_id", "mchid", "serial_no", "apiv3_key", "public_key_id"},
    "unionpay": {"base_url"},
    "pos": {"base_url", "host", "port", "merchant_id", "terminal_id", "mac_key_file", "card_key_file"},
    "bank": {"base_url", "app_id", "app_private_key_file", "channel_public_key_file", "customer_id", "key_id", "debtor_account"},
    "crossborder": {"base_url", "app_id", "key_id", "bank_key_id", "instructing_bic", "correspondent_bic", "wallet_id"},
    "facepay": {"base_url", "app_id", "app_private_key_file", "channel_public_key_file", "mchid", "device_id"},
}


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_sandbox_command_prints_client_settings_then_serves(tmp_path, code):
    port = free_port()
    env = {**os.environ, "JUHE_DATA_DIR": str(tmp_path)}
    juhe = Path(sys.executable).with_name("juhe")
    process = subprocess.Popen([str(juhe), "sandbox", code, "--port", str(port), "--json"], stdout=subprocess.PIPE, env=env, text=True)
    try:
        settings = json.loads(process.stdout.readline())
        assert EXPECTED[code] <= settings.keys()
        assert settings["base_url"].startswith(f"http://127.0.0.1:{port}")
        for key, value in settings.items():
            if key.endswith("_file"):
                assert Path(value).exists(), key
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/sandbox/faults")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "sandbox did not start"
                time.sleep(0.1)
        assert answer.json()["timeout_rate"] == 0
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_unknown_channel_is_a_clear_error():
    juhe = Path(sys.executable).with_name("juhe")
    result = subprocess.run([str(juhe), "sandbox", "paypal"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "unknown channel" in result.stderr
