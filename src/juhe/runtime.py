"""Wiring: the payments context for a process, with sandboxes or live channels, and the worker loop."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import httpx
import structlog

from juhe.channels.registry import CHANNELS, RunningSandbox, adapter_class, build_channel, sandbox_class, start_sandbox
from juhe.config import Settings
from juhe.db.engine import Database
from juhe.http import async_client
from juhe.payments.context import PaymentsContext

log = structlog.get_logger()
HTTP_CONNECTIONS_MAX = 200
AML_FIRST_RUN_DELAY_S = 300.0  # the worker's daily AML monitoring starts once the process has settled


def sandbox_port(settings: Settings, code: str) -> int | None:
    """The sandbox's fixed port; None (any free port) when the base port is 0, as in tests."""
    if settings.sandbox_base_port == 0:
        return None
    return settings.sandbox_base_port + list(CHANNELS).index(code)


def configured_channel(settings: Settings, code: str, http: httpx.AsyncClient | None = None):
    """The adapter this configuration points at: the live channel, or the sandbox that runs in
    another process (`juhe serve`, `juhe sandbox`) with the keys they share in the data dir."""
    if settings.channel_mode == "live":
        if code not in settings.channels:
            raise ValueError(f"channel {code} is not configured (JUHE_CHANNELS__{code.upper()}__…)")
        return build_channel(code, settings.channels[code], http)
    port = sandbox_port(settings, code) or settings.sandbox_base_port
    sandbox = sandbox_class(code)(settings.data_dir / "sandbox" / code, f"http://127.0.0.1:{port}", None)
    return adapter_class(code)(sandbox.adapter_config(), http)


class Runtime:
    """Owns the HTTP client, the sandboxes (in sandbox mode) and the payments context."""

    def __init__(self, settings: Settings, db: Database, *, host_sandboxes: bool):
        self.settings = settings
        self.db = db
        self.http = async_client(connections=HTTP_CONNECTIONS_MAX, timeout=10.0)
        self.sandboxes: dict[str, RunningSandbox] = {}
        self.pos_gateway = None
        self.pos_gateway_port: int | None = None
        channels = {}
        for code in CHANNELS:
            if settings.channel_mode == "live":
                if code in settings.channels:
                    channels[code] = build_channel(code, settings.channels[code], self.http)
                continue
            channels[code] = self._sandbox_adapter(code, host_sandboxes)
        self.payments = PaymentsContext(
            db=db, channels=channels, notify_base_url=f"{settings.public_base_url}/v1/notify",
            payment_ttl=timedelta(seconds=settings.payment_ttl_s), poll_initial=timedelta(seconds=settings.poll_initial_s),
            interrupted_after=timedelta(seconds=settings.payment_interrupted_after_s),
        )
        if settings.risk_engine:
            from juhe.payments.risk_hook import EngineRisk

            self.payments.risk = EngineRisk.from_registry(settings.data_dir / "risk", db)
            if settings.risk_train_when_untrained:
                self.payments.risk.train_in_background(settings.data_dir / "risk")

    def _sandbox_adapter(self, code: str, host: bool):
        key_dir = self.settings.data_dir / "sandbox"
        port = sandbox_port(self.settings, code)
        if host:
            self.sandboxes[code] = start_sandbox(code, key_dir, port=port)
            return self.sandboxes[code].adapter(self.http)
        return configured_channel(self.settings, code, self.http)

    async def start_pos_gateway(self) -> int | None:
        """Serve store terminals (ISO 8583) when this process is configured to; returns the port."""
        from juhe.channels.pos import signing
        from juhe.channels.pos.gateway import TerminalGateway
        from juhe.payments.pos import record_pos_event, terminal_lookup

        if self.settings.pos_gateway_port is None or "pos" not in self.payments.channels or self.pos_gateway:
            return None
        token_key = signing.load_key(signing.write_key(self.settings.data_dir / "pos" / "token_key.hex",
                                                       signing.TOKEN_KEY_BYTES), signing.TOKEN_KEY_BYTES)
        self.pos_gateway = TerminalGateway(self.payments.channels["pos"], terminal_lookup(self.db), token_key,
                                           lambda event: record_pos_event(self.payments, event))
        port = self.pos_gateway_port = await self.pos_gateway.start(self.settings.pos_gateway_host, self.settings.pos_gateway_port)
        log.info("pos.gateway_listening", host=self.settings.pos_gateway_host, port=port)
        return port

    async def stop_pos_gateway(self) -> None:
        if self.pos_gateway is not None:
            await self.pos_gateway.stop()
            self.pos_gateway = None
        self.pos_gateway_port: int | None = None

    async def close(self) -> None:
        await self.stop_pos_gateway()
        await self.http.aclose()
        for running in self.sandboxes.values():
            running.stop()


def _housekeeping(db, expire_holds, purge_expired, purge_risk_buckets) -> None:
    """Expired holds, idempotency keys and risk velocity buckets. Run in a thread: a writer that
    waits for SQLite's lock on the event loop would stop the very requests whose commits it waits for."""
    with db.session() as session, session.begin():
        expire_holds(session.connection())
        purge_expired(session)
        purge_risk_buckets(session, datetime.now(timezone.utc))


def _dispute_intake(runtime: Runtime):
    from juhe.payments.risk_hook import EngineRisk
    from juhe.risk.chargebacks import DisputeIntake
    from juhe.risk.dbstore import DbFeatureStore

    risk = runtime.payments.risk
    if not isinstance(risk, EngineRisk) or not isinstance(risk.engine.pipeline.store, DbFeatureStore):
        return None
    return DisputeIntake(runtime.db, risk.engine.pipeline.store, runtime.payments.channels)


def _retraining(runtime: Runtime):
    from juhe.payments.risk_hook import EngineRisk
    from juhe.risk.retrain import Retraining

    risk = runtime.payments.risk
    if not isinstance(risk, EngineRisk) or risk.registry is None:
        return None
    return Retraining(runtime.db, risk.registry, risk.activate_model)


async def run_worker(runtime: Runtime, stop: asyncio.Event) -> None:
    """Poll payments and refunds, deliver webhooks, expire holds, purge old idempotency keys."""
    from juhe.api.idempotency import purge_expired
    from juhe.risk.dbstore import purge_expired as purge_risk_buckets
    from juhe.aml.monitoring_runs import DailyMonitoring
    from juhe.bnpl.dunning import run_due as bnpl_due
    from juhe.subscriptions.clock import run_clock as subscriptions_due
    from juhe.ledger import expire_holds
    from juhe.monitor.service import Evaluator
    from juhe.payments.poller import poll_due
    from juhe.receipts.worker import ReceiptWorker
    from juhe.scf.worker import ScfRepayments
    from juhe.settlement.payouts import poll_payouts
    from juhe.trace.publisher import TracePublisher, key_file as trace_key_file
    from juhe.transfers.service import poll_batches
    from juhe.webhooks.delivery import deliver_due

    evaluator = Evaluator(runtime.db)
    aml_daily = DailyMonitoring(runtime.db)
    trace = TracePublisher(runtime.db, trace_key_file(runtime.settings), witness_to=runtime.settings.trace_witness)
    receipts = ReceiptWorker(runtime.db, runtime.settings.channel_mode)
    scf_repayments = ScfRepayments(runtime.db)
    loop = asyncio.get_running_loop()
    aml_from = loop.time() + AML_FIRST_RUN_DELAY_S
    retraining = _retraining(runtime)
    disputes = _dispute_intake(runtime)
    while not stop.is_set():
        try:
            await poll_due(runtime.payments)
            await poll_batches(runtime.payments)
            await poll_payouts(runtime.payments)
            if "pos" in runtime.payments.channels:
                await runtime.payments.channels["pos"].flush()  # reversals still owed to the acquirer
            await deliver_due(runtime.db, runtime.http, lease=timedelta(seconds=runtime.settings.webhook_lease_s))
            await asyncio.to_thread(evaluator.run_if_due)  # writers off the loop: see _housekeeping
            if loop.time() >= aml_from:  # a day's monitoring can take a while: not while the process starts up
                await asyncio.to_thread(aml_daily.run_if_due)
            await asyncio.to_thread(_housekeeping, runtime.db, expire_holds, purge_expired, purge_risk_buckets)
            await asyncio.to_thread(bnpl_due, runtime.db, datetime.now(timezone.utc))  # lapses, failed repayments, dunning
            await asyncio.to_thread(scf_repayments.run_if_due, datetime.now(timezone.utc))  # SCF maturities: buyers repay funders
            await subscriptions_due(runtime.payments, datetime.now(timezone.utc))  # periods, trials, collections, dunning
            await asyncio.to_thread(trace.run_if_due)  # payment events and ledger transactions into the Merkle log
            await asyncio.to_thread(receipts.run_if_due)  # a receipt (and its record in the log) for each success; invoices due
            if disputes is not None:  # chargeback files of the last days, filed as fraud reports
                await disputes.run_if_due(datetime.now(timezone.utc).date())
            if retraining is not None:  # champion/challenger on the fraud reports, weekly, in a thread of its own
                await asyncio.to_thread(retraining.start_if_due, datetime.now(timezone.utc))
        except Exception:  # the loop must survive one bad round; the error is logged
            log.exception("worker round failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=runtime.settings.worker_interval_s)
        except TimeoutError:
            pass


