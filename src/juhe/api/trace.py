"""The tamper-evident log: the latest signed tree head, inclusion proofs of the caller's own
records, and consistency proofs between two signed heads. Proof answers are the documents
`juhe trace verify` checks offline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from juhe.api.deps import DatabaseDep, ReadSessionDep, get_principal
from juhe.api.errors import ApiError
from juhe.config import get_settings
from juhe.db.engine import Database
from juhe.merchants import Principal
from juhe.trace import heads, log, proofs
from juhe.trace.models import TraceEntry
from juhe.trace.publisher import key_file, publish_head

router = APIRouter(prefix="/v1/trace", tags=["trace"])
Reader = Annotated[Principal, Depends(get_principal)]  # any key of any role


def _key():
    return heads.load_or_create_key(key_file(get_settings()))


def _head_covering(db: Database, leaves: int):
    """The latest head if it covers `leaves`, else one signed now (heads on demand). Reading
    takes no write lock; only signing does, in a transaction of its own."""
    with db.reader() as session:
        head = heads.latest(session)
    if head is None or head.tree_size < leaves:
        head = publish_head(db, _key())
    return head


def _fail(error: log.TraceError):
    raise ApiError(error.status, error.code, str(error)) from None


@router.get("/tree-head")
def tree_head(principal: Reader, db: DatabaseDep) -> dict:
    head = _head_covering(db, 0)
    return {"tree_size": head.tree_size, "root_hash": bytes(head.root_hash).hex(), "timestamp_ms": head.timestamp_ms,
            "note": heads.note(head), "public_key": heads.public_key_text(_key())}


@router.get("/proofs/inclusion")
def inclusion(principal: Reader, db: DatabaseDep,
              kind: Annotated[str, Query(max_length=24)], object_id: Annotated[str, Query(max_length=64)]) -> dict:
    """The newest record of one of the caller's objects, e.g. `?kind=payment&object_id=<payment id>`."""
    with db.reader() as session:
        leaf_index = session.scalar(select(TraceEntry.leaf_index).where(
            TraceEntry.merchant_id == principal.merchant_id, TraceEntry.kind == kind, TraceEntry.object_id == object_id)
            .order_by(TraceEntry.leaf_index.desc()).limit(1))
    if leaf_index is None:
        raise ApiError(404, "record_not_found", f"no {kind} {object_id} in the log (yet: the worker adds records every few seconds)")
    head = _head_covering(db, leaf_index + 1)
    try:
        with db.reader() as session:  # begun after the head: it sees every leaf the head covers
            return proofs.inclusion_document(session, leaf_index, head)
    except log.TraceError as e:
        _fail(e)


@router.get("/proofs/consistency")
def consistency(principal: Reader, session: ReadSessionDep, first: Annotated[int, Query(ge=1)],
                second: Annotated[int, Query(ge=1)]) -> dict:
    """Between two signed heads, named by their tree sizes."""
    if first > second:
        raise ApiError(422, "invalid_tree_sizes", f"first ({first}) must not be larger than second ({second})")
    older, newer = heads.at_size(session, first), heads.at_size(session, second)
    if older is None or newer is None:
        raise ApiError(404, "tree_head_not_found", f"no signed tree head of size {first if older is None else second}")
    try:
        return proofs.consistency_document(session, older, newer)
    except log.TraceError as e:
        _fail(e)
