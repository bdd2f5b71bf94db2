"""The ceiling of this machine for a request that writes: `POST /bench/insert`, a bare endpoint
doing one INSERT + commit through the same stack as a payment — uvicorn, the app and its
middleware, `Database.run`'s threads, the connection pool, and a durable commit. Only the
benchmark stack's API has it, on a table only the benchmark's throwaway database has."""

from __future__ import annotations

import uuid

from fastapi import FastAPI, Request
from sqlalchemy import text

from juhe.db.engine import Database

PATH = "/bench/insert"


def create_table(db: Database) -> None:
    with db.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_baseline (id VARCHAR(32) PRIMARY KEY, body TEXT NOT NULL)")


def add_route(app: FastAPI, db: Database) -> None:
    @app.post(PATH, include_in_schema=False)
    async def insert(request: Request) -> dict:
        row_id, body = uuid.uuid4().hex, (await request.body()).decode()
        await db.run(_insert, db, row_id, body)
        return {"id": row_id}


def _insert(db: Database, row_id: str, body: str) -> None:
    with db.session() as session, session.begin():
        session.execute(text("INSERT INTO bench_baseline (id, body) VALUES (:id, :body)"), {"id": row_id, "body": body})
