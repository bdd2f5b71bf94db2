"""The FastAPI application: `/v1`, problem+json errors, request metrics."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from prometheus_client import Counter, Histogram

from juhe.api import errors, health, ledger, merchants
from juhe.config import get_settings
from juhe.db.engine import Database

REQUESTS = Counter("juhe_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("juhe_http_request_duration_seconds", "HTTP request latency", ["method", "route"])


def create_app(database: Database | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Migrations run here (Database does `alembic upgrade head`), before the first request.
        app.state.db = database or Database(get_settings().database_url)
        yield
        if database is None:
            app.state.db.dispose()

    app = FastAPI(
        title="Juhe", version="0.1.0", lifespan=lifespan,
        description="One access point for every payment channel, and a double-entry ledger behind it.",
    )
    errors.install(app)
    for module in (health, merchants, ledger):
        app.include_router(module.router)

    @app.middleware("http")
    async def measure(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        LATENCY.labels(request.method, path).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        return response

    return app
