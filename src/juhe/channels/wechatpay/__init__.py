"""WeChat Pay (微信支付) API v3: adapter, wire models, signatures and a sandbox simulator."""

from juhe.channels.wechatpay.adapter import WechatPayChannel, WechatPayConfig

__all__ = ["WechatPayChannel", "WechatPayConfig"]
