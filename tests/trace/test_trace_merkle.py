"""The Merkle tree of the log hashes and proves as RFC 9162 says: checked against the RFC's own
verification algorithms (2.1.3.2 and 2.1.4.2), written out here independently of juhe.trace."""

from __future__ import annotations

import hashlib

import pytest

from juhe.trace import merkle


def rfc_mth(leaves: list[bytes]) -> bytes:
    """MTH of RFC 9162 2.1.1, straight from the definition."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + rfc_mth(leaves[:k]) + rfc_mth(leaves[k:])).digest()


def rfc_verify_inclusion(leaf_index: int, tree_size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2, step by step."""
    if leaf_index >= tree_size:
        return False
    fn, sn = leaf_index, tree_size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def rfc_verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2, step by step."""
    if first == second:
        return not proof and first_hash == second_hash
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: prepend first_hash
        path = [first_hash] + path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = hashlib.sha256(b"\x01" + c + fr).digest()
            sr = hashlib.sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = hashlib.sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


def tree(n: int):
    leaves = [f"entry {i}".encode() for i in range(n)]
    frontier, completed = merkle.append(merkle.EMPTY, [merkle.leaf_hash(x) for x in leaves])
    return leaves, frontier, {(lv, ix): h for lv, ix, h in completed}


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 13, 64, 100])
def test_the_root_is_the_rfc_tree_hash(n):
    leaves, frontier, nodes = tree(n)
    assert frontier.root() == rfc_mth(leaves)
    for size in range(1, n + 1):
        assert merkle.range_hash(0, size, nodes) == rfc_mth(leaves[:size])


def test_the_empty_tree_root_is_the_hash_of_nothing():
    assert merkle.EMPTY.root() == rfc_mth([])


@pytest.mark.parametrize("n", [1, 2, 3, 6, 7, 8, 9, 33])
def test_inclusion_proofs_verify_with_the_rfc_algorithm(n):
    leaves, _frontier, nodes = tree(n)
    for size in range(1, n + 1):
        root = rfc_mth(leaves[:size])
        for m in range(size):
            path = merkle.hashes_of(merkle.inclusion_ranges(m, size), nodes)
            leaf = merkle.leaf_hash(leaves[m])
            assert rfc_verify_inclusion(m, size, leaf, path, root)
            assert merkle.verify_inclusion(m, size, leaf, path, root)


@pytest.mark.parametrize("n", [2, 3, 7, 8, 9, 21])
def test_consistency_proofs_verify_with_the_rfc_algorithm(n):
    leaves, _frontier, nodes = tree(n)
    for second in range(1, n + 1):
        for first in range(1, second + 1):
            proof = merkle.hashes_of(merkle.consistency_ranges(first, second), nodes)
            old, new = rfc_mth(leaves[:first]), rfc_mth(leaves[:second])
            assert rfc_verify_consistency(first, second, old, new, proof)
            assert merkle.verify_consistency(first, second, old, new, proof)


def test_a_changed_leaf_or_proof_hash_fails_both_verifiers():
    leaves, _frontier, nodes = tree(11)
    root = rfc_mth(leaves)
    path = merkle.hashes_of(merkle.inclusion_ranges(4, 11), nodes)
    forged = merkle.leaf_hash(b"entry 4 with another amount")
    assert not rfc_verify_inclusion(4, 11, forged, path, root)
    assert not merkle.verify_inclusion(4, 11, forged, path, root)
    proof = merkle.hashes_of(merkle.consistency_ranges(5, 11), nodes)
    bad = [proof[0][:-1] + b"\x00"] + proof[1:]
    assert not merkle.verify_consistency(5, 11, rfc_mth(leaves[:5]), root, bad)
    assert not merkle.verify_consistency(5, 11, rfc_mth(leaves[:5]), root, proof[:-1])


def test_a_leaf_outside_the_tree_has_no_proof():
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_ranges(5, 5)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_ranges(0, 3)
