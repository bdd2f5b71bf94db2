"""RFC 9162 (Certificate Transparency 2.0, section 2.1) Merkle tree hashing, proofs and their
verification, as pure functions over ranges of leaves.

The log stores only *perfect* subtrees (2^level leaves starting at a multiple of 2^level), keyed
(level, index). Every range the RFC's recursions ask for splits into O(log n) of them, so a
proof or an old root is computed from O(log n) stored hashes, never from the leaves."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256() per RFC 9162 2.1.1

NodeKey = tuple[int, int]  # (level, index): leaves [index·2^level, (index+1)·2^level)


class ProofError(ValueError):
    """A proof that does not fit its tree sizes, or a size outside the tree."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    assert n > 1
    return 1 << ((n - 1).bit_length() - 1)


# -- appending -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Frontier:
    """The tree's right edge: one perfect subtree root per set bit of `size`, largest first.
    Enough to append and to compute the root, in O(log n) space."""

    size: int
    edge: tuple[tuple[int, bytes], ...]  # (level, hash)

    def root(self) -> bytes:
        if not self.edge:
            return EMPTY_ROOT
        root = self.edge[-1][1]
        for _level, left in reversed(self.edge[:-1]):
            root = node_hash(left, root)
        return root


EMPTY = Frontier(0, ())


def append(frontier: Frontier, leaf_hashes: list[bytes]) -> tuple[Frontier, list[tuple[int, int, bytes]]]:
    """Appends the leaves; returns the new frontier and every perfect node completed on the way
    (level, index, hash): each leaf, and each parent whose right child it completes."""
    edge = list(frontier.edge)
    size = frontier.size
    completed: list[tuple[int, int, bytes]] = []
    for hashed in leaf_hashes:
        assert len(hashed) == HASH_SIZE
        completed.append((0, size, hashed))
        edge.append((0, hashed))
        size += 1
        while len(edge) >= 2 and edge[-1][0] == edge[-2][0]:
            level, right = edge.pop()
            _, left = edge.pop()
            parent = node_hash(left, right)
            completed.append((level + 1, (size >> (level + 1)) - 1, parent))
            edge.append((level + 1, parent))
    assert len(edge) == size.bit_count()
    return Frontier(size, tuple(edge)), completed


# -- ranges of leaves and the perfect subtrees they are made of ------------------------------

def range_nodes(lo: int, hi: int) -> list[NodeKey]:
    """The perfect subtrees whose hashes make MTH(D[lo:hi]), as the RFC splits it."""
    size = hi - lo
    assert size > 0
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        assert lo % size == 0, "RFC 9162 ranges start on their own boundary"
        return [(level, lo >> level)]
    k = split_point(size)
    return range_nodes(lo, lo + k) + range_nodes(lo + k, hi)


def range_hash(lo: int, hi: int, nodes: dict[NodeKey, bytes]) -> bytes:
    size = hi - lo
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return nodes[(level, lo >> level)]
    k = split_point(size)
    return node_hash(range_hash(lo, lo + k, nodes), range_hash(lo + k, hi, nodes))


def inclusion_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1, as the leaf ranges whose hashes form the path."""
    if not 0 <= m < n:
        raise ProofError(f"leaf {m} is not in a tree of {n} leaves")
    return _path(m, 0, n)


def _path(m: int, lo: int, hi: int) -> list[tuple[int, int]]:
    n = hi - lo
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return _path(m, lo, lo + k) + [(lo + k, hi)]
    return _path(m - k, lo + k, hi) + [(lo, lo + k)]


def consistency_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """PROOF(m, D[n]) of RFC 9162 2.1.4.1 (empty when m == n)."""
    if not 0 < m <= n:
        raise ProofError(f"no consistency proof from {m} to {n} leaves (need 0 < first <= second)")
    return _subproof(m, 0, n, True)


def _subproof(m: int, lo: int, hi: int, whole: bool) -> list[tuple[int, int]]:
    n = hi - lo
    if m == n:
        return [] if whole else [(lo, hi)]
    k = split_point(n)
    if m <= k:
        return _subproof(m, lo, lo + k, whole) + [(lo + k, hi)]
    return _subproof(m - k, lo + k, hi, False) + [(lo, lo + k)]


def nodes_for(ranges: list[tuple[int, int]]) -> set[NodeKey]:
    return {key for lo, hi in ranges for key in range_nodes(lo, hi)}


def hashes_of(ranges: list[tuple[int, int]], nodes: dict[NodeKey, bytes]) -> list[bytes]:
    return [range_hash(lo, hi, nodes) for lo, hi in ranges]


# -- verification (the proof alone, no tree) --------------------------------------------------
# These mirror the recursions above, consuming the proof from its end; the tests also check
# every proof with the RFC's own iterative algorithms, written out independently.

def root_from_inclusion(m: int, n: int, leaf: bytes, path: list[bytes]) -> bytes:
    if not 0 <= m < n:
        raise ProofError(f"leaf {m} is not in a tree of {n} leaves")
    root, rest = _climb(m, n, leaf, list(path))
    if rest:
        raise ProofError("the inclusion proof is longer than the tree is deep")
    return root


def _climb(m: int, n: int, leaf: bytes, path: list[bytes]) -> tuple[bytes, list[bytes]]:
    """The path runs from the leaf up: the innermost level takes the first hash."""
    if n == 1:
        return leaf, path
    k = split_point(n)
    below, rest = _climb(m, k, leaf, path) if m < k else _climb(m - k, n - k, leaf, path)
    sibling, rest = _take(rest)
    return (node_hash(below, sibling) if m < k else node_hash(sibling, below)), rest


def _take(proof: list[bytes]) -> tuple[bytes, list[bytes]]:
    if not proof:
        raise ProofError("the proof is too short for its tree sizes")
    return proof[0], proof[1:]


def roots_from_consistency(m: int, n: int, old_root: bytes, proof: list[bytes]) -> tuple[bytes, bytes]:
    """(old root, new root) that the proof implies; the caller compares both with the heads."""
    if not 0 < m <= n:
        raise ProofError(f"no consistency proof from {m} to {n} leaves (need 0 < first <= second)")
    (old, new), rest = _rebuild(m, n, True, old_root, list(proof))
    if rest:
        raise ProofError("the consistency proof has hashes left over")
    return old, new


def _rebuild(m: int, n: int, whole: bool, old_root: bytes, proof: list[bytes]):
    if m == n:
        if whole:  # the old tree is this whole subtree: its root is the old head's, not sent
            return (old_root, old_root), proof
        known, rest = _take(proof)
        return (known, known), rest
    k = split_point(n)
    if m <= k:
        (old, new), rest = _rebuild(m, k, whole, old_root, proof)
        right, rest = _take(rest)
        return (old, node_hash(new, right)), rest
    (old, new), rest = _rebuild(m - k, n - k, False, old_root, proof)
    left, rest = _take(rest)
    return (node_hash(left, old), node_hash(left, new)), rest


def verify_inclusion(m: int, n: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    try:
        return root_from_inclusion(m, n, leaf, path) == root
    except ProofError:
        return False


def verify_consistency(m: int, n: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    try:
        old, new = roots_from_consistency(m, n, old_root, proof)
    except ProofError:
        return False
    return old == old_root and new == new_root
