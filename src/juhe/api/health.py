"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import text

from juhe.api.deps import DatabaseDep
from juhe.api.errors import ApiError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(db: DatabaseDep) -> dict:
    try:
        with db.engine.connect().execution_options(sqlite_read_only=True) as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means not ready
        raise ApiError(503, "database_unavailable", f"database not reachable: {type(exc).__name__}") from None
    return {"status": "ready", "database": db.dialect}


@router.get("/metrics", response_class=PlainTextResponse)  # the document says text/plain, as Prometheus reads it
def metrics() -> Response:
    return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)


def metrics_registry() -> CollectorRegistry:
    """With several API processes (PROMETHEUS_MULTIPROC_DIR set, as `juhe serve --workers`
    does), every process's figures summed; otherwise this process's own."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return registry
