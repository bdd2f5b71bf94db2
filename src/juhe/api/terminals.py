"""Store terminals that connect to Juhe's ISO 8583 terminal gateway."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from juhe.api.deps import require
from juhe.api.payments import Ctx
from juhe.merchants import Principal
from juhe.payments import terminals

router = APIRouter(prefix="/v1/terminals", tags=["terminals"])
It = Annotated[Principal, Depends(require("it"))]
Reader = Annotated[Principal, Depends(require("it", "business", "finance"))]


class TerminalIn(BaseModel):
    terminal_id: str = Field(examples=["POS00001"], description="ISO 8583 field 41: 8 letters or digits")
    store_id: uuid.UUID | None = None


class TerminalPatch(BaseModel):
    enabled: bool


@router.post("", status_code=201)
def register(body: TerminalIn, principal: It, ctx: Ctx) -> dict:
    """Registers a terminal and returns its MAC key (hex) once: load it into the terminal."""
    with ctx.db.session() as session, session.begin():
        terminal, mac_key = terminals.register_terminal(session, principal.merchant_id, body.terminal_id, body.store_id)
        return terminals.terminal_view(terminal) | {"mac_key_hex": mac_key.hex()}


@router.get("")
def list_terminals(principal: Reader, ctx: Ctx) -> dict:
    with ctx.db.reader() as session:
        return {"data": [terminals.terminal_view(t) for t in terminals.list_terminals(session, principal.merchant_id)]}


@router.patch("/{terminal_id}")
def update(terminal_id: str, body: TerminalPatch, principal: It, ctx: Ctx) -> dict:
    """Disabling a terminal makes the gateway refuse it (97) at once."""
    with ctx.db.session() as session, session.begin():
        return terminals.terminal_view(terminals.set_enabled(session, principal.merchant_id, terminal_id, body.enabled))
