"""Alipay (支付宝) OpenAPI: RSA2-signed gateway calls, trade_status_sync notifications, trade bills."""

from juhe.channels.alipay.adapter import AlipayChannel, AlipayConfig

__all__ = ["AlipayChannel", "AlipayConfig"]
