"""Suspicious-transaction report (可疑交易报告) of a reported case, as JSON and CSV.

The report carries the case (decision, owner, alerts), the subject, every movement the alerts
cite and the reason: the reviewer's decision reason followed by each pattern found. Only a case
decided `reported` has one; the evidence must all be in the movements given, or the report
would be incomplete.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import datetime

import polars as pl

from juhe.aml.cases import REPORTED, Case
from juhe.aml.errors import AmlError
from juhe.aml.movements import check_movements
from juhe.money import Money

SUBJECT_TYPES = ("corporate", "person")
CSV_COLUMNS = [
    "case_id", "subject_account_id", "subject_name", "subject_type", "subject_id_number", "subject_country",
    "scenarios", "reason", "movement_id", "occurred_at", "direction", "counterparty_id", "amount_minor", "amount",
    "currency", "channel",
]


@dataclass(frozen=True, slots=True)
class Subject:
    account_id: str
    name: str
    subject_type: str  # corporate | person
    id_number: str | None = None  # unified social credit code or ID card number
    country: str | None = None

    def __post_init__(self) -> None:
        if self.subject_type not in SUBJECT_TYPES:
            raise AmlError("invalid_subject", f"subject_type must be one of {', '.join(SUBJECT_TYPES)}")
        if not self.name.strip():
            raise AmlError("invalid_subject", "the subject needs a name")


def suspicious_transaction_report(case: Case, subject: Subject, movements: pl.DataFrame, *,
                                  reporter: str, at: datetime) -> dict:
    if case.decision != REPORTED:
        raise AmlError("case_not_reported", f"case {case.case_id} is {case.decision}; only a reported case has an STR")
    if subject.account_id != case.account_id:
        raise AmlError("subject_mismatch", f"the case is about {case.account_id}, the subject is {subject.account_id}")
    cited = _cited_movements(case, check_movements(movements))
    return {
        "report_type": "suspicious_transaction_report",
        "generated_at": at.isoformat(),
        "reporter": reporter,
        "case": {"case_id": case.case_id, "decision": case.decision, "owner": case.owner,
                 "opened_at": case.opened_at.isoformat(), "reported_at": case.audit[-1].at.isoformat(),
                 "scenarios": list(case.scenarios), "alert_ids": [alert.alert_id for alert in case.alerts]},
        "subject": asdict(subject),
        "reason": reason_text(case),
        "alerts": [{key: value for key, value in alert.to_json().items() if key != "figures"} for alert in case.alerts],
        "movements": cited,
        "totals": _totals(cited),
    }


def reason_text(case: Case) -> str:
    patterns = "; ".join(f"{alert.scenario}: {alert.reason}" for alert in case.alerts)
    return f"{case.decision_reason}. Patterns found: {patterns}"


def _cited_movements(case: Case, movements: pl.DataFrame) -> list[dict]:
    wanted = case.evidence
    found = movements.filter(pl.col("movement_id").is_in(wanted)).sort("occurred_at", "movement_id")
    missing = sorted(set(wanted) - set(found["movement_id"].to_list()))
    if missing:
        raise AmlError("evidence_missing", f"movements cited by the case are not in the data: {', '.join(missing[:10])}")
    rows = []
    for row in found.iter_rows(named=True):
        rows.append({"movement_id": row["movement_id"], "occurred_at": row["occurred_at"].isoformat(),
                     "direction": row["direction"], "counterparty_id": row["counterparty_id"],
                     "amount_minor": row["amount_minor"],
                     "amount": Money(row["amount_minor"], row["currency"]).decimal_text(),
                     "currency": row["currency"], "channel": row["channel"]})
    return rows


def _totals(movements: list[dict]) -> list[dict]:
    totals: dict[str, dict] = {}
    for row in movements:
        total = totals.setdefault(row["currency"], {"currency": row["currency"], "in_minor": 0, "out_minor": 0, "count": 0})
        total[f"{row['direction']}_minor"] += row["amount_minor"]
        total["count"] += 1
    return [totals[currency] for currency in sorted(totals)]


def report_json(report: dict) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2)


def report_csv(report: dict) -> str:
    """One row per movement, the case and subject repeated on each (what spreadsheets and filings want)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    subject = report["subject"]
    for movement in report["movements"]:
        writer.writerow({
            "case_id": report["case"]["case_id"], "subject_account_id": subject["account_id"],
            "subject_name": subject["name"], "subject_type": subject["subject_type"],
            "subject_id_number": subject["id_number"] or "", "subject_country": subject["country"] or "",
            "scenarios": ";".join(report["case"]["scenarios"]), "reason": report["reason"], **movement,
        })
    return out.getvalue()
