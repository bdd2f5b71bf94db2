"""Cross-border payments: ISO 20022 pacs.008 through a correspondent bank with FX quotes, and an
e-CNY style digital-currency wallet rail."""

from juhe.channels.crossborder.adapter import CrossBorderChannel, CrossBorderConfig

__all__ = ["CrossBorderChannel", "CrossBorderConfig"]
