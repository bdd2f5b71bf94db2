"""UnionPay online gateway (银联全渠道, 5.1.0): adapter, wire messages, signatures and a sandbox simulator."""

from juhe.channels.unionpay.adapter import UnionPayChannel, UnionPayConfig

__all__ = ["UnionPayChannel", "UnionPayConfig"]
