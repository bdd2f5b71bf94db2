"""Transaction monitoring over the database, for the worker, the CLI and the API: per merchant,
load the period's movements (with enough history before it for every scenario's window), run the
scenarios, store the alerts not seen before, and open or extend cases. Also the day's large-value
report from the same movements.

A run is idempotent: alerts are stored once per window, so running a day twice, or overlapping
periods, adds only what is new."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import structlog
from sqlalchemy import select

from juhe.aml.case_store import evidence_rows, store_alerts
from juhe.aml.config import MonitoringConfig
from juhe.aml.errors import AmlError
from juhe.aml.large_value import large_value_csv, large_value_report
from juhe.aml.ledger_movements import last_movements_before, movements_between
from juhe.aml.models import AmlMonitoringRun
from juhe.aml.movements import empty_movements
from juhe.aml.scenarios import SCENARIOS, monitor
from juhe.db.engine import Database
from juhe.db.models import Merchant
from juhe.db.types import utcnow

SYSTEM_ACTOR = "system:aml"
RUN_DAYS_MAX = 92  # a quarter; longer periods are run as several
# A merchant is paid by many customers by design: fan-in would alert on every busy shop.
MERCHANT_SCENARIOS = tuple(name for name in SCENARIOS if name != "fan_in")
log = structlog.get_logger()


@dataclass(slots=True)
class MonitoringSummary:
    run_id: uuid.UUID
    movements: int = 0
    alert_ids: list[uuid.UUID] = field(default_factory=list)
    cases_opened: list[uuid.UUID] = field(default_factory=list)
    unmonitored: list[dict] = field(default_factory=list)  # what was not monitored, and why


def run_monitoring(db: Database, start: datetime, end: datetime, *, merchant_id: uuid.UUID | None = None,
                   actor: str = SYSTEM_ACTOR, config: MonitoringConfig | None = None) -> list[uuid.UUID]:
    """Monitor [start, end) for one merchant or all; the ids of the alerts stored now."""
    return monitoring_run(db, start, end, merchant_id=merchant_id, actor=actor, config=config).alert_ids


def monitoring_run(db: Database, start: datetime, end: datetime, *, merchant_id: uuid.UUID | None = None,
                   actor: str = SYSTEM_ACTOR, config: MonitoringConfig | None = None) -> MonitoringSummary:
    config = config or MonitoringConfig()
    check_period(start, end)
    started = utcnow()
    with db.session() as session, session.begin():
        merchants = _merchants(session, merchant_id)
        run = AmlMonitoringRun(merchant_id=merchant_id, period_start=start, period_end=end, movements=0,
                               alerts_raised=0, cases_opened=0, unmonitored=[], actor=actor, started_at=started,
                               finished_at=started)
        session.add(run)
        session.flush()
    summary = MonitoringSummary(run.id)
    for merchant in merchants:
        try:
            _monitor_merchant(db, merchant, start, end, config, summary, actor)
        except AmlError as error:  # one merchant's data must not stop the others' monitoring
            summary.unmonitored.append({"merchant_id": str(merchant), "reason": error.code, "detail": str(error)})
    with db.session() as session, session.begin():
        stored = session.get(AmlMonitoringRun, run.id)
        stored.movements, stored.alerts_raised = summary.movements, len(summary.alert_ids)
        stored.cases_opened, stored.unmonitored, stored.finished_at = len(summary.cases_opened), summary.unmonitored, utcnow()
    return summary


def _merchants(session, merchant_id: uuid.UUID | None) -> list[uuid.UUID]:
    """The one merchant asked for (which must exist), or every merchant."""
    if merchant_id is None:
        return list(session.scalars(select(Merchant.id).order_by(Merchant.id)))
    if session.get(Merchant, merchant_id) is None:
        raise AmlError("merchant_not_found", f"no merchant {merchant_id}")
    return [merchant_id]


def check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise AmlError("invalid_period", "start and end carry a time zone")
    if not start < end:
        raise AmlError("invalid_period", "start must be before end")
    if end - start > timedelta(days=RUN_DAYS_MAX):
        raise AmlError("invalid_period", f"a period is at most {RUN_DAYS_MAX} days; run longer ones in parts")


def history_needed(config: MonitoringConfig) -> timedelta:
    """How far before a period its movements' windows reach (dormancy is measured from the last movement)."""
    return max(config.structuring_window, config.rapid_window, config.high_frequency_window,
               config.dormant_burst_window, config.fan_window)


def _monitor_merchant(db: Database, merchant_id: uuid.UUID, start: datetime, end: datetime, config: MonitoringConfig,
                      summary: MonitoringSummary, actor: str) -> None:
    history_start = start - history_needed(config)
    with db.reader() as session:
        frame = pl.concat([last_movements_before(session, merchant_id, history_start),
                           movements_between(session, merchant_id, history_start, end)])
    frame, skipped = _monitored(frame, config)
    summary.unmonitored.extend({"merchant_id": str(merchant_id), "reason": "no_limits_for_currency", **item}
                               for item in skipped)
    summary.movements += frame.filter(pl.col("occurred_at") >= start).height
    # Patterns that ended before the period were found by the run that covered them.
    found = [alert for alert in monitor(frame, config, MERCHANT_SCENARIOS) if alert.window_end >= start]
    if not found:
        return
    with db.session() as session, session.begin():
        stored = store_alerts(session, merchant_id, found, evidence_rows(frame), run_id=summary.run_id, actor=actor,
                              at=utcnow())
    summary.alert_ids.extend(stored.alert_ids)
    summary.cases_opened.extend(stored.cases_opened)


def _monitored(frame: pl.DataFrame, config: MonitoringConfig) -> tuple[pl.DataFrame, list[dict]]:
    """The movements in currencies with monitoring limits, and a count of the others (reported, not hidden)."""
    known = pl.col("currency").is_in(list(config.limits))
    skipped = frame.filter(~known).group_by("currency").len().sort("currency")
    return frame.filter(known), [{"currency": c, "movements": n} for c, n in skipped.iter_rows()]


def report_day(day: date, config: MonitoringConfig) -> tuple[datetime, datetime]:
    """The UTC bounds of a report day, which is a calendar day in the report time zone (Beijing)."""
    zone = ZoneInfo(config.report_timezone)
    return (datetime.combine(day, time(), zone).astimezone(ZoneInfo("UTC")),
            datetime.combine(day + timedelta(days=1), time(), zone).astimezone(ZoneInfo("UTC")))


def large_value_day(db: Database, day: date, *, merchant_id: uuid.UUID | None = None,
                    config: MonitoringConfig | None = None) -> str:
    """The large-value report CSV of one report day, for one merchant or all."""
    config = config or MonitoringConfig()
    start, end = report_day(day, config)
    with db.reader() as session:
        merchants = _merchants(session, merchant_id)
        frames = [movements_between(session, merchant, start, end) for merchant in merchants]
    frame, _ = _monitored(pl.concat([empty_movements(), *frames]), config)
    return large_value_csv(large_value_report(frame, config))


class DailyMonitoring:
    """For the worker loop: monitor each finished report day once per process (a rerun only adds
    what is new, so a restart that repeats a day does no harm). A failed run is retried after
    RETRY_AFTER, not on every worker round."""

    RETRY_AFTER = timedelta(minutes=10)

    def __init__(self, db: Database, config: MonitoringConfig | None = None):
        self.db, self.config = db, config or MonitoringConfig()
        self.last_day: date | None = None
        self.last_attempt_at: datetime | None = None

    def run_if_due(self, now: datetime | None = None) -> list[uuid.UUID]:
        now = now or utcnow()
        yesterday = now.astimezone(ZoneInfo(self.config.report_timezone)).date() - timedelta(days=1)
        if self.last_day == yesterday:
            return []
        if self.last_attempt_at is not None and now - self.last_attempt_at < self.RETRY_AFTER:
            return []
        self.last_attempt_at = now
        start, end = report_day(yesterday, self.config)
        summary = monitoring_run(self.db, start, end, config=self.config)
        self.last_day = yesterday
        # Logged here, in the worker: the CLI and the API answer with the summary instead.
        if summary.alert_ids or summary.unmonitored:
            log.warning("aml monitoring", day=yesterday.isoformat(), alerts=len(summary.alert_ids),
                        cases_opened=len(summary.cases_opened), unmonitored=summary.unmonitored)
        return summary.alert_ids
