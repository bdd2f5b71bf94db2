"""Settings, read once from JUHE_* environment variables (nested with `__`)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JUHE_", env_nested_delimiter="__", extra="ignore")

    # The embedded default: a SQLite file in the working directory.
    database_url: str = "sqlite:///juhe.db"
    data_dir: Path = Path("juhe-data")  # sandbox keys, downloaded statements
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"  # where channels send notifications
    idempotency_ttl_hours: int = 48
    log_level: str = "info"
    # Requests per API key and API process (api/rate_limits.py); 0 turns the limit off.
    api_key_rate_per_s: float = 500.0  # above what one process serves a key today (bench risk: ~290/s)
    api_key_burst: int = 1_000
    # sandbox: every channel is served by its simulator (in-process for `serve`/`demo`,
    # at sandbox_base_port + i); live: adapters use `channels.<code>` (base_url, ids, key files).
    channel_mode: Literal["sandbox", "live"] = "sandbox"
    sandbox_base_port: int = 8101
    channels: dict[str, dict[str, str]] = {}
    payment_ttl_s: int = 900
    poll_initial_s: float = 5.0
    payment_interrupted_after_s: float = 300.0  # a create cut short by a crash is failed after this (poller)
    worker_interval_s: float = 1.0
    webhook_allow_private_urls: bool = False  # demo and tests deliver to localhost
    webhook_lease_s: float = 60.0  # how long a worker holds the deliveries it claimed (a killed one's come due after)
    # Juhe's ISO 8583 server for store terminals; None: not served by this process (0: any free port).
    pos_gateway_port: int | None = 8600
    pos_gateway_host: str = "127.0.0.1"
    # Holidays and make-up working days of years chinese-calendar does not know yet (settlement/calendar.py).
    settlement_calendar_file: Path | None = None
    # Annual rates of the treasury's products, e.g. {"deposit_3m": "0.0125"}; a product left out keeps treasury/advice.py's.
    treasury_rates: dict[str, Decimal] = {}
    # Supply-chain finance (scf/): the benchmark funders price over (1-year LPR) and what a small supplier
    # pays for working capital on its own credit, the yardstick of the cost report.
    scf_base_rate_bps: int = 300
    scf_market_apr_bps: int = 900
    fx_desks_url: str | None = None  # the FX desks compared for the FX cost report; None in sandbox mode: the desks sandbox
    # Sanctions and watch lists screened against (OFAC sdn.csv with alt.csv beside it, UN/EU/UK CSV, own format).
    aml_watch_lists: list[Path] = []
    risk_engine: bool = True  # decide every payment with the risk engine (juhe.risk); off: allow all
    risk_train_when_untrained: bool = False  # the demo: train a small model in the background, then swap it in
    platform_token: str = ""  # operators create merchants with it; empty disables that endpoint
    # The Merkle log's signing key (Ed25519, PKCS#8 PEM); unset: generated into data_dir/trace/log_key.pem.
    trace_key_file: Path | None = None
    # Where every signed tree head is also sent: a file (appended) or an http(s) URL (POSTed) a third party keeps.
    trace_witness: str | None = None
    # Master keys and the blind-index key of personal data (juhe.pii.keyring); unset: generated into data_dir/pii/keyring.json.
    pii_keyring_file: Path | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
