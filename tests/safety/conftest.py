"""Fixtures for the security checks.

simulated   a database that a day of `juhe simulate` filled (payments, refunds, recon, settlement,
            terminals, webhooks …), made once per session; each test gets a copy
safe_api    the API on such a copy, in process, without channel sandboxes: `.client`, `.keys`
            (merchant index → role → key), `.db`, `.data_dir`
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from juhe.api.app import create_app
from juhe.cli import app as cli
from juhe.config import get_settings
from juhe.db.engine import Database

PLATFORM_TOKEN = "plat-safety-0123456789"


@dataclass
class SafeApi:
    client: TestClient
    db: Database
    data_dir: Path
    merchants: list[dict]  # as seed_demo gives them: id, name, api_keys (role → secret), …

    def h(self, merchant: int, role: str, **extra: str) -> dict:
        return {"Authorization": f"Bearer {self.merchants[merchant]['api_keys'][role]}", **extra}


@pytest.fixture(scope="session")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("safety-simulated")
    env = {"JUHE_DATABASE_URL": f"sqlite:///{folder}/juhe.db", "JUHE_DATA_DIR": str(folder / "data")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["simulate", "--days", "1", "--payments-per-day", "20", "--json"])
        assert result.exit_code == 0, result.output
        (folder / "simulate.log").write_text(result.output)  # what the run printed and logged, for the card scanner
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        get_settings.cache_clear()
    Database(env["JUHE_DATABASE_URL"], migrate=False).dispose()  # the last close checkpoints the WAL
    return folder


@pytest.fixture
def safe_api(simulated, tmp_path, monkeypatch):
    shutil.copyfile(simulated / "juhe.db", tmp_path / "juhe.db")
    shutil.copytree(simulated / "data", tmp_path / "data")
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")  # no sandboxes: these checks are about the API's own contract
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JUHE_PLATFORM_TOKEN", PLATFORM_TOKEN)
    get_settings.cache_clear()
    db = Database(f"sqlite:///{tmp_path}/juhe.db", migrate=False)
    merchants = json.loads((tmp_path / "data" / "demo-keys.json").read_text())["merchants"]
    try:
        with TestClient(create_app(db), raise_server_exceptions=False) as client:
            yield SafeApi(client, db, tmp_path / "data", merchants)
    finally:
        db.dispose()
        get_settings.cache_clear()
