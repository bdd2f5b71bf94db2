"""The fuzzy index behind screening: which listed names are close to a query name, and how close.

Two measures, the higher one counts:
- whole name: rapidfuzz `ratio` (Indel similarity, 0-100) between keys whose tokens are sorted,
  i.e. the token-sort ratio. Only keys whose length and letters can reach the cutoff are
  compared (see _Strings), so the prefilter loses nothing.
- partial name: every token of the shorter name has a close token in the longer one
  ("Ivan Petrov" in "PETROV, Ivan Sergeyevich"), discounted because a missing middle name or
  patronymic is weaker evidence than a full match. Candidates come from an inverted index of
  tokens, themselves matched fuzzily ("Kovalenko" ~ "Kowalenko").
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import numpy as np
from rapidfuzz import fuzz, process

TOKEN_CUTOFF = 85.0  # two tokens this close are taken as one spelt differently (Hassan/Hasan: 90.9)
PARTIAL_DISCOUNT = 0.95  # a partial-name match at best scores 95
PARTIAL_TOKENS_MIN = 2  # one shared word ("Omar", "Trading") identifies nobody
ALPHABET = " abcdefghijklmnopqrstuvwxyz0123456789"  # keys are folded to these; others share one bucket
BUCKETS = len(ALPHABET) + 1
BUCKET_OF_ASCII = np.array([ALPHABET.find(chr(code)) if chr(code) in ALPHABET else BUCKETS - 1
                            for code in range(129)], dtype=np.intp)


class _Strings:
    """Strings searchable by ratio, with two lossless prefilters ahead of rapidfuzz.

    ratio = 200 * LCS / (la + lb), and LCS is at most the shorter length and at most the
    characters two strings have in common counted as bags; a string whose bound is below the
    cutoff cannot match and is never handed to rapidfuzz (handing it over is the cost).
    """

    def __init__(self, texts: Iterable[str]):
        self.texts = sorted(texts, key=len)
        self._lengths = np.array([len(text) for text in self.texts], dtype=np.int32)
        self._bags = _bags(self.texts)

    def similar(self, query: str, cutoff: float) -> list[tuple[int, float]]:
        """(position, ratio) of every text whose ratio with `query` is at least `cutoff`."""
        c = cutoff / 100
        low = int(np.searchsorted(self._lengths, math.floor(len(query) * c / (2 - c)), side="left"))
        high = int(np.searchsorted(self._lengths, math.ceil(len(query) * (2 - c) / c), side="right"))
        common = np.minimum(self._bags[low:high], _bag(query)).sum(axis=1, dtype=np.int32)
        reachable = np.nonzero(200 * common + 1e-6 >= cutoff * (self._lengths[low:high] + len(query)))[0]
        choices = [self.texts[low + i] for i in reachable]
        found = process.extract(query, choices, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None)
        return [(low + int(reachable[index]), score) for _, score, index in found]


def _bag(text: str) -> np.ndarray:
    return _bags([text])[0]


def _bags(texts: list[str]) -> np.ndarray:
    """Per text, how often each character bucket occurs, in one pass over all texts."""
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    buckets = BUCKET_OF_ASCII[np.minimum(codes, 128)]  # everything beyond ASCII shares the last bucket
    rows = np.repeat(np.arange(len(texts)), [len(text) for text in texts])
    counts = np.zeros((len(texts), BUCKETS), dtype=np.uint16)  # names are at most 300 characters
    np.add.at(counts, (rows, buckets), 1)
    return counts


class NameIndex:
    """Keys (sorted-token strings) each owned by a label; answers best similarity per label."""

    def __init__(self, keyed: Iterable[tuple[str, object]]):
        owners: dict[str, list[object]] = {}
        for key, label in keyed:
            owners.setdefault(key, []).append(label)
        self._keys = _Strings(owners)
        self._owners = [owners[key] for key in self._keys.texts]
        postings: dict[str, list[int]] = {}
        for position, key in enumerate(self._keys.texts):
            for token in set(key.split()):
                postings.setdefault(token, []).append(position)
        self._tokens = _Strings(postings)
        self._postings = [postings[token] for token in self._tokens.texts]

    def best(self, query_keys: Iterable[str], cutoff: float) -> dict[object, float]:
        """label → its best score at or above the cutoff, over the whole-name and partial-name measures."""
        best: dict[object, float] = {}
        for query in query_keys:
            for position, score in self._keys.similar(query, cutoff):
                self._keep(best, position, score)
            for position, score in self._partial(query, cutoff):
                self._keep(best, position, score)
        return best

    def _keep(self, best: dict[object, float], position: int, score: float) -> None:
        for label in self._owners[position]:
            if score > best.get(label, -1.0):
                best[label] = score

    def _partial(self, query: str, cutoff: float) -> list[tuple[int, float]]:
        query_tokens = query.split()
        if len(query_tokens) < PARTIAL_TOKENS_MIN or cutoff > 100 * PARTIAL_DISCOUNT:
            return []
        shared = Counter()
        for token in set(query_tokens):
            keys = {key for position, _ in self._tokens.similar(token, TOKEN_CUTOFF) for key in self._postings[position]}
            shared.update(keys)
        found = []
        for position, count in shared.items():
            if count < PARTIAL_TOKENS_MIN:
                continue
            score = partial_score(query_tokens, self._keys.texts[position].split())
            if score >= cutoff:
                found.append((position, score))
        return found


def partial_score(a: list[str], b: list[str]) -> float:
    """How well the shorter token list is contained in the longer one, 0-100 (discounted)."""
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    if len(shorter) < PARTIAL_TOKENS_MIN or 2 * len(shorter) < len(longer):
        return 0.0
    weighted, unused = 0.0, list(longer)
    for token in shorter:  # one-to-one: "Li Li" is not contained in "Li Na Wang"
        closest = max(unused, key=lambda other: fuzz.ratio(token, other))
        score = fuzz.ratio(token, closest)
        if score < TOKEN_CUTOFF:
            return 0.0
        unused.remove(closest)
        weighted += score * len(token)
    return PARTIAL_DISCOUNT * weighted / sum(len(token) for token in shorter)
