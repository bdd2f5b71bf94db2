"""Which wallet opened the landing page, and how that wallet pays: pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from juhe.channels.base import Scenario


@dataclass(frozen=True, slots=True)
class Wallet:
    code: str
    channel: str  # the channel whose cashier runs inside this wallet
    scenario: Scenario
    name: str
    user_agent_mark: str  # what the wallet's in-app browser puts in its User-Agent


# Alipay's browser runs its WAP cashier; WeChat's runs JSAPI (WeixinJSBridge) for a known
# openid; UnionPay's 云闪付 app opens the online gateway's mobile form.
WALLETS: dict[str, Wallet] = {w.code: w for w in (
    Wallet("alipay", "alipay", Scenario.WAP, "支付宝 Alipay", "AlipayClient"),
    Wallet("wechat", "wechatpay", Scenario.JSAPI, "微信支付 WeChat Pay", "MicroMessenger"),
    Wallet("unionpay", "unionpay", Scenario.WAP, "云闪付 UnionPay", "UnionPay/"),
)}


def wallet_of(user_agent: str) -> Wallet | None:
    """None for any other browser: the payer is offered a choice."""
    return next((w for w in WALLETS.values() if w.user_agent_mark in user_agent), None)


class IdentifiesPayer(Protocol):
    """A channel whose in-wallet payments need the payer's id first (WeChat's openid)."""

    def payer_identity_url(self, redirect_uri: str, state: str) -> str: ...

    async def payer_identity(self, code: str) -> str: ...
