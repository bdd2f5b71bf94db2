"""Proof documents (what the API answers and `juhe trace verify` reads) and their checks.

A proof document is self-contained JSON: the record itself, its place, the audit path or the
consistency path, and the signed tree head(s), so that it can be checked offline with only
the log's public key. `verify_database` is the other direction: every stored leaf recomputed."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.trace import heads, log, merkle, recheck
from juhe.trace.models import TraceEntry, TraceNode

VERIFY_CHUNK = 10_000  # leaves read per query when checking the whole log


def inclusion_document(session: Session, leaf_index: int, head) -> dict:
    record = log.entry(session, leaf_index)
    if record is None or leaf_index >= head.tree_size:
        raise log.TraceError("leaf_not_in_tree", f"leaf {leaf_index} is not in the tree head of {head.tree_size} leaves")
    return {"type": "inclusion", "leaf_index": leaf_index, "tree_size": head.tree_size, "record": record.data,
            "path": [h.hex() for h in log.inclusion_proof(session, leaf_index, head.tree_size)],
            "tree_head": heads.note(head)}


def consistency_document(session: Session, first, second) -> dict:
    return {"type": "consistency", "first": first.tree_size, "second": second.tree_size,
            "path": [h.hex() for h in log.consistency_proof(session, first.tree_size, second.tree_size)],
            "first_tree_head": heads.note(first), "second_tree_head": heads.note(second)}


def verify_document(document: dict, public_key: Ed25519PublicKey) -> str:
    """What the document proves, in words; HeadError or ProofError when it proves nothing."""
    try:
        path = [bytes.fromhex(h) for h in document["path"]]
        if document["type"] == "inclusion":
            head = heads.open_note(document["tree_head"], public_key)
            leaf = merkle.leaf_hash(document["record"].encode())
            if head.tree_size != document["tree_size"] or not merkle.verify_inclusion(
                    document["leaf_index"], head.tree_size, leaf, path, head.root_hash):
                raise merkle.ProofError("the record is not in the signed tree: the path does not lead to its root")
            return f"record {document['leaf_index']} is in the signed tree of {head.tree_size} leaves"
        if document["type"] == "consistency":
            first = heads.open_note(document["first_tree_head"], public_key)
            second = heads.open_note(document["second_tree_head"], public_key)
            if not merkle.verify_consistency(first.tree_size, second.tree_size, first.root_hash, second.root_hash, path):
                raise merkle.ProofError(f"the tree of {second.tree_size} leaves does not extend the one of {first.tree_size}")
            return f"the signed tree of {second.tree_size} leaves extends the one of {first.tree_size}"
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        if isinstance(e, (merkle.ProofError, heads.HeadError)):
            raise
        raise merkle.ProofError(f"not a proof document: {e!r}") from None
    raise merkle.ProofError(f"unknown proof type {document.get('type')!r}")


@dataclass(slots=True)
class LogCheck:
    leaves: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_leaf: int | None = None


def verify_database(session: Session, public_key: Ed25519PublicKey | None = None,
                    witnessed: list[heads.Checkpoint] = ()) -> LogCheck:
    """Recomputes every leaf from its record, the tree from the leaves, and compares with the
    stored nodes, the frontier, every signed head and every head a witness kept; then reads every
    logged payment event and ledger transaction again (`recheck`). Collects every problem."""
    check = LogCheck()
    sizes = [*session.scalars(select(heads.TreeHead.tree_size)), *(c.tree_size for c in witnessed)]
    needed = {key for size in sizes if size for key in merkle.range_nodes(0, size)}  # what the heads' roots are made of
    frontier, kept = _walk_leaves(session, needed, check)
    if frontier is None:
        return check
    check.leaves = frontier.size
    stored = log.load_frontier(session)
    if stored.size != frontier.size or stored.root() != frontier.root():
        check.problems.append(f"the stored tree ({stored.size} leaves) is not the one its records make ({frontier.size})")
    if public_key is not None:
        _compare_checkpoints(_signed_heads(session, public_key, check), kept, frontier, check)
    _compare_checkpoints([(f"witnessed head {n}", c) for n, c in enumerate(witnessed, 1)], kept, frontier, check)
    for index, problem in recheck.source_problems(session):
        check.problems.append(problem)
        check.first_bad_leaf = _first(check.first_bad_leaf, index)
    return check


def _walk_leaves(session: Session, needed: set, check: LogCheck):
    """Rebuilds the tree a chunk of leaves at a time, comparing each chunk's inner nodes with the
    stored ones as it goes (memory stays one chunk); keeps only the `needed` nodes."""
    frontier, kept, last = merkle.EMPTY, {}, -1
    while True:
        rows = session.execute(select(TraceEntry.leaf_index, TraceEntry.data, TraceEntry.leaf_hash)
                               .where(TraceEntry.leaf_index > last).order_by(TraceEntry.leaf_index).limit(VERIFY_CHUNK)).all()
        if not rows:
            return frontier, kept
        hashes = []
        for index, data, stored in rows:
            if index != frontier.size + len(hashes):
                check.problems.append(f"leaf {frontier.size + len(hashes)} is missing (next stored is {index})")
                check.first_bad_leaf = _first(check.first_bad_leaf, frontier.size + len(hashes))
                return None, kept
            recomputed = merkle.leaf_hash(data.encode())
            if recomputed != bytes(stored):
                check.problems.append(f"leaf {index}: its record does not hash to the stored leaf hash (edited)")
                check.first_bad_leaf = _first(check.first_bad_leaf, index)
            hashes.append(recomputed)
        frontier, completed = merkle.append(frontier, hashes)
        kept.update({(lv, ix): h for lv, ix, h in completed if (lv, ix) in needed})
        _compare_nodes(session, {(lv, ix): h for lv, ix, h in completed if lv > 0}, check)
        last = rows[-1][0]


def _first(current: int | None, index: int) -> int:
    return index if current is None else min(current, index)


def _compare_nodes(session: Session, expected: dict[merkle.NodeKey, bytes], check: LogCheck) -> None:
    """The stored inner nodes of one chunk: a range of indexes per level, one query each."""
    by_level: dict[int, list[int]] = {}
    for level, index in expected:
        by_level.setdefault(level, []).append(index)
    for level, indexes in by_level.items():
        stored = dict(session.execute(select(TraceNode.index, TraceNode.hash).where(
            TraceNode.level == level, TraceNode.index.between(min(indexes), max(indexes)))).all())
        for index in indexes:
            if bytes(stored.get(index, b"")) != expected[(level, index)]:
                check.problems.append(f"tree node ({level}, {index}) is not the hash of its leaves "
                                      f"[{index << level}, {(index + 1) << level})")


def _signed_heads(session: Session, public_key, check: LogCheck) -> list[tuple[str, heads.Checkpoint]]:
    opened = []
    for head in session.scalars(select(heads.TreeHead).order_by(heads.TreeHead.id)):
        try:
            opened.append((f"tree head {head.id}", heads.open_note(heads.note(head), public_key)))
        except heads.HeadError as e:
            check.problems.append(f"tree head {head.id}: {e}")
    return opened


def _compare_checkpoints(checkpoints, nodes: dict, frontier: merkle.Frontier, check: LogCheck) -> None:
    for label, checkpoint in checkpoints:
        if checkpoint.tree_size > frontier.size:
            check.problems.append(f"{label} signs {checkpoint.tree_size} leaves; the log has {frontier.size}")
        elif checkpoint.tree_size and merkle.range_hash(0, checkpoint.tree_size, nodes) != checkpoint.root_hash:
            check.problems.append(f"{label} ({checkpoint.tree_size} leaves) does not sign the log's root at that size")
