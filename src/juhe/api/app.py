"""The FastAPI application: `/v1`, problem+json errors, request metrics."""

from __future__ import annotations

import asyncio
import gc
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import Counter, Histogram

from juhe.api.audit_trail import AuditTrail
from juhe.api import openapi
from juhe.api import aml, audit, bnpl, subscriptions, errors, risk, fx, health, installments, invoices, ledger, merchants, monitor, orders, pay_pages, payments, qr_codes, receipts, reconciliations, scf, settlements, terminals, trace, transfers, treasury, webhooks
from juhe import loop_lag
from juhe.console.app import install as install_console
from juhe.config import get_settings
from juhe.db.engine import Database
from juhe.payments.health import keep_sharing
from juhe.runtime import Runtime, run_worker

REQUESTS = Counter("juhe_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("juhe_http_request_duration_seconds", "HTTP request latency", ["method", "route"])


class Measure:
    """Request count and latency per route, as plain ASGI: Starlette's `BaseHTTPMiddleware`
    would run every request through an extra task and a memory stream (measured: ~1 ms each)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # an exception escaping the app is answered with a 500 by the error handler

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            LATENCY.labels(scope["method"], path).observe(time.perf_counter() - started)
            REQUESTS.labels(scope["method"], path, str(status)).inc()


def create_app(database: Database | None = None, runtime: Runtime | None = None, *, with_worker: bool = False) -> FastAPI:
    """`runtime` brings the channels (tests pass their own); `with_worker` runs polling and
    webhook delivery inside this process, as the demo does."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        settings = get_settings()
        # Migrations run here (Database does `alembic upgrade head`), before the first request.
        db = database or Database(settings.database_url)
        own_runtime = runtime or Runtime(settings, db, host_sandboxes=settings.channel_mode == "sandbox")
        app.state.db, app.state.payments = db, own_runtime.payments
        app.state.pos_gateway_port = await own_runtime.start_pos_gateway()
        stop = asyncio.Event()
        gc.freeze()  # what start-up built lives on: later full collections need not walk it (tens of ms each)
        lag_probe = loop_lag.start(stop)
        sharing = asyncio.create_task(keep_sharing(db, own_runtime.payments.health, stop))  # with the other API processes
        worker = asyncio.create_task(run_worker(own_runtime, stop)) if with_worker else None
        yield
        stop.set()
        await lag_probe
        await sharing
        if worker is not None:
            await worker
        await own_runtime.stop_pos_gateway()
        if runtime is None:
            await own_runtime.close()
        if database is None:
            db.dispose()

    app = FastAPI(
        title="Juhe", version="0.1.0", lifespan=lifespan,
        description="One access point for every payment channel, and a double-entry ledger behind it.",
    )
    errors.install(app)
    for module in (health, merchants, ledger, payments, bnpl, subscriptions, qr_codes, pay_pages, installments, terminals, transfers, fx, webhooks, monitor, reconciliations, settlements, aml, risk, trace, audit, receipts, invoices, orders, scf, treasury):
        app.include_router(module.router)
    openapi.install(app)  # bearer keys, roles, Idempotency-Key, problem+json, links (api/openapi.py)
    install_console(app)  # the web console at /console, on the same database and services

    app.add_middleware(AuditTrail)
    app.add_middleware(Measure)
    return app
