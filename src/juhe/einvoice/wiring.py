"""Which tax platform a process issues through: the one configured (JUHE_TAX_PLATFORM_URL,
_APP_ID, _SECRET), or, with channels in sandbox mode and none configured, a sandbox this
process starts on localhost (one per process)."""

from __future__ import annotations

import threading

from pydantic_settings import BaseSettings, SettingsConfigDict

from juhe.einvoice.platform import TaxPlatform

MISSING = object()
_sandbox_lock = threading.Lock()
_sandboxed: dict[str, object] = {}


class TaxPlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JUHE_TAX_PLATFORM_")
    url: str | None = None
    app_id: str = ""
    secret: str = ""


def tax_platform(channel_mode: str) -> TaxPlatform | None:
    configured = TaxPlatformSettings()
    if configured.url:
        return TaxPlatform(configured.url, configured.app_id, configured.secret)
    if channel_mode != "sandbox":
        return None
    with _sandbox_lock:
        if "platform" not in _sandboxed:
            from juhe.einvoice import sandbox

            _sandboxed["sandbox"], _sandboxed["server"], _sandboxed["platform"] = sandbox.start()
        return _sandboxed["platform"]


def app_platform(state, channel_mode: str) -> TaxPlatform | None:
    """The app's tax platform: set on `state` by whoever built the app (tests), or as configured."""
    found = getattr(state, "tax_platform", MISSING)
    if found is MISSING:
        found = state.tax_platform = tax_platform(channel_mode)
    return found
