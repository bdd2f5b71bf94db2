"""Registering store terminals with the terminal gateway. A terminal's MAC key is made here
and shown once, like an API key: the terminal is loaded with it, Juhe keeps it to check MACs."""

from __future__ import annotations

import re
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.channels.pos import signing
from juhe.db.models import Store
from juhe.payments.models import PosTerminal
from juhe.payments.service import PaymentError

TERMINAL_ID = re.compile(r"[0-9A-Za-z]{8}")  # ISO 8583 field 41


def register_terminal(session: Session, merchant_id: uuid.UUID, terminal_id: str, store_id: uuid.UUID | None) -> tuple[PosTerminal, bytes]:
    if not TERMINAL_ID.fullmatch(terminal_id):
        raise PaymentError(422, "invalid_terminal_id", "a terminal id is 8 letters or digits")
    if store_id is not None:
        store = session.get(Store, store_id)
        if store is None or store.merchant_id != merchant_id:
            raise PaymentError(404, "store_not_found", f"no store {store_id}")
    if session.get(PosTerminal, terminal_id) is not None:
        raise PaymentError(409, "terminal_exists", f"terminal {terminal_id} is already registered")
    mac_key = secrets.token_bytes(signing.MAC_KEY_BYTES)
    terminal = PosTerminal(terminal_id=terminal_id, merchant_id=merchant_id, store_id=store_id, mac_key=mac_key, enabled=True)
    session.add(terminal)
    session.flush()
    return terminal, mac_key


def set_enabled(session: Session, merchant_id: uuid.UUID, terminal_id: str, enabled: bool) -> PosTerminal:
    terminal = session.get(PosTerminal, terminal_id, with_for_update=True)
    if terminal is None or terminal.merchant_id != merchant_id:
        raise PaymentError(404, "terminal_not_found", f"no terminal {terminal_id}")
    terminal.enabled = enabled
    return terminal


def list_terminals(session: Session, merchant_id: uuid.UUID) -> list[PosTerminal]:
    return list(session.scalars(select(PosTerminal).where(PosTerminal.merchant_id == merchant_id).order_by(PosTerminal.terminal_id)))


def terminal_view(terminal: PosTerminal) -> dict:
    return {"terminal_id": terminal.terminal_id, "store_id": str(terminal.store_id) if terminal.store_id else None,
            "enabled": terminal.enabled, "created_at": terminal.created_at.isoformat()}
