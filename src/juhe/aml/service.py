"""What the API, the worker and the CLI call: each a short flow over the pure modules.

No database here; the caller loads (movements, cases), calls, and stores what comes back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl

from juhe.aml.alerts import Alert
from juhe.aml.cases import Case
from juhe.aml.config import MonitoringConfig
from juhe.aml.errors import AmlError
from juhe.aml.large_value import large_value_csv, large_value_report
from juhe.aml.movements import read_movements_csv
from juhe.aml.scenarios import monitor
from juhe.aml.screening import DEFAULT_THRESHOLD, ScreeningResult, WatchList
from juhe.aml.suspicious_report import Subject, report_csv, report_json, suspicious_transaction_report

PARTY_ROLES = ("payer", "payee", "counterparty")
PARTIES_MAX = 10_000  # one batch of transfers at most


@dataclass(frozen=True, slots=True)
class Party:
    role: str  # payer | payee | counterparty
    name: str
    country: str | None = None
    dob: str | date | None = None
    reference: str | None = None  # the caller's id for it (payment id, batch line, ...)


@dataclass(frozen=True, slots=True)
class PartyScreening:
    party: Party
    result: ScreeningResult

    @property
    def hold_for_review(self) -> bool:
        return self.result.hold_for_review


@dataclass(frozen=True, slots=True)
class MonitoringRun:
    movements: int
    alerts: list[Alert]
    frame: pl.DataFrame


def load_watch_list(paths: Sequence[Path]) -> WatchList:
    return WatchList.from_files([Path(path) for path in paths])


def screen_parties(watch_list: WatchList, parties: Iterable[Party], *,
                   threshold: float = DEFAULT_THRESHOLD) -> list[PartyScreening]:
    """Every party of a payment or batch screened; any hold_for_review stops it for a reviewer."""
    parties = list(parties)
    if len(parties) > PARTIES_MAX:
        raise AmlError("too_many_parties", f"{len(parties)} parties in one call; at most {PARTIES_MAX}")
    bad_roles = sorted({party.role for party in parties} - set(PARTY_ROLES))
    if bad_roles:
        raise AmlError("invalid_party", f"unknown role(s) {bad_roles}; use {', '.join(PARTY_ROLES)}")
    return [PartyScreening(party, watch_list.screen(party.name, country=party.country, dob=party.dob,
                                                    threshold=threshold)) for party in parties]


def monitor_file(path: Path, config: MonitoringConfig | None = None,
                 scenarios: Iterable[str] | None = None) -> MonitoringRun:
    frame = read_movements_csv(Path(path))
    return MonitoringRun(movements=frame.height, alerts=monitor(frame, config, scenarios), frame=frame)


def write_large_value_report(frame: pl.DataFrame, path: Path, config: MonitoringConfig | None = None) -> int:
    """Write the large-value report CSV; returns how many movements it lists."""
    report = large_value_report(frame, config)
    Path(path).write_text(large_value_csv(report), encoding="utf-8")
    return report.height


def write_suspicious_report(case: Case, subject: Subject, movements: pl.DataFrame, *, reporter: str,
                            at: datetime, json_path: Path | None = None, csv_path: Path | None = None) -> dict:
    """Build the STR of a reported case and write it as JSON and/or CSV; returns the report."""
    report = suspicious_transaction_report(case, subject, movements, reporter=reporter, at=at)
    if json_path is not None:
        Path(json_path).write_text(report_json(report), encoding="utf-8")
    if csv_path is not None:
        Path(csv_path).write_text(report_csv(report), encoding="utf-8")
    return report
