"""POS terminals over ISO 8583: the acquirer link (adapter), the terminal gateway, a terminal
simulator, message rules and MACs, and an acquirer host simulator."""

from juhe.channels.pos.adapter import PosChannel, PosConfig

__all__ = ["PosChannel", "PosConfig"]
