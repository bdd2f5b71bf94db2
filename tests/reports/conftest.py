"""Fixtures for the reports.

simulated   a copy of a database that `juhe simulate` filled with two days of the retailer's business
            through the payments core — 2026-09-30 and 2026-10-01 (Beijing), so that October has a
            month before it — each day closed by reconciliation, settlement and the reserve proof.
            Built once per session (~15 s on a busy machine); each test gets its own copy.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from juhe.cli import app
from juhe.config import get_settings
from juhe.db.engine import Database

FIRST_DAY = "2026-09-30"
ARTEFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artefacts" / "reports"  # pages rendered, to look at


@dataclass
class Simulated:
    url: str
    path: Path
    db: Database

    def sql(self, query: str, *args) -> list[tuple]:
        """Our own reading of the tables, apart from the code under test."""
        with sqlite3.connect(self.path) as conn:
            return conn.execute(query, args).fetchall()


def pdf_text(pdf: bytes) -> str:
    """The PDF's text with its whitespace (line breaks in table cells) made single spaces."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def render_pages(pdf: bytes, name: str) -> list[Path]:
    import pypdfium2

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    document = pypdfium2.PdfDocument(pdf)
    paths = []
    try:
        for n in range(len(document)):
            path = ARTEFACTS / f"{name}-{n + 1}.png"
            document[n].render(scale=1.5).to_pil().save(path)
            paths.append(path)
    finally:
        document.close()
    return paths


@pytest.fixture(scope="session")
def simulated_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports-template")
    url = f"sqlite:///{folder}/juhe.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUHE_DATABASE_URL", url)
        patch.setenv("JUHE_DATA_DIR", str(folder / "data"))
        get_settings.cache_clear()
        result = CliRunner().invoke(app, ["simulate", "--days", "2", "--first-day", FIRST_DAY, "--payments-per-day", "16", "--json"])
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["payments"] >= 28
    return folder


@pytest.fixture
def simulated(simulated_template, tmp_path, monkeypatch):
    shutil.copyfile(simulated_template / "juhe.db", tmp_path / "juhe.db")
    url = f"sqlite:///{tmp_path}/juhe.db"
    monkeypatch.setenv("JUHE_DATABASE_URL", url)
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    db = Database(url, migrate=False)
    yield Simulated(url, tmp_path / "juhe.db", db)
    db.dispose()
    get_settings.cache_clear()
