"""Channel adapters keyed by channel code, built from configuration, and the sandboxes that
stand in for the real channels in the demo, tests and chaos runs."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import httpx

from juhe.channels.base import Channel
from juhe.channels.simkit import Faults, ServerThread, free_port

# code → (module path, adapter class, config class, sandbox class)
CHANNELS = {
    "alipay": ("juhe.channels.alipay", "AlipayChannel", "AlipayConfig", "AlipaySandbox"),
    "wechatpay": ("juhe.channels.wechatpay", "WechatPayChannel", "WechatPayConfig", "WechatPaySandbox"),
    "unionpay": ("juhe.channels.unionpay", "UnionPayChannel", "UnionPayConfig", "UnionPaySandbox"),
    "facepay": ("juhe.channels.facepay", "FacePayChannel", "FacePayConfig", "FacePaySandbox"),
    "pos": ("juhe.channels.pos", "PosChannel", "PosConfig", "PosSandbox"),
    "bank": ("juhe.channels.bank", "BankChannel", "BankConfig", "BankSandbox"),
    "crossborder": ("juhe.channels.crossborder", "CrossBorderChannel", "CrossBorderConfig", "CrossBorderSandbox"),
}


def _part(code: str, module: str, index: int):
    package, *names = CHANNELS[code]
    return getattr(importlib.import_module(f"{package}.{module}"), names[index])


def adapter_class(code: str):
    return _part(code, "adapter", 0)


def config_class(code: str):
    return _part(code, "adapter", 1)


def sandbox_class(code: str):
    return _part(code, "sandbox", 2)


def build_channel(code: str, config: dict, http: httpx.AsyncClient | None = None) -> Channel:
    """An adapter for the real channel (or anything speaking its protocol) from plain config."""
    if code not in CHANNELS:
        raise ValueError(f"unknown channel {code!r}; known: {', '.join(CHANNELS)}")
    return adapter_class(code)(config_class(code).model_validate(config), http)


@dataclass
class RunningSandbox:
    code: str
    sandbox: object  # the channel's Simulator subclass
    server: ServerThread

    def adapter(self, http: httpx.AsyncClient | None = None) -> Channel:
        return adapter_class(self.code)(self.sandbox.adapter_config(), http)

    def stop(self) -> None:
        self.server.stop()


def start_sandbox(code: str, key_dir: Path, faults: Faults | None = None, port: int | None = None) -> RunningSandbox:
    port = port or free_port()
    sandbox = sandbox_class(code)(key_dir / code, f"http://127.0.0.1:{port}", faults)
    return RunningSandbox(code, sandbox, ServerThread(sandbox.app, port).start())
