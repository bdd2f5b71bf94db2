"""Chargebacks and disputes from the channels, filed as fraud reports (juhe.risk.reports).

The worker asks every channel that sends disputes (`download_disputes(day)` / `parse_disputes(raw)`:
the POS acquirer's daily chargeback file) for the files of the last LOOKBACK_DAYS, at most once per
INTAKE_EVERY_S: a file published late, or a round that failed, is read again the next time, and the
reports' unique reference (`<channel>:<case number>`) files each case once however often it is read.
A dispute whose reason says the payer did not make the payment is a fraud report; one about the
goods (not received, wrong amount) is not — the payment was the payer's — and is counted apart.
A case naming an order Juhe never sent is counted as unknown and logged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.channels.base import ChannelError, Dispute
from juhe.db.engine import Database
from juhe.payments.models import PaymentAttempt
from juhe.risk.dbstore import DbFeatureStore
from juhe.risk.facts import RiskError
from juhe.risk.reports import ReportIn, file_report

LOOKBACK_DAYS = 3
INTAKE_EVERY_S = 3600.0
log = structlog.get_logger()


@dataclass
class Intake:
    filed: int = 0  # new fraud reports
    replayed: int = 0  # cases filed before
    not_fraud: int = 0  # disputes about the goods, not the payer
    unknown: list[str] = field(default_factory=list)  # case numbers naming no order of ours
    refused: list[str] = field(default_factory=list)  # case numbers no report could be made of (logged)


def file_disputes(session: Session, store: DbFeatureStore, channel: str, disputes: list[Dispute],
                  intake: Intake | None = None) -> Intake:
    """File each fraud dispute as a report of its payment (in `session`: the caller commits)."""
    intake = intake or Intake()
    orders = {d.payment_id for d in disputes}
    found = select(PaymentAttempt).where(PaymentAttempt.order_no.in_(orders), PaymentAttempt.channel == channel)
    attempts = {attempt.order_no: attempt for attempt in session.scalars(found)} if orders else {}
    for dispute in disputes:
        attempt = attempts.get(dispute.payment_id)
        if attempt is None:
            intake.unknown.append(dispute.dispute_id)
            continue
        if not dispute.fraud:
            intake.not_fraud += 1
            continue
        report = ReportIn(attempt.payment_id, "fraud", dispute.kind if dispute.kind == "chargeback" else "dispute",
                          dispute.opened_on, f"{dispute.reason_code}: {dispute.reason}", f"channel:{channel}",
                          f"{channel}:{dispute.dispute_id}")
        try:
            filed = file_report(session, store, attempt.merchant_id, report)
        except RiskError as error:  # refused before anything was written: the other cases go on
            log.error("risk.dispute_not_filed", channel=channel, case=dispute.dispute_id, code=error.code)
            intake.refused.append(dispute.dispute_id)
            continue
        intake.replayed += filed.replayed
        intake.filed += not filed.replayed
    return intake


class DisputeIntake:
    """The worker's round: the recent dispute files of every channel that has them, filed as reports."""

    def __init__(self, db: Database, store: DbFeatureStore, channels: dict, every_s: float = INTAKE_EVERY_S):
        self.db, self.store, self.channels, self.every_s = db, store, channels, every_s
        self._ran_at = float("-inf")

    async def run_if_due(self, today: date) -> Intake | None:
        if time.monotonic() - self._ran_at < self.every_s:
            return None
        self._ran_at = time.monotonic()
        intake = Intake()
        for code, adapter in sorted(self.channels.items()):
            if not hasattr(adapter, "download_disputes"):
                continue
            for back in range(LOOKBACK_DAYS):
                day = today - timedelta(days=back)
                try:
                    disputes = adapter.parse_disputes(await adapter.download_disputes(day))
                except (ChannelError, ValueError) as error:  # tried again next round
                    log.warning("risk.dispute_file_unread", channel=code, day=day.isoformat(), error=str(error))
                    continue
                await self.db.run(self._file, code, disputes, intake)
        if intake.unknown:
            log.warning("risk.disputes_of_unknown_orders", cases=intake.unknown[:20], count=len(intake.unknown))
        return intake

    def _file(self, code: str, disputes: list[Dispute], intake: Intake) -> None:
        with self.db.session() as session, session.begin():
            file_disputes(session, self.store, code, disputes, intake)
