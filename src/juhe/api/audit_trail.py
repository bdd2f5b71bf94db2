"""Every mutating request to /v1 leaves an audit record: the actor (API key, platform operator,
or a channel's notification), the route, the object, the outcome (with the problem's code),
the client's address. Plain ASGI like `Measure`; records are queued and written in batches
once a second off the event loop, so no request waits for them or commits more often."""

from __future__ import annotations

import asyncio
import hmac
import json

import structlog

from juhe.api.deps import PLATFORM_ACTOR
from juhe.audit.trail import AuditBuffer, Record
from juhe.config import get_settings

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FLUSH_INTERVAL_S = 1.0
BODY_PEEK_MAX = 64 * 1024  # larger answers are not read for their id or code
log = structlog.get_logger()


class AuditTrail:
    def __init__(self, app):
        self.app = app
        self.buffer = AuditBuffer()
        self.flusher: asyncio.Task | None = None
        self.db = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.app(scope, self._on_shutdown(receive), send)
        if scope["type"] != "http" or scope["method"] not in MUTATING or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        answer = {"status": 500, "body": b""}

        async def peek(message):
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body" and len(answer["body"]) < BODY_PEEK_MAX:
                answer["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, peek)
        finally:
            self.buffer.add(request_record(scope, answer["status"], answer["body"]))
            self._ensure_flusher(scope)

    def _ensure_flusher(self, scope) -> None:
        self.db = getattr(scope["app"].state, "db", None)
        if self.db is not None and (self.flusher is None or self.flusher.done()):
            self.flusher = asyncio.get_running_loop().create_task(self._flush_every_second())

    async def _flush_every_second(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            try:
                await self.db.run(self.buffer.flush, self.db)
            except Exception:  # kept queued; the next round tries again
                log.exception("audit.flush_failed")

    def _on_shutdown(self, receive):
        async def wrapped():
            message = await receive()
            if message["type"] == "lifespan.shutdown" and self.db is not None:
                if self.flusher is not None:
                    self.flusher.cancel()
                await self.db.run(self.buffer.flush, self.db)
            return message
        return wrapped


def request_record(scope, status: int, body: bytes) -> Record:
    state = scope.get("state", {})
    principal = state.get("principal")
    route = getattr(scope.get("route"), "path", scope["path"])
    answer = _json(body)
    object_type, object_id = _object(route, scope.get("path_params", {}), answer)
    if principal is not None:
        actor, merchant_id = f"api_key:{principal.key_id}", principal.merchant_id
    else:
        actor, merchant_id = _unkeyed_actor(scope, route), None
    outcome = "succeeded" if status < 400 else f"failed:{answer.get('code', status)}"
    client = scope.get("client") or ("unknown", 0)
    return Record(actor=actor, action=f"{scope['method']} {route}", outcome=outcome, origin=f"api:{client[0]}",
                  merchant_id=merchant_id, object_type=object_type, object_id=object_id, status_code=status)


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body) if body else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _object(route: str, params: dict, answer: dict) -> tuple[str | None, str | None]:
    """The object a route acts on: its last `{…_id}` parameter, else what a create answered."""
    for name in reversed(list(params)):
        if name.endswith("_id"):
            return name.removesuffix("_id"), str(params[name])
    static = [part for part in route.split("/") if part and not part.startswith("{") and part != "v1"]
    if "id" in answer and static:
        return static[-1], str(answer["id"])
    return (static[-1] if static else None), None


def _unkeyed_actor(scope, route: str) -> str:
    token = get_settings().platform_token
    presented = dict(scope.get("headers", [])).get(b"authorization", b"").removeprefix(b"Bearer ").strip()
    if token and hmac.compare_digest(presented, token.encode()):
        return PLATFORM_ACTOR
    if route.startswith("/v1/notify/"):
        return "channel"  # a channel's signed notification: verified by the route itself
    return "anonymous"
